"""An answer on its way from the app's thread to the event loop: the outbox, and files sent by the loop."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable, MutableMapping
from typing import IO, Any

from werkzeug.wsgi import FileWrapper

from podcast_host.server.body import Message

# An answer's pieces wait in memory up to this much for a slow client before the app's thread waits too;
# an answer built in memory is handed over whole. A thread waits only for a client that takes, on average,
# at least MIN_RESPONSE_RATE bytes a second (plus the body time-out); slower ones are disconnected.
RESPONSE_BUFFER_BYTES = 1024 * 1024
MIN_RESPONSE_RATE = 16 * 1024


class FileResponse(FileWrapper):
    """`wsgi.file_wrapper`: a file the app answers with (send_file), sent by the event loop.

    The app's thread hands the open file over and is free at once; a client that reads slowly, or not at
    all, then costs a socket and one piece of the file in memory, never a thread. Byte ranges (206) wrap
    this object and are recognised the same way."""


class FileAnswer:
    """A file answer handed from the app's thread to the event loop: what to send, and what to close."""

    def __init__(self, start: Message, file: IO[bytes], offset: int, length: int | None, owner: Any) -> None:
        self.start = start
        self.file = file
        self.offset = offset
        self.length = length
        self.owner = owner

    def close(self) -> None:
        self.owner.close()


def file_answer(chunks: Iterable[bytes], start: Message) -> FileAnswer | None:
    """The file behind the app's answer when it is a whole file or one byte range of it, else None."""
    length = next(
        (int(v) for k, v in start["headers"] if k.lower() == b"content-length" and v.isdigit()), None
    )
    if isinstance(chunks, FileResponse):
        return FileAnswer(start, chunks.file, chunks.file.tell(), length, chunks)
    # werkzeug's range wrapper (a 206), not yet read: it names the file, the first byte and the length.
    wrapped = getattr(chunks, "iterable", None)
    first = getattr(chunks, "start_byte", None)
    if (
        isinstance(wrapped, FileResponse)
        and isinstance(first, int)
        and getattr(chunks, "read_length", 1) == 0
    ):
        return FileAnswer(start, wrapped.file, first, getattr(chunks, "byte_range", length), chunks)
    return None


class Outbox:
    """One answer on its way from the app's thread to the event loop, which sends it to the client.

    Used only in the event loop. The thread waits only while more than RESPONSE_BUFFER_BYTES are waiting
    to be sent, so an answer built in memory (pages, feeds, JSON) never keeps a thread for a slow client;
    a longer stream keeps it only while the client takes at least MIN_RESPONSE_RATE bytes a second.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.items: deque[tuple[Message | FileAnswer, int]] = deque()
        self.waiting = 0
        self.sent = 0
        self.started = time.monotonic()
        self.arrived = asyncio.Event()
        self.taken = asyncio.Event()
        self.finished = False
        self.closed = False

    async def put(self, item: Message | FileAnswer, wait: bool = True) -> bool:
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

    async def get(self) -> Message | FileAnswer | None:
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
            if isinstance(item, FileAnswer):
                item.close()
