"""Running the service: `serve`, `worker` and `db upgrade`, all done by the operator."""

from __future__ import annotations

import click

from podcast_host import notes, recovery
from podcast_host.cli.common import LazyServices, friendly_errors, pass_services
from podcast_host.services import build_services


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="Request threads per process.")
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=int,
    help="Web processes (with a queue URL; the embedded setup runs one).",
)
@pass_services
@friendly_errors
def serve(lazy: LazyServices, host: str, port: int, threads: int, processes: int) -> None:
    """Serve the pages, feeds, media and API with a production server (uvicorn, the app on a thread pool)."""
    from podcast_host.server import run_server

    lazy.as_operator("serve")
    services = lazy.get()
    if not services.settings.queue_url and processes != 1:
        raise click.ClickException(
            "--processes needs PODCAST_HOST_QUEUE_URL: embedded jobs run in one process."
        )
    lazy.close()
    click.echo(f"Serving on http://{host}:{port} (public URL {services.settings.public_url})", err=True)
    run_server(host, port, threads=threads, processes=processes)


@click.command()
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
@pass_services
@friendly_errors
def worker(lazy: LazyServices, burst: bool) -> None:
    """Run jobs from the Redis queue (PODCAST_HOST_QUEUE_URL)."""
    import threading

    from rq import Worker

    from podcast_host.jobs import RedisQueue

    lazy.as_operator("worker")
    services = lazy.get()
    if not isinstance(services.queue, RedisQueue):
        raise click.ClickException(
            "`worker` needs PODCAST_HOST_QUEUE_URL (redis://…); `serve` runs jobs itself."
        )
    recovered = recovery.recover_unfinished(services, include_fresh=False)
    if recovered:
        click.echo(f"Re-queued {recovered} stalled episode(s).", err=True)
    if not burst:
        # Every worker also re-queues episodes whose worker died (killed machine, OOM) while it runs.
        recovery.watch_for_stalled_runs(services, threading.Event())
    Worker([services.queue.rq_queue], connection=services.queue.connection).work(burst=burst)


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_services
@friendly_errors
def db_upgrade(lazy: LazyServices) -> None:
    """Apply every pending migration."""
    lazy.as_operator("db upgrade")
    services = build_services()
    try:
        services.settings.data_dir.mkdir(parents=True, exist_ok=True)
        services.db.upgrade()
        with services.db.session() as session:
            notes.backfill_missing_html(session)  # notes HTML of rows saved before it was stored
    finally:
        services.close()
    click.echo("Database is up to date.", err=True)
