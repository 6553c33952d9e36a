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
import http.client
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchserver import TreeSampler, embedded_env, free_port, prepare, serving, tree_rss, upload

SAMPLE_EVERY_S = 0.2
IDLE_SAMPLES = 10
BUDGET_IDLE_MB, BUDGET_PEAK_MB = 120, 300
MB = 1e6


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


def idle_rss(pid: int) -> tuple[float, dict[str, int]]:
    """Median of a few samples once start-up work (recovery, the first requests) has settled."""
    time.sleep(3)
    samples = []
    for _ in range(IDLE_SAMPLES):
        samples.append(tree_rss(pid))
        time.sleep(SAMPLE_EVERY_S)
    median = statistics.median(total for total, _ in samples)
    return median, min(samples, key=lambda sample: abs(sample[0] - median))[1]


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
        env = embedded_env(workdir / "instance", port, max_upload_mb="4096")
        token = prepare(env)
        with serving(env, port) as server:
            idle, idle_split = idle_rss(server.pid)
            with TreeSampler(server.pid, SAMPLE_EVERY_S) as sampler:
                upload_s, episode_id = upload(port, token, audio, "Three hours", "audio/flac")
                uploaded = time.perf_counter()
                state = wait_until_published(port, token, episode_id, args.timeout)
                processing_s = time.perf_counter() - uploaded
    print(
        "| episode | idle RSS, tree (MB, ≤ 120) | peak RSS, tree (MB, ≤ 300) | processes at once "
        "| upload (s) | processing (s) | result |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.minutes:g} min stereo FLAC, {size_mb:,.0f} MB | {idle / MB:.0f} | "
        f"{sampler.peak / MB:.0f} | {sampler.most_processes} | {upload_s:.1f} | "
        f"{processing_s:.1f} | {state} |"
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
