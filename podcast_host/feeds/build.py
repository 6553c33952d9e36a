"""Show + episodes -> the RSS feed (docs/feeds.md, "What the feed carries"). Pure: no I/O, no clock. The
items it writes are kept per episode version (item_cache.py) and used again, to the same bytes.

The only module that imports feedgen; podcast_ns.py holds the tags feedgen lacks. Both load with the first
feed a process builds (feedgen and lxml take about 10 MB), so an idle server, or one that only reads a
podcast_guid from here, never holds them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from posixpath import splitext
from typing import TYPE_CHECKING

from podcast_host.feeds import namespace_values
from podcast_host.feeds.categories import validate_category
from podcast_host.feeds.item_cache import ITEMS, KeptItem, split_items
from podcast_host.feeds.schedule import derive_schedule
from podcast_host.limits import KIB, MIB, format_size
from podcast_host.models import Episode, Show
from podcast_host.namespace_fields import license_url
from podcast_host.notes import clean_text, stored_notes_html
from podcast_host.storage import SERVED_TYPES

if TYPE_CHECKING:
    from feedgen.entry import FeedEntry
    from feedgen.feed import FeedGenerator

    from podcast_host.feeds.podcast_ns import (
        AlternateEnclosure,
        Image,
        License,
        Location,
        Person,
        PodcastChannelExtension,
        PodcastItemExtension,
        RemoteItem,
        Soundbite,
        Trailer,
        Transcript,
        Txt,
        UpdateFrequency,
    )

__all__ = ["FeedLinks", "build_feed", "clean_text", "podcast_guid"]

log = logging.getLogger(__name__)

# podcast-namespace docs/tags/guid.md: UUIDv5 of the feed URL without scheme and trailing slashes.
PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")

# podcast-namespace docs/tags/transcript.md names SRT "application/x-subrip"; older tools wrote the others.
_TRANSCRIPT_TYPES_BY_SUFFIX = {".vtt": "text/vtt", ".srt": "application/x-subrip"}
_SRT_ALIASES = frozenset({"application/srt", "text/srt", "application/x-srt"})
_TIMED_TRANSCRIPT_TYPES = frozenset({"text/vtt", "application/x-subrip"})
# The low-data file's type in the feed: the namespace's own examples name Opus "audio/opus" (the file itself
# is Ogg Opus, served as audio/ogg).
LOW_DATA_TYPE = "audio/opus"

# The most a feed weighs (docs/feeds.md, "Size"): the newest items that fit, the older ones left out. A
# 1,000-episode show with ordinary notes takes about 1.5 MB; apps fetch the whole feed on every refresh.
MAX_FEED_BYTES = 16 * MIB
# An item's bytes besides its title and notes (guid, links, enclosure, tags), rounded up.
_ITEM_BYTES = 2 * KIB
_CHANNEL_BYTES = 8 * KIB
# A Podcasting 2.0 entry's bytes besides its values and their names (its tag, indentation), rounded up:
# people, places, soundbites and the rest are counted value by value, since a show may store many long ones.
_ENTRY_BYTES = 96
# podcast:image beside itunes:image: the URL again, the title as alt text, the attributes.
_IMAGE_BYTES = 1 * KIB
_JSON = json.JSONEncoder(ensure_ascii=False, default=str)

# podcast:image (docs/tags/image.md). Covers are square (artwork.py keeps them so); their pixel size is not
# stored, so width and height are left out rather than guessed (docs/feeds.md, "Podcasting 2.0 tags").
COVER_ASPECT_RATIO = "1/1"
COVER_PURPOSE = "artwork"
# The namespace's slug for Apple (serviceslugs.txt): blocking it blocks Apple's own tag too.
APPLE_SLUG = "apple"
# A key whose image URL tells where the feed's images and transcripts are served (MEDIA_URL or the app).
_SAMPLE_IMAGE_KEY = "sample.jpg"


@dataclass(frozen=True)
class FeedLinks:
    """Every absolute URL the feed needs, computed by the web layer. An episode's URLs depend on its row, on
    the feed's own URLs and on where images are served (`image_url`) alone: a feed's items are kept and used
    again on those terms (see _item_scope)."""

    feed_url: str  # this feed (atom:link rel=self)
    show_page_url: str
    image_url: Callable[[str], str]  # image key -> absolute URL
    episode_page_url: Callable[[Episode], str | None]  # None: the item has no <link>
    enclosure_url: Callable[[Episode], str]
    low_data_url: Callable[[Episode], str]  # used only when episode.low_data_key
    chapters_url: Callable[[Episode], str]  # used only when episode.chapters
    transcript_url: Callable[[Episode], str]  # used only when episode.transcript_key
    hubs: tuple[str, ...] = ()  # WebSub hubs -> atom:link rel="hub"
    new_feed_url: str | None = None  # itunes:new-feed-url after a move
    # A private show's feed, made for its subscribers alone: it asks directories to keep it out
    # (itunes:block, podcast:block) and carries no podcast:locked, whose owner= would give away the e-mail.
    private: bool = False


def podcast_guid(feed_url: str) -> str:
    """The podcast:guid for a feed URL: UUIDv5 of the URL without its scheme and trailing slashes."""
    seed = _SCHEME.sub("", feed_url.strip()).rstrip("/")
    return str(uuid.uuid5(PODCAST_GUID_NAMESPACE, seed))


def build_feed(show: Show, episodes: Sequence[Episode], links: FeedLinks, now: datetime) -> bytes:
    """The RSS bytes for a show: the episodes public at `now`, newest first, as many as fit in
    MAX_FEED_BYTES; same input, same bytes."""
    listed = _listed_episodes(episodes, now)
    # Each row's HTML is read (or, for a row saved before it was stored, rendered) once per build.
    description = stored_notes_html(show)
    fg = _channel(show, description, links)
    fg.lastBuildDate(_last_build_date(show, episodes, listed, now))
    if listed:
        fg.pubDate(listed[0].publish_at)
    # Published episodes alone: a scheduled one must not show, even as a change of the stated rhythm.
    fg.podcast_index.update_frequency = _update_frequency(show, listed)
    planned = _within(show, description, listed, _item_scope(show, links))
    fg.podcast_index.trailers = _trailers([plan.episode for plan in planned], links)
    # feedgen writes the items no kept bytes stand for; the kept ones go in their places afterwards.
    missing = [plan for plan in planned if plan.xml is None]
    for plan in missing:
        # Explicit order: feedgen prepends by default.
        _fill_item(fg.add_entry(order="append"), plan.episode, plan.notes, links, show.language or "en")
    feed: bytes = fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    return _with_kept_items(feed, planned, missing)


@dataclass(slots=True)
class _PlannedItem:
    """An episode the feed carries: its item's key in ITEMS (None: not kept), and its bytes when kept."""

    episode: Episode
    key: Hashable | None
    size: int
    notes: str = ""  # read only when the item is written
    xml: bytes | None = None


