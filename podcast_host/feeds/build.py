"""Show + episodes -> the RSS feed (docs/feeds.md, "What the feed carries"). Pure: no I/O, no clock. Here:
FeedLinks, podcast_guid, build_feed, and the channel and items it fills. The size budget, and the kept items
put back in place, are budget.py's; the stored Podcasting 2.0 values as tags are namespace_tags.py's. The
items it writes are kept per episode version (item_cache.py) and used again, to the same bytes.

The only module besides podcast_ns.py that imports feedgen; podcast_ns.py holds the tags feedgen lacks. Both
load with the first feed a process builds (feedgen and lxml take about 10 MB), so an idle server, or one that
only reads a podcast_guid from here, never holds them.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from podcast_host.feeds import namespace_tags
from podcast_host.feeds.budget import item_scope, with_kept_items, within
from podcast_host.feeds.categories import validate_category
from podcast_host.models import Episode, Show
from podcast_host.notes import clean_text, stored_notes_html

if TYPE_CHECKING:
    from feedgen.entry import FeedEntry
    from feedgen.feed import FeedGenerator

    from podcast_host.feeds.podcast_ns import PodcastChannelExtension, PodcastItemExtension

__all__ = ["FeedLinks", "build_feed", "clean_text", "podcast_guid"]

log = logging.getLogger(__name__)

# podcast-namespace docs/tags/guid.md: UUIDv5 of the feed URL without scheme and trailing slashes.
PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass(frozen=True)
class FeedLinks:
    """Every absolute URL the feed needs, computed by the web layer. An episode's URLs depend on its row, on
    the feed's own URLs and on where images are served (`image_url`) alone: a feed's items are kept and used
    again on those terms (see budget.item_scope)."""

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
    budget.MAX_FEED_BYTES; same input, same bytes."""
    listed = _listed_episodes(episodes, now)
    # Each row's HTML is read (or, for a row saved before it was stored, rendered) once per build.
    description = stored_notes_html(show)
    fg = _channel(show, description, links)
    fg.lastBuildDate(_last_build_date(show, episodes, listed, now))
    if listed:
        fg.pubDate(listed[0].publish_at)
    # Published episodes alone: a scheduled one must not show, even as a change of the stated rhythm.
    fg.podcast_index.update_frequency = namespace_tags.update_frequency(show, listed)
    planned = within(show, description, listed, item_scope(show, links))
    fg.podcast_index.trailers = namespace_tags.trailers([plan.episode for plan in planned], links)
    # feedgen writes the items no kept bytes stand for; the kept ones go in their places afterwards.
    missing = [plan for plan in planned if plan.xml is None]
    for plan in missing:
        # Explicit order: feedgen prepends by default.
        _fill_item(fg.add_entry(order="append"), plan.episode, plan.notes, links, show.language or "en")
    feed: bytes = fg.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True)
    return with_kept_items(feed, planned, missing)


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
        namespace_tags.block(ext, show.block)
        ext.locked = bool(show.locked)
        ext.locked_owner = clean_text(show.email or "")
    if show.funding_url:
        from podcast_host.feeds.podcast_ns import Funding

        ext.funding = Funding(show.funding_url, clean_text(show.funding_text or "") or show.funding_url)
    ext.medium = show.medium or "podcast"
    ext.persons = namespace_tags.persons(show.persons)
    ext.locations = namespace_tags.locations(show.locations)
    ext.license = namespace_tags.license(show.license)
    ext.txt = namespace_tags.txt(show.txt)
    ext.podroll = namespace_tags.podroll(show.podroll)
    if show.image_key:
        ext.images = (namespace_tags.cover(links.image_url(show.image_key), show.title),)


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
        ext.images = (namespace_tags.cover(ext.itunes_image, episode.title),)
    ext.itunes_explicit = bool(episode.explicit)
    ext.season = episode.season
    ext.episode = episode.number
    if episode.transcript_key:
        ext.transcripts = (namespace_tags.transcript(episode, links, language),)
    if episode.chapters:
        ext.chapters_url = links.chapters_url(episode)
    if episode.low_data_key:
        ext.alternates = namespace_tags.alternates(episode, links)
    # An item's people replace the channel's (namespace, person.md): none of its own, the channel's apply.
    ext.persons = namespace_tags.persons(episode.persons)
    ext.locations = namespace_tags.locations(episode.locations)
    ext.soundbites = namespace_tags.soundbites(episode)
    ext.license = namespace_tags.license(episode.license)
