"""Upkeep of processing, at start-up and every so often: runs lost to a crash are queued again (or failed
once they died too often), replaced MP3s are deleted after their grace period, and what dead runs left on disk
is swept (docs/architecture.md, Processing). Imports cut off by a restart of the embedded server run again."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from podcast_host.imports import imports_dir
from podcast_host.models import FAILED, PENDING, PROCESSING, Episode, FeedImport, utcnow
from podcast_host.processing import MAX_CLAIMS, jobs_dir, stale_before
from podcast_host.services import Services
from podcast_host.storage import LocalStore, delete_objects

log = logging.getLogger(__name__)

# How long a replaced MP3 stays downloadable: apps fetch enclosures hours after they read the feed.
RETIRED_AUDIO_GRACE = timedelta(days=2)
# Half-written uploads to a local media folder older than this come from a crashed process.
PARTIAL_UPLOAD_AGE_S = 3600.0


def recover_unfinished(services: Services, include_fresh: bool) -> int:
    """Queue again every episode whose job was lost (a crash, a restart); return how many.

    `include_fresh`: the caller knows no other run is alive (the embedded server starting up).
    Episodes that died too often mid-job are failed with a reason instead. Also tidies what dead runs leave
    behind: replaced MP3s past their grace, job folders, half-written uploads.
    """
    now = utcnow()
    stale = stale_before(services.settings, now)
    with services.db.session() as session:
        _fail_the_hopeless(session, stale)
        running = Episode.processing_state == PROCESSING
        pending = Episode.processing_state == PENDING
        if not include_fresh:
            running = running & (Episode.heartbeat_at < stale)
            pending = pending & (Episode.updated_at < stale)
        ids = list(session.scalars(select(Episode.id).where(or_(running, pending))))
        if include_fresh and ids:
            # The in-process queue died with the process: nothing else is working on these.
            session.execute(
                update(Episode)
                .where(Episode.id.in_(ids), Episode.processing_state == PROCESSING)
                .values(processing_state=PENDING)
            )
        session.commit()
    purge_retired_audio(services)
    sweep_leftovers(services)
    for episode_id in ids:
        services.queue.enqueue("process_episode", episode_id)
    if include_fresh:
        _resume_imports(services)
    return len(ids)


def _resume_imports(services: Services) -> None:
    """Imports the in-process queue lost with its process, run again: an import is safe to run again (what
    it made is found and skipped), so it picks up where it stopped. Only those a producer queued (through the
    API or the dashboard): a command-line import runs in its own process, which may still be at work."""
    with services.db.session() as session:
        lost = list(
            session.scalars(
                select(FeedImport).where(
                    FeedImport.state.in_(("queued", "running")), FeedImport.created_by.is_not(None)
                )
            )
        )
        for run in lost:
            run.state = "queued"
        session.commit()
        ids = [run.id for run in lost]
    # What the cut-off runs had downloaded: each starts over in a folder of its own.
    for import_id in ids:
        for leftover in imports_dir(services.settings).glob(f"import-{import_id}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
    for import_id in ids:
        log.info("import %s was cut off by a restart: running it again", import_id)
        services.queue.enqueue("import_feed", import_id)


def watch_for_stalled_runs(
    services: Services, stop: threading.Event, every_s: float | None = None
) -> threading.Thread:
    """Run the recovery pass every `every_s` seconds (the stale limit by default) until `stop` is set.

    A server or a worker may run for months: episodes whose run died meanwhile are taken over, and replaced
    MP3s and leftovers purged, without a restart. The pass runs in its own thread, so processing threads stay
    free.
    """
    interval = float(services.settings.job_stale_s) if every_s is None else every_s

    def watch() -> None:
        while not stop.wait(interval):
            try:
                recover_unfinished(services, include_fresh=False)
            except Exception:  # noqa: BLE001 - the next pass tries again; the watch must live on
                log.exception("could not check for stalled episodes")

    thread = threading.Thread(target=watch, name="podcast-host-stalled-runs", daemon=True)
    thread.start()
    return thread


def _fail_the_hopeless(session: Session, stale: datetime) -> None:
    session.execute(
        update(Episode)
        .where(
            Episode.processing_state.in_((PENDING, PROCESSING)),
            Episode.attempts >= MAX_CLAIMS,
            or_(Episode.heartbeat_at.is_(None), Episode.heartbeat_at < stale),
        )
        .values(
            processing_state=FAILED,
            error=f"Processing was interrupted {MAX_CLAIMS} times (worker crashes?); reprocess it.",
        )
    )


def purge_retired_audio(services: Services) -> int:
    """Delete replaced MP3s (and low-data files) whose grace period is over; return how many.

    Runs with every recovery pass: at start-up and then every so often (`watch_for_stalled_runs`).
    """
    cutoff = utcnow() - RETIRED_AUDIO_GRACE
    deleted = 0
    with services.db.session() as session:
        ids = list(session.scalars(select(Episode.id).where(Episode.retired_audio.is_not(None))))
        session.commit()
        for episode_id in ids:
            # Locked like _finish locks it: a run publishing meanwhile must not lose the MP3 it retires.
            episode = session.get(Episode, episode_id, with_for_update=True, populate_existing=True)
            keep: list[list[str]] = []
            drop: list[list[str]] = []
            for key, retired_at in (episode.retired_audio if episode else None) or []:
                (drop if retired_at < cutoff.isoformat() else keep).append([key, retired_at])
            if episode is not None and drop:
                episode.retired_audio = keep or None
                deleted += len(drop)
            session.commit()
            # Once no row names them, like every other deletion.
            delete_objects(services.store, [key for key, _ in drop])
    return deleted


def sweep_leftovers(services: Services) -> int:
    """Remove job folders no live run touched within the stale limit, and local half-written uploads.

    A live run touches its folder at every heartbeat, so only a dead run's folder gets this old.
    """
    cutoff = time.time() - services.settings.job_stale_s
    removed = 0
    folder = jobs_dir(services.settings)
    for entry in folder.iterdir():
        try:
            if entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except OSError as exc:
            log.warning("could not remove the leftover job folder %s: %s", entry, exc)
    if isinstance(services.store, LocalStore):
        removed += services.store.sweep_partial_uploads(PARTIAL_UPLOAD_AGE_S)
    return removed