def _item_scope(show: Show, links: FeedLinks) -> tuple[str, ...] | None:
    """What an item's bytes depend on besides its episode's row: the feed's URLs (and so the show's slug and
    PUBLIC_URL), where images are served, the show's language. None for a subscriber's feed, whose URLs carry
    a placeholder drawn anew at each render: its items are not kept."""
    if links.private:
        return None
    return (links.feed_url, links.show_page_url, links.image_url(_SAMPLE_IMAGE_KEY), show.language or "en")


def _item_key(scope: tuple[str, ...] | None, episode: Episode) -> Hashable | None:
    """An item's key in ITEMS: its feed's scope and its episode's version. Every change of an episode's row
    moves its updated_at (the ORM's onupdate, which the feed's own cache check relies on too); the guid tells
    apart two databases one process may serve in turn. A row never stored (no id) is never kept.

    The key is the SHA-256 of their repr (strings quoted and escaped: no two tuples give one text). The tuple
    itself, with its time stamp and guid, took half as much room again per item as the cap counts
    (item_cache.py)."""
    row_id, updated_at = episode.id, episode.updated_at
    if scope is None or row_id is None or updated_at is None:
        return None
    return hashlib.sha256(repr((scope, row_id, updated_at.isoformat(), episode.guid)).encode()).digest()


