"""Counting off the response path: the media route hands each request to a bounded in-memory buffer, and a
thread of the web process writes the buffer in batches (docs/analytics.md, "How requests are recorded").

Serving never waits for the database: `note` only appends. When the database cannot be reached the batch
stays in the buffer and is tried again; past BUFFER_LIMIT the oldest requests are dropped and counted as lost
(logged), so an outage costs counts, never audio or memory. Raw addresses live only in this buffer.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from podcast_host.analytics.geo import CountryLookup
    from podcast_host.db import Database

log = logging.getLogger(__name__)

# Requests held at most while the database is away: at most about 1 KB each (the User-Agent and Range are
# cut to their limits in rules.py), so about 50 MB at worst, a few MB in practice.
BUFFER_LIMIT = 50_000
# Requests written per transaction.
BATCH = 2_000


@dataclass(frozen=True)
class Heard:
    """One request for a media file, live or from an access log; the raw address never leaves memory."""

    time: datetime
    address: str
    user_agent: str
    method: str
    key: str
    status: int
    range_header: str | None = None
    # Access logs say what was sent, not what was asked: the bytes, and the first byte's offset when known.
    sent: int | None = None
    sent_from: int | None = None
    # A private show's subscriber whose token opened the file: their downloads are counted apart too.
    subscriber_id: int | None = None


class Recorder:
    """One per process: note() from request threads; a daemon thread writes every `flush_s` seconds and, once
    a day even without traffic, deletes the salts and listener rows of closed days."""

    def __init__(
        self, db: Database, geo: CountryLookup, flush_s: float, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.db = db
        self.geo = geo
        self.flush_s = flush_s
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lost = 0
        self._buffer: deque[Heard] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._forgotten_on: date | None = None
        # Salts of days already closed when their requests are written (after a long outage), kept in memory
        # so that one listener still counts once.
        self._made_up: dict[date, bytes] = {}

    def start(self) -> None:
        """Start the writing thread (note() also starts it); a web process calls this when it starts."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="podcast-host-analytics", daemon=True)
                self._thread.start()

    def note(self, heard: Heard) -> None:
        """Keep one request for the next batch; never blocks on the database, never raises."""
        with self._lock:
            self._buffer.append(heard)
            self._drop_past_limit()
        if self._thread is None:
            self.start()

    def flush(self) -> bool:
        """Write what is buffered now (not what arrives meanwhile: that waits for the next round, so that
        batches stay large); False, and the requests kept, when the database would not take them."""
        with self._lock:
            left = len(self._buffer)
        while left > 0:
            with self._lock:
                batch = [self._buffer.popleft() for _ in range(min(BATCH, left, len(self._buffer)))]
            if not batch:
                return True
            left -= len(batch)
            try:
                self._write(batch)
            except SQLAlchemyError as exc:
                with self._lock:
                    self._buffer.extendleft(reversed(batch))
                    self._drop_past_limit()
                log.warning("download counts wait for the database: %s", str(exc).splitlines()[0])
                return False
        return True

    def forget_closed_days(self) -> None:
        """Delete closed days' salts and listener rows, once a day per process."""
        from podcast_host.analytics import salts

        today = self.clock().date()
        if self._forgotten_on == today:
            return
        with self.db.session() as session:
            salts.forget_closed_days(session, today)
            session.commit()
        self._forgotten_on = today
        self._made_up = {day: salt for day, salt in self._made_up.items() if day >= today - timedelta(days=7)}

    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    def close(self) -> None:
        """Stop the thread and write what is left, if the database takes it."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def _drop_past_limit(self) -> None:
        while len(self._buffer) > BUFFER_LIMIT:
            self._buffer.popleft()
            self.lost += 1
            if self.lost % 1000 == 1:
                log.warning("download counting is behind: %d requests dropped so far", self.lost)

    def _write(self, batch: list[Heard]) -> None:
        # Loaded with the first batch: the User-Agent data is for processes that count, not every process.
        from podcast_host.analytics import counting, salts

        today = self.clock().date()
        with self.db.session() as session:
            counting.count(session, batch, self.geo, salts.SaltBook(session, today, self._made_up))
            session.commit()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self.flush_s)
            try:
                self.flush()
                self.forget_closed_days()
            except SQLAlchemyError as exc:
                log.warning("forgetting closed days waits for the database: %s", str(exc).splitlines()[0])
            except Exception:  # noqa: BLE001 - a bug in counting must not stop later batches
                log.exception("writing download counts failed")
