"""MCP over WebSocket: the convention of the official SDKs 1.x (subprotocol ``mcp``, one
JSON-RPC message per text frame, the connection is the session), served three ways:

* ``WebSocketServer`` / ``start_websocket_server``: a listener of its own (``ws://host:port/mcp``);
* the built-in Streamable HTTP server accepts the upgrade on its MCP path (one port, both
  transports): ``HTTPServer`` hands the socket over to a ``WebSocketConnection``;
* the ASGI app answers the ``websocket`` scope (uvicorn, Starlette): ``WebSocketEndpoint.asgi``.

The WebSocket protocol itself is the ``websockets`` library's sans-I/O state machine
(``websockets.server.ServerProtocol``): it parses the handshake and the frames, answers pings,
runs the closing handshake and enforces the message size limit (close 1009). No frame is parsed
here. ``WebSocketConnection`` drives it from an ``asyncio.Protocol`` and hands the messages to a
``JSONRPCPeer`` through its public ``feed``/``send``, as TCP does: the frames of one read are
decoded in one batch and the answers produced together leave in one write. ``websockets`` is
imported on first use (``pip install 'mcpfast[ws]'``).

Choices, and why:

* **Subprotocol.** A client that offers ``mcp`` gets it echoed. A client that offers none is
  served without one (generic WebSocket tools send none; ``require_subprotocol=True`` refuses
  them with 400). A client that offers subprotocols but not ``mcp`` is refused with 400: it
  expects something this endpoint does not speak.
* **Messages.** A text frame (or a fragmented text message) is one JSON-RPC message (a batch
  array where the negotiated version allows it). Text that is not JSON is answered with -32700
  and a binary frame with -32600 (JSON-RPC has no binary form), both with ``"id": null``; the
  connection stays open. A message past ``max_message_size`` closes the connection with 1009
  (the library's check: the frame is never buffered whole). Text is not checked for UTF-8 by the
  WebSocket layer: invalid UTF-8 fails the JSON parse (-32700) and the connection survives.
* **Security.** The upgrade request passes the checks a Streamable HTTP request passes: the
  ``Host``/``Origin`` guard (DNS rebinding reaches WebSocket servers on loopback just as well;
  421/403) and the authenticator of ``HTTPSettings.auth`` (bearer token or OAuth resource
  server: 401/403 with ``WWW-Authenticate``). A connection authenticated with a token that
  expires is closed with 1008 when it does; tools read the token with ``get_access_token()``.
* **Keep-alive and idleness**, on the listener's clock (no timer per connection): after
  ``ping_interval`` seconds without a byte from the client the server pings; no answer within
  ``ping_timeout`` closes with 1011. A connection with nothing in flight and no message for
  ``idle_timeout`` seconds is closed with 1001. A handshake that takes longer than
  ``handshake_timeout`` is cut.
* **Backpressure.** Past the transport's write high-water mark, and past half of
  ``max_in_flight`` suspended handlers, the connection stops reading until it drains.
* **Shutdown.** ``shutdown(grace)`` reads no new message, lets the handlers in flight answer
  within ``grace`` seconds (the rest get -32000), sends the answers, then closes with 1001.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .. import requestvars
from ..errors import INVALID_REQUEST, SERVER_OVERLOADED
from ..metrics import ServerMetrics, metrics_of
from ..peer import DEFAULT_MAX_IN_FLIGHT, Dispatcher, JSONRPCPeer
from ..protocol import DEFAULT_MAX_MESSAGE_SIZE
from ..wire.counters import Counter
from ..wire.jsonrpc import decode_all, encode_error
from .http.security import TRANSPORT_ERROR, HostOriginGuard, Rejection, json_rpc_error_body
from .listener import DEFAULT_TLS_HANDSHAKE_TIMEOUT, Listener, TLSConfig, set_nodelay

if TYPE_CHECKING:
    from .http.settings import HTTPSettings

__all__ = [
    "SUBPROTOCOL",
    "WebSocketSettings",
    "WebSocketEndpoint",
    "WebSocketConnection",
    "WebSocketServer",
    "SubprotocolRefused",
    "select_subprotocol",
    "start_websocket_server",
    "serve_websocket",
    "require_websockets",
    "DEFAULT_PING_INTERVAL",
    "DEFAULT_PING_TIMEOUT",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_HANDSHAKE_TIMEOUT",
]

log = logging.getLogger("mcpfast.transports.websocket")

#: the subprotocol of MCP over WebSocket (the official SDKs 1.x)
SUBPROTOCOL = "mcp"
#: seconds without a byte from the client before the server pings it
DEFAULT_PING_INTERVAL = 20.0
#: seconds a ping may wait for its pong before the connection is closed (1011)
DEFAULT_PING_TIMEOUT = 20.0
#: seconds a connection may stay with nothing in flight and no message before it is closed (1001)
DEFAULT_IDLE_TIMEOUT = 300.0
#: seconds the opening handshake may take (from the accept, TLS included)
DEFAULT_HANDSHAKE_TIMEOUT = 10.0

# close codes (RFC 6455 7.4.1)
_GOING_AWAY = 1001
_POLICY_VIOLATION = 1008
_INTERNAL_ERROR = 1011

_BINARY_FRAME = (
    "Invalid Request: binary WebSocket frames carry no JSON-RPC message; send each message as a text frame"
)


def require_websockets() -> Any:
    """The ``websockets`` module, or an ImportError that names the extra to install."""
    try:
        import websockets
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("MCP over WebSocket needs the websockets library: pip install 'mcpfast[ws]'") from e
    return websockets


# ---------------------------------------------------------------------------- settings


@dataclass
class WebSocketSettings:
    """Settings of one WebSocket endpoint (see the module docstring for what each does)."""

    #: the endpoint; a trailing slash and a query string are accepted too
    path: str = "/mcp"
    #: bytes of one message (all its fragments) at most; past it the connection closes with 1009
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    #: seconds a request's handler may run (then -32001); None: no limit
    request_timeout: float | None = None
    #: suspended handlers per connection (past it -32005; reading pauses at half of it)
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    #: seconds of silence from the client before a ping (None: no pings)
    ping_interval: float | None = DEFAULT_PING_INTERVAL
    #: seconds a ping waits for its pong before the connection is closed with 1011
    ping_timeout: float | None = DEFAULT_PING_TIMEOUT
    #: seconds with nothing in flight and no message before the connection closes (None: never)
    idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT
    #: seconds the opening handshake may take
    handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT
    #: refuse (400) clients that offer no subprotocol; by default they are served without one
    require_subprotocol: bool = False
    #: DNS-rebinding protection, as ``HTTPSettings`` (``security.HostOriginGuard``)
    allowed_hosts: list[str] | None = None
    allowed_origins: list[str] | None = None
    dns_rebinding_protection: bool | None = None
    #: the address the server listens on (decides the rebinding default)
    bind_host: str | None = None
    #: an authenticator (``http.auth``: ``BearerAuth``, ``OAuthResourceServer``), or None
    auth: Any = None

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"WebSocketSettings.path must start with '/', got {self.path!r}")
        if self.max_message_size < 1:
            raise ValueError(f"WebSocketSettings.max_message_size must be at least 1, got {self.max_message_size}")
        if self.max_in_flight < 1:
            raise ValueError(f"WebSocketSettings.max_in_flight must be at least 1, got {self.max_in_flight}")
        for name in ("request_timeout", "ping_interval", "ping_timeout", "idle_timeout", "handshake_timeout"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"WebSocketSettings.{name} must be positive seconds or None, got {value}")

    @classmethod
    def from_http(cls, settings: HTTPSettings, **overrides: Any) -> WebSocketSettings:
        """The WebSocket side of a Streamable HTTP endpoint: its path, body limit (as the message
        limit), request timeout, in-flight limit, DNS-rebinding guard and authenticator."""
        kw: dict[str, Any] = {
            "path": settings.path,
            "max_message_size": settings.max_body,
            "request_timeout": settings.request_timeout,
            "max_in_flight": settings.max_in_flight,
            "allowed_hosts": settings.allowed_hosts,
            "allowed_origins": settings.allowed_origins,
            "dns_rebinding_protection": settings.dns_rebinding_protection,
            "bind_host": settings.bind_host,
            "auth": settings.auth,
        }
        kw.update(overrides)
        return cls(**kw)

    @property
    def timeouts(self) -> tuple[float | None, ...]:
        """The limits a listener's tick must be fine enough for."""
        return (self.ping_interval, self.ping_timeout, self.idle_timeout, self.handshake_timeout)