def _within(
    show: Show, description: str, listed: list[Episode], scope: tuple[str, ...] | None
) -> list[_PlannedItem]:
    """The newest episodes whose items fit in MAX_FEED_BYTES, sized as lxml writes them (escaped, notes
    twice). A kept item brings its size along: the budget, and so the bytes, do not depend on the cache."""
    spent = _CHANNEL_BYTES + _escaped_size(description) + _escaped_size(show.title or "")
    spent += _values_size(
        show.persons, show.locations, show.license, show.txt, show.podroll, show.update_frequency
    )
    planned = []
    for count, episode in enumerate(listed):
        key = _item_key(scope, episode)
        kept = ITEMS.get(key) if key is not None else None
        if kept is not None:
            plan = _PlannedItem(episode, key, kept.size, xml=kept.xml)
        else:
            notes = stored_notes_html(episode)
            plan = _PlannedItem(episode, key, _item_size(episode, notes), notes=notes)
        spent += plan.size
        if spent > MAX_FEED_BYTES:
            log.warning(
                "show %s: the feed carries the newest %d of %d episodes; the %d older ones would take it "
                "past %s (they stay on the show's pages)",
                show.slug,
                count,
                len(listed),
                len(listed) - count,
                format_size(MAX_FEED_BYTES),
            )
            break
        planned.append(plan)
    return planned


def _item_size(episode: Episode, notes: str) -> int:
    """The budget's estimate of an episode's item, with its share of the channel (podcast:trailer)."""
    title = _escaped_size(episode.title or "")
    size = _ITEM_BYTES + title + 2 * _escaped_size(notes)
    size += _values_size(episode.persons, episode.locations, episode.soundbites, episode.license)
    if episode.episode_type == "trailer":  # the channel's podcast:trailer repeats its title
        size += _ENTRY_BYTES + title
    if episode.image_key:
        size += _IMAGE_BYTES + title
    return size


def _with_kept_items(feed: bytes, planned: list[_PlannedItem], missing: list[_PlannedItem]) -> bytes:
    """The feed feedgen wrote with the `missing` items alone, with every planned item in its place: the
    missing ones as written, and kept from now on, the others as they were kept."""
    head, written, tail = split_items(feed)
    for plan, xml in zip(missing, written, strict=True):
        plan.xml = xml
        if plan.key is not None:
            ITEMS.put(plan.key, KeptItem(xml, plan.size))
    return b"".join((head, *(plan.xml for plan in planned if plan.xml is not None), tail))


def _values_size(*fields: object) -> int:
    """About the bytes stored Podcasting 2.0 values take as tags: their JSON, whose keys and punctuation stand
    for the attribute names and quotes, plus what XML escaping adds, plus each entry's tag. One dump in C for
    all the fields: a 1,000-episode feed counts every value of every episode on each render."""
    present = [field for field in fields if field]
    if not present:
        return 0
    dump = _JSON.encode(present)
    # A quote inside a value is \" in JSON and &quot; in an attribute: 4 bytes more.
    escaping = 4 * dump.count("&") + 3 * (dump.count("<") + dump.count(">")) + 4 * dump.count('\\"')
    entries = sum(len(field) if isinstance(field, list) else 1 for field in present)
    return len(dump.encode("utf-8", errors="surrogatepass")) + escaping + _ENTRY_BYTES * entries


def _escaped_size(text: str) -> int:
    """UTF-8 bytes of `text` as XML character data: & becomes &amp; (+4), < and > &lt; and &gt; (+3)."""
    return (
        len(text.encode("utf-8", errors="surrogatepass"))
        + 4 * text.count("&")
        + 3 * (text.count("<") + text.count(">"))
    )


def _listed_episodes(episodes: Sequence[Episode], now: datetime) -> list[Episode]:
    """The episodes a feed shows at `now`, newest first; ties broken so that the order is stable."""
    public = [ep for ep in episodes if ep.is_public_at(now) and ep.enclosure_length is not None]
    return sorted(public, key=_newest_first_key, reverse=True)


def _newest_first_key(episode: Episode) -> tuple[datetime, int, str]:
    published, number = episode.publish_at, episode.number
    assert published is not None  # listed, so public: Episode.is_public_at wants a date
    return (published, -1 if number is None else number, episode.guid or "")


def _last_build_date(
    show: Show, candidates: Sequence[Episode], listed: list[Episode], now: datetime
) -> datetime:
    """The latest change the feed reflects, not the clock: bytes (and ETag) change only with the content."""
    # Every candidate counts, so unpublishing an episode moves the date forward; so does every listed
    # publish_at, so a scheduled episode going live does too.
    stamps = [show.updated_at, *(ep.updated_at for ep in candidates), *(ep.publish_at for ep in listed)]
    past = [stamp for stamp in stamps if stamp is not None and stamp <= now]
    return max(past, default=now)


