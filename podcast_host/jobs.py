"""The job queues: named jobs run with IDs, in worker threads or through Redis (rq).

Jobs carry IDs, never objects, and are enqueued only after the database transaction that
created their work has committed (db.enqueue_after_commit). Every job is idempotent: running one twice is
harmless. Which jobs there are, and what runs them, is tasks.py's.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from podcast_host.config import Settings

log = logging.getLogger(__name__)

# Runs one job by name with its arguments: tasks.run with the app's services, in the app.
Runner = Callable[[str, tuple[Any, ...]], None]
# The longest any job may run in a `podcast-host worker` before rq kills it; processing deadlines stay below.
JOB_TIMEOUT_S = 3 * 3600
# What rq imports in a worker to run a job. Earlier releases' workers know only this name, so jobs keep naming
# it (it forwards to tasks.run_in_worker) while a rolling upgrade runs old and new workers side by side.
WORKER_ENTRY_POINT = "podcast_host.jobs.run_in_worker"


class RetryLater(Exception):
    """Raised by a job whose failure is passing (store unreachable): run it again later."""


class JobQueue(Protocol):
    def enqueue(self, name: str, *args: Any) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def join(self, timeout: float | None = None) -> bool: ...


@dataclass
class Retry:
    attempts: int = 4
    first_delay_s: float = 2.0

    def delay_s(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (from 1): doubling from first_delay_s."""
        return self.first_delay_s * 2.0 ** (attempt - 1)


class ThreadQueue:
    """The embedded queue: worker threads inside the web process (or the CLI)."""

    def __init__(self, runner: Runner, workers: int = 1, retry: Retry | None = None) -> None:
        self.runner = runner
        self.workers = workers
        self.retry = retry or Retry()
        # Set once the queue stops: what runs beside its threads (the watch for stalled runs) stops with it.
        self.stopped = threading.Event()
        self._queue: queue.Queue[tuple[str, tuple[Any, ...], int] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        # Jobs queued and not started yet: the periodic recovery re-queues episodes still waiting behind a
        # long backlog, and one waiting copy of a job is enough.
        self._waiting: set[tuple[str, tuple[Any, ...]]] = set()
        self._lock = threading.Condition()

    def enqueue(self, name: str, *args: Any) -> None:
        with self._lock:
            if (name, args) in self._waiting:
                return
            self._waiting.add((name, args))
            self._busy += 1
        self._queue.put((name, args, 1))
        if not self._threads:
            # No worker threads (tests, short CLI commands): run inline so nothing waits forever.
            self._drain_inline()

    def start(self) -> None:
        self.stopped.clear()
        for index in range(self.workers):
            thread = threading.Thread(target=self._loop, name=f"podcast-host-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self.stopped.set()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every enqueued job has finished; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def _drain_inline(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._started(item)
                self._run_with_retry(*item, sleep=True)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._started(item)
            self._run_with_retry(*item, sleep=False)

    def _run_with_retry(self, name: str, args: tuple[Any, ...], attempt: int, sleep: bool) -> None:
        try:
            self.runner(name, args)
        except RetryLater as exc:
            if attempt < self.retry.attempts:
                delay = self.retry.delay_s(attempt)
                log.warning("job %s%r failed (%s); retry %d in %.0f s", name, args, exc, attempt, delay)
                self._schedule(name, args, attempt + 1, delay, sleep)
                return
            log.error("job %s%r gave up after %d attempts: %s", name, args, attempt, exc)
        except Exception:
            log.exception("job %s%r crashed", name, args)
        self._done()

    def _schedule(self, name: str, args: tuple[Any, ...], attempt: int, delay: float, sleep: bool) -> None:
        if sleep:
            time.sleep(delay)
            self._run_with_retry(name, args, attempt, sleep=True)
            return
        timer = threading.Timer(delay, self._queue.put, args=[(name, args, attempt)])
        timer.daemon = True
        timer.start()

    def _started(self, item: tuple[str, tuple[Any, ...], int]) -> None:
        with self._lock:
            self._waiting.discard(item[:2])

    def _done(self) -> None:
        with self._lock:
            self._busy -= 1
            self._lock.notify_all()


class RedisQueue:
    """The distributed queue: rq on Redis; `podcast-host worker` runs the jobs."""

    QUEUE_NAME = "podcast-host"

    def __init__(self, url: str, retry: Retry | None = None) -> None:
        from redis import Redis
        from rq import Queue

        self.connection = Redis.from_url(url)
        self.retry = retry or Retry()
        self.rq_queue = Queue(self.QUEUE_NAME, connection=self.connection)

    def enqueue(self, name: str, *args: Any) -> None:
        from rq import Retry as RqRetry

        intervals = [int(self.retry.delay_s(attempt)) for attempt in range(1, self.retry.attempts)]
        self.rq_queue.enqueue(
            WORKER_ENTRY_POINT,
            name,
            args,
            retry=RqRetry(max=self.retry.attempts - 1, interval=intervals),
            job_timeout=JOB_TIMEOUT_S,
        )

    def start(self) -> None:
        """Jobs run in `podcast-host worker` processes, not here."""

    def stop(self) -> None:
        self.connection.close()

    def join(self, timeout: float | None = None) -> bool:
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        from rq.registry import StartedJobRegistry

        started = StartedJobRegistry(queue=self.rq_queue)
        while time.monotonic() < deadline:
            if self.rq_queue.count == 0 and started.count == 0:
                return True
            time.sleep(0.2)
        return False


def make_queue(settings: Settings, runner: Runner) -> JobQueue:
    """rq on Redis with a queue URL (its workers run the jobs), else worker threads that call `runner`."""
    if settings.queue_url:
        return RedisQueue(settings.queue_url)
    return ThreadQueue(runner, workers=settings.workers)


def run_in_worker(name: str, args: tuple[Any, ...]) -> None:
    """The rq entry point (WORKER_ENTRY_POINT), kept here because earlier releases' workers import it by this
    name; it forwards to tasks.run_in_worker, where the jobs are listed."""
    from podcast_host.tasks import run_in_worker as run_job

    run_job(name, args)
