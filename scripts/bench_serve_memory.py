"""Benchmark: memory of `podcast-host serve`, idle and while it processes a 3-hour stereo episode.

Starts whatever `podcast-host serve` runs (embedded set-up: a temporary data dir, SQLite, the in-process
queue) on a free loopback port, measures the RSS of its whole process tree (the server, its workers and any
ffmpeg they start, summed), uploads a generated episode through the API and samples the tree every 0.2 s until
the episode is published. Prints one table row. Loopback only; the server is stopped at the end.

    python scripts/bench_serve_memory.py             # the 3-hour episode (several minutes)
    python scripts/bench_serve_memory.py --minutes 5 # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

CHUNK = 1 << 20
BOUNDARY = "bench-serve-memory-boundary"
SAMPLE_EVERY_S = 0.2
IDLE_SAMPLES = 10
BUDGET_IDLE_MB, BUDGET_PEAK_MB = 120, 300
MB = 1e6


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_episode(path: Path, minutes: float) -> None:
    """Speech-like stereo FLAC: a voiced buzz and pink noise, both shaped by a syllable-rate envelope."""
    seconds = minutes * 60
    voice = (
        f"sine=frequency=140:sample_rate=44100:duration={seconds}[buzz];"
        f"anoisesrc=color=pink:amplitude=0.15:seed=11:sample_rate=44100:duration={seconds}[hiss];"
        "[buzz][hiss]amix=inputs=2:normalize=0,"
        "volume='0.15+0.85*abs(sin(2*PI*2.3*t)*sin(2*PI*0.21*t))':eval=frame,"
        "pan=stereo|c0=c0|c1=0.92*c0"
    )
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-filter_complex",
            voice,
            "-c:a",
            "flac",
            str(path),
        ],
        check=True,
    )


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def tree_rss(pid: int) -> tuple[int, dict[str, int]]:
    """Summed RSS of the tree, and the same split by process name."""
    total, by_name = 0, {}
    for proc in tree(pid):
        with contextlib.suppress(psutil.Error):
            rss = proc.memory_info().rss
            name = proc.name()
            total += rss
            by_name[name] = by_name.get(name, 0) + rss
    return total, by_name


class TreeSampler:
    """Samples the tree's RSS every SAMPLE_EVERY_S; keeps the peak and what made it up."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
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
            self._stop.wait(SAMPLE_EVERY_S)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "podcast_host.cli", *args], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def serve_command(port: int) -> list[str]:
    """The installed `podcast-host` entry point next to this interpreter, else the module."""
    entry = Path(sys.executable).with_name("podcast-host")
    if entry.exists():
        return [str(entry), "serve", "--port", str(port)]
    return [sys.executable, "-m", "podcast_host.cli", "serve", "--port", str(port)]


def request(port: int, method: str, path: str, token: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise SystemExit(f"{method} {path} answered {response.status}: {body[:300]!r}")
    return json.loads(body)


def upload(port: int, token: str, path: Path) -> int:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\nThree hours\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="audio"; filename="{path.name}"\r\n'
        "Content-Type: audio/flac\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.putrequest("POST", "/api/v1/shows/bench/episodes")
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        conn.putheader("Content-Length", str(len(head) + path.stat().st_size + len(tail)))
        conn.endheaders()
        conn.send(head)
        with path.open("rb") as fh:
            while block := fh.read(CHUNK):
                conn.send(block)
        conn.send(tail)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 202:
        raise SystemExit(f"upload answered {response.status}: {body[:300]!r}")
    return json.loads(body)["id"]


def wait_for(port: int, server: subprocess.Popen) -> None:
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


def idle_rss(pid: int) -> tuple[float, dict[str, int]]:
    """Median of a few samples once start-up work (recovery, the first requests) has settled."""
    time.sleep(3)
    samples = []
    for _ in range(IDLE_SAMPLES):
        samples.append(tree_rss(pid))
        time.sleep(SAMPLE_EVERY_S)
    median = statistics.median(total for total, _ in samples)
    return median, min(samples, key=lambda sample: abs(sample[0] - median))[1]


def stop(server: subprocess.Popen) -> None:
    """SIGTERM the server, then kill whatever of its own tree is left (by pid)."""
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


def split_text(split: dict[str, int]) -> str:
    ordered = sorted(split.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} {rss / MB:.0f}" for name, rss in ordered)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=180.0, help="length of the episode (default 180)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is needed to make the episode")
    with tempfile.TemporaryDirectory(prefix="bench-serve-memory-") as tmp:
        workdir = Path(tmp)
        audio = workdir / "episode.flac"
        make_episode(audio, args.minutes)
        size_mb = audio.stat().st_size / MB
        port = free_port()
        env = {
            **os.environ,
            "PODCAST_HOST_DATA_DIR": str(workdir / "instance"),
            "PODCAST_HOST_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "PODCAST_HOST_MAX_UPLOAD_MB": "4096",
        }
        for name in ("PODCAST_HOST_QUEUE_URL", "PODCAST_HOST_DATABASE_URL", "PODCAST_HOST_STORAGE_URL"):
            env.pop(name, None)
        cli(env, "db", "upgrade")
        cli(env, "user", "add", "bench@example.com", "--admin")
        token = cli(env, "token", "add", "bench@example.com").strip().splitlines()[-1]
        cli(env, "show", "add", "bench", "--title", "Bench")
        server = subprocess.Popen(
            serve_command(port),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for(port, server)
            idle, idle_split = idle_rss(server.pid)
            with TreeSampler(server.pid) as sampler:
                started = time.perf_counter()
                episode_id = upload(port, token, audio)
                uploaded = time.perf_counter()
                state = wait_until_published(port, token, episode_id, args.timeout)
                finished = time.perf_counter()
        finally:
            stop(server)
    print(
        "| episode | idle RSS, tree (MB, ≤ 120) | peak RSS, tree (MB, ≤ 300) | processes at once "
        "| upload (s) | processing (s) | result |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.minutes:g} min stereo FLAC, {size_mb:,.0f} MB | {idle / MB:.0f} | "
        f"{sampler.peak / MB:.0f} | {sampler.most_processes} | {uploaded - started:.1f} | "
        f"{finished - uploaded:.1f} | {state} |"
    )
    print(f"\nidle: {split_text(idle_split)}\npeak: {split_text(sampler.peak_split)}")
    over = idle / MB > BUDGET_IDLE_MB or sampler.peak / MB > BUDGET_PEAK_MB
    return 1 if over or state != "published" else 0


def wait_until_published(port: int, token: str, episode_id: int, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = request(port, "GET", f"/api/v1/episodes/{episode_id}", token)["status"]
        if status != "processing":
            return status
        time.sleep(1.0)
    return "timed out"


if __name__ == "__main__":
    sys.exit(main())
