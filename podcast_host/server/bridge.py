"""`WsgiBridge`: the ASGI app uvicorn runs, which runs the WSGI app in a thread pool.

The body and answer rules it keeps are the package's (server/__init__.py): a thread is taken once the head,
and a small body, have arrived; the answer goes back through an `Outbox`; files are sent by the event loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from typing import IO, TYPE_CHECKING, Any

from podcast_host.server.answers import FileAnswer, Outbox, file_answer
from podcast_host.server.body import (
    BodyTimeout,
    ClientGone,
    Message,
    Receive,
    RequestBody,
    Scope,
    Send,
    WsgiApp,
)
from podcast_host.server.protocol import head_refusal, send_error, wsgi_environ

if TYPE_CHECKING:
    from _typeshed import OptExcInfo

# Files (send_file) are read and sent in pieces of this size by the event loop; a client that stops reading
# holds about one piece in memory.
FILE_PIECE_BYTES = 64 * 1024


class WsgiBridge:
    """An ASGI app that runs a WSGI app in a thread pool, with the body rules of the package docstring."""

    def __init__(
        self,
        app: WsgiApp,
        threads: int,
        body_timeout: float,
        body_limit: int,
        on_shutdown: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        # Run in a thread when the server stops, after the last request (the app's buffered counts written).
        self.on_shutdown = on_shutdown
        self.body_timeout = body_timeout
        self.body_limit = body_limit
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="podcast-host-web")
        # File answers read their next piece here; a read is short, so a few threads serve every download.
        self.file_readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="podcast-host-files")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, self.on_shutdown)
            return
        refusal = head_refusal(scope)
        if refusal is not None:
            await send_error(send, *refusal)
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        announced = headers.get("content-length", "")
        length = int(announced) if announced.isdigit() else None
        body = RequestBody(receive, self.body_timeout, length, chunked="transfer-encoding" in headers)
        try:
            if length is None or length <= self.body_limit:
                # Small bodies (every route but the uploads) arrive in full before a thread is taken.
                await body.prefetch(self.body_limit)
            environ = wsgi_environ(scope, body)
            if body.complete and "transfer-encoding" in headers:
                # A chunked body that arrived whole reaches the app as if its length had been announced.
                environ["CONTENT_LENGTH"] = str(body.prefetched)
                environ.pop("HTTP_TRANSFER_ENCODING", None)
            await self._respond(environ, body, receive, send)
        except BodyTimeout:
            await send_error(send, 408, "request_timeout", "The request body stopped arriving.")
        except ClientGone:
            return
        finally:
            body.close()

    async def _respond(
        self, environ: dict[str, Any], body: RequestBody, receive: Receive, send: Send
    ) -> None:
        """Run the app in a pool thread and send its answer from the event loop as it comes."""
        outbox = Outbox(self.body_timeout)
        work = body.loop.run_in_executor(self.executor, self._run_app, environ, body, outbox)
        work.add_done_callback(lambda _: outbox.finish())
        watcher: asyncio.Task[None] | None = None
        try:
            while not outbox.closed and (item := await outbox.get()) is not None:
                if isinstance(item, FileAnswer):
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

    async def _send(self, send: Send, message: Message, outbox: Outbox) -> None:
        try:
            await asyncio.wait_for(send(message), self.body_timeout)
        except TimeoutError:
            outbox.close()
            _abort(send)

    async def _send_file(self, answer: FileAnswer, send: Send, outbox: Outbox) -> None:
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

    def _run_app(self, environ: dict[str, Any], body: RequestBody, outbox: Outbox) -> None:
        """Run the app (in a pool thread) and hand its answer to the event loop, piece by piece."""
        loop = body.loop
        started: list[Message] = []

        def put(item: Message | FileAnswer, wait: bool = True) -> bool:
            return asyncio.run_coroutine_threadsafe(outbox.put(item, wait), loop).result()

        def put_piece(data: bytes, more: bool = True) -> bool:
            """One piece of the body, after the head if it has not gone yet."""
            if started:
                put(started.pop(), wait=False)
            return put({"type": "http.response.body", "body": data, "more_body": more}, wait=more)

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], bool]:
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
            answer = file_answer(chunks, started[0]) if started else None
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


async def _watch_disconnect(receive: Receive, outbox: Outbox) -> None:
    """Stop the answer when the client leaves: uvicorn's `send` would go on, silently, for nobody."""
    while (await receive())["type"] != "http.disconnect":
        pass  # the rest of a body the app did not read
    outbox.close()


def _read_at(file: IO[bytes], offset: int, size: int) -> bytes:
    try:
        descriptor = file.fileno()
    except OSError:  # io.UnsupportedOperation: an in-memory file
        file.seek(offset)
        return file.read(size)
    return os.pread(descriptor, size, offset)


def _abort(send: Send) -> None:
    """Drop the connection at once: a client that does not take its answer must not keep it for ever.

    uvicorn's `send` is a method of the request's cycle, which holds the connection's transport; close()
    would wait for the unsent bytes to drain, abort() does not."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()


async def _lifespan(receive: Receive, send: Send, on_shutdown: Callable[[], None] | None) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if on_shutdown is not None:
                await asyncio.to_thread(on_shutdown)
            await send({"type": "lifespan.shutdown.complete"})
            return
