"""A show's feed as served: built by build.py, cached per show in each process until something in it changes.

A request reads the show's row first. Every ORM change of the show or of one of its episodes with audio stamps
the row (models.stamp_shows_of_changed_episodes, which every Database registers), so an unchanged stamp, no
episode due yet and a full check less than RECHECK_S ago prove the cached bytes right; otherwise one aggregate
over the episodes decides. Processes agree without talking: the ETag is a hash of the bytes, and bytes and
Last-Modified follow from the database. The cache is bounded (FeedCache): past its caps the feed requested
least recently is dropped, and rendered again when it is next asked for.

One render per show at a time (`_render_once`): the requests that arrive while a feed is rendered wait for it
and take its bytes, so a burst after a change renders the feed once per process. The show's row is read by
state.py (feed_state here; FeedStateReader, a connection per thread outside the pool, on the fast path before
Flask in web/fast_paths.py).

A private show's feed is rendered the same way, once per version, with a placeholder where each subscriber's
token goes (every media, chapters and feed URL); the request puts its own token there (docs/private-feeds.md).
"""

from __future__ import annotations

import gzip
import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, defer

from podcast_host.errors import NotFound
from podcast_host.feeds.build import FeedLinks, build_feed
from podcast_host.feeds.links import Links
from podcast_host.feeds.state import FeedState, feed_state
from podcast_host.models import Episode, Show, UTCDateTime, utcnow
from podcast_host.services import Services

GZIP_LEVEL = 6
# Bounds of each process's feed cache. A 1,000-episode feed with full notes takes 1.8 MB with its gzipped
# copy, so the byte cap holds some 18 of those or a thousand small shows; the entry cap bounds bookkeeping.
MAX_CACHED_FEEDS = 1000
MAX_CACHED_FEED_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class RenderedFeed:
    body: bytes
    gzipped: bytes
    etag: str
    last_modified: datetime
    # A private show's feed: the text in `body` each subscriber's token replaces; None for a public feed,
    # whose bytes are served as they are.
    token_placeholder: str | None = None


# Where a private feed's token goes, in the bytes its ETag is computed from.
TOKEN_MARK = b"{token}"
# What the feed depends on: when it is unchanged, so are the bytes.
FeedVersion = tuple[object, ...]
# A change written around the ORM (plain SQL) does not stamp the show; the full check catches it this soon.
RECHECK_S = 1.0


@dataclass(frozen=True)
class FeedCheck:
    """The full fingerprint, read over the show's episodes, and when the clock will next change it."""

    version: FeedVersion
    next_publish_at: datetime | None


@dataclass(frozen=True)
class CachedFeed:
    check: FeedCheck
    checked_at: float  # time.monotonic() of the last full check
    rendered: RenderedFeed

    @property
    def size_bytes(self) -> int:
        return len(self.rendered.body) + len(self.rendered.gzipped)

    def fresh_for(self, state: FeedState, now: datetime) -> bool:
        """Still right without the full check: same stamp, no episode due yet, checked a moment ago."""
        due = self.check.next_publish_at
        return (
            state.stamp == self.check.version[1]
            and (due is None or now < due)
            and time.monotonic() - self.checked_at < RECHECK_S
        )


# Built once: this runs on every feed request, and SQLAlchemy reuses its compiled form.
_NOW = bindparam("now", type_=UTCDateTime())
# The same rule as Episode.is_public_at, in SQL; only episodes with audio are joined.
_VISIBLE = Episode.draft.is_(False) & (Episode.publish_at <= _NOW)
_DUE_LATER = Episode.draft.is_(False) & (Episode.publish_at > _NOW)
_CHECK_QUERY = (
    select(
        Show.slug,
        Show.updated_at,
        func.count(Episode.id),
        func.max(Episode.updated_at),
        func.count(Episode.id).filter(_VISIBLE),
        func.max(Episode.publish_at).filter(_VISIBLE),
        func.min(Episode.publish_at).filter(_DUE_LATER),
    )
    .outerjoin(Episode, (Episode.show_id == Show.id) & Episode.audio_key.is_not(None))
    .where(Show.id == bindparam("show_id"))
    .group_by(Show.id)
)


class FeedCache:
    """Rendered feeds by show id, within an entry and a byte cap; the least recently used go first."""

    def __init__(self, max_entries: int = MAX_CACHED_FEEDS, max_bytes: int = MAX_CACHED_FEED_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.size_bytes = 0
        # Feeds rendered by this process since it started, kept or not (benchmarks and tests read it).
        self.renders = 0
        self._entries: OrderedDict[int, CachedFeed] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, show_id: int) -> CachedFeed | None:
        with self._lock:
            cached = self._entries.get(show_id)
            if cached is not None:
                self._entries.move_to_end(show_id)
            return cached

    def put(self, show_id: int, cached: CachedFeed) -> None:
        """Keep a show's feed, in place of its older one; a feed larger than the whole cap is not kept."""
        with self._lock:
            older = self._entries.pop(show_id, None)
            if older is not None:
                self.size_bytes -= older.size_bytes
            if cached.size_bytes > self.max_bytes:
                return
            self._entries[show_id] = cached
            self.size_bytes += cached.size_bytes
            while len(self._entries) > self.max_entries or self.size_bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self.size_bytes -= dropped.size_bytes

    def count_render(self) -> None:
        with self._lock:
            self.renders += 1

    def show_ids(self) -> list[int]:
        """The cached shows, least recently used first."""
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


