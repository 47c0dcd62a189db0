"""The Streamable HTTP client transport: ``transport_from_url("http://host/mcp", ...)``.

Every message the client's peer sends becomes its own HTTP/1.1 POST to the MCP endpoint
(``Accept: application/json, text/event-stream``). The answer comes back as one JSON body or as
an SSE stream (parsed by the wire ``SSEParser``); either way the messages in it are fed to the
peer, which matches responses to the calls waiting for them. Notifications and responses get
202. HTTP errors become JSON-RPC error responses for the waiting call: the server's own JSON-RPC
error body when it sent one, else ``-32000`` with the status (``data.httpStatus``).

Both eras, told apart per message:

* **legacy** (``initialize`` ... ``2025-11-25``): the ``Mcp-Session-Id`` of the initialize
  response is sent on every later request, with ``MCP-Protocol-Version`` (the version the
  initialize result names); after ``notifications/initialized`` a GET opens the server's stream
  for its own requests and notifications (405: the server has none). An SSE stream that ends
  before its response (SEP-1699 polling, a cut connection) is resumed with GET +
  ``Last-Event-ID`` after the server's ``retry`` milliseconds. ``close()`` ends the session with
  DELETE (405 is fine). A 404 for the session means it expired: every pending call fails with
  ``SessionExpired``'s message and the connection counts as lost.
* **2026-07-28** (a request whose ``params._meta`` names the protocol version): no session;
  ``MCP-Protocol-Version`` (equal to that ``_meta`` value), ``Mcp-Method``, ``Mcp-Name``
  (``tools/call``/``prompts/get`` name, ``resources/read`` uri) and ``Mcp-Param-*`` for the
  arguments whose schema property carries ``x-mcp-header`` -- learnt from the ``tools/list``
  results that pass through here, where tools with invalid annotations are also dropped, as the
  spec requires of HTTP clients. ``notifications/cancelled`` is not posted: closing the request's
  response stream is the cancellation. Streams are not resumable in this era: a response stream
  (or connection) that breaks before the answer loses the request, and the spec's changelog has
  the client re-issue it as a new request with a new id -- done here, at most ``MAX_REISSUES``
  times in a row, the answer handed to the caller under the id it waits on. (Not for
  ``subscriptions/listen``: a lost listen stream is reported, as ``SubscriptionLost``.)

**HTTP+SSE** (the 2024-11-05 transport, deprecated): as the spec's backward-compatibility
section has a client do, when the first POSTs to the URL are refused with 400, 404 or 405 and
no modern JSON-RPC error (which would show a Streamable HTTP server), the transport GETs the URL
once: an event stream whose first event is ``endpoint`` shows an HTTP+SSE server, and from then
on every message is POSTed to that endpoint (same origin only; answered 202) and every server
message read from the stream (the refused requests are sent again that way). Anything else
and the refusals stand. The stream's end is the connection's.

HTTP: ``httptools``' response parser under a small pool of keep-alive connections of our own
(chosen by measurement, ``docs/client-http.md``): one connection per request in flight, reused,
at most ``max_connections`` (more requests wait for a free one). A request costs no task: it is
written from ``send`` and its answer handled in ``data_received``. TLS verification is on
(``verify=``/``ssl=``), redirects are never followed, ``connect_timeout`` bounds opening a
connection and ``read_timeout`` the silence of a response being awaited (the legacy GET stream
and the ``subscriptions/listen`` stream excepted: they may be quiet for hours). Proxies as httpx
(the SDK's client) takes them: ``proxy=`` or, with ``trust_env`` (the default),
``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` (``mcpfast.client.proxy``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

try:
    import httptools
except ImportError as _exc:  # pragma: no cover - the http extra is a test dependency
    raise ImportError("the Streamable HTTP client needs httptools: pip install 'mcpfast[http]'") from _exc

from ..errors import (
    CONNECTION_CLOSED,
    HEADER_MISMATCH,
    METHOD_NOT_FOUND,
    MISSING_CLIENT_CAPABILITY,
    UNSUPPORTED_PROTOCOL_VERSION,
    ConnectionClosed,
)
from ..http_headers import NAME_PARAM, encode_header_value, has_invalid_annotation, param_headers, param_spec
from ..peer import DEFAULT_MAX_IN_FLIGHT, Dispatcher, JSONRPCPeer
from ..types import PROTOCOL_VERSION_KEY
from ..wire import jsonrpc
from ..wire._json import fast_dumps, fast_loads
from ..wire.framing import DEFAULT_MAX_SIZE, SSEEvent, SSEParser
from ._auth_hook import BearerAuth, HTTPAuth
from .proxy import Proxy, proxy_for
from .transport import ClientTransport

__all__ = [
    "HTTPAuth",
    "BearerAuth",
    "StreamableHTTPTransport",
    "SessionExpired",
    "transport_from_url",
    "DEFAULT_MAX_CONNECTIONS",
]

log = logging.getLogger("mcpfast.client.http")

#: connections the pool keeps open at most (one per request in flight)
DEFAULT_MAX_CONNECTIONS = 100
#: seconds to open a connection (TCP and TLS)
DEFAULT_CONNECT_TIMEOUT = 30.0
#: seconds a response being awaited may stay silent
DEFAULT_READ_TIMEOUT = 300.0
#: milliseconds before resuming a stream when the server named no ``retry``
DEFAULT_RETRY_MS = 1000
#: resumptions of a request's stream in a row that bring nothing new before the call fails
MAX_FRUITLESS_RESUMES = 3
#: recognised modern JSON-RPC errors: a 4xx carrying one comes from a Streamable HTTP server
_MODERN_CODES = frozenset({HEADER_MISMATCH, MISSING_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION, METHOD_NOT_FOUND})
# what the transport knows of the server's transport (the HTTP+SSE fallback)
_UNKNOWN = 0  # nothing answered yet
_STREAMABLE = 1  # a POST was answered 2xx, or the HTTP+SSE probe failed: Streamable HTTP
_PROBING = 2  # POSTs refused: the GET that would show an HTTP+SSE server is under way
_HTTP_SSE = 3  # an HTTP+SSE server: POSTs to its endpoint, answers on the GET stream

#: seconds the HTTP+SSE probe waits for its ``endpoint`` event (such a server sends it at once;
#: a Streamable HTTP server's quiet GET stream must not hold the refused requests for long)
PROBE_TIMEOUT = 5.0

#: 2026-07-28: how often one request is re-issued (with a new id) after its response stream broke
MAX_REISSUES = 3
#: how often one request is sent again at the auth hook's request (an authorization, then a DPoP
#: nonce, then a scope step-up can each need one); the hook bounds its own flows
AUTH_RETRIES = 3

_Response = jsonrpc.Response
_ErrorResponse = jsonrpc.ErrorResponse
_decode_all = jsonrpc.decode_all

_POST = 0  # a request: someone waits for its answer
_POST_OTHER = 1  # a notification or a response: 202 expected
_GET = 2  # the session's server stream, or the resumption of a request's stream
_DELETE = 3

_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout"}


class SessionExpired(ConnectionClosed):
    """The server answered 404 to a request naming our ``Mcp-Session-Id``: the legacy session
    is gone (expired or ended by the server); a new connection must ``initialize`` again."""


def _header_line(name: str, value: str) -> bytes:
    if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name or not name:
        raise ValueError(f"invalid HTTP header {name!r}: {value!r}")
    return f"{name}: {value}\r\n".encode("latin-1")


#: headers the transport writes itself: a user's or an auth hook's copy would be a duplicate
#: the server may read either way (or, for the framing ones, a broken request)
_RESERVED = frozenset({"host", "content-length", "transfer-encoding", "connection", "content-type", "accept",
                       "mcp-session-id", "mcp-protocol-version", "mcp-method", "mcp-name", "last-event-id"})


def _headers_bytes(headers: Mapping[str, str] | None) -> bytes:
    out = []
    for name, value in (headers or {}).items():
        low = name.lower()
        if low in _RESERVED or low.startswith("mcp-param-"):
            raise ValueError(f"header {name!r} is written by the transport itself and cannot be set")
        out.append(_header_line(name, value))
    return b"".join(out)


class _Exchange:
    """One HTTP request/response (see the ``_POST``... kinds) and what is known of its answer."""

    __slots__ = ("kind", "rid", "method", "extra", "body", "answered", "status", "headers", "chunks", "size",
                 "sse", "last_event_id", "start_id", "retry_ms", "auth", "auth_tries", "replays", "reused", "fruitless",
                 "got_events", "conn", "cancelled", "http_method", "wire_id", "modern", "reissues")

    def __init__(self, kind: int, rid: Any, method: str | None, extra: bytes, body: bytes) -> None:
        self.kind = kind
        self.rid = rid  # the JSON-RPC id a caller waits on (None for none)
        self.method = method  # the MCP method (None for a response, a GET, a DELETE)
        self.extra = extra  # header lines of this request alone
        self.body = body
        self.answered = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.size = 0
        self.sse: SSEParser | None = None
        self.last_event_id: str | None = None
        self.start_id: str | None = None  # the Last-Event-ID a resumption was opened with
        self.retry_ms: int | None = None
        self.auth = b""  # header lines from the auth hook
        self.auth_tries = 0
        self.replays = 0  # sent again after a reused connection died before answering
        self.reused = False
        self.fruitless = 0
        self.got_events = False
        self.conn: _Conn | None = None
        self.cancelled = False
        self.http_method = b"POST" if kind <= _POST_OTHER else b"GET" if kind == _GET else b"DELETE"
        self.wire_id = rid  # the id in ``body`` (another after a re-issue)
        self.modern = False  # a 2026-07-28 request (re-issued when its stream breaks)
        self.reissues = 0


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one exchange at a time."""

    __slots__ = ("owner", "parser", "tr", "ex", "last", "closed", "loop", "used")

    def __init__(self, owner: StreamableHTTPTransport, loop: asyncio.AbstractEventLoop) -> None:
        self.owner = owner
        self.loop = loop
        self.parser = httptools.HttpResponseParser(self)
        self.tr: asyncio.Transport | None = None
        self.ex: _Exchange | None = None
        self.last = 0.0
        self.closed = False
        self.used = 0  # exchanges started here

    # ------------------------------------------------------------------ asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.tr = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.last = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:  # a bug of ours, not the server's
            log.error("handling a response from %s failed", self.owner.url, exc_info=exc.__context__ or exc)
            self.fail(ConnectionClosed("the response could not be handled (see the log)"))
        except httptools.HttpParserError as exc:
            self.fail(ConnectionClosed(f"malformed HTTP response from the server: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.tr = None
        ex = self.ex
        if ex is not None:
            self.ex = None
            self.owner.conn_broke(self, ex, exc)
        else:
            self.owner.forget_conn(self)

    # ------------------------------------------------------------------ httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        ex = self.ex
        if ex is not None:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            old = ex.headers.get(key)
            ex.headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        ex = self.ex
        if ex is not None:
            ex.status = self.parser.get_status_code()
            self.owner.on_head(ex)

    def on_body(self, body: bytes) -> None:
        ex = self.ex
        if ex is None:
            return
        sse = ex.sse
        if sse is not None:
            self.owner.on_sse(ex, sse, body)
            return
        ex.size += len(body)
        if ex.size > self.owner.max_message_size:
            self.fail(ConnectionClosed(f"the server's response passed the {self.owner.max_message_size}-byte limit"
                                       " (max_message_size)"))
            return
        ex.chunks.append(body)

    def on_message_complete(self) -> None:
        ex = self.ex
        if ex is None:
            return
        self.ex = None
        keep = self.parser.should_keep_alive()
        self.owner.on_complete(ex)
        if keep and not self.closed:
            self.owner.release(self)
        else:
            self.close()

    # ------------------------------------------------------------------ driving

    def start(self, ex: _Exchange, data: bytes) -> None:
        self.ex = ex
        ex.conn = self
        ex.reused = self.used > 0
        self.used += 1
        self.last = self.loop.time()
        assert self.tr is not None
        self.tr.write(data)

    def fail(self, exc: BaseException) -> None:
        """Give up the connection (the exchange on it fails with ``exc``)."""
        ex = self.ex
        self.ex = None
        self.close()
        if ex is not None:
            self.owner.exchange_failed(ex, exc)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.tr is not None:
                self.tr.close()
        self.owner.forget_conn(self)


class StreamableHTTPTransport(ClientTransport):
    """A Streamable HTTP connection to one MCP endpoint (see the module docstring).

    ``headers``: sent on every request (user headers). ``auth``: an ``HTTPAuth``; ``bearer``: a
    fixed token (``Authorization: Bearer ...``). ``verify``: True (the system CAs), False (no
    checks: testing only) or a CA bundle path; ``ssl``: an ``SSLContext`` used as it is.
    ``max_connections`` bounds the pool; ``max_message_size`` one response body or SSE event.
    ``proxy``: an ``http://`` proxy URL; without it (and with ``trust_env``) the environment's.
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: HTTPAuth | None = None,
        bearer: str | None = None,
        verify: bool | str = True,
        ssl: ssl_module.SSLContext | None = None,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_message_size: int = DEFAULT_MAX_SIZE,
        follow_redirects: bool = False,
        proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL with a host: {url!r}")
        if follow_redirects:
            raise ValueError("follow_redirects=True is not supported: an MCP endpoint does not move, and following"
                             " a redirect would send credentials to another origin")
        if auth is not None and bearer is not None:
            raise TypeError("give auth= or bearer=, not both")
        if bearer is not None and any(k.lower() == "authorization" for k in headers or {}):
            raise TypeError("give bearer= or an Authorization header, not both")
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or (443 if scheme == "https" else 80)
        target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
        if parts.query:
            target += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
        #: the proxy connections go through (None: direct)
        self.proxy = Proxy(proxy) if proxy is not None else proxy_for(url) if trust_env else None
        # through a proxy, an http:// server is asked with absolute-form targets (https: a tunnel)
        self._target_prefix = f"http://{parts.netloc.rpartition('@')[2]}" \
            if self.proxy is not None and scheme == "http" else ""
        self.target = self._target_prefix + target
        self._post_target = self.target  # the HTTP+SSE endpoint once one was found
        netloc = self.host if ":" not in self.host else f"[{self.host}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
        self._ssl: ssl_module.SSLContext | None = None
        if scheme == "https":
            if ssl is not None:
                self._ssl = ssl
            elif verify is False:
                ctx = ssl_module.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl_module.CERT_NONE
                self._ssl = ctx
            else:
                self._ssl = ssl_module.create_default_context(cafile=verify if isinstance(verify, str) else None)
        self._static_auth = b""
        if bearer is not None:  # a fixed token: rendered once, no hook call per request
            BearerAuth(bearer)  # the same checks
            self._static_auth = _header_line("Authorization", f"Bearer {bearer}")
        self._auth = auth
        self._common = (f"Host: {netloc}\r\n".encode("latin-1") + _headers_bytes(headers) + self._static_auth)
        if self._target_prefix and self.proxy is not None:
            self._common += self.proxy.header_lines()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self.max_message_size = max_message_size
        # the pool
        self._idle: list[_Conn] = []
        self._conns: set[_Conn] = set()
        self._opening = 0
        self._waiting: deque[tuple[_Exchange, bytes]] = deque()
        # the session (legacy) and what the traffic taught
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self._prefix = b""
        self._version_line = b""
        self._delete_done: asyncio.Future[None] | None = None
        self._specs: dict[str, tuple[tuple[str, str, tuple[str, ...], str], ...]] = {}
        self._by_rid: dict[Any, _Exchange] = {}
        self._get_stream: _Exchange | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._watchdog: asyncio.TimerHandle | None = None
        self._peer: JSONRPCPeer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._lost = False
        self._reissued = 0  # re-issued requests so far (their new ids)
        self._era = _UNKNOWN
        self._parked: list[tuple[_Exchange, bytes]] = []  # refused POSTs while _PROBING, with their bodies
        self._rebuild_prefix()

    # ------------------------------------------------------------------ ClientTransport

    async def connect(
        self,
        dispatcher: Dispatcher,
        *,
        request_timeout: float | None = None,
        max_in_flight: int | None = None,
    ) -> JSONRPCPeer:
        if self._peer is not None:
            raise RuntimeError("this transport is already connected (one connect() per transport)")
        self._loop = loop = asyncio.get_running_loop()
        try:
            conn = await self._open()
        except (TimeoutError, OSError) as exc:
            raise ConnectionError(f"cannot reach the MCP server at {self.url}: {_why(exc)}") from exc
        self._conns.add(conn)
        self._idle.append(conn)
        self._peer = JSONRPCPeer(dispatcher, self._send, request_timeout=request_timeout,
                                 max_in_flight=max_in_flight or DEFAULT_MAX_IN_FLIGHT)
        self._peer.network_transport = "tcp"  # for metrics and traces, as OpenTelemetry names it
        if self.read_timeout is not None:
            self._watchdog = loop.call_later(min(self.read_timeout / 4, 1.0), self._watch)
        return self._peer

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.session_id is not None and not self._lost:
            await self._delete()
        self._shutdown(None)

    @property
    def closed(self) -> bool:
        return self._closed or self._lost

    @property
    def peer(self) -> JSONRPCPeer | None:
        """The peer ``connect`` made (None before)."""
        return self._peer

    @property
    def get_stream_open(self) -> bool:
        """Whether the session's GET stream (server->client messages, legacy) is open now."""
        ex = self._get_stream
        return ex is not None and ex.sse is not None

    @property
    def http_sse(self) -> bool:
        """Whether the server turned out to speak the 2024-11-05 HTTP+SSE transport."""
        return self._era == _HTTP_SSE

    @property
    def open_connections(self) -> int:
        """HTTP connections open now (idle and busy)."""
        return len(self._conns)

    # ------------------------------------------------------------------ outgoing messages

    def _rebuild_prefix(self) -> None:
        head = (b"POST " + self._post_target.encode("latin-1") + b" HTTP/1.1\r\n" + self._common
                + b"Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n")
        if self.session_id is not None:
            head += _header_line("Mcp-Session-Id", self.session_id)
        self._prefix = head
        # legacy: the negotiated version on every request after initialize (a 2026-07-28
        # request names its own, from its _meta, instead)
        pv = self.protocol_version
        self._version_line = _header_line("MCP-Protocol-Version", pv) if pv is not None else b""

    def _send(self, messages: list[bytes]) -> None:
        """The peer's ``send``: one POST per message."""
        if self._closed or self._lost:
            return
        for data in messages:
            try:
                self._post(data)
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the others
                log.exception("cannot send a message over HTTP")
                rid = _rid_of(data)
                if rid is not None:
                    self._fail_rid(rid, f"the request could not be sent: {exc}", None)

    def _post(self, data: bytes) -> None:
        msg = fast_loads(data)
        method = msg.get("method")
        rid = msg.get("id")
        params = msg.get("params")
        extra = self._version_line
        version = None
        if type(params) is dict:
            meta = params.get("_meta")
            if type(meta) is dict:
                version = meta.get(PROTOCOL_VERSION_KEY)
        if method is None:
            ex = _Exchange(_POST_OTHER, None, None, extra, data)
        elif version is not None and type(version) is str:
            extra = b"MCP-Protocol-Version: %s\r\nMcp-Method: %s\r\n" % (
                encode_header_value(version).encode("latin-1"), encode_header_value(method).encode("latin-1"))
            key = NAME_PARAM.get(method)
            if key is not None:
                name = params.get(key)
                if type(name) is str:
                    extra += b"Mcp-Name: " + encode_header_value(name).encode("latin-1") + b"\r\n"
                    if method == "tools/call":
                        spec = self._specs.get(name)
                        if spec:
                            for hname, hvalue in param_headers(spec, params.get("arguments")):
                                extra += _header_line(hname, hvalue)
            ex = _Exchange(_POST if rid is not None else _POST_OTHER, rid, method, extra, data)
            ex.modern = True
        else:
            if rid is None and method == "notifications/cancelled" and self.session_id is None \
                    and self.protocol_version is None and self._era != _HTTP_SSE and type(params) is dict:
                # 2026-07-28: closing the request's stream is the cancellation (no notification)
                self._cancel_stream(params.get("requestId"))
                return
            ex = _Exchange(_POST if rid is not None else _POST_OTHER, rid, method, extra, data)
        if ex.kind == _POST:
            self._by_rid[rid] = ex
        self._start(ex)

    def _cancel_stream(self, rid: Any) -> None:
        ex = self._by_rid.pop(rid, None)
        if ex is None:
            return
        ex.cancelled = True
        conn = ex.conn
        if conn is not None and conn.ex is ex:
            conn.ex = None
            conn.close()

    def _start(self, ex: _Exchange) -> None:
        """Send ``ex`` now (auth headers first when a hook is set)."""
        auth = self._auth
        if auth is None:
            self._dispatch(ex)
            return
        coro = auth.headers(ex.http_method.decode(), self.url)
        try:
            first = coro.send(None)
        except StopIteration as stop:
            ex.auth = _headers_bytes(stop.value)
            self._dispatch(ex)
            return
        except Exception as exc:  # noqa: BLE001 - the hook's failure is the request's
            self.exchange_failed(ex, exc)
            return
        self._spawn(self._auth_slow(ex, coro, first))

    async def _auth_slow(self, ex: _Exchange, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        # the hook suspended (a token refresh): drive the rest of it here, then send
        try:
            headers = await _Resumed(coro, first)
            ex.auth = _headers_bytes(headers)
        except Exception as exc:  # noqa: BLE001
            self.exchange_failed(ex, exc)
            return
        self._dispatch(ex)

    def _request_bytes(self, ex: _Exchange) -> bytes:
        if ex.kind <= _POST_OTHER:
            return b"%s%s%sContent-Length: %d\r\n\r\n%s" % (self._prefix, ex.extra, ex.auth, len(ex.body), ex.body)
        head = ex.http_method + b" " + self.target.encode("latin-1") + b" HTTP/1.1\r\n" + self._common
        if ex.kind == _GET:
            head += b"Accept: text/event-stream\r\n"
        if self.session_id is not None:
            head += _header_line("Mcp-Session-Id", self.session_id)
        if self.protocol_version is not None:
            head += _header_line("MCP-Protocol-Version", self.protocol_version)
        return head + ex.extra + ex.auth + b"Content-Length: 0\r\n\r\n"

    # ------------------------------------------------------------------ the pool

    def _dispatch(self, ex: _Exchange) -> None:
        if self._closed and ex.kind != _DELETE or self._lost:
            return
        data = self._request_bytes(ex)
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                conn.start(ex, data)
                return
        self._waiting.append((ex, data))
        if self._room():
            self._opening += 1
            self._spawn(self._grow())

    def _room(self) -> bool:
        """Whether the pool may open one more connection. The session's GET stream holds one
        for as long as it lasts and is not counted: with ``max_connections=1`` the requests
        must still get through."""
        used = len(self._conns) + self._opening
        stream = self._get_stream
        if stream is not None and stream.conn is not None and not stream.conn.closed:
            used -= 1
        return used < self.max_connections

    async def _open(self) -> _Conn:
        loop = self._loop or asyncio.get_running_loop()
        proxy = self.proxy
        if proxy is not None:
            via = proxy.open(loop, lambda: _Conn(self, loop), self.host, self.port, self._ssl)
            made: Any = via if self.connect_timeout is None else asyncio.wait_for(via, self.connect_timeout)
            return await made  # type: ignore[no-any-return]
        direct = loop.create_connection(lambda: _Conn(self, loop), self.host, self.port, ssl=self._ssl,
                                        server_hostname=self.host if self._ssl is not None else None)
        if self.connect_timeout is None:
            _, conn = await direct
        else:
            _, conn = await asyncio.wait_for(direct, self.connect_timeout)
        return conn

    async def _grow(self) -> None:
        try:
            conn = await self._open()
        except (TimeoutError, OSError) as exc:
            self._opening -= 1
            err = ConnectionClosed(f"cannot connect to {self.url}: {_why(exc)}")
            if not self._conns and not self._opening:  # nothing else will serve them
                while self._waiting:
                    ex, _ = self._waiting.popleft()
                    self.exchange_failed(ex, err)
            return
        self._opening -= 1
        if self._closed and not self._waiting or self._lost:
            conn.close()
            return
        self._conns.add(conn)
        self.release(conn)

    def release(self, conn: _Conn) -> None:
        """``conn`` finished an exchange and stays open: the next waiting one, or idle."""
        waiting = self._waiting
        if waiting:
            ex, data = waiting.popleft()
            conn.start(ex, data)
            return
        self._idle.append(conn)

    def forget_conn(self, conn: _Conn) -> None:
        self._conns.discard(conn)
        # an idle connection closed by the server stays in the idle list until popped (skipped
        # there as closed): the list is short and a removal would cost every release a scan
        if self._waiting and not self._closed and not self._lost \
                and self._room():
            self._opening += 1
            self._spawn(self._grow())

    def conn_broke(self, conn: _Conn, ex: _Exchange, exc: BaseException | None) -> None:
        """The connection closed under ``ex``."""
        self.forget_conn(conn)
        if ex.cancelled or self._lost:
            return
        if ex.status == 0 and ex.reused and ex.replays == 0 and not self._closed:
            # a kept-alive connection the server had closed: nothing of ours was handled
            ex.replays += 1
            self._dispatch(ex)
            return
        if ex.status != 0 and ex.sse is None and ex.chunks and exc is None:
            self.on_complete(ex)  # a body delimited by the connection's end
            return
        if ex.sse is not None:
            self._stream_ended(ex, None if exc is None else _why(exc))
            return
        why = _why(exc) if exc is not None else "the server closed the connection"
        if self._reissue(ex, why):
            return
        self.exchange_failed(ex, ConnectionClosed(f"{why} before the response arrived"))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        loop = self._loop
        assert loop is not None

        def run() -> None:
            self._timers.discard(handle)
            fn()

        handle = loop.call_later(delay, run)
        self._timers.add(handle)

    def _watch(self) -> None:
        loop = self._loop
        timeout = self.read_timeout
        if self._closed or self._lost or loop is None or timeout is None:
            return
        now = loop.time()
        for conn in list(self._conns):
            ex = conn.ex
            # long-lived streams may be quiet for hours: the session's GET stream and the
            # 2026-07-28 subscriptions/listen stream
            if ex is not None and now - conn.last > timeout and ex.method != "subscriptions/listen" \
                    and (ex is not self._get_stream or self._era == _PROBING):
                conn.fail(ConnectionClosed(f"no data from the server for {timeout:g} s (read_timeout)"))
        self._watchdog = loop.call_later(min(timeout / 4, 1.0), self._watch)

    # ------------------------------------------------------------------ responses

    def on_head(self, ex: _Exchange) -> None:
        status = ex.status
        if 200 <= status < 300:
            if self._era == _UNKNOWN and ex.kind <= _POST_OTHER:
                self._era = _STREAMABLE
            if ex.method == "initialize":
                sid = ex.headers.get("mcp-session-id")
                if sid:
                    self.session_id = sid.strip()
                    self._rebuild_prefix()
            if ex.headers.get("content-type", "").startswith("text/event-stream"):
                ex.sse = SSEParser(self.max_message_size)

    def on_sse(self, ex: _Exchange, sse: SSEParser, body: bytes) -> None:
        try:
            events = sse.feed(body)
        except Exception as exc:  # noqa: BLE001 - FrameError: an oversized event, the rest kept
            log.warning("SSE stream from %s: %s", self.url, exc)
            events = getattr(exc, "events", [])
        if sse.last_event_id is not None:
            ex.last_event_id = sse.last_event_id
        if sse.retry is not None:
            ex.retry_ms = sse.retry
        if events:
            self._on_events(ex, events)

    def _on_events(self, ex: _Exchange, events: list[SSEEvent]) -> None:
        if self._era == _PROBING and ex is self._get_stream:
            first, events = events[0], events[1:]
            if not self._found_endpoint(first):
                self._probe_failed(f"its first event is {first.event!r}, not 'endpoint'")
                return
        ex.got_events = True
        frames = [e.data.encode("utf-8", "surrogatepass") for e in events if e.data and e.event == "message"]
        if frames:
            self._deliver(ex, frames)

    def _deliver(self, ex: _Exchange, frames: list[bytes]) -> None:
        """Hand decoded messages to the peer; notes whether ``ex``'s answer was among them."""
        peer = self._peer
        if peer is None:
            return
        messages = _decode_all(frames)
        good: list[Any] = []
        rid = ex.rid
        for msg in messages:
            t = type(msg)
            if t is _Response or t is _ErrorResponse:
                if msg.id == ex.wire_id and rid is not None:  # type: ignore[union-attr]
                    ex.answered = True
                    self._by_rid.pop(rid, None)
                    if t is _Response:
                        self._learn(ex, msg.result)  # type: ignore[union-attr]
                    if ex.wire_id != rid:  # re-issued: answered under the id the caller waits on
                        msg = (_Response(rid, msg.result) if t is _Response  # type: ignore[union-attr]
                               else _ErrorResponse(rid, msg.code, msg.message, msg.data))  # type: ignore[union-attr]
                good.append(msg)
            elif isinstance(msg, Exception):
                # reported (the client's message_handler), never answered: over HTTP an error
                # response to the server would be a POST of its own, and 2026-07-28 forbids it
                hook = peer.on_malformed
                if hook is None or not hook(msg):
                    log.warning("malformed message from %s: %s", self.url, msg)
            else:
                good.append(msg)
        if good:
            peer.feed(good)

    def _learn(self, ex: _Exchange, result: Any) -> None:
        method = ex.method
        if method == "initialize" and type(result) is dict:
            version = result.get("protocolVersion")
            if type(version) is str:
                self.protocol_version = version
                self._rebuild_prefix()
        elif method == "tools/list" and type(result) is dict and type(result.get("tools")) is list:
            self._learn_tools(result)

    def _learn_tools(self, result: dict[str, Any]) -> None:
        kept: list[Any] = []
        for tool in result["tools"]:
            if type(tool) is not dict:
                kept.append(tool)
                continue
            schema = tool.get("inputSchema")
            name = tool.get("name")
            spec = param_spec(schema)
            if not spec and has_invalid_annotation(schema):
                log.warning("tool %r dropped from tools/list: its inputSchema has an invalid x-mcp-header"
                            " annotation (SEP-2243)", name)
                continue
            if type(name) is str:
                if spec:
                    self._specs[name] = spec
                else:
                    self._specs.pop(name, None)
            kept.append(tool)
        if len(kept) != len(result["tools"]):
            result["tools"] = kept

    def on_complete(self, ex: _Exchange) -> None:
        """The response to ``ex`` has fully arrived."""
        status = ex.status
        kind = ex.kind
        if ex.cancelled:
            return
        if kind == _DELETE:
            if status not in (200, 202, 204, 404, 405):
                log.debug("DELETE of the session at %s: %s", self.url, _status_text(status))
            self._deleted()
            return
        if ex.sse is not None:
            self._stream_ended(ex)
            return
        body = b"".join(ex.chunks)
        ex.chunks = []
        if 200 <= status < 300:
            if kind == _POST and self._era == _HTTP_SSE:
                self._by_rid.pop(ex.rid, None)  # accepted: the answer comes on the event stream
            elif kind == _POST or kind == _GET and ex.rid is not None:
                if body:
                    self._deliver(ex, [body])
                if not ex.answered:
                    what = "an empty body" if not body else "a body without the response"
                    self._fail_rid(ex.rid, f"the server answered HTTP {status} with {what}", status)
            elif kind == _POST_OTHER and ex.method == "notifications/initialized":
                self._open_get_stream()
            elif ex is self._get_stream:
                self._get_stream = None  # not a stream: nothing to read there
                if self._era == _PROBING:
                    self._probe_failed(f"HTTP {status} without an event stream")
            return
        if status in (401, 403) and self._auth is not None and kind != _DELETE:
            self._spawn(self._challenge(ex, body))
            return
        self._http_error(ex, body)

    def _http_error(self, ex: _Exchange, body: bytes) -> None:
        status = ex.status
        kind = ex.kind
        if kind == _POST and self._era in (_UNKNOWN, _PROBING) and status in (400, 404, 405) \
                and self.session_id is None:
            err = _jsonrpc_error(body)
            if err is None or err.code not in _MODERN_CODES:
                self._park(ex, body)
                return
        if status == 404 and self.session_id is not None and ex.method != "initialize":
            err = _jsonrpc_error(body)
            if err is None or err.code != METHOD_NOT_FOUND:  # legacy: 404 is the session's end
                self._session_expired()
                return
        if kind == _GET:
            if ex is self._get_stream and self._era == _PROBING:
                self._get_stream = None
                self._probe_failed(_status_text(status))
                return
            if status == 405:
                log.debug("%s has no GET stream (405)", self.url)
            elif ex.rid is not None:
                self._fail_rid(ex.rid, f"resuming the response stream failed: {_status_text(status)}", status)
            else:
                log.warning("GET stream of %s refused: %s", self.url, _status_text(status))
            if ex is self._get_stream:
                self._get_stream = None
            return
        if 300 <= status < 400:
            message = (f"the server answered {_status_text(status)} to {ex.headers.get('location', '?')!r}"
                       " (redirects are not followed: use the final URL)")
        else:
            message = _status_text(status)
        if kind == _POST_OTHER:
            log.warning("%s: the server refused a %s: %s", self.url, ex.method or "response", message)
            return
        err = _jsonrpc_error(body)
        if err is not None:
            if err.id != ex.rid:
                err = _ErrorResponse(ex.rid, err.code, err.message, err.data)
            self._by_rid.pop(ex.rid, None)
            ex.answered = True
            if self._peer is not None:
                self._peer.feed([err])
            return
        detail = body[:200].decode("utf-8", "replace").strip()
        self._fail_rid(ex.rid, f"{message}: {detail}" if detail else message, status)

    async def _challenge(self, ex: _Exchange, body: bytes) -> None:
        auth = self._auth
        assert auth is not None
        retry = False
        try:
            retry = await auth.on_response(ex.status, dict(ex.headers), ex.http_method.decode(), self.url)
        except Exception as exc:  # noqa: BLE001 - the hook's failure is the request's
            self.exchange_failed(ex, exc)
            return
        if retry and ex.auth_tries < AUTH_RETRIES and not (self._closed or self._lost):
            again = _Exchange(ex.kind, ex.rid, ex.method, ex.extra, ex.body)
            again.auth_tries = ex.auth_tries + 1
            if again.kind == _POST:
                self._by_rid[again.rid] = again
            if ex is self._get_stream:
                self._get_stream = again
            self._start(again)
            return
        self._http_error(ex, body)

    def exchange_failed(self, ex: _Exchange, exc: BaseException) -> None:
        """``ex`` got no usable answer (the connection broke, a hook failed)."""
        if ex.cancelled or self._lost:
            return
        if ex.kind == _POST:
            self._fail_rid(ex.rid, str(exc) or type(exc).__name__, ex.status or None)
        elif ex.kind == _GET:
            if ex is self._get_stream or ex.rid is not None:
                self._stream_ended(ex, failed=str(exc))
        elif ex.kind == _POST_OTHER:
            log.warning("%s: a %s was not delivered: %s", self.url, ex.method or "response", exc)
        else:
            self._deleted()

    def _deleted(self) -> None:
        done = self._delete_done
        if done is not None and not done.done():
            done.set_result(None)

    def _fail_rid(self, rid: Any, message: str, status: int | None) -> None:
        self._by_rid.pop(rid, None)
        peer = self._peer
        if peer is None or rid is None:
            return
        data = {"httpStatus": status} if status else None
        peer.feed([_ErrorResponse(rid, CONNECTION_CLOSED, message, data)])

    # ------------------------------------------------------------------ streams

    def _stream_ended(self, ex: _Exchange, failed: str | None = None) -> None:
        """An SSE stream (a POST's, a resumption, the session's GET) ended."""
        if self._closed or self._lost or ex.cancelled:
            return
        if ex.kind == _GET and ex.rid is None:  # the session's server stream
            if ex is not self._get_stream:
                return
            self._get_stream = None
            if self._era == _PROBING:
                self._probe_failed(failed or "no event stream")
                return
            if self._era == _HTTP_SSE:  # its stream is the HTTP+SSE connection
                self._shutdown(ConnectionClosed(f"the HTTP+SSE event stream of {self.url} ended"
                                                f"{': ' + failed if failed else ''}"))
                return
            if ex.sse is None:  # it never opened: the server has none to give
                log.warning("GET stream of %s lost: %s", self.url, failed or "no event stream")
                return
            # SEP-1699 polling: the server may end it whenever it likes; reconnect after retry
            self._later(_delay(ex), lambda: self._open_get_stream(ex.last_event_id))
            return
        if ex.answered:
            return
        rid = ex.rid
        if ex.modern:  # 2026-07-28: no resumption; the request is re-issued
            why = failed or "the server ended the response stream"
            if not self._reissue(ex, why):
                self._fail_rid(rid, f"{why} before the response", ex.status or None)
            return
        progress = ex.got_events or (ex.last_event_id is not None and ex.last_event_id != ex.start_id)
        fruitless = 0 if progress else ex.fruitless + 1
        if ex.last_event_id is None or self.session_id is None and self.protocol_version is None:
            why = failed or "the server ended the response stream"
            self._fail_rid(rid, f"{why} before the response (the stream cannot be resumed)", ex.status or None)
            return
        if fruitless >= MAX_FRUITLESS_RESUMES:
            self._fail_rid(rid, f"the response stream was resumed {fruitless} times without progress", None)
            return
        again = _Exchange(_GET, rid, None, _header_line("Last-Event-ID", ex.last_event_id), b"")
        again.last_event_id = again.start_id = ex.last_event_id
        again.fruitless = fruitless
        again.retry_ms = ex.retry_ms
        self._by_rid[rid] = again
        self._later(_delay(ex), lambda: self._resume(again))

    # ------------------------------------------------------------------ the HTTP+SSE fallback

    def _park(self, ex: _Exchange, body: bytes) -> None:
        """A POST refused as an HTTP+SSE server would refuse it: hold it, and GET the URL once
        to see whether an ``endpoint`` event comes (see the module docstring)."""
        self._by_rid.pop(ex.rid, None)
        self._parked.append((ex, body))
        if self._era == _UNKNOWN:
            self._era = _PROBING
            log.debug("%s refused a POST (%s): trying the HTTP+SSE transport", self.url, _status_text(ex.status))
            probe = _Exchange(_GET, None, None, b"", b"")
            self._get_stream = probe
            self._start(probe)
            self._later(PROBE_TIMEOUT, self._probe_expired)

    def _probe_expired(self) -> None:
        if self._era == _PROBING:
            self._probe_failed(f"no endpoint event within {PROBE_TIMEOUT:g} s")

    def _found_endpoint(self, event: SSEEvent) -> bool:
        """The probe's first event: an ``endpoint`` on this origin switches to HTTP+SSE and sends
        the parked requests there."""
        if event.event != "endpoint" or not event.data:
            return False
        url = urljoin(self.url, event.data.strip())
        here, there = urlsplit(self.url), urlsplit(url)
        if (there.scheme, there.hostname, there.port) != (here.scheme, here.hostname, here.port):
            log.warning("%s named an endpoint on another origin (%s): not followed", self.url, url)
            return False
        target = quote(there.path or "/", safe="/%:@!$&'()*+,;=-._~")
        if there.query:
            target += "?" + quote(there.query, safe="/%:@!$&'()*+,;=-._~?")
        self._post_target = self._target_prefix + target
        self._era = _HTTP_SSE
        self._rebuild_prefix()
        log.info("%s speaks the HTTP+SSE transport (2024-11-05): messages go to %s", self.url, target)
        parked, self._parked = self._parked, []
        for old, _ in parked:
            again = _Exchange(_POST, old.rid, old.method, b"", old.body)
            self._by_rid[old.rid] = again
            self._start(again)
        return True

    def _probe_failed(self, why: str) -> None:
        """Not an HTTP+SSE server: the parked refusals stand."""
        log.debug("%s is no HTTP+SSE server either: %s", self.url, why)
        self._era = _STREAMABLE
        if self._get_stream is not None and self._get_stream.rid is None:
            stream, self._get_stream = self._get_stream, None
            stream.cancelled = True
            if stream.conn is not None and stream.conn.ex is stream:
                stream.conn.ex = None
                stream.conn.close()
        parked, self._parked = self._parked, []
        for ex, body in parked:
            self._http_error(ex, body)

    def _reissue(self, ex: _Exchange, why: str) -> bool:
        """Send the 2026-07-28 request of ``ex``, whose stream broke before its answer, again as
        a new request with a new id (the spec's changelog: a broken stream loses the request);
        False when it may not be (not modern, a listen stream, re-issued too often, cancelled)."""
        rid = ex.rid
        if (not ex.modern or rid is None or ex.method == "subscriptions/listen" or ex.cancelled
                or self._closed or self._lost or self._by_rid.get(rid) is not ex):
            return False
        if ex.reissues >= MAX_REISSUES:
            self._fail_rid(rid, f"{why} before the response, {ex.reissues + 1} times in a row", ex.status or None)
            return True
        self._reissued += 1
        wire_id = f"mcpfast-reissue-{self._reissued}"  # a string: never one of the peer's int ids
        msg = fast_loads(ex.body)
        msg["id"] = wire_id
        again = _Exchange(_POST, rid, ex.method, ex.extra, fast_dumps(msg))
        again.wire_id = wire_id
        again.modern = True
        again.reissues = ex.reissues + 1
        self._by_rid[rid] = again
        log.info("%s: %s before the answer to %s; re-issued as request %s", self.url, why, ex.method, wire_id)
        self._start(again)
        return True

    def _resume(self, ex: _Exchange) -> None:
        if self._by_rid.get(ex.rid) is ex:
            self._start(ex)

    def _open_get_stream(self, last_event_id: str | None = None) -> None:
        if self._closed or self._lost or self.session_id is None or self._get_stream is not None:
            return
        extra = _header_line("Last-Event-ID", last_event_id) if last_event_id is not None else b""
        ex = _Exchange(_GET, None, None, extra, b"")
        ex.last_event_id = last_event_id
        self._get_stream = ex
        self._start(ex)

    # ------------------------------------------------------------------ the end

    def _session_expired(self) -> None:
        sid = self.session_id
        message = (f"the MCP session {sid} at {self.url} expired or was ended by the server (HTTP 404);"
                   " connect again to start a new one")
        for rid in list(self._by_rid):
            self._fail_rid(rid, message, 404)
        self.session_id = None
        self._lost = True
        exc = SessionExpired(message)
        self._shutdown(exc)

    async def _delete(self) -> None:
        ex = _Exchange(_DELETE, None, None, b"", b"")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._delete_done = done
        self._start(ex)
        try:
            await asyncio.wait_for(asyncio.shield(done), 5.0)
        except (TimeoutError, ConnectionError):
            log.debug("DELETE of the session at %s got no answer", self.url)

    def _shutdown(self, exc: BaseException | None) -> None:
        self._lost = self._lost or exc is not None
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self._conns):
            conn.ex = None
            conn.close()
        for conn in self._idle:
            conn.close()
        self._idle.clear()
        self._waiting.clear()
        self._by_rid.clear()
        self._get_stream = None
        if self._peer is not None:
            self._peer.connection_lost(exc)


class _Resumed:
    """Await the rest of a coroutine that already took its first step and yielded ``first``
    (what the auth hook's eager drive leaves when the hook suspends)."""

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro = coro
        self._first = first

    def __await__(self) -> Any:
        coro = self._coro
        pending = self._first
        while True:
            try:
                yield pending
            except BaseException as exc:  # noqa: BLE001 - cancellation goes into the hook
                try:
                    pending = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                pending = coro.send(None)
            except StopIteration as stop:
                return stop.value


def _delay(ex: _Exchange) -> float:
    ms = ex.retry_ms if ex.retry_ms is not None else DEFAULT_RETRY_MS
    return ms / 1000.0


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out (connect_timeout)"
    return str(exc) or type(exc).__name__


def _status_text(status: int) -> str:
    reason = _REASONS.get(status)
    return f"HTTP {status} {reason}" if reason else f"HTTP {status}"


def _rid_of(data: bytes) -> Any:
    try:
        msg = fast_loads(data)
    except Exception:  # noqa: BLE001
        return None
    return msg.get("id") if type(msg) is dict and "method" in msg else None


def _jsonrpc_error(body: bytes) -> Any:
    if not body or body[:1] not in (b"{", b" ", b"\n"):
        return None
    try:
        msg = jsonrpc.decode(body)
    except Exception:  # noqa: BLE001 - not JSON-RPC: the caller words the status instead
        return None
    return msg if type(msg) is _ErrorResponse else None


def transport_from_url(url: str, **options: Any) -> StreamableHTTPTransport:
    """The Streamable HTTP transport for ``url`` (``options``: ``StreamableHTTPTransport``'s
    keywords; an unknown one is a ``TypeError``)."""
    return StreamableHTTPTransport(url, **options)
