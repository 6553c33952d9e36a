"""`podcast-host serve`: gunicorn with threads, the app built in each worker process.

gunicorn hands the request body to the app as a stream, so an upload over the size limit is answered
413 (with the JSON error) from its Content-Length before its body is read; a buffering server would
first store the whole body.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from podcast_host import create_app, processing
from podcast_host.services import build_services


class PodcastHostServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        services = build_services()
        app = create_app(services=services)
        # Threads first: recovered episodes are then processed in the background, not before serving.
        services.queue.start()
        if not services.settings.queue_url:
            # The embedded queue lost whatever it held when the last process stopped: resume it.
            processing.recover_unfinished(services, include_fresh=True)
        return app


def run_server(host: str, port: int, threads: int = 8, processes: int = 1) -> None:
    PodcastHostServer(
        {
            "bind": f"{host}:{port}",
            "workers": processes,
            "worker_class": "gthread",
            "threads": threads,
            # Uploads of hours of audio take long; the gthread worker's heartbeat does not depend on them.
            "timeout": 120,
            "graceful_timeout": 30,
            "keepalive": 5,
            "accesslog": "-",
            "errorlog": "-",
            "loglevel": "info",
            "proc_name": "podcast-host",
            # No runtime control socket: its default path is shared by every server of the user.
            "control_socket_disable": True,
        }
    ).run()
