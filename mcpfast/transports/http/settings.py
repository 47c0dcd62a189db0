"""``HTTPSettings``: every knob of the Streamable HTTP transport, in one dataclass.

Both front ends (the built-in server and the ASGI app) and the I/O-free core read the same
object; nothing here imports anything heavy.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HTTPSettings", "DEFAULT_MAX_BODY", "DEFAULT_KEEP_ALIVE_TIMEOUT", "DEFAULT_HEAD_TIMEOUT", "DEFAULT_BODY_TIMEOUT"]

#: the request body limit (bytes received, not the announced Content-Length)
DEFAULT_MAX_BODY = 4 * 1024 * 1024
#: seconds a keep-alive connection may sit with no request before it is closed
DEFAULT_KEEP_ALIVE_TIMEOUT = 5.0
#: seconds a request head (request line and header fields) may take to arrive: 408 past it
DEFAULT_HEAD_TIMEOUT = 10.0
#: seconds a request body may take to arrive once its head did: 408 past it
DEFAULT_BODY_TIMEOUT = 30.0


@dataclass
class HTTPSettings:
    """Settings of one Streamable HTTP endpoint.

    The defaults are the safe ones: sessions expire after 30 idle minutes, at most 10,000 are
    open at once, bodies are capped at 4 MiB, DNS-rebinding protection is on when the server is
    bound to a loopback address, and every SSE stream a handler can end early is resumable from
    a bounded in-memory event store.
    """

    #: the MCP endpoint (POST, GET, DELETE); a trailing slash is accepted too
    path: str = "/mcp"
    #: True: answer every POST with one JSON body, never an SSE stream (notifications a handler
    #: sends while it runs are dropped; ``subscriptions/listen`` still streams)
    json_response: bool = False
    #: True: serve legacy (2025-11-25 and earlier) requests without sessions: no
    #: ``Mcp-Session-Id``, no GET stream (like the official SDK's ``stateless_http=True``)
    stateless: bool = False
    #: seconds a legacy session may stay idle (no request, no open GET stream) before it expires;
    #: None: never
    session_ttl: float | None = 1800.0
    #: open legacy sessions at most. When the table is full, a new ``initialize`` evicts the
    #: oldest idle session of the client holding the most; with none idle it gets 503 (-32005)
    max_sessions: int = 10_000
    #: open legacy sessions per client (the access token's identity when authenticated, else
    #: the remote address); past it ``initialize`` gets 503 (-32005), so that one client cannot
    #: take the whole table. Behind a reverse proxy every client has the proxy's address: raise
    #: it (or None: no per-client limit) unless the clients authenticate
    max_sessions_per_client: int | None = 1000
    #: where SSE events are kept for ``Last-Event-ID`` replay (``sessions.EventStore``);
    #: None: a bounded ``MemoryEventStore``
    event_store: Any = None
    #: a shared ``mcpfast.stores`` store (Redis) that makes legacy sessions valid on every
    #: process serving this endpoint (records, GET-stream routing, ``Last-Event-ID`` replay);
    #: None: the dispatcher's ``store`` if it has a shared one, else sessions live in this process.
    #: A URL string names the store the dispatcher attaches when it starts (``workers`` > 1 is
    #: accepted for it); the dispatcher's store is used
    store: Any = None
    #: request body limit in bytes (413 past it)
    max_body: int = DEFAULT_MAX_BODY
    #: extra ``Host`` values accepted by DNS-rebinding protection (``host`` or ``host:port``)
    allowed_hosts: list[str] | None = None
    #: extra ``Origin`` values accepted by DNS-rebinding protection (``scheme://host[:port]``)
    allowed_origins: list[str] | None = None
    #: None: on when bound to a loopback address; True/False: forced
    dns_rebinding_protection: bool | None = None
    #: an authenticator (``auth.py``: static bearer token or OAuth resource server), or None
    auth: Any = None
    #: serve Prometheus text at this path (GET): the server's metrics (``mcpfast.metrics``, when
    #: the dispatcher keeps them) and this endpoint's HTTP counters; None: no metrics route
    metrics_path: str | None = "/metrics"
    #: seconds between keep-alive comments on an idle SSE stream (and before a silent,
    #: long-running request switches to SSE to send them)
    sse_keepalive: float = 15.0
    #: the ``retry:`` field (milliseconds) of each resumable SSE stream's priming event: how long
    #: a client waits before reconnecting with ``Last-Event-ID``
    sse_retry_ms: int = 1000
    #: a slow client's SSE stream is closed once this many bytes wait unsent (it may resume)
    max_sse_buffer: int = 4 * 1024 * 1024
    #: seconds a request's handler may run (then -32001); None: no limit
    request_timeout: float | None = None
    #: suspended handlers per legacy session (past it -32005); a 2026-07-28 request holds its
    #: own HTTP connection, so the front end's connection limit bounds those
    max_in_flight: int = 1024
    #: seconds ``shutdown()`` lets requests in flight finish before cancelling them
    shutdown_grace: float = 5.0
    #: entered once by ``startup()``, exited by ``shutdown()``
    lifespan: Callable[[], AbstractAsyncContextManager[Any]] | None = None
    #: the address the server listens on (set by the runner; decides the rebinding default)
    bind_host: str | None = None
    #: built-in server: seconds a keep-alive connection may wait for its next request before it
    #: is closed (None: never). ASGI: the ASGI server's own setting applies
    keep_alive_timeout: float | None = DEFAULT_KEEP_ALIVE_TIMEOUT
    #: built-in server: seconds a request head (request line and header fields) may take to
    #: arrive; past it 408 and the connection closes (a client sending a byte a second cannot
    #: hold a connection slot). None: no limit
    head_timeout: float | None = DEFAULT_HEAD_TIMEOUT
    #: built-in server: seconds a request body may take to arrive once its head did; past it
    #: 408 and the connection closes. None: no limit
    body_timeout: float | None = DEFAULT_BODY_TIMEOUT
    #: anything a front end wants to keep with the settings
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"HTTPSettings.path must start with '/', got {self.path!r}")
        if self.metrics_path is not None and not self.metrics_path.startswith("/"):
            raise ValueError(f"HTTPSettings.metrics_path must start with '/', got {self.metrics_path!r}")
        if self.max_sessions < 1:
            raise ValueError(f"HTTPSettings.max_sessions must be at least 1, got {self.max_sessions}")
        if self.session_ttl is not None and not self.session_ttl > 0:
            raise ValueError(f"HTTPSettings.session_ttl must be positive seconds or None, got {self.session_ttl}")
        if self.max_body < 1:
            raise ValueError(f"HTTPSettings.max_body must be at least 1 byte, got {self.max_body}")
        if not self.sse_keepalive > 0:
            raise ValueError(f"HTTPSettings.sse_keepalive must be positive seconds, got {self.sse_keepalive}")
        if self.sse_retry_ms < 0:
            raise ValueError(f"HTTPSettings.sse_retry_ms must be >= 0, got {self.sse_retry_ms}")
        if self.max_sessions_per_client is not None and self.max_sessions_per_client < 1:
            raise ValueError(
                f"HTTPSettings.max_sessions_per_client must be at least 1 or None, got {self.max_sessions_per_client}")
        for name in ("keep_alive_timeout", "head_timeout", "body_timeout"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"HTTPSettings.{name} must be positive seconds or None, got {value}")
        if self.max_in_flight < 1:
            raise ValueError(f"HTTPSettings.max_in_flight must be at least 1, got {self.max_in_flight}")
