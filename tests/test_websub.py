"""WebSub (docs/feeds.md, "WebSub"): with hubs configured, the feed names them, and every change of the feed
reaches each hub as a publish ping through the job queue, retried while a hub fails. Hubs here are local stub
servers."""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import make_services
from helpers import auth, create_show, upload_episode
from lxml import etree

from podcast_host import accounts, create_app, shows
from podcast_host.jobs import Retry, ThreadQueue
from podcast_host.models import utcnow
from podcast_host.services import Services

FEED_URL = "http://127.0.0.1:8000/daily/feed.xml"
ATOM = "{http://www.w3.org/2005/Atom}link"


class StubHub:
    """A hub on a free loopback port that records publish pings and can fail the first N of them."""

    def __init__(self, fail_first: int = 0, fail_status: int = 503) -> None:
        self.pings: list[dict[str, str]] = []
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.attempts = 0
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                self.send_response(hub.record(dict(urllib.parse.parse_qsl(body))))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                """Quiet: the test reads hub.pings instead."""

        return Handler

    def record(self, form: dict[str, str]) -> int:
        with self._lock:
            self.attempts += 1
            if self.attempts <= self.fail_first:
                return self.fail_status
            self.pings.append(form)
            return 204

    def __enter__(self) -> StubHub:
        # A short poll: shutdown() waits for the loop to look, half a second by default.
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[StubHub]:
    with StubHub() as stub:
        yield stub


@pytest.fixture
def flaky_hub() -> Iterator[StubHub]:
    with StubHub(fail_first=2) as stub:
        yield stub


def services_with(
    tmp_path: Path, database_url: str, *hubs: StubHub, allow_private_urls: bool = True
) -> Services:
    # The stub hubs listen on loopback, which the server reaches only when private addresses are allowed.
    services = make_services(
        tmp_path,
        database_url=database_url,
        websub_hubs=",".join(h.url for h in hubs),
        allow_private_urls=allow_private_urls,
    )
    # The in-process queue's back-off, made short enough for a test.
    assert isinstance(services.queue, ThreadQueue)
    services.queue.retry = Retry(attempts=4, first_delay_s=0.05)
    return services


@pytest.fixture
def hub_services(tmp_path: Path, database_url: str, hub: StubHub) -> Iterator[Services]:
    services = services_with(tmp_path, database_url, hub)
    yield services
    services.close()


@pytest.fixture
def hub_client(hub_services: Services) -> Any:
    return create_app(services=hub_services).test_client()


@pytest.fixture
def token(hub_services: Services) -> str:
    with hub_services.db.session() as session:
        user = accounts.create_user(session, "hubs@example.com", None, admin=True)
        _, secret = accounts.create_token(session, user, "tests")
        session.commit()
    return secret


def publish_pings(hub: StubHub) -> list[dict[str, str]]:
    return [ping for ping in hub.pings if ping == {"hub.mode": "publish", "hub.url": FEED_URL}]


def wait_for(condition: Any, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.05)


# --- the feed names its hubs ------------------------------------------------------------------------------


def test_the_feed_links_every_hub_and_itself(tmp_path: Path, database_url: str) -> None:
    with StubHub() as one, StubHub() as two:
        services = services_with(tmp_path, database_url, one, two)
        client = create_app(services=services).test_client()
        _show_id(services)
        links = etree.fromstring(client.get("/daily/feed.xml").data).findall(f"channel/{ATOM}")
        services.close()
    hubs = sorted(link.get("href") for link in links if link.get("rel") == "hub")
    assert hubs == sorted([one.url, two.url])
    assert [link.get("href") for link in links if link.get("rel") == "self"] == [FEED_URL]


def test_without_hubs_the_feed_has_no_hub_link_and_nothing_is_pinged(
    client: Any, admin_token: str, sample_mp3: Path, hub: StubHub
) -> None:
    create_show(client, admin_token)
    upload_episode(client, admin_token, "daily", sample_mp3)
    links = etree.fromstring(client.get("/daily/feed.xml").data).findall(f"channel/{ATOM}")
    assert [link.get("rel") for link in links] == ["self"]
    assert hub.attempts == 0


# --- every change pings every hub ------------------------------------------------------------------------


@pytest.mark.postgres
def test_publishing_an_episode_pings_the_hub(
    hub_client: Any, token: str, sample_mp3: Path, hub: StubHub
) -> None:
    create_show(hub_client, token)
    assert hub.pings == []
    upload_episode(hub_client, token, "daily", sample_mp3)
    assert len(publish_pings(hub)) == 1


