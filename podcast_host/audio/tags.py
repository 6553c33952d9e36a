"""The episode's ID3v2 tag: title, show, cover and the chapter frames (CHAP and CTOC), written by mutagen on
first use (docs/audio-pipeline.md, "ID3 tags" and "Chapters")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mutagen import id3

CTOC_MAX_ENTRIES = 255  # a CTOC frame counts its entries in one byte
CHAP_MAX_MS = 0xFFFFFFFE  # CHAP times are 32-bit milliseconds; all ones means "not set"


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
    chapters: Sequence[dict[str, Any]] = ()  # a tuple: a dataclass refuses a mutable default


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
        # mutagen declares FileType.info as None; opening the file sets it.
        length = MP3(path).info.length  # type: ignore[attr-defined]
        for frame in _chapter_frames(list(tags.chapters), length):
            tag.add(frame)
    # ID3v2.3 because more players read it than v2.4; v1=0 drops any stale ID3v1 tail.
    tag.save(path, v1=0, v2_version=3)


def _text_frames(tags: EpisodeTags) -> list[id3.Frame]:
    from mutagen import id3

    utf8 = id3.Encoding.UTF8  # mutagen turns it into UTF-16 when writing v2.3
    frames: list[id3.Frame] = [
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


def _chapter_frames(chapters: list[dict[str, Any]], duration_s: float) -> list[id3.Frame]:
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
