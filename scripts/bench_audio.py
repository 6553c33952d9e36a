"""Benchmark the audio pipeline against a plain LAME transcode and print a Markdown table.

    python scripts/bench_audio.py               # 1-hour and 3-hour stereo speech episodes
    python scripts/bench_audio.py --repeat 3    # each timing three times, interleaved; medians printed
    python scripts/bench_audio.py --quick       # one 5-minute episode, to try the script itself

For each episode: a plain `ffmpeg -i IN -c:a libmp3lame -b:a 128k OUT.mp3`, the pipeline making the MP3
alone, and the pipeline making the MP3 and its low-data Opus file, timed side by side. The CPU seconds of each
(ffmpeg and Python together) tell how much a busy machine can take from the wall time: with both cores taken
by others, the wall times follow the CPU seconds. Inputs are generated into a temporary folder (FLAC, looped
espeak-ng speech over room tone) and deleted after.
The budgets and the last figures: docs/audio-pipeline.md, "Measured".
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from podcast_host import audio  # noqa: E402  (the path above makes the checkout importable)
from tests import audio_fixtures  # noqa: E402

RSS_SAMPLE_S = 0.2
NO_LIMIT_S = 24 * 3600


def main() -> None:
    options = _arguments()
    hours = [5 / 60] if options.quick else options.hours
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-audio-") as scratch:
        for length_h in hours:
            rows.append(_bench_one(Path(scratch), length_h, options.repeat))
    print(_table(rows))


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one 5-minute episode instead of 1 h and 3 h")
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 3.0], help="episode lengths in hours")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the three timings; medians printed")
    return parser.parse_args()


class _Timing:
    """Wall and CPU seconds (this process and its children) of one call."""

    def __init__(self, run: Callable[[], object]):
        before_wall, before_cpu = time.perf_counter(), _cpu_s()
        self.result = run()
        self.wall_s = time.perf_counter() - before_wall
        self.cpu_s = _cpu_s() - before_cpu


def _cpu_s() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _bench_one(scratch: Path, length_h: float, repeat: int) -> dict:
    source = _episode_source(scratch, length_h * 3600)
    tags = audio.EpisodeTags(title="Benchmark", show="podcast-host")
    mp3, opus = scratch / "episode.mp3", scratch / "episode.opus"

    def pipeline(low_data: Path | None) -> audio.ProcessResult:
        """The job's audio work: the probe (milliseconds), then the whole pipeline."""
        probed = audio.probe(source, max_duration_s=NO_LIMIT_S)
        settings = audio.EncodeSettings()
        return audio.process(
            source, mp3, probed, settings, tags, max_duration_s=NO_LIMIT_S, low_data_dst=low_data
        )

    plain, alone, both = [], [], []
    meter = _TreeMemory()
    load = [os.getloadavg()[0]]
    for _ in range(repeat):
        plain.append(_Timing(lambda: _plain_transcode(source, scratch / "plain.mp3")))
        alone.append(_Timing(lambda: pipeline(None)))
        with meter:
            both.append(_Timing(lambda: pipeline(opus)))
        load.append(os.getloadavg()[0])
    result = both[-1].result
    assert isinstance(result, audio.ProcessResult)
    final, low = audio.measure_loudness(mp3), audio.measure_loudness(opus)
    sizes = mp3.stat().st_size, opus.stat().st_size
    for leftover in (source, scratch / "plain.mp3", mp3, opus):
        leftover.unlink(missing_ok=True)
    return {
        "length": _length(length_h),
        "runs": repeat,
        "plain_s": _median(plain, "wall_s"),
        "alone_s": _median(alone, "wall_s"),
        "both_s": _median(both, "wall_s"),
        "plain_cpu": _median(plain, "cpu_s"),
        "alone_cpu": _median(alone, "cpu_s"),
        "both_cpu": _median(both, "cpu_s"),
        # Ratios of each round's side-by-side timings, then their median.
        "alone_ratio": statistics.median(a.wall_s / p.wall_s for a, p in zip(alone, plain, strict=True)),
        "both_ratio": statistics.median(b.wall_s / p.wall_s for b, p in zip(both, plain, strict=True)),
        "low_cost": statistics.median(b.wall_s / a.wall_s for b, a in zip(both, alone, strict=True)),
        "peak_rss_mb": meter.peak_mb,
        "lufs": final["lufs"],
        "true_peak": final["true_peak_dbtp"],
        "limiter": result.loudness_report["limiter_applied"],
        "low_lufs": low["lufs"],
        "low_true_peak": low["true_peak_dbtp"],
        "mp3_mb": sizes[0] / 2**20,
        "low_mb": sizes[1] / 2**20,
        "load": f"{min(load):.1f}–{max(load):.1f}",
    }


def _median(timings: list[_Timing], field: str) -> float:
    return statistics.median(getattr(timing, field) for timing in timings)


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


def _plain_transcode(source: Path, out: Path) -> None:
    """The floor of the budgets: `ffmpeg -i IN -c:a libmp3lame -b:a 128k OUT.mp3`."""
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


class _TreeMemory:
    """Samples the summed RSS of this process and all its children every RSS_SAMPLE_S while active."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _TreeMemory:
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
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
        "| episode | runs | plain ffmpeg → MP3 (s) | MP3 alone (s) | MP3 + low data (s) "
        "| MP3 alone ÷ plain | MP3 + low data ÷ plain (≤ 1.2) | low data's cost (≤ 1.25) "
        "| CPU s: plain / alone / + low data | peak RSS, tree (MB, ≤ 300) | MP3 LUFS / dBTP | limiter "
        "| low data LUFS / dBTP | MP3 / low data (MB) | load average |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['length']} | {row['runs']} | {row['plain_s']:.1f} | {row['alone_s']:.1f} "
            f"| {row['both_s']:.1f} | {row['alone_ratio']:.2f} | {row['both_ratio']:.2f} "
            f"| {row['low_cost']:.2f} "
            f"| {row['plain_cpu']:.0f} / {row['alone_cpu']:.0f} / {row['both_cpu']:.0f} "
            f"| {row['peak_rss_mb']:.0f} | {row['lufs']:.1f} / {row['true_peak']:.1f} "
            f"| {'yes' if row['limiter'] else 'no'} | {row['low_lufs']:.1f} / {row['low_true_peak']:.1f} "
            f"| {row['mp3_mb']:.1f} / {row['low_mb']:.1f} | {row['load']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    if shutil.which("espeak-ng") is None:
        print("note: espeak-ng not found; the episode is synthetic noise speech", file=sys.stderr)
    main()