def _channel(show: Show, description: str, links: FeedLinks) -> FeedGenerator:
    from feedgen.feed import FeedGenerator

    from podcast_host.feeds.podcast_ns import PodcastChannelExtension, PodcastItemExtension

    fg = FeedGenerator()
    fg.load_extension("podcast")  # feedgen's iTunes tags
    fg.register_extension("podcast_index", PodcastChannelExtension, PodcastItemExtension, atom=False)
    title = clean_text(show.title)
    fg.title(title)
    # The show description is Markdown like the episode notes: apps get the same sanitized HTML.
    fg.description(description or title)  # RSS requires a non-empty one
    # feedgen takes the last link added as the RSS <link>, so the self link goes first.
    fg.link(href=links.feed_url, rel="self", type="application/rss+xml")
    fg.link(href=links.show_page_url, rel="alternate")
    fg.language(show.language or "en")
    fg.generator("podcast-host")
    if show.copyright:
        fg.copyright(clean_text(show.copyright))
    if show.image_key:
        fg.image(url=links.image_url(show.image_key), title=title, link=links.show_page_url)
    _itunes_channel(fg, show, links)
    _podcast_channel(fg.podcast_index, show, links)
    return fg


def _itunes_channel(fg: FeedGenerator, show: Show, links: FeedLinks) -> None:
    author = clean_text(show.author or "")
    if author:
        fg.podcast.itunes_author(author)
    # A private feed goes to every subscriber: it keeps the owner's address to itself, as podcast:locked's.
    if author and show.email and not links.private:
        fg.podcast.itunes_owner(name=author, email=clean_text(show.email))
    category = _category(show)
    if category:
        fg.podcast.itunes_category(cat=category[0], sub=category[1])
    fg.podcast.itunes_type(show.show_type or "episodic")
    new_feed_url = links.new_feed_url or show.moved_to_url
    if new_feed_url:
        fg.podcast.itunes_new_feed_url(new_feed_url)


def _category(show: Show) -> tuple[str, str | None] | None:
    """The show's category, or None: a value stored before a list change must not take the feed down."""
    if not show.category:
        return None
    try:
        return validate_category(show.category)
    except ValueError as error:
        log.warning("show %s: category left out of the feed: %s", show.slug, error)
        return None


def _podcast_channel(ext: PodcastChannelExtension, show: Show, links: FeedLinks) -> None:
    if show.image_key:
        ext.itunes_image = links.image_url(show.image_key)
    ext.itunes_explicit = bool(show.explicit)
    ext.hubs = tuple(links.hubs)
    # Stored once and kept when the feed moves; computing it is the fallback for a show not yet saved.
    # (A subscriber's feed URL carries their token; the show's guid is that of the URL without it.)
    ext.guid = show.podcast_guid or podcast_guid(links.feed_url.partition("?")[0])
    if links.private:
        # Blocked everywhere, with no exception: Show.block could only contradict that.
        ext.block = ext.itunes_block = True
    else:
        _block(ext, show.block)
        ext.locked = bool(show.locked)
        ext.locked_owner = clean_text(show.email or "")
    if show.funding_url:
        from podcast_host.feeds.podcast_ns import Funding

        ext.funding = Funding(show.funding_url, clean_text(show.funding_text or "") or show.funding_url)
    ext.medium = show.medium or "podcast"
    ext.persons = _persons(show.persons)
    ext.locations = _locations(show.locations)
    ext.license = _license(show.license)
    ext.txt = _txt(show.txt)
    ext.podroll = _podroll(show.podroll)
    if show.image_key:
        ext.images = (_cover(links.image_url(show.image_key), show.title),)


def _block(ext: PodcastChannelExtension, block: object) -> None:
    """Show.block: everywhere (podcast:block yes) and its exceptions, one podcast:block id= each; Apple's
    itunes:block says the same for Apple."""
    if not isinstance(block, dict):
        return
    everywhere = bool(block.get("everywhere"))
    platforms = [slug for slug in block.get("platforms") or [] if isinstance(slug, str) and slug]
    ext.block = everywhere
    # The exceptions go the other way: allowed when everything is blocked, blocked when nothing is.
    ext.platform_blocks = tuple((slug, not everywhere) for slug in platforms)
    ext.itunes_block = everywhere != (APPLE_SLUG in platforms)


