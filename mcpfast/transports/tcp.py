"""Newline-delimited JSON-RPC over TCP (and TLS): the stdio framing on a socket.

MCP recommends the stdio framing for custom byte-stream transports (basic/transports). One
``JSONRPCStreamProtocol`` per connection; TCP_NODELAY on every socket (replies are small and
written whole: Nagle would only add latency).

``start_tcp_server`` gives a ``TCPServer``: ``max_connections`` refuses the connection past the
limit with one JSON-RPC error line (-32005) and closes it; ``idle_timeout`` closes connections
that saw no traffic for that long with nothing in flight; ``close(grace)`` shuts down
gracefully (stop accepting, let requests in flight finish within ``grace`` seconds, answer the
rest with -32000, close); ``serve_forever`` does the same on SIGTERM/SIGINT.

TLS: a TLS peer cannot half-close, so EOF on a TLS connection closes it at once (requests in
flight get no answer); on plain TCP, EOF (the client's ``shutdown(SHUT_WR)``) still lets
everything asked for be answered before the server closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import weakref
from collections.abc import Callable
from typing import Any, Union

from ..errors import SERVER_OVERLOADED
from ..peer import DEFAULT_MAX_IN_FLIGHT, Dispatcher
from ..protocol import DEFAULT_MAX_MESSAGE_SIZE, ConnectionState, JSONRPCStreamProtocol
from ..wire.jsonrpc import encode_error
from ._signals import shutdown_signals

__all__ = ["TCPProtocol", "TCPServerProtocol", "TCPServer", "start_tcp_server", "connect_tcp"]

log = logging.getLogger("mcpfast.transports.tcp")

TLSConfig = Union[ssl.SSLContext, "tuple[str, str]", None]


def _set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class TCPProtocol(JSONRPCStreamProtocol):
    """``JSONRPCStreamProtocol`` on a TCP or TLS socket (client and server side)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _set_nodelay(transport)
        super().connection_made(transport)

    def eof_received(self) -> bool | None:
        keep_open = super().eof_received()
        if self.transport is not None and self.transport.get_extra_info("sslcontext") is not None:
            return False  # TLS cannot stay half-open: asyncio closes it whatever we return
        return keep_open


class TCPServerProtocol(TCPProtocol):
    """A server connection: registered with its ``TCPServer``, closed when idle."""

    def __init__(self, server: TCPServer, dispatcher: Dispatcher, **kw: Any) -> None:
        super().__init__(dispatcher, **kw)
        self._server = server
        self._idle_timer: asyncio.TimerHandle | None = None
        self._last_activity = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def _on_connection_made(self) -> None:
        self._server._connected(self)
        if self._server._closing is not None:
            # accepted before close() but connected (TLS handshake) after: nothing to serve
            self.close()
            return
        idle = self._server.idle_timeout
        if idle is not None:
            loop = self._loop = self.peer.loop  # type: ignore[union-attr]
            self._last_activity = loop.time()
            self._idle_timer = loop.call_later(idle, self._check_idle)

    def data_received(self, data: bytes) -> None:
        if self._loop is not None:
            self._last_activity = self._loop.time()
        super().data_received(data)

    def _send(self, messages: list[bytes]) -> None:
        if self._loop is not None:
            self._last_activity = self._loop.time()
        super()._send(messages)

    def _check_idle(self) -> None:
        idle = self._server.idle_timeout
        peer = self.peer
        if idle is None or peer is None or self.state is not ConnectionState.OPEN:
            self._idle_timer = None
            return
        loop = peer.loop
        elapsed = loop.time() - self._last_activity
        if peer.in_flight or peer.pending:
            delay = idle  # busy: look again one full period from now
        elif elapsed >= idle:
            log.info("closing connection %s: idle for %.1f s", self.transport.get_extra_info("peername"), elapsed)  # type: ignore[union-attr]
            self._idle_timer = None
            self.close()
            return
        else:
            delay = idle - elapsed
        self._idle_timer = loop.call_later(delay, self._check_idle)

    def _on_connection_lost(self, exc: Exception | None) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._server._disconnected(self)


class _RefuseProtocol(asyncio.Protocol):
    """Past ``max_connections``: one JSON-RPC error line, then close."""

    def __init__(self, line: bytes) -> None:
        self._line = line

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _set_nodelay(transport)
        transport.write(self._line)  # type: ignore[attr-defined]
        transport.close()

    def eof_received(self) -> bool | None:
        return False


