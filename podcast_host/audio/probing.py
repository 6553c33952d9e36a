"""Probing an upload with mutagen alone: its format, length and layout, the chapters it already carries, and
whether its length is stated or guessed. mutagen is imported on first use."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from podcast_host.audio.errors import InvalidAudio, UnsupportedAudio
from podcast_host.errors import refusal
from podcast_host.tag_limits import TagTooLarge, check_id3

if TYPE_CHECKING:
    from mutagen import FileType, id3

READABLE = "MP3, M4A/AAC, WAV, FLAC, Ogg Vorbis, Opus and AIFF"
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 96_000  # docs/audio-pipeline.md, "Errors, and where they map"
MIN_DURATION_S = 0.1  # shorter than one 400 ms loudness block is not an episode; 0.1 s only rejects empties


@functools.cache
def source_kinds() -> dict[type[FileType], tuple[str, str]]:
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


@dataclass(frozen=True)
class ProbeResult:
    format: str
    mime_type: str
    duration_s: float
    channels: int
    sample_rate: int
    bitrate: int | None
    chapters: list[dict[str, Any]] = field(default_factory=list)


def probe(path: Path, max_duration_s: float) -> ProbeResult:
    """Read format, length and layout with mutagen alone; refuse what the pipeline cannot take."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise InvalidAudio(refusal("The file is empty (0 bytes)."))
    # mutagen's ID3 reader is quadratic in a tag's frames: refuse hostile tags first.
    try:
        check_id3(path)
    except TagTooLarge as exc:
        raise InvalidAudio(exc.args[0]) from None  # the refusal itself, to be shown translated
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
    """The opened file, read by attribute name (`info`, `tags`): mutagen declares FileType.info as None."""
    import mutagen

    try:
        source = mutagen.File(path, options=list(source_kinds()))
    except mutagen.MutagenError:
        source = None
    if source is None or source.info is None:
        # READABLE written out, so that each language writes the list its own way.
        raise UnsupportedAudio(
            refusal(
                "The file is not audio we can read "
                "(tried MP3, M4A/AAC, WAV, FLAC, Ogg Vorbis, Opus and AIFF)."
            )
        )
    return source


def _check_playable(probed: ProbeResult, max_duration_s: float) -> None:
    if probed.duration_s < MIN_DURATION_S:
        message = refusal(
            "The audio has no length (%(seconds).2f s); nothing to publish.", seconds=probed.duration_s
        )
        raise InvalidAudio(message)
    if probed.duration_s > max_duration_s:
        raise InvalidAudio(_too_long(probed.duration_s, max_duration_s))
    if probed.channels < 1:
        raise InvalidAudio(refusal("The file has no audio channels."))
    if not MIN_SAMPLE_RATE <= probed.sample_rate <= MAX_SAMPLE_RATE:
        message = refusal(
            "The audio's sample rate is %(rate)s Hz; we accept 8 kHz to 96 kHz.", rate=probed.sample_rate
        )
        raise InvalidAudio(message)


def _too_long(length_s: float, most_s: float) -> str:
    """The refusal of audio past the limit, both lengths written as `_clock` writes them: one sentence for
    each pair of ways, so that every language writes hours, minutes and seconds its own way."""
    length, most = _clock_parts(length_s), _clock_parts(most_s)
    values = {
        "hours": length[1],
        "minutes": length[2],
        "seconds": length[3],
        "most_hours": most[1],
        "most_minutes": most[2],
        "most_seconds": most[3],
    }
    sentences = {
        ("h", "h"): refusal(
            "The audio is %(hours)sh %(minutes)sm long; the limit is %(most_hours)sh %(most_minutes)sm.",
            **values,
        ),
        ("h", "m"): refusal(
            "The audio is %(hours)sh %(minutes)sm long; the limit is %(most_minutes)sm %(most_seconds)ss.",
            **values,
        ),
        ("h", "s"): refusal(
            "The audio is %(hours)sh %(minutes)sm long; the limit is %(most_seconds)s s.", **values
        ),
        ("m", "m"): refusal(
            "The audio is %(minutes)sm %(seconds)ss long; the limit is %(most_minutes)sm %(most_seconds)ss.",
            **values,
        ),
        ("m", "s"): refusal(
            "The audio is %(minutes)sm %(seconds)ss long; the limit is %(most_seconds)s s.", **values
        ),
        ("s", "s"): refusal("The audio is %(seconds)s s long; the limit is %(most_seconds)s s.", **values),
    }
    sentence = sentences.get((length[0], most[0]))
    return sentence or f"The audio is {_clock(length_s)} long; the limit is {_clock(most_s)}."


def _clock_parts(seconds: float) -> tuple[str, int, int, int]:
    """How `_clock` writes a length ("h" for "7h 0m", "m" for "12m 5s", "s" for "42 s") and its hours,
    minutes and seconds, each below the unit above it."""
    hours, rest = divmod(int(round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return ("h" if hours else "m" if minutes else "s"), hours, minutes, secs


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


def _chapters_in(source: Any) -> list[dict[str, Any]]:
    """Chapters already in the upload (ID3 CHAP, or Nero chapters in M4A), sorted by start."""
    from mutagen import id3
    from mutagen.mp4 import MP4

    if isinstance(source.tags, id3.ID3):
        chapters = [_chapter_from_chap(frame) for frame in source.tags.getall("CHAP")]
    elif isinstance(source, MP4) and source.chapters:
        starts = [float(c.start) for c in source.chapters]
        # mutagen declares FileType.info as None; opening the file sets it.
        length = float(source.info.length)  # type: ignore[attr-defined]
        ends = [*starts[1:], length]
        chapters = [
            {"startTime": start, "endTime": end, "title": str(c.title or "")}
            for start, end, c in zip(starts, ends, source.chapters, strict=True)
        ]
    else:
        return []
    # Measured: mutagen returns CHAP frames in stored order, which need not be time order.
    return sorted(chapters, key=lambda chapter: chapter["startTime"])


class _ChapFrame(Protocol):
    """What a CHAP frame carries: mutagen sets these fields from the frame's spec, undeclared."""

    start_time: int
    end_time: int
    sub_frames: id3.ID3Tags


def _chapter_from_chap(frame: _ChapFrame) -> dict[str, Any]:
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
    if not isinstance(source, MP3):
        return False
    # mutagen declares FileType.info as None; opening the file sets it.
    mode: int = source.info.bitrate_mode  # type: ignore[attr-defined]
    return mode == BitrateMode.UNKNOWN
