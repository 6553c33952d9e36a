"""Audio that probes but cannot be processed ends `failed` with a reason, and nothing else changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from audio_fixtures import make_speech, truncate
from click.testing import CliRunner
from flask.testing import FlaskClient
from helpers import auth, create_show, upload_episode

from podcast_host.cli import main
from podcast_host.services import Services


@pytest.fixture(scope="module")
def truncated_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Half of an 8-second WAV (its header still promises 8 s, as a cut upload's does); under 500 kB."""
    path = tmp_path_factory.mktemp("cut") / "cut.wav"
    return truncate(make_speech(path, seconds=8, channels=1))


def test_a_truncated_upload_fails_with_a_reason_and_keeps_its_original(
    client: FlaskClient, admin_token: str, services: Services, truncated_wav: Path, sample_mp3: Path
) -> None:
    create_show(client, admin_token)
    good = upload_episode(client, admin_token, "daily", sample_mp3, title="Fine").get_json()
    feed_before = client.get("/daily/feed.xml").data

    response = upload_episode(client, admin_token, "daily", truncated_wav, title="Cut short")
    assert response.status_code == 202
    episode = client.get(
        f"/api/v1/episodes/{response.get_json()['id']}", headers=auth(admin_token)
    ).get_json()
    assert episode["status"] == "failed"
    assert "truncated" in episode["error"]
    assert episode["enclosure"]["url"] is None

    assert client.get("/daily/feed.xml").data == feed_before
    assert (
        client.get(f"/api/v1/episodes/{good['id']}", headers=auth(admin_token)).get_json()["status"]
        == "published"
    )
    with services.db.session() as session:
        from podcast_host.episodes import get_episode

        assert services.store.exists(get_episode(session, episode["id"]).original_key or "")

    again = client.post(f"/api/v1/episodes/{episode['id']}/reprocess", headers=auth(admin_token))
    assert again.status_code == 202
    after = client.get(f"/api/v1/episodes/{episode['id']}", headers=auth(admin_token)).get_json()
    assert after["status"] == "failed" and after["error"] == episode["error"]


def test_the_cli_reports_a_failed_episode_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, truncated_wav: Path
) -> None:
    monkeypatch.setenv("PODCAST_HOST_DATA_DIR", str(tmp_path / "instance"))
    runner = CliRunner()
    assert runner.invoke(main, ["show", "add", "cut", "--title", "Cut"]).exit_code == 0
    result = runner.invoke(main, ["episode", "add", "cut", str(truncated_wav), "--title", "Cut", "--wait"])
    assert result.exit_code != 0
    assert len(result.stderr.strip().splitlines()) == 2  # "uploaded; processing…" then the one error line
    assert "failed" in result.stderr and "truncated" in result.stderr
    assert "Traceback" not in result.output
    listing = runner.invoke(main, ["episode", "list", "cut"]).stdout
    assert "\tfailed\t" in listing
    episode_id = listing.split("\t")[0]
    reprocess = runner.invoke(main, ["episode", "reprocess", episode_id, "--wait"])
    assert reprocess.exit_code != 0 and "truncated" in reprocess.stderr
