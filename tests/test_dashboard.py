"""The producers' dashboard (docs/dashboard.md): shows, settings, uploads, publication, reports, by role."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from audio_fixtures import write_jpeg, write_text
from browser import add_user, dashboard_app, grant, sign_in
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from podcast_host import episodes, shows
from podcast_host.services import Services
from podcast_host.web.dashboard import waveform_path

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}


@pytest.fixture
def app(services: Services) -> Flask:
    return dashboard_app(services)


@pytest.fixture
def owner(client: FlaskClient, services: Services) -> str:
    """A signed-in producer who owns the show `daily`; returns the session's CSRF token."""
    add_user(services, "owner@example.com")
    token = sign_in(client, "owner@example.com")
    response = _create_show(client, token, slug="daily", title="The Daily Test")
    assert response.status_code == 303, response.get_data(as_text=True)
    return token


@pytest.fixture
def sqlite_client(sqlite_services: Services) -> FlaskClient:
    """A client signed in as the owner of `daily`, on SQLite: for tests that process audio."""
    client = dashboard_app(sqlite_services).test_client()
    add_user(sqlite_services, "owner@example.com")
    client.csrf = sign_in(client, "owner@example.com")
    assert _create_show(client, client.csrf, slug="daily", title="The Daily Test").status_code == 303
    return client


def _create_show(client: FlaskClient, token: str, **fields: Any) -> TestResponse:
    body = {
        "language": "en",
        "category": "News/Politics",
        "author": "Tester",
        "email": "t@example.com",
        **fields,
        "csrf_token": token,
    }
    return client.post("/admin/shows", data=body)


def _upload(
    client: FlaskClient, token: str, audio: Path, headers: dict[str, str] | None = None, **fields: Any
) -> TestResponse:
    data: dict[str, Any] = {"title": "Episode one", "csrf_token": token, **fields}
    with audio.open("rb") as fh:
        data["audio"] = (fh, audio.name)
        return client.post(
            "/admin/shows/daily/episodes",
            data=data,
            headers=headers or JSON,
            content_type="multipart/form-data",
        )


def _page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def _error_next_to(html: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="error-{field}"\s*>([^<]*)</p>', html)
    assert match, f"no visible error next to {field}"
    return match.group(1)


# --- who sees what --------------------------------------------------------------------------------------


def test_the_dashboard_lists_the_users_shows_with_their_role(
    app: Flask, client: FlaskClient, services: Services, owner: str
) -> None:
    _create_show(client, owner, slug="other", title="Another Show")
    add_user(services, "guest@example.com")
    grant(services, "daily", "guest@example.com", "viewer")
    guest = app.test_client()
    sign_in(guest, "guest@example.com")
    html = _page(guest, "/admin/")
    assert "The Daily Test" in html
    assert "viewer" in html
    assert "Another Show" not in html


def test_an_admin_sees_every_show(app: Flask, client: FlaskClient, services: Services, owner: str) -> None:
    add_user(services, "admin@example.com", admin=True)
    admin = app.test_client()
    sign_in(admin, "admin@example.com")
    html = _page(admin, "/admin/")
    assert "The Daily Test" in html
    assert "admin" in html


def test_a_user_without_a_role_gets_403_on_the_show_and_404_on_its_episodes(
    app: Flask, client: FlaskClient, services: Services, owner: str, sample_mp3: Path
) -> None:
    episode_id = _api_episode(services, sample_mp3)
    add_user(services, "stranger@example.com")
    stranger = app.test_client()
    token = sign_in(stranger, "stranger@example.com")
    for path in ("/admin/shows/daily/", "/admin/shows/daily/settings", "/admin/shows/daily/episodes/new"):
        assert stranger.get(path, headers=HTML).status_code == 403, path
    response = stranger.post("/admin/shows/daily/settings", data={"title": "Mine", "csrf_token": token})
    assert response.status_code == 403
    # An episode id tells a stranger nothing, not even which show it belongs to.
    for path in (f"/admin/episodes/{episode_id}/", f"/admin/episodes/{episode_id}/status"):
        response = stranger.get(path, headers=HTML)
        assert response.status_code == 404, path
        assert "daily" not in response.get_data(as_text=True), path
    response = stranger.post(f"/admin/episodes/{episode_id}/delete", data={"csrf_token": token})
    assert response.status_code == 404


def test_a_viewer_reads_drafts_and_reports_but_may_not_edit(
    app: Flask, client: FlaskClient, services: Services, owner: str, sample_mp3: Path
) -> None:
    episode_id = _api_episode(services, sample_mp3, draft=True)
    add_user(services, "viewer@example.com")
    grant(services, "daily", "viewer@example.com", "viewer")
    viewer = app.test_client()
    token = sign_in(viewer, "viewer@example.com")
    assert "Episode one" in _page(viewer, "/admin/shows/daily/")
    html = _page(viewer, f"/admin/episodes/{episode_id}/")
    assert "Loudness report" in html
    assert "Publish now" not in html
    assert "<fieldset disabled>" in html
    assert viewer.get("/admin/shows/daily/episodes/new").status_code == 403
    for action in ("", "publish", "unpublish", "delete"):
        response = viewer.post(f"/admin/episodes/{episode_id}/{action}", data={"csrf_token": token})
        assert response.status_code == 403, action
    response = viewer.post("/admin/shows/daily/settings", data={"title": "x", "csrf_token": token})
    assert response.status_code == 403


def test_script_requests_without_a_session_get_401_json(client: FlaskClient) -> None:
    response = client.get("/admin/episodes/1/status", headers=JSON)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient, owner: str) -> None:
    response = client.post("/admin/shows", data={"slug": "sneaky", "title": "Sneaky"}, headers=HTML)
    assert response.status_code == 400
    response = client.post("/admin/shows", data={"slug": "sneaky", "title": "Sneaky", "csrf_token": "forged"})
    assert response.status_code == 400
    assert "sneaky" not in _page(client, "/admin/")


