"""An import's items: their files downloaded a few items ahead, each made into an episode, its audio published
as it was or through the pipeline (docs/migrate.md)."""

from __future__ import annotations

import logging
import shutil
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from podcast_host import audio, episodes, fetching, processing
from podcast_host.db import enqueue_after_commit
from podcast_host.errors import PodcastHostError
from podcast_host.imports.reader import FeedItem
from podcast_host.limits import SIDE_FILE_LIMITS
from podcast_host.models import FAILED, Episode, Show, utcnow
from podcast_host.services import Services

log = logging.getLogger(__name__)

# Items whose files are downloaded ahead of the one being created (and at the same time).
IMPORT_AHEAD = 4


@dataclass
class _Fetched:
    """An item's files on local disk, or why they could not be had."""

    audio: Path | None = None
    image: Path | None = None
    chapters: Path | None = None
    transcript: Path | None = None
    problem: str | None = None
    notices: list[str] = field(default_factory=list)
    folder: Path | None = None


def in_order(items: list[FeedItem]) -> list[FeedItem]:
    """Oldest first (undated last), so that episodes are created in the order they were published."""
    return sorted(items, key=lambda i: (i.published is None, i.published or datetime.min, -i.position))


def fetched_ahead(
    services: Services, show_id: int, items: list[FeedItem], workdir: Path
) -> Iterator[tuple[FeedItem, _Fetched | None]]:
    """Each item with its files, fetched IMPORT_AHEAD at a time in threads (no database there); None for an
    item that needs no download (already imported, or broken)."""
    done = _done_guids(services, show_id)
    with ThreadPoolExecutor(max_workers=IMPORT_AHEAD, thread_name_prefix="import") as pool:
        window: deque[tuple[FeedItem, Future[_Fetched] | None]] = deque()
        for item in items:
            if item.problem is None and item.guid not in done:
                # What would refuse the episode is found before its audio is downloaded.
                item.problem = _refusal_of(item)
            needed = item.problem is None and item.guid not in done
            window.append((item, pool.submit(_fetch_files, services, item, workdir) if needed else None))
            if len(window) > IMPORT_AHEAD:
                yield _next(window)
        while window:
            yield _next(window)


def _next(window: deque[tuple[FeedItem, Future[_Fetched] | None]]) -> tuple[FeedItem, _Fetched | None]:
    item, future = window.popleft()
    return item, future.result() if future is not None else None


def _done_guids(services: Services, show_id: int) -> set[str]:
    """The guids of the show's episodes that need nothing more (a failed one is fetched again)."""
    with services.db.session() as session:
        rows = session.execute(
            select(Episode.guid, Episode.processing_state).where(Episode.show_id == show_id)
        ).all()
    return {guid for guid, state in rows if state != FAILED}


def _refusal_of(item: FeedItem) -> str | None:
    """Why the item's episode would be refused whatever its audio (its guid, a field), or None."""
    try:
        episodes.check_guid_text(item.guid)
        episodes.clean_episode_fields(_episode_fields(item), creating=True)
    except PodcastHostError as exc:
        return str(exc)
    return None


def _fetch_files(services: Services, item: FeedItem, workdir: Path) -> _Fetched:
    """The item's files, downloaded; whatever goes wrong is the item's problem, never the run's."""
    try:
        return _download_files(services, item, workdir)
    except Exception as exc:  # noqa: BLE001 - one item must not end the run
        log.exception("import item %s: fetching stopped", item.position)
        return _Fetched(problem=f"fetching stopped unexpectedly ({exc})")


