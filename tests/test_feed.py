"""The feed (docs/feeds.md) as three real consumers read it: feedparser, gPodder's podcastparser and Podcast
Index's podcast-partytime (Node, through tests/js/parse.js). Transient Show/Episode objects: no database
needed.
"""

from __future__ import annotations

import html
import io
import json
import random
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import podcastparser
import pytest
from lxml import etree

from podcast_host.feeds.build import FeedLinks, build_feed, clean_text, podcast_guid
from podcast_host.models import Episode, Show
from podcast_host.notes import render_notes_html

# Namespace URIs as the standards spell them (not imported from the code under test).
NS = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
}
JS_DIR = Path(__file__).parent / "js"

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
BASE = "https://pod.example"
FEED_URL = f"{BASE}/civic-hour/feed.xml"
HUBS = ("https://hub.example/", "https://pubsubhubbub.appspot.com/")
SHOW_GUID = podcast_guid(FEED_URL)

HOSTILE = "Q&A <b>bold</b> ]]> a\x07bell 🎙️ and \"quotes\" 'too'"
HOSTILE_CLEAN = "Q&A <b>bold</b> ]]> abell 🎙️ and \"quotes\" 'too'"
ARABIC_TITLE = "الحلقة الثالثة: الأخبار والسياسة"


def make_links(**overrides: Any) -> FeedLinks:
    fields: dict[str, Any] = {
        "feed_url": FEED_URL,
        "show_page_url": f"{BASE}/civic-hour/",
        "image_url": lambda key: f"{BASE}/media/{key}",
        "episode_page_url": lambda ep: f"{BASE}/civic-hour/{ep.slug}/",
        "enclosure_url": lambda ep: f"{BASE}/media/audio/{ep.slug}.mp3",
        "low_data_url": lambda ep: f"{BASE}/media/audio/{ep.slug}.opus",
        "chapters_url": lambda ep: f"{BASE}/civic-hour/{ep.slug}/chapters.json",
        "transcript_url": lambda ep: f"{BASE}/media/transcripts/{ep.transcript_key}",
        "hubs": HUBS,
    }
    return FeedLinks(**{**fields, **overrides})


def make_show(**overrides: Any) -> Show:
    fields: dict[str, Any] = {
        "slug": "civic-hour",
        "title": "The Civic Hour",
        "description": "Local news & politics, weekly.",
        "language": "en",
        "author": "Dana Reporter",
        "email": "dana@pod.example",
        "category": "News/Politics",
        "explicit": False,
        "copyright": "© 2025 Dana Reporter",
        "show_type": "episodic",
        "medium": "podcast",
        "locked": True,
        "funding_url": "https://pod.example/support?tier=1&ref=feed",
        "funding_text": "Support the show",
        # feedgen's own itunes_image drops URLs like this one (".jpeg", a query string).
        "image_key": "covers/civic-hour.jpeg?v=2",
        "podcast_guid": SHOW_GUID,
        "moved_to_url": None,
        "created_at": NOW - timedelta(days=400),
        "updated_at": NOW - timedelta(days=30),
    }
    return Show(**{**fields, **overrides})


def make_episode(n: int, **overrides: Any) -> Episode:
    fields: dict[str, Any] = {
        "guid": f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
        "slug": f"episode-{n}",
        "title": f"Episode {n}",
        "description": f"Notes for **episode {n}**.",
        "season": 1,
        "number": n,
        "episode_type": "full",
        "explicit": False,
        "draft": False,
        "processing_state": "ready",
        "audio_key": f"audio/episode-{n}.mp3",
        "publish_at": NOW - timedelta(days=30 - n),
        "enclosure_length": 1_000_000 + n,
        "enclosure_type": "audio/mpeg",
        "duration_s": 1800.4 + n,
        "image_key": None,
        "chapters": None,
        "transcript_key": None,
        "transcript_type": None,
        "updated_at": NOW - timedelta(days=30 - n),
    }
    return Episode(**{**fields, **overrides})


