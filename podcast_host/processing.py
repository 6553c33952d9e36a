"""The processing job: original in the store -> audio pipeline -> published MP3, once, whatever crashes.

A run claims the episode with one atomic UPDATE and keeps a heartbeat while it works; its final write only
lands if it still owns the claim, so two runs can never both publish. Superseded MP3s are kept for a grace
period, because apps download enclosures long after they read the feed.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update

from podcast_host import audio
from podcast_host.chapters import chapters_for_tags
from podcast_host.episodes import delete_objects, get_episode
from podcast_host.jobs import RetryLater, job
from podcast_host.models import FAILED, PENDING, PROCESSING, READY, Episode, Show, utcnow
from podcast_host.storage import StorageError, media_key

log = logging.getLogger(__name__)

# Store outages tolerated before an episode fails for good (each waits longer, see jobs.Retry).
MAX_ATTEMPTS = 4
# Runs that may die mid-job (killed worker, lost machine) before the episode is failed instead of retried.
MAX_CLAIMS = 8
# How long a replaced MP3 stays downloadable: apps fetch enclosures hours after they read the feed.
RETIRED_AUDIO_GRACE = timedelta(days=2)


@job("process_episode")
def process_episode_job(services: Any, episode_id: int) -> None:
    process_episode(services, episode_id)


def process_episode(services: Any, episode_id: int, progress: Callable[[float], None] | None = None) -> str:
    """Run the audio pipeline once for an episode; return its processing state afterwards."""
    claim = _claim(services, episode_id)
    if claim is None:
        return _state_of(services, episode_id)
    with services.db.session() as session:
        episode = get_episode(session, episode_id)
        show_id, original_key = episode.show_id, episode.original_key or ""
        probed = audio.ProbeResult(**{**(episode.probe or {}), "chapters": []})
        tags = _tags_for(services, episode, episode.show)
        settings = _encode_settings(episode.show)
        # A new name per run: a published file is never overwritten while apps may be downloading it.
        audio_key = media_key(show_id, "audio", f"{episode.slug}-{secrets.token_hex(4)}.mp3", episode.id)

    workdir = Path(tempfile.mkdtemp(prefix="podcast-host-job-"))
    try:
        with _heartbeat(services, episode_id, progress) as report:
            src = workdir / ("original." + (probed.format or "bin"))
            dst = workdir / "episode.mp3"
            services.store.download(original_key, src)
            result = audio.process(src, dst, probed, settings, tags, report)
            length = dst.stat().st_size
            services.store.put_file(audio_key, dst, "audio/mpeg")
    except audio.AudioError as exc:
        return _fail(services, episode_id, claim, str(exc))
    except (StorageError, FileNotFoundError) as exc:
        return _storage_trouble(services, episode_id, claim, exc)
    except Exception as exc:  # noqa: BLE001 - any other crash must still end the episode with a reason
        log.exception("processing episode %s crashed", episode_id)
        return _fail(services, episode_id, claim, f"Processing stopped unexpectedly ({exc}); reprocess it.")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return _finish(services, episode_id, claim, audio_key, length, result, show_id)


def _finish(
    services: Any,
    episode_id: int,
    claim: int,
    audio_key: str,
    length: int,
    result: audio.ProcessResult,
    show_id: int,
) -> str:
    """Publish this run's MP3, unless another run took the episode over meanwhile."""
    with services.db.session() as session:
        episode = session.get(Episode, episode_id, with_for_update=True)
        if episode is None or not _owns(episode, claim):
            session.rollback()
            delete_objects(services, [audio_key])
            return episode.processing_state if episode else "missing"
        if episode.audio_key and episode.audio_key != audio_key:
            episode.retired_audio = [
                *(episode.retired_audio or []),
                [episode.audio_key, utcnow().isoformat()],
            ]
        episode.audio_key = audio_key
        episode.enclosure_length = length
        episode.enclosure_type = "audio/mpeg"
        episode.duration_s = result.duration_s
        episode.loudness_report = result.loudness_report
        episode.waveform = result.waveform
        episode.processing_state = READY
        episode.error = None
        episode.progress = 1.0
        if not episode.draft and episode.publish_at is None:
            episode.publish_at = utcnow()
        session.commit()
    services.queue.enqueue("feed_changed", show_id)
    return READY


def _owns(episode: Episode, claim: int) -> bool:
    return episode.processing_state == PROCESSING and episode.attempts == claim


def _claim(services: Any, episode_id: int) -> int | None:
    """Atomically mark the episode as ours; return the claim number, or None if another run has it."""
    now = utcnow()
    with services.db.session() as session:
        result = session.execute(
            update(Episode)
            .where(
                Episode.id == episode_id,
                Episode.attempts < MAX_CLAIMS,
                or_(
                    Episode.processing_state == PENDING,
                    (Episode.processing_state == PROCESSING) & (Episode.heartbeat_at < _stale(services, now)),
                ),
            )
            .values(
                processing_state=PROCESSING, heartbeat_at=now, attempts=Episode.attempts + 1, progress=0.0
            )
        )
        session.commit()
        if result.rowcount != 1:
            return None
        return session.scalar(select(Episode.attempts).where(Episode.id == episode_id))


