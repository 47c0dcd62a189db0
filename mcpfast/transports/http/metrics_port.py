"""A metrics port for any server: Prometheus text over HTTP beside stdio, TCP or WebSocket.

``start_metrics_server(metrics, host=..., port=...)`` listens with the built-in HTTP server
(httptools parsing, the listener's limits and timeouts) in front of ``MetricsEndpoint``, a
core that answers ``GET``/``HEAD`` at its path with ``metrics.text()`` and 404 elsewhere. It
serves nothing else: the MCP endpoint, sessions and their state are not reachable through it.
The Host/Origin guard applies as on the MCP endpoint (``HTTPSettings``' DNS-rebinding rules:
bound to a loopback address, only loopback Host headers are answered).
"""

from __future__ import annotations

import logging
from typing import Any

from ...errors import INVALID_REQUEST
from ._front_common import error_body
from .core import HTTPRequest, Responder
from .security import HostOriginGuard
from .settings import HTTPSettings

__all__ = ["MetricsEndpoint", "start_metrics_server"]

log = logging.getLogger("mcpfast.transports.http.metrics")

_TEXT = "text/plain; version=0.0.4; charset=utf-8"
_JSON = [("content-type", "application/json")]


class MetricsEndpoint:
    """The ``StreamableHTTP`` interface an ``HTTPServer`` drives (``settings``, ``handle``,
    ``reject_too_large``, ``startup``, ``shutdown``), answering only the metrics path.

    ``metrics`` is anything with ``text() -> str`` (``mcpfast.metrics.ServerMetrics``).
    """

    def __init__(self, metrics: Any, *, path: str = "/metrics", bind_host: str | None = None) -> None:
        if not path.startswith("/"):
            raise ValueError(f"metrics path must start with '/', got {path!r}")
        self.metrics = metrics
        #: the HTTP server reads its limits here; ``path`` is the metrics path (no MCP endpoint)
        self.settings = HTTPSettings(path=path, metrics_path=path, bind_host=bind_host, max_body=1)
        self._guard = HostOriginGuard.from_settings(self.settings)
        #: scrapes answered
        self.scrapes = 0

    def handle(self, request: HTTPRequest, responder: Responder) -> None:
        """Answer one request (never raises: a failing ``text()`` is a logged 500)."""
        rejection = self._guard.check(request.headers.get("host"), request.headers.get("origin"))
        if rejection is not None:
            responder.respond(rejection.status, list(rejection.headers), rejection.body)
            return
        if request.path != self.settings.metrics_path:
            responder.respond(404, _JSON, error_body(INVALID_REQUEST, f"Not Found: metrics are at {self.settings.path}"))
            return
        if request.method not in ("GET", "HEAD"):
            responder.respond(405, [*_JSON, ("allow", "GET, HEAD")],
                              error_body(INVALID_REQUEST, "Method Not Allowed: the metrics are read-only"))
            return
        try:
            body = self.metrics.text().encode()
        except Exception:  # noqa: BLE001 - a scrape must not take the server down
            log.exception("rendering the metrics failed")
            responder.respond(500, _JSON, error_body(INVALID_REQUEST, "Internal error rendering the metrics"))
            return
        self.scrapes += 1
        responder.respond(200, [("content-type", _TEXT), ("cache-control", "no-store")],
                          b"" if request.method == "HEAD" else body)

    def reject_too_large(self, responder: Responder) -> None:
        """A request with a body (a scrape has none): 413, then the connection closes."""
        responder.respond(413, [*_JSON, ("connection", "close")],
                          error_body(INVALID_REQUEST, "Payload Too Large: the metrics endpoint takes no body"))

    async def startup(self) -> None:
        """Nothing to start."""

    async def shutdown(self) -> None:
        """Nothing to stop."""


async def start_metrics_server(metrics: Any, *, host: str | None = "127.0.0.1", port: int = 9464,
                               path: str = "/metrics", max_connections: int | None = 64) -> Any:
    """Listen on ``host:port`` (0: a free port, see ``.port``) and serve ``metrics.text()`` at
    ``path``; returns the started ``HTTPServer`` (``await server.close()`` stops it).
    9464 is the port OpenTelemetry's Prometheus exporter uses by default."""
    from .server import HTTPServer

    # HTTPServer is typed for StreamableHTTP; it drives anything with its interface
    endpoint: Any = MetricsEndpoint(metrics, path=path, bind_host=host)
    server = HTTPServer(core=endpoint, host=host, port=port, max_connections=max_connections)
    await server.start()
    log.info("metrics on http://%s:%d%s", host, server.port, path)
    return server
