"""The database: one engine and session factory per app, schema managed by Alembic.

Alembic (about 11 MB once imported) loads only when the schema must change: every start checks the schema's
revision with one query first, and a current schema needs nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

# Migration files are named after their revision, "0003_what_it_does.py", and each revises the one before.
_REVISION_FILE = re.compile(r"(\d{4})_\w+\.py")


class DatabaseUnavailable(Exception):
    """The database could not be reached."""


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

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
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args={"connect_timeout": 5}
    )


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the feed be read while a worker thread writes; foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
