"""What the server benchmarks share: a throwaway embedded instance of `podcast-host serve` on a free loopback
port, its process tree's memory, and a multipart upload streamed from disk. Loopback only."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

CHUNK = 1 << 20
BOUNDARY = "bench-boundary"


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


def request_rate(
    port: int,
    path: str,
    headers: dict[str, str] | Callable[[int], dict[str, str]],
    status: int,
    options: argparse.Namespace,
) -> float:
    """Requests per second from `options.clients` keep-alive threads sharing `options.requests` requests,
    within `options.time_limit` seconds. `headers` may be a function of the request's number."""
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
                sent = headers(index * per_client + done[index]) if callable(headers) else headers
                connection.request("GET", path, headers=sent)
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
