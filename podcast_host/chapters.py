"""JSON chapters (Podcasting 2.0 chapters format, version 1.2.0): parse, check, convert."""

from __future__ import annotations

import json
from typing import Any

from podcast_host.errors import Invalid

# https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/examples/chapters/jsonChapters.md
CHAPTERS_VERSION = "1.2.0"
CHAPTERS_MIME = "application/json+chapters"
MAX_CHAPTERS = 500


def parse_chapters(data: bytes) -> dict[str, Any]:
    """Check an uploaded chapters file and return it normalized (sorted by start time)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Invalid(f"The chapters file is not valid JSON: {exc}", field="chapters") from None
    items = doc.get("chapters") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise Invalid('The chapters file needs a "chapters" list.', field="chapters")
    if len(items) > MAX_CHAPTERS:
        raise Invalid(f"The chapters file has more than {MAX_CHAPTERS} chapters.", field="chapters")
    chapters = [_chapter(item, index) for index, item in enumerate(items, 1)]
    return {"version": CHAPTERS_VERSION, "chapters": sorted(chapters, key=lambda c: c["startTime"])}


def _chapter(item: Any, index: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise Invalid(f"Chapter {index} is not an object.", field="chapters")
    start = item.get("startTime")
    if isinstance(start, bool) or not isinstance(start, int | float) or start < 0:
        raise Invalid(f"Chapter {index} needs a startTime of zero or more seconds.", field="chapters")
    chapter: dict[str, Any] = {"startTime": float(start)}
    end = item.get("endTime")
    if isinstance(end, int | float) and not isinstance(end, bool) and end > start:
        chapter["endTime"] = float(end)
    for key in ("title", "img", "url"):
        if isinstance(item.get(key), str) and item[key].strip():
            chapter[key] = item[key].strip()[:1000]
    return chapter


def chapters_from_list(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Chapters read from an uploaded MP3 (start/end/title dicts) as a chapters document."""
    if not items:
        return None
    return {"version": CHAPTERS_VERSION, "chapters": [_chapter(item, i) for i, item in enumerate(items, 1)]}


def chapters_for_tags(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Flat start/end/title dicts for the ID3 CHAP frames."""
    return [
        {"startTime": c["startTime"], "endTime": c.get("endTime"), "title": c.get("title", "")}
        for c in (doc or {}).get("chapters", [])
    ]
