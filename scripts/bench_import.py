"""Benchmark: `podcast-host import` of a 200-episode feed whose enclosures a local server serves (README.md,
"Tests and benchmarks").

A thread serves a generated feed and its MP3s on a loopback port (the old host); the command imports it into a
fresh embedded instance, once through the loudness pipeline and once with --keep-audio. Reported: episodes per
minute and the peak RSS of the command's process tree (ffmpeg included), beside a plain ffmpeg encode of one
episode for scale. Loopback only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchserver import TreeSampler, embedded_env, free_port


def make_mp3(path: Path, seconds: float) -> None:
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi",
            "-i", f"anoisesrc=duration={seconds}:color=pink:amplitude=0.1:sample_rate=44100",
            "-ac", "1", "-c:a", "libmp3lame", "-b:a", "64k", str(path),
        ],
        check=True,
    )  # fmt: skip


def feed(base: str, items: int) -> bytes:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    entries = "".join(
        f"<item><title>Episode {n}</title><guid>bench-{n}</guid>"
        f"<pubDate>{format_datetime(start + timedelta(days=n))}</pubDate>"
        f"<description>Notes of episode {n}.</description>"
        f'<enclosure url="{base}/audio/{n}.mp3" type="audio/mpeg" length="1"/></item>'
        for n in range(items)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Bench import</title>'
        f"<description>A generated show.</description><language>en</language>{entries}</channel></rss>"
    ).encode()


def old_host(audio: bytes, items: int) -> tuple[ThreadingHTTPServer, str]:
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = files.get(self.path, audio if self.path.startswith("/audio/") else None)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_port}"
    files["/feed.xml"] = feed(base, items)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, base


def run_import(workdir: Path, url: str, keep_audio: bool) -> tuple[float, int, str]:
    env = embedded_env(workdir, free_port(), allow_private_urls="true")
    command = [str(Path(sys.executable).parent / "podcast-host"), "import", url]
    if keep_audio:
        command.append("--keep-audio")
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    with TreeSampler(process.pid, every_s=0.1) as meter:
        out, _ = process.communicate()
    elapsed = time.perf_counter() - started
    return elapsed, meter.peak, out.decode().strip()


def plain_encode_s(source: Path, workdir: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-c:a", "libmp3lame",
         "-b:a", "64k", str(workdir / "plain.mp3")],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each episode")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        workdir = Path(tmp)
        source = workdir / "episode.mp3"
        make_mp3(source, args.seconds)
        server, base = old_host(source.read_bytes(), args.items)
        try:
            rows = []
            for keep in (False, True):
                elapsed, peak, summary = run_import(workdir / f"instance-{keep}", f"{base}/feed.xml", keep)
                rows.append((keep, elapsed, peak, summary))
            encode_s = plain_encode_s(source, workdir)
        finally:
            server.shutdown()
    title = f"import of {args.items} episodes of {args.seconds:.0f} s"
    print(f"| {title} | wall | episodes/min | peak RSS | result |")
    print("|---|---|---|---|---|")
    for keep, elapsed, peak, summary in rows:
        mode = "--keep-audio" if keep else "pipeline"
        rate = args.items / elapsed * 60
        print(f"| {mode} | {elapsed:.1f} s | {rate:,.0f} | {peak / 1e6:,.0f} MB | {summary} |")
    print(f"\nFor scale: one plain ffmpeg encode of one episode: {encode_s:.2f} s "
          f"(x{args.items}: {encode_s * args.items:.0f} s).")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
