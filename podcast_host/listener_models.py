"""The tables of listener analytics (docs/analytics.md): the day's salts, listeners by day, download tallies
and the access logs already counted. Imported by models.py, which every caller imports them from."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from podcast_host.model_base import NEVER_REUSE_IDS, Base, UTCDateTime, utcnow


class AnalyticsSalt(Base):
    """The secret that listener keys of one UTC day are made with; deleted two days later, so that nobody,
    the host included, can tell afterwards which address a key stood for."""

    __tablename__ = "analytics_salts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    salt: Mapped[str] = mapped_column(String(64))


class ListenerDay(Base):
    """What one listener (salted hash of address group and User-Agent) asked of one episode on one UTC day."""

    __tablename__ = "listener_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    listener: Mapped[str] = mapped_column(String(64), primary_key=True)
    episode_id: Mapped[int] = mapped_column(
        ForeignKey("episodes.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    show_id: Mapped[int] = mapped_column(Integer)
    app: Mapped[str] = mapped_column(String(100))
    device: Mapped[str] = mapped_column(String(40))
    os: Mapped[str] = mapped_column(String(40))
    country: Mapped[str] = mapped_column(String(8))
    # Byte ranges asked for, merged, as [[start, end), ...]; bytes of log lines naming no offset add up apart.
    ranges: Mapped[list[list[int]]] = mapped_column(JSON, default=list)
    loose_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    counted: Mapped[bool] = mapped_column(Boolean, default=False)


class DownloadTally(Base):
    """Downloads of a show on one day by one dimension: kind "episode" (name: its id), "app", "device", "os"
    or "country". Reports read these rollups only, never the listener rows."""

    __tablename__ = "download_tallies"

    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    downloads: Mapped[int] = mapped_column(Integer, default=0)


class IngestedLog(Base):
    """An access log counted by `podcast-host analytics ingest`: the digest of its first `length` bytes, so
    that the same file, or a longer copy of it, is never counted twice."""

    __tablename__ = "ingested_logs"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The digest of the first line picks the candidates; the digest of `length` bytes decides.
    head_sha256: Mapped[str] = mapped_column(String(64), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    length: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
