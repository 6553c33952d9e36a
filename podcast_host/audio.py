"""The audio pipeline: probe an upload with mutagen, normalize and encode it to a tagged MP3.

Only this module imports mutagen and pydub, and only when a function needs them: the web process imports this
module for every request. docs/audio-pipeline.md explains the passes and the numbers.
"""

from __future__ import annotations

import fcntl
import functools
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from podcast_host.tag_limits import TagTooLarge, check_id3

if TYPE_CHECKING:
    from mutagen import id3
    from pydub import AudioSegment


@functools.cache
def source_kinds() -> dict[type, tuple[str, str]]:
    """What we accept: mutagen class -> (format name, MIME type); raw ADTS AAC is "M4A/AAC".

    Built, with mutagen imported, on first use. See docs/audio-pipeline.md, "Errors, and where they map".
    """
    from mutagen.aac import AAC
    from mutagen.aiff import AIFF
    from mutagen.flac import FLAC
    from mutagen.mp3 import MP3
    from mutagen.mp4 import MP4
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis
    from mutagen.wave import WAVE

    return {
        MP3: ("mp3", "audio/mpeg"),
        MP4: ("m4a", "audio/mp4"),
        AAC: ("aac", "audio/aac"),
        WAVE: ("wav", "audio/wav"),
        FLAC: ("flac", "audio/flac"),
        OggVorbis: ("ogg", "audio/ogg"),
        OggOpus: ("opus", "audio/ogg"),
        AIFF: ("aiff", "audio/aiff"),
    }


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
    return AudioSegment


READABLE = "MP3, M4A/AAC, WAV, FLAC, Ogg Vorbis, Opus and AIFF"
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 96_000  # docs/audio-pipeline.md, "Errors, and where they map"
MIN_DURATION_S = 0.1  # shorter than one 400 ms loudness block is not an episode; 0.1 s only rejects empties
# Decoded more than 1 s short of the probed length means a cut upload: mutagen does not notice truncation.
TRUNCATION_TOLERANCE_S = 1.0
# The mirror rule: decoded more than 1 s LONGER than the header says means a lying or damaged header.
OVERRUN_TOLERANCE_S = 1.0
# Decoders stop this far past the most we accept, so that running over shows without decoding the rest.
DECODE_MARGIN_S = 0.5
DEFAULT_MAX_DURATION_S = 6 * 3600  # the configuration's default, for callers that do not pass theirs

OUTPUT_RATE = 44_100  # docs/audio-pipeline.md, "Loudness"
LOUDNESS_TOLERANCE_LU = 1.0  # promised to listeners (docs/audio-pipeline.md, "Loudness")
AIM_TOLERANCE_LU = 0.5  # re-encode when the MP3 lands further than this from the target, keeping clear of ±1
MAX_ENCODE_PASSES = 3
MAX_GAIN_DB = 40.0  # more than this is amplifying noise: near-silent input keeps its level and is reported
SILENCE_LUFS = -69.0  # ebur128 reports -70 LUFS when every block falls under BS.1770's absolute gate
# Measured: a LAME encode of speech lowers integrated loudness (kbps -> LU lost); we pre-compensate.
LAME_LOUDNESS_LOSS_LU = ((64, 0.4), (128, 0.45), (192, 0.2), (320, 0.0))
# Measured: LAME lifts true peaks above their pre-encode level; the limiter aims this far under the ceiling.
ENCODER_PEAK_MARGIN_DB = 1.0
PEAK_CORRECTION_MARGIN_DB = 0.3  # extra room taken when a pass still overshot the ceiling
LIMITER_OVERSAMPLING = 1
WAVEFORM_POINTS = 1000  # always this many, whatever the length: the page's size must not follow the upload
WAVEFORM_RATE = 8_000  # the waveform only draws the envelope: 8 kHz mono is plenty
WAVEFORM_READ_BYTES = WAVEFORM_RATE * 2  # one second of the s16 waveform stream per read
PCM_FORMAT, PCM_WIDTH = "s32le", 4  # the PCM between the decoder, pydub and the encoder
PCM_HEADROOM_DB = 30.0  # that PCM travels this far under full scale: a source's overs survive the integers

# The deadline of the run in progress in this thread (set by `process`), read where ffmpeg is started.
_deadline: ContextVar[float | None] = ContextVar("audio_deadline", default=None)
PIPE_BUFFER_BYTES = 1 << 20
ENCODE_SHARE = 0.85  # of an encode's progress; measuring the MP3 afterwards takes the rest
CTOC_MAX_ENTRIES = 255  # a CTOC frame counts its entries in one byte
CHAP_MAX_MS = 0xFFFFFFFE  # CHAP times are 32-bit milliseconds; all ones means "not set"