def test_dashboard_pages_are_not_cached(client: FlaskClient, owner: str) -> None:
    assert client.get("/admin/").headers["Cache-Control"] == "no-store"


# --- shows ----------------------------------------------------------------------------------------------


def test_creating_a_show_makes_the_user_its_owner(client: FlaskClient, owner: str) -> None:
    html = _page(client, "/admin/shows/daily/")
    assert "The Daily Test" in html
    assert ">owner<" in html


def test_a_bad_slug_is_shown_next_to_its_field(client: FlaskClient, owner: str) -> None:
    response = _create_show(client, owner, slug="Bad Slug!", title="Kept title")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "is not valid" in _error_next_to(html, "slug")
    assert 'value="Kept title"' in html  # what the producer typed survives the refusal


def test_a_taken_slug_is_a_conflict(client: FlaskClient, owner: str) -> None:
    response = _create_show(client, owner, slug="daily", title="Again")
    assert response.status_code == 409
    assert "already taken" in _error_next_to(response.get_data(as_text=True), "slug")


def test_the_settings_form_updates_the_show(client: FlaskClient, owner: str) -> None:
    body = {
        "title": "برنامج الصباح",
        "description": "Notes",
        "language": "ar",
        "author": "Me",
        "email": "me@example.com",
        "category": "Arts/Books",
        "copyright": "",
        "show_type": "serial",
        "funding_url": "",
        "funding_text": "",
        "explicit": "true",
        "csrf_token": owner,
    }
    response = client.post("/admin/shows/daily/settings", data=body)
    assert response.status_code == 303
    html = _page(client, "/admin/shows/daily/settings")
    assert 'value="برنامج الصباح"' in html
    assert '<option value="Arts/Books" selected>' in html
    assert re.search(r'id="f-explicit"[^>]*checked', html)
    assert client.get("/daily/").get_data(as_text=True).count('dir="rtl"') >= 1


def test_an_editors_settings_form_leaves_the_ownership_fields_alone(
    app: Flask, client: FlaskClient, services: Services, owner: str
) -> None:
    base = {"title": "The Daily Test", "language": "en", "category": "News/Politics", "csrf_token": owner}
    saved = client.post("/admin/shows/daily/settings", data={**base, "email": "o@example.com", "locked": "y"})
    assert saved.status_code == 303
    add_user(services, "editor@example.com")
    grant(services, "daily", "editor@example.com", "editor")
    editor = app.test_client()
    token = sign_in(editor, "editor@example.com")
    editor_form = _page(editor, "/admin/shows/daily/settings")
    assert 'name="locked"' not in editor_form and 'name="email"' not in editor_form
    # The form of an editor has no `locked` box: its absence must not read as "unchecked".
    body = {**base, "csrf_token": token, "title": "Edited", "email": "ed@evil.example"}
    assert editor.post("/admin/shows/daily/settings", data=body).status_code == 303
    show = editor.get("/daily/feed.xml").get_data(as_text=True)
    assert "Edited" in show
    assert 'owner="o@example.com"' in show and "ed@evil.example" not in show
    with services.db.session() as session:
        found = shows.find_show(session, "daily")
        assert (found.title, found.email, found.locked) == ("Edited", "o@example.com", True)
    owner_form = _page(client, "/admin/shows/daily/settings")
    assert 'name="locked"' in owner_form and 'name="email"' in owner_form


