"""Jobs survive crashes: a worker killed mid-job leaves an episode that another worker finishes, once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from audio_fixtures import make_tone
from helpers import redis_url
from redis import Redis

from podcast_host import accounts, episodes, processing, recovery, shows
from podcast_host.jobs import RedisQueue, ThreadQueue
from podcast_host.models import PROCESSING, READY, Episode, utcnow
from podcast_host.services import Services

# Runs claimed, crashed and resumed across processes: on PostgreSQL too.
pytestmark = pytest.mark.postgres

REDIS_URL = redis_url(15)


@pytest.fixture
def redis_services(tmp_path: Path, database_url: str) -> Services:
    from conftest import make_services

    Redis.from_url(REDIS_URL).flushdb()
    built = make_services(tmp_path, database_url=database_url, queue_url=REDIS_URL, job_stale_s=2)
    yield built
    built.close()
    Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture
def long_wav(tmp_path: Path) -> Path:
    """Two minutes of stereo audio: long enough to kill a worker in the middle of it."""
    return make_tone(tmp_path / "long.wav", seconds=120, level_db=-18)


def _worker_env(services: Services) -> dict[str, str]:
    settings = services.settings
    return {
        **os.environ,
        "PODCAST_HOST_DATA_DIR": str(settings.data_dir),
        "PODCAST_HOST_DATABASE_URL": settings.database_url,
        "PODCAST_HOST_QUEUE_URL": REDIS_URL,
        "PODCAST_HOST_SECRET_KEY": settings.secret_key,
        "PODCAST_HOST_JOB_STALE_S": "2",
    }


def _start_worker(services: Services, *args: str) -> subprocess.Popen[bytes]:
    log = services.settings.data_dir / "worker.log"
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "podcast_host.cli", "worker", *args],
            env=_worker_env(services),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )


def _log(services: Services) -> str:
    return (services.settings.data_dir / "worker.log").read_text(errors="replace")[-3000:]


def _episode(services: Services, episode_id: int) -> Episode:
    with services.db.session() as session:
        return episodes.get_episode(session, episode_id)


def _wait_until_stale(services: Services, episode_id: int) -> None:
    """Wait until the dead run's last heartbeat is older than job_stale_s, when the next worker may take the
    episode over, and no longer: the last beat came up to a beat's interval before the kill."""
    deadline = time.monotonic() + 30
    while True:
        beat = _episode(services, episode_id).heartbeat_at
        assert beat is not None
        if beat < processing.stale_before(services.settings, utcnow()):
            return
        assert time.monotonic() < deadline, "the heartbeat never went stale: is the worker still alive?"
        time.sleep(0.05)


def _upload(services: Services, audio: Path) -> int:
    with services.db.session() as session:
        show = shows.create_show(session, services.settings.public_url, {"slug": "jobs", "title": "Jobs"})
        created = episodes.create_episode(
            services, session, show, episodes.Upload(audio, audio.name), {"title": "Survivor"}
        )
        return created.id


@pytest.mark.slow
def test_uploads_are_queued_in_redis_not_run_in_the_web_process(
    redis_services: Services, sample_mp3: Path
) -> None:
    assert isinstance(redis_services.queue, RedisQueue)
    episode_id = _upload(redis_services, sample_mp3)
    assert _episode(redis_services, episode_id).status == "processing"
    assert redis_services.queue.rq_queue.count == 1

    worker = _start_worker(redis_services, "--burst")
    assert worker.wait(timeout=120) == 0, _log(redis_services)
    finished = _episode(redis_services, episode_id)
    assert finished.status == "published", finished.error
    assert finished.attempts == 1


