"""Counting from access logs (`podcast-host analytics ingest`): a CDN's or web server's log lines go through
the same rules as the app's own requests (docs/analytics.md, "Access logs").

A file is counted in one transaction, and the digest of what was counted is kept: the same file again counts
nothing, and a longer copy of it (a log that grew since) counts only its new lines.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from podcast_host.analytics import counting, salts
from podcast_host.analytics.logs import FORMATS, LoggedRequest, LogLineError, read_log
from podcast_host.analytics.recorder import Heard
from podcast_host.errors import Invalid
from podcast_host.models import IngestedLog, utcnow
from podcast_host.services import Services
from podcast_host.storage import key_prefix, parse_media_key

HEAD_BYTES = 1024
# A log line longer than this is no request line (a real one is well under 10 KiB): reported and skipped.
MAX_LINE = 64 * 1024
# The advisory lock two ingests on PostgreSQL share (any constant of the app's own).
INGEST_LOCK = 0x706F6463  # "podc"
BATCH = 5_000
# Line errors reported back in full; past this many only their number.
ERRORS_SHOWN = 10


@dataclass
class Ingested:
    lines: int = 0
    counted_lines: int = 0
    downloads: int = 0
    skipped_bytes: int = 0
    # Bytes of the file counted, by this ingest or earlier ones: up to the end of its last whole line.
    through: int = 0
    errors: list[LogLineError] = field(default_factory=list)
    error_count: int = 0

    @property
    def already(self) -> bool:
        """No whole line past what an earlier ingest counted (a line still being written waits)."""
        return self.lines == 0 and self.skipped_bytes > 0


def ingest(services: Services, path: Path, fmt: str) -> Ingested:
    """Count the requests of one log file not counted before; Invalid for an unknown format, a file that is
    not a regular one, or one no line of which reads as that format (then nothing is written)."""
    if fmt not in FORMATS:
        raise Invalid(f"Unknown log format {fmt!r}; expected one of {', '.join(FORMATS)}.", field="format")
    if not path.is_file():
        raise Invalid(f"{path.name} is not a regular file.")
    size = path.stat().st_size
    key = services.settings.secret_key.encode("utf-8")
    result = Ingested()
    with services.db.session() as session:
        _one_ingest_at_a_time(session)
        result.skipped_bytes = result.through = _counted_before(session, path, size, key)
        if result.skipped_bytes == size and size > 0:
            return result
        today = utcnow().date()
        book = salts.SaltBook(session, today)
        batch: list[Heard] = []
        for item in read_log(_lines(path, size, result), fmt):
            if isinstance(item, LogLineError):
                _note_error(result, item)
                continue
            heard = _heard(item, services)
            if heard is None:
                continue
            batch.append(heard)
            if len(batch) >= BATCH:
                _count(session, batch, services, book, result)
                batch = []
        _count(session, batch, services, book, result)
        if result.lines and result.error_count == result.lines:
            raise Invalid(f"No line of {path.name} reads as a {fmt} log.", field="format")
        if result.through > result.skipped_bytes:
            whole = _digest(path, result.through, key)
            session.add(IngestedLog(head_sha256=_head(path, key), sha256=whole, length=result.through))
        salts.forget_closed_days(session, today)
        session.commit()
    return result


def _count(
    session: Session, batch: list[Heard], services: Services, book: salts.SaltBook, result: Ingested
) -> None:
    result.downloads += counting.count(session, batch, services.recorder.geo, book)
    result.counted_lines += len(batch)


def _note_error(result: Ingested, error: LogLineError) -> None:
    result.error_count += 1
    if len(result.errors) < ERRORS_SHOWN:
        result.errors.append(error)


def _one_ingest_at_a_time(session: Session) -> None:
    """Two ingests of one growing file at once would both count its new lines: the second waits. (SQLite
    lets one writer at a time anyway.)"""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": INGEST_LOCK})


def _counted_before(session: Session, path: Path, size: int, key: bytes) -> int:
    """How many leading bytes of the file an earlier ingest counted (0: none)."""
    earlier = session.scalars(
        select(IngestedLog)
        .where(IngestedLog.head_sha256 == _head(path, key), IngestedLog.length <= size)
        .order_by(IngestedLog.length.desc())
    ).all()
    for log_file in earlier:
        if hmac.compare_digest(_digest(path, log_file.length, key), log_file.sha256):
            return log_file.length
    return 0


def _head(path: Path, key: bytes) -> str:
    """A keyed digest of the file's first line that is not a header (its first HEAD_BYTES at most): the same
    in every copy of a log that grows, so it finds the earlier ingests of the file. Keyed with the secret
    key, since the line holds a listener's address."""
    digest = hmac.new(key, digestmod=hashlib.sha256)
    with open(path, "rb") as log_file:
        while line := log_file.readline(HEAD_BYTES):
            if not line.startswith(b"#"):
                digest.update(line)
                break
    return digest.hexdigest()


