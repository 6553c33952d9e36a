"""Podcast as code: `sync` makes the database match a folder, and a second run changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from podcast_host.episodes import list_episodes
from podcast_host.services import Services
from podcast_host.shows import find_show
from podcast_host.sync import sync_directory

# On PostgreSQL too, the marked tests: what sync finds unchanged or changed in stored JSON (chapters) and
# time stamps, an episode found again through its alias, and a run's claim that refuses a change.

SAMPLE = Path(__file__).resolve().parent.parent / "episodes"


@pytest.fixture(autouse=True)
def _ffmpeg_work_done_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test syncs the sample folder, whose three episodes go through the audio pipeline each time. As
    for the `episode` fixture, each run is whole but its ffmpeg work is done once per worker for each input,
    settings and tags, and its real output reused: changed audio or chapters still make a new MP3."""
    from conftest import _remembering_process

    from podcast_host import audio

    monkeypatch.setattr(audio, "process", _remembering_process(audio.process))


def _snapshot(services: Services) -> dict[str, tuple]:
    with services.db.session() as session:
        out = {}
        for slug in ("sample-hour", "sawt"):
            show = find_show(session, slug)
            for e in list_episodes(session, show):
                out[f"{slug}/{e.slug}"] = (e.guid, e.audio_key, e.enclosure_length, e.updated_at, e.status)
        return out


