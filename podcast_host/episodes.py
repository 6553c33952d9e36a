"""Episodes: upload, process, publish, schedule, edit, delete. Gets its db, store and queue passed in.

The uploaded files themselves are checked and stored by uploads.py, which deletes them again when the change
is not committed. Changes are flushed for the caller to commit; what follows one (the processing job,
`feed_changed`, deleting replaced media) is registered to run once it is committed (docs/architecture.md,
"Transactions and what follows them").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from podcast_host.artwork import Artwork
from podcast_host.chapters import chapters_from_list, parse_chapters
from podcast_host.db import enqueue_after_commit

# The fields' rules live in episode_fields.py; callers know them as episodes.X.
from podcast_host.episode_fields import EDITABLE as EDITABLE
from podcast_host.episode_fields import EPISODE_TYPES as EPISODE_TYPES
from podcast_host.episode_fields import MAX_NUMBER as MAX_NUMBER
from podcast_host.episode_fields import NAMESPACE_FIELDS as NAMESPACE_FIELDS
from podcast_host.episode_fields import clean_episode_fields as clean_episode_fields
from podcast_host.episode_fields import differing_fields as differing_fields
from podcast_host.episode_fields import parse_datetime as parse_datetime

# Publishing, deleting and processing runs live in episode_runs.py; callers know them as episodes.X.
from podcast_host.episode_runs import delete_episode as delete_episode
from podcast_host.episode_runs import live_run, lock_row, queue_again
from podcast_host.episode_runs import publish_episode as publish_episode
from podcast_host.episode_runs import request_reprocess as request_reprocess
from podcast_host.errors import Conflict, Invalid, NotFound, refusal
from podcast_host.models import MAX_ID, Episode, EpisodeAlias, Show, utcnow
from podcast_host.notes import render_notes_html
from podcast_host.services import Services
from podcast_host.shows import announce_feed_change, delete_after_commit
from podcast_host.slugs import refuse_look_alike, skeleton, slug_from_title, unique_slug
from podcast_host.transcripts import Transcript, parse_transcript

# Upload and file_sha256 are re-exported (`as`): callers use episodes.Upload and episodes.file_sha256.
from podcast_host.uploads import Upload as Upload
from podcast_host.uploads import (
    check_image,
    original_label,
    probe_json,
    probe_upload,
    put_bytes,
    put_file,
)
from podcast_host.uploads import file_sha256 as file_sha256

# The longest guid kept (the column's width); real feeds use URLs, UUIDs and numbers well under it.
GUID_MAX = 200

# --- creating -------------------------------------------------------------------------------------------


def create_episode(
    services: Services,
    session: Session,
    show: Show,
    audio_file: Upload,
    fields: Mapping[str, object],
    image: Upload | None = None,
    chapters: Upload | None = None,
    transcript: Upload | None = None,
    enqueue: bool = True,
    guid: str | None = None,
    keep_audio: bool = False,
) -> Episode:
    """Check everything, store the original and sidecars, commit; the processing job is queued once committed.

    Commits itself: the stored files are named only by a committed row, so nothing stored is left behind
    whatever the caller does next. Nothing is created when any check fails or the store does not answer.
    With `enqueue=False` the caller runs the processing itself (sync, the embedded CLI). `guid` keeps the
    identity an episode had elsewhere (an import, an exported folder); `keep_audio` publishes an MP3 as it is.
    """
    values = clean_episode_fields(fields, creating=True)
    if guid is not None:
        values["guid"] = check_guid(session, show, guid)
    probed = probe_upload(audio_file, services.settings.max_duration_s)
    if keep_audio and probed.format != "mp3":
        raise Invalid(
            refusal("Only an MP3 can be published as it is; this file is %(format)s.", format=probed.format),
            field="keep_audio",
        )
    art = check_image(image)
    chapters_doc = (
        parse_chapters(chapters.read("chapters")) if chapters else chapters_from_list(probed.chapters)
    )
    transcript_doc = (
        parse_transcript(transcript.read("transcript"), transcript.filename) if transcript else None
    )

    slug = values.pop("slug", None)
    if slug:
        refuse_look_alike(slug, _episode_slugs(session, show), "already taken in this show")
    slug = slug or _free_episode_slug(session, show, values["title"], values.get("number"))
    episode = Episode(
        show=show, slug=slug, chapters=chapters_doc, probe=probe_json(probed), keep_audio=keep_audio, **values
    )
    episode.notes_html = render_notes_html(values.get("description", ""))
    episode.original_filename = original_label(audio_file.filename)
    episode.original_size = audio_file.path.stat().st_size
    episode.original_sha256 = file_sha256(audio_file.path)
    session.add(episode)
    session.flush()

    try:
        episode.original_key = put_file(
            services.store, session, show, episode, "original", audio_file, probed.mime_type, probed.format
        )
        if art:
            _store_cover(services, session, show, episode, art)
        if transcript_doc:
            _store_transcript(services, session, show, episode, transcript_doc)
        if enqueue:
            enqueue_after_commit(session, services.queue, "process_episode", episode.id)
        session.commit()
    except BaseException:
        # The rollback deletes what was stored (uploads.py).
        session.rollback()
        raise
    return episode


def check_guid(session: Session, show: Show, guid: str) -> str:
    """An episode's guid as another feed wrote it: kept exactly (apps know the episode by it), one line of at
    most 200 characters, and not already an episode's in this show."""
    text = check_guid_text(guid)
    taken = session.scalar(select(Episode.id).where(Episode.show_id == show.id, Episode.guid == text))
    if taken is not None:
        raise Conflict(refusal("An episode of this show already has the guid %(guid)r.", guid=text))
    return text


