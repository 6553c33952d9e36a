"""/media/<key>: listeners get what is published; originals and unpublished files stay with the team."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import PASSWORD, sign_in
from flask.testing import FlaskClient
from helpers import auth, create_show, upload_episode

from podcast_host import accounts
from podcast_host.services import Services


def _path(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000")


@pytest.fixture
def draft(client: FlaskClient, admin_token: str, services: Services, sample_mp3: Path) -> dict:
    create_show(client, admin_token)
    episode = upload_episode(
        client, admin_token, "daily", sample_mp3, title="Not yet", draft="true"
    ).get_json()
    with services.db.session() as session:
        from podcast_host.episodes import get_episode

        stored = get_episode(session, episode["id"])
        return {"audio": f"/media/{stored.audio_key}", "original": f"/media/{stored.original_key}"}


def test_a_drafts_files_are_not_public(client: FlaskClient, draft: dict) -> None:
    for path in draft.values():
        with client.get(path) as response:
            assert response.status_code == 404, path


def test_the_shows_team_can_fetch_a_drafts_files(
    client: FlaskClient, draft: dict, services: Services
) -> None:
    with services.db.session() as session:
        accounts.create_user(session, "team@example.com", PASSWORD, admin=True)
        session.commit()
    sign_in(client, "team@example.com")
    for path in draft.values():
        with client.get(path) as response:
            assert response.status_code == 200, path


def test_originals_of_published_episodes_stay_private(
    client: FlaskClient,
    admin_token: str,
    services: Services,
    sample_mp3: Path,
) -> None:
    create_show(client, admin_token)
    created = upload_episode(client, admin_token, "daily", sample_mp3).get_json()
    episode = client.get(f"/api/v1/episodes/{created['id']}", headers=auth(admin_token)).get_json()
    with services.db.session() as session:
        from podcast_host.episodes import get_episode

        original = get_episode(session, episode["id"]).original_key
    with client.get(_path(episode["enclosure"]["url"])) as published:
        assert published.status_code == 200
    with client.get(f"/media/{original}") as response:
        assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/media/shows/../../etc/passwd",
        "/media/shows//1",
        "/media/shows/%2e%2e/x",
        "/media/shows/1/x%5cy",
        "/media/anything",
        "/media/shows/1/episodes/abc/audio/x.mp3",
    ],
)
def test_malformed_media_keys_are_404(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
