"""A request body as a blocking stream, for domain code that reads files in a worker thread.

The domain takes a ``BinaryIO`` (``receive_upload``, ``append_chunk``) and runs blocking work
(spool file, probe, blob store, SQL), so a route runs it with ``anyio.to_thread.run_sync`` and
hands it a :class:`BlockingBody`: each ``read`` pulls the next chunk the server received through
the event loop (``anyio.from_thread.run``). Nothing is read before the domain asks, and nothing is
kept but the chunk being handed out: a body is never held whole in memory, and reading stops where
the domain stops (a size limit). A client that goes away raises Starlette's ``ClientDisconnect``
in the reading thread. Hand the domain :meth:`BlockingBody.reader` (or an ``io.BufferedReader``
over a stream built on it): its ``BinaryIO``.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import anyio.from_thread

__all__ = ["BUFFER_BYTES", "BlockingBody"]

BUFFER_BYTES = 64 << 10


class BlockingBody(io.RawIOBase):
    """``chunks`` (``request.stream()``) as a readable raw stream; only for a thread started by
    ``anyio.to_thread.run_sync`` from the request's task."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._done = False
        self.received_bytes = 0

    def readable(self) -> bool:
        return True

    def reader(self) -> io.BufferedReader:
        """This body as the ``BinaryIO`` the domain takes."""
        return io.BufferedReader(self, buffer_size=BUFFER_BYTES)

    async def _next(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None

    def next_chunk(self) -> bytes:
        """The next piece of the body as it arrived (``b""`` at its end)."""
        if self._pending:
            chunk, self._pending = bytes(self._pending), memoryview(b"")
            return chunk
        while not self._done:
            received = anyio.from_thread.run(self._next)
            if received is None:
                self._done = True
            elif received:
                self.received_bytes += len(received)
                return received
        return b""

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._pending:
            self._pending = memoryview(self.next_chunk())
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n
