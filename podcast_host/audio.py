"""The audio pipeline (SPEC §9): probe an upload with mutagen, normalize and encode it to a tagged MP3.

Only this module imports mutagen and pydub. docs/audio-pipeline.md explains the passes and the numbers.
"""

from __future__ import annotations

import fcntl
import math
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

import mutagen
from mutagen import id3
from mutagen.aac import AAC
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.mp3 import MP3, BitrateMode
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

with warnings.catch_warnings():
    # pydub warns at import when ffmpeg is not on PATH (we hand it one below), about a regex escape (3.12+)
    # and, through audioop, about audioop's deprecation (3.11+; the audioop-lts backport takes over on 3.13).
    warnings.simplefilter("ignore", RuntimeWarning)
    warnings.simplefilter("ignore", SyntaxWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    from pydub import AudioSegment

# What we accept (SPEC §9): mutagen class -> (format name, MIME type). Raw ADTS AAC counts as "M4A/AAC".
SOURCE_KINDS: dict[type, tuple[str, str]] = {
    MP3: ("mp3", "audio/mpeg"),
    MP4: ("m4a", "audio/mp4"),
    AAC: ("aac", "audio/aac"),
    WAVE: ("wav", "audio/wav"),
    FLAC: ("flac", "audio/flac"),
    OggVorbis: ("ogg", "audio/ogg"),
    OggOpus: ("opus", "audio/ogg"),
    AIFF: ("aiff", "audio/aiff"),
}
READABLE = "MP3, M4A/AAC, WAV, FLAC, Ogg Vorbis, Opus and AIFF"
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 96_000  # SPEC §9
MIN_DURATION_S = 0.1  # shorter than one 400 ms loudness block is not an episode; 0.1 s only rejects empties
TRUNCATION_TOLERANCE_S = 1.0  # SPEC §9: decoded more than 1 s short of the probed length means a cut upload

OUTPUT_RATE = 44_100  # SPEC §9: MP3 at 44.1 kHz
LOUDNESS_TOLERANCE_LU = 1.0  # SPEC §9: within ±1 LU of the target
AIM_TOLERANCE_LU = 0.5  # re-encode when the MP3 lands further than this from the target, keeping clear of ±1
MAX_ENCODE_PASSES = 3
MAX_GAIN_DB = 40.0  # more than this is amplifying noise: near-silent input keeps its level and is reported
SILENCE_LUFS = -69.0  # ebur128 reports -70 LUFS when every block falls under BS.1770's absolute gate
# FACTS.md: a LAME encode of speech lowers integrated loudness (kbps -> LU lost); we pre-compensate.
LAME_LOUDNESS_LOSS_LU = ((64, 0.4), (128, 0.45), (192, 0.2), (320, 0.0))
# FACTS.md: LAME lifts true peaks above their pre-encode level; the limiter aims this far under the ceiling.
ENCODER_PEAK_MARGIN_DB = 1.0
PEAK_CORRECTION_MARGIN_DB = 0.3  # extra room taken when a pass still overshot the ceiling
LIMITER_OVERSAMPLING = 1
PCM_HEADROOM_DB = 30.0  # PCM between ffmpeg and pydub travels this far under full scale: nothing can saturate
WAVEFORM_POINTS = 1000
WAVEFORM_RATE = 8_000  # the waveform only draws the envelope: 8 kHz mono is plenty
PCM_WIDTH = 4  # s32le between the decoder, pydub and the encoder
PIPE_BUFFER_BYTES = 1 << 20


class AudioError(Exception):
    """Base of the pipeline's errors; str() is one sentence a producer can act on."""


class UnsupportedAudio(AudioError):
    """mutagen cannot read the file as any format we accept (HTTP 415)."""


class InvalidAudio(AudioError):
    """Readable audio that we refuse: empty, too long, odd sample rate (HTTP 422)."""


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
    target_lufs_mono: float = -19.0  # a mono file plays ≈3 LU louder on two speakers (SPEC §9)
    bitrate_stereo_kbps: int = 128
    bitrate_mono_kbps: int = 64
    true_peak_ceiling_dbtp: float = -1.0  # SPEC §9, as in EBU R128 s1 for delivery


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
    source = _open_with_mutagen(path)
    kind, mime_type = SOURCE_KINDS[type(source)]
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
    try:
        source = mutagen.File(path, options=list(SOURCE_KINDS))
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
    # FACTS.md: mutagen returns CHAP frames in stored order, which need not be time order.
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
    try:
        source = mutagen.File(path, options=list(SOURCE_KINDS))
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
    command = _ffmpeg("-i", _file_url(path), "-map", "0:a:0", "-af", EBUR128, "-f", "null", "-")
    run = subprocess.run(command, capture_output=True, text=True, errors="replace")
    if run.returncode != 0:
        raise DecodeFailed(f"ffmpeg could not measure the loudness of the audio ({_last_line(run.stderr)}).")
    return _parse_ebur128(run.stderr)


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
    """Children started inside are killed if the block exits early, so no ffmpeg outlives a failed job."""
    children: list[subprocess.Popen] = []
    try:
        yield children
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
            for pipe in (child.stdin, child.stdout):
                if pipe is not None:
                    with suppress(BrokenPipeError):
                        pipe.close()


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
) -> ProcessResult:
    """Measure, normalize, encode and tag `src` into the MP3 `dst`; `src` is only read."""
    src, dst = Path(src), Path(dst)
    report_progress = _ProgressScale(progress)
    measured = _measure_input(src, probed, report_progress.span(0.0, 0.25))
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
            output, duration_s = _encode(src, partial, channels, kbps, plan, probed.duration_s, span)
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
        duration_s=round(duration_s, 3), channels=channels, loudness_report=report, waveform=measured.waveform
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


