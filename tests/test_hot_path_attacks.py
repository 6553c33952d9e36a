"""Attacks on the hot paths (docs/feeds.md, "The fast path" and "The cache"): what the fast path before Flask
and the items kept per episode version must never do. Each check is an attack that must fail: a private,
moved or deleted show served, one show's item in another's feed, producer text cutting items apart, request
headers changing what is kept or served, memory or database connections that outlive what holds them."""

from __future__ import annotations

import gc
import os
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from analytics_helpers import GOOGLEBOT, IPHONE
from conftest import POSTGRES_URL, make_services
from flask import Flask
from flask.testing import FlaskClient
from helpers import auth, create_show
from sqlalchemy import create_engine, event, make_url, select, text
from sqlalchemy.pool import NullPool
from test_feed import parse_xml
from test_hot_paths import FEED, Paths, add_episode, cdn_app, downloads, paths_of, same_answer, warm
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import Client, TestResponse

from podcast_host import notes
from podcast_host.feeds import budget, syndication
from podcast_host.feeds.item_cache import ITEMS, ItemCache, KeptItem
from podcast_host.feeds.syndication import FeedCache, feed_cache, render_feed
from podcast_host.models import READY, Episode, Show, utcnow
from podcast_host.services import Services
from podcast_host.shows import find_show
from podcast_host.web import media
from podcast_host.web.fast_paths import FastPaths


@pytest.fixture(autouse=True)
def _no_timed_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in test_hot_paths.py: only the stamp, the clock and the show's row decide, not a slow moment."""
    monkeypatch.setattr(syndication, "RECHECK_S", 3600.0)


@pytest.fixture(autouse=True)
def _no_items_from_other_tests() -> Iterator[None]:
    ITEMS.clear()
    yield
    ITEMS.clear()


@pytest.fixture
def paths(app: Flask) -> Paths:
    return paths_of(app)


def answered_by_flask(paths: Paths, path: str, **kwargs: Any) -> TestResponse:
    """A request the fast path let through to Flask (the path as sent, before its percent-decoding)."""
    asked = len(paths.to_flask)
    response = paths.fast.open(path, **kwargs)
    assert len(paths.to_flask) == asked + 1, f"{path} was answered before Flask"
    return response


@pytest.fixture
def daily(client: FlaskClient, admin_token: str, services: Services) -> dict[str, Any]:
    """The public show `daily` with one published episode."""
    create_show(client, admin_token)
    return add_episode(services, "Episode one")


