"""The Podcasting 2.0 tags of the feed (docs/feeds.md, "Podcasting 2.0 tags"), written from the stored values
and read back by Podcast Index's podcast-partytime field by field (feedparser for the two tags partytime 5
does not read: podcast:image and podcast:updateFrequency). Each tag is written when its value is set and
absent when not. Values are set on transient models directly, as the API and sync would have stored them."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import feedparser
import podcastparser
import pytest
from flask.testing import FlaskClient
from lxml import etree
from test_feed import BASE, NOW, make_episode, make_links, make_show, parse_xml, partytime

from podcast_host.feeds import budget
from podcast_host.feeds.build import build_feed
from podcast_host.feeds.schedule import derive_schedule
from podcast_host.models import Episode, Show
from podcast_host.services import Services

NS = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
}

SHOW_PERSONS = [
    {
        "name": "Dana Reporter",
        "role": "host",
        "group": "cast",
        "img": "https://pod.example/people/dana.jpg",
        "href": "https://dana.example/",
    },
    {"name": "Lee Maker", "role": "cover art designer", "group": "visuals", "img": "", "href": ""},
]
EPISODE_PERSONS = [
    {"name": "Dana Reporter", "role": "host", "group": "cast", "img": "", "href": ""},
    {
        "name": "Sam Guest",
        "role": "guest",
        "group": "cast",
        "img": "",
        "href": "https://sam.example/about?a=1&b=2",
    },
]
AUSTIN = {
    "name": "Austin",
    "rel": "creator",
    "lat": 30.2711286,
    "lon": -97.7436995,
    "osm": "R113314",
    "country": "US",
}
HOGWARTS = {"name": "Hogwarts", "rel": "subject", "lat": None, "lon": None, "osm": "", "country": ""}
MARLOW = {
    "name": "Marlow",
    "rel": "subject",
    "lat": 51.5718706,
    "lon": -0.7769654,
    "osm": "R3727240",
    "country": "GB",
}
TXT = [
    {"purpose": "verify", "value": "S6lpp-7ZCn8-dZfGc-OoyaG"},
    {"purpose": "", "value": "naj3eEZaWVVY9a38uhX8Fek"},
]
PODROLL = [
    {
        "feed_guid": "917393e3-1b1e-5cef-ace4-edaa54e1f810",
        "feed_url": "https://feeds.podcastindex.org/pc20.xml",
        "title": "Podcasting 2.0",
        "medium": "",
    },
    {"feed_guid": "29cdca4a-32d8-56ba-b48b-09a011c5daa9", "feed_url": "", "title": "", "medium": "music"},
]
STATED_FREQUENCY = {
    "text": "Every other Monday for 10 episodes",
    "rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;COUNT=10",
    "dtstart": "2023-08-28T00:00:00.000Z",
    "complete": False,
}
CUSTOM_LICENSE = {"identifier": "my-podcast-license-v1", "url": "https://pod.example/license.pdf"}
SOUNDBITES = [
    {"start": 73.0, "duration": 60.0, "title": "Why the bridge matters"},
    {"start": 1234.5, "duration": 42.25, "title": ""},
    # The episode lasts 1802.4 s: this clip would end at 1830 s, so the feed leaves it out.
    {"start": 1790.0, "duration": 40.0, "title": "Past the end"},
]


def full_show(**overrides: Any) -> Show:
    """A show with every Podcasting 2.0 value set."""
    values: dict[str, Any] = {
        "persons": SHOW_PERSONS,
        "locations": [AUSTIN, HOGWARTS],
        "license": {"identifier": "CC-BY-4.0", "url": ""},
        "txt": TXT,
        "podroll": PODROLL,
        "update_frequency": STATED_FREQUENCY,
        "block": {"everywhere": False, "platforms": ["amazon", "google"]},
        "image_key": "shows/1/image/cover-0a1b2c3d4e5f.jpg",
        **overrides,
    }
    return make_show(**values)


def full_episodes() -> dict[str, Episode]:
    """A trailer, an episode with every value of its own, one with none, and a scheduled trailer."""
    return {
        "trailer": make_episode(1, episode_type="trailer", season=2, title="Season 2: the bridge"),
        "rich": make_episode(
            2,
            persons=EPISODE_PERSONS,
            locations=[MARLOW],
            soundbites=SOUNDBITES,
            license=CUSTOM_LICENSE,
            image_key="shows/1/episodes/2/image/cover-9f8e7d6c5b4a3210.png",
        ),
        "plain": make_episode(3),
        "scheduled trailer": make_episode(4, episode_type="trailer", publish_at=NOW + timedelta(days=2)),
    }


@pytest.fixture(scope="module")
def episodes() -> dict[str, Episode]:
    return full_episodes()


@pytest.fixture(scope="module")
def feed(episodes: dict[str, Episode]) -> bytes:
    return build_feed(full_show(), list(episodes.values()), make_links(), NOW)


@pytest.fixture(scope="module")
def channel(feed: bytes) -> etree._Element:
    return parse_xml(feed).find("channel")


@pytest.fixture(scope="module")
def read_back(feed: bytes) -> dict[str, Any]:
    return partytime(feed)


def item(channel: etree._Element, episode: Episode) -> etree._Element:
    found = channel.find(f"item[guid='{episode.guid}']")
    assert found is not None, episode.title
    return found


def tags(parent: etree._Element, name: str) -> list[etree._Element]:
    """The podcast:`name` children of `parent` (not deeper)."""
    return parent.findall(f"podcast:{name}", NS)


def attributes(element: etree._Element) -> dict[str, str]:
    return dict(element.attrib)


def parsed_item(read_back: dict[str, Any], episode: Episode) -> dict[str, Any]:
    found: dict[str, Any] = next(i for i in read_back["items"] if i["guid"] == episode.guid)
    return found


# --- what is written ------------------------------------------------------------------------------------


def test_channel_people_places_licence_and_records(channel: etree._Element) -> None:
    persons = tags(channel, "person")
    assert [(p.text, attributes(p)) for p in persons] == [
        (
            "Dana Reporter",
            {
                "role": "host",
                "group": "cast",
                "img": "https://pod.example/people/dana.jpg",
                "href": "https://dana.example/",
            },
        ),
        ("Lee Maker", {"role": "cover art designer", "group": "visuals"}),
    ]
    assert [(p.text, attributes(p)) for p in tags(channel, "location")] == [
        (
            "Austin",
            {"rel": "creator", "geo": "geo:30.2711286,-97.7436995", "osm": "R113314", "country": "US"},
        ),
        ("Hogwarts", {"rel": "subject"}),
    ]
    (license,) = tags(channel, "license")
    # A well-known licence: the URL of its text is the namespace list's own.
    assert (license.text, license.get("url")) == ("CC-BY-4.0", "https://creativecommons.org/licenses/by/4.0/")
    assert [(t.text, attributes(t)) for t in tags(channel, "txt")] == [
        ("S6lpp-7ZCn8-dZfGc-OoyaG", {"purpose": "verify"}),
        ("naj3eEZaWVVY9a38uhX8Fek", {}),
    ]
    (podroll,) = tags(channel, "podroll")
    assert [attributes(r) for r in tags(podroll, "remoteItem")] == [
        {
            "feedGuid": "917393e3-1b1e-5cef-ace4-edaa54e1f810",
            "feedUrl": "https://feeds.podcastindex.org/pc20.xml",
            "title": "Podcasting 2.0",
        },
        {"feedGuid": "29cdca4a-32d8-56ba-b48b-09a011c5daa9", "medium": "music"},
    ]


def test_stated_update_frequency_is_written_as_stored(channel: etree._Element) -> None:
    (frequency,) = tags(channel, "updateFrequency")
    assert frequency.text == "Every other Monday for 10 episodes"
    # complete is false: the namespace's default, so it is left out.
    assert attributes(frequency) == {
        "rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;COUNT=10",
        "dtstart": "2023-08-28T00:00:00.000Z",
    }


def test_a_complete_show_says_so() -> None:
    frequency = {"text": "That's all folks!", "rrule": "", "dtstart": None, "complete": True}
    channel = parse_xml(build_feed(make_show(update_frequency=frequency), [], make_links(), NOW)).find(
        "channel"
    )
    (tag,) = tags(channel, "updateFrequency")
    assert (tag.text, attributes(tag)) == ("That's all folks!", {"complete": "true"})


def test_podcast_image_is_the_cover_with_its_itunes_image_url(
    channel: etree._Element, episodes: dict[str, Episode]
) -> None:
    (image,) = tags(channel, "image")
    assert attributes(image) == {
        "href": channel.find("itunes:image", NS).get("href"),
        "alt": "The Civic Hour",
        "aspect-ratio": "1/1",
        "type": "image/jpeg",
        "purpose": "artwork",
    }
    rich = item(channel, episodes["rich"])
    (image,) = tags(rich, "image")
    assert attributes(image) == {
        "href": rich.find("itunes:image", NS).get("href"),
        "alt": episodes["rich"].title,
        "aspect-ratio": "1/1",
        "type": "image/png",
        "purpose": "artwork",
    }
    # An episode without its own cover has neither image tag: the show's applies.
    plain = item(channel, episodes["plain"])
    assert tags(plain, "image") == [] and plain.find("itunes:image", NS) is None


def test_item_people_places_soundbites_and_licence(
    channel: etree._Element, episodes: dict[str, Episode]
) -> None:
    rich = item(channel, episodes["rich"])
    assert [(p.text, attributes(p)) for p in tags(rich, "person")] == [
        ("Dana Reporter", {"role": "host", "group": "cast"}),
        ("Sam Guest", {"role": "guest", "group": "cast", "href": "https://sam.example/about?a=1&b=2"}),
    ]
    assert [(p.text, attributes(p)) for p in tags(rich, "location")] == [
        ("Marlow", {"rel": "subject", "geo": "geo:51.5718706,-0.7769654", "osm": "R3727240", "country": "GB"})
    ]
    assert [(s.text, attributes(s)) for s in tags(rich, "soundbite")] == [
        ("Why the bridge matters", {"startTime": "73.0", "duration": "60.0"}),
        (None, {"startTime": "1234.5", "duration": "42.25"}),
    ]
    (license,) = tags(rich, "license")
    assert (license.text, attributes(license)) == (
        "my-podcast-license-v1",
        {"url": "https://pod.example/license.pdf"},
    )


def test_an_items_people_replace_the_channels(channel: etree._Element, episodes: dict[str, Episode]) -> None:
    rich = item(channel, episodes["rich"])
    names = [p.text for p in tags(rich, "person")]
    assert "Lee Maker" not in names, "the item restates whom it credits; the channel's do not add up"
    # An item with no people of its own carries none: apps show the channel's.
    assert tags(item(channel, episodes["plain"]), "person") == []


def test_a_soundbite_past_the_end_of_the_episode_is_left_out(
    channel: etree._Element, episodes: dict[str, Episode]
) -> None:
    bites = tags(item(channel, episodes["rich"]), "soundbite")
    assert [b.get("startTime") for b in bites] == ["73.0", "1234.5"]
    assert b"Past the end" not in etree.tostring(channel)
    # A clip that ends exactly at the end of the audio fits.
    edge = make_episode(9, duration_s=100.0, soundbites=[{"start": 40.0, "duration": 60.0, "title": "Last"}])
    channel = parse_xml(build_feed(make_show(), [edge], make_links(), NOW)).find("channel")
    assert [b.text for b in channel.iterfind("item/podcast:soundbite", NS)] == ["Last"]


def test_trailer_comes_from_the_published_trailer_episode(
    channel: etree._Element, episodes: dict[str, Episode]
) -> None:
    trailer = episodes["trailer"]
    (tag,) = tags(channel, "trailer")  # the scheduled trailer is not public yet
    assert tag.text == "Season 2: the bridge"
    assert tag.get("url") == item(channel, trailer).find("enclosure").get("url")
    assert parsedate_to_datetime(tag.get("pubdate")) == trailer.publish_at
    assert tag.get("pubdate") == item(channel, trailer).findtext("pubDate")
    assert (tag.get("length"), tag.get("type"), tag.get("season")) == ("1000001", "audio/mpeg", "2")


def test_block_lists_the_platforms_blocked(channel: etree._Element) -> None:
    assert [(b.text, attributes(b)) for b in tags(channel, "block")] == [
        ("yes", {"id": "amazon"}),
        ("yes", {"id": "google"}),
    ]
    assert channel.find("itunes:block", NS) is None, "Apple is not among them"


@pytest.mark.parametrize(
    ("block", "expected", "itunes_block"),
    [
        # Blocked everywhere but on two platforms.
        (
            {"everywhere": True, "platforms": ["apple", "podcastindex"]},
            [("yes", {}), ("no", {"id": "apple"}), ("no", {"id": "podcastindex"})],
            None,
        ),
        ({"everywhere": True, "platforms": []}, [("yes", {})], "Yes"),
        ({"everywhere": False, "platforms": ["apple"]}, [("yes", {"id": "apple"})], "Yes"),
    ],
)
def test_block_everywhere_and_its_exceptions(
    block: dict[str, Any], expected: list[tuple[str, dict[str, str]]], itunes_block: str | None
) -> None:
    channel = parse_xml(build_feed(make_show(block=block), [], make_links(), NOW)).find("channel")
    assert [(b.text, attributes(b)) for b in tags(channel, "block")] == expected
    assert channel.findtext("itunes:block", namespaces=NS) == itunes_block


def test_a_private_feed_is_blocked_everywhere_whatever_the_show_allows() -> None:
    show = make_show(block={"everywhere": True, "platforms": ["apple", "google"]})
    channel = parse_xml(build_feed(show, [], make_links(private=True), NOW)).find("channel")
    assert [(b.text, attributes(b)) for b in tags(channel, "block")] == [("yes", {})]
    assert channel.findtext("itunes:block", namespaces=NS) == "Yes"


NAMESPACE_TAGS = ("person", "location", "soundbite", "trailer", "license", "txt", "podroll", "block", "image")


def test_every_tag_is_absent_when_nothing_is_set() -> None:
    # Irregular dates: nothing to derive a schedule from either.
    days = [1, 2, 9, 30, 31]
    episodes = [make_episode(n, publish_at=NOW - timedelta(days=40 - day)) for n, day in enumerate(days, 1)]
    unset = build_feed(make_show(image_key=None), episodes, make_links(), NOW)
    # Empty lists and dicts mean "not set" as much as None does.
    empty = make_show(image_key=None, persons=[], locations=[], license=None, txt=[], podroll=[], block={})
    bare = [make_episode(n, persons=[], locations=[], soundbites=[], license=None) for n in (1, 3)]
    for feed in (unset, build_feed(empty, bare, make_links(), NOW)):
        channel = parse_xml(feed).find("channel")
        for name in (*NAMESPACE_TAGS, "updateFrequency"):
            assert channel.find(f".//podcast:{name}", NS) is None, name
        assert channel.find("itunes:block", NS) is None


def test_the_three_consumers_still_read_the_feed(feed: bytes, episodes: dict[str, Episode]) -> None:
    parsed = feedparser.parse(feed)
    assert not parsed.bozo, parsed.get("bozo_exception")
    public = [e for e in episodes.values() if e.publish_at <= NOW]
    assert len(parsed.entries) == len(public)
    read = podcastparser.parse(f"{BASE}/civic-hour/feed.xml", io.BytesIO(feed))
    assert {e["guid"] for e in read["episodes"]} == {e.guid for e in public}


# --- what partytime reads back ---------------------------------------------------------------------------


def test_partytime_reads_the_channels_people_back(read_back: dict[str, Any]) -> None:
    assert read_back["podcastPeople"] == [
        {
            "name": "Dana Reporter",
            "role": "Host",
            "group": "Cast",
            "img": "https://pod.example/people/dana.jpg",
            "href": "https://dana.example/",
        },
        {"name": "Lee Maker", "role": "Cover Art Designer", "group": "Visuals"},
    ]
    # Its roles and groups are the taxonomy's names: the same as ours, case aside.
    for parsed, stored in zip(read_back["podcastPeople"], SHOW_PERSONS, strict=True):
        assert (parsed["role"].lower(), parsed["group"].lower()) == (stored["role"], stored["group"])


def test_partytime_reads_the_first_place_back(read_back: dict[str, Any]) -> None:
    # partytime 5 keeps the first location, and its name, osm and geo only (not rel or country).
    assert read_back["podcastLocation"] == {
        "name": "Austin",
        "osm": "R113314",
        "geo": "geo:30.2711286,-97.7436995",
    }


def test_partytime_reads_the_licence_txt_podroll_and_block_back(read_back: dict[str, Any]) -> None:
    assert read_back["license"] == {
        "identifier": "CC-BY-4.0",
        "url": "https://creativecommons.org/licenses/by/4.0/",
    }
    assert read_back["podcastTxt"] == [
        {"value": "S6lpp-7ZCn8-dZfGc-OoyaG", "purpose": "verify"},
        {"value": "naj3eEZaWVVY9a38uhX8Fek"},
    ]
    assert read_back["podroll"] == [
        {
            "feedGuid": PODROLL[0]["feed_guid"],
            "feedUrl": PODROLL[0]["feed_url"],
            "title": PODROLL[0]["title"],
        },
        {"feedGuid": PODROLL[1]["feed_guid"], "medium": "music"},
    ]
    assert read_back["podcastBlocked"] == "no"
    assert read_back["podcastBlockedPlatforms"] == {"amazon": True, "google": True}


def test_partytime_reads_the_trailer_back(read_back: dict[str, Any], episodes: dict[str, Episode]) -> None:
    trailer = episodes["trailer"]
    assert read_back["trailers"] == [
        {
            "title": trailer.title,
            "url": f"{BASE}/media/audio/{trailer.slug}.mp3",
            "pubdate": trailer.publish_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "type": "audio/mpeg",
            "length": trailer.enclosure_length,
            "season": trailer.season,
        }
    ]


def test_partytime_reads_each_items_tags_back(
    read_back: dict[str, Any], episodes: dict[str, Episode]
) -> None:
    rich = parsed_item(read_back, episodes["rich"])
    assert rich["podcastPeople"] == [
        {"name": "Dana Reporter", "role": "Host", "group": "Cast"},
        {"name": "Sam Guest", "role": "Guest", "group": "Cast", "href": "https://sam.example/about?a=1&b=2"},
    ]
    assert rich["podcastLocation"] == {
        "name": "Marlow",
        "osm": "R3727240",
        "geo": "geo:51.5718706,-0.7769654",
    }
    # Without a title of its own a soundbite gets the show's title from partytime.
    assert rich["podcastSoundbites"] == [
        {"startTime": 73.0, "duration": 60.0, "title": "Why the bridge matters"},
        {"startTime": 1234.5, "duration": 42.25, "title": "The Civic Hour"},
    ]
    assert rich["license"] == CUSTOM_LICENSE
    plain = parsed_item(read_back, episodes["plain"])
    for field in ("podcastPeople", "podcastLocation", "podcastSoundbites", "license"):
        assert field not in plain, field


def test_partytime_sees_no_tag_that_was_not_set() -> None:
    read = partytime(build_feed(make_show(image_key=None), [make_episode(1)], make_links(), NOW))
    for field in ("podcastPeople", "podcastLocation", "trailers", "license", "podcastTxt", "podroll"):
        assert field not in read, field
    assert read["podcastBlocked"] == "no" and not read.get("podcastBlockedPlatforms")
    (only,) = read["items"]
    assert not {"podcastPeople", "podcastLocation", "podcastSoundbites", "license"} & set(only)


def test_feedparser_reads_the_image_and_update_frequency_partytime_skips(
    feed: bytes, episodes: dict[str, Episode]
) -> None:
    """partytime 5 reads neither podcast:image nor podcast:updateFrequency; feedparser keeps their
    attributes (and, for a tag with attributes, not its text)."""
    parsed = feedparser.parse(feed)
    assert parsed.feed["podcast_image"] == {
        "href": "https://pod.example/media/shows/1/image/cover-0a1b2c3d4e5f.jpg",
        "alt": "The Civic Hour",
        "aspect-ratio": "1/1",
        "type": "image/jpeg",
        "purpose": "artwork",
    }
    assert parsed.feed["podcast_updatefrequency"] == {
        "rrule": STATED_FREQUENCY["rrule"],
        "dtstart": STATED_FREQUENCY["dtstart"],
    }
    rich = next(e for e in parsed.entries if e.id == episodes["rich"].guid)
    assert (
        rich["podcast_image"]["href"]
        == "https://pod.example/media/shows/1/episodes/2/image/cover-9f8e7d6c5b4a3210.png"
    )


# --- the size budget ---------------------------------------------------------------------------------------


def test_the_size_budget_counts_the_stored_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fifty people with long addresses per episode take far more than an item's fixed allowance: the feed
    still stays within its budget, the older episodes left out."""
    monkeypatch.setattr(budget, "MAX_FEED_BYTES", 1024 * 1024)
    person = {
        "name": "N" * 128,
        "role": "guest",
        "group": "cast",
        "img": "https://pod.example/" + "i" * 1900,
        "href": "https://pod.example/" + "h" * 1900,
    }
    episodes = [make_episode(n, persons=[person] * 50) for n in range(1, 21)]
    feed = build_feed(make_show(), episodes, make_links(), NOW)
    assert len(feed) <= 1024 * 1024
    assert 0 < len(parse_xml(feed).findall("channel/item")) < 20