def _update_frequency(show: Show, candidates: Sequence[Episode]) -> UpdateFrequency | None:
    """The producer's stated schedule, else one derived from the full episodes already published."""
    from podcast_host.feeds.podcast_ns import UpdateFrequency

    stated = show.update_frequency
    if isinstance(stated, dict) and stated.get("text"):
        return UpdateFrequency(
            text=clean_text(str(stated["text"])),
            rrule=str(stated.get("rrule") or ""),
            dtstart=str(stated.get("dtstart") or ""),
            complete=stated.get("complete") is True,
        )
    times = [
        episode.publish_at
        for episode in candidates
        if episode.publish_at is not None and not episode.draft and (episode.episode_type or "full") == "full"
    ]
    derived = derive_schedule(times, show.time_zone or "UTC", show.language or "en")
    return UpdateFrequency(text=derived.text, rrule=derived.rrule) if derived else None


def _trailers(items: Sequence[Episode], links: FeedLinks) -> tuple[Trailer, ...]:
    """The channel's trailers: the feed's own episodes of type trailer, newest first, each with the same
    enclosure URL as its item (so a private feed's carries the subscriber's token)."""
    from podcast_host.feeds.podcast_ns import Trailer

    return tuple(
        Trailer(
            title=clean_text(episode.title),
            url=links.enclosure_url(episode),
            pubdate=episode.publish_at,
            length=episode.enclosure_length,
            type=episode.enclosure_type or "audio/mpeg",
            season=episode.season,
        )
        for episode in items
        if episode.episode_type == "trailer" and episode.publish_at is not None
    )


def _persons(values: object) -> tuple[Person, ...]:
    from podcast_host.feeds.podcast_ns import Person

    return tuple(
        Person(
            name=clean_text(str(person["name"])),
            role=str(person.get("role") or ""),
            group=str(person.get("group") or ""),
            img=str(person.get("img") or ""),
            href=str(person.get("href") or ""),
        )
        for person in namespace_values.persons(values)
    )


def _locations(values: object) -> tuple[Location, ...]:
    from podcast_host.feeds.podcast_ns import Location

    return tuple(
        Location(
            name=clean_text(str(place["name"])),
            rel=str(place.get("rel") or ""),
            geo=namespace_values.geo_uri(place),
            osm=str(place.get("osm") or ""),
            country=str(place.get("country") or ""),
        )
        for place in namespace_values.locations(values)
    )


def _license(value: object) -> License | None:
    """The licence and the URL of its text (the well-known licence's own when none was given)."""
    from podcast_host.feeds.podcast_ns import License

    if not isinstance(value, dict) or not value.get("identifier"):
        return None
    return License(clean_text(str(value["identifier"])), license_url(value))


def _txt(values: object) -> tuple[Txt, ...]:
    from podcast_host.feeds.podcast_ns import Txt

    records = values if isinstance(values, list) else []
    return tuple(
        Txt(value=clean_text(str(record["value"])), purpose=clean_text(str(record.get("purpose") or "")))
        for record in records
        if isinstance(record, dict) and record.get("value")
    )


def _podroll(values: object) -> tuple[RemoteItem, ...]:
    from podcast_host.feeds.podcast_ns import RemoteItem

    shows = values if isinstance(values, list) else []
    return tuple(
        RemoteItem(
            feed_guid=str(show["feed_guid"]),
            feed_url=str(show.get("feed_url") or ""),
            title=clean_text(str(show.get("title") or "")),
            medium=str(show.get("medium") or ""),
        )
        for show in shows
        if isinstance(show, dict) and show.get("feed_guid")
    )


def _cover(url: str, title: str) -> Image:
    """podcast:image for a cover: the itunes:image URL, the title as its alt text, square artwork."""
    from podcast_host.feeds.podcast_ns import Image

    extension = url.partition("?")[0].rpartition(".")[2].lower()
    return Image(
        href=url,
        alt=clean_text(title),
        aspect_ratio=COVER_ASPECT_RATIO,
        type=SERVED_TYPES["image"].get(extension, ""),
        purpose=COVER_PURPOSE,
    )