def test_settings_errors_are_shown_next_to_the_field(client: FlaskClient, owner: str) -> None:
    body = {"title": "Still here", "language": "english", "category": "News/Politics", "csrf_token": owner}
    response = client.post("/admin/shows/daily/settings", data=body)
    assert response.status_code == 422
    assert "ISO 639" in _error_next_to(response.get_data(as_text=True), "language")
    assert "The Daily Test" in _page(client, "/admin/shows/daily/")  # nothing was saved


def test_a_cover_is_uploaded_and_a_bad_one_refused(client: FlaskClient, owner: str, tmp_path: Path) -> None:
    good = write_jpeg(tmp_path / "cover.jpg", 1400)
    with good.open("rb") as fh:
        response = client.post(
            "/admin/shows/daily/cover",
            content_type="multipart/form-data",
            data={"image": (fh, "cover.jpg"), "csrf_token": owner},
        )
    assert response.status_code == 303
    assert "/media/" in _page(client, "/admin/shows/daily/settings")
    small = write_jpeg(tmp_path / "small.jpg", 200)
    with small.open("rb") as fh:
        response = client.post(
            "/admin/shows/daily/cover",
            content_type="multipart/form-data",
            data={"image": (fh, "small.jpg"), "csrf_token": owner},
        )
    assert response.status_code == 422
    assert _error_next_to(response.get_data(as_text=True), "image")


# --- episodes -------------------------------------------------------------------------------------------


def test_an_upload_is_processed_and_reported(
    sqlite_client: FlaskClient, tmp_path: Path, sample_mp3: Path
) -> None:
    chapters = tmp_path / "chapters.json"
    chapters.write_text(
        json.dumps({"chapters": [{"startTime": 0, "title": "Start"}, {"startTime": 2, "title": "Middle"}]})
    )
    data: dict[str, Any] = {
        "title": "Episode one",
        "description": "Some **notes**",
        "season": "1",
        "number": "3",
        "type": "full",
        "when": "ready",
        "csrf_token": sqlite_client.csrf,
    }
    with sample_mp3.open("rb") as audio, chapters.open("rb") as chapter_file:
        data.update(audio=(audio, "sample.mp3"), chapters=(chapter_file, "chapters.json"))
        response = sqlite_client.post(
            "/admin/shows/daily/episodes", data=data, headers=JSON, content_type="multipart/form-data"
        )
    assert response.status_code == 202, response.get_json()
    state = response.get_json()
    # In tests the embedded queue runs the job inline, so the status is already final.
    assert state["status"] == "published" and state["final"] is True
    assert state["page_url"].endswith("/daily/episode-one/")
    assert sqlite_client.get(state["status_url"]).get_json()["status"] == "published"

    html = _page(sqlite_client, state["edit_url"])
    assert "Loudness report" in html
    assert "Published integrated loudness" in html
    assert re.search(r'<path d="M0\.5,[\d.]+ ', html), "the waveform is drawn"
    assert "<strong>notes</strong>" in html  # the notes preview starts rendered
    page = sqlite_client.get("/daily/episode-one/").get_data(as_text=True)
    assert 'data-start="2.0"' in page


def test_a_plain_form_upload_redirects_to_the_episode(sqlite_client: FlaskClient, sample_mp3: Path) -> None:
    response = _upload(sqlite_client, sqlite_client.csrf, sample_mp3, headers=HTML, when="draft")
    assert response.status_code == 303
    html = _page(sqlite_client, response.headers["Location"])
    assert "status-draft" in html


def test_an_upload_that_is_not_audio_is_refused_next_to_its_field(
    sqlite_client: FlaskClient, tmp_path: Path
) -> None:
    fake = write_text(tmp_path / "notes.mp3")
    response = _upload(sqlite_client, sqlite_client.csrf, fake)
    assert response.status_code == 415
    assert response.get_json()["error"]["field"] == "audio"
    response = _upload(sqlite_client, sqlite_client.csrf, fake, headers=HTML)
    assert response.status_code == 415
    assert _error_next_to(response.get_data(as_text=True), "audio")
    assert "No episodes yet" in _page(sqlite_client, "/admin/shows/daily/")


