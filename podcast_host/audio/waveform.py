"""The waveform drawn on the episode page: a fixed number of peaks over the whole episode, gathered from
pass 1's 8 kHz mono stream in bounded memory whatever the length (docs/audio-pipeline.md, "The passes")."""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

from podcast_host.audio.ffmpeg import _audio_segment

if TYPE_CHECKING:
    from pydub import AudioSegment

WAVEFORM_POINTS = 1000  # always this many, whatever the length: the page's size must not follow the upload
WAVEFORM_RATE = 8_000  # the waveform only draws the envelope: 8 kHz mono is plenty
WAVEFORM_READ_BYTES = WAVEFORM_RATE * 2  # one second of the s16 waveform stream per read
# The envelope needs no clean resampling: a 2-tap filter instead of swresample's 32 takes a fifth off pass 1,
# the one pass nothing overlaps (docs/audio-pipeline.md, "Measured").
WAVEFORM_RESAMPLER = "filter_size=2:phase_shift=4:linear_interp=0"


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