class AudioError(Exception):
    """Base of the pipeline's errors; str() is one sentence a producer can act on."""


class UnsupportedAudio(AudioError):
    """mutagen cannot read the file as any format we accept (HTTP 415)."""


class InvalidAudio(AudioError):
    """Readable audio that we refuse: empty, too long, odd sample rate (HTTP 422)."""


class TimedOut(AudioError):
    """The run passed its deadline; its ffmpeg processes were stopped."""


class DecodeFailed(AudioError):
    """The file probed fine but ffmpeg cannot decode all of it; the episode ends `failed`."""


@dataclass(frozen=True)
class ProbeResult:
    format: str
    mime_type: str
    duration_s: float
    channels: int
    sample_rate: int
    bitrate: int | None
    chapters: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class EncodeSettings:
    target_lufs_stereo: float = -16.0  # Apple Podcasts' recommendation for stereo
    target_lufs_mono: float = -19.0  # a mono file plays ≈3 LU louder on two speakers
    bitrate_stereo_kbps: int = 128
    bitrate_mono_kbps: int = 64
    true_peak_ceiling_dbtp: float = -1.0  # EBU R128 s1 for delivery


@dataclass(frozen=True)
class EpisodeTags:
    title: str
    show: str
    author: str = ""
    date: str = ""
    season: int | None = None
    number: int | None = None
    cover: bytes | None = None
    cover_mime: str = "image/jpeg"
    chapters: list[dict] = ()  # type: ignore[assignment]  # a tuple default keeps the dataclass frozen-safe


@dataclass(frozen=True)
class ProcessResult:
    duration_s: float
    channels: int
    loudness_report: dict
    waveform: list[float]


# ------------------------------------------------------------------------------------------------ probing


def probe(path: Path, max_duration_s: float) -> ProbeResult:
    """Read format, length and layout with mutagen alone; refuse what the pipeline cannot take."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise InvalidAudio("The file is empty (0 bytes).")
    # mutagen's ID3 reader is quadratic in a tag's frames: refuse hostile tags first.
    try:
        check_id3(path)
    except TagTooLarge as exc:
        raise InvalidAudio(str(exc)) from None
    from mutagen.oggopus import OggOpus

    source = _open_with_mutagen(path)
    kind, mime_type = source_kinds()[type(source)]
    info = source.info
    sample_rate = 48_000 if isinstance(source, OggOpus) else int(getattr(info, "sample_rate", 0) or 0)
    result = ProbeResult(
        format=kind,
        mime_type=mime_type,
        duration_s=float(info.length or 0.0),
        channels=int(getattr(info, "channels", 0) or 0),
        sample_rate=sample_rate,
        bitrate=int(info.bitrate) if getattr(info, "bitrate", 0) else None,
        chapters=_chapters_in(source),
    )
    _check_playable(result, max_duration_s)
    return result


def _open_with_mutagen(path: Path) -> Any:
    import mutagen

    try:
        source = mutagen.File(path, options=list(source_kinds()))
    except mutagen.MutagenError:
        source = None
    if source is None or source.info is None:
        raise UnsupportedAudio(f"The file is not audio we can read (tried {READABLE}).")
    return source


def _check_playable(probed: ProbeResult, max_duration_s: float) -> None:
    if probed.duration_s < MIN_DURATION_S:
        raise InvalidAudio(f"The audio has no length ({probed.duration_s:.2f} s); nothing to publish.")
    if probed.duration_s > max_duration_s:
        raise InvalidAudio(
            f"The audio is {_clock(probed.duration_s)} long; the limit is {_clock(max_duration_s)}."
        )
    if probed.channels < 1:
        raise InvalidAudio("The file has no audio channels.")
    if not MIN_SAMPLE_RATE <= probed.sample_rate <= MAX_SAMPLE_RATE:
        raise InvalidAudio(f"The audio's sample rate is {probed.sample_rate} Hz; we accept 8 kHz to 96 kHz.")


def _clock(seconds: float) -> str:
    """A length as a producer says it: "7h 0m", "12m 5s", "42 s"."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs} s"


def _chapters_in(source: Any) -> list[dict]:
    """Chapters already in the upload (ID3 CHAP, or Nero chapters in M4A), sorted by start."""
    from mutagen import id3
    from mutagen.mp4 import MP4

    if isinstance(source.tags, id3.ID3):
        chapters = [_chapter_from_chap(frame) for frame in source.tags.getall("CHAP")]
    elif isinstance(source, MP4) and getattr(source, "chapters", None):
        starts = [float(c.start) for c in source.chapters]
        ends = starts[1:] + [float(source.info.length)]
        chapters = [
            {"startTime": start, "endTime": end, "title": str(c.title or "")}
            for start, end, c in zip(starts, ends, source.chapters, strict=True)
        ]
    else:
        return []
    # Measured: mutagen returns CHAP frames in stored order, which need not be time order.
    return sorted(chapters, key=lambda chapter: chapter["startTime"])


