"""The Podcasting 2.0 fields are checked and cleaned in one place (podcast_host/namespace_fields.py)."""

from __future__ import annotations

from typing import Any

import pytest

from podcast_host import namespace_fields as nf
from podcast_host.errors import Invalid


def test_a_person_is_cleaned_and_defaults_to_a_host_of_the_cast() -> None:
    persons = nf.clean_persons(
        [
            {"name": "  Leila   Haddad ", "img": "https://example.org/leila.jpg"},
            {
                "name": "Sam",
                "role": "Cover Art Designer",
                "group": "Visuals",
                "href": "http://example.org/sam",
            },
            {"name": "Ana", "role": "Guest"},
        ]
    )
    assert persons == [
        {
            "name": "Leila Haddad",
            "role": "host",
            "group": "cast",
            "img": "https://example.org/leila.jpg",
            "href": "",
        },
        {
            "name": "Sam",
            "role": "cover art designer",
            "group": "visuals",
            "img": "",
            "href": "http://example.org/sam",
        },
        {"name": "Ana", "role": "guest", "group": "cast", "img": "", "href": ""},
    ]


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"name": "A", "role": "wizard"}, "'wizard' is not a role"),
        ({"name": "A", "role": "host", "group": "visuals"}, "not a role of the Podcast Taxonomy (visuals)"),
        ({"name": "A", "group": "band"}, "'band' is not a group"),
        ({"name": ""}, "name cannot be empty"),
        ({"name": "A" * 129}, "longer than 128"),
        ({"name": "A", "img": "javascript:alert(1)"}, "img must be an http(s) web address"),
        ({"name": "A", "href": "https://"}, "href must be an http(s) web address"),
        ({"name": "A", "mail": "a@example.org"}, "unknown key 'mail'"),
        ({"name": 5}, "name must be text"),
    ],
)
def test_a_bad_person_is_refused_with_the_entry_named(entry: dict[str, Any], words: str) -> None:
    with pytest.raises(Invalid) as refused:
        nf.clean_persons([{"name": "Fine"}, entry])
    assert words in str(refused.value)
    assert refused.value.field == "persons"
    assert "2" in str(refused.value)


def test_every_role_of_the_vendored_taxonomy_is_accepted_in_its_group() -> None:
    pairs = [(group, role) for group, roles in nf.taxonomy().items() for role in roles]
    assert len(pairs) >= 60 and ("cast", "host") in pairs and ("cast", "guest") in pairs
    cleaned = nf.clean_persons(
        [{"name": "X", "role": role.upper(), "group": group} for group, role in pairs[:50]]
    )
    assert [(person["group"], person["role"]) for person in cleaned] == pairs[:50]


def test_a_location_keeps_its_coordinates_osm_id_and_country() -> None:
    places = nf.clean_locations(
        [
            {
                "name": "Tunis",
                "rel": "Creator",
                "lat": "36.8065",
                "lon": 10.1815,
                "osm": "r8896976",
                "country": "tn",
            }
        ]
    )
    assert places == [
        {
            "name": "Tunis",
            "rel": "creator",
            "lat": 36.8065,
            "lon": 10.1815,
            "osm": "R8896976",
            "country": "TN",
        }
    ]
    assert nf.clean_locations([{"name": "Somewhere"}])[0] == {
        "name": "Somewhere",
        "rel": "subject",
        "lat": None,
        "lon": None,
        "osm": "",
        "country": "",
    }


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"name": "X", "lat": 91, "lon": 0}, "lat must be between -90 and 90"),
        ({"name": "X", "lat": 0, "lon": -180.5}, "lon must be between -180 and 180"),
        ({"name": "X", "lat": 10}, "both lat and lon"),
        ({"name": "X", "lat": "north", "lon": 0}, "lat must be a number"),
        ({"name": "X", "lat": float("nan"), "lon": 0}, "lat must be a number"),
        ({"name": "X", "osm": "Q42"}, "osm must be N, W or R"),
        ({"name": "X", "country": "TUN"}, "two-letter code"),
        ({"name": "X", "rel": "about"}, "rel must be subject or creator"),
    ],
)
def test_a_bad_location_is_refused(entry: dict[str, Any], words: str) -> None:
    with pytest.raises(Invalid, match=words):
        nf.clean_locations([entry])


def test_soundbites_are_sorted_and_must_end_within_the_episode() -> None:
    bites = nf.clean_soundbites(
        [{"start": 30, "duration": 15, "title": "Second"}, {"start": "2.5", "duration": 20}], duration_s=60.0
    )
    assert bites == [
        {"start": 2.5, "duration": 20.0, "title": ""},
        {"start": 30.0, "duration": 15.0, "title": "Second"},
    ]
    with pytest.raises(Invalid, match="past the end of the episode"):
        nf.clean_soundbites([{"start": 50, "duration": 15}], duration_s=60.0)
    # Before the audio is processed its length is unknown: the clip is kept, and the feed checks it later.
    assert nf.clean_soundbites([{"start": 50, "duration": 15}], duration_s=None)[0]["start"] == 50.0
    for bad, words in (
        ({"start": -1, "duration": 15}, "start cannot be negative"),
        ({"start": 0, "duration": 0.5}, "duration must be 1 to 300 seconds"),
        ({"start": 0, "duration": 301}, "duration must be 1 to 300 seconds"),
        ({"start": 0}, "duration cannot be empty"),
        ({"start": True, "duration": 15}, "start must be a number"),
    ):
        with pytest.raises(Invalid, match=words):
            nf.clean_soundbites([bad], duration_s=600.0)
    with pytest.raises(Invalid, match="At most 20 soundbites"):
        nf.clean_soundbites([{"start": n, "duration": 5} for n in range(21)], duration_s=600.0)


