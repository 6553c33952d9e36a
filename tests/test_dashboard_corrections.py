"""Corrections in the dashboard (docs/dashboard.md, "Corrections"): an episode's audio, cover, chapters and
transcript replaced or removed, the episode reprocessed, a show renamed or deleted, the upload form's default;
and each refused, changing nothing, when it should be."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from audio_fixtures import make_tone, write_jpeg, write_text
from browser import add_user, grant, sign_in
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from podcast_host import episodes
from podcast_host.models import Episode, utcnow
from podcast_host.services import Services

ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
PODCAST = "{https://podcastindex.org/namespace/1.0}"
VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nGood morning.\n"
SRT = "1\n00:00:00,000 --> 00:00:02,000\nGood evening.\n"


@pytest.fixture
def admin(client: FlaskClient, episode: dict[str, Any]) -> str:
    """The admin who uploaded `episode` to the show `daily`, signed in; the session's CSRF token."""
    return sign_in(client, "admin@example.com")


def _send(client: FlaskClient, token: str | None, path: str, **files: Path) -> TestResponse:
    data: dict[str, Any] = {} if token is None else {"csrf_token": token}
    handles = {name: file.open("rb") for name, file in files.items()}
    try:
        data.update({name: (fh, files[name].name) for name, fh in handles.items()})
        return client.post(path, data=data, content_type="multipart/form-data")
    finally:
        for fh in handles.values():
            fh.close()


def _item(client: FlaskClient) -> ET.Element:
    """The feed's one item."""
    response = client.get("/daily/feed.xml")
    assert response.status_code == 200
    items = ET.fromstring(response.data).findall("./channel/item")
    assert len(items) == 1
    return items[0]


def _enclosure(item: ET.Element) -> str:
    enclosure = item.find("enclosure")
    assert enclosure is not None
    return enclosure.get("url", "")


def _fetch(client: FlaskClient, url: str) -> tuple[int, bytes]:
    with client.get(urlsplit(url).path) as response:
        return response.status_code, response.data


def _stored(services: Services, episode_id: int) -> Episode:
    with services.db.session() as session:
        return episodes.get_episode(session, episode_id)


