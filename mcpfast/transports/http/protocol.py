"""The built-in server's HTTP/1.1 connection: an asyncio Protocol on the ``httptools`` parser
(llhttp), in front of the I/O-free ``StreamableHTTP`` core. ``server.py`` listens and hands each
accepted socket one ``HTTPConnection``.

What a connection does, and why:

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
  400, both with ``Connection: close``.
* **Flow control.** When the socket's write buffer passes its high-water mark the connection
  stops reading (no new requests make output it cannot send); ``Responder.buffered()`` tells
  the core how much a slow client left unread.
* **Disconnects.** A client that goes away before its response ended gets the core's
  ``on_close`` callback called once (the core cancels the request or drops the stream).
* **Repeated heads.** A keep-alive MCP client sends the same head again and again (same
  session, same headers; the body length changes only with the digits of the id). When a read
  holds exactly one request whose head is byte for byte the previous one llhttp parsed, that
  parse is reused: no parser pass, no ten parser callbacks. Only heads that llhttp accepted
  and that ask for nothing special (no Expect, Upgrade, Transfer-Encoding, absolute-form
  target; keep-alive) are reused, so the reuse can never accept what llhttp would refuse.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from ...errors import INTERNAL_ERROR, INVALID_REQUEST
from ...metrics import metrics_of
from ..listener import set_nodelay
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
    from .security import Rejection
    from .server import HTTPServer

__all__ = ["HTTPConnection", "ConnResponder", "RefuseProtocol", "date_header", "refresh_date", "require_httptools"]

log = logging.getLogger("mcpfast.transports.http.server")

#: request line + headers, in bytes, past which the request gets 431
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
#: header fields past which the request gets 431
DEFAULT_MAX_HEADERS = 100
#: pipelined requests held (parsed, waiting for the one before them) before reading pauses
MAX_PIPELINED = 16
#: seconds an error response's connection keeps draining the client's unread data before close
#: (closing with unread bytes makes the kernel send RST, which can destroy the response)
LINGER = 2.0

_JSON = [("Content-Type", "application/json")]
#: the core's shared ``JSON_HEADERS`` list, encoded (the core never mutates it)
_JSON_ENCODED = encode_response_headers(JSON_HEADERS)[0]
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

# response states
IDLE, STREAMING, DONE = 0, 1, 2
# kinds of queued work
_HANDLE, _REJECT, _ERROR, _REFUSE = 0, 1, 2, 3
# what a connection waits for (the low two bits of its timeout key; see timeout_state)
_WAIT_IDLE, _WAIT_HEAD, _WAIT_BODY, _WAIT_BUSY = 0, 1, 2, 3
_NO_TIMEOUT: tuple[int, None] = (-1, None)


def require_httptools() -> Any:
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


def refresh_date() -> None:
    """Called once a second by the server's tick (see ``_refresh_date``)."""
    _refresh_date()


def date_header() -> bytes:
    """The current ``Date: ...\\r\\n`` header line."""
    return _date_header


#: raw header name -> lower-case str, shared by all connections
_NAMES: dict[bytes, str] = {}
_METHODS: dict[bytes, str] = {
    m: m.decode() for m in (b"GET", b"POST", b"DELETE", b"PUT", b"HEAD", b"OPTIONS", b"PATCH")
}


class _Stop(Exception):
    """Raised inside a parser callback to stop parsing this connection's input."""


# ---------------------------------------------------------------------------- responder


