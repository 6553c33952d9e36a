"""The producers' JSON API (docs/api.md): every route's happy path, the episode JSON, the error shape."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from helpers import accept_invitation, auth, create_show, upload_episode, user_token
from PIL import Image

from podcast_host.models import Episode, Show
from podcast_host.services import Services

BASE = "http://127.0.0.1:8000"


def png(width: int, height: int) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(buffer, "PNG")
    buffer.seek(0)
    return buffer


def published(client: FlaskClient, token: str, sample_mp3: Path, **fields: Any) -> dict[str, Any]:
    """Upload an episode to "daily" and return its JSON once processed (inline in tests)."""
    response = upload_episode(client, token, "daily", sample_mp3, **fields)
    assert response.status_code == 202, response.get_json()
    return client.get(f"/api/v1/episodes/{response.get_json()['id']}", headers=auth(token)).get_json()


# --- shows ----------------------------------------------------------------------------------------------


def test_a_show_is_created_listed_read_and_edited(client: FlaskClient, admin_token: str) -> None:
    created = client.post(
        "/api/v1/shows",
        headers=auth(admin_token),
        json={
            "slug": "daily",
            "title": "The Daily Test",
            "description": "About *tests*.",
            "language": "ar",
            "author": "Tester",
            "email": "T@Example.com",
            "category": "News/Politics",
            "explicit": True,
        },
    )
    assert created.status_code == 201
    assert created.headers["Location"].endswith("/api/v1/shows/daily")
    show = created.get_json()
    assert show["slug"] == "daily" and show["title"] == "The Daily Test"
    assert (show["language"], show["email"], show["category"], show["explicit"]) == (
        "ar",
        "t@example.com",
        "News/Politics",
        True,
    )
    assert show["feed_url"] == f"{BASE}/daily/feed.xml" and show["image"] is None

    listing = client.get("/api/v1/shows", headers=auth(admin_token)).get_json()
    assert [s["slug"] for s in listing["shows"]] == ["daily"]
    assert client.get("/api/v1/shows/daily", headers=auth(admin_token)).get_json() == show

    patched = client.patch(
        "/api/v1/shows/daily",
        headers=auth(admin_token),
        json={"title": "Renamed", "explicit": False, "category": "Technology"},
    )
    assert patched.status_code == 200
    assert (patched.get_json()["title"], patched.get_json()["explicit"]) == ("Renamed", False)
    assert client.get("/api/v1/shows/daily", headers=auth(admin_token)).get_json()["category"] == "Technology"


def test_a_new_slug_keeps_the_old_feed_url_answering(client: FlaskClient, admin_token: str) -> None:
    create_show(client, admin_token)
    renamed = client.patch("/api/v1/shows/daily", headers=auth(admin_token), json={"slug": "morning"})
    assert renamed.status_code == 200
    assert renamed.get_json()["feed_url"] == f"{BASE}/morning/feed.xml"
    assert client.get("/daily/feed.xml").status_code == 301
    assert client.get("/api/v1/shows/daily", headers=auth(admin_token)).status_code == 404


def test_the_cover_goes_up_as_multipart_image(client: FlaskClient, admin_token: str) -> None:
    create_show(client, admin_token)
    response = client.put(
        "/api/v1/shows/daily/image",
        headers=auth(admin_token),
        data={"image": (png(1400, 1400), "cover.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_json()
    image_url = response.get_json()["image"]
    assert image_url.startswith(f"{BASE}/media/") and image_url.endswith(".png")
    with client.get(image_url.removeprefix(BASE)) as served:
        assert served.status_code == 200
        assert Image.open(io.BytesIO(served.data)).size == (1400, 1400)


@pytest.mark.postgres
def test_a_show_is_deleted_with_its_episodes_and_media(
    client: FlaskClient, admin_token: str, services: Services, sample_mp3: Path
) -> None:
    create_show(client, admin_token)
    client.put(
        "/api/v1/shows/daily/image",
        headers=auth(admin_token),
        data={"image": (png(1400, 1400), "cover.png")},
        content_type="multipart/form-data",
    )
    episode = published(client, admin_token, sample_mp3)
    with services.db.session() as session:
        stored = session.get(Episode, episode["id"])
        assert stored is not None
        keys = [stored.original_key, stored.audio_key, stored.show.image_key]
    assert all(keys) and all(services.store.exists(key) for key in keys if key)

    assert client.delete("/api/v1/shows/daily", headers=auth(admin_token)).status_code == 204
    assert client.get("/api/v1/shows/daily", headers=auth(admin_token)).status_code == 404
    assert client.get(f"/api/v1/episodes/{episode['id']}", headers=auth(admin_token)).status_code == 404
    assert client.get("/daily/feed.xml").status_code == 404
    assert not any(services.store.exists(key) for key in keys if key)
    with services.db.session() as session:
        assert session.query(Show).count() == 0 and session.query(Episode).count() == 0
    create_show(client, admin_token)  # the slug is free again


# --- episodes -------------------------------------------------------------------------------------------


def test_an_upload_answers_202_with_the_episode(
    client: FlaskClient, admin_token: str, sample_mp3: Path
) -> None:
    create_show(client, admin_token)
    response = upload_episode(
        client,
        admin_token,
        "daily",
        sample_mp3,
        title="First",
        season="2",
        number="7",
        type="bonus",
        description="Notes *here*.",
    )
    assert response.status_code == 202, response.get_json()
    episode = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/episodes/{episode['id']}")
    assert (episode["show"], episode["title"], episode["season"], episode["number"], episode["type"]) == (
        "daily",
        "First",
        2,
        7,
        "bonus",
    )
    assert episode["status"] in ("processing", "published")


def test_the_episode_json_has_the_fields_of_the_spec(
    client: FlaskClient, admin_token: str, sample_mp3: Path
) -> None:
    create_show(client, admin_token)
    episode = published(client, admin_token, sample_mp3)
    assert {"id", "show", "title", "status", "error", "duration_s", "enclosure", "loudness"} <= episode.keys()
    assert (episode["show"], episode["status"], episode["error"]) == ("daily", "published", None)
    assert episode["duration_s"] == pytest.approx(4.0, abs=0.2)
    enclosure = episode["enclosure"]
    assert enclosure["url"].startswith(f"{BASE}/media/") and enclosure["type"] == "audio/mpeg"
    assert isinstance(enclosure["length"], int) and enclosure["length"] > 0
    loudness = episode["loudness"]
    assert {"input_lufs", "output_lufs", "output_true_peak_dbtp"} <= loudness.keys()
    assert loudness["output_lufs"] == pytest.approx(-16, abs=1)
    assert loudness["output_true_peak_dbtp"] <= -1.0
    assert isinstance(loudness["input_lufs"], float)


@pytest.mark.postgres
def test_episodes_are_listed_newest_first_in_every_status(
    client: FlaskClient, admin_token: str, sample_mp3: Path
) -> None:
    create_show(client, admin_token)
    first = published(client, admin_token, sample_mp3, title="Old one")
    draft = published(client, admin_token, sample_mp3, title="A draft", draft="true")
    scheduled = published(
        client, admin_token, sample_mp3, title="Later", publish_at="2099-01-01T08:00:00+01:00"
    )
    listing = client.get("/api/v1/shows/daily/episodes", headers=auth(admin_token)).get_json()["episodes"]
    assert [(e["id"], e["status"]) for e in listing] == [
        (scheduled["id"], "scheduled"),
        (draft["id"], "draft"),
        (first["id"], "published"),
    ]


@pytest.mark.postgres
def test_an_episode_is_edited_published_reprocessed_and_deleted(
    client: FlaskClient, admin_token: str, sample_mp3: Path
) -> None:
    create_show(client, admin_token)
    episode = published(client, admin_token, sample_mp3, draft="true")
    url = f"/api/v1/episodes/{episode['id']}"
    assert episode["status"] == "draft"

    patched = client.patch(url, headers=auth(admin_token), json={"title": "Better title", "season": 3})
    assert patched.status_code == 200
    assert (patched.get_json()["title"], patched.get_json()["season"]) == ("Better title", 3)

    later = {"publish_at": "2099-05-01T10:00Z"}
    scheduled = client.post(f"{url}/publish", headers=auth(admin_token), json=later)
    assert scheduled.status_code == 200 and scheduled.get_json()["status"] == "scheduled"
    earlier = {"publish_at": "2020-05-01T10:00+02:00"}
    now = client.post(f"{url}/publish", headers=auth(admin_token), json=earlier)
    assert now.get_json()["status"] == "published"
    assert client.get("/daily/feed.xml").data.count(b"<item>") == 1

    reprocessed = client.post(f"{url}/reprocess", headers=auth(admin_token))
    assert reprocessed.status_code == 202
    after = client.get(url, headers=auth(admin_token)).get_json()
    assert after["status"] == "published" and after["enclosure"]["length"] > 0

    assert client.delete(url, headers=auth(admin_token)).status_code == 204
    assert client.get(url, headers=auth(admin_token)).status_code == 404
    assert client.get("/daily/feed.xml").data.count(b"<item>") == 0


def test_publish_without_a_body_publishes_now(
    client: FlaskClient, admin_token: str, sample_mp3: Path
) -> None:
    create_show(client, admin_token)
    episode = published(client, admin_token, sample_mp3, draft="true")
    response = client.post(f"/api/v1/episodes/{episode['id']}/publish", headers=auth(admin_token))
    assert response.status_code == 200 and response.get_json()["status"] == "published"


# --- tokens and members ---------------------------------------------------------------------------------


def test_tokens_are_created_listed_and_revoked(client: FlaskClient, admin_token: str) -> None:
    created = client.post("/api/v1/tokens", headers=auth(admin_token), json={"name": "laptop"})
    assert created.status_code == 201
    token = created.get_json()
    assert token["name"] == "laptop" and token["token"].startswith("ph_")

    listing = client.get("/api/v1/tokens", headers=auth(token["token"])).get_json()["tokens"]
    assert [t["name"] for t in listing] == ["tests", "laptop"]
    assert all("token" not in t for t in listing)
    assert listing[1]["last_used_at"] is not None

    assert client.delete(f"/api/v1/tokens/{token['id']}", headers=auth(admin_token)).status_code == 204
    assert client.get("/api/v1/tokens", headers=auth(token["token"])).status_code == 401
    assert client.post("/api/v1/tokens", headers=auth(admin_token)).status_code == 201  # the body is optional


def test_members_are_added_changed_listed_and_removed(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    create_show(client, admin_token)
    user_token(services, "bob@example.com")
    members = "/api/v1/shows/daily/members"

    headers = auth(admin_token)
    added = client.post(members, headers=headers, json={"email": "Bob@example.com", "role": "editor"})
    assert added.status_code == 202
    invited = added.get_json()
    assert invited.pop("accept_url").startswith(f"{services.settings.public_url}/admin/invitations/")
    assert invited == {"email": "bob@example.com", "role": "editor", "status": "invited"}
    # Nobody has the role before accepting; posting again replaces the invitation, whose link changes.
    assert [m["email"] for m in client.get(members, headers=headers).get_json()["members"]] == [
        "admin@example.com"
    ]
    again = client.post(members, headers=headers, json={"email": "bob@example.com", "role": "viewer"})
    accept_invitation(services, again.get_json()["accept_url"], "bob@example.com")
    listing = client.get(members, headers=auth(admin_token)).get_json()["members"]
    assert listing == [
        {"email": "admin@example.com", "role": "owner"},
        {"email": "bob@example.com", "role": "viewer"},
    ]

    assert client.delete(f"{members}/bob@example.com", headers=auth(admin_token)).status_code == 204
    assert [m["email"] for m in client.get(members, headers=auth(admin_token)).get_json()["members"]] == [
        "admin@example.com"
    ]


def test_the_last_owner_stays(client: FlaskClient, admin_token: str) -> None:
    create_show(client, admin_token)
    members = "/api/v1/shows/daily/members"
    removed = client.delete(f"{members}/admin@example.com", headers=auth(admin_token))
    assert removed.status_code == 409 and removed.get_json()["error"]["code"] == "conflict"
    demotion = {"email": "admin@example.com", "role": "viewer"}
    demoted = client.post(members, headers=auth(admin_token), json=demotion)
    assert demoted.status_code == 409


# --- errors ---------------------------------------------------------------------------------------------


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.data
    assert response.content_type == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and {"code", "message"} <= body["error"].keys()
    return body["error"]


def test_bad_fields_are_422_naming_the_field(client: FlaskClient, admin_token: str) -> None:
    create_show(client, admin_token)
    cases = [
        ({"title": 12}, "title"),
        ({"explicit": "maybe"}, "explicit"),
        ({"colour": "blue"}, "colour"),
        ({"category": "News/Gossip"}, "category"),
        ({"language": "english"}, "language"),
    ]
    for body, field in cases:
        error = error_of(client.patch("/api/v1/shows/daily", headers=auth(admin_token), json=body), 422)
        assert error["field"] == field, error
    assert (
        "Did you mean"
        in error_of(
            client.patch(
                "/api/v1/shows/daily", headers=auth(admin_token), json={"category": "news/politics"}
            ),
            422,
        )["message"]
    )
    error_of(client.post("/api/v1/shows", headers=auth(admin_token), json=["not", "an", "object"]), 422)
    error_of(client.post("/api/v1/shows", headers=auth(admin_token), json={"title": "No slug"}), 422)


def test_malformed_and_non_json_bodies(client: FlaskClient, admin_token: str) -> None:
    headers = auth(admin_token)
    assert (
        error_of(
            client.post("/api/v1/shows", headers=headers, data="{nope", content_type="application/json"), 400
        )["code"]
        == "bad_request"
    )
    assert error_of(client.post("/api/v1/shows", headers=headers, data="slug=x"), 415)["code"] == (
        "unsupported_media_type"
    )


def test_conflicts_and_missing_things(client: FlaskClient, admin_token: str) -> None:
    create_show(client, admin_token)
    headers = auth(admin_token)
    assert (
        error_of(
            client.post("/api/v1/shows", headers=headers, json={"slug": "daily", "title": "Again"}), 409
        )["code"]
        == "conflict"
    )
    assert error_of(client.get("/api/v1/shows/nothing", headers=headers), 404)["code"] == "not_found"
    error_of(client.get("/api/v1/episodes/999", headers=headers), 404)
    error_of(client.delete("/api/v1/tokens/999", headers=headers), 404)
    # Adding an address without an account is not an error: it answers like any invitation
    # (test_account_security.py).
    error_of(client.delete("/api/v1/shows/daily/members/nobody@example.com", headers=headers), 404)
    assert error_of(client.put("/api/v1/shows", headers=headers), 405)["code"] == "method_not_allowed"


def test_a_small_cover_is_refused(client: FlaskClient, admin_token: str) -> None:
    create_show(client, admin_token)
    response = client.put(
        "/api/v1/shows/daily/image",
        headers=auth(admin_token),
        data={"image": (png(300, 300), "small.png")},
        content_type="multipart/form-data",
    )
    assert error_of(response, 422)["field"] == "image"
    response = client.put("/api/v1/shows/daily/image", headers=auth(admin_token), json={"image": "x"})
    error_of(response, 415)


def test_a_show_chooses_its_own_loudness_and_bitrates(client: FlaskClient, admin_token: str) -> None:
    create_show(client, admin_token)
    settings = {"target_lufs_mono": -18.0, "bitrate_stereo_kbps": 192}
    patched = client.patch("/api/v1/shows/daily", json=settings, headers=auth(admin_token)).get_json()
    assert (patched["target_lufs_mono"], patched["bitrate_stereo_kbps"]) == (-18.0, 192)
    assert patched["target_lufs_stereo"] is None  # the pipeline's -16 LUFS
    for bad in ({"target_lufs_mono": -5}, {"bitrate_stereo_kbps": 100}):
        refused = client.patch("/api/v1/shows/daily", json=bad, headers=auth(admin_token))
        assert refused.status_code == 422, bad
    reset = client.patch("/api/v1/shows/daily", json={"target_lufs_mono": None}, headers=auth(admin_token))
    assert reset.get_json()["target_lufs_mono"] is None
