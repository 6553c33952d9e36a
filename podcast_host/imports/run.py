"""An import: another host's feed made into a show here, item by item, safe to run again (docs/migrate.md).

A run is a `FeedImport` row with one `ImportItem` per item of the feed, committed as each item ends, so that
its progress can be read while it works. Enclosures and side files are downloaded a few at a time ahead of the
item being created (at most IMPORT_AHEAD + 1 items' files on disk at once); episodes are created one at a
time, oldest first, each in its own transaction. One item failing (a 404, a file that is not audio) is
recorded with its reason and the next goes on.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from podcast_host import accounts, audio, episodes, fetching, processing, shows
from podcast_host.db import enqueue_after_commit
from podcast_host.errors import Conflict, Forbidden, Invalid, NotFound, PodcastHostError, refusal
from podcast_host.feeds.build import podcast_guid
from podcast_host.feeds.categories import format_category, validate_category
from podcast_host.imports import imports_dir
from podcast_host.imports.reader import FeedChannel, FeedItem, read_feed
from podcast_host.limits import MIB, SIDE_FILE_LIMITS
from podcast_host.models import FAILED, MAX_SOURCE_LENGTH, Episode, FeedImport, ImportItem, Show, User, utcnow
from podcast_host.services import Services
from podcast_host.slugs import check_slug, slug_from_title, unique_slug

log = logging.getLogger(__name__)

# The largest feed read: a feed of a few thousand episodes with long notes is a few MB.
MAX_FEED_BYTES = 20 * MIB
# The most items one import takes: a daily show of thirty years. Past it, the feed is refused whole.
MAX_ITEMS = 10_000
# An import of the same feed started this recently and not ended is taken to be still running.
RUNNING_FOR_S = 3 * 3600
# Items whose files are downloaded ahead of the one being created (and at the same time).
IMPORT_AHEAD = 4
# What a show takes from the channel when it is created; the rest of its settings keep their defaults.
CHANNEL_FIELDS = (
    "title", "description", "language", "author", "email", "explicit", "copyright", "show_type",
    "category", "funding_url", "funding_text",
)  # fmt: skip


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


def start_import(
    services: Services,
    session: Session,
    source: str,
    show_slug: str | None,
    keep_audio: bool,
    user: User | None,
    queued: bool = True,
) -> FeedImport:
    """Record an import of the feed at `source` (an http(s) URL, or a file's name for the command line) and,
    when `queued`, queue it once committed. `user` None is the operator."""
    if queued:
        _check_url(source)
    if len(source) > MAX_SOURCE_LENGTH:
        raise Invalid(
            refusal("The feed's address is longer than %(most)s characters.", most=MAX_SOURCE_LENGTH),
            field="url",
        )
    _refuse_a_second_run(session, source)
    run = FeedImport(
        source=source, keep_audio=keep_audio, created_by=user.id if user else None, target_slug=show_slug
    )
    if show_slug:
        show = _existing_show(session, show_slug)
        if show is not None:
            if user is not None:
                accounts.require(session, user, show, "edit_episodes")
            run.show_id = show.id
        else:
            # Refused now, not in the background: a reserved, taken or look-alike slug.
            shows.ensure_slug_free(session, check_slug(show_slug))
    session.add(run)
    session.flush()
    if queued:
        enqueue_after_commit(session, services.queue, "import_feed", run.id)
    return run


def import_feed_job(services: Services, import_id: int) -> None:
    """The `import_feed` job (tasks.JOBS): the run, with episodes processed by their own jobs."""
    run_import(services, import_id, process_inline=False)


def run_import(
    services: Services,
    import_id: int,
    process_inline: bool,
    feed_bytes: bytes | None = None,
    echo: Callable[[str], None] = lambda _: None,
) -> FeedImport:
    """Run a recorded import to its end; with `process_inline` each episode is processed before the next
    (the command line), else by its queued job. `feed_bytes` is the feed read from a file."""
    try:
        return _run(services, import_id, process_inline, feed_bytes, echo)
    except Exception as exc:  # noqa: BLE001 - a run must end with a state and a reason, whatever happened
        log.exception("import %s stopped", import_id)
        with services.db.session() as session:
            return _end(
                session, import_id, "failed", f"The import stopped unexpectedly ({exc}); run it again."
            )


def _run(
    services: Services,
    import_id: int,
    process_inline: bool,
    feed_bytes: bytes | None,
    echo: Callable[[str], None],
) -> FeedImport:
    with services.db.session() as session:
        run = session.get(FeedImport, import_id)
        if run is None:
            raise NotFound(refusal("There is no import %(id)s.", id=import_id))
        # A run started again (after a restart) starts its record over; what it did is found again.
        run.items.clear()
        run.state, run.error = "running", None
        keep_audio = run.keep_audio
        session.commit()
        try:
            channel = read_feed(
                feed_bytes if feed_bytes is not None else _feed(services, run.source), run.source, MAX_ITEMS
            )
            cover = _cover(services, channel)
            show = _target_show(services, session, run, channel)
            if cover is not None and show.image_key is None:
                try:
                    shows.set_cover(services, session, show, cover)
                except PodcastHostError as exc:
                    channel.notices.append(f"cover left out: {exc}")
        except PodcastHostError as exc:
            session.rollback()
            return _end(session, import_id, "failed", str(exc))
        run.show_id, run.total_items = show.id, len(channel.items)
        run.notices = "\n".join(channel.notices) or None
        session.commit()
        show_id = show.id
    echo(_printable(f"{channel.fields.get('title', '')}: {len(channel.items)} items"))
    with tempfile.TemporaryDirectory(
        prefix=f"import-{import_id}-", dir=imports_dir(services.settings)
    ) as workdir:
        for item, fetched in _fetched_ahead(services, show_id, _in_order(channel.items), Path(workdir)):
            try:
                state, reason = _import_item(services, show_id, item, fetched, keep_audio, not process_inline)
            finally:
                # Each item's files go once its episode is stored: at most IMPORT_AHEAD + 1 items' on disk.
                if fetched is not None and fetched.folder is not None:
                    shutil.rmtree(fetched.folder, ignore_errors=True)
            episode_id = _record(services, import_id, item, state, reason)
            if state == "imported" and process_inline and episode_id is not None:
                state, reason = _process(services, episode_id)
                if state == "failed":
                    _record(services, import_id, item, state, reason, replace=True)
            echo(_printable(f"  {state:8} {item.title or item.guid}" + (f": {reason}" if reason else "")))
    with services.db.session() as session:
        return _end(session, import_id, "done", None)


def _printable(line: str) -> str:
    """A line of feed text for a terminal: control characters (escape sequences) replaced."""
    return "".join(c if c.isprintable() else "?" for c in line)


def _refuse_a_second_run(session: Session, source: str) -> None:
    """One run of a feed at a time: two would race to create the same show and episodes."""
    since = utcnow() - timedelta(seconds=RUNNING_FOR_S)
    under_way = session.scalar(
        select(FeedImport.id).where(
            FeedImport.source == source,
            FeedImport.state.in_(("queued", "running")),
            FeedImport.created_at > since,
        )
    )
    if under_way is not None:
        raise Conflict(refusal("An import of this feed is already under way (import %(id)s).", id=under_way))


def _end(session: Session, import_id: int, state: str, error: str | None) -> FeedImport:
    run = session.get(FeedImport, import_id)
    assert run is not None
    run.state, run.error, run.finished_at = state, error, utcnow()
    session.commit()
    return run


# --- the feed and the show ------------------------------------------------------------------------------


def _check_url(source: str) -> None:
    parts = urlsplit(source)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(refusal("The feed's address must be an http or https URL."), field="url")


def _feed(services: Services, url: str) -> bytes:
    fetched = fetching.fetch_bytes(url, settings=services.settings, max_bytes=MAX_FEED_BYTES)
    return fetched.body


def _target_show(services: Services, session: Session, run: FeedImport, channel: FeedChannel) -> Show:
    """The show the feed goes into: the one named (made when it does not exist), else the one an earlier run
    of the same feed made (the feed's identity), else a new one."""
    user = session.get(User, run.created_by) if run.created_by else None
    _check_locked(channel, user, run)
    identity = _identity(channel, run)
    show = session.get(Show, run.show_id) if run.show_id else None
    if show is None and run.target_slug:
        show = _existing_show(session, run.target_slug)
        if show is None:
            # A show named by its slug is a new show: the feed's identity may belong to a show elsewhere here.
            return _create_show(services, session, run, channel, _unused(session, identity, channel), user)
    if show is None and identity is not None:
        show = session.scalar(select(Show).where(Show.podcast_guid == identity))
        if (
            show is not None
            and user is not None
            and not accounts.allows(session, user, show, "edit_episodes")
        ):
            # Not a word about that show: the producer only learns to name one of theirs.
            raise Forbidden(
                refusal(
                    "Another show on this site already has this feed's identity (its podcast:guid); choose "
                    "one of your shows to import into."
                )
            )
    if show is None and identity is None:
        raise Invalid(
            refusal(
                "This feed names neither its own address nor a podcast:guid: choose the show to import into, "
                "so that running the import again finds it."
            )
        )
    if show is not None:
        if user is not None:
            accounts.require(session, user, show, "edit_episodes")
        return show
    return _create_show(services, session, run, channel, identity, user)


def _identity(channel: FeedChannel, run: FeedImport) -> str | None:
    """The podcast:guid the show keeps: the feed's own, else the UUIDv5 of its old address; None for a file
    that names neither."""
    if channel.podcast_guid:
        try:
            return shows.check_podcast_guid(channel.podcast_guid)
        except Invalid:
            channel.notices.append("podcast:guid is not a UUID: derived from the feed's address instead")
    old_url = channel.self_url or run.source
    return podcast_guid(old_url) if old_url.startswith(("http://", "https://")) else None


def _unused(session: Session, identity: str | None, channel: FeedChannel) -> str | None:
    """The identity for a new show, unless another show here has it already (then the new show's own)."""
    if identity is not None and session.scalar(select(Show.id).where(Show.podcast_guid == identity)):
        channel.notices.append("podcast:guid already used by another show here: the new show has its own")
        return None
    return identity


def _check_locked(channel: FeedChannel, user: User | None, run: FeedImport) -> None:
    """podcast:locked yes asks other hosts to import the feed only for its owner: a producer importing through
    the API or the dashboard must be signed in with the owner e-mail; the operator's command line may."""
    if channel.locked_owner is None or run.created_by is None:
        return
    owner = channel.locked_owner.strip().lower()
    if user is None or not owner or user.email.lower() != owner:
        raise Forbidden(
            refusal(
                "The feed is locked (podcast:locked): only its owner may import it, signed in with the "
                "e-mail address the feed names; unlock it at the old host, or ask the operator to import it."
            )
        )


def _create_show(
    services: Services,
    session: Session,
    run: FeedImport,
    channel: FeedChannel,
    guid: str | None,
    user: User | None,
) -> Show:
    fields = _show_fields(channel)
    slug = run.target_slug or _free_slug(session, str(fields.get("title") or ""))
    return shows.create_show(session, services.settings.public_url, {"slug": slug, **fields}, user, guid=guid)


def _free_slug(session: Session, title: str) -> str:
    """A slug for a new show from its title: one that is valid, not reserved and free (a title like "Admin"
    is not a slug a show may take)."""
    base = slug_from_title(title, "show")
    try:
        check_slug(base)
    except Invalid:
        base = "show"

    def taken(slug: str) -> bool:
        try:
            check_slug(slug)
            shows.ensure_slug_free(session, slug)
        except (Invalid, Conflict):
            return True
        return False

    return unique_slug(base, taken)


def _cover(services: Services, channel: FeedChannel) -> bytes | None:
    """The channel's cover, fetched before any transaction begins (a slow host must not hold a lock)."""
    if not channel.image_url:
        return None
    try:
        return fetching.fetch_bytes(
            channel.image_url, settings=services.settings, max_bytes=SIDE_FILE_LIMITS["image"]
        ).body
    except PodcastHostError as exc:
        channel.notices.append(f"cover left out: {exc}")
        return None


def _show_fields(channel: FeedChannel) -> dict[str, object]:
    """The channel's fields the show accepts; one it refuses is left at its default, with a notice."""
    out: dict[str, object] = {}
    for name in CHANNEL_FIELDS:
        value = channel.fields.get(name)
        if value is None:
            continue
        if name == "category":
            value = _category(value, channel)
            if value is None:
                continue
        try:
            out.update(shows.clean_show_fields({name: value}, require_title=False))
        except Invalid as exc:
            channel.notices.append(f"{name} left out: {exc}")
    if "language" not in out and isinstance(channel.fields.get("language"), str):
        # "en-us" and the like: the language alone.
        primary = str(channel.fields["language"]).split("-")[0].lower()
        with contextlib.suppress(Invalid):
            out.update(shows.clean_show_fields({"language": primary}, require_title=False))
    if not out.get("title"):
        raise Invalid(refusal("The feed's channel has no title."))
    return out


def _category(value: object, channel: FeedChannel) -> str | None:
    """Apple's category as the feed names it; its top level alone when the subcategory is not Apple's."""
    top, sub = value if isinstance(value, tuple) else (str(value), None)
    for candidate in ([format_category(top, sub)] if sub else []) + [top]:
        try:
            validate_category(candidate)
            return candidate
        except Invalid:
            continue
    channel.notices.append(f"category {top!r} is not one of Apple's: left out")
    return None


def _existing_show(session: Session, slug: str) -> Show | None:
    try:
        return shows.find_show(session, slug)
    except NotFound:
        return None


# --- items ----------------------------------------------------------------------------------------------


def _in_order(items: list[FeedItem]) -> list[FeedItem]:
    """Oldest first (undated last), so that episodes are created in the order they were published."""
    return sorted(items, key=lambda i: (i.published is None, i.published or datetime.min, -i.position))


def _fetched_ahead(
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


def _import_item(
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


def _process(services: Services, episode_id: int) -> tuple[str, str | None]:
    state = processing.process_episode(services, episode_id)
    if state != FAILED:
        return "imported", None
    with services.db.session() as session:
        episode = session.get(Episode, episode_id)
        return "failed", f"processing: {episode.error if episode else 'the episode is gone'}"


def _record(
    services: Services,
    import_id: int,
    item: FeedItem,
    state: str,
    reason: str | None,
    replace: bool = False,
) -> int | None:
    """Write the item's outcome (committed, so progress shows); the episode it is, when there is one."""
    with services.db.session() as session:
        run = session.get(FeedImport, import_id)
        assert run is not None
        episode_id = session.scalar(
            select(Episode.id).where(Episode.show_id == run.show_id, Episode.guid == item.guid)
        )
        row = None
        if replace:
            row = session.scalar(
                select(ImportItem).where(
                    ImportItem.import_id == import_id, ImportItem.position == item.position
                )
            )
        if row is None:
            row = ImportItem(import_id=import_id, position=item.position)
            session.add(row)
        row.guid, row.title = item.guid[: episodes.GUID_MAX], item.title[:500]
        row.state, row.reason, row.episode_id = state, reason, episode_id
        session.commit()
        return episode_id
