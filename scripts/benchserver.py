"""What the server benchmarks share: a throwaway embedded instance of `podcast-host serve` on a free loopback
port, its process tree's memory, a multipart upload streamed from disk, and request rates measured side by
side with reference apps on the same server. Loopback only."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

CHUNK = 1 << 20
BOUNDARY = "bench-boundary"
# What a reference app answers (with_references): a 304, a 302 with a body of <size> bytes, or 200 of <size>.
NOT_MODIFIED = "not-modified"
REDIRECT = "redirect-"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "podcast_host.cli", *args], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def embedded_env(data_dir: Path, port: int, **settings: str) -> dict[str, str]:
    """The environment of an embedded instance (SQLite, local media, in-process queue) in `data_dir`."""
    env = {
        **os.environ,
        "PODCAST_HOST_DATA_DIR": str(data_dir),
        "PODCAST_HOST_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **{f"PODCAST_HOST_{name.upper()}": value for name, value in settings.items()},
    }
    for name in ("PODCAST_HOST_QUEUE_URL", "PODCAST_HOST_DATABASE_URL", "PODCAST_HOST_STORAGE_URL"):
        env.pop(name, None)
    return env


def prepare(env: dict[str, str]) -> str:
    """Schema, an admin, its token (returned) and the show `bench`."""
    cli(env, "db", "upgrade")
    cli(env, "user", "add", "bench@example.com", "--admin")
    token = cli(env, "token", "add", "bench@example.com").strip().splitlines()[-1]
    cli(env, "show", "add", "bench", "--title", "Bench")
    return token


@contextlib.contextmanager
def serving(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`podcast-host serve` answering /healthz; stopped with SIGTERM, then whatever it left is killed."""
    server = subprocess.Popen(
        [sys.executable, "-m", "podcast_host.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_until_healthy(port, server)
        yield server
    finally:
        _stop(server)


def _wait_until_healthy(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def _stop(server: subprocess.Popen[bytes]) -> None:
    leftovers: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        leftovers = tree(server.pid)[1:]
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def tree_rss(pid: int) -> tuple[int, dict[str, int]]:
    """Summed RSS of the process and its descendants, and the same split by process name."""
    total, by_name = 0, {}
    for proc in tree(pid):
        with contextlib.suppress(psutil.Error):
            rss = proc.memory_info().rss
            name = proc.name()
            total += rss
            by_name[name] = by_name.get(name, 0) + rss
    return total, by_name


class TreeSampler:
    """Samples the tree's RSS every `every_s` while open; keeps the peak, what made it up, and the most
    processes seen at once."""

    def __init__(self, pid: int, every_s: float) -> None:
        self.pid, self.every_s = pid, every_s
        self.peak, self.peak_split, self.most_processes = 0, {}, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                total, split = tree_rss(self.pid)
                self.most_processes = max(self.most_processes, len(tree(self.pid)))
                if total > self.peak:
                    self.peak, self.peak_split = total, split
            self._stop.wait(self.every_s)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def upload(port: int, token: str, path: Path, title: str, content_type: str) -> tuple[float, int]:
    """POST `path` as an episode of `bench`, streamed from disk; seconds taken and the episode's id."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\n{title}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="audio"; filename="{path.name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.putrequest("POST", "/api/v1/shows/bench/episodes")
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        conn.putheader("Content-Length", str(len(head) + path.stat().st_size + len(tail)))
        conn.endheaders()
        started = time.perf_counter()
        conn.send(head)
        with path.open("rb") as fh:
            while block := fh.read(CHUNK):
                conn.send(block)
        conn.send(tail)
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    if response.status != 202:
        raise SystemExit(f"upload answered {response.status}: {body[:300]!r}")
    return elapsed, int(json.loads(body)["id"])


def wait_for_port(port: int, server: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    """Wait until the server child listens on `port`; SystemExit if it exits or takes too long."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the benchmark server exited before it answered")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the benchmark server did not answer in time")


# Podcast apps and a browser, as the download counter sees them.
LISTENER_AGENTS = (
    "AppleCoreMedia/1.0.0.21G93 (iPhone; U; CPU OS 17_6_1 like Mac OS X; en_us)",
    "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)",
    "Pocket Casts",
    "Spotify/8.9.10 Android/34 (SM-S918B)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
)


def new_listeners(agents: tuple[str, ...] = LISTENER_AGENTS) -> Callable[[int], dict[str, str]]:
    """Headers of a new listener per request: their own address (behind a trusted proxy) and an app."""
    numbers = iter(range(10**9))

    def listener(_: int) -> dict[str, str]:
        n = next(numbers)
        address = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        return {"X-Forwarded-For": address, "User-Agent": agents[n % len(agents)]}

    return listener


@contextlib.contextmanager
def script_server(
    script: str, data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[int]:
    """A bench script run again as its own server child (`--serve DATA_DIR --port N ARGS`) on a free loopback
    port, its output discarded; yields the port once it listens, and stops the child on the way out."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, script, "--serve", str(data_dir), "--port", str(port), *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, server)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def request_rate(
    port: int,
    path: str | Callable[[int], str],
    headers: dict[str, str] | Callable[[int], dict[str, str]],
    status: int,
    options: argparse.Namespace,
) -> float:
    """Requests per second from `options.clients` keep-alive threads sharing `options.requests` requests,
    within `options.time_limit` seconds. `path` and `headers` may be functions of the request's number."""
    per_client = max(options.requests // options.clients, 1)
    deadline = time.monotonic() + options.time_limit
    done = [0] * options.clients
    statuses: set[int] = set()
    errors: list[Exception] = []

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for _ in range(per_client):
                if time.monotonic() > deadline:
                    return
                number = index * per_client + done[index]
                sent = headers(number) if callable(headers) else headers
                connection.request("GET", path(number) if callable(path) else path, headers=sent)
                response = connection.getresponse()
                response.read()
                statuses.add(response.status)
                done[index] += 1
        except (OSError, http.client.HTTPException) as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(options.clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"GET {path} failed: {errors[0]!r}")
    if statuses != {status}:
        raise SystemExit(f"GET {path} answered {sorted(statuses)}, not {status}")
    return sum(done) / elapsed


# --- the app beside two references --------------------------------------------------------------------------


def with_references(app: WsgiApp, stats: Callable[[], dict[str, Any]] | None = None) -> WsgiApp:
    """Put two references beside the app on the same server: /constant/<name> (a bare WSGI callable) and
    /flask/<name> (an empty Flask app), where <name> is a body size (200), NOT_MODIFIED (304) or REDIRECT and
    a body size (302); and /bench-stats, the JSON of `stats()` (what the app's process counted)."""
    from flask import Flask, Response

    bodies: dict[str, bytes] = {}
    bare_flask = Flask("constant")

    def body_for(size: str) -> bytes:
        return bodies.setdefault(size, b"x" * int(size))

    @bare_flask.route("/flask/<name>")
    def flask_constant(name: str) -> Response:
        if name == NOT_MODIFIED:
            return Response(status=304, headers={"ETag": '"constant"'})
        if name.startswith(REDIRECT):
            body = body_for(name[len(REDIRECT) :])
            return Response(body, status=302, headers={"Location": "https://cdn.example.com/x"})
        return Response(body_for(name), content_type="application/rss+xml; charset=utf-8")

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        prefix, _, name = environ.get("PATH_INFO", "").lstrip("/").partition("/")
        if prefix == "flask":
            return bare_flask(environ, start_response)
        if prefix == "bench-stats" and stats is not None:
            payload = json.dumps(stats()).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [payload]
        if prefix != "constant":
            return app(environ, start_response)
        if name == NOT_MODIFIED:
            start_response("304 Not Modified", [("ETag", '"constant"')])
            return []
        if name.startswith(REDIRECT):
            body = body_for(name[len(REDIRECT) :])
            start_response(
                "302 Found",
                [("Location", "https://cdn.example.com/x"), ("Content-Length", str(len(body)))],
            )
            return [body]
        body = body_for(name)
        start_response(
            "200 OK",
            [("Content-Type", "application/rss+xml; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return dispatch


def bench_stats(port: int) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", "/bench-stats")
        stats: dict[str, Any] = json.loads(connection.getresponse().read())
        return stats
    finally:
        connection.close()


@dataclass(frozen=True)
class Case:
    """One request of the app, with the reference answer beside it: a body size, NOT_MODIFIED or REDIRECT…"""

    label: str
    path: str | Callable[[int], str]
    headers: dict[str, str] | Callable[[int], dict[str, str]]
    status: int
    reference: str

    @property
    def body_bytes(self) -> int:
        return 0 if self.reference == NOT_MODIFIED else int(self.reference.removeprefix(REDIRECT))


def side_by_side(port: int, case: Case, options: argparse.Namespace) -> dict[str, Any]:
    """The app's rate beside both references', in `options.rounds` rounds of one measurement each, the order
    reversed every other round. The ratios are taken within each round and their median shown: on a machine
    that other work slows now and then, a round's three measurements are slowed alike."""
    rates: dict[str, list[float]] = {"app": [], "flask": [], "constant": []}
    ratios: dict[str, list[float]] = {"constant": [], "flask": []}
    for round_number in range(options.rounds):
        order = ["app", "flask", "constant"]
        for name in order if round_number % 2 == 0 else reversed(order):
            if name == "app":
                rate = request_rate(port, case.path, case.headers, case.status, options)
            else:
                rate = request_rate(port, f"/{name}/{case.reference}", {}, case.status, options)
            rates[name].append(rate)
        ratios["constant"].append(rates["app"][-1] / rates["constant"][-1])
        ratios["flask"].append(rates["app"][-1] / rates["flask"][-1])
    return {
        "label": case.label,
        "bytes": case.body_bytes,
        **{f"{name}_rps": statistics.median(values) for name, values in rates.items()},
        **{f"over_{name}": statistics.median(values) for name, values in ratios.items()},
    }


def rate_table(rows: list[dict[str, Any]], what: str, goal: float) -> list[str]:
    """Markdown lines for side_by_side's rows."""
    lines = [
        f"| GET | {what} | bare Flask route | bare WSGI (constant) | {what} / constant (goal ≥ {goal}) "
        f"| {what} / Flask |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['label']} ({row['bytes']:,} bytes) | {row['app_rps']:.0f} | {row['flask_rps']:.0f} "
            f"| {row['constant_rps']:.0f} | {row['over_constant']:.2f} | {row['over_flask']:.2f} |"
        )
    return lines
