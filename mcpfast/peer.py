"""The transport-neutral JSON-RPC peer: one class for server and client use.

It owns request ids, pending futures, dispatch of incoming requests and notifications,
cancellation, timeouts, the in-flight limit and the rule that every request gets exactly one
answer. It knows JSON-RPC but no MCP method: what a request means is the dispatcher's business
(``mcpfast.server`` and ``mcpfast.client`` supply dispatchers).

Transports hand it decoded messages in batches (``feed``) and give it a ``send`` callable that
takes a list of encoded messages; everything the peer produces while handling one batch leaves
in one ``send`` call, and replies finished later in the same loop iteration are coalesced too.

Drivers that route answers by request (HTTP answers each request on its own POST; a client
hands each answer to its caller) use the public seams instead of subclassing internals:

* ``call(request, sink)`` (and ``feed(messages, sink)``): the final answer of each request goes
  to ``sink(rid, data, error_code)`` -- at once when the handler answers eagerly, later when a
  suspended handler finishes, times out or is cancelled at shutdown. Without a sink, answers
  join the ``send`` batch as above.
* ``emit(data)``: every message that is not such an answer (notifications, outgoing requests)
  leaves through it; it queues for ``send`` and is overridden by drivers that route messages.
* ``on_suspend(rid)``: called when a request's handler suspends (it is in flight from then on).
* ``in_flight``, ``has_in_flight(rid)``, ``max_in_flight``: for a driver's own admission checks.

A dispatcher whose answer comes from elsewhere (a thread pool hands results back to the loop)
returns a ``Deferred`` and later calls its ``resolve(result)`` or ``reject(exc)``: the request
is tracked like a suspended handler, without a future, and answered inside ``resolve``.

Handlers run eagerly: a request handler is called on the reader path, and if it returns a plain
value, or a coroutine that finishes without suspending, the reply is encoded at once, without
a task or a trip through the event loop. Only a coroutine that really suspends is wrapped in a
task (with its context kept) and tracked for cancellation and timeout.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextvars
import logging
import sys
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Protocol

from . import requestvars
from .errors import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    REQUEST_TIMEOUT,
    SERVER_OVERLOADED,
    ConnectionClosed,
    JSONRPCError,
    McpError,
)
from .wire import jsonrpc
from .wire.jsonrpc import ErrorResponse, Notification, Request, Response

__all__ = ["Deferred", "Dispatcher", "JSONRPCPeer", "ReplySink", "RequestCancelled", "DEFAULT_MAX_IN_FLIGHT"]

log = logging.getLogger("mcpfast.peer")

DEFAULT_MAX_IN_FLIGHT = 1024
#: ``JSONRPCPeer.write_chunk``: requests made in one loop iteration that leave in one write
DEFAULT_WRITE_CHUNK = 16
#: how many abandoned requests keep a late-answer callback (``abandon_request(late=)``)
LATE_ANSWER_CAP = 64

#: where the final answer of one request goes: ``sink(rid, data, error_code)``, ``data`` the
#: encoded response, ``error_code`` its JSON-RPC error code (None for a result)
ReplySink = Callable[[Any, bytes, int | None], None]

_CoroutineType = types.CoroutineType
# the running task of a loop, asked once per feed()/call(): on 3.11 asyncio.current_task is a
# Python function over the C module's dict of running tasks, read here directly; from 3.12 on
# current_task is C itself (and where asyncio keeps the current task changed)
_running_task: Callable[[asyncio.AbstractEventLoop], Any] = asyncio.current_task
if sys.version_info < (3, 12):  # pragma: no branch - depends on the Python version
    _tasks_by_loop = getattr(asyncio.tasks, "_current_tasks", None)
    if type(_tasks_by_loop) is dict:
        _running_task = _tasks_by_loop.get
# asyncio's own bookkeeping of the running task (private; present from 3.8 on, and used by
# 3.12's eager tasks); see feed(). Without it feed() cannot step out of a caller's task.
_enter_task = getattr(asyncio.tasks, "_enter_task", None)
_leave_task = getattr(asyncio.tasks, "_leave_task", None)
_set_current_request = requestvars.current_request.set
_reset_current_request = requestvars.current_request.reset
_log_extra = requestvars.log_extra
_encode_result = jsonrpc.encode_result
_encode_error = jsonrpc.encode_error
_encode_request = jsonrpc.encode_request
_encode_notification = jsonrpc.encode_notification


class RequestCancelled(Exception):
    """Raised to a caller awaiting ``request()`` when the request was cancelled locally."""


class Dispatcher(Protocol):
    """What a peer calls. Server and client cores implement it; it knows the methods."""

    def on_request(self, peer: JSONRPCPeer, request: Any) -> Any:
        """Answer ``request`` (a ``jsonrpc.Request``): return the result (a dict, a JSON value,
        or ``bytes`` already encoded), or a coroutine that returns it; raise a JSONRPCError
        for an error response. Any other exception becomes -32603 with no details leaked.

        A coroutine's first step runs eagerly, outside any task: ``asyncio.current_task()`` is
        None there, so code that needs a task before its first suspension (``asyncio.timeout``,
        anyio, sniffio, hence httpx) fails in it. For such handlers return a task instead
        (``asyncio.ensure_future(coro)``): an ``asyncio.Future`` is tracked like a suspended
        handler (timeout, cancellation, in-flight limit). A ``Deferred`` is tracked the same
        way, without a future: for answers produced by other machinery (a thread pool)."""

    def on_notification(self, peer: JSONRPCPeer, notification: Any) -> Any:
        """Handle a notification; may return a coroutine (run as a task). Never answered."""

    def on_batch(self, peer: JSONRPCPeer, batch: Any) -> bool:
        """Whether a JSON-RPC batch is acceptable now (MCP allows them only at 2025-03-26)."""

    def on_close(self, peer: JSONRPCPeer, exc: BaseException | None) -> None:
        """The connection is gone (``exc`` is the reason, or None)."""


_NOTHING: Any = object()
_PASSED_ON = frozenset(("__name__", "__qualname__", "cr_code", "cr_frame", "cr_running", "cr_await"))


class _Resume(collections.abc.Coroutine):  # type: ignore[type-arg]
    """Continue a coroutine that suspended during its eager first step, inside a Task.

    The coroutine already yielded ``first`` (a future with its blocking flag set, or None for a
    bare yield); the Task's first step gets it back so it waits on it, then values and
    exceptions go straight to the coroutine, exactly as ``yield from`` would. This object is
    given to the Task itself (not wrapped in another coroutine) so that a Task cancelled before
    its first step throws CancelledError into the handler at its await, where its ``except``
    and ``finally`` blocks run normally: a wrapper coroutine that never started would swallow
    the throw and leave the handler to be closed by the garbage collector.
    """

    __slots__ = ("_coro", "_first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self._coro = coro
        self._first = first

    def send(self, value: Any) -> Any:
        first = self._first
        if first is not _NOTHING:
            self._first = _NOTHING
            return first
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self._first = _NOTHING
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)  # pragma: no cover - asyncio throws instances

    def close(self) -> None:
        self._first = _NOTHING
        self._coro.close()

    def __getattr__(self, name: str) -> Any:
        # Task repr, get_stack() and debuggers look for these: show the handler, not the shim
        if name in _PASSED_ON:
            return getattr(self._coro, name)
        raise AttributeError(name)

    def __await__(self) -> Generator[Any, Any, Any]:
        # awaited directly rather than run as a Task: the same steps, as ``yield from`` would
        arg: Any = None
        exc: BaseException | None = None
        while True:
            try:
                pending = self.send(arg) if exc is None else self.throw(exc)
            except StopIteration as stop:
                return stop.value
            arg = exc = None
            try:
                arg = yield pending
            except BaseException as e:  # noqa: BLE001 - cancellation and throw() pass through
                exc = e


def _continue(coro: Coroutine[Any, Any, Any], first: Any) -> Any:
    return _Resume(coro, first)


_PENDING = 0
_RESOLVED = 1
_REJECTED = 2
_CANCELLED = 3


class Deferred:
    """An answer to be given later, without an ``asyncio.Future``.

    A dispatcher returns one from ``on_request`` when the answer comes from elsewhere (a
    worker thread's result handed back to the loop): the peer tracks the request exactly as
    it tracks a future (in flight, the duplicate-id and in-flight limits, ``request_timeout``
    -> -32001, ``cancel_request`` -> no answer, ``drain`` -> -32000, ``connection_lost``), and
    ``resolve(result)`` / ``reject(exc)`` answer it through the same reply path. What it saves
    over a future: the peer's callback runs inside ``resolve`` instead of one loop iteration
    later (answers resolved in one iteration still leave in one ``send``), and nothing is
    allocated for the loop.

    The first of ``resolve``, ``reject`` and ``cancel`` wins; the others return False. All of
    them must be called on the loop's thread; ``cancelled()`` may be read from any thread (a
    worker skipping a call cancelled before it started). ``on_cancel`` (optional) is called
    once when the peer cancels it (timeout, the requester's cancel, shutdown). It can be
    awaited (a future is made then, for the rare caller that needs one): the result, or the
    exception given to ``reject``.
    """

    __slots__ = ("_state", "_value", "_callbacks", "on_cancel")

    def __init__(self, on_cancel: Callable[[Deferred], None] | None = None) -> None:
        self._state = _PENDING
        self._value: Any = None
        self._callbacks: Any = None  # None, one callable, or a list of them
        #: called once with this object when it is cancelled
        self.on_cancel = on_cancel

    def resolve(self, result: Any) -> bool:
        """Answer with ``result`` (what a dispatcher may return: a dict, a JSON value, bytes)."""
        if self._state != _PENDING:
            return False
        self._state = _RESOLVED
        self._value = result
        self._run_callbacks()
        return True

    def reject(self, exc: BaseException) -> bool:
        """Answer with an error: a ``JSONRPCError`` as itself, anything else as -32603."""
        if self._state != _PENDING:
            return False
        self._state = _REJECTED
        self._value = exc
        self._run_callbacks()
        return True

    def cancel(self) -> bool:
        """Give up on the answer (what the peer calls on timeout, cancel or shutdown)."""
        if self._state != _PENDING:
            return False
        self._state = _CANCELLED
        hook = self.on_cancel
        if hook is not None:
            self.on_cancel = None
            try:
                hook(self)
            except Exception:  # noqa: BLE001 - the cancellation itself must go on
                log.exception("on_cancel hook failed")
        self._run_callbacks()
        return True

    def done(self) -> bool:
        return self._state != _PENDING

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def result(self) -> Any:
        """The result; raises the rejection's exception, or CancelledError, or
        InvalidStateError while pending (as ``asyncio.Future.result``)."""
        state = self._state
        if state == _RESOLVED:
            return self._value
        if state == _REJECTED:
            raise self._value
        if state == _CANCELLED:
            raise asyncio.CancelledError()
        raise asyncio.InvalidStateError("the answer is not given yet")

    def exception(self) -> BaseException | None:
        """The rejection's exception, or None when resolved (as ``asyncio.Future.exception``)."""
        state = self._state
        if state == _REJECTED:
            return self._value  # type: ignore[no-any-return]
        if state == _CANCELLED:
            raise asyncio.CancelledError()
        if state == _PENDING:
            raise asyncio.InvalidStateError("the answer is not given yet")
        return None

    def add_done_callback(self, fn: Callable[[Deferred], Any]) -> None:
        """Call ``fn(self)`` when the answer is given or cancelled -- synchronously, inside
        ``resolve``/``reject``/``cancel`` (unlike a future's callbacks), or at once if done."""
        if self._state != _PENDING:
            fn(self)
            return
        cbs = self._callbacks
        if cbs is None:
            self._callbacks = fn
        elif type(cbs) is list:
            cbs.append(fn)
        else:
            self._callbacks = [cbs, fn]

    def _run_callbacks(self) -> None:
        cbs = self._callbacks
        if cbs is None:
            return
        self._callbacks = None
        if type(cbs) is list:
            for fn in cbs:
                fn(self)
        else:
            cbs(self)

    def future(self) -> asyncio.Future[Any]:
        """A future of the running loop that completes like this (made on demand)."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def copy(d: Deferred) -> None:
            if fut.done():
                return
            if d.cancelled():
                fut.cancel()
            elif d.exception() is not None:
                fut.set_exception(d.exception())  # type: ignore[arg-type]
            else:
                fut.set_result(d.result())

        self.add_done_callback(copy)
        return fut

    def __await__(self) -> Generator[Any, None, Any]:
        if self._state == _RESOLVED:
            return self._value
        return (yield from self.future().__await__())

    def __repr__(self) -> str:
        return f"<Deferred {('pending', 'resolved', 'rejected', 'cancelled')[self._state]}>"


class _InFlight:
    """An incoming request whose handler suspended: its task (or Deferred), timer and sink."""

    __slots__ = ("task", "timer", "cancelled_by_peer", "sink")

    def __init__(self, task: asyncio.Future[Any] | Deferred, sink: ReplySink | None) -> None:
        self.task = task
        self.timer: asyncio.TimerHandle | None = None
        self.cancelled_by_peer = False
        #: where the answer goes (None: the peer's own ``send`` batches)
        self.sink = sink


class JSONRPCPeer:
    """One side of a JSON-RPC connection (see the module docstring).

    ``send(list_of_bytes)`` must write the messages in order; the transport frames them (a
    newline per message on stdio/TCP, one SSE event or HTTP body on HTTP).
    ``request_timeout`` (seconds, None for none) bounds every incoming request's handler: on
    expiry the handler is cancelled and the request answered with -32001. ``max_in_flight``
    bounds the suspended handlers: past it a request is answered at once with -32005.

    Drivers that route output by request use the public seams listed in the module
    docstring (``call``/``feed`` with a reply sink, ``emit``, ``on_suspend``, ``in_flight``,
    ``has_in_flight``); nothing else of this class is meant to be overridden or read.
    """

    #: what carries this connection, as OpenTelemetry's ``network.transport`` names it
    #: (``pipe`` stdio, ``tcp`` TCP/HTTP/WebSocket); transports set it, metrics and traces read it
    network_transport = "inproc"

    def __init__(
        self,
        dispatcher: Dispatcher,
        send: Callable[[list[bytes]], None],
        *,
        request_timeout: float | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        #: the dispatcher (set once: its on_request is bound here for the hot path)
        self.dispatcher = dispatcher
        self._dispatch_request = dispatcher.on_request
        self._send = send
        self.request_timeout = request_timeout
        self.max_in_flight = max_in_flight
        self._loop = loop
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._batching = 0
        self._in_flight: dict[Any, _InFlight] = {}
        # the request whose handler is taking its eager first step (not yet in flight), and
        # whether the requester cancelled it meanwhile: a handler that sends a message during
        # that step can make its requester go away (HTTP: a stream cut as a slow reader), and
        # on 3.12+ an eager task runs that step inside create_task, before it can be tracked
        self._starting: Any = _NOTHING
        self._starting_cancelled = False
        self._pending: dict[Any, asyncio.Future[Any]] = {}
        #: abandoned requests whose late answer still matters (``abandon_request(late=)``),
        #: oldest first, at most ``LATE_ANSWER_CAP``
        self._late: dict[Any, Callable[[Any], None]] = {}
        self._progress: dict[Any, Callable[[dict[str, Any]], Any]] = {}
        self._next_id = 0
        self._closed: BaseException | None | bool = False
        #: per-connection state owned by the dispatcher (a legacy MCP session, for example)
        self.state: Any = None
        #: called with the number of suspended handlers whenever it changes (read back-pressure)
        self.on_in_flight_change: Callable[[int], None] | None = None
        #: write an outgoing request at once, instead of with the next flush, when it is the only
        #: one waiting for an answer: a client on a stream saves one loop iteration of latency
        #: with one call in flight, and with many in flight its requests still leave together
        self.eager_writes = False
        # an eager write bypasses ``emit`` (no flush scheduled for a request that leaves at
        # once), so it is only done where ``emit`` is this class's queue, not a subclass's route
        self._queues_on_emit = type(self).emit is JSONRPCPeer.emit
        #: with ``eager_writes``: write the queued requests as soon as this many are waiting
        #: (see ``send_request``)
        self.write_chunk = DEFAULT_WRITE_CHUNK
        #: called with each frame that failed to decode (a ``JSONRPCError``) before it is answered;
        #: returning True means it was dealt with and gets no error response (a client reports a
        #: malformed server message instead of answering it)
        self.on_malformed: Callable[[JSONRPCError], bool] | None = None
        # the dispatcher's optional ``on_refused(peer, reason)``: told of each request refused
        # by a limit here, before it reaches ``on_request`` (metrics count them)
        self._on_refused: Callable[[Any, str], None] | None = getattr(dispatcher, "on_refused", None)
        # the dispatcher's optional ``feed_timer``: ``enter()`` before an outermost ``feed`` and
        # ``exit(mark)`` after its answers were flushed (metrics time a read's eager answers
        # together: one clock read per batch, not two per request)
        self._feed_timer: Any = getattr(dispatcher, "feed_timer", None)
        # on_suspend is called only where a driver overrides it (a no-op call per request else)
        self._watches_suspend = type(self).on_suspend is not JSONRPCPeer.on_suspend

    # ------------------------------------------------------------------ properties

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    @property
    def in_flight(self) -> int:
        """Incoming requests whose handlers are still running."""
        return len(self._in_flight)

    def has_in_flight(self, rid: Any) -> bool:
        """Whether an incoming request with id ``rid`` is in flight (its handler suspended and
        has not answered): a new request may not reuse the id until then."""
        return rid in self._in_flight

    @property
    def pending(self) -> int:
        """Outgoing requests waiting for their response."""
        return len(self._pending)

    @property
    def closed(self) -> bool:
        return self._closed is not False

    # ------------------------------------------------------------------ output

    def emit(self, data: bytes) -> None:
        """Send one encoded message that is not the answer to an incoming request (a
        notification, an outgoing request): it is queued and leaves with the next flush through
        ``send``, in order with the answers. Drivers that route messages elsewhere (HTTP: to
        the stream of the request being handled) override this; answers never come here."""
        if self._closed is not False:
            return
        self._out.append(data)
        if not self._batching and not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self.flush)

    # answers without a sink join the send batch the same way, whatever a subclass made of emit
    _queue = emit

    def flush(self) -> None:
        """Hand what is queued to ``send`` now (one call). Runs by itself at the end of each
        ``feed`` and once per loop iteration for output produced outside one."""
        self._flush_scheduled = False
        if self._out and self._closed is False:
            out, self._out = self._out, []
            self._send(out)

    def notify(self, method: str, params: Any = None) -> None:
        """Send a notification (through ``emit``: queued, leaves with the next flush, in order)."""
        self.emit(_encode_notification(method, params))

    def _answer(self, sink: ReplySink | None, rid: Any, data: bytes, code: int | None) -> None:
        # every final answer ends here (the eager fast paths inline the sink=None case)
        if self._closed is not False:
            return
        if sink is None:
            self._queue(data)
        else:
            sink(rid, data, code)

    # ------------------------------------------------------------------ input

    def feed(self, messages: list[Any], sink: ReplySink | None = None) -> None:
        """Handle a batch of decoded messages (``jsonrpc.decode_all`` output: messages,
        ``Batch`` objects and ``JSONRPCError`` instances for frames that failed to decode).
        Answers go to ``sink`` when given (see ``call``); otherwise the answers produced while
        handling the batch leave together in one ``send``."""
        # Handlers' eager first steps run here, outside any task, as they do when a protocol's
        # data_received calls us. Called from inside a task (a transport that reads in a task,
        # a test), that task must not pass for the handler's own: asyncio.timeout() or anyio
        # in a handler would capture it and later cancel the caller instead of the handler.
        loop = self._loop
        if loop is None:
            loop = self.loop
        outer = _running_task(loop) if not self._batching and _leave_task is not None else None
        if outer is not None:
            _leave_task(loop, outer)  # type: ignore[misc]  # not None when outer is set
        timer = self._feed_timer
        mark = timer.enter() if timer is not None and not self._batching else _NOTHING
        self._batching += 1
        try:
            for msg in messages:
                t = type(msg)
                if t is Request:
                    self._on_request(msg, sink)
                elif t is Notification:
                    self._on_notification(msg)
                elif t is Response or t is ErrorResponse:
                    self._on_response(msg)
                elif isinstance(msg, JSONRPCError):
                    self._on_malformed(msg, sink)
                elif isinstance(msg, list):
                    self._on_batch(msg, sink)
                else:  # pragma: no cover - decode_all gives nothing else
                    raise TypeError(f"cannot handle {t.__name__}")
        finally:
            self._batching -= 1
            if outer is not None:
                _enter_task(loop, outer)  # type: ignore[misc]
            try:
                if not self._batching and self._out:
                    self.flush()
            finally:
                if mark is not _NOTHING:
                    timer.exit(mark)

    def _on_malformed(self, err: JSONRPCError, sink: ReplySink | None) -> None:
        hook = self.on_malformed
        if hook is not None:
            try:
                if hook(err):
                    return
            except Exception:  # noqa: BLE001 - the frame still gets its default treatment
                log.exception("on_malformed hook failed")
        self._answer(sink, err.id, _encode_error(err.id, err.code, err.message, err.data), err.code)

    def call(self, request: Request, sink: ReplySink | None = None) -> None:
        """Handle one request; its final answer goes to ``sink(rid, data, error_code)``: at once
        if the handler answers without suspending (no task, no list, no flush), else when its
        task finishes, times out (-32001) or is cancelled at shutdown (-32000). A request
        cancelled by the requester (``cancel_request``) gets no answer, nor does one on a
        closed connection. Without a sink the answer is queued for ``send``, as ``feed`` does.

        Messages the handler sends meanwhile go through ``emit``. The duplicate-id and
        in-flight checks apply (answered through ``sink``); a driver that answers them its own
        way checks ``has_in_flight`` and ``in_flight`` first."""
        if self._batching:
            self._on_request(request, sink)  # inside feed(): already outside any task
            return
        loop = self._loop
        if loop is None:
            loop = self.loop
        outer = _running_task(loop) if _leave_task is not None else None
        if outer is None:
            self._on_request(request, sink)
            return
        _leave_task(loop, outer)  # type: ignore[misc]  # the handler's eager step is not the caller's task (see feed)
        try:
            self._on_request(request, sink)
        finally:
            _enter_task(loop, outer)  # type: ignore[misc]

    def _on_batch(self, batch: list[Any], sink: ReplySink | None) -> None:
        if not self.dispatcher.on_batch(self, batch):
            self._answer(
                sink, None,
                _encode_error(
                    None, INVALID_REQUEST, "Batches are not supported by this protocol version"
                    " (JSON-RPC batches exist only in MCP 2025-03-26) - at $"
                ),
                INVALID_REQUEST,
            )
            return
        # JSON-RPC 2.0 §6: the answers to a batch go back as an array. Requests that suspend
        # answer later, on their own (an array cannot wait for them without holding the others
        # back); the immediate ones leave as one array.
        answers: list[bytes] = []
        open_ = True

        def collect(rid: Any, data: bytes, code: int | None) -> None:
            if open_:
                answers.append(data)
            else:
                self._answer(sink, rid, data, code)

        try:
            self.feed(list(batch), collect)
        finally:
            open_ = False
        if answers:
            self._answer(sink, None, b"[" + b",".join(answers) + b"]", None)

    def _on_request(self, req: Request, sink: ReplySink | None) -> None:
        rid = req.id
        in_flight = self._in_flight
        if in_flight:
            if rid in in_flight:
                self._answer(
                    sink, rid,
                    _encode_error(rid, INVALID_REQUEST, f"Request id {rid!r} is already in use by a request in flight"),
                    INVALID_REQUEST,
                )
                return
            if len(in_flight) >= self.max_in_flight:
                # refuse before running anything: a handler stopped half-way may leave side effects
                if self._on_refused is not None:
                    self._on_refused(self, "max_in_flight")
                self._answer(
                    sink, rid,
                    _encode_error(
                        rid, SERVER_OVERLOADED,
                        f"Server overloaded: {len(in_flight)} requests in flight on this connection"
                        f" (limit {self.max_in_flight}); retry later",
                    ),
                    SERVER_OVERLOADED,
                )
                return
        self._starting = rid
        token = _set_current_request(req)  # for log records about it (requestvars.log_extra)
        try:
            self._start(req, rid, sink)
        finally:
            _reset_current_request(token)
            self._starting = _NOTHING
            self._starting_cancelled = False

    def _start(self, req: Request, rid: Any, sink: ReplySink | None) -> None:
        try:
            result = self._dispatch_request(self, req)
        except BaseException as exc:  # noqa: BLE001
            self._reply_exception(sink, rid, exc)
            return
        rt = type(result)
        if rt is dict or rt is bytes:  # the common answers first: no isinstance on the hot path
            try:
                data = _encode_result(rid, result)
            except Exception:  # noqa: BLE001 - _reply words an unencodable result
                self._reply(sink, rid, result)
                return
            if self._closed is False:
                if sink is not None:
                    sink(rid, data, None)
                elif self._batching:
                    self._out.append(data)  # inside feed(): straight into the batch
                else:
                    self._queue(data)
            return
        if rt is not _CoroutineType:
            if rt is Deferred or isinstance(result, asyncio.Future):
                if result.done():  # an eager task (Python 3.12+) that finished at once
                    self._settle(sink, rid, result)
                else:
                    self._track(rid, result, sink)
                return
            self._reply(sink, rid, result)
            return
        self._drive(rid, result, sink)

    def _settle(self, sink: ReplySink | None, rid: Any, fut: asyncio.Future[Any] | Deferred) -> None:
        if fut.cancelled():
            self._reply_exception(sink, rid, asyncio.CancelledError())
            return
        exc = fut.exception()
        if exc is not None:
            self._reply_exception(sink, rid, exc)
        else:
            self._reply(sink, rid, fut.result())

    def _drive(self, rid: Any, coro: Coroutine[Any, Any, Any], sink: ReplySink | None) -> None:
        # The eager first step: most handlers finish here without suspending.
        ctx = contextvars.copy_context()
        try:
            first = ctx.run(coro.send, None)
        except StopIteration as stop:
            self._reply(sink, rid, stop.value)
            return
        except BaseException as exc:  # noqa: BLE001
            self._reply_exception(sink, rid, exc)
            return
        self._track(rid, self.loop.create_task(_continue(coro, first), context=ctx), sink)

    def _track(self, rid: Any, task: asyncio.Future[Any] | Deferred, sink: ReplySink | None) -> None:
        # A suspended handler (or a task/future/Deferred the dispatcher started): in flight
        # until done. A Deferred calls ``done`` inside its resolve(), a future a loop turn later.
        entry = _InFlight(task, sink)
        self._in_flight[rid] = entry
        if self.request_timeout is not None:
            entry.timer = self.loop.call_later(self.request_timeout, self._on_timeout, rid)

        def done(t: Any, rid: Any = rid, entry: _InFlight = entry) -> None:
            self._on_task_done(rid, entry, t)

        task.add_done_callback(done)
        if self.on_in_flight_change is not None:
            self.on_in_flight_change(len(self._in_flight))
        if self._starting_cancelled and self._starting == rid:
            self._starting_cancelled = False
            entry.cancelled_by_peer = True
            task.cancel()
            return
        if self._watches_suspend:
            self.on_suspend(rid)

    def on_suspend(self, rid: Any) -> None:
        """The handler of request ``rid`` suspended: it is in flight (``has_in_flight``) until
        its answer reaches its sink. Nothing here; a driver that watches the requester from
        then on (HTTP: a closed response stream cancels, keep-alives start) overrides it."""

    def _on_task_done(self, rid: Any, entry: _InFlight, task: asyncio.Future[Any] | Deferred) -> None:
        if self._in_flight.get(rid) is entry:
            del self._in_flight[rid]
        if entry.timer is not None:
            entry.timer.cancel()
        if self.on_in_flight_change is not None:
            self.on_in_flight_change(len(self._in_flight))
        sink = entry.sink
        try:
            result = task.result()  # one call on the common path: the answer
        except BaseException as exc:  # noqa: BLE001 - the handler's error, or a cancellation
            if not task.cancelled():
                self._reply_exception(sink, rid, exc)
                return
        else:
            self._reply(sink, rid, result)
            return
        if entry.cancelled_by_peer:
            return  # the requester cancelled: MCP says answer nothing
        if isinstance(entry.timer, _Expired):
            message = f"Request timed out after {self.request_timeout:g} s (server request_timeout)"
            self._answer(sink, rid, _encode_error(rid, REQUEST_TIMEOUT, message), REQUEST_TIMEOUT)
            return
        self._answer(
            sink, rid, _encode_error(rid, CONNECTION_CLOSED, "Request cancelled: the server is shutting down"),
            CONNECTION_CLOSED,
        )

    def _on_timeout(self, rid: Any) -> None:
        entry = self._in_flight.get(rid)
        if entry is not None:
            entry.timer = _EXPIRED
            entry.task.cancel()

    def cancel_request(self, rid: Any) -> bool:
        """Cancel an incoming request's handler at the requester's wish (``notifications/
        cancelled``): no answer is sent. Unknown or finished ids are ignored (races are normal)."""
        entry = self._in_flight.get(rid)
        if entry is None:
            if self._starting is not _NOTHING and self._starting == rid:
                self._starting_cancelled = True  # cancelled as soon as it suspends (_track)
                return True
            return False
        entry.cancelled_by_peer = True
        entry.task.cancel()
        return True

    def _reply(self, sink: ReplySink | None, rid: Any, result: Any) -> None:
        try:
            data = _encode_result(rid, result)
        except Exception as exc:  # noqa: BLE001 - an unencodable result is a server fault
            log.error("result of request %r cannot be encoded: %s", rid, exc, extra=_log_extra())
            data = _encode_error(rid, INTERNAL_ERROR, "Internal error: the result could not be encoded as JSON")
            self._answer(sink, rid, data, INTERNAL_ERROR)
            return
        self._answer(sink, rid, data, None)

    def _reply_exception(self, sink: ReplySink | None, rid: Any, exc: BaseException) -> None:
        if isinstance(exc, JSONRPCError):
            code = exc.code
            try:
                data = _encode_error(rid, code, exc.message, exc.data)
            except Exception:  # noqa: BLE001 - unencodable error data
                data = _encode_error(rid, code, exc.message)
            self._answer(sink, rid, data, code)
            return
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            self._answer(sink, rid, _encode_error(rid, INTERNAL_ERROR, "Internal error"), INTERNAL_ERROR)
            raise exc
        if isinstance(exc, asyncio.CancelledError):
            self._answer(sink, rid, _encode_error(rid, CONNECTION_CLOSED, "Request cancelled"), CONNECTION_CLOSED)
            return
        # Never leak a traceback or exception text to the peer: log it here instead.
        log.error("handler of request %r failed", rid, exc_info=exc, extra=_log_extra())
        self._answer(sink, rid, _encode_error(rid, INTERNAL_ERROR, "Internal error"), INTERNAL_ERROR)

    def _on_notification(self, note: Notification) -> None:
        try:
            result = self.dispatcher.on_notification(self, note)
        except Exception:  # noqa: BLE001 - a notification has nobody to answer
            log.exception("handler of notification %r failed", note.method)
            return
        if type(result) is _CoroutineType:
            ctx = contextvars.copy_context()
            try:
                first = ctx.run(result.send, None)
            except StopIteration:
                return
            except Exception:  # noqa: BLE001
                log.exception("handler of notification %r failed", note.method)
                return
            task = self.loop.create_task(_continue(result, first), context=ctx)
            task.add_done_callback(_log_notification_failure)

    def _on_response(self, msg: Response | ErrorResponse) -> None:
        fut = self._pending.pop(msg.id, None)
        if fut is None or fut.done():
            # a late answer to a request we gave up on (timeout, cancel): races are normal
            if self._late:
                late = self._late.pop(msg.id, None)
                if late is not None and type(msg) is Response:
                    try:
                        late(msg.result)
                    except Exception:  # noqa: BLE001 - nobody waits to be told
                        log.exception("late-answer callback of request %r failed", msg.id)
            return
        self._progress.pop(msg.id, None)
        if type(msg) is Response:
            fut.set_result(msg.result)
        else:
            fut.set_exception(msg.to_exception())  # type: ignore[union-attr]

    # ------------------------------------------------------------------ outgoing requests

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    @property
    def next_request_id(self) -> int:
        """The id the next outgoing ``request()`` gets. ``request()`` takes it before its first
        suspension, so a caller that reads it just before ``await peer.request(...)`` knows the
        id of its request (a client's tracing span records it)."""
        return self._next_id + 1

    async def request(
        self,
        method: str,
        params: Any = None,
        *,
        timeout: float | None = None,
        on_progress: Callable[[dict[str, Any]], Any] | None = None,
        on_sent: Callable[[int], Any] | None = None,
        late: Callable[[Any], None] | None = None,
    ) -> Any:
        """Send a request and wait for its result; an error response raises ``McpError``.

        On timeout a ``notifications/cancelled`` goes to the peer and ``McpError`` (-32001) is
        raised; if the awaiting task is cancelled the peer is told too. ``on_progress`` gets
        the params of each ``notifications/progress`` for this request (its progress token is
        added to ``params._meta`` here). ``on_sent(rid)`` is called with the request's id once
        it is queued (a caller that routes notifications tagged with that id needs it).
        ``late`` gets the result of an answer that arrives after a timeout or a cancel (see
        ``abandon_request``).
        """
        rid, fut = self.send_request(method, params, on_progress=on_progress)
        if on_sent is not None:
            on_sent(rid)
        try:
            if timeout is None:
                return await fut
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            self.abandon_request(rid, f"timed out after {timeout:g} s", late=late, fut=fut)
            raise McpError(f"Request {method!r} timed out after {timeout:g} s", code=REQUEST_TIMEOUT) from None
        except asyncio.CancelledError:
            self.abandon_request(rid, "cancelled by the requester", late=late, fut=fut)
            raise
        finally:
            # the response popped it already; a timeout, a cancel or an error did not
            pending = self._pending
            if pending:
                pending.pop(rid, None)
            if on_progress is not None:
                self._progress.pop(rid, None)

    def send_request(
        self, method: str, params: Any = None, *, on_progress: Callable[[dict[str, Any]], Any] | None = None,
    ) -> tuple[int, asyncio.Future[Any]]:
        """Send a request now and return its id and the future of its result: the first half of
        ``request()``, for a caller that awaits the future itself (a client's plain call, one
        coroutine less per call). Such a caller must call ``abandon_request(rid, reason)`` when
        it stops waiting (cancelled, timed out), as ``request()`` does; the future fails with
        ``McpError`` on an error response and ``ConnectionClosed`` when the connection goes.

        With ``eager_writes`` the request is written at once, without waiting for the flush at
        the end of the loop iteration, when it is the only one waiting for an answer (one call
        in flight: one iteration less of latency) or when ``write_chunk`` requests are queued
        (many in flight: the server starts on the first ones while the rest are still being
        made, instead of idling until all of them leave in one write).
        """
        if self._closed is not False:
            raise ConnectionClosed("the connection is closed")
        self._next_id = rid = self._next_id + 1  # next_id(), inlined: this is a client's hot path
        if on_progress is not None:
            params = dict(params or {})
            meta = dict(params.get("_meta") or {})
            meta["progressToken"] = rid
            params["_meta"] = meta
            self._progress[rid] = on_progress
        loop = self._loop
        fut: asyncio.Future[Any] = (loop if loop is not None else self.loop).create_future()
        pending = self._pending
        pending[rid] = fut
        data = _encode_request(rid, method, params)
        out = self._out
        if self.eager_writes and not self._batching and self._queues_on_emit and (
                len(pending) == 1 or len(out) + 1 >= self.write_chunk):
            # written now, after what was queued before it: emit() is skipped, so no flush is
            # scheduled for it (one loop callback less per call with one in flight)
            self._out = []
            out.append(data)
            self._send(out)
        else:
            self.emit(data)
        return rid, fut

    def fail_request(self, rid: Any, exc: BaseException) -> bool:
        """Fail the outgoing request ``rid`` with ``exc`` now (a malformed response to it came
        in, say); False when no such request waits. Nothing is sent to the peer."""
        fut = self._pending.pop(rid, None)
        if fut is None or fut.done():
            return False
        self._progress.pop(rid, None)
        fut.set_exception(exc)
        return True

    def abandon_request(self, rid: Any, reason: str, *, late: Callable[[Any], None] | None = None,
                        fut: asyncio.Future[Any] | None = None) -> None:
        """Stop waiting for the answer to outgoing request ``rid`` (from ``send_request``) and
        tell the peer (``notifications/cancelled`` with ``reason``); a late answer is dropped,
        or, with ``late``, its result is handed to ``late(result)`` (a request whose answer
        starts something on the peer, such as a task, can undo it when the answer crossed the
        cancel). Only the last ``LATE_ANSWER_CAP`` such callbacks are kept: a peer that rightly
        never answers a cancelled request costs no memory. Nothing is sent when the request was
        answered already or the connection is closed; when ``fut`` (the request's future) holds
        that answer already (it came in the loop iteration that cancelled the waiter, which then
        never saw it), ``late`` gets it at once."""
        if late is not None and fut is not None and fut.done() and not fut.cancelled() and fut.exception() is None:
            try:
                late(fut.result())
            except Exception:  # noqa: BLE001 - nobody waits to be told
                log.exception("late-answer callback of request %r failed", rid)
            return
        if self._pending.pop(rid, None) is not None and self._closed is False:
            self.notify("notifications/cancelled", {"requestId": rid, "reason": reason})
            if late is not None:
                pending_late = self._late
                pending_late[rid] = late
                if len(pending_late) > LATE_ANSWER_CAP:
                    del pending_late[next(iter(pending_late))]

    def on_progress(self, params: dict[str, Any]) -> bool:
        """Route a received ``notifications/progress`` to the request that asked for it."""
        cb = self._progress.get(params.get("progressToken"))
        if cb is None:
            return False
        try:
            res = cb(params)
            if type(res) is _CoroutineType:
                self.loop.create_task(res).add_done_callback(_log_notification_failure)
        except Exception:  # noqa: BLE001
            log.exception("progress callback failed")
        return True

    # ------------------------------------------------------------------ shutdown

    async def drain(self, grace: float) -> None:
        """Let handlers in flight finish for up to ``grace`` seconds, then cancel the rest
        (each still gets an answer: -32000, the server is shutting down)."""
        if self._in_flight:
            # a Deferred is waited on through a future made for it here (only at shutdown)
            waits: dict[asyncio.Future[Any], asyncio.Future[Any] | Deferred] = {}
            for e in self._in_flight.values():
                t = e.task
                waits[t.future() if type(t) is Deferred else t] = t  # type: ignore[index]
            _, pending = await asyncio.wait(waits, timeout=grace)
            for w in pending:
                waits[w].cancel()
            if pending:
                await asyncio.wait(pending)
        self.flush()

    def connection_lost(self, exc: BaseException | None) -> None:
        """The transport is gone: fail outgoing requests, cancel handlers (nobody to answer)."""
        if self._closed is not False:
            return
        self._closed = exc if exc is not None else True
        self._out.clear()
        for entry in list(self._in_flight.values()):
            entry.cancelled_by_peer = True  # no answer can be delivered
            entry.task.cancel()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionClosed("the connection closed before the response arrived"))
        self._pending.clear()
        self._late.clear()
        self._progress.clear()
        try:
            self.dispatcher.on_close(self, exc)
        except Exception:  # noqa: BLE001
            log.exception("dispatcher on_close failed")


class _Expired:
    """Marker left in ``_InFlight.timer`` once the timeout fired (then cancel() is a no-op)."""

    __slots__ = ()

    def cancel(self) -> None:
        pass


_EXPIRED: Any = _Expired()


def _log_notification_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("notification handler failed", exc_info=task.exception())

