"""`process`: measure, normalize, encode and tag an upload into the published MP3, within the probe's length
and the run's deadline (docs/audio-pipeline.md, "The passes" and "Settings")."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from podcast_host.audio.encode import LowDataOutput, _encode
from podcast_host.audio.ffmpeg import _deadline
from podcast_host.audio.loudness import (
    LoudnessReport,
    _corrected_plan,
    _first_plan,
    _GainPlan,
    _loudness_report,
)
from podcast_host.audio.measure import _DecodeAllowance, _measure_input
from podcast_host.audio.probing import ProbeResult
from podcast_host.audio.progress import _ProgressScale
from podcast_host.audio.tags import EpisodeTags, write_tags
from podcast_host.config import Settings

# The configuration's default (PODCAST_HOST_MAX_DURATION_S), for callers that do not pass theirs.
DEFAULT_MAX_DURATION_S = Settings.max_duration_s
MAX_ENCODE_PASSES = 3


@dataclass(frozen=True)
class EncodeSettings:
    target_lufs_stereo: float = -16.0  # Apple Podcasts' recommendation for stereo
    target_lufs_mono: float = -19.0  # a mono file plays ≈3 LU louder on two speakers
    bitrate_stereo_kbps: int = 128
    bitrate_mono_kbps: int = 64
    true_peak_ceiling_dbtp: float = -1.0  # EBU R128 s1 for delivery
    # The low-data Opus file beside the MP3 (docs/audio-pipeline.md, "The low-data file").
    low_data_stereo_kbps: int = 32
    low_data_mono_kbps: int = 24


@dataclass(frozen=True)
class LowData:
    """The low-data Opus file a run wrote, and its bitrate."""

    kbps: int


@dataclass(frozen=True)
class ProcessResult:
    duration_s: float
    channels: int
    loudness_report: LoudnessReport
    waveform: list[float]
    low_data: LowData | None = None


def process(
    src: Path,
    dst: Path,
    probed: ProbeResult,
    settings: EncodeSettings,
    tags: EpisodeTags,
    progress: Callable[[float], None] | None = None,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
    deadline: float | None = None,
    low_data_dst: Path | None = None,
) -> ProcessResult:
    """Measure, normalize, encode and tag `src` into the MP3 `dst`, and with `low_data_dst` the same audio
    into a low-data Opus file there, from the same gained samples; `src` is only read.

    No decoder runs past what the probe allows: the probed length (+1 s) when the file states it, else
    `max_duration_s`; audio that goes on longer fails as DecodeFailed. Past `deadline` (a time.monotonic()
    instant) every ffmpeg of the run is killed and TimedOut raised.
    """
    reset = _deadline.set(deadline)
    try:
        return _process(src, dst, probed, settings, tags, progress, max_duration_s, low_data_dst)
    finally:
        _deadline.reset(reset)


def _process(
    src: Path,
    dst: Path,
    probed: ProbeResult,
    settings: EncodeSettings,
    tags: EpisodeTags,
    progress: Callable[[float], None] | None,
    max_duration_s: float,
    low_data_dst: Path | None,
) -> ProcessResult:
    src, dst = Path(src), Path(dst)
    report_progress = _ProgressScale(progress)
    allowed = _DecodeAllowance.of(src, probed.duration_s, max_duration_s)
    measured = _measure_input(src, probed, allowed, report_progress.span(0.0, 0.1))
    channels = measured.channels
    target = settings.target_lufs_mono if channels == 1 else settings.target_lufs_stereo
    kbps = settings.bitrate_mono_kbps if channels == 1 else settings.bitrate_stereo_kbps
    plan = _first_plan(measured.loudness, target, kbps, settings.true_peak_ceiling_dbtp)
    fd, name = tempfile.mkstemp(prefix=".encoding-", suffix=".mp3", dir=dst.parent)
    os.close(fd)
    partial = Path(name)
    low_data = None
    if low_data_dst is not None:
        low_kbps = settings.low_data_mono_kbps if channels == 1 else settings.low_data_stereo_kbps
        low_data = LowDataOutput(partial.with_suffix(".opus"), low_kbps)
    # The first encode's decoder measures the input's true peak for the report (pass 1 read the sample peak).
    input_rate: int | None = measured.sample_rate
    source = dict(measured.loudness)
    try:
        for attempt in range(MAX_ENCODE_PASSES):
            span = report_progress.span(0.1 + 0.9 * attempt / MAX_ENCODE_PASSES, 0.99)
            encoded = _encode(
                src, partial, channels, kbps, plan, measured.decoded_s, allowed, span, low_data, input_rate
            )
            if input_rate is not None and encoded.input_true_peak_dbtp is not None:
                source["true_peak_dbtp"] = encoded.input_true_peak_dbtp
            input_rate = None
            output = encoded.mp3
            better = _corrected_plan(plan, output, target, settings.true_peak_ceiling_dbtp)
            if better is None or attempt == MAX_ENCODE_PASSES - 1:
                break
            plan = better
        write_tags(partial, tags)
        if low_data_dst is not None and low_data is not None:
            os.replace(low_data.path, low_data_dst)
        os.replace(partial, dst)
    finally:
        partial.unlink(missing_ok=True)
        if low_data is not None:
            low_data.path.unlink(missing_ok=True)
    report_progress(1.0)
    report = _loudness_report(source, output, target, plan, settings.true_peak_ceiling_dbtp)
    return ProcessResult(
        duration_s=round(measured.decoded_s, 3),
        channels=channels,
        loudness_report=report,
        waveform=measured.waveform,
        low_data=LowData(low_data.kbps) if low_data is not None else None,
    )


def keep(
    src: Path,
    dst: Path,
    probed: ProbeResult,
    settings: EncodeSettings,
    progress: Callable[[float], None] | None = None,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
    deadline: float | None = None,
) -> ProcessResult:
    """Publish the MP3 `src` byte for byte as `dst` (an episode imported or exported with its audio as it
    was): one decode measures it, for the loudness report and the waveform, and checks it plays to its end."""
    reset = _deadline.set(deadline)
    try:
        report_progress = _ProgressScale(progress)
        allowed = _DecodeAllowance.of(Path(src), probed.duration_s, max_duration_s)
        measured = _measure_input(Path(src), probed, allowed, report_progress.span(0.0, 0.95), true_peak=True)
        shutil.copyfile(src, dst)
        report_progress(1.0)
    finally:
        _deadline.reset(reset)
    channels = measured.channels
    target = settings.target_lufs_mono if channels == 1 else settings.target_lufs_stereo
    untouched = _GainPlan(0.0, False, settings.true_peak_ceiling_dbtp)
    report = _loudness_report(
        measured.loudness, measured.loudness, target, untouched, settings.true_peak_ceiling_dbtp
    )
    return ProcessResult(
        duration_s=round(measured.decoded_s, 3),
        channels=channels,
        loudness_report=report,
        waveform=measured.waveform,
    )
