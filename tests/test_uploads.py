"""Refused uploads leave nothing behind: no episode, no stored object, the feed unchanged.

See docs/architecture.md, "Faults".
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from helpers import auth, create_show, upload_episode
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from podcast_host.services import Services


def _stored_files(services: Services) -> list[Path]:
    root = services.settings.data_dir / "media"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _nothing_created(client: FlaskClient, token: str, services: Services) -> None:
    listing = client.get("/api/v1/shows/daily/episodes", headers=auth(token)).get_json()
    assert listing["episodes"] == []
    assert _stored_files(services) == []


def test_text_renamed_mp3_is_415(
    client: FlaskClient, admin_token: str, services: Services, tmp_path: Path
) -> None:
    create_show(client, admin_token)
    fake = tmp_path / "notes.mp3"
    fake.write_text("This is not audio at all, just text with an mp3 name.\n" * 20)
    response = upload_episode(client, admin_token, "daily", fake)
    assert response.status_code == 415
    error = response.get_json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "audio" in error["message"].lower()
    _nothing_created(client, admin_token, services)


def test_zero_byte_upload_is_refused(
    client: FlaskClient, admin_token: str, services: Services, tmp_path: Path
) -> None:
    create_show(client, admin_token)
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    response = upload_episode(client, admin_token, "daily", empty)
    assert response.status_code == 422
    assert "empty" in response.get_json()["error"]["message"]
    _nothing_created(client, admin_token, services)


def test_path_traversal_filename_stays_inside_the_store(
    client: FlaskClient,
    admin_token: str,
    services: Services,
    sample_mp3: Path,
) -> None:
    create_show(client, admin_token)
    response = upload_episode(client, admin_token, "daily", sample_mp3, filename="../../x.mp3")
    assert response.status_code == 202
    media_root = (services.settings.data_dir / "media").resolve()
    stored = _stored_files(services)
    assert stored, "the upload should be stored"
    assert all(media_root in p.resolve().parents for p in stored)
    assert not (services.settings.data_dir.parent / "x.mp3").exists()
    assert not any(Path(os.sep, "x.mp3") == p for p in stored)


def test_upload_without_token_is_401(client: FlaskClient, admin_token: str, sample_mp3: Path) -> None:
    create_show(client, admin_token)
    with sample_mp3.open("rb") as fh:
        response = client.post("/api/v1/shows/daily/episodes", data={"title": "x", "audio": (fh, "a.mp3")})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_upload_without_audio_field_is_422(client: FlaskClient, admin_token: str) -> None:
    create_show(client, admin_token)
    response = client.post("/api/v1/shows/daily/episodes", data={"title": "x"}, headers=auth(admin_token))
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "audio"


def test_duplicate_show_slug_is_409(client: FlaskClient, admin_token: str) -> None:
    create_show(client, admin_token)
    again = client.post("/api/v1/shows", json={"slug": "daily", "title": "Other"}, headers=auth(admin_token))
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "conflict"


def test_unknown_route_is_json_404(client: FlaskClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("size_mb", [2])
def test_oversize_upload_is_413_with_json(tmp_path: Path, size_mb: int) -> None:
    from conftest import make_services

    from podcast_host import accounts, create_app

    services = make_services(tmp_path, max_upload_mb=1)
    with services.db.session() as session:
        user = accounts.create_user(session, "a@example.com", None, admin=True)
        _, token = accounts.create_token(session, user)
        session.commit()
    client = create_app(services=services).test_client()
    create_show(client, token)
    # An in-memory body: the test client would otherwise spool it to a temp file nobody reads.
    boundary, body = encode_multipart(
        {"title": "x", "audio": FileStorage(io.BytesIO(b"\0" * (size_mb << 20)), "big.mp3")}
    )
    response = client.post(
        "/api/v1/shows/daily/episodes",
        input_stream=io.BytesIO(body),
        headers=auth(token),
        content_type=f"multipart/form-data; boundary={boundary}",
        content_length=len(body),
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"
    services.close()


@pytest.mark.parametrize("slug", ["static", "media", "api", "admin", "healthz"])
def test_slugs_the_app_answers_itself_are_reserved(client: FlaskClient, admin_token: str, slug: str) -> None:
    response = client.post("/api/v1/shows", json={"slug": slug, "title": "Clash"}, headers=auth(admin_token))
    assert response.status_code == 409
    assert "reserved" in response.get_json()["error"]["message"]


def test_method_not_allowed_says_what_is(client: FlaskClient) -> None:
    response = client.delete("/healthz")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


def test_an_explicit_slug_already_taken_is_409(
    client: FlaskClient, admin_token: str, sample_mp3: Path
) -> None:
    create_show(client, admin_token)
    assert upload_episode(client, admin_token, "daily", sample_mp3, slug="one").status_code == 202
    again = upload_episode(client, admin_token, "daily", sample_mp3, slug="one")
    assert again.status_code == 409
    assert (
        len(client.get("/api/v1/shows/daily/episodes", headers=auth(admin_token)).get_json()["episodes"]) == 1
    )


@pytest.mark.parametrize("filename", ["...", "___", "-.mp3"])
def test_a_filename_with_nothing_usable_still_uploads(
    client: FlaskClient,
    admin_token: str,
    sample_mp3: Path,
    filename: str,
) -> None:
    create_show(client, admin_token)
    assert upload_episode(client, admin_token, "daily", sample_mp3, filename=filename).status_code == 202


def test_an_oversized_side_file_is_refused_before_it_is_read(
    client: FlaskClient,
    admin_token: str,
    services: Services,
    sample_mp3: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from podcast_host import limits

    monkeypatch.setitem(limits.SIDE_FILE_LIMITS, "chapters", 100)
    create_show(client, admin_token)
    with sample_mp3.open("rb") as fh:
        response = client.post(
            "/api/v1/shows/daily/episodes",
            data={"title": "x", "audio": (fh, "a.mp3"), "chapters": (io.BytesIO(b" " * 200), "c.json")},
            headers=auth(admin_token),
        )
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "chapters"
    _nothing_created(client, admin_token, services)


def test_a_spoofed_content_type_does_not_decide(
    client: FlaskClient,
    admin_token: str,
    services: Services,
    sample_mp3: Path,
    tmp_path: Path,
) -> None:
    """The bytes are probed; what the client claims about them is ignored either way."""
    create_show(client, admin_token)
    fake = tmp_path / "fake.mp3"
    fake.write_text("<html>not audio</html>")
    with fake.open("rb") as fh:
        claimed_audio = client.post(
            "/api/v1/shows/daily/episodes",
            headers=auth(admin_token),
            data={"title": "x", "audio": (fh, "fake.mp3", "audio/mpeg")},
        )
    assert claimed_audio.status_code == 415
    _nothing_created(client, admin_token, services)
    with sample_mp3.open("rb") as fh:
        claimed_image = client.post(
            "/api/v1/shows/daily/episodes",
            headers=auth(admin_token),
            data={"title": "real", "audio": (fh, "real.png", "image/png")},
        )
    assert claimed_image.status_code == 202


@pytest.mark.parametrize(
    "publish_at",
    ["yesterday", "2026-13-01T08:00:00+00:00", "2026-12-01T08:00:00", "0001-01-01T00:00:00+00:00"],
)
def test_invalid_dates_are_refused_with_nothing_created(
    client: FlaskClient,
    admin_token: str,
    services: Services,
    sample_mp3: Path,
    publish_at: str,
) -> None:
    create_show(client, admin_token)
    response = upload_episode(client, admin_token, "daily", sample_mp3, publish_at=publish_at)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "publish_at"
    _nothing_created(client, admin_token, services)


@pytest.mark.parametrize(("field", "size"), [("title", 10_000), ("description", 200_000)])
def test_huge_metadata_is_refused_with_nothing_created(
    client: FlaskClient,
    admin_token: str,
    services: Services,
    sample_mp3: Path,
    field: str,
    size: int,
) -> None:
    create_show(client, admin_token)
    response = upload_episode(client, admin_token, "daily", sample_mp3, **{field: "ا" * size})
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field
    _nothing_created(client, admin_token, services)


def test_an_upload_of_too_many_files_is_413_saying_why(client: FlaskClient, admin_token: str) -> None:
    create_show(client, admin_token)
    files = {f"file{n}": (io.BytesIO(b"x"), f"f{n}.bin") for n in range(6)}
    response = client.post(
        "/api/v1/shows/daily/episodes",
        headers=auth(admin_token),
        data={"title": "Many files", **files},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert "at most" in response.get_json()["error"]["message"]