def _digest(path: Path, length: int, key: bytes) -> str:
    """A keyed digest of the file's first `length` bytes."""
    digest = hmac.new(key, digestmod=hashlib.sha256)
    remaining = length
    with open(path, "rb") as log_file:
        while remaining > 0 and (piece := log_file.read(min(1 << 20, remaining))):
            digest.update(piece)
            remaining -= len(piece)
    return digest.hexdigest()


def _lines(path: Path, size: int, result: Ingested) -> Iterator[str]:
    """The file's lines up to `size` bytes, numbered as in the file: headers ("#" lines) always, other lines
    only past the bytes counted before (earlier ones are passed as blank lines). A line longer than
    MAX_LINE is reported and skipped; a last line still being written (no newline yet) is left for later."""
    offset = 0
    number = 0
    with open(path, "rb") as log_file:
        while offset < size and (raw := log_file.readline(MAX_LINE)):
            number += 1
            if not raw.endswith(b"\n"):
                if len(raw) < MAX_LINE or offset + len(raw) >= size:
                    return  # the last line, unfinished
                skipped = _skip_rest_of_line(log_file)
                if skipped is None:
                    return
                offset += len(raw) + skipped
                if offset > result.skipped_bytes:
                    result.lines += 1
                    result.through = offset
                    _note_error(result, LogLineError(number, f"longer than {MAX_LINE // 1024} KiB"))
                yield ""
                continue
            if offset + len(raw) > size:
                return
            offset += len(raw)
            line = raw.decode("utf-8", "replace")
            if line.startswith("#"):
                yield line
            elif offset > result.skipped_bytes:
                result.lines += 1
                result.through = offset
                yield line
            else:
                yield ""


def _skip_rest_of_line(log_file: BinaryIO) -> int | None:
    """Read past the rest of an over-long line; its length, or None when the file ends first."""
    skipped = 0
    while piece := log_file.readline(MAX_LINE):
        skipped += len(piece)
        if piece.endswith(b"\n"):
            return skipped
    return None


def _heard(logged: LoggedRequest, services: Services) -> Heard | None:
    key = _media_key(logged.path, services)
    if key is None:
        return None
    return Heard(
        time=logged.time,
        address=logged.address,
        user_agent=logged.user_agent,
        method=logged.method,
        key=key,
        status=logged.status,
        sent=_sent(logged),
        sent_from=logged.range_start,
    )


def _sent(logged: LoggedRequest) -> int:
    """Bytes of the file that went out: the range's own length when the log gives it (CloudFront's byte
    count includes the headers), else the logged count."""
    if logged.range_start is not None and logged.range_end is not None:
        return max(0, logged.range_end - logged.range_start + 1)
    return logged.bytes_sent


def _media_key(path: str, services: Services) -> str | None:
    """The media key a logged path names: the app's /media/<key>, a MEDIA_URL address or a bucket key."""
    settings = services.settings
    candidates = [path.removeprefix("/media/")] if path.startswith("/media/") else []
    stripped = path
    if settings.media_url:
        base = urlsplit(settings.media_url).path.rstrip("/")
        if base and stripped.startswith(base + "/"):
            stripped = stripped[len(base) :]
    stripped = stripped.lstrip("/")
    prefix = key_prefix(settings.storage_url)
    if prefix and stripped.startswith(prefix.strip("/") + "/"):
        stripped = stripped[len(prefix.strip("/")) + 1 :]
    candidates.append(stripped)
    for key in candidates:
        try:
            parse_media_key(key)
        except ValueError:
            continue
        return key
    return None