def _stale(services: Any, now: Any) -> Any:
    return now - timedelta(seconds=services.settings.job_stale_s)


def _state_of(services: Any, episode_id: int) -> str:
    with services.db.session() as session:
        episode = session.get(Episode, episode_id)
        return episode.processing_state if episode else "missing"


@contextmanager
def _heartbeat(
    services: Any, episode_id: int, progress: Callable[[float], None] | None
) -> Iterator[Callable[[float], None]]:
    """Refresh heartbeat_at and progress from a thread for the whole run: download, pipeline, upload."""
    fraction = [0.0]
    stop = threading.Event()
    # Beat well within the stale limit so a live job is never mistaken for a dead one.
    every_s = min(5.0, services.settings.job_stale_s / 4)

    def beat() -> None:
        while not stop.wait(every_s):
            try:
                with services.db.session() as session:
                    session.execute(
                        update(Episode)
                        .where(Episode.id == episode_id, Episode.processing_state == PROCESSING)
                        .values(heartbeat_at=utcnow(), progress=fraction[0])
                    )
                    session.commit()
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried at the next one
                log.warning("heartbeat of episode %s failed: %s", episode_id, exc)

    def report(value: float) -> None:
        fraction[0] = value
        if progress:
            progress(value)

    thread = threading.Thread(target=beat, name=f"heartbeat-{episode_id}", daemon=True)
    thread.start()
    try:
        yield report
    finally:
        stop.set()
        thread.join()


def _fail(services: Any, episode_id: int, claim: int, message: str) -> str:
    with services.db.session() as session:
        episode = session.get(Episode, episode_id)
        if episode is None or not _owns(episode, claim):
            return episode.processing_state if episode else "missing"
        episode.processing_state = FAILED
        episode.error = message
        session.commit()
    return FAILED


def _storage_trouble(services: Any, episode_id: int, claim: int, exc: Exception) -> str:
    """The store did not answer: try again later, or fail for good after a few attempts."""
    with services.db.session() as session:
        episode = session.get(Episode, episode_id)
        if episode is None or not _owns(episode, claim):
            return episode.processing_state if episode else "missing"
        if episode.attempts >= MAX_ATTEMPTS:
            episode.processing_state = FAILED
            episode.error = f"The media store could not be reached after {episode.attempts} attempts: {exc}"
            session.commit()
            return FAILED
        episode.processing_state = PENDING
        session.commit()
    raise RetryLater(str(exc))


def _tags_for(services: Any, episode: Episode, show: Show) -> audio.EpisodeTags:
    cover, cover_mime = None, "image/jpeg"
    image_key = episode.image_key or show.image_key
    if image_key:
        try:
            with services.store.open(image_key) as fh:
                cover = fh.read()
            cover_mime = "image/png" if image_key.endswith(".png") else "image/jpeg"
        except (StorageError, FileNotFoundError):
            log.warning("cover %s unavailable; the MP3 goes without it", image_key)
    date = (episode.publish_at or episode.created_at or utcnow()).date().isoformat()
    return audio.EpisodeTags(
        title=episode.title,
        show=show.title,
        author=show.author,
        date=date,
        season=episode.season,
        number=episode.number,
        cover=cover,
        cover_mime=cover_mime,
        chapters=chapters_for_tags(episode.chapters),
    )


def _encode_settings(show: Show) -> audio.EncodeSettings:
    defaults = audio.EncodeSettings()
    return audio.EncodeSettings(
        target_lufs_stereo=show.target_lufs_stereo or defaults.target_lufs_stereo,
        target_lufs_mono=show.target_lufs_mono or defaults.target_lufs_mono,
        bitrate_stereo_kbps=show.bitrate_stereo_kbps or defaults.bitrate_stereo_kbps,
        bitrate_mono_kbps=show.bitrate_mono_kbps or defaults.bitrate_mono_kbps,
    )


def recover_unfinished(services: Any, include_fresh: bool) -> int:
    """Queue again every episode whose job was lost (a crash, a restart); return how many.

    `include_fresh`: the caller knows no other run is alive (the embedded server starting up).
    Episodes that died too often mid-job are failed with a reason instead.
    """
    now = utcnow()
    stale = _stale(services, now)
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
    for episode_id in ids:
        services.queue.enqueue("process_episode", episode_id)
    return len(ids)


def _fail_the_hopeless(session: Any, stale: Any) -> None:
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


def purge_retired_audio(services: Any) -> int:
    """Delete replaced MP3s whose grace period is over; return how many."""
    cutoff = utcnow() - RETIRED_AUDIO_GRACE
    deleted = 0
    with services.db.session() as session:
        for episode in session.scalars(select(Episode).where(Episode.retired_audio.is_not(None))):
            keep, drop = [], []
            for key, retired_at in episode.retired_audio or []:
                (drop if retired_at < cutoff.isoformat() else keep).append([key, retired_at])
            if drop:
                delete_objects(services, [key for key, _ in drop])
                episode.retired_audio = keep or None
                deleted += len(drop)
        session.commit()
    return deleted
