"""The size budget of a feed (docs/feeds.md, "Size"): which of the newest episodes fit in MAX_FEED_BYTES,
each item sized as lxml writes it, and the items kept per episode version (item_cache.py) put back in their
places in the bytes feedgen wrote. Pure and light: no feedgen, no clock.

A kept item brings its size along, so the budget, and with it the feed's bytes, do not depend on the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from podcast_host.feeds.item_cache import ITEMS, KeptItem, split_items
from podcast_host.limits import KIB, MIB, format_size
from podcast_host.models import Episode, Show
from podcast_host.notes import stored_notes_html

if TYPE_CHECKING:
    from podcast_host.feeds.build import FeedLinks

log = logging.getLogger(__name__)

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
# A key whose image URL tells where the feed's images and transcripts are served (MEDIA_URL or the app).
_SAMPLE_IMAGE_KEY = "sample.jpg"


@dataclass(slots=True)
class _PlannedItem:
    """An episode the feed carries: its item's key in ITEMS (None: not kept), and its bytes when kept."""

    episode: Episode
    key: Hashable | None
    size: int
    notes: str = ""  # read only when the item is written
    xml: bytes | None = None


def item_scope(show: Show, links: FeedLinks) -> tuple[str, ...] | None:
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


def within(
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


def with_kept_items(feed: bytes, planned: list[_PlannedItem], missing: list[_PlannedItem]) -> bytes:
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
