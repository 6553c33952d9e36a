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

from sqlalchemy import bindparam, event, func, select
from sqlalchemy.orm import Session

from podcast_host.errors import NotFound
from podcast_host.feed import FeedLinks, build_feed
from podcast_host.links import Links
from podcast_host.models import Episode, Show, UTCDateTime, utcnow

GZIP_LEVEL = 6


@dataclass(frozen=True)
class RenderedFeed:
    body: bytes
    gzipped: bytes
    etag: str
    last_modified: datetime


# What the feed depends on, read in one cheap query: when it is unchanged, so are the bytes.
FeedVersion = tuple[Any, ...]


@dataclass(frozen=True)
class FeedState:
    """What one query says about a show's feed: enough to answer from the cache, or to redirect."""

    show_id: int
    moved_to_url: str | None
    version: FeedVersion


# The same rule as Episode.is_public_at, in SQL; only episodes with audio are joined.
_VISIBLE = Episode.draft.is_(False) & (Episode.publish_at <= bindparam("now", type_=UTCDateTime()))
# Built once: this runs on every feed request, and SQLAlchemy reuses its compiled form.
_STATE_QUERY = (
    select(Show.id, Show.moved_to_url, Show.updated_at, func.count(Episode.id), func.max(Episode.updated_at),
           func.count(Episode.id).filter(_VISIBLE), func.max(Episode.publish_at).filter(_VISIBLE))
    .outerjoin(Episode, (Episode.show_id == Show.id) & Episode.audio_key.is_not(None))
    .where(Show.slug == bindparam("slug"))
    .group_by(Show.id)
)

# Reads and writes of the cache dict are atomic; only the per-show render locks need a guard to be created.
_render_locks_guard = threading.Lock()
_render_locks: dict[int, threading.Lock] = {}


def feed_state(session: Session, slug: str, now: datetime) -> FeedState | None:
    """The state of the feed of the show with this current slug at `now`; None for an unknown or old slug."""
    row = session.connection().execute(_STATE_QUERY, {"slug": slug, "now": now}).one_or_none()
    if row is None:
        return None
    show_id, moved_to_url, *version = row
    return FeedState(show_id, moved_to_url, (slug, *version))


def render_feed(services: Any, session: Session, show: Show, now: datetime | None = None) -> RenderedFeed:
    """The feed bytes for a show, from this process's cache when nothing changed since the last render."""
    now = now or utcnow()
    state = feed_state(session, show.slug, now)
    if state is None:
        raise NotFound(f"There is no show {show.slug!r}.")
    return cached_feed(services, session, state, now)


def cached_feed(services: Any, session: Session, state: FeedState, now: datetime) -> RenderedFeed:
    """The feed for a state read at `now`: from the cache when its version matches, else rendered now."""
    cache: dict[int, tuple[FeedVersion, RenderedFeed]] = services.caches.setdefault("feeds", {})
    hit = cache.get(state.show_id)
    if hit and hit[0] == state.version:
        return hit[1]
    # One render per show at a time: a cold 1,000-episode feed must not be built by every thread at once.
    with _rendering(state.show_id):
        hit = cache.get(state.show_id)
        if hit and hit[0] == state.version:
            return hit[1]
        show = session.get(Show, state.show_id)
        if show is None:
            raise NotFound("The show was deleted while its feed was being read.")
        rendered = _render(services, session, show, now)
        # On PostgreSQL each statement sees the latest commit: keep the bytes only if they match the version.
        if feed_state(session, show.slug, now) == state:
            cache[state.show_id] = (state.version, rendered)
    if hit and services.settings.websub_hubs and went_live_since(hit[0], state.version):
        services.queue.enqueue("feed_changed", state.show_id)
    return rendered


def went_live_since(old: FeedVersion, new: FeedVersion) -> bool:
    """True when only the clock changed the feed: nothing was edited, a scheduled episode came due."""
    return old[:4] == new[:4] and old[4:] != new[4:]


@contextmanager
def _rendering(show_id: int) -> Iterator[None]:
    with _render_locks_guard:
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
    query = select(Episode).where(Episode.show_id == show.id, Episode.audio_key.is_not(None))
    return list(session.scalars(query))


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
