"""The built-in HTTP/1.1 server for Streamable HTTP: listens, hands each accepted socket an
``HTTPConnection`` (``protocol.py``) in front of the I/O-free ``StreamableHTTP`` core, and shuts
down gracefully.

* **Connections.** ``max_connections`` answers 503 to the connections past it. Idle keep-alive
  connections close after ``keep_alive_timeout``.
* **Processes.** ``run_http(..., workers=N)`` forks N workers that share the port with
  ``SO_REUSEPORT`` (``workers.py``); the parent restarts a crashed worker and forwards SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import weakref
from typing import TYPE_CHECKING, Any, Union

from ...errors import SERVER_OVERLOADED
from .._signals import shutdown_signals
from ._front_common import error_body, status_line
from .protocol import (
    DEFAULT_KEEP_ALIVE_TIMEOUT,
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADERS,
    HTTPConnection,
    RefuseProtocol,
    date_header,
    refresh_date,
    require_httptools,
)
from .workers import check_workers, run_workers

if TYPE_CHECKING:
    from .core import StreamableHTTP
    from .settings import HTTPSettings

__all__ = ["HTTPServer", "serve_http", "run_http", "TLSConfig"]

log = logging.getLogger("mcpfast.transports.http.server")

TLSConfig = Union[ssl.SSLContext, "tuple[str, str]", None]


# ---------------------------------------------------------------------------- server


def _server_ssl(tls: TLSConfig) -> ssl.SSLContext | None:
    if tls is None or isinstance(tls, ssl.SSLContext):
        return tls
    certfile, keyfile = tls
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


class HTTPServer:
    """A Streamable HTTP server on ``host:port`` (see the module docstring).

    ``dispatcher`` is a ``ServerCore`` (or ``MCPServer.core``); the server builds
    ``StreamableHTTP(dispatcher, settings)`` from it (``settings`` defaults to
    ``HTTPSettings()``; its ``bind_host`` is set to ``host`` when unset, for the DNS-rebinding
    default). ``core`` passes a ready ``StreamableHTTP`` (or anything with its interface)
    instead. ``port=0`` picks a free port (see ``.port``). ``tls`` is an ``ssl.SSLContext`` or a
    ``(certfile, keyfile)`` pair. ``max_connections`` None means no limit but the OS's.

    ``await server.start()`` starts the core (``core.startup()``) and listens;
    ``await server.close(grace)`` shuts down gracefully; ``async with HTTPServer(...)`` does both.
    """

    def __init__(
        self,
        dispatcher: Any = None,
        *,
        host: str | None = "127.0.0.1",
        port: int = 8000,
        settings: HTTPSettings | None = None,
        tls: TLSConfig = None,
        max_connections: int | None = None,
        keep_alive_timeout: float | None = DEFAULT_KEEP_ALIVE_TIMEOUT,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        max_headers: int = DEFAULT_MAX_HEADERS,
        backlog: int = 1024,
        reuse_port: bool = False,
        core: StreamableHTTP | None = None,
    ) -> None:
        require_httptools()  # fail here, with the extra to install, not on the first connection
        if core is None:
            if dispatcher is None:
                raise TypeError("HTTPServer needs a dispatcher (a ServerCore) or a core")
            from .core import StreamableHTTP
            from .settings import HTTPSettings

            if settings is None:
                settings = HTTPSettings()
            if getattr(settings, "bind_host", None) is None:
                settings.bind_host = host
            core = StreamableHTTP(dispatcher, settings)
        if max_connections is not None and max_connections < 1:
            raise ValueError(f"max_connections must be at least 1 (or None), got {max_connections}")
        self.core = core
        self.host = host
        self.requested_port = port
        self.tls = _server_ssl(tls)
        self.max_connections = max_connections
        self.keep_alive_timeout = keep_alive_timeout
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self.backlog = backlog
        self.reuse_port = reuse_port
        self._server: asyncio.Server | None = None
        self._conns: set[HTTPConnection] = set()
        self._accepting: weakref.WeakSet[HTTPConnection] = weakref.WeakSet()
        self._stopping = False
        self._closing_task: asyncio.Task[None] | None = None
        self._closed: asyncio.Event | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._tick_every = 1.0
        self._address: tuple[str, int] = ("", 0)
        self._started = False
        #: connections refused (max_connections reached, or shutting down)
        self.refused = 0

    # ------------------------------------------------------------------ connections

    def _factory(self) -> asyncio.Protocol:
        limit = self.max_connections
        if self._stopping or (limit is not None and len(self._conns) + len(self._accepting) >= limit):
            self.refused += 1
            msg = (
                "Server shutting down; try again later"
                if self._stopping
                else f"Server at max_connections ({limit}); try again later"
            )
            body = error_body(SERVER_OVERLOADED, msg)
            return RefuseProtocol(
                b"".join(
                    (
                        status_line(503),
                        date_header(),
                        b"Content-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n",
                        b"Content-Length: %d\r\n\r\n" % len(body),
                        body,
                    )
                )
            )
        conn = HTTPConnection(self)
        self._accepting.add(conn)
        return conn

    @property
    def stopping(self) -> bool:
        """``close()`` has begun: no new connections are served."""
        return self._stopping

    def connected(self, conn: HTTPConnection) -> None:
        """Called by a connection once its transport is up."""
        self._accepting.discard(conn)
        self._conns.add(conn)

    def disconnected(self, conn: HTTPConnection) -> None:
        """Called by a connection when its transport is gone."""
        self._conns.discard(conn)

    @property
    def connections(self) -> int:
        """Open connections."""
        return len(self._conns)

    # ------------------------------------------------------------------ addresses

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
        """``http(s)://host:port/path`` of the MCP endpoint."""
        host = self._address[0]
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}{self.core.settings.path}"

    # ------------------------------------------------------------------ lifetime

    async def start(self) -> None:
        """Start the core (``core.startup()``: lifespan, timers), then listen."""
        if self._started:
            raise RuntimeError("HTTPServer.start() called twice")
        self._started = True
        self._closed = asyncio.Event()
        await self.core.startup()
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                self._factory,
                self.host,
                self.requested_port,
                ssl=self.tls,
                backlog=self.backlog,
                reuse_port=self.reuse_port or None,
            )
        except BaseException:
            await self.core.shutdown()
            raise
        addr = self._server.sockets[0].getsockname()
        self._address = (str(addr[0]), int(addr[1]))
        ka = self.keep_alive_timeout
        self._tick_every = 1.0 if ka is None else max(0.05, min(1.0, ka / 4))
        self._tick = loop.call_later(self._tick_every, self._on_tick)
        log.info("Streamable HTTP on %s", self.url)

    def _on_tick(self) -> None:
        """Once a tick: refresh the Date header; close keep-alive connections idle too long."""
        refresh_date()
        ka = self.keep_alive_timeout
        if ka is not None:
            step = self._tick_every
            for conn in list(self._conns):
                conn.check_idle(step, ka)
        if not self._stopping:
            self._tick = asyncio.get_running_loop().call_later(self._tick_every, self._on_tick)

    async def close(self, grace: float = 5.0) -> None:
        """Graceful shutdown: stop accepting; close idle connections; let requests in progress
        finish within ``grace`` seconds (their responses carry ``Connection: close``); then
        ``core.shutdown()`` (ends event streams, sessions, the lifespan) and close the rest.
        Calling it again waits for the first call."""
        if self._closing_task is None:
            self._closing_task = asyncio.get_running_loop().create_task(self._close(grace))
        await asyncio.shield(self._closing_task)

    async def _close(self, grace: float) -> None:
        self._stopping = True
        try:
            if self._tick is not None:
                self._tick.cancel()
                self._tick = None
            if self._server is not None:
                self._server.close()
            for conn in list(self._conns):
                conn.shutdown()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace
            while any(c.busy for c in self._conns) and loop.time() < deadline:
                await asyncio.sleep(0.02)
            try:
                await self.core.shutdown()
            except Exception:
                log.exception("Streamable HTTP core shutdown failed")
            # what shutdown ended is flushed by close(); what is still open is cut
            for conn in list(self._conns):
                conn.close_transport()
            end = loop.time() + 1.0
            while self._conns and loop.time() < end:
                await asyncio.sleep(0.02)
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

    async def serve_forever(self, grace: float = 5.0) -> None:
        """Serve until ``close()``, or until SIGTERM/SIGINT (main thread only), which close
        gracefully with ``grace``; a second signal cuts every connection at once. Cancelling
        the caller also closes gracefully."""
        if not self._started:
            await self.start()
        loop = asyncio.get_running_loop()

        def start() -> None:
            self._closing_task = loop.create_task(self._close(grace))

        def cut() -> None:
            for c in list(self._conns):
                c.abort()

        with shutdown_signals(start, cut, lambda: self._closing_task is not None, grace):
            try:
                assert self._closed is not None
                await self._closed.wait()
                if self._closing_task is not None:
                    await self._closing_task
            except asyncio.CancelledError:
                await asyncio.shield(self.close(grace))
                raise

    async def __aenter__(self) -> HTTPServer:
        if not self._started:
            await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


