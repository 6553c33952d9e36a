"""Requests for episodes' audio turned into downloads (docs/analytics.md): salted listener keys,
listener-days, daily tallies.

A request reaches this module with its raw address, in memory only. Here the address is grouped, looked up
for its country, and folded with the User-Agent into a keyed hash under the day's salt; only that hash is
written. Salts and listener rows are deleted two days after their day, so yesterday's listeners can still be
merged with a log ingested today, and nothing older can be linked to an address again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, select, tuple_
from sqlalchemy.orm import Session

from podcast_host.analytics import rules
from podcast_host.analytics.clients import classify
from podcast_host.analytics.geo import CountryLookup
from podcast_host.analytics.recorder import Heard
from podcast_host.analytics.salts import SaltBook, keyed, upsert
from podcast_host.models import DownloadTally, Episode, ListenerDay
from podcast_host.storage import LOW_DATA_EXTENSION, parse_media_key

log = logging.getLogger(__name__)
# The tables written in bulk, as Core tables: executemany of one compiled statement, no ORM unit of work.
LISTENER_DAYS = cast(Table, ListenerDay.__table__)
DOWNLOAD_TALLIES = cast(Table, DownloadTally.__table__)

# Listener rows read per statement (three parameters each: well inside SQLite's limit of 32,766).
ROWS_PER_STATEMENT = 1000
# Requests gathered between two pauses of the writing thread (see _let_requests_run).
YIELD_EVERY = 32
# Far past any threshold, and inside a BIGINT whatever a log claims.
MAX_LOOSE_BYTES = 2**62
# Tally dimensions besides "episode" (whose name is the episode's id).
DIMENSIONS = ("app", "device", "os", "country")


@dataclass
class Listen:
    """What one listener asked of one episode on one day, within one batch."""

    show_id: int
    app: str
    device: str
    os: str
    country: str
    subscriber_id: int | None = None
    spans: list[rules.Span] = field(default_factory=list)
    loose_bytes: int = 0


@dataclass(frozen=True)
class _Audio:
    show_id: int
    size: int
    threshold: int
    # The low-data Opus version's size: its bytes count as the same share of the MP3's (0: none).
    low_data_size: int = 0


def listener_key(salt: bytes, address: str, user_agent: str, subscriber_id: int | None = None) -> str:
    """The listener as stored: a keyed hash of address group and User-Agent (and a private show's
    subscriber: two subscribers behind one address stay two listeners), unreadable without the salt."""
    message = f"{rules.address_group(address)}\n{user_agent}".encode("utf-8", "surrogatepass")
    if subscriber_id is not None:
        message += f"\nsubscriber {subscriber_id}".encode()
    return keyed(salt, message)


def count(session: Session, heard: Sequence[Heard], geo: CountryLookup, salts: SaltBook) -> int:
    """Apply a batch of requests; returns how many downloads it completed. The caller commits."""
    audio = _audio_of(session, {h.key for h in heard})
    listens: dict[tuple[date, str, int], Listen] = {}
    for number, request in enumerate(heard, 1):
        try:
            _gather(request, audio, geo, salts, listens)
        except Exception:  # noqa: BLE001 - one odd request must not cost the batch's others their counts
            log.exception("a request could not be counted")
        if number % YIELD_EVERY == 0:
            _let_requests_run()
    tallies: Counter[tuple[int, date, str, str]] = Counter()
    for start in range(0, len(listens), ROWS_PER_STATEMENT):
        keys = sorted(listens)[start : start + ROWS_PER_STATEMENT]
        _let_requests_run()
        for day, listener, episode_id in _apply(session, {key: listens[key] for key in keys}, audio):
            listen = listens[(day, listener, episode_id)]
            tallies[(listen.show_id, day, "episode", str(episode_id))] += 1
            for kind in DIMENSIONS:
                tallies[(listen.show_id, day, kind, str(getattr(listen, kind))[:100])] += 1
            if listen.subscriber_id is not None:
                tallies[(listen.show_id, day, rules.SUBSCRIBER_TALLY, str(listen.subscriber_id))] += 1
    _add_tallies(session, tallies)
    return sum(n for (_, _, kind, _), n in tallies.items() if kind == "episode")


def _let_requests_run() -> None:
    """Hand the interpreter to the web process's request threads for a moment. Counting runs in a thread of
    the web process: left to run on, it would keep them waiting for the interpreter lock up to its switch
    interval at every step, and serving slowed far more than counting's own work accounts for."""
    time.sleep(0)


def _gather(
    request: Heard,
    audio: dict[int, _Audio],
    geo: CountryLookup,
    salts: SaltBook,
    listens: dict[tuple[date, str, int], Listen],
) -> None:
    """Add one request to the batch's listens, if it may count."""
    found = _listen_of(request, audio)
    if found is None:
        return
    episode_id, spans, loose = found
    user_agent = request.user_agent[: rules.MAX_USER_AGENT]
    client = classify(user_agent)
    if client.bot:
        return
    day = request.time.date()
    listener = listener_key(salts.salt(day), request.address, user_agent, request.subscriber_id)
    listen = listens.get((day, listener, episode_id))
    if listen is None:
        where = audio[episode_id]
        listen = listens[(day, listener, episode_id)] = Listen(
            where.show_id,
            client.app,
            client.device,
            client.os,
            geo.country(request.address),
            request.subscriber_id,
        )
    listen.spans = rules.add_spans(listen.spans, spans)
    listen.loose_bytes += loose


