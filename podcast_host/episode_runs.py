"""An episode's publishing and its processing runs: published now or at a time, deleted, queued for the
pipeline again; the row locked and a live run respected (docs/api.md, "Episodes"). episodes.py names these for
its callers."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from podcast_host.config import Settings
from podcast_host.db import enqueue_after_commit
from podcast_host.errors import Conflict, refusal
from podcast_host.models import FAILED, PENDING, PROCESSING, Episode, utcnow
from podcast_host.services import Services
from podcast_host.shows import announce_feed_change, delete_after_commit


def publish_episode(
    services: Services, session: Session, episode: Episode, at: datetime | None = None
) -> Episode:
    """Publish now (or at `at`); an episode without audio yet goes out as soon as processing ends.

    The row is read again under a lock: a processing run that committed since the caller loaded the episode
    is seen, and its result is not overwritten with what the caller loaded. The feed is announced once the
    change is committed.
    """
    lock_row(session, episode)
    if episode.processing_state == FAILED and episode.audio_key is None:
        raise Conflict(refusal("The episode's audio failed to process; reprocess it before publishing."))
    announce_feed_change(services.queue, session, episode.show_id)
    episode.draft = False
    if at is not None:
        episode.publish_at = at
    elif episode.publish_at is None or episode.publish_at > utcnow():
        # Audio it already has (also while a reprocess runs, or after one failed) is published now; without
        # any, processing publishes it when it ends (it reads this intent in its own locked row).
        episode.publish_at = utcnow() if episode.audio_key is not None else None
    session.flush()
    return episode


def lock_row(session: Session, episode: Episode) -> None:
    """Re-read the episode's row, locked until commit (PostgreSQL; SQLite serializes writers anyway)."""
    session.flush()
    session.get(Episode, episode.id, with_for_update=True, populate_existing=True)


def live_run(settings: Settings, episode: Episode) -> bool:
    """Whether a run works on the episode and beat recently (a silent one is dead and may be replaced)."""
    fresh_after = utcnow() - timedelta(seconds=settings.job_stale_s)
    return (
        episode.processing_state == PROCESSING
        and episode.heartbeat_at is not None
        and episode.heartbeat_at > fresh_after
    )


def queue_again(episode: Episode) -> None:
    """Mark the episode for a new run: the claim of any earlier run, dead or late, stops counting."""
    episode.processing_state = PENDING
    episode.error = None
    episode.attempts = 0
    episode.claim_token = None
    episode.progress = 0.0


def delete_episode(services: Services, session: Session, episode: Episode) -> None:
    """Delete the episode; its media go, and the feed is announced, once that is committed."""
    keys = episode.media_keys()
    show_id = episode.show_id
    session.delete(episode)
    session.flush()
    delete_after_commit(services.store, session, keys)
    announce_feed_change(services.queue, session, show_id)


def request_reprocess(
    services: Services, session: Session, episode: Episode, enqueue: bool = True
) -> Episode:
    """Mark the episode for the pipeline again, queued once that is committed; refused while a live run
    works on the episode (a dead one is taken over).

    With enqueue=False the episode is only marked pending, for the caller to commit and run itself.
    """
    lock_row(session, episode)
    # A pending episode is simply queued again: the claim makes a duplicate delivery harmless.
    if live_run(services.settings, episode):
        raise Conflict(refusal("The episode is already being processed."))
    if not episode.original_key:
        raise Conflict(refusal("The episode has no original audio to process."))
    queue_again(episode)
    session.flush()
    if enqueue:
        enqueue_after_commit(session, services.queue, "process_episode", episode.id)
    return episode
