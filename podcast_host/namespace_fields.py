"""The Podcasting 2.0 fields of shows and episodes: people, places, soundbites, licence, txt records, podroll,
update frequency and blocks, each checked and cleaned the same way for every caller (API, dashboard, sync).

Values are plain JSON (lists of dicts, or a dict, or None) in the shape the API shows, show.toml/episode.toml
write and the database keeps; docs/feeds.md ("Podcasting 2.0 tags") says how each becomes a feed tag. The
vocabularies (person roles and groups, platform slugs, well-known licences) are the namespace's own lists,
vendored in podcast_host/data/podcast_namespace (CC0) and refreshed by scripts/refresh_namespace_data.py."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from dateutil.rrule import rrulestr

from podcast_host.errors import Invalid, refusal
from podcast_host.value_checks import MAX_NAME as MAX_NAME
from podcast_host.value_checks import MAX_URL as MAX_URL
from podcast_host.value_checks import (
    check_known_keys,
    degrees_of,
    entries_of,
    instant_of,
    mapping_of,
    seconds_of,
    text_of,
    web_address_of,
)

DATA = Path(__file__).parent / "data" / "podcast_namespace"

# The namespace asks aggregators to keep node values and attributes within these lengths (and MAX_NAME,
# MAX_URL: value_checks.py).
MAX_TXT = 4000
MAX_RRULE = 500
# Bounds of our own, so that a feed and a page stay readable and small.
MAX_PERSONS = 50
MAX_LOCATIONS = 5
MAX_SOUNDBITES = 20
MAX_TXT_RECORDS = 20
MAX_PODROLL = 100
# A soundbite is a clip: the namespace recommends 15 to 120 seconds; we accept 1 to 300.
SOUNDBITE_SECONDS = (1.0, 300.0)
LOCATION_RELS = ("subject", "creator")
# The mediums a podroll entry may name (the namespace's medium list, list mediums left out).
MEDIUMS = ("podcast", "music", "video", "film", "audiobook", "newsletter", "blog", "publisher", "course")
DEFAULT_ROLE = "host"
DEFAULT_GROUP = "cast"

# ASCII digits only: str.isdigit and \d also take Arabic-Indic and other digits, which no OSM id has.
_OSM = re.compile(r"^([NWR])([0-9]{1,19})(#[0-9]{1,19})?$", re.IGNORECASE)
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
# What an RRULE's value is written with (RFC 5545, 3.3.10): part names and values, "=", ";", ",", and the
# signs of BYDAY=-1FR. One line: dateutil would read more lines (EXDATE:…, DTSTART:…) as a set of rules.
_RRULE_TEXT = re.compile(r"^[A-Z0-9=;,+-]*$")


# --- vocabularies -----------------------------------------------------------------------------------------


@cache
def taxonomy() -> dict[str, tuple[str, ...]]:
    """Each group of the Podcast Taxonomy, lower-cased, with its roles lower-cased, in the list's order."""
    groups: dict[str, list[str]] = {}
    for entry in json.loads((DATA / "taxonomy.json").read_text(encoding="utf-8")):
        groups.setdefault(entry["group"].lower(), []).append(entry["role"].lower())
    return {group: tuple(roles) for group, roles in groups.items()}


