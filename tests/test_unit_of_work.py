"""What follows a change waits for its commit (docs/architecture.md, "Transactions and what follows them"):
jobs are queued and replaced media deleted once the transaction commits, once each, and never after a
rollback or a failed request; what a change stored is deleted again when it does not commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import auth, create_show
from sqlalchemy import select

from podcast_host import episodes, shows
from podcast_host.db import after_commit, after_rollback, enqueue_after_commit
from podcast_host.models import Show
from podcast_host.services import Services
from podcast_host.storage import LocalStore
from podcast_host.transcripts import parse_transcript

# On PostgreSQL too, each marked test: what another session sees of a commit or a rollback, savepoints,
# and a change refused by a constraint. The hooks' own bookkeeping (order, keys, logging) is the
# session's, whatever the database.


class RecordingQueue:
    """A queue that runs nothing and notes each job, with what `probe` read when the job was queued."""

    def __init__(self, probe: Callable[[], Any] = lambda: None) -> None:
        self.probe = probe
        self.jobs: list[tuple[str, tuple[Any, ...], Any]] = []

    def enqueue(self, name: str, *args: Any) -> None:
        self.jobs.append((name, args, self.probe()))

    def start(self) -> None:
        """Nothing runs in the background."""

    def stop(self) -> None:
        """Nothing runs in the background."""

    def join(self, timeout: float | None = None) -> bool:
        return True


def _committed_title(services: Services, slug: str) -> str | None:
    """The show's title as another session sees it: only what is committed."""
    with services.db.session() as session:
        show = session.query(Show).filter_by(slug=slug).one_or_none()
        return show.title if show else None


def _new_show(services: Services, slug: str = "daily") -> int:
    with services.db.session() as session:
        show = shows.create_show(session, services.settings.public_url, {"slug": slug, "title": "Before"})
        session.commit()
        return show.id


# --- the hooks themselves ---------------------------------------------------------------------------------


@pytest.mark.postgres
def test_an_action_runs_once_the_transaction_commits_and_not_before(services: Services) -> None:
    show_id = _new_show(services)
    seen: list[str | None] = []
    with services.db.session() as session:
        show = session.get(Show, show_id)
        assert show is not None
        show.title = "After"
        after_commit(session, lambda: seen.append(_committed_title(services, "daily")))
        session.flush()
        assert seen == [], "nothing runs before the commit"
        session.commit()
        assert seen == ["After"], "it ran once the change was committed, and saw it"
        show.title = "Later"
        session.commit()
    assert seen == ["After"], "an action runs with one commit only"


@pytest.mark.postgres
def test_a_rollback_drops_what_waited_for_the_commit(services: Services, tmp_path: Path) -> None:
    from audio_fixtures import write_jpeg

    services.queue = RecordingQueue()
    show_id = _new_show(services)
    with services.db.session() as session:
        show = session.get(Show, show_id)
        assert show is not None
        shows.set_cover(services, session, show, write_jpeg(tmp_path / "first.jpg", 1400).read_bytes())
        session.commit()
        first_key = show.image_key or ""
        services.queue.jobs.clear()

        replaced = shows.set_cover(services, session, show, write_jpeg(tmp_path / "b.jpg", 1500).read_bytes())
        assert replaced == first_key
        session.rollback()
        session.commit()  # a later commit of the same session must not run what the rollback dropped
    assert services.queue.jobs == [], "nothing queued"
    assert services.store.exists(first_key), "the cover the show still names is kept"

    with services.db.session() as session:  # closed without a commit: the same
        show = session.get(Show, show_id)
        assert show is not None
        shows.set_cover(services, session, show, write_jpeg(tmp_path / "c.jpg", 1600).read_bytes())
    assert services.queue.jobs == []
    assert services.store.exists(first_key)


def test_a_replaced_cover_is_deleted_once_the_change_commits(services: Services, tmp_path: Path) -> None:
    from audio_fixtures import write_jpeg

    show_id = _new_show(services)
    with services.db.session() as session:
        show = session.get(Show, show_id)
        assert show is not None
        shows.set_cover(services, session, show, write_jpeg(tmp_path / "first.jpg", 1400).read_bytes())
        session.commit()
        first_key = show.image_key or ""
        shows.set_cover(services, session, show, write_jpeg(tmp_path / "second.jpg", 1500).read_bytes())
        assert services.store.exists(first_key), "still named by the stored show until the commit"
        session.commit()
        assert not services.store.exists(first_key)
        assert services.store.exists(show.image_key or "")


