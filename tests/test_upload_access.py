"""Who may upload is settled before an upload is read: a signed-in user without the right role on the show
or episode gets 403 or 404 before any file of the form reaches the disk (docs/dashboard.md, "CSRF")."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from audio_fixtures import write_jpeg
from browser import add_user, grant, sign_in
from flask import Flask
from flask.testing import FlaskClient
from helpers import create_show, stored_episode
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from podcast_host import episodes, shows
from podcast_host.services import Services
from podcast_host.web import UPLOAD_ENDPOINTS, StreamingRequest
from podcast_host.web.dashboard import UPLOAD_PERMISSIONS

# Big enough that spooling it would show, well under the upload limit.
UPLOAD_BYTES = 6 * 1024 * 1024
VTT = b"WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nGood morning.\n"


@pytest.fixture
def episode_id(services: Services, client: FlaskClient, admin_token: str, sample_mp3: Path) -> int:
    """One episode of the show `daily`, stored through the domain, its processing not queued."""
    create_show(client, admin_token)
    with services.db.session() as session:
        show_id = shows.find_show(session, "daily").id
    return stored_episode(services, show_id, sample_mp3)


@pytest.fixture
def spooled(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str | None]]:
    """The names of the files requests spool to disk, in order."""
    names: list[str | None] = []
    spool = StreamingRequest._get_file_stream

    def noted(
        request: StreamingRequest,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        names.append(filename)
        return spool(request, total_content_length, content_type, filename, content_length)

    monkeypatch.setattr(StreamingRequest, "_get_file_stream", noted)
    yield names


def _signed_in(app: Flask, email: str, role: str | None = None) -> tuple[FlaskClient, str]:
    """A new client of `app`, signed in as a new user `email` with `role` on `daily`; its CSRF token."""
    services: Services = app.extensions["podcast_host"]
    add_user(services, email)
    if role is not None:
        grant(services, "daily", email, role)
    client = app.test_client()
    return client, sign_in(client, email)


def _post_upload(client: FlaskClient, path: str, token: str, field: str) -> tuple[TestResponse, int]:
    """POST a form with a large file under `field` and the session's token after it, as browsers order a
    form's fields; returns the answer and how much of the body the app read."""
    fields: dict[str, Any] = {
        field: FileStorage(io.BytesIO(b"\0" * UPLOAD_BYTES), "big.bin"),
        "title": "Taken over",
        "csrf_token": token,
    }
    boundary, payload = encode_multipart(fields)
    assert len(payload) > UPLOAD_BYTES
    body = io.BytesIO(payload)
    response = client.post(
        path,
        input_stream=body,
        content_length=len(payload),
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={"Accept": "text/html"},
    )
    return response, body.tell()


def _upload_routes(episode_id: int) -> list[tuple[str, str]]:
    """Every upload route of the dashboard, with the form field it takes a file in."""
    return [
        ("/admin/shows/daily/episodes", "audio"),
        ("/admin/shows/daily/cover", "image"),
        (f"/admin/episodes/{episode_id}/audio", "audio"),
        (f"/admin/episodes/{episode_id}/files/image", "image"),
        (f"/admin/episodes/{episode_id}/files/chapters", "chapters"),
        (f"/admin/episodes/{episode_id}/files/transcript", "transcript"),
    ]


def _stored_keys(services: Services, episode_id: int) -> tuple[object, ...]:
    """The stored files the episode and the show name, and how many episodes the show has."""
    with services.db.session() as session:
        episode = episodes.get_episode(session, episode_id)
        show = shows.find_show(session, "daily")
        count = len(episodes.list_episodes(session, show))
        return (episode.original_key, episode.image_key, episode.transcript_key, show.image_key, count)


# --- refused before the body is read --------------------------------------------------------------------


