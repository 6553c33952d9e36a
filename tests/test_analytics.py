"""Download counting at the enclosure, its reports (API, CSV), and listeners' privacy (docs/analytics.md)."""

from __future__ import annotations

import contextlib
import csv
import http.client
import io
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from analytics_helpers import (
    GOOGLEBOT,
    IPHONE,
    OVERCAST,
    every_value,
    expected_downloads,
    published_audio,
    request_log,
)
from flask import Flask
from flask.testing import FlaskClient
from helpers import auth, create_show, user_token
from sqlalchemy import select
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import make_server

from podcast_host import accounts, create_app
from podcast_host.analytics import counting, recorder, salts
from podcast_host.analytics.geo import CountryLookup
from podcast_host.analytics.recorder import Heard, Recorder
from podcast_host.db import Database
from podcast_host.models import AnalyticsSalt, DownloadTally, ListenerDay, Show
from podcast_host.services import Services

# Counting's upserts, locks and salts, and the report's sums: on PostgreSQL too.

LONG_SIZE, LONG_DURATION = 4_800_000, 600.0  # 8,000 bytes a second: one minute is 480,000 bytes


class Clock:
    """The recorder's clock, set by the test: requests are stamped with it and days follow it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(services: Services) -> Clock:
    set_to = Clock(datetime.now(UTC).replace(microsecond=0))
    services.recorder.clock = set_to
    return set_to


@pytest.fixture
def show(client: FlaskClient, admin_token: str) -> str:
    create_show(client, admin_token)
    return "daily"


def listen(
    client: FlaskClient, key: str, address: str = "203.0.113.5", ua: str = IPHONE, **headers: str
) -> int:
    environ = {"REMOTE_ADDR": address}
    response = client.get(f"/media/{key}", headers={"User-Agent": ua, **headers}, environ_base=environ)
    response.close()
    return response.status_code


def report(client: FlaskClient, token: str, **query: str) -> dict[str, Any]:
    response = client.get("/api/v1/shows/daily/analytics", query_string=query, headers=auth(token))
    assert response.status_code == 200, response.get_json()
    found: dict[str, Any] = response.get_json()
    return found


@contextlib.contextmanager
def instance_with(
    tmp_path: Any, database_url: str, **settings: str
) -> Iterator[tuple[Services, FlaskClient, str]]:
    """Another instance on the test's database, with these settings, the show `daily` and an admin's token;
    its services, a test client and the token."""
    from conftest import make_services

    built = make_services(tmp_path / "other", database_url=database_url, **settings)
    try:
        client = create_app(services=built).test_client()
        with built.db.session() as session:
            user = accounts.create_user(session, "other@example.com", None, admin=True)
            _, token = accounts.create_token(session, user, "t")
            session.commit()
        create_show(client, token)
        yield built, client, token
    finally:
        built.close()


# --- the replayed request log ---------------------------------------------------------------------------


@pytest.fixture
def live_app(app: Flask) -> Iterator[int]:
    """The app behind a real HTTP server on loopback, behind one trusted proxy (as
    PODCAST_HOST_TRUSTED_PROXIES sets up): each request's address is the log's, sent as X-Forwarded-For."""
    server = make_server("127.0.0.1", 0, ProxyFix(app, x_for=1), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    thread.join()


@pytest.mark.postgres
def test_the_replayed_request_log_gives_the_expected_downloads(
    services: Services, show: str, clock: Clock, client: FlaskClient, admin_token: str, live_app: int
) -> None:
    expected = expected_downloads()
    keys = {
        name: published_audio(services, show, f"Episode {name}", facts["size"], facts["duration_s"])
        for name, facts in expected["episodes"].items()
    }
    day = None
    for entry in request_log():
        clock.now = datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))
        if day is not None and clock.now.date() != day:
            assert services.recorder.flush()  # each day is written while it is "today", as it would be
        day = clock.now.date()
        headers = {"X-Forwarded-For": entry["address"]}
        if entry["user_agent"]:
            headers["User-Agent"] = entry["user_agent"]
        if entry["range"]:
            headers["Range"] = entry["range"]
        conn = http.client.HTTPConnection("127.0.0.1", live_app, timeout=30)
        conn.request(entry["method"], f"/media/{keys[entry['episode']][1]}", headers=headers)
        answer = conn.getresponse()
        answer.read()
        conn.close()
        assert answer.status == (206 if entry["range"] else 200), entry
    assert services.recorder.flush()

    figures = report(client, admin_token, since="2026-11-01", until="2026-11-05")
    measured = {name: {} for name in keys}
    by_id = {episode_id: name for name, (episode_id, _) in keys.items()}
    with services.db.session() as session:
        rows = session.scalars(select(DownloadTally).where(DownloadTally.kind == "episode")).all()
        for row in rows:
            measured[by_id[int(row.name)]][row.day.isoformat()] = row.downloads
    wanted = {name: {d: n for d, n in days.items() if n} for name, days in expected["downloads"].items()}
    assert measured == wanted
    assert figures["downloads"] == expected["total"]
    assert {e["title"]: e["downloads"] for e in figures["episodes"]} == {
        f"Episode {name}": sum(days.values()) for name, days in expected["downloads"].items()
    }
    assert {d["date"]: d["downloads"] for d in figures["days"]} == {
        "2026-11-01": 0,
        "2026-11-02": 8,
        "2026-11-03": 1,
        "2026-11-04": 0,
        "2026-11-05": 0,
    }
    apps = {a["name"]: a["downloads"] for a in figures["apps"]}
    assert sum(apps.values()) == expected["total"]
    assert "Googlebot" not in " ".join(apps)
    assert figures["countries"] == [{"code": "unknown", "downloads": expected["total"]}]


# --- each rule through the media route ------------------------------------------------------------------


@pytest.mark.postgres
def test_a_download_counts_once_per_listener_and_day(
    services: Services, show: str, clock: Clock, client: FlaskClient, admin_token: str
) -> None:
    _, key = published_audio(services, show, "Long", LONG_SIZE, LONG_DURATION)
    assert listen(client, key) == 200
    assert listen(client, key) == 200
    assert listen(client, key, ua=OVERCAST) == 200
    assert listen(client, key, address="203.0.113.6") == 200
    assert services.recorder.flush()
    assert report(client, admin_token)["downloads"] == 3
    clock.now += timedelta(days=1)
    assert listen(client, key) == 200
    assert services.recorder.flush()
    assert report(client, admin_token, until=clock.now.date().isoformat())["downloads"] == 4


def test_probes_heads_bots_and_requests_without_a_user_agent_never_count(
    services: Services, show: str, clock: Clock, client: FlaskClient, admin_token: str
) -> None:
    _, key = published_audio(services, show, "Long", LONG_SIZE, LONG_DURATION)
    assert listen(client, key, Range="bytes=0-1") == 206
    head = client.head(f"/media/{key}", headers={"User-Agent": IPHONE})
    head.close()
    assert head.status_code == 200
    assert listen(client, key, ua=GOOGLEBOT) == 200
    assert listen(client, key, ua="") == 200
    assert services.recorder.flush()
    assert report(client, admin_token)["downloads"] == 0
    with services.db.session() as session:
        assert session.scalars(select(ListenerDay)).all() == []


@pytest.mark.postgres
def test_ranges_add_up_to_one_minute_of_audio(
    services: Services, show: str, clock: Clock, client: FlaskClient, admin_token: str
) -> None:
    _, key = published_audio(services, show, "Long", LONG_SIZE, LONG_DURATION)
    assert listen(client, key, Range="bytes=0-299999") == 206
    assert listen(client, key, Range="bytes=0-299999") == 206
    assert services.recorder.flush()
    assert report(client, admin_token)["downloads"] == 0
    assert listen(client, key, Range="bytes=300000-479999") == 206
    assert services.recorder.flush()
    assert report(client, admin_token)["downloads"] == 1


def test_a_short_file_counts_only_once_whole(
    services: Services, show: str, clock: Clock, client: FlaskClient, admin_token: str
) -> None:
    _, key = published_audio(services, show, "Short", 240_000, 30.0)
    assert listen(client, key, Range="bytes=0-200000") == 206
    assert services.recorder.flush()
    assert report(client, admin_token)["downloads"] == 0
    assert listen(client, key, Range="bytes=200001-") == 206
    assert services.recorder.flush()
    assert report(client, admin_token)["downloads"] == 1


def test_ipv6_listeners_count_by_their_64(
    services: Services, show: str, clock: Clock, client: FlaskClient, admin_token: str
) -> None:
    _, key = published_audio(services, show, "Long", LONG_SIZE, LONG_DURATION)
    for address in ("2001:db8:5:6::1", "2001:db8:5:6:abcd::2", "2001:db8:5:7::1"):
        assert listen(client, key, address=address) == 200
    assert services.recorder.flush()
    assert report(client, admin_token)["downloads"] == 2


def test_audio_only_the_team_may_fetch_is_not_counted(
    services: Services, show: str, clock: Clock, client: FlaskClient, admin_token: str
) -> None:
    from browser import sign_in

    _, key = published_audio(services, show, "Draft", LONG_SIZE, LONG_DURATION, draft=True)
    assert listen(client, key) == 404
    sign_in(client, "admin@example.com", "correct horse battery")
    assert listen(client, key) == 200
    assert services.recorder.flush()
    assert report(client, admin_token)["downloads"] == 0


def test_with_media_url_the_feed_points_at_the_app_which_counts_and_redirects(
    tmp_path: Any, database_url: str
) -> None:
    with instance_with(tmp_path, database_url, media_url="https://cdn.example.com/pod") as (
        cdn,
        client,
        token,
    ):
        _, key = published_audio(cdn, "daily", "Long", LONG_SIZE, LONG_DURATION)
        feed = client.get("/daily/feed.xml").get_data(as_text=True)
        assert f'url="http://127.0.0.1:8000/media/{key}"' in feed
        answer = client.get(
            f"/media/{key}", headers={"User-Agent": IPHONE}, environ_base={"REMOTE_ADDR": "203.0.113.9"}
        )
        assert answer.status_code == 302
        assert answer.headers["Location"] == f"https://cdn.example.com/pod/{key}"
        assert cdn.recorder.flush()
        assert report(client, token)["downloads"] == 1


# --- the reports ----------------------------------------------------------------------------------------


def test_the_report_and_its_csv(
    services: Services, show: str, clock: Clock, client: FlaskClient, admin_token: str
) -> None:
    episode_id, key = published_audio(services, show, "=HYPERLINK(1)", LONG_SIZE, LONG_DURATION)
    listen(client, key, ua=OVERCAST)
    listen(client, key, address="203.0.113.77")
    assert services.recorder.flush()
    today = clock.now.date()
    figures = report(client, admin_token)
    assert set(figures) == {"show", "since", "until", "downloads", "episodes", "days", "apps", "countries"}
    assert figures["show"] == "daily"
    assert figures["until"] == today.isoformat()
    assert figures["since"] == (today - timedelta(days=29)).isoformat()
    assert len(figures["days"]) == 30
    assert figures["days"][-1] == {"date": today.isoformat(), "downloads": 2}
    assert figures["episodes"] == [{"id": episode_id, "title": "=HYPERLINK(1)", "downloads": 2}]
    # OPAWG names Apple's media framework, which Apple Podcasts and other iOS players share.
    assert {a["name"] for a in figures["apps"]} == {"Overcast", "AppleCoreMedia"}

    answer = client.get("/api/v1/shows/daily/analytics.csv", headers=auth(admin_token))
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert rows[0] == ["dimension", "key", "name", "downloads"]
    assert ["total", f"{figures['since']}..{figures['until']}", "daily", "2"] in rows
    assert ["day", today.isoformat(), "", "2"] in rows
    # A title a spreadsheet would run as a formula is written as text.
    assert ["episode", str(episode_id), "'=HYPERLINK(1)", "2"] in rows
    assert ["app", "", "Overcast", "1"] in rows


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "2026-13-01"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"since": "2026-11-10", "until": "2026-11-01"}, "since"),
        ({"since": "1990-01-01", "until": "2026-01-01"}, "since"),
    ],
)
def test_a_bad_period_is_refused_with_its_field(
    client: FlaskClient, admin_token: str, show: str, query: dict[str, str], field: str
) -> None:
    answer = client.get("/api/v1/shows/daily/analytics", query_string=query, headers=auth(admin_token))
    assert answer.status_code == 422
    assert answer.get_json()["error"]["field"] == field


def test_viewers_and_above_may_read_the_figures_and_nobody_else(
    services: Services, client: FlaskClient, admin_token: str, show: str
) -> None:
    viewer = user_token(services, "viewer@example.com")
    stranger = user_token(services, "stranger@example.com")
    with services.db.session() as session:
        show_row = session.scalars(select(Show)).one()
        accounts.grant(session, show_row, accounts.get_user(session, "viewer@example.com"), "viewer")
        session.commit()
    for path in ("/api/v1/shows/daily/analytics", "/api/v1/shows/daily/analytics.csv"):
        assert client.get(path, headers=auth(viewer)).status_code == 200
        assert client.get(path, headers=auth(stranger)).status_code == 403
        assert client.get(path).status_code == 401
        assert client.get(path.replace("daily", "nope"), headers=auth(viewer)).status_code == 404


# --- privacy --------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_no_raw_address_is_stored_and_salts_are_forgotten_after_two_days(
    services: Services, show: str, clock: Clock, client: FlaskClient, database_url: str
) -> None:
    _, key = published_audio(services, show, "Long", LONG_SIZE, LONG_DURATION)
    addresses = ["198.51.100.23", "2001:db8:77:88::99"]
    for address in addresses:
        assert listen(client, key, address=address) == 200
    assert services.recorder.flush()
    stored = every_value(services)
    for address in [*addresses, "2001:db8:77:88::", "2001:db8:77:88::/64"]:
        assert address not in stored
    with services.db.session() as session:
        assert len(session.scalars(select(ListenerDay)).all()) == 2
        assert session.scalar(select(AnalyticsSalt.day)) == clock.now.date()

    clock.now += timedelta(days=2)
    assert listen(client, key, address="203.0.113.200") == 200
    assert services.recorder.flush()
    services.recorder.forget_closed_days()
    with services.db.session() as session:
        days = session.scalars(select(ListenerDay.day)).all()
        salts = session.scalars(select(AnalyticsSalt.day)).all()
        tallies = session.scalar(
            select(DownloadTally.downloads).where(DownloadTally.kind == "episode").limit(1)
        )
    assert days == [clock.now.date()]
    assert salts == [clock.now.date()]
    assert tallies  # the figures stay


@pytest.mark.postgres
def test_a_salt_is_shared_by_every_process_for_its_day(services: Services) -> None:
    today = date(2026, 11, 2)
    with services.db.session() as session:
        first = salts.SaltBook(session, today).salt(today)
        session.commit()
    with services.db.session() as session:
        again = salts.SaltBook(session, today).salt(today)
        old = salts.SaltBook(session, today).salt(today - timedelta(days=5))
        session.commit()
        stored = session.scalars(select(AnalyticsSalt.day)).all()
    assert first == again
    assert old != first
    # A closed day's salt is made up in memory and never written.
    assert stored == [today]


# --- counting never holds up or breaks the audio --------------------------------------------------------


@pytest.mark.postgres
def test_an_unreachable_database_keeps_the_requests_for_later(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = Database("postgresql+psycopg://nobody@127.0.0.1:9/none")
    counter = Recorder(down, CountryLookup(None), flush_s=3600)
    monkeypatch.setattr(recorder, "BUFFER_LIMIT", 3)
    now = datetime.now(UTC)
    try:
        for n in range(5):
            counter.note(Heard(now, f"203.0.113.{n}", IPHONE, "GET", "shows/1/episodes/1/audio/a.mp3", 200))
        assert counter.pending() == 3
        assert counter.lost == 2
        assert counter.flush() is False
        assert counter.pending() == 3
    finally:
        counter._stopped.set()
        down.dispose()


def test_counting_can_be_switched_off(tmp_path: Any, database_url: str) -> None:
    with instance_with(tmp_path, database_url, count_downloads="false") as (quiet, client, token):
        _, key = published_audio(quiet, "daily", "Long", LONG_SIZE, LONG_DURATION)
        assert listen(client, key) == 200
        assert quiet.recorder.pending() == 0
        assert report(client, token)["downloads"] == 0


def test_the_country_comes_from_the_geoip_database(tmp_path: Any, database_url: str) -> None:
    from mmdb import write_country_db

    countries = write_country_db(tmp_path / "countries.mmdb", {"81.2.69.0/24": "GB", "2001:db8::/32": "FR"})
    with instance_with(tmp_path, database_url, geoip_db=str(countries)) as (located, client, token):
        _, key = published_audio(located, "daily", "Long", LONG_SIZE, LONG_DURATION)
        for address in ("81.2.69.160", "81.2.69.161", "2001:db8:9::1", "198.51.100.1"):
            assert listen(client, key, address=address) == 200
        assert located.recorder.flush()
        assert report(client, token)["countries"] == [
            {"code": "GB", "downloads": 2},
            {"code": "FR", "downloads": 1},
            {"code": "unknown", "downloads": 1},
        ]


# --- what an attacker might send ------------------------------------------------------------------------


def test_a_huge_user_agent_is_cut_before_it_is_kept_or_matched(
    services: Services, show: str, clock: Clock, client: FlaskClient, admin_token: str
) -> None:
    from podcast_host.analytics.rules import MAX_USER_AGENT

    _, key = published_audio(services, show, "Long", LONG_SIZE, LONG_DURATION)
    assert listen(client, key, ua="a" * 8150) == 200
    assert listen(client, key, ua="a" * 9000) == 200
    held = list(services.recorder._buffer)
    assert [len(h.user_agent) for h in held] == [MAX_USER_AGENT, MAX_USER_AGENT]
    assert services.recorder.flush()
    # Both cut to the same 512 characters: one listener.
    assert report(client, admin_token)["downloads"] == 1


@pytest.mark.postgres
def test_a_range_no_number_type_holds_costs_no_other_listener_their_count(
    services: Services, show: str
) -> None:
    _, key = published_audio(services, show, "Long", LONG_SIZE, LONG_DURATION)
    now = datetime.now(UTC)
    batch = [
        # Behind a redirect the app never reads the Range; counting must still take it.
        Heard(now, "203.0.113.59", IPHONE, "GET", key, 302, "bytes=0-" + "9" * 5000),
        Heard(now, "203.0.113.60", IPHONE, "GET", key, 302, "bytes=" + "0-0," * 200 + "1-1"),
        Heard(now, "203.0.113.61", IPHONE, "GET", key, 302, None),
    ]
    with services.db.session() as session:
        counted = counting.count(session, batch, CountryLookup(None), salts.SaltBook(session, now.date()))
        session.commit()
    # The first is malformed (the whole file, as a server sends), the second is too long to be one range.
    assert counted == 3


def test_names_an_app_makes_up_are_listed_fifty_at_most(
    services: Services, show: str, clock: Clock, client: FlaskClient, admin_token: str
) -> None:
    from podcast_host.analytics.report import OTHER, TOP_APPS

    _, key = published_audio(services, show, "Long", LONG_SIZE, LONG_DURATION)
    for n in range(TOP_APPS + 5):
        assert (
            listen(
                client,
                key,
                ua=f"MadeUp{chr(65 + n // 26)}{chr(97 + n % 26)}/1 CFNetwork/1 Darwin/1",
                address=f"203.0.113.{n}",
            )
            == 200
        )
    assert services.recorder.flush()
    apps = report(client, admin_token)["apps"]
    assert len(apps) == TOP_APPS + 1
    assert apps[-1] == {"name": OTHER, "downloads": 5}
    assert sum(a["downloads"] for a in apps) == TOP_APPS + 5


def test_a_file_taken_down_is_forgotten_and_made_up_names_are_never_remembered(
    services: Services, show: str, clock: Clock, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from podcast_host.models import Episode
    from podcast_host.web import media

    episode_id, key = published_audio(services, show, "Long", LONG_SIZE, LONG_DURATION)
    assert listen(client, key) == 200
    public = services.caches["public_media"]
    assert isinstance(public, media.PublicKeys)
    assert public.age(key) is not None
    assert listen(client, key.replace("audio/", "audio/x")) == 404
    assert client.get("/media/shows/1/image/" + "z" * 200 + ".jpg").status_code == 404
    assert len(public._seen) == 1

    with services.db.session() as session:
        row = session.get(Episode, episode_id)
        assert row is not None
        row.draft = True
        session.commit()
    monkeypatch.setattr(media, "PUBLIC_FOR_S", 0.0)  # the minute has passed
    assert listen(client, key) == 404
    assert public.age(key) is None


@pytest.mark.postgres
def test_only_an_unreachable_database_is_a_503() -> None:
    import sqlite3

    import psycopg
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from podcast_host.db import is_outage

    def wrapped(error: Exception) -> OperationalError:
        return OperationalError("SELECT 1", {}, error)

    assert is_outage(wrapped(sqlite3.OperationalError("database is locked")))
    assert is_outage(wrapped(psycopg.OperationalError("connection failed: Connection refused")))
    assert not is_outage(wrapped(sqlite3.OperationalError("no such table: episodes")))
    assert not is_outage(ProgrammingError("SELECT x", {}, Exception("syntax error")))


def test_the_salts_of_closed_days_go_without_any_traffic(services: Services) -> None:
    long_ago = datetime.now(UTC).date() - timedelta(days=3)
    with services.db.session() as session:
        session.add(AnalyticsSalt(day=long_ago, salt="00" * 32))
        session.commit()
    quiet = Recorder(services.db, CountryLookup(None), flush_s=0.05)
    quiet.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while datetime.now(UTC) < deadline:
            with services.db.session() as session:
                if session.scalar(select(AnalyticsSalt.day)) is None:
                    break
        with services.db.session() as session:
            assert session.scalar(select(AnalyticsSalt.day)) is None
    finally:
        quiet.close()