def _chapter_from_chap(frame: id3.CHAP) -> dict:
    title = frame.sub_frames.get("TIT2")
    end_ms = frame.end_time
    return {
        "startTime": frame.start_time / 1000,
        "endTime": end_ms / 1000 if end_ms and end_ms != 0xFFFFFFFF and end_ms > frame.start_time else None,
        "title": str(title.text[0]) if title and title.text else "",
    }


def _duration_is_estimate(path: Path) -> bool:
    """True when mutagen guessed the length from the file size (MP3 without a Xing/VBRI header, ADTS AAC)."""
    import mutagen
    from mutagen.aac import AAC
    from mutagen.mp3 import MP3, BitrateMode

    try:
        source = mutagen.File(path, options=list(source_kinds()))
    except mutagen.MutagenError:
        return True
    if isinstance(source, AAC):
        return True
    return isinstance(source, MP3) and source.info.bitrate_mode == BitrateMode.UNKNOWN


# ------------------------------------------------------------------------------------------------ ffmpeg


def ffmpeg_binary() -> str:
    """The ffmpeg to run: the system's when on PATH, else the one bundled with imageio-ffmpeg."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg  # only needed where no system ffmpeg exists

    return imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg(*args: str) -> list[str]:
    return [ffmpeg_binary(), "-nostdin", "-hide_banner", "-nostats", *args]


def _file_url(path: Path) -> str:
    """A path ffmpeg cannot take for a protocol ("a:b.mp3") or an option ("-x.wav")."""
    return f"file:{Path(path).resolve()}"


# ebur128's closing summary; framelog=verbose keeps its ten lines per second of audio out of the log.
EBUR128 = "ebur128=peak=true:framelog=verbose"
_SUMMARY_FIELDS = {
    "lufs": r"I:\s+(\S+) LUFS",
    "lra": r"LRA:\s+(\S+) LU\b",
    "true_peak_dbtp": r"Peak:\s+(\S+) dBFS",
}


def measure_loudness(path: Path) -> dict:
    """Integrated loudness, loudness range and true peak of a file, as ffmpeg's ebur128 reports them."""
    return _measure(Path(path))


def _measure(path: Path, length_s: float = 0.0, progress: Callable[[float], None] | None = None) -> dict:
    """measure_loudness, reporting how far through `length_s` seconds of audio it has read."""
    command = _ffmpeg(
        "-i", _file_url(path), "-map", "0:a:0", "-af", EBUR128, "-progress", "pipe:1", "-f", "null", "-"
    )
    with tempfile.TemporaryFile() as log, _processes() as children:
        meter = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)
        children.append(meter)
        for line in meter.stdout:
            if progress is not None and length_s > 0 and line.startswith(b"out_time_us="):
                with suppress(ValueError):
                    progress(int(line.split(b"=", 1)[1]) / (length_s * 1e6))
        meter.wait()
        log_text = _read_log(log)
    if meter.returncode != 0:
        raise DecodeFailed(f"ffmpeg could not measure the loudness of the audio ({_last_line(log_text)}).")
    return _parse_ebur128(log_text)


def _parse_ebur128(log: str) -> dict:
    summary = log[log.rfind("Summary:") :]
    if "Summary:" not in log:
        raise DecodeFailed("ffmpeg gave no loudness summary for the audio.")
    figures = {}
    for name, pattern in _SUMMARY_FIELDS.items():
        found = re.search(pattern, summary)
        figures[name] = float(found.group(1)) if found else -math.inf
    return figures