@pytest.mark.postgres
def test_a_user_without_a_role_is_refused_every_upload_with_nothing_spooled(
    app: Flask, services: Services, episode_id: int, spooled: list[str | None]
) -> None:
    stranger, token = _signed_in(app, "stranger@example.com")
    before = _stored_keys(services, episode_id)
    for path, field in _upload_routes(episode_id):
        response, read = _post_upload(stranger, path, token, field)
        # A show's address is public; an episode of a show the user has no role on is not said to exist.
        expected = 403 if path.startswith("/admin/shows/") else 404
        assert response.status_code == expected, (path, response.status_code)
        assert spooled == [], f"{path} wrote the upload to disk before refusing it"
        assert read < UPLOAD_BYTES, f"{path} read the upload before refusing it"
    assert _stored_keys(services, episode_id) == before


def test_a_viewer_may_not_upload_either(
    app: Flask, services: Services, episode_id: int, spooled: list[str | None]
) -> None:
    viewer, token = _signed_in(app, "viewer@example.com", role="viewer")
    for path, field in _upload_routes(episode_id):
        response, read = _post_upload(viewer, path, token, field)
        assert response.status_code == 403, (path, response.status_code)
        assert spooled == [] and read < UPLOAD_BYTES, path


def test_an_episode_or_show_that_does_not_exist_is_404_with_nothing_spooled(
    app: Flask, services: Services, episode_id: int, spooled: list[str | None]
) -> None:
    stranger, token = _signed_in(app, "stranger@example.com")
    for path, field in [
        ("/admin/shows/nowhere/episodes", "audio"),
        ("/admin/shows/nowhere/cover", "image"),
        ("/admin/episodes/999999/audio", "audio"),
        ("/admin/episodes/999999/files/transcript", "transcript"),
    ]:
        response, _ = _post_upload(stranger, path, token, field)
        assert response.status_code == 404, (path, response.status_code)
    assert spooled == []


def test_every_dashboard_upload_route_has_its_permission_checked_first() -> None:
    dashboard_uploads = {name for name in UPLOAD_ENDPOINTS if name.startswith("dashboard.")}
    assert dashboard_uploads == set(UPLOAD_PERMISSIONS)
    assert dashboard_uploads == {
        "dashboard.create_episode",
        "dashboard.upload_cover",
        "dashboard.replace_audio",
        "dashboard.replace_side_file",
    }


# --- who may, still can ----------------------------------------------------------------------------------


def test_an_editor_with_a_wrong_token_is_still_refused(
    app: Flask, services: Services, episode_id: int, spooled: list[str | None]
) -> None:
    editor, _ = _signed_in(app, "editor@example.com", role="editor")
    before = _stored_keys(services, episode_id)
    path = f"/admin/episodes/{episode_id}/files/transcript"
    response, _ = _post_upload(editor, path, "forged", "transcript")
    assert response.status_code == 400
    assert _stored_keys(services, episode_id) == before


def test_an_editor_uploads_with_the_token_in_the_form_or_in_the_header(
    app: Flask, services: Services, episode_id: int, tmp_path: Path, spooled: list[str | None]
) -> None:
    editor, token = _signed_in(app, "editor@example.com", role="editor")
    before = _stored_keys(services, episode_id)

    # A plain form post: the token is a field of the form.
    response = editor.post(
        f"/admin/episodes/{episode_id}/files/transcript",
        data={"csrf_token": token, "transcript": (io.BytesIO(VTT), "t.vtt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert spooled == ["t.vtt"]
    transcript_key = _stored_keys(services, episode_id)[2]
    assert transcript_key != before[2]

    # The dashboard's script: the token is the X-CSRF-Token header.
    with write_jpeg(tmp_path / "cover.jpg").open("rb") as image:
        response = editor.post(
            "/admin/shows/daily/cover",
            data={"image": (image, "cover.jpg")},
            content_type="multipart/form-data",
            headers={"X-CSRF-Token": token},
        )
    assert response.status_code == 303, response.get_data(as_text=True)
    assert spooled == ["t.vtt", "cover.jpg"]
    assert _stored_keys(services, episode_id)[3] not in (None, before[3])
