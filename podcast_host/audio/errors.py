"""The pipeline's errors, each with the HTTP status it maps to (docs/audio-pipeline.md, "Errors, and where
they map")."""

from __future__ import annotations


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
