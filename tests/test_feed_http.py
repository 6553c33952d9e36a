"""The feed over HTTP (docs/feeds.md, "HTTP"): content type, strong ETag, Last-Modified, 304, gzip, max-age,
HEAD, the per-process cache, and scheduled episodes going live with no cron and no restart."""

from __future__ import annotations

import gzip
import threading
import time
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from conftest import make_services
from helpers import auth, create_show, upload_episode
from lxml import etree
from sqlalchemy import update

from podcast_host import create_app
from podcast_host.feeds.syndication import RECHECK_S
from podcast_host.models import Episode, Show, utcnow
from podcast_host.services import Services

FEED = "/daily/feed.xml"


@pytest.fixture(autouse=True)
def _ffmpeg_work_done_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests on both databases upload the same episodes. As for the `episode` fixture, each processing run
    is whole but its ffmpeg work is done once per worker for each input, settings and tags, and its real
    output reused (the pipeline has its own tests)."""
    from conftest import _remembering_process

    from podcast_host import audio

    monkeypatch.setattr(audio, "process", _remembering_process(audio.process))


def backdate_everything(services: Services, hours: int = 1) -> datetime:
    """Move every stored stamp an hour back, so that a change made now is seconds apart from them."""
    past = utcnow() - timedelta(hours=hours)
    with services.db.session() as session:
        session.execute(update(Episode).values(updated_at=past, publish_at=past))
        session.execute(update(Show).values(updated_at=past))
        session.commit()
    return past


def guids(body: bytes) -> list[str]:
    return [entry.id for entry in feedparser.parse(body).entries]


# --- headers ---------------------------------------------------------------------------------------------


def test_feed_is_rss_with_a_strong_etag_last_modified_and_max_age(client: Any, episode: dict) -> None:
    response = client.get(FEED)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    assert response.headers["ETag"].startswith('"'), "a strong ETag has no W/ prefix"
    assert response.last_modified is not None
    assert response.cache_control.max_age == 300
    assert response.cache_control.public
    assert "Accept-Encoding" in response.vary
    assert guids(response.data) == [episode["guid"]]


def test_max_age_follows_the_setting(tmp_path: Path, database_url: str) -> None:
    services = make_services(tmp_path, database_url=database_url, feed_max_age_s=60)
    with services.db.session() as session:
        session.add(Show(slug="quiet", title="Quiet", podcast_guid="0" * 36))
        session.commit()
    response = create_app(services=services).test_client().get("/quiet/feed.xml")
    assert response.cache_control.max_age == 60
    services.close()


def test_if_none_match_gets_304_without_a_body(client: Any, episode: dict) -> None:
    first = client.get(FEED)
    again = client.get(FEED, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.cache_control.max_age == 300


def test_if_modified_since_gets_304_and_an_older_date_gets_the_feed(client: Any, episode: dict) -> None:
    first = client.get(FEED)
    assert client.get(FEED, headers={"If-Modified-Since": first.headers["Last-Modified"]}).status_code == 304
    older = first.last_modified - timedelta(seconds=1)
    stale = client.get(FEED, headers={"If-Modified-Since": older.strftime("%a, %d %b %Y %H:%M:%S GMT")})
    assert stale.status_code == 200
    assert stale.data == first.data


def test_a_matching_etag_wins_over_an_old_date_and_a_stale_etag_loses(client: Any, episode: dict) -> None:
    first = client.get(FEED)
    etag, date = first.headers["ETag"], first.headers["Last-Modified"]
    long_ago = "Mon, 01 Jan 2001 00:00:00 GMT"
    current = client.get(FEED, headers={"If-None-Match": etag, "If-Modified-Since": long_ago})
    assert current.status_code == 304
    stale = client.get(FEED, headers={"If-None-Match": '"0123"', "If-Modified-Since": date})
    assert stale.status_code == 200


def test_gzip_when_asked_with_its_own_strong_etag(client: Any, episode: dict) -> None:
    plain = client.get(FEED)
    zipped = client.get(FEED, headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == plain.data
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    assert not zipped.headers["ETag"].startswith("W/")
    assert "Accept-Encoding" in zipped.vary
    again = client.get(FEED, headers={"Accept-Encoding": "gzip", "If-None-Match": zipped.headers["ETag"]})
    assert again.status_code == 304


def test_gzip_refused_with_q_zero_gets_the_plain_feed(client: Any, episode: dict) -> None:
    response = client.get(FEED, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in response.headers
    assert response.data.startswith(b"<?xml")


def test_head_answers_the_headers_of_get_without_a_body(client: Any, episode: dict) -> None:
    full = client.get(FEED)
    head = client.head(FEED)
    assert head.status_code == 200
    assert head.data == b""
    for name in ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Cache-Control", "Vary"):
        assert head.headers[name] == full.headers[name], name
    assert client.head(FEED, headers={"If-None-Match": full.headers["ETag"]}).status_code == 304


def test_last_modified_is_the_feeds_last_build_date(client: Any, episode: dict) -> None:
    response = client.get(FEED)
    channel = etree.fromstring(response.data).find("channel")
    assert channel is not None
    last_build = parsedate_to_datetime(channel.findtext("lastBuildDate") or "")
    assert response.last_modified == last_build.replace(microsecond=0)


def test_unknown_show_has_no_feed(client: Any) -> None:
    assert client.get("/nobody/feed.xml").status_code == 404


# --- Last-Modified only moves forward --------------------------------------------------------------------


@pytest.mark.postgres
def test_unpublishing_an_episode_moves_last_modified_forward(
    client: Any, services: Services, admin_token: str, episode: dict
) -> None:
    backdate_everything(services)
    before = client.get(FEED)
    unpublished = client.patch(
        f"/api/v1/episodes/{episode['id']}", json={"draft": True}, headers=auth(admin_token)
    )
    assert unpublished.status_code == 200
    after = client.get(FEED, headers={"If-Modified-Since": before.headers["Last-Modified"]})
    assert after.status_code == 200
    assert guids(after.data) == []
    assert after.last_modified > before.last_modified
    assert after.headers["ETag"] != before.headers["ETag"]


@pytest.mark.postgres
def test_deleting_an_episode_moves_last_modified_forward(
    client: Any, services: Services, admin_token: str, episode: dict, sample_mp3: Path
) -> None:
    upload_episode(client, admin_token, "daily", sample_mp3, title="Episode two")
    backdate_everything(services)
    before = client.get(FEED)
    assert len(guids(before.data)) == 2
    assert client.delete(f"/api/v1/episodes/{episode['id']}", headers=auth(admin_token)).status_code == 204
    after = client.get(FEED, headers={"If-Modified-Since": before.headers["Last-Modified"]})
    assert after.status_code == 200
    assert episode["guid"] not in guids(after.data)
    assert after.last_modified > before.last_modified


@pytest.mark.postgres
def test_editing_a_title_changes_etag_and_last_modified(
    client: Any, services: Services, admin_token: str, episode: dict
) -> None:
    backdate_everything(services)
    before = client.get(FEED)
    client.patch(
        f"/api/v1/episodes/{episode['id']}", json={"title": "A better title"}, headers=auth(admin_token)
    )
    after = client.get(FEED, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert b"A better title" in after.data
    assert after.last_modified > before.last_modified


# --- scheduling --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.postgres
def test_scheduled_episode_appears_at_its_time_with_no_cron_and_no_restart(
    client: Any, admin_token: str, sample_mp3: Path
) -> None:
    create_show(client, admin_token)
    created = upload_episode(
        client,
        admin_token,
        "daily",
        sample_mp3,
        title="Tomorrow's news",
        publish_at="2100-01-01T08:00:00+00:00",
    ).get_json()
    page = f"/daily/{created['slug']}/"
    soon = utcnow() + timedelta(seconds=2)
    client.patch(
        f"/api/v1/episodes/{created['id']}", json={"publish_at": soon.isoformat()}, headers=auth(admin_token)
    )

    before = client.get(FEED)
    assert guids(before.data) == []
    assert "Tomorrow" not in client.get("/daily/").get_data(as_text=True)
    assert client.get(page).status_code == 404

    after = _poll_until_listed(client, created["guid"], timeout_s=15)
    assert utcnow() >= soon
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.last_modified > before.last_modified
    assert "Tomorrow" in client.get("/daily/").get_data(as_text=True)
    assert client.get(page).status_code == 200
    conditional = client.get(FEED, headers={"If-None-Match": before.headers["ETag"]})
    assert conditional.status_code == 200


def _poll_until_listed(client: Any, guid: str, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = client.get(FEED)
        if guid in guids(response.data):
            return response
        time.sleep(0.2)
    pytest.fail(f"the scheduled episode was not listed within {timeout_s} s")


# --- the cache: threads and processes ---------------------------------------------------------------------


@pytest.mark.postgres
def test_cache_is_safe_with_many_threads_while_the_feed_changes(
    app: Any, admin_token: str, episode: dict
) -> None:
    """Every thread gets a whole feed, and one ETag always stands for one body."""
    bodies: dict[str, set[bytes]] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def read() -> None:
        client = app.test_client()
        try:
            for _ in range(15):
                response = client.get(FEED)
                assert response.status_code == 200
                with lock:
                    bodies.setdefault(response.headers["ETag"], set()).add(response.data)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread below
            errors.append(exc)

    def edit() -> None:
        client = app.test_client()
        for n in range(5):
            client.patch(
                f"/api/v1/episodes/{episode['id']}", json={"title": f"Title {n}"}, headers=auth(admin_token)
            )

    threads = [threading.Thread(target=read) for _ in range(6)] + [threading.Thread(target=edit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors[0]
    assert all(len(same) == 1 for same in bodies.values())
    final = app.test_client().get(FEED)
    assert b"Title 4" in final.data


@pytest.mark.postgres
def test_a_change_written_in_plain_sql_is_served_within_the_recheck_time(
    client: Any, services: Services, episode: dict
) -> None:
    """ORM writes stamp the show and show at once; a write around the ORM is caught by the full check."""
    client.get(FEED)
    with services.db.session() as session:
        session.execute(update(Episode).where(Episode.id == episode["id"]).values(title="Typed in psql"))
        session.commit()
    deadline = time.monotonic() + RECHECK_S + 2
    while b"Typed in psql" not in client.get(FEED).data:
        assert time.monotonic() < deadline, "the plain-SQL change never reached the feed"
        time.sleep(0.05)


@pytest.mark.postgres
def test_two_web_processes_agree_and_neither_serves_a_stale_feed(
    tmp_path: Path, services: Services, client: Any, admin_token: str, episode: dict
) -> None:
    """Each process has its own cache; the validators still match, and a change made through one is seen
    by the other at once."""
    other = make_services(tmp_path, database_url=services.settings.database_url)
    other_client = create_app(services=other).test_client()
    try:
        one, two = client.get(FEED), other_client.get(FEED)
        for validator in ("ETag", "Last-Modified"):
            assert one.headers[validator] == two.headers[validator]
        assert other_client.get(FEED, headers={"If-None-Match": one.headers["ETag"]}).status_code == 304

        client.patch(
            f"/api/v1/episodes/{episode['id']}", json={"title": "Renamed"}, headers=auth(admin_token)
        )
        seen_by_other = other_client.get(FEED, headers={"If-None-Match": one.headers["ETag"]})
        assert seen_by_other.status_code == 200
        assert b"Renamed" in seen_by_other.data
        assert seen_by_other.headers["ETag"] == client.get(FEED).headers["ETag"]
    finally:
        other.close()


STAMPS_WITHOUT_FEEDS = """
import sys
from datetime import timedelta