class ConnResponder(Responder):
    """Turns the core's respond/start/write/end into HTTP/1.1 bytes on one connection."""

    __slots__ = ("_conn", "keep_alive", "_http10", "state", "_chunked", "method")

    def __init__(self, conn: HTTPConnection, method: str, keep_alive: bool, http10: bool) -> None:
        self.on_close: Callable[[], None] | None = None
        self.closed = False
        self._conn = conn
        self.method = method
        self.keep_alive = keep_alive
        self._http10 = http10
        self.state = IDLE
        self._chunked = False

    def _misuse(self, what: str) -> None:
        if not self.closed or self.state == IDLE:
            log.error("Responder.%s() called in the wrong state (%d); ignored", what, self.state)

    def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        if self.state != IDLE:
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
                status, body = 500, error_body(INTERNAL_ERROR, "Internal server error")
        self.state = DONE
        self.closed = True
        conn = self._conn
        tr = conn.transport
        if tr is None:
            return
        # closing (shutdown, or a later pipelined request failed): the last answer says so
        keep_alive = self.keep_alive and not (conn.closing and not conn.pending) and not closes
        self.keep_alive = keep_alive
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
        out = b"".join(
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
        tr.write(out)
        conn.count_sent(len(out))
        conn.response_done(self)

    def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        if self.state != IDLE:
            self._misuse("start")
            return
        try:
            hdrs, closes = encode_response_headers(headers)
        except ValueError:
            log.exception("invalid response header; answering 500 instead")
            self.respond(500, _JSON, error_body(INTERNAL_ERROR, "Internal server error"))
            return
        self.state = STREAMING
        conn = self._conn
        tr = conn.transport
        if tr is None:
            return
        keep_alive = self.keep_alive and not (conn.closing and not conn.pending) and not self._http10 and not closes
        self.keep_alive = keep_alive
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
        out = b"".join(parts)
        tr.write(out)
        self._conn.count_sent(len(out))

    def write(self, data: bytes) -> None:
        if self.state != STREAMING:
            self._misuse("write")
            return
        tr = self._conn.transport
        if tr is None or not data or self.method == "HEAD":
            return
        if self._chunked:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        tr.write(data)
        self._conn.count_sent(len(data))

    def end(self) -> None:
        if self.state != STREAMING:
            if self.state == IDLE:
                self._misuse("end")
            return
        self.state = DONE
        self.closed = True
        conn = self._conn
        tr = conn.transport
        if tr is None:
            return
        if self._chunked:
            tr.write(b"0\r\n\r\n")
            conn.count_sent(5)
        conn.response_done(self)

    def buffered(self) -> int:
        tr = self._conn.transport
        return tr.get_write_buffer_size() if tr is not None else 0

    def lost(self) -> None:
        """The client went away: tell the core once, unless the response was complete."""
        if self.state == DONE:
            return
        self.state = DONE
        self.client_gone()

    @property
    def is_get_stream(self) -> bool:
        """A streamed answer to GET (the standalone SSE stream): it ends only when the core
        shuts down, so a graceful shutdown does not wait for it."""
        return self.state == STREAMING and self.method == "GET"


# ---------------------------------------------------------------------------- connection


class HTTPConnection(asyncio.Protocol):
    """One HTTP/1.1 connection: parses requests, queues pipelined ones, writes responses."""

    def __init__(self, server: HTTPServer) -> None:
        self._server = server
        self._core = server.core
        self._max_body: int = server.core.settings.max_body
        self._max_header_bytes = server.max_header_bytes
        self._max_headers = server.max_headers
        self.transport: asyncio.Transport | None = None
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
        self._current: ConnResponder | None = None
        self.pending: deque[tuple[int, Any, ConnResponder]] = deque()
        self._draining = False
        self._continue_due = False
        self.closing = False  # answer what was asked, then close (shutdown, or an error)
        self._stopped = False  # read nothing more
        self._errored = False  # an error answer: linger before closing (see _close)
        self._linger: asyncio.TimerHandle | None = None
        # flow control
        self._write_paused = False
        self._read_paused = False
        # timeouts: messages completed (part of the key the listener's clock compares), and
        # the graceful shutdown waiting for the requests in progress
        self._nreq = 0
        self._drained: asyncio.Future[None] | None = None
        self._lost = False
        # the repeated-head fast path (see the module docstring): llhttp is between messages
        # (no on_message_begin since the last on_message_complete), the last reusable head's
        # bytes and its parse (method, path, query, headers, keep-alive, http10, body length)
        self._in_message = False
        self._reusable: tuple[str, str, str, dict[str, str], bool, bool, int] | None = None
        self._last_head = b""
        self._last_parse: tuple[str, str, str, dict[str, str], bool, bool, int] | None = None
        # the raw header fields of a WebSocket upgrade request being handed over
        self._upgrade_raw: list[tuple[bytes, bytes]] | None = None
        # metrics of the server behind the core (None when off): bytes in, bytes out, open gauge
        self._m_in: Any = None
        self._m_out: Any = None
        self._m_open: Any = None

    # ------------------------------------------------------------------ transport events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        set_nodelay(transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client = (str(peer[0]), int(peer[1]))
        self._parser = require_httptools().HttpRequestParser(self)
        metrics = metrics_of(getattr(self._core, "dispatcher", None))
        if metrics is not None:
            self._m_in, self._m_out, self._m_open = metrics.connection("tcp")
        self._server.connected(self)
        if self._server.stopping:
            self.closing = True
            self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._m_open is not None:
            self._m_open.dec()
            self._m_open = None
        self.transport = None
        self._stopped = True
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        self._server.disconnected(self)
        self.pending.clear()
        cur = self._current
        self._current = None
        if cur is not None:
            cur.lost()
        waiter = self._drained
        if waiter is not None and not waiter.done():
            waiter.set_result(None)  # a graceful shutdown waiting for this connection is done

    def count_sent(self, n: int) -> None:
        """``n`` bytes were written to the client (for the metrics; nothing when they are off)."""
        if self._m_out is not None:
            self._m_out.inc(n)

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
        tr = self.transport
        if tr is None:
            return
        pause = self._write_paused or len(self.pending) >= MAX_PIPELINED
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
        if self._m_in is not None:
            self._m_in.inc(len(data))
        if self._stopped:
            return  # lingering after an error response, or closing: drain and drop
        fresh = not self._in_message
        if fresh:
            parse = self._last_parse
            if parse is not None:
                head = self._last_head
                if len(data) == len(head) + parse[6] and data.startswith(head):
                    # the head llhttp parsed last time, and exactly its body: reuse the parse
                    self._nreq += 1
                    self._in_head = True  # as after a read that ended with a whole message
                    self._head_carry = True
                    self._head_raw = 0
                    self._request(parse[0], parse[1], parse[2], parse[3].copy(), data[len(head):],
                                  parse[4], parse[5])
                    return
        nreq = self._nreq
        self._reusable = None
        self._feed_len = len(data)
        try:
            self._parser.feed_data(data)
            if fresh and self._nreq == nreq + 1 and not self._in_message and self._reusable is not None:
                # this read held exactly one whole request, from its first byte: remember its
                # head's bytes (where the body of the declared length starts) with the parse
                parse = self._reusable
                end = data.find(b"\r\n\r\n") + 4
                if end >= 4 and len(data) == end + parse[6]:
                    self._last_head = data[:end]
                    self._last_parse = parse
        except _Stop:
            pass
        except Exception as exc:
            ctx = exc.__context__
            if isinstance(ctx, _Stop) or self._stopped:
                return
            if ctx is not None:
                log.error("HTTP connection: parser callback failed", exc_info=ctx)
            httptools = require_httptools()
            if isinstance(exc, httptools.HttpParserUpgrade):
                if self._upgrade_raw is not None:
                    self._websocket(data[exc.args[0]:])
                    return
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

    def on_message_begin(self) -> None:
        self._in_message = True

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
            if headers["upgrade"].lower() == "websocket" and self._server.accepts_websocket(self._url):
                # MCP over WebSocket on this port: handed over once llhttp stops at the upgrade
                self._upgrade_raw = raw
                return
            # no other protocol switch offered: serve it as a plain request, then close
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
                if self._current is None and not self.pending:
                    self.transport.write(_CONTINUE)  # type: ignore[union-attr]
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
        if self._upgrade_raw is not None:
            return  # a WebSocket upgrade: data_received hands the connection over
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
        self._nreq += 1
        self._in_message = False
        # the next message's head starts right after this one
        self._in_head = True
        self._head_carry = False
        url = self._url
        self._url = b""
        if not url.startswith(b"/") and url != b"*":
            # absolute-form (a proxy's request target): keep path and query only; its authority
            # names the host as much as Host does (RFC 9112 3.2.2), so the DNS-rebinding guard
            # checks it too
            parsed = require_httptools().parse_url(url)
            authority = (parsed.host or b"").decode("latin-1")
            if ":" in authority:
                authority = f"[{authority}]"
            if parsed.port is not None:
                authority += f":{parsed.port}"
            rejection = self._server.check_target(authority)
            if rejection is not None:
                self._refuse(rejection)
                raise _Stop
            path = (parsed.path or b"/").decode("latin-1")
            query = (parsed.query or b"").decode("latin-1")
        else:
            i = url.find(b"?")
            if i < 0:
                path, query = url.decode("latin-1"), ""
            else:
                path, query = url[:i].decode("latin-1"), url[i + 1 :].decode("latin-1")
            headers = self._headers
            if (self._keep_alive and "expect" not in headers and "upgrade" not in headers
                    and "transfer-encoding" not in headers):
                # a head the next request may repeat (see data_received)
                self._reusable = (self._method, path, query, headers.copy(), True, self._http10, len(data))
        self._request(self._method, path, query, self._headers, data, self._keep_alive, self._http10)
        if self._stopped:
            raise _Stop

    def _request(self, method: str, path: str, query: str, headers: dict[str, str], data: bytes, keep_alive: bool,
                 http10: bool) -> None:
        """A whole request: to the core now, or queued behind the one being answered."""
        request = HTTPRequest(method, path, query, headers, data, self._client)
        responder = ConnResponder(self, method, keep_alive, http10)
        if not keep_alive:
            self._stopped = True  # nothing after this request is read
            self.closing = True
        if self._current is None and not self.pending:
            self._current = responder
            try:
                self._core.handle(request, responder)
            except Exception:
                self._handle_failed(request, responder)
        else:
            self.pending.append((_HANDLE, request, responder))
            if len(self.pending) >= MAX_PIPELINED:
                self._update_reading()

    # ------------------------------------------------------------------ request queue

    def _enqueue(self, kind: int, item: Any, responder: ConnResponder) -> None:
        if self._current is None and not self.pending:
            self._current = responder
            self._run(kind, item, responder)
        else:
            self.pending.append((kind, item, responder))
            if len(self.pending) >= MAX_PIPELINED:
                self._update_reading()

    def _run(self, kind: int, item: Any, responder: ConnResponder) -> None:
        try:
            if kind == _HANDLE:
                self._core.handle(item, responder)
            elif kind == _REJECT:
                self._core.reject_too_large(responder)
            elif kind == _REFUSE:
                rejection: Rejection = item
                responder.respond(rejection.status, list(rejection.headers), rejection.body)
            else:
                status, message = item
                responder.respond(status, _JSON, error_body(INVALID_REQUEST, message))
        except Exception:
            self._handle_failed(item, responder)

    def _handle_failed(self, item: Any, responder: ConnResponder) -> None:
        # handle() never raises by contract; if it does, the request still gets one answer
        log.exception("Streamable HTTP core raised for %s", getattr(item, "path", item))
        if responder.state == IDLE:
            responder.keep_alive = False
            responder.respond(500, _JSON, error_body(INTERNAL_ERROR, "Internal server error"))
        elif responder.state == STREAMING:
            responder.keep_alive = False
            responder.end()

    def response_done(self, responder: ConnResponder) -> None:
        if responder is not self._current:
            return
        self._current = None
        if not responder.keep_alive:
            self._close()
            return
        if self._draining:
            return
        self._draining = True
        try:
            queue = self.pending
            while self._current is None and queue and self.transport is not None:
                kind, item, nxt = queue.popleft()
                self._current = nxt
                self._run(kind, item, nxt)
        finally:
            self._draining = False
        if self._current is None and self.transport is not None:
            if self._read_paused:
                self._update_reading()
            if self._continue_due:
                self._continue_due = False
                self.transport.write(_CONTINUE)
            if self.closing:
                self._close()
        waiter = self._drained
        if waiter is not None and not self.busy and not waiter.done():
            waiter.set_result(None)

    def _websocket(self, rest: bytes) -> None:
        """Hand this connection to the WebSocket endpoint (``rest``: what followed the upgrade
        request's head). An upgrade behind pipelined requests is refused: the answers before it
        would have to be sent first, and a client that upgrades does not pipeline."""
        raw, self._upgrade_raw = self._upgrade_raw, None
        tr = self.transport
        if raw is None or tr is None:
            return
        if self._current is not None or self.pending:
            self._fail(400, "A WebSocket upgrade must not follow pipelined requests")
            return
        version = self._parser.get_http_version().encode("ascii")
        head = b"".join((b"GET ", self._url, b" HTTP/", version, b"\r\n",
                         *(b"%b: %b\r\n" % pair for pair in raw), b"\r\n"))
        self._url = b""
        self._stopped = True
        self.transport = None
        self._server.disconnected(self)
        self._server.websocket_connection().take_over(tr, head, rest)

    def _reject(self) -> None:
        """The body is over ``max_body``: the core answers 413 in its turn, then close."""
        self._stop_reading()
        self._continue_due = False
        responder = ConnResponder(self, self._method, False, self._http10)
        self._enqueue(_REJECT, None, responder)

    def _fail(self, status: int, message: str) -> None:
        """An HTTP-level error: answer it in its turn with Connection: close, read no more."""
        if self._stopped:
            return
        self._stop_reading()
        self._continue_due = False
        responder = ConnResponder(self, self._method, False, self._http10)
        self._enqueue(_ERROR, (status, message), responder)

    def _refuse(self, rejection: Rejection) -> None:
        """A request refused before it reaches the core (the DNS-rebinding guard): answer it in
        its turn with Connection: close, read no more."""
        if self._stopped:
            return
        self._stop_reading()
        self._continue_due = False
        responder = ConnResponder(self, self._method, False, self._http10)
        self._enqueue(_REFUSE, rejection, responder)

    def _stop_reading(self) -> None:
        self._stopped = True
        self.closing = True
        self._errored = True
        self._in_head = False

    # ------------------------------------------------------------------ closing

    def _close(self) -> None:
        """Close once the written bytes are flushed. After an error the client may still be
        sending (a body we refused): shut our side, drain its data for up to ``LINGER`` seconds,
        so that the kernel does not answer the unread bytes with RST and destroy the response."""
        tr = self.transport
        if tr is None or tr.is_closing():
            return
        self._stopped = True
        self.pending.clear()
        if self._server.stopping or not self._errored:
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

    async def shutdown(self, grace: float) -> None:
        """Server shutdown: read no new request (one half received is dropped); answer what is
        in progress, within ``grace`` seconds, with Connection: close; idle: close now. Returns
        with a GET event stream still open (the core's shutdown ends it)."""
        self.closing = True
        self._stopped = True
        if self._current is None and not self.pending:
            self.close()
            return
        if not self.busy:
            return
        waiter = self._drained = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(waiter, grace)
        except TimeoutError:
            pass  # the listener closes what is left
        finally:
            self._drained = None

    def abort(self) -> None:
        tr = self.transport
        if tr is not None:
            tr.abort()

    def close(self) -> None:
        """Close now (what was written is still flushed)."""
        tr = self.transport
        if tr is not None:
            tr.close()

    # ------------------------------------------------------------------ timeouts

    def timeout_state(self) -> tuple[int, float | None]:
        """For the listener's clock: what the connection waits for, as ``requests completed * 4
        + what``, and how long that may take. Waiting for a head (from its first request-target
        byte) or a body are limited by the server's head and body timeouts; waiting with no
        request at all by the keep-alive timeout, counted from the last response (bytes that
        start no request, such as blank lines, do not reset it); a request in progress or
        queued has no limit."""
        if self._stopped:
            return _NO_TIMEOUT
        key = self._nreq << 2
        if self._current is not None or self.pending:
            return key | _WAIT_BUSY, None
        server = self._server
        if self._url:
            if self._in_head:
                return key | _WAIT_HEAD, server.head_timeout
            return key | _WAIT_BODY, server.body_timeout
        return key | _WAIT_IDLE, server.idle_timeout

    def timed_out(self, key: Hashable) -> None:
        """A head or body too slow: 408 and close; a keep-alive connection idle: close."""
        what = key & 3 if isinstance(key, int) else _WAIT_IDLE
        if what == _WAIT_HEAD:
            self._fail(408, f"Request Timeout: the request head took more than {self._server.head_timeout} s")
        elif what == _WAIT_BODY:
            self._fail(408, f"Request Timeout: the request body took more than {self._server.body_timeout} s")
        else:
            self.close()

    @property
    def busy(self) -> bool:
        """A request is being answered or waits its turn (a GET stream does not count)."""
        cur = self._current
        return bool(self.pending) or (cur is not None and not cur.is_get_stream)


class RefuseProtocol(asyncio.Protocol):
    """Past ``max_connections``: a 503 with Connection: close; the client's request is drained
    (not read) until it closes or ``LINGER`` passes, so the answer is not lost to a reset."""

    def __init__(self, response: bytes) -> None:
        self._response = response
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tr: asyncio.Transport = transport  # type: ignore[assignment]
        self.transport = tr
        set_nodelay(tr)
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
