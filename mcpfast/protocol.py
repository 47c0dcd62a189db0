"""asyncio Protocol classes: bytes -> frames -> messages -> peer, and back.

``JSONRPCStreamProtocol`` drives the wire twins for newline-delimited JSON-RPC on any byte
stream (stdio pipes, TCP, TLS, Unix sockets): ``data_received`` feeds the splitter and hands
the decoded messages to the peer in one batch; the replies produced together leave in one
write. It is public and meant to be subclassed: override the ``_on_*`` hooks.

Flow control, both ways:

* writing: when the transport's buffer passes its high-water mark (``pause_writing``) the
  protocol stops reading, so no new requests make output it cannot write; handlers that stream
  (progress, logs) can ``await protocol.writable()``.
* reading: past ``pause_reading_at`` handlers in flight the protocol stops reading until half
  of them finished; the peer's hard ``max_in_flight`` answers anything beyond with -32005.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from typing import Any

from .errors import PARSE_ERROR, FrameError
from .metrics import metrics_of
from .peer import DEFAULT_MAX_IN_FLIGHT, Dispatcher, JSONRPCPeer
from .wire.framing import LineSplitter
from .wire.jsonrpc import decode_all, encode_error

__all__ = ["ConnectionState", "JSONRPCStreamProtocol", "DEFAULT_MAX_MESSAGE_SIZE"]

log = logging.getLogger("mcpfast.protocol")

#: the default limit on one message (one line), in bytes
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
#: the most one read takes from the transport (see connection_made)
READ_CHUNK = 64 * 1024


class ConnectionState(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"  # EOF seen or close() called: in-flight requests still answered
    CLOSED = "closed"


class JSONRPCStreamProtocol(asyncio.Protocol):
    """Newline-delimited JSON-RPC over a byte stream, for servers and clients alike.

    ``dispatcher`` answers requests (``mcpfast.peer.Dispatcher``). ``write_transport`` is for
    transports whose two directions are separate objects (stdio: a read pipe and a write
    pipe); by default replies go to the transport passed to ``connection_made``.

    When the dispatcher keeps metrics (``mcpfast.metrics.metrics_of``), the connection counts
    itself open and its bytes both ways under ``network_transport``.
    """

    #: OpenTelemetry's ``network.transport`` of this connection (given to the peer)
    network_transport = "pipe"

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        request_timeout: float | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        pause_reading_at: int | None = None,
        close_on_eof: bool = True,
    ) -> None:
        self.dispatcher = dispatcher
        self.max_message_size = max_message_size
        self.request_timeout = request_timeout
        self.max_in_flight = max_in_flight
        self.pause_reading_at = pause_reading_at if pause_reading_at is not None else max(1, max_in_flight // 2)
        self.close_on_eof = close_on_eof
        self.state = ConnectionState.CONNECTING
        self.transport: asyncio.BaseTransport | None = None
        self.write_transport: asyncio.WriteTransport | None = None
        self.peer: JSONRPCPeer | None = None
        self._splitter = LineSplitter(max_message_size)
        self._write_paused = False
        self._read_paused_by_load = False
        self._read_paused = False
        self._writable: asyncio.Event | None = None
        self._closed: asyncio.Future[None] | None = None
        self._drain_task: asyncio.Task[None] | None = None
        # metrics (None when off): bytes received, bytes sent, the connections-open gauge
        self._m_in: Any = None
        self._m_out: Any = None
        self._m_open: Any = None

    # ------------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        # asyncio's socket and pipe transports read up to 256 KiB at a time: a bytes object
        # that size is above glibc's mmap threshold, so every read cost mmap + mremap +
        # munmap (strace: 3 of the 6 syscalls per call at one request in flight). 64 KiB is
        # what a pipe holds anyway and is served from the heap.
        if getattr(transport, "max_size", 0) > READ_CHUNK:
            try:
                transport.max_size = READ_CHUNK  # type: ignore[attr-defined]
            except AttributeError:  # pragma: no cover - a transport with a read-only attribute
                pass
        if self.write_transport is None:
            self.write_transport = transport  # type: ignore[assignment]
        loop = asyncio.get_running_loop()
        self._closed = loop.create_future()
        self.peer = JSONRPCPeer(
            self.dispatcher,
            self._send,
            request_timeout=self.request_timeout,
            max_in_flight=self.max_in_flight,
            loop=loop,
        )
        self.peer.on_in_flight_change = self._on_in_flight_change
        self.peer.network_transport = self.network_transport
        metrics = metrics_of(self.dispatcher)
        if metrics is not None:
            self._m_in, self._m_out, self._m_open = metrics.connection(self.network_transport)
        self.state = ConnectionState.OPEN
        self._on_connection_made()

    def data_received(self, data: bytes) -> None:
        if self._m_in is not None:
            self._m_in.inc(len(data))
        try:
            frames = self._splitter.feed(data)
        except FrameError as exc:
            # The oversized frame is dropped (the splitter resumes at the next newline); its
            # id is unreadable, so the error goes out with a null id. Good frames go on.
            frames = exc.frames  # type: ignore[attr-defined]
            self._send(
                [encode_error(None, PARSE_ERROR, f"Message too large: {exc} (max_message_size)")]
            )
        if frames:
            self.peer.feed(decode_all(frames))  # type: ignore[union-attr]

    def eof_received(self) -> bool | None:
        # The reader is done (stdio: the client closed stdin). Answer what is in flight, then
        # close; keeping the transport open is the subclass's choice (close_on_eof=False).
        if self._splitter.pending:
            # a last line without its newline still counts: it goes to the peer like any other
            self.data_received(b"\n")
        self.state = ConnectionState.CLOSING
        self._on_eof()
        if self.close_on_eof and self._drain_task is None:
            # keep a reference: the loop holds tasks only weakly
            self._drain_task = asyncio.get_running_loop().create_task(self._close_after_drain(grace=None))
        return True  # we close the transport ourselves once the answers are written

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = ConnectionState.CLOSED
        if self._m_open is not None:
            self._m_open.dec()
            self._m_open = None
        if self.peer is not None:
            self.peer.connection_lost(exc)
        if self._writable is not None:
            self._writable.set()
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        self._on_connection_lost(exc)

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._writable is not None:
            self._writable.clear()
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._writable is not None:
            self._writable.set()
        self._update_reading()

    # ------------------------------------------------------------------ hooks (subclass API)

    def _on_connection_made(self) -> None:
        """Called once the peer exists."""

    def _on_eof(self) -> None:
        """Called when the reading side reached EOF."""

    def _on_connection_lost(self, exc: Exception | None) -> None:
        """Called after the peer was told the connection is gone."""

    # ------------------------------------------------------------------ output

    def _send(self, messages: list[bytes]) -> None:
        transport = self.write_transport
        if transport is None or transport.is_closing():
            return
        if len(messages) == 1:
            data = messages[0] + b"\n"
        else:
            messages.append(b"")
            data = b"\n".join(messages)
        transport.write(data)
        if self._m_out is not None:
            self._m_out.inc(len(data))

    async def writable(self) -> None:
        """Wait until the transport accepts writes again (after ``pause_writing``)."""
        if not self._write_paused:
            return
        if self._writable is None:
            self._writable = asyncio.Event()
        await self._writable.wait()

    # ------------------------------------------------------------------ back-pressure

    def _on_in_flight_change(self, n: int) -> None:
        # called twice per suspended request (start and end): touch the transport only when
        # the load flag flips (pause/resume_writing update the reading state themselves)
        if n >= self.pause_reading_at:
            if self._read_paused_by_load:
                return
            self._read_paused_by_load = True
        elif n <= self.pause_reading_at // 2 and self._read_paused_by_load:
            self._read_paused_by_load = False
        else:
            return
        self._update_reading()

    def _update_reading(self) -> None:
        want_paused = self._write_paused or self._read_paused_by_load
        transport = self.transport
        if want_paused == self._read_paused or transport is None or self.state is not ConnectionState.OPEN:
            return
        try:
            if want_paused:
                transport.pause_reading()  # type: ignore[attr-defined]
            else:
                transport.resume_reading()  # type: ignore[attr-defined]
        except (AttributeError, RuntimeError):  # a write-only or closing transport
            return
        self._read_paused = want_paused

    # ------------------------------------------------------------------ shutdown

    async def _close_after_drain(self, grace: float | None) -> None:
        peer = self.peer
        if peer is not None:
            if grace is None:
                # EOF: everything asked for is still answered (no deadline but the handlers')
                while peer.in_flight:
                    await asyncio.sleep(0.01)
                peer.flush()
            else:
                await peer.drain(grace)
        for t in (self.write_transport, self.transport):
            if t is not None and not t.is_closing():
                t.close()

    async def shutdown(self, grace: float = 5.0) -> None:
        """Stop reading, let requests in flight finish within ``grace`` seconds (the rest are
        cancelled and answered with -32000), write the answers, close."""
        if self.state is ConnectionState.CLOSED:
            return
        self.state = ConnectionState.CLOSING
        try:
            self.transport.pause_reading()  # type: ignore[union-attr]
        except (AttributeError, RuntimeError):
            pass
        await self._close_after_drain(grace)
        await self.wait_closed()

    def close(self) -> None:
        """Close at once: requests in flight are cancelled and get no answer."""
        for t in (self.write_transport, self.transport):
            if t is not None and not t.is_closing():
                t.close()

    async def wait_closed(self) -> None:
        if self._closed is not None:
            await asyncio.shield(self._closed)


ProtocolFactory = Callable[[], JSONRPCStreamProtocol]
