"""Shared feed addresses noticed: the networks a private show's subscriber token is used from, per UTC day
(docs/private-feeds.md, "Shared addresses").

A feed address passed around a newsroom or posted on a forum is fetched from many networks on one day; one
subscriber's phone and laptop, from a few. Each feed or media request with a current subscriber's token
notes its network (an IPv4 /24, an IPv6 /48) as a keyed hash under the day's analytics salt; when one
subscriber has more than PODCAST_HOST_SHARE_ALERT networks in a day, they are flagged (`suspected_shared`),
until their token is re-issued. The raw address is never written, and the hashes go with the day's salt.

Each process remembers the networks it has written lately, so a subscriber's app polling all day costs one
write per network and day, not one per request. Noting is best effort: a database that refuses the write
costs a note, never the listener's answer.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections import OrderedDict
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from podcast_host.analytics.salts import SaltBook, keyed, upsert
from podcast_host.models import Subscriber, SubscriberNetwork

log = logging.getLogger(__name__)

# The networks one token is counted by: what one home, office or mobile carrier's customer usually holds.
IPV4_PREFIX = 24
IPV6_PREFIX = 48
# Where an address cannot be read, all such requests count as this one network.
UNKNOWN = "unknown"
# (subscriber, token, day, network) notes a process remembers having written.
NOTES_KEPT = 50_000


def network_of(address: str) -> str:
    """The network an address is counted in: its /24 (IPv4, IPv4-mapped IPv6 included) or /48 (IPv6). An
    address with a port ("192.0.2.1:5678", "[2001:db8::1]:443"), as some proxies write it, is read without
    it; anything that is no address at all is one network, UNKNOWN, so that it cannot flag anyone."""
    ip = _address(address.strip())
    if ip is None:
        return UNKNOWN
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ipaddress.IPv4Network((int(ip), IPV4_PREFIX), strict=False))
    return str(ipaddress.IPv6Network((int(ip), IPV6_PREFIX), strict=False))


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    for candidate in (text, text.rsplit(":", 1)[0].strip("[]")):
        try:
            return ipaddress.ip_address(candidate)
        except ValueError:
            continue
    return None


def network_key(salt: bytes, subscriber_id: int, network: str) -> str:
    """The network as stored: a keyed hash, unreadable once the day's salt is deleted."""
    message = f"subscriber {subscriber_id}\n{network}".encode()
    return keyed(salt, message)


class SharingWatch:
    """One per process: notes which networks each subscriber's token is used from, and flags a subscriber
    whose token is used from more than `limit` networks in one UTC day."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._noted: OrderedDict[tuple[int, str, date, str], None] = OrderedDict()
        self._salts: dict[date, bytes] = {}

    def note(self, session: Session, subscriber: Subscriber, address: str, now: datetime) -> None:
        """Count the request's network for this subscriber today; commits what it writes. Never raises for a
        database error (the request it is noted for is answered all the same)."""
        day = now.date()
        try:
            self._note(session, subscriber, network_of(address), day)
        except SQLAlchemyError as exc:
            session.rollback()
            log.warning("a subscriber's network was not noted: %s", str(exc).splitlines()[0])

    def _note(self, session: Session, subscriber: Subscriber, network: str, day: date) -> None:
        salt = self._salt(session, day)
        hashed = network_key(salt, subscriber.id, network)
        # The token's hash is part of the memory: after a re-issue the new token is counted afresh.
        remembered = (subscriber.id, subscriber.token_hash, day, hashed)
        with self._lock:
            if remembered in self._noted:
                self._noted.move_to_end(remembered)
                return
        # The subscriber's row locked (PostgreSQL) and read afresh: two processes bringing new networks at
        # once count one after the other, so the one past the limit sees the other's network too.
        session.refresh(subscriber, with_for_update=True)
        if subscriber.token_hash != remembered[1] or subscriber.revoked_at is not None:
            session.commit()  # re-issued or revoked meanwhile: this request's token counts for nobody now
            return
        written = session.execute(
            upsert(session, SubscriberNetwork)
            .values(subscriber_id=subscriber.id, day=day, network=hashed)
            .on_conflict_do_nothing()
        )
        added = cast("CursorResult[Any]", written).rowcount
        if added:
            networks = session.scalar(
                select(func.count())
                .select_from(SubscriberNetwork)
                .where(SubscriberNetwork.subscriber_id == subscriber.id, SubscriberNetwork.day == day)
            )
            if networks and networks > self.limit and networks > subscriber.shared_networks:
                if not subscriber.shared_networks:
                    log.info(
                        "subscriber %s used from %d networks today: flagged as shared",
                        subscriber.id,
                        networks,
                    )
                subscriber.shared_networks = networks
        session.commit()
        with self._lock:
            self._noted[remembered] = None
            while len(self._noted) > NOTES_KEPT:
                self._noted.popitem(last=False)

    def _salt(self, session: Session, day: date) -> bytes:
        """Today's salt (the one every process uses), read once a day. Closed days' salts and networks are
        deleted by the download counter's daily pass (analytics/recorder.py), as its own rows are."""
        with self._lock:
            found = self._salts.get(day)
        if found is not None:
            return found
        salt = SaltBook(session, day).salt(day)
        session.commit()
        with self._lock:
            self._salts = {day: salt}
        return salt


def clear(session: Session, subscriber: Subscriber) -> None:
    """Forget the networks counted for the subscriber's old token (on re-issue). The caller commits."""
    subscriber.shared_networks = 0
    session.execute(delete(SubscriberNetwork).where(SubscriberNetwork.subscriber_id == subscriber.id))
