"""The hot paths (docs/feeds.md, "The fast path"): a public feed and a public file's redirect answered before
Flask, header for header as Flask's routes answer them; every visible change seen at once; one render per
version under the server's thread pool, and the render lock released when a render fails; downloads still
counted."""

from __future__ import annotations

import functools
import gzip
import http.client
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import feedparser
import httpx
import pytest
from analytics_helpers import IPHONE, published_audio
from conftest import make_services
from flask import Flask
from flask.testing import FlaskClient
from helpers import auth, create_show, share_compiled_templates
from sqlalchemy import func, select, text
from werkzeug.test import Client, TestResponse

from podcast_host import create_app
from podcast_host.feeds import syndication
from podcast_host.feeds.syndication import feed_cache
from podcast_host.models import READY, DownloadTally, Episode, Show, utcnow
from podcast_host.services import Services
from podcast_host.web.fast_paths import FastPaths

FEED = "/daily/feed.xml"
CDN = "https://cdn.example.com/podcast"
# Long enough to count as a download (docs/analytics.md): the analytics tests' long episode.
LONG_SIZE, LONG_DURATION = 2_400_000, 300.0


# --- set-up ----------------------------------------------------------------------------------------------


class Paths(SimpleNamespace):
    """A client through the fast path, one straight to Flask, and the paths Flask was asked for."""

    fast: FlaskClient
    flask: Client
    to_flask: list[str]

    def fast_get(self, path: str, **kwargs: Any) -> TestResponse:
        """A request the fast path must answer alone."""
        asked = len(self.to_flask)
        response = self.fast.open(path, **kwargs)
        assert self.to_flask[asked:] == [], f"{path} went to Flask"
        return response

    def flask_get(self, path: str, **kwargs: Any) -> TestResponse:
        """A request Flask must answer (the fast path let it through)."""
        asked = len(self.to_flask)
        response = self.fast.open(path, **kwargs)
        assert self.to_flask[asked:] == [path.split("?")[0]], f"{path} did not go to Flask"
        return response


def paths_of(app: Flask) -> Paths:
    fast = app.wsgi_app
    assert isinstance(fast, FastPaths), "the fast path sits in front of every app create_app() builds"
    flask_app = fast.app
    to_flask: list[str] = []

    def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        to_flask.append(environ["PATH_INFO"])
        return flask_app(environ, start_response)

    fast.app = counted
    return Paths(fast=app.test_client(), flask=Client(flask_app, TestResponse), to_flask=to_flask)


@pytest.fixture
def paths(app: Flask) -> Paths:
    return paths_of(app)


@pytest.fixture(autouse=True)
def _no_timed_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache's timed check (RECHECK_S, for writes around the ORM) would send a request to Flask whenever a
    slow moment passes it; these tests check what the show's stamp, the clock and its access decide."""
    monkeypatch.setattr(syndication, "RECHECK_S", 3600.0)


def add_episode(services: Services, title: str, **fields: Any) -> dict[str, Any]:
    """A published episode of `daily` with audio (a file of LONG_SIZE bytes); its id, guid and media key."""
    episode_id, key = published_audio(services, "daily", title, LONG_SIZE, LONG_DURATION, **fields)
    with services.db.session() as session:
        episode = session.get(Episode, episode_id)
        assert episode is not None
        return {"id": episode_id, "guid": episode.guid, "key": key}


@pytest.fixture
def daily(client: FlaskClient, admin_token: str, services: Services) -> dict[str, Any]:
    """The public show `daily` with one published episode."""
    create_show(client, admin_token)
    return add_episode(services, "Episode one")


def guids(body: bytes) -> list[str]:
    return [entry.id for entry in feedparser.parse(body).entries]


def same_answer(fast: TestResponse, flask: TestResponse) -> None:
    """Status, every header in order (the Date's value aside: it is the second each was made) and body."""
    assert fast.status == flask.status

    def shown(response: TestResponse) -> list[tuple[str, str]]:
        return [(k, "<date>" if k == "Date" else v) for k, v in response.headers.to_wsgi_list()]

    assert shown(fast) == shown(flask)
    assert fast.data == flask.data


def warm(paths: Paths, path: str = FEED) -> TestResponse:
    """The first request renders (Flask); the second is the fast path's."""
    paths.fast.get(path)
    return paths.fast_get(path)


# --- the fast path answers as Flask does -----------------------------------------------------------------

Validators = tuple[str, str, str]  # the plain ETag, the gzip one, Last-Modified