def _page(client: FlaskClient, episode_id: int) -> str:
    response = client.get(f"/admin/episodes/{episode_id}/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _error_next_to(html: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="error-{field}"\s*>([^<]+)</p>', html)
    assert match, f"no visible error next to {field}"
    return match.group(1)


# --- an episode's files ---------------------------------------------------------------------------------


def test_new_audio_keeps_the_guid_moves_the_enclosure_and_the_old_mp3_stays_downloadable(
    client: FlaskClient, admin: str, episode: dict[str, Any], services: Services, tmp_path: Path
) -> None:
    before = _item(client)
    old_url = _enclosure(before)
    retake = make_tone(tmp_path / "retake.mp3", seconds=3, frequency=660)

    response = _send(client, admin, f"/admin/episodes/{episode['id']}/audio", audio=retake)

    assert response.status_code == 303
    after = _item(client)
    assert after.findtext("guid") == before.findtext("guid")
    new_url = _enclosure(after)
    assert new_url != old_url
    assert _fetch(client, new_url)[0] == 200
    assert _fetch(client, old_url)[0] == 200, "apps that read the feed before still download it"
    stored = _stored(services, episode["id"])
    assert (stored.status, stored.original_filename, (stored.probe or {}).get("format")) == (
        "published",
        "retake.mp3",
        "mp3",
    )
    assert "retake.mp3" in _page(client, episode["id"])


def test_a_text_file_as_audio_is_refused_next_to_the_field_and_changes_nothing(
    client: FlaskClient, admin: str, episode: dict[str, Any], services: Services, tmp_path: Path
) -> None:
    before = _stored(services, episode["id"])
    fake = write_text(tmp_path / "notes.mp3")

    response = _send(client, admin, f"/admin/episodes/{episode['id']}/audio", audio=fake)

    assert response.status_code == 415
    assert _error_next_to(response.get_data(as_text=True), "audio")
    after = _stored(services, episode["id"])
    assert (after.original_key, after.audio_key, after.processing_state) == (
        before.original_key,
        before.audio_key,
        before.processing_state,
    )
    empty = client.post(f"/admin/episodes/{episode['id']}/audio", data={"csrf_token": admin})
    assert empty.status_code == 422
    assert _error_next_to(empty.get_data(as_text=True), "audio")


def test_a_new_cover_is_in_the_feed_and_on_the_page_and_can_be_removed(
    client: FlaskClient, admin: str, episode: dict[str, Any], services: Services, tmp_path: Path
) -> None:
    url = f"/admin/episodes/{episode['id']}/files/image"
    assert _item(client).find(f"{ITUNES}image") is None

    refused = _send(client, admin, url, image=write_text(tmp_path / "cover.jpg"))
    assert refused.status_code == 422
    assert _error_next_to(refused.get_data(as_text=True), "image")
    assert _stored(services, episode["id"]).image_key is None

    assert _send(client, admin, url, image=write_jpeg(tmp_path / "cover.jpg", 1400)).status_code == 303
    key = _stored(services, episode["id"]).image_key or ""
    image = _item(client).find(f"{ITUNES}image")
    assert image is not None and image.get("href", "").endswith(key)
    assert _fetch(client, image.get("href", ""))[0] == 200
    assert f"/media/{key}" in _page(client, episode["id"])

    assert client.post(f"{url}/remove", data={"csrf_token": admin}).status_code == 303
    assert _item(client).find(f"{ITUNES}image") is None
    assert _stored(services, episode["id"]).image_key is None
    assert not services.store.exists(key)


def test_new_chapters_reach_the_public_file_and_the_mp3_and_can_be_removed(
    client: FlaskClient, admin: str, episode: dict[str, Any], services: Services, tmp_path: Path
) -> None:
    url = f"/admin/episodes/{episode['id']}/files/chapters"
    first_audio = _stored(services, episode["id"]).audio_key
    chapters = tmp_path / "chapters.json"
    chapters.write_text(
        json.dumps(
            {"chapters": [{"startTime": 0, "title": "Headlines"}, {"startTime": 2, "title": "Weather"}]}
        )
    )

    assert _send(client, admin, url, chapters=chapters).status_code == 303

    link = _item(client).find(f"{PODCAST}chapters")
    assert link is not None
    status, body = _fetch(client, link.get("url", ""))
    assert status == 200
    assert [c["title"] for c in json.loads(body)["chapters"]] == ["Headlines", "Weather"]
    stored = _stored(services, episode["id"])
    assert stored.audio_key != first_audio, "processed again: the MP3 carries the chapters as CHAP frames"
    assert "2 chapters." in _page(client, episode["id"])

    chapters.write_text('{"chapters": "not a list"}')
    refused = _send(client, admin, url, chapters=chapters)
    assert refused.status_code == 422
    assert _error_next_to(refused.get_data(as_text=True), "chapters")
    assert _stored(services, episode["id"]).chapters == stored.chapters

    assert client.post(f"{url}/remove", data={"csrf_token": admin}).status_code == 303
    assert _item(client).find(f"{PODCAST}chapters") is None
    assert _fetch(client, link.get("url", ""))[0] == 404


def test_a_new_transcript_replaces_the_old_in_the_feed_and_can_be_removed(
    client: FlaskClient, admin: str, episode: dict[str, Any], services: Services, tmp_path: Path
) -> None:
    url = f"/admin/episodes/{episode['id']}/files/transcript"
    (tmp_path / "morning.vtt").write_text(VTT)
    (tmp_path / "evening.srt").write_text(SRT)

    assert _send(client, admin, url, transcript=tmp_path / "morning.vtt").status_code == 303
    vtt_key = _stored(services, episode["id"]).transcript_key or ""
    assert _send(client, admin, url, transcript=tmp_path / "evening.srt").status_code == 303

    transcripts = _item(client).findall(f"{PODCAST}transcript")
    assert [t.get("type") for t in transcripts] == ["application/x-subrip"]
    status, body = _fetch(client, transcripts[0].get("url", ""))
    assert (status, body.decode()) == (200, SRT)
    assert not services.store.exists(vtt_key), "the replaced transcript is deleted"
    assert "SRT." in _page(client, episode["id"])

    refused = _send(client, admin, url, transcript=write_text(tmp_path / "notes.vtt"))
    assert refused.status_code == 422
    assert _error_next_to(refused.get_data(as_text=True), "transcript")

    assert client.post(f"{url}/remove", data={"csrf_token": admin}).status_code == 303
    assert _item(client).findall(f"{PODCAST}transcript") == []
    assert _stored(services, episode["id"]).transcript_type is None


def test_reprocess_runs_the_pipeline_again_and_is_refused_while_a_run_is_live(
    client: FlaskClient, admin: str, episode: dict[str, Any], services: Services
) -> None:
    url = f"/admin/episodes/{episode['id']}/reprocess"
    first = _stored(services, episode["id"]).audio_key

    assert client.post(url, data={"csrf_token": admin}).status_code == 303
    again = _stored(services, episode["id"])
    assert again.retired_audio is not None
    assert (again.status, again.retired_audio[0][0]) == ("published", first)
    assert again.audio_key != first

    with services.db.session() as session:
        live = episodes.get_episode(session, episode["id"])
        live.processing_state, live.heartbeat_at = "processing", utcnow()
        session.commit()
    refused = client.post(url, data={"csrf_token": admin})
    assert refused.status_code == 409
    assert _error_next_to(refused.get_data(as_text=True), "reprocess")


def test_the_episode_page_lists_its_files_with_their_public_links(
    client: FlaskClient, admin: str, episode: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "t.vtt").write_text(VTT)
    _send(client, admin, f"/admin/episodes/{episode['id']}/files/transcript", transcript=tmp_path / "t.vtt")
    page = _page(client, episode["id"])
    assert "WebVTT." in page and "Open the public file" in page
    assert page.count('name="csrf_token"') >= 8, "every form carries its token"

    assert (
        client.post(f"/admin/episodes/{episode['id']}/unpublish", data={"csrf_token": admin}).status_code
        == 303
    )
    assert "Open the public file" not in _page(client, episode["id"]), "a draft's files have no public link"


def test_posts_without_the_csrf_token_are_refused(
    client: FlaskClient, admin: str, episode: dict[str, Any], services: Services, tmp_path: Path
) -> None:
    before = _stored(services, episode["id"])
    base = f"/admin/episodes/{episode['id']}"
    assert (
        _send(client, None, f"{base}/audio", audio=make_tone(tmp_path / "b.mp3", seconds=2)).status_code
        == 400
    )
    assert _send(client, None, f"{base}/files/image", image=write_jpeg(tmp_path / "c.jpg")).status_code == 400
    for path in (f"{base}/files/transcript/remove", f"{base}/reprocess", "/admin/shows/daily/rename"):
        assert client.post(path, data={"slug": "elsewhere"}).status_code == 400
    assert client.post("/admin/shows/daily/delete", data={"confirm_slug": "daily"}).status_code == 400
    after = _stored(services, episode["id"])
    assert (after.original_key, after.audio_key, after.image_key) == (
        before.original_key,
        before.audio_key,
        None,
    )
    assert client.get("/daily/feed.xml").status_code == 200


# --- shows ----------------------------------------------------------------------------------------------


def test_a_renamed_show_answers_301_at_its_old_address(client: FlaskClient, admin: str) -> None:
    assert "Change the address" in client.get("/admin/shows/daily/").get_data(as_text=True)
    taken = client.post("/admin/shows/daily/rename", data={"slug": "admin", "csrf_token": admin})
    assert taken.status_code == 409
    assert _error_next_to(taken.get_data(as_text=True), "slug")
    bad = client.post("/admin/shows/daily/rename", data={"slug": "Not A Slug", "csrf_token": admin})
    assert bad.status_code == 422

    response = client.post("/admin/shows/daily/rename", data={"slug": "morning", "csrf_token": admin})

    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/admin/shows/morning/settings"
    for old, new in (("/daily/", "/morning/"), ("/daily/feed.xml", "/morning/feed.xml")):
        moved = client.get(old)
        assert (moved.status_code, urlsplit(moved.headers["Location"]).path) == (301, new)
    assert client.get("/morning/feed.xml").status_code == 200


def test_deleting_a_show_needs_its_slug_typed(client: FlaskClient, admin: str) -> None:
    page = client.get("/admin/shows/daily/delete").get_data(as_text=True)
    assert "its 1 episode," in page

    wrong = client.post("/admin/shows/daily/delete", data={"confirm_slug": "daly", "csrf_token": admin})
    assert wrong.status_code == 422
    assert "daily" in _error_next_to(wrong.get_data(as_text=True), "confirm_slug")
    assert client.get("/daily/feed.xml").status_code == 200

    right = client.post("/admin/shows/daily/delete", data={"confirm_slug": "daily", "csrf_token": admin})
    assert right.status_code == 303
    assert urlsplit(right.headers["Location"]).path == "/admin/"
    assert client.get("/daily/feed.xml").status_code == 404
    assert client.get("/admin/shows/daily/").status_code == 404


def test_an_editor_may_neither_rename_nor_delete_a_show(
    app: Any, services: Services, episode: dict[str, Any]
) -> None:
    add_user(services, "editor@example.com")
    grant(services, "daily", "editor@example.com", "editor")
    editor = app.test_client()
    token = sign_in(editor, "editor@example.com")
    show_page = editor.get("/admin/shows/daily/").get_data(as_text=True)
    assert "Change the address" not in show_page and "Delete the show" not in show_page
    for path in ("/admin/shows/daily/rename", "/admin/shows/daily/delete"):
        assert editor.get(path).status_code == 403
    renamed = editor.post("/admin/shows/daily/rename", data={"slug": "mine", "csrf_token": token})
    deleted = editor.post("/admin/shows/daily/delete", data={"confirm_slug": "daily", "csrf_token": token})
    assert (renamed.status_code, deleted.status_code) == (403, 403)
    assert editor.get("/daily/feed.xml").status_code == 200
    # An editor does correct the episodes.
    assert (
        editor.post(f"/admin/episodes/{episode['id']}/reprocess", data={"csrf_token": token}).status_code
        == 303
    )


# --- the upload form ------------------------------------------------------------------------------------


def test_the_upload_form_saves_as_a_draft_unless_told_otherwise(client: FlaskClient, admin: str) -> None:
    page = client.get("/admin/shows/daily/episodes/new").get_data(as_text=True)
    checked = re.findall(r'<input type="radio" id="when-(\w+)"[^>]* checked>', page)
    assert checked == ["draft"]
    for choice in ("draft", "ready", "schedule"):
        assert re.search(rf'<p class="hint" id="hint-when-{choice}">[^<]+</p>', page)
    assert "Nobody sees it until you publish it" in page
