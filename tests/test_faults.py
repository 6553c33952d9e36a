"""Faults: an object store that goes away, a database that drops its connections.

See docs/architecture.md, "Faults".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from helpers import auth, create_show, upload_episode
from sqlalchemy import create_engine, text
from tcp_proxy import SwitchableProxy

from podcast_host import accounts, create_app, episodes, processing, shows
from podcast_host.jobs import RetryLater
from podcast_host.models import FAILED, READY
from podcast_host.services import Services


@pytest.fixture(autouse=True)
def _ffmpeg_work_done_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's outages are the subject here, not the audio. As for the `episode` fixture, each
    processing run is whole but its ffmpeg work is done once per worker for each input, settings and tags,
    and its real output reused (the pipeline has its own tests)."""
    from conftest import _remembering_process

    from podcast_host import audio

    monkeypatch.setattr(audio, "process", _remembering_process(audio.process))


@pytest.fixture
def proxy(seaweedfs: Any) -> Iterator[SwitchableProxy]:
    target = urlsplit(seaweedfs.endpoint_url)
    switch = SwitchableProxy(target.hostname or "127.0.0.1", target.port or 80)
    switch.up()
    yield switch
    switch.down()


@pytest.fixture
def flaky_services(tmp_path: Path, s3_bucket: str, proxy: SwitchableProxy) -> Iterator[Services]:
    from conftest import make_services

    built = make_services(tmp_path, storage_url=f"s3://{s3_bucket}?endpoint_url={proxy.url}&region=us-east-1")
    yield built
    built.close()


def _token(services: Services) -> str:
    with services.db.session() as session:
        user = accounts.create_user(session, "f@example.com", None, admin=True)
        _, secret = accounts.create_token(session, user)
        session.commit()
    return secret


@pytest.mark.s3
def test_upload_is_refused_while_the_store_is_unreachable(
    flaky_services: Services, proxy: SwitchableProxy, sample_mp3: Path
) -> None:
    client = create_app(services=flaky_services).test_client()
    token = _token(flaky_services)
    create_show(client, token)
    proxy.down()
    response = upload_episode(client, token, "daily", sample_mp3)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"
    assert client.get("/api/v1/shows/daily/episodes", headers=auth(token)).get_json()["episodes"] == []
    assert client.get("/healthz").status_code == 503
    proxy.up()
    assert client.get("/healthz").status_code == 200


def _uploaded(services: Services, audio: Path) -> int:
    with services.db.session() as session:
        show = shows.create_show(session, services.settings.public_url, {"slug": "f", "title": "F"})
        created = episodes.create_episode(
            services,
            session,
            show,
            episodes.Upload(audio, "a.mp3"),
            {"title": "Through the outage"},
            enqueue=False,
        )
        return created.id


@pytest.mark.s3
def test_a_job_retried_after_an_outage_publishes_once(
    flaky_services: Services, proxy: SwitchableProxy, sample_mp3: Path
) -> None:
    episode_id = _uploaded(flaky_services, sample_mp3)
    proxy.down()
    with pytest.raises(RetryLater):
        processing.process_episode(flaky_services, episode_id)
    with flaky_services.db.session() as session:
        waiting = episodes.get_episode(session, episode_id)
        assert waiting.status == "processing" and waiting.audio_key is None
        assert episodes.public_episodes(session, waiting.show) == []

    proxy.up()
    assert processing.process_episode(flaky_services, episode_id) == READY
    with flaky_services.db.session() as session:
        done = episodes.get_episode(session, episode_id)
        assert done.status == "published"
        assert flaky_services.store.size(done.audio_key or "") == done.enclosure_length


@pytest.mark.s3
def test_a_store_that_stays_down_fails_the_episode_with_a_reason(
    flaky_services: Services, proxy: SwitchableProxy, sample_mp3: Path
) -> None:
    episode_id = _uploaded(flaky_services, sample_mp3)
    proxy.down()
    for _ in range(processing.MAX_ATTEMPTS - 1):
        with pytest.raises(RetryLater):
            processing.process_episode(flaky_services, episode_id)
    assert processing.process_episode(flaky_services, episode_id) == FAILED
    with flaky_services.db.session() as session:
        failed = episodes.get_episode(session, episode_id)
        assert failed.status == "failed"
        assert "media store could not be reached" in (failed.error or "")
        assert failed.audio_key is None and not failed.is_public_at(failed.updated_at)

    proxy.up()  # the store is back: reprocessing the failed episode publishes it
    with flaky_services.db.session() as session:
        episodes.request_reprocess(flaky_services, session, episodes.get_episode(session, episode_id))
        session.commit()
    with flaky_services.db.session() as session:
        assert episodes.get_episode(session, episode_id).status == "published"


@pytest.mark.postgres
def test_the_app_survives_a_database_restart(
    client: FlaskClient, admin_token: str, services: Services
) -> None:
    """Every pooled connection is killed, as a PostgreSQL restart does; the next requests still work."""
    create_show(client, admin_token)
    if services.db.url.startswith("postgresql"):
        from conftest import POSTGRES_URL

        app_name = services.db.engine.url.query["application_name"]
        admin = create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :n"
                ),
                {"n": app_name},
            ).scalar()
        admin.dispose()
        assert killed and killed >= 1
    else:
        services.db.engine.dispose()
    assert client.get("/healthz").status_code == 200
    listed = client.get("/api/v1/shows", headers=auth(admin_token)).get_json()
    assert [s["slug"] for s in listed["shows"]] == ["daily"]
