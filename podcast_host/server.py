"""`podcast-host serve`: uvicorn's event loop holds the connections, a pool of threads runs the Flask app.

Why this shape (docs/deployment.md, "The web server"): a thread is taken only by a request whose head has
arrived in full and whose body, when it is small, has arrived too. Slow or stalled clients wait in the event
loop, where they cost a socket, never a thread, and are closed when their time is up. Bodies larger than
the small-body limit go to the app as a stream, so an upload is answered 413 (or 401) from its
Content-Length before its body is read, and an accepted one streams to disk. Answers go the other way:
the app's thread hands them to the event loop and is free, and media files are read and sent by the event
loop, so a client that reads slowly, or stops, holds no thread either; one that leaves stops its answer.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from typing import IO, Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess
from werkzeug.exceptions import ClientDisconnected, RequestTimeout
from werkzeug.wsgi import FileWrapper

from podcast_host import create_app, notes, processing
from podcast_host.jobs import ThreadQueue
from podcast_host.services import build_services
from podcast_host.web import BODY_LIMIT

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# A request's head (request line and headers) must arrive within this many seconds of the connection
# opening or of the previous response; a body may pause this long between two pieces, and a client this
# long before it takes the next piece of a response.
HEADER_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 30.0
# Beyond this many open connections, new requests get 503 at once instead of waiting.
MAX_CONNECTIONS = 1000
# Prefetched bodies stay in memory up to this size, then go to a temporary file.
BODY_MEMORY_BYTES = 64 * 1024
# A body the app answered without reading (401, 413) is read and dropped when at most this much of it is
# left, so that the connection serves the next request; beyond, the answer closes the connection.
DRAIN_LIMIT = 8 * 1024 * 1024
# An answer's pieces wait in memory up to this much for a slow client before the app's thread waits too;
# an answer built in memory is handed over whole. A thread waits only for a client that takes, on average,
# at least MIN_RESPONSE_RATE bytes a second (plus the body time-out); slower ones are disconnected.
RESPONSE_BUFFER_BYTES = 1024 * 1024
MIN_RESPONSE_RATE = 16 * 1024
# Files (send_file) are read and sent in pieces of this size by the event loop; a client that stops reading
# holds about one piece in memory.
FILE_PIECE_BYTES = 64 * 1024
# Request heads, as gunicorn limits them: a longer request line gets 414, more or longer header fields (or
# a head larger than HEAD_BYTES in all) get 431, and the connection is closed.
REQUEST_LINE_BYTES = 4094
HEADER_FIELDS = 100
HEADER_FIELD_BYTES = 8190
HEAD_BYTES = 32 * 1024


def build_app() -> WsgiApp:
    """The Flask app with its services; in the embedded set-up the job threads start here too."""
    services = build_services()
    app = create_app(services=services)
    with services.db.session() as session:
        notes.backfill_missing_html(session)  # rows saved before notes HTML was stored; none after the first
    # Threads first: recovered episodes are then processed in the background, not before serving.
    services.queue.start()
    if isinstance(services.queue, ThreadQueue):
        # The embedded queue lost whatever it held when the last process stopped: resume it, then keep
        # taking over stalled runs for as long as the queue runs.
        processing.recover_unfinished(services, include_fresh=True)
        processing.watch_for_stalled_runs(services, services.queue.stopped)
    return app


class _BodyTimeout(Exception):
    """The client sent no piece of its body within the body time-out."""


class _ClientGone(Exception):
    """The client closed the connection before its body was complete."""


class RequestBody:
    """`wsgi.input`: the part the event loop already received, then the rest, fetched as the app reads."""

    def __init__(self, receive: Receive, timeout: float, length: int | None, chunked: bool) -> None:
        self._receive = receive
        self._timeout = timeout
        self.loop = asyncio.get_running_loop()
        self._prefetched = tempfile.SpooledTemporaryFile(max_size=BODY_MEMORY_BYTES)  # noqa: SIM115
        self._piece = b""
        self._offset = 0
        self.length = length
        self.prefetched = 0
        self.received = 0
        self.complete = not chunked and not length

    async def _next_piece(self) -> bytes:
        try:
            message = await asyncio.wait_for(self._receive(), self._timeout)
        except TimeoutError:
            raise _BodyTimeout from None
        if message["type"] == "http.disconnect":
            raise _ClientGone
        if not message.get("more_body", False):
            self.complete = True
        piece = bytes(message.get("body", b""))
        self.received += len(piece)
        return piece

    def keeps_connection(self) -> bool:
        """Whether the connection can serve another request after the answer: the rest of the body is
        small enough to drop (uvicorn reads and drops what the app left)."""
        if self.complete:
            return True
        return self.length is not None and self.length - self.received <= DRAIN_LIMIT

    async def prefetch(self, limit: int) -> None:
        """Receive the body in the event loop until it ends or passes `limit` (the app then answers 413)."""
        while not self.complete and self.prefetched <= limit:
            piece = await self._next_piece()
            self._prefetched.write(piece)
            self.prefetched += len(piece)
        self._prefetched.seek(0)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(256 * 1024), b""))
        if size == 0:
            return b""
        data = self._prefetched.read(size)
        if data:
            return data
        while self._offset >= len(self._piece):
            if self.complete:
                return b""
            self._piece, self._offset = self._fetch(), 0
        data = self._piece[self._offset : self._offset + size]
        self._offset += len(data)
        return data

    def _fetch(self) -> bytes:
        """The next piece from the event loop, for the app's thread; time-outs become HTTP errors."""
        try:
            return asyncio.run_coroutine_threadsafe(self._next_piece(), self.loop).result()
        except _BodyTimeout:
            raise RequestTimeout("The request body stopped arriving.") from None
        except _ClientGone:
            raise ClientDisconnected() from None

    def readline(self, size: int | None = -1) -> bytes:
        line = bytearray()
        while size is None or size < 0 or len(line) < size:
            byte = self.read(1)
            line += byte
            if not byte or byte == b"\n":
                break
        return bytes(line)

    def __iter__(self) -> Any:
        return iter(self.readline, b"")

    def close(self) -> None:
        self._prefetched.close()


