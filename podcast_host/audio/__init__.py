"""The audio pipeline: probe an upload with mutagen, normalize and encode it to a tagged MP3.

Only this package imports mutagen and pydub, and only when a function needs them: the web process imports the
package for every request. docs/audio-pipeline.md explains the passes and the numbers.

- errors.py: the pipeline's errors (AudioError and its kinds).
- probing.py: what an upload is (mutagen alone), the chapters it carries, whether its length is a guess.
- ffmpeg.py: the ffmpeg binary, its processes (killed on failure or at the deadline), logs, ebur128's summary.
- measure.py: pass 1 (loudness, decoded length, channels, waveform) and how far any decoder may run.
- waveform.py: the page's waveform peaks, in bounded memory.
- loudness.py: the gain plan (LAME's loudness loss, the limiter, corrections) and the loudness report.
- encode.py: passes 2 and 3 at once, decoder -> pydub's gain -> LAME, the MP3 measured while it is written
  by the ffmpeg that also encodes the low-data Opus file.
- progress.py: each pass's progress mapped onto the job's.
- tags.py: the ID3v2 tag and its chapter frames.
- pipeline.py: `process`, which runs the passes in order; `keep`, which publishes an MP3 as it is.

Callers use `from podcast_host import audio` and the names below.
"""

from __future__ import annotations

from podcast_host.audio.errors import AudioError, DecodeFailed, InvalidAudio, TimedOut, UnsupportedAudio
from podcast_host.audio.ffmpeg import ffmpeg_binary, measure_loudness
from podcast_host.audio.pipeline import (
    DEFAULT_MAX_DURATION_S,
    EncodeSettings,
    LowData,
    ProcessResult,
    keep,
    process,
)
from podcast_host.audio.probing import READABLE, ProbeResult, probe, source_kinds
from podcast_host.audio.tags import EpisodeTags, write_tags
from podcast_host.audio.waveform import WAVEFORM_POINTS

__all__ = [
    "DEFAULT_MAX_DURATION_S",
    "READABLE",
    "WAVEFORM_POINTS",
    "AudioError",
    "DecodeFailed",
    "EncodeSettings",
    "EpisodeTags",
    "InvalidAudio",
    "LowData",
    "ProbeResult",
    "ProcessResult",
    "TimedOut",
    "UnsupportedAudio",
    "ffmpeg_binary",
    "keep",
    "measure_loudness",
    "probe",
    "process",
    "source_kinds",
    "write_tags",
]
