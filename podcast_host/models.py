"""SQLAlchemy models: the shape of shows, episodes, people and their rights."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, UOWTransaction, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


# SQLite hands out the highest id again after that row is deleted unless a table says AUTOINCREMENT; ids name
# media keys, URLs and jobs, so none is ever reused (PostgreSQL sequences never reuse one anyway).
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}
# The largest id: every id column is an INTEGER, 32-bit signed on PostgreSQL; a bigger number names no row
# and the database would refuse it as a parameter.
MAX_ID = 2**31 - 1


class User(Base):
    __tablename__ = "users"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped by logout and password change: a session cookie carrying an older number is refused.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The dashboard's language chosen by the user (a code of PODCAST_HOST_LANGUAGES); None: the browser's.
    locale: Mapped[str | None] = mapped_column(String(35))
    # A disabled user can neither sign in nor use a token; their shows and roles stay.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when the account was created through an invitation's link: that invitation, and who sent it.
    # use_alter: users and invitations name each other, so neither table can be created first.
    invited_through: Mapped[int | None] = mapped_column(
        ForeignKey("invitations.id", ondelete="SET NULL", use_alter=True)
    )
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # sha256 of the secret; the secret itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Optional: after this instant the token is refused.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A read-only token may only make safe (GET/HEAD) requests.
    read_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    user: Mapped[User] = relationship(back_populates="tokens")


class Show(Base):
    __tablename__ = "shows"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    # The description rendered to sanitized HTML when it is saved, so pages and feeds never render it.
    description_html: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(35), default="en")
    author: Mapped[str] = mapped_column(String(500), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    category: Mapped[str] = mapped_column(String(200), default="")
    explicit: Mapped[bool] = mapped_column(Boolean, default=False)
    copyright: Mapped[str] = mapped_column(String(500), default="")
    show_type: Mapped[str] = mapped_column(String(20), default="episodic")
    medium: Mapped[str] = mapped_column(String(20), default="podcast")
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    funding_url: Mapped[str] = mapped_column(String(2000), default="")
    funding_text: Mapped[str] = mapped_column(String(200), default="")
    image_key: Mapped[str | None] = mapped_column(String(500))
    # podcast:guid, stored once from the first feed URL and kept when the show moves.
    podcast_guid: Mapped[str] = mapped_column(String(36))
    # Set when the producer moved the feed to another host: 301 there, itunes:new-feed-url.
    moved_to_url: Mapped[str | None] = mapped_column(String(2000))
    # Per-show audio settings; None means the pipeline's defaults (docs/audio-pipeline.md, "Settings").
    target_lufs_stereo: Mapped[float | None] = mapped_column(Float)
    target_lufs_mono: Mapped[float | None] = mapped_column(Float)
    bitrate_stereo_kbps: Mapped[int | None] = mapped_column(Integer)
    bitrate_mono_kbps: Mapped[int | None] = mapped_column(Integer)
    # IANA time zone the dashboard shows and reads scheduled times in (times are stored in UTC).
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    # "public", or "private": no public feed, pages or embed; each subscriber has a feed of their own
    # (docs/private-feeds.md).
    access: Mapped[str] = mapped_column(String(10), default="public", server_default="public")
    # The show's pages in the big directories, for the subscribe buttons of its pages; "" when it has none.
    apple_podcasts_url: Mapped[str] = mapped_column(String(2000), default="", server_default="")
    # The low-data Opus version's bitrates; None: the server's defaults (docs/audio-pipeline.md).
    low_data_stereo_kbps: Mapped[int | None] = mapped_column(Integer)
    low_data_mono_kbps: Mapped[int | None] = mapped_column(Integer)
    # Podcasting 2.0 values, in the shapes podcast_host/namespace_fields.py checks (docs/feeds.md).
    persons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    locations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    license: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    txt: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    podroll: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    update_frequency: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    block: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    spotify_url: Mapped[str] = mapped_column(String(2000), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    episodes: Mapped[list[Episode]] = relationship(back_populates="show", cascade="all, delete-orphan")

    @property
    def is_private(self) -> bool:
        """Delivered to its subscribers alone (docs/private-feeds.md)."""
        return self.access == PRIVATE

    aliases: Mapped[list[ShowAlias]] = relationship(back_populates="show", cascade="all, delete-orphan")
    members: Mapped[list[Membership]] = relationship(back_populates="show", cascade="all, delete-orphan")

    @property
    def is_rtl(self) -> bool:
        return self.language.split("-")[0].lower() in RTL_LANGUAGES


RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur", "yi", "ps", "sd", "ug", "dv", "ckb"})


class ShowAlias(Base):
    """An old slug of a show: its URLs answer 301 to the current ones."""

    __tablename__ = "show_aliases"

    slug: Mapped[str] = mapped_column(String(200), primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)

    show: Mapped[Show] = relationship(back_populates="aliases")


ROLES = ("owner", "editor", "viewer")


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("show_id", "user_id"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))

    show: Mapped[Show] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class Invitation(Base):
    """An invitation to a role on a show, accepted by whoever opens its one-time link while signed in with
    that e-mail address (or creates the account through it). Only a digest of the link's secret is kept."""

    __tablename__ = "invitations"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    show: Mapped[Show] = relationship()


