"""`podcast-host serve`: uvicorn's event loop holds the connections, a pool of threads runs the Flask app.

Why this shape (docs/deployment.md, "The web server"): a thread is taken only by a request whose head has
arrived in full and whose body, when it is small, has arrived too. Slow or stalled clients wait in the event
loop, where they cost a socket, never a thread, and are closed when their time is up. Bodies larger than
the small-body limit go to the app as a stream, so an upload is answered 413 (or 401) from its
Content-Length before its body is read, and an accepted one streams to disk. Answers go the other way:
the app's thread hands them to the event loop and is free, and media files are read and sent by the event
loop, so a client that reads slowly, or stops, holds no thread either; one that leaves stops its answer.

- body.py: the request body the app reads (`RequestBody`), its time-out, and the ASGI shapes.
- answers.py: an answer on its way from the app's thread to the event loop (`Outbox`), file answers.
- protocol.py: `HttpProtocol` (a deadline for each head), the limits a head must keep, the WSGI environ.
- bridge.py: `WsgiBridge`, the ASGI app that runs the WSGI app in threads and sends its answers.
- run.py: `build_app` and `run_server`, uvicorn with the server's options.
"""

from __future__ import annotations

from podcast_host.server.answers import FileResponse
from podcast_host.server.body import BODY_TIMEOUT_S, RequestBody
from podcast_host.server.bridge import WsgiBridge
from podcast_host.server.protocol import HEAD_BYTES, HEADER_TIMEOUT_S, HttpProtocol
from podcast_host.server.run import MAX_CONNECTIONS, build_app, run_server

__all__ = [
    "BODY_TIMEOUT_S",
    "HEADER_TIMEOUT_S",
    "HEAD_BYTES",
    "MAX_CONNECTIONS",
    "FileResponse",
    "HttpProtocol",
    "RequestBody",
    "WsgiBridge",
    "build_app",
    "run_server",
]
