"""The built-in HTTP/1.1 server for Streamable HTTP: listens, hands each accepted socket an
``HTTPConnection`` (``protocol.py``) in front of the I/O-free ``StreamableHTTP`` core, and shuts
down gracefully.

* **Connections.** ``max_connections`` answers 503 to the connections past it. Idle keep-alive
  connections close after ``keep_alive_timeout``; a request head or body that arrives too
  slowly (``head_timeout``, ``body_timeout``) gets 408 and the connection closes, so slow
  clients cannot hold every connection slot.
* **Processes.** ``run_http(..., workers=N)`` forks N workers that share the port with
  ``SO_REUSEPORT`` (``workers.py``); the parent restarts a crashed worker and forwards SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from ...errors import SERVER_OVERLOADED
from ...metrics import metrics_of
from ..listener import Listener, TLSConfig, notify_ready
from ._front_common import error_body, status_line
from .protocol import (
    DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MAX_HEADERS,
    HTTPConnection,
    RefuseProtocol,
    date_header,
    refresh_date,
    require_httptools,
)
from .security import HostOriginGuard, Rejection
from .settings import DEFAULT_BODY_TIMEOUT, DEFAULT_HEAD_TIMEOUT, DEFAULT_KEEP_ALIVE_TIMEOUT
from .workers import check_workers, run_workers

if TYPE_CHECKING:
    from ..websocket import WebSocketConnection, WebSocketEndpoint
    from .core import StreamableHTTP
    from .settings import HTTPSettings

__all__ = ["HTTPServer", "serve_http", "run_http", "TLSConfig"]

log = logging.getLogger("mcpfast.transports.http.server")

# ---------------------------------------------------------------------------- server

_SETTINGS: Any = ...  # "take it from the core's settings"


def _setting(value: Any, settings: Any, name: str, default: float | None) -> float | None:
    """An explicit argument, else the settings' field (a core with other settings: ``default``)."""
    chosen = getattr(settings, name, default) if value is _SETTINGS else value
    return None if chosen is None else float(chosen)