def _measure_input(src: Path, probed: ProbeResult, progress: _ProgressScale) -> _InputMeasure:
    """Pass 1: one decode that gives the input loudness (ebur128), the decoded length and the waveform."""
    # Surround is measured as the stereo fold-down we will publish; mono and stereo as they are.
    fold_down = "aformat=channel_layouts=stereo," if probed.channels > 2 else ""
    chain = f"{fold_down}{EBUR128},aformat=channel_layouts=mono"
    command = _ffmpeg(
        "-i",
        _file_url(src),
        "-map",
        "0:a:0",
        "-af",
        chain,
        "-ar",
        str(WAVEFORM_RATE),
        "-f",
        "s16le",
        "pipe:1",
    )
    expected_samples = max(1, int(probed.duration_s * WAVEFORM_RATE))
    peaks = _WaveformPeaks(bucket=max(1, math.ceil(expected_samples / WAVEFORM_POINTS)))
    with tempfile.TemporaryFile() as log, _processes() as children:
        decoder = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)
        children.append(decoder)
        for block in iter(lambda: decoder.stdout.read(WAVEFORM_RATE * 2 * 4), b""):
            peaks.add(block)
            progress(peaks.samples / expected_samples)
        decoder.wait()
        log_text = _read_log(log)
    decoded_s = peaks.samples / WAVEFORM_RATE
    _check_decoded(src, decoder.returncode, log_text, decoded_s, probed.duration_s)
    channels = _decoded_channels(log_text, probed.channels)
    return _InputMeasure(_parse_ebur128(log_text), decoded_s, peaks.normalized(), channels)


def _decoded_channels(log: str, probed_channels: int) -> int:
    """1 when ffmpeg decodes mono, else 2: ffmpeg's word beats mutagen's, which misreads some mono AAC."""
    stream = re.search(r"Stream #0:\d+.*?: Audio: [^,]+, \d+ Hz, ([^,]+)", log)
    if stream is None:
        return 1 if probed_channels == 1 else 2
    return 1 if stream.group(1).strip() in ("mono", "1 channels") else 2


