"""In-process transport: a client and a server dispatcher joined through the real wire.

``memory_pair`` gives two ``JSONRPCStreamProtocol`` objects connected by a pair of fake
transports: bytes written on one side are delivered to the other with ``loop.call_soon``, so
every message goes through the real encoder, line splitter and decoder, with the same
ordering and flow control (``pause_reading``/``resume_reading``, ``pause_writing``/
``resume_writing``, half-close with ``write_eof``, ``close``) as a socket. Tests and the
in-process test client use it; nothing here is faster than a socket pair, it is simpler.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ..peer import Dispatcher
from ..protocol import JSONRPCStreamProtocol

__all__ = ["MemoryTransport", "memory_pair", "memory_connection"]

_HIGH_WATER = 64 * 1024


class MemoryTransport(asyncio.Transport):
    """One end of an in-memory byte stream (see the module docstring).

    Writes go to the other end's inbox and are delivered on a later loop iteration, one
    ``data_received`` per ``write``. The bytes in the other end's inbox count as this end's
    write buffer for ``pause_writing``/``resume_writing``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol, name: str) -> None:
        super().__init__({"peername": ("memory", name), "sockname": ("memory", name)})
        self._loop = loop
        self._protocol = protocol
        self._name = name
        self.other: MemoryTransport | None = None
        self._inbox: collections.deque[bytes] = collections.deque()
        self._inbox_size = 0
        self._eof_pending = False  # the other end will write no more (after the inbox)
        self._eof_delivered = False
        self._reading = True
        self._deliver_scheduled = False
        self._closing = False  # this end closed (both directions) or is closing
        self._write_closed = False  # write_eof() or close() called
        self._lost = False
        self._write_paused = False
        self._high = _HIGH_WATER
        self._low = _HIGH_WATER // 4

    # ------------------------------------------------------------------ BaseTransport

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol  # type: ignore[assignment]

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Close both directions: what was written is still delivered, then the other end sees
        EOF; this end's ``connection_lost`` follows on a later iteration."""
        if self._closing:
            return
        self._closing = True
        self._reading = False
        self._inbox.clear()
        self._inbox_size = 0
        self._shut_write()
        self._loop.call_soon(self._connection_lost, None)

    def abort(self) -> None:
        """Close at once: undelivered bytes are dropped, the other end sees EOF."""
        other = self.other
        if other is not None and not self._write_closed:
            other.discard_inbox()
        self.close()

    # ------------------------------------------------------------------ ReadTransport

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def pause_reading(self) -> None:
        if self._closing:
            return
        self._reading = False

    def resume_reading(self) -> None:
        if self._closing or self._reading:
            return
        self._reading = True
        self._schedule_delivery()

    # ------------------------------------------------------------------ WriteTransport

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = _HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low
        self.check_write_pressure()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def get_write_buffer_size(self) -> int:
        other = self.other
        return other.inbox_size if other is not None else 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._write_closed:
            if self._closing:
                return  # like a socket transport after close(): silently dropped
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data:
            return
        other = self.other
        if other is None or other.is_closing():
            return  # the other end is gone; a socket would fail later with a reset
        other.accept(bytes(data))
        self.check_write_pressure()

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def write_eof(self) -> None:
        if self._write_closed:
            return
        self._shut_write()

    def can_write_eof(self) -> bool:
        return True

    # ------------------------------------------------------------------ the other end's calls

    @property
    def inbox_size(self) -> int:
        """Bytes written by the other end and not yet delivered here (its write buffer)."""
        return self._inbox_size

    def accept(self, chunk: bytes) -> None:
        """The other end wrote ``chunk``: deliver it on a later loop iteration."""
        self._inbox.append(chunk)
        self._inbox_size += len(chunk)
        self._schedule_delivery()

    def accept_eof(self) -> None:
        """The other end will write no more: EOF once the inbox is delivered."""
        if not self._closing:
            self._eof_pending = True
            self._schedule_delivery()

    def discard_inbox(self) -> None:
        """The other end aborted: what it wrote is never delivered."""
        self._inbox.clear()
        self._inbox_size = 0

    def check_write_pressure(self) -> None:
        """Pause or resume this end's writer as the other end's inbox grows or drains."""
        size = self.get_write_buffer_size()
        if not self._write_paused and size > self._high and not self._closing:
            self._write_paused = True
            self._protocol.pause_writing()
        elif self._write_paused and size <= self._low:
            self._write_paused = False
            self._protocol.resume_writing()

    # ------------------------------------------------------------------ internals

    def _shut_write(self) -> None:
        self._write_closed = True
        other = self.other
        if other is not None:
            other.accept_eof()

    def _schedule_delivery(self) -> None:
        if not self._deliver_scheduled and self._reading and not self._closing:
            self._deliver_scheduled = True
            self._loop.call_soon(self._deliver)

    def _deliver(self) -> None:
        self._deliver_scheduled = False
        protocol = self._protocol
        inbox = self._inbox
        while inbox and self._reading and not self._closing:
            chunk = inbox.popleft()
            self._inbox_size -= len(chunk)
            protocol.data_received(chunk)
        other = self.other
        if other is not None:
            other.check_write_pressure()
        if not inbox and self._eof_pending and not self._eof_delivered and self._reading and not self._closing:
            self._eof_delivered = True
            keep_open = protocol.eof_received()
            if not keep_open:
                self.close()

    def _connection_lost(self, exc: BaseException | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._protocol.connection_lost(exc)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        state = "closed" if self._closing else ("open" if self._reading else "paused")
        return f"<MemoryTransport {self._name} {state} inbox={self._inbox_size}>"


def memory_pair(
    server_dispatcher: Dispatcher, client_dispatcher: Dispatcher, **protocol_kw: Any
) -> tuple[JSONRPCStreamProtocol, JSONRPCStreamProtocol]:
    """Join a server and a client dispatcher in this process; return their protocols
    ``(server_protocol, client_protocol)``, connected at once. Must be called with the event loop
    running. ``protocol_kw`` goes to both ``JSONRPCStreamProtocol``\\ s (``max_message_size``,
    ``request_timeout``, ``max_in_flight``, ...). Send requests with
    ``client_protocol.peer.request(...)``; close with ``client_protocol.close()`` (the server
    sees EOF, answers what is in flight, and closes too)."""
    loop = asyncio.get_running_loop()
    server = JSONRPCStreamProtocol(server_dispatcher, **protocol_kw)
    client = JSONRPCStreamProtocol(client_dispatcher, **protocol_kw)
    server.network_transport = client.network_transport = "inproc"  # metrics and traces tell it apart
    st = MemoryTransport(loop, server, "server")
    ct = MemoryTransport(loop, client, "client")
    st.other, ct.other = ct, st
    server.connection_made(st)
    client.connection_made(ct)
    return server, client


@contextlib.asynccontextmanager
async def memory_connection(
    server_dispatcher: Dispatcher, client_dispatcher: Dispatcher, **protocol_kw: Any
) -> AsyncIterator[tuple[JSONRPCStreamProtocol, JSONRPCStreamProtocol]]:
    """``memory_pair`` as an async context manager: on exit the client end closes and both
    ends are waited for."""
    server, client = memory_pair(server_dispatcher, client_dispatcher, **protocol_kw)
    try:
        yield server, client
    finally:
        client.close()
        server.close()
        await client.wait_closed()
        await server.wait_closed()
