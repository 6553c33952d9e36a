"""The stored Podcasting 2.0 values as the feed and the pages publish them (docs/feeds.md, "Podcasting 2.0
tags"): whose people an episode credits, the soundbites that fit its audio, a place's geo URI and its page on
OpenStreetMap. Pure and light: no feedgen, no Flask, so the pages use it without loading the feed builder.

Rows are read with `.get()`: a value stored before a check existed leaves an entry out, never the feed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from podcast_host.models import Episode, Show
from podcast_host.namespace_fields import fits

# docs/examples/location/location.md of the namespace: the osm attribute is the type's initial and the id,
# with an optional "#revision" that OpenStreetMap's own pages do not need.
_OSM_TYPES = {"N": "node", "W": "way", "R": "relation"}
OSM_BASE = "https://www.openstreetmap.org"


def credited_persons(episode: Episode, show: Show) -> list[Mapping[str, Any]]:
    """The people an episode credits: its own when it has any, which replace the show's (the namespace's
    person.md), else the show's."""
    return _entries(episode.persons, "name") or _entries(show.persons, "name")


def persons(values: object) -> list[Mapping[str, Any]]:
    """The stored people that have a name."""
    return _entries(values, "name")


def locations(values: object) -> list[Mapping[str, Any]]:
    """The stored places that have a name."""
    return _entries(values, "name")


def fitting_soundbites(episode: Episode) -> list[Mapping[str, Any]]:
    """The episode's soundbites that end within its audio (all of them while its length is unknown); a clip
    stored before the audio was replaced by a shorter one is left out, not cut."""
    bites = [
        bite
        for bite in _entries(episode.soundbites, "start")
        if isinstance(bite.get("start"), int | float) and isinstance(bite.get("duration"), int | float)
    ]
    if episode.duration_s is None:
        return bites
    return [bite for bite in bites if fits(float(bite["start"]), float(bite["duration"]), episode.duration_s)]


def geo_uri(place: Mapping[str, Any]) -> str:
    """RFC 5870's geo URI of a place ("geo:30.2711286,-97.7436995"), or "" without coordinates."""
    lat, lon = place.get("lat"), place.get("lon")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return ""
    return f"geo:{_degrees(lat)},{_degrees(lon)}"


def osm_url(osm: str | None) -> str:
    """The OpenStreetMap page of an osm value such as "R113314" (its revision left out); "" for none."""
    if not osm or osm[0].upper() not in _OSM_TYPES:
        return ""
    number = osm[1:].partition("#")[0]
    if not (number.isascii() and number.isdigit()):  # isdigit alone takes "١٢٣" and "¹²"
        return ""
    return f"{OSM_BASE}/{_OSM_TYPES[osm[0].upper()]}/{number}"


def seconds(value: float) -> str:
    """A time in seconds as the namespace writes it: "73.0", "1234.5"."""
    return str(round(float(value), 3))


def _degrees(value: float) -> str:
    # Seven decimals is what the values are kept to (about a centimetre); no exponent, no "-0".
    text = f"{value:.7f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _entries(values: object, required: str) -> list[Mapping[str, Any]]:
    if not isinstance(values, list):  # a JSON column: a list of dicts, or None
        return []
    return [entry for entry in values if isinstance(entry, dict) and entry.get(required) not in (None, "")]