def _read_log(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode("utf-8", "replace")


def _check_decoded(src: Path, returncode: int, log: str, decoded_s: float, probed_s: float) -> None:
    if returncode != 0:
        raise DecodeFailed(f"The audio could not be decoded ({_last_line(log)}).")
    if decoded_s <= 0:
        raise DecodeFailed("The audio could not be decoded: not a single sample came out of it.")
    if decoded_s < probed_s - TRUNCATION_TOLERANCE_S and not _duration_is_estimate(src):
        raise DecodeFailed(
            f"The audio stops after {_clock(decoded_s)} although the file says it lasts {_clock(probed_s)}; "
            "the upload looks truncated or damaged."
        )


class _WaveformPeaks:
    """Running peak per bucket of `bucket` samples over a stream of 16-bit mono PCM, measured by pydub."""

    def __init__(self, bucket: int):
        self.bucket, self.samples = bucket, 0
        self.pending = b""
        self.peaks: list[int] = []

    def add(self, block: bytes) -> None:
        self.samples += len(block) // 2
        data = self.pending + block
        step = self.bucket * 2
        whole = len(data) - len(data) % step
        self.peaks += [_pcm16(data[start : start + step]).max for start in range(0, whole, step)]
        self.pending = data[whole:]

    def normalized(self) -> list[float]:
        peaks = self.peaks + ([_pcm16(self.pending).max] if len(self.pending) >= 2 else [])
        loudest = max(peaks, default=0)
        if loudest == 0:
            return [0.0] * len(peaks)
        return [round(peak / loudest, 3) for peak in peaks]  # drawn relative to the loudest moment


def _pcm16(data: bytes) -> AudioSegment:
    return AudioSegment(
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
    """Pass 2's ffmpeg filters: layout, 44.1 kHz, the optional true-peak limiter, then the PCM headroom."""
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
    probed_s: float,
    progress: _ProgressScale,
) -> tuple[dict, float]:
    """Pass 2, with pass 3 overlapped: decode -> pydub gain -> LAME, while another ffmpeg measures the MP3."""
    raw = ["-f", "s32le", "-ar", str(OUTPUT_RATE), "-ac", str(channels)]
    decode = _ffmpeg(
        "-loglevel",
        "error",
        "-i",
        _file_url(src),
        "-map",
        "0:a:0",
        "-af",
        _decoder_chain(channels, plan),
        *raw,
        "pipe:1",
    )
    # tee: one LAME run feeds the file (seekable, so it gets its Xing/LAME header) and the verifying ffmpeg.
    outputs = f"[f=mp3:id3v2_version=0]{partial.name}|[f=mp3]pipe\\:1"
    encode = _ffmpeg(
        "-loglevel",
        "error",
        "-y",
        *raw,
        "-i",
        "pipe:0",
        "-map",
        "0:a",
        "-c:a",
        "libmp3lame",
        "-b:a",
        f"{kbps}k",
        "-f",
        "tee",
        outputs,
    )
    verify = _ffmpeg("-f", "mp3", "-i", "pipe:0", "-af", EBUR128, "-f", "null", "-")
    frame_bytes = PCM_WIDTH * channels
    expected = max(1, int(probed_s * OUTPUT_RATE) * frame_bytes)
    with ExitStack() as stack:
        logs = [stack.enter_context(tempfile.TemporaryFile()) for _ in range(3)]
        children = stack.enter_context(_processes())
        verifier = subprocess.Popen(verify, stdin=subprocess.PIPE, stderr=logs[2])
        children.append(verifier)
        encoder = subprocess.Popen(
            encode, stdin=subprocess.PIPE, stdout=verifier.stdin, stderr=logs[1], cwd=partial.parent
        )
        children.append(encoder)
        _widen_pipe(verifier.stdin)
        verifier.stdin.close()  # the encoder holds the only writer now: its exit ends the verifier's input
        decoder = subprocess.Popen(decode, stdout=subprocess.PIPE, stderr=logs[0])
        children.append(decoder)
        _widen_pipe(decoder.stdout)
        _widen_pipe(encoder.stdin)
        written = _apply_gain(
            decoder.stdout, encoder.stdin, plan.gain_db, channels, lambda done: progress(done / expected)
        )
        for child in (decoder, encoder, verifier):
            child.wait()
        decode_log, encode_log, verify_log = (_read_log(log) for log in logs)
    if decoder.returncode != 0:
        raise DecodeFailed(f"The audio could not be decoded ({_last_line(decode_log)}).")
    if encoder.returncode != 0 or verifier.returncode != 0 or written is None:
        raise DecodeFailed(f"Encoding the MP3 failed ({_last_line(encode_log or verify_log)}).")
    return _parse_ebur128(verify_log), written / frame_bytes / OUTPUT_RATE


def _widen_pipe(pipe: IO[bytes]) -> None:
    """Give a pipe 1 MiB of buffer (Linux) so a briefly descheduled reader never stalls LAME."""
    # Where it fails (not Linux, or over /proc/sys/fs/pipe-max-size) the default buffer works, only slower.
    with suppress(OSError):
        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BUFFER_BYTES)


