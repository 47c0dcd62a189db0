"""One listener for every socket server (TCP, Streamable HTTP, and the WebSocket server to come):
accept, the connection count and ``max_connections``, timeouts, TLS, graceful shutdown with a
grace period, and SIGTERM/SIGINT.

A front end subclasses ``Listener`` and fills in its public hooks: ``make_connection()`` (the
protocol for an accepted socket), ``refusal(reason)`` (the protocol that answers a connection
past ``max_connections``, or one arriving during shutdown), and optionally ``on_start()``,
``on_drained()`` and ``on_tick()``. Its connections implement ``ServedConnection`` and report to
the listener through ``connected()``/``disconnected()``; they never see the listener's insides,
nor it theirs.

Timeouts: every ``tick`` the listener asks each connection for its ``timeout_state()``: a key
naming what the connection waits for (idle since request 7, reading the head of request 8...)
and how long that may take. A key that stays the same for longer than its limit gets
``timed_out(key)``; a key that changes restarts the clock. The connection decides what its
states are (TCP: idle or busy; HTTP: idle, head, body or busy) and what a timeout does (close;
answer 408), the listener keeps the clock: no timer per connection, nothing on the hot path but
the counters a connection bumps anyway. A timeout therefore fires between ``limit`` and
``limit + tick`` seconds after the state began; the tick is a quarter of the shortest limit, at
most one second and at least 50 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import ssl
from collections.abc import Hashable
from typing import Any, Generic, Protocol, TypeVar, Union

from ._signals import shutdown_signals

__all__ = ["Listener", "ServedConnection", "TLSConfig", "notify_ready", "server_ssl", "set_nodelay"]

log = logging.getLogger("mcpfast.transports")

TLSConfig = Union[ssl.SSLContext, "tuple[str, str]", None]

#: seconds a graceful shutdown waits, after the grace period and the front end's
#: ``on_drained()``, for connections to flush and close before cutting them
CLOSE_WAIT = 1.0
#: the tick's bounds (seconds)
MIN_TICK, MAX_TICK = 0.05, 1.0
#: seconds a TLS client may take to complete its handshake (asyncio's default is 60 s: a client
#: that connects and says nothing would hold a ``max_connections`` slot that long)
DEFAULT_TLS_HANDSHAKE_TIMEOUT = 10.0


class ServedConnection(Protocol):
    """What a connection served by a ``Listener`` offers it (a structural type: the TCP and HTTP
    protocols implement it without inheriting from anything here)."""

    def timeout_state(self) -> tuple[Hashable, float | None]:
        """(what the connection waits for, the seconds that may take or None for no limit)."""

    def timed_out(self, key: Hashable) -> None:
        """``key`` (from ``timeout_state``) lasted longer than its limit."""

    async def shutdown(self, grace: float) -> None:
        """Graceful shutdown: read no new requests, let those in progress finish within
        ``grace`` seconds, close when done. May return with the connection still open (an
        HTTP event stream that the front end's ``on_drained()`` ends)."""

    def close(self) -> None:
        """Close after flushing what was written."""

    def abort(self) -> None:
        """Close at once, dropping what was not sent."""


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """TCP_NODELAY on a TCP socket: replies are small and written whole, Nagle would only add
    latency."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def server_ssl(tls: TLSConfig) -> ssl.SSLContext | None:
    """An ``ssl.SSLContext`` as is, or one built from a ``(certfile, keyfile)`` pair."""
    if tls is None or isinstance(tls, ssl.SSLContext):
        return tls
    certfile, keyfile = tls
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


def notify_ready(ready: Any, server: Any) -> None:
    """Tell ``ready`` that ``server`` listens: a ``Future`` gets it as its result, an
    ``asyncio.Event``/``threading.Event`` is set, a callable is called with it; None: nothing."""
    if ready is None:
        return
    if hasattr(ready, "set_result"):  # a Future
        if not ready.done():
            ready.set_result(server)
    elif hasattr(ready, "set"):  # an asyncio.Event / threading.Event
        ready.set()
    else:
        ready(server)


C = TypeVar("C", bound=ServedConnection)


class Listener(Generic[C]):
    """Listens on ``host:port`` and serves each accepted socket with ``make_connection()``.

    ``port=0`` picks a free port (see ``.port``). ``tls`` is an ``ssl.SSLContext`` or a
    ``(certfile, keyfile)`` pair. ``max_connections`` None means no limit but the OS's; past it
    a connection gets ``refusal()`` (and ``refused`` counts it). ``idle_timeout`` is what
    connections report as the limit of their idle state (None: never closed for idleness);
    ``timeouts`` are the front end's other limits, which only set the tick.
    ``tls_handshake_timeout`` bounds the TLS handshake (a connection in it counts against
    ``max_connections``; None: asyncio's default, 60 s).
    """

    def __init__(
        self,
        *,
        host: str | None,
        port: int,
        tls: TLSConfig = None,
        max_connections: int | None = None,
        idle_timeout: float | None = None,
        timeouts: tuple[float | None, ...] = (),
        backlog: int = 1024,
        reuse_port: bool = False,
        tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ) -> None:
        if max_connections is not None and max_connections < 1:
            raise ValueError(f"max_connections must be at least 1 (or None), got {max_connections}")
        for t in (idle_timeout, tls_handshake_timeout, *timeouts):
            if t is not None and not t > 0:
                raise ValueError(f"timeouts must be positive seconds or None, got {t}")
        self.host = host
        self.requested_port = port
        self.tls = server_ssl(tls)
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.backlog = backlog
        self.reuse_port = reuse_port
        self.tls_handshake_timeout = tls_handshake_timeout
        limits = [t for t in (idle_timeout, *timeouts) if t is not None]
        #: seconds between two looks at the connections' timeouts
        self.tick = max(MIN_TICK, min(MAX_TICK, min(limits) / 4)) if limits else MAX_TICK
        self._server: asyncio.Server | None = None
        # open connections -> [the timeout key last seen, when it was first seen]
        self._conns: dict[C, list[Any]] = {}
        # made by the factory but not connected yet (a TLS handshake in progress) -> until when
        # it counts: one that fails never calls the protocol back
        self._accepting: dict[C, float] = {}
        self._stopping = False
        self._started = False
        self._closing_task: asyncio.Task[None] | None = None
        self._closed: asyncio.Event | None = None
        # set when the last connection goes, while close() waits for that
        self._all_gone: asyncio.Event | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._address: tuple[str, int] = ("", 0)
        #: connections refused (max_connections reached, or shutting down)
        self.refused = 0

    # ------------------------------------------------------------------ hooks for front ends

    def make_connection(self) -> C:
        """The protocol for one accepted socket (it calls ``connected``/``disconnected``)."""
        raise NotImplementedError

    def refusal(self, reason: str) -> asyncio.Protocol:
        """The protocol that answers a refused connection with ``reason`` and closes it."""
        raise NotImplementedError

    async def on_start(self) -> None:
        """Called by ``start()`` before listening (a failure stops the start)."""

    async def on_start_failed(self) -> None:
        """Called when listening failed after ``on_start()`` succeeded."""

    async def on_drained(self) -> None:
        """Called by a graceful shutdown once the connections had their grace period, before
        the ones still open are closed (HTTP: the core's shutdown ends the event streams)."""

    def on_tick(self) -> None:
        """Called once a tick (HTTP: refresh the Date header)."""

    # ------------------------------------------------------------------ hooks for connections

    @property
    def stopping(self) -> bool:
        """``close()`` has begun: a connection that comes up now should close at once."""
        return self._stopping

    def connected(self, conn: C) -> None:
        """A connection's transport is up: count it."""
        self._accepting.pop(conn, None)
        self._conns[conn] = [None, 0.0]

    def disconnected(self, conn: C) -> None:
        """A connection's transport is gone."""
        self._conns.pop(conn, None)
        if not self._conns and self._all_gone is not None:
            self._all_gone.set()

    # ------------------------------------------------------------------ state

    @property
    def connections(self) -> int:
        """Open connections."""
        return len(self._conns)

    @property
    def protocols(self) -> list[C]:
        """The open connections' protocols."""
        return list(self._conns)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets (empty before ``start()``)."""
        return tuple(self._server.sockets) if self._server is not None else ()

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of the first listening socket; still known after ``close()``."""
        return self._address

    @property
    def port(self) -> int:
        """The port listened on (the one the OS chose for ``port=0``)."""
        return self._address[1]

    @property
    def url(self) -> str:
        """Where a client connects (``tcp://h:p``, ``http://h:p/mcp``...): each front end says
        its scheme and path."""
        raise NotImplementedError(f"{type(self).__name__} does not say its URL")

    # ------------------------------------------------------------------ accepting

    def _factory(self) -> Any:
        limit = self.max_connections
        if self._accepting:
            self._forget_failed_handshakes()
        if self._stopping or (limit is not None and len(self._conns) + len(self._accepting) >= limit):
            self.refused += 1
            if self._stopping:
                return self.refusal("Server shutting down; try again later")
            return self.refusal(f"Server at max_connections ({limit}); try again later")
        conn = self.make_connection()
        handshake = self.tls_handshake_timeout if self.tls_handshake_timeout is not None else 60.0
        self._accepting[conn] = asyncio.get_running_loop().time() + handshake + 0.1
        return conn

    def _forget_failed_handshakes(self) -> None:
        # a connection whose TLS handshake failed or timed out never calls its protocol back:
        # past the handshake deadline it is no longer counted
        now = asyncio.get_running_loop().time()
        for conn, deadline in list(self._accepting.items()):
            if deadline < now:
                del self._accepting[conn]

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        """``on_start()``, then listen."""
        if self._started:
            raise RuntimeError(f"{type(self).__name__}.start() called twice")
        self._started = True
        self._closed = asyncio.Event()
        await self.on_start()
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                self._factory,
                self.host,
                self.requested_port,
                ssl=self.tls,
                backlog=self.backlog,
                reuse_port=self.reuse_port or None,
                ssl_handshake_timeout=self.tls_handshake_timeout if self.tls is not None else None,
            )
        except BaseException:
            await self.on_start_failed()
            raise
        addr = self._server.sockets[0].getsockname()
        self._address = (str(addr[0]), int(addr[1]))
        self._timer = loop.call_later(self.tick, self._on_timer)

    def _on_timer(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self.on_tick()
        except Exception:
            log.exception("%s.on_tick failed", type(self).__name__)
        now = loop.time()
        for conn, seen in list(self._conns.items()):
            try:
                key, limit = conn.timeout_state()
                if key != seen[0]:
                    seen[0] = key
                    seen[1] = now
                elif limit is not None and now - seen[1] >= limit:
                    seen[1] = math.inf  # once per state: a slow close does not time out again
                    conn.timed_out(key)
            except Exception:
                log.exception("timeout check of %r failed", conn)
        if not self._stopping:
            self._timer = loop.call_later(self.tick, self._on_timer)

    async def close(self, grace: float = 5.0) -> None:
        """Graceful shutdown: stop accepting; each connection reads no new requests and
        finishes those in progress within ``grace`` seconds (``ServedConnection.shutdown``);
        ``on_drained()``; what is still open is closed (flushing) and, after
        ``CLOSE_WAIT`` seconds, cut. Calling it again waits for the first call."""
        if self._closing_task is None:
            self._closing_task = asyncio.get_running_loop().create_task(self._close(grace))
        await asyncio.shield(self._closing_task)

    async def _close(self, grace: float) -> None:
        self._stopping = True
        try:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._server is not None:
                self._server.close()
            conns = list(self._conns)
            if conns:
                # a connection's shutdown may wait for a client that does not read: bounded
                tasks = [asyncio.ensure_future(c.shutdown(grace)) for c in conns]
                done, pending = await asyncio.wait(tasks, timeout=grace + CLOSE_WAIT)
                for t in pending:
                    t.cancel()
                for t in done:
                    if not t.cancelled() and t.exception() is not None:
                        log.error("connection shutdown failed", exc_info=t.exception())
            try:
                await self.on_drained()
            except Exception:
                log.exception("%s.on_drained failed", type(self).__name__)
            for conn in list(self._conns):
                conn.close()
            if self._conns:
                self._all_gone = asyncio.Event()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._all_gone.wait(), CLOSE_WAIT)
            for conn in list(self._conns):
                conn.abort()
            if self._server is not None:
                await self._server.wait_closed()
        finally:
            if self._closed is not None:
                self._closed.set()

    async def wait_closed(self) -> None:
        """Wait until ``close()`` finished."""
        if self._closed is None:
            return
        await self._closed.wait()

    def abort_all(self) -> None:
        """Cut every connection at once (a second SIGTERM/SIGINT)."""
        for conn in list(self._conns):
            conn.abort()

    async def serve_forever(self, grace: float = 5.0) -> None:
        """Serve (``start()`` first if needed) until ``close()``, or until SIGTERM/SIGINT (main
        thread only), which close gracefully with ``grace``; a second signal cuts every
        connection at once. Cancelling the caller also closes gracefully."""
        if not self._started:
            await self.start()
        loop = asyncio.get_running_loop()

        def start() -> None:
            if self._closing_task is None:
                self._closing_task = loop.create_task(self._close(grace))

        with shutdown_signals(start, self.abort_all, lambda: self._closing_task is not None, grace):
            try:
                assert self._closed is not None
                await self._closed.wait()
                if self._closing_task is not None:
                    await self._closing_task
            except asyncio.CancelledError:
                await asyncio.shield(self.close(grace))
                raise
