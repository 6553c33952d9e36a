"""Download counting in a real `podcast-host serve`: client addresses behind proxies, privacy in the database,
the logs and the queue, counts visible within a minute, and audio served while the database is down."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from analytics_helpers import IPHONE, OVERCAST, published_audio
from conftest import make_services
from helpers import redis_url
from sqlalchemy import text
from tcp_proxy import SwitchableProxy
from test_serve import Server

from podcast_host.models import Base

LONG_SIZE, LONG_DURATION = 2_400_000, 300.0
# How long counts may take to show (docs/analytics.md promises a minute).
VISIBLE_WITHIN_S = 60


def _setup_show(server: Server, database_url: str, tmp_path: Path) -> tuple[str, str]:
    """The show `daily` with one published episode; an admin token and the episode's media key."""
    server.cli("user", "add", "admin@example.com", "--admin")
    token = server.cli("token", "add", "admin@example.com").strip().split()[-1]
    server.cli("show", "add", "daily", "--title", "Daily", "--email", "t@example.com", "--author", "T")
    services = make_services(tmp_path / "setup", database_url=database_url, storage_url=_media_of(server))
    try:
        _, key = published_audio(services, "daily", "Long", LONG_SIZE, LONG_DURATION)
    finally:
        services.close()
    return token, key


def _media_of(server: Server) -> str:
    return (Path(server.env["PODCAST_HOST_DATA_DIR"]) / "media").as_uri()


def _get(server: Server, key: str, ua: str = IPHONE, **headers: str) -> int:
    status, _, _ = server.request("GET", f"/media/{key}", headers={"User-Agent": ua, **headers})
    return status