def _headers_cases() -> list[tuple[str, Callable[[Validators], dict[str, str]]]]:
    long_ago = "Mon, 01 Jan 2001 00:00:00 GMT"
    later = "Fri, 01 Jan 2100 00:00:00 GMT"
    return [
        ("plain", lambda v: {}),
        ("gzip", lambda v: {"Accept-Encoding": "gzip, deflate"}),
        ("gzip refused", lambda v: {"Accept-Encoding": "gzip;q=0, br"}),
        ("any encoding", lambda v: {"Accept-Encoding": "*"}),
        ("If-None-Match", lambda v: {"If-None-Match": v[0]}),
        ("If-None-Match, gzip", lambda v: {"If-None-Match": v[1], "Accept-Encoding": "gzip"}),
        ("the plain ETag asked with gzip", lambda v: {"If-None-Match": v[0], "Accept-Encoding": "gzip"}),
        ("weak If-None-Match", lambda v: {"If-None-Match": f"W/{v[0]}"}),
        ("If-None-Match in a list", lambda v: {"If-None-Match": f'"other", {v[0]}'}),
        ("If-None-Match: *", lambda v: {"If-None-Match": "*"}),
        (
            "a stale ETag beside a current date",
            lambda v: {"If-None-Match": '"0123"', "If-Modified-Since": v[2]},
        ),
        (
            "a current ETag beside an old date",
            lambda v: {"If-None-Match": v[0], "If-Modified-Since": long_ago},
        ),
        ("If-Modified-Since", lambda v: {"If-Modified-Since": v[2]}),
        ("If-Modified-Since, gzip", lambda v: {"If-Modified-Since": v[2], "Accept-Encoding": "gzip"}),
        ("If-Modified-Since long ago", lambda v: {"If-Modified-Since": long_ago}),
        ("If-Modified-Since later", lambda v: {"If-Modified-Since": later}),
        ("If-Modified-Since unreadable", lambda v: {"If-Modified-Since": "yesterday"}),
        ("a session cookie", lambda v: {"Cookie": "session=not-a-session"}),
        ("a Range", lambda v: {"Range": "bytes=0-99"}),
    ]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_fast_path_answers_a_public_feed_as_the_flask_route_does(
    paths: Paths, daily: dict, method: str
) -> None:
    plain = warm(paths)
    zipped = paths.fast_get(FEED, headers={"Accept-Encoding": "gzip"})
    validators = (plain.headers["ETag"], zipped.headers["ETag"], plain.headers["Last-Modified"])
    statuses = set()
    for case, headers_for in _headers_cases():
        headers = headers_for(validators)
        fast = paths.fast_get(FEED, method=method, headers=headers, query_string="token=ignored")
        flask = paths.flask.open(FEED, method=method, headers=headers, query_string="token=ignored")
        try:
            same_answer(fast, flask)
        except AssertionError as exc:
            raise AssertionError(f"{method} with {case}: {exc}") from exc
        statuses.add(fast.status_code)
        if method == "GET" and fast.status_code == 200:
            zipped_body = fast.headers.get("Content-Encoding") == "gzip"
            assert guids(gzip.decompress(fast.data) if zipped_body else fast.data) == [daily["guid"]]
    assert statuses == {200, 304}


def test_requests_the_fast_path_leaves_to_flask_get_flasks_answer(
    paths: Paths, daily: dict, client: FlaskClient, admin_token: str
) -> None:
    plain = warm(paths)
    # If-Match can turn a 304 into a 412: werkzeug decides.
    paths.flask_get(FEED, headers={"If-None-Match": plain.headers["ETag"], "If-Match": '"x"'})
    assert paths.flask_get(FEED, method="POST").status_code == 405
    assert paths.flask_get("/nobody/feed.xml").status_code == 404
    assert paths.flask_get("/api/feed.xml").status_code == 404
    renamed = client.patch("/api/v1/shows/daily", json={"slug": "daily-news"}, headers=auth(admin_token))
    assert renamed.status_code == 200
    moved = paths.flask_get(FEED)
    assert moved.status_code == 301
    assert moved.headers["Location"].endswith("/daily-news/feed.xml")
    warm(paths, "/daily-news/feed.xml")


# --- every visible change, at once -----------------------------------------------------------------------


