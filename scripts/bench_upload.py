"""Benchmark: a 1 GB episode upload through `podcast-host serve` (README.md, "Tests and benchmarks").

Generates about 1 GB of WAV audio, starts a real server on a free loopback port, streams the file as
multipart to the API and reports the upload throughput next to a plain copy of the same file on the same
disk, and the peak RSS of the server's process tree while it receives the upload. Loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

CHUNK = 1 << 20
BOUNDARY = "bench-upload-boundary"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_wav(path: Path, megabytes: int) -> None:
    seconds = megabytes * 1024 * 1024 / (44100 * 2 * 2)
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"anoisesrc=duration={seconds:.1f}:color=pink:amplitude=0.1:sample_rate=44100",
            "-ac",
            "2",
            "-c:a",
            "pcm_s16le",
            str(path),
        ],
        check=True,
    )


class PeakRss:
    """Samples the RSS of a process and its children every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for proc in [self.process, *self.process.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
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


def upload(port: int, token: str, path: Path) -> tuple[float, int]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\nBench\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="audio"; filename="{path.name}"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
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
    conn.close()
    if response.status != 202:
        raise SystemExit(f"upload answered {response.status}: {body[:300]!r}")
    return elapsed, json.loads(body)["id"]


def copy_time(path: Path, workdir: Path) -> float:
    started = time.perf_counter()
    shutil.copyfile(path, workdir / "copy.wav")
    os.sync()
    elapsed = time.perf_counter() - started
    (workdir / "copy.wav").unlink()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        workdir = Path(tmp)
        audio = workdir / "episode.wav"
        make_wav(audio, args.megabytes)
        size_mb = audio.stat().st_size / 1e6
        port = free_port()
        env = {
            **os.environ,
            "PODCAST_HOST_DATA_DIR": str(workdir / "instance"),
            "PODCAST_HOST_PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
        env.pop("PODCAST_HOST_QUEUE_URL", None)
        cli(env, "db", "upgrade")
        cli(env, "user", "add", "bench@example.com", "--admin")
        token = cli(env, "token", "add", "bench@example.com").strip().splitlines()[-1]
        cli(env, "show", "add", "bench", "--title", "Bench")
        server = subprocess.Popen(
            [sys.executable, "-m", "podcast_host.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for(port)
            baseline_rss = tree_rss(server.pid)
            with PeakRss(server.pid) as meter:
                elapsed, _ = upload(port, token, audio)
            copy_s = copy_time(audio, workdir)
        finally:
            server.terminate()
            server.wait(timeout=60)
    print(
        "| upload | size | wall | throughput | plain copy of the file | upload / copy time | server peak RSS "
        "(idle) |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| multipart POST to serve | {size_mb:,.0f} MB | {elapsed:.1f} s | {size_mb / elapsed:,.0f} MB/s | "
        f"{copy_s:.1f} s | {elapsed / copy_s:.1f}x | "
        f"{meter.peak / 1e6:,.0f} MB ({baseline_rss / 1e6:,.0f} MB) |"
    )
    return 0


def tree_rss(pid: int) -> int:
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


if __name__ == "__main__":
    sys.exit(main())
