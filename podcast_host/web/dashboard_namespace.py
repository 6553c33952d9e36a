"""The dashboard's Podcasting 2.0 forms (docs/dashboard.md, "Podcasting 2.0"): rows of people, places,
soundbites, txt records and podroll entries, the licence, the update frequency, the block and the low-data
bitrates, read from a posted form into the JSON shapes namespace_fields.py checks, and a show's or an
episode's values written back as the text a form shows.

The domain checks every value (the same refusals as the API's); this module only turns text into shapes. What
it cannot read (a time like "1:xx") it hands on as typed, for the domain to refuse with its own sentence."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from flask_babel import get_locale, pgettext
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from podcast_host import namespace_fields, shows
from podcast_host.audio import EncodeSettings
from podcast_host.models import Episode, Show
from podcast_host.web.dashboard_forms import newsroom_instant
from podcast_host.web.person_roles import role_name

# A hidden input of the section: only a form that carries it changes these fields, so a post without the
# section (a script, an older page) leaves them as they are, as an absent `locked` box does.
MARKER = "podcasting"
# The inputs of each kind of row, as the form names them: `persons-0-name`, `persons-0-role`, …
ROWS = {
    "persons": ("name", "role", "img", "href"),
    "locations": ("name", "rel", "lat", "lon", "osm", "country"),
    "soundbites": ("start", "duration", "title"),
    "txt": ("purpose", "value"),
    "podroll": ("feed_guid", "feed_url", "title", "medium"),
}
# Inputs that always hold a value (selects): a row whose other inputs are empty is no entry.
CHOSEN = frozenset({"role", "rel", "medium"})
ROW_LIMITS = {
    "persons": namespace_fields.MAX_PERSONS,
    "locations": namespace_fields.MAX_LOCATIONS,
    "soundbites": namespace_fields.MAX_SOUNDBITES,
    "txt": namespace_fields.MAX_TXT_RECORDS,
    "podroll": namespace_fields.MAX_PODROLL,
}
SHOW_ROWS = ("persons", "locations", "txt", "podroll")
EPISODE_ROWS = ("persons", "locations", "soundbites")
# Empty rows a form offers below the filled ones; each save offers as many again.
BLANK_ROWS = 2
UPDATE_FREQUENCY_KEYS = ("text", "rrule", "dtstart")
LOW_DATA_FIELDS = ("low_data_stereo_kbps", "low_data_mono_kbps")
ENCODE_DEFAULTS = EncodeSettings()
ROLE_SEPARATOR = "/"  # a role's option is "group/role": the same role may be in two groups (editor)
LOCATION_RELS = {
    "subject": _l("What it is about (subject)"),
    "creator": _l("Where it was made (creator)"),
}


# --- forms -> fields ------------------------------------------------------------------------------------


def show_fields(form: MultiDict[str, str], show: Show) -> dict[str, Any]:
    """The section's fields as `shows.update_show` takes them; none when the form does not carry it."""
    if MARKER not in form:
        return {}
    fields: dict[str, Any] = {kind: _entries(form, kind) for kind in SHOW_ROWS}
    fields["license"] = _license(form)
    fields["update_frequency"] = _update_frequency(form, show)
    fields["block"] = {
        "everywhere": "block_everywhere" in form,
        "platforms": [slug for slug in form.getlist("block_platforms") if slug],
    }
    for name in LOW_DATA_FIELDS:
        if name in form:
            fields[name] = _bitrate(form[name])
    return fields


def episode_fields(form: MultiDict[str, str]) -> dict[str, Any]:
    """The section's fields as `episodes.update_episode` takes them; none when the form does not carry it."""
    if MARKER not in form:
        return {}
    fields: dict[str, Any] = {kind: _entries(form, kind) for kind in EPISODE_ROWS}
    fields["license"] = _license(form)
    return fields


def _entries(form: MultiDict[str, str], kind: str) -> list[dict[str, Any]]:
    """The rows of `kind` in the order of their numbers, without empty rows and rows marked for removal."""
    entries = []
    for row in _posted_rows(form, kind):
        if row["remove"] or not row["filled"]:
            continue
        entries.append(_ENTRY_SHAPES[kind]({key: row[key] for key in ROWS[kind]}))
    return entries


