"""SQLAlchemy models: the shape of shows, episodes, people and their rights."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column, relationship

# The tables of listener analytics, imports and subscribers live in modules of their own; callers import them
# from here with the rest.
from podcast_host.import_models import IMPORT_STATES as IMPORT_STATES
from podcast_host.import_models import ITEM_STATES as ITEM_STATES
from podcast_host.import_models import MAX_SOURCE_LENGTH as MAX_SOURCE_LENGTH
from podcast_host.import_models import FeedImport as FeedImport
from podcast_host.import_models import ImportItem as ImportItem
from podcast_host.listener_models import AnalyticsSalt as AnalyticsSalt
from podcast_host.listener_models import DownloadTally as DownloadTally
from podcast_host.listener_models import IngestedLog as IngestedLog
from podcast_host.listener_models import ListenerDay as ListenerDay
from podcast_host.model_base import MAX_ID as MAX_ID
from podcast_host.model_base import NEVER_REUSE_IDS as NEVER_REUSE_IDS
from podcast_host.model_base import Base as Base
from podcast_host.model_base import UTCDateTime as UTCDateTime
from podcast_host.model_base import utcnow as utcnow
from podcast_host.subscriber_models import Subscriber as Subscriber
from podcast_host.subscriber_models import SubscriberNetwork as SubscriberNetwork


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


# --- private shows (docs/private-feeds.md) --------------------------------------------------------------

# Show.access: everyone's feed, or a feed per subscriber.
PUBLIC = "public"
PRIVATE = "private"
ACCESS_LEVELS = (PUBLIC, PRIVATE)
