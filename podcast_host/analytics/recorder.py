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
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from podcast_host.analytics.geo import CountryLookup
    from podcast_host.db import Database

log = logging.getLogger(__name__)

# Requests held at most while the database is away (about 30 MB at a few hundred bytes each).
BUFFER_LIMIT = 100_000
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


class Recorder:
    """One per process: note() from request threads, a daemon thread writes every `flush_s` seconds."""

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

    def note(self, heard: Heard) -> None:
        """Keep one request for the next batch; never blocks on the database, never raises."""
        with self._lock:
            if len(self._buffer) >= BUFFER_LIMIT:
                self._buffer.popleft()
                self.lost += 1
            self._buffer.append(heard)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="podcast-host-analytics", daemon=True)
                self._thread.start()

    def flush(self) -> bool:
        """Write what is buffered now; False (and the requests kept) when the database would not take it."""
        while True:
            with self._lock:
                batch = [self._buffer.popleft() for _ in range(min(BATCH, len(self._buffer)))]
            if not batch:
                return True
            try:
                self._write(batch)
            except SQLAlchemyError as exc:
                with self._lock:
                    self._buffer.extendleft(reversed(batch))
                    while len(self._buffer) > BUFFER_LIMIT:
                        self._buffer.popleft()
                        self.lost += 1
                log.warning("download counts wait for the database: %s", str(exc).splitlines()[0])
                return False

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

    def _write(self, batch: list[Heard]) -> None:
        # Loaded with the first batch: the User-Agent data is for processes that count, not every process.
        from podcast_host.analytics import counting

        today = self.clock().date()
        with self.db.session() as session:
            counting.count(session, batch, self.geo, counting.SaltBook(session, today))
            if self._forgotten_on != today:
                counting.forget_closed_days(session, today)
            session.commit()
        self._forgotten_on = today

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self.flush_s)
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a bug in counting must not stop later batches
                log.exception("writing download counts failed")
