"""What every model module is built on: the declarative Base, UTC time stamps on every backend, ids never
reused. models.py, listener_models.py, import_models.py and subscriber_models.py build on it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


# SQLite hands out the highest id again after that row is deleted unless a table says AUTOINCREMENT; ids name
# media keys, URLs and jobs, so none is ever reused (PostgreSQL sequences never reuse one anyway).
NEVER_REUSE_IDS: dict[str, Any] = {"sqlite_autoincrement": True}
# The largest id: every id column is an INTEGER, 32-bit signed on PostgreSQL; a bigger number names no row
# and the database would refuse it as a parameter.
MAX_ID = 2**31 - 1