# --- the derived update frequency --------------------------------------------------------------------------


def at(*moments: str, zone: str = "UTC") -> list[datetime]:
    """Publishing times written in local time of `zone`, as UTC instants."""
    from zoneinfo import ZoneInfo

    return [datetime.fromisoformat(m).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC) for m in moments]


MONDAYS = ["2025-01-06 09:00", "2025-01-13 09:00", "2025-01-20 09:00", "2025-01-27 09:00"]


@pytest.mark.parametrize(
    ("moments", "language", "text", "rrule"),
    [
        ([f"2025-01-0{d} 07:00" for d in range(1, 6)], "en", "Daily", "FREQ=DAILY"),
        (MONDAYS, "en", "Every Monday", "FREQ=WEEKLY;BYDAY=MO"),
        (MONDAYS, "fr-CA", "Chaque lundi", "FREQ=WEEKLY;BYDAY=MO"),
        (MONDAYS, "ar", "أسبوعيًا، يوم الاثنين", "FREQ=WEEKLY;BYDAY=MO"),
        (MONDAYS, "de", "Every Monday", "FREQ=WEEKLY;BYDAY=MO"),
        (
            ["2025-01-06 09:00", "2025-01-20 09:00", "2025-02-03 09:00", "2025-02-17 09:00"],
            "en",
            "Every other Monday",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO",
        ),
        (
            [
                "2025-01-06 09:00",
                "2025-01-09 09:00",
                "2025-01-13 09:00",
                "2025-01-16 10:00",
                "2025-01-20 09:00",
            ],
            "en",
            "Every Monday and Thursday",
            "FREQ=WEEKLY;BYDAY=MO,TH",
        ),
        (
            [
                "2025-01-06 09:00",
                "2025-01-08 09:00",
                "2025-01-10 09:00",
                "2025-01-13 09:00",
                "2025-01-15 09:00",
            ],
            "ar",
            "أسبوعيًا، أيام الاثنين والأربعاء والجمعة",
            "FREQ=WEEKLY;BYDAY=MO,WE,FR",
        ),
        (
            [f"2025-01-{d:02d} 06:00" for d in (6, 7, 8, 9, 10, 13, 14, 15)],
            "fr",
            "Du lundi au vendredi",
            "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        ),
        (
            ["2024-11-15 12:00", "2024-12-15 12:00", "2025-01-15 12:00", "2025-02-15 12:00"],
            "fr",
            "Tous les mois, le 15",
            "FREQ=MONTHLY;BYMONTHDAY=15",
        ),
    ],
)
def test_a_regular_schedule_is_derived(moments: list[str], language: str, text: str, rrule: str) -> None:
    derived = derive_schedule(at(*moments), "UTC", language)
    assert derived is not None
    assert (derived.text, derived.rrule) == (text, rrule)


def test_days_are_those_of_the_shows_time_zone() -> None:
    # 00:30 on Mondays in Paris is Sunday night in UTC.
    moments = at(*(m.replace("09:00", "00:30") for m in MONDAYS), zone="Europe/Paris")
    assert {m.weekday() for m in moments} == {6}
    in_paris, in_utc = derive_schedule(moments, "Europe/Paris", "en"), derive_schedule(moments, "UTC", "en")
    assert in_paris is not None and in_paris.rrule == "FREQ=WEEKLY;BYDAY=MO"
    assert in_utc is not None and in_utc.rrule == "FREQ=WEEKLY;BYDAY=SU"
    # A zone this server does not know reads the days in UTC.
    assert derive_schedule(moments, "Mars/Olympus_Mons", "en") == in_utc


@pytest.mark.parametrize(
    "moments",
    [
        MONDAYS[:3],  # too few to tell
        ["2025-01-06 09:00", "2025-01-13 09:00", "2025-01-27 09:00", "2025-02-03 09:00"],  # a week skipped
        ["2025-01-06 09:00", "2025-01-07 09:00", "2025-01-09 09:00", "2025-01-13 09:00"],  # no pattern
        ["2025-01-06 09:00", "2025-01-06 18:00", "2025-01-13 09:00", "2025-01-20 09:00"],  # two on a day
        ["2024-11-15 12:00", "2024-12-15 12:00", "2025-02-15 12:00", "2025-03-15 12:00"],  # a month skipped
    ],
)
def test_no_schedule_is_derived_from_irregular_dates(moments: list[str]) -> None:
    assert derive_schedule(at(*moments), "UTC", "en") is None


def test_the_feed_derives_its_schedule_from_full_episodes_published_or_scheduled() -> None:
    start = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)  # a Monday
    episodes = [make_episode(n, publish_at=start + timedelta(weeks=n)) for n in range(4)]
    # Scheduled, a week after the last: it counts. A bonus and a trailer on other days, and a draft, do not.
    episodes.append(make_episode(10, publish_at=start + timedelta(weeks=4)))
    episodes.append(make_episode(11, publish_at=start + timedelta(days=10), episode_type="bonus"))
    episodes.append(make_episode(12, publish_at=start - timedelta(days=3), episode_type="trailer"))
    episodes.append(make_episode(13, publish_at=start + timedelta(days=12), draft=True))
    now = start + timedelta(weeks=3, days=1)
    show = make_show(language="fr", time_zone="Europe/Paris")
    channel = parse_xml(build_feed(show, episodes, make_links(), now)).find("channel")
    (tag,) = tags(channel, "updateFrequency")
    assert (tag.text, attributes(tag)) == ("Chaque lundi", {"rrule": "FREQ=WEEKLY;BYDAY=MO"})
    # The producer's own statement wins over the derived one.
    stated = make_show(update_frequency={"text": "Whenever", "rrule": "", "dtstart": None, "complete": False})
    channel = parse_xml(build_feed(stated, episodes, make_links(), now)).find("channel")
    (tag,) = tags(channel, "updateFrequency")
    assert (tag.text, attributes(tag)) == ("Whenever", {})