def catalogue() -> dict[str, Episode]:
    """A show's candidates: four public episodes, one scheduled, one draft, one without audio yet."""
    return {
        "plain": make_episode(1),
        "rich": make_episode(
            2,
            season=2,
            explicit=True,
            image_key="episodes/2/art.jpeg?v=3",
            chapters={"version": "1.2.0", "chapters": [{"startTime": 0, "title": "Intro"}]},
            transcript_key="episode-2.vtt",
            transcript_type="text/vtt",
        ),
        "arabic": make_episode(
            3, title=ARABIC_TITLE, description="ملاحظات **الحلقة** بالعربية.", transcript_key="episode-3.srt"
        ),
        "hostile": make_episode(
            4,
            title=HOSTILE,
            description=f'{HOSTILE}\n\n<script>alert(1)</script><a href="javascript:alert(2)">x</a>',
            episode_type="bonus",
        ),
        "scheduled": make_episode(5, publish_at=NOW + timedelta(hours=1)),
        "draft": make_episode(6, draft=True, publish_at=NOW - timedelta(days=3)),
        "processing": make_episode(7, audio_key=None, processing_state="processing", publish_at=None),
    }


PUBLIC_NEWEST_FIRST = ["hostile", "arabic", "rich", "plain"]


def shuffled(episodes: dict[str, Episode]) -> list[Episode]:
    """Candidates in an arbitrary order: the feed must sort them itself."""
    candidates = list(episodes.values())
    random.Random(7).shuffle(candidates)
    return candidates


@pytest.fixture(scope="module")
def episodes() -> dict[str, Episode]:
    return catalogue()


@pytest.fixture(scope="module")
def feed_bytes(episodes: dict[str, Episode]) -> bytes:
    return build_feed(make_show(), shuffled(episodes), make_links(), NOW)


@pytest.fixture(scope="module")
def channel(feed_bytes: bytes) -> etree._Element:
    return parse_xml(feed_bytes).find("channel")


def parse_xml(data: bytes) -> etree._Element:
    """Strict XML parse: raises on anything not well-formed."""
    return etree.fromstring(data, etree.XMLParser(recover=False, resolve_entities=False))


def items_by_guid(channel: etree._Element) -> dict[str, etree._Element]:
    return {item.findtext("guid"): item for item in channel.findall("item")}


def guids(episodes: dict[str, Episode], names: list[str]) -> list[str]:
    return [episodes[name].guid for name in names]


