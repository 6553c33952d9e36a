"""Passes 2 and 3: a decoding ffmpeg (with the optional true-peak limiter) -> pydub's gain, one second at a
time -> LAME into the MP3; then ebur128 measures the finished file (docs/audio-pipeline.md, "The passes")."""

from __future__ import annotations

import contextvars
import fcntl
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from podcast_host.audio.errors import DecodeFailed
from podcast_host.audio.ffmpeg import (
    _audio_segment,
    _ffmpeg,
    _file_url,
    _last_line,
    _measure,
    _processes,
    _read_log,
)
from podcast_host.audio.loudness import Loudness, _GainPlan
from podcast_host.audio.measure import _DecodeAllowance
from podcast_host.audio.progress import _ProgressScale

OUTPUT_RATE = 44_100  # docs/audio-pipeline.md, "Loudness"
LIMITER_OVERSAMPLING = 1
PCM_FORMAT, PCM_WIDTH = "s32le", 4  # the PCM between the decoder, pydub and the encoder
PCM_HEADROOM_DB = 30.0  # that PCM travels this far under full scale: a source's overs survive the integers
PIPE_BUFFER_BYTES = 1 << 20
ENCODE_SHARE = 0.85  # of an encode's progress; measuring the MP3 afterwards takes the rest
OPUS_RATE = 48_000  # Opus always runs at 48 kHz inside
OPUS_COMPRESSION_LEVEL = 5  # libopus's speed/quality trade (0-10); see _low_data_output
LOW_DATA_EBUR128 = "ebur128=framelog=verbose"  # integrated loudness and range, no true-peak oversampling


def _channel_layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


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
    low_data: LowDataOutput | None = None,
) -> Encoded:
    """Pass 2 then pass 3: decoder ffmpeg -> pydub's gain -> LAME into `partial` (and, with `low_data`, the
    same samples into an Opus file by the same encoding ffmpeg); then ebur128 measures the MP3, and the Opus
    file beside it on the other core.

    Never more than two ffmpeg processes at once: the measuring ones start after the encoder has exited.
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
        *(_low_data_output(low_data) if low_data is not None else ()),
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
        pcm_in, pcm_out = decoder.stdout, encoder.stdin
        assert pcm_in is not None and pcm_out is not None  # stdout=PIPE, stdin=PIPE
        _widen_pipe(pcm_in)
        _widen_pipe(pcm_out)
        finished = _apply_gain(
            pcm_in,
            pcm_out,
            plan.gain_db,
            channels,
            lambda frames: encoding(frames / expected_frames),
        )
        pcm_in.close()  # after an early stop, a decoder blocked on a full pipe must not be waited for
        for child in (decoder, encoder):
            child.wait()
        decode_text, encode_text = _read_log(decode_log), _read_log(encode_log)
    # An encoder that quit first leaves the decoder killed by its closed pipe: the encoder's log says why.
    if not finished or (encoder.returncode != 0 and decoder.returncode == 0):
        raise DecodeFailed(f"Encoding the MP3 failed ({_last_line(encode_text)}).")
    if decoder.returncode != 0:
        raise DecodeFailed(f"The audio could not be decoded ({_last_line(decode_text)}).")
    if low_data is None:
        return Encoded(_measure(partial, decoded_s, progress.span(ENCODE_SHARE, 1.0)), None)
    with ThreadPoolExecutor(max_workers=1) as other_core:
        # Integrated loudness only: the Opus file is made from the MP3's samples, whose peaks pass 3 checks.
        # Run in this thread's context, so that the run's deadline (a context variable) kills it too.
        in_context = contextvars.copy_context().run
        low_measured = other_core.submit(in_context, _measure, low_data.path, 0.0, None, LOW_DATA_EBUR128)
        mp3 = _measure(partial, decoded_s, progress.span(ENCODE_SHARE, 1.0))
        return Encoded(mp3, low_measured.result())


@dataclass(frozen=True)
class Encoded:
    """What one encode measured: the MP3, and the low-data file when one was made."""

    mp3: Loudness
    low_data: Loudness | None


@dataclass(frozen=True)
class LowDataOutput:
    """Where the low-data Opus file goes and at what bitrate (docs/audio-pipeline.md, "The low-data file")."""

    path: Path
    kbps: int


def _low_data_output(low_data: LowDataOutput) -> list[str]:
    """The encoder's second output: the same gained PCM into Ogg Opus, resampled to Opus's 48 kHz.

    libopus runs in the encoding ffmpeg's one thread after LAME, so its speed is the low-data file's cost:
    compression level 5 takes about a third of the default's (10) time, and with constrained VBR keeps to
    the bitrate asked (unconstrained, levels below 7 overshoot it by half on speech)."""
    return [
        "-map",
        "0:a",
        "-c:a",
        "libopus",
        "-b:a",
        f"{low_data.kbps}k",
        "-vbr",
        "constrained",
        "-compression_level",
        str(OPUS_COMPRESSION_LEVEL),
        "-ar",
        str(OPUS_RATE),
        "-f",
        "ogg",
        _file_url(low_data.path),
    ]


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
