"""Pass 1: one decode of the upload gives its loudness, decoded length, channels and waveform; and the decode
allowance that stops every decoder of a run a little past what the probe lets through
(docs/audio-pipeline.md, "Errors, and where they map" and "The passes")."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from podcast_host.audio.errors import DecodeFailed
from podcast_host.audio.ffmpeg import (
    EBUR128,
    EBUR128_SAMPLE_PEAK,
    _ffmpeg,
    _file_url,
    _last_line,
    _parse_ebur128,
    _processes,
    _read_log,
)
from podcast_host.audio.loudness import Loudness
from podcast_host.audio.probing import ProbeResult, _clock, _duration_is_estimate
from podcast_host.audio.progress import _ProgressScale
from podcast_host.audio.waveform import WAVEFORM_RATE, WAVEFORM_READ_BYTES, WAVEFORM_RESAMPLER, _WaveformPeaks

# Decoded more than 1 s short of the probed length means a cut upload: mutagen does not notice truncation.
TRUNCATION_TOLERANCE_S = 1.0
# The mirror rule: decoded more than 1 s LONGER than the header says means a lying or damaged header.
OVERRUN_TOLERANCE_S = 1.0
# Decoders stop this far past the most we accept, so that running over shows without decoding the rest.
DECODE_MARGIN_S = 0.5


@dataclass(frozen=True)
class _InputMeasure:
    loudness: Loudness
    decoded_s: float
    waveform: list[float]
    channels: int  # of the MP3 to make: 1 for mono input, 2 for anything else
    sample_rate: int  # as ffmpeg decodes it


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
    src: Path,
    probed: ProbeResult,
    allowed: _DecodeAllowance,
    progress: _ProgressScale,
    true_peak: bool = False,
) -> _InputMeasure:
    """Pass 1: one decode that gives the input loudness (ebur128), the decoded length and the waveform.

    Its peak is the sample peak unless `true_peak` is asked for: a true peak costs this pass, which nothing
    overlaps, most of its time again, and the encode measures it where a core is free."""
    # Surround is measured as the stereo fold-down we will publish; mono and stereo as they are.
    fold_down = "aformat=channel_layouts=stereo," if probed.channels > 2 else ""
    meter = EBUR128 if true_peak else EBUR128_SAMPLE_PEAK
    # ebur128 hands on the layout it measured: the waveform's mono must come from a resampler after it, or
    # ffmpeg folds the audio to mono before ebur128, which then meters a downmix (peaks up to 3 dB off).
    chain = f"{fold_down}{meter},aresample={WAVEFORM_RATE}:{WAVEFORM_RESAMPLER},aformat=channel_layouts=mono"
    command = _ffmpeg(
        "-i",
        _file_url(src),
        "-map",
        "0:a:0",
        "-t",
        allowed.stop_s,
        "-af",
        chain,
        "-f",
        "s16le",
        "pipe:1",
    )
    expected_samples = max(1, int(probed.duration_s * WAVEFORM_RATE))
    peaks = _WaveformPeaks(expected_samples)
    with tempfile.TemporaryFile() as log, _processes() as children:
        decoder = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)
        children.append(decoder)
        pcm = decoder.stdout
        assert pcm is not None  # stdout=PIPE
        for block in iter(lambda: pcm.read(WAVEFORM_READ_BYTES), b""):
            peaks.add(block)
            progress(peaks.samples / expected_samples)
        decoder.wait()
        log_text = _read_log(log)
    decoded_s = peaks.samples / WAVEFORM_RATE
    _check_decoded(decoder.returncode, log_text, decoded_s, allowed)
    allowed.check(decoded_s)
    stream = _INPUT_STREAM.search(log_text)
    return _InputMeasure(
        _parse_ebur128(log_text),
        decoded_s,
        peaks.points(),
        _decoded_channels(stream, probed.channels),
        int(stream.group(1)) if stream else probed.sample_rate,
    )


# The input stream as ffmpeg describes it: "Stream #0:0: Audio: flac, 44100 Hz, stereo, s16".
_INPUT_STREAM = re.compile(r"Stream #0:\d+.*?: Audio: [^,]+, (\d+) Hz, ([^,]+)")


def _decoded_channels(stream: re.Match[str] | None, probed_channels: int) -> int:
    """1 when ffmpeg decodes mono, else 2: ffmpeg's word beats mutagen's, which misreads some mono AAC."""
    if stream is None:
        return 1 if probed_channels == 1 else 2
    return 1 if stream.group(2).strip() in ("mono", "1 channels") else 2


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