class PasswordReset(Base):
    """A one-time link an admin hands to a user to set a new password (no mail server is assumed)."""

    __tablename__ = "password_resets"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The admin who made the link: it works only while they are an enabled admin. None: made before
    # links named their maker, and so refused.
    made_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


# Processing states of the audio job; what the API calls `status` is derived in Episode.status.
PENDING, PROCESSING, FAILED, READY = "pending", "processing", "failed", "ready"
# What Episode.status_at answers (docs/api.md, "Episodes").
EPISODE_STATUSES = ("processing", "failed", "draft", "scheduled", "published")


class Episode(Base):
    __tablename__ = "episodes"
    __table_args__ = (
        UniqueConstraint("show_id", "slug"),
        # Apps know an episode by its guid: two in one show would be one episode to them (docs/migrate.md).
        Index("uq_episodes_show_guid", "show_id", "guid", unique=True),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    guid: Mapped[str] = mapped_column(String(200), default=lambda: str(uuid.uuid4()))
    slug: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    # The notes rendered to sanitized HTML when they are saved, so pages and feeds never render them.
    notes_html: Mapped[str | None] = mapped_column(Text)
    season: Mapped[int | None] = mapped_column(Integer)
    number: Mapped[int | None] = mapped_column(Integer)
    episode_type: Mapped[str] = mapped_column(String(20), default="full")
    explicit: Mapped[bool] = mapped_column(Boolean, default=False)

    # Publication intent: a draft is never listed; otherwise listed once publish_at has passed.
    # publish_at stays None until processing ends when the producer asked for "as soon as ready".
    draft: Mapped[bool] = mapped_column(Boolean, default=False)
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    processing_state: Mapped[str] = mapped_column(String(20), default=PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    # How many runs claimed the episode since it was last queued; too many means runs keep dying.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A random value each run sets when it claims the episode: only the holder of the current one may beat,
    # fail or publish. Counts repeat (a reprocess resets them), ids once did; this never does.
    claim_token: Mapped[str | None] = mapped_column(String(64))
    # Refreshed while a job works on the episode; a stale one means its worker died.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    progress: Mapped[float] = mapped_column(Float, default=0.0)

    original_key: Mapped[str | None] = mapped_column(String(500))
    original_filename: Mapped[str] = mapped_column(String(500), default="")
    original_sha256: Mapped[str | None] = mapped_column(String(64))
    original_size: Mapped[int | None] = mapped_column(BigInteger)
    probe: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    audio_key: Mapped[str | None] = mapped_column(String(500))
    # Replaced MP3s as [key, ISO time retired]: still served for a grace period, then deleted.
    retired_audio: Mapped[list[list[str]] | None] = mapped_column(JSON(none_as_null=True))
    enclosure_length: Mapped[int | None] = mapped_column(BigInteger)
    enclosure_type: Mapped[str] = mapped_column(String(100), default="audio/mpeg")
    # The published MP3's SHA-256 (base64, as Subresource Integrity writes it), for podcast:integrity.
    audio_sha256: Mapped[str | None] = mapped_column(String(64))
    # The low-data Opus version of the published audio (docs/audio-pipeline.md, "The low-data file"); a
    # replaced one is retired with its MP3 (retired_audio).
    low_data_key: Mapped[str | None] = mapped_column(String(500))
    low_data_length: Mapped[int | None] = mapped_column(BigInteger)
    low_data_sha256: Mapped[str | None] = mapped_column(String(64))
    low_data_kbps: Mapped[int | None] = mapped_column(Integer)
    duration_s: Mapped[float | None] = mapped_column(Float)
    loudness_report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    waveform: Mapped[list[float] | None] = mapped_column(JSON)

    image_key: Mapped[str | None] = mapped_column(String(500))
    # Publish the original MP3 byte for byte instead of the pipeline's output (an imported or exported
    # episode whose audio was already produced elsewhere).
    keep_audio: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    chapters: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    transcript_key: Mapped[str | None] = mapped_column(String(500))
    transcript_type: Mapped[str | None] = mapped_column(String(100))
    # Podcasting 2.0 values (podcast_host/namespace_fields.py); an episode's persons replace the show's.
    persons: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    locations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    soundbites: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))
    license: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    show: Mapped[Show] = relationship(back_populates="episodes")
    aliases: Mapped[list[EpisodeAlias]] = relationship(back_populates="episode", cascade="all, delete-orphan")

    def status_at(self, now: datetime) -> str:
        """The producer-facing status (docs/api.md, "Episodes") at a given moment."""
        if self.processing_state in (PENDING, PROCESSING):
            return "processing"
        if self.processing_state == FAILED:
            return "failed"
        if self.draft or self.publish_at is None:
            return "draft"
        return "scheduled" if self.publish_at > now else "published"

    @property
    def status(self) -> str:
        return self.status_at(utcnow())

    def is_public_at(self, now: datetime) -> bool:
        """Listed in the feed and on the pages: has audio, is not a draft, and its time has come.

        A published episode being re-processed stays listed with its current audio.
        """
        return (
            self.audio_key is not None
            and not self.draft
            and self.publish_at is not None
            and self.publish_at <= now
        )

    def media_keys(self) -> list[str]:
        """Every stored object the episode names, replaced MP3s still in their grace period included."""
        keys = [self.original_key, self.audio_key, self.low_data_key, self.image_key, self.transcript_key]
        return [key for key in keys if key] + [key for key, _ in self.retired_audio or []]