@pytest.mark.postgres
def test_sync_twice_changes_nothing_the_second_time(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "episodes"
    shutil.copytree(SAMPLE, folder)
    first = sync_directory(services, folder)
    assert sorted(first.created) == [
        "sample-hour",
        "sample-hour/how-it-works",
        "sample-hour/welcome",
        "sawt",
        "sawt/marhaban",
    ]
    before = _snapshot(services)
    assert all(state[-1] == "published" for state in before.values()), before

    second = sync_directory(services, folder)
    assert second.created == [] and second.updated == []
    assert len(second.unchanged) == 5
    assert _snapshot(services) == before


def test_sync_updates_a_changed_field_and_keeps_the_guid(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "episodes"
    shutil.copytree(SAMPLE, folder)
    sync_directory(services, folder)
    before = _snapshot(services)["sample-hour/welcome"]

    toml = folder / "sample-hour" / "welcome" / "episode.toml"
    toml.write_text(toml.read_text().replace("Welcome to the Sample Hour", "Welcome, renamed"))
    report = sync_directory(services, folder)
    assert report.updated == ["sample-hour/welcome"]
    with services.db.session() as session:
        show = find_show(session, "sample-hour")
        welcome = next(e for e in list_episodes(session, show) if e.slug == "welcome")
        assert welcome.title == "Welcome, renamed"
        assert welcome.guid == before[0]
        # The audio did not change, so it was not processed again.
        assert welcome.audio_key == before[1]


def test_sync_reprocesses_changed_audio_only(services: Services, tmp_path: Path, sample_mp3: Path) -> None:
    folder = tmp_path / "episodes"
    shutil.copytree(SAMPLE, folder)
    sync_directory(services, folder)
    before = _snapshot(services)
    shutil.copy(sample_mp3, folder / "sawt" / "marhaban" / "audio.mp3")
    report = sync_directory(services, folder)
    assert report.updated == ["sawt/marhaban"]
    after = _snapshot(services)
    assert after["sawt/marhaban"][0] == before["sawt/marhaban"][0]
    assert after["sawt/marhaban"][1] != before["sawt/marhaban"][1]
    assert after["sample-hour/welcome"] == before["sample-hour/welcome"]


@pytest.mark.postgres
def test_sync_after_a_rename_through_the_api_keeps_one_episode(services: Services, tmp_path: Path) -> None:
    from podcast_host.episodes import rename_episode

    folder = tmp_path / "episodes"
    shutil.copytree(SAMPLE, folder)
    sync_directory(services, folder)
    with services.db.session() as session:
        show = find_show(session, "sawt")
        (episode,) = list_episodes(session, show)
        guid = episode.guid
        rename_episode(session, episode, "renamed")
        session.commit()
    report = sync_directory(services, folder)
    assert report.created == []
    with services.db.session() as session:
        (episode,) = list_episodes(session, find_show(session, "sawt"))
        assert (episode.slug, episode.guid) == ("renamed", guid)


@pytest.mark.postgres
def test_changed_chapters_reach_the_published_mp3(
    services: Services, tmp_path: Path, sample_mp3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MP3 carries the chapters as CHAP frames: a chapters change makes one new run, the GUID stays."""
    import json

    from mutagen.id3 import ID3

    episode_dir = tmp_path / "shows" / "daily" / "first"
    episode_dir.mkdir(parents=True)
    (episode_dir.parent / "show.toml").write_text('title = "The Daily Test"\n', encoding="utf-8")
    (episode_dir / "episode.toml").write_text('title = "First"\n', encoding="utf-8")
    shutil.copy(sample_mp3, episode_dir / "audio.mp3")
    chapters = episode_dir / "chapters.json"
    chapters.write_text(json.dumps({"chapters": [{"startTime": 0, "title": "Opening"}]}), encoding="utf-8")
    sync_directory(services, tmp_path / "shows")

    def published() -> tuple[str, str, list[str]]:
        with services.db.session() as session:
            (episode,) = list_episodes(session, find_show(session, "daily"))
            mp3 = tmp_path / "published.mp3"
            with services.store.open(episode.audio_key) as fh:
                mp3.write_bytes(fh.read())
            titles = [str(frame.sub_frames["TIT2"]) for frame in ID3(mp3).getall("CHAP")]
            return episode.guid, episode.status, titles

    guid, status, titles = published()
    assert (status, titles) == ("published", ["Opening"])
    chapters.write_text(
        json.dumps({"chapters": [{"startTime": 0, "title": "Welcome back"}]}), encoding="utf-8"
    )
    enqueued: list[str] = []
    enqueue = services.queue.enqueue

    def recorded(name: str, *args: object) -> None:
        enqueued.append(name)
        enqueue(name, *args)

    monkeypatch.setattr(services.queue, "enqueue", recorded)
    report = sync_directory(services, tmp_path / "shows")
    assert report.updated == ["daily/first"]
    assert published() == (guid, "published", ["Welcome back"])
    # sync runs the pipeline itself; a queued run as well would process the episode twice.
    assert "process_episode" not in enqueued
    assert sync_directory(services, tmp_path / "shows").updated == []


@pytest.mark.postgres
def test_changed_chapters_are_refused_while_a_run_works_on_the_episode(
    services: Services, tmp_path: Path, sample_mp3: Path
) -> None:
    import json

    from podcast_host.errors import Conflict
    from podcast_host.models import PROCESSING, utcnow

    episode_dir = tmp_path / "shows" / "daily" / "first"
    episode_dir.mkdir(parents=True)
    (episode_dir.parent / "show.toml").write_text('title = "The Daily Test"\n', encoding="utf-8")
    (episode_dir / "episode.toml").write_text('title = "First"\n', encoding="utf-8")
    shutil.copy(sample_mp3, episode_dir / "audio.mp3")
    chapters = episode_dir / "chapters.json"
    chapters.write_text(json.dumps({"chapters": [{"startTime": 0, "title": "Opening"}]}), encoding="utf-8")
    sync_directory(services, tmp_path / "shows")
    with services.db.session() as session:
        (episode,) = list_episodes(session, find_show(session, "daily"))
        episode.processing_state, episode.heartbeat_at = PROCESSING, utcnow()
        session.commit()

    chapters.write_text(json.dumps({"chapters": [{"startTime": 0, "title": "Later"}]}), encoding="utf-8")
    with pytest.raises(Conflict, match="already being processed"):
        sync_directory(services, tmp_path / "shows")
    with services.db.session() as session:
        (episode,) = list_episodes(session, find_show(session, "daily"))
        assert episode.chapters["chapters"][0]["title"] == "Opening"
        assert episode.processing_state == PROCESSING


def test_a_replaced_show_cover_is_deleted_from_the_store(services: Services, tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "episodes"
    shutil.copytree(SAMPLE, folder)
    sync_directory(services, folder)
    with services.db.session() as session:
        old_key = find_show(session, "sample-hour").image_key
    assert old_key is not None and services.store.exists(old_key)

    Image.new("RGB", (1400, 1400), (200, 30, 30)).save(folder / "sample-hour" / "cover.png")
    assert "sample-hour" in sync_directory(services, folder).updated
    with services.db.session() as session:
        new_key = find_show(session, "sample-hour").image_key
    assert new_key != old_key and services.store.exists(new_key)
    assert not services.store.exists(old_key)