def _audio_of(session: Session, keys: Iterable[str]) -> dict[int, _Audio]:
    """The published audio facts of the episodes these keys belong to (keys of other kinds are left out)."""
    ids = set()
    for key in keys:
        try:
            where = parse_media_key(key)
        except ValueError:
            continue
        if where.kind == "audio" and where.episode_id is not None:
            ids.add(where.episode_id)
    if not ids:
        return {}
    rows = session.execute(
        select(
            Episode.id, Episode.show_id, Episode.enclosure_length, Episode.duration_s, Episode.low_data_length
        ).where(Episode.id.in_(ids), Episode.enclosure_length.is_not(None))
    )
    return {
        row.id: _Audio(
            row.show_id,
            row.enclosure_length,
            rules.download_threshold(row.enclosure_length, row.duration_s),
            row.low_data_length or 0,
        )
        for row in rows
    }


def _listen_of(request: Heard, audio: dict[int, _Audio]) -> tuple[int, list[rules.Span], int] | None:
    """(episode id, spans asked for, loose bytes) of a request that may count, else None."""
    if request.method != "GET" or request.status not in rules.DELIVERED or not request.user_agent.strip():
        return None
    try:
        where = parse_media_key(request.key)
    except ValueError:
        return None
    if where.kind != "audio" or where.episode_id not in audio:
        return None
    found = audio[where.episode_id]
    size = found.size
    if request.key.endswith(f".{LOW_DATA_EXTENSION}") and found.low_data_size:
        # The low-data file: its bytes are read as the same share of the MP3, so that a listener who moves
        # from one to the other, and the one-minute rule, count as for the MP3.
        size = found.low_data_size
    listened: tuple[int, list[rules.Span], int] | None
    if request.sent is None:  # live: what the Range header asked for
        if rules.is_probe(request.range_header, size):
            return None
        listened = where.episode_id, rules.requested_spans(request.range_header, size), 0
    else:
        listened = _logged_listen(request, where.episode_id, size)
    if listened is None or size == found.size:
        return listened
    episode_id, spans, loose = listened
    return episode_id, _scaled(spans, size, found.size), loose * found.size // size


def _scaled(spans: list[rules.Span], size: int, to_size: int) -> list[rules.Span]:
    """Byte spans of a file of `size` bytes as the same shares of a file of `to_size` bytes."""
    return [(start * to_size // size, min(to_size, -(-end * to_size // size))) for start, end in spans]


def _logged_listen(request: Heard, episode_id: int, size: int) -> tuple[int, list[rules.Span], int] | None:
    sent = request.sent or 0
    if request.status == 302:
        return episode_id, [(0, size)], 0
    if request.status == 206 and sent <= rules.PROBE_BYTES:
        return None
    if request.sent_from is not None:
        start = min(request.sent_from, size)
        return episode_id, [(start, min(start + sent, size))] if sent else [], 0
    if request.status == 200:
        return episode_id, [(0, min(sent, size) if sent else size)], 0
    return episode_id, [], sent  # a 206 whose offset the log does not say: its bytes add up apart


def _apply(
    session: Session, listens: dict[tuple[date, str, int], Listen], audio: dict[int, _Audio]
) -> list[tuple[date, str, int]]:
    """Merge listens into their stored rows; the keys that became downloads.

    Three statements, each run once for all the rows (executemany, compiled once): first the rows that do
    not exist yet are made, then every row is read and locked (in key order, the same in every process, so
    two batches never deadlock), then the merged rows are written back."""
    table = LISTENER_DAYS
    keys = sorted(listens)
    rows = {key: _row(key, listens[key]) for key in keys}
    session.execute(upsert(session, table).on_conflict_do_nothing(), list(rows.values()))
    stored = session.execute(
        select(table.c.day, table.c.listener, table.c.episode_id, table.c.ranges, table.c.loose_bytes)
        .where(
            tuple_(table.c.day, table.c.listener, table.c.episode_id).in_(keys), table.c.counted.is_(False)
        )
        .order_by(table.c.day, table.c.listener, table.c.episode_id)
        .with_for_update()
    ).all()
    merged, downloads = [], []
    for day, listener, episode_id, ranges, loose_bytes in stored:
        key = (day, listener, episode_id)
        listen = listens[key]
        spans = rules.add_spans([(start, end) for start, end in ranges], listen.spans)
        loose = min(loose_bytes + listen.loose_bytes, MAX_LOOSE_BYTES)
        counted = rules.covered_bytes(spans) + loose >= audio[episode_id].threshold
        merged.append(
            {**rows[key], "ranges": [list(span) for span in spans], "loose_bytes": loose, "counted": counted}
        )
        if counted:
            downloads.append(key)
    if merged:
        write = upsert(session, table)
        merge = write.on_conflict_do_update(
            index_elements=["day", "listener", "episode_id"],
            set_={name: write.excluded[name] for name in ("ranges", "loose_bytes", "counted")},
        )
        session.execute(merge, merged)
    return downloads


def _row(key: tuple[date, str, int], listen: Listen) -> dict[str, Any]:
    day, listener, episode_id = key
    return {
        "day": day,
        "listener": listener,
        "episode_id": episode_id,
        "show_id": listen.show_id,
        "app": listen.app[:100],
        "device": listen.device[:40],
        "os": listen.os[:40],
        "country": listen.country[:8],
        "ranges": [],
        "loose_bytes": 0,
        "counted": False,
    }


def _add_tallies(session: Session, tallies: Counter[tuple[int, date, str, str]]) -> None:
    if not tallies:
        return
    write = upsert(session, DOWNLOAD_TALLIES)
    add = write.on_conflict_do_update(
        index_elements=["show_id", "day", "kind", "name"],
        set_={"downloads": DOWNLOAD_TALLIES.c.downloads + write.excluded.downloads},
    )
    rows = [
        {"show_id": show_id, "day": day, "kind": kind, "name": name, "downloads": downloads}
        for (show_id, day, kind, name), downloads in sorted(tallies.items())
    ]
    session.execute(add, rows)