def test_the_same_job_asked_for_twice_in_a_transaction_is_queued_once(services: Services) -> None:
    queue = RecordingQueue()
    with services.db.session() as session:
        enqueue_after_commit(session, queue, "feed_changed", 1)
        enqueue_after_commit(session, queue, "feed_changed", 2)
        enqueue_after_commit(session, queue, "feed_changed", 1)
        enqueue_after_commit(session, queue, "process_episode", 1)
        session.commit()
        assert [(name, args) for name, args, _ in queue.jobs] == [
            ("feed_changed", (1,)),
            ("feed_changed", (2,)),
            ("process_episode", (1,)),
        ]
        enqueue_after_commit(session, queue, "feed_changed", 1)  # the next transaction asks anew
        session.commit()
    assert len(queue.jobs) == 4


def test_an_action_that_fails_is_logged_and_the_others_still_run(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise OSError("the queue is down")

    with services.db.session() as session:
        after_commit(session, broken)
        after_commit(session, lambda: ran.append("next"))
        with caplog.at_level(logging.ERROR, logger="podcast_host.db"):
            session.commit()  # the change is committed: what follows it cannot undo that
    assert ran == ["next"]
    assert "the queue is down" in caplog.text


# --- what a change that does not commit leaves behind -----------------------------------------------------


@pytest.mark.postgres
def test_an_action_after_a_rollback_runs_once_the_transaction_rolls_back(services: Services) -> None:
    show_id = _new_show(services)
    seen: list[str | None] = []
    with services.db.session() as session:
        show = session.get(Show, show_id)
        assert show is not None
        show.title = "After"
        after_rollback(session, lambda: seen.append(_committed_title(services, "daily")))
        session.flush()
        assert seen == [], "nothing runs before the transaction ends"
        session.rollback()
        assert seen == ["Before"], "it ran once the change was rolled back"
        show.title = "Later"
        session.rollback()
    assert seen == ["Before"], "an action runs with one rollback only"


def test_a_session_closed_without_a_commit_runs_what_waited_for_a_rollback_once_idle(
    services: Services,
) -> None:
    seen: list[bool] = []
    with services.db.session() as session:
        session.execute(select(Show.id)).all()
        after_rollback(session, lambda: seen.append(session.in_transaction()))
    assert seen == [False]


def test_a_commit_drops_what_waited_for_a_rollback(services: Services) -> None:
    ran: list[str] = []
    with services.db.session() as session:
        after_rollback(session, lambda: ran.append("before any SQL"))
        session.commit()
        session.execute(select(Show.id)).all()
        after_rollback(session, lambda: ran.append("after SQL"))
        session.commit()
        session.rollback()  # a later rollback of the same session must not run what the commit dropped
    assert ran == []


def test_each_end_of_a_transaction_runs_only_its_own_actions(services: Services) -> None:
    ran: list[str] = []
    with services.db.session() as session:
        after_commit(session, lambda: ran.append("committed"))
        after_rollback(session, lambda: ran.append("rolled back"))
        session.commit()
        after_commit(session, lambda: ran.append("committed"))
        after_rollback(session, lambda: ran.append("rolled back"))
        session.rollback()
    assert ran == ["committed", "rolled back"]


def test_rollback_actions_run_in_order_once_per_key_and_one_that_fails_is_logged(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise OSError("the store is down")

    with services.db.session() as session:
        after_rollback(session, lambda: ran.append("first"), key="cover")
        after_rollback(session, broken)
        after_rollback(session, lambda: ran.append("again"), key="cover")
        after_rollback(session, lambda: ran.append("last"))
        with caplog.at_level(logging.ERROR, logger="podcast_host.db"):
            session.rollback()
    assert ran == ["first", "last"]
    assert "the store is down" in caplog.text


@pytest.mark.postgres
def test_a_rolled_back_savepoint_leaves_its_rollback_actions_to_the_outer_transaction(
    services: Services,
) -> None:
    ran: list[str] = []
    with services.db.session() as session:
        session.execute(select(Show.id)).all()
        savepoint = session.begin_nested()
        after_rollback(session, lambda: ran.append("ran"))
        savepoint.rollback()
        assert ran == []
        session.rollback()
    assert ran == ["ran"]


def _stored_objects(services: Services) -> set[str]:
    """Every object in the media store, by its path in the store's folder."""
    assert isinstance(services.store, LocalStore)
    root = services.store.root
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


@pytest.mark.postgres
@pytest.mark.parametrize("ending", ["rollback", "close"])
def test_replacements_that_do_not_commit_leave_no_object_in_the_store(
    services: Services, sample_mp3: Path, tmp_path: Path, ending: str
) -> None:
    from audio_fixtures import write_jpeg
    from helpers import stored_episode

    services.queue = RecordingQueue()
    show_id = _new_show(services)
    episode_id = stored_episode(services, show_id, sample_mp3)
    cover = write_jpeg(tmp_path / "cover.jpg", 1400)
    before = _stored_objects(services)
    with services.db.session() as session:
        episode = episodes.get_episode(session, episode_id)
        episodes.replace_original(services, session, episode, episodes.Upload(sample_mp3, "new.mp3"))
        episodes.replace_image(services, session, episode, episodes.Upload(cover, "cover.jpg"))
        transcript = parse_transcript(b"WEBVTT\n\n00:00.000 --> 00:02.000\nHello.\n", "t.vtt")
        episodes.replace_transcript(services, session, episode, transcript)
        shows.set_cover(services, session, episode.show, cover.read_bytes())
        assert len(_stored_objects(services) - before) == 4, "stored before the commit"
        if ending == "rollback":
            session.rollback()
    assert _stored_objects(services) == before, "what only the uncommitted change named is deleted"
    with services.db.session() as session:
        assert episodes.get_episode(session, episode_id).original_key in before


def test_committed_replacements_keep_their_objects(
    services: Services, sample_mp3: Path, tmp_path: Path
) -> None:
    from audio_fixtures import write_jpeg
    from helpers import stored_episode

    services.queue = RecordingQueue()
    show_id = _new_show(services)
    episode_id = stored_episode(services, show_id, sample_mp3)
    with services.db.session() as session:
        episode = episodes.get_episode(session, episode_id)
        old_original = episode.original_key
        cover = episodes.Upload(write_jpeg(tmp_path / "cover.jpg", 1400), "cover.jpg")
        episodes.replace_image(services, session, episode, cover)
        episodes.replace_original(services, session, episode, episodes.Upload(sample_mp3, "new.mp3"))
        session.commit()
        named = {episode.original_key, episode.image_key}
        session.rollback()  # a later rollback of the same session deletes nothing the commit kept
    assert named <= _stored_objects(services)
    assert old_original not in _stored_objects(services), "the replaced original went with the commit"


# --- through the API --------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_an_api_edit_of_a_show_queues_one_feed_changed_after_its_commit(
    services: Services, client: Any, admin_token: str
) -> None:
    create_show(client, admin_token)
    with services.db.session() as session:
        show_id = shows.find_show(session, "daily").id
    services.queue = RecordingQueue(probe=lambda: _committed_title(services, "daily"))
    response = client.patch(
        "/api/v1/shows/daily", json={"title": "Renamed", "author": "Someone"}, headers=auth(admin_token)
    )
    assert response.status_code == 200, response.get_json()
    # Queued once, and only when another session could already read the change.
    assert services.queue.jobs == [("feed_changed", (show_id,), "Renamed")]


@pytest.mark.postgres
def test_a_request_that_fails_after_a_partial_change_queues_nothing(
    services: Services, client: Any, admin_token: str
) -> None:
    create_show(client, admin_token)
    create_show(client, admin_token, slug="taken")
    services.queue = RecordingQueue()
    # The title is set, the feed's announcement asked for, then the new slug is refused.
    response = client.patch(
        "/api/v1/shows/daily", json={"title": "Half done", "slug": "taken"}, headers=auth(admin_token)
    )
    assert response.status_code == 409
    assert services.queue.jobs == []
    assert _committed_title(services, "daily") == "The Daily Test"


def test_actions_run_once_the_session_is_idle(services: Services) -> None:
    """An inline job may take minutes: by then the session that committed holds no transaction."""
    seen: list[bool] = []
    with services.db.session() as session:
        session.get(Show, _new_show(services))
        after_commit(session, lambda: seen.append(session.in_transaction()))
        session.commit()
    assert seen == [False]


def test_an_action_registered_before_any_sql_is_dropped_by_a_rollback(services: Services) -> None:
    ran: list[str] = []
    with services.db.session() as session:
        after_commit(session, lambda: ran.append("ran"))
        session.rollback()
        session.execute(select(Show.id)).all()
        session.commit()
    assert ran == []


@pytest.mark.postgres
def test_a_released_savepoint_does_not_run_the_actions_before_the_outer_commit(services: Services) -> None:
    ran: list[str] = []
    with services.db.session() as session:
        session.execute(select(Show.id)).all()
        with session.begin_nested():
            after_commit(session, lambda: ran.append("ran"))
        assert ran == []
        session.rollback()
        session.commit()
    assert ran == []
