"""Benchmark: a 1 GB episode upload through `podcast-host serve` (README.md, "Tests and benchmarks").

Generates about 1 GB of WAV audio, starts a real server on a free loopback port, streams the file as
multipart to the API and reports the upload throughput next to a plain copy of the same file on the same
disk, and the peak RSS of the server's process tree while it receives the upload. Loopback only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchserver import TreeSampler, embedded_env, free_port, prepare, serving, tree_rss, upload


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
        env = embedded_env(workdir / "instance", port)
        token = prepare(env)
        with serving(env, port) as server:
            baseline_rss, _ = tree_rss(server.pid)
            with TreeSampler(server.pid, every_s=0.05) as meter:
                elapsed, _ = upload(port, token, audio, "Bench", "audio/wav")
            copy_s = copy_time(audio, workdir)
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


if __name__ == "__main__":
    sys.exit(main())
