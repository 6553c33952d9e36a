"""Running ffmpeg: which binary, its arguments, the processes of a run (killed on failure or at the run's
deadline), their logs, and ebur128's loudness summary. pydub, pointed at the same ffmpeg, loads on first
use."""

from __future__ import annotations

import functools
import math
import re
import shutil
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path
from typing import IO, TYPE_CHECKING

from podcast_host.audio.errors import DecodeFailed, TimedOut
from podcast_host.audio.loudness import Loudness

if TYPE_CHECKING:
    from pydub import AudioSegment

# The deadline of the run in progress in this thread (set by `process`), read where ffmpeg is started.
_deadline: ContextVar[float | None] = ContextVar("audio_deadline", default=None)


def ffmpeg_binary() -> str:
    """The ffmpeg to run: the system's when on PATH, else the one bundled with imageio-ffmpeg."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg  # only needed where no system ffmpeg exists

    bundled: str = imageio_ffmpeg.get_ffmpeg_exe()
    return bundled


@functools.cache
def _audio_segment() -> type[AudioSegment]:
    """pydub's AudioSegment, imported on first use and pointed at the pipeline's ffmpeg."""
    with warnings.catch_warnings():
        # pydub warns at import when ffmpeg is not on PATH (we hand it one below), about a regex
        # escape (3.12+) and, through audioop, about audioop's deprecation (3.11+; the audioop-lts
        # backport takes over on 3.13).
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydub import AudioSegment

    AudioSegment.converter = ffmpeg_binary()
    segment: type[AudioSegment] = AudioSegment
    return segment


def _ffmpeg(*args: str) -> list[str]:
    return [ffmpeg_binary(), "-nostdin", "-hide_banner", "-nostats", *args]


def _file_url(path: Path) -> str:
    """A path ffmpeg cannot take for a protocol ("a:b.mp3") or an option ("-x.wav")."""
    return f"file:{Path(path).resolve()}"


# ebur128's closing summary; framelog=verbose keeps its ten lines per second of audio out of the log.
EBUR128 = "ebur128=peak=true:framelog=verbose"
# No true peak's oversampling (to 192 kHz, in doubles): the sample peak costs nothing beside the loudness.
EBUR128_SAMPLE_PEAK = "ebur128=peak=sample:framelog=verbose"
_SUMMARY_FIELDS = {
    "lufs": r"I:\s+(\S+) LUFS",
    "lra": r"LRA:\s+(\S+) LU\b",
    "true_peak_dbtp": r"True peak:\s+Peak:\s+(\S+) dBFS",
    "sample_peak_dbfs": r"Sample peak:\s+Peak:\s+(\S+) dBFS",
}
# `-loglevel level+info` tags every line with its level, so errors stand out among a filter's summary.
_ERROR_LINE = re.compile(r"\[(?:error|fatal)\] (.*)")


def measure_loudness(path: Path) -> Loudness:
    """Integrated loudness, loudness range and true peak of a file, as ffmpeg's ebur128 reports them."""
    return _measure(Path(path))


def _measure(
    path: Path,
    length_s: float = 0.0,
    progress: Callable[[float], None] | None = None,
    filters: str = EBUR128,
) -> Loudness:
    """measure_loudness, reporting how far through `length_s` seconds of audio it has read."""
    command = _ffmpeg(
        "-i", _file_url(path), "-map", "0:a:0", "-af", filters, "-progress", "pipe:1", "-f", "null", "-"
    )
    with tempfile.TemporaryFile() as log, _processes() as children:
        meter = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)
        children.append(meter)
        assert meter.stdout is not None  # stdout=PIPE
        for line in meter.stdout:
            if progress is not None and length_s > 0 and line.startswith(b"out_time_us="):
                with suppress(ValueError):
                    progress(int(line.split(b"=", 1)[1]) / (length_s * 1e6))
        meter.wait()
        log_text = _read_log(log)
    if meter.returncode != 0:
        raise DecodeFailed(f"ffmpeg could not measure the loudness of the audio ({_last_line(log_text)}).")
    return _parse_ebur128(log_text)


def _parse_ebur128(log: str) -> Loudness:
    """ebur128's summary: "lufs" and "lra", and each peak it was asked for (-inf for silence)."""
    summary = log[log.rfind("Summary:") :]
    if "Summary:" not in log:
        raise DecodeFailed("ffmpeg gave no loudness summary for the audio.")
    figures = {}
    for name, pattern in _SUMMARY_FIELDS.items():
        found = re.search(pattern, summary)
        if found:
            figures[name] = float(found.group(1))
        elif name in ("lufs", "lra"):  # a peak that was not asked for stays out
            figures[name] = -math.inf
    return figures


def _last_line(log: str) -> str:
    """The line that says why ffmpeg failed: the last one tagged as an error, else simply the last one."""
    errors = _ERROR_LINE.findall(log)
    lines = errors or [line.strip() for line in log.splitlines() if line.strip()]
    return lines[-1].strip()[:200] if lines else "no message"


def _read_log(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode("utf-8", "replace")


@contextmanager
def _processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Children started inside are killed if the block exits early, so no ffmpeg outlives a failed job.

    Inside `process(deadline=…)`, they are also killed when the deadline passes, and the block then raises
    TimedOut whatever the children's death made the code inside raise."""
    children: list[subprocess.Popen[bytes]] = []
    deadline = _deadline.get()
    timed_out = threading.Event()

    def stop_all() -> None:
        timed_out.set()
        for child in list(children):
            if child.poll() is None:
                child.kill()

    timer = None
    if deadline is not None:
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), stop_all)
        timer.daemon = True
        timer.start()
    try:
        yield children
    finally:
        if timer is not None:
            timer.cancel()
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
            for pipe in (child.stdin, child.stdout):
                if pipe is not None:
                    with suppress(BrokenPipeError):
                        pipe.close()
        if timed_out.is_set():
            raise TimedOut("Processing took longer than its time limit; reprocess the episode to try again.")