def _posted_rows(form: MultiDict[str, str], kind: str) -> list[dict[str, Any]]:
    """Every posted row of `kind` as typed, with `filled` (something typed) and `remove` (its box checked).

    The page numbers its rows from 0 and offers no more than the field's limit: rows numbered up to the limit
    are read (one more than the page has, so that a post with too many is refused as too many entries), and
    any other is no row of the form. A post of thousands of rows costs no more than one of the page's."""
    most = ROW_LIMITS[kind]
    numbers: set[int] = set()
    for name in form:
        head, _, rest = name.partition("-")
        digits, _, key = rest.partition("-")
        # The length first: Python reads no integer of more than 4,300 digits.
        if head != kind or key not in ROWS[kind] or len(digits) > len(str(most)):
            continue
        if digits.isdecimal() and digits.isascii() and int(digits) <= most:
            numbers.add(int(digits))
    rows = []
    for number in sorted(numbers):
        row: dict[str, Any] = {key: form.get(f"{kind}-{number}-{key}", "").strip() for key in ROWS[kind]}
        row["filled"] = any(row[key] for key in ROWS[kind] if key not in CHOSEN)
        row["remove"] = f"{kind}-{number}-remove" in form
        rows.append(row)
    return rows


def _person(row: Mapping[str, str]) -> dict[str, Any]:
    group, _, role = row["role"].rpartition(ROLE_SEPARATOR)
    return {"name": row["name"], "role": role, "group": group, "img": row["img"], "href": row["href"]}


def _location(row: Mapping[str, str]) -> dict[str, Any]:
    # A coordinate left empty is None, so that the domain can tell "neither" from "only one of the two".
    return {
        **{key: row[key] for key in ("name", "rel", "osm", "country")},
        "lat": row["lat"] or None,
        "lon": row["lon"] or None,
    }


def _soundbite(row: Mapping[str, str]) -> dict[str, Any]:
    return {
        "start": typed_seconds(row["start"]),
        "duration": typed_seconds(row["duration"]),
        "title": row["title"],
    }


def _as_typed(row: Mapping[str, str]) -> dict[str, Any]:
    return dict(row)


_ENTRY_SHAPES: dict[str, Callable[[Mapping[str, str]], dict[str, Any]]] = {
    "persons": _person,
    "locations": _location,
    "soundbites": _soundbite,
    "txt": _as_typed,
    "podroll": _as_typed,
}


def typed_seconds(text: str) -> float | str | None:
    """Seconds typed as "75", "75.5", "1:15" or "1:01:15"; None when empty; anything else as typed."""
    text = text.strip()
    if ":" not in text:
        return text or None
    *larger, last = text.split(":")
    try:
        units = [int(part) for part in larger]
        seconds = float(last)
    except ValueError:
        return text
    in_range = len(units) <= 2 and all(unit >= 0 for unit in units) and 0 <= seconds < 60
    if not in_range or (len(units) == 2 and units[1] >= 60):
        return text
    total = 0
    for unit in units:
        total = total * 60 + unit
    return total * 60 + seconds


def _license(form: MultiDict[str, str]) -> dict[str, str]:
    # Both empty clears the licence (namespace_fields.clean_license).
    return {"identifier": form.get("license_identifier", ""), "url": form.get("license_url", "")}


def _update_frequency(form: MultiDict[str, str], show: Show) -> dict[str, Any]:
    """The stated schedule; an empty one ({}) clears it, and the feed then derives one."""
    typed = {key: form.get(f"update_frequency_{key}", "").strip() for key in UPDATE_FREQUENCY_KEYS}
    complete = "update_frequency_complete" in form
    if not any(typed.values()) and not complete:
        return {}
    return {
        "text": typed["text"],
        "rrule": typed["rrule"],
        "dtstart": _utc_instant(typed["dtstart"], show),
        "complete": complete,
    }


