"""The Podcasting 2.0 fields of shows and episodes: people, places, soundbites, licence, txt records, podroll,
update frequency and blocks, each checked and cleaned the same way for every caller (API, dashboard, sync).

Values are plain JSON (lists of dicts, or a dict, or None) in the shape the API shows, show.toml/episode.toml
write and the database keeps; docs/feeds.md ("Podcasting 2.0 tags") says how each becomes a feed tag. The
vocabularies (person roles and groups, platform slugs, well-known licences) are the namespace's own lists,
vendored in podcast_host/data/podcast_namespace (CC0) and refreshed by scripts/refresh_namespace_data.py."""

from __future__ import annotations

import json
import math
import re
import unicodedata
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dateutil.rrule import rrulestr

from podcast_host.errors import Invalid, refusal

DATA = Path(__file__).parent / "data" / "podcast_namespace"

# The namespace asks aggregators to keep node values and attributes within these lengths.
MAX_NAME = 128
MAX_TXT = 4000
MAX_URL = 2000
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
# Characters no web address carries as they are (RFC 3986 2.2-2.4: they are percent-encoded), and that
# browsers read in their own way ("\" as "/"): refused rather than published in an href.
_NOT_IN_ADDRESSES = frozenset('"<>\\')
_JOINERS = frozenset("\u200c\u200d")  # zero-width non-joiner and joiner


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
    for n, entry in _entries(value, field, MAX_PERSONS):
        _known_keys(entry, ("name", "role", "group", "img", "href"), field, n)
        name = _text(entry.get("name"), field, n, "name", required=True)
        role = _text(entry.get("role"), field, n, "role").lower() or DEFAULT_ROLE
        group = _text(entry.get("group"), field, n, "group").lower()
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
            person[key] = _web_address(entry.get(key), field, n, key)
        out.append(person)
    return out


def clean_locations(value: object, field: str = "locations") -> list[dict[str, Any]]:
    """Places: name (required), rel subject|creator, lat/lon in degrees (both or neither), an OpenStreetMap id
    such as R113314, a two-letter country code."""
    out = []
    for n, entry in _entries(value, field, MAX_LOCATIONS):
        _known_keys(entry, ("name", "rel", "lat", "lon", "osm", "country"), field, n)
        name = _text(entry.get("name"), field, n, "name", required=True)
        rel = _text(entry.get("rel"), field, n, "rel").lower() or LOCATION_RELS[0]
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
            place["lat"] = _degrees(lat, 90, field, n, "lat")
            place["lon"] = _degrees(lon, 180, field, n, "lon")
        osm = _text(entry.get("osm"), field, n, "osm")
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
        country = _text(entry.get("country"), field, n, "country")
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
    for n, entry in _entries(value, field, MAX_SOUNDBITES):
        _known_keys(entry, ("start", "duration", "title"), field, n)
        start = _seconds(entry.get("start"), field, n, "start")
        length = _seconds(entry.get("duration"), field, n, "duration")
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
        title = _text(entry.get("title"), field, n, "title")
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
    entry = _mapping(value, field, None)
    _known_keys(entry, ("identifier", "url"), field, None)
    identifier = _text(entry.get("identifier"), field, None, "identifier")
    url = _web_address(entry.get("url"), field, None, "url")
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
    for n, entry in _entries(value, field, MAX_TXT_RECORDS):
        _known_keys(entry, ("purpose", "value"), field, n)
        purpose = _text(entry.get("purpose"), field, n, "purpose")
        text = _text(entry.get("value"), field, n, "value", required=True, limit=MAX_TXT)
        out.append({"purpose": purpose, "value": text})
    return out


def clean_podroll(value: object, field: str = "podroll") -> list[dict[str, str]]:
    """Shows the producer recommends: each by its podcast:guid (a UUID), with an optional feed URL, title and
    medium."""
    out = []
    seen = set()
    for n, entry in _entries(value, field, MAX_PODROLL):
        _known_keys(entry, ("feed_guid", "feed_url", "title", "medium"), field, n)
        raw = _text(entry.get("feed_guid"), field, n, "feed_guid", required=True)
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
        medium = _text(entry.get("medium"), field, n, "medium").lower()
        if medium and medium not in MEDIUMS:
            raise Invalid(
                refusal("Podroll entry %(n)s: %(medium)r is not a medium.", n=n, medium=entry["medium"]),
                field=field,
            )
        out.append(
            {
                "feed_guid": guid,
                "feed_url": _web_address(entry.get("feed_url"), field, n, "feed_url"),
                "title": _text(entry.get("title"), field, n, "title"),
                "medium": medium,
            }
        )
    return out


def clean_update_frequency(value: object, field: str = "update_frequency") -> dict[str, Any] | None:
    """The release schedule a producer states: text (required), an iCalendar RRULE, its dtstart (required with
    COUNT), complete. None clears it: the feed then derives one from the publishing dates (docs/feeds.md)."""
    if value is None or value == {}:
        return None
    entry = _mapping(value, field, None)
    _known_keys(entry, ("text", "rrule", "dtstart", "complete"), field, None)
    text = _text(entry.get("text"), field, None, "text", required=True)
    rule = _text(entry.get("rrule"), field, None, "rrule", limit=MAX_RRULE).upper()
    start = _instant(entry.get("dtstart"), field)
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
    entry = _mapping(value, field, None)
    _known_keys(entry, ("everywhere", "platforms"), field, None)
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