def check_guid_text(guid: str) -> str:
    """A guid's shape alone: one line of 1 to GUID_MAX characters, without its surrounding spaces."""
    text = guid.strip()
    if not text or len(text) > GUID_MAX or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise Invalid(
            refusal(
                "A guid is one line of 1 to %(most)s characters; %(guid)r is not.",
                most=GUID_MAX,
                guid=guid[:60],
            ),
            field="guid",
        )
    return text


def set_keep_audio(episode: Episode, keep: bool) -> None:
    """Publish the original MP3 as it is, or through the pipeline; the caller has it processed again."""
    if keep and (episode.probe or {}).get("format") != "mp3":
        raise Invalid(refusal("Only an MP3 can be published as it is."), field="keep_audio")
    episode.keep_audio = keep


def _free_episode_slug(session: Session, show: Show, title: str, number: int | None) -> str:
    fallback = f"episode-{number}" if number is not None else "episode"
    base = slug_from_title(title, fallback)
    taken = {skeleton(slug) for slug in _episode_slugs(session, show)}
    return unique_slug(base, lambda s: skeleton(s) in taken)


def _episode_slugs(session: Session, show: Show, renamed: Episode | None = None) -> list[str]:
    """The slugs and old slugs of the show's episodes, but those `renamed` may take back (its old ones)."""
    own = renamed.id if renamed is not None else 0
    slugs = session.scalars(select(Episode.slug).where(Episode.show_id == show.id)).all()
    aliases = session.scalars(
        select(EpisodeAlias.slug).where(EpisodeAlias.show_id == show.id, EpisodeAlias.episode_id != own)
    ).all()
    return [*slugs, *aliases]


# --- finding --------------------------------------------------------------------------------------------


def get_episode(session: Session, episode_id: int) -> Episode:
    if not 1 <= episode_id <= MAX_ID:
        raise NotFound(refusal("There is no episode %(id)s.", id=episode_id))
    episode = session.get(Episode, episode_id)
    if episode is None:
        raise NotFound(refusal("There is no episode %(id)s.", id=episode_id))
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
        raise NotFound(refusal("There is no episode %(slug)r in %(show)r.", slug=slug, show=show.slug))
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


def update_episode(
    services: Services, session: Session, episode: Episode, fields: Mapping[str, object]
) -> Episode:
    """Apply the fields sent; the feed is announced (`feed_changed`) once the change is committed."""
    if fields.get("slug") == episode.slug:  # sent back unchanged, as the edit form does: not chosen now
        fields = {name: value for name, value in fields.items() if name != "slug"}
    values = clean_episode_fields(fields, creating=False, episode=episode)
    new_slug = values.pop("slug", None)
    if "title" in fields and not values.get("title"):
        raise Invalid(refusal("An episode needs a title."), field="title")
    for name, value in values.items():
        setattr(episode, name, value)
    if "description" in values:
        episode.notes_html = render_notes_html(values["description"])
    if "publish_at" in fields and fields["publish_at"] in (None, ""):
        episode.publish_at = None
    announce_feed_change(services.queue, session, episode.show_id)
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
    else:
        taken = _episode_slugs(session, episode.show, episode)
        refuse_look_alike(new_slug, taken, "already taken in this show")
    session.add(EpisodeAlias(show_id=episode.show_id, slug=episode.slug, episode=episode))
    episode.slug = new_slug


