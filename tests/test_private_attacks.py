"""Attacks on private shows (docs/private-feeds.md): what a stranger, a revoked or sharing subscriber, or a
member of the show's team could get that the documentation says they cannot."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from analytics_helpers import published_audio
from flask.testing import FlaskClient
from helpers import create_show
from sqlalchemy import func, select
from test_private_feeds import private_show, subscribe

from podcast_host import sharing, shows, subscribers
from podcast_host.models import Subscriber, SubscriberNetwork, utcnow
from podcast_host.services import Services
from podcast_host.web import media as media_module


def _make_private(services: Services, slug: str) -> None:
    with services.db.session() as session:
        shows.find_show(session, slug).access = "private"
        session.commit()


def _later(services: Services, seconds: float) -> None:
    """As if `seconds` had passed for the media route's memory of the files it found public."""
    remembered = media_module._public_keys(services)
    for key in list(remembered._seen):
        remembered._seen[key] -= seconds


def _status(client: FlaskClient, path: str, **kwargs: Any) -> int:
    with client.get(path, **kwargs) as answer:
        return answer.status_code


def test_polling_does_not_keep_a_private_shows_file_public_past_the_minute(
    services: Services, client: FlaskClient, admin_token: str
) -> None:
    """A file answered from the memory of public files is not remembered again: polling it cannot keep a
    show's files public after the show is made private."""
    create_show(client, admin_token, slug="club", title="Club")
    _, audio = published_audio(services, "club", "club one", 1000, 10.0)
    assert _status(client, f"/media/{audio}") == 200  # public: remembered as such for a minute
    _make_private(services, "club")
    # A stranger polls every 50 seconds: within the first minute the docs allow the stale answer...
    _later(services, 50)
    assert _status(client, f"/media/{audio}") == 200
    # ...but the show went private more than a minute ago: the file must be checked again, and refused.
    for _ in range(5):
        _later(services, 50)
        assert _status(client, f"/media/{audio}") == 404


def _answer(client: FlaskClient, path: str, **kwargs: Any) -> tuple[int, dict[str, str]]:
    """A GET's status and headers, apart from those that name the path asked for."""
    with client.get(path, **kwargs) as answer:
        headers = {k: v for k, v in answer.headers.items() if k not in ("Content-Length", "Location")}
        return answer.status_code, headers


def test_a_strangers_404_from_a_private_show_is_the_same_as_from_no_show(
    services: Services, client: FlaskClient, admin_token: str
) -> None:
    """Headers included (a `Vary: Cookie` on one and not the other would tell a private show from no show),
    with a session cookie and without."""
    made = private_show(services, client, admin_token, "daily")
    with services.db.session() as session:
        show_id = shows.find_show(session, "daily").id
    episode = made["episode"]
    pairs = (
        (f"/daily/{episode}/chapters.json", f"/nobody/{episode}/chapters.json"),
        ("/daily/any-slug/chapters.json", "/nobody/any-slug/chapters.json"),
        (f"/media/shows/{show_id}/image/cover.jpg", "/media/shows/999/image/cover.jpg"),
        (f"/media/{made['audio']}", f"/media/{made['audio'].replace(f'shows/{show_id}/', 'shows/999/', 1)}"),
    )
    for private, nobody in pairs:
        assert _answer(client, private) == _answer(client, nobody), private
    # A stranger who sends a session cookie (a made-up one) gets `Vary: Cookie` on both alike.
    client.set_cookie(client.application.config["SESSION_COOKIE_NAME"], "made-up")
    for private, nobody in pairs:
        seen = _answer(client, private)
        assert seen == _answer(client, nobody), private
        assert "Cookie" in seen[1]["Vary"]


# --- races (PostgreSQL: concurrent transactions do not see each other's rows) -------------------------------


def _held_commit(session: Any, reached: threading.Event, released: threading.Event) -> None:
    """Make the session's next commit wait (at most 3 s) until `released`, telling `reached` first."""
    real = session.commit

    def commit() -> None:
        reached.set()
        released.wait(3)
        real()

    session.commit = commit


@pytest.mark.slow
@pytest.mark.postgres_only
def test_networks_noted_at_once_still_flag_a_shared_address(
    services: Services, client: FlaskClient, admin_token: str
) -> None:
    """Two processes bring the limit+1-th network at once: each counts under a lock on the subscriber, so the
    second sees the first's network and flags."""
    private_show(services, client, admin_token, "daily")
    subscribe(services, "daily", "ann@example.com")
    now = utcnow()
    limit = 2
    first, second = sharing.SharingWatch(limit), sharing.SharingWatch(limit)  # two serving processes
    with services.db.session() as session:
        ann = session.scalars(select(Subscriber)).one()
        first.note(session, ann, "198.51.1.1", now)  # one network so far
        first._salt(session, now.date())
        second._salt(session, now.date())
    reached, released = threading.Event(), threading.Event()

    def in_first_process() -> None:
        with services.db.session() as session:
            subscriber = session.get(Subscriber, ann.id)
            assert subscriber is not None
            _held_commit(session, reached, released)
            first.note(session, subscriber, "198.51.2.1", now)

    thread = threading.Thread(target=in_first_process)
    thread.start()
    assert reached.wait(5)
    # The second process waits on the first's lock: the first is let go a moment later, as its commit would.
    threading.Timer(0.3, released.set).start()
    with services.db.session() as session:
        subscriber = session.get(Subscriber, ann.id)
        assert subscriber is not None
        second.note(session, subscriber, "198.51.3.1", now)
    released.set()
    thread.join(10)
    with services.db.session() as session:
        networks = session.scalar(select(func.count()).select_from(SubscriberNetwork))
        flagged = session.scalars(select(Subscriber.shared_networks)).one()
    assert networks == limit + 1
    assert flagged == limit + 1


@pytest.mark.postgres_only
def test_one_address_subscribes_once_even_when_added_twice_at_once(
    services: Services, client: FlaskClient, admin_token: str
) -> None:
    """Two editors add one address at once (or a form is sent twice): a unique index on the live addresses
    refuses the second, as a conflict."""
    private_show(services, client, admin_token, "daily")
    second_done = threading.Event()
    outcomes: list[str] = []

    def second_editor() -> None:
        try:
            with services.db.session() as session:
                subscribers.add_subscriber(session, shows.find_show(session, "daily"), "ann@example.com")
                session.commit()
                outcomes.append("added")
        except Exception as exc:  # noqa: BLE001 - a refusal, in whatever form, is what is hoped for
            outcomes.append(type(exc).__name__)
        finally:
            second_done.set()

    with services.db.session() as session:
        subscribers.add_subscriber(session, shows.find_show(session, "daily"), "ann@example.com")
        thread = threading.Thread(target=second_editor)
        thread.start()
        # Long enough for the second add to reach the database (where the index holds it until this commit).
        second_done.wait(0.5)
        session.commit()
    thread.join(10)
    with services.db.session() as session:
        live = session.scalar(
            select(func.count())
            .select_from(Subscriber)
            .where(Subscriber.email == "ann@example.com", Subscriber.revoked_at.is_(None))
        )
    assert live == 1, outcomes
    assert outcomes == ["Conflict"]
