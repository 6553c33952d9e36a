"""Pass 2, with pass 3 overlapped: a decoding ffmpeg (with the optional true-peak limiter) -> pydub's gain,
one second at a time -> LAME, whose MP3 goes both into the file and to a measuring ffmpeg, which also encodes
the low-data Opus file from the same gained PCM (docs/audio-pipeline.md, "The passes")."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from podcast_host.audio.errors import DecodeFailed
from podcast_host.audio.ffmpeg import (
    EBUR128,
    _audio_segment,
    _ffmpeg,
    _file_url,
    _last_line,
    _parse_ebur128,
    _processes,
    _read_log,
)
from podcast_host.audio.loudness import Loudness, _GainPlan
from podcast_host.audio.measure import _DecodeAllowance
from podcast_host.audio.progress import _ProgressScale

OUTPUT_RATE = 44_100  # docs/audio-pipeline.md, "Loudness"
LIMITER_OVERSAMPLING = 1
PCM_FORMAT, PCM_WIDTH = "s32le", 4  # the PCM between the decoder, pydub and the encoders
PCM_HEADROOM_DB = 30.0  # that PCM travels this far under full scale: a source's overs survive the integers
PIPE_BUFFER_BYTES = 1 << 20
OPUS_RATE = 48_000  # Opus always runs at 48 kHz inside
OPUS_COMPRESSION_LEVEL = 5  # libopus's speed/quality trade (0-10); see _low_data_output
# The input's true peak, measured by the first encode's decoder: ITU-R BS.1770 oversamples 48 kHz four times
# (ebur128 goes to 192 kHz whatever the input), so an input is oversampled by the whole factor nearest that;
# 16 taps a phase read the fixtures' true peaks within 0.1 dB of ebur128's, at a third of its cost.
TRUE_PEAK_RATE = 192_000
TRUE_PEAK_FILTER_SIZE = 16
_ASTATS_PEAK = re.compile(r"Peak level dB: (\S+)")


def _channel_layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


def _level_chain(plan: _GainPlan) -> str:
    """Pass 2's filters after the layout: the optional true-peak limiter, 44.1 kHz, the PCM headroom."""
    steps = []
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


def _true_peak_meter(input_rate: int) -> str:
    """Filters that end in astats printing the true peak of a stream at `input_rate` (as "Peak level dB")."""
    factor = max(1, round(TRUE_PEAK_RATE / max(input_rate, 1)))
    return (
        f"aresample={input_rate * factor}:filter_size={TRUE_PEAK_FILTER_SIZE},aformat=sample_fmts=fltp,"
        "astats=measure_perchannel=none:measure_overall=Peak_level"
    )


def _ratio(db: float) -> str:
    return f"{10 ** (db / 20):.6f}"


@dataclass(frozen=True)
class Encoded:
    """What one encode measured: the MP3, and, when asked for, the input's true peak (dBTP)."""

    mp3: Loudness
    input_true_peak_dbtp: float | None