def _apply_gain(
    pcm_in: IO[bytes], pcm_out: IO[bytes], gain_db: float, channels: int, progress: Callable[[int], None]
) -> int | None:
    """Apply the episode gain with pydub, one second at a time; bytes written, or None if the encoder quit."""
    frame_bytes = PCM_WIDTH * channels
    chunk_bytes = OUTPUT_RATE * frame_bytes  # whole frames, so every chunk is a valid AudioSegment
    # The decoder delivered the PCM PCM_HEADROOM_DB low; this gain gives that back along with the episode's.
    total_gain = gain_db + PCM_HEADROOM_DB
    written = 0
    try:
        for chunk in iter(lambda: pcm_in.read(chunk_bytes), b""):
            chunk = chunk[: len(chunk) - len(chunk) % frame_bytes]
            segment = AudioSegment(
                data=chunk, sample_width=PCM_WIDTH, frame_rate=OUTPUT_RATE, channels=channels
            )
            pcm_out.write(segment.apply_gain(total_gain).raw_data)
            written += len(chunk)
            progress(written)
        pcm_out.close()
    except BrokenPipeError:
        return None
    return written


# ------------------------------------------------------------------------------------------------ tags


def write_tags(path: Path, tags: EpisodeTags) -> None:
    """Replace the ID3v2 tag of an MP3 in place with the episode's title, show, cover and chapters."""
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
    """CHAP frames plus the CTOC that orders them (ID3v2 Chapter Frame Addendum)."""
    chapters = sorted(chapters, key=lambda chapter: float(chapter["startTime"]))
    starts = [float(chapter["startTime"]) for chapter in chapters]
    frames: list[id3.Frame] = []
    for index, chapter in enumerate(chapters):
        next_start = starts[index + 1] if index + 1 < len(starts) else duration_s
        end = chapter.get("endTime") or next_start
        start_ms = int(round(starts[index] * 1000))
        end_ms = max(start_ms, int(round(float(end) * 1000)))
        frames.append(
            id3.CHAP(
                element_id=f"chp{index}",
                start_time=start_ms,
                end_time=end_ms,
                sub_frames=[id3.TIT2(encoding=id3.Encoding.UTF8, text=str(chapter.get("title") or ""))],
            )
        )
    frames.append(
        id3.CTOC(
            element_id="toc",
            flags=id3.CTOCFlags.TOP_LEVEL | id3.CTOCFlags.ORDERED,
            child_element_ids=[f"chp{index}" for index in range(len(chapters))],
            sub_frames=[id3.TIT2(encoding=id3.Encoding.UTF8, text="Chapters")],
        )
    )
    return frames


# pydub converts through the same ffmpeg as the rest of the pipeline if it is ever asked to.
AudioSegment.converter = ffmpeg_binary()
