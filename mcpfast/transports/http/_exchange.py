"""Where a peer's output goes on HTTP: one POST's response (``Exchange``), a session's GET stream
(``GetStream``), and the peers that route to them.

A POST request's answer is a JSON body when the handler answers before sending anything else
(the hot path: one ``Responder.respond`` call), and switches to an SSE stream at the first
notification or server->client request sent while the handler runs; the stream ends after the
response. Routing uses only the peer's public seams:

* a final response: the request is run with ``peer.call(request, exchange.answer)``, so its
  answer reaches its exchange whenever it comes (at once, or from a suspended handler);
* anything else (``notify``, ``request``) leaves through ``peer.emit``, overridden here: the
  ``stream_control`` context variable holds the exchange of the request being handled (it is
  set around ``call``, and the tasks of suspended handlers copy the context), so the message
  goes to that request's stream, or to the session's GET stream when it belongs to no request
  of this peer;
* ``peer.on_suspend`` tells the exchange that its handler suspended (watch the client, start
  keep-alives).

A 2026-07-28 request gets a fresh ``ModernPeer`` of its own (nothing outlives the request); a
legacy session has one long-lived ``SessionPeer``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ...errors import (
    CONNECTION_CLOSED,
    HEADER_MISMATCH,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    MISSING_CLIENT_CAPABILITY,
    PARSE_ERROR,
    REQUEST_CANCELLED,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from ...peer import JSONRPCPeer
from ...requestvars import stream_control
from ...wire import jsonrpc
from ...wire.framing import encode_sse

if TYPE_CHECKING:
    from .core import Responder, StreamableHTTP
    from .sessions import Session

__all__ = ["Exchange", "InitExchange", "BatchExchange", "BatchPart", "GetStream", "ModernPeer", "SavingExchange",
           "SessionPeer", "STATUS_OF_ERROR"]

log = logging.getLogger("mcpfast.http")

_encode_error = jsonrpc.encode_error
_current = stream_control.get

#: 2026-07-28: the HTTP status of a JSON error response, by JSON-RPC code (others: 200)
STATUS_OF_ERROR: dict[int, int] = {
    PARSE_ERROR: 400, INVALID_REQUEST: 400, INVALID_PARAMS: 400, HEADER_MISMATCH: 400,
    MISSING_CLIENT_CAPABILITY: 400, UNSUPPORTED_PROTOCOL_VERSION: 400, METHOD_NOT_FOUND: 404,
}

JSON_HEADERS: list[tuple[str, str]] = [("content-type", "application/json")]
SSE_HEADERS: list[tuple[str, str]] = [
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache, no-transform"),
    ("x-accel-buffering", "no"),
]
_PING = b": ping\n\n"
_REQUEST_PREFIX = b'{"jsonrpc":"2.0","id":'

# exchange states
PENDING = 0  # nothing sent yet: the answer may still be a JSON body
SSE = 1  # an SSE stream is open on the responder
DETACHED = 2  # the stream ended (client gone, or close_sse_stream) while the request runs
DONE = 3  # the response was sent (or the request is abandoned)


def _no_send(messages: list[bytes]) -> None:  # pragma: no cover - every answer has a sink, emit is overridden
    raise AssertionError("an HTTP peer sends through its exchanges")


# ============================================================================== exchanges


class Exchange:
    """One POST request's response (see the module docstring); also the ``stream_control``
    object its handler sees."""

    __slots__ = ("http", "responder", "rid", "peer", "session", "state", "stream_id", "timer", "modern", "json_only")

    def __init__(self, http: StreamableHTTP, responder: Responder | None, rid: Any, peer: Any, session: Session | None,
                 modern: bool, json_only: bool) -> None:
        self.http = http
        self.responder: Responder | None = responder
        self.rid = rid
        self.peer = peer
        self.session = session
        self.state = PENDING
        #: the resumable stream id (legacy, once streaming with an event store), else None
        self.stream_id: str | None = None
        self.timer: asyncio.TimerHandle | None = None
        #: 2026-07-28: error responses get the HTTP status of their code; no event ids
        self.modern = modern
        #: answer with one JSON body, never SSE (HTTPSettings.json_response)
        self.json_only = json_only

    # ------------------------------------------------------------------ stream_control

    def close_sse_stream(self) -> None:
        """End this request's SSE stream now (SEP-1699 polling): the request keeps running, what
        it sends later is kept in the event store and delivered when the client resumes with
        GET + ``Last-Event-ID``. A no-op where the client could not resume (2026-07-28, before
        2025-11-25, no event store, JSON responses)."""
        if self.state > SSE or not self._resumable() or self.json_only:
            return
        if self.state == PENDING:
            self._start_sse()
        self._detach(end=True)

    def close_standalone_sse_stream(self) -> None:
        """End the session's GET stream (the client reconnects with ``Last-Event-ID``)."""
        session = self.session
        if session is not None and session.get is not None and self._resumable():
            session.get.close()

    def _resumable(self) -> bool:
        return (self.session is not None and self.http.store is not None
                and self.session.protocol_version >= "2025-11-25")

    # ------------------------------------------------------------------ output

    def answer(self, rid: Any, data: bytes, code: int | None) -> None:
        """The reply sink of this exchange's request (``peer.call(request, exchange.answer)``)."""
        session = self.session
        if session is not None:
            suspended = session.peer.exchanges
            if suspended:
                suspended.pop(rid, None)
        self.finish(data, code)

    def finish(self, data: bytes, code: int | None) -> None:
        """The final response (``code``: its JSON-RPC error code, None for a result)."""
        state = self.state
        if state == PENDING:
            self.state = DONE
            timer = self.timer
            if timer is not None:
                timer.cancel()
                self.timer = None
            status = 200
            if code is not None and self.modern:
                status = STATUS_OF_ERROR.get(code, 200)
            self.responder.respond(status, JSON_HEADERS, data)  # type: ignore[union-attr]
            http = self.http
            if http.metrics_on:
                http.count_response("POST", status)
            if self.session is None:
                http.inflight.discard(self)
                self.peer = None  # no reference cycle with the peer: freed at once
            return
        if state == DONE:
            return
        if state == SSE:
            self._event(data)
            if self.state == SSE:  # (not cut off as a slow client)
                self.state = DONE
                self._end_stream()
        else:  # DETACHED: keep it for a resuming client
            self.state = DONE
            if self.stream_id is not None and self.http.store is not None:
                self.http.store.store_event(self.stream_id, data)
        self._done()

    def message(self, data: bytes) -> None:
        """A notification or server->client request sent while this request was handled."""
        state = self.state
        if state == PENDING:
            if self.json_only:
                # a JSON body carries only the response: notifications have no wire; a
                # server->client request (legacy) still may go on the session's GET stream
                if self.session is not None and data.startswith(_REQUEST_PREFIX):
                    self.http.unsolicited(self.session, data)
                return
            self._start_sse()
            self._event(data)
        elif state == SSE:
            self._event(data)
        elif state == DETACHED:
            if self.stream_id is not None and self.http.store is not None:
                self.http.store.store_event(self.stream_id, data)
        elif self.session is not None:  # DONE: a late message (a task the handler left behind)
            self.http.unsolicited(self.session, data)

    def _start_sse(self) -> None:
        r = self.responder
        assert r is not None
        r.on_close = self.on_close
        r.start(200, self._sse_headers())
        self.state = SSE
        http = self.http
        http.count_response("POST", 200)
        http.sse_opened()
        session = self.session
        if session is not None and http.store is not None and not self.modern:
            session.nstreams += 1
            self.stream_id = sid = f"{session.id}.{session.nstreams}"
            if session.live is None:
                session.live = {}
            session.live[sid] = self
            if session.protocol_version >= "2025-11-25":
                eid = http.store.store_event(sid, b"")
                r.write(encode_sse(b"", id=eid, retry=http.settings.sse_retry_ms))
        if self.timer is None and not self.json_only:
            self.timer = asyncio.get_running_loop().call_later(http.settings.sse_keepalive, self._keepalive)

    def _sse_headers(self) -> list[tuple[str, str]]:
        return SSE_HEADERS

    def _event(self, data: bytes) -> None:
        r = self.responder
        assert r is not None
        sid = self.stream_id
        if sid is not None:
            chunk = encode_sse(data, event="message", id=self.http.store.store_event(sid, data))  # type: ignore[union-attr]
        else:
            chunk = encode_sse(data, event="message")
        r.write(chunk)
        if r.buffered() > self.http.settings.max_sse_buffer:
            log.warning("closing the SSE stream of request %r: the client is not reading (%d bytes queued)",
                        self.rid, r.buffered(), extra={"jsonrpc_request_id": self.rid})
            if self.modern or self.session is None:
                self.state = DONE
                self._end_stream()
                self._cancel_request()
                self._done()
            else:
                self._detach(end=True)

    def _end_stream(self) -> None:
        r = self.responder
        if r is not None:
            r.on_close = None
            r.end()
            self.http.sse_closed()

    def _detach(self, end: bool) -> None:
        # legacy: the stream is gone but the request runs on; a resuming client gets the rest
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if end and self.state == SSE:
            self._end_stream()
        elif self.state == SSE:
            self.http.sse_closed()
        self.state = DETACHED
        self.responder = None

    def attach(self, responder: Responder) -> None:
        """A client resumed this request's stream (GET + Last-Event-ID): continue on it."""
        old = self.responder
        if old is not None and self.state == SSE:
            self._end_stream()
        self.responder = responder
        self.state = SSE
        responder.on_close = self.on_close
        self.http.sse_opened()
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self.http.settings.sse_keepalive, self._keepalive)

    def _keepalive(self) -> None:
        self.timer = None
        state = self.state
        if state == PENDING:
            if self.json_only:
                return
            # a silent long-running request: commit to SSE so keep-alive comments can flow
            # (a proxy's idle-read timeout would otherwise cut it, which at 2026-07-28 cancels it)
            self._start_sse()
            return
        if state != SSE:
            return
        r = self.responder
        assert r is not None
        r.write(_PING)
        self.timer = asyncio.get_running_loop().call_later(self.http.settings.sse_keepalive, self._keepalive)

    def suspended(self) -> None:
        """The handler suspended: watch for the client going away, and keep the line alive."""
        r = self.responder
        if r is not None and self.state <= SSE:
            r.on_close = self.on_close
            if self.timer is None and not (self.json_only and self.state == PENDING):
                self.timer = asyncio.get_running_loop().call_later(self.http.settings.sse_keepalive, self._keepalive)
        if self.session is None:
            self.http.inflight.add(self)

    def on_close(self) -> None:
        """The client went away before the response was complete."""
        state = self.state
        if state >= DETACHED:
            return
        if self.modern or self.session is None:
            # 2026-07-28: closing the response stream is how a client cancels
            if state == SSE:
                self.http.sse_closed()
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self.state = DONE
            self.responder = None
            self._cancel_request()
            self._done()
        else:
            # legacy: disconnection is not cancellation; the stream may be resumed
            self._detach(end=False)

    def abort(self, message: str) -> None:
        """End the response without the request's answer (the session or server is going)."""
        state = self.state
        if state == PENDING:
            self.state = DONE
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            body = _encode_error(self.rid, CONNECTION_CLOSED, message)
            try:
                self.responder.respond(503, JSON_HEADERS, body)  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 - a front end that already gave up on it
                log.debug("could not answer request %r", self.rid, exc_info=True,
                          extra={"jsonrpc_request_id": self.rid})
            self._done()
        elif state == SSE:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self.state = DONE
            self._end_stream()
            self._done()
        elif state == DETACHED:
            self.state = DONE
            self._done()

    def _cancel_request(self) -> None:
        peer = self.peer
        if peer is not None:
            peer.cancel_request(self.rid)

    def _done(self) -> None:
        session = self.session
        if session is not None:
            if self.stream_id is not None and session.live is not None:
                session.live.pop(self.stream_id, None)
                if not session.live:
                    session.live = None
        else:
            self.http.inflight.discard(self)
            self.peer = None  # no reference cycle through the peer's exchange: freed at once

    def __repr__(self) -> str:
        return f"<Exchange id={self.rid!r} state={('pending', 'sse', 'detached', 'done')[self.state]}>"