@dataclass(frozen=True)
class LowDataOutput:
    """Where the low-data Opus file goes and at what bitrate (docs/audio-pipeline.md, "The low-data file")."""

    path: Path
    kbps: int


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
    input_rate: int | None = None,
) -> Encoded:
    """Decoder ffmpeg -> pydub's gain -> LAME into `partial`, the MP3 measured by ebur128 while it is written;
    with `low_data`, the measuring ffmpeg also encodes the same gained PCM into the Opus file; with
    `input_rate`, the decoder also measures the input's true peak.

    Three ffmpeg processes at once, never more: decoder, encoder, meter."""
    pcm = ["-f", PCM_FORMAT, "-ar", str(OUTPUT_RATE), "-ac", str(channels)]
    expected_frames = max(1.0, decoded_s * OUTPUT_RATE)
    with ExitStack() as stack:
        decode_log, encode_log, meter_log = (stack.enter_context(tempfile.TemporaryFile()) for _ in range(3))
        children = stack.enter_context(_processes())
        opus_in = None
        if low_data is None:
            meter = subprocess.Popen(
                _meter_command(pcm, None), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=meter_log
            )
        else:
            read_end, write_end = os.pipe()
            opus_in = stack.enter_context(open(write_end, "wb"))  # noqa: SIM115 - closed by the stack
            try:
                meter = subprocess.Popen(
                    _meter_command(pcm, (read_end, low_data)),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=meter_log,
                    pass_fds=(read_end,),
                )
            finally:
                os.close(read_end)  # the meter holds the only reader now
        children.append(meter)
        mp3_in = meter.stdin
        assert mp3_in is not None  # stdin=PIPE
        encoder = subprocess.Popen(
            _encoder_command(pcm, kbps, partial),
            stdin=subprocess.PIPE,
            stdout=mp3_in,
            stderr=encode_log,
            cwd=partial.parent,
        )
        children.append(encoder)
        _widen_pipe(mp3_in)
        mp3_in.close()  # the encoder holds the only writer now: its exit ends the meter's MP3
        decoder = subprocess.Popen(
            _decoder_command(src, channels, plan, allowed, pcm, input_rate),
            stdout=subprocess.PIPE,
            stderr=decode_log,
        )
        children.append(decoder)
        pcm_in, pcm_out = decoder.stdout, encoder.stdin
        assert pcm_in is not None and pcm_out is not None  # stdout=PIPE, stdin=PIPE
        outputs = [pcm_out] if opus_in is None else [pcm_out, opus_in]
        for pipe in (pcm_in, *outputs):
            _widen_pipe(pipe)
        finished = _apply_gain(
            pcm_in, outputs, plan.gain_db, channels, lambda frames: progress(frames / expected_frames)
        )
        pcm_in.close()  # after an early stop, a decoder blocked on a full pipe must not be waited for
        for child in (decoder, encoder, meter):
            child.wait()
        decode_text, encode_text, meter_text = (_read_log(log) for log in (decode_log, encode_log, meter_log))
    failure = _failure(finished, decoder, encoder, meter, decode_text, encode_text, meter_text)
    if failure is not None:
        raise DecodeFailed(failure)
    input_peak = None
    if input_rate is not None:
        found = _ASTATS_PEAK.findall(decode_text)
        input_peak = float(found[-1]) if found else None
    return Encoded(_parse_ebur128(meter_text), input_peak)


def _decoder_command(
    src: Path,
    channels: int,
    plan: _GainPlan,
    allowed: _DecodeAllowance,
    pcm: list[str],
    input_rate: int | None,
) -> list[str]:
    """The decoding ffmpeg: the source to gain-ready PCM on stdout; with `input_rate`, a branch measures the
    source's true peak on the way (its figure is in the log, hence the log at info level)."""
    layout = f"aformat=channel_layouts={_channel_layout(channels)}"
    source = ["-i", _file_url(src), "-t", allowed.stop_s]
    if input_rate is None:
        graph = ["-map", "0:a:0", "-af", f"{layout},{_level_chain(plan)}"]
        return _ffmpeg("-loglevel", "error", *source, *graph, *pcm, "pipe:1")
    split = (
        f"[0:a:0]{layout},asplit[measured][kept];[measured]{_true_peak_meter(input_rate)},anullsink;"
        f"[kept]{_level_chain(plan)}[pcm]"
    )
    graph = ["-filter_complex", split, "-map", "[pcm]"]
    return _ffmpeg("-loglevel", "level+info", *source, *graph, *pcm, "pipe:1")


def _encoder_command(pcm: list[str], kbps: int, partial: Path) -> list[str]:
    """LAME, its MP3 teed into `partial` (named relative to the encoder's working folder, as the tee muxer
    wants its names plain) and onto stdout, packet by packet, for the meter."""
    # The file is seekable, so it gets its Xing/LAME header; mutagen writes the ID3 tag afterwards.
    outputs = f"[f=mp3:id3v2_version=0]{partial.name}|[f=mp3:flush_packets=1:onfail=abort]pipe\\:1"
    return _ffmpeg(
        "-loglevel", "error", "-y", *pcm, "-i", "pipe:0", "-map", "0:a",
        "-c:a", "libmp3lame", "-b:a", f"{kbps}k", "-f", "tee", outputs,
    )  # fmt: skip


