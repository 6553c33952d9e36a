"""/media/<key> never lends the app's origin to an uploader: our names, our types, no shared caching of
private files; MEDIA_URL links name the stored object; replaced MP3s are purged and go with their show."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from urllib.request import Request, urlopen
from xml.etree import ElementTree

import pytest
from browser import PASSWORD, sign_in
from conftest import make_services
from flask.testing import FlaskClient
from helpers import auth, create_show, redis_url, upload_episode

from podcast_host import accounts, audio, create_app, episodes, recovery, shows, storage, tasks
from podcast_host.jobs import ThreadQueue
from podcast_host.models import Episode, utcnow
from podcast_host.services import Services

HOSTILE_NAMES = ["notes.html", "notes.svg", "notes.xhtml", "notes.htm", "notes.xml"]
SCRIPT = b"<html><script>fetch('/api/v1/tokens',{method:'POST'})</script></html>"
PRIVATE = "private, no-store"


@pytest.fixture(autouse=True)
def _ffmpeg_work_done_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Most tests upload the same sample under the same tags, and each upload is processed. As for the
    `episode` fixture, each run is whole but its ffmpeg work is done once per worker for each input, settings
    and tags, and its real output reused (the pipeline has its own tests)."""
    from conftest import _remembering_process

    monkeypatch.setattr(audio, "process", _remembering_process(audio.process))


def _local(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000")


def _stored(services: Services, episode_id: int) -> Episode:
    with services.db.session() as session:
        return episodes.get_episode(session, episode_id)


def _viewer(client: Any, services: Services, slug: str = "daily") -> None:
    """Sign the test client in as a member of the show with the least role that reads drafts."""
    with services.db.session() as session:
        user = accounts.create_user(session, "viewer@example.com", PASSWORD)
        accounts.grant(session, shows.find_show(session, slug), user, "viewer")
        session.commit()
    sign_in(client, "viewer@example.com")


def _hostile_audio(sample_mp3: Path, folder: Path, name: str) -> Path:
    """Real audio that a browser would also render as a page: the MP3 with a script appended."""
    upload = folder / name
    upload.write_bytes(sample_mp3.read_bytes() + SCRIPT)
    return upload


def _assert_never_a_page(response: Any) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    directives = [part.strip() for part in response.headers["Content-Security-Policy"].split(";")]
    assert "sandbox" in directives


# --- uploaded originals named like pages -------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_an_original_named_like_a_page_is_stored_and_served_as_audio(
    client: FlaskClient, admin_token: str, services: Services, sample_mp3: Path, tmp_path: Path, name: str
) -> None:
    create_show(client, admin_token)
    upload = _hostile_audio(sample_mp3, tmp_path, name)
    response = upload_episode(client, admin_token, "daily", upload, filename=name)
    assert response.status_code == 202, response.get_json()
    stored = _stored(services, response.get_json()["id"])
    assert stored.original_key is not None
    assert re.fullmatch(
        rf"shows/{stored.show_id}/episodes/{stored.id}/original/original-[0-9a-f]{{16}}\.mp3",
        stored.original_key,
    )
    assert stored.original_filename == name  # kept only as a label

    _viewer(client, services)
    with client.get(f"/media/{stored.original_key}") as served:
        assert served.status_code == 200
        assert served.headers["Content-Type"] == "audio/mpeg"
        assert served.headers["Content-Disposition"] == 'attachment; filename="original.mp3"'
        _assert_never_a_page(served)


def test_a_replaced_original_is_named_by_its_probed_format(
    services: Services, sample_mp3: Path, tmp_path: Path
) -> None:
    from audio_fixtures import make_tone

    flac = make_tone(tmp_path / "take2.flac", seconds=2)
    disguised = tmp_path / "take2.svg"
    disguised.write_bytes(flac.read_bytes())
    with services.db.session() as session:
        show = shows.create_show(session, services.settings.public_url, {"slug": "p", "title": "P"})
        episode = episodes.create_episode(
            services, session, show, episodes.Upload(sample_mp3, "a.mp3"), {"title": "T"}, enqueue=False
        )
        old_key = episodes.replace_original(services, session, episode, episodes.Upload(disguised, "b.svg"))
        # A new name, not an overwrite: until the change commits, the episode's original is untouched.
        assert services.store.exists(old_key or "")
        session.commit()
        folder = f"shows/{show.id}/episodes/{episode.id}/original/"
        assert re.fullmatch(re.escape(folder) + r"original-[0-9a-f]{16}\.flac", episode.original_key or "")
        assert episode.original_filename == "b.svg"
        assert re.fullmatch(re.escape(folder) + r"original-[0-9a-f]{16}\.mp3", old_key or "")
    assert not services.store.exists(old_key or ""), "deleted once the change is committed"