# One render per show at a time. Shows share a fixed set of locks, which never grows with their number; two
# shows on one lock only take turns.
_RENDER_LOCKS = tuple(threading.Lock() for _ in range(64))


def feed_check(session: Session, show_id: int, now: datetime) -> FeedCheck:
    """Everything the feed shows at `now`, in one aggregate over the show's episodes that have audio."""
    *version, next_publish_at = (
        session.connection().execute(_CHECK_QUERY, {"show_id": show_id, "now": now}).one()
    )
    return FeedCheck(tuple(version), next_publish_at)


def render_feed(
    services: Services, session: Session, show: Show, now: datetime | None = None
) -> RenderedFeed:
    """The feed bytes for a show, from this process's cache when nothing changed since the last render."""
    state = feed_state(session.connection(), show.slug)
    if state is None:
        raise NotFound(f"There is no show {show.slug!r}.")
    now = now or utcnow()
    return fresh_feed(services, state, now) or cached_feed(services, session, state, now)


def fresh_feed(services: Services, state: FeedState, now: datetime) -> RenderedFeed | None:
    """The cached feed when the show's stamp alone proves it still right; None when it must be checked."""
    cached = feed_cache(services).get(state.show_id)
    return cached.rendered if cached and cached.fresh_for(state, now) else None


def cached_feed(services: Services, session: Session, state: FeedState, now: datetime) -> RenderedFeed:
    """The feed for a show's state read at `now`: checked against the episodes, rendered when it changed."""
    cache = feed_cache(services)
    cached = cache.get(state.show_id)
    check = feed_check(session, state.show_id, now)
    if cached and cached.check.version == check.version:
        cache.put(state.show_id, CachedFeed(check, time.monotonic(), cached.rendered))
        return cached.rendered
    rendered = _render_once(services, session, state.show_id, check, now)
    if cached and services.settings.websub_hubs and went_live_since(cached.check.version, check.version):
        # Only the clock changed the feed: no row changed and this read commits nothing, so there is no
        # commit to wait for and the job is queued at once.
        services.queue.enqueue("feed_changed", state.show_id)
    return rendered


def _render_once(
    services: Services, session: Session, show_id: int, check: FeedCheck, now: datetime
) -> RenderedFeed:
    """Render and cache; one render per show at a time, so a cold 1,000-episode feed is built once.

    A request that had to wait for the lock takes the bytes the render before it kept. When there are none
    for its check (that render failed, or a commit moved the feed while it rendered) it reads the check again
    first: what it waited for may be newer than what it saw, and each version is then rendered once."""
    cache = feed_cache(services)
    lock = _RENDER_LOCKS[show_id % len(_RENDER_LOCKS)]
    waited = not lock.acquire(blocking=False)
    if waited:
        lock.acquire()
    try:
        cached = cache.get(show_id)
        if cached and cached.check.version == check.version:
            return cached.rendered
        if waited:
            check = feed_check(session, show_id, now)
            if cached and cached.check.version == check.version:
                return cached.rendered
        show = session.get(Show, show_id)
        if show is None:
            raise NotFound("The show was deleted while its feed was being read.")
        rendered = _render(services, session, show, now)
        cache.count_render()
        # On PostgreSQL each statement sees the latest commit: keep the bytes only if they match the check.
        if feed_check(session, show_id, now) == check:
            cache.put(show_id, CachedFeed(check, time.monotonic(), rendered))
        return rendered
    finally:
        # Released whatever happened: a render that fails leaves the next request free to try again.
        lock.release()


def feed_cache(services: Services) -> FeedCache:
    """This process's feed cache, kept in services.caches (emptying that dict empties the cache)."""
    cache = services.caches.get("feeds")
    if cache is None:
        cache = services.caches.setdefault("feeds", FeedCache())
    assert isinstance(cache, FeedCache)  # "feeds" is this module's alone
    return cache


def went_live_since(old: FeedVersion, new: FeedVersion) -> bool:
    """True when only the clock changed the feed: nothing was edited, a scheduled episode came due."""
    return old[:4] == new[:4] and old[4:] != new[4:]


def _render(services: Services, session: Session, show: Show, now: datetime) -> RenderedFeed:
    candidates = feed_candidates(session, show)
    links = Links(services.settings)
    if show.is_private:
        return _render_private(show, candidates, links, now)
    body = build_feed(show, candidates, feed_links(links, show), now)
    return RenderedFeed(
        body=body,
        gzipped=gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0),
        etag=feed_etag(body),
        last_modified=last_modified(show, candidates, now),
    )


