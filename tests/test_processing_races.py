"""A processing run only ever publishes what it was asked to make, on the episode it was made for: late runs,
reused ids, replaced originals, hung ffmpeg and a publish racing the finish all end with the right audio."""

from __future__ import annotations

import os
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from audio_fixtures import make_tone
from helpers import stored_episode
from sqlalchemy import create_engine, inspect, text

from podcast_host import accounts, audio, db, episodes, processing, recovery, shows, tasks
from podcast_host.errors import Conflict
from podcast_host.jobs import ThreadQueue
from podcast_host.models import FAILED, PENDING, PROCESSING, READY, Episode, Show, utcnow
from podcast_host.services import Services
from podcast_host.storage import LocalStore

# Claims, ids never reused and the migration: the database's to keep, so on PostgreSQL too.
pytestmark = pytest.mark.postgres

# Any SHA-256 will do: these runs are refused before anything reads it.
SHA256 = "c2hh"
RESULT = audio.ProcessResult(duration_s=4.0, channels=2, loudness_report={}, waveform=[])


def _show(services: Services, slug: str, owner: str | None = None) -> int:
    with services.db.session() as session:
        user = accounts.create_user(session, owner, None) if owner else None
        show = shows.create_show(session, services.settings.public_url, {"slug": slug, "title": slug}, user)
        session.commit()
        return show.id


def _episode(services: Services, episode_id: int) -> Episode:
    with services.db.session() as session:
        return episodes.get_episode(session, episode_id)


def _late_audio(services: Services, episode: Episode, name: str) -> str:
    """An MP3 a run made and uploaded, about to be published by its _finish."""
    key = f"shows/{episode.show_id}/episodes/{episode.id}/audio/{name}.mp3"
    services.store.put_bytes(key, b"audio of " + name.encode(), "audio/mpeg")
    return key


def _go_silent(services: Services, episode_id: int) -> None:
    """The run working on the episode stops beating, as a paused or partitioned worker would."""
    with services.db.session() as session:
        episodes.get_episode(session, episode_id).heartbeat_at = utcnow() - timedelta(hours=1)
        session.commit()


# --- claims are never reused ------------------------------------------------------------------------------


def test_a_deleted_episodes_late_run_never_publishes_on_the_episode_that_follows(
    services: Services, sample_mp3: Path
) -> None:
    first_show = _show(services, "first", "first@example.com")
    gone_id = stored_episode(services, first_show, sample_mp3)
    gone = _episode(services, gone_id)
    late_claim = processing._claim(services, gone_id)
    assert late_claim is not None
    late_key = _late_audio(services, gone, "from-the-deleted-episode")
    with services.db.session() as session:
        episodes.delete_episode(services, session, episodes.get_episode(session, gone_id))
        session.commit()

    # Another producer's show gets the next episode, and a run starts on it.
    other_show = _show(services, "other", "other@example.com")
    fresh_id = stored_episode(services, other_show, sample_mp3)
    assert fresh_id != gone_id, "an id once used is never handed out again"
    assert processing._claim(services, fresh_id) is not None

    finished = processing._finish(
        services,
        gone_id,
        late_claim,
        processing.Published(late_key, 22, SHA256),
        RESULT,
        first_show,
        original_key=gone.original_key or "",
    )
    assert finished == "missing"
    fresh = _episode(services, fresh_id)
    assert fresh.audio_key is None and fresh.processing_state == PROCESSING
    assert not services.store.exists(late_key)


def test_a_late_run_with_the_same_claim_count_cannot_publish_on_a_reused_row(
    services: Services, sample_mp3: Path
) -> None:
    """Even a row that got the same id (rows made before ids stopped being reused) is safe from a late run."""
    show_id = _show(services, "same")
    episode_id = stored_episode(services, show_id, sample_mp3)
    episode = _episode(services, episode_id)
    late_claim = processing._claim(services, episode_id)
    late_key = _late_audio(services, episode, "late")
    with services.db.session() as session:  # the row is reset and claimed again by a new run
        session.execute(
            text("UPDATE episodes SET processing_state = :s, attempts = 0 WHERE id = :id"),
            {"s": PENDING, "id": episode_id},
        )
        session.commit()
    assert processing._claim(services, episode_id) is not None
    assert _episode(services, episode_id).attempts == 1  # the same count the late run holds

    assert (
        processing._finish(
            services,
            episode_id,
            late_claim,
            processing.Published(late_key, 4, SHA256),
            RESULT,
            show_id,
            original_key=episode.original_key or "",
        )
        == PROCESSING
    )
    assert _episode(services, episode_id).audio_key is None