HOSTILE_KEYS = [
    ("original", "notes.html"),
    ("original", "notes.svg"),
    ("audio", "episode.xhtml"),
    ("transcript", "transcript.htm"),
    ("image", "cover.svg"),
    ("image", "cover.xml"),
]


@pytest.mark.parametrize(("kind", "name"), HOSTILE_KEYS)
def test_a_stored_key_with_a_page_extension_is_never_served_as_a_page(
    client: FlaskClient, services: Services, episode: dict, kind: str, name: str
) -> None:
    """Keys stored before the server named files itself may still end in .html: they download as bytes."""
    episode_id = episode["id"]
    stored = _stored(services, episode_id)
    episode_part = None if kind == "image" else episode_id
    key = storage.media_key(stored.show_id, kind, name, episode_part)
    services.store.put_bytes(key, SCRIPT, "text/html")
    with services.db.session() as session:
        if kind == "original":
            episodes.get_episode(session, episode_id).original_key = key
        session.commit()

    _viewer(client, services)
    with client.get(f"/media/{key}") as served:
        assert served.status_code == 200
        assert served.headers["Content-Type"] == "application/octet-stream"
        _assert_never_a_page(served)
        if kind == "original":
            assert served.headers["Content-Disposition"] == 'attachment; filename="original.bin"'


def test_every_probed_format_is_served_with_the_type_the_probe_names() -> None:
    """The served-type whitelist and the probe agree, so a stored original is always served as audio."""
    for format_name, mime_type in audio.source_kinds().values():
        key = storage.media_key(1, "original", f"original.{format_name}", 2)
        assert storage.served_type(key) == mime_type


# --- caching and CORS of access-controlled media -----------------------------------------------------------


@pytest.fixture
def draft_and_published(
    client: FlaskClient, admin_token: str, services: Services, sample_mp3: Path, tmp_path: Path
) -> dict[str, str]:
    from audio_fixtures import write_jpeg

    create_show(client, admin_token)
    draft_id = upload_episode(client, admin_token, "daily", sample_mp3, draft="true").get_json()["id"]
    published_id = upload_episode(client, admin_token, "daily", sample_mp3, title="Out").get_json()["id"]
    with services.db.session() as session:
        show = shows.find_show(session, "daily")
        shows.set_cover(services, session, show, write_jpeg(tmp_path / "cover.jpg").read_bytes())
        session.commit()
        cover = show.image_key
    draft, published = _stored(services, draft_id), _stored(services, published_id)
    return {
        "draft audio": f"/media/{draft.audio_key}",
        "draft original": f"/media/{draft.original_key}",
        "published original": f"/media/{published.original_key}",
        "published audio": f"/media/{published.audio_key}",
        "cover": f"/media/{cover}",
    }


def test_access_controlled_media_is_never_stored_by_shared_caches(
    client: FlaskClient, services: Services, draft_and_published: dict[str, str]
) -> None:
    _viewer(client, services)
    for what in ("draft audio", "draft original", "published original"):
        with client.get(draft_and_published[what]) as served:
            assert served.status_code == 200, what
            assert served.headers["Cache-Control"] == PRIVATE, what
            assert "Access-Control-Allow-Origin" not in served.headers, what
            assert "Expires" not in served.headers, what
            _assert_never_a_page(served)


def test_a_signed_in_stranger_gets_the_same_404_as_for_a_missing_file(
    client: FlaskClient, services: Services, draft_and_published: dict[str, str]
) -> None:
    with services.db.session() as session:
        accounts.create_user(session, "stranger@example.com", PASSWORD)
        session.commit()
    sign_in(client, "stranger@example.com")
    missing = client.get("/media/shows/999/episodes/999/original/original-0000000000000000.mp3")
    assert missing.status_code == 404
    for what in ("draft audio", "draft original", "published original"):
        with client.get(draft_and_published[what]) as served:
            assert served.status_code == 404, what
            assert served.get_json() == missing.get_json(), what
            assert "daily" not in served.get_data(as_text=True), what


