"""The client transport for ``ws://`` and ``wss://`` URLs (``mcpfast.client.transport``'s
contract): one WebSocket connection, subprotocol ``mcp``, one JSON-RPC message per text frame
(the convention of the official SDKs 1.x and of ``mcpfast.transports.websocket``).

The frames go through the same machinery as the server's (``WebSocketPeerProtocol``: the
``websockets`` library's sans-I/O protocol driven from asyncio, batches of frames to the peer,
reading paused under write backpressure). Options of ``transport_from_url``:

* ``headers``: extra request headers (``Authorization: Bearer ...``, ``Origin``...);
* ``ssl``: an ``ssl.SSLContext`` for ``wss://`` (default: the system's trust store, hostname
  checked), ``server_hostname`` to check another name;
* ``max_message_size``: the largest message accepted from the server (bytes; past it the
  connection closes with 1009);
* ``ping_interval``/``ping_timeout``: after ``ping_interval`` seconds without a byte from the
  server, ping; no pong within ``ping_timeout`` closes the connection (1011) and fails the
  calls pending (None: no pings);
* ``open_timeout``: seconds for TCP, TLS and the opening handshake; ``close_timeout``: seconds
  ``close()`` waits for the server to end the closing handshake;
* ``require_subprotocol`` (default True): a server that accepts the connection without agreeing
  to ``mcp`` is refused with ``WebSocketHandshakeError``, which says so.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Mapping
from typing import Any

from ..peer import Dispatcher, JSONRPCPeer
from ..protocol import DEFAULT_MAX_MESSAGE_SIZE
from ..transports.websocket import (
    DEFAULT_PING_INTERVAL,
    DEFAULT_PING_TIMEOUT,
    SUBPROTOCOL,
    WebSocketPeerProtocol,
    require_websockets,
)
from .transport import ClientTransport

__all__ = ["WebSocketTransport", "WebSocketHandshakeError", "transport_from_url"]

#: the peer's default limit on server->client requests in flight
_DEFAULT_MAX_IN_FLIGHT = 64


class WebSocketHandshakeError(ConnectionError):
    """The server refused the WebSocket connection (``status``: its HTTP status, when it
    answered one) or accepted it without the ``mcp`` subprotocol."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _ClientProtocol(WebSocketPeerProtocol):
    """The client side of one connection: sends the upgrade request, checks the answer, then
    carries messages; pings the server after a silence."""

    def __init__(self, ws: Any, request: Any, url: str, dispatcher: Dispatcher, *, request_timeout: float | None,
                 max_in_flight: int, ping_interval: float | None, ping_timeout: float | None,
                 require_subprotocol: bool) -> None:
        super().__init__(ws, request_timeout=request_timeout, max_in_flight=max_in_flight)
        self._upgrade = request
        self._url = url
        self._dispatcher = dispatcher
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._require = require_subprotocol
        self.opened: asyncio.Future[JSONRPCPeer] = asyncio.get_running_loop().create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._seen = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._ws.send_request(self._upgrade)
        self._flush_protocol()

    def _on_handshake(self, events: list[Any]) -> None:
        ws = self._ws
        exc = ws.handshake_exc
        if exc is not None:
            self._fail_open(self._refusal(exc))
            return
        if self._require and ws.subprotocol != SUBPROTOCOL:
            self._fail_open(WebSocketHandshakeError(
                f"the server at {self._url} accepted the WebSocket connection without the {SUBPROTOCOL!r} "
                "subprotocol (no Sec-WebSocket-Protocol: mcp in its answer): it may not speak MCP; pass "
                "require_subprotocol=False to talk to it anyway", 101))
            return
        self.subprotocol = ws.subprotocol
        peer = self._open(self._dispatcher)
        if self._ping_interval is not None:
            self._timer = asyncio.get_running_loop().call_later(self._ping_interval, self._tick)
        if not self.opened.done():
            self.opened.set_result(peer)
        if len(events) > 1:
            self._on_frames(events[1:])

    def _refusal(self, exc: BaseException) -> WebSocketHandshakeError:
        response = getattr(exc, "response", None)
        if response is not None:
            status = response.status_code
            body = bytes(response.body or b"").decode("utf-8", "replace").strip()
            if len(body) > 500:
                body = body[:500] + "..."
            return WebSocketHandshakeError(
                f"the server at {self._url} refused the WebSocket connection: HTTP {status}"
                f" {response.reason_phrase}" + (f": {body}" if body else ""), status)
        return WebSocketHandshakeError(f"the WebSocket handshake with {self._url} failed: {exc}")

    def _fail_open(self, exc: BaseException) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        self.abort()

    def _tick(self) -> None:
        """Keep-alive: a ping after ``ping_interval`` of silence; no byte within
        ``ping_timeout`` after it closes the connection."""
        self._timer = None
        if self.transport is None:
            return
        loop = asyncio.get_running_loop()
        if self._ping_out:
            # nothing arrived since the ping (any read clears _ping_out)
            self.close(1011, "keepalive ping timeout")
            self.abort()
            return
        if self._reads == self._seen:
            self._ping()
            if self._ping_timeout is not None:
                self._timer = loop.call_later(self._ping_timeout, self._tick)
                return
        self._seen = self._reads
        assert self._ping_interval is not None
        self._timer = loop.call_later(self._ping_interval, self._tick)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)
        if not self.opened.done():
            self.opened.set_exception(WebSocketHandshakeError(
                f"the server at {self._url} closed the connection during the WebSocket handshake"
                + (f": {exc}" if exc is not None else "")))