@cache
def service_slugs() -> frozenset[str]:
    """The platforms a podcast:block tag may name."""
    lines = (DATA / "serviceslugs.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip())


@cache
def known_licenses() -> dict[str, tuple[str, str]]:
    """The namespace's well-known licences: lower-cased identifier -> (identifier as written, its URL)."""
    entries = json.loads((DATA / "licenses.json").read_text(encoding="utf-8"))
    return {entry["shortname"].lower(): (entry["shortname"], entry["link"]) for entry in entries}


@cache
def _all_roles() -> frozenset[str]:
    return frozenset(role for roles in taxonomy().values() for role in roles)


def group_of(role: str) -> str:
    """The first group of the taxonomy that has this (lower-cased) role."""
    return next(group for group, roles in taxonomy().items() if role in roles)


# --- fields -----------------------------------------------------------------------------------------------


def clean_persons(value: object, field: str = "persons") -> list[dict[str, str]]:
    """People credited: name (required), role and group from the taxonomy (host and cast when left out), img
    and href web addresses."""
    out = []
    for n, entry in entries_of(value, field, MAX_PERSONS):
        check_known_keys(entry, ("name", "role", "group", "img", "href"), field, n)
        name = text_of(entry.get("name"), field, n, "name", required=True)
        role = text_of(entry.get("role"), field, n, "role").lower() or DEFAULT_ROLE
        group = text_of(entry.get("group"), field, n, "group").lower()
        if group and group not in taxonomy():
            raise Invalid(
                refusal(
                    "Person %(n)s: %(group)r is not a group of the Podcast Taxonomy.",
                    n=n,
                    group=entry["group"],
                ),
                field=field,
            )
        if role not in (taxonomy()[group] if group else _all_roles()):
            raise Invalid(
                refusal(
                    "Person %(n)s: %(role)r is not a role of the Podcast Taxonomy%(within)s.",
                    n=n,
                    role=entry.get("role"),
                    within=f" ({group})" if group else "",
                ),
                field=field,
            )
        person = {"name": name, "role": role, "group": group or group_of(role)}
        for key in ("img", "href"):
            person[key] = web_address_of(entry.get(key), field, n, key)
        out.append(person)
    return out


def clean_locations(value: object, field: str = "locations") -> list[dict[str, Any]]:
    """Places: name (required), rel subject|creator, lat/lon in degrees (both or neither), an OpenStreetMap id
    such as R113314, a two-letter country code."""
    out = []
    for n, entry in entries_of(value, field, MAX_LOCATIONS):
        check_known_keys(entry, ("name", "rel", "lat", "lon", "osm", "country"), field, n)
        name = text_of(entry.get("name"), field, n, "name", required=True)
        rel = text_of(entry.get("rel"), field, n, "rel").lower() or LOCATION_RELS[0]
        if rel not in LOCATION_RELS:
            raise Invalid(
                refusal(
                    "Location %(n)s: rel must be subject or creator, not %(rel)r.", n=n, rel=entry["rel"]
                ),
                field=field,
            )
        lat, lon = entry.get("lat"), entry.get("lon")
        if (lat is None) != (lon is None):
            raise Invalid(refusal("Location %(n)s: give both lat and lon, or neither.", n=n), field=field)
        place: dict[str, Any] = {"name": name, "rel": rel, "lat": None, "lon": None}
        if lat is not None:
            place["lat"] = degrees_of(lat, 90, field, n, "lat")
            place["lon"] = degrees_of(lon, 180, field, n, "lon")
        osm = text_of(entry.get("osm"), field, n, "osm")
        match = _OSM.match(osm)
        if osm and not match:
            raise Invalid(
                refusal(
                    "Location %(n)s: osm must be N, W or R and a number (like R113314), not %(osm)r.",
                    n=n,
                    osm=osm,
                ),
                field=field,
            )
        place["osm"] = osm.upper()
        country = text_of(entry.get("country"), field, n, "country")
        if country and not _COUNTRY.match(country):
            raise Invalid(
                refusal(
                    "Location %(n)s: country must be a two-letter code, not %(country)r.",
                    n=n,
                    country=country,
                ),
                field=field,
            )
        place["country"] = country.upper()
        out.append(place)
    return out


def clean_soundbites(
    value: object, duration_s: float | None, field: str = "soundbites"
) -> list[dict[str, Any]]:
    """Clips of the episode: start and duration in seconds, an optional title. A clip must end within the
    episode when its duration is known (the feed leaves out any that do not, docs/feeds.md)."""
    out = []
    for n, entry in entries_of(value, field, MAX_SOUNDBITES):
        check_known_keys(entry, ("start", "duration", "title"), field, n)
        start = seconds_of(entry.get("start"), field, n, "start")
        length = seconds_of(entry.get("duration"), field, n, "duration")
        low, high = SOUNDBITE_SECONDS
        if not low <= length <= high:
            raise Invalid(
                refusal(
                    "Soundbite %(n)s: its duration must be %(low)s to %(high)s seconds, not %(value)s.",
                    n=n,
                    low=int(low),
                    high=int(high),
                    value=length,
                ),
                field=field,
            )
        if duration_s is not None and not fits(start, length, duration_s):
            raise Invalid(
                refusal(
                    "Soundbite %(n)s ends at %(end)s s, past the end of the episode (%(length)s s).",
                    n=n,
                    end=round(start + length, 3),
                    length=round(duration_s, 3),
                ),
                field=field,
            )
        title = text_of(entry.get("title"), field, n, "title")
        out.append({"start": start, "duration": length, "title": title})
    return sorted(out, key=lambda bite: float(bite["start"]))


def fits(start: float, length: float, duration_s: float) -> bool:
    """True when a clip ends within the audio (a tenth of a second of slack for rounding)."""
    return start + length <= duration_s + 0.1


def clean_license(value: object, field: str = "license") -> dict[str, str] | None:
    """A licence: a well-known identifier of the namespace's list (its URL optional), or any other name with
    the URL of its text. None or an empty identifier clears it."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = {"identifier": value}
    entry = mapping_of(value, field, None)
    check_known_keys(entry, ("identifier", "url"), field, None)
    identifier = text_of(entry.get("identifier"), field, None, "identifier")
    url = web_address_of(entry.get("url"), field, None, "url")
    if not identifier:
        if url:
            raise Invalid(refusal("A licence with a url needs an identifier too."), field=field)
        return None
    known = known_licenses().get(identifier.lower())
    if known:
        return {"identifier": known[0], "url": url}
    if not url:
        raise Invalid(
            refusal(
                "The licence %(identifier)r is not on the namespace's list (%(known)s): give its url.",
                identifier=identifier,
                known=", ".join(name for name, _ in known_licenses().values()),
            ),
            field=field,
        )
    return {"identifier": identifier, "url": url}


def license_url(license: Mapping[str, str]) -> str:
    """The URL a feed writes for a licence: the one given, else the well-known licence's own."""
    known = known_licenses().get(license["identifier"].lower())
    return license.get("url") or (known[1] if known else "")


def clean_txt(value: object, field: str = "txt") -> list[dict[str, str]]:
    """Free-form records, such as a platform's ownership check: purpose (optional) and value (required)."""
    out = []
    for n, entry in entries_of(value, field, MAX_TXT_RECORDS):
        check_known_keys(entry, ("purpose", "value"), field, n)
        purpose = text_of(entry.get("purpose"), field, n, "purpose")
        text = text_of(entry.get("value"), field, n, "value", required=True, limit=MAX_TXT)
        out.append({"purpose": purpose, "value": text})
    return out


def clean_podroll(value: object, field: str = "podroll") -> list[dict[str, str]]:
    """Shows the producer recommends: each by its podcast:guid (a UUID), with an optional feed URL, title and
    medium."""
    out = []
    seen = set()
    for n, entry in entries_of(value, field, MAX_PODROLL):
        check_known_keys(entry, ("feed_guid", "feed_url", "title", "medium"), field, n)
        raw = text_of(entry.get("feed_guid"), field, n, "feed_guid", required=True)
        try:
            guid = str(uuid.UUID(raw))
        except ValueError:
            raise Invalid(
                refusal(
                    "Podroll entry %(n)s: feed_guid must be a podcast GUID (a UUID), not %(guid)r.",
                    n=n,
                    guid=raw,
                ),
                field=field,
            ) from None
        if guid in seen:
            raise Invalid(refusal("Podroll entry %(n)s names a show already listed.", n=n), field=field)
        seen.add(guid)
        medium = text_of(entry.get("medium"), field, n, "medium").lower()
        if medium and medium not in MEDIUMS:
            raise Invalid(
                refusal("Podroll entry %(n)s: %(medium)r is not a medium.", n=n, medium=entry["medium"]),
                field=field,
            )
        out.append(
            {
                "feed_guid": guid,
                "feed_url": web_address_of(entry.get("feed_url"), field, n, "feed_url"),
                "title": text_of(entry.get("title"), field, n, "title"),
                "medium": medium,
            }
        )
    return out


def clean_update_frequency(value: object, field: str = "update_frequency") -> dict[str, Any] | None:
    """The release schedule a producer states: text (required), an iCalendar RRULE, its dtstart (required with
    COUNT), complete. None clears it: the feed then derives one from the publishing dates (docs/feeds.md)."""
    if value is None or value == {}:
        return None
    entry = mapping_of(value, field, None)
    check_known_keys(entry, ("text", "rrule", "dtstart", "complete"), field, None)
    text = text_of(entry.get("text"), field, None, "text", required=True)
    rule = text_of(entry.get("rrule"), field, None, "rrule", limit=MAX_RRULE).upper()
    start = instant_of(entry.get("dtstart"), field)
    complete = entry.get("complete", False)
    if not isinstance(complete, bool):
        raise Invalid(refusal("The update_frequency's complete must be true or false."), field=field)
    if rule:
        if rule.startswith("RRULE:"):
            rule = rule[len("RRULE:") :]
        if not _RRULE_TEXT.match(rule):
            raise Invalid(
                refusal(
                    "The rrule %(rule)r is not an iCalendar recurrence rule (%(why)s).",
                    rule=rule,
                    why=refusal("a rule is one line of letters, digits and the signs = ; , + -"),
                ),
                field=field,
            )
        try:
            rrulestr(rule, dtstart=start or datetime(2000, 1, 1, tzinfo=UTC))
        except (ValueError, TypeError) as error:
            raise Invalid(
                refusal(
                    "The rrule %(rule)r is not an iCalendar recurrence rule (%(why)s).", rule=rule, why=error
                ),
                field=field,
            ) from None
        if not rule.startswith("FREQ=") and ";FREQ=" not in rule:
            raise Invalid(refusal("The rrule %(rule)r has no FREQ.", rule=rule), field=field)
        if "COUNT=" in rule and start is None:
            raise Invalid(refusal("An rrule with COUNT needs a dtstart."), field=field)
    return {
        "text": text,
        "rrule": rule,
        "dtstart": start.strftime("%Y-%m-%dT%H:%M:%S.000Z") if start else None,
        "complete": complete,
    }


def clean_block(value: object, field: str = "block") -> dict[str, Any] | None:
    """Which platforms may list the show: everywhere (true blocks every platform) and the platforms that are
    the exception to it (blocked when everywhere is false, allowed when it is true)."""
    if value is None or value == {}:
        return None
    entry = mapping_of(value, field, None)
    check_known_keys(entry, ("everywhere", "platforms"), field, None)
    everywhere = entry.get("everywhere", False)
    if not isinstance(everywhere, bool):
        raise Invalid(refusal("The block's everywhere must be true or false."), field=field)
    platforms = entry.get("platforms", [])
    if not isinstance(platforms, list) or not all(isinstance(slug, str) for slug in platforms):
        raise Invalid(refusal("The block's platforms must be a list of platform names."), field=field)
    slugs = sorted({slug.strip().lower() for slug in platforms})
    unknown = [slug for slug in slugs if slug not in service_slugs()]
    if unknown:
        raise Invalid(
            refusal("%(slug)r is not a platform of the namespace's list.", slug=unknown[0]), field=field
        )
    if not everywhere and not slugs:
        return None
    return {"everywhere": everywhere, "platforms": slugs}
