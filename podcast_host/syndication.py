"""A show's feed as served: built by feed.py, cached per show until something in it changes."""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from podcast_host.episodes import public_episodes
from podcast_host.feed import FeedLinks, build_feed
from podcast_host.links import Links
from podcast_host.models import Episode, Show, utcnow


@dataclass(frozen=True)
class RenderedFeed:
    body: bytes
    gzipped: bytes
    etag: str
    last_modified: datetime


_lock = threading.Lock()


def feed_version(session: Session, show: Show, now: datetime) -> tuple[Any, ...]:
    """A cheap fingerprint of everything the feed shows; a scheduled episode going live changes it."""
    everything = select(func.count(Episode.id), func.max(Episode.updated_at)).where(Episode.show_id == show.id)
    visible = select(func.count(Episode.id), func.max(Episode.publish_at)).where(
        Episode.show_id == show.id,
        Episode.audio_key.is_not(None),
        Episode.draft.is_(False),
        Episode.publish_at <= now,
    )
    return (show.id, show.slug, show.updated_at, *session.execute(everything).one(),
            *session.execute(visible).one())


def render_feed(services: Any, session: Session, show: Show, now: datetime | None = None) -> RenderedFeed:
    """The feed bytes for a show, from the cache when nothing changed since the last render."""
    now = now or utcnow()
    version = feed_version(session, show, now)
    cache: dict[int, tuple[tuple[Any, ...], RenderedFeed]] = services.caches.setdefault("feeds", {})
    hit = cache.get(show.id)
    if hit and hit[0] == version:
        return hit[1]
    rendered = _render(services, session, show, now)
    with _lock:
        cache[show.id] = (version, rendered)
    return rendered


def _render(services: Any, session: Session, show: Show, now: datetime) -> RenderedFeed:
    links = Links(services.settings)
    episodes = public_episodes(session, show, now)
    body = build_feed(show, episodes, feed_links(services, links, show), now)
    last_modified = max([show.updated_at, *(e.updated_at for e in episodes), *(e.publish_at for e in episodes)])
    return RenderedFeed(
        body=body,
        gzipped=gzip.compress(body, compresslevel=6, mtime=0),
        etag=hashlib.sha256(body).hexdigest()[:40],
        last_modified=last_modified,
    )


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
