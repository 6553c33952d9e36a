"""A private show's subscribers: who they are, the token in each one's feed URL, revocation, CSV import
(docs/private-feeds.md).

A token is 192 random bits, shown once in the subscriber's feed URL (when they are added or the token is
issued again) and kept only as its sha256, so the database cannot give it away. Every request that carries one
is checked against the database, never a cache: a revoked token stops working on the next request, in every
process.
"""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from podcast_host import sharing
from podcast_host.accounts import hash_secret, normalize_email
from podcast_host.errors import Conflict, Invalid, NotFound, refusal
from podcast_host.models import MAX_ID, Show, Subscriber, utcnow
from podcast_host.notes import clean_text

# Who may see and change a show's subscribers (addresses are personal data): its editors and owners.
PERMISSION = "edit_show"
# The token's length in random bytes: 192 bits, as URL-safe base64 (32 characters).
TOKEN_BYTES = 24
TOKEN_CHARS = len(secrets.token_urlsafe(TOKEN_BYTES))
MAX_NAME_CHARS = 200
# The most subscribers one CSV adds, and the largest CSV read.
MAX_CSV_ROWS = 10_000
MAX_CSV_BYTES = 2 * 1024 * 1024


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def add_subscriber(
    session: Session, show: Show, email: str, name: str = "", active: set[str] | None = None
) -> tuple[Subscriber, str]:
    """A new subscriber of the show and their token (returned once). `active`: the show's subscribed
    addresses, when the caller adds many at once and has read them already (kept up to date here; the
    caller flushes). A conflict the database finds (the same address added meanwhile) rolls the session
    back and raises Conflict."""
    address = normalize_email(email)
    clean_name = clean_text(name).strip()
    if len(clean_name) > MAX_NAME_CHARS:
        raise Invalid(
            refusal("A subscriber's name is at most %(most)s characters.", most=MAX_NAME_CHARS), field="name"
        )
    if any(c in clean_name for c in "\t\n"):  # clean_text has made every "\r" a "\n"
        # One line: names are listed one per line, tab-separated, on the command line.
        raise Invalid(refusal("A subscriber's name is one line, without tabs."), field="name")
    taken = address in active if active is not None else _active(session, show, address) is not None
    if taken:
        raise Conflict(refusal("%(email)s already subscribes to this show.", email=address))
    token = new_token()
    subscriber = Subscriber(show_id=show.id, email=address, name=clean_name, token_hash=hash_secret(token))
    if active is not None:
        session.add(subscriber)
        active.add(address)
        return subscriber, token
    session.add(subscriber)
    try:
        # The unique index on live addresses decides when another request added the same one meanwhile.
        # No savepoint (SQLite's driver would commit it for good): the conflict rolls the session back.
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(refusal("%(email)s already subscribes to this show.", email=address)) from None
    return subscriber, token


def list_subscribers(session: Session, show: Show) -> list[Subscriber]:
    return list(
        session.scalars(select(Subscriber).where(Subscriber.show_id == show.id).order_by(Subscriber.id))
    )


def get_subscriber(session: Session, show: Show, subscriber_id: int) -> Subscriber:
    found = session.get(Subscriber, subscriber_id) if 0 < subscriber_id <= MAX_ID else None
    if found is None or found.show_id != show.id:
        raise NotFound(refusal("There is no subscriber %(id)s.", id=subscriber_id))
    return found


def revoke(session: Session, subscriber: Subscriber) -> None:
    """The subscriber's feed answers 410 and their media 403 from the next request on, in every process."""
    if subscriber.revoked_at is None:
        subscriber.revoked_at = utcnow()


def reissue(session: Session, subscriber: Subscriber) -> str:
    """A new token for the subscriber (a shared or lost feed URL); the old one stops working at once."""
    if subscriber.revoked_at is not None:
        raise Conflict(refusal("This subscriber is revoked; add them again instead."))
    token = new_token()
    subscriber.token_hash = hash_secret(token)
    subscriber.token_issued_at = utcnow()
    # The networks the old token was used from say nothing about the new one: its count starts afresh.
    sharing.clear(session, subscriber)
    return token


def subscriber_for_token(session: Session, show_id: int, token: str) -> Subscriber | None:
    """The subscriber of this show whose token this is, revoked or not; None for any other token. A token of
    another show opens nothing here."""
    if len(token) != TOKEN_CHARS:
        return None  # no token was ever made with another length: no hash, no query
    # Looked up by its hash: what is compared is a digest of the token, never the token itself.
    found = session.scalar(select(Subscriber).where(Subscriber.token_hash == hash_secret(token)))
    return found if found is not None and found.show_id == show_id else None


def _active(session: Session, show: Show, email: str) -> Subscriber | None:
    return session.scalar(
        select(Subscriber).where(
            Subscriber.show_id == show.id, Subscriber.email == email, Subscriber.revoked_at.is_(None)
        )
    )


@dataclass
class CsvReport:
    """What a CSV import did: the subscribers added (with their tokens, shown once) and each refused row."""

    added: list[tuple[Subscriber, str]] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


def import_csv(session: Session, show: Show, data: bytes) -> CsvReport:
    """Add a subscriber per row of `email,name` (a header row is optional); a bad row is reported by its
    line number and the good ones are kept."""
    if len(data) > MAX_CSV_BYTES:
        raise Invalid(refusal("The CSV file is larger than %(most)s MB.", most=MAX_CSV_BYTES // 2**20))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid(refusal("The CSV file is not UTF-8 text.")) from None
    report = CsvReport()
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        # A field over the csv module's limit (128 KiB), or a stray NUL: the file as a whole is refused.
        raise Invalid(refusal("The CSV file cannot be read (%(reason)s).", reason=str(exc))) from None
    if rows and rows[0] and rows[0][0].strip().lower() in ("email", "e-mail"):
        rows = [[], *rows[1:]]  # the header, kept as an empty row so that line numbers stay right
    if sum(1 for row in rows if row) > MAX_CSV_ROWS:
        raise Invalid(refusal("The CSV file has more than %(most)s rows.", most=MAX_CSV_ROWS))
    # Each row is checked before it is added, so a refused row adds nothing; the show's addresses are read
    # once, and the rows written in one flush at the end: time linear in the rows.
    active = set(
        session.scalars(
            select(Subscriber.email).where(Subscriber.show_id == show.id, Subscriber.revoked_at.is_(None))
        )
    )
    for line, row in enumerate(rows, start=1):
        if not row or not any(cell.strip() for cell in row):
            continue
        try:
            name = row[1] if len(row) > 1 else ""
            report.added.append(add_subscriber(session, show, row[0], name, active=active))
        except (Invalid, Conflict) as exc:
            # The refusal itself (not str()): it carries its template, for the reader's language.
            report.refused.append((line, exc.args[0] if exc.args else str(exc)))
    try:
        session.flush()
    except IntegrityError:
        # Another request added one of these addresses meanwhile: nothing of this file is kept.
        session.rollback()
        raise Conflict(
            refusal("Some addresses were added meanwhile; nothing was imported. Send the file again.")
        ) from None
    return report
