"""The tables of imports from another host's feed (docs/migrate.md): a run and its items. Imported by
models.py, which every caller imports them from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from podcast_host.model_base import NEVER_REUSE_IDS, Base, UTCDateTime, utcnow

IMPORT_STATES = ("queued", "running", "done", "failed")
# The longest feed address an import takes.
MAX_SOURCE_LENGTH = 2000
# What happened to one item of the feed: imported now, already there (skipped), or failed with a reason.
ITEM_STATES = ("imported", "skipped", "failed")


class FeedImport(Base):
    """One run of an import: where from, into which show, how far it got."""

    __tablename__ = "feed_imports"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    show_id: Mapped[int | None] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(MAX_SOURCE_LENGTH))
    # The show asked for by its slug, created by the run when it does not exist yet.
    target_slug: Mapped[str | None] = mapped_column(String(200))
    keep_audio: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    # What the show could not take from the channel (a category that is not Apple's, a cover that failed).
    notices: Mapped[str | None] = mapped_column(Text)
    total_items: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    items: Mapped[list[ImportItem]] = relationship(
        back_populates="feed_import", cascade="all, delete-orphan", order_by="ImportItem.position"
    )


class ImportItem(Base):
    """The outcome of one item of an imported feed, in the feed's order."""

    __tablename__ = "import_items"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("feed_imports.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    guid: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id", ondelete="SET NULL"))

    feed_import: Mapped[FeedImport] = relationship(back_populates="items")