@pytest.mark.postgres
def test_editing_deleting_and_publishing_ping_the_hub_each_time(
    hub_client: Any, token: str, sample_mp3: Path, hub: StubHub
) -> None:
    create_show(hub_client, token)
    draft = upload_episode(hub_client, token, "daily", sample_mp3, draft="true").get_json()
    pinged = len(publish_pings(hub))

    hub_client.post(f"/api/v1/episodes/{draft['id']}/publish", headers=auth(token))
    assert len(publish_pings(hub)) == pinged + 1
    hub_client.patch(f"/api/v1/episodes/{draft['id']}", json={"title": "Edited"}, headers=auth(token))
    assert len(publish_pings(hub)) == pinged + 2
    hub_client.delete(f"/api/v1/episodes/{draft['id']}", headers=auth(token))
    assert len(publish_pings(hub)) == pinged + 3


def test_every_configured_hub_is_pinged(tmp_path: Path, database_url: str) -> None:
    with StubHub() as one, StubHub() as two:
        services = services_with(tmp_path, database_url, one, two)
        services.queue.enqueue("feed_changed", _show_id(services))
        services.close()
    assert len(publish_pings(one)) == len(publish_pings(two)) == 1


def test_a_failing_hub_is_retried_until_it_takes_the_ping(
    tmp_path: Path, database_url: str, hub: StubHub, flaky_hub: StubHub
) -> None:
    services = services_with(tmp_path, database_url, flaky_hub, hub)
    services.queue.enqueue("feed_changed", _show_id(services))
    services.close()
    assert flaky_hub.attempts == 3
    assert len(publish_pings(flaky_hub)) == 1
    # The healthy hub is not pinged again because the other one failed.
    assert hub.attempts == 1


def test_a_hub_down_for_good_is_given_up_after_the_last_attempt(tmp_path: Path, database_url: str) -> None:
    with StubHub(fail_first=100) as down:
        services = services_with(tmp_path, database_url, down)
        services.queue.enqueue("feed_changed", _show_id(services))
        services.close()
    assert down.attempts == 4
    assert down.pings == []


def test_a_hub_that_refuses_the_ping_is_not_hammered(tmp_path: Path, database_url: str) -> None:
    with StubHub(fail_first=100, fail_status=400) as refusing:
        services = services_with(tmp_path, database_url, refusing)
        services.queue.enqueue("feed_changed", _show_id(services))
        services.close()
    assert refusing.attempts == 1


def test_a_hub_on_a_private_address_is_refused_without_allow_private_urls(
    tmp_path: Path, database_url: str, hub: StubHub, caplog: pytest.LogCaptureFixture
) -> None:
    services = services_with(tmp_path, database_url, hub, allow_private_urls=False)
    services.queue.enqueue("feed_changed", _show_id(services))
    services.close()
    # Refused before any connection, and not retried: asking again would get the same answer.
    assert hub.attempts == 0
    assert "127.0.0.1 is a loopback address; refused." in caplog.text


def test_pings_go_through_worker_threads_when_the_queue_runs(
    tmp_path: Path, database_url: str, flaky_hub: StubHub
) -> None:
    services = services_with(tmp_path, database_url, flaky_hub)
    services.queue.start()
    services.queue.enqueue("feed_changed", _show_id(services))
    assert services.queue.join(timeout=10)
    services.close()
    assert flaky_hub.attempts == 3 and len(publish_pings(flaky_hub)) == 1


@pytest.mark.postgres
def test_a_scheduled_episode_going_live_pings_the_hub(
    hub_services: Services, hub_client: Any, token: str, sample_mp3: Path, hub: StubHub
) -> None:
    create_show(hub_client, token)
    created = upload_episode(
        hub_client, token, "daily", sample_mp3, publish_at="2100-01-01T00:00:00Z"
    ).get_json()
    soon = utcnow() + timedelta(seconds=1)
    hub_client.patch(
        f"/api/v1/episodes/{created['id']}", json={"publish_at": soon.isoformat()}, headers=auth(token)
    )
    assert created["guid"] not in hub_client.get("/daily/feed.xml").get_data(as_text=True)
    pinged = len(publish_pings(hub))

    wait_for(lambda: utcnow() > soon + timedelta(milliseconds=50))
    assert created["guid"] in hub_client.get("/daily/feed.xml").get_data(as_text=True)
    assert len(publish_pings(hub)) == pinged + 1


def _show_id(services: Services) -> int:
    with services.db.session() as session:
        show = shows.create_show(session, services.settings.public_url, {"slug": "daily", "title": "Daily"})
        session.commit()
        return show.id
