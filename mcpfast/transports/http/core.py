"""The Streamable HTTP core, without I/O: an HTTP request in, a response (whole or streamed) out.

Both front ends (``server.py``, the built-in HTTP/1.1 server, and ``asgi.py``) parse the request
into an ``HTTPRequest``, subclass ``Responder`` to write the answer, and call
``StreamableHTTP.handle``. One endpoint serves both eras of MCP:

* **2026-07-28 (stateless)**: a request whose ``MCP-Protocol-Version`` header (or, lacking it,
  whose ``params._meta``) names a modern revision. One JSON-RPC message per POST; the routing
  headers must mirror the body (-32020, HTTP 400), as must the ``Mcp-Param-*`` headers of
  ``x-mcp-header`` tool parameters; error responses carry the status the spec gives (400, 404
  for removed or unknown methods); notifications get 202. Each request has a peer of its own
  and nothing survives it; closing the response stream cancels the request.
* **Legacy (2024-11-05 ... 2025-11-25)**: ``initialize`` opens a session (``Mcp-Session-Id``)
  once it succeeded; later requests name it; GET opens the session's server->client stream;
  DELETE ends it; idle sessions expire. SSE events carry ids kept in an event store, so a
  client resumes a broken stream with GET + ``Last-Event-ID`` (and a handler may end its stream
  early, SEP-1699 polling). With a shared store (Redis) the sessions are valid on every process
  serving the endpoint (``cluster.py``); without one (the default) they live in this process.

A POST is answered with one JSON body when the handler answers before sending anything (the
hot path: no task, no coroutine, one ``respond`` call), and with an SSE stream from the first
notification or server->client request it sends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ...errors import (
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    SERVER_OVERLOADED,
    UNSUPPORTED_PROTOCOL_VERSION,
    JSONRPCError,
    StoreUnavailable,
)
from ...http_headers import check_param_headers, check_routing_headers, param_spec
from ...metrics import metrics_of
from ...requestvars import access_token, http_request, stream_control
from ...types import (
    CLIENT_CAPABILITIES_KEY,
    HANDSHAKE_PROTOCOL_VERSIONS,
    MODERN_PROTOCOL_VERSIONS,
    PROTOCOL_VERSION_KEY,
)
from ...wire import jsonrpc
from ...wire.counters import Registry
from ...wire.framing import encode_sse
from ._exchange import (
    JSON_HEADERS,
    SSE_HEADERS,
    BatchExchange,
    BatchPart,
    Exchange,
    GetStream,
    InitExchange,
    ModernPeer,
    SavingExchange,
    SessionPeer,
)
from .cluster import SharedSessions
from .security import HostOriginGuard, Rejection
from .sessions import EventStore, MemoryEventStore, Session, SessionTable, new_session_id
from .settings import HTTPSettings

__all__ = ["HTTPRequest", "Responder", "StreamableHTTP"]

log = logging.getLogger("mcpfast.http")

_Request = jsonrpc.Request
_Notification = jsonrpc.Notification
_Response = jsonrpc.Response
_ErrorResponse = jsonrpc.ErrorResponse
_decode = jsonrpc.decode
_encode_error = jsonrpc.encode_error
_set_request = http_request.set
_reset_request = http_request.reset
_set_control = stream_control.set
_reset_control = stream_control.reset

_HANDSHAKE = frozenset(HANDSHAKE_PROTOCOL_VERSIONS)
_DEFAULT_LEGACY_VERSION = "2025-03-26"  # the spec: no MCP-Protocol-Version header means this
_STD_ACCEPT = "application/json, text/event-stream"
_EMPTY: list[tuple[str, str]] = []


class HTTPRequest:
    """One HTTP request as a front end parsed it (the core reads, never mutates it)."""

    __slots__ = ("method", "path", "query", "headers", "body", "client")

    def __init__(self, method: str, path: str, query: str = "", headers: dict[str, str] | None = None,
                 body: bytes = b"", client: tuple[str, int] | None = None) -> None:
        #: "POST", "GET", ... (upper case)
        self.method = method
        #: the raw path, without the query string
        self.path = path
        #: the raw query string ("" if none)
        self.query = query
        #: lower-case names; repeated headers joined with ", "
        self.headers: dict[str, str] = headers if headers is not None else {}
        self.body = body
        #: (address, port) of the client, when known
        self.client = client

    def __repr__(self) -> str:
        return f"<HTTPRequest {self.method} {self.path}>"


class Responder:
    """Writes one HTTP response; each front end subclasses it.

    Either ``respond`` once (a whole response, sent with Content-Length), or ``start`` then any
    number of ``write`` and one ``end`` (a streamed response: chunked, or until the connection
    closes). Nothing blocks: the front end buffers, and ``buffered()`` tells how much waits
    (the core closes a stream whose client stops reading). The header lists the core passes
    may be shared between calls: read them, never mutate them.

    The core sets ``on_close`` when it cares; the front end calls it (once) if the client goes
    away before the response is complete, and sets ``closed`` once the client is gone or the
    response is complete.
    """

    __slots__ = ("on_close", "closed")

    def __init__(self) -> None:
        self.on_close: Callable[[], None] | None = None
        self.closed = False

    def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """Send a whole response."""
        raise NotImplementedError

    def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        """Send the status line and headers of a streamed response."""
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        """Send part of a streamed body (after ``start``); never blocks."""
        raise NotImplementedError

    def end(self) -> None:
        """Finish a streamed body."""
        raise NotImplementedError

    def buffered(self) -> int:
        """Bytes accepted by ``write`` and not yet handed to the socket."""
        return 0

    def client_gone(self) -> None:
        """For front ends: the client went away before the response was complete. Marks this
        responder closed and calls ``on_close`` (at most once)."""
        self.closed = True
        cb = self.on_close
        self.on_close = None
        if cb is not None:
            try:
                cb()
            except Exception:  # noqa: BLE001 - the front end's loop must not see it
                log.exception("Responder.on_close callback failed")


def _accepts(accept: str | None) -> tuple[bool, bool]:
    """(accepts application/json, accepts text/event-stream), wildcards included."""
    if accept is None:
        return False, False
    types = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    wild = "*/*" in types
    return (wild or "application/json" in types or "application/*" in types,
            wild or "text/event-stream" in types or "text/*" in types)


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    if content_type == "application/json":
        return True
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def _identity(token: Any) -> Any:
    """Who a token speaks for (a session is bound to who opened it)."""
    if token is None:
        return None
    return (getattr(token, "client_id", None), getattr(token, "subject", None), getattr(token, "issuer", None))


class StreamableHTTP:
    """The Streamable HTTP endpoint over a dispatcher (a ``ServerCore``); see the module
    docstring. ``handle`` never raises; ``startup``/``shutdown`` bracket its life."""

    def __init__(self, dispatcher: Any, settings: HTTPSettings | None = None) -> None:
        self.dispatcher = dispatcher
        self.settings = s = settings if settings is not None else HTTPSettings()
        self._path = s.path.rstrip("/") or "/"
        self._path_slash = self._path + "/" if self._path != "/" else "/"
        store = s.event_store
        #: legacy sessions shared with the other processes serving this endpoint (a shared
        #: ``mcpfast.stores`` store: ``settings.store``, else the dispatcher's), or None: this
        #: process alone holds its sessions (the in-memory default, unchanged)
        self.shared: SharedSessions | None = None
        #: the SSE event store (None only if a subclass turns resumability off)
        self.store: EventStore | None = store if store is not None else MemoryEventStore()
        self.table = SessionTable(s.max_sessions, s.session_ttl, self._expire, s.max_sessions_per_client)
        self._share_sessions()
        self._modern_versions = frozenset(getattr(dispatcher, "modern_versions", MODERN_PROTOCOL_VERSIONS))
        self._tools: dict[str, Any] | None = getattr(dispatcher, "tools", None)
        self._param_specs: dict[str, tuple[Any, Any]] = {}
        #: sessionless exchanges whose handler suspended (answered or aborted at shutdown)
        self.inflight: set[Exchange] = set()
        self._stateless = s.stateless
        self._json_response = s.json_response
        self._sessions = self.table.sessions  # the same dict, one attribute away on the hot path
        self._timeout = s.request_timeout
        self._max_in_flight = s.max_in_flight
        # the dispatcher's born-ready session state for a sessionless legacy request (ServerCore:
        # a LegacySession); a dispatcher without one serves those requests with no state
        self._sessionless_state: Callable[[str], Any] | None = getattr(dispatcher, "sessionless_state", None)
        #: legacy methods after which a shared session's record is written back
        self._changing: frozenset[str] = frozenset(getattr(dispatcher, "session_changing_methods", ()))
        self._started = False
        self._closing = False
        self._lifespan_cm: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Host/Origin checks (DNS rebinding): the security module is a plain import above, so a
        # missing or broken one fails the import, never serves with the checks off
        self._rejection_cls = Rejection
        self._guard: HostOriginGuard | None = HostOriginGuard(
            bind_host=s.bind_host, allowed_hosts=s.allowed_hosts, allowed_origins=s.allowed_origins,
            enabled=s.dns_rebinding_protection)
        self._auth = s.auth
        self._well_known: dict[str, bytes] = dict(s.auth.well_known()) if s.auth is not None else {}
        # metrics: plain ints on the hot path, copied into the registry when scraped
        self.metrics = Registry()
        #: whether responses are counted (``metrics_path`` is set); read by exchanges on the hot path
        self.metrics_on = s.metrics_path is not None
        self._responses: dict[tuple[str, int], int] = {}
        self.stats = {"sessions_created": 0, "sessions_expired": 0, "sessions_deleted": 0,
                      "sessions_refused": 0, "unsolicited_dropped": 0, "sse_open": 0}

    # ================================================================== life

    def _share_sessions(self) -> None:
        """Share the legacy sessions when a shared store is there: ``settings.store``, else the
        dispatcher's (``MCPServer(store=...)`` attaches it when the server starts, so this runs
        again in ``startup``). Once: the sessions held so far stay this process's."""
        s = self.settings
        if self.shared is not None or s.stateless or self.table.sessions:
            return
        store = s.store if s.store is not None and not isinstance(s.store, str) else getattr(
            self.dispatcher, "store", None)
        if store is None or getattr(store, "shared", False) is not True:
            return
        self.shared = shared = SharedSessions(store, self, ttl=s.session_ttl)
        if s.event_store is None:
            self.store = shared.events  # replay on any process
        self.table.on_sweep = self._swept

    async def startup(self) -> None:
        """Enter ``settings.lifespan`` (once) and start the session sweep."""
        if self._started:
            return
        self._started = True
        self._loop = loop = asyncio.get_running_loop()
        lifespan = self.settings.lifespan
        if lifespan is not None:
            cm = lifespan()
            await cm.__aenter__()
            self._lifespan_cm = cm
        self.table.start(loop)
        self._share_sessions()  # (a store the lifespan attached)
        if self.shared is not None:
            try:
                await self.shared.start()
            except StoreUnavailable as exc:  # the first request that needs it tries again
                log.warning("the session store is unavailable at startup (%s); sessions need it", exc)

    async def shutdown(self) -> None:
        """Stop taking requests, let those in flight finish (``settings.shutdown_grace``), then
        cancel the rest (each still answered), end every stream and session, exit the lifespan."""
        if self._closing:
            return
        self._closing = True
        self.table.stop()
        close_listeners = getattr(self.dispatcher, "close_listeners", None)
        if callable(close_listeners):
            close_listeners()  # listen streams end gracefully, with their final result
        peers = [s.peer for s in self.table.sessions.values()]
        peers += [ex.peer for ex in self.inflight if ex.peer is not None]
        busy = [p for p in peers if p.in_flight]
        if busy:
            # each peer lets its handlers finish within the grace, then cancels the rest (answered
            # -32000 "the server is shutting down"); the peers wait side by side, and a handler
            # that ignores its cancellation holds the shutdown one second at most
            grace = self.settings.shutdown_grace
            await asyncio.wait([asyncio.ensure_future(p.drain(grace)) for p in busy], timeout=grace + 1.0)
        for session in list(self.table.sessions.values()):
            self._end_session(session)  # here: other processes serve on (a shared store)
        for ex in list(self.inflight):
            ex.abort("Request cancelled: the server is shutting down")
        self.inflight.clear()
        if self.shared is not None:
            await self.shared.stop()
        cm, self._lifespan_cm = self._lifespan_cm, None
        if cm is not None:
            await cm.__aexit__(None, None, None)

    # ================================================================== entry points

    def reject_too_large(self, responder: Responder) -> None:
        """Answer a request whose body grew past ``settings.max_body`` (413; the front end
        closes the connection after it)."""
        limit = self.settings.max_body
        body = _encode_error(None, INVALID_REQUEST, f"Request body too large: more than {limit} bytes"
                             " (raise HTTPSettings.max_body to accept larger requests)")
        responder.respond(413, [("content-type", "application/json"), ("connection", "close")], body)
        self.count_response("POST", 413)

    def handle(self, request: HTTPRequest, responder: Responder) -> None:
        """Answer one HTTP request (now, or later through ``responder``). Never raises."""
        try:
            path = request.path
            if path != self._path and path != self._path_slash:
                self._other(request, responder)
                return
            headers = request.headers
            guard = self._guard
            if guard is not None:
                rejection = guard.check(headers.get("host"), headers.get("origin"))
                if rejection is not None:
                    self._reject(responder, rejection, request.method)
                    return
            auth = self._auth
            if auth is None:
                if request.method == "POST" and not self._closing:
                    self._post(request, responder, None)  # _mcp's first branch, one call less
                else:
                    self._mcp(request, responder, None)
                return
            res = auth.authenticate(headers.get("authorization"))
            if type(res) is self._rejection_cls:
                self._reject(responder, res, request.method)
            elif res is None:  # never fail open: an authenticator must decide
                log.error("%r.authenticate() returned None (expected an AccessToken or a Rejection)", auth)
                self._error(responder, 500, INTERNAL_ERROR, "Internal error: the credentials could not be checked",
                            method=request.method)
            elif hasattr(res, "__await__"):
                asyncio.ensure_future(self._authenticated(request, responder, res))
            else:
                self._mcp(request, responder, res)
        except Exception:  # noqa: BLE001 - the front end must never see an exception
            self._crashed(request, responder)

    def _crashed(self, request: HTTPRequest, responder: Responder) -> None:
        log.exception("handling %s %s failed", request.method, request.path)
        if not responder.closed:
            try:
                responder.respond(500, JSON_HEADERS, _encode_error(None, INTERNAL_ERROR, "Internal error"))
            except Exception:  # noqa: BLE001 - it had already answered, or is gone
                log.debug("could not send the 500 answer", exc_info=True)

    async def _authenticated(self, request: HTTPRequest, responder: Responder, pending: Any) -> None:
        try:
            res = await pending
        except Exception:  # noqa: BLE001 - a verifier failure is a server fault, not a pass
            log.exception("authentication failed")
            res = None
        try:
            if responder.closed:
                return
            if res is None:
                self._error(responder, 500, INTERNAL_ERROR, "Internal error: the credentials could not be checked",
                            method=request.method)
            elif type(res) is self._rejection_cls:
                self._reject(responder, res, request.method)
            else:
                self._mcp(request, responder, res)
        except Exception:  # noqa: BLE001
            self._crashed(request, responder)

    # ================================================================== answers

    def count_response(self, method: str, status: int) -> None:
        """Count one response for the metrics (a no-op unless ``metrics_path`` is set)."""
        if self.metrics_on:
            key = (method, status)
            self._responses[key] = self._responses.get(key, 0) + 1

    def _send(self, responder: Responder, status: int, headers: list[tuple[str, str]], body: bytes,
              method: str = "POST") -> None:
        responder.respond(status, headers, body)
        if self.metrics_on:
            self.count_response(method, status)

    def _error(self, responder: Responder, status: int, code: int, message: str, rid: Any = None, data: Any = None,
               headers: list[tuple[str, str]] | None = None, method: str = "POST") -> None:
        body = _encode_error(rid, code, message, data)
        self._send(responder, status, JSON_HEADERS if headers is None else headers, body, method)

    def _reject(self, responder: Responder, rejection: Any, method: str) -> None:
        headers = list(rejection.headers)
        if not any(k.lower() == "content-type" for k, _ in headers) and rejection.body:
            headers.insert(0, ("content-type", "application/json"))
        self._send(responder, rejection.status, headers, rejection.body, method)

    def _not_allowed(self, responder: Responder, allow: str, method: str, why: str) -> None:
        self._error(responder, 405, INVALID_REQUEST, f"Method Not Allowed: {why}",
                    headers=[("content-type", "application/json"), ("allow", allow)], method=method)

    # ================================================================== routes

    def _other(self, request: HTTPRequest, responder: Responder) -> None:
        path = request.path
        method = request.method
        s = self.settings
        if path in self._well_known or path == s.metrics_path:
            guard = self._guard
            if guard is not None:
                rejection = guard.check(request.headers.get("host"), request.headers.get("origin"))
                if rejection is not None:
                    self._reject(responder, rejection, method)
                    return
            if method != "GET" and method != "HEAD":
                self._not_allowed(responder, "GET, HEAD", method, f"{path} is read-only")
                return
            if path == s.metrics_path:
                # the metrics name the tools and count their use: behind the endpoint's own
                # authentication when it has one (the well-known metadata stays public)
                auth = self._auth
                if auth is not None:
                    res = auth.authenticate(request.headers.get("authorization"))
                    if hasattr(res, "__await__"):
                        asyncio.ensure_future(self._metrics_authenticated(responder, res, method))
                    elif self._metrics_allowed(responder, res, method):
                        self._send_metrics(responder, method)
                    return
                self._send_metrics(responder, method)
                return
            self._send(responder, 200, [("content-type", "application/json"), ("cache-control", "no-store")],
                       b"" if method == "HEAD" else self._well_known[path], method)
            return
        self._error(responder, 404, INVALID_REQUEST, f"Not Found: the MCP endpoint is {s.path}", method=method)

    def _send_metrics(self, responder: Responder, method: str) -> None:
        body = self.metrics_text().encode()
        self._send(responder, 200, [("content-type", "text/plain; version=0.0.4; charset=utf-8"),
                                    ("cache-control", "no-store")], b"" if method == "HEAD" else body, method)

    def _metrics_allowed(self, responder: Responder, res: Any, method: str) -> bool:
        """Whether an authenticator's answer lets a scrape through (else it is answered)."""
        if type(res) is self._rejection_cls:
            self._reject(responder, res, method)
            return False
        if res is None:  # never fail open
            self._error(responder, 500, INTERNAL_ERROR, "Internal error: the credentials could not be checked",
                        method=method)
            return False
        return True

    async def _metrics_authenticated(self, responder: Responder, pending: Any, method: str) -> None:
        try:
            res = await pending
        except Exception:  # noqa: BLE001 - a verifier failure is a server fault, not a pass
            log.exception("authentication failed")
            res = None
        if not responder.closed and self._metrics_allowed(responder, res, method):
            self._send_metrics(responder, method)

    def _mcp(self, request: HTTPRequest, responder: Responder, token: Any) -> None:
        method = request.method
        if self._closing:
            self._error(responder, 503, INTERNAL_ERROR, "Service Unavailable: the server is shutting down",
                        method=method)
            return
        if method == "POST":
            self._post(request, responder, token)
        elif method == "GET":
            self._get(request, responder, token)
        elif method == "DELETE":
            self._delete(request, responder, token)
        elif self.settings.stateless:
            self._not_allowed(responder, "POST", method, f"{method} is not supported at this endpoint")
        else:
            self._not_allowed(responder, "GET, POST, DELETE", method, f"{method} is not supported at this endpoint")

    # ================================================================== POST

    def _post(self, request: HTTPRequest, responder: Responder, token: Any) -> None:
        headers = request.headers
        ctype = headers.get("content-type")
        if ctype != "application/json" and not _is_json(ctype):
            self._error(responder, 415, INVALID_REQUEST,
                        "Unsupported Media Type: Content-Type must be application/json")
            return
        accept = headers.get("accept")
        if accept != _STD_ACCEPT:
            has_json, has_sse = _accepts(accept)
            if not has_json or not (has_sse or self.settings.json_response):
                self._error(responder, 406, INVALID_REQUEST,
                            "Not Acceptable: the client must accept both application/json and text/event-stream"
                            if not self.settings.json_response else
                            "Not Acceptable: the client must accept application/json")
                return
        try:
            msg = _decode(request.body)
        except JSONRPCError as exc:
            code = exc.code if exc.code in (PARSE_ERROR, INVALID_REQUEST) else INVALID_REQUEST
            self._error(responder, 400, code, exc.message, rid=exc.id)
            return
        pv = headers.get("mcp-protocol-version")
        if pv is not None and pv not in _HANDSHAKE:
            if pv in self._modern_versions or "mcp-session-id" not in headers:
                self._modern(request, responder, msg, token)
                return
            self._error(responder, 400, INVALID_REQUEST,
                        f"Bad Request: unsupported MCP-Protocol-Version {pv!r}; this server speaks "
                        f"{', '.join(HANDSHAKE_PROTOCOL_VERSIONS + tuple(sorted(self._modern_versions)))}")
            return
        if not self._stateless:
            sid = headers.get("mcp-session-id")
            if sid is not None:
                session = self._sessions.get(sid)
                if session is not None and session.owner is None:
                    session.tick = self.table.tick  # _session's common case, inline
                else:
                    session = self._session(sid, responder, token, "POST", request, msg)
                if session is not None:
                    self._post_session(request, responder, session, msg, token)
                return
        t = type(msg)
        if t is _Request:
            assert isinstance(msg, _Request)
            if msg.method == "initialize" and not self.settings.stateless:
                self._initialize(request, responder, msg, token)
                return
            params = msg.params
            if type(params) is dict:
                meta = params.get("_meta")
                if type(meta) is dict and PROTOCOL_VERSION_KEY in meta:
                    self._modern(request, responder, msg, token)  # the header is what is missing
                    return
        if self.settings.stateless:
            self._post_stateless(request, responder, msg, token, pv)
            return
        self._error(responder, 400, INVALID_REQUEST,
                    "Bad Request: missing Mcp-Session-Id header (send initialize first to open a session,"
                    " or use the 2026-07-28 per-request envelope)")

    def _call(self, peer: Any, msg: Any, ex: Exchange, request: HTTPRequest, token: Any) -> None:
        """Run one request whose answer belongs to ``ex`` (the hot path: ``peer.call`` with the
        exchange as the reply sink), with the request variables set around it."""
        t1 = _set_request(request)
        t2 = _set_control(ex)
        if token is None:
            try:
                peer.call(msg, ex.answer)
            finally:
                _reset_control(t2)
                _reset_request(t1)
            return
        t3 = access_token.set(token)
        try:
            peer.call(msg, ex.answer)
        finally:
            access_token.reset(t3)
            _reset_control(t2)
            _reset_request(t1)

    def _dispatch(self, peer: Any, msg: Any, ex: Any, request: HTTPRequest, token: Any) -> None:
        """Feed one message that gets no answer (a notification, a response) to ``peer``."""
        t1 = _set_request(request)
        t2 = _set_control(ex)
        if token is None:
            try:
                peer.feed([msg])
            finally:
                _reset_control(t2)
                _reset_request(t1)
            return
        t3 = access_token.set(token)
        try:
            peer.feed([msg])
        finally:
            access_token.reset(t3)
            _reset_control(t2)
            _reset_request(t1)

    # ------------------------------------------------------------------ 2026-07-28

    def _modern(self, request: HTTPRequest, responder: Responder, msg: Any, token: Any) -> None:
        headers = request.headers
        t = type(msg)
        if t is _Notification:
            pv = headers.get("mcp-protocol-version")
            if pv not in self._modern_versions:
                self._unsupported(responder, pv, None)
                return
            # no client->server notification means anything on this wire (cancelling is closing
            # the stream): acknowledged and dropped, as the official SDKs do
            self._send(responder, 202, _EMPTY, b"")
            return
        if t is not _Request:
            self._error(responder, 400, INVALID_REQUEST,
                        "Bad Request: the body must be a single JSON-RPC request or notification object"
                        " (2026-07-28 has no batches, and clients send no responses)")
            return
        rid = msg.id
        method = msg.method
        params = msg.params
        meta = params.get("_meta") if type(params) is dict else None
        if type(meta) is not dict:
            self._error(responder, 400, INVALID_PARAMS,
                        f"params._meta must be an object carrying {PROTOCOL_VERSION_KEY!r} and"
                        f" {CLIENT_CAPABILITIES_KEY!r}", rid=rid,
                        data={"missing": [PROTOCOL_VERSION_KEY, CLIENT_CAPABILITIES_KEY]})
            return
        if PROTOCOL_VERSION_KEY not in meta or CLIENT_CAPABILITIES_KEY not in meta:
            missing = [k for k in (PROTOCOL_VERSION_KEY, CLIENT_CAPABILITIES_KEY) if k not in meta]
            self._error(responder, 400, INVALID_PARAMS,
                        f"params._meta is missing the required key(s): {', '.join(missing)}", rid=rid,
                        data={"missing": missing})
            return
        version = meta[PROTOCOL_VERSION_KEY]
        problem = check_routing_headers(headers, method, params, version)
        if problem is not None:
            self._error(responder, 400, HEADER_MISMATCH, problem, rid=rid)
            return
        if version not in self._modern_versions:
            if type(version) is not str:
                self._error(responder, 400, INVALID_PARAMS, "params._meta protocolVersion must be a string", rid=rid)
            else:
                self._unsupported(responder, version, rid)
            return
        json_only = self._json_response
        if method == "tools/call":
            problem = self._check_params(params, headers)
            if problem is not None:
                self._error(responder, 400, HEADER_MISMATCH, problem, rid=rid)
                return
        elif method == "subscriptions/listen":
            if headers.get("accept") != _STD_ACCEPT and not _accepts(headers.get("accept"))[1]:
                self._error(responder, 406, INVALID_REQUEST,
                            "Not Acceptable: subscriptions/listen answers with an event stream; accept"
                            " text/event-stream", rid=rid)
                return
            json_only = False
        ex = Exchange(self, responder, rid, None, None, True, json_only)
        ex.peer = peer = ModernPeer(self.dispatcher, ex, self._timeout, self._max_in_flight, self._loop)
        self._call(peer, msg, ex, request, token)

    def _unsupported(self, responder: Responder, version: Any, rid: Any) -> None:
        supported = sorted(self._modern_versions)
        self._error(responder, 400, UNSUPPORTED_PROTOCOL_VERSION,
                    f"Unsupported protocol version {version!r}; this server supports {', '.join(supported)}",
                    rid=rid, data={"supported": supported, "requested": version})

    def _check_params(self, params: dict[str, Any], headers: dict[str, str]) -> str | None:
        tools = self._tools
        name = params.get("name")
        if tools is None or type(name) is not str:
            return None
        tool = tools.get(name)
        if tool is None:
            return None  # the dispatcher says the tool is unknown
        cached = self._param_specs.get(name)
        if cached is None or cached[0] is not tool:
            entry = getattr(tool, "entry", tool)
            schema = entry.get("inputSchema") if type(entry) is dict else None
            if len(self._param_specs) > 4 * len(tools) + 16:
                self._param_specs.clear()  # tools removed since: forget them
            cached = self._param_specs[name] = (tool, param_spec(schema))
        spec = cached[1]
        if not spec:
            return None
        return check_param_headers(spec, params.get("arguments") or {}, headers)

    # ------------------------------------------------------------------ legacy, sessionless

    def _post_stateless(self, request: HTTPRequest, responder: Responder, msg: Any, token: Any,
                        pv: str | None) -> None:
        t = type(msg)
        if t is not _Request:
            if t is _Notification or t is _Response or t is _ErrorResponse:
                self._send(responder, 202, _EMPTY, b"")
            else:
                self._error(responder, 400, INVALID_REQUEST,
                            "Bad Request: JSON-RPC batches are not supported over Streamable HTTP")
            return
        ex = Exchange(self, responder, msg.id, None, None, False, self.settings.json_response)
        ex.peer = peer = ModernPeer(self.dispatcher, ex, self._timeout, self._max_in_flight, self._loop)
        initialize = msg.method == "initialize"
        if not initialize and self._sessionless_state is not None:
            # born ready: the version from the header (the spec's default without one), no
            # declared client capabilities (there is no initialize to declare them in)
            peer.state = self._sessionless_state(pv or _DEFAULT_LEGACY_VERSION)
        self._call(peer, msg, ex, request, token)
        if initialize:
            # the dispatcher counted a session for this throwaway peer: forget it
            on_close = getattr(self.dispatcher, "on_close", None)
            if on_close is not None:
                on_close(peer, None)

    # ------------------------------------------------------------------ legacy sessions

    def _session(self, sid: str, responder: Responder, token: Any, method: str, request: HTTPRequest | None = None,
                 msg: Any = None) -> Session | None:
        session = self._sessions.get(sid)
        if session is None and request is not None and self.shared is not None:
            # perhaps another process's: load it, then serve the request again (or 404)
            self.shared.spawn(self._fetch_session(sid, request, responder, token, method, msg))
            return None
        if session is None or (session.owner is not None and session.owner != _identity(token)):
            self._error(responder, 404, INVALID_REQUEST,
                        "Not Found: unknown or expired session (Mcp-Session-Id); send initialize to open a new one",
                        method=method)
            return None
        session.tick = self.table.tick
        return session

    def _initialize(self, request: HTTPRequest, responder: Responder, msg: Any, token: Any) -> None:
        table = self.table
        owner = _identity(token) if self._auth is not None else None
        client = owner if owner is not None else (request.client[0] if request.client else None)
        refusal = table.admit(client)
        if refusal is not None:
            self.stats["sessions_refused"] += 1
            refused = metrics_of(self.dispatcher)
            if refused is not None:
                refused.refuse("max_sessions")
            self._error(responder, 503, SERVER_OVERLOADED, refusal, rid=msg.id)
            return
        peer = SessionPeer(self.dispatcher, self, self._timeout, self._max_in_flight, self._loop,
                           self.shared.id_base if self.shared is not None else 0)
        session = Session(new_session_id(), peer, table.tick, owner, client)
        peer.session = session
        ex = InitExchange(self, responder, msg.id, peer, session, False, self.settings.json_response)
        self._call(peer, msg, ex, request, token)

    def register_session(self, session: Session) -> None:
        """An ``initialize`` succeeded: its session's id is served from now on."""
        table = self.table
        table.sessions[session.id] = session
        self.stats["sessions_created"] += 1
        if not table.running and not self._closing:
            table.start(asyncio.get_running_loop())  # used without startup(): expire sessions anyway

    def discard_session(self, session: Session) -> None:
        """An ``initialize`` failed: nothing was established."""
        if self.table.sessions.get(session.id) is session:
            del self.table.sessions[session.id]
        session.closed = True
        session.peer.connection_lost(None)

    def _post_session(self, request: HTTPRequest, responder: Responder, session: Session, msg: Any,
                      token: Any) -> None:
        peer = session.peer
        t = type(msg)
        if t is _Request:
            rid = msg.id
            in_flight = peer.in_flight
            if in_flight:
                if peer.has_in_flight(rid):
                    self._error(responder, 409, INVALID_REQUEST,
                                f"Request id {rid!r} is already in use by a request in flight in this session",
                                rid=rid)
                    return
                if in_flight >= peer.max_in_flight:
                    self._error(responder, 503, SERVER_OVERLOADED,
                                f"Server overloaded: {in_flight} requests in flight in this session"
                                f" (limit HTTPSettings.max_in_flight={peer.max_in_flight}); retry later", rid=rid)
                    return
            ex: Exchange
            if self.shared is not None and msg.method in self._changing:
                ex = SavingExchange(self, responder, rid, peer, session, False, self._json_response)
            else:
                ex = Exchange(self, responder, rid, peer, session, False, self._json_response)
            self._call(peer, msg, ex, request, token)
            return
        if t is _Notification or t is _Response or t is _ErrorResponse:
            shared = self.shared
            if shared is not None:
                if t is not _Notification and not shared.owns(msg.id):
                    shared.forward_response(session.id, msg.id, request.body)  # the sender is elsewhere
                    self._send(responder, 202, _EMPTY, b"")
                    return
                if t is _Notification and msg.method in self._changing:
                    self._dispatch(peer, msg, None, request, token)
                    shared.spawn(self._save_then_accept(session, responder))
                    return
            self._dispatch(peer, msg, None, request, token)
            self._send(responder, 202, _EMPTY, b"")
            return
        if self.dispatcher.on_batch(peer, msg):
            self._post_batch(request, responder, session, msg, token)
            if self.shared is not None and any(getattr(m, "method", None) in self._changing for m in msg):
                self.shared.spawn(self._save(session))
            return
        self._error(responder, 400, INVALID_REQUEST,
                    "Bad Request: JSON-RPC batches exist only in MCP 2025-03-26; send one message per POST")

    def _post_batch(self, request: HTTPRequest, responder: Responder, session: Session, batch: Any,
                    token: Any) -> None:
        peer = session.peer
        parent = BatchExchange(self, responder, session, self.settings.json_response)
        requests = [m for m in batch if type(m) is _Request]
        parent.waiting = sum(1 for m in batch if type(m) is _Request or isinstance(m, JSONRPCError))
        if parent.waiting == 0:
            for m in batch:
                self._dispatch(peer, m, None, request, token)
            self._send(responder, 202, _EMPTY, b"")
            return
        ids = [m.id for m in requests]
        for m in batch:
            t = type(m)
            if t is _Request:
                rid = m.id
                if peer.has_in_flight(rid) or ids.count(rid) > 1:
                    parent.collect(_encode_error(rid, INVALID_REQUEST, f"Request id {rid!r} is already in use"))
                    continue
                if peer.in_flight >= peer.max_in_flight:
                    parent.collect(_encode_error(rid, SERVER_OVERLOADED, "Server overloaded; retry later"))
                    continue
                self._call(peer, m, BatchPart(parent, rid), request, token)
            elif isinstance(m, JSONRPCError):
                parent.collect(_encode_error(m.id, m.code, m.message, m.data))
            else:
                self._dispatch(peer, m, None, request, token)

    # ================================================================== GET

    def _get(self, request: HTTPRequest, responder: Responder, token: Any) -> None:
        headers = request.headers
        pv = headers.get("mcp-protocol-version")
        if self.settings.stateless or (pv is not None and pv in self._modern_versions):
            self._not_allowed(responder, "POST", "GET", "this endpoint has no server-to-client stream"
                              " (2026-07-28 and sessionless requests use subscriptions/listen)")
            return
        if not _accepts(headers.get("accept"))[1]:
            self._error(responder, 406, INVALID_REQUEST, "Not Acceptable: the client must accept text/event-stream",
                        method="GET")
            return
        sid = headers.get("mcp-session-id")
        if sid is None:
            self._error(responder, 400, INVALID_REQUEST, "Bad Request: missing Mcp-Session-Id header", method="GET")
            return
        session = self._session(sid, responder, token, "GET", request)
        if session is None:
            return
        last = headers.get("last-event-id")
        if last:
            self._resume(session, responder, last)
            return
        if session.get is not None:
            self._error(responder, 409, INVALID_REQUEST,
                        "Conflict: this session already has its GET stream open (one per session)", method="GET")
            return
        self._open_get(session, responder, [])

    def _open_get(self, session: Session, responder: Responder, replay: list[tuple[str, bytes]]) -> None:
        if self.shared is not None:
            self.shared.spawn(self._open_shared_get(session, responder, replay))
            return
        self._open_get_now(session, responder, replay)

    def _open_get_now(self, session: Session, responder: Responder, replay: list[tuple[str, bytes]]) -> None:
        g = GetStream(self, session, responder)
        session.get = g
        session.get_opened = True
        g.open(replay)

    def _resume(self, session: Session, responder: Responder, last: str) -> None:
        store = self.store
        if self.shared is not None and store is self.shared.events:
            self.shared.spawn(self._resume_shared(session, responder, last))
            return
        self._resumed(session, responder, store.replay_after(last) if store is not None else None)

    def _resumed(self, session: Session, responder: Responder,
                 found: tuple[str, list[tuple[str, bytes]]] | None) -> None:
        store = self.store
        if found is not None and not found[0].startswith(session.id + "."):
            found = None  # never another session's events
        if found is None:
            # an id we no longer know: the best we can offer is a fresh GET stream
            if session.get is not None:
                self._error(responder, 409, INVALID_REQUEST,
                            "Conflict: unknown Last-Event-ID, and this session's GET stream is already open",
                            method="GET")
                return
            self._open_get(session, responder, [])
            return
        stream_id, events = found
        if stream_id == f"{session.id}.0":
            if session.get is not None:
                session.get.close()  # the client reconnected: the old connection is stale
            self._open_get(session, responder, events)
            return
        # a POST stream: the rest of that request's messages, its response included
        responder.start(200, SSE_HEADERS)
        self.count_response("GET", 200)
        for eid, data in events:
            responder.write(encode_sse(data, event="message", id=eid))
        ex = session.live.get(stream_id) if session.live is not None else None
        if ex is None:
            responder.end()  # the request is over: its response was among the events
            return
        if store is not None and session.protocol_version >= "2025-11-25":
            responder.write(encode_sse(b"", id=store.store_event(stream_id, b""), retry=self.settings.sse_retry_ms))
        ex.attach(responder)

    # ================================================================== DELETE

    def _delete(self, request: HTTPRequest, responder: Responder, token: Any) -> None:
        headers = request.headers
        pv = headers.get("mcp-protocol-version")
        if self.settings.stateless or (pv is not None and pv in self._modern_versions):
            self._not_allowed(responder, "POST", "DELETE", "there are no sessions to end at this endpoint")
            return
        sid = headers.get("mcp-session-id")
        if sid is None:
            self._error(responder, 400, INVALID_REQUEST, "Bad Request: missing Mcp-Session-Id header",
                        method="DELETE")
            return
        session = self._session(sid, responder, token, "DELETE", request)
        if session is None:
            return
        if self.shared is not None:
            self.shared.spawn(self._delete_shared(session, responder))
            return
        self._end_session(session)
        self.stats["sessions_deleted"] += 1
        self._send(responder, 200, _EMPTY, b"", "DELETE")

    # ================================================================== session ends

    def _expire(self, session: Session) -> None:
        self.stats["sessions_expired"] += 1
        self._end_session(session)

    def _end_session(self, session: Session) -> None:
        """Forget a session: its id answers 404 from now on; its streams end; handlers still
        running are cancelled (their POSTs answered 503, or their streams ended)."""
        if session.closed:
            return
        session.closed = True
        if self.table.sessions.get(session.id) is session:
            del self.table.sessions[session.id]
        if session.get is not None:
            session.get.close()
        peer = session.peer
        for ex in list(peer.exchanges.values()):
            ex.abort("Request cancelled: the session ended")
        peer.exchanges.clear()
        if session.live:
            for ex in list(session.live.values()):
                ex.abort("Request cancelled: the session ended")
        session.live = None
        peer.connection_lost(None)
        peer.session = None  # no cycle left between the peer and the session
        if self.store is not None and self.shared is None:  # (shared: only a DELETE forgets them)
            self.store.forget_session(session.id)

    def unsolicited(self, session: Session, data: bytes) -> None:
        """A message of a session's peer that belongs to no request: the GET stream, or the
        event store while the stream is down (when the client knows an id to resume from)."""
        g = session.get
        if g is not None:
            g.send(data)
        elif self.shared is not None:
            if not session.closed:
                # to the process holding the GET stream (a change the dispatcher delivers on every
                # process through its own shared store is that process's to send)
                changes_shared = getattr(getattr(self.dispatcher, "store", None), "shared", False) is True
                self.shared.forward(session.id, data, changes_shared)
        elif session.get_opened and self.store is not None and not session.closed:
            self.store.store_event(f"{session.id}.0", data)
        else:
            self.stats["unsolicited_dropped"] += 1

    def sse_opened(self) -> None:
        """An event stream opened (counted for the ``mcp_http_sse_streams`` gauge)."""
        self.stats["sse_open"] += 1

    def sse_closed(self) -> None:
        """An event stream ended."""
        self.stats["sse_open"] -= 1

    # ================================================================== shared sessions
    # (only with a shared store: ``self.shared`` is set; see cluster.py)

    def _store_down(self, responder: Responder, exc: BaseException, rid: Any = None, method: str = "POST") -> None:
        """Answer a request that needed the session store while it is down: 503, and a body
        that says so (the client retries; the store's own timeouts make this quick)."""
        if responder.closed:
            return
        self._error(responder, 503, INTERNAL_ERROR,
                    f"Service Unavailable: the session store is unavailable ({exc}); retry later",
                    rid=rid, data={"reason": "session store unavailable"}, method=method)

    async def _fetch_session(self, sid: str, request: HTTPRequest, responder: Responder, token: Any, method: str,
                             msg: Any) -> None:
        assert self.shared is not None
        rid = msg.id if type(msg) is _Request else None
        try:
            record = await self.shared.fetch(sid)
        except StoreUnavailable as exc:
            self._store_down(responder, exc, rid, method)
            return
        if responder.closed:
            return
        try:
            if record is not None and self._sessions.get(sid) is None:
                refusal = self.adopt_session(sid, record)
                if refusal is not None:
                    self._error(responder, 503, SERVER_OVERLOADED, refusal, rid=rid, method=method)
                    return
            if self._sessions.get(sid) is None:
                self._session(sid, responder, token, method)  # answers 404
            else:
                self._mcp(request, responder, token)
        except Exception:  # noqa: BLE001 - as handle(): the front end never sees it
            self._crashed(request, responder)

    def adopt_session(self, sid: str, record: dict[str, Any]) -> str | None:
        """Serve here the session another process opened, from its stored ``record``
        (``SharedSessions.record_of``): a peer of its own, the dispatcher's state restored.
        None when done, else why not (the table is full of busy sessions)."""
        owner = record.get("owner")
        client = record.get("client")
        owner = tuple(owner) if type(owner) is list else owner
        client = tuple(client) if type(client) is list else client
        refusal = self.table.admit(client)
        if refusal is not None:
            return refusal
        assert self.shared is not None
        peer = SessionPeer(self.dispatcher, self, self._timeout, self._max_in_flight, self._loop, self.shared.id_base)
        restore = getattr(self.dispatcher, "restore_session", None)
        if restore is not None:
            restore(peer, record.get("state") or {})
        session = Session(sid, peer, self.table.tick, owner, client)
        peer.session = session
        self.table.sessions[sid] = session
        if not self.table.running and not self._closing:
            self.table.start(asyncio.get_running_loop())
        return None

    def _state_of(self, session: Session) -> dict[str, Any] | None:
        record = getattr(self.dispatcher, "session_record", None)
        return record(session.peer) if record is not None else None

    def share_new_session(self, ex: InitExchange, data: bytes) -> None:
        """An ``initialize`` succeeded on a shared front: write the record, then answer."""
        assert self.shared is not None
        self.shared.spawn(self._share_new(ex, data))

    async def _share_new(self, ex: InitExchange, data: bytes) -> None:
        session = ex.session
        assert session is not None and self.shared is not None
        try:
            await self.shared.create(session, self._state_of(session))
        except StoreUnavailable as exc:
            ex.refuse(503, _encode_error(ex.rid, INTERNAL_ERROR,
                                         f"Service Unavailable: the session store is unavailable ({exc}); retry later",
                                         {"reason": "session store unavailable"}))
            return
        ex.complete(data, None)

    async def _save(self, session: Session) -> None:
        assert self.shared is not None
        if not session.closed:
            await self.shared.save(session, self._state_of(session))

    def save_session_then(self, ex: SavingExchange, data: bytes) -> None:
        """A request changed its shared session's state: write it back, then answer."""
        assert self.shared is not None
        self.shared.spawn(self._save_then_answer(ex, data))

    async def _save_then_answer(self, ex: SavingExchange, data: bytes) -> None:
        session = ex.session
        assert session is not None
        if ex.streaming:  # the handler streamed first: answer at once, save behind
            ex.complete(data, None)
            await self._save(session)
            return
        try:
            await self._save(session)
        except StoreUnavailable as exc:
            ex.complete(_encode_error(ex.rid, INTERNAL_ERROR,
                                      f"Service Unavailable: the session store is unavailable ({exc}); the change"
                                      " may not reach the other server processes; retry",
                                      {"reason": "session store unavailable"}), INTERNAL_ERROR)
            return
        ex.complete(data, None)

    async def _save_then_accept(self, session: Session, responder: Responder) -> None:
        try:
            await self._save(session)
        except StoreUnavailable as exc:
            self._store_down(responder, exc)
            return
        if not responder.closed:
            self._send(responder, 202, _EMPTY, b"")

    async def _open_shared_get(self, session: Session, responder: Responder, replay: list[tuple[str, bytes]]) -> None:
        assert self.shared is not None
        try:
            await self.shared.hold_get(session.id)  # subscribed before the client sees the stream
        except StoreUnavailable as exc:
            self._store_down(responder, exc, method="GET")
            return
        if responder.closed or session.closed:
            if not responder.closed:
                self._session(session.id, responder, None, "GET")  # ended meanwhile: 404
            return
        if session.get is not None:
            session.get.close()  # two GETs raced: the later one wins, as on a reconnect
        self._open_get_now(session, responder, replay)

    async def _resume_shared(self, session: Session, responder: Responder, last: str) -> None:
        assert self.shared is not None
        try:
            found = await self.shared.replay(session.id, last)
        except StoreUnavailable as exc:
            self._store_down(responder, exc, method="GET")
            return
        if not responder.closed:
            self._resumed(session, responder, found)

    async def _delete_shared(self, session: Session, responder: Responder) -> None:
        assert self.shared is not None
        try:
            await self.shared.end(session.id)
        except StoreUnavailable as exc:
            self._store_down(responder, exc, method="DELETE")
            return
        self._end_session(session)
        self.stats["sessions_deleted"] += 1
        if not responder.closed:
            self._send(responder, 200, _EMPTY, b"", "DELETE")

    def _swept(self, used: list[Session]) -> None:
        """The sweep ran: push back the shared expiry of the sessions used since the last one."""
        if self.shared is not None and used:
            self.shared.spawn(self.shared.refresh([s.id for s in used]))

    # public seams of SharedSessions (cluster.py)

    def local_sessions(self) -> list[str]:
        """Ids of the sessions this process holds now."""
        return list(self._sessions)

    def end_local_session(self, sid: str) -> None:
        """Another process ended session ``sid`` (DELETE, expiry): stop serving it here."""
        session = self._sessions.get(sid)
        if session is not None:
            self._end_session(session)

    def update_local_session(self, sid: str, state: dict[str, Any]) -> None:
        """Another process changed session ``sid``'s state: take it on here."""
        session = self._sessions.get(sid)
        update = getattr(self.dispatcher, "update_session", None)
        if session is not None and update is not None:
            update(session.peer, state)

    def deliver_unsolicited(self, sid: str, data: bytes) -> bool:
        """A message of session ``sid`` for its GET stream, forwarded by another process: sent
        if the stream is open here (True), else False."""
        session = self._sessions.get(sid)
        if session is None or session.get is None:
            return False
        session.get.send(data)
        return True

    def close_get_stream(self, sid: str) -> None:
        """End session ``sid``'s GET stream here, if open (the client opened one elsewhere, or
        messages may have been missed: it resumes with ``Last-Event-ID``)."""
        session = self._sessions.get(sid)
        if session is not None and session.get is not None:
            session.get.close()

    def feed_response(self, sid: str, body: bytes) -> None:
        """A client's answer to a server->client request this process sent, POSTed to another."""
        session = self._sessions.get(sid)
        if session is None:
            return
        try:
            msg = _decode(body)
        except JSONRPCError:
            log.debug("a forwarded response of session %s... is malformed", sid[:8])
            return
        session.peer.feed([msg])

    # ================================================================== metrics

    def metrics_text(self) -> str:
        """What ``metrics_path`` serves: the dispatcher's metrics (``mcpfast.metrics``, when it
        keeps them) and this endpoint's HTTP counters, as Prometheus text."""
        server = metrics_of(self.dispatcher)
        return (server.text() if server is not None else "") + self.http_metrics_text()

    def http_metrics_text(self) -> str:
        """The Prometheus text of this endpoint's own counters (responses, sessions, streams)."""
        reg = self.metrics
        fam = reg.family("counter", "mcp_http_responses_total", "HTTP responses by method and status",
                         ("method", "status"))
        for (method, status), n in self._responses.items():
            child = fam.labels(method, str(status))
            child.inc(n - child.value)
        st = self.stats
        for key, help_text in (("sessions_created", "legacy sessions opened"),
                               ("sessions_expired", "legacy sessions ended by the idle TTL"),
                               ("sessions_deleted", "legacy sessions ended by DELETE"),
                               ("sessions_refused", "initialize refused at the session cap (503)"),
                               ("unsolicited_dropped", "server-to-client messages dropped for want of a stream")):
            c = reg.counter(f"mcp_http_{key}_total", help_text)
            c.inc(st[key] - c.value)
        reg.gauge("mcp_http_sessions", "legacy sessions open").set(len(self.table))
        reg.gauge("mcp_http_sse_streams", "SSE streams open").set(st["sse_open"])
        reg.gauge("mcp_http_requests_in_flight", "sessionless requests whose handler is running").set(
            len(self.inflight))
        store = self.store
        if isinstance(store, MemoryEventStore):
            reg.gauge("mcp_http_event_store_bytes", "bytes held by the SSE event store").set(store.size)
        return reg.prometheus_text()
