"""The database: one engine and session factory per app, schema managed by Alembic.

Alembic (about 11 MB once imported) loads only when the schema must change: every start checks the schema's
revision with one query first, and a current schema needs nothing more.

What must follow a change only once it is committed (a job, deleting replaced media) is registered on the
session with `after_commit`: it runs when the transaction commits and is dropped when it does not. Its twin
`after_rollback` undoes what no committed row will name (a newly stored object) when the transaction ends
without a commit (docs/architecture.md, "Transactions and what follows them").
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from podcast_host.models import stamp_shows_of_changed_episodes

if TYPE_CHECKING:
    from alembic.config import Config

    from podcast_host.jobs import JobQueue

log = logging.getLogger(__name__)
# Where a session keeps the actions waiting for its transaction to commit, or to end without a commit, by
# key, in the order registered.
_AFTER_COMMIT = "podcast_host.after_commit"
_AFTER_ROLLBACK = "podcast_host.after_rollback"
# Set when the outermost transaction commits; its end (connection released, session idle) runs the actions.
_COMMITTED = "podcast_host.committed"

# Migration files are named after their revision, "0003_what_it_does.py", and each revises the one before.
_REVISION_FILE = re.compile(r"(\d{4})_\w+\.py")


class DatabaseUnavailable(Exception):
    """The database could not be reached."""


# SQLite's words for a database it cannot use now: another writer holds it, or its file is out of reach.
_SQLITE_OUTAGES = ("database is locked", "unable to open database file", "disk i/o error")


def is_outage(exc: BaseException) -> bool:
    """Whether a database error means the database is out of reach for now (down, restarting, cut off, busy),
    not that a statement is wrong: the first is answered 503 and may be retried, the second is a bug."""
    if isinstance(exc, DisconnectionError | PoolTimeout):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if exc.connection_invalidated:
        return True
    original = exc.orig
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate is not None:
        # PostgreSQL: connection exceptions (08), operator intervention such as a shutdown (57P), too many
        # connections (53300).
        return str(sqlstate).startswith(("08", "57P")) or sqlstate == "53300"
    message = str(original).lower()
    if "sqlite" in type(original).__module__:
        return any(words in message for words in _SQLITE_OUTAGES)
    # psycopg names no state for a connection that could not be made at all.
    return "connection" in message


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # On this factory, not on every Session: whatever process builds a Database stamps and follows up
        # alike, whichever modules it imported.
        event.listen(self.sessions, "before_flush", stamp_shows_of_changed_episodes)
        event.listen(self.sessions, "after_commit", _note_commit)
        event.listen(self.sessions, "after_transaction_end", _after_transaction_end)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that rolls back on error and always closes."""
        session = self.sessions()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def check(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            reason = str(exc.orig if hasattr(exc, "orig") and exc.orig else exc).splitlines()[0]
            raise DatabaseUnavailable(
                f"The database at {self.engine.url!r} does not answer: {reason}"
            ) from None

    def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        if self.schema_is_current():
            return
        from alembic import command

        with self.engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def schema_is_current(self) -> bool:
        """Whether the schema is at the newest migration, read in one query; DatabaseUnavailable if down."""
        self.check()
        try:
            with self.engine.connect() as conn:
                stamped = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except SQLAlchemyError:  # no alembic_version table: an empty database
            return False
        return stamped == [newest_revision()]

    def dispose(self) -> None:
        self.engine.dispose()


def after_commit(session: Session, action: Callable[[], object], key: Hashable | None = None) -> None:
    """Run `action` once the session's transaction commits; a rollback (or a close without commit) drops it.

    Actions run in the order registered, once the transaction has ended and the session holds no connection
    (an inline job may take its time); a second one with the key of a waiting one is left out. One that raises
    is logged and the others still run: the change is committed whatever follows it. Savepoints are not
    followed: an action registered inside one that is rolled back still runs when the outer transaction
    commits (the app uses none).
    """
    _wait_for_end(session, _AFTER_COMMIT, action, key)


def after_rollback(session: Session, action: Callable[[], object], key: Hashable | None = None) -> None:
    """Run `action` once the session's transaction ends without a commit (a rollback, a close); a commit
    drops it. For what the transaction leaves outside the database, such as an object stored for a row.

    Kept as after_commit keeps its actions: run in the order registered once the session holds no
    connection, one per key, one that raises logged while the others still run. Savepoints are not followed:
    an action registered inside one that is rolled back waits for the outer transaction's end.
    """
    _wait_for_end(session, _AFTER_ROLLBACK, action, key)


def _wait_for_end(session: Session, slot: str, action: Callable[[], object], key: Hashable | None) -> None:
    if not session.in_transaction():
        # Registered before any SQL ran: begin now, so that the transaction's end is seen whichever it is.
        session.begin()
    waiting: dict[Hashable, Callable[[], object]] = session.info.setdefault(slot, {})
    waiting.setdefault(object() if key is None else key, action)


def enqueue_after_commit(session: Session, queue: JobQueue, name: str, *args: Any) -> None:
    """Queue the job once the transaction commits, and once only however often it is asked for."""
    after_commit(session, functools.partial(queue.enqueue, name, *args), key=(name, args))


def _note_commit(session: Session) -> None:
    # Also called when a savepoint is released; only the outermost commit counts.
    if not session.in_nested_transaction():
        session.info[_COMMITTED] = True


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    """The outermost transaction ended: after a commit run what waited for it, after a rollback or a close
    what waited for that; the others are dropped."""
    if transaction.parent is not None:
        return
    after_commit_actions = session.info.pop(_AFTER_COMMIT, {})
    after_rollback_actions = session.info.pop(_AFTER_ROLLBACK, {})
    committed = session.info.pop(_COMMITTED, False)
    ending = "commit" if committed else "rollback"
    for action in (after_commit_actions if committed else after_rollback_actions).values():
        try:
            action()
        except Exception:  # noqa: BLE001 - the transaction has ended; what follows it may not undo that
            log.exception("an action after a %s failed: %r", ending, action)


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("podcast_host") / "migrations"))
    return cfg


def newest_revision() -> str:
    """The revision of the newest migration file."""
    versions = resources.files("podcast_host") / "migrations" / "versions"
    names = (_REVISION_FILE.fullmatch(file.name) for file in versions.iterdir())
    return max(found.group(1) for found in names if found)


def _make_engine(url: str) -> Engine:
    # Errors name no bound values: they may be a password hash, a token's digest or the day's analytics salt,
    # and error messages end up in logs (docs/analytics.md, "Privacy").
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        connect_args={"connect_timeout": 5},
        hide_parameters=True,
    )


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # WAL lets the feed be read while a worker thread writes; foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
