"""Streamable HTTP as an ASGI 3 application, for uvicorn, hypercorn, Starlette or FastAPI.

``asgi_app(server_core)`` returns the app. Two ways to run it:

* **Directly** (``uvicorn module:app``): the server sends ``lifespan`` events; startup runs
  ``core.startup()`` (the settings' lifespan, the session-expiry timer) and shutdown
  ``core.shutdown()``.
* **Mounted** (``Mount("/mcp", app=mcp_app)`` in Starlette, ``fastapi_app.mount(...)``):
  Starlette sends no lifespan events to mounted apps, so the core starts on the first request
  (under a lock, once); nothing needs wiring. To stop it with the parent app, use the app's
  ``lifespan()`` context manager in the parent's lifespan (optional).

Paths. The core matches ``settings.path`` (default ``/mcp``) against the request path relative
to where the app is mounted (``scope["root_path"]``, the way Starlette's routing computes it):

* run directly: ``/mcp`` is the endpoint, as with the built-in server;
* mounted at ``/x``: both ``/x`` (``/x/`` — the mount's root) and ``/x/mcp`` reach the endpoint.
  The root counts as the endpoint so that ``Mount("/mcp", app=...)`` serves ``/mcp/`` (and not
  only ``/mcp/mcp``); ``/x/mcp`` keeps working as it does for the official SDK's app, whose route
  sits at ``/mcp`` inside the mount. Other paths (``/x/.well-known/...``) are passed relative.

Bodies are read up to ``settings.max_body`` (bytes received are counted; past the limit the
core answers 413 and the rest is not read). A client that disconnects (``http.disconnect``)
before its response ended has the core's ``on_close`` called once. The common case — the core
answers inside ``handle()`` — costs two ``send`` calls and no extra task; only a response that
is not ready (a tool that awaits, an event stream) gets a task that listens for the disconnect.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...errors import INTERNAL_ERROR
from ._asgi_base import ASGIEndpoint, Message, Receive, Scope, Send, route_path
from ._front_common import error_body, sse_extra_headers
from .core import HTTPRequest, Responder

if TYPE_CHECKING:
    from ..websocket import WebSocketEndpoint
    from .core import StreamableHTTP
    from .settings import HTTPSettings

__all__ = ["ASGIApp", "asgi_app"]

log = logging.getLogger("mcpfast.transports.http.asgi")

_IDLE, _STREAMING, _DONE = 0, 1, 2
_JSON = [(b"content-type", b"application/json")]


_NAMES: dict[bytes, str] = {}
_ENCODED: dict[tuple[tuple[str, str], ...], list[tuple[bytes, bytes]]] = {}


def _encode(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """ASGI header pairs for ``headers`` (a new list: the caller may append to it); the same
    header list (most responses repeat a few) is encoded once, from a bounded cache."""
    try:
        key = tuple(headers)
        cached = _ENCODED.get(key)
    except TypeError:  # something unhashable inside
        return _encode_new(headers)
    if cached is None:
        cached = _encode_new(headers)
        if len(_ENCODED) >= 256:
            _ENCODED.clear()  # per-session values (Mcp-Session-Id): keep the cache bounded
        _ENCODED[key] = cached
    return cached.copy()


def _encode_new(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    out = []
    for name, value in headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"CR or LF inside a response header: {name!r}: {value!r}")
        out.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    return out


class _ASGIResponder(Responder):
    """Collects the core's respond/start/write/end as ASGI messages for the app to send."""

    __slots__ = ("_msgs", "_waiter", "_state", "_buffered", "_gone")

    def __init__(self) -> None:
        self.on_close: Callable[[], None] | None = None
        self.closed = False
        self._msgs: deque[Message] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._state = _IDLE
        self._buffered = 0
        self._gone = False

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _misuse(self, what: str) -> None:
        if not self._gone:
            log.error("Responder.%s() called in the wrong state (%d); ignored", what, self._state)

    def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        if self._state != _IDLE:
            self._misuse("respond")
            return
        try:
            raw = _encode(headers)
        except ValueError:
            log.exception("invalid response header; answering 500 instead")
            raw = _JSON.copy()
            status, body = 500, error_body(INTERNAL_ERROR, "Internal server error")
        self._state = _DONE
        self.closed = True
        if status >= 200 and status != 204 and status != 304:
            raw.append((b"content-length", b"%d" % len(body)))
        else:
            body = b""
        self._msgs.append({"type": "http.response.start", "status": status, "headers": raw})
        self._msgs.append({"type": "http.response.body", "body": body, "more_body": False})
        self._wake()

    def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        if self._state != _IDLE:
            self._misuse("start")
            return
        try:
            raw = _encode(headers)
        except ValueError:
            log.exception("invalid response header; answering 500 instead")
            self.respond(500, [("Content-Type", "application/json")], error_body(INTERNAL_ERROR, "Internal server error"))
            return
        self._state = _STREAMING
        extra = sse_extra_headers(headers)
        if extra:
            raw.extend(_encode(extra))
        self._msgs.append({"type": "http.response.start", "status": status, "headers": raw})
        self._wake()

    def write(self, data: bytes) -> None:
        if self._state != _STREAMING:
            self._misuse("write")
            return
        if not data:
            return
        self._buffered += len(data)
        self._msgs.append({"type": "http.response.body", "body": data, "more_body": True})
        self._wake()

    def end(self) -> None:
        if self._state != _STREAMING:
            if self._state == _IDLE:
                self._misuse("end")
            return
        self._state = _DONE
        self.closed = True
        self._msgs.append({"type": "http.response.body", "body": b"", "more_body": False})
        self._wake()

    def buffered(self) -> int:
        return self._buffered

    def _lost(self) -> None:
        """The client went away: tell the core once, unless the response was complete."""
        self._gone = True
        self._wake()
        if self._state == _DONE:
            return
        self._state = _DONE
        self.client_gone()

    def crashed(self) -> None:
        """The core raised (it never should): answer 500, or end a stream it started."""
        if self._state == _IDLE:
            self.respond(500, [("Content-Type", "application/json")], error_body(INTERNAL_ERROR, "Internal server error"))
        elif self._state == _STREAMING:
            self.end()

    async def send_to(self, receive: Receive, send: Send) -> None:
        """Send the response to the ASGI server: at once when the core answered inside
        ``handle()`` (two ``send`` calls, no task), else as the core produces it."""
        msgs = self._msgs
        if self._state == _DONE and len(msgs) == 2:
            await send(msgs[0])
            await send(msgs[1])
            return
        await self._pump(receive, send)

    async def _pump(self, receive: Receive, send: Send) -> None:
        """Send what the core produces as it comes; a disconnect ends it (``on_close``)."""
        loop = asyncio.get_running_loop()
        watcher: asyncio.Task[None] | None = None
        msgs = self._msgs
        try:
            while not self._gone:
                while msgs and not self._gone:
                    message = msgs.popleft()
                    if message.get("more_body"):
                        self._buffered -= len(message["body"])
                    await send(message)
                if self._state == _DONE and not msgs:
                    break
                if self._gone:
                    break
                if watcher is None:
                    watcher = loop.create_task(self._watch(receive))
                waiter = self._waiter = loop.create_future()
                try:
                    await waiter
                finally:
                    self._waiter = None
        except asyncio.CancelledError:
            self._lost()
            raise
        except OSError:
            self._lost()  # the server could not write: the client is gone
        finally:
            if watcher is not None:
                watcher.cancel()

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self._lost()
                return


