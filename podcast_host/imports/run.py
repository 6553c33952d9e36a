"""An import: another host's feed made into a show here, item by item, safe to run again (docs/migrate.md).

A run is a `FeedImport` row with one `ImportItem` per item of the feed, committed as each item ends, so that
its progress can be read while it works. Enclosures and side files are downloaded a few at a time ahead of the
item being created (at most IMPORT_AHEAD + 1 items' files on disk at once); episodes are created one at a
time, oldest first, each in its own transaction. One item failing (a 404, a file that is not audio) is
recorded with its reason and the next goes on.

This module runs an import and keeps its rows; show.py reads the channel into a show, items.py the items into
episodes.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from podcast_host import accounts, episodes, shows
from podcast_host.db import enqueue_after_commit
from podcast_host.errors import Conflict, Invalid, NotFound, PodcastHostError, refusal
from podcast_host.imports import imports_dir
from podcast_host.imports.items import fetched_ahead, import_item, in_order, process_now
from podcast_host.imports.reader import FeedItem, read_feed
from podcast_host.imports.show import check_url, existing_show, fetch_cover, fetch_feed, target_show
from podcast_host.models import MAX_SOURCE_LENGTH, Episode, FeedImport, ImportItem, User, utcnow
from podcast_host.services import Services
from podcast_host.slugs import check_slug

log = logging.getLogger(__name__)

# The most items one import takes: a daily show of thirty years. Past it, the feed is refused whole.
MAX_ITEMS = 10_000
# An import of the same feed started this recently and not ended is taken to be still running.
RUNNING_FOR_S = 3 * 3600


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
        check_url(source)
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
        show = existing_show(session, show_slug)
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
            feed = feed_bytes if feed_bytes is not None else fetch_feed(services, run.source)
            channel = read_feed(feed, run.source, MAX_ITEMS)
            cover = fetch_cover(services, channel)
            show = target_show(services, session, run, channel)
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
        for item, fetched in fetched_ahead(services, show_id, in_order(channel.items), Path(workdir)):
            try:
                state, reason = import_item(services, show_id, item, fetched, keep_audio, not process_inline)
            finally:
                # Each item's files go once its episode is stored: at most IMPORT_AHEAD + 1 items' on disk.
                if fetched is not None and fetched.folder is not None:
                    shutil.rmtree(fetched.folder, ignore_errors=True)
            episode_id = _record(services, import_id, item, state, reason)
            if state == "imported" and process_inline and episode_id is not None:
                state, reason = process_now(services, episode_id)
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