# --- a private show's subscriber feed -----------------------------------------------------------------------


def test_a_subscribers_feed_carries_their_token_in_the_trailer_and_image_urls(
    services: Services, client: FlaskClient, admin_token: str
) -> None:
    from test_private_feeds import private_show, subscribe

    private_show(services, client, admin_token, "daily")
    with services.db.session() as session:
        show = session.query(Show).filter_by(slug="daily").one()
        show.image_key = "shows/1/image/cover-0a1b2c3d4e5f.jpg"
        show.block = {"everywhere": False, "platforms": ["google"]}
        (episode,) = show.episodes
        episode.episode_type = "trailer"
        session.commit()
    token = subscribe(services, "daily", "ann@example.com")
    answer = client.get(f"/daily/feed.xml?token={token}")
    assert answer.status_code == 200
    channel = etree.fromstring(answer.data).find("channel")
    (trailer,) = tags(channel, "trailer")
    urls = [trailer.get("url")] + [image.get("href") for image in channel.iterfind(".//podcast:image", NS)]
    assert len(urls) == 3  # the trailer, the show's cover and the episode's
    for url in urls:
        assert urlsplit(url).path.startswith("/media/shows/"), url
        assert parse_qs(urlsplit(url).query) == {"token": [token]}, url
    assert trailer.get("url") == channel.find("item/enclosure").get("url")
    # Blocked everywhere, and nothing else: the show's own block settings would only contradict it.
    assert [(b.text, attributes(b)) for b in tags(channel, "block")] == [("yes", {})]
    assert channel.findtext("itunes:block", namespaces=NS) == "Yes"
