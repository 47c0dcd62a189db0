"""Legacy Streamable HTTP sessions shared by every server process, on a ``mcpfast.stores`` store.

With a shared store (Redis) several processes, or machines, serve one endpoint behind a load
balancer that may send each request anywhere. ``StreamableHTTP`` uses ``SharedSessions`` for
what one process cannot know alone:

* **Records.** ``initialize`` writes the session's record (``session:<id>``: the negotiated
  state from ``ServerCore.session_record``, the owner) before its answer leaves, with the
  session TTL as expiry; a process that gets a request for a session it does not hold loads the
  record and builds its own peer from it, then keeps it cached: the hot path does no round trip.
  The sweep pushes the expiry of the sessions a process used back, once per interval, not per
  request. A change of the state (``notifications/initialized``, ``logging/setLevel``,
  resource subscriptions) is written back and broadcast; ``DELETE`` deletes the record and
  broadcasts the end, and answers only once every other process acknowledged (or a second
  passed): after a 200 no process serves the session any more.
* **Server->client messages.** The process holding a session's GET stream subscribes to the
  channel ``get:<id>``; a message of that session that belongs to no request on another process
  is published there, or written to the GET stream's event log when nobody holds the stream (the
  client gets it when it resumes). Server->client request ids carry the sending process's
  number in their high bits, so a response the client POSTs to another process is forwarded to
  the one waiting for it (channel ``node:<number>``).
* **Events.** ``SharedEventLog`` is the ``EventStore`` of a shared front: ids are made here,
  at once (the SSE writers need them synchronously), as ``"<stream id>/<position>"`` with a
  position from this process's clock (microseconds, strictly growing), and written to the
  store's per-stream log behind the stream (one writer task, in order). ``Last-Event-ID``
  replay reads the store, so it works on any process.

When the store is down, what needs it fails fast with ``StoreUnavailable`` and the core answers
503; sessions a process already holds keep being served from its cache (nothing can delete them
meanwhile: a DELETE needs the store too). After a lost subscription (``on_gap``) every cached
session is checked against the store again, and GET streams are closed so that their clients
resume from the event log.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import secrets
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from ...errors import StoreUnavailable

if TYPE_CHECKING:
    from ...stores import Store, Subscription
    from .sessions import Session

__all__ = ["SharedEventLog", "SharedSessions", "StoreUnavailable"]

log = logging.getLogger("mcpfast.http")

#: seconds a DELETE (or a state change) waits for the other processes' acknowledgements
ACK_TIMEOUT = 1.0
#: server->client request ids: this process's number times this, plus a counter
ID_BLOCK = 1 << 32
#: events waiting to be written behind the streams before the oldest are dropped (store down)
MAX_QUEUED_EVENTS = 10_000

_CTL = "http:ctl"
#: the first byte of what goes on a ``get:<id>`` channel: a change notification, or anything else
_CHANGE = b"c"
_MESSAGE = b"m"
#: change notifications every process delivers itself (see ``SharedSessions.forward``)
_CHANGE_METHODS = (b'"notifications/tools/list_changed"', b'"notifications/prompts/list_changed"',
                   b'"notifications/resources/list_changed"', b'"notifications/resources/updated"')


def _node_channel(number: int) -> str:
    return f"http:node:{number}"


def _get_channel(sid: str) -> str:
    return f"http:get:{sid}"


def _key(sid: str) -> str:
    return f"session:{sid}"


# ============================================================================== event log


class SharedEventLog:
    """The ``EventStore`` of a front whose sessions are shared (see the module docstring).

    ``store_event`` answers at once with an id whose position the store made without a round
    trip (``Store.event_position``: this process's clock, strictly growing here); the event reaches the store's log
    behind, in order, through one writer task. ``replay`` (async) reads the store after
    flushing what this process still holds back. When the store is down the events waiting are
    dropped with a warning (the live stream had them; only a later replay misses them).
    """

    __slots__ = ("_store", "_cap", "_ttl", "_queue", "_writer", "_idle", "dropped")

    def __init__(self, store: Store, *, cap: int | None = None, ttl: float | None = None) -> None:
        self._store = store
        self._cap = cap
        self._ttl = ttl
        self._queue: deque[tuple[str, str, bytes, str]] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._idle: asyncio.Event | None = None
        #: events that never reached the store (it was down)
        self.dropped = 0

    def _push(self, item: tuple[str, str, bytes, str]) -> None:
        queue = self._queue
        if len(queue) >= MAX_QUEUED_EVENTS:
            queue.popleft()
            self.dropped += 1
        queue.append(item)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    def store_event(self, stream_id: str, message: bytes) -> str:
        pos = self._store.event_position()
        self._push(("a", stream_id, message, pos))
        return f"{stream_id}/{pos}"

    def replay_after(self, last_event_id: str) -> tuple[str, list[tuple[str, bytes]]] | None:
        """Always None: the events are in the store, read by ``replay`` (async)."""
        return None

    def forget_stream(self, stream_id: str) -> None:
        self._push(("f", stream_id, b"", ""))

    def forget_session(self, session_id: str) -> None:
        self._push(("s", session_id, b"", ""))

    async def replay(self, last_event_id: str) -> tuple[str, list[tuple[str, bytes]]] | None:
        """The stream ``last_event_id`` names and its events after it (``Store.replay_after``),
        this process's own pending writes included. Raises ``StoreUnavailable``."""
        await self.flush()
        return await self._store.replay_after(last_event_id)

    async def flush(self) -> None:
        """Wait until every event this process stored so far reached the store (or was dropped)."""
        while self._writer is not None:
            await asyncio.shield(self._writer)

    async def _write(self) -> None:
        queue = self._queue
        store = self._store
        try:
            while queue:
                item = queue[0]
                op, name, message, pos = item
                try:
                    if op == "a":
                        await store.append_event(name, message, cap=self._cap, ttl=self._ttl, position=pos)
                    elif op == "f":
                        await store.forget_stream(name)
                    else:
                        await store.forget_session(name)
                except StoreUnavailable as exc:
                    n = len(queue)
                    self.dropped += n
                    queue.clear()
                    log.warning("session store unavailable: %d SSE events not kept for replay (%s)", n, exc)
                    return
                except Exception:  # noqa: BLE001 - one bad event must not stop the writer
                    log.exception("writing an SSE event to the session store failed")
                if queue and queue[0] is item:  # (not trimmed meanwhile)
                    queue.popleft()
        finally:
            self._writer = None

    def __repr__(self) -> str:
        return f"<SharedEventLog queued={len(self._queue)} dropped={self.dropped}>"


# ============================================================================== sessions


class SharedSessions:
    """The shared side of a ``StreamableHTTP`` front's legacy sessions (module docstring).

    ``http`` is the front: this calls only its public session methods (``adopt_session``,
    ``end_local_session``, ``deliver_unsolicited``, ``close_get_stream``, ``feed_response``,
    ``local_session``, ``local_sessions``).
    """

    def __init__(self, store: Store, http: Any, *, ttl: float | None, event_cap: int | None = None,
                 event_ttl: float | None = None) -> None:
        self.store = store
        self.http = http
        #: the session TTL (records expire that long after the last use anywhere); None: never
        self.ttl = ttl
        #: this process's number: the high bits of its server->client request ids, and its channel
        self.number = secrets.randbelow(1 << 20) + 1
        #: the first server->client request id of a session peer here
        self.id_base = self.number * ID_BLOCK
        self.events = SharedEventLog(store, cap=event_cap, ttl=event_ttl)
        self._loading: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self._subs: list[Subscription] = []
        self._gets: dict[str, Subscription] = {}
        self._acks: dict[str, list[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False
        self._starting: asyncio.Lock | None = None
        self._rechecking = False
        #: messages for a GET stream that neither reached one nor the event log (store down)
        self.lost = 0

    # ------------------------------------------------------------------ life

    async def start(self) -> None:
        """Subscribe to the control channel and this process's own. Raises ``StoreUnavailable``."""
        if self._started:
            return
        self._subs.append(await self.store.subscribe(_CTL, self._on_control, on_gap=self._on_gap))
        self._subs.append(await self.store.subscribe(_node_channel(self.number), self._on_node, on_gap=self._on_gap))
        self._started = True

    async def ensure_started(self) -> None:
        """``start`` unless done (a front used without ``startup``, or Redis down at startup)."""
        if self._started:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:  # concurrent first requests subscribe once
            if not self._started:
                await self.start()

    async def stop(self) -> None:
        """Close every subscription and let the event writer finish (the store stays open: it is
        its opener's)."""
        subs, self._subs = self._subs, []
        gets, self._gets = self._gets, {}
        for sub in [*subs, *gets.values()]:
            await sub.close()
        self._started = False
        for task in list(self._tasks):
            task.cancel()
        try:
            await asyncio.wait_for(self.events.flush(), 2.0)
        except (TimeoutError, StoreUnavailable):
            log.warning("SSE events still unwritten at shutdown were dropped")

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background (kept referenced; failures logged), in a context of
        its own: no request's variables leak into it (nor into the tasks it starts)."""
        task = asyncio.get_running_loop().create_task(coro, context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if isinstance(exc, StoreUnavailable):
                log.warning("session store unavailable: %s", exc)
            else:
                log.error("shared session work failed", exc_info=exc)

    # ------------------------------------------------------------------ records

    def record_of(self, session: Session, state: dict[str, Any] | None) -> dict[str, Any]:
        """The JSON record of ``session`` (``state``: the dispatcher's ``session_record``)."""
        owner = session.owner
        client = session.client
        return {"state": state or {}, "owner": list(owner) if isinstance(owner, tuple) else owner,
                "client": list(client) if isinstance(client, tuple) else client}

    async def create(self, session: Session, state: dict[str, Any] | None) -> None:
        """Write a new session's record (before its ``initialize`` is answered)."""
        await self.ensure_started()
        await self.store.set(_key(session.id), self.record_of(session, state), ttl=self.ttl, nx=True)

    async def save(self, session: Session, state: dict[str, Any] | None) -> None:
        """Write a session's changed state back and tell the processes that hold it."""
        await self.ensure_started()
        written = await self.store.set(_key(session.id), self.record_of(session, state), ttl=self.ttl, xx=True)
        if written:
            await self._broadcast({"op": "upd", "sid": session.id, "state": state or {}})

    async def fetch(self, sid: str) -> dict[str, Any] | None:
        """The record of session ``sid`` (its expiry pushed back), None when there is none.
        Concurrent fetches of one id share one read."""
        pending = self._loading.get(sid)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._loading[sid] = fut
        try:
            await self.ensure_started()
            value = await self.store.get(_key(sid), refresh=self.ttl)
            record: dict[str, Any] | None = value if type(value) is dict else None
            if value is not None and record is None:
                log.warning("session store: %s holds no session record; ignored", _key(sid))
            fut.set_result(record)
            return record
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: a fetch nobody else waits on must not warn
            raise
        finally:
            del self._loading[sid]

    async def end(self, sid: str) -> None:
        """End session ``sid`` everywhere: delete its record and events, and wait until the
        other processes dropped their copies (``ACK_TIMEOUT`` at most)."""
        await self.ensure_started()
        await self.store.delete(_key(sid))
        self.events.forget_session(sid)
        await self._broadcast({"op": "end", "sid": sid})

    async def replay(self, sid: str, last_event_id: str) -> tuple[str, list[tuple[str, bytes]]] | None:
        """``Last-Event-ID`` replay for session ``sid``: the other processes first write out the
        events they still hold back (acknowledged, ``ACK_TIMEOUT`` at most), so what a client saw
        on one process is there when it resumes on another a moment later."""
        await self.ensure_started()
        await self._broadcast({"op": "flush", "sid": sid})
        return await self.events.replay(last_event_id)

    async def refresh(self, sids: list[str]) -> None:
        """Push the expiry of sessions used here since the last sweep back (one touch each)."""
        ttl = self.ttl
        if ttl is None or not sids:
            return
        store = self.store
        gone = []
        for sid in sids:
            if not await store.touch(_key(sid), ttl):
                gone.append(sid)
        for sid in gone:  # expired or deleted elsewhere while we missed the news
            self.http.end_local_session(sid)

    async def _broadcast(self, message: dict[str, Any]) -> None:
        nonce = secrets.token_hex(8)
        message["from"] = self.number
        message["nonce"] = nonce
        # [acks received, acks due (known once published), done]
        waiter: list[Any] = [0, None, asyncio.get_running_loop().create_future()]
        self._acks[nonce] = waiter
        try:
            reached = await self.store.publish(_CTL, json.dumps(message).encode())
            waiter[1] = due = reached - 1  # every other process acknowledges (our own subscription is one)
            if waiter[0] < due:
                try:
                    await asyncio.wait_for(asyncio.shield(waiter[2]), ACK_TIMEOUT)
                except TimeoutError:
                    log.warning("session %s...: %d process(es) did not acknowledge %r in %.1f s",
                                message["sid"][:8], due - waiter[0], message["op"], ACK_TIMEOUT)
        finally:
            del self._acks[nonce]

    # ------------------------------------------------------------------ messages

    def forward(self, sid: str, data: bytes, changes_shared: bool) -> None:
        """A message of session ``sid`` for its GET stream, which is not here: to the process
        holding it, else into the stream's event log.

        A change notification (list changed, resource updated) is marked: the server delivers
        a change on every process (``ServerCore`` shares it through the store), so the process
        holding the stream sends its own copy and drops the forwarded ones; they count only when
        nobody holds the stream (then each lands in the log: the client may see one change
        notification more than once, never miss one). ``changes_shared``: the server does share
        its changes (else every message is forwarded as it is)."""
        head = data[:96]
        kind = _CHANGE if changes_shared and any(m in head for m in _CHANGE_METHODS) else _MESSAGE
        self.spawn(self._forward(sid, kind + data, data))

    async def _forward(self, sid: str, marked: bytes, data: bytes) -> None:
        try:
            if await self.store.publish(_get_channel(sid), marked) == 0:
                self.events.store_event(f"{sid}.0", data)
        except StoreUnavailable:
            self.lost += 1
            raise

    def owns(self, rid: Any) -> bool:
        """A server->client request id this process made (or not one of ours at all)."""
        return type(rid) is not int or rid // ID_BLOCK in (0, self.number)

    def forward_response(self, sid: str, rid: int, body: bytes) -> None:
        """The client POSTed here its answer to a request another process sent: pass it on."""
        message = json.dumps({"op": "resp", "sid": sid, "msg": body.decode("utf-8", "replace")}).encode()
        self.spawn(self.store.publish(_node_channel(rid // ID_BLOCK), message))

    async def hold_get(self, sid: str) -> None:
        """This process opens session ``sid``'s GET stream: receive its messages, and tell the
        others to close theirs (the client moved). Raises ``StoreUnavailable``."""
        await self.ensure_started()
        if sid not in self._gets:
            sub = await self.store.subscribe(_get_channel(sid), lambda data: self._on_get(sid, data),
                                             on_gap=lambda: self.http.close_get_stream(sid))
            if sid in self._gets:  # two GETs raced: one subscription is enough
                await sub.close()
            else:
                self._gets[sid] = sub
        await self.store.publish(_CTL, json.dumps({"op": "get", "sid": sid, "from": self.number}).encode())

    def release_get(self, sid: str) -> None:
        """Session ``sid``'s GET stream here ended."""
        sub = self._gets.pop(sid, None)
        if sub is not None:
            self.spawn(sub.close())

    def _on_get(self, sid: str, marked: bytes) -> None:
        if marked[:1] == _CHANGE:
            return  # this process delivers the change itself
        data = marked[1:]
        if not self.http.deliver_unsolicited(sid, data):
            self.events.store_event(f"{sid}.0", data)  # the stream ended meanwhile: keep it

    def _on_control(self, raw: bytes) -> None:
        msg = json.loads(raw)
        op = msg.get("op")
        sender = msg.get("from")
        if sender == self.number:
            return
        sid = msg.get("sid")
        if type(sid) is not str:
            return
        if op == "end":
            self.http.end_local_session(sid)
        elif op == "upd":
            self.http.update_local_session(sid, msg.get("state") or {})
        elif op == "get":
            self.http.close_get_stream(sid)
            return
        elif op != "flush":
            return
        nonce = msg.get("nonce")
        if type(sender) is int and type(nonce) is str:
            self.spawn(self._ack(sender, nonce, op == "flush"))

    async def _ack(self, sender: int, nonce: str, flush: bool) -> None:
        if flush:  # a client resumes elsewhere: what we still hold back must be in the log first
            await self.events.flush()
        await self.store.publish(_node_channel(sender), json.dumps({"op": "ack", "nonce": nonce}).encode())

    def _on_node(self, raw: bytes) -> None:
        msg = json.loads(raw)
        op = msg.get("op")
        if op == "ack":
            waiter = self._acks.get(msg.get("nonce"))
            if waiter is not None:
                waiter[0] += 1
                if waiter[1] is not None and waiter[0] >= waiter[1] and not waiter[2].done():
                    waiter[2].set_result(None)
        elif op == "resp":
            sid = msg.get("sid")
            body = msg.get("msg")
            if type(sid) is str and type(body) is str:
                self.http.feed_response(sid, body.encode())

    def _on_gap(self) -> None:
        """A subscription came back after its connection was lost: what was published meanwhile
        is lost, so check every cached session against the store again."""
        if self._rechecking:
            return  # (each subscription reports the same gap)
        self._rechecking = True
        log.warning("session store: subscription restored after a gap; re-checking %d cached sessions",
                    len(self.http.local_sessions()))
        self.spawn(self._recheck())

    async def _recheck(self) -> None:
        try:
            for sid in list(self.http.local_sessions()):
                record = await self.store.get(_key(sid))
                if record is None:
                    self.http.end_local_session(sid)
                elif type(record) is dict:
                    self.http.update_local_session(sid, record.get("state") or {})
        finally:
            self._rechecking = False