def test_published_media_stays_cacheable_and_open_to_web_players(
    client: FlaskClient, draft_and_published: dict[str, str]
) -> None:
    for what in ("published audio", "cover"):
        with client.get(draft_and_published[what]) as served:
            assert served.status_code == 200, what
            assert served.headers["Cache-Control"] == "public, max-age=86400", what
            assert served.headers["Access-Control-Allow-Origin"] == "*", what
            assert served.headers["Content-Type"] in ("audio/mpeg", "image/jpeg", "image/png"), what
            _assert_never_a_page(served)


@pytest.mark.s3
def test_redirects_to_the_object_store_carry_the_same_protection(
    s3_services: Services, sample_mp3: Path
) -> None:
    with s3_services.db.session() as session:
        admin = accounts.create_user(session, "s3@example.com", None, admin=True)
        _, token = accounts.create_token(session, admin)
        session.commit()
    client = create_app(services=s3_services).test_client()
    create_show(client, token)
    episode_id = upload_episode(client, token, "daily", sample_mp3, filename="notes.html").get_json()["id"]
    stored = _stored(s3_services, episode_id)

    public = client.get(f"/media/{stored.audio_key}")
    assert public.status_code == 302
    assert public.headers["Access-Control-Allow-Origin"] == "*"
    assert public.headers["Cache-Control"] == "no-cache"  # the presigned target expires within the hour
    _assert_never_a_page(public)

    _viewer(client, s3_services)
    for method in ("GET", "HEAD"):
        private = client.open(f"/media/{stored.original_key}", method=method)
        assert private.status_code == 302, method
        assert private.headers["Cache-Control"] == PRIVATE, method
        assert "Access-Control-Allow-Origin" not in private.headers, method
        _assert_never_a_page(private)
        # The object store itself answers with the headers we chose, whatever was stored with the object.
        with urlopen(Request(private.headers["Location"], method=method), timeout=10) as answer:
            assert answer.headers["Content-Type"] == "audio/mpeg"
            assert answer.headers["Cache-Control"] == PRIVATE
            assert answer.headers["Content-Disposition"] == 'attachment; filename="original.mp3"'

    legacy = storage.media_key(stored.show_id, "original", "notes.html", episode_id)
    s3_services.store.put_bytes(legacy, SCRIPT, "text/html")
    redirected = client.get(f"/media/{legacy}")
    with urlopen(redirected.headers["Location"], timeout=10) as answer:
        assert answer.headers["Content-Type"] == "application/octet-stream"
        assert answer.headers["Content-Disposition"] == 'attachment; filename="original.bin"'


# --- MEDIA_URL links and an S3 key prefix ------------------------------------------------------------------


@pytest.fixture
def cdn_services(tmp_path: Path, seaweedfs: Any, s3_bucket: str) -> Iterator[Services]:
    url = f"s3://{s3_bucket}/podcasts/main?endpoint_url={seaweedfs.endpoint_url}&region=us-east-1"
    built = make_services(tmp_path, storage_url=url, media_url="https://cdn.example.test/bucket-root")
    yield built
    built.close()


@pytest.mark.s3
def test_a_feed_enclosure_under_media_url_names_the_stored_object(
    cdn_services: Services, seaweedfs: Any, s3_bucket: str, sample_mp3: Path
) -> None:
    with cdn_services.db.session() as session:
        admin = accounts.create_user(session, "cdn@example.com", None, admin=True)
        _, token = accounts.create_token(session, admin)
        session.commit()
    client = create_app(services=cdn_services).test_client()
    create_show(client, token)
    episode_id = upload_episode(client, token, "daily", sample_mp3).get_json()["id"]
    stored = _stored(cdn_services, episode_id)

    feed = ElementTree.fromstring(client.get("/daily/feed.xml").data)
    enclosure = feed.find("channel/item/enclosure")
    assert enclosure is not None
    # The feed names the app's /media route, which counts the download and sends the player to the CDN.
    assert enclosure.get("url", "") == f"{cdn_services.settings.public_url}/media/{stored.audio_key}"
    link = client.get(f"/media/{stored.audio_key}").headers["Location"]
    base = "https://cdn.example.test/bucket-root/"
    assert link.startswith(base)
    named = (
        seaweedfs.client().get_object(Bucket=s3_bucket, Key=unquote(link.removeprefix(base)))["Body"].read()
    )
    with cdn_services.store.open(stored.audio_key or "") as fh:
        assert named == fh.read()
    assert len(named) == int(enclosure.get("length", "0"))


