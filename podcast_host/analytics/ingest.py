"""Counting from access logs (`podcast-host analytics ingest`): a CDN's or web server's log lines go through
the same rules as the app's own requests (docs/analytics.md, "Access logs").

A file is counted in one transaction, and the digest of what was counted is kept: the same file again counts
nothing, and a longer copy of it (a log that grew since) counts only its new lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from podcast_host.analytics import counting
from podcast_host.analytics.logs import FORMATS, LoggedRequest, LogLineError, read_log
from podcast_host.analytics.recorder import Heard
from podcast_host.errors import Invalid
from podcast_host.models import IngestedLog, utcnow
from podcast_host.services import Services
from podcast_host.storage import key_prefix, parse_media_key

HEAD_BYTES = 1024
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
        return self.lines == 0 and self.skipped_bytes > 0


def ingest(services: Services, path: Path, fmt: str) -> Ingested:
    """Count the requests of one log file not counted before; Invalid for an unknown format."""
    if fmt not in FORMATS:
        raise Invalid(f"Unknown log format {fmt!r}; expected one of {', '.join(FORMATS)}.", field="format")
    size = path.stat().st_size
    result = Ingested()
    with services.db.session() as session:
        result.skipped_bytes = _counted_before(session, path, size)
        if result.skipped_bytes == size and size > 0:
            result.through = size
            return result
        salts = counting.SaltBook(session, utcnow().date())
        batch: list[Heard] = []
        result.through = result.skipped_bytes
        for item in read_log(_lines(path, result.skipped_bytes, size, result), fmt):
            if isinstance(item, LogLineError):
                result.error_count += 1
                if len(result.errors) < ERRORS_SHOWN:
                    result.errors.append(item)
                continue
            heard = _heard(item, services)
            if heard is None:
                continue
            batch.append(heard)
            if len(batch) >= BATCH:
                result.downloads += counting.count(session, batch, services.recorder.geo, salts)
                result.counted_lines += len(batch)
                batch = []
        if batch:
            result.downloads += counting.count(session, batch, services.recorder.geo, salts)
            result.counted_lines += len(batch)
        if result.lines and result.error_count == result.lines:
            raise Invalid(f"No line of {path.name} reads as a {fmt} log.", field="format")
        if result.through <= result.skipped_bytes:
            return result
        head = _head(path)
        session.add(
            IngestedLog(head_sha256=head, sha256=_digest(path, result.through), length=result.through)
        )
        session.commit()
    return result


def _counted_before(session: Session, path: Path, size: int) -> int:
    """How many leading bytes of the file an earlier ingest counted (0: none)."""
    head = _head(path)
    earlier = session.scalars(
        select(IngestedLog)
        .where(IngestedLog.head_sha256 == head, IngestedLog.length <= size)
        .order_by(IngestedLog.length.desc())
    ).all()
    for log_file in earlier:
        if _digest(path, log_file.length) == log_file.sha256:
            return log_file.length
    return 0


def _head(path: Path) -> str:
    """sha256 of the file's first line (its first HEAD_BYTES at most): the same in every copy of a log that
    grows, so it finds the earlier ingests of the file."""
    with open(path, "rb") as log_file:
        return hashlib.sha256(log_file.readline(HEAD_BYTES)).hexdigest()


def _digest(path: Path, length: int) -> str:
    """sha256 of the file's first `length` bytes."""
    digest = hashlib.sha256()
    remaining = length
    with open(path, "rb") as log_file:
        while remaining > 0 and (piece := log_file.read(min(1 << 20, remaining))):
            digest.update(piece)
            remaining -= len(piece)
    return digest.hexdigest()


def _lines(path: Path, skip: int, size: int, result: Ingested) -> Iterator[str]:
    """The file's whole lines up to `size` bytes for the parser: headers ("#" lines) always, other lines only
    past `skip` bytes. A last line still being written (no newline yet) is left for the next ingest."""
    offset = 0
    with open(path, "rb") as log_file:
        for raw in log_file:
            if offset + len(raw) > size or not raw.endswith(b"\n"):
                break
            line = raw.decode("utf-8", "replace")
            offset += len(raw)
            if offset > skip:
                result.lines += 1
                result.through = offset
                yield line
            elif line.startswith("#"):
                yield line


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
