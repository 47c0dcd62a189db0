"""The deprecated HTTP+SSE transport of MCP 2024-11-05, as an ASGI 3 application.

Why keep it: clients written for 2024-11-05 (and the official SDK's ``sse_client``) still
connect this way, and the SDK's ``MCPServer`` still serves it (``sse_app()``,
``run(transport="sse")``); a server moved to mcpfast must keep answering them. New clients
use Streamable HTTP (``asgi.py``, ``server.py``).

The exchange (2024-11-05, ``basic/transports``):

* ``GET {sse_path}`` opens an event stream: its first event is ``endpoint``, whose data is the
  URL to POST messages to (``{root_path}{mount_path}{message_path}?session_id=<hex>``,
  relative, so the client resolves it against the stream's URL: it cannot be sent elsewhere);
  each server message then goes out as one ``message`` event; a ``: ping`` comment every
  ``ping_interval`` seconds keeps proxies from closing an idle stream.
* ``POST {message_path}?session_id=<hex>`` carries one client message (or a batch: 2024-11-05
  allowed them) and is answered ``202 Accepted`` at once; the JSON-RPC answer goes out on the
  stream. ``400`` for a missing or malformed ``session_id``, a ``Content-Type`` that is not JSON
  or a body that is not JSON-RPC; ``404`` for an unknown session; ``405`` for another method;
  ``413`` for a body over ``max_body``. These are the official SDK's statuses and texts.

Each stream is one JSON-RPC connection (a ``JSONRPCPeer`` on the dispatcher, a legacy session
once the client initializes); it ends when the client goes away or the app shuts down, and the
dispatcher hears ``on_close``. ``Host``/``Origin`` are checked by the same ``HostOriginGuard``
as Streamable HTTP (421/403), on both requests.

A slow reader cannot grow memory without bound: past ``max_buffered`` bytes of unsent
messages the stream is closed (the client reconnects and starts a new session).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import parse_qs, quote

from ...errors import JSONRPCError
from ...peer import JSONRPCPeer
from ...wire import jsonrpc
from ._asgi_base import ASGIEndpoint, Receive, Scope, Send, route_path
from .security import HostOriginGuard
from .settings import DEFAULT_MAX_BODY

__all__ = ["LegacySSEApp", "DEFAULT_SSE_PATH", "DEFAULT_MESSAGE_PATH"]

log = logging.getLogger("mcpfast.transports.http.sse_legacy")

#: the official SDK's default paths
DEFAULT_SSE_PATH: Final = "/sse"
DEFAULT_MESSAGE_PATH: Final = "/messages/"
#: unsent bytes a stream may hold before it is closed as too slow
DEFAULT_MAX_BUFFERED: Final = 16 * 1024 * 1024

_SSE_HEADERS: Final = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),  # nginx: do not hold events back
]
_TEXT: Final = [(b"content-type", b"text/plain; charset=utf-8")]


def _relative_path(path: str, what: str) -> str:
    """``path`` as an absolute path on this origin; a URL, query or fragment is refused (the
    endpoint event must not be able to send the client's messages to another origin)."""
    if "://" in path or path.startswith("//") or "?" in path or "#" in path:
        raise ValueError(f"{what} must be a path such as '/messages/', not {path!r}")
    return path if path.startswith("/") else "/" + path


def _event(name: str, data: bytes) -> bytes:
    """One SSE event; a ``data:`` line per line of ``data`` (compact JSON has none, but an
    event must never be split by a stray newline)."""
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return b"event: " + name.encode() + b"\r\n" + b"".join(b"data: " + ln + b"\r\n" for ln in lines) + b"\r\n"


class _Stream:
    """One open ``GET {sse_path}``: its peer and the messages waiting to be written."""

    __slots__ = ("peer", "_out", "_size", "_wake", "_max", "closed")

    def __init__(self, dispatcher: Any, request_timeout: float | None, max_buffered: int) -> None:
        self._out: deque[bytes] = deque()
        self._size = 0
        self._max = max_buffered
        self._wake = asyncio.Event()
        #: set once the stream must end (client gone, overflow, shutdown)
        self.closed = False
        self.peer = JSONRPCPeer(dispatcher, self._send, request_timeout=request_timeout)
        self.peer.network_transport = "tcp"

    def _send(self, messages: list[bytes]) -> None:
        if self.closed:
            return
        for data in messages:
            event = _event("message", data)
            self._out.append(event)
            self._size += len(event)
        if self._size > self._max:
            log.warning("legacy SSE stream closed: the client reads too slowly (%d bytes waiting)", self._size)
            self.close()
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def next_chunk(self, timeout: float) -> bytes | None:
        """The waiting events as one chunk; ``b""`` after ``timeout`` with nothing to send; None
        once closed."""
        if not self._out and not self.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()
        if self.closed:
            return None
        chunk = b"".join(self._out)
        self._out.clear()
        self._size = 0
        return chunk


class LegacySSEApp(ASGIEndpoint):
    """The HTTP+SSE transport (see the module docstring) on one dispatcher (a ``ServerCore``).

    ``sse_path``/``message_path`` are the SDK's options; ``mount_path`` (the SDK 1.x option) is
    put before ``message_path`` in the endpoint event, for an app mounted under a prefix the
    ASGI server does not report as ``root_path``. ``guard`` checks ``Host``/``Origin`` (None: no
    check); ``lifespan`` is entered on ASGI startup, or on the first request when mounted
    without lifespan events, and left on shutdown.
    """

    _what = "HTTP+SSE endpoint"
    _websocket_reason = "use GET and POST"
    _log = log

    def __init__(
        self,
        dispatcher: Any,
        *,
        sse_path: str = DEFAULT_SSE_PATH,
        message_path: str = DEFAULT_MESSAGE_PATH,
        mount_path: str | None = None,
        guard: HostOriginGuard | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        request_timeout: float | None = None,
        lifespan: Callable[[], contextlib.AbstractAsyncContextManager[Any]] | None = None,
        ping_interval: float = 15.0,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
    ) -> None:
        if max_body < 1:
            raise ValueError(f"max_body must be at least 1 byte, got {max_body}")
        if ping_interval <= 0:
            raise ValueError(f"ping_interval must be positive, got {ping_interval}")
        self.dispatcher = dispatcher
        self.sse_path = _relative_path(sse_path, "sse_path")
        self.message_path = _relative_path(message_path, "message_path")
        self.mount_path = _relative_path(mount_path, "mount_path").rstrip("/") if mount_path else ""
        self.guard = guard
        self.max_body = max_body
        self.request_timeout = request_timeout
        self.ping_interval = ping_interval
        self.max_buffered = max_buffered
        self._lifespan = lifespan
        self._streams: dict[str, _Stream] = {}
        self._started = False
        self._lock: asyncio.Lock | None = None
        self._stop: asyncio.Event | None = None
        self._lifespan_task: asyncio.Task[None] | None = None

    @property
    def sessions(self) -> int:
        """Open event streams."""
        return len(self._streams)

    # ------------------------------------------------------------------ lifetime

    async def startup(self) -> None:
        """Enter the lifespan once (in a task of its own, so any task may call ``shutdown``)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._started:
                return
            if self._lifespan is not None:
                ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._stop = asyncio.Event()
                self._lifespan_task = asyncio.ensure_future(self._hold_lifespan(self._lifespan, ready, self._stop))
                await ready
            self._started = True

    @staticmethod
    async def _hold_lifespan(factory: Callable[[], contextlib.AbstractAsyncContextManager[Any]],
                             ready: asyncio.Future[None], stop: asyncio.Event) -> None:
        try:
            async with factory():
                ready.set_result(None)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
                return
            raise

    def close_streams(self) -> None:
        """End every open stream (their peers hear ``connection_lost`` as each response ends):
        an ASGI server shutting down gracefully waits for responses in progress, and an event
        stream would otherwise never end."""
        for stream in list(self._streams.values()):
            stream.close()

    async def shutdown(self) -> None:
        """End every stream, then leave the lifespan."""
        self.close_streams()
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._started:
                return
            self._started = False
            task, self._lifespan_task = self._lifespan_task, None
            if task is not None and self._stop is not None:
                self._stop.set()
                await task

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope) or "/"
        if path == self.sse_path:
            if scope["method"] != "GET":
                await _plain(send, 405, "Method Not Allowed", [(b"allow", b"GET")])
                return
            await self._stream(scope, receive, send)
        elif path == self.message_path or path == self.message_path.rstrip("/"):
            if scope["method"] != "POST":
                await _plain(send, 405, "Method Not Allowed", [(b"allow", b"POST")])
                return
            await self._post(scope, receive, send)
        else:
            await _plain(send, 404, "Not Found")

    def _refused(self, headers: dict[str, str]) -> Any:
        if self.guard is None:
            return None
        return self.guard.check(headers.get("host"), headers.get("origin"))

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        rejection = self._refused(headers)
        if rejection is not None:
            await _send_rejection(send, rejection)
            return
        sid = uuid.uuid4().hex
        stream = _Stream(self.dispatcher, self.request_timeout, self.max_buffered)
        self._streams[sid] = stream
        root = str(scope.get("root_path", "")).rstrip("/")
        endpoint = f"{quote(root + self.mount_path + self.message_path)}?session_id={sid}"
        watcher = asyncio.ensure_future(_watch_disconnect(receive, stream))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
            await send({"type": "http.response.body", "body": _event("endpoint", endpoint.encode()),
                        "more_body": True})
            while True:
                chunk = await stream.next_chunk(self.ping_interval)
                if chunk is None:
                    break
                await send({"type": "http.response.body", "body": chunk or b": ping\r\n\r\n", "more_body": True})
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away while we wrote
            pass
        finally:
            watcher.cancel()
            stream.close()
            self._streams.pop(sid, None)
            stream.peer.connection_lost(None)

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        rejection = self._refused(headers)
        if rejection is not None:
            await _send_rejection(send, rejection)
            return
        if not headers.get("content-type", "").lower().startswith("application/json"):
            await _plain(send, 400, "Invalid Content-Type header")
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        values = query.get("session_id")
        if not values:
            await _plain(send, 400, "session_id is required")
            return
        try:
            sid = uuid.UUID(hex=values[0]).hex
        except ValueError:
            await _plain(send, 400, "Invalid session ID")
            return
        stream = self._streams.get(sid)
        if stream is None or stream.closed:
            await _plain(send, 404, "Could not find session")
            return
        body = await _read_body(receive, self.max_body)
        if body is None:
            await _plain(send, 413, "Request body too large")
            return
        try:
            message = jsonrpc.decode(body)
        except JSONRPCError as exc:
            await _plain(send, 400, f"Could not parse message: {exc.message}")
            return
        await _plain(send, 202, "Accepted")
        if not stream.closed:
            stream.peer.feed([message])


# ---------------------------------------------------------------------------------- helpers


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[key] = text if key not in out else out[key] + ", " + text
    return out


async def _plain(send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    headers = [*_TEXT, (b"content-length", str(len(body)).encode()), *(extra or ())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_rejection(send: Send, rejection: Any) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in rejection.headers]
    headers.append((b"content-length", str(len(rejection.body)).encode()))
    await send({"type": "http.response.start", "status": rejection.status, "headers": headers})
    await send({"type": "http.response.body", "body": rejection.body})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None once it exceeds ``limit`` bytes (the rest is not read)."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(parts)
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def _watch_disconnect(receive: Receive, stream: _Stream) -> None:
    """A GET has no body: the next ASGI message is the client's disconnect."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            stream.close()
            return
