"""A show's feed as served: built by feed.py, cached per show until something in it changes.

Every web process keeps its own cache. They still agree: the ETag is a hash of the bytes, and the bytes and
Last-Modified follow from the database alone (never from the clock of the process that rendered them).
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from podcast_host.feed import FeedLinks, build_feed
from podcast_host.links import Links
from podcast_host.models import Episode, Show, utcnow

GZIP_LEVEL = 6


@dataclass(frozen=True)
class RenderedFeed:
    body: bytes
    gzipped: bytes
    etag: str
    last_modified: datetime


# What the feed depends on, read in one cheap query: when it is unchanged, so are the bytes.
FeedVersion = tuple[Any, ...]

_cache_lock = threading.Lock()
_render_locks: dict[int, threading.Lock] = {}


def render_feed(services: Any, session: Session, show: Show, now: datetime | None = None) -> RenderedFeed:
    """The feed bytes for a show, from this process's cache when nothing changed since the last render."""
    now = now or utcnow()
    version = feed_version(session, show, now)
    cache: dict[int, tuple[FeedVersion, RenderedFeed]] = services.caches.setdefault("feeds", {})
    hit = cache.get(show.id)
    if hit and hit[0] == version:
        return hit[1]
    # One render per show at a time: a cold 1,000-episode feed must not be built by every thread at once.
    with _rendering(show.id):
        hit = cache.get(show.id)
        if hit and hit[0] == version:
            return hit[1]
        rendered = _render(services, session, show, now)
        # On PostgreSQL each statement sees the latest commit: keep the bytes only if they match the version.
        if feed_version(session, show, now) == version:
            cache[show.id] = (version, rendered)
    if hit and went_live_since(hit[0], version):
        services.queue.enqueue("feed_changed", show.id)
    return rendered


def feed_version(session: Session, show: Show, now: datetime) -> FeedVersion:
    """A fingerprint of everything the feed shows at `now`; a scheduled episode going live changes it."""
    visible = _visible_at(now)
    counts = session.execute(
        select(
            func.count(Episode.id),
            func.max(Episode.updated_at),
            func.count(Episode.id).filter(visible),
            func.max(Episode.publish_at).filter(visible),
        ).where(Episode.show_id == show.id, Episode.audio_key.is_not(None))
    ).one()
    return (show.slug, show.updated_at, *counts)


def went_live_since(old: FeedVersion, new: FeedVersion) -> bool:
    """True when only the clock changed the feed: nothing was edited, a scheduled episode came due."""
    return old[:4] == new[:4] and old[4:] != new[4:]


def _visible_at(now: datetime) -> ColumnElement[bool]:
    # The same rule as Episode.is_public_at, in SQL (candidates already have audio).
    return Episode.draft.is_(False) & (Episode.publish_at <= now)


@contextmanager
def _rendering(show_id: int) -> Iterator[None]:
    with _cache_lock:
        lock = _render_locks.setdefault(show_id, threading.Lock())
    with lock:
        yield


def _render(services: Any, session: Session, show: Show, now: datetime) -> RenderedFeed:
    candidates = feed_candidates(session, show)
    body = build_feed(show, candidates, feed_links(services, Links(services.settings), show), now)
    return RenderedFeed(
        body=body,
        gzipped=gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0),
        etag=hashlib.sha256(body).hexdigest()[:40],
        last_modified=last_modified(show, candidates, now),
    )


def feed_candidates(session: Session, show: Show) -> list[Episode]:
    """Every episode that has audio, listed or not: an unlisted one still moves lastBuildDate when edited.

    Episodes without audio were never in the feed; leaving them out keeps their processing heartbeats
    from changing the feed's bytes.
    """
    return list(session.scalars(select(Episode).where(Episode.show_id == show.id,
                                                      Episode.audio_key.is_not(None))))


def last_modified(show: Show, candidates: Sequence[Episode], now: datetime) -> datetime:
    """The same instant as the feed's lastBuildDate (see feed.py): the latest change the feed reflects."""
    listed = (e.publish_at for e in candidates if e.is_public_at(now) and e.enclosure_length is not None)
    stamps = [show.updated_at, *(e.updated_at for e in candidates), *listed]
    return max((s for s in stamps if s is not None and s <= now), default=now)


def feed_links(services: Any, links: Links, show: Show) -> FeedLinks:
    return FeedLinks(
        feed_url=links.feed(show),
        show_page_url=links.show_page(show),
        image_url=links.media,
        episode_page_url=links.episode_page,
        enclosure_url=links.enclosure,
        chapters_url=links.chapters,
        transcript_url=links.transcript,
        hubs=tuple(services.settings.websub_hubs),
        # After a rename the old URL redirects here; saying so in the feed makes apps update for good.
        new_feed_url=show.moved_to_url or (links.feed(show) if show.aliases else None),
    )


@event.listens_for(Session, "before_flush")
def _stamp_show_when_an_episode_is_deleted(session: Session, _context: Any, _instances: Any) -> None:
    """A deleted episode leaves no timestamp behind; stamping its show keeps Last-Modified moving forward.

    Without it, an If-Modified-Since from before the deletion would still get 304.
    """
    gone = [e for e in session.deleted if isinstance(e, Episode)]
    with session.no_autoflush:
        for show_id in {e.show_id for e in gone if e.audio_key is not None}:
            show = session.get(Show, show_id)
            if show is not None and show not in session.deleted:
                show.updated_at = utcnow()
