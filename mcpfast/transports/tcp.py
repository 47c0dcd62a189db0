"""Newline-delimited JSON-RPC over TCP (and TLS): the stdio framing on a socket.

MCP recommends the stdio framing for custom byte-stream transports (basic/transports). One
``JSONRPCStreamProtocol`` per connection; TCP_NODELAY on every socket (replies are small and
written whole: Nagle would only add latency).

``start_tcp_server`` gives a ``TCPServer`` (a ``transports.listener.Listener``):
``max_connections`` refuses the connection past the limit with one JSON-RPC error line (-32005)
and closes it; ``idle_timeout`` (default 300 s) closes connections that saw no traffic for that
long with nothing in flight; ``close(grace)`` shuts down
gracefully (stop accepting, let requests in flight finish within ``grace`` seconds, answer the
rest with -32000, close); ``serve_forever`` does the same on SIGTERM/SIGINT.

TLS: a TLS peer cannot half-close, so EOF on a TLS connection closes it at once (requests in
flight get no answer); on plain TCP, EOF (the client's ``shutdown(SHUT_WR)``) still lets
everything asked for be answered before the server closes.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Hashable
from typing import Any

from ..errors import SERVER_OVERLOADED
from ..metrics import ServerMetrics, metrics_of
from ..peer import DEFAULT_MAX_IN_FLIGHT, Dispatcher
from ..protocol import DEFAULT_MAX_MESSAGE_SIZE, ConnectionState, JSONRPCStreamProtocol
from ..wire.jsonrpc import encode_error
from .listener import DEFAULT_TLS_HANDSHAKE_TIMEOUT, Listener, TLSConfig, set_nodelay

__all__ = ["TCPProtocol", "TCPServerProtocol", "TCPServer", "start_tcp_server", "connect_tcp",
           "DEFAULT_IDLE_TIMEOUT"]

log = logging.getLogger("mcpfast.transports.tcp")

#: seconds a connection may stay idle (nothing in flight either way, no byte received or sent)
#: before the server closes it: silent sockets must not hold ``max_connections`` slots forever.
#: A client that keeps a quiet session open sends ``ping`` now and then.
DEFAULT_IDLE_TIMEOUT = 300.0

# timeout_state keys: busy (never times out), or the activity count while idle
_BUSY: Hashable = ("busy",)
_CLOSED: tuple[Hashable, float | None] = (("closed",), None)


class TCPProtocol(JSONRPCStreamProtocol):
    """``JSONRPCStreamProtocol`` on a TCP or TLS socket (client and server side)."""

    network_transport = "tcp"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        set_nodelay(transport)
        super().connection_made(transport)

    def eof_received(self) -> bool | None:
        keep_open = super().eof_received()
        if self.transport is not None and self.transport.get_extra_info("sslcontext") is not None:
            return False  # TLS cannot stay half-open: asyncio closes it whatever we return
        return keep_open


class TCPServerProtocol(TCPProtocol):
    """A server connection, served by a ``TCPServer``: it counts its activity so that the
    listener can close it when idle (see ``timeout_state``)."""

    def __init__(self, server: TCPServer, dispatcher: Dispatcher, **kw: Any) -> None:
        super().__init__(dispatcher, **kw)
        self._server = server
        # bumped by every read and every write: the listener's tick compares it between looks
        self._activity = 0

    def _on_connection_made(self) -> None:
        self._server.connected(self)
        if self._server.stopping:
            # accepted before close() but connected (TLS handshake) after: nothing to serve
            self.close()

    def data_received(self, data: bytes) -> None:
        self._activity += 1
        super().data_received(data)

    def _send(self, messages: list[bytes]) -> None:
        self._activity += 1
        super()._send(messages)

    def timeout_state(self) -> tuple[Hashable, float | None]:
        """Busy (a request in flight either way: never cut, however long a tool runs), or idle
        since the last byte read or written (limit: the server's ``idle_timeout``)."""
        peer = self.peer
        if peer is None or self.state is not ConnectionState.OPEN:
            return _CLOSED
        if peer.in_flight or peer.pending:
            return _BUSY, None
        return self._activity, self._server.idle_timeout

    def timed_out(self, key: Hashable) -> None:
        tr = self.transport
        log.info("closing connection %s: idle for %s s", tr.get_extra_info("peername") if tr else None,
                 self._server.idle_timeout)
        self.close()

    def abort(self) -> None:
        """Close at once: what was not sent is dropped, requests in flight get no answer."""
        for t in (self.write_transport, self.transport):
            if t is not None:
                t.abort()  # type: ignore[attr-defined]

    def _on_connection_lost(self, exc: Exception | None) -> None:
        self._server.disconnected(self)


class _RefuseProtocol(asyncio.Protocol):
    """Past ``max_connections``: one JSON-RPC error line, then close."""

    def __init__(self, line: bytes) -> None:
        self._line = line

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        set_nodelay(transport)
        transport.write(self._line)  # type: ignore[attr-defined]
        transport.close()

    def eof_received(self) -> bool | None:
        return False


class TCPServer(Listener[TCPServerProtocol]):
    """A running NDJSON JSON-RPC server (see ``start_tcp_server``; the listening, limits,
    timeouts and shutdown are ``Listener``'s)."""

    def __init__(
        self,
        dispatcher_factory: Callable[[], Dispatcher],
        *,
        host: str | None = "127.0.0.1",
        port: int = 0,
        tls: TLSConfig = None,
        max_connections: int = 1024,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        backlog: int = 128,
        tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
        protocol_kw: dict[str, Any] | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        super().__init__(host=host, port=port, tls=tls, max_connections=max_connections,
                         idle_timeout=idle_timeout, backlog=backlog, tls_handshake_timeout=tls_handshake_timeout)
        self.dispatcher_factory = dispatcher_factory
        self._protocol_kw = protocol_kw or {}
        # the metrics of the dispatchers served (the last one made), for refused connections
        self._metrics: ServerMetrics | None = None

    def make_connection(self) -> TCPServerProtocol:
        dispatcher = self.dispatcher_factory()
        self._metrics = metrics_of(dispatcher)
        return TCPServerProtocol(self, dispatcher, **self._protocol_kw)

    @property
    def url(self) -> str:
        """``tcp://host:port`` (``tcps://`` with TLS): what ``mcpfast.Client`` connects to."""
        host = self.address[0]
        if ":" in host:
            host = f"[{host}]"
        return f"{'tcps' if self.tls is not None else 'tcp'}://{host}:{self.port}"

    def refusal(self, reason: str) -> asyncio.Protocol:
        if self._metrics is not None:
            self._metrics.refuse("shutting_down" if self.stopping else "max_connections")
        return _RefuseProtocol(encode_error(None, SERVER_OVERLOADED, reason) + b"\n")

    async def __aenter__(self) -> TCPServer:
        if not self._started:
            await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


async def start_tcp_server(
    dispatcher_factory: Callable[[], Dispatcher],
    host: str | None = "127.0.0.1",
    port: int = 0,
    *,
    tls: TLSConfig = None,
    max_connections: int = 1024,
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
    request_timeout: float | None = None,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    backlog: int = 128,
    tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
) -> TCPServer:
    """Listen on ``host:port`` (port 0: any free port, see ``TCPServer.port``) and serve.

    ``dispatcher_factory()`` is called once per accepted connection: return a new dispatcher
    for per-connection state, or the same one every time (``lambda: app``) to share it; the
    peer passed to each dispatcher call tells the connections apart. ``tls`` is an
    ``ssl.SSLContext`` or a ``(certfile, keyfile)`` pair; a TLS handshake longer than
    ``tls_handshake_timeout`` is cut. ``idle_timeout`` closes a connection with nothing in
    flight and no traffic for that many seconds (None: never). The other limits
    are per connection (see ``JSONRPCStreamProtocol``).
    """
    server = TCPServer(
        dispatcher_factory,
        host=host,
        port=port,
        tls=tls,
        max_connections=max_connections,
        idle_timeout=idle_timeout,
        backlog=backlog,
        tls_handshake_timeout=tls_handshake_timeout,
        protocol_kw={
            "request_timeout": request_timeout,
            "max_message_size": max_message_size,
            "max_in_flight": max_in_flight,
        },
    )
    await server.start()
    return server


async def connect_tcp(
    host: str,
    port: int,
    dispatcher: Dispatcher,
    *,
    tls: ssl.SSLContext | bool | None = None,
    server_hostname: str | None = None,
    **protocol_kw: Any,
) -> TCPProtocol:
    """Connect to an NDJSON JSON-RPC server; returns the connected protocol
    (``await protocol.peer.request(...)``; ``protocol.close()`` then ``await
    protocol.wait_closed()``). ``tls`` True uses the default client context; ``server_hostname``
    overrides the name checked against the certificate."""
    loop = asyncio.get_running_loop()
    ctx: ssl.SSLContext | None
    if tls is True:
        ctx = ssl.create_default_context()
    elif tls is False or tls is None:
        ctx = None
    else:
        ctx = tls
    protocol = TCPProtocol(dispatcher, **protocol_kw)
    await loop.create_connection(
        lambda: protocol,
        host,
        port,
        ssl=ctx,
        server_hostname=server_hostname if ctx is not None else None,
    )
    return protocol