@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_an_episode_that_still_finishes_once(
    redis_services: Services, long_wav: Path
) -> None:
    episode_id = _upload(redis_services, long_wav)
    worker = _start_worker(redis_services)
    deadline = time.monotonic() + 60
    while _episode(redis_services, episode_id).processing_state != PROCESSING:
        assert time.monotonic() < deadline, "the worker never started the job"
        time.sleep(0.05)
    time.sleep(0.5)
    # As if the machine died: the worker, rq's work horse (its own process group) and ffmpeg, all at once.
    family = [worker.pid, *(child.pid for child in psutil.Process(worker.pid).children(recursive=True))]
    for pid in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(timeout=10)
    assert _episode(redis_services, episode_id).processing_state == PROCESSING

    _wait_until_stale(redis_services, episode_id)
    second = _start_worker(redis_services, "--burst")
    assert second.wait(timeout=180) == 0, _log(redis_services)
    done = _episode(redis_services, episode_id)
    assert done.processing_state == READY and done.status == "published", (done.error, _log(redis_services))
    assert done.attempts == 2
    assert redis_services.store.exists(done.audio_key or "")
    assert redis_services.store.size(done.audio_key or "") == done.enclosure_length
    with redis_services.db.session() as session:
        assert session.query(Episode).count() == 1


def test_a_job_run_twice_publishes_once(sqlite_services: Services, sample_mp3: Path) -> None:
    with sqlite_services.db.session() as session:
        show = shows.create_show(
            session, sqlite_services.settings.public_url, {"slug": "twice", "title": "T"}
        )
        created = episodes.create_episode(
            sqlite_services, session, show, episodes.Upload(sample_mp3, "a.mp3"), {"title": "Once"}
        )
    first = _episode(sqlite_services, created.id)
    assert first.status == "published"
    # A duplicate delivery of the same job finds the episode ready and leaves it alone.
    assert processing.process_episode(sqlite_services, created.id) == READY
    again = _episode(sqlite_services, created.id)
    assert (again.audio_key, again.publish_at, again.attempts) == (first.audio_key, first.publish_at, 1)


def test_serve_resumes_episodes_left_unfinished_by_a_crash(
    sqlite_services: Services, sample_mp3: Path
) -> None:
    with sqlite_services.db.session() as session:
        user = accounts.create_user(session, "crash@example.com", None)
        show = shows.create_show(
            session, sqlite_services.settings.public_url, {"slug": "c", "title": "C"}, user
        )
        created = episodes.create_episode(
            sqlite_services,
            session,
            show,
            episodes.Upload(sample_mp3, "a.mp3"),
            {"title": "Half done"},
            enqueue=False,
        )
        created.processing_state = PROCESSING  # as a server killed mid-job leaves it
        session.commit()
    assert recovery.recover_unfinished(sqlite_services, include_fresh=True) == 1
    assert _episode(sqlite_services, created.id).status == "published"


def test_a_job_waiting_in_the_embedded_queue_is_queued_once() -> None:
    """Recovery re-queues episodes still waiting behind a long backlog; one waiting copy is enough."""
    ran: list[object] = []
    gate = threading.Event()

    def count(name: str, args: tuple[object, ...]) -> None:  # the queue's runner: the job it was given
        assert name == "count_deliveries"
        ran.extend(args)
        gate.wait(10)

    queue = ThreadQueue(count, workers=1)
    queue.start()
    try:
        queue.enqueue("count_deliveries", 1)
        deadline = time.monotonic() + 10
        while ran != [1]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        queue.enqueue("count_deliveries", 2)
        queue.enqueue("count_deliveries", 2)
        gate.set()
        assert queue.join(timeout=10)
        assert ran == [1, 2]
        queue.enqueue("count_deliveries", 2)  # once started, a new delivery runs again
        assert queue.join(timeout=10)
        assert ran == [1, 2, 2]
    finally:
        queue.stop()


def test_jobs_queued_under_the_old_entry_point_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """rq names podcast_host.jobs.run_in_worker, as earlier releases did: it runs the job listed in tasks."""
    from podcast_host import jobs, tasks

    ran: list[tuple[str, tuple[object, ...]]] = []
    monkeypatch.setattr(tasks, "run_in_worker", lambda name, args: ran.append((name, args)))
    jobs.run_in_worker("feed_changed", (7,))
    assert ran == [("feed_changed", (7,))]
