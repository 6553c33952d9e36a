"""Requests for episodes' audio turned into downloads (docs/analytics.md): salted listener keys,
listener-days, daily tallies.

A request reaches this module with its raw address, in memory only. Here the address is grouped, looked up
for its country, and folded with the User-Agent into a keyed hash under the day's salt; only that hash is
written. Salts and listener rows are deleted two days after their day, so yesterday's listeners can still be
merged with a log ingested today, and nothing older can be linked to an address again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from podcast_host.analytics import rules
from podcast_host.analytics.clients import classify
from podcast_host.analytics.geo import CountryLookup
from podcast_host.analytics.recorder import Heard
from podcast_host.models import AnalyticsSalt, DownloadTally, Episode, ListenerDay
from podcast_host.storage import parse_media_key

# Answers that hand the listener the audio (or send it where the audio is); anything else never counts.
DELIVERED = frozenset({200, 206, 302})
# A salt lives through its own day and the next one, then is deleted with the listener rows of its day.
KEEP_DAYS = 2
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
    spans: list[rules.Span] = field(default_factory=list)
    loose_bytes: int = 0


@dataclass(frozen=True)
class _Audio:
    show_id: int
    size: int
    threshold: int


class SaltBook:
    """The salts of the days a batch touches: stored for today and yesterday, made up and kept in memory only
    for older days (an old log), so that no salt of a closed day is ever written."""

    def __init__(self, session: Session, today: date) -> None:
        self.session = session
        self.today = today
        self._salts: dict[date, bytes] = {}

    def salt(self, day: date) -> bytes:
        if day not in self._salts:
            if self.today - timedelta(days=KEEP_DAYS - 1) <= day <= self.today:
                self._salts[day] = self._stored(day)
            else:
                self._salts[day] = secrets.token_bytes(32)
        return self._salts[day]

    def _stored(self, day: date) -> bytes:
        fresh = secrets.token_hex(32)
        self.session.execute(
            _insert(self.session, AnalyticsSalt).values(day=day, salt=fresh).on_conflict_do_nothing()
        )
        stored = self.session.scalar(select(AnalyticsSalt.salt).where(AnalyticsSalt.day == day))
        return bytes.fromhex(stored or fresh)


def listener_key(salt: bytes, address: str, user_agent: str) -> str:
    """The listener as stored: a keyed hash of address group and User-Agent, unreadable without the salt."""
    message = f"{rules.address_group(address)}\n{user_agent}".encode("utf-8", "surrogatepass")
    return hmac.new(salt, message, hashlib.sha256).hexdigest()


def count(session: Session, heard: Sequence[Heard], geo: CountryLookup, salts: SaltBook) -> int:
    """Apply a batch of requests; returns how many downloads it completed. The caller commits."""
    audio = _audio_of(session, {h.key for h in heard})
    listens: dict[tuple[date, str, int], Listen] = {}
    for request in heard:
        found = _listen_of(request, audio)
        if found is None:
            continue
        episode_id, spans, loose = found
        client = classify(request.user_agent)
        if client.bot:
            continue
        day = request.time.date()
        listener = listener_key(salts.salt(day), request.address, request.user_agent)
        listen = listens.get((day, listener, episode_id))
        if listen is None:
            where = audio[episode_id]
            listen = listens[(day, listener, episode_id)] = Listen(
                where.show_id, client.app, client.device, client.os, geo.country(request.address)
            )
        listen.spans = rules.add_spans(listen.spans, spans)
        listen.loose_bytes += loose
    tallies: Counter[tuple[int, date, str, str]] = Counter()
    for (day, listener, episode_id), listen in listens.items():
        if _apply(session, day, listener, episode_id, listen, audio[episode_id].threshold):
            tallies[(listen.show_id, day, "episode", str(episode_id))] += 1
            for kind in DIMENSIONS:
                tallies[(listen.show_id, day, kind, str(getattr(listen, kind))[:100])] += 1
    _add_tallies(session, tallies)
    return sum(n for (_, _, kind, _), n in tallies.items() if kind == "episode")


def forget_closed_days(session: Session, today: date) -> None:
    """Delete the salts and listener rows of days over two days old: their listeners can never be linked
    again, by anyone. The caller commits."""
    cut = today - timedelta(days=KEEP_DAYS - 1)
    session.execute(delete(AnalyticsSalt).where(AnalyticsSalt.day < cut))
    session.execute(delete(ListenerDay).where(ListenerDay.day < cut))


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
        select(Episode.id, Episode.show_id, Episode.enclosure_length, Episode.duration_s).where(
            Episode.id.in_(ids), Episode.enclosure_length.is_not(None)
        )
    )
    return {
        row.id: _Audio(
            row.show_id, row.enclosure_length, rules.download_threshold(row.enclosure_length, row.duration_s)
        )
        for row in rows
    }


def _listen_of(request: Heard, audio: dict[int, _Audio]) -> tuple[int, list[rules.Span], int] | None:
    """(episode id, spans asked for, loose bytes) of a request that may count, else None."""
    if request.method != "GET" or request.status not in DELIVERED or not request.user_agent.strip():
        return None
    try:
        where = parse_media_key(request.key)
    except ValueError:
        return None
    if where.kind != "audio" or where.episode_id not in audio:
        return None
    size = audio[where.episode_id].size
    if request.sent is None:  # live: what the Range header asked for
        if rules.is_probe(request.range_header, size):
            return None
        return where.episode_id, rules.requested_spans(request.range_header, size), 0
    return _logged_listen(request, where.episode_id, size)


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
    session: Session, day: date, listener: str, episode_id: int, listen: Listen, threshold: int
) -> bool:
    """Merge one listen into its stored row; True when this made it a download."""
    session.execute(
        _insert(session, ListenerDay)
        .values(
            day=day,
            listener=listener,
            episode_id=episode_id,
            show_id=listen.show_id,
            app=listen.app[:100],
            device=listen.device[:40],
            os=listen.os[:40],
            country=listen.country[:8],
            ranges=[],
            loose_bytes=0,
            counted=False,
        )
        .on_conflict_do_nothing()
    )
    row = session.scalars(
        select(ListenerDay)
        .where(ListenerDay.day == day, ListenerDay.listener == listener, ListenerDay.episode_id == episode_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if row.counted:
        return False
    kept = [(start, end) for start, end in row.ranges]
    spans = rules.add_spans(kept, listen.spans)
    row.ranges = [[start, end] for start, end in spans]
    row.loose_bytes += listen.loose_bytes
    if rules.covered_bytes(spans) + row.loose_bytes >= threshold:
        row.counted = True
    session.flush()
    return row.counted


def _add_tallies(session: Session, tallies: Counter[tuple[int, date, str, str]]) -> None:
    for (show_id, day, kind, name), downloads in sorted(tallies.items()):
        statement = _insert(session, DownloadTally).values(
            show_id=show_id, day=day, kind=kind, name=name, downloads=downloads
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["show_id", "day", "kind", "name"],
                set_={"downloads": DownloadTally.downloads + statement.excluded.downloads},
            )
        )


def _insert(session: Session, model: type[Any]) -> Any:
    """INSERT with ON CONFLICT for the session's database (both dialects spell it the same way)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)