def replace_original(services: Services, session: Session, episode: Episode, upload: Upload) -> str | None:
    """New source audio for an existing episode: probe, store, mark it for processing (GUID kept).

    Returns the key of the old original, which is deleted once the change is committed; the caller runs
    the processing (sync does, itself). Refused (Conflict) while a live run works on the episode: it would
    publish audio of the original being replaced.
    """
    lock_row(session, episode)
    if live_run(services.settings, episode):
        raise Conflict(refusal("The episode's audio is being processed; replace it once that run has ended."))
    probed = probe_upload(upload, services.settings.max_duration_s)
    old_key = episode.original_key
    episode.original_key = put_file(
        services.store, session, episode.show, episode, "original", upload, probed.mime_type, probed.format
    )
    episode.original_sha256 = file_sha256(upload.path)
    episode.original_size = upload.path.stat().st_size
    episode.original_filename = original_label(upload.filename)
    episode.probe = probe_json(probed)
    queue_again(episode)
    replaced = old_key if old_key != episode.original_key else None
    delete_after_commit(services.store, session, [replaced])
    return replaced


def replace_transcript(
    services: Services, session: Session, episode: Episode, transcript: Transcript
) -> str | None:
    """Store a new transcript; returns the old one's key, deleted once this is committed, when the feed
    (which links the transcript) is announced too."""
    old_key = episode.transcript_key
    _store_transcript(services, session, episode.show, episode, transcript)
    replaced = old_key if old_key != episode.transcript_key else None
    delete_after_commit(services.store, session, [replaced])
    announce_feed_change(services.queue, session, episode.show_id)
    return replaced


def replace_image(services: Services, session: Session, episode: Episode, image: Upload) -> str | None:
    """Check and store a new episode cover under a new name (apps cache by URL); returns the old one's key,
    deleted once this is committed, when the feed is announced too. The MP3 carries it from its next run."""
    art = check_image(image)
    assert art is not None  # an upload always gives artwork or a refusal
    old_key = episode.image_key
    _store_cover(services, session, episode.show, episode, art)
    delete_after_commit(services.store, session, [old_key])
    announce_feed_change(services.queue, session, episode.show_id)
    return old_key


def _store_cover(services: Services, session: Session, show: Show, episode: Episode, art: Artwork) -> None:
    """Store a checked cover under a new name and point the episode at it (deleted again on a rollback)."""
    episode.image_key = put_bytes(
        services.store, session, show, episode, "image", "cover", art.extension, art.data, art.mime_type
    )


def _store_transcript(
    services: Services, session: Session, show: Show, episode: Episode, transcript: Transcript
) -> None:
    episode.transcript_key = put_bytes(
        services.store,
        session,
        show,
        episode,
        "transcript",
        "transcript",
        transcript.extension,
        transcript.data,
        transcript.mime_type,
    )
    episode.transcript_type = transcript.mime_type


def replace_chapters(
    services: Services, session: Session, episode: Episode, chapters: dict[str, Any] | None
) -> Episode:
    """New chapters, or none: the MP3 carries them as CHAP frames, so the episode is processed again (GUID
    kept), queued once this is committed. Refused (Conflict) while a live run works on it; unchanged ones
    are no change."""
    if chapters == episode.chapters:
        return episode
    request_reprocess(services, session, episode)
    episode.chapters = chapters
    announce_feed_change(services.queue, session, episode.show_id)
    session.flush()
    return episode


def remove_side_file(services: Services, session: Session, episode: Episode, kind: str) -> str | None:
    """Take the episode's cover ("image") or transcript away; returns its key, deleted once this is committed,
    when the feed is announced too."""
    if kind == "image":
        old_key, episode.image_key = episode.image_key, None
    elif kind == "transcript":
        old_key, episode.transcript_key, episode.transcript_type = episode.transcript_key, None, None
    else:
        raise ValueError(f"no side file {kind!r} is stored on its own")
    session.flush()
    delete_after_commit(services.store, session, [old_key])
    announce_feed_change(services.queue, session, episode.show_id)
    return old_key
