"""Processing: a crash ends in `failed`, a taken-over run cannot publish, old MP3s outlive a reprocess."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import stored_episode

from podcast_host import audio, episodes, processing, recovery, shows
from podcast_host.cli import main
from podcast_host.jobs import RetryLater
from podcast_host.models import FAILED, PROCESSING, READY, Episode, Show, utcnow
from podcast_host.services import Services


def _new_episode(services: Services, audio_file: Path, **fields: Any) -> int:
    with services.db.session() as session:
        show = shows.create_show(session, services.settings.public_url, {"slug": "p", "title": "P"})
        session.commit()
        return stored_episode(services, show.id, audio_file, **fields)


def _episode(services: Services, episode_id: int) -> Episode:
    with services.db.session() as session:
        return episodes.get_episode(session, episode_id)


def test_an_unexpected_crash_fails_the_episode_with_a_reason(
    sqlite_services: Services, sample_mp3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    episode_id = _new_episode(sqlite_services, sample_mp3)

    def disk_full(*_: Any, **__: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audio, "process", disk_full)
    assert processing.process_episode(sqlite_services, episode_id) == FAILED
    failed = _episode(sqlite_services, episode_id)
    assert "No space left on device" in (failed.error or "")
    monkeypatch.undo()
    with sqlite_services.db.session() as session:
        episodes.request_reprocess(sqlite_services, session, episodes.get_episode(session, episode_id))
        session.commit()
    assert _episode(sqlite_services, episode_id).status == "published"


def test_a_run_whose_claim_was_taken_over_does_not_publish(
    sqlite_services: Services, sample_mp3: Path
) -> None:
    episode_id = _new_episode(sqlite_services, sample_mp3)
    first = processing._claim(sqlite_services, episode_id)
    assert first is not None and _episode(sqlite_services, episode_id).attempts == 1
    with sqlite_services.db.session() as session:  # the first run goes silent, as a frozen worker would
        episodes.get_episode(session, episode_id).heartbeat_at = utcnow() - timedelta(hours=1)
        session.commit()
    assert processing.process_episode(sqlite_services, episode_id) == READY  # a second run takes over
    winner = _episode(sqlite_services, episode_id)
    assert winner.attempts == 2

    late_key = f"shows/{winner.show_id}/episodes/{episode_id}/audio/late.mp3"
    sqlite_services.store.put_bytes(late_key, b"late", "audio/mpeg")
    result = audio.ProcessResult(duration_s=1.0, channels=1, loudness_report={}, waveform=[])
    finished = processing._finish(
        sqlite_services,
        episode_id,
        first,
        processing.Published(late_key, 4, "c2hh"),
        result,
        winner.show_id,
        original_key=winner.original_key,
    )
    assert finished == READY
    after = _episode(sqlite_services, episode_id)
    assert after.audio_key == winner.audio_key and after.enclosure_length == winner.enclosure_length
    assert not sqlite_services.store.exists(late_key)


def test_a_live_run_cannot_be_reprocessed_but_a_dead_one_can(
    sqlite_services: Services, sample_mp3: Path
) -> None:
    episode_id = _new_episode(sqlite_services, sample_mp3)
    processing._claim(sqlite_services, episode_id)
    with sqlite_services.db.session() as session:
        live = episodes.get_episode(session, episode_id)
        assert live.processing_state == PROCESSING
        with pytest.raises(episodes.Conflict):
            episodes.request_reprocess(sqlite_services, session, live)
        live.heartbeat_at = utcnow() - timedelta(hours=1)
        session.commit()
        episodes.request_reprocess(sqlite_services, session, live)
        session.commit()
    assert _episode(sqlite_services, episode_id).status == "published"


def test_a_reprocessed_episode_keeps_its_old_mp3_for_a_while(
    sqlite_services: Services, sample_mp3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    episode_id = _new_episode(sqlite_services, sample_mp3)
    processing.process_episode(sqlite_services, episode_id)
    first = _episode(sqlite_services, episode_id)
    old_key, old_low_data = first.audio_key or "", first.low_data_key or ""
    assert old_low_data.endswith(".opus")
    with sqlite_services.db.session() as session:
        episodes.request_reprocess(sqlite_services, session, episodes.get_episode(session, episode_id))
        session.commit()
    again = _episode(sqlite_services, episode_id)
    assert again.audio_key != old_key and again.low_data_key != old_low_data
    for key in (old_key, old_low_data):
        assert sqlite_services.store.exists(key), "apps that read the feed before may still download it"
    assert [key for key, _ in again.retired_audio or []] == [old_key, old_low_data]

    assert recovery.purge_retired_audio(sqlite_services) == 0
    monkeypatch.setattr(recovery, "RETIRED_AUDIO_GRACE", timedelta(0))
    assert recovery.purge_retired_audio(sqlite_services) == 2
    assert not sqlite_services.store.exists(old_key) and not sqlite_services.store.exists(old_low_data)
    assert _episode(sqlite_services, episode_id).retired_audio is None


def test_the_cli_explains_a_store_outage_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_mp3: Path
) -> None:
    monkeypatch.setenv("PODCAST_HOST_DATA_DIR", str(tmp_path / "instance"))

    def store_down(*_: Any, **__: Any) -> str:
        raise RetryLater("connection refused")

    monkeypatch.setattr(processing, "process_episode", store_down)
    runner = CliRunner()
    assert runner.invoke(main, ["show", "add", "out", "--title", "Out"]).exit_code == 0
    result = runner.invoke(main, ["episode", "add", "out", str(sample_mp3), "--title", "Waits", "--wait"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "episode reprocess" in result.stderr.strip().splitlines()[-1]


def test_the_pipeline_uses_the_shows_own_settings(sqlite_services: Services, sample_mp3: Path) -> None:
    episode_id = _new_episode(sqlite_services, sample_mp3)
    with sqlite_services.db.session() as session:
        show = episodes.get_episode(session, episode_id).show
        shows.update_show(
            sqlite_services,
            session,
            show,
            {"target_lufs_stereo": -20, "bitrate_stereo_kbps": 96},
            may_move=True,
        )
        session.commit()
    processing.process_episode(sqlite_services, episode_id)
    done = _episode(sqlite_services, episode_id)
    assert done.loudness_report["target_lufs"] == -20
    assert abs(done.loudness_report["output_lufs"] + 20) <= 1
    # 96 kbps CBR: about 12 kB per second of audio
    assert abs(done.enclosure_length / done.duration_s - 12_000) < 1_500


def test_the_low_data_bitrates_come_from_the_show_where_it_sets_them() -> None:
    """A show without the fields (or with them null) keeps the defaults; one that sets them gets its own."""
    defaults = audio.EncodeSettings()
    show = Show(slug="s", title="S")
    settings = processing._encode_settings(show)
    assert (settings.low_data_stereo_kbps, settings.low_data_mono_kbps) == (
        defaults.low_data_stereo_kbps,
        defaults.low_data_mono_kbps,
    )
    show.low_data_stereo_kbps, show.low_data_mono_kbps = 48, 20
    settings = processing._encode_settings(show)
    assert (settings.low_data_stereo_kbps, settings.low_data_mono_kbps) == (48, 20)
