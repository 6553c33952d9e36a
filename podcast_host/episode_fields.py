"""An episode's editable fields: the names a producer may set, and each value checked and cleaned.

Shared by every way in (API, dashboard, CLI, sync), so that they accept and refuse the same values."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from podcast_host import namespace_fields
from podcast_host.errors import Invalid, refusal
from podcast_host.field_refusals import too_long
from podcast_host.models import Episode
from podcast_host.notes import MAX_NOTES_CHARS, clean_text
from podcast_host.shows import TEXT_LIMITS, clean_namespace_value, parse_bool
from podcast_host.slugs import check_slug

EPISODE_TYPES = ("full", "trailer", "bonus")
# The Podcasting 2.0 values of an episode (namespace_fields.py); null clears one.
NAMESPACE_FIELDS = ("persons", "locations", "soundbites", "license")
EDITABLE = (
    "title",
    "description",
    "season",
    "number",
    "type",
    "explicit",
    "publish_at",
    "draft",
    "slug",
    *NAMESPACE_FIELDS,
)
# The largest season or episode number.
MAX_NUMBER = 1_000_000


# --- fields ---------------------------------------------------------------------------------------------


def clean_episode_fields(
    fields: Mapping[str, object], creating: bool, episode: Episode | None = None
) -> dict[str, Any]:
    """Check the editable fields present in `fields`; unknown names are refused. Soundbites are checked
    against the length of the `episode` being edited, when it is known."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        name = sorted(unknown)[0]
        raise Invalid(refusal("Unknown episode field %(name)r.", name=name), field=name)
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name in NAMESPACE_FIELDS:
            out[name] = _clean_namespace_field(name, value, episode)
            continue
        if value is None or (isinstance(value, str) and not value.strip() and name != "description"):
            continue
        key, clean = _clean_episode_field(name, value)
        out[key] = clean
    if creating and not out.get("title"):
        raise Invalid(refusal("An episode needs a title."), field="title")
    return out


def differing_fields(episode: Episode, fields: Mapping[str, object]) -> dict[str, Any]:
    """The subset of `fields` whose checked value differs from what the episode has."""
    out = {}
    for name, value in fields.items():
        if name in NAMESPACE_FIELDS:
            if _clean_namespace_field(name, value, episode) != getattr(episode, name):
                out[name] = value
            continue
        if value is None:
            continue
        attr, clean = _clean_episode_field(name, value)
        if getattr(episode, attr) != clean:
            out[name] = value
    return out


def _clean_namespace_field(name: str, value: object, episode: Episode | None) -> object:
    """A Podcasting 2.0 value, None when empty. Soundbites must end within the episode's audio when its length
    is known, unless they are the ones it has: audio replaced since may be shorter, and the feed then leaves
    out the clips that no longer fit (docs/feeds.md), so an unrelated edit is not refused for them."""
    if name != "soundbites":
        return clean_namespace_value(_CLEANERS[name], value, name)
    unchecked = clean_namespace_value(_soundbites_within(None), value, name)
    if episode is None or episode.duration_s is None or unchecked == episode.soundbites:
        return unchecked
    return clean_namespace_value(_soundbites_within(episode.duration_s), value, name)


def _soundbites_within(duration_s: float | None) -> Callable[[object], object]:
    return functools.partial(namespace_fields.clean_soundbites, duration_s=duration_s)


_CLEANERS: dict[str, Callable[[object], object]] = {
    "persons": namespace_fields.clean_persons,
    "locations": namespace_fields.clean_locations,
    "license": namespace_fields.clean_license,
}


def _clean_episode_field(name: str, value: object) -> tuple[str, object]:
    if name in ("title", "description"):
        text = clean_text(str(value)).strip()
        limit = TEXT_LIMITS["title"] if name == "title" else MAX_NOTES_CHARS
        if len(text) > limit:
            raise Invalid(too_long(name, limit), field=name)
        return name, text
    if name in ("season", "number"):
        return name, _whole_number(value, name)
    if name == "type":
        if str(value) not in EPISODE_TYPES:
            raise Invalid(
                refusal("The type must be full, trailer or bonus, not %(value)r.", value=value), field="type"
            )
        return "episode_type", str(value)
    if name in ("explicit", "draft"):
        return name, parse_bool(value, name)
    if name == "publish_at":
        return name, parse_datetime(value)
    return name, check_slug(str(value))


def _whole_number(value: object, name: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise Invalid(_not_a_whole_number(name, value), field=name) from None
    if not 0 <= number <= MAX_NUMBER:
        raise Invalid(_number_out_of_range(name), field=name)
    return number


# One whole sentence for each field, so that every language names the field in its own words.


def _not_a_whole_number(name: str, value: object) -> str:
    if name == "season":
        return refusal("The season must be a whole number, not %(value)r.", value=value)
    return refusal("The number must be a whole number, not %(value)r.", value=value)


def _number_out_of_range(name: str) -> str:
    if name == "season":
        return refusal("The season must be between 0 and %(most)s.", most=MAX_NUMBER)
    return refusal("The number must be between 0 and %(most)s.", most=MAX_NUMBER)


def parse_datetime(value: object) -> datetime:
    """ISO 8601 with an offset ("2026-12-01T08:00:00+01:00" or "…Z")."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(
                refusal("The date %(value)r is not ISO 8601 (2026-12-01T08:00:00+01:00).", value=value),
                field="publish_at",
            ) from None
    if parsed.tzinfo is None:
        raise Invalid(
            refusal("The date %(value)r needs a UTC offset, e.g. +00:00.", value=value), field="publish_at"
        )
    if not 1970 <= parsed.year <= 9000:
        raise Invalid(refusal("The date %(value)r is out of range.", value=value), field="publish_at")
    return parsed