@pytest.mark.parametrize("restart", ["reprocess", "replace_original"])
def test_a_stalled_run_cannot_publish_after_the_episode_was_restarted(
    services: Services, sample_mp3: Path, tmp_path: Path, restart: str
) -> None:
    show_id = _show(services, "stall")
    episode_id = stored_episode(services, show_id, sample_mp3)
    before = _episode(services, episode_id)
    stalled = processing._claim(services, episode_id)
    stalled_key = _late_audio(services, before, "from-the-old-original")
    _go_silent(services, episode_id)

    with services.db.session() as session:
        episode = episodes.get_episode(session, episode_id)
        if restart == "reprocess":
            services.queue = _Held()
            episodes.request_reprocess(services, session, episode)
            session.commit()
        else:
            newer = make_tone(tmp_path / "newer.mp3", seconds=2, frequency=660)
            episodes.replace_original(services, session, episode, episodes.Upload(newer, "newer.mp3"))
            session.commit()
    current = processing._claim(services, episode_id)
    assert current is not None

    # The stalled run wakes up and tries to publish what it made from the old original.
    assert (
        processing._finish(
            services,
            episode_id,
            stalled,
            processing.Published(stalled_key, 4, SHA256),
            RESULT,
            show_id,
            original_key=before.original_key or "",
        )
        == PROCESSING
    )
    assert _episode(services, episode_id).audio_key is None
    assert not services.store.exists(stalled_key)

    after = _episode(services, episode_id)
    current_key = _late_audio(services, after, "current")
    finished = processing._finish(
        services,
        episode_id,
        current,
        processing.Published(current_key, 4, SHA256),
        RESULT,
        show_id,
        original_key=after.original_key or "",
    )
    assert finished == READY
    assert _episode(services, episode_id).audio_key == current_key


def test_a_run_made_from_another_original_is_not_published(services: Services, sample_mp3: Path) -> None:
    show_id = _show(services, "orig")
    episode_id = stored_episode(services, show_id, sample_mp3)
    episode = _episode(services, episode_id)
    claim = processing._claim(services, episode_id)
    key = _late_audio(services, episode, "wrong-source")
    stale_original = episode.original_key.replace("original-", "original-0") if episode.original_key else ""
    assert (
        processing._finish(
            services,
            episode_id,
            claim,
            processing.Published(key, 4, SHA256),
            RESULT,
            show_id,
            original_key=stale_original,
        )
        == PROCESSING
    )
    assert _episode(services, episode_id).audio_key is None


def test_the_heartbeat_of_a_late_run_does_not_touch_a_newer_run(
    services: Services, sample_mp3: Path, tmp_path: Path
) -> None:
    show_id = _show(services, "beat")
    episode_id = stored_episode(services, show_id, sample_mp3)
    late = processing._claim(services, episode_id)
    _go_silent(services, episode_id)
    assert processing._claim(services, episode_id) is not None
    _go_silent(services, episode_id)  # the newer run's last beat was a while ago
    silent_since = _episode(services, episode_id).heartbeat_at
    services.settings = _with(services.settings, job_stale_s=0.2)
    with processing._heartbeat(services, episode_id, late, None, tmp_path) as report:
        report(0.5)
        time.sleep(0.4)
    assert _episode(services, episode_id).heartbeat_at == silent_since


def test_replacing_the_original_while_a_live_run_works_is_refused(
    services: Services, sample_mp3: Path, tmp_path: Path
) -> None:
    show_id = _show(services, "live")
    episode_id = stored_episode(services, show_id, sample_mp3)
    processing._claim(services, episode_id)
    stored_before = _stored_files(services)
    newer = make_tone(tmp_path / "newer.mp3", seconds=2, frequency=660)
    with services.db.session() as session, pytest.raises(Conflict):
        episode = episodes.get_episode(session, episode_id)
        episodes.replace_original(services, session, episode, episodes.Upload(newer, "newer.mp3"))
    assert _stored_files(services) == stored_before, "nothing half-stored"
    assert _episode(services, episode_id).processing_state == PROCESSING