def _utc_instant(typed: str, show: Show) -> str:
    """A dtstart typed on the show's clock (as the dashboard's other times), in UTC ISO 8601."""
    if not typed:
        return ""
    try:
        return newsroom_instant(datetime.fromisoformat(typed), show).isoformat()
    except (ValueError, OverflowError):
        return typed


def _bitrate(typed: str) -> int | str | None:
    """A low-data bitrate chosen; empty is the server's default."""
    typed = typed.strip()
    if not typed:
        return None
    return int(typed) if typed.isdecimal() and typed.isascii() else typed


# --- values -> what a form shows ------------------------------------------------------------------------


def show_values(show: Show, form: MultiDict[str, str] | None = None) -> dict[str, Any]:
    """What the section shows: the posted text after a refusal, else the show's values."""
    if form is not None and MARKER in form:
        return _posted_values(form, SHOW_ROWS, show_section=True)
    values: dict[str, Any] = {
        "persons": _rows("persons", [_person_row(person) for person in show.persons or []]),
        "locations": _rows("locations", [_location_row(place) for place in show.locations or []]),
        "txt": _rows("txt", [_text_row("txt", record) for record in show.txt or []]),
        "podroll": _rows("podroll", [_text_row("podroll", entry) for entry in show.podroll or []]),
        **_license_values(show.license),
    }
    schedule = show.update_frequency or {}
    values.update({f"update_frequency_{key}": schedule.get(key) or "" for key in ("text", "rrule")})
    values["update_frequency_dtstart"] = _show_clock(schedule.get("dtstart"), show)
    values["update_frequency_complete"] = bool(schedule.get("complete"))
    block = show.block or {}
    values["block_everywhere"] = bool(block.get("everywhere"))
    values["block_platforms"] = list(block.get("platforms") or [])
    for name in LOW_DATA_FIELDS:
        rate = getattr(show, name, None)
        values[name] = "" if rate is None else str(rate)
    return values


def episode_values(episode: Episode, form: MultiDict[str, str] | None = None) -> dict[str, Any]:
    """What the episode's section shows: the posted text after a refusal, else the episode's values."""
    if form is not None and MARKER in form:
        return _posted_values(form, EPISODE_ROWS, show_section=False)
    return {
        "persons": _rows("persons", [_person_row(person) for person in episode.persons or []]),
        "locations": _rows("locations", [_location_row(place) for place in episode.locations or []]),
        "soundbites": _rows("soundbites", [_soundbite_row(bite) for bite in episode.soundbites or []]),
        **_license_values(episode.license),
    }


def _posted_values(form: MultiDict[str, str], kinds: Iterable[str], show_section: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        kind: _rows(kind, [row for row in _posted_rows(form, kind) if row["filled"]]) for kind in kinds
    }
    values.update({name: form.get(name, "") for name in ("license_identifier", "license_url")})
    if show_section:
        for key in UPDATE_FREQUENCY_KEYS:
            values[f"update_frequency_{key}"] = form.get(f"update_frequency_{key}", "")
        values["update_frequency_complete"] = "update_frequency_complete" in form
        values["block_everywhere"] = "block_everywhere" in form
        values["block_platforms"] = form.getlist("block_platforms")
        values.update({name: form.get(name, "") for name in LOW_DATA_FIELDS})
    return values