class InitExchange(Exchange):
    """The ``initialize`` that opens a session: the session exists only once it succeeded."""

    __slots__ = ()

    def finish(self, data: bytes, code: int | None) -> None:
        if code is None and self.http.shared is not None:
            # sessions shared between processes: the record is written before the answer leaves
            self.http.share_new_session(self, data)
            return
        self.complete(data, code)

    def complete(self, data: bytes, code: int | None) -> None:
        """Answer the ``initialize`` (the session is served from now on if it succeeded)."""
        session = self.session
        assert session is not None
        if code is None:
            self.http.register_session(session)
            if self.state == PENDING:
                self.state = DONE
                headers = [("content-type", "application/json"), ("mcp-session-id", session.id)]
                self.responder.respond(200, headers, data)  # type: ignore[union-attr]
                self.http.count_response("POST", 200)
                return
            super().finish(data, code)
            return
        super().finish(data, code)
        self.http.discard_session(session)

    def refuse(self, status: int, body: bytes) -> None:
        """The session could not be established after all (its record could not be shared):
        answer ``body`` (a JSON-RPC error) instead of the result, and drop the session."""
        session = self.session
        assert session is not None
        if self.state == PENDING:
            self.state = DONE
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self.responder.respond(status, JSON_HEADERS, body)  # type: ignore[union-attr]
            self.http.count_response("POST", status)
        else:
            Exchange.finish(self, body, CONNECTION_CLOSED)
        self.http.discard_session(session)

    def _sse_headers(self) -> list[tuple[str, str]]:
        assert self.session is not None
        return [*SSE_HEADERS, ("mcp-session-id", self.session.id)]