# --- ids are never reused, also in databases made before -------------------------------------------------


def test_the_migration_keeps_every_row_and_stops_id_reuse(database_url: str, tmp_path: Path) -> None:
    engine = create_engine(database_url)
    _migrate(engine, "0003")
    now = "2026-01-01 00:00:00"
    rows = [
        "INSERT INTO users (id, email, is_admin, created_at, session_generation) "
        "VALUES (1, 'a@example.com', false, :now, 0)",
        "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, read_only) "
        "VALUES (1, 1, 't', 'h', :now, false)",
        *(
            "INSERT INTO shows (id, slug, title, description, language, author, email, category, explicit, "
            "copyright, show_type, medium, locked, funding_url, funding_text, podcast_guid, created_at, "
            f"updated_at) VALUES ({i}, 's{i}', 'S', '', 'en', '', '', '', false, '', 'episodic', 'podcast', "
            "false, '', '', 'g', :now, :now)"
            for i in (1, 2)
        ),
        "INSERT INTO memberships (id, show_id, user_id, role) VALUES (1, 1, 1, 'owner')",
        "INSERT INTO show_aliases (slug, show_id) VALUES ('old', 1)",
        *(
            "INSERT INTO episodes (id, show_id, guid, slug, title, description, episode_type, explicit, "
            "draft, processing_state, attempts, progress, original_filename, enclosure_type, created_at, "
            "updated_at, "
            f"audio_key) VALUES ({i}, 1, 'g{i}', 'e{i}', 'E{i}', '', 'full', false, false, 'ready', 1, 1.0, "
            f"'a.mp3', 'audio/mpeg', :now, :now, 'shows/1/episodes/{i}/audio/e.mp3')"
            for i in (1, 2, 3)
        ),
        "INSERT INTO episode_aliases (id, show_id, slug, episode_id) VALUES (1, 1, 'older', 2)",
    ]
    with engine.begin() as conn:
        for row in rows:
            conn.execute(text(row), {"now": now})
        if conn.dialect.name == "postgresql":  # rows given ids by hand leave the sequences behind
            for table in ("users", "api_tokens", "shows", "memberships", "episodes", "episode_aliases"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 3)"))
        conn.execute(text("DELETE FROM shows WHERE id = 2"))
        conn.execute(text("DELETE FROM episodes WHERE id = 3"))

    _migrate(engine, "head")
    with engine.begin() as conn:
        counts = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in ("users", "api_tokens", "shows", "memberships", "show_aliases", "episodes")
        }
        assert counts == {
            "users": 1,
            "api_tokens": 1,
            "shows": 1,
            "memberships": 1,
            "show_aliases": 1,
            "episodes": 2,
        }
        assert conn.execute(text("SELECT episode_id FROM episode_aliases")).scalar() == 2
        assert conn.execute(text("SELECT audio_key FROM episodes WHERE id = 2")).scalar().endswith("e.mp3")
        assert "claim_token" in {c["name"] for c in inspect(conn).get_columns("episodes")}
        assert {i["name"] for i in inspect(conn).get_indexes("episodes")} >= {
            "ix_episodes_show_id",
            "ix_episodes_publish_at",
        }

    # The foreign keys still cascade, and the next ids are new ones from now on.
    services = _services_on(tmp_path, database_url)
    try:
        with services.db.session() as session:
            show = session.get(Show, 1)
            created = episodes.create_episode(
                services, session, show, _tone_upload(tmp_path), {"title": "After"}, enqueue=False
            )
            after_id = created.id
            session.delete(session.get(Episode, after_id))
            session.commit()
            again = episodes.create_episode(
                services, session, show, _tone_upload(tmp_path), {"title": "Again"}, enqueue=False
            )
            assert again.id > after_id
            newest_show = shows.create_show(
                session, services.settings.public_url, {"slug": "n", "title": "N"}
            )
            session.commit()
            assert newest_show.id > 1
            session.delete(session.get(Show, 1))
            session.commit()
            assert session.scalar(text("SELECT count(*) FROM episode_aliases")) == 0
            assert session.scalar(text("SELECT count(*) FROM episodes WHERE show_id = 1")) == 0
    finally:
        services.close()
    engine.dispose()