def _rows(kind: str, filled: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows a form shows: the filled ones, then blank ones, up to the field's limit. A refused form that
    posted more rows is shown with the first ones only, so that its page stays the size of a form's, however
    many the post had."""
    filled = filled[: ROW_LIMITS[kind]]
    blanks = max(0, min(BLANK_ROWS, ROW_LIMITS[kind] - len(filled)))
    blank = {key: "" for key in ROWS[kind]} | {"filled": False, "remove": False}
    return [*filled, *(dict(blank) for _ in range(blanks))]


def _filled(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "filled": True, "remove": False}


def _person_row(person: Mapping[str, Any]) -> dict[str, Any]:
    role = person.get("role") or namespace_fields.DEFAULT_ROLE
    group = person.get("group") or namespace_fields.group_of(role)
    row = {key: person.get(key) or "" for key in ("name", "img", "href")}
    return _filled({**row, "role": f"{group}{ROLE_SEPARATOR}{role}"})


def _location_row(place: Mapping[str, Any]) -> dict[str, Any]:
    row = {key: place.get(key) or "" for key in ("name", "rel", "osm", "country")}
    row.update({key: "" if place.get(key) is None else _number(place[key]) for key in ("lat", "lon")})
    return _filled(row)


def _soundbite_row(bite: Mapping[str, Any]) -> dict[str, Any]:
    row = {
        "start": clock(bite["start"]),
        "duration": _number(bite["duration"]),
        "title": bite.get("title", ""),
    }
    return _filled(row)


def _text_row(kind: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    return _filled({key: entry.get(key) or "" for key in ROWS[kind]})


def _license_values(license: Mapping[str, Any] | None) -> dict[str, str]:
    license = license or {}
    return {"license_identifier": license.get("identifier") or "", "license_url": license.get("url") or ""}


def _number(value: float) -> str:
    """A stored number as typed: 12 rather than 12.0, 48.8566 as it is."""
    return f"{value:.7f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)


def clock(seconds: float) -> str:
    """Seconds as m:ss or h:mm:ss, with milliseconds when there are any: 65.5 -> "1:05.5"."""
    whole, millis = divmod(round(seconds * 1000), 1000)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    fraction = f".{millis:03d}".rstrip("0") if millis else ""
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}{fraction}"
    return f"{minutes}:{secs:02d}{fraction}"


def _show_clock(stored: object, show: Show) -> str:
    """A stored UTC dtstart as a datetime-local field shows it, on the show's clock."""
    if not stored:
        return ""
    try:
        moment = datetime.fromisoformat(str(stored).replace("Z", "+00:00"))
    except ValueError:
        return str(stored)
    local = moment.astimezone(shows.show_zone(show)).replace(tzinfo=None)
    return local.isoformat(timespec="seconds")


# --- what the forms offer -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _role_groups(locale: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """The role list's groups and options in `locale`, the request's language: made once per language, as
    naming every role takes a tenth of a second (person_roles.role_name reads the whole list each time)."""
    return tuple(
        (group_name(group), tuple((f"{group}{ROLE_SEPARATOR}{role}", role_name(role)) for role in roles))
        for group, roles in namespace_fields.taxonomy().items()
    )


def group_name(group: str) -> str:
    """A group of the Podcast Taxonomy (lower-cased, as stored) in the interface's language; one the list does
    not know, as it was stored."""
    names: dict[str, str] = {
        "creative direction": pgettext("podcast role group", "Creative Direction"),
        "cast": pgettext("podcast role group", "Cast"),
        "writing": pgettext("podcast role group", "Writing"),
        "audio production": pgettext("podcast role group", "Audio Production"),
        "audio post-production": pgettext("podcast role group", "Audio Post-Production"),
        "administration": pgettext("podcast role group", "Administration"),
        "visuals": pgettext("podcast role group", "Visuals"),
        "community": pgettext("podcast role group", "Community"),
        "misc.": pgettext("podcast role group", "Misc."),
        "video production": pgettext("podcast role group", "Video Production"),
        "video post-production": pgettext("podcast role group", "Video Post-Production"),
    }
    return str(names.get(group, group))


def choices() -> dict[str, Any]:
    """The vocabularies the section's selects, checkboxes and lists offer (the namespace's own lists)."""
    return {
        "role_groups": _role_groups(str(get_locale())),
        "default_role": f"{namespace_fields.DEFAULT_GROUP}{ROLE_SEPARATOR}{namespace_fields.DEFAULT_ROLE}",
        "licenses": [name for name, _ in namespace_fields.known_licenses().values()],
        "platforms": sorted(namespace_fields.service_slugs()),
        "mediums": namespace_fields.MEDIUMS,
        "location_rels": list(LOCATION_RELS.items()),
        "low_data_defaults": {
            "stereo": ENCODE_DEFAULTS.low_data_stereo_kbps,
            "mono": ENCODE_DEFAULTS.low_data_mono_kbps,
        },
        "low_data_rates": shows.OPUS_BITRATES,
    }
