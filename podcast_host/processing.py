"""The processing job: original in the store -> audio pipeline -> published MP3, once, whatever crashes.

A run claims the episode with one atomic UPDATE that sets a random claim token, and keeps a heartbeat while
it works; its final write only lands if the episode still carries that token and the original it processed,
so two runs can never both publish, and a late run never publishes on a newer one. Each run has a wall-clock
deadline: past it the audio pipeline stops its ffmpeg and the run fails. Superseded MP3s are kept for a grace
period, because apps download enclosures long after they read the feed (docs/architecture.md, Processing).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import or_, update

from podcast_host import audio
from podcast_host.chapters import chapters_for_tags
from podcast_host.config import Settings
from podcast_host.db import enqueue_after_commit
from podcast_host.episodes import get_episode
from podcast_host.jobs import JOB_TIMEOUT_S, Retry, RetryLater
from podcast_host.models import FAILED, PENDING, PROCESSING, READY, Episode, Show, utcnow
from podcast_host.services import Services
from podcast_host.storage import (
    LOW_DATA_EXTENSION,
    MediaStore,
    StorageError,
    delete_objects,
    media_key,
    served_type,
    unguessable_name,
)

log = logging.getLogger(__name__)

# Store outages tolerated before an episode fails for good: as many as the queue runs a job (jobs.Retry),
# so the last run the queue gives fails the episode instead of leaving it pending.
MAX_ATTEMPTS = Retry.attempts
# Runs that may die mid-job (killed worker, lost machine) before the episode is failed instead of retried.
MAX_CLAIMS = 8
# A run's wall-clock deadline: this many times the audio's length, plus time to download and upload, and
# ending before the queue's own job time-out kills the worker without a word. The pipeline needs a few minutes
# per hour of audio.
DEADLINE_FACTOR = 3.0
DEADLINE_SLACK_S = 600.0
DEADLINE_CAP_S = float(JOB_TIMEOUT_S) - DEADLINE_SLACK_S


def process_episode_job(services: Services, episode_id: int) -> None:
    """The `process_episode` job (tasks.JOBS)."""
    process_episode(services, episode_id)


def process_episode(
    services: Services, episode_id: int, progress: Callable[[float], None] | None = None
) -> str:
    """Run the audio pipeline once for an episode; return its processing state afterwards.

    A job owns its transactions: the claim, each heartbeat and the result are committed as they happen.
    """
    claim = _claim(services, episode_id)
    if claim is None:
        return _state_of(services, episode_id)
    with services.db.session() as session:
        episode = get_episode(session, episode_id)
        show_id, original_key = episode.show_id, episode.original_key or ""
        probed = audio.ProbeResult(**{**(episode.probe or {}), "chapters": []})
        tags = _tags_for(services.store, episode, episode.show)
        settings = _encode_settings(episode.show)
        # Only an MP3 is published as it is: audio replaced since by another format goes through the pipeline.
        keep_as_is = episode.keep_audio and probed.format == "mp3"
        # A new name per run: a published file is never overwritten while apps may be downloading it.
        audio_key = media_key(show_id, "audio", unguessable_name(episode.slug, "mp3"), episode.id)
        low_data_key = media_key(
            show_id, "audio", unguessable_name(episode.slug, LOW_DATA_EXTENSION), episode.id
        )
    max_s = services.settings.max_duration_s

    workdir = Path(tempfile.mkdtemp(prefix=f"episode-{episode_id}-", dir=jobs_dir(services.settings)))
    try:
        # Counted from before the download: past it the pipeline kills its ffmpeg and raises TimedOut. The
        # store calls around it end on their own (the S3 client has short time-outs and few retries).
        deadline = time.monotonic() + run_deadline_s(probed.duration_s or max_s)
        with _heartbeat(services, episode_id, claim, progress, workdir) as report:
            src = workdir / ("original." + (probed.format or "bin"))
            dst = workdir / "episode.mp3"
            low_data_dst = workdir / "episode.opus"
            services.store.download(original_key, src)
            if keep_as_is:
                result = audio.keep(
                    src, dst, probed, settings, report, max_duration_s=max_s, deadline=deadline
                )
            else:
                result = audio.process(
                    src,
                    dst,
                    probed,
                    settings,
                    tags,
                    report,
                    max_duration_s=max_s,
                    deadline=deadline,
                    low_data_dst=low_data_dst,
                )
            published = Published(audio_key, dst.stat().st_size, _sri_sha256(dst))
            services.store.put_file(audio_key, dst, "audio/mpeg")
            if result.low_data is not None:
                published.low_data = Published(
                    low_data_key, low_data_dst.stat().st_size, _sri_sha256(low_data_dst), result.low_data.kbps
                )
                services.store.put_file(low_data_key, low_data_dst, served_type(low_data_key))
    except audio.AudioError as exc:
        return _fail(services, episode_id, claim, str(exc))
    except (StorageError, FileNotFoundError) as exc:
        return _storage_trouble(services, episode_id, claim, exc)
    except Exception as exc:  # noqa: BLE001 - any other crash must still end the episode with a reason
        log.exception("processing episode %s crashed", episode_id)
        return _fail(services, episode_id, claim, f"Processing stopped unexpectedly ({exc}); reprocess it.")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return _finish(services, episode_id, claim, published, result, show_id, original_key=original_key)


def run_deadline_s(duration_s: float) -> float:
    """How long a run on audio of `duration_s` seconds may take, download and upload included."""
    return min(DEADLINE_FACTOR * duration_s + DEADLINE_SLACK_S, DEADLINE_CAP_S)


def _finish(
    services: Services,
    episode_id: int,
    claim: str,
    published: Published,
    result: audio.ProcessResult,
    show_id: int,
    *,
    original_key: str,
) -> str:
    """Publish this run's MP3, unless another run took the episode over or its original changed meanwhile.

    Draft and publication date are read here, in the locked row: a publish committed while this run worked
    is never undone. Commits the result, the run's own transaction; the feed is announced once it is.
    """
    with services.db.session() as session:
        episode = session.get(Episode, episode_id, with_for_update=True)
        # The original check is a second line of defence: replacing the original already resets the claim.
        if episode is None or not _owns(episode, claim) or episode.original_key != original_key:
            session.rollback()
            delete_objects(services.store, published.stored())
            return episode.processing_state if episode else "missing"
        # Replaced files stay downloadable for a grace period: apps may be fetching them right now.
        retired = [
            key for key in (episode.audio_key, episode.low_data_key) if key and key not in published.stored()
        ]
        if retired:
            when = utcnow().isoformat()
            episode.retired_audio = [*(episode.retired_audio or []), *([key, when] for key in retired)]
        episode.audio_key = published.key
        episode.enclosure_length = published.length
        episode.enclosure_type = "audio/mpeg"
        episode.audio_sha256 = published.sha256
        low_data = published.low_data
        episode.low_data_key = low_data.key if low_data else None
        episode.low_data_length = low_data.length if low_data else None
        episode.low_data_sha256 = low_data.sha256 if low_data else None
        episode.low_data_kbps = low_data.kbps if low_data else None
        episode.duration_s = result.duration_s
        episode.loudness_report = result.loudness_report
        episode.waveform = result.waveform
        episode.processing_state = READY
        episode.error = None
        episode.progress = 1.0
        if not episode.draft and episode.publish_at is None:
            episode.publish_at = utcnow()
        enqueue_after_commit(session, services.queue, "feed_changed", show_id)
        session.commit()
    return READY


@dataclass
class Published:
    """A file a run stored for listeners: key, size, SHA-256 (base64); with the MP3, its low-data file."""

    key: str
    length: int
    sha256: str
    kbps: int | None = None
    low_data: Published | None = None

    def stored(self) -> list[str]:
        return [self.key, *(self.low_data.stored() if self.low_data else [])]


def _sri_sha256(path: Path) -> str:
    """A file's SHA-256 as Subresource Integrity writes it, without the "sha256-" prefix (base64)."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode("ascii")


