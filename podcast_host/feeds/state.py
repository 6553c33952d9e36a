"""A show's feed state: its row, read by slug on every feed request, before anything is rendered.

FeedState is what the read gives: enough to answer from the cache (feeds/syndication.py), or to redirect.
feed_state reads it on a connection the caller has; current_feed_state on a short-lived one of its own. The
fast path before Flask (web/fast_paths.py) reads it with FeedStateReader, a connection per thread outside the
pool.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, event, select
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import SQLAlchemyError

from podcast_host.db import Database
from podcast_host.models import Show
from podcast_host.services import Services


@dataclass(frozen=True)
class FeedState:
    """The show's row, read by slug on every request: enough to answer from the cache, or to redirect."""

    show_id: int
    moved_to_url: str | None
    access: str
    # Show.updated_at, which every ORM change of the show or of an episode with audio moves
    # (models.stamp_shows_of_changed_episodes).
    stamp: datetime


# Built once: this runs on every feed request, and SQLAlchemy reuses its compiled form.
_STATE_QUERY = select(Show.id, Show.moved_to_url, Show.access, Show.updated_at).where(
    Show.slug == bindparam("slug")
)

# feed_state_reader makes each process's reader once, whichever thread asks first.
_READER_MADE = threading.Lock()


def feed_state(connection: Connection, slug: str) -> FeedState | None:
    """The show with this current slug, read by its unique index; None for an unknown or old slug."""
    row = connection.execute(_STATE_QUERY, {"slug": slug}).one_or_none()
    return FeedState(*row) if row else None


def current_feed_state(db: Database, slug: str) -> FeedState | None:
    """feed_state on a short-lived connection of its own: the common request needs no ORM session."""
    with db.engine.connect() as connection:
        return feed_state(connection, slug)


class FeedStateReader:
    """A show's FeedState by slug, in the one indexed query of _STATE_QUERY, on a database connection each
    thread keeps for itself: no pool checkout (nor PostgreSQL's ping before one), no ORM, no transaction.

    The connections are in autocommit, so each read sees the latest commit. A thread's connection is closed
    when the thread ends (a server that starts a thread per request holds no more of them than it has threads
    alive) and when the engine is disposed. A database error closes the thread's connection (the next read
    opens another) and is raised: one of `errors`.
    """

    def __init__(self, engine: Engine) -> None:
        compiled = _STATE_QUERY.compile(dialect=engine.dialect)
        self._engine = engine
        self._sql = str(compiled)
        self._positional = compiled.positional
        # The same conversions SQLAlchemy applies (UTCDateTime: an aware datetime, also from SQLite's text).
        self._processors = [
            column.type.dialect_impl(engine.dialect).result_processor(engine.dialect, None)
            for column in _STATE_QUERY.selected_columns
        ]
        # The driver's errors, and SQLAlchemy's while a connection is made.
        self.errors: tuple[type[Exception], ...] = (engine.dialect.loaded_dbapi.Error, SQLAlchemyError)
        self._local = threading.local()
        self._opened: set[DBAPIConnection] = set()
        self._generation = 0
        self._lock = threading.Lock()
        event.listen(engine, "engine_disposed", lambda _engine: self.close())

    def read(self, slug: str) -> FeedState | None:
        kept = self._kept()
        try:
            cursor = kept.connection.cursor()
            try:
                cursor.execute(self._sql, (slug,) if self._positional else {"slug": slug})
                row = cursor.fetchone()
            finally:
                cursor.close()
        except self.errors:
            self._local.kept = None
            kept.release()
            raise
        if row is None:
            return None
        converted: list[Any] = [
            value if convert is None else convert(value)
            for convert, value in zip(self._processors, row, strict=True)
        ]
        return FeedState(*converted)

    def close(self) -> None:
        """Close every thread's connection; a thread that reads again opens a new one."""
        with self._lock:
            opened, self._opened = self._opened, set()
            self._generation += 1
        for connection in opened:
            self._close(connection)

    def _kept(self) -> _ThreadConnection:
        kept: _ThreadConnection | None = getattr(self._local, "kept", None)
        if kept is not None and kept.generation == self._generation:
            return kept
        # Made by the engine (its connect arguments and listeners: SQLite's pragmas), then taken out of the
        # pool, so that a thread keeping it never leaves the pool short.
        pooled = self._engine.raw_connection()
        pooled.detach()
        made = pooled.dbapi_connection
        assert made is not None  # a connection just made and detached is still open
        connection = made
        connection.rollback()
        self._engine.dialect.set_isolation_level(connection, "AUTOCOMMIT")
        with self._lock:
            self._opened.add(connection)
            kept = _ThreadConnection(connection, self._generation, self._forget)
        self._local.kept = kept
        return kept

    def _forget(self, connection: DBAPIConnection) -> None:
        with self._lock:
            self._opened.discard(connection)
        self._close(connection)

    def _close(self, connection: DBAPIConnection) -> None:
        # Already broken, or closed by close() before its thread ended: nothing more to release.
        with contextlib.suppress(*self.errors):
            connection.close()


class _ThreadConnection:
    """One thread's connection, kept as its thread-local value: `release` forgets and closes it, once,
    when called or when the value goes (the thread ended, or it opened a newer connection)."""

    __slots__ = ("__weakref__", "connection", "generation", "release")

    def __init__(
        self, connection: DBAPIConnection, generation: int, forget: Callable[[DBAPIConnection], None]
    ) -> None:
        self.connection = connection
        self.generation = generation
        self.release = weakref.finalize(self, forget, connection)
        # At exit the engine's own disposal (or the process's end) closes what is left.
        self.release.atexit = False


def feed_state_reader(services: Services) -> FeedStateReader:
    """This process's FeedStateReader, kept in services.caches beside the feeds; made once (it listens to
    the engine)."""
    reader = services.caches.get("feed_states")
    if reader is None:
        with _READER_MADE:
            reader = services.caches.get("feed_states")
            if reader is None:
                reader = services.caches["feed_states"] = FeedStateReader(services.db.engine)
    assert isinstance(reader, FeedStateReader)  # "feed_states" is this module's alone
    return reader