class ASGIApp(ASGIEndpoint):
    """The ASGI 3 application (see the module docstring). ``core`` is its ``StreamableHTTP``."""

    _what = "Streamable HTTP endpoint"
    _websocket_reason = "use POST/GET"
    _log = log

    def __init__(self, dispatcher: Any = None, settings: HTTPSettings | None = None, *, core: StreamableHTTP | None = None) -> None:
        if core is None:
            if dispatcher is None:
                raise TypeError("asgi_app needs a dispatcher (a ServerCore) or a core")
            from .core import StreamableHTTP
            from .settings import HTTPSettings

            core = StreamableHTTP(dispatcher, settings if settings is not None else HTTPSettings())
        self.core = core
        self._started = False
        self._lock: asyncio.Lock | None = None
        # MCP over WebSocket at the same path (made on the first websocket scope)
        self._ws: WebSocketEndpoint | None = None
        self._ws_missing = False

    # ------------------------------------------------------------------ lifetime

    async def startup(self) -> None:
        """Start the core once (lifespan, timers); later calls return at once."""
        if self._started:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._started:
                await self.core.startup()
                self._started = True

    async def shutdown(self) -> None:
        """Stop the core (event streams, sessions, lifespan) if it was started; WebSocket
        connections get their answers in flight, then close 1001."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._started:
                self._started = False
                if self._ws is not None:
                    await self._ws.shutdown_asgi(self.core.settings.shutdown_grace)
                await self.core.shutdown()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """MCP over WebSocket at the endpoint's path (``transports.websocket``: subprotocol
        ``mcp``, the same Host/Origin checks and authentication as HTTP); refused (close 1003)
        elsewhere, or when the websockets library is not installed."""
        endpoint = self._websocket_endpoint()
        path = self._path(scope)
        if endpoint is None or not endpoint.matches(path):
            await super()._websocket(scope, receive, send)
            return
        if not self._started:
            await self.startup()
        await endpoint.asgi(scope, receive, send, path)

    def _websocket_endpoint(self) -> WebSocketEndpoint | None:
        if self._ws is None and not self._ws_missing:
            try:
                from ..websocket import WebSocketEndpoint, WebSocketSettings, require_websockets

                require_websockets()
            except ImportError:
                self._ws_missing = True
                return None
            dispatcher = self.core.dispatcher
            self._ws = WebSocketEndpoint(lambda: dispatcher, WebSocketSettings.from_http(self.core.settings))
        return self._ws

    def _path(self, scope: Scope) -> str:
        path = route_path(scope)
        if path in ("", "/") and scope.get("root_path"):
            return str(self.core.settings.path)  # the mount's root is the endpoint
        return path

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        core = self.core
        headers: dict[str, str] = {}
        names = _NAMES
        for raw_name, raw_value in scope["headers"]:
            name = names.get(raw_name)
            if name is None:
                name = raw_name.decode("latin-1").lower()
                if len(names) < 512:  # bounded: clients send a few distinct names
                    names[raw_name] = name
            old = headers.get(name)
            headers[name] = raw_value.decode("latin-1") if old is None else old + ", " + raw_value.decode("latin-1")
        responder = _ASGIResponder()
        max_body: int = core.settings.max_body

        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body: bytes = message.get("body", b"")
        too_large = len(body) > max_body
        if message.get("more_body", False) and not too_large:
            parts = [body]
            size = len(body)
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > max_body:
                    too_large = True
                    break
                parts.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(parts)
        if too_large:
            core.reject_too_large(responder)
        else:
            client = scope.get("client")
            request = HTTPRequest(
                scope["method"],
                self._path(scope),
                scope.get("query_string", b"").decode("latin-1"),
                headers,
                body,
                (str(client[0]), int(client[1])) if client else None,
            )
            try:
                core.handle(request, responder)
            except Exception:
                # handle() never raises by contract; if it does, the request still gets an answer
                log.exception("Streamable HTTP core raised for %s", request.path)
                responder.crashed()
        await responder.send_to(receive, send)


def asgi_app(dispatcher: Any, settings: HTTPSettings | None = None) -> ASGIApp:
    """An ASGI 3 app serving Streamable HTTP for ``dispatcher`` (a ``ServerCore``) with
    ``settings`` (default ``HTTPSettings()``). Run it under uvicorn or mount it in Starlette or
    FastAPI; see the module docstring for lifespan and paths."""
    return ASGIApp(dispatcher, settings)