from podcast_host.config import load_settings
from podcast_host.models import Episode, Show, utcnow
from podcast_host.services import build_services

settings = load_settings(
    environ={}, overrides={"data_dir": sys.argv[1], "testing": True, "secret_key": "test-secret"}
)
settings.data_dir.mkdir(parents=True, exist_ok=True)
services = build_services(settings)
services.db.upgrade()
hour_ago = utcnow() - timedelta(hours=1)
with services.db.session() as session:
    show = Show(slug="worker", title="Worker", podcast_guid="0" * 36)
    episode = Episode(show=show, slug="one", title="One", audio_key="shows/1/episodes/1/audio/one.mp3")
    session.add_all([show, episode])
    session.commit()
    show.updated_at = hour_ago
    session.commit()
    episode.title = "Changed by a worker"
    session.commit()
    session.refresh(show)
    moved = show.updated_at > hour_ago + timedelta(minutes=30)
services.close()
print(moved, "podcast_host.feeds" in sys.modules)
"""


def test_a_process_that_never_builds_a_feed_still_stamps_the_show(tmp_path: Path) -> None:
    """A `podcast-host worker` imports no feed module; its changes must still reach every feed at once."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", STAMPS_WITHOUT_FEEDS, str(tmp_path / "instance")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"], "stamped, without podcast_host.feeds ever imported"