def _owns(episode: Episode, claim: str) -> bool:
    return episode.processing_state == PROCESSING and episode.claim_token == claim


def _claim(services: Services, episode_id: int) -> str | None:
    """Atomically mark the episode as ours; return the claim token, or None if another run has it."""
    now = utcnow()
    stale = stale_before(services.settings, now)
    token = secrets.token_hex(16)
    with services.db.session() as session:
        result = session.execute(
            update(Episode)
            .where(
                Episode.id == episode_id,
                Episode.attempts < MAX_CLAIMS,
                or_(
                    Episode.processing_state == PENDING,
                    (Episode.processing_state == PROCESSING) & (Episode.heartbeat_at < stale),
                ),
            )
            .values(
                processing_state=PROCESSING,
                heartbeat_at=now,
                attempts=Episode.attempts + 1,
                claim_token=token,
                progress=0.0,
            )
        )
        session.commit()
        # An UPDATE answers with a CursorResult, which Session.execute types as a plain Result.
        return token if result.rowcount == 1 else None  # type: ignore[attr-defined]


def stale_before(settings: Settings, now: datetime) -> datetime:
    return now - timedelta(seconds=settings.job_stale_s)


def _state_of(services: Services, episode_id: int) -> str:
    with services.db.session() as session:
        episode = session.get(Episode, episode_id)
        return episode.processing_state if episode else "missing"