def show_rows(services: Services, slug: str, episodes: int = 1, notes_bytes: int = 0, **fields: Any) -> None:
    """A public show `slug` with published episodes, as rows (their audio is never read by the feed)."""
    start = utcnow() - timedelta(days=episodes + 1)
    with services.db.session() as session:
        show = Show(slug=slug, title=f"Show {slug}", language="en", podcast_guid=str(uuid.uuid4()), **fields)
        session.add(show)
        session.flush()
        for n in range(1, episodes + 1):
            words = "word " * (notes_bytes // 5)
            session.add(
                Episode(
                    show=show,
                    slug=f"episode-{n}",
                    title=f"Episode {n} of {slug}",
                    description=words,
                    notes_html=f"<p>{words}</p>",
                    number=n,
                    publish_at=start + timedelta(days=n),
                    processing_state=READY,
                    audio_key=f"shows/{show.id}/episodes/{n}/audio/episode-{n}.mp3",
                    enclosure_length=1_000_000 + n,
                    duration_s=1800.0,
                )
            )
        session.commit()


# --- memory and connections ------------------------------------------------------------------------------


def test_feeds_the_fast_path_served_are_not_kept_past_the_feed_caches_caps(
    app: Flask, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path keeps the headers it made for a feed, never its bytes: a feed the cache dropped is
    gone from memory, however many shows were served."""
    monkeypatch.setattr(ITEMS, "max_bytes", 0)  # no item kept: only the feeds' bytes are measured
    slugs = [f"big-{n}" for n in range(16)]
    for slug in slugs:
        show_rows(services, slug, notes_bytes=400_000)
    services.caches["feeds"] = FeedCache(max_entries=2)
    paths = paths_of(app)
    warm(paths, f"/{slugs[0]}/feed.xml")  # the modules and compiled queries, before measuring
    feed_size = len(paths.fast_get(f"/{slugs[0]}/feed.xml").data)
    assert feed_size > 800_000

    gc.collect()
    tracemalloc.start()
    try:
        for slug in slugs[1:]:
            assert paths.fast.get(f"/{slug}/feed.xml").status_code == 200  # rendered by Flask
            assert len(paths.fast_get(f"/{slug}/feed.xml").data) >= feed_size  # answered by the fast path
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(feed_cache(services)) == 2
    # The two feeds the cache keeps (plain and gzipped), and some room; not the fifteen served.
    assert held < 5 * feed_size, f"{held} bytes held after serving {len(slugs) - 1} feeds of {feed_size}"


def open_connections(services: Services) -> int:
    """Database connections open now for this test's database: SQLite files this process holds open, or
    PostgreSQL sessions under this schema's application_name (counted from a connection of its own)."""
    url = make_url(services.settings.database_url)
    if url.get_backend_name() == "sqlite":
        path = os.path.realpath(str(url.database))
        held = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                held += os.readlink(f"/proc/self/fd/{fd}") == path
            except OSError:  # closed while listed
                continue
        return held
    engine = create_engine(POSTGRES_URL, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            count = connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": url.query["application_name"]},
            ).scalar_one()
    finally:
        engine.dispose()
    return int(count)


@pytest.mark.postgres
def test_a_thread_that_ends_closes_the_connection_it_read_feeds_on(
    app: Flask, paths: Paths, daily: dict, services: Services
) -> None:
    """A server that starts a thread per request (or any thread that asks once and ends) leaves no
    connection behind it: each ended thread's connection is closed, not kept until the engine goes."""
    warm(paths)
    before = open_connections(services)
    answers: list[int] = []

    def poll() -> None:
        client = app.test_client()
        answers.append(client.get(FEED).status_code)

    for _ in range(10):
        thread = threading.Thread(target=poll)
        thread.start()
        thread.join(timeout=30)
    assert answers == [200] * 10
    assert paths.to_flask.count(FEED) == 1, "the threads' requests were the fast path's"
    assert open_connections(services) <= before
    # Threads that keep going keep their connection: the pool's threads read without connecting again.
    made: list[object] = []
    event.listen(services.db.engine, "connect", lambda *_: made.append(1))
    for _ in range(5):
        assert paths.fast_get(FEED).status_code == 200
    assert made == []


@pytest.mark.postgres
def test_a_slug_with_a_nul_is_no_show_and_costs_no_connection(
    paths: Paths, daily: dict, services: Services
) -> None:
    """PostgreSQL refuses a NUL in text: the route answered 500, and the fast path closed its thread's
    connection on every such request, so the next one connected again."""
    warm(paths)
    made: list[object] = []
    event.listen(services.db.engine, "connect", lambda *_: made.append(1))
    unknown = paths.fast.get("/nobody/feed.xml")
    for path in ("/a%00b/feed.xml", "/%00/feed.xml", "/daily%00/feed.xml"):
        refused = answered_by_flask(paths, path)
        assert refused.status_code == 404
        assert refused.get_json()["error"]["code"] == unknown.get_json()["error"]["code"] == "not_found"
        assert refused.headers["Content-Type"] == unknown.headers["Content-Type"]
        assert paths.fast_get(FEED).status_code == 200
    assert made == []


def test_the_item_caches_cap_counts_what_its_entries_really_take() -> None:
    """Each kept item costs its key, its entry and its record besides its bytes: the cache takes no more than
    its cap says, give or take a few per cent. With the feed's URLs, the episode's time stamp and guid in its
    key, small items took the process a quarter more memory than the cap."""
    cap = 2 * 1024 * 1024
    cache = ItemCache(max_bytes=cap)
    Episode(id=0)  # the models' mappers configured before measuring
    gc.collect()
    tracemalloc.start()
    try:
        for render in range(20):
            scope = (
                f"https://pod.example/show-{render}/feed.xml",
                f"https://pod.example/show-{render}/",
                "https://cdn.example/sample.jpg",
                "en",
            )
            for n in range(500):
                episode = Episode(id=render * 1000 + n, updated_at=utcnow(), guid=str(uuid.uuid4()))
                key = budget._item_key(scope, episode)
                assert key is not None
                cache.put(key, KeptItem(b"<item>" + b"x" * 700 + str(n).encode(), 800))
        del episode
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(cache) > 1500
    assert held <= 1.05 * cap, f"{held} bytes for a cap of {cap}"


# --- what the fast path serves ---------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_moved_or_deleted_show_leaves_the_fast_path_at_once(
    paths: Paths, daily: dict, client: FlaskClient, admin_token: str, services: Services
) -> None:
    before = warm(paths)
    with services.db.engine.begin() as connection:
        # Around the ORM: nothing stamps the show, the fast path reads the row itself.
        connection.execute(text("UPDATE shows SET moved_to_url = 'https://elsewhere.example/feed.xml'"))
    moved = paths.flask_get(FEED, headers={"If-None-Match": before.headers["ETag"]})
    assert moved.status_code == 301
    assert moved.headers["Location"] == "https://elsewhere.example/feed.xml"
    with services.db.engine.begin() as connection:
        connection.execute(text("UPDATE shows SET moved_to_url = NULL"))
    assert paths.fast_get(FEED, headers={"If-None-Match": before.headers["ETag"]}).status_code == 304

    deleted = client.delete("/api/v1/shows/daily", headers=auth(admin_token))
    assert deleted.status_code in (200, 204)
    gone = paths.flask_get(FEED, headers={"If-None-Match": before.headers["ETag"]})
    assert gone.status_code == 404
    assert "ETag" not in gone.headers and daily["guid"].encode() not in gone.data


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http", "X-Forwarded-Prefix": "/evil"},
        {"Forwarded": "host=evil.example;proto=http", "X-Original-URL": "/other/feed.xml"},
    ],
)
def test_request_headers_change_nothing_the_fast_path_serves(
    paths: Paths, daily: dict, headers: dict[str, str]
) -> None:
    plain = warm(paths)
    fast = paths.fast_get(FEED, headers=headers)
    same_answer(fast, paths.flask.open(FEED, headers=headers))
    assert fast.data == plain.data and fast.headers["ETag"] == plain.headers["ETag"]
    assert b"evil" not in fast.data