def _last_line(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no message"


@contextmanager
def _processes() -> Iterator[list[subprocess.Popen]]:
    """Children started inside are killed if the block exits early, so no ffmpeg outlives a failed job.

    Inside `process(deadline=…)`, they are also killed when the deadline passes, and the block then raises
    TimedOut whatever the children's death made the code inside raise."""
    children: list[subprocess.Popen] = []
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


# ------------------------------------------------------------------------------------------------ processing


@dataclass(frozen=True)
class _InputMeasure:
    loudness: dict
    decoded_s: float
    waveform: list[float]
    channels: int  # of the MP3 to make: 1 for mono input, 2 for anything else


@dataclass(frozen=True)
class _GainPlan:
    gain_db: float
    limiter: bool
    ceiling_dbtp: float  # where the limiter holds true peaks before LAME


def process(
    src: Path,
    dst: Path,
    probed: ProbeResult,
    settings: EncodeSettings,
    tags: EpisodeTags,
    progress: Callable[[float], None] | None = None,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
    deadline: float | None = None,
) -> ProcessResult:
    """Measure, normalize, encode and tag `src` into the MP3 `dst`; `src` is only read.

    No decoder runs past what the probe allows: the probed length (+1 s) when the file states it, else
    `max_duration_s`; audio that goes on longer fails as DecodeFailed. Past `deadline` (a time.monotonic()
    instant) every ffmpeg of the run is killed and TimedOut raised.
    """
    reset = _deadline.set(deadline)
    try:
        return _process(src, dst, probed, settings, tags, progress, max_duration_s)
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
) -> ProcessResult:
    src, dst = Path(src), Path(dst)
    report_progress = _ProgressScale(progress)
    allowed = _DecodeAllowance.of(src, probed.duration_s, max_duration_s)
    measured = _measure_input(src, probed, allowed, report_progress.span(0.0, 0.25))
    channels = measured.channels
    target = settings.target_lufs_mono if channels == 1 else settings.target_lufs_stereo
    kbps = settings.bitrate_mono_kbps if channels == 1 else settings.bitrate_stereo_kbps
    plan = _first_plan(measured.loudness, target, kbps, settings.true_peak_ceiling_dbtp)
    fd, name = tempfile.mkstemp(prefix=".encoding-", suffix=".mp3", dir=dst.parent)
    os.close(fd)
    partial = Path(name)
    try:
        for attempt in range(MAX_ENCODE_PASSES):
            span = report_progress.span(0.25 + 0.7 * attempt / MAX_ENCODE_PASSES, 0.95)
            output = _encode(src, partial, channels, kbps, plan, measured.decoded_s, allowed, span)
            better = _corrected_plan(plan, output, target, settings.true_peak_ceiling_dbtp)
            if better is None or attempt == MAX_ENCODE_PASSES - 1:
                break
            plan = better
        write_tags(partial, tags)
        os.replace(partial, dst)
    finally:
        partial.unlink(missing_ok=True)
    report_progress(1.0)
    report = _loudness_report(measured.loudness, output, target, plan, settings.true_peak_ceiling_dbtp)
    return ProcessResult(
        duration_s=round(measured.decoded_s, 3),
        channels=channels,
        loudness_report=report,
        waveform=measured.waveform,
    )


class _ProgressScale:
    """Maps each pass's own 0..1 onto a slice of the job's 0..1; reports only forward steps of 1 % or more."""

    def __init__(
        self,
        callback: Callable[[float], None] | None,
        low: float = 0.0,
        high: float = 1.0,
        shown: list[float] | None = None,
    ):
        self.callback, self.low, self.high = callback, low, high
        self.shown = shown if shown is not None else [-1.0]  # shared by every slice of one job

    def span(self, low: float, high: float) -> _ProgressScale:
        return _ProgressScale(self.callback, low, high, self.shown)

    def __call__(self, fraction: float) -> None:
        value = round(self.low + (self.high - self.low) * min(max(fraction, 0.0), 1.0), 3)
        if self.callback is not None and (value - self.shown[0] >= 0.01 or (value == 1.0 > self.shown[0])):
            self.shown[0] = value
            self.callback(value)


def _channel_layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


@dataclass(frozen=True)
class _DecodeAllowance:
    """How much audio a file may decode to, and what its probe said."""

    probed_s: float
    most_s: float
    estimate: bool  # the probed length is mutagen's guess from the file size, not a stated length

    @classmethod
    def of(cls, src: Path, probed_s: float, max_duration_s: float) -> _DecodeAllowance:
        if _duration_is_estimate(src):
            # A limit raised above the default must not cut an honest estimate that the probe let through.
            return cls(probed_s, max(float(max_duration_s), probed_s + OVERRUN_TOLERANCE_S), True)
        return cls(probed_s, probed_s + OVERRUN_TOLERANCE_S, False)

    @property
    def stop_s(self) -> str:
        """ffmpeg's `-t`: a little past the most allowed, so an overrun shows and no more is decoded."""
        return f"{self.most_s + DECODE_MARGIN_S:.3f}"

    def check(self, decoded_s: float) -> None:
        if decoded_s <= self.most_s:
            return
        if self.estimate:
            raise DecodeFailed(
                f"The audio is longer than the limit of {_clock(self.most_s)} although the file seems "
                f"to last {_clock(self.probed_s)}; nothing past the limit is processed."
            )
        raise DecodeFailed(
            f"The audio runs past {_clock(self.most_s)} although the file says it lasts "
            f"{_clock(self.probed_s)}; its header is wrong or damaged."
        )


