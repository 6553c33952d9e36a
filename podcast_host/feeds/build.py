"""Show + episodes -> the RSS feed (docs/feeds.md, "What the feed carries"). Pure: no I/O, no clock.

The only module that imports feedgen; podcast_ns.py holds the tags feedgen lacks. Both load with the first
feed a process builds (feedgen and lxml take about 10 MB), so an idle server, or one that only reads a
podcast_guid from here, never holds them.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from posixpath import splitext
from typing import TYPE_CHECKING

from podcast_host.feeds.categories import validate_category
from podcast_host.limits import KIB, MIB, format_size
from podcast_host.models import Episode, Show
from podcast_host.notes import clean_text, stored_notes_html

if TYPE_CHECKING:
    from feedgen.entry import FeedEntry
    from feedgen.feed import FeedGenerator

    from podcast_host.feeds.podcast_ns import (
        AlternateEnclosure,
        PodcastChannelExtension,
        PodcastItemExtension,
        Transcript,
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


@dataclass(frozen=True)
class FeedLinks:
    """Every absolute URL the feed needs, computed by the web layer."""

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
    for episode, notes in _within(show, description, listed):
        # Explicit order: feedgen prepends by default.
        _fill_item(fg.add_entry(order="append"), episode, notes, links, show.language or "en")
    feed: bytes = fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    return feed


def _within(show: Show, description: str, listed: list[Episode]) -> list[tuple[Episode, str]]:
    """The newest episodes, with their notes HTML, whose items fit in MAX_FEED_BYTES, sized as lxml writes
    them (escaped, notes twice)."""
    spent = _CHANNEL_BYTES + _escaped_size(description) + _escaped_size(show.title or "")
    items = []
    for count, episode in enumerate(listed):
        notes = stored_notes_html(episode)
        spent += _ITEM_BYTES + _escaped_size(episode.title or "") + 2 * _escaped_size(notes)
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
        items.append((episode, notes))
    return items


def _escaped_size(text: str) -> int:
    """UTF-8 bytes of `text` as XML character data: & becomes &amp; (+4), < and > &lt; and &gt; (+3)."""
    return len(text.encode("utf-8")) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">"))


def _listed_episodes(episodes: Sequence[Episode], now: datetime) -> list[Episode]:
    """The episodes a feed shows at `now`, newest first; ties broken so that the order is stable."""
    public = [ep for ep in episodes if ep.is_public_at(now) and ep.enclosure_length is not None]
    return sorted(public, key=_newest_first_key, reverse=True)


def _newest_first_key(episode: Episode) -> tuple[datetime, int, str]:
    assert episode.publish_at is not None  # listed, so public: Episode.is_public_at wants a date
    return (episode.publish_at, episode.number if episode.number is not None else -1, episode.guid or "")


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
        ext.block = True
    else:
        ext.locked = bool(show.locked)
        ext.locked_owner = clean_text(show.email or "")
    if show.funding_url:
        from podcast_host.feeds.podcast_ns import Funding

        ext.funding = Funding(show.funding_url, clean_text(show.funding_text or "") or show.funding_url)
    ext.medium = show.medium or "podcast"


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
    ext.itunes_explicit = bool(episode.explicit)
    ext.season = episode.season
    ext.episode = episode.number
    if episode.transcript_key:
        ext.transcripts = (_transcript(episode, links, language),)
    if episode.chapters:
        ext.chapters_url = links.chapters_url(episode)
    if episode.low_data_key:
        ext.alternates = _alternates(episode, links)


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
