"""Benchmark the audio pipeline against a plain LAME transcode and print a Markdown table.

    python scripts/bench_audio.py            # 1-hour and 3-hour stereo speech-like episodes
    python scripts/bench_audio.py --quick    # one 5-minute episode, to try the script itself

Inputs are generated into a temporary folder (FLAC, looped espeak-ng speech over room tone) and deleted after.
The budgets and the last figures: docs/audio-pipeline.md, "Measured".
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from podcast_host import audio  # noqa: E402  (the path above makes the checkout importable)
from tests import audio_fixtures  # noqa: E402

RSS_SAMPLE_S = 0.2


def main() -> None:
    options = _arguments()
    hours = [5 / 60] if options.quick else options.hours
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-audio-") as scratch:
        for length_h in hours:
            rows.append(_bench_one(Path(scratch), length_h))
    print(_table(rows))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one 5-minute episode instead of 1 h and 3 h")
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 3.0], help="episode lengths in hours")
    return parser.parse_args()


def _bench_one(scratch: Path, length_h: float) -> dict:
    source = _episode_source(scratch, length_h * 3600)
    plain_s = _plain_transcode(source, scratch / "plain.mp3")
    probed = audio.probe(source, max_duration_s=24 * 3600)
    tags = audio.EpisodeTags(title="Benchmark", show="podcast-host")
    # The MP3 alone first, then the MP3 with its low-data Opus file (the pipeline as it runs for episodes).
    started = time.perf_counter()
    audio.process(
        source, scratch / "alone.mp3", probed, audio.EncodeSettings(), tags, max_duration_s=24 * 3600
    )
    alone_s = time.perf_counter() - started
    meter = _TreeMemory()
    started = time.perf_counter()
    with meter:
        result = audio.process(
            source,
            scratch / "episode.mp3",
            probed,
            audio.EncodeSettings(),
            tags,
            max_duration_s=24 * 3600,
            low_data_dst=scratch / "episode.opus",
        )
    ours_s = time.perf_counter() - started
    final = audio.measure_loudness(scratch / "episode.mp3")
    low = result.low_data
    sizes = (scratch / "episode.mp3").stat().st_size, (scratch / "episode.opus").stat().st_size
    for leftover in (source, scratch / "plain.mp3", scratch / "alone.mp3", scratch / "episode.mp3"):
        leftover.unlink(missing_ok=True)
    (scratch / "episode.opus").unlink(missing_ok=True)
    return {
        "length": _length(length_h),
        "plain_s": plain_s,
        "alone_s": alone_s,
        "ours_s": ours_s,
        "peak_rss_mb": meter.peak_mb,
        "lufs": final["lufs"],
        "true_peak": final["true_peak_dbtp"],
        "limiter": result.loudness_report["limiter_applied"],
        "low_lufs": low.lufs if low and low.lufs is not None else float("nan"),
        "mp3_mb": sizes[0] / 2**20,
        "low_mb": sizes[1] / 2**20,
    }


def _episode_source(scratch: Path, seconds: float) -> Path:
    """A stereo 44.1 kHz FLAC of `seconds` of speech: a 60 s speech clip looped by ffmpeg."""
    clip = audio_fixtures.make_speech(scratch / "clip.wav", seconds=60, channels=2, rate=44_100, level_db=-4)
    source = scratch / f"episode-{int(seconds)}s.flac"
    subprocess.run(
        [
            audio.ffmpeg_binary(),
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-stream_loop",
            "-1",
            "-i",
            str(clip),
            "-t",
            str(seconds),
            "-c:a",
            "flac",
            str(source),
        ],
        check=True,
    )
    clip.unlink()
    return source


def _plain_transcode(source: Path, out: Path) -> float:
    """The floor of the 2× budget: `ffmpeg -i IN -c:a libmp3lame -b:a 128k OUT.mp3`."""
    started = time.perf_counter()
    subprocess.run(
        [
            audio.ffmpeg_binary(),
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(source),
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            str(out),
        ],
        check=True,
    )
    return time.perf_counter() - started


class _TreeMemory:
    """Samples the summed RSS of this process and all its children every RSS_SAMPLE_S while active."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> _TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a child that ended between listing and reading
                    total += proc.memory_info().rss
            self.peak_mb = max(self.peak_mb, total / 2**20)
            self._stop.wait(RSS_SAMPLE_S)


def _length(hours: float) -> str:
    minutes = round(hours * 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def _table(rows: list[dict]) -> str:
    lines = [
        "| episode | plain ffmpeg → MP3 (s) | process(), MP3 alone (s) | process(), MP3 + low data (s) "
        "| ratio to plain (≤ 2.0) | low data's cost (≤ 1.25) | peak RSS, tree (MB, ≤ 300) | output LUFS "
        "| output true peak (dBTP) | limiter | low data LUFS | MP3 / low data (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['length']} | {row['plain_s']:.1f} | {row['alone_s']:.1f} | {row['ours_s']:.1f} "
            f"| {row['ours_s'] / row['plain_s']:.2f} | {row['ours_s'] / row['alone_s']:.2f} "
            f"| {row['peak_rss_mb']:.0f} | {row['lufs']:.1f} | {row['true_peak']:.1f} "
            f"| {'yes' if row['limiter'] else 'no'} | {row['low_lufs']:.1f} "
            f"| {row['mp3_mb']:.1f} / {row['low_mb']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if shutil.which("espeak-ng") is None:
        print("note: espeak-ng not found; the episode is synthetic noise speech", file=sys.stderr)
    main()
