"""The request body as the app reads it (`wsgi.input`): received by the event loop, read by the app's thread.

Also the ASGI shapes every module of the server speaks.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any

from werkzeug.exceptions import ClientDisconnected, RequestTimeout

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# A body may pause this many seconds between two pieces, and a client this long before it takes the next
# piece of a response.
BODY_TIMEOUT_S = 30.0
# Prefetched bodies stay in memory up to this size, then go to a temporary file.
BODY_MEMORY_BYTES = 64 * 1024
# A body the app answered without reading (401, 413) is read and dropped when at most this much of it is
# left, so that the connection serves the next request; beyond, the answer closes the connection.
DRAIN_LIMIT = 8 * 1024 * 1024


class BodyTimeout(Exception):
    """The client sent no piece of its body within the body time-out."""


class ClientGone(Exception):
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
            raise BodyTimeout from None
        if message["type"] == "http.disconnect":
            raise ClientGone
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
        except BodyTimeout:
            raise RequestTimeout("The request body stopped arriving.") from None
        except ClientGone:
            raise ClientDisconnected() from None

    def readline(self, size: int | None = -1) -> bytes:
        line = bytearray()
        while size is None or size < 0 or len(line) < size:
            byte = self.read(1)
            line += byte
            if not byte or byte == b"\n":
                break
        return bytes(line)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")

    def close(self) -> None:
        self._prefetched.close()