def _download_files(services: Services, item: FeedItem, workdir: Path) -> _Fetched:
    folder = workdir / f"item-{item.position}"
    folder.mkdir()
    got = _Fetched(folder=folder)
    settings = services.settings
    try:
        assert item.enclosure_url is not None  # items without one have a problem and are not fetched
        got.audio = folder / _audio_name(item)
        fetching.download(
            item.enclosure_url, got.audio, settings=settings, max_bytes=settings.max_upload_bytes
        )
    except PodcastHostError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return _Fetched(problem=f"enclosure: {exc}")
    for kind, url, name in (
        ("image", item.image_url, "cover"),
        ("chapters", item.chapters_url, "chapters.json"),
        ("transcript", item.transcript_url, item.transcript_name or "transcript.vtt"),
    ):
        if not url:
            continue
        try:
            path = folder / name
            fetching.download(url, path, settings=settings, max_bytes=SIDE_FILE_LIMITS[kind])
            setattr(got, kind, path)
        except PodcastHostError as exc:
            got.notices.append(f"{kind} left out: {exc}")
    return got


def _audio_name(item: FeedItem) -> str:
    """A file name whose suffix tells the prober what to expect; the probe decides in the end."""
    suffix = Path(urlsplit(item.enclosure_url or "").path).suffix.lower()
    return "audio" + (suffix if suffix in (".mp3", ".m4a", ".aac", ".ogg", ".opus", ".wav", ".flac") else "")


def import_item(
    services: Services,
    show_id: int,
    item: FeedItem,
    fetched: _Fetched | None,
    keep_audio: bool,
    enqueue: bool,
) -> tuple[str, str | None]:
    """Create (or retry) one item's episode; its state and the reason when it failed."""
    if item.problem:
        return "failed", item.problem
    if fetched is None:
        return "skipped", None
    if fetched.problem or fetched.audio is None:
        return "failed", fetched.problem
    notices = item.notices + fetched.notices
    try:
        with services.db.session() as session:
            show = session.get(Show, show_id)
            assert show is not None
            existing = session.scalar(
                select(Episode).where(Episode.show_id == show_id, Episode.guid == item.guid)
            )
            upload = episodes.Upload(fetched.audio, fetched.audio.name)
            if existing is not None and existing.processing_state != FAILED:
                # Made since this run began (an item with the same guid earlier in the feed): left alone.
                return "skipped", None
            if existing is not None:
                episodes.replace_original(services, session, existing, upload)
                if enqueue:
                    enqueue_after_commit(session, services.queue, "process_episode", existing.id)
                session.commit()
                return "imported", _joined(notices)
            keep = keep_audio and _is_mp3(services, fetched.audio)
            if keep_audio and not keep:
                notices.append("not an MP3: processed instead of kept")
            episodes.create_episode(
                services,
                session,
                show,
                upload,
                _episode_fields(item),
                image=_upload(fetched.image),
                chapters=_upload(fetched.chapters),
                transcript=_upload(fetched.transcript),
                enqueue=enqueue,
                guid=item.guid,
                keep_audio=keep,
            )
    except PodcastHostError as exc:
        return "failed", str(exc)
    except IntegrityError:
        # Another run created the same episode at the same moment (the database refused a second one).
        return "skipped", None
    return "imported", _joined(notices)


def _episode_fields(item: FeedItem) -> dict[str, object]:
    fields: dict[str, object] = {
        "title": item.title,
        "description": item.notes,
        "type": item.episode_type,
        "explicit": item.explicit,
        "publish_at": (item.published or utcnow()).isoformat(),
    }
    if item.season is not None:
        fields["season"] = item.season
    if item.number is not None:
        fields["number"] = item.number
    return fields


def _is_mp3(services: Services, path: Path) -> bool:
    try:
        return audio.probe(path, services.settings.max_duration_s).format == "mp3"
    except audio.AudioError:
        return False


def _upload(path: Path | None) -> episodes.Upload | None:
    return episodes.Upload(path, path.name) if path else None


def _joined(notices: list[str]) -> str | None:
    return "; ".join(notices) or None


def process_now(services: Services, episode_id: int) -> tuple[str, str | None]:
    state = processing.process_episode(services, episode_id)
    if state != FAILED:
        return "imported", None
    with services.db.session() as session:
        episode = session.get(Episode, episode_id)
        return "failed", f"processing: {episode.error if episode else 'the episode is gone'}"