class SubprotocolRefused(ValueError):
    """The client's subprotocols do not include ``mcp`` (or it offered none and one is required)."""


def select_subprotocol(offered: Sequence[str], required: bool = False) -> str | None:
    """``mcp`` when offered; None when nothing was offered and ``required`` is False; else
    ``SubprotocolRefused`` with the reason (answered 400)."""
    if SUBPROTOCOL in offered:
        return SUBPROTOCOL
    if offered:
        raise SubprotocolRefused(
            f"this MCP endpoint speaks the WebSocket subprotocol {SUBPROTOCOL!r}; the client offered "
            f"{', '.join(repr(p) for p in offered)}")
    if required:
        raise SubprotocolRefused(
            f"this MCP endpoint requires the WebSocket subprotocol {SUBPROTOCOL!r} (Sec-WebSocket-Protocol: mcp)")
    return None


# ---------------------------------------------------------------------------- the gate


def _not_found(path: str) -> Rejection:
    return Rejection(404, json_rpc_error_body(INVALID_REQUEST, f"Not Found: the MCP WebSocket endpoint is {path}"),
                     (("content-type", "application/json"),))


class WebSocketEndpoint:
    """What every front needs to serve MCP over WebSocket at one path: the dispatcher factory,
    the settings, the upgrade checks (path, Host/Origin, authentication) and the ASGI handler.

    ``dispatcher_factory()`` is called once per connection (return the same ``ServerCore`` each
    time to share it; the peer tells the connections apart)."""

    def __init__(self, dispatcher_factory: Callable[[], Dispatcher], settings: WebSocketSettings | None = None) -> None:
        self.dispatcher_factory = dispatcher_factory
        self.settings = s = settings if settings is not None else WebSocketSettings()
        self._path = s.path.rstrip("/") or "/"
        self.guard = HostOriginGuard(bind_host=s.bind_host, allowed_hosts=s.allowed_hosts,
                                     allowed_origins=s.allowed_origins, enabled=s.dns_rebinding_protection)
        self.auth = s.auth
        #: connections served through ``asgi`` that are open now
        self.asgi_connections: set[_ASGIConnection] = set()
        #: the metrics of the dispatcher a connection last opened with (``metrics_of``), or
        #: None: where a refusal before any dispatcher exists is counted (as TCP counts them)
        self.metrics: ServerMetrics | None = None

    def matches(self, path: str) -> bool:
        """Whether ``path`` (query string included or not) is this endpoint."""
        path = path.partition("?")[0]
        return path == self._path or path == self._path + "/"

    def check(self, path: str, headers: Mapping[str, str]) -> Rejection | None:
        """The path and the DNS-rebinding guard (``headers``: lower-case names)."""
        if not self.matches(path):
            return _not_found(self.settings.path)
        return self.guard.check(headers.get("host"), headers.get("origin"))

    def authenticate(self, headers: Mapping[str, str]) -> Any:
        """None without an authenticator; else what it decides (an access token, a
        ``Rejection``, or an awaitable of either)."""
        if self.auth is None:
            return None
        return self.auth.authenticate(headers.get("authorization"))

    def connection(self, owner: ConnectionOwner) -> WebSocketConnection:
        """A new connection protocol served for ``owner`` (a listener)."""
        return WebSocketConnection(owner, self)

    # ------------------------------------------------------------------ ASGI

    async def asgi(self, scope: Any, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]],
                   path: str | None = None) -> None:
        """Serve one ASGI ``websocket`` scope (``path``: the scope's path as the app routes it)."""
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        headers = _asgi_headers(scope.get("headers") or ())
        rejection = self.check(path if path is not None else scope.get("path", "/"), headers)
        token: Any = None
        if rejection is None:
            token, rejection = await _authenticated(self.authenticate(headers))
        subprotocol: str | None = None
        if rejection is None:
            try:
                subprotocol = select_subprotocol(list(scope.get("subprotocols") or ()),
                                                 self.settings.require_subprotocol)
            except SubprotocolRefused as exc:
                rejection = Rejection(400, json_rpc_error_body(TRANSPORT_ERROR, f"Bad Request: {exc}"),
                                      (("content-type", "application/json"),))
        if rejection is not None:
            await _asgi_reject(scope, send, rejection)
            return
        await send({"type": "websocket.accept", "subprotocol": subprotocol})
        conn = _ASGIConnection(self, send, token, _http_request(scope.get("path", "/"), headers, scope.get("client")))
        self.asgi_connections.add(conn)
        try:
            await conn.run(receive)
        finally:
            self.asgi_connections.discard(conn)

    async def shutdown_asgi(self, grace: float) -> None:
        """Graceful shutdown of the connections served through ``asgi`` (the ASGI app's)."""
        conns = list(self.asgi_connections)
        if conns:
            await asyncio.wait([asyncio.ensure_future(c.shutdown(grace)) for c in conns], timeout=grace + 1.0)


