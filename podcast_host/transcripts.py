"""Transcripts: WebVTT or SRT files, checked with webvtt-py and srt before they are kept.

Both libraries are imported by the check itself: only an upload or an import of a transcript needs them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from podcast_host.errors import Invalid, refusal
from podcast_host.limits import MIB, SIDE_FILE_LIMITS

MAX_TRANSCRIPT_BYTES = SIDE_FILE_LIMITS["transcript"]


@dataclass(frozen=True)
class Transcript:
    data: bytes
    mime_type: str
    extension: str
    cues: Sequence[tuple[float, float, str]]


def parse_transcript(data: bytes, filename: str = "") -> Transcript:
    """Recognize and check a WebVTT or SRT transcript; Invalid with a clear sentence otherwise."""
    if len(data) > MAX_TRANSCRIPT_BYTES:
        # In whole MB, as limits.format_size writes a limit of a MiB or more; the unit is the sentence's.
        message = refusal("The transcript is larger than %(size)s MB.", size=MAX_TRANSCRIPT_BYTES // MIB)
        raise Invalid(message, field="transcript")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid(refusal("The transcript is not UTF-8 text."), field="transcript") from None
    if text.lstrip().startswith("WEBVTT"):
        return _vtt(text)
    if filename.lower().endswith(".vtt"):
        raise Invalid(refusal("The WebVTT transcript must start with the line WEBVTT."), field="transcript")
    return _srt(text)


def _vtt(text: str) -> Transcript:
    import webvtt
    from webvtt.errors import MalformedFileError

    try:
        vtt = webvtt.from_buffer(io.StringIO(text))
    except MalformedFileError as exc:
        # The reason is webvtt-py's own, in English: what it could not read.
        message = refusal("The WebVTT transcript is malformed: %(reason)s", reason=str(exc))
        raise Invalid(message, field="transcript") from None
    cues = [(c.start_in_seconds, c.end_in_seconds, c.text) for c in vtt.captions]
    if not cues:
        # webvtt-py skips blocks it cannot time; a transcript with no readable cue is no transcript.
        raise Invalid(
            refusal("The WebVTT transcript has no readable cues (00:00:01.000 --> 00:00:04.000)."),
            field="transcript",
        )
    return Transcript(text.encode("utf-8"), "text/vtt", "vtt", cues)


def _srt(text: str) -> Transcript:
    import srt

    try:
        subtitles = list(srt.parse(text))
    except srt.SRTParseError as exc:
        # The reason is srt's own, in English: where the file stops being SRT.
        message = refusal("The transcript is neither WebVTT nor valid SRT: %(reason)s", reason=str(exc))
        raise Invalid(message, field="transcript") from None
    if not subtitles:
        raise Invalid(refusal("The transcript has no cues."), field="transcript")
    cues = [(s.start.total_seconds(), s.end.total_seconds(), s.content) for s in subtitles]
    # Podcasting 2.0 lists application/x-subrip as the SRT transcript type.
    return Transcript(text.encode("utf-8"), "application/x-subrip", "srt", cues)
