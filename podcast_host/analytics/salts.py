"""The day's secret that listener keys and subscriber networks are hashed with, and the forgetting of closed
days (docs/analytics.md, "Privacy"; docs/private-feeds.md, "Shared addresses").

A salt lives through its own UTC day and the next one, then is deleted with every row hashed under it, so
that nobody, the host included, can later tell which address a stored hash stood for. Light on purpose: the
feed and media routes load it without the User-Agent data counting needs.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from podcast_host.models import AnalyticsSalt, ListenerDay, SubscriberNetwork

# A salt lives through its own day and the next one, then is deleted with the rows of its day.
KEEP_DAYS = 2


class SaltBook:
    """The salts of the days a batch touches: stored for today and yesterday, made up and kept in memory only
    for older days (an old log), so that no salt of a closed day is ever written."""

    def __init__(self, session: Session, today: date, made_up: dict[date, bytes] | None = None) -> None:
        self.session = session
        self.today = today
        self._salts: dict[date, bytes] = {}
        # Salts of closed days, in memory only; a caller that writes several batches passes the same dict.
        self._made_up = {} if made_up is None else made_up

    def salt(self, day: date) -> bytes:
        if day not in self._salts:
            if self.today - timedelta(days=KEEP_DAYS - 1) <= day <= self.today:
                self._salts[day] = self._stored(day)
            else:
                self._salts[day] = self._made_up.setdefault(day, secrets.token_bytes(32))
        return self._salts[day]

    def _stored(self, day: date) -> bytes:
        fresh = secrets.token_hex(32)
        self.session.execute(
            upsert(self.session, AnalyticsSalt).values(day=day, salt=fresh).on_conflict_do_nothing()
        )
        stored = self.session.scalar(select(AnalyticsSalt.salt).where(AnalyticsSalt.day == day))
        return bytes.fromhex(stored or fresh)


def keyed(salt: bytes, message: bytes) -> str:
    """What is stored in place of an address: HMAC-SHA256 of `message` under a day's salt, in hex."""
    return hmac.new(salt, message, hashlib.sha256).hexdigest()


def forget_closed_days(session: Session, today: date) -> None:
    """Delete the salts, listener rows and subscriber networks of days over two days old: they can never be
    linked to an address again, by anyone. The caller commits."""
    cut = today - timedelta(days=KEEP_DAYS - 1)
    session.execute(delete(AnalyticsSalt).where(AnalyticsSalt.day < cut))
    session.execute(delete(ListenerDay).where(ListenerDay.day < cut))
    session.execute(delete(SubscriberNetwork).where(SubscriberNetwork.day < cut))


def upsert(session: Session, model: type[Any] | Table) -> Any:
    """INSERT with ON CONFLICT for the session's database (both dialects spell it the same way)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)
