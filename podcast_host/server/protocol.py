"""HTTP/1.1 on uvicorn's h11 protocol: a deadline for each request head, the limits a head must keep, and
the WSGI environ a request becomes (docs/deployment.md, "The web server")."""

from __future__ import annotations

import asyncio
import json
import sys
from email.utils import formatdate
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from podcast_host.server.answers import FileResponse
from podcast_host.server.body import RequestBody, Scope, Send

# A request's head (request line and headers) must arrive within this many seconds of the connection
# opening or of the previous response.
HEADER_TIMEOUT_S = 10.0
# Request heads, as gunicorn limits them: a longer request line gets 414, more or longer header fields (or
# a head larger than HEAD_BYTES in all) get 431, and the connection is closed.
REQUEST_LINE_BYTES = 4094
HEADER_FIELDS = 100
HEADER_FIELD_BYTES = 8190
HEAD_BYTES = 32 * 1024


def head_refusal(scope: Scope) -> tuple[int, str, str] | None:
    """Why a request head is refused before the app sees it (docs/deployment.md, "The web server")."""
    headers = scope["headers"]
    names = {name for name, _ in headers}
    if b"content-length" in names and b"transfer-encoding" in names:
        # Two framings of one body: a proxy in front may have read the other one (request smuggling).
        return 400, "bad_request", "A request must not have both Content-Length and Transfer-Encoding."
    query = scope["query_string"]
    target = len(scope["raw_path"]) + (len(query) + 1 if query else 0)
    if len(scope["method"]) + target + len(" HTTP/1.1") > REQUEST_LINE_BYTES:
        return 414, "uri_too_long", f"The request line is longer than {REQUEST_LINE_BYTES} bytes."
    sizes = [len(name) + len(value) + 2 for name, value in headers]
    if len(headers) > HEADER_FIELDS or max(sizes, default=0) > HEADER_FIELD_BYTES or sum(sizes) > HEAD_BYTES:
        return 431, "headers_too_large", _HEADERS_TOO_LARGE
    return None


_HEADERS_TOO_LARGE = (
    f"At most {HEADER_FIELDS} header fields of {HEADER_FIELD_BYTES} bytes each, {HEAD_BYTES} bytes in all."
)


def wsgi_environ(scope: Scope, body: RequestBody) -> dict[str, Any]:
    server_host, server_port = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server_host),
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "REMOTE_ADDR": client[0],
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        # The server ends the stream where the body ends (chunked bodies included), so the app may read it
        # to its end and enforce its own limits while reading.
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": FileResponse,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in scope["headers"]:
        if b"_" in name:
            # `X_Forwarded_For` would otherwise merge into X-Forwarded-For's key: dropped, as gunicorn does.
            continue
        key = name.decode("latin-1").upper().replace("-", "_")
        key = key if key in ("CONTENT_LENGTH", "CONTENT_TYPE") else f"HTTP_{key}"
        text = value.decode("latin-1")
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    return environ


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    """The app's JSON error shape, for refusals made before the app sees the request."""
    payload = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
        (b"date", formatdate(usegmt=True).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


class HttpProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request head, which uvicorn has not.

    uvicorn closes an idle kept-alive connection, but any byte that arrives cancels that timer, so a client
    that trickles a request line would hold its connection for ever.
    """

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvicorn's H11Protocol narrows the argument to the asyncio.Transport that a server always hands it.
        super().connection_made(transport)  # type: ignore[arg-type]
        self._expect_head()

    def on_response_complete(self) -> None:
        finished = self.cycle
        super().on_response_complete()
        # A pipelined request already in the buffer has started its cycle inside the call above: its head has
        # arrived, so only a connection still on the finished cycle waits for a head.
        if self.cycle is finished:
            self._expect_head()

    def _expect_head(self) -> None:
        self.loop.call_later(self.header_timeout, self._head_overdue, self.cycle)

    def _head_overdue(self, cycle: object) -> None:
        # A new cycle means the next head arrived in time; the same one means it did not.
        if self.cycle is cycle and not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """h11 refuses a head that grows past HEAD_BYTES before it ends: that is a 431 too, not a 400."""
        if len(self.conn.trailing_data[0]) <= HEAD_BYTES:
            super().send_400_response(msg)
            return
        payload = json.dumps({"error": {"code": "headers_too_large", "message": _HEADERS_TOO_LARGE}}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"connection", b"close"),
            (b"date", formatdate(usegmt=True).encode()),
        ]
        for event in (
            h11.Response(status_code=431, headers=headers),
            h11.Data(data=payload),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()
