"""The built-in HTTP/1.1 server for Streamable HTTP: an asyncio Protocol on the ``httptools``
parser (llhttp), in front of the I/O-free ``StreamableHTTP`` core.

What it does, and why:

* **Keep-alive and pipelining.** Requests on one connection are answered in order: the next
  pipelined request reaches the core only when the previous response finished (a streamed SSE
  response therefore holds the ones behind it, which HTTP/1.1 requires anyway). HTTP/1.0 closes
  after each response unless the client asked for keep-alive.
* **One write per response.** ``respond()`` (the hot path) sends status line, headers,
  ``Content-Length`` and body in one ``transport.write``; the ``Date`` header is formatted once
  a second, not per response.
* **Streams.** ``start()/write()/end()`` use chunked transfer coding (HTTP/1.0: the body runs
  until close), with ``Cache-Control: no-cache`` and ``X-Accel-Buffering: no``; the connection
  stays usable afterwards.
* **Limits.** The request body is counted as it arrives (chunked bodies have no
  ``Content-Length`` to trust): past ``settings.max_body`` the core's ``reject_too_large``
  answers 413 and the connection closes; a declared ``Content-Length`` above the limit is
  refused before the body is read (and before ``100 Continue``). Request line plus headers
  above ``max_header_bytes`` or more than ``max_headers`` headers get 431, an unparsable request
  400, both with ``Connection: close``. ``max_connections`` answers 503 to the connections past
  it. Idle keep-alive connections close after ``keep_alive_timeout``.
* **Flow control.** When the socket's write buffer passes its high-water mark the connection
  stops reading (no new requests make output it cannot send); ``Responder.buffered()`` tells
  the core how much a slow client left unread.
* **Disconnects.** A client that goes away before its response ended gets the core's
  ``on_close`` callback called once (the core cancels the request or drops the stream).
* **Processes.** ``run_http(..., workers=N)`` forks N workers that share the port with
  ``SO_REUSEPORT``; the parent restarts a crashed worker and forwards SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import os
import signal
import socket
import ssl
import sys
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Union

from .._signals import shutdown_signals
from ._exchange import JSON_HEADERS
from ._front_common import (
    _STATUS_LINES,
    encode_headers,
    encode_response_headers,
    error_body,
    sse_extra_headers,
    status_line,
)
from .core import HTTPRequest, Responder

if TYPE_CHECKING:
    from .core import StreamableHTTP
    from .settings import HTTPSettings

__all__ = ["HTTPServer", "serve_http", "run_http", "TLSConfig"]

log = logging.getLogger("mcpfast.transports.http.server")

TLSConfig = Union[ssl.SSLContext, "tuple[str, str]", None]

#: request line + headers, in bytes, past which the request gets 431
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
#: header fields past which the request gets 431
DEFAULT_MAX_HEADERS = 100
#: seconds a keep-alive connection may sit with no request before it is closed
DEFAULT_KEEP_ALIVE_TIMEOUT = 5.0
#: pipelined requests held (parsed, waiting for the one before them) before reading pauses
MAX_PIPELINED = 16
#: seconds an error response's connection keeps draining the client's unread data before close
#: (closing with unread bytes makes the kernel send RST, which can destroy the response)
LINGER = 2.0

_JSON = [("Content-Type", "application/json")]
#: the core's shared ``JSON_HEADERS`` list, encoded (the core never mutates it)
_JSON_ENCODED = encode_response_headers(JSON_HEADERS)[0]
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_SERVER_ERROR = -32603  # JSON-RPC internal error
_INVALID_REQUEST = -32600
_OVERLOADED = -32005

# response states
_IDLE, _STREAMING, _DONE = 0, 1, 2
# kinds of queued work
_HANDLE, _REJECT, _ERROR = 0, 1, 2


def _httptools() -> Any:
    try:
        import httptools
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the built-in Streamable HTTP server needs httptools: pip install 'mcpfast[http]'"
        ) from e
    return httptools


# ---------------------------------------------------------------------------- Date header

_date_header = b""
_date_second = -1


def _refresh_date() -> None:
    """Format the ``Date`` header (RFC 9110 asks origin servers with a clock to send it) at most
    once a second; every response of that second reuses the bytes."""
    global _date_header, _date_second
    now = int(time.time())
    if now != _date_second:
        _date_second = now
        _date_header = b"Date: " + email.utils.formatdate(now, usegmt=True).encode() + b"\r\n"


_refresh_date()


def _set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


#: raw header name -> lower-case str, shared by all connections
_NAMES: dict[bytes, str] = {}
_METHODS: dict[bytes, str] = {
    m: m.decode() for m in (b"GET", b"POST", b"DELETE", b"PUT", b"HEAD", b"OPTIONS", b"PATCH")
}


class _Stop(Exception):
    """Raised inside a parser callback to stop parsing this connection's input."""