class SavingExchange(Exchange):
    """A request that changes its session's state (``logging/setLevel``...) on a front whose
    sessions are shared between processes: answered once the new state is written back."""

    __slots__ = ()

    def finish(self, data: bytes, code: int | None) -> None:
        if code is None and self.session is not None:
            self.http.save_session_then(self, data)
            return
        Exchange.finish(self, data, code)

    @property
    def streaming(self) -> bool:
        """The answer can no longer be one JSON body (the handler sent something first)."""
        return self.state != PENDING

    def complete(self, data: bytes, code: int | None) -> None:
        """Answer now (the state was written, or could not be: ``data`` says which)."""
        Exchange.finish(self, data, code)


class BatchExchange(Exchange):
    """A JSON-RPC batch POSTed to a 2025-03-26 session (the only revision with batches): one
    HTTP response for all its requests, a JSON array when they all answer before anything else
    is sent, else an SSE stream carrying each response as it comes."""

    __slots__ = ("waiting", "answers")

    def __init__(self, http: StreamableHTTP, responder: Responder, session: Session, json_only: bool) -> None:
        Exchange.__init__(self, http, responder, None, session.peer, session, False, json_only)
        #: responses still to come
        self.waiting = 0
        #: responses gathered while the answer may still be one JSON array
        self.answers: list[bytes] = []

    def collect(self, data: bytes) -> None:
        """One request's response."""
        self.waiting -= 1
        state = self.state
        if state == PENDING:
            self.answers.append(data)
            if self.waiting <= 0:
                self.state = DONE
                if self.timer is not None:
                    self.timer.cancel()
                    self.timer = None
                self.responder.respond(200, JSON_HEADERS, b"[" + b",".join(self.answers) + b"]")  # type: ignore[union-attr]
                self.answers = []
                self.http.count_response("POST", 200)
            return
        if state == SSE:
            self._event(data)
            if self.waiting <= 0 and self.state == SSE:
                self.state = DONE
                if self.timer is not None:
                    self.timer.cancel()
                    self.timer = None
                self._end_stream()
                self._done()
        elif state == DETACHED:
            if self.stream_id is not None and self.http.store is not None:
                self.http.store.store_event(self.stream_id, data)
            if self.waiting <= 0:
                self.state = DONE
                self._done()

    def message(self, data: bytes) -> None:
        if self.state == PENDING and not self.json_only:
            self._start_sse()
            answers, self.answers = self.answers, []
            for a in answers:
                self._event(a)
            self._event(data)
            return
        Exchange.message(self, data)

    def finish(self, data: bytes, code: int | None) -> None:  # pragma: no cover - parts collect()
        self.collect(data)