# --- pieces -----------------------------------------------------------------------------------------------


def _entries(value: object, field: str, limit: int) -> list[tuple[int, Mapping[str, Any]]]:
    """The entries of a list field, numbered from 1 for messages; None and [] are an empty list."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(refusal("The %(field)s must be a list.", field=field), field=field)
    if len(value) > limit:
        raise Invalid(refusal("At most %(limit)s %(field)s.", limit=limit, field=field), field=field)
    return [(n, _mapping(entry, field, n)) for n, entry in enumerate(value, start=1)]


def _mapping(value: object, field: str, n: int | None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise Invalid(_where(field, n, refusal("each entry must be a table of named values")), field=field)
    return value


def _known_keys(entry: Mapping[str, Any], known: tuple[str, ...], field: str, n: int | None) -> None:
    unknown = sorted(set(entry) - set(known))
    if unknown:
        raise Invalid(
            _where(
                field,
                n,
                refusal("unknown key %(key)r (known: %(known)s)", key=unknown[0], known=", ".join(known)),
            ),
            field=field,
        )


def _text(
    value: object, field: str, n: int | None, key: str, required: bool = False, limit: int = MAX_NAME
) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(_where(field, n, refusal("%(key)s must be text", key=key)), field=field)
    text = " ".join(value.split()) if limit == MAX_NAME else value.strip()
    if required and not text:
        raise Invalid(_where(field, n, refusal("%(key)s cannot be empty", key=key)), field=field)
    if len(text) > limit:
        raise Invalid(
            _where(field, n, refusal("%(key)s is longer than %(limit)s characters", key=key, limit=limit)),
            field=field,
        )
    return text


def _web_address(value: object, field: str, n: int | None, key: str) -> str:
    text = _text(value, field, n, key, limit=MAX_URL)
    if not text:
        return ""
    try:
        parts = urlsplit(text)
        usable = parts.scheme in ("http", "https") and _is_host(parts.hostname, parts.netloc)
        parts.port  # noqa: B018 (read for its ValueError: a port that is no number from 0 to 65535)
    except ValueError:  # an unbalanced "[" of an IPv6 host, a bad port
        usable = False
    if not usable or any(_unwritten(c) for c in text):
        raise Invalid(
            _where(
                field,
                n,
                refusal("%(key)s must be an http(s) web address, not %(value)r", key=key, value=text),
            ),
            field=field,
        )
    return text


def _is_host(host: str | None, netloc: str) -> bool:
    """A host name (letters of any script, digits, hyphens, dots), an IPv4 address or a bracketed IPv6 one, as
    the API's own pattern has it; urlsplit would take anything between "//" and the path as a host."""
    if not host:
        return False
    if "[" in netloc:
        return all(c in "0123456789abcdef:." for c in host)
    labels = host.removesuffix(".").split(".")
    return all(label and label[0] != "-" and all(c.isalnum() or c == "-" for c in label) for label in labels)


def _unwritten(c: str) -> bool:
    """A character a web address may not hold as it is: a space, a control, an invisible format character such
    as the bidirectional overrides RFC 3987 (4.1) forbids in an address (the joiners that Persian and Indic
    words and emoji are spelled with stay), or one RFC 3986 has percent-encoded."""
    if c.isspace() or c in _NOT_IN_ADDRESSES:
        return True
    return unicodedata.category(c) == "Cc" or (unicodedata.category(c) == "Cf" and c not in _JOINERS)


def _number(value: object, field: str, n: int | None, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid(_where(field, n, refusal("%(key)s must be a number", key=key)), field=field)
    try:
        number = float(value)
    except ValueError:
        raise Invalid(_where(field, n, refusal("%(key)s must be a number", key=key)), field=field) from None
    if not math.isfinite(number):
        raise Invalid(_where(field, n, refusal("%(key)s must be a number", key=key)), field=field)
    return number


def _degrees(value: object, bound: int, field: str, n: int | None, key: str) -> float:
    degrees = _number(value, field, n, key)
    if not -bound <= degrees <= bound:
        raise Invalid(
            _where(
                field,
                n,
                refusal(
                    "%(key)s must be between -%(bound)s and %(bound)s, not %(value)s",
                    key=key,
                    bound=bound,
                    value=degrees,
                ),
            ),
            field=field,
        )
    return round(degrees, 7)


def _seconds(value: object, field: str, n: int | None, key: str) -> float:
    if value is None:
        raise Invalid(_where(field, n, refusal("%(key)s cannot be empty", key=key)), field=field)
    seconds = _number(value, field, n, key)
    if seconds < 0:
        raise Invalid(_where(field, n, refusal("%(key)s cannot be negative", key=key)), field=field)
    return round(seconds, 3)


def _instant(value: object, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(
                refusal("The dtstart must be an ISO 8601 date and time, not %(value)r.", value=value),
                field=field,
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # the first or last day of the calendar, moved past its end by the offset
        raise Invalid(
            refusal("The dtstart must be an ISO 8601 date and time, not %(value)r.", value=value), field=field
        ) from None


def _where(field: str, n: int | None, problem: str) -> str:
    """A refusal that names the entry it is about: "persons, entry 2: img must be …"."""
    if n is None:
        return refusal("%(field)s: %(problem)s.", field=field, problem=problem)
    return refusal("%(field)s, entry %(n)s: %(problem)s.", field=field, n=n, problem=problem)
