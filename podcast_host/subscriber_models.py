"""The tables of a private show's subscribers (docs/private-feeds.md): subscribers and the networks their
tokens were used from. Imported by models.py, which every caller imports them from."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from podcast_host.model_base import NEVER_REUSE_IDS, Base, UTCDateTime, utcnow


class Subscriber(Base):
    """Someone a private show's feed is made for: their feed URL carries a token, kept here only hashed."""

    __tablename__ = "subscribers"
    __table_args__ = (
        # One live subscription per address and show, even when two editors add it at once.
        Index(
            "uq_subscribers_live_email",
            "show_id",
            "email",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    # sha256 of the feed token; the token is shown when it is made and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    token_issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The most networks the current token was seen from in one UTC day, once that is more than
    # PODCAST_HOST_SHARE_ALERT allows (a shared feed address); 0 otherwise, and again when it is re-issued.
    shared_networks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SubscriberNetwork(Base):
    """One network (an IPv4 /24 or IPv6 /48) a subscriber's token was used from on one UTC day, as a keyed
    hash under that day's analytics salt: deleted with the salt, so the network cannot be read back."""

    __tablename__ = "subscriber_networks"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    network: Mapped[str] = mapped_column(String(64), primary_key=True)