def _downloads(server: Server, token: str, wait_for: int | None = None) -> int:
    """The show's downloads; with `wait_for`, polled until they reach it or VISIBLE_WITHIN_S has passed."""
    deadline = time.monotonic() + VISIBLE_WITHIN_S
    while True:
        status, _, body = server.request(
            "GET", "/api/v1/shows/daily/analytics", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 200, body
        found = int(json.loads(body)["downloads"])
        if wait_for is None or found >= wait_for or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture
def started(tmp_path: Path, database_url: str) -> Iterator[Any]:
    """A factory of `serve` processes on this test's database; each is stopped at the end."""
    from conftest import prepare_database

    prepare_database(database_url)
    running: list[Server] = []

    def start(**env: str) -> Server:
        server = Server(tmp_path / "instance", database_url, **env)
        server.start()
        running.append(server)
        return server

    yield start
    for server in running:
        if server.process.poll() is None:
            server.stop()


@pytest.mark.slow
def test_a_forged_forwarded_for_is_ignored_unless_a_proxy_is_trusted(
    started: Any, database_url: str, tmp_path: Path
) -> None:
    direct = started(PODCAST_HOST_ANALYTICS_FLUSH_S="1")
    token, key = _setup_show(direct, database_url, tmp_path)
    # Two "listeners" that are one client forging the header: one download.
    assert _get(direct, key, **{"X-Forwarded-For": "198.51.100.1"}) == 200
    assert _get(direct, key, **{"X-Forwarded-For": "198.51.100.2"}) == 200
    assert _downloads(direct, token, wait_for=1) == 1
    time.sleep(1.5)  # a second download, if it were counted, would be written by now
    assert _downloads(direct, token) == 1
    direct.stop()

    proxied = started(PODCAST_HOST_ANALYTICS_FLUSH_S="1", PODCAST_HOST_TRUSTED_PROXIES="1")
    # Behind one trusted proxy, its X-Forwarded-For entry is the listener: two listeners.
    assert _get(proxied, key, **{"X-Forwarded-For": "198.51.100.3"}) == 200
    assert _get(proxied, key, **{"X-Forwarded-For": "203.0.113.1, 198.51.100.4"}) == 200
    assert _downloads(proxied, token, wait_for=3) == 3


@pytest.mark.slow
@pytest.mark.postgres
def test_no_raw_address_reaches_the_database_the_logs_or_the_queue_and_counts_show_within_a_minute(
    started: Any, database_url: str, tmp_path: Path
) -> None:
    queue_url = redis_url(15)
    queue = redis.Redis.from_url(queue_url)
    queue.flushdb()
    # The default flush interval: the count must still show within VISIBLE_WITHIN_S.
    server = started(PODCAST_HOST_TRUSTED_PROXIES="1", PODCAST_HOST_QUEUE_URL=queue_url)
    token, key = _setup_show(server, database_url, tmp_path)
    addresses = ["198.51.100.77", "2001:db8:abcd:12::5"]
    began = time.monotonic()
    for address in addresses:
        assert _get(server, key, ua=OVERCAST, **{"X-Forwarded-For": address}) == 200
    assert _downloads(server, token, wait_for=2) == 2
    assert time.monotonic() - began < VISIBLE_WITHIN_S
    server.stop()

    stored = _every_value(database_url)
    logged = server.log.read_text(encoding="utf-8", errors="replace")
    queued = _every_redis_value(queue)
    for address in [*addresses, "2001:db8:abcd:12::", "198.51.100"]:
        assert address not in stored
        assert address not in logged
        assert address not in queued
    assert "Overcast" in stored  # the check reads what was written


def _every_value(database_url: str) -> str:
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    found = []
    try:
        with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                for row in conn.execute(text(f'SELECT * FROM "{table.name}"')):
                    found.append(" ".join(str(value) for value in row))
    finally:
        engine.dispose()
    return "\n".join(found)


def _every_redis_value(queue: redis.Redis) -> str:
    found = []
    for name in queue.scan_iter():
        kind = queue.type(name).decode()
        found.append(name.decode(errors="replace"))
        if kind == "string":
            found.append(str(queue.get(name)))
        elif kind == "hash":
            found.append(str(queue.hgetall(name)))
        elif kind == "list":
            found.append(str(queue.lrange(name, 0, -1)))
        elif kind in ("set", "zset"):
            found.append(str(queue.zrange(name, 0, -1) if kind == "zset" else queue.smembers(name)))
    return "\n".join(found)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """This test cuts its database off, so it runs on PostgreSQL only, behind a proxy it can switch off."""
    from conftest import postgres_schema

    with postgres_schema() as url:
        yield url


@pytest.mark.slow
def test_the_audio_is_served_while_the_database_is_down_and_counted_when_it_is_back(
    postgres_url: str, tmp_path: Path
) -> None:
    from conftest import prepare_database

    database_url = postgres_url
    prepare_database(database_url)
    proxy = SwitchableProxy("127.0.0.1", 5432)
    proxy.up()
    through_proxy = database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    server = Server(tmp_path / "instance", through_proxy, PODCAST_HOST_ANALYTICS_FLUSH_S="1")
    try:
        server.start()
        token, key = _setup_show(server, database_url, tmp_path)
        assert _get(server, key) == 200
        assert _downloads(server, token, wait_for=1) == 1

        proxy.down()
        status, headers, body = server.request("GET", f"/media/{key}", headers={"User-Agent": OVERCAST})
        assert status == 200
        assert len(body) == LONG_SIZE
        assert headers["Content-Type"] == "audio/mpeg"
        status, _, _ = server.request(
            "GET", "/api/v1/shows/daily/analytics", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 503  # the database is really down

        proxy.up()
        assert _downloads(server, token, wait_for=2) == 2
        server.stop()
    finally:
        proxy.down()
        if getattr(server, "process", None) is not None and server.process.poll() is None:
            server.stop()


def test_counts_still_buffered_are_written_when_the_server_stops(
    started: Any, database_url: str, tmp_path: Path
) -> None:
    from podcast_host.models import DownloadTally

    # No batch would be written for an hour: only the stop writes this one.
    server = started(PODCAST_HOST_ANALYTICS_FLUSH_S="3600")
    _, key = _setup_show(server, database_url, tmp_path)
    assert _get(server, key) == 200
    server.stop()
    services = make_services(tmp_path / "after", database_url=database_url)
    try:
        with services.db.session() as session:
            rows = session.query(DownloadTally).filter_by(kind="episode").all()
            assert [row.downloads for row in rows] == [1]
    finally:
        services.close()