def _measure_input(
    src: Path, probed: ProbeResult, allowed: _DecodeAllowance, progress: _ProgressScale
) -> _InputMeasure:
    """Pass 1: one decode that gives the input loudness (ebur128), the decoded length and the waveform."""
    # Surround is measured as the stereo fold-down we will publish; mono and stereo as they are.
    fold_down = "aformat=channel_layouts=stereo," if probed.channels > 2 else ""
    chain = f"{fold_down}{EBUR128},aformat=channel_layouts=mono"
    command = _ffmpeg(
        "-i",
        _file_url(src),
        "-map",
        "0:a:0",
        "-t",
        allowed.stop_s,
        "-af",
        chain,
        "-ar",
        str(WAVEFORM_RATE),
        "-f",
        "s16le",
        "pipe:1",
    )
    expected_samples = max(1, int(probed.duration_s * WAVEFORM_RATE))
    peaks = _WaveformPeaks(expected_samples)
    with tempfile.TemporaryFile() as log, _processes() as children:
        decoder = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)
        children.append(decoder)
        for block in iter(lambda: decoder.stdout.read(WAVEFORM_READ_BYTES), b""):
            peaks.add(block)
            progress(peaks.samples / expected_samples)
        decoder.wait()
        log_text = _read_log(log)
    decoded_s = peaks.samples / WAVEFORM_RATE
    _check_decoded(decoder.returncode, log_text, decoded_s, allowed)
    allowed.check(decoded_s)
    channels = _decoded_channels(log_text, probed.channels)
    return _InputMeasure(_parse_ebur128(log_text), decoded_s, peaks.points(), channels)


def _decoded_channels(log: str, probed_channels: int) -> int:
    """1 when ffmpeg decodes mono, else 2: ffmpeg's word beats mutagen's, which misreads some mono AAC."""
    stream = re.search(r"Stream #0:\d+.*?: Audio: [^,]+, \d+ Hz, ([^,]+)", log)
    if stream is None:
        return 1 if probed_channels == 1 else 2
    return 1 if stream.group(1).strip() in ("mono", "1 channels") else 2