def test_media_url_links_and_store_urls_agree_for_every_store(tmp_path: Path) -> None:
    from podcast_host.config import load_settings
    from podcast_host.feeds.links import Links

    key = "shows/1/episodes/2/audio/ep one.mp3"
    cdn = "https://cdn.example.test"
    cases = [
        (f"file://{tmp_path}", storage.LocalStore(tmp_path, cdn)),
        (
            "s3://bucket/a/b?region=us-east-1",
            storage.S3Store("bucket", "a/b", media_url=cdn, client=object()),
        ),
        ("s3://bucket?region=us-east-1", storage.S3Store("bucket", media_url=cdn, client=object())),
    ]
    for storage_url, store in cases:
        settings = load_settings(environ={}, overrides={"storage_url": storage_url, "media_url": cdn})
        assert Links(settings).media(key) == store.public_url(key), storage_url


# --- replaced MP3s go with their show ----------------------------------------------------------------------


def _media_files(services: Services) -> list[Path]:
    root = services.settings.data_dir / "media"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.postgres
def test_deleting_a_show_deletes_its_replaced_mp3s_too(
    client: FlaskClient, admin_token: str, services: Services, sample_mp3: Path
) -> None:
    create_show(client, admin_token)
    episode_id = upload_episode(client, admin_token, "daily", sample_mp3).get_json()["id"]
    assert (
        client.post(f"/api/v1/episodes/{episode_id}/reprocess", headers=auth(admin_token)).status_code == 202
    )
    retired = _stored(services, episode_id).retired_audio or []
    # The replaced MP3 and its low-data file, both still downloadable for a while.
    assert len(retired) == 2 and all(services.store.exists(key) for key, _ in retired)

    assert client.delete("/api/v1/shows/daily", headers=auth(admin_token)).status_code == 204
    assert _media_files(services) == []


# --- replaced MP3s are purged while the app runs -----------------------------------------------------------