# ---------------------------------------------------------------------------- responder


class _ConnResponder(Responder):
    """Turns the core's respond/start/write/end into HTTP/1.1 bytes on one connection."""

    __slots__ = ("_conn", "_keep_alive", "_http10", "_state", "_chunked", "method")

    def __init__(self, conn: _HTTPConnection, method: str, keep_alive: bool, http10: bool) -> None:
        self.on_close: Callable[[], None] | None = None
        self.closed = False
        self._conn = conn
        self.method = method
        self._keep_alive = keep_alive
        self._http10 = http10
        self._state = _IDLE
        self._chunked = False

    def _misuse(self, what: str) -> None:
        if not self.closed or self._state == _IDLE:
            log.error("Responder.%s() called in the wrong state (%d); ignored", what, self._state)

    def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        if self._state != _IDLE:
            self._misuse("respond")
            return
        if headers is JSON_HEADERS:  # the core's answer to nearly every POST: encoded once
            hdrs, closes = _JSON_ENCODED, False
        else:
            try:
                hdrs, closes = encode_response_headers(headers)
            except ValueError:
                log.exception("invalid response header; answering 500 instead")
                hdrs, closes = b"Content-Type: application/json\r\n", False
                status, body = 500, error_body(_SERVER_ERROR, "Internal server error")
        self._state = _DONE
        self.closed = True
        conn = self._conn
        tr = conn._transport
        if tr is None:
            return
        # closing (shutdown, or a later pipelined request failed): the last answer says so
        keep_alive = self._keep_alive and not (conn._closing and not conn._queue) and not closes
        self._keep_alive = keep_alive
        if status >= 200 and status != 204 and status != 304:
            length = b"Content-Length: %d\r\n" % len(body)
        else:
            length = b""
            body = b""
        if self.method == "HEAD":
            body = b""
        if not keep_alive:
            conn_hdr = b"" if closes else b"Connection: close\r\n"
        elif self._http10:
            conn_hdr = b"Connection: keep-alive\r\n"
        else:
            conn_hdr = b""
        tr.write(
            b"".join(
                (
                    _STATUS_LINES.get(status) or status_line(status),
                    _date_header,
                    hdrs,
                    length,
                    conn_hdr,
                    b"\r\n",
                    body,
                )
            )
        )
        conn._response_done(self)

    def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        if self._state != _IDLE:
            self._misuse("start")
            return
        try:
            hdrs, closes = encode_response_headers(headers)
        except ValueError:
            log.exception("invalid response header; answering 500 instead")
            self.respond(500, _JSON, error_body(_SERVER_ERROR, "Internal server error"))
            return
        self._state = _STREAMING
        conn = self._conn
        tr = conn._transport
        if tr is None:
            return
        keep_alive = self._keep_alive and not (conn._closing and not conn._queue) and not self._http10 and not closes
        self._keep_alive = keep_alive
        parts = [status_line(status), _date_header, hdrs]
        extra = sse_extra_headers(headers)
        if extra:
            parts.append(encode_headers(extra))
        if self._http10:
            # HTTP/1.0 has no chunked coding: the body ends when the connection does
            parts.append(b"\r\n" if closes else b"Connection: close\r\n\r\n")
        else:
            self._chunked = True
            parts.append(b"Transfer-Encoding: chunked\r\n")
            if not keep_alive and not closes:
                parts.append(b"Connection: close\r\n")
            parts.append(b"\r\n")
        tr.write(b"".join(parts))

    def write(self, data: bytes) -> None:
        if self._state != _STREAMING:
            self._misuse("write")
            return
        tr = self._conn._transport
        if tr is None or not data or self.method == "HEAD":
            return
        if self._chunked:
            tr.write(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            tr.write(data)

    def end(self) -> None:
        if self._state != _STREAMING:
            if self._state == _IDLE:
                self._misuse("end")
            return
        self._state = _DONE
        self.closed = True
        conn = self._conn
        tr = conn._transport
        if tr is None:
            return
        if self._chunked:
            tr.write(b"0\r\n\r\n")
        conn._response_done(self)

    def buffered(self) -> int:
        tr = self._conn._transport
        return tr.get_write_buffer_size() if tr is not None else 0

    def _lost(self) -> None:
        """The client went away: tell the core once, unless the response was complete."""
        if self._state == _DONE:
            return
        self._state = _DONE
        self.client_gone()

    @property
    def is_get_stream(self) -> bool:
        """A streamed answer to GET (the standalone SSE stream): it ends only when the core
        shuts down, so a graceful shutdown does not wait for it."""
        return self._state == _STREAMING and self.method == "GET"


# ---------------------------------------------------------------------------- connection


class _HTTPConnection(asyncio.Protocol):
    """One HTTP/1.1 connection: parses requests, queues pipelined ones, writes responses."""

    def __init__(self, server: HTTPServer) -> None:
        self._server = server
        self._core = server.core
        self._max_body: int = server.core.settings.max_body
        self._max_header_bytes = server.max_header_bytes
        self._max_headers = server.max_headers
        self._transport: asyncio.Transport | None = None
        self._parser: Any = None
        self._client: tuple[str, int] | None = None
        # the request being parsed
        self._url = b""
        self._headers: dict[str, str] = {}
        self._raw: list[tuple[bytes, bytes]] = []
        # the previous head's header fields, raw and decoded (see on_headers_complete)
        self._prev_raw: list[tuple[bytes, bytes]] | None = None
        self._prev_headers: dict[str, str] = {}
        self._feed_len = 0
        self._in_head = True  # the first request's head is what arrives first
        self._head_raw = 0
        self._head_carry = False
        self._body: list[bytes] = []
        self._body_size = 0
        self._keep_alive = True
        self._http10 = False
        self._method = "GET"
        # responses
        self._current: _ConnResponder | None = None
        self._queue: deque[tuple[int, Any, _ConnResponder]] = deque()
        self._draining = False
        self._continue_due = False
        self._closing = False  # answer what was asked, then close (shutdown, or an error)
        self._stopped = False  # read nothing more
        self._errored = False  # an error answer: linger before closing (see _close)
        self._linger: asyncio.TimerHandle | None = None
        # flow control
        self._write_paused = False
        self._read_paused = False
        # idle tracking (the server's tick reads these)
        self._active = True
        self._idle = 0.0
        self._lost = False

    # ------------------------------------------------------------------ transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        _set_nodelay(transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client = (str(peer[0]), int(peer[1]))
        self._parser = _httptools().HttpRequestParser(self)
        self._server._connected(self)
        if self._server._stopping:
            self._closing = True
            self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._transport = None
        self._stopped = True
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        self._server._disconnected(self)
        self._queue.clear()
        cur = self._current
        self._current = None
        if cur is not None:
            cur._lost()

    def eof_received(self) -> bool | None:
        # A half-closed client is treated as gone (as uvicorn does): a stream it opened has
        # nobody left to read it, and on_close lets the core cancel the work promptly.
        return False

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()

    def _update_reading(self) -> None:
        tr = self._transport
        if tr is None:
            return
        pause = self._write_paused or len(self._queue) >= MAX_PIPELINED
        if pause != self._read_paused:
            self._read_paused = pause
            try:
                if pause:
                    tr.pause_reading()
                else:
                    tr.resume_reading()
            except (RuntimeError, AttributeError):  # closing transport
                pass

    def data_received(self, data: bytes) -> None:
        self._active = True
        if self._stopped:
            return  # lingering after an error response, or closing: drain and drop
        self._feed_len = len(data)
        try:
            self._parser.feed_data(data)
        except _Stop:
            pass
        except Exception as exc:
            ctx = exc.__context__
            if isinstance(ctx, _Stop) or self._stopped:
                return
            if ctx is not None:
                log.error("HTTP connection: parser callback failed", exc_info=ctx)
            httptools = _httptools()
            if isinstance(exc, httptools.HttpParserUpgrade):
                # the request (upgrade asked, body skipped by llhttp) was answered or queued by
                # on_message_complete; a protocol switch is not offered, so nothing more is read
                self._stop_reading()
                return
            if isinstance(exc, httptools.HttpParserError):
                self._fail(400, f"Bad HTTP request: {exc}")
                return
            log.exception("HTTP connection: unexpected error while parsing")
            self._fail(400, "Bad HTTP request")
            return
        if self._in_head:
            # a head split over reads: llhttp keeps the partial header value; bound it here (the
            # read that began this head is not counted, so at most one read more than the limit)
            if self._head_carry:
                self._head_raw += len(data)
                if self._head_raw > self._max_header_bytes:
                    self._fail(431, "Request header fields too large")
            else:
                self._head_carry = True
                self._head_raw = 0

    # ------------------------------------------------------------------ parser callbacks

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        # the hot path: keep the raw pair; decoding and limits happen once per head. Memory
        # stays bounded meanwhile: a head is at most one read longer than the limit (see
        # data_received).
        self._raw.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        raw = self._raw
        self._raw = []
        if len(raw) > self._max_headers:
            self._fail(431, f"Too many header fields (the limit is {self._max_headers})")
            raise _Stop
        if self._head_carry or self._feed_len > self._max_header_bytes:
            # a head read in one piece no longer than the limit is within it: count only others
            size = len(self._url)
            for name, value in raw:
                size += len(name) + len(value) + 4
            if size > self._max_header_bytes:
                self._fail(431, "Request line and header fields too large")
                raise _Stop
        if raw == self._prev_raw:
            # a keep-alive client repeats its head (same session, same body length): one
            # comparison in C and a copy instead of decoding every header again (a copy: the
            # request's dict may outlive this head, in a handler)
            headers = self._prev_headers.copy()
        else:
            headers = {}
            names = _NAMES
            for name, value in raw:
                key = names.get(name)
                if key is None:
                    key = name.decode("latin-1").lower()
                    if len(names) < 512:  # bounded: clients send a few distinct names
                        names[name] = key
                old = headers.get(key)
                headers[key] = value.decode("latin-1") if old is None else old + ", " + value.decode("latin-1")
            self._prev_raw = raw
            self._prev_headers = headers.copy()
        self._headers = headers
        parser = self._parser
        method = parser.get_method()
        self._method = _METHODS.get(method) or method.decode("ascii", "replace")
        keep_alive = self._keep_alive = parser.should_keep_alive()
        if "connection" in headers:
            self._http10 = parser.get_http_version() == "1.0"
        else:
            # without a Connection header only HTTP/1.0 is not kept alive (get_http_version
            # formats a string: skip it on the hot path)
            self._http10 = not keep_alive
        if "upgrade" in headers and parser.should_upgrade():
            # no protocol switch offered: serve it as a plain request, then close
            self._keep_alive = False
            if headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers:
                self._fail(400, "HTTP Upgrade is not supported here; send the request without an Upgrade header")
                raise _Stop
        cl = headers.get("content-length")
        if cl is not None:
            try:
                declared = int(cl)
            except ValueError:
                declared = 0  # llhttp validates it; a list of equal values is possible
            if declared > self._max_body:
                self._reject()
                raise _Stop
        expect = headers.get("expect")
        if expect is not None and not self._http10:
            if expect.lower() == "100-continue":
                if self._current is None and not self._queue:
                    self._transport.write(_CONTINUE)  # type: ignore[union-attr]
                else:
                    self._continue_due = True  # sent when the responses before it are done
            else:
                self._fail(417, f"Unsupported Expect: {expect}")
                raise _Stop

    def on_body(self, chunk: bytes) -> None:
        self._body_size += len(chunk)
        if self._body_size > self._max_body:
            self._reject()
            raise _Stop
        self._body.append(chunk)

    def on_message_complete(self) -> None:
        if self._stopped:
            raise _Stop
        body = self._body
        if not body:
            data = b""
        elif len(body) == 1:
            data = body[0]
        else:
            data = b"".join(body)
        self._body = []
        self._body_size = 0
        self._continue_due = False
        # the next message's head starts right after this one (no on_message_begin callback:
        # one Python call less per request)
        self._in_head = True
        self._head_carry = False
        url = self._url
        self._url = b""
        if not url.startswith(b"/") and url != b"*":
            # absolute-form (a proxy's request target): keep path and query only
            parsed = _httptools().parse_url(url)
            path = (parsed.path or b"/").decode("latin-1")
            query = (parsed.query or b"").decode("latin-1")
        else:
            i = url.find(b"?")
            if i < 0:
                path, query = url.decode("latin-1"), ""
            else:
                path, query = url[:i].decode("latin-1"), url[i + 1 :].decode("latin-1")
        method = self._method
        request = HTTPRequest(method, path, query, self._headers, data, self._client)
        responder = _ConnResponder(self, method, self._keep_alive, self._http10)
        if not self._keep_alive:
            self._stopped = True  # nothing after this request is read
            self._closing = True
        if self._current is None and not self._queue:
            self._current = responder
            try:
                self._core.handle(request, responder)
            except Exception:
                self._handle_failed(request, responder)
        else:
            self._queue.append((_HANDLE, request, responder))
            if len(self._queue) >= MAX_PIPELINED:
                self._update_reading()
        if self._stopped:
            raise _Stop

    # ------------------------------------------------------------------ request queue

    def _enqueue(self, kind: int, item: Any, responder: _ConnResponder) -> None:
        if self._current is None and not self._queue:
            self._current = responder
            self._run(kind, item, responder)
        else:
            self._queue.append((kind, item, responder))
            if len(self._queue) >= MAX_PIPELINED:
                self._update_reading()

    def _run(self, kind: int, item: Any, responder: _ConnResponder) -> None:
        try:
            if kind == _HANDLE:
                self._core.handle(item, responder)
            elif kind == _REJECT:
                self._core.reject_too_large(responder)
            else:
                status, message = item
                responder.respond(status, _JSON, error_body(_INVALID_REQUEST, message))
        except Exception:
            self._handle_failed(item, responder)

    def _handle_failed(self, item: Any, responder: _ConnResponder) -> None:
        # handle() never raises by contract; if it does, the request still gets one answer
        log.exception("Streamable HTTP core raised for %s", getattr(item, "path", item))
        if responder._state == _IDLE:
            responder._keep_alive = False
            responder.respond(500, _JSON, error_body(_SERVER_ERROR, "Internal server error"))
        elif responder._state == _STREAMING:
            responder._keep_alive = False
            responder.end()

    def _response_done(self, responder: _ConnResponder) -> None:
        if responder is not self._current:
            return
        self._current = None
        self._active = True
        if not responder._keep_alive:
            self._close()
            return
        if self._draining:
            return
        self._draining = True
        try:
            queue = self._queue
            while self._current is None and queue and self._transport is not None:
                kind, item, nxt = queue.popleft()
                self._current = nxt
                self._run(kind, item, nxt)
        finally:
            self._draining = False
        if self._current is None and self._transport is not None:
            if self._read_paused:
                self._update_reading()
            if self._continue_due:
                self._continue_due = False
                self._transport.write(_CONTINUE)
            if self._closing:
                self._close()

    def _reject(self) -> None:
        """The body is over ``max_body``: the core answers 413 in its turn, then close."""
        self._stop_reading()
        self._continue_due = False
        responder = _ConnResponder(self, self._method, False, self._http10)
        self._enqueue(_REJECT, None, responder)

    def _fail(self, status: int, message: str) -> None:
        """An HTTP-level error: answer it in its turn with Connection: close, read no more."""
        if self._stopped:
            return
        self._stop_reading()
        self._continue_due = False
        responder = _ConnResponder(self, self._method, False, self._http10)
        self._enqueue(_ERROR, (status, message), responder)

    def _stop_reading(self) -> None:
        self._stopped = True
        self._closing = True
        self._errored = True
        self._in_head = False

    # ------------------------------------------------------------------ closing

    def _close(self) -> None:
        """Close once the written bytes are flushed. After an error the client may still be
        sending (a body we refused): shut our side, drain its data for up to ``LINGER`` seconds,
        so that the kernel does not answer the unread bytes with RST and destroy the response."""
        tr = self._transport
        if tr is None or tr.is_closing():
            return
        self._stopped = True
        self._queue.clear()
        if self._server._stopping or not self._errored:
            tr.close()
            return
        try:
            if tr.can_write_eof():
                tr.write_eof()
                if self._read_paused:
                    self._read_paused = False
                    tr.resume_reading()
                loop = asyncio.get_running_loop()
                self._linger = loop.call_later(LINGER, tr.close)
                return
        except (OSError, RuntimeError):
            pass
        tr.close()

    def shutdown(self) -> None:
        """Server shutdown: answer what is in progress with Connection: close; idle: close now."""
        self._closing = True
        self._stopped = True  # no new requests (one half received is dropped)
        if self._current is None and not self._queue:
            tr = self._transport
            if tr is not None:
                tr.close()

    def abort(self) -> None:
        tr = self._transport
        if tr is not None:
            tr.abort()

    @property
    def busy(self) -> bool:
        """A request is being answered or waits its turn (a GET stream does not count)."""
        cur = self._current
        return bool(self._queue) or (cur is not None and not cur.is_get_stream)


class _RefuseProtocol(asyncio.Protocol):
    """Past ``max_connections``: a 503 with Connection: close; the client's request is drained
    (not read) until it closes or ``LINGER`` passes, so the answer is not lost to a reset."""

    def __init__(self, response: bytes) -> None:
        self._response = response
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tr: asyncio.Transport = transport  # type: ignore[assignment]
        self._transport = tr
        _set_nodelay(tr)
        tr.write(self._response)
        try:
            if tr.can_write_eof():
                tr.write_eof()
                asyncio.get_running_loop().call_later(LINGER, tr.close)
                return
        except (OSError, RuntimeError):
            pass
        tr.close()

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool | None:
        return False


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
        _httptools()  # fail here, with the extra to install, not on the first connection
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
        self._conns: set[_HTTPConnection] = set()
        self._accepting: weakref.WeakSet[_HTTPConnection] = weakref.WeakSet()
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
            body = error_body(_OVERLOADED, msg)
            return _RefuseProtocol(
                b"".join(
                    (
                        status_line(503),
                        _date_header,
                        b"Content-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n",
                        b"Content-Length: %d\r\n\r\n" % len(body),
                        body,
                    )
                )
            )
        conn = _HTTPConnection(self)
        self._accepting.add(conn)
        return conn

    def _connected(self, conn: _HTTPConnection) -> None:
        self._accepting.discard(conn)
        self._conns.add(conn)

    def _disconnected(self, conn: _HTTPConnection) -> None:
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
        _refresh_date()
        ka = self.keep_alive_timeout
        if ka is not None:
            step = self._tick_every
            for conn in list(self._conns):
                if conn._active or conn._current is not None or conn._queue:
                    conn._active = False
                    conn._idle = 0.0
                else:
                    conn._idle += step
                    if conn._idle >= ka:
                        tr = conn._transport
                        if tr is not None:
                            tr.close()
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
                tr = conn._transport
                if tr is not None:
                    tr.close()
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


def _check_workers(workers: int, settings: HTTPSettings | None) -> None:
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers > 1 and (settings is None or not getattr(settings, "stateless", False)):
        raise ValueError(
            f"workers={workers} needs HTTPSettings(stateless=True): a legacy session lives in one "
            "process, and the kernel spreads connections over the workers, so a session's later "
            "requests would reach workers that never saw it. Stateless mode serves legacy clients "
            "without sessions; 2026-07-28 requests are stateless and work with any worker count."
        )


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
    _check_workers(workers, settings)
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
    ``HTTPSettings(stateless=True)`` (see ``_check_workers``). The parent supervises: a worker
    that dies is restarted, SIGTERM/SIGINT are forwarded, and it returns when all have exited.
    ``ready`` is only honoured with one worker. See ``serve_http`` for the rest.
    """
    _check_workers(workers, settings)
    kw = dict(settings=settings, tls=tls, max_connections=max_connections, grace=grace, **server_kw)
    if workers == 1:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_http(dispatcher, host=host, port=port, ready=ready, **kw))
        return
    _run_workers(dispatcher, workers, host, port, kw)


def _run_workers(dispatcher: Any, workers: int, host: str | None, port: int, kw: dict[str, Any]) -> None:
    if not hasattr(os, "fork") or not hasattr(socket, "SO_REUSEPORT"):
        raise RuntimeError("workers>1 needs fork() and SO_REUSEPORT (Linux, BSD, macOS)")
    # Hold the port in the parent (bound, not listening: it takes no connections) so that
    # port=0 resolves once and a restarted worker finds the same port.
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = infos[0]
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(sockaddr)
    real_port = holder.getsockname()[1]
    children: dict[int, int] = {}
    started: dict[int, float] = {}
    stopping = False
    crashes: deque[float] = deque(maxlen=5 * workers)

    def spawn(index: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    signal.signal(sig, signal.SIG_DFL)
                holder.close()
                asyncio.events._set_running_loop(None)  # a loop running in the parent is not ours
                asyncio.run(serve_http(dispatcher, host=host, port=real_port, reuse_port=True, **kw))
                code = 0
            except KeyboardInterrupt:
                code = 0
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        children[pid] = index
        started[pid] = time.monotonic()

    def forward(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("Streamable HTTP: %d workers on %s:%d", workers, host, real_port)
    try:
        for i in range(workers):
            spawn(i)
        while children:
            time.sleep(0.1)
            for pid in list(children):
                try:
                    done, status = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done, status = pid, 0
                if done == 0:
                    continue
                index = children.pop(pid)
                lived = time.monotonic() - started.pop(pid, 0.0)
                if stopping:
                    continue
                code = os.waitstatus_to_exitcode(status)
                now = time.monotonic()
                crashes.append(now)
                if len(crashes) == crashes.maxlen and now - crashes[0] < 10.0:
                    log.error("workers keep dying (%d exits in 10 s); stopping", len(crashes))
                    forward(signal.SIGTERM, None)
                    continue
                log.warning("worker %d (pid %d) exited with %d after %.1f s; restarting", index, pid, code, lived)
                spawn(index)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        holder.close()