class EpisodeAlias(Base):
    """An old slug of an episode, kept so that renaming never breaks a URL."""

    __tablename__ = "episode_aliases"
    __table_args__ = (UniqueConstraint("show_id", "slug"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(200))
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id", ondelete="CASCADE"), index=True)

    episode: Mapped[Episode] = relationship(back_populates="aliases")


# --- listener analytics (docs/analytics.md) ----------------------------------------------------------------


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


def stamp_shows_of_changed_episodes(session: Session, _context: UOWTransaction, _instances: object) -> None:
    """Any ORM change of an episode that has audio stamps its show's updated_at (a before_flush listener).

    The stamp is what every feed request checks, so the change shows at once in every process; and a deleted
    episode, which leaves no timestamp of its own, still moves Last-Modified forward. db.Database registers
    it on its session factory, so every process that writes stamps, whether or not it ever built a feed.
    """
    touched = [*session.new, *session.dirty, *session.deleted]
    changed = [
        e
        for e in touched
        if isinstance(e, Episode)
        and e.audio_key is not None
        and (e in session.deleted or session.is_modified(e))
    ]
    with session.no_autoflush:
        for show_id in {e.show_id for e in changed if e.show_id is not None}:
            show = session.get(Show, show_id)
            if show is not None and show not in session.deleted:
                show.updated_at = utcnow()


# --- imports from another host's feed (docs/migrate.md) ----------------------------------------------------

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


# --- private shows' subscribers (docs/private-feeds.md) -----------------------------------------------------

# Show.access: everyone's feed, or a feed per subscriber.
PUBLIC = "public"
PRIVATE = "private"
ACCESS_LEVELS = (PUBLIC, PRIVATE)


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