def test_a_head_or_a_gzip_request_first_leaves_every_other_answer_whole(paths: Paths, daily: dict) -> None:
    """The headers kept per representation are never those of another: HEAD first, gzip first."""
    paths.fast.head(FEED)  # renders (Flask)
    assert paths.fast_get(FEED, method="HEAD").data == b""
    zipped = paths.fast_get(FEED, headers={"Accept-Encoding": "gzip"})
    plain = paths.fast_get(FEED)
    same_answer(zipped, paths.flask.get(FEED, headers={"Accept-Encoding": "gzip"}))
    same_answer(plain, paths.flask.get(FEED))
    assert plain.headers["Content-Length"] == str(len(plain.data)) and daily["guid"].encode() in plain.data
    assert zipped.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers


def test_a_signed_in_producer_gets_the_feed_everyone_gets(
    app: Flask, paths: Paths, daily: dict, admin_token: str
) -> None:
    """The dashboard's session cookie changes nothing in a public feed's answer, by either path: no
    Set-Cookie and no Vary: Cookie that a shared cache could keep or split on."""
    from browser import sign_in

    producer = app.test_client()
    sign_in(producer, "admin@example.com")
    first = producer.get(FEED)  # rendered by Flask, with the cookie
    asked = len(paths.to_flask)
    fast = producer.get(FEED)
    assert len(paths.to_flask) == asked, "the fast path answered"
    cookie = producer.get_cookie("session")
    assert cookie is not None
    flask = paths.flask.get(FEED, headers={"Cookie": f"session={cookie.value}"})
    same_answer(fast, flask)
    for answer in (first, fast, flask):
        assert "Set-Cookie" not in answer.headers and answer.headers["Vary"] == "Accept-Encoding"
        assert answer.headers["Cache-Control"].startswith("public")