@contextmanager
def _heartbeat(
    services: Services,
    episode_id: int,
    claim: str,
    progress: Callable[[float], None] | None,
    workdir: Path,
) -> Iterator[Callable[[float], None]]:
    """Refresh heartbeat_at and progress from a thread for the whole run: download, pipeline, upload.

    Each beat also touches `workdir`, which tells the sweep of leftover job folders that this one is alive.
    """
    fraction = [0.0]
    stop = threading.Event()
    # Beat well within the stale limit so a live job is never mistaken for a dead one.
    every_s = min(5.0, services.settings.job_stale_s / 4)

    def beat() -> None:
        while not stop.wait(every_s):
            try:
                os.utime(workdir)
                with services.db.session() as session:
                    session.execute(
                        update(Episode)
                        .where(
                            Episode.id == episode_id,
                            Episode.processing_state == PROCESSING,
                            Episode.claim_token == claim,
                        )
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


def _fail(services: Services, episode_id: int, claim: str, message: str) -> str:
    with services.db.session() as session:
        episode = session.get(Episode, episode_id, with_for_update=True)
        if episode is None or not _owns(episode, claim):
            return episode.processing_state if episode else "missing"
        episode.processing_state = FAILED
        episode.error = message
        session.commit()
    return FAILED


def _storage_trouble(services: Services, episode_id: int, claim: str, exc: Exception) -> str:
    """The store did not answer: try again later, or fail for good after a few attempts."""
    with services.db.session() as session:
        episode = session.get(Episode, episode_id, with_for_update=True)
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


def _tags_for(store: MediaStore, episode: Episode, show: Show) -> audio.EpisodeTags:
    cover, cover_mime = None, "image/jpeg"
    image_key = episode.image_key or show.image_key
    if image_key:
        try:
            with store.open(image_key) as fh:
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
    # The low-data bitrates are read with getattr: a schema without their columns keeps the defaults.
    low_data_stereo: int | None = getattr(show, "low_data_stereo_kbps", None)
    low_data_mono: int | None = getattr(show, "low_data_mono_kbps", None)
    return audio.EncodeSettings(
        target_lufs_stereo=show.target_lufs_stereo or defaults.target_lufs_stereo,
        target_lufs_mono=show.target_lufs_mono or defaults.target_lufs_mono,
        bitrate_stereo_kbps=show.bitrate_stereo_kbps or defaults.bitrate_stereo_kbps,
        bitrate_mono_kbps=show.bitrate_mono_kbps or defaults.bitrate_mono_kbps,
        low_data_stereo_kbps=low_data_stereo or defaults.low_data_stereo_kbps,
        low_data_mono_kbps=low_data_mono or defaults.low_data_mono_kbps,
    )


def jobs_dir(settings: Settings) -> Path:
    """Where runs keep their copy of the original and the MP3 being made: in the data folder, not /tmp,
    so that leftovers of a crash are found and swept (and large files land where space was planned)."""
    folder = settings.data_dir / "tmp" / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