class FileResponse(FileWrapper):
    """`wsgi.file_wrapper`: a file the app answers with (send_file), sent by the event loop.

    The app's thread hands the open file over and is free at once; a client that reads slowly, or not at
    all, then costs a socket and one piece of the file in memory, never a thread. Byte ranges (206) wrap
    this object and are recognised the same way."""


class _FileAnswer:
    """A file answer handed from the app's thread to the event loop: what to send, and what to close."""

    def __init__(self, start: Message, file: IO[bytes], offset: int, length: int | None, owner: Any) -> None:
        self.start = start
        self.file = file
        self.offset = offset
        self.length = length
        self.owner = owner

    def close(self) -> None:
        self.owner.close()


def _file_answer(chunks: Iterable[bytes], start: Message) -> _FileAnswer | None:
    """The file behind the app's answer when it is a whole file or one byte range of it, else None."""
    length = next(
        (int(v) for k, v in start["headers"] if k.lower() == b"content-length" and v.isdigit()), None
    )
    if isinstance(chunks, FileResponse):
        return _FileAnswer(start, chunks.file, chunks.file.tell(), length, chunks)
    # werkzeug's range wrapper (a 206), not yet read: it names the file, the first byte and the length.
    wrapped = getattr(chunks, "iterable", None)
    first = getattr(chunks, "start_byte", None)
    if (
        isinstance(wrapped, FileResponse)
        and isinstance(first, int)
        and getattr(chunks, "read_length", 1) == 0
    ):
        return _FileAnswer(start, wrapped.file, first, getattr(chunks, "byte_range", length), chunks)
    return None


def _read_at(file: IO[bytes], offset: int, size: int) -> bytes:
    try:
        descriptor = file.fileno()
    except OSError:  # io.UnsupportedOperation: an in-memory file
        file.seek(offset)
        return file.read(size)
    return os.pread(descriptor, size, offset)