class WebSocketTransport(ClientTransport):
    """One WebSocket connection to an MCP server (see the module docstring for the options)."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        ssl: ssl_module.SSLContext | None = None,
        server_hostname: str | None = None,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        ping_interval: float | None = DEFAULT_PING_INTERVAL,
        ping_timeout: float | None = DEFAULT_PING_TIMEOUT,
        open_timeout: float | None = 10.0,
        close_timeout: float = 5.0,
        require_subprotocol: bool = True,
    ) -> None:
        require_websockets()
        from websockets.uri import parse_uri

        self.url = url
        try:
            self._uri = parse_uri(url)
        except Exception as exc:  # noqa: BLE001 - the library's InvalidURI
            raise ValueError(f"not a WebSocket URL: {url!r} ({exc})") from None
        if ssl is not None and not self._uri.secure:
            raise ValueError(f"ssl= applies to wss:// URLs, not {url!r}")
        for name, value in (("ping_interval", ping_interval), ("ping_timeout", ping_timeout),
                            ("open_timeout", open_timeout)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive seconds or None, got {value}")
        self.headers = dict(headers or {})
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.max_message_size = max_message_size
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.require_subprotocol = require_subprotocol
        self._protocol: _ClientProtocol | None = None

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server agreed to (None before connecting, or none agreed)."""
        return self._protocol.subprotocol if self._protocol is not None else None

    async def connect(self, dispatcher: Dispatcher, *, request_timeout: float | None = None,
                      max_in_flight: int | None = None) -> JSONRPCPeer:
        if self._protocol is not None:
            raise RuntimeError("WebSocketTransport.connect() called twice: one transport is one connection")
        from websockets.client import ClientProtocol

        uri = self._uri
        ws = ClientProtocol(uri, subprotocols=[SUBPROTOCOL], max_size=self.max_message_size)  # type: ignore[list-item]
        request = ws.connect()
        for name, value in self.headers.items():
            if name.lower() in request.headers:
                del request.headers[name]
            request.headers[name] = value
        protocol = self._protocol = _ClientProtocol(
            ws, request, self.url, dispatcher, request_timeout=request_timeout,
            max_in_flight=max_in_flight if max_in_flight is not None else _DEFAULT_MAX_IN_FLIGHT,
            ping_interval=self.ping_interval, ping_timeout=self.ping_timeout,
            require_subprotocol=self.require_subprotocol)
        ctx: ssl_module.SSLContext | None = None
        if uri.secure:
            ctx = self.ssl if self.ssl is not None else ssl_module.create_default_context()
        loop = asyncio.get_running_loop()

        async def open_() -> JSONRPCPeer:
            try:
                await loop.create_connection(lambda: protocol, uri.host, uri.port, ssl=ctx,
                                             server_hostname=(self.server_hostname or uri.host) if ctx else None)
            except OSError as exc:
                raise ConnectionError(f"cannot connect to {self.url}: {exc.strerror or exc}") from exc
            return await protocol.opened

        try:
            return await asyncio.wait_for(open_(), self.open_timeout)
        except TimeoutError:
            protocol.abort()
            raise ConnectionError(f"the WebSocket connection to {self.url} did not open within "
                                  f"{self.open_timeout:g} s") from None
        except BaseException:
            protocol.abort()
            raise

    async def close(self) -> None:
        protocol = self._protocol
        if protocol is None or protocol.transport is None:
            return
        protocol.close(1000, "")
        try:
            await asyncio.wait_for(protocol.wait_closed(), self.close_timeout)
        except TimeoutError:
            protocol.abort()
            await protocol.wait_closed()

    @property
    def closed(self) -> bool:
        p = self._protocol
        return p is not None and p.transport is None

    def __repr__(self) -> str:
        return f"<WebSocketTransport {self.url} {'closed' if self.closed else 'open'}>"


def transport_from_url(url: str, **options: Any) -> WebSocketTransport:
    """``WebSocketTransport(url, **options)`` for ``ws://`` and ``wss://`` URLs (the options are
    its keywords; an unknown one is a ``TypeError``)."""
    return WebSocketTransport(url, **options)