def _wait_until(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_long_running_embedded_queue_purges_replaced_mp3s_after_their_grace(
    sqlite_services: Services, sample_mp3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recovery, "RETIRED_AUDIO_GRACE", timedelta(seconds=1))
    queue = ThreadQueue(tasks.runner(sqlite_services))
    sqlite_services.queue = queue
    queue.start()
    recovery.watch_for_stalled_runs(sqlite_services, queue.stopped, every_s=0.2)
    with sqlite_services.db.session() as session:
        show = shows.create_show(session, sqlite_services.settings.public_url, {"slug": "p", "title": "P"})
        episode_id = episodes.create_episode(
            sqlite_services, session, show, episodes.Upload(sample_mp3, "a.mp3"), {"title": "T"}
        ).id
    assert queue.join(timeout=60)
    old_key = _stored(sqlite_services, episode_id).audio_key or ""
    with sqlite_services.db.session() as session:
        episodes.request_reprocess(sqlite_services, session, episodes.get_episode(session, episode_id))
        session.commit()
    assert queue.join(timeout=60)
    assert _stored(sqlite_services, episode_id).audio_key != old_key

    assert _wait_until(lambda: not sqlite_services.store.exists(old_key), timeout_s=10)
    assert _stored(sqlite_services, episode_id).retired_audio is None
    assert sqlite_services.store.exists(_stored(sqlite_services, episode_id).audio_key or "")


def test_the_watch_for_stalled_runs_stops_with_the_embedded_queue(sqlite_services: Services) -> None:
    queue = ThreadQueue(tasks.runner(sqlite_services))
    queue.start()
    watch = recovery.watch_for_stalled_runs(sqlite_services, queue.stopped, every_s=0.05)
    time.sleep(0.2)
    assert watch.is_alive()
    queue.stop()
    watch.join(timeout=10)
    assert not watch.is_alive()


REDIS_URL = redis_url(14)


@pytest.mark.postgres
def test_a_redis_worker_purges_replaced_mp3s_while_it_runs(
    tmp_path: Path, database_url: str, sample_mp3: Path
) -> None:
    """The worker's periodic pass (every PODCAST_HOST_JOB_STALE_S) purges without a restart."""
    from redis import Redis
    from rq import Worker

    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    services = make_services(tmp_path, database_url=database_url, queue_url=REDIS_URL)
    settings = services.settings
    env = {
        **os.environ,
        "PODCAST_HOST_DATA_DIR": str(settings.data_dir),
        "PODCAST_HOST_DATABASE_URL": settings.database_url,
        "PODCAST_HOST_QUEUE_URL": REDIS_URL,
        "PODCAST_HOST_SECRET_KEY": settings.secret_key,
        "PODCAST_HOST_JOB_STALE_S": "1",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "podcast_host.cli", "worker"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # rq registers the worker after the start-up pass: only the periodic one can purge what follows.
        assert _wait_until(lambda: Worker.count(connection=redis) > 0, timeout_s=30)
        with services.db.session() as session:
            show = shows.create_show(session, settings.public_url, {"slug": "r", "title": "R"})
            episode = episodes.create_episode(
                services, session, show, episodes.Upload(sample_mp3, "a.mp3"), {"title": "T"}, enqueue=False
            )
            old_key = storage.media_key(show.id, "audio", "old.mp3", episode.id)
            services.store.put_bytes(old_key, b"an MP3 replaced three days ago", "audio/mpeg")
            episode.retired_audio = [[old_key, (utcnow() - timedelta(days=3)).isoformat()]]
            session.commit()
        assert worker.poll() is None
        assert _wait_until(lambda: not services.store.exists(old_key), timeout_s=15)
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(10)
        services.close()
        redis.flushdb()
        redis.close()


# --- side files carry random names; covers do not pile up ---------------------------------------------------


def test_transcripts_and_episode_images_get_names_nobody_can_guess(
    client: FlaskClient, admin_token: str, services: Services, sample_mp3: Path, tmp_path: Path
) -> None:
    """Behind MEDIA_URL a draft's files are only as private as their names: a fixed name is no secret."""
    from audio_fixtures import write_jpeg

    create_show(client, admin_token)
    vtt = b"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello\n"
    made = []
    for title in ("One", "Two"):
        with sample_mp3.open("rb") as audio_fh, write_jpeg(tmp_path / "c.jpg", 1400).open("rb") as image_fh:
            response = client.post(
                "/api/v1/shows/daily/episodes",
                data={
                    "title": title,
                    "draft": "true",
                    "audio": (audio_fh, "a.mp3"),
                    "image": (image_fh, "cover.jpg"),
                    "transcript": (io.BytesIO(vtt), "transcript.vtt"),
                },
                headers=auth(admin_token),
                content_type="multipart/form-data",
            )
        assert response.status_code == 202, response.get_json()
        made.append(_stored(services, response.get_json()["id"]))
    for stored in made:
        folder = f"shows/{stored.show_id}/episodes/{stored.id}/"
        assert re.fullmatch(
            re.escape(folder) + r"transcript/transcript-[0-9a-f]{16}\.vtt", stored.transcript_key
        )
        assert re.fullmatch(re.escape(folder) + r"image/cover-[0-9a-f]{16}\.jpg", stored.image_key)
    assert made[0].transcript_key.rsplit("/", 1)[1] != made[1].transcript_key.rsplit("/", 1)[1]

    _viewer(client, services)
    with client.get(f"/media/{made[0].transcript_key}") as served:
        assert served.status_code == 200 and served.data == vtt
    # Keys stored before keep working.
    legacy = storage.media_key(made[0].show_id, "transcript", "transcript.vtt", made[0].id)
    services.store.put_bytes(legacy, vtt, "text/vtt")
    with services.db.session() as session:
        episodes.get_episode(session, made[0].id).transcript_key = legacy
        session.commit()
    with client.get(f"/media/{legacy}") as served:
        assert served.status_code == 200 and served.headers["Content-Type"].startswith("text/vtt")


@pytest.mark.postgres
def test_a_new_cover_names_the_old_one_for_deletion_once_committed(
    services: Services, tmp_path: Path
) -> None:
    from audio_fixtures import write_jpeg

    first = write_jpeg(tmp_path / "first.jpg", 1400).read_bytes()
    second = write_jpeg(tmp_path / "second.jpg", 1500).read_bytes()
    with services.db.session() as session:
        show = shows.create_show(session, services.settings.public_url, {"slug": "c", "title": "C"})
        assert shows.set_cover(services, session, show, first) is None
        session.commit()
        old_key = show.image_key or ""
        assert shows.set_cover(services, session, show, first) is None  # the same image: the same key, kept
        session.commit()
        assert show.image_key == old_key and services.store.exists(old_key)

        assert shows.set_cover(services, session, show, second) == old_key
        assert services.store.exists(old_key), "the stored show still names it until the change commits"
        session.rollback()
    assert services.store.exists(old_key)
    with services.db.session() as session:
        assert shows.find_show(session, "c").image_key == old_key


@pytest.mark.parametrize("route", ["api", "dashboard"])
def test_a_new_cover_uploaded_deletes_the_old_one(
    client: FlaskClient, admin_token: str, services: Services, tmp_path: Path, route: str
) -> None:
    from audio_fixtures import write_jpeg

    create_show(client, admin_token)
    csrf = ""
    if route == "dashboard":
        with services.db.session() as session:
            user = accounts.create_user(session, "producer@example.com", PASSWORD)
            accounts.grant(session, shows.find_show(session, "daily"), user, "owner")
            session.commit()
        csrf = sign_in(client, "producer@example.com")
    keys = []
    for side in (1400, 1500):
        image = (io.BytesIO(write_jpeg(tmp_path / f"{side}.jpg", side).read_bytes()), "cover.jpg")
        if route == "api":
            answer = client.put(
                "/api/v1/shows/daily/image",
                headers=auth(admin_token),
                data={"image": image},
                content_type="multipart/form-data",
            )
            assert answer.status_code == 200
        else:
            answer = client.post(
                "/admin/shows/daily/cover",
                data={"image": image, "csrf_token": csrf},
                content_type="multipart/form-data",
            )
            assert answer.status_code == 303
        with services.db.session() as session:
            keys.append(shows.find_show(session, "daily").image_key or "")
    assert keys[0] != keys[1] and services.store.exists(keys[1])
    assert not services.store.exists(keys[0])


def test_show_files_of_a_show_that_does_not_exist_are_404(client: FlaskClient, services: Services) -> None:
    key = storage.media_key(4242, "image", "cover-0123456789ab.jpg")
    services.store.put_bytes(key, b"\xff\xd8 a cover left behind", "image/jpeg")
    assert client.get(f"/media/{key}").status_code == 404


# --- ranges answered as an object store would ---------------------------------------------------------------


@pytest.fixture
def published_audio(services: Services, episode: dict) -> tuple[str, bytes]:
    key = _stored(services, episode["id"]).audio_key or ""
    with services.store.open(key) as fh:
        return f"/media/{key}", fh.read()


def test_several_ranges_get_the_whole_file(client: FlaskClient, published_audio: tuple[str, bytes]) -> None:
    path, whole = published_audio
    with client.get(path, headers={"Range": "bytes=0-9,20-29"}) as served:
        assert served.status_code == 200
        assert served.data == whole
    with client.get(path, headers={"Range": "bytes=10-19"}) as single:
        assert single.status_code == 206 and single.data == whole[10:20]


def test_a_weak_if_range_validator_never_matches(
    client: FlaskClient, published_audio: tuple[str, bytes]
) -> None:
    path, whole = published_audio
    with client.head(path) as head:
        etag = head.headers["ETag"]
    assert not etag.startswith("W/")
    with client.get(path, headers={"Range": "bytes=0-9", "If-Range": etag}) as strong:
        assert strong.status_code == 206 and strong.data == whole[:10]
    with client.get(path, headers={"Range": "bytes=0-9", "If-Range": f"W/{etag}"}) as weak:
        assert weak.status_code == 200 and weak.data == whole