class BatchPart(Exchange):
    """One request of a batch: routes what its handler sends to the batch's exchange."""

    __slots__ = ("parent",)

    def __init__(self, parent: BatchExchange, rid: Any) -> None:
        Exchange.__init__(self, parent.http, None, rid, parent.peer, parent.session, False, parent.json_only)
        self.parent = parent

    def finish(self, data: bytes, code: int | None) -> None:
        if self.state != DONE:
            self.state = DONE
            self.parent.collect(data)

    def message(self, data: bytes) -> None:
        if self.state != DONE:
            self.parent.message(data)
        elif self.session is not None:
            self.http.unsolicited(self.session, data)

    def suspended(self) -> None:
        self.parent.suspended()

    def close_sse_stream(self) -> None:
        self.parent.close_sse_stream()

    def on_close(self) -> None:  # pragma: no cover - the responder belongs to the parent
        self.parent.on_close()

    def abort(self, message: str) -> None:
        if self.state != DONE:
            self.state = DONE
            self.parent.abort(message)


class GetStream:
    """A session's standalone GET stream: messages that belong to no request."""

    __slots__ = ("http", "session", "responder", "stream_id", "timer")

    def __init__(self, http: StreamableHTTP, session: Session, responder: Responder) -> None:
        self.http = http
        self.session = session
        self.responder = responder
        self.stream_id = f"{session.id}.0"
        self.timer: asyncio.TimerHandle | None = None

    def open(self, replay: list[tuple[str, bytes]]) -> None:
        http = self.http
        r = self.responder
        r.on_close = self.on_close
        r.start(200, SSE_HEADERS)
        http.count_response("GET", 200)
        http.sse_opened()
        store = http.store
        if store is not None and self.session.protocol_version >= "2025-11-25":
            r.write(encode_sse(b"", id=store.store_event(self.stream_id, b""), retry=http.settings.sse_retry_ms))
        for eid, data in replay:
            r.write(encode_sse(data, event="message", id=eid))
        self.timer = asyncio.get_running_loop().call_later(http.settings.sse_keepalive, self._keepalive)

    def send(self, data: bytes) -> None:
        store = self.http.store
        if store is not None:
            chunk = encode_sse(data, event="message", id=store.store_event(self.stream_id, data))
        else:
            chunk = encode_sse(data, event="message")
        r = self.responder
        r.write(chunk)
        if r.buffered() > self.http.settings.max_sse_buffer:
            log.warning("closing the GET stream of session %s...: the client is not reading", self.session.id[:8])
            self.close()

    def _keepalive(self) -> None:
        self.timer = None
        if self.session.get is self:
            self.responder.write(_PING)
            self.timer = asyncio.get_running_loop().call_later(self.http.settings.sse_keepalive, self._keepalive)

    def _gone(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.session.get is self:
            self.session.get = None
            if self.http.shared is not None:
                self.http.shared.release_get(self.session.id)
        self.http.sse_closed()

    def on_close(self) -> None:
        """The client went away."""
        if self.session.get is self:
            self._gone()

    def close(self) -> None:
        """End the stream (the client may reconnect with ``Last-Event-ID``)."""
        if self.session.get is not self:
            return
        self._gone()
        r = self.responder
        r.on_close = None
        r.end()


# ============================================================================== peers


class ModernPeer(JSONRPCPeer):
    """The peer of one 2026-07-28 POST (or one legacy POST without a session): everything it
    sends belongs to its one exchange."""

    def __init__(self, dispatcher: Any, ex: Exchange, request_timeout: float | None, max_in_flight: int,
                 loop: asyncio.AbstractEventLoop | None) -> None:
        # one is made per request: the base initializer called directly
        JSONRPCPeer.__init__(self, dispatcher, _no_send, request_timeout=request_timeout,
                             max_in_flight=max_in_flight, loop=loop)
        self.exchange = ex
        self.network_transport = "tcp"

    def emit(self, data: bytes) -> None:
        if not self.closed:
            self.exchange.message(data)

    def on_suspend(self, rid: Any) -> None:
        self.exchange.suspended()


class SessionPeer(JSONRPCPeer):
    """A legacy session's long-lived peer: what a handler sends goes to the exchange of the
    request being handled (``stream_control``), else to the session's GET stream."""

    def __init__(self, dispatcher: Any, http: StreamableHTTP, request_timeout: float | None, max_in_flight: int,
                 loop: asyncio.AbstractEventLoop | None, id_base: int = 0) -> None:
        JSONRPCPeer.__init__(self, dispatcher, _no_send, request_timeout=request_timeout,
                             max_in_flight=max_in_flight, loop=loop)
        if id_base:
            # sessions shared between processes: each process's server->client request ids are
            # its own (the client must never see one id twice), and name who waits for the answer
            self._next_id = id_base
        self.http = http
        self.network_transport = "tcp"
        self.session: Session | None = None
        #: requests whose handler suspended -> their exchange (until answered, see Exchange.answer)
        self.exchanges: dict[Any, Exchange] = {}

    def emit(self, data: bytes) -> None:
        if self.closed:
            return
        ex = _current()
        if ex is not None and ex.peer is self:
            ex.message(data)
        elif self.session is not None:
            self.http.unsolicited(self.session, data)

    def on_suspend(self, rid: Any) -> None:
        ex = _current()
        if ex is not None and ex.peer is self:
            self.exchanges[rid] = ex
            ex.suspended()

    def cancel_request(self, rid: Any) -> bool:
        if not super().cancel_request(rid):
            return False
        # the client cancelled (notifications/cancelled): nothing will answer the handler, but
        # the 2025 wire ends a request's stream only with a response for it
        ex = self.exchanges.pop(rid, None)
        if ex is not None:
            ex.finish(_encode_error(rid, REQUEST_CANCELLED, "Request cancelled"), REQUEST_CANCELLED)
        return True