def partytime(data: bytes) -> dict[str, Any]:
    """podcast-partytime's parseFeed result for these bytes."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed, so podcast-partytime cannot run")
    if not (JS_DIR / "node_modules" / "podcast-partytime").is_dir():
        pytest.fail("podcast-partytime is not installed: run `npm ci --prefix tests/js`")
    done = subprocess.run(
        [node, str(JS_DIR / "parse.js")], input=data, capture_output=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    # The result is the last line, should a dependency ever print to stdout before it.
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def by_partytime(feed_bytes: bytes) -> dict[str, Any]:
    return partytime(feed_bytes)


# The XML itself -------------------------------------------------------------------------------------------


def test_feed_is_well_formed_rss_with_the_four_namespaces(feed_bytes: bytes) -> None:
    root = parse_xml(feed_bytes)
    assert root.tag == "rss" and root.get("version") == "2.0"
    assert feed_bytes.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    for prefix, uri in NS.items():
        assert root.nsmap[prefix] == uri


def test_channel_carries_every_required_tag(channel: etree._Element) -> None:
    assert channel.findtext("title") == "The Civic Hour"
    assert channel.findtext("link") == f"{BASE}/civic-hour/"
    assert (
        channel.findtext("description") == "<p>Local news &amp; politics, weekly.</p>"
    )  # Markdown, rendered
    assert channel.findtext("language") == "en"
    assert channel.findtext("copyright") == "© 2025 Dana Reporter"
    assert channel.find("itunes:image", NS).get("href") == f"{BASE}/media/covers/civic-hour.jpeg?v=2"
    category = channel.find("itunes:category", NS)
    assert category.get("text") == "News"
    assert [sub.get("text") for sub in category] == ["Politics"]
    assert channel.findtext("itunes:explicit", namespaces=NS) == "false"
    assert channel.findtext("itunes:author", namespaces=NS) == "Dana Reporter"
    assert channel.findtext("itunes:owner/itunes:name", namespaces=NS) == "Dana Reporter"
    assert channel.findtext("itunes:owner/itunes:email", namespaces=NS) == "dana@pod.example"
    assert channel.findtext("itunes:type", namespaces=NS) == "episodic"
    assert channel.find("itunes:new-feed-url", NS) is None


def test_channel_carries_the_podcasting_20_tags(channel: etree._Element) -> None:
    assert channel.findtext("podcast:guid", namespaces=NS) == SHOW_GUID
    locked = channel.find("podcast:locked", NS)
    assert (locked.text, locked.get("owner")) == ("yes", "dana@pod.example")
    funding = channel.find("podcast:funding", NS)
    assert (funding.get("url"), funding.text) == (
        "https://pod.example/support?tier=1&ref=feed",
        "Support the show",
    )
    assert channel.findtext("podcast:medium", namespaces=NS) == "podcast"


def test_channel_links_self_and_every_hub(channel: etree._Element) -> None:
    links = [(link.get("rel"), link.get("href")) for link in channel.findall("atom:link", NS)]
    assert ("self", FEED_URL) in links
    assert [href for rel, href in links if rel == "hub"] == list(HUBS)


def test_only_public_episodes_are_listed_newest_first(
    channel: etree._Element, episodes: dict[str, Episode]
) -> None:
    assert [item.findtext("guid") for item in channel.findall("item")] == guids(episodes, PUBLIC_NEWEST_FIRST)


def test_item_carries_every_required_tag(channel: etree._Element, episodes: dict[str, Episode]) -> None:
    rich = episodes["rich"]
    item = items_by_guid(channel)[rich.guid]
    assert item.findtext("title") == "Episode 2"
    assert item.find("guid").get("isPermaLink") == "false"
    assert parsedate_to_datetime(item.findtext("pubDate")) == rich.publish_at
    assert item.findtext("pubDate") == "Sat, 01 Feb 2025 12:00:00 +0000"  # RFC 2822
    enclosure = item.find("enclosure")
    assert dict(enclosure.attrib) == {
        "url": f"{BASE}/media/audio/episode-2.mp3",
        "length": "1000002",
        "type": "audio/mpeg",
    }
    assert item.findtext("itunes:duration", namespaces=NS) == "1802"
    assert item.findtext("description") == "<p>Notes for <strong>episode 2</strong>.</p>"
    assert item.findtext("content:encoded", namespaces=NS) == "<p>Notes for <strong>episode 2</strong>.</p>"
    assert item.findtext("itunes:episode", namespaces=NS) == "2"
    assert item.findtext("itunes:season", namespaces=NS) == "2"
    assert item.findtext("itunes:episodeType", namespaces=NS) == "full"
    assert item.findtext("itunes:explicit", namespaces=NS) == "true"
    assert item.find("itunes:image", NS).get("href") == f"{BASE}/media/episodes/2/art.jpeg?v=3"
    assert item.findtext("link") == f"{BASE}/civic-hour/episode-2/"


def test_item_carries_the_podcasting_20_tags(channel: etree._Element, episodes: dict[str, Episode]) -> None:
    item = items_by_guid(channel)[episodes["rich"].guid]
    assert item.findtext("podcast:season", namespaces=NS) == "2"
    assert item.findtext("podcast:episode", namespaces=NS) == "2"
    transcript = item.find("podcast:transcript", NS)
    assert dict(transcript.attrib) == {
        "url": f"{BASE}/media/transcripts/episode-2.vtt",
        "type": "text/vtt",
        "language": "en",
        "rel": "captions",
    }
    chapters = item.find("podcast:chapters", NS)
    assert dict(chapters.attrib) == {
        "url": f"{BASE}/civic-hour/episode-2/chapters.json",
        "type": "application/json+chapters",
    }


def test_srt_transcript_gets_the_namespace_mime_type(
    channel: etree._Element, episodes: dict[str, Episode]
) -> None:
    transcript = items_by_guid(channel)[episodes["arabic"].guid].find("podcast:transcript", NS)
    assert transcript.get("type") == "application/x-subrip"


def test_optional_item_tags_are_left_out_when_unset(
    channel: etree._Element, episodes: dict[str, Episode]
) -> None:
    item = items_by_guid(channel)[episodes["plain"].guid]
    for tag in ("itunes:image", "podcast:transcript", "podcast:chapters"):
        assert item.find(tag, NS) is None
    assert item.findtext("itunes:explicit", namespaces=NS) == "false"


def test_explicit_is_true_or_false_never_yes_or_no(episodes: dict[str, Episode]) -> None:
    data = build_feed(make_show(explicit=True), shuffled(episodes), make_links(), NOW)
    channel = parse_xml(data).find("channel")
    assert channel.findtext("itunes:explicit", namespaces=NS) == "true"
    values = {element.text for element in channel.iter(f"{{{NS['itunes']}}}explicit")}
    assert values == {"true", "false"}


# Determinism and time --------------------------------------------------------------------------------------


def test_same_input_gives_identical_bytes(feed_bytes: bytes) -> None:
    again = build_feed(make_show(), shuffled(catalogue()), make_links(), NOW)
    assert again == feed_bytes


def test_bytes_do_not_change_with_the_clock_alone(feed_bytes: bytes) -> None:
    # Ten minutes later nothing new is public: same bytes, so the same ETag.
    later = build_feed(make_show(), shuffled(catalogue()), make_links(), NOW + timedelta(minutes=10))
    assert later == feed_bytes


def test_last_build_date_is_the_latest_change_not_now(
    channel: etree._Element, episodes: dict[str, Episode]
) -> None:
    # Drafts count too: a change to any candidate may change what the feed lists.
    latest = max([make_show().updated_at, *(ep.updated_at for ep in episodes.values())])
    assert parsedate_to_datetime(channel.findtext("lastBuildDate")) == latest
    assert latest < NOW


def test_scheduled_episode_appears_at_its_time_and_moves_last_build_date(
    episodes: dict[str, Episode],
) -> None:
    scheduled = episodes["scheduled"]
    before = parse_xml(build_feed(make_show(), shuffled(episodes), make_links(), NOW)).find("channel")
    after_time = scheduled.publish_at + timedelta(seconds=1)
    after = parse_xml(build_feed(make_show(), shuffled(episodes), make_links(), after_time)).find("channel")
    assert scheduled.guid not in items_by_guid(before)
    assert after.find("item/guid").text == scheduled.guid
    assert parsedate_to_datetime(after.findtext("lastBuildDate")) == scheduled.publish_at


def test_unpublishing_an_episode_moves_last_build_date_forward() -> None:
    episodes = catalogue()
    before = build_feed(make_show(), shuffled(episodes), make_links(), NOW)
    episodes["hostile"].draft = True
    episodes["hostile"].updated_at = NOW - timedelta(minutes=1)
    after = build_feed(make_show(), shuffled(episodes), make_links(), NOW)
    date = parse_xml(after).find("channel").findtext("lastBuildDate")
    assert parsedate_to_datetime(date) == NOW - timedelta(minutes=1)
    assert parsedate_to_datetime(date) > parsedate_to_datetime(
        parse_xml(before).findtext("channel/lastBuildDate")
    )


def test_an_episode_without_a_known_audio_length_is_left_out() -> None:
    data = build_feed(
        make_show(), [make_episode(1, enclosure_length=None), make_episode(2)], make_links(), NOW
    )
    assert [item.findtext("itunes:episode", namespaces=NS) for item in parse_xml(data).iter("item")] == ["2"]


def empty_feed() -> bytes:
    """A show whose only episode is an old draft."""
    draft = make_episode(1, draft=True, updated_at=NOW - timedelta(days=90))
    return build_feed(make_show(), [draft], make_links(), NOW)


def test_a_show_with_no_public_episode_still_has_a_valid_feed() -> None:
    data = empty_feed()
    channel = parse_xml(data).find("channel")
    assert channel.findall("item") == []
    assert parsedate_to_datetime(channel.findtext("lastBuildDate")) == make_show().updated_at
    assert feedparser.parse(data).feed.title == "The Civic Hour"
    assert podcastparser.parse(FEED_URL, io.BytesIO(data))["episodes"] == []


def test_partytime_reads_a_feed_without_items() -> None:
    parsed = partytime(empty_feed())
    assert (parsed["title"], parsed["items"]) == ("The Civic Hour", [])


# Show settings ---------------------------------------------------------------------------------------------


def test_moved_show_carries_new_feed_url(episodes: dict[str, Episode]) -> None:
    new_url = "https://elsewhere.example/civic-hour.rss"
    data = build_feed(make_show(), shuffled(episodes), make_links(new_feed_url=new_url), NOW)
    assert parse_xml(data).findtext("channel/itunes:new-feed-url", namespaces=NS) == new_url
    assert podcastparser.parse(FEED_URL, io.BytesIO(data))["new_url"] == new_url
    moved = build_feed(make_show(moved_to_url=new_url), shuffled(episodes), make_links(), NOW)
    assert parse_xml(moved).findtext("channel/itunes:new-feed-url", namespaces=NS) == new_url


def test_stored_podcast_guid_is_kept_when_the_feed_url_changes(episodes: dict[str, Episode]) -> None:
    links = make_links(feed_url="https://new-host.example/feeds/civic.xml")
    data = build_feed(make_show(), shuffled(episodes), links, NOW)
    assert parse_xml(data).findtext("channel/podcast:guid", namespaces=NS) == SHOW_GUID
    unsaved = build_feed(make_show(podcast_guid=None), shuffled(episodes), links, NOW)
    computed = podcast_guid("https://new-host.example/feeds/civic.xml")
    assert parse_xml(unsaved).findtext("channel/podcast:guid", namespaces=NS) == computed


def test_unlocked_show_without_funding_or_image(episodes: dict[str, Episode]) -> None:
    show = make_show(locked=False, funding_url="", funding_text="", image_key=None, description="")
    channel = parse_xml(build_feed(show, shuffled(episodes), make_links(), NOW)).find("channel")
    assert channel.findtext("podcast:locked", namespaces=NS) == "no"
    assert channel.find("podcast:funding", NS) is None
    assert channel.find("itunes:image", NS) is None
    assert channel.findtext("description") == "The Civic Hour"  # RSS needs one: the title stands in


def test_serial_show_and_medium(episodes: dict[str, Episode]) -> None:
    show = make_show(show_type="serial", medium="audiobook")
    channel = parse_xml(build_feed(show, shuffled(episodes), make_links(), NOW)).find("channel")
    assert channel.findtext("itunes:type", namespaces=NS) == "serial"
    assert channel.findtext("podcast:medium", namespaces=NS) == "audiobook"


def test_unknown_stored_category_is_left_out_rather_than_breaking_the_feed(
    episodes: dict[str, Episode],
) -> None:
    data = build_feed(
        make_show(category="Games & Hobbies/Other Games"), shuffled(episodes), make_links(), NOW
    )
    channel = parse_xml(data).find("channel")
    assert channel.find("itunes:category", NS) is None
    assert len(channel.findall("item")) == len(PUBLIC_NEWEST_FIRST)


# The three consumers ---------------------------------------------------------------------------------------


def test_feedparser_reads_channel_and_every_item(feed_bytes: bytes, episodes: dict[str, Episode]) -> None:
    parsed = feedparser.parse(feed_bytes)
    assert not parsed.bozo, parsed.get("bozo_exception")
    feed = parsed.feed
    assert (feed.title, feed.link, feed.language) == ("The Civic Hour", f"{BASE}/civic-hour/", "en")
    assert feed.image.href == f"{BASE}/media/covers/civic-hour.jpeg?v=2"
    assert feed.author_detail.name == "Dana Reporter"
    assert feed.publisher_detail.email == "dana@pod.example"
    assert [tag.term for tag in feed.tags] == ["News", "Politics"]
    assert feed.itunes_type == "episodic"
    assert feed.podcast_guid == SHOW_GUID
    assert feed.podcast_medium == "podcast"
    assert {link.rel for link in feed.links} >= {"self", "hub"}
    # feedparser 6.0.14 maps itunes:explicit true/false to None, its bug: not asserted here
    # (docs/feeds.md, "Consumer quirks we test around").
    assert [entry.id for entry in parsed.entries] == guids(episodes, PUBLIC_NEWEST_FIRST)
    rich = parsed.entries[PUBLIC_NEWEST_FIRST.index("rich")]
    assert rich.guidislink is False
    assert rich.enclosures[0].href == f"{BASE}/media/audio/episode-2.mp3"
    assert rich.enclosures[0].length == "1000002"
    assert rich.itunes_duration == "1802"
    assert (rich.itunes_season, rich.itunes_episode, rich.itunes_episodetype) == ("2", "2", "full")
    assert rich.image.href == f"{BASE}/media/episodes/2/art.jpeg?v=3"
    assert rich.content[0].value == "<p>Notes for <strong>episode 2</strong>.</p>"
    assert datetime(*rich.published_parsed[:6], tzinfo=UTC) == episodes["rich"].publish_at
    assert rich.podcast_chapters["type"] == "application/json+chapters"
    assert rich.podcast_transcript["type"] == "text/vtt"


def test_podcastparser_reads_channel_and_every_item(feed_bytes: bytes, episodes: dict[str, Episode]) -> None:
    parsed = podcastparser.parse(FEED_URL, io.BytesIO(feed_bytes))
    assert parsed["title"] == "The Civic Hour"
    assert parsed["link"] == f"{BASE}/civic-hour/"
    assert parsed["cover_url"] == f"{BASE}/media/covers/civic-hour.jpeg?v=2"
    assert parsed["itunes_categories"] == [["News", "Politics"]]
    assert parsed["itunes_owner"] == {"name": "Dana Reporter", "email": "dana@pod.example"}
    assert (parsed["type"], parsed["explicit"]) == ("episodic", False)
    # podcastparser only maps the namespace's old GitHub URI: no podcast:* data to check here.
    assert [ep["guid"] for ep in parsed["episodes"]] == guids(episodes, PUBLIC_NEWEST_FIRST)
    rich = parsed["episodes"][PUBLIC_NEWEST_FIRST.index("rich")]
    assert rich["enclosures"] == [
        {"url": f"{BASE}/media/audio/episode-2.mp3", "file_size": 1000002, "mime_type": "audio/mpeg"}
    ]
    assert (rich["total_time"], rich["season"], rich["number"], rich["type"]) == (1802, 2, 2, "full")
    assert rich["explicit"] is True
    assert rich["episode_art_url"] == f"{BASE}/media/episodes/2/art.jpeg?v=3"
    assert rich["published"] == int(episodes["rich"].publish_at.timestamp())
    assert rich["link"] == f"{BASE}/civic-hour/episode-2/"


def test_partytime_reads_channel_and_podcasting_20_tags(by_partytime: dict[str, Any]) -> None:
    feed = by_partytime
    assert (feed["title"], feed["link"], feed["language"]) == ("The Civic Hour", f"{BASE}/civic-hour/", "en")
    assert feed["itunesImage"] == f"{BASE}/media/covers/civic-hour.jpeg?v=2"
    assert feed["itunesCategory"] == ["News > Politics"]
    assert feed["explicit"] is False
    assert feed["itunesType"] == "episodic"
    assert feed["owner"] == {"name": "Dana Reporter", "email": "dana@pod.example"}
    assert feed["pubsub"]["self"] == FEED_URL
    assert feed["guid"] == SHOW_GUID
    assert (feed["locked"], feed["podcastOwner"]) == (True, "dana@pod.example")
    assert feed["podcastFunding"] == [
        {"url": "https://pod.example/support?tier=1&ref=feed", "message": "Support the show"}
    ]
    assert feed["medium"] == "podcast"


def test_partytime_sees_every_item_with_its_tags(
    by_partytime: dict[str, Any], episodes: dict[str, Episode]
) -> None:
    items = by_partytime["items"]
    assert [item["guid"] for item in items] == guids(episodes, PUBLIC_NEWEST_FIRST)
    rich = items[PUBLIC_NEWEST_FIRST.index("rich")]
    assert rich["enclosure"] == {
        "url": f"{BASE}/media/audio/episode-2.mp3",
        "length": 1000002,
        "type": "audio/mpeg",
    }
    assert (rich["duration"], rich["explicit"], rich["itunesEpisodeType"]) == (1802, True, "full")
    assert (rich["podcastSeason"], rich["podcastEpisode"]) == ({"number": 2}, {"number": 2})
    assert rich["podcastChapters"] == {
        "url": f"{BASE}/civic-hour/episode-2/chapters.json",
        "type": "application/json+chapters",
    }
    assert rich["podcastTranscripts"] == [
        {
            "url": f"{BASE}/media/transcripts/episode-2.vtt",
            "type": "text/vtt",
            "language": "en",
            "rel": "captions",
        }
    ]
    # partytime reports SRT under its own name for the type.
    arabic = items[PUBLIC_NEWEST_FIRST.index("arabic")]
    assert arabic["podcastTranscripts"][0]["type"] == "application/srt"
    assert items[PUBLIC_NEWEST_FIRST.index("hostile")]["itunesEpisodeType"] == "bonus"


# Producer text that would break a hand-made feed ----------------------------------------------------------


def hostile_and_arabic(titles: list[str]) -> list[str]:
    return [titles[PUBLIC_NEWEST_FIRST.index("hostile")], titles[PUBLIC_NEWEST_FIRST.index("arabic")]]


def test_hostile_and_arabic_titles_round_trip_through_the_python_consumers(feed_bytes: bytes) -> None:
    raw = [item.findtext("title") for item in parse_xml(feed_bytes).iter("item")]
    # feedparser guesses HTML for a title holding a tag, and then hands it out HTML-escaped.
    by_feedparser = [
        html.unescape(entry.title) if entry.title_detail.type == "text/html" else entry.title
        for entry in feedparser.parse(feed_bytes).entries
    ]
    by_podcastparser = [
        ep["title"] for ep in podcastparser.parse(FEED_URL, io.BytesIO(feed_bytes))["episodes"]
    ]
    for titles in (raw, by_feedparser, by_podcastparser):
        assert hostile_and_arabic(titles) == [HOSTILE_CLEAN, ARABIC_TITLE]


def test_hostile_and_arabic_titles_round_trip_through_partytime(by_partytime: dict[str, Any]) -> None:
    titles = [item["title"] for item in by_partytime["items"]]
    assert hostile_and_arabic(titles) == [HOSTILE_CLEAN, ARABIC_TITLE]


def test_hostile_notes_are_escaped_and_sanitized(feed_bytes: bytes, episodes: dict[str, Episode]) -> None:
    item = items_by_guid(parse_xml(feed_bytes).find("channel"))[episodes["hostile"].guid]
    html = item.findtext("content:encoded", namespaces=NS)
    assert "<b>bold</b>" in html and "]]&gt;" in html and "🎙️" in html
    assert "\x07" not in html and "script" not in html and "javascript:" not in html
    assert b"\x07" not in feed_bytes


LONG_TEXT = ("طويل & <i>long</i> ]]> \x00\x1b " * 4_000).strip()  # ~120k characters


@pytest.fixture(scope="module")
def huge_feed() -> bytes:
    """Every show text hostile, and an episode whose title and notes are ~120k characters each."""
    show = make_show(
        title=HOSTILE, description=LONG_TEXT, author=HOSTILE, copyright=HOSTILE, funding_text=HOSTILE
    )
    return build_feed(show, [make_episode(1, title=LONG_TEXT, description=LONG_TEXT)], make_links(), NOW)


def test_huge_and_hostile_show_fields_keep_the_feed_well_formed(huge_feed: bytes) -> None:
    root = parse_xml(huge_feed)
    assert root.findtext("channel/title") == HOSTILE_CLEAN
    assert root.findtext("channel/item/title") == clean_text(LONG_TEXT)
    assert not feedparser.parse(huge_feed).bozo
    assert podcastparser.parse(FEED_URL, io.BytesIO(huge_feed))["title"] == HOSTILE_CLEAN


def test_partytime_reads_huge_and_hostile_fields(huge_feed: bytes) -> None:
    parsed = partytime(huge_feed)
    assert parsed["title"] == HOSTILE_CLEAN
    # partytime collapses runs of whitespace in titles.
    assert parsed["items"][0]["title"] == " ".join(clean_text(LONG_TEXT).split())


# podcast:guid, notes, text cleaning ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("feed_url", "expected"),
    [
        ("podnews.net/rss", "9b024349-ccf0-5f69-a609-6b82873eab3c"),
        ("https://podnews.net/rss", "9b024349-ccf0-5f69-a609-6b82873eab3c"),
        ("https://podnews.net/rss/", "9b024349-ccf0-5f69-a609-6b82873eab3c"),
        ("mp3s.nashownotes.com/pc20rss.xml", "917393e3-1b1e-5cef-ace4-edaa54e1f810"),
        ("https://mp3s.nashownotes.com/pc20rss.xml", "917393e3-1b1e-5cef-ace4-edaa54e1f810"),
        ("http://mp3s.nashownotes.com/pc20rss.xml//", "917393e3-1b1e-5cef-ace4-edaa54e1f810"),
    ],
)
def test_podcast_guid_matches_the_namespace_examples(feed_url: str, expected: str) -> None:
    assert podcast_guid(feed_url) == expected


def test_clean_text_strips_control_characters_but_keeps_tab_newline_and_scripts() -> None:
    assert clean_text("a\x00b\x07c\x1bd\x7fe\x85f") == "abcdef"
    assert clean_text("line\tone\nline two\r\nthree\rfour") == "line\tone\nline two\nthree\nfour"
    assert clean_text(f"{ARABIC_TITLE} 🎙️ \u200f") == f"{ARABIC_TITLE} 🎙️ \u200f"
    assert clean_text("bad\ufffe\uffff\ud800end") == "badend"


def test_notes_render_markdown_and_drop_anything_executable() -> None:
    html = render_notes_html(
        "# Title\n\n**bold** and [a link](https://example.com/?a=1&b=2)\n\n"
        '<img src="x" onerror="alert(1)"><a href="javascript:alert(2)" onclick="x()">click</a>'
        "<script>alert(3)</script>[js](javascript:alert(4))"
    )
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert 'href="https://example.com/?a=1&amp;b=2"' in html
    for bad in ("onerror", "onclick", 'href="javascript:', "<script", "alert(3)", "<img"):
        assert bad not in html
    assert render_notes_html("") == ""


def test_the_feed_carries_the_html_stored_when_the_notes_were_saved() -> None:
    show = make_show(description="Markdown *source*", description_html="<p>stored show html</p>")
    episode = make_episode(1, description="Markdown **source**", notes_html="<p>stored notes html</p>")
    channel = parse_xml(build_feed(show, [episode], make_links(), NOW)).find("channel")
    assert channel.findtext("description") == "<p>stored show html</p>"
    (item,) = channel.findall("item")
    assert item.findtext("description") == "<p>stored notes html</p>"
    assert item.findtext("content:encoded", namespaces=NS) == "<p>stored notes html</p>"


def test_rows_saved_before_the_html_was_stored_are_rendered_for_the_feed() -> None:
    show = make_show(description="Markdown *source*", description_html=None)
    episode = make_episode(1, description="Markdown **source**", notes_html=None)
    channel = parse_xml(build_feed(show, [episode], make_links(), NOW)).find("channel")
    assert channel.findtext("description") == "<p>Markdown <em>source</em></p>"
    assert channel.find("item").findtext("description") == "<p>Markdown <strong>source</strong></p>"


def test_each_row_without_stored_html_is_rendered_once_per_build(monkeypatch: pytest.MonkeyPatch) -> None:
    from podcast_host import notes

    rendered: list[str] = []
    render = notes._render

    def counted(text: str) -> str:
        rendered.append(text)
        return render(text)

    monkeypatch.setattr(notes, "_render", counted)
    show = make_show(description="The *show*", description_html=None)
    episodes = [make_episode(n, description=f"Notes {n}", notes_html=None) for n in (1, 2, 3)]
    items = parse_xml(build_feed(show, episodes, make_links(), NOW)).findall("channel/item")
    assert len(items) == 3
    assert sorted(rendered) == ["Notes 1", "Notes 2", "Notes 3", "The *show*"]


# --- size -------------------------------------------------------------------------------------------------


def test_a_feed_keeps_the_newest_items_within_its_byte_budget(caplog: pytest.LogCaptureFixture) -> None:
    """100 episodes of 128 KB of '&' would make a 47 MB feed: the newest fill the budget, no more."""
    from podcast_host.feeds.budget import MAX_FEED_BYTES

    heavy = "<p>" + "&amp;" * 26_000 + "</p>"
    many = [
        make_episode(
            n, notes_html=heavy, publish_at=NOW - timedelta(hours=200 - n), updated_at=NOW - timedelta(days=1)
        )
        for n in range(1, 101)
    ]
    with caplog.at_level("WARNING", logger="podcast_host.feeds.budget"):
        data = build_feed(make_show(), many, make_links(), NOW)
    one_item = len(build_feed(make_show(), many[:1], make_links(), NOW)) - len(
        build_feed(make_show(), [], make_links(), NOW)
    )
    # Filled up to the budget: the next item would not have fitted.
    assert MAX_FEED_BYTES - one_item < len(data) <= MAX_FEED_BYTES
    items = parse_xml(data).findall("channel/item")
    assert len(items) < len(many)
    # Newest first, with no gap: what is left out is the oldest.
    assert [item.findtext("guid") for item in items] == [e.guid for e in reversed(many)][: len(items)]
    assert "older" in caplog.text and "civic-hour" in caplog.text


def test_an_ordinary_large_show_keeps_every_item() -> None:
    notes = (
        "<p>"
        + "An ordinary paragraph of show notes, with a <a href='https://e.example/'>link</a>. " * 60
        + "</p>"
    )
    many = [
        make_episode(n, notes_html=notes, publish_at=NOW - timedelta(hours=2000 - n)) for n in range(1, 1001)
    ]
    items = parse_xml(build_feed(make_show(), many, make_links(), NOW)).findall("channel/item")
    assert len(items) == 1000
