"""Every background job, listed by the name it is queued under, and what runs one (docs/architecture.md,
"Transactions and what follows them").

A queued job is a name and IDs (jobs.py carries them); the name is looked up here and the function called with
the app's services first. In a `podcast-host worker`, rq runs `run_in_worker` through jobs.run_in_worker.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from podcast_host.feeds.websub import feed_changed, websub_ping
from podcast_host.imports.run import import_feed_job
from podcast_host.jobs import RetryLater, Runner
from podcast_host.processing import process_episode_job
from podcast_host.services import Services, build_services

JOBS: dict[str, Callable[..., None]] = {
    "process_episode": process_episode_job,  # (episode_id): the audio pipeline, once
    "feed_changed": feed_changed,  # (show_id): one websub_ping per configured hub
    "websub_ping": websub_ping,  # (show_id, hub)
    "import_feed": import_feed_job,  # (import_id): another host's feed made into a show (docs/migrate.md)
}


def run(services: Services, name: str, args: tuple[Any, ...]) -> None:
    """Run one job with the app's services; KeyError for a name no job has."""
    if name not in JOBS:
        raise KeyError(f"no job named {name!r}")
    JOBS[name](services, *args)


def runner(services: Services) -> Runner:
    """What a ThreadQueue calls to run a job: `run` with these services."""
    return functools.partial(run, services)


_worker_services: Services | None = None


def run_in_worker(name: str, args: tuple[Any, ...]) -> None:
    """Entry point of rq jobs: build the services once per worker process, then run."""
    global _worker_services
    if _worker_services is None:
        # Only a worker process builds services of its own; the app hands its own to `run`.
        _worker_services = build_services()
    try:
        run(_worker_services, name, tuple(args))
    except RetryLater as exc:
        # rq retries on any exception; RetryLater only needs to be re-raised as one.
        raise RuntimeError(str(exc)) from exc
