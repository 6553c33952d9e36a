"""Episodes: upload, process, publish, schedule, edit, delete. Gets its db, store and queue passed in."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from podcast_host import audio
from podcast_host.artwork import ArtworkError, check_cover
from podcast_host.chapters import chapters_from_list, parse_chapters
from podcast_host.errors import Conflict, Invalid, NotFound, Unavailable, UnsupportedMedia
from podcast_host.limits import SIDE_FILE_LIMITS
from podcast_host.models import (
    FAILED,
    PENDING,
    PROCESSING,
    Episode,
    EpisodeAlias,
    Show,
    utcnow,
)
from podcast_host.notes import MAX_NOTES_CHARS, clean_text, render_notes_html
from podcast_host.shows import parse_bool
from podcast_host.slugs import check_slug, slug_from_title, unique_slug
from podcast_host.storage import StorageError, delete_objects, media_key, unguessable_name
from podcast_host.transcripts import parse_transcript

EPISODE_TYPES = ("full", "trailer", "bonus")
EDITABLE = ("title", "description", "season", "number", "type", "explicit", "publish_at", "draft", "slug")


@dataclass(frozen=True)
class Upload:
    """A file the producer sent, already on local disk."""

    path: Path
    filename: str

    def read(self, field: str | None = None) -> bytes:
        """The whole file; with `field`, refused (422) when over that side file's size limit."""
        limit = SIDE_FILE_LIMITS.get(field or "")
        if limit is not None and self.path.stat().st_size > limit:
            raise Invalid(f"The {field} file is larger than {limit // (1024 * 1024)} MB.", field=field)
        return self.path.read_bytes()


# --- creating -------------------------------------------------------------------------------------------


def create_episode(
    services: Any,
    session: Session,
    show: Show,
    audio_file: Upload,
    fields: Mapping[str, Any],
    image: Upload | None = None,
    chapters: Upload | None = None,
    transcript: Upload | None = None,
    enqueue: bool = True,
) -> Episode:
    """Check everything, store the original and sidecars, commit, then queue the processing job.

    Nothing is created when any check fails or the store does not answer.
    """
    values = clean_episode_fields(fields, creating=True)
    probed = probe_upload(audio_file, services.settings.max_duration_s)
    art = _check_image(image)
    chapters_doc = (
        parse_chapters(chapters.read("chapters")) if chapters else chapters_from_list(probed.chapters)
    )
    transcript_doc = (
        parse_transcript(transcript.read("transcript"), transcript.filename) if transcript else None
    )

    slug = values.pop("slug", None)
    if slug and _slug_taken(session, show, slug):
        raise Conflict(f"The slug {slug!r} is already taken in this show.")
    slug = slug or _free_episode_slug(session, show, values["title"], values.get("number"))
    episode = Episode(show=show, slug=slug, chapters=chapters_doc, probe=_probe_json(probed), **values)
    episode.notes_html = render_notes_html(values.get("description", ""))
    episode.original_filename = _original_label(audio_file.filename)
    episode.original_size = audio_file.path.stat().st_size
    episode.original_sha256 = file_sha256(audio_file.path)
    session.add(episode)
    session.flush()

    stored: list[str] = []
    try:
        episode.original_key = _put_file(
            services, stored, show, episode, "original", audio_file, probed.mime_type, probed.format
        )
        if art:
            episode.image_key = _put_bytes(
                services, stored, show, episode, "image", "cover", art.extension, art.data, art.mime_type
            )
        if transcript_doc:
            episode.transcript_key = _put_bytes(
                services,
                stored,
                show,
                episode,
                "transcript",
                "transcript",
                transcript_doc.extension,
                transcript_doc.data,
                transcript_doc.mime_type,
            )
            episode.transcript_type = transcript_doc.mime_type
        session.commit()
    except BaseException:
        session.rollback()
        delete_objects(services.store, stored)
        raise
    if enqueue:
        services.queue.enqueue("process_episode", episode.id)
    return episode


def probe_upload(upload: Upload, max_duration_s: float) -> audio.ProbeResult:
    if upload.path.stat().st_size == 0:
        raise Invalid("The audio file is empty (0 bytes).", field="audio")
    try:
        return audio.probe(upload.path, max_duration_s)
    except audio.UnsupportedAudio as exc:
        raise UnsupportedMedia(str(exc)) from None
    except audio.InvalidAudio as exc:
        raise Invalid(str(exc), field="audio") from None