class TCPServer:
    """A running NDJSON JSON-RPC server (see ``start_tcp_server``)."""

    def __init__(
        self,
        dispatcher_factory: Callable[[], Dispatcher],
        *,
        max_connections: int,
        idle_timeout: float | None,
        protocol_kw: dict[str, Any],
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        self.dispatcher_factory = dispatcher_factory
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self._protocol_kw = protocol_kw
        self._server: asyncio.Server | None = None
        self._connections: set[TCPServerProtocol] = set()
        # created by the factory but not connected yet (a TLS handshake in progress; one that
        # fails never calls the protocol back, so these are held weakly)
        self._accepting: weakref.WeakSet[TCPServerProtocol] = weakref.WeakSet()
        self._closing: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()
        self._address: tuple[str, int] = ("", 0)
        #: connections refused (max_connections reached, or shutting down)
        self.refused = 0

    # ------------------------------------------------------------------ connections

    def _protocol_factory(self) -> asyncio.Protocol:
        if len(self._connections) + len(self._accepting) >= self.max_connections or self._closing:
            self.refused += 1
            if self._closing:
                msg = "Server shutting down; try again later"
            else:
                msg = f"Server at max_connections ({self.max_connections}); try again later"
            return _RefuseProtocol(encode_error(None, SERVER_OVERLOADED, msg) + b"\n")
        protocol = TCPServerProtocol(self, self.dispatcher_factory(), **self._protocol_kw)
        self._accepting.add(protocol)
        return protocol

    def _connected(self, protocol: TCPServerProtocol) -> None:
        self._accepting.discard(protocol)
        self._connections.add(protocol)

    def _disconnected(self, protocol: TCPServerProtocol) -> None:
        self._connections.discard(protocol)

    @property
    def connections(self) -> list[TCPServerProtocol]:
        """The open connections' protocols."""
        return list(self._connections)

    # ------------------------------------------------------------------ addresses

    @property
    def sockets(self) -> tuple[Any, ...]:
        return tuple(self._server.sockets) if self._server is not None else ()

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of the first listening socket (the port chosen for ``port=0``); still
        known after ``close()``."""
        return self._address

    @property
    def port(self) -> int:
        return self.address[1]

    # ------------------------------------------------------------------ lifetime

    async def close(self, grace: float = 5.0) -> None:
        """Graceful shutdown: stop accepting, let requests in flight finish within ``grace``
        seconds (the rest are answered with -32000), write the answers, close every
        connection. Calling it again waits for the first call."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close(grace))
        await asyncio.shield(self._closing)

    async def _close(self, grace: float) -> None:
        try:
            if self._server is not None:
                self._server.close()
            conns = list(self._connections)
            if conns:
                results = await asyncio.gather(*(c.shutdown(grace) for c in conns), return_exceptions=True)
                for r in results:
                    if isinstance(r, BaseException):
                        log.error("connection shutdown failed", exc_info=r)
            if self._server is not None:
                await self._server.wait_closed()
        finally:
            self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def serve_forever(self, grace: float = 5.0) -> None:
        """Serve until ``close()``, or until SIGTERM/SIGINT (main thread only), which close
        gracefully with ``grace``; a second signal closes every connection at once."""
        loop = asyncio.get_running_loop()

        def start() -> None:
            self._closing = loop.create_task(self._close(grace))

        def cut() -> None:
            for c in list(self._connections):
                c.close()

        with shutdown_signals(start, cut, lambda: self._closing is not None, grace):
            await self._closed.wait()
            if self._closing is not None:
                await self._closing

    async def __aenter__(self) -> TCPServer:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


def _server_ssl(tls: TLSConfig) -> ssl.SSLContext | None:
    if tls is None or isinstance(tls, ssl.SSLContext):
        return tls
    certfile, keyfile = tls
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


async def start_tcp_server(
    dispatcher_factory: Callable[[], Dispatcher],
    host: str | None = "127.0.0.1",
    port: int = 0,
    *,
    tls: TLSConfig = None,
    max_connections: int = 1024,
    idle_timeout: float | None = None,
    request_timeout: float | None = None,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    backlog: int = 128,
) -> TCPServer:
    """Listen on ``host:port`` (port 0: any free port, see ``TCPServer.port``) and serve.

    ``dispatcher_factory()`` is called once per accepted connection: return a new dispatcher
    for per-connection state, or the same one every time (``lambda: app``) to share it; the
    peer passed to each dispatcher call tells the connections apart. ``tls`` is an
    ``ssl.SSLContext`` or a ``(certfile, keyfile)`` pair. The other limits are per connection
    (see ``JSONRPCStreamProtocol``).
    """
    server = TCPServer(
        dispatcher_factory,
        max_connections=max_connections,
        idle_timeout=idle_timeout,
        protocol_kw={
            "request_timeout": request_timeout,
            "max_message_size": max_message_size,
            "max_in_flight": max_in_flight,
        },
    )
    loop = asyncio.get_running_loop()
    server._server = await loop.create_server(
        server._protocol_factory, host, port, ssl=_server_ssl(tls), backlog=backlog
    )
    addr = server._server.sockets[0].getsockname()
    server._address = (addr[0], addr[1])
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