def test_a_license_is_a_known_identifier_or_a_name_with_the_url_of_its_text() -> None:
    assert nf.clean_license("cc-by-4.0") == {"identifier": "CC-BY-4.0", "url": ""}
    assert (
        nf.license_url({"identifier": "CC-BY-4.0", "url": ""})
        == "https://creativecommons.org/licenses/by/4.0/"
    )
    custom = {"identifier": "newsroom-members-v1", "url": "https://example.org/licence.html"}
    assert nf.clean_license(custom) == custom
    assert nf.clean_license(None) is None and nf.clean_license({"identifier": ""}) is None
    with pytest.raises(Invalid, match="give its url"):
        nf.clean_license({"identifier": "newsroom-members-v1"})
    with pytest.raises(Invalid, match="url must be an http\\(s\\) web address"):
        nf.clean_license({"identifier": "newsroom-members-v1", "url": "not a url"})


def test_txt_records_podroll_update_frequency_and_block() -> None:
    assert nf.clean_txt([{"purpose": "verify", "value": " S6lpp-7ZCn8 "}]) == [
        {"purpose": "verify", "value": "S6lpp-7ZCn8"}
    ]
    with pytest.raises(Invalid, match="value cannot be empty"):
        nf.clean_txt([{"purpose": "verify"}])
    with pytest.raises(Invalid, match="longer than 4000"):
        nf.clean_txt([{"value": "x" * 4001}])

    guid = "917393E3-1B1E-5CEF-ACE4-EDAA54E1F810"
    assert nf.clean_podroll([{"feed_guid": guid, "title": "Podcasting 2.0"}]) == [
        {"feed_guid": guid.lower(), "feed_url": "", "title": "Podcasting 2.0", "medium": ""}
    ]
    with pytest.raises(Invalid, match="must be a podcast GUID"):
        nf.clean_podroll([{"feed_guid": "https://example.org/feed.xml"}])
    with pytest.raises(Invalid, match="already listed"):
        nf.clean_podroll([{"feed_guid": guid}, {"feed_guid": guid.lower()}])
    with pytest.raises(Invalid, match="'radio' is not a medium"):
        nf.clean_podroll([{"feed_guid": guid, "medium": "radio"}])

    weekly = nf.clean_update_frequency({"text": "Every Monday", "rrule": "freq=weekly;byday=MO"})
    assert weekly == {
        "text": "Every Monday",
        "rrule": "FREQ=WEEKLY;BYDAY=MO",
        "dtstart": None,
        "complete": False,
    }
    limited = nf.clean_update_frequency(
        {"text": "Ten episodes", "rrule": "FREQ=WEEKLY;COUNT=10", "dtstart": "2026-12-07T09:00:00+01:00"}
    )
    assert limited is not None and limited["dtstart"] == "2026-12-07T08:00:00.000Z"
    for bad, words in (
        ({"text": "x", "rrule": "FREQ=FORTNIGHTLY"}, "not an iCalendar recurrence rule"),
        ({"text": "x", "rrule": "FREQ=WEEKLY;COUNT=3"}, "COUNT needs a dtstart"),
        ({"rrule": "FREQ=DAILY"}, "text cannot be empty"),
        ({"text": "x", "dtstart": "next week"}, "ISO 8601"),
        ({"text": "x", "complete": "yes"}, "complete must be true or false"),
    ):
        with pytest.raises(Invalid, match=words):
            nf.clean_update_frequency(bad)

    assert nf.clean_block({"everywhere": True, "platforms": ["Spotify"]}) == {
        "everywhere": True,
        "platforms": ["spotify"],
    }
    assert nf.clean_block({"everywhere": False, "platforms": []}) is None
    with pytest.raises(Invalid, match="'myspace' is not a platform"):
        nf.clean_block({"platforms": ["myspace"]})


def test_lists_and_tables_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(Invalid, match="The persons must be a list"):
        nf.clean_persons({"name": "A"})
    with pytest.raises(Invalid, match="each entry must be a table"):
        nf.clean_locations(["Tunis"])
    with pytest.raises(Invalid, match="At most 50 persons"):
        nf.clean_persons([{"name": str(n)} for n in range(51)])
    assert nf.clean_persons(None) == [] and nf.clean_soundbites([], duration_s=None) == []


def test_addresses_and_dates_that_break_the_parsers_are_refused_not_raised() -> None:
    with pytest.raises(Invalid, match="img must be an http\\(s\\) web address"):
        nf.clean_persons([{"name": "A", "img": "http://["}])
    with pytest.raises(Invalid, match="ISO 8601"):
        nf.clean_update_frequency({"text": "x", "dtstart": "0001-01-01T00:00:00+05:00"})