def _render_private(show: Show, candidates: Sequence[Episode], links: Links, now: datetime) -> RenderedFeed:
    """A private show's feed with a placeholder for the token: 128 random bits drawn for this render, so no
    text of the show can hold it (nobody ever sees it: every answer carries a token in its place). Drawn
    again should it ever turn up anywhere but after "?token=" all the same."""
    while True:
        placeholder = secrets.token_hex(16)
        body = build_feed(show, candidates, subscriber_links(links, show, placeholder), now)
        mark = placeholder.encode()
        if body.count(mark) == body.count(b"?token=" + mark):
            break
    return RenderedFeed(
        body=body,
        gzipped=b"",  # never served as it is: each answer is compressed with its token in place
        # Of the bytes with a fixed mark for the token (the placeholder is new at every render): the same
        # feed has the same ETag in every process and after every render; subscriber_etag adds the token.
        etag=feed_etag(body.replace(mark, TOKEN_MARK)),
        last_modified=last_modified(show, candidates, now),
        token_placeholder=placeholder,
    )


def for_subscriber(rendered: RenderedFeed, token: str) -> bytes:
    """A private show's feed as one subscriber gets it: their token wherever the feed was made to carry it."""
    if rendered.token_placeholder is None:
        raise ValueError("Only a private show's feed carries a place for a token.")
    return rendered.body.replace(rendered.token_placeholder.encode(), quote(token, safe="").encode())


def subscriber_etag(rendered: RenderedFeed, token: str) -> str:
    """The ETag of one subscriber's copy of a private feed, known before the copy is made (a 304 makes
    none)."""
    return feed_etag(f"{rendered.etag}\n{token}".encode())


def feed_etag(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:40]


_UNREAD_BY_FEEDS = (Episode.waveform, Episode.loudness_report, Episode.probe, Episode.retired_audio)


def feed_candidates(session: Session, show: Show) -> list[Episode]:
    """Every episode that has audio, listed or not: an unlisted one still moves lastBuildDate when edited.

    Episodes without audio were never in the feed; leaving them out keeps their processing heartbeats
    from changing the feed's bytes.
    """
    query = (
        select(Episode)
        .where(Episode.show_id == show.id, Episode.audio_key.is_not(None))
        # What the feed never reads stays in the database: a processed episode's waveform alone is a
        # thousand numbers, and decoding them for 1,000 episodes cost more than writing their items.
        .options(*(defer(column) for column in _UNREAD_BY_FEEDS))
    )
    return list(session.scalars(query))


def last_modified(show: Show, candidates: Sequence[Episode], now: datetime) -> datetime:
    """The same instant as the feed's lastBuildDate (see build.py): the latest change the feed reflects."""
    listed = (e.publish_at for e in candidates if e.is_public_at(now) and e.enclosure_length is not None)
    stamps = [show.updated_at, *(e.updated_at for e in candidates), *listed]
    return max((s for s in stamps if s is not None and s <= now), default=now)


def feed_links(links: Links, show: Show) -> FeedLinks:
    return FeedLinks(
        feed_url=links.feed(show),
        show_page_url=links.show_page(show),
        image_url=links.media,
        episode_page_url=links.episode_pages_of(show),
        enclosure_url=links.enclosure,
        low_data_url=links.low_data,
        chapters_url=links.chapters_of(show),
        transcript_url=links.transcript,
        hubs=tuple(links.settings.websub_hubs),
        # After a rename the old URL redirects here; saying so in the feed makes apps update for good.
        new_feed_url=show.moved_to_url or (links.feed(show) if show.aliases else None),
    )


def subscriber_links(links: Links, show: Show, placeholder: str) -> FeedLinks:
    """A private show's feed links: every URL an app fetches carries the subscriber's token and goes to the
    app itself, never to MEDIA_URL, so that each request is checked. The show's pages answer nobody: the
    channel links to the home page and items link nowhere."""

    def tokened(url: str) -> str:
        return f"{url}?token={placeholder}"

    def media(key: str) -> str:
        return tokened(links.app_media(key))

    feed = tokened(links.feed(show))
    chapters = links.chapters_of(show)
    return FeedLinks(
        feed_url=feed,
        show_page_url=links.home(),
        image_url=media,
        episode_page_url=lambda _episode: None,
        enclosure_url=lambda episode: tokened(links.enclosure(episode)),
        low_data_url=lambda episode: tokened(links.low_data(episode)),
        chapters_url=lambda episode: tokened(chapters(episode)),
        transcript_url=lambda episode: media(episode.transcript_key or ""),
        # A hub could not fetch the feed without a token, and would only learn the show exists.
        hubs=(),
        new_feed_url=show.moved_to_url or (feed if show.aliases else None),
        private=True,
    )
