"""`podcast-host serve`: the app with its services, and uvicorn started with the server's options."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable

import uvicorn
from uvicorn.supervisors import Multiprocess

from podcast_host import create_app, notes, recovery
from podcast_host.jobs import ThreadQueue
from podcast_host.server.body import BODY_TIMEOUT_S, WsgiApp
from podcast_host.server.bridge import WsgiBridge
from podcast_host.server.protocol import HEAD_BYTES, HEADER_TIMEOUT_S, HttpProtocol
from podcast_host.services import Services, build_services
from podcast_host.web import BODY_LIMIT

# Beyond this many open connections, new requests get 503 at once instead of waiting.
MAX_CONNECTIONS = 1000


def build_app() -> WsgiApp:
    """The Flask app with its services; in the embedded set-up the job threads start here too."""
    services = build_services()
    app = create_app(services=services)
    with services.db.session() as session:
        notes.backfill_missing_html(session)  # rows saved before notes HTML was stored; none after the first
    # Threads first: recovered episodes are then processed in the background, not before serving.
    services.queue.start()
    services.recorder.start()
    if isinstance(services.queue, ThreadQueue):
        # The embedded queue lost whatever it held when the last process stopped: resume it, then keep
        # taking over stalled runs for as long as the queue runs.
        recovery.recover_unfinished(services, include_fresh=True)
        recovery.watch_for_stalled_runs(services, services.queue.stopped)
    return app


def settle_startup_heap() -> None:
    """Move what start-up made (the app, the ORM's mappers, the catalogs: about 100,000 objects) out of the
    cyclic garbage collector's sight. They live as long as the process, and every full collection walked them
    all again: a 1,000-episode feed's render made enough objects to set one off, about 40 ms of its 300
    (docs/feeds.md, "Render time"). Reference counting still frees any of them that is dropped."""
    gc.collect()
    gc.freeze()


def _bridge(app_factory: Callable[[], WsgiApp], threads: int, body_timeout: float) -> WsgiBridge:
    app = app_factory()
    settle_startup_heap()
    services = getattr(app, "extensions", {}).get("podcast_host")
    # Bodies up to the limit of every route but the uploads arrive whole before a thread is taken.
    return WsgiBridge(
        app,
        threads=threads,
        body_timeout=body_timeout,
        body_limit=BODY_LIMIT,
        # The download counts still buffered are written before the process ends (docs/analytics.md).
        on_shutdown=services.recorder.close if isinstance(services, Services) else None,
    )


def run_server(
    host: str,
    port: int,
    threads: int = 8,
    processes: int = 1,
    header_timeout: float = HEADER_TIMEOUT_S,
    body_timeout: float = BODY_TIMEOUT_S,
    app_factory: Callable[[], WsgiApp] = build_app,
) -> None:
    """Serve until SIGTERM or SIGINT; `processes` > 1 starts that many serving processes on one socket."""
    config = uvicorn.Config(
        functools.partial(_bridge, app_factory, threads, body_timeout),
        factory=True,
        interface="asgi3",
        host=host,
        port=port,
        workers=processes,
        # uvicorn's Config types `http` as a class; it only ever calls it, so a partial works.
        http=functools.partial(HttpProtocol, header_timeout=header_timeout),  # type: ignore[arg-type]
        loop="asyncio",
        ws="none",
        lifespan="on",
        # Client addresses are the sockets' peers; PODCAST_HOST_PUBLIC_URL makes every absolute URL.
        proxy_headers=False,
        server_header=False,
        # The bridge adds Date unless the app set one (send_file does): one Date header per answer.
        date_header=False,
        h11_max_incomplete_event_size=HEAD_BYTES,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=30,
        limit_concurrency=MAX_CONNECTIONS,
        log_level="info",
        # An access log would keep every listener's address; none is written (docs/analytics.md, Privacy).
        access_log=False,
    )
    if processes == 1:
        uvicorn.Server(config).run()
        return
    Multiprocess(config, sockets=[config.bind_socket()]).run()
