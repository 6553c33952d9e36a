"""JSON chapters (Podcasting 2.0 chapters format, version 1.2.0): parse, check, convert.

The limits below are documented in docs/audio-pipeline.md ("Chapters").
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from podcast_host.errors import Invalid, refusal
from podcast_host.notes import clean_text

# https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/examples/chapters/jsonChapters.md
CHAPTERS_VERSION = "1.2.0"
CHAPTERS_MIME = "application/json+chapters"
MAX_CHAPTERS = 500
MAX_TITLE_CHARS = 1000
MAX_URL_CHARS = 2000
# A week: far past any episode we accept, and inside the 32-bit milliseconds of an ID3 CHAP frame.
MAX_CHAPTER_TIME_S = 7 * 24 * 3600
LINK_SCHEMES = ("http", "https")


def parse_chapters(data: bytes) -> dict[str, Any]:
    """Check an uploaded chapters file and return it normalized (sorted by start time)."""
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        # The reason is the JSON parser's own, in English: where in the file it stopped.
        message = refusal("The chapters file is not valid JSON: %(reason)s.", reason=str(exc))
        raise Invalid(message, field="chapters") from None
    except RecursionError:
        # json recurses once per nesting level; a real chapters file is four levels deep.
        raise Invalid(
            refusal("The chapters file is nested too deeply to be chapters."), field="chapters"
        ) from None
    items = doc.get("chapters") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise Invalid(refusal('The chapters file needs a "chapters" list.'), field="chapters")
    return {"version": CHAPTERS_VERSION, "chapters": _checked(items)}


def _refuse_constant(name: str) -> float:
    message = refusal("The chapters file contains %(name)s; times must be finite numbers.", name=name)
    raise Invalid(message, field="chapters")


def _checked(items: Sequence[object], in_tags: bool = False) -> list[dict[str, Any]]:
    """The chapters, checked; `in_tags` words the refusals for chapters read from the audio file's tags."""
    if len(items) > MAX_CHAPTERS:
        message = refusal("The chapters file has more than %(most)s chapters.", most=MAX_CHAPTERS)
        raise Invalid(message, field="chapters")
    chapters = [_chapter(item, index, in_tags) for index, item in enumerate(items, 1)]
    return sorted(chapters, key=lambda c: c["startTime"])


def _chapter(item: object, index: int, in_tags: bool = False) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise Invalid(refusal("Chapter %(index)s is not an object.", index=index), field="chapters")
    start = _seconds(item.get("startTime"))
    if start is None:
        raise Invalid(_no_start(index, in_tags), field="chapters")
    chapter: dict[str, Any] = {"startTime": start}
    if item.get("endTime") is not None:
        end = _seconds(item["endTime"])
        if end is None:
            raise Invalid(_bad_end(index, in_tags), field="chapters")
        if end > start:
            chapter["endTime"] = end
    # Control characters and lone surrogates go: JSON escapes can carry them, and a lone surrogate breaks the
    # UTF-16 of the ID3 writer and the UTF-8 of the pages.
    title = clean_text(item["title"]).strip() if isinstance(item.get("title"), str) else ""
    if title:
        if len(title) > MAX_TITLE_CHARS:
            raise Invalid(_long_title(index, in_tags), field="chapters")
        chapter["title"] = title
    for key in ("img", "url"):
        # Tabs and newlines inside a link are dropped, as browsers drop them.
        link = (
            clean_text(item[key]).replace("\t", "").replace("\n", "").strip()
            if isinstance(item.get(key), str)
            else ""
        )
        if link:
            chapter[key] = _link(link, key, index)
    return chapter


def _seconds(value: object) -> float | None:
    """A chapter time as float seconds, or None unless it is a finite number in 0..MAX_CHAPTER_TIME_S."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an integer literal too large for a float
        return None
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_CHAPTER_TIME_S:
        return None
    return seconds


def _link(url: str, key: str, index: int) -> str:
    """Only absolute http(s) links are published: a chapter link ends up in players and on our pages."""
    if len(url) > MAX_URL_CHARS:
        if key == "img":
            message = refusal(
                "Chapter %(index)s has a img over %(most)s characters.", index=index, most=MAX_URL_CHARS
            )
        else:
            message = refusal(
                "Chapter %(index)s has a url over %(most)s characters.", index=index, most=MAX_URL_CHARS
            )
        raise Invalid(message, field="chapters")
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in LINK_SCHEMES or not parts.hostname:
        if key == "img":
            message = refusal("Chapter %(index)s has a img that is not an http(s) link.", index=index)
        else:
            message = refusal("Chapter %(index)s has a url that is not an http(s) link.", index=index)
        raise Invalid(message, field="chapters")
    return url


# A refusal of chapters read from the audio file's tags names the tags, not a file the producer never sent,
# and says how to replace them; each is one whole sentence, so that every language words all of it. Tags carry
# only times and titles: these are the refusals they can meet.


def _no_start(index: int, in_tags: bool) -> str:
    if in_tags:
        return refusal(
            "The chapter tags in the audio file (ID3 CHAP frames or M4A chapters) cannot be used: "
            "Chapter %(index)s needs a startTime between 0 and %(most)s seconds. "
            "Send a chapters.json with the audio to use those chapters instead.",
            index=index,
            most=MAX_CHAPTER_TIME_S,
        )
    return refusal(
        "Chapter %(index)s needs a startTime between 0 and %(most)s seconds.",
        index=index,
        most=MAX_CHAPTER_TIME_S,
    )


def _bad_end(index: int, in_tags: bool) -> str:
    if in_tags:
        return refusal(
            "The chapter tags in the audio file (ID3 CHAP frames or M4A chapters) cannot be used: "
            "Chapter %(index)s has an endTime that is not between 0 and %(most)s seconds. "
            "Send a chapters.json with the audio to use those chapters instead.",
            index=index,
            most=MAX_CHAPTER_TIME_S,
        )
    return refusal(
        "Chapter %(index)s has an endTime that is not between 0 and %(most)s seconds.",
        index=index,
        most=MAX_CHAPTER_TIME_S,
    )


def _long_title(index: int, in_tags: bool) -> str:
    if in_tags:
        return refusal(
            "The chapter tags in the audio file (ID3 CHAP frames or M4A chapters) cannot be used: "
            "Chapter %(index)s has a title over %(most)s characters. "
            "Send a chapters.json with the audio to use those chapters instead.",
            index=index,
            most=MAX_TITLE_CHARS,
        )
    return refusal(
        "Chapter %(index)s has a title over %(most)s characters.", index=index, most=MAX_TITLE_CHARS
    )


def chapters_from_list(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Chapters read from an uploaded file's tags (start/end/title dicts) as a chapters document.

    Held to the limits of a chapters file, but refused in words that name the tags, not a file the producer
    never sent, and say how to replace them.
    """
    if not items:
        return None
    if len(items) > MAX_CHAPTERS:
        message = refusal(
            "The chapter tags in the audio file (ID3 CHAP frames or M4A chapters) cannot be used: "
            "they hold more than %(most)s chapters. "
            "Send a chapters.json with the audio to use those chapters instead.",
            most=MAX_CHAPTERS,
        )
        raise Invalid(message, field="chapters")
    return {"version": CHAPTERS_VERSION, "chapters": _checked(items, in_tags=True)}


def chapters_for_tags(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Flat start/end/title dicts for the ID3 CHAP frames."""
    return [
        {"startTime": c["startTime"], "endTime": c.get("endTime"), "title": c.get("title", "")}
        for c in (doc or {}).get("chapters", [])
    ]