@pytest.mark.postgres
def test_an_episode_edit_and_a_show_edit_each_change_the_etag_at_once(
    paths: Paths, daily: dict, client: FlaskClient, admin_token: str
) -> None:
    before = warm(paths)
    edited = client.patch(
        f"/api/v1/episodes/{daily['id']}", json={"title": "A better title"}, headers=auth(admin_token)
    )
    assert edited.status_code == 200
    after = paths.flask_get(FEED, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert b"A better title" in after.data
    assert after.headers["ETag"] != before.headers["ETag"]
    assert paths.fast_get(FEED, headers={"If-None-Match": after.headers["ETag"]}).status_code == 304

    shown = client.patch(
        "/api/v1/shows/daily", json={"title": "The Daily, Renamed"}, headers=auth(admin_token)
    )
    assert shown.status_code == 200
    again = paths.flask_get(FEED, headers={"If-None-Match": after.headers["ETag"]})
    assert again.status_code == 200
    assert b"The Daily, Renamed" in again.data
    assert again.headers["ETag"] not in (before.headers["ETag"], after.headers["ETag"])
    assert paths.fast_get(FEED).headers["ETag"] == again.headers["ETag"]


@pytest.mark.postgres
def test_a_scheduled_episode_comes_due_at_its_time_through_the_fast_path(
    paths: Paths, daily: dict, services: Services
) -> None:
    scheduled = add_episode(services, "Tomorrow's news", age_days=-1.5 / 86400)
    with services.db.session() as session:
        due = session.get(Episode, scheduled["id"]).publish_at  # type: ignore[union-attr]
    before = warm(paths)
    assert guids(before.data) == [daily["guid"]]
    assert paths.fast_get(FEED, headers={"If-None-Match": before.headers["ETag"]}).status_code == 304
    time.sleep(max((due - utcnow()).total_seconds(), 0) + 0.05)
    after = paths.flask_get(FEED, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert guids(after.data) == [scheduled["guid"], daily["guid"]]
    assert after.headers["ETag"] != before.headers["ETag"]
    assert paths.fast_get(FEED).headers["ETag"] == after.headers["ETag"]


def test_drafts_and_scheduled_episodes_never_reach_a_cached_public_body(
    paths: Paths, daily: dict, services: Services, client: FlaskClient, admin_token: str
) -> None:
    draft = add_episode(services, "Not yet", draft=True)
    scheduled = add_episode(services, "Next year", age_days=-365)
    served = warm(paths)
    cached = feed_cache(services).get(_show_id(services, "daily"))
    assert cached is not None
    for body in (served.data, cached.rendered.body):
        assert guids(body) == [daily["guid"]]
        assert draft["guid"].encode() not in body and scheduled["guid"].encode() not in body
        assert draft["key"].encode() not in body and scheduled["key"].encode() not in body
    unpublished = client.patch(
        f"/api/v1/episodes/{daily['id']}", json={"draft": True}, headers=auth(admin_token)
    )
    assert unpublished.status_code == 200
    assert guids(paths.flask_get(FEED).data) == []
    assert guids(paths.fast_get(FEED).data) == []


def test_a_show_made_private_leaves_the_fast_path_at_once(
    paths: Paths, daily: dict, services: Services
) -> None:
    warm(paths)
    with services.db.session() as session:
        show = session.scalars(select(Show).where(Show.slug == "daily")).one()
        show.access = "private"
        session.commit()
    hidden = paths.flask_get(FEED)
    assert hidden.status_code == 404
    assert daily["guid"].encode() not in hidden.data
    assert paths.flask_get(FEED, headers={"If-None-Match": '"anything"'}).status_code == 404


@pytest.mark.postgres
def test_a_show_made_private_by_plain_sql_leaves_the_fast_path_at_once(
    paths: Paths, daily: dict, services: Services
) -> None:
    """A write around the ORM stamps nothing; the fast path reads the show's access on every request."""
    before = warm(paths)
    with services.db.engine.begin() as connection:
        connection.execute(text("UPDATE shows SET access = 'private' WHERE slug = 'daily'"))
    hidden = paths.flask_get(FEED, headers={"If-None-Match": before.headers["ETag"]})
    assert hidden.status_code == 404
    assert "ETag" not in hidden.headers


def _show_id(services: Services, slug: str) -> int:
    with services.db.session() as session:
        return int(session.scalars(select(Show.id).where(Show.slug == slug)).one())


# --- one render per version ------------------------------------------------------------------------------


def archive(services: Services, slug: str, count: int) -> None:
    """`count` more published episodes of `slug`, as rows (their audio is never read by the feed)."""
    with services.db.session() as session:
        show = session.scalars(select(Show).where(Show.slug == slug)).one()
        start = utcnow() - timedelta(days=count + 2)
        for number in range(1, count + 1):
            session.add(
                Episode(
                    show=show,
                    slug=f"archive-{number}",
                    title=f"Archive {number}",
                    description="Notes " * 40,
                    notes_html="<p>" + "Notes " * 40 + "</p>",
                    publish_at=start + timedelta(days=number),
                    processing_state=READY,
                    audio_key=f"shows/{show.id}/episodes/{10_000 + number}/audio/archive-{number}.mp3",
                    enclosure_length=20_000_000 + number,
                    duration_s=1200.0,
                )
            )
        session.commit()


@contextmanager
def served_by_the_bridge(app: Flask, threads: int = 8) -> Iterator[int]:
    """The app behind `serve`'s server (uvicorn, WsgiBridge and its thread pool) in this process; its port."""
    import uvicorn
    from browser import free_port

    from podcast_host.server import HttpProtocol, WsgiBridge
    from podcast_host.web import BODY_LIMIT

    bridge = WsgiBridge(app, threads=threads, body_timeout=30.0, body_limit=BODY_LIMIT)
    port = free_port()
    config = uvicorn.Config(
        bridge,
        host="127.0.0.1",
        port=port,
        interface="asgi3",
        http=functools.partial(HttpProtocol, header_timeout=10.0),
        loop="asyncio",
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
        limit_concurrency=1000,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="bridge-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        bridge.executor.shutdown(wait=True)
        bridge.file_readers.shutdown(wait=True)


def burst(port: int, count: int, path: str = FEED) -> list[tuple[int, str]]:
    """`count` GETs sent at once, each on its own connection; their statuses and ETags."""
    start = threading.Barrier(count)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def fetch() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.connect()
            start.wait(timeout=30)
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            with lock:
                answers.append((response.status, response.headers.get("ETag", "")))
        finally:
            connection.close()

    threads = [threading.Thread(target=fetch) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


@pytest.mark.slow
def test_a_burst_right_after_a_change_renders_the_feed_once_under_the_servers_thread_pool(
    app: Flask, daily: dict, services: Services, client: FlaskClient, admin_token: str
) -> None:
    archive(services, "daily", 300)
    cache = feed_cache(services)
    with served_by_the_bridge(app) as port:
        (warm_status, warm_etag), *_ = burst(port, 1)
        assert burst(port, 20) == [(warm_status, warm_etag)] * 20
        first = cache.renders
        edited = client.patch(
            f"/api/v1/episodes/{daily['id']}", json={"title": "Edited"}, headers=auth(admin_token)
        )
        assert edited.status_code == 200
        answers = burst(port, 200)
    assert len(answers) == 200
    assert {status for status, _ in answers} == {200}
    assert len({etag for _, etag in answers}) == 1
    assert answers[0][1] != warm_etag
    assert cache.renders == first + 1
    assert not any(lock.locked() for lock in syndication._RENDER_LOCKS)


def test_the_render_lock_is_released_when_a_render_fails(
    app: Flask, daily: dict, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A render that fails while another request waits for it: the waiter renders in its turn, and later
    requests find the lock free."""
    real = syndication.build_feed
    entered, go_on = threading.Event(), threading.Event()

    def fails_once(*args: Any, **kwargs: Any) -> bytes:
        monkeypatch.setattr(syndication, "build_feed", real)
        entered.set()
        go_on.wait(timeout=30)
        raise RuntimeError("the render failed")

    monkeypatch.setattr(syndication, "build_feed", fails_once)
    outcomes: dict[str, Any] = {}

    def get(name: str) -> None:
        try:
            outcomes[name] = app.test_client().get(FEED).status_code
        except RuntimeError as exc:  # the testing app lets the view's exception through
            outcomes[name] = exc

    failing = threading.Thread(target=get, args=("failing",))
    failing.start()
    assert entered.wait(timeout=30)
    waiting = threading.Thread(target=get, args=("waiting",))
    waiting.start()
    waiting.join(timeout=0.3)
    assert waiting.is_alive(), "the second request waits for the render under way"
    go_on.set()
    failing.join(timeout=30)
    waiting.join(timeout=30)
    assert not failing.is_alive() and not waiting.is_alive()
    assert isinstance(outcomes["failing"], RuntimeError) or outcomes["failing"] == 500
    assert outcomes["waiting"] == 200
    assert feed_cache(services).renders == 1
    assert not any(lock.locked() for lock in syndication._RENDER_LOCKS)
    after = app.test_client().get(FEED)
    assert after.status_code == 200
    assert guids(after.data) == [daily["guid"]]


# --- the enclosure redirect ------------------------------------------------------------------------------


@pytest.fixture
def cdn(tmp_path: Path, database_url: str) -> Iterator[SimpleNamespace]:
    """An app whose public files are served by a CDN (PODCAST_HOST_MEDIA_URL), counting downloads; the show
    `daily` with one long published episode."""
    yield from cdn_app(tmp_path, database_url, paths_of)


def cdn_app(
    tmp_path: Path, database_url: str, paths: Callable[[Flask], Paths], **settings: Any
) -> Iterator[SimpleNamespace]:
    """The `cdn` fixture's app with more `settings`, its requests sent through `paths`."""
    services = make_services(tmp_path, database_url=database_url, media_url=CDN, **settings)
    with services.db.session() as session:
        session.add(Show(slug="daily", title="Daily", podcast_guid="6d9f0c3e-0000-5000-8000-000000000001"))
        session.commit()
    app = share_compiled_templates(create_app(services=services))
    yield SimpleNamespace(services=services, app=app, paths=paths(app), episode=add_episode(services, "Long"))
    services.close()


def downloads(services: Services) -> int:
    services.recorder.flush()
    with services.db.session() as session:
        counted = session.scalar(
            select(func.coalesce(func.sum(DownloadTally.downloads), 0)).where(DownloadTally.kind == "episode")
        )
    return int(counted or 0)


def listener(address: str) -> dict[str, Any]:
    return {"headers": {"User-Agent": IPHONE}, "environ_base": {"REMOTE_ADDR": address}}


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_the_fast_path_redirects_a_public_file_as_the_media_route_does(
    cdn: SimpleNamespace, method: str
) -> None:
    path = f"/media/{cdn.episode['key']}"
    first = cdn.paths.flask_get(path, **listener("203.0.113.1"))
    assert first.status_code == 302
    fast = cdn.paths.fast_get(path, method=method, **listener("203.0.113.2"))
    flask = cdn.paths.flask.open(path, method=method, **listener("203.0.113.3"))
    same_answer(fast, flask)
    assert fast.status_code == 302
    assert fast.headers["Location"] == f"{CDN}/{cdn.episode['key']}"
    assert fast.headers["Cache-Control"] == "no-cache"
    assert fast.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.postgres
def test_a_redirect_from_the_fast_path_still_counts_a_download(cdn: SimpleNamespace) -> None:
    path = f"/media/{cdn.episode['key']}"
    assert cdn.paths.flask_get(path, **listener("203.0.113.1")).status_code == 302
    assert downloads(cdn.services) == 1
    for address in ("203.0.113.2", "198.51.100.7"):
        assert cdn.paths.fast_get(path, **listener(address)).status_code == 302
    # HEAD only asks about the file: not a download, by either path.
    assert cdn.paths.fast_get(path, method="HEAD", **listener("192.0.2.9")).status_code == 302
    assert downloads(cdn.services) == 3


def test_media_requests_the_fast_path_leaves_to_flask(cdn: SimpleNamespace) -> None:
    path = f"/media/{cdn.episode['key']}"
    cdn.paths.flask_get(path)
    assert cdn.paths.flask_get(path, method="POST").status_code == 405
    # A doubled slash names no key (parse_media_key decides, in Flask).
    assert cdn.paths.flask_get(path.replace("/audio/", "//audio/")).status_code == 404
    # A name never found public is Flask's to check: no such file, however often it is asked for.
    unknown = f"/media/shows/1/episodes/{cdn.episode['id']}/audio/other.mp3"
    assert cdn.paths.flask_get(unknown).status_code == 404
    assert cdn.paths.flask_get(unknown).status_code == 404
    # The dashboard's session cookie: Flask adds Vary: Cookie.
    cdn.paths.fast.set_cookie("session", "not-a-session")
    with_cookie = cdn.paths.flask_get(path)
    assert with_cookie.status_code == 302
    assert "Cookie" in with_cookie.headers["Vary"]


@pytest.mark.s3
def test_a_public_file_on_s3_is_redirected_by_the_fast_path_to_a_working_url_and_counted(
    s3_services: Services,
) -> None:
    with s3_services.db.session() as session:
        session.add(Show(slug="daily", title="Daily", podcast_guid="6d9f0c3e-0000-5000-8000-000000000002"))
        session.commit()
    episode = add_episode(s3_services, "Long")
    paths = paths_of(create_app(services=s3_services))
    path = f"/media/{episode['key']}"
    assert paths.flask_get(path, **listener("203.0.113.1")).status_code == 302
    fast = paths.fast_get(path, **listener("203.0.113.2"))
    assert fast.status_code == 302
    assert fast.headers["Cache-Control"] == "no-cache"
    fetched = httpx.get(fast.headers["Location"], headers={"Range": "bytes=0-9"})
    assert fetched.status_code == 206 and len(fetched.content) == 10
    assert fetched.headers["Content-Type"] == "audio/mpeg"
    assert downloads(s3_services) == 2
