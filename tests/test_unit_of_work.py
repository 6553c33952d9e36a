"""What follows a change waits for its commit (docs/architecture.md, "Transactions and what follows them"):
jobs are queued and replaced media deleted once the transaction commits, once each, and never after a
rollback or a failed request."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import auth, create_show
from sqlalchemy import select

from podcast_host import shows
from podcast_host.db import after_commit, enqueue_after_commit
from podcast_host.models import Show
from podcast_host.services import Services

# Transactions: on SQLite and on PostgreSQL.
pytestmark = pytest.mark.postgres


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


# --- through the API --------------------------------------------------------------------------------------


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