class _Outbox:
    """One answer on its way from the app's thread to the event loop, which sends it to the client.

    Used only in the event loop. The thread waits only while more than RESPONSE_BUFFER_BYTES are waiting
    to be sent, so an answer built in memory (pages, feeds, JSON) never keeps a thread for a slow client;
    a longer stream keeps it only while the client takes at least MIN_RESPONSE_RATE bytes a second.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.items: deque[tuple[Message | _FileAnswer, int]] = deque()
        self.waiting = 0
        self.sent = 0
        self.started = time.monotonic()
        self.arrived = asyncio.Event()
        self.taken = asyncio.Event()
        self.finished = False
        self.closed = False

    async def put(self, item: Message | _FileAnswer, wait: bool = True) -> bool:
        """Queue one message for the client; False once the client is gone (the app should stop)."""
        size = len(item.get("body", b"")) if isinstance(item, MutableMapping) else 0
        while wait and self.waiting > RESPONSE_BUFFER_BYTES and not self.closed:
            deadline = self.started + self.sent / MIN_RESPONSE_RATE + self.timeout
            self.taken.clear()
            try:
                await asyncio.wait_for(self.taken.wait(), deadline - time.monotonic())
            except TimeoutError:
                self.close()
        if self.closed:
            return False
        self.items.append((item, size))
        self.waiting += size
        self.arrived.set()
        return True

    async def get(self) -> Message | _FileAnswer | None:
        """The next message; None once the app's thread is done and everything was taken."""
        while not self.items:
            if self.finished or self.closed:
                return None
            self.arrived.clear()
            await self.arrived.wait()
        item, size = self.items.popleft()
        self.waiting -= size
        self.sent += size
        self.taken.set()
        return item

    def finish(self) -> None:
        self.finished = True
        self.arrived.set()

    def close(self) -> None:
        """The client is gone or too slow: nothing more is sent, files not yet sent are closed."""
        self.closed = True
        self.taken.set()
        self.arrived.set()
        while self.items:
            item, _ = self.items.popleft()
            if isinstance(item, _FileAnswer):
                item.close()