@pytest.mark.parametrize(
    "path",
    [
        "//daily/feed.xml",
        "/daily//feed.xml",
        "/daily/feed.xml/",
        "/DAILY/feed.xml",
        "/a%2Fdaily/feed.xml",
        "/daily%20/feed.xml",
        "/%C3%A9/feed.xml",
        "/%FF/feed.xml",
        "/api/feed.xml",
        "/static/feed.xml",
    ],
)
def test_a_path_that_is_not_the_shows_own_goes_to_flask(paths: Paths, daily: dict, path: str) -> None:
    warm(paths)
    tricked = answered_by_flask(paths, path)
    same_answer(tricked, paths.flask.get(path))
    assert tricked.status_code != 200


@pytest.mark.postgres
def test_a_unicode_slug_is_served_by_the_fast_path_as_flask_serves_it(
    paths: Paths, client: FlaskClient, admin_token: str, services: Services
) -> None:
    create_show(client, admin_token, slug="café-crème")
    with services.db.session() as session:
        show_id = find_show(session, "café-crème").id
    assert show_id
    path = "/caf%C3%A9-cr%C3%A8me/feed.xml"
    warm(paths, path)
    same_answer(paths.fast_get(path), paths.flask.get(path))
    # The same words decomposed (e + combining accent) are another slug: Flask says there is none.
    decomposed = "/cafe%CC%81-cre%CC%80me/feed.xml"
    assert answered_by_flask(paths, decomposed).status_code == 404


# --- the media redirect ----------------------------------------------------------------------------------


@pytest.fixture
def cdn(tmp_path: Path, database_url: str) -> Iterator[SimpleNamespace]:
    """An app whose public files go through a CDN, counting downloads, behind one trusted proxy; the show
    `daily` with one long published episode."""
    yield from cdn_app(tmp_path, database_url, paths_behind_a_proxy, trusted_proxies=1)


def paths_behind_a_proxy(app: Flask) -> Paths:
    """test_hot_paths.paths_of for an app with trusted proxies: the fast path sits inside ProxyFix, so that
    it sees the client's address as Flask does."""
    proxy = app.wsgi_app
    assert isinstance(proxy, ProxyFix) and isinstance(proxy.app, FastPaths)
    fast, flask_app = proxy.app, proxy.app.app
    to_flask: list[str] = []

    def counted(environ: dict[str, Any], start_response: Any) -> Any:
        to_flask.append(environ["PATH_INFO"])
        return flask_app(environ, start_response)

    fast.app = counted
    flask = Client(ProxyFix(flask_app, x_for=1, x_proto=0), TestResponse)
    return Paths(fast=app.test_client(), flask=flask, to_flask=to_flask)


def test_a_file_of_a_show_made_private_is_redirected_no_longer_than_the_minute(
    cdn: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media, "PUBLIC_FOR_S", 1.0)  # the documented minute, shortened
    path = f"/media/{cdn.episode['key']}"
    found = time.monotonic()
    assert cdn.paths.flask_get(path).status_code == 302
    with cdn.services.db.engine.begin() as connection:
        connection.execute(text("UPDATE shows SET access = 'private'"))
    # Within the minute, as documented (docs/private-feeds.md, "Delivery"); polling never extends it.
    while time.monotonic() < found + 0.6:
        assert cdn.paths.fast_get(path).status_code == 302
    time.sleep(max(found + 1.05 - time.monotonic(), 0))
    for _ in range(3):
        assert cdn.paths.flask_get(path).status_code == 404
        assert cdn.paths.flask_get(path, method="HEAD").status_code == 404