def _migrate(engine: Any, revision: str) -> None:
    from alembic import command

    with engine.begin() as conn:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def _services_on(tmp_path: Path, database_url: str) -> Services:
    from conftest import make_services

    return make_services(tmp_path / "after", database_url=database_url)


def _tone_upload(tmp_path: Path) -> episodes.Upload:
    path = tmp_path / "tone.mp3"
    if not path.exists():
        make_tone(path, seconds=1)
    return episodes.Upload(path, "tone.mp3")


# --- a hung run ends ---------------------------------------------------------------------------------------


@pytest.fixture
def slow_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real ffmpeg, made to read its input no faster than it plays: a job that would take many minutes."""
    real = audio.ffmpeg_binary()
    folder = tmp_path / "slow-bin"
    folder.mkdir()
    wrapper = folder / "ffmpeg"
    wrapper.write_text(f'#!/bin/sh\nexec "{real}" -re "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    assert shutil.which("ffmpeg") == str(wrapper)


def test_a_run_past_its_deadline_is_failed_and_its_ffmpeg_stopped(
    sqlite_services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    services = sqlite_services
    long_audio = make_tone(tmp_path / "long.wav", seconds=30)
    episode_id = stored_episode(services, _show(services, "hung"), long_audio)
    request.getfixturevalue("slow_ffmpeg")
    monkeypatch.setattr(processing, "DEADLINE_FACTOR", 0.0)
    monkeypatch.setattr(processing, "DEADLINE_SLACK_S", 1.5)
    seen_ffmpeg: list[int] = []

    def watch(_: float) -> None:
        seen_ffmpeg.extend(p.pid for p in psutil.Process().children() if p.name().startswith("ffmpeg"))

    started = time.monotonic()
    assert processing.process_episode(services, episode_id, progress=watch) == FAILED
    assert time.monotonic() - started < 15, "the run ended soon after its deadline"
    assert seen_ffmpeg, "the pipeline ran"
    assert not [p for p in psutil.Process().children() if p.name().startswith("ffmpeg")]
    failed = _episode(services, episode_id)
    # The pipeline's own deadline stopped it: the run ends with audio.TimedOut's sentence.
    assert failed.error == "Processing took longer than its time limit; reprocess the episode to try again."
    assert failed.audio_key is None
    assert not list((services.settings.data_dir / "tmp" / "jobs").iterdir())


def test_the_embedded_queue_takes_over_stalled_runs_while_it_runs(
    sqlite_services: Services, sample_mp3: Path
) -> None:
    services = sqlite_services
    episode_id = stored_episode(services, _show(services, "resume"), sample_mp3)
    processing._claim(services, episode_id)
    _go_silent(services, episode_id)  # the process that ran it died long after this one started
    queue = ThreadQueue(tasks.runner(services))
    services.queue = queue
    queue.start()
    recovery.watch_for_stalled_runs(services, queue.stopped, every_s=0.2)
    try:
        deadline = time.monotonic() + 60
        while _episode(services, episode_id).processing_state != READY:
            assert time.monotonic() < deadline, "the stalled episode was never taken over"
            time.sleep(0.2)
    finally:
        queue.stop()
    assert _episode(services, episode_id).status == "published"


# --- publishing while processing ends ----------------------------------------------------------------------


def test_publishing_while_the_job_finishes_publishes(services: Services, sample_mp3: Path) -> None:
    episode_id = stored_episode(services, _show(services, "pub"), sample_mp3, draft="true")
    request = services.db.sessions()
    try:
        loaded = request.get(Episode, episode_id)  # the publish request reads the episode while it processes
        assert loaded is not None and loaded.processing_state == PENDING
        assert processing.process_episode(services, episode_id) == READY  # the job commits meanwhile
        episodes.publish_episode(services, request, loaded)
        request.commit()
    finally:
        request.close()
    done = _episode(services, episode_id)
    assert (done.processing_state, done.draft, done.status) == (READY, False, "published")
    with services.db.session() as session:
        assert [e.id for e in episodes.public_episodes(session, session.get(Show, done.show_id))] == [
            episode_id
        ]


def test_publishing_first_then_finishing_publishes(services: Services, sample_mp3: Path) -> None:
    episode_id = stored_episode(services, _show(services, "first"), sample_mp3, draft="true")
    with services.db.session() as session:
        episodes.publish_episode(services, session, episodes.get_episode(session, episode_id))
        session.commit()
    assert _episode(services, episode_id).status == "processing"
    assert processing.process_episode(services, episode_id) == READY
    assert _episode(services, episode_id).status == "published"


def test_publish_now_during_a_reprocess_keeps_the_current_audio_listed(
    services: Services, sample_mp3: Path
) -> None:
    later = (utcnow() + timedelta(days=30)).isoformat()
    episode_id = stored_episode(services, _show(services, "sched"), sample_mp3, publish_at=later)
    processing.process_episode(services, episode_id)
    services.queue = _Held()
    with services.db.session() as session:
        episodes.request_reprocess(services, session, episodes.get_episode(session, episode_id))
        session.commit()
    with services.db.session() as session:
        episodes.publish_episode(services, session, episodes.get_episode(session, episode_id))
        session.commit()
    listed = _episode(services, episode_id)
    assert listed.publish_at is not None and listed.publish_at <= utcnow()
    assert listed.is_public_at(utcnow())

    # The reprocess then fails: publishing again still works with the audio it has.
    with services.db.session() as session:
        episode = episodes.get_episode(session, episode_id)
        episode.processing_state, episode.publish_at, episode.draft = FAILED, None, True
        session.commit()
        episodes.publish_episode(services, session, episode)
        session.commit()
    assert _episode(services, episode_id).is_public_at(utcnow())


# --- job folders do not pile up ----------------------------------------------------------------------------


def test_runs_work_in_the_data_folder_and_leftovers_are_swept(
    sqlite_services: Services, sample_mp3: Path
) -> None:
    services = sqlite_services
    episode_id = stored_episode(services, _show(services, "tidy"), sample_mp3)
    jobs_dir = services.settings.data_dir / "tmp" / "jobs"
    during: list[list[Path]] = []
    processing.process_episode(
        services, episode_id, progress=lambda _: during.append(list(jobs_dir.glob("*/original.*")))
    )
    assert any(during), "the run keeps its original under the data folder"
    assert list(jobs_dir.iterdir()) == []

    crashed = jobs_dir / "episode-1-crashed"
    crashed.mkdir()
    (crashed / "original.wav").write_bytes(b"x" * 1000)
    live = jobs_dir / "episode-2-live"
    live.mkdir()
    hour_ago = time.time() - 3600
    os.utime(crashed, (hour_ago, hour_ago))
    assert isinstance(services.store, LocalStore)
    partial_uploads = Path(services.store.root) / ".uploads"
    assert partial_uploads.is_dir() and list(partial_uploads.iterdir()) == []
    half_upload = partial_uploads / ".upload-abc.tmp"
    fresh_upload = partial_uploads / ".upload-def.tmp"
    half_upload.write_bytes(b"half")
    fresh_upload.write_bytes(b"writing")
    two_hours_ago = time.time() - 7200
    os.utime(half_upload, (two_hours_ago, two_hours_ago))

    recovery.recover_unfinished(services, include_fresh=False)
    assert not crashed.exists() and live.exists()
    assert not half_upload.exists() and fresh_upload.exists()


# --- helpers ---------------------------------------------------------------------------------------------


class _Held:
    """A queue that keeps what it is given: the test decides when a run starts."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple[Any, ...]]] = []

    def enqueue(self, name: str, *args: Any) -> None:
        self.jobs.append((name, args))

    def stop(self) -> None:
        """Nothing runs in the background."""


def _with(settings: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(settings, **changes)


def _stored_files(services: Services) -> list[Path]:
    assert isinstance(services.store, LocalStore)
    root = Path(services.store.root)
    return sorted(p for p in root.rglob("*") if p.is_file())