def _probe_json(probed: audio.ProbeResult) -> dict[str, Any]:
    return {
        "format": probed.format,
        "mime_type": probed.mime_type,
        "duration_s": probed.duration_s,
        "channels": probed.channels,
        "sample_rate": probed.sample_rate,
        "bitrate": probed.bitrate,
    }


def _check_image(image: Upload | None) -> Any:
    if image is None:
        return None
    try:
        return check_cover(image.read("image"))
    except ArtworkError as exc:
        raise Invalid(str(exc), field="image") from None


def _put_file(
    services: Any,
    stored: list[str],
    show: Show,
    episode: Episode,
    kind: str,
    upload: Upload,
    content_type: str,
    extension: str,
) -> str:
    # The server names the file from what the probe found: a name the uploader chose ("notes.html") would
    # pick how it is served. Their name is kept only as the episode's original_filename.
    key = media_key(show.id, kind, unguessable_name(kind, extension), episode.id)
    try:
        services.store.put_file(key, upload.path, content_type)
    except StorageError as exc:
        raise Unavailable(f"The media store did not take the file: {exc}") from None
    stored.append(key)
    return key


def _original_label(filename: str | None) -> str:
    """The uploader's file name, for people to read; it never names or types a stored object."""
    return clean_text(Path(filename or "audio").name)[:500]


def _put_bytes(
    services: Any,
    stored: list[str],
    show: Show,
    episode: Episode,
    kind: str,
    stem: str,
    extension: str,
    data: bytes,
    content_type: str,
) -> str:
    # A draft's transcript or image must not be found by guessing its name behind a CDN or a public bucket.
    key = media_key(show.id, kind, unguessable_name(stem, extension), episode.id)
    try:
        services.store.put_bytes(key, data, content_type)
    except StorageError as exc:
        raise Unavailable(f"The media store did not take the file: {exc}") from None
    stored.append(key)
    return key


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- fields ---------------------------------------------------------------------------------------------


def clean_episode_fields(fields: Mapping[str, Any], creating: bool) -> dict[str, Any]:
    """Check the editable fields present in `fields`; unknown names are refused."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        name = sorted(unknown)[0]
        raise Invalid(f"Unknown episode field {name!r}.", field=name)
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None or (isinstance(value, str) and not value.strip() and name != "description"):
            continue
        key, clean = _clean_episode_field(name, value)
        out[key] = clean
    if creating and not out.get("title"):
        raise Invalid("An episode needs a title.", field="title")
    return out


def differing_fields(episode: Episode, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of `fields` whose checked value differs from what the episode has."""
    out = {}
    for name, value in fields.items():
        if value is None:
            continue
        attr, clean = _clean_episode_field(name, value)
        if getattr(episode, attr) != clean:
            out[name] = value
    return out


def _clean_episode_field(name: str, value: Any) -> tuple[str, Any]:
    if name in ("title", "description"):
        text = clean_text(str(value)).strip()
        limit = 500 if name == "title" else MAX_NOTES_CHARS
        if len(text) > limit:
            raise Invalid(f"The {name} is longer than {limit} characters.", field=name)
        return name, text
    if name in ("season", "number"):
        return name, _whole_number(value, name)
    if name == "type":
        if str(value) not in EPISODE_TYPES:
            raise Invalid(f"The type must be full, trailer or bonus, not {value!r}.", field="type")
        return "episode_type", str(value)
    if name in ("explicit", "draft"):
        return name, parse_bool(value, name)
    if name == "publish_at":
        return name, parse_datetime(value)
    return name, check_slug(str(value))