def test_a_deleted_episodes_file_is_redirected_no_longer_than_the_minute(
    cdn: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media, "PUBLIC_FOR_S", 0.3)
    path = f"/media/{cdn.episode['key']}"
    assert cdn.paths.flask_get(path).status_code == 302
    assert cdn.paths.fast_get(path).status_code == 302
    with cdn.services.db.session() as session:
        episode = session.get(Episode, cdn.episode["id"])
        session.delete(episode)
        session.commit()
    time.sleep(0.35)
    assert cdn.paths.flask_get(path).status_code == 404
    assert cdn.paths.flask_get(path).status_code == 404


def test_behind_a_trusted_proxy_the_fast_path_counts_the_address_flask_would(
    cdn: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    heard: list[str] = []
    note = cdn.services.recorder.note
    monkeypatch.setattr(cdn.services.recorder, "note", lambda h: (heard.append(h.address), note(h)))
    path = f"/media/{cdn.episode['key']}"
    proxied = {
        "headers": {"User-Agent": IPHONE, "X-Forwarded-For": "203.0.113.9"},
        "environ_base": {"REMOTE_ADDR": "10.0.0.1"},
    }
    assert cdn.paths.flask_get(path, **proxied).status_code == 302
    assert cdn.paths.fast_get(path, **proxied).status_code == 302
    # A client's own X-Forwarded-For is one entry further: the proxy's entry is the one taken.
    forged = {**proxied, "headers": {"User-Agent": IPHONE, "X-Forwarded-For": "198.51.100.1, 203.0.113.9"}}
    assert cdn.paths.fast_get(path, **forged).status_code == 302
    assert heard == ["203.0.113.9"] * 3
    # HEAD is no download, by either path.
    assert cdn.paths.fast_get(path, method="HEAD", **proxied).status_code == 302
    assert heard == ["203.0.113.9"] * 3
    assert downloads(cdn.services) == 1  # one listener, one download (docs/analytics.md)


def test_the_fast_path_counts_by_the_same_rules_as_the_media_route(cdn: SimpleNamespace) -> None:
    """Bots, a HEAD and a range too short to be a listen are not downloads on either path; a listener is."""
    path = f"/media/{cdn.episode['key']}"
    assert cdn.paths.flask_get(path, headers={"User-Agent": GOOGLEBOT}).status_code == 302
    not_counted = [
        {"headers": {"User-Agent": GOOGLEBOT}},
        {"headers": {"User-Agent": IPHONE, "Range": "bytes=0-1"}},
        {"headers": {"User-Agent": IPHONE}, "method": "HEAD"},
    ]
    for request in not_counted:
        assert cdn.paths.fast_get(path, **request).status_code == 302
    assert downloads(cdn.services) == 0
    assert cdn.paths.fast_get(path, headers={"User-Agent": IPHONE}).status_code == 302
    assert downloads(cdn.services) == 1


# --- items kept ------------------------------------------------------------------------------------------

TRICKY = "x\n    <item>\n      <title>Injected</title>\n    </item>\n  </channel> ]]> <![CDATA[ y"


def _tricky_values(show: Show, episode: Episode) -> None:
    """Producer text that reads like an item's start or the channel's end, in every text the feed carries."""
    person = {"name": TRICKY, "role": "guest", "group": "cast", "img": "", "href": ""}
    show.title, show.author, show.funding_text = TRICKY, TRICKY, TRICKY
    show.funding_url = "https://pod.example/support"
    show.txt = [{"purpose": TRICKY, "value": TRICKY}]
    show.podroll = [{"feed_guid": str(uuid.uuid4()), "feed_url": "", "title": TRICKY, "medium": "podcast"}]
    show.persons = [person]
    episode.title = TRICKY
    episode.description = f"`{TRICKY}`"
    episode.notes_html = notes.render_notes_html(episode.description)
    episode.persons = [person]
    episode.locations = [{"name": TRICKY, "rel": "subject", "country": "FR"}]
    episode.soundbites = [{"start": 1.0, "duration": 30.0, "title": TRICKY}]
    episode.license = {"identifier": TRICKY, "url": "https://pod.example/licence"}
    episode.episode_type = "trailer"  # its title in the channel's podcast:trailer too


def test_producer_text_that_reads_like_items_never_cuts_a_kept_item(services: Services) -> None:
    show_rows(services, "tricky", episodes=3)
    with services.db.session() as session:
        show = find_show(session, "tricky")
        _tricky_values(show, next(e for e in show.episodes if e.number == 2))
        session.commit()

    def render() -> bytes:
        with services.db.session() as session:
            return render_feed(services, session, find_show(session, "tricky")).body

    written = render()  # every item written, and kept
    assert len(ITEMS) == 3
    services.caches.clear()
    kept = render()  # every item from the cache
    ITEMS.clear()
    services.caches.clear()
    assert kept == written == render()
    items = parse_xml(kept).findall("channel/item")
    assert [item.findtext("title") for item in items] == [
        "Episode 3 of tricky",
        TRICKY,
        "Episode 1 of tricky",
    ]
    assert b"<title>Injected</title>" not in kept


@pytest.mark.postgres
def test_two_databases_in_one_process_never_share_an_item(tmp_path: Path, database_url: str) -> None:
    """Same public URL, same slug, same episode id and guid (an import of one feed into two databases): each
    feed carries its own episode."""
    guid = "urn:uuid:7f3c2a10-0000-4000-8000-000000000001"
    feeds = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        url = database_url if name == "first" else f"sqlite:///{folder / 'other.sqlite3'}"
        services = make_services(folder, database_url=url)
        try:
            show_rows(services, "twin", episodes=1)
            with services.db.session() as session:
                episode = find_show(session, "twin").episodes[0]
                episode.guid, episode.title = guid, f"The {name} database's episode"
                session.commit()
                assert episode.id == 1
            with services.db.session() as session:
                feeds.append(render_feed(services, session, find_show(session, "twin")).body)
        finally:
            services.close()
    titles = [[item.findtext("title") for item in parse_xml(feed).findall("channel/item")] for feed in feeds]
    assert titles == [["The first database's episode"], ["The second database's episode"]]
    assert len(ITEMS) == 2  # both kept, each under its own key


def test_a_private_shows_feed_takes_no_item_kept_while_it_was_public(
    paths: Paths, daily: dict, client: FlaskClient, admin_token: str, services: Services
) -> None:
    from test_private_feeds import subscribe

    public = warm(paths)
    assert len(ITEMS) == 1
    with services.db.session() as session:
        session.scalars(select(Show).where(Show.slug == "daily")).one().access = "private"
        session.commit()
    token = subscribe(services, "daily", "member@example.com")
    member = paths.flask_get(f"{FEED}?token={token}")
    assert member.status_code == 200
    enclosure = parse_xml(member.data).find("channel/item/enclosure")
    assert enclosure is not None and str(enclosure.get("url")).endswith(f"?token={token}")
    assert member.data != public.data
    stranger = paths.flask_get(FEED)
    assert stranger.status_code == 404 and daily["guid"].encode() not in stranger.data


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    "path",
    [
        "/a%00b/",
        "/a%00b/x/",
        "/a%00b/chapters.json",
        "/a%00b/x/chapters.json",
        "/daily/a%00b/",
        "/api/v1/shows/a%00b",
    ],
)
def test_a_nul_in_any_path_part_is_a_404_not_a_database_error(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers={"Authorization": "Bearer nothing"})
    # An episode-less chapters path is first sent to its slashed form (308), which then answers 404.
    assert response.status_code in (308, 401, 404), (path, response.status_code)
    if response.status_code == 308:
        assert client.get(response.headers["Location"]).status_code == 404