def _fill_item(entry: FeedEntry, episode: Episode, notes: str, links: FeedLinks, language: str) -> None:
    entry.title(clean_text(episode.title))
    entry.guid(episode.guid, permalink=False)
    page = links.episode_page_url(episode)
    if page:
        entry.link(href=page)
    entry.pubDate(episode.publish_at)
    entry.enclosure(
        url=links.enclosure_url(episode),
        length=str(episode.enclosure_length),
        type=episode.enclosure_type or "audio/mpeg",
    )
    if notes:
        entry.description(notes)
        entry.content(notes)  # escaped by lxml, not CDATA: a "]]>" in the notes would break a CDATA section
    _itunes_item(entry, episode)
    _podcast_item(entry.podcast_index, episode, links, language)


def _itunes_item(entry: FeedEntry, episode: Episode) -> None:
    if episode.duration_s is not None:
        entry.podcast.itunes_duration(round(episode.duration_s))
    if episode.season is not None:
        entry.podcast.itunes_season(episode.season)
    if episode.number is not None:
        entry.podcast.itunes_episode(episode.number)
    entry.podcast.itunes_episode_type(episode.episode_type or "full")


def _podcast_item(ext: PodcastItemExtension, episode: Episode, links: FeedLinks, language: str) -> None:
    if episode.image_key:
        ext.itunes_image = links.image_url(episode.image_key)
        ext.images = (_cover(ext.itunes_image, episode.title),)
    ext.itunes_explicit = bool(episode.explicit)
    ext.season = episode.season
    ext.episode = episode.number
    if episode.transcript_key:
        ext.transcripts = (_transcript(episode, links, language),)
    if episode.chapters:
        ext.chapters_url = links.chapters_url(episode)
    if episode.low_data_key:
        ext.alternates = _alternates(episode, links)
    # An item's people replace the channel's (namespace, person.md): none of its own, the channel's apply.
    ext.persons = _persons(episode.persons)
    ext.locations = _locations(episode.locations)
    ext.soundbites = _soundbites(episode)
    ext.license = _license(episode.license)


def _soundbites(episode: Episode) -> tuple[Soundbite, ...]:
    """The episode's clips that end within its audio (docs/feeds.md, "Podcasting 2.0 tags")."""
    from podcast_host.feeds.podcast_ns import Soundbite

    return tuple(
        Soundbite(
            start=namespace_values.seconds(bite["start"]),
            duration=namespace_values.seconds(bite["duration"]),
            title=clean_text(str(bite.get("title") or "")),
        )
        for bite in namespace_values.fitting_soundbites(episode)
    )


def _alternates(episode: Episode, links: FeedLinks) -> tuple[AlternateEnclosure, ...]:
    """The MP3 (the enclosure itself, `default`) and its low-data Opus version, each with its SHA-256
    (docs/feeds.md, "Low-data version")."""
    from podcast_host.feeds.podcast_ns import AlternateEnclosure

    mp3_bps = round((episode.enclosure_length or 0) * 8 / episode.duration_s) if episode.duration_s else None
    mp3 = AlternateEnclosure(
        type=episode.enclosure_type or "audio/mpeg",
        length=episode.enclosure_length or 0,
        url=links.enclosure_url(episode),
        bitrate=mp3_bps,
        sha256=episode.audio_sha256,
        default=True,
        title="MP3",
    )
    low_data = AlternateEnclosure(
        type=LOW_DATA_TYPE,
        length=episode.low_data_length or 0,
        url=links.low_data_url(episode),
        bitrate=(episode.low_data_kbps or 0) * 1000 or None,
        sha256=episode.low_data_sha256,
        title="Low data",
        codecs="opus",
    )
    return mp3, low_data


def _transcript(episode: Episode, links: FeedLinks, language: str) -> Transcript:
    """The episode's transcript, in its show's language: the one an episode's words are spoken in."""
    from podcast_host.feeds.podcast_ns import Transcript

    mime = (episode.transcript_type or "").strip().lower()
    if not mime:
        mime = _TRANSCRIPT_TYPES_BY_SUFFIX.get(
            splitext(episode.transcript_key or "")[1].lower(), "text/plain"
        )
    if mime in _SRT_ALIASES:
        mime = "application/x-subrip"
    return Transcript(links.transcript_url(episode), mime, language, captions=mime in _TIMED_TRANSCRIPT_TYPES)