# ---------------------------------------------------------------------------- runners


def _notify_ready(ready: Any, server: HTTPServer) -> None:
    if ready is None:
        return
    if hasattr(ready, "set_result"):  # a Future
        if not ready.done():
            ready.set_result(server)
    elif hasattr(ready, "set"):  # an asyncio.Event / threading.Event
        ready.set()
    else:
        ready(server)


async def serve_http(
    dispatcher: Any,
    *,
    host: str | None = "127.0.0.1",
    port: int = 8000,
    settings: HTTPSettings | None = None,
    workers: int = 1,
    tls: TLSConfig = None,
    max_connections: int | None = None,
    ready: Any = None,
    grace: float = 5.0,
    **server_kw: Any,
) -> None:
    """Serve Streamable HTTP on ``host:port`` until cancelled or SIGTERM/SIGINT (then shut down
    gracefully within ``grace`` seconds).

    ``ready`` is told once the server listens: an ``asyncio.Event`` (set), a ``Future`` (its
    result is the ``HTTPServer``) or a callable (called with the ``HTTPServer``). More worker
    processes (``workers>1``) need the blocking ``run_http``: they are forked before any event
    loop exists. Other keywords go to ``HTTPServer``.
    """
    check_workers(workers, settings)
    if workers != 1:
        raise ValueError("serve_http() runs in this process's event loop; use run_http(..., workers=N) for more processes")
    server = HTTPServer(
        dispatcher, host=host, port=port, settings=settings, tls=tls, max_connections=max_connections, **server_kw
    )
    await server.start()
    _notify_ready(ready, server)
    await server.serve_forever(grace)


def run_http(
    dispatcher: Any,
    *,
    host: str | None = "127.0.0.1",
    port: int = 8000,
    settings: HTTPSettings | None = None,
    workers: int = 1,
    tls: TLSConfig = None,
    max_connections: int | None = None,
    ready: Any = None,
    grace: float = 5.0,
    **server_kw: Any,
) -> None:
    """Serve Streamable HTTP, blocking, until SIGTERM/SIGINT (graceful shutdown).

    ``workers=N`` (N > 1, POSIX) forks N processes that each run their own event loop and core
    on the same port (``SO_REUSEPORT``: the kernel spreads connections over them). It requires
    ``HTTPSettings(stateless=True)`` (see ``workers.check_workers``). The parent supervises: a worker
    that dies is restarted, SIGTERM/SIGINT are forwarded, and it returns when all have exited.
    ``ready`` is only honoured with one worker. See ``serve_http`` for the rest.
    """
    check_workers(workers, settings)
    kw = dict(settings=settings, tls=tls, max_connections=max_connections, grace=grace, **server_kw)
    if workers == 1:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_http(dispatcher, host=host, port=port, ready=ready, **kw))
        return
    run_workers(dispatcher, workers, host, port, kw)