def _whole_number(value: Any, name: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise Invalid(f"The {name} must be a whole number, not {value!r}.", field=name) from None
    if not 0 <= number <= 1_000_000:
        raise Invalid(f"The {name} must be between 0 and 1000000.", field=name)
    return number


def parse_datetime(value: Any) -> datetime:
    """ISO 8601 with an offset ("2026-12-01T08:00:00+01:00" or "…Z")."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(
                f"The date {value!r} is not ISO 8601 (2026-12-01T08:00:00+01:00).", field="publish_at"
            ) from None
    if parsed.tzinfo is None:
        raise Invalid(f"The date {value!r} needs a UTC offset, e.g. +00:00.", field="publish_at")
    if not 1970 <= parsed.year <= 9000:
        raise Invalid(f"The date {value!r} is out of range.", field="publish_at")
    return parsed


def _free_episode_slug(session: Session, show: Show, title: str, number: int | None) -> str:
    fallback = f"episode-{number}" if number is not None else "episode"
    base = slug_from_title(title, fallback)
    return unique_slug(base, lambda s: _slug_taken(session, show, s))


def _slug_taken(session: Session, show: Show, slug: str) -> bool:
    if session.scalar(select(Episode.id).where(Episode.show_id == show.id, Episode.slug == slug)):
        return True
    return bool(
        session.scalar(
            select(EpisodeAlias.id).where(EpisodeAlias.show_id == show.id, EpisodeAlias.slug == slug)
        )
    )


# --- finding --------------------------------------------------------------------------------------------


MAX_ID = 2**31 - 1  # the INTEGER primary key of every backend


def get_episode(session: Session, episode_id: int) -> Episode:
    if not 1 <= episode_id <= MAX_ID:
        raise NotFound(f"There is no episode {episode_id}.")
    episode = session.get(Episode, episode_id)
    if episode is None:
        raise NotFound(f"There is no episode {episode_id}.")
    return episode


def find_episode_by_slug(session: Session, show: Show, slug: str) -> tuple[Episode, bool]:
    """The episode by slug or an old slug; the flag says whether it was an old one."""
    episode = session.scalar(select(Episode).where(Episode.show_id == show.id, Episode.slug == slug))
    if episode is not None:
        return episode, False
    alias = session.scalar(
        select(EpisodeAlias).where(EpisodeAlias.show_id == show.id, EpisodeAlias.slug == slug)
    )
    if alias is None:
        raise NotFound(f"There is no episode {slug!r} in {show.slug!r}.")
    return alias.episode, True


def list_episodes(session: Session, show: Show) -> list[Episode]:
    """Every episode of a show, newest first (scheduled ones by their date, unpublished by creation)."""
    episodes = session.scalars(select(Episode).where(Episode.show_id == show.id))
    return sorted(episodes, key=lambda e: (e.publish_at or e.created_at, e.id), reverse=True)


def public_episodes(
    session: Session, show: Show, now: datetime | None = None, limit: int | None = None, offset: int = 0
) -> list[Episode]:
    """Episodes listeners may see at `now`, newest first."""
    query = (
        select(Episode)
        .where(*_public_at(show, now or utcnow()))
        .order_by(Episode.publish_at.desc(), Episode.id.desc())
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def count_public_episodes(session: Session, show: Show, now: datetime | None = None) -> int:
    """How many episodes public_episodes lists at `now`, counted by the database."""
    query = select(func.count(Episode.id)).where(*_public_at(show, now or utcnow()))
    return session.scalar(query) or 0


def _public_at(show: Show, now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        Episode.show_id == show.id,
        Episode.audio_key.is_not(None),
        Episode.draft.is_(False),
        Episode.publish_at <= now,
    )


# --- editing and publishing -----------------------------------------------------------------------------


def update_episode(session: Session, episode: Episode, fields: Mapping[str, Any]) -> Episode:
    values = clean_episode_fields(fields, creating=False)
    new_slug = values.pop("slug", None)
    if "title" in fields and not values.get("title"):
        raise Invalid("An episode needs a title.", field="title")
    for name, value in values.items():
        setattr(episode, name, value)
    if "description" in values:
        episode.notes_html = render_notes_html(values["description"])
    if "publish_at" in fields and fields["publish_at"] in (None, ""):
        episode.publish_at = None
    if new_slug and new_slug != episode.slug:
        rename_episode(session, episode, new_slug)
    session.flush()
    return episode


def rename_episode(session: Session, episode: Episode, new_slug: str) -> None:
    """Change the slug; the old one keeps answering with a 301."""
    existing = session.scalar(
        select(EpisodeAlias).where(EpisodeAlias.show_id == episode.show_id, EpisodeAlias.slug == new_slug)
    )
    if existing is not None and existing.episode_id == episode.id:
        session.delete(existing)
        session.flush()
    elif _slug_taken(session, episode.show, new_slug):
        raise Conflict(f"The slug {new_slug!r} is already taken in this show.")
    session.add(EpisodeAlias(show_id=episode.show_id, slug=episode.slug, episode=episode))
    episode.slug = new_slug


def replace_original(services: Any, session: Session, episode: Episode, upload: Upload) -> str | None:
    """New source audio for an existing episode: probe, store, mark it for processing (GUID kept).

    Returns the key of the old original, for the caller to delete once the change is committed. Refused
    (Conflict) while a live run works on the episode: it would publish audio of the original being replaced.
    """
    _lock_row(session, episode)
    if _live_run(services, episode):
        raise Conflict("The episode's audio is being processed; replace it once that run has ended.")
    probed = probe_upload(upload, services.settings.max_duration_s)
    old_key = episode.original_key
    stored: list[str] = []
    episode.original_key = _put_file(
        services, stored, episode.show, episode, "original", upload, probed.mime_type, probed.format
    )
    episode.original_sha256 = file_sha256(upload.path)
    episode.original_size = upload.path.stat().st_size
    episode.original_filename = _original_label(upload.filename)
    episode.probe = _probe_json(probed)
    _queue_again(episode)
    return old_key if old_key != episode.original_key else None


def replace_transcript(services: Any, session: Session, episode: Episode, transcript: Any) -> str | None:
    """Store a new transcript; returns the old one's key, for the caller to delete once this is committed."""
    stored: list[str] = []
    old_key = episode.transcript_key
    episode.transcript_key = _put_bytes(
        services,
        stored,
        episode.show,
        episode,
        "transcript",
        "transcript",
        transcript.extension,
        transcript.data,
        transcript.mime_type,
    )
    episode.transcript_type = transcript.mime_type
    return old_key if old_key != episode.transcript_key else None


def publish_episode(session: Session, episode: Episode, at: datetime | None = None) -> Episode:
    """Publish now (or at `at`); an episode without audio yet goes out as soon as processing ends.

    The row is read again under a lock: a processing run that committed since the caller loaded the episode
    is seen, and its result is not overwritten with what the caller loaded.
    """
    _lock_row(session, episode)
    if episode.processing_state == FAILED and episode.audio_key is None:
        raise Conflict("The episode's audio failed to process; reprocess it before publishing.")
    episode.draft = False
    if at is not None:
        episode.publish_at = at
    elif episode.publish_at is None or episode.publish_at > utcnow():
        # Audio it already has (also while a reprocess runs, or after one failed) is published now; without
        # any, processing publishes it when it ends (it reads this intent in its own locked row).
        episode.publish_at = utcnow() if episode.audio_key is not None else None
    session.flush()
    return episode


def _lock_row(session: Session, episode: Episode) -> None:
    """Re-read the episode's row, locked until commit (PostgreSQL; SQLite serializes writers anyway)."""
    session.flush()
    session.get(Episode, episode.id, with_for_update=True, populate_existing=True)


def _live_run(services: Any, episode: Episode) -> bool:
    """Whether a run works on the episode and beat recently (a silent one is dead and may be replaced)."""
    fresh_after = utcnow() - timedelta(seconds=services.settings.job_stale_s)
    return (
        episode.processing_state == PROCESSING
        and episode.heartbeat_at is not None
        and episode.heartbeat_at > fresh_after
    )


def _queue_again(episode: Episode) -> None:
    """Mark the episode for a new run: the claim of any earlier run, dead or late, stops counting."""
    episode.processing_state = PENDING
    episode.error = None
    episode.attempts = 0
    episode.claim_token = None
    episode.progress = 0.0


def delete_episode(services: Any, session: Session, episode: Episode) -> None:
    keys = episode.media_keys()
    session.delete(episode)
    session.commit()
    delete_objects(services.store, keys)


def request_reprocess(services: Any, session: Session, episode: Episode, enqueue: bool = True) -> Episode:
    """Queue the pipeline again; refused while a live run works on the episode (a dead one is taken over).

    With enqueue=False the episode is only marked pending, for the caller to commit and run itself.
    """
    _lock_row(session, episode)
    # A pending episode is simply queued again: the claim makes a duplicate delivery harmless.
    if _live_run(services, episode):
        raise Conflict("The episode is already being processed.")
    if not episode.original_key:
        raise Conflict("The episode has no original audio to process.")
    _queue_again(episode)
    if enqueue:
        session.commit()
        services.queue.enqueue("process_episode", episode.id)
    return episode