def _asgi_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        old = headers.get(key)
        text = value.decode("latin-1")
        headers[key] = text if old is None else old + ", " + text
    return headers


def _http_request(path: str, headers: dict[str, str], client: Any) -> Any:
    """The upgrade request as the ``http_request`` request variable carries it for handlers."""
    from .http.core import HTTPRequest

    target, _, query = path.partition("?")
    return HTTPRequest("GET", target, query, headers, b"",
                       (str(client[0]), int(client[1])) if client else None)


async def _authenticated(result: Any) -> tuple[Any, Rejection | None]:
    """(token, None) or (None, rejection) from what an authenticator decided."""
    if result is not None and hasattr(result, "__await__"):
        try:
            result = await result
        except Exception:  # noqa: BLE001 - a verifier failure is a server fault, never a pass
            log.exception("WebSocket upgrade: authentication failed")
            return None, _server_error()
        if result is None:
            log.error("the authenticator returned None (expected an AccessToken or a Rejection)")
            return None, _server_error()
    if isinstance(result, Rejection):
        return None, result
    return result, None


def _server_error() -> Rejection:
    return Rejection(500, json_rpc_error_body(TRANSPORT_ERROR, "Internal error: the credentials could not be checked"),
                     (("content-type", "application/json"),))


async def _asgi_reject(scope: Any, send: Callable[[Any], Awaitable[None]], rejection: Rejection) -> None:
    """An HTTP answer to the upgrade where the server supports it (the ASGI WebSocket Denial
    Response extension), else a close before accept (uvicorn answers 403)."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in rejection.headers]
        headers.append((b"content-length", b"%d" % len(rejection.body)))
        await send({"type": "websocket.http.response.start", "status": rejection.status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": rejection.body})
        return
    await send({"type": "websocket.close", "code": _POLICY_VIOLATION, "reason": f"HTTP {rejection.status}"})


def _token_expiry(token: Any) -> float | None:
    """Seconds until ``token`` expires (None: it does not)."""
    expires = getattr(token, "expires_at", None)
    if expires is None:
        return None
    return float(expires) - time.time()


def _expires_at(token: Any) -> float | None:
    """The loop time at which ``token`` expires (None: it does not)."""
    left = _token_expiry(token)
    return None if left is None else asyncio.get_running_loop().time() + max(0.0, left)


# ---------------------------------------------------------------------------- asyncio protocol


class ConnectionOwner(Protocol):
    """What a ``WebSocketConnection`` reports to (a ``Listener``: the WebSocket server's or the
    HTTP server's after an upgrade)."""

    @property
    def stopping(self) -> bool: ...

    def connected(self, conn: Any) -> None: ...

    def disconnected(self, conn: Any) -> None: ...


# connection states
_HANDSHAKE, _AUTH, _OPEN, _CLOSING, _CLOSED = range(5)


class WebSocketPeerProtocol(asyncio.Protocol):
    """What both ends of a WebSocket share: a ``websockets`` sans-I/O protocol driven from
    asyncio, in front of a ``JSONRPCPeer``. The frames of one read go to the peer in one batch;
    the peer's output leaves as one text frame per message, in one write; past the transport's
    write high-water mark, or past half of ``max_in_flight`` suspended handlers, reading pauses.

    Subclasses make the handshake (``_on_handshake``, with the events of the reads before the
    connection is open) and call ``_open(dispatcher)`` once it succeeded.
    """

    def __init__(self, ws: Any, *, request_timeout: float | None, max_in_flight: int) -> None:
        from websockets.frames import Opcode

        self._ws = ws
        self._TEXT = Opcode.TEXT
        self._CONT = Opcode.CONT
        self._BINARY = Opcode.BINARY
        self._CLOSE = Opcode.CLOSE
        self.request_timeout = request_timeout
        self.max_in_flight = max_in_flight
        self.transport: asyncio.Transport | None = None
        self.peer: JSONRPCPeer | None = None
        self.state = _HANDSHAKE
        #: the verified access token of the upgrade request (server side; None without auth)
        self.token: Any = None
        #: the upgrade request, as handlers see it in ``requestvars.http_request`` (server side)
        self.request: Any = None
        #: the negotiated subprotocol (None: none was agreed)
        self.subprotocol: str | None = None
        self._fragments: list[bytes] | None = None
        self._fragment_text = True
        self._write_paused = False
        self._load_paused = False
        self._read_paused = False
        # a graceful shutdown is draining the handlers in flight: nothing new is read meanwhile
        # (what the client sends then stays unread, as on TCP, and the close discards it)
        self._draining = False
        self._pause_at = max(1, max_in_flight // 2)
        #: reads so far (keep-alive: a ping is due after a silence)
        self._reads = 0
        self._ping_out = False
        self._pings = 0
        self._closed: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        set_nodelay(transport)
        self._closed = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = _CLOSED
        self.transport = None
        if self.peer is not None:
            self.peer.connection_lost(exc)
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def eof_received(self) -> bool | None:
        self._ws.receive_eof()
        self._flush_protocol()
        return False

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()

    def data_received(self, data: bytes) -> None:
        ws = self._ws
        self._reads += 1
        self._ping_out = False
        try:
            ws.receive_data(data)
        except EOFError:  # data after EOF: nothing to do
            return
        events = ws.events_received()
        if events:
            if self.state == _OPEN:
                self._on_frames(events)
            elif self.state == _HANDSHAKE:
                self._on_handshake(events)
        out = ws.data_to_send()
        if out:
            self._write(out)

    def _on_handshake(self, events: list[Any]) -> None:
        """The events of a read before the connection is open."""
        raise NotImplementedError

    def _open(self, dispatcher: Dispatcher) -> JSONRPCPeer:
        """The handshake succeeded: make the peer, messages flow from now on."""
        self.state = _OPEN
        self.peer = peer = JSONRPCPeer(dispatcher, self._send, request_timeout=self.request_timeout,
                                       max_in_flight=self.max_in_flight, loop=asyncio.get_running_loop())
        peer.network_transport = "tcp"  # for metrics and traces, as OpenTelemetry names it
        peer.on_in_flight_change = self._on_in_flight_change
        return peer

    # ------------------------------------------------------------------ messages

    def _on_frames(self, events: list[Any]) -> None:
        texts: list[bytes] = []
        text_op = self._TEXT
        for frame in events:
            op = frame.opcode
            if op is text_op and frame.fin:
                texts.append(frame.data)
            elif op is text_op or op is self._BINARY:
                if frame.fin:  # a binary message
                    texts = self._feed(texts)
                    self._binary()
                else:
                    self._fragments = [frame.data]
                    self._fragment_text = op is text_op
            elif op is self._CONT:
                parts = self._fragments
                if parts is None:  # pragma: no cover - the library refuses it first
                    continue
                parts.append(frame.data)
                if frame.fin:
                    self._fragments = None
                    if self._fragment_text:
                        texts.append(b"".join(parts))
                    else:
                        texts = self._feed(texts)
                        self._binary()
            elif op is self._CLOSE:
                # the other side closes: the library answered it; nothing more can be sent
                self._feed(texts)
                texts = []
                self.state = _CLOSING
                break
        if texts:
            self._feed(texts)

    def _feed(self, texts: list[bytes]) -> list[bytes]:
        peer = self.peer
        if not texts or peer is None or self.state != _OPEN:
            return []
        self._on_message()
        request = self.request
        if request is None:
            peer.feed(decode_all(texts))
            return []
        token = self.token
        t1 = requestvars.http_request.set(request)
        t2 = requestvars.access_token.set(token) if token is not None else None
        try:
            peer.feed(decode_all(texts))
        finally:
            if t2 is not None:
                requestvars.access_token.reset(t2)
            requestvars.http_request.reset(t1)
        return []

    def _on_message(self) -> None:
        """A read brought messages (the server's idle clock)."""

    def _binary(self) -> None:
        self._send([encode_error(None, INVALID_REQUEST, _BINARY_FRAME)])

    def _send(self, messages: list[bytes]) -> None:
        """The peer's output: one text frame per message, all in one write."""
        ws = self._ws
        if ws.close_sent is not None or (self.state != _OPEN and self.state != _CLOSING):
            return  # after a close frame nothing more goes out
        send_text = ws.send_text
        for m in messages:
            send_text(m)
        self._write(ws.data_to_send())

    def _write(self, chunks: list[bytes]) -> None:
        tr = self.transport
        if tr is None or tr.is_closing():
            return
        eof = False
        if chunks[-1] == b"":  # the library's "end the stream now" (after a close or a refusal)
            chunks = chunks[:-1]
            eof = True
        if len(chunks) == 1:
            tr.write(chunks[0])
        elif chunks:
            tr.write(b"".join(chunks))
        if eof:
            tr.close()

    def _flush_protocol(self) -> None:
        out = self._ws.data_to_send()
        if out:
            self._write(out)

    # ------------------------------------------------------------------ flow control

    def _on_in_flight_change(self, n: int) -> None:
        # called twice per suspended call: only a change of the load state touches the transport
        if n >= self._pause_at:
            if not self._load_paused:
                self._load_paused = True
                self._update_reading()
        elif self._load_paused and n <= self._pause_at // 2:
            self._load_paused = False
            self._update_reading()

    def _update_reading(self) -> None:
        self._pause(self._write_paused or self._load_paused)

    def _pause(self, pause: bool) -> None:
        tr = self.transport
        if tr is None or pause == self._read_paused or self.state == _CLOSED:
            return
        if not pause and (self._draining or self.state == _AUTH or self._write_paused or self._load_paused):
            return
        try:
            if pause:
                tr.pause_reading()
            else:
                tr.resume_reading()
        except (RuntimeError, AttributeError):  # closing
            return
        self._read_paused = pause

    # ------------------------------------------------------------------ keep-alive and closing

    def _ping(self) -> None:
        if self.state != _OPEN or self._ws.close_sent is not None:
            return
        self._pings += 1
        self._ping_out = True
        self._ws.send_ping(b"%d" % self._pings)
        self._flush_protocol()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (``code``, ``reason``); the socket closes when it ends
        (the server closes it first, RFC 6455 7.1.1). Before the connection is open: close the
        socket."""
        tr = self.transport
        if tr is None or tr.is_closing():
            return
        ws = self._ws
        if self.state in (_OPEN, _CLOSING) and ws.close_sent is None and ws.close_rcvd is None:
            self.state = _CLOSING
            ws.send_close(code, reason)
            # the answering close frame must be read, whatever paused reading
            self._write_paused = self._load_paused = self._draining = False
            self._read_paused = True
            self._pause(False)
            self._flush_protocol()
            return
        tr.close()

    def abort(self) -> None:
        tr = self.transport
        if tr is not None:
            tr.abort()

    async def wait_closed(self) -> None:
        if self._closed is not None:
            await asyncio.shield(self._closed)


class WebSocketConnection(WebSocketPeerProtocol):
    """One server connection (see the module docstring); implements ``ServedConnection``."""

    def __init__(self, owner: ConnectionOwner, endpoint: WebSocketEndpoint) -> None:
        ws = require_websockets()
        from websockets.server import ServerProtocol

        s = endpoint.settings
        required = s.require_subprotocol

        def choose(_protocol: Any, offered: Sequence[str]) -> str | None:
            try:
                return select_subprotocol(offered, required)
            except SubprotocolRefused as exc:
                raise ws.exceptions.NegotiationError(str(exc)) from None

        super().__init__(ServerProtocol(subprotocols=[SUBPROTOCOL], select_subprotocol=choose,  # type: ignore[list-item,arg-type]
                                        max_size=s.max_message_size, logger=log),
                         request_timeout=s.request_timeout, max_in_flight=s.max_in_flight)
        self._owner = owner
        self._endpoint = endpoint
        self._settings = s
        self._Response = ws.http11.Response
        self._Headers = ws.datastructures.Headers
        self._client: tuple[str, int] | None = None
        self._last_message = 0.0
        self._expiry: asyncio.TimerHandle | None = None
        self._registered = False
        # the dispatcher's metrics (``metrics_of``), once open: bytes received, bytes sent,
        # connections open (every byte of the socket after the upgrade: frames, not the handshake)
        self._m_in: Counter | None = None
        self._m_out: Counter | None = None
        self._m_open: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client = (str(peer[0]), int(peer[1]))
        self._last_message = asyncio.get_running_loop().time()
        self._owner.connected(self)
        self._registered = True
        if self._owner.stopping:
            transport.close()

    def take_over(self, transport: asyncio.Transport, head: bytes, rest: bytes) -> None:
        """Serve a socket another protocol accepted (the HTTP server, on an upgrade request):
        ``head`` is the upgrade request's head as bytes, ``rest`` what followed it."""
        transport.set_protocol(self)
        self.connection_made(transport)
        self.data_received(head + rest if rest else head)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        super().connection_lost(exc)
        if self._m_open is not None:
            self._m_open.dec()
            self._m_open = None
        if self._registered:
            self._registered = False
            self._owner.disconnected(self)

    # ------------------------------------------------------------------ handshake

    def _on_handshake(self, events: list[Any]) -> None:
        request = events[0]
        headers = dict(_joined(request.headers.raw_items()))
        self.request = _http_request(request.path, headers, self._client)
        endpoint = self._endpoint
        rejection = endpoint.check(request.path, headers)
        if rejection is not None:
            self._reject(rejection)
            return
        result = endpoint.authenticate(headers)
        if result is not None and hasattr(result, "__await__"):
            # a token seen for the first time: wait for the verifier, reading nothing meanwhile
            self.state = _AUTH
            self._read_paused = False
            self._pause(True)
            early = events[1:]  # frames sent right behind the upgrade request, served once open
            task = asyncio.get_running_loop().create_task(_authenticated(result))
            task.add_done_callback(lambda t: self._on_authenticated(request, t, early))
            return
        if isinstance(result, Rejection):
            self._reject(result)
            return
        self._accept(request, result)
        if len(events) > 1 and self.state == _OPEN:
            self._on_frames(events[1:])  # frames sent right behind the upgrade request

    def _on_authenticated(self, request: Any, task: asyncio.Task[tuple[Any, Rejection | None]],
                          early: list[Any]) -> None:
        if self.state != _AUTH or self.transport is None:
            return
        if task.cancelled():
            self.abort()
            return
        token, rejection = task.result()
        self.state = _HANDSHAKE
        if rejection is not None:
            self._reject(rejection)
        else:
            self._accept(request, token)
            if early and self.state == _OPEN:
                self._on_frames(early)
        self._update_reading()
        self._flush_protocol()

    def _reject(self, rejection: Rejection) -> None:
        headers = self._Headers([("Content-Type", "application/json"), ("Connection", "close"),
                                 ("Content-Length", str(len(rejection.body)))])
        for name, value in rejection.headers:
            if name.lower() != "content-type":
                headers[name] = value
        phrase = _REASONS.get(rejection.status, "Error")
        self._ws.send_response(self._Response(rejection.status, phrase, headers, rejection.body))
        self.state = _CLOSING
        log.info("WebSocket upgrade from %s refused: %d", self._client, rejection.status)

    def _accept(self, request: Any, token: Any) -> None:
        ws = self._ws
        response = ws.accept(request)
        ws.send_response(response)
        if response.status_code != 101:
            self.state = _CLOSING
            return
        self.subprotocol = ws.subprotocol
        self.token = token
        dispatcher = self._endpoint.dispatcher_factory()
        self._open(dispatcher)
        metrics = self._endpoint.metrics = metrics_of(dispatcher)
        if metrics is not None:
            self._flush_protocol()  # the 101 answer leaves uncounted, as the upgrade request came in
            self._m_in, self._m_out, self._m_open = metrics.connection("tcp")
        loop = asyncio.get_running_loop()
        self._last_message = loop.time()
        if token is not None:
            at = _expires_at(token)
            if at is not None:
                self._expiry = loop.call_at(at, self._token_expired)

    def _token_expired(self) -> None:
        self._expiry = None
        self.close(_POLICY_VIOLATION, "access token expired")

    def _on_message(self) -> None:
        self._last_message = asyncio.get_running_loop().time()

    def data_received(self, data: bytes) -> None:
        if self._m_in is not None:
            self._m_in.inc(len(data))
        super().data_received(data)

    def _write(self, chunks: list[bytes]) -> None:
        if self._m_out is not None and self.transport is not None:
            self._m_out.inc(sum(map(len, chunks)))
        super()._write(chunks)

    # ------------------------------------------------------------------ ServedConnection

    def timeout_state(self) -> tuple[Hashable, float | None]:
        """Handshake (``handshake_timeout``); a ping out (``ping_timeout``); busy (a request in
        flight either way: pinged after ``ping_interval`` of silence, never idle); idle
        (``ping_interval``, and ``idle_timeout`` counted from the last message); closing (the
        client has ``ping_timeout`` to finish the closing handshake)."""
        state = self.state
        s = self._settings
        if state in (_HANDSHAKE, _AUTH):
            return ("handshake",), s.handshake_timeout
        peer = self.peer
        if state != _OPEN or peer is None:
            return ("closing",), s.ping_timeout or DEFAULT_PING_TIMEOUT
        if self._ping_out:
            return ("ping", self._pings), s.ping_timeout
        if peer.in_flight or peer.pending:
            return ("busy", self._reads), s.ping_interval
        limits = [t for t in (s.ping_interval, s.idle_timeout) if t is not None]
        return ("idle", self._reads, self._pings), (min(limits) if limits else None)

    def timed_out(self, key: Hashable) -> None:
        what = key[0] if isinstance(key, tuple) else None
        s = self._settings
        if what == "handshake":
            log.info("WebSocket handshake from %s timed out", self._client)
            self.abort()
        elif what == "closing":
            self.abort()  # the client never finished the closing handshake
        elif what == "ping":
            log.info("closing WebSocket connection %s: no pong within %s s", self._client, s.ping_timeout)
            self.close(_INTERNAL_ERROR, "keepalive ping timeout")
        elif what == "idle" and s.idle_timeout is not None and (
                asyncio.get_running_loop().time() - self._last_message >= s.idle_timeout):
            log.info("closing WebSocket connection %s: idle for %s s", self._client, s.idle_timeout)
            self.close(_GOING_AWAY, "idle timeout")
        elif s.ping_interval is not None:
            self._ping()

    async def shutdown(self, grace: float) -> None:
        """Read no new message; let the handlers in flight answer within ``grace`` seconds (the
        rest get -32000); send the answers; close with 1001."""
        if self.state == _CLOSED:
            return
        if self.state != _OPEN:
            self.abort() if self.state == _AUTH else self.close()
            await self.wait_closed()
            return
        self.state = _CLOSING
        self._draining = True
        self._pause(True)
        peer = self.peer
        if peer is not None:
            await peer.drain(grace)
        self._fragments = None
        self.close(_GOING_AWAY, "server shutting down")
        await self.wait_closed()


def _joined(items: Iterable[tuple[str, str]]) -> Iterable[tuple[str, str]]:
    """Header fields with repeated names joined by ", " (as the HTTP fronts do)."""
    out: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        old = out.get(key)
        out[key] = value if old is None else old + ", " + value
    return out.items()


_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            421: "Misdirected Request", 500: "Internal Server Error", 503: "Service Unavailable"}


# ---------------------------------------------------------------------------- ASGI connection


class _ASGIConnection:
    """One WebSocket served by an ASGI server: messages from ``receive`` go to the peer, the
    peer's output to ``send`` (through a queue: ``send`` is a coroutine, the peer's output is
    not). Keep-alive and the frame size are the ASGI server's (uvicorn: ``ws_ping_interval``,
    ``ws_max_size``); the message limit is checked here as well (close 1009)."""

    def __init__(self, endpoint: WebSocketEndpoint, send: Callable[[Any], Awaitable[None]], token: Any,
                 request: Any) -> None:
        s = endpoint.settings
        self._send_asgi = send
        self._limit = s.max_message_size
        self.token = token
        self.request = request
        self._out: deque[Any] = deque()
        self._wake: asyncio.Event = asyncio.Event()
        self._closing = False
        self._close: tuple[int, str] | None = None
        dispatcher = endpoint.dispatcher_factory()
        self.peer = JSONRPCPeer(dispatcher, self._queue, request_timeout=s.request_timeout,
                                max_in_flight=s.max_in_flight)
        self.peer.network_transport = "tcp"  # for metrics and traces, as on the built-in server
        # the dispatcher's metrics: bytes of the messages received and sent, the connection open
        self._m_in: Counter | None = None
        self._m_out: Counter | None = None
        self._m_open: Any = None
        metrics = endpoint.metrics = metrics_of(dispatcher)
        if metrics is not None:
            self._m_in, self._m_out, self._m_open = metrics.connection("tcp")
        at = _token_expiry(token) if token is not None else None
        self._expiry = (asyncio.get_running_loop().call_later(max(0.0, at), self._token_expired)
                        if at is not None else None)

    def _queue(self, messages: list[bytes]) -> None:
        if self._close is not None:
            return
        self._out.extend(messages)
        self._wake.set()

    def _token_expired(self) -> None:
        self._expiry = None
        self._end(_POLICY_VIOLATION, "access token expired")

    def _end(self, code: int, reason: str) -> None:
        if self._close is None:
            self._close = (code, reason)
            self._wake.set()

    async def _writer(self) -> None:
        send = self._send_asgi
        out = self._out
        while True:
            await self._wake.wait()
            self._wake.clear()
            while out:
                data = out.popleft()
                if self._m_out is not None:
                    self._m_out.inc(len(data))
                await send({"type": "websocket.send", "text": data.decode("utf-8", "replace")})
            if self._close is not None:
                code, reason = self._close
                await send({"type": "websocket.close", "code": code, "reason": reason})
                return

    async def run(self, receive: Callable[[], Awaitable[Any]]) -> None:
        writer = asyncio.ensure_future(self._writer())
        reader = asyncio.ensure_future(self._read(receive))
        try:
            await asyncio.wait([writer, reader], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (reader, writer):
                if not t.done():
                    t.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
            if self._expiry is not None:
                self._expiry.cancel()
            if self._m_open is not None:
                self._m_open.dec()
                self._m_open = None
            self.peer.connection_lost(None)

    async def _read(self, receive: Callable[[], Awaitable[Any]]) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                return
            if kind != "websocket.receive" or self._closing:
                continue
            text = message.get("text")
            if text is None:
                data = message.get("bytes")
                if data is not None and self._m_in is not None:
                    self._m_in.inc(len(data))
                if data is not None and len(data) > self._limit:
                    self._end(1009, "message too big")
                    continue
                self._queue([encode_error(None, INVALID_REQUEST, _BINARY_FRAME)])
                continue
            raw = text.encode("utf-8", "surrogatepass")
            if self._m_in is not None:
                self._m_in.inc(len(raw))
            if len(raw) > self._limit:
                self._end(1009, f"message too big (limit {self._limit} bytes)")
                continue
            self._feed(raw)

    def _feed(self, raw: bytes) -> None:
        token = self.token
        t1 = requestvars.http_request.set(self.request)
        t2 = requestvars.access_token.set(token) if token is not None else None
        try:
            self.peer.feed(decode_all([raw]))
        finally:
            if t2 is not None:
                requestvars.access_token.reset(t2)
            requestvars.http_request.reset(t1)

    async def shutdown(self, grace: float) -> None:
        self._closing = True
        await self.peer.drain(grace)
        self._end(_GOING_AWAY, "server shutting down")


# ---------------------------------------------------------------------------- server


class _RefuseProtocol(asyncio.Protocol):
    """Past ``max_connections`` (or during shutdown): 503 before any upgrade, then close."""

    def __init__(self, response: bytes) -> None:
        self._response = response

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        set_nodelay(transport)
        transport.write(self._response)  # type: ignore[attr-defined]
        transport.close()

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool | None:
        return False


class WebSocketServer(Listener[WebSocketConnection]):
    """MCP over WebSocket on ``host:port`` at ``settings.path`` (see the module docstring;
    listening, ``max_connections``, TLS, the clock and graceful shutdown are ``Listener``'s).

    ``dispatcher_factory()`` gives each connection its dispatcher (``lambda: core`` to share
    one). ``settings.bind_host`` is set to ``host`` when unset (the DNS-rebinding default)."""

    def __init__(
        self,
        dispatcher_factory: Callable[[], Dispatcher],
        *,
        host: str | None = "127.0.0.1",
        port: int = 0,
        settings: WebSocketSettings | None = None,
        tls: TLSConfig = None,
        max_connections: int | None = 1024,
        backlog: int = 128,
        tls_handshake_timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ) -> None:
        require_websockets()  # fail here, with the extra to install, not on the first connection
        if settings is None:
            settings = WebSocketSettings()
        if settings.bind_host is None:
            settings.bind_host = host
        super().__init__(host=host, port=port, tls=tls, max_connections=max_connections,
                         timeouts=settings.timeouts, backlog=backlog, tls_handshake_timeout=tls_handshake_timeout)
        self.endpoint = WebSocketEndpoint(dispatcher_factory, settings)

    @property
    def settings(self) -> WebSocketSettings:
        return self.endpoint.settings

    def make_connection(self) -> WebSocketConnection:
        return WebSocketConnection(self, self.endpoint)

    def refusal(self, reason: str) -> asyncio.Protocol:
        metrics = self.endpoint.metrics
        if metrics is not None:
            metrics.refuse("shutting_down" if self.stopping else "max_connections")
        body = json_rpc_error_body(SERVER_OVERLOADED, reason)
        return _RefuseProtocol(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                               b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%b"
                               % (len(body), body))

    @property
    def url(self) -> str:
        """``ws(s)://host:port/path`` of the endpoint."""
        host = self.address[0]
        if ":" in host:
            host = f"[{host}]"
        scheme = "wss" if self.tls is not None else "ws"
        return f"{scheme}://{host}:{self.port}{self.settings.path}"

    async def start(self) -> None:
        await super().start()
        log.info("MCP over WebSocket on %s", self.url)

    async def __aenter__(self) -> WebSocketServer:
        if not self._started:
            await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


async def start_websocket_server(
    dispatcher_factory: Callable[[], Dispatcher],
    host: str | None = "127.0.0.1",
    port: int = 0,
    *,
    settings: WebSocketSettings | None = None,
    tls: TLSConfig = None,
    max_connections: int | None = 1024,
    **settings_kw: Any,
) -> WebSocketServer:
    """Listen on ``host:port`` (0: any free port, see ``.port`` and ``.url``) and serve.
    ``settings_kw`` are ``WebSocketSettings`` fields (when ``settings`` is not given)."""
    if settings is None:
        settings = WebSocketSettings(**settings_kw)
    elif settings_kw:
        raise TypeError("give either settings= or WebSocketSettings fields, not both")
    server = WebSocketServer(dispatcher_factory, host=host, port=port, settings=settings, tls=tls,
                             max_connections=max_connections)
    await server.start()
    return server


async def serve_websocket(
    dispatcher_factory: Callable[[], Dispatcher],
    host: str | None = "127.0.0.1",
    port: int = 8000,
    *,
    ready: Callable[[WebSocketServer], Any] | None = None,
    grace: float = 5.0,
    **kw: Any,
) -> None:
    """Serve until cancelled or SIGTERM/SIGINT (graceful shutdown within ``grace`` seconds);
    ``ready(server)`` is called once listening. Other keywords: ``start_websocket_server``'s."""
    server = await start_websocket_server(dispatcher_factory, host, port, **kw)
    if ready is not None:
        ready(server)
    await server.serve_forever(grace)