def _abort(send: Send) -> None:
    """Drop the connection at once: a client that does not take its answer must not keep it for ever.

    uvicorn's `send` is a method of the request's cycle, which holds the connection's transport; close()
    would wait for the unsent bytes to drain, abort() does not."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()


class WsgiBridge:
    """An ASGI app that runs a WSGI app in a thread pool, with the body rules of the module docstring."""

    def __init__(self, app: WsgiApp, threads: int, body_timeout: float, body_limit: int) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self.body_limit = body_limit
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="podcast-host-web")
        # File answers read their next piece here; a read is short, so a few threads serve every download.
        self.file_readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="podcast-host-files")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        refusal = _head_refusal(scope)
        if refusal is not None:
            await _send_error(send, *refusal)
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        announced = headers.get("content-length", "")
        length = int(announced) if announced.isdigit() else None
        body = RequestBody(receive, self.body_timeout, length, chunked="transfer-encoding" in headers)
        try:
            if length is None or length <= self.body_limit:
                # Small bodies (every route but the uploads) arrive in full before a thread is taken.
                await body.prefetch(self.body_limit)
            environ = _environ(scope, headers, body)
            if body.complete and "transfer-encoding" in headers:
                # A chunked body that arrived whole reaches the app as if its length had been announced.
                environ["CONTENT_LENGTH"] = str(body.prefetched)
                environ.pop("HTTP_TRANSFER_ENCODING", None)
            await self._respond(environ, body, receive, send)
        except _BodyTimeout:
            await _send_error(send, 408, "request_timeout", "The request body stopped arriving.")
        except _ClientGone:
            return
        finally:
            body.close()

    async def _respond(
        self, environ: dict[str, Any], body: RequestBody, receive: Receive, send: Send
    ) -> None:
        """Run the app in a pool thread and send its answer from the event loop as it comes."""
        outbox = _Outbox(self.body_timeout)
        work = body.loop.run_in_executor(self.executor, self._run_app, environ, body, outbox)
        work.add_done_callback(lambda _: outbox.finish())
        watcher: asyncio.Task[None] | None = None
        try:
            while not outbox.closed and (item := await outbox.get()) is not None:
                if isinstance(item, _FileAnswer):
                    watcher = watcher or asyncio.create_task(_watch_disconnect(receive, outbox))
                    await self._send_file(item, send, outbox)
                    continue
                await self._send(send, item, outbox)
                # Once the app answers it reads no more body: what arrives now is the client leaving.
                watcher = watcher or asyncio.create_task(_watch_disconnect(receive, outbox))
        finally:
            outbox.close()
            if watcher is not None:
                watcher.cancel()
        # The app's own error, if any: uvicorn answers 500 or, mid-answer, closes the connection.
        await work

    async def _send(self, send: Send, message: Message, outbox: _Outbox) -> None:
        try:
            await asyncio.wait_for(send(message), self.body_timeout)
        except TimeoutError:
            outbox.close()
            _abort(send)

    async def _send_file(self, answer: _FileAnswer, send: Send, outbox: _Outbox) -> None:
        loop = asyncio.get_running_loop()
        offset, left = answer.offset, answer.length
        try:
            await self._send(send, answer.start, outbox)
            while not outbox.closed and (left is None or left > 0):
                size = FILE_PIECE_BYTES if left is None else min(FILE_PIECE_BYTES, left)
                piece = await loop.run_in_executor(self.file_readers, _read_at, answer.file, offset, size)
                if not piece:
                    break
                offset += len(piece)
                left = None if left is None else left - len(piece)
                await self._send(
                    send, {"type": "http.response.body", "body": piece, "more_body": True}, outbox
                )
            if outbox.closed:
                return
            if left:
                # The file shrank while it was sent: the promised length cannot be kept.
                _abort(send)
                return
            await self._send(send, {"type": "http.response.body", "body": b"", "more_body": False}, outbox)
        finally:
            answer.close()

    def _run_app(self, environ: dict[str, Any], body: RequestBody, outbox: _Outbox) -> None:
        """Run the app (in a pool thread) and hand its answer to the event loop, piece by piece."""
        loop = body.loop
        started: list[Message] = []

        def put(item: Message | _FileAnswer, wait: bool = True) -> bool:
            return asyncio.run_coroutine_threadsafe(outbox.put(item, wait), loop).result()

        def put_piece(data: bytes, more: bool = True) -> bool:
            """One piece of the body, after the head if it has not gone yet."""
            if started:
                put(started.pop(), wait=False)
            return put({"type": "http.response.body", "body": data, "more_body": more}, wait=more)

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            # Names keep their case (h11 sends them as given): some clients read headers case-sensitively.
            raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
            if not body.keeps_connection():
                # Much of the body is still on the wire: reading it only to drop it costs more than a new
                # connection does.
                raw = [(k, v) for k, v in raw if k.lower() != b"connection"] + [(b"Connection", b"close")]
            if not any(k.lower() == b"date" for k, _ in raw):
                raw.append((b"Date", formatdate(usegmt=True).encode()))
            code = int(status.split(" ", 1)[0])
            started[:] = [{"type": "http.response.start", "status": code, "headers": raw}]
            return put_piece

        chunks = self.app(environ, start_response)
        handed_over = False
        try:
            answer = _file_answer(chunks, started[0]) if started else None
            if answer is not None:
                handed_over = put(answer, wait=False)
                return
            for chunk in chunks:
                if chunk and not put_piece(chunk):
                    return
            put_piece(b"", more=False)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None and not handed_over:
                close()


async def _watch_disconnect(receive: Receive, outbox: _Outbox) -> None:
    """Stop the answer when the client leaves: uvicorn's `send` would go on, silently, for nobody."""
    while (await receive())["type"] != "http.disconnect":
        pass  # the rest of a body the app did not read
    outbox.close()


def _head_refusal(scope: Scope) -> tuple[int, str, str] | None:
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


def _environ(scope: Scope, headers: dict[str, str], body: RequestBody) -> dict[str, Any]:
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


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
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


def _bridge(app_factory: Callable[[], WsgiApp], threads: int, body_timeout: float) -> WsgiBridge:
    # Bodies up to the limit of every route but the uploads arrive whole before a thread is taken.
    return WsgiBridge(app_factory(), threads=threads, body_timeout=body_timeout, body_limit=BODY_LIMIT)


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
        http=functools.partial(HttpProtocol, header_timeout=header_timeout),
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
    )
    if processes == 1:
        uvicorn.Server(config).run()
        return
    Multiprocess(config, sockets=[config.bind_socket()]).run()