def test_an_upload_without_audio_or_title_names_the_field(
    sqlite_client: FlaskClient, sample_mp3: Path
) -> None:
    no_audio = {"title": "x", "csrf_token": sqlite_client.csrf}
    response = sqlite_client.post(
        "/admin/shows/daily/episodes", headers=JSON, data=no_audio, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "audio"
    response = _upload(sqlite_client, sqlite_client.csrf, sample_mp3, title="")
    assert response.get_json()["error"]["field"] == "title"


def test_a_scheduled_upload_needs_a_date(sqlite_client: FlaskClient, sample_mp3: Path) -> None:
    response = _upload(sqlite_client, sqlite_client.csrf, sample_mp3, when="schedule")
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "publish_at"
    response = _upload(
        sqlite_client, sqlite_client.csrf, sample_mp3, when="schedule", publish_at="2999-01-01T08:00:00.000Z"
    )
    assert response.get_json()["status"] == "scheduled"


def test_publish_schedule_unpublish_and_delete(sqlite_client: FlaskClient, sample_mp3: Path) -> None:
    token = sqlite_client.csrf
    state = _upload(sqlite_client, token, sample_mp3, when="draft").get_json()
    assert state["status"] == "draft"
    base = f"/admin/episodes/{state['id']}"

    assert sqlite_client.post(f"{base}/publish", data={"csrf_token": token}).status_code == 303
    assert _status(sqlite_client, base) == "published"
    assert sqlite_client.get("/daily/episode-one/").status_code == 200

    assert sqlite_client.post(f"{base}/unpublish", data={"csrf_token": token}).status_code == 303
    assert _status(sqlite_client, base) == "draft"
    assert sqlite_client.get("/daily/episode-one/", headers=HTML).status_code == 404

    # Without the script's exact instant, the local field is read as UTC.
    local = {"publish_at_local": "2999-05-01T08:30", "csrf_token": token}
    response = sqlite_client.post(f"{base}/schedule", data=local)
    assert response.status_code == 303
    assert _status(sqlite_client, base) == "scheduled"
    response = sqlite_client.post(f"{base}/schedule", data={"publish_at": "tomorrow", "csrf_token": token})
    assert response.status_code == 422
    assert "ISO 8601" in _error_next_to(response.get_data(as_text=True), "publish_at")

    assert "Yes, delete it" in _page(sqlite_client, f"{base}/delete")
    response = sqlite_client.post(f"{base}/delete", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/shows/daily/"
    assert sqlite_client.get(f"{base}/", headers=HTML).status_code == 404


def test_editing_the_details_keeps_the_old_address(sqlite_client: FlaskClient, sample_mp3: Path) -> None:
    token = sqlite_client.csrf
    state = _upload(sqlite_client, token, sample_mp3).get_json()
    base = f"/admin/episodes/{state['id']}/"
    body = {
        "title": "A better title",
        "description": "New *notes*",
        "season": "2",
        "number": "5",
        "type": "bonus",
        "slug": "better",
        "csrf_token": token,
    }
    assert sqlite_client.post(base, data=body).status_code == 303
    html = _page(sqlite_client, base)
    assert 'value="A better title"' in html
    assert '<option value="bonus" selected>' in html
    assert sqlite_client.get("/daily/episode-one/").status_code == 301
    response = sqlite_client.post(base, data={**body, "title": ""})
    assert response.status_code == 422
    assert "needs a title" in _error_next_to(response.get_data(as_text=True), "title")


def test_the_notes_preview_is_sanitized_html(client: FlaskClient, owner: str) -> None:
    response = client.post(
        "/admin/preview",
        data={"markdown": "**Hi** <script>alert(1)</script>"},
        headers={"X-CSRF-Token": owner, **JSON},
    )
    assert response.status_code == 200
    html = response.get_json()["html"]
    assert "<strong>Hi</strong>" in html
    assert "script" not in html
    assert client.post("/admin/preview", data={"markdown": "x"}, headers=JSON).status_code == 400


def test_the_waveform_is_one_closed_path_around_the_peaks() -> None:
    path = waveform_path([0.0, 1.0, 0.5])
    assert path == "M0.5,49.5 1.5,0.5 2.5,25.0 L2.5,75.0 1.5,99.5 0.5,50.5 Z"
    assert waveform_path(None) == ""
    assert waveform_path([2.0, -1.0]).startswith("M0.5,0.5 1.5,49.5")  # out-of-range peaks are clamped


# --- helpers --------------------------------------------------------------------------------------------


def _status(client: FlaskClient, base: str) -> str:
    return client.get(f"{base}/status").get_json()["status"]


def _api_episode(services: Services, audio: Path, **fields: Any) -> int:
    """An episode of `daily` made through the domain, as the API or the CLI would."""
    from podcast_host import shows

    with services.db.session() as session:
        show = shows.find_show(session, "daily")
        episode = episodes.create_episode(
            services, session, show, episodes.Upload(audio, audio.name), {"title": "Episode one", **fields}
        )
        return episode.id