def _read_log(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode("utf-8", "replace")


def _check_decoded(returncode: int, log: str, decoded_s: float, allowed: _DecodeAllowance) -> None:
    if returncode != 0:
        raise DecodeFailed(f"The audio could not be decoded ({_last_line(log)}).")
    if decoded_s <= 0:
        raise DecodeFailed("The audio could not be decoded: not a single sample came out of it.")
    probed_s = allowed.probed_s
    if decoded_s < probed_s - TRUNCATION_TOLERANCE_S and not allowed.estimate:
        raise DecodeFailed(
            f"The audio stops after {_clock(decoded_s)} although the file says it lasts {_clock(probed_s)}; "
            "the upload looks truncated or damaged."
        )


class _WaveformPeaks:
    """Running peaks over a stream of 16-bit mono PCM, measured by pydub, in a bounded number of buckets.

    Buckets start at a quarter of a point of the expected length; whenever there are 8 buckets a point, pairs
    merge and buckets double, so a header that understates the length costs a few merges, never more memory.
    """

    def __init__(self, expected_samples: int):
        self.bucket = max(1, expected_samples // (4 * WAVEFORM_POINTS))
        self.samples = 0
        self.pending = b""
        self.peaks: list[int] = []

    def add(self, block: bytes) -> None:
        self.samples += len(block) // 2
        data = self.pending + block
        start = 0
        while len(data) - start >= self.bucket * 2:
            end = start + self.bucket * 2
            self.peaks.append(_pcm16(data[start:end]).max)
            start = end
            if len(self.peaks) == 8 * WAVEFORM_POINTS:
                self.peaks = [max(pair) for pair in zip(self.peaks[::2], self.peaks[1::2], strict=True)]
                self.bucket *= 2
        self.pending = data[start:]

    def points(self) -> list[float]:
        """Exactly WAVEFORM_POINTS peaks scaled to the loudest (a very short clip repeats its peaks)."""
        peaks = self.peaks + ([_pcm16(self.pending).max] if len(self.pending) >= 2 else [])
        if not peaks:
            return [0.0] * WAVEFORM_POINTS
        count = len(peaks)
        bounds = [index * count // WAVEFORM_POINTS for index in range(WAVEFORM_POINTS + 1)]
        points = [max(peaks[low : max(high, low + 1)]) for low, high in pairwise(bounds)]
        loudest = max(points)
        if loudest == 0:
            return [0.0] * WAVEFORM_POINTS
        return [round(peak / loudest, 3) for peak in points]  # drawn relative to the loudest moment


def _pcm16(data: bytes) -> AudioSegment:
    return _audio_segment()(
        data=data[: len(data) - len(data) % 2], sample_width=2, frame_rate=WAVEFORM_RATE, channels=1
    )


def _lame_loss(kbps: int) -> float:
    """The LU a LAME encode at `kbps` takes off, interpolated between the measured bitrates."""
    points = LAME_LOUDNESS_LOSS_LU
    if kbps <= points[0][0]:
        return points[0][1]
    for (low_kbps, low_lu), (high_kbps, high_lu) in pairwise(points):
        if kbps <= high_kbps:
            return low_lu + (high_lu - low_lu) * (kbps - low_kbps) / (high_kbps - low_kbps)
    return points[-1][1]


def _first_plan(loudness: dict, target: float, kbps: int, ceiling_dbtp: float) -> _GainPlan:
    """Gain that lands the MP3 on target, and whether the peaks then need the limiter."""
    pre_encode_ceiling = ceiling_dbtp - ENCODER_PEAK_MARGIN_DB
    if loudness["lufs"] <= SILENCE_LUFS:
        return _GainPlan(0.0, loudness["true_peak_dbtp"] > pre_encode_ceiling, pre_encode_ceiling)
    gain = min(target - loudness["lufs"] + _lame_loss(kbps), MAX_GAIN_DB)
    needs_limiter = loudness["true_peak_dbtp"] + gain > pre_encode_ceiling
    return _GainPlan(round(gain, 2), needs_limiter, pre_encode_ceiling)


def _corrected_plan(plan: _GainPlan, output: dict, target: float, ceiling_dbtp: float) -> _GainPlan | None:
    """After measuring the MP3: None when it is on target, else the plan for one more encode."""
    loudness_off = target - output["lufs"]
    peak_over = output["true_peak_dbtp"] - ceiling_dbtp
    quiet_input = plan.gain_db >= MAX_GAIN_DB or output["lufs"] <= SILENCE_LUFS
    if (abs(loudness_off) <= AIM_TOLERANCE_LU or quiet_input) and peak_over <= 0:
        return None
    gain = plan.gain_db if quiet_input else min(plan.gain_db + loudness_off, MAX_GAIN_DB)
    ceiling = plan.ceiling_dbtp
    if peak_over > 0:
        # LAME lifted the peaks more than the margin allowed for: hold them lower next time.
        ceiling -= peak_over + PEAK_CORRECTION_MARGIN_DB
    peak_next = output["true_peak_dbtp"] + gain - plan.gain_db
    limiter = plan.limiter or peak_over > 0 or peak_next > ceiling_dbtp - PEAK_CORRECTION_MARGIN_DB
    return _GainPlan(round(gain, 2), limiter, ceiling)


def _loudness_report(source: dict, output: dict, target: float, plan: _GainPlan, ceiling_dbtp: float) -> dict:
    on_target = abs(output["lufs"] - target) <= LOUDNESS_TOLERANCE_LU
    return {
        "input_lufs": _finite(source["lufs"]),
        "input_lra": _finite(source["lra"]),
        "input_true_peak_dbtp": _finite(source["true_peak_dbtp"]),
        "output_lufs": _finite(output["lufs"]),
        "output_true_peak_dbtp": _finite(output["true_peak_dbtp"]),
        "target_lufs": target,
        "limiter_applied": plan.limiter,
        "gain_db": plan.gain_db,
        "on_target": on_target and output["true_peak_dbtp"] <= ceiling_dbtp,
    }


def _finite(value: float) -> float | None:
    """JSON has no -inf: a silent file's peak is reported as null."""
    return round(value, 1) if math.isfinite(value) else None


def _decoder_chain(channels: int, plan: _GainPlan) -> str:
    """Pass 2's decoding filters: layout, the optional true-peak limiter, 44.1 kHz, then the PCM headroom."""
    steps = [f"aformat=channel_layouts={_channel_layout(channels)}"]
    if plan.limiter:
        # The limiter runs before pydub's gain, so it holds peaks at (ceiling - gain) in source level;
        # alimiter's `limit` only spans -24..0 dB, so level_in/level_out shift the signal into its range.
        threshold_db = plan.ceiling_dbtp - plan.gain_db
        shift_db = min(max(-6.0 - threshold_db, -36.0), 36.0)
        limit_db = min(max(threshold_db + shift_db, -24.0), 0.0)
        steps += [
            f"aresample={OUTPUT_RATE * LIMITER_OVERSAMPLING}",
            f"alimiter=level_in={_ratio(shift_db)}:limit={_ratio(limit_db)}:level_out={_ratio(-shift_db)}"
            ":attack=5:release=100:level=0:latency=1",
        ]
    # The float samples become integers for pydub here: lowering them first keeps a hot source's overs.
    steps += [f"aresample={OUTPUT_RATE}", f"volume={-PCM_HEADROOM_DB}dB"]
    return ",".join(steps)


def _ratio(db: float) -> str:
    return f"{10 ** (db / 20):.6f}"


def _encode(
    src: Path,
    partial: Path,
    channels: int,
    kbps: int,
    plan: _GainPlan,
    decoded_s: float,
    allowed: _DecodeAllowance,
    progress: _ProgressScale,
) -> dict:
    """Pass 2 then pass 3: decoder ffmpeg -> pydub's gain -> LAME into `partial`; then ebur128 measures it.

    Never more than two ffmpeg processes at once: the verifying one starts after the encoder has exited.
    """
    pcm = ["-f", PCM_FORMAT, "-ar", str(OUTPUT_RATE), "-ac", str(channels)]
    decode = _ffmpeg(
        "-loglevel",
        "error",
        "-i",
        _file_url(src),
        "-map",
        "0:a:0",
        "-t",
        allowed.stop_s,
        "-af",
        _decoder_chain(channels, plan),
        *pcm,
        "pipe:1",
    )
    encode = _ffmpeg(
        "-loglevel",
        "error",
        "-y",
        *pcm,
        "-i",
        "pipe:0",
        "-map",
        "0:a",
        "-c:a",
        "libmp3lame",
        "-b:a",
        f"{kbps}k",
        "-id3v2_version",
        "0",  # mutagen writes the tag afterwards
        "-f",
        "mp3",
        _file_url(partial),  # a seekable file, so the MP3 gets its Xing/LAME header
    )
    expected_frames = max(1.0, decoded_s * OUTPUT_RATE)
    encoding = progress.span(0.0, ENCODE_SHARE)
    with ExitStack() as stack:
        decode_log, encode_log = (stack.enter_context(tempfile.TemporaryFile()) for _ in range(2))
        children = stack.enter_context(_processes())
        encoder = subprocess.Popen(
            encode, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=encode_log
        )
        children.append(encoder)
        decoder = subprocess.Popen(decode, stdout=subprocess.PIPE, stderr=decode_log)
        children.append(decoder)
        _widen_pipe(decoder.stdout)
        _widen_pipe(encoder.stdin)
        finished = _apply_gain(
            decoder.stdout,
            encoder.stdin,
            plan.gain_db,
            channels,
            lambda frames: encoding(frames / expected_frames),
        )
        decoder.stdout.close()  # after an early stop, a decoder blocked on a full pipe must not be waited for
        for child in (decoder, encoder):
            child.wait()
        decode_text, encode_text = _read_log(decode_log), _read_log(encode_log)
    # An encoder that quit first leaves the decoder killed by its closed pipe: the encoder's log says why.
    if not finished or (encoder.returncode != 0 and decoder.returncode == 0):
        raise DecodeFailed(f"Encoding the MP3 failed ({_last_line(encode_text)}).")
    if decoder.returncode != 0:
        raise DecodeFailed(f"The audio could not be decoded ({_last_line(decode_text)}).")
    return _measure(partial, decoded_s, progress.span(ENCODE_SHARE, 1.0))


def _widen_pipe(pipe: IO[bytes]) -> None:
    """Give a pipe 1 MiB of buffer (Linux) so a briefly descheduled reader never stalls LAME."""
    # Where it fails (not Linux, or over /proc/sys/fs/pipe-max-size) the default buffer works, only slower.
    with suppress(OSError):
        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BUFFER_BYTES)


def _apply_gain(
    pcm_in: IO[bytes], pcm_out: IO[bytes], gain_db: float, channels: int, progress: Callable[[int], None]
) -> bool:
    """pydub applies the episode gain, one second of PCM at a time; False if the encoder quit early."""
    segment = _audio_segment()
    frame_bytes = PCM_WIDTH * channels
    chunk_bytes = OUTPUT_RATE * frame_bytes  # whole frames, so every chunk is a valid AudioSegment
    # The decoder delivered the PCM PCM_HEADROOM_DB low; this gain gives that back along with the episode's.
    total_gain = gain_db + PCM_HEADROOM_DB
    frames = 0
    try:
        for chunk in iter(lambda: pcm_in.read(chunk_bytes), b""):
            chunk = chunk[: len(chunk) - len(chunk) % frame_bytes]
            gained = segment(data=chunk, sample_width=PCM_WIDTH, frame_rate=OUTPUT_RATE, channels=channels)
            pcm_out.write(gained.apply_gain(total_gain).raw_data)
            frames += len(chunk) // frame_bytes
            progress(frames)
        pcm_out.close()
    except BrokenPipeError:
        return False
    return True


# ------------------------------------------------------------------------------------------------ tags


def write_tags(path: Path, tags: EpisodeTags) -> None:
    """Replace the ID3v2 tag of an MP3 in place with the episode's title, show, cover and chapters."""
    from mutagen import id3
    from mutagen.mp3 import MP3

    path = Path(path)
    tag = id3.ID3()
    for frame in _text_frames(tags):
        tag.add(frame)
    if tags.cover:
        tag.add(
            id3.APIC(
                encoding=id3.Encoding.UTF16,
                mime=tags.cover_mime,
                type=id3.PictureType.COVER_FRONT,
                desc="Cover",
                data=tags.cover,
            )
        )
    if tags.chapters:
        for frame in _chapter_frames(list(tags.chapters), MP3(path).info.length):
            tag.add(frame)
    # ID3v2.3 because more players read it than v2.4; v1=0 drops any stale ID3v1 tail.
    tag.save(path, v1=0, v2_version=3)


def _text_frames(tags: EpisodeTags) -> list[id3.Frame]:
    from mutagen import id3

    utf8 = id3.Encoding.UTF8  # mutagen turns it into UTF-16 when writing v2.3
    frames = [
        id3.TIT2(encoding=utf8, text=tags.title),
        id3.TALB(encoding=utf8, text=tags.show),
        id3.TCON(encoding=utf8, text="Podcast"),
    ]
    if tags.author:
        frames.append(id3.TPE1(encoding=utf8, text=tags.author))
    if tags.date:
        frames.append(id3.TDRC(encoding=utf8, text=tags.date))
    # Episode number as the track (TRCK) and season as the part of set (TPOS): what podcast tools and
    # music players both show.
    if tags.number is not None:
        frames.append(id3.TRCK(encoding=utf8, text=str(tags.number)))
    if tags.season is not None:
        frames.append(id3.TPOS(encoding=utf8, text=str(tags.season)))
    return frames


def _chapter_frames(chapters: list[dict], duration_s: float) -> list[id3.Frame]:
    """CHAP frames plus the CTOC that orders them (ID3v2 Chapter Frame Addendum).

    A CTOC lists at most 255 entries, so longer lists get one ordered CTOC per 255 chapters under the
    top-level one; players that read CHAP frames alone see every chapter either way.
    """
    from mutagen import id3

    chapters = sorted(chapters, key=lambda chapter: float(chapter["startTime"]))
    starts = [float(chapter["startTime"]) for chapter in chapters]
    frames: list[id3.Frame] = []
    for index, chapter in enumerate(chapters):
        next_start = starts[index + 1] if index + 1 < len(starts) else duration_s
        end = chapter.get("endTime") or next_start
        start_ms = min(int(round(starts[index] * 1000)), CHAP_MAX_MS)
        end_ms = min(max(start_ms, int(round(float(end) * 1000))), CHAP_MAX_MS)
        frames.append(
            id3.CHAP(
                element_id=f"chp{index}",
                start_time=start_ms,
                end_time=end_ms,
                sub_frames=[id3.TIT2(encoding=id3.Encoding.UTF8, text=str(chapter.get("title") or ""))],
            )
        )
    ids = [f"chp{index}" for index in range(len(chapters))]
    ordered = id3.CTOCFlags.ORDERED
    if len(ids) > CTOC_MAX_ENTRIES:
        groups = [ids[low : low + CTOC_MAX_ENTRIES] for low in range(0, len(ids), CTOC_MAX_ENTRIES)]
        for number, group in enumerate(groups):
            title = f"Chapters {number * CTOC_MAX_ENTRIES + 1}–{number * CTOC_MAX_ENTRIES + len(group)}"
            frames.append(
                id3.CTOC(
                    element_id=f"toc{number}",
                    flags=ordered,
                    child_element_ids=group,
                    sub_frames=[id3.TIT2(encoding=id3.Encoding.UTF8, text=title)],
                )
            )
        ids = [f"toc{number}" for number in range(len(groups))]
    frames.append(
        id3.CTOC(
            element_id="toc",
            flags=id3.CTOCFlags.TOP_LEVEL | ordered,
            child_element_ids=ids,
            sub_frames=[id3.TIT2(encoding=id3.Encoding.UTF8, text="Chapters")],
        )
    )
    return frames
