"""Shows that move (docs/feeds.md, "Moves"): a new slug or a new host answers 301 from the old feed URL, the
feed carries itunes:new-feed-url, and the podcast:guid stays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import auth, upload_episode
from lxml import etree

from podcast_host import shows
from podcast_host.cli import main
from podcast_host.services import Services

# The alias rows a rename writes and the slugs they keep taken: on PostgreSQL too (the marked tests). The
# redirects and the feed's tags that follow are the same on either database.

BASE = "http://127.0.0.1:8000"
ELSEWHERE = "https://elsewhere.example/feed.xml"
NS = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
}


def channel(body: bytes) -> Any:
    return etree.fromstring(body).find("channel")


def rename(client: Any, token: str, old: str, new: str) -> None:
    response = client.patch(f"/api/v1/shows/{old}", json={"slug": new}, headers=auth(token))
    assert response.status_code == 200, response.get_json()


# --- a new slug --------------------------------------------------------------------------------------------


def test_a_renamed_show_answers_301_from_its_old_feed_url(
    client: Any, admin_token: str, episode: dict
) -> None:
    rename(client, admin_token, "daily", "the-daily")
    old = client.get("/daily/feed.xml")
    assert old.status_code == 301
    assert old.headers["Location"] == f"{BASE}/the-daily/feed.xml"
    new = client.get("/the-daily/feed.xml")
    assert new.status_code == 200
    assert channel(new.data).findtext("itunes:new-feed-url", namespaces=NS) == f"{BASE}/the-daily/feed.xml"


def test_old_page_urls_of_a_renamed_show_answer_301(client: Any, admin_token: str, episode: dict) -> None:
    rename(client, admin_token, "daily", "the-daily")
    slug = episode["slug"]
    for old, new in [
        ("/daily/", "/the-daily/"),
        (f"/daily/{slug}/", f"/the-daily/{slug}/"),
        (f"/daily/{slug}/embed", f"/the-daily/{slug}/embed"),
    ]:
        response = client.get(old)
        assert response.status_code == 301, old
        assert response.headers["Location"].endswith(new)
        assert client.get(new).status_code == 200


def test_the_podcast_guid_survives_a_rename(client: Any, admin_token: str, episode: dict) -> None:
    before = channel(client.get("/daily/feed.xml").data).findtext("podcast:guid", namespaces=NS)
    rename(client, admin_token, "daily", "the-daily")
    after = channel(client.get("/the-daily/feed.xml").data).findtext("podcast:guid", namespaces=NS)
    assert before and after == before


@pytest.mark.postgres
def test_a_show_renamed_twice_answers_301_from_both_old_urls(
    client: Any, admin_token: str, episode: dict
) -> None:
    rename(client, admin_token, "daily", "the-daily")
    rename(client, admin_token, "the-daily", "daily-news")
    for old in ("/daily/feed.xml", "/the-daily/feed.xml"):
        assert client.get(old).headers["Location"] == f"{BASE}/daily-news/feed.xml"


@pytest.mark.postgres
def test_an_old_slug_cannot_be_taken_by_another_show(client: Any, admin_token: str, episode: dict) -> None:
    rename(client, admin_token, "daily", "the-daily")
    squatter = {"slug": "daily", "title": "Squatter"}
    taken = client.post("/api/v1/shows", json=squatter, headers=auth(admin_token))
    assert taken.status_code == 409
    assert client.get("/daily/feed.xml").status_code == 301


def test_renaming_through_the_domain_moves_the_feed_too(
    services: Services, client: Any, episode: dict
) -> None:
    with services.db.session() as session:
        shows.update_show(
            services, session, shows.find_show(session, "daily"), {"slug": "renamed"}, may_move=True
        )
        session.commit()
    assert client.get("/daily/feed.xml").headers["Location"] == f"{BASE}/renamed/feed.xml"


def test_a_show_without_a_move_has_no_new_feed_url(client: Any, episode: dict) -> None:
    assert channel(client.get("/daily/feed.xml").data).find("itunes:new-feed-url", namespaces=NS) is None


# --- a new host ------------------------------------------------------------------------------------------


def test_a_show_moved_to_another_host_answers_301_there_for_good(
    client: Any, admin_token: str, episode: dict, sample_mp3: Path
) -> None:
    moved = client.patch("/api/v1/shows/daily", json={"moved_to_url": ELSEWHERE}, headers=auth(admin_token))
    assert moved.status_code == 200
    assert moved.get_json()["moved_to_url"] == ELSEWHERE
    for _ in range(2):
        response = client.get("/daily/feed.xml")
        assert response.status_code == 301
        assert response.headers["Location"] == ELSEWHERE
    # Still there after more activity on the show: a move is never undone by the host.
    upload_episode(client, admin_token, "daily", sample_mp3, title="Left behind")
    assert client.head("/daily/feed.xml").headers["Location"] == ELSEWHERE


def test_a_show_moved_elsewhere_after_a_rename_sends_old_urls_to_the_new_host(
    client: Any, admin_token: str, episode: dict
) -> None:
    rename(client, admin_token, "daily", "the-daily")
    client.patch("/api/v1/shows/the-daily", json={"moved_to_url": ELSEWHERE}, headers=auth(admin_token))
    for url in ("/daily/feed.xml", "/the-daily/feed.xml"):
        assert client.get(url).headers["Location"] == ELSEWHERE


def test_the_feed_command_shows_new_feed_url_and_the_same_guid(
    services: Services, client: Any, admin_token: str, episode: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODCAST_HOST_DATA_DIR", str(services.settings.data_dir))
    monkeypatch.setenv("PODCAST_HOST_DATABASE_URL", services.settings.database_url)
    runner = CliRunner()
    before = runner.invoke(main, ["feed", "daily"])
    assert before.exit_code == 0, before.output
    client.patch("/api/v1/shows/daily", json={"moved_to_url": ELSEWHERE}, headers=auth(admin_token))

    after = runner.invoke(main, ["feed", "daily"])
    assert after.exit_code == 0, after.output
    moved = channel(after.stdout_bytes)
    assert moved.findtext("itunes:new-feed-url", namespaces=NS) == ELSEWHERE
    guid = channel(before.stdout_bytes).findtext("podcast:guid", namespaces=NS)
    assert moved.findtext("podcast:guid", namespaces=NS) == guid


def test_a_move_needs_an_http_url(client: Any, admin_token: str, episode: dict) -> None:
    refused = client.patch("/api/v1/shows/daily", json={"moved_to_url": "ftp://x"}, headers=auth(admin_token))
    assert refused.status_code in (400, 422)
    assert client.get("/daily/feed.xml").status_code == 200