def _meter_command(pcm: list[str], low_data: tuple[int, LowDataOutput] | None) -> list[str]:
    """ebur128 (true peak) on the MP3 coming in on stdin; with `low_data` (a pipe's descriptor and the
    output), the gained PCM from that pipe encoded into the Opus file too."""
    if low_data is None:
        inputs, mp3_index, opus = [], 0, []
    else:
        read_end, output = low_data
        # The PCM is the first input: ffmpeg opens its inputs in turn, and the MP3 only starts once pydub has
        # fed LAME; the raw PCM needs no probing, so its opening never waits for anything.
        inputs, mp3_index, opus = [*pcm, "-i", f"pipe:{read_end}"], 1, _low_data_output(output)
    return _ffmpeg(
        "-loglevel", "level+info", "-y", *inputs, "-f", "mp3", "-i", "pipe:0",
        "-map", f"{mp3_index}:a", "-af", EBUR128, "-f", "null", "-", *opus,
    )  # fmt: skip


def _low_data_output(low_data: LowDataOutput) -> list[str]:
    """The meter's second output: the gained PCM into Ogg Opus, resampled to Opus's 48 kHz.

    libopus runs on the core LAME leaves, beside the decoder, pydub and the MP3's measurement: compression
    level 5 takes about a third of the default's (10) time, and with constrained VBR keeps to the bitrate
    asked (unconstrained, levels below 7 overshoot it by half on speech)."""
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


def _failure(
    finished: bool,
    decoder: subprocess.Popen[bytes],
    encoder: subprocess.Popen[bytes],
    meter: subprocess.Popen[bytes],
    decode_text: str,
    encode_text: str,
    meter_text: str,
) -> str | None:
    """Why an encode failed, named after the process that failed first; None when all went well."""
    if finished and decoder.returncode != 0:
        return f"The audio could not be decoded ({_last_line(decode_text)})."
    # A meter that quit first leaves the encoder writing into a closed pipe: the meter's log says why.
    if meter.returncode != 0 and (encoder.returncode == 0 or "Broken pipe" in encode_text):
        return f"Measuring the MP3 or encoding its low-data file failed ({_last_line(meter_text)})."
    # An encoder that quit first leaves the decoder killed by its closed pipe: the encoder's log says why.
    if not finished or encoder.returncode != 0:
        return f"Encoding the MP3 failed ({_last_line(encode_text)})."
    return None


def _widen_pipe(pipe: IO[bytes]) -> None:
    """Give a pipe 1 MiB of buffer (Linux) so a briefly descheduled reader never stalls LAME."""
    # Where it fails (not Linux, or over /proc/sys/fs/pipe-max-size) the default buffer works, only slower.
    with suppress(OSError):
        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BUFFER_BYTES)


def _apply_gain(
    pcm_in: IO[bytes],
    outputs: Sequence[IO[bytes]],
    gain_db: float,
    channels: int,
    progress: Callable[[int], None],
) -> bool:
    """pydub applies the episode gain, one second of PCM at a time, and the gained PCM goes to every output
    (LAME first); False if one of them quit early. The outputs are closed either way."""
    segment = _audio_segment()
    frame_bytes = PCM_WIDTH * channels
    chunk_bytes = OUTPUT_RATE * frame_bytes  # whole frames, so every chunk is a valid AudioSegment
    # The decoder delivered the PCM PCM_HEADROOM_DB low; this gain gives that back along with the episode's.
    total_gain = gain_db + PCM_HEADROOM_DB
    frames = 0
    finished = True
    try:
        for chunk in iter(lambda: pcm_in.read(chunk_bytes), b""):
            chunk = chunk[: len(chunk) - len(chunk) % frame_bytes]
            gained = segment(data=chunk, sample_width=PCM_WIDTH, frame_rate=OUTPUT_RATE, channels=channels)
            data = gained.apply_gain(total_gain).raw_data
            for output in outputs:
                output.write(data)
            frames += len(chunk) // frame_bytes
            progress(frames)
    except BrokenPipeError:
        finished = False
    for output in outputs:
        # Closing ends each encoder's input; an output that already quit may refuse the last flush.
        with suppress(BrokenPipeError):
            output.close()
    return finished