class HTTPServer(Listener[HTTPConnection]):
    """A Streamable HTTP server on ``host:port`` (see the module docstring; listening, limits,
    timeouts, TLS and shutdown are ``transports.listener.Listener``'s).

    ``dispatcher`` is a ``ServerCore`` (or ``MCPServer.core``); the server builds
    ``StreamableHTTP(dispatcher, settings)`` from it (``settings`` defaults to
    ``HTTPSettings()``; its ``bind_host`` is set to ``host`` when unset, for the DNS-rebinding
    default). ``core`` passes a ready ``StreamableHTTP`` (or anything with its interface)
    instead. ``port=0`` picks a free port (see ``.port``). ``tls`` is an ``ssl.SSLContext`` or a
    ``(certfile, keyfile)`` pair. ``max_connections`` None means no limit but the OS's.

    Timeouts (seconds, None: no limit; by default the settings' ``keep_alive_timeout``,
    ``head_timeout`` and ``body_timeout``): a keep-alive connection with no request for
    ``keep_alive_timeout`` is closed; a request head that takes longer than ``head_timeout`` to
    arrive, or a body longer than ``body_timeout``, is answered 408 and the connection closed (a
    request being answered, however long, is never cut).

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
        keep_alive_timeout: float | None = _SETTINGS,
        head_timeout: float | None = _SETTINGS,
        body_timeout: float | None = _SETTINGS,
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
        s = core.settings
        ka = _setting(keep_alive_timeout, s, "keep_alive_timeout", DEFAULT_KEEP_ALIVE_TIMEOUT)
        #: seconds a request head may take to arrive (408 past it)
        self.head_timeout = _setting(head_timeout, s, "head_timeout", DEFAULT_HEAD_TIMEOUT)
        #: seconds a request body may take to arrive (408 past it)
        self.body_timeout = _setting(body_timeout, s, "body_timeout", DEFAULT_BODY_TIMEOUT)
        # the TLS handshake comes before the head: the head timeout bounds it too
        super().__init__(host=host, port=port, tls=tls, max_connections=max_connections, idle_timeout=ka,
                         timeouts=(self.head_timeout, self.body_timeout), backlog=backlog, reuse_port=reuse_port,
                         tls_handshake_timeout=self.head_timeout)
        self.core = core
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        # an absolute-form request target names the host too: checked like Host (security.py)
        self._target_guard = HostOriginGuard.from_settings(s)
        # MCP over WebSocket at the same path (made on the first upgrade), unless not installed
        self._ws: WebSocketEndpoint | None = None
        self._ws_missing = False

    @property
    def keep_alive_timeout(self) -> float | None:
        """Seconds a keep-alive connection may wait for its next request (the listener's
        ``idle_timeout``)."""
        return self.idle_timeout

    # ------------------------------------------------------------------ listener hooks

    def make_connection(self) -> HTTPConnection:
        return HTTPConnection(self)

    def refusal(self, reason: str) -> asyncio.Protocol:
        metrics = metrics_of(getattr(self.core, "dispatcher", None))
        if metrics is not None:
            metrics.refuse("shutting_down" if self.stopping else "max_connections")
        body = error_body(SERVER_OVERLOADED, reason)
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

    async def on_start(self) -> None:
        await self.core.startup()

    async def on_start_failed(self) -> None:
        await self.core.shutdown()

    async def on_drained(self) -> None:
        # ends event streams, sessions, the lifespan; what it ends is flushed by the close after
        try:
            await self.core.shutdown()
        except Exception:
            log.exception("Streamable HTTP core shutdown failed")

    def on_tick(self) -> None:
        refresh_date()

    def accepts_websocket(self, target: bytes) -> bool:
        """Whether an upgrade to WebSocket at request target ``target`` is served here: the MCP
        path, when the websockets library is installed (else the upgrade is refused as before)."""
        endpoint = self._websocket_endpoint()
        return endpoint is not None and endpoint.matches(target.decode("latin-1"))

    def websocket_connection(self) -> WebSocketConnection:
        """A connection protocol for an upgraded socket (after ``accepts_websocket``)."""
        endpoint = self._websocket_endpoint()
        assert endpoint is not None
        return endpoint.connection(self)

    def _websocket_endpoint(self) -> WebSocketEndpoint | None:
        if self._ws_missing:
            return None
        ws = self._ws
        if ws is None:
            try:
                from ..websocket import WebSocketEndpoint, WebSocketSettings, require_websockets

                require_websockets()
            except ImportError:
                self._ws_missing = True
                return None
            core = self.core
            dispatcher = core.dispatcher
            ws = self._ws = WebSocketEndpoint(lambda: dispatcher, WebSocketSettings.from_http(core.settings))
        return ws

    def check_target(self, authority: str) -> Rejection | None:
        """For connections: the authority of an absolute-form request target, checked by the
        DNS-rebinding guard (None: it may proceed)."""
        return self._target_guard.check_target(authority)

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """``http(s)://host:port/path`` of the MCP endpoint."""
        host = self.address[0]
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}{self.core.settings.path}"

    async def start(self) -> None:
        """Start the core (``core.startup()``: lifespan, timers), then listen."""
        await super().start()
        log.info("Streamable HTTP on %s", self.url)

    async def __aenter__(self) -> HTTPServer:
        if not self._started:
            await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


# ---------------------------------------------------------------------------- runners


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
    check_workers(workers, settings, dispatcher)
    if workers != 1:
        raise ValueError("serve_http() runs in this process's event loop; use run_http(..., workers=N) for more processes")
    server = HTTPServer(
        dispatcher, host=host, port=port, settings=settings, tls=tls, max_connections=max_connections, **server_kw
    )
    await server.start()
    notify_ready(ready, server)
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
    check_workers(workers, settings, dispatcher)
    kw = dict(settings=settings, tls=tls, max_connections=max_connections, grace=grace, **server_kw)
    if workers == 1:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_http(dispatcher, host=host, port=port, ready=ready, **kw))
        return
    run_workers(dispatcher, workers, host, port, kw)
