"""Task state for MCP Tasks (both eras): the ``TaskStore`` interface and its in-memory backend.

A task is what a ``tools/call`` becomes when the server answers it with a task handle instead
of the result: the 2026-07-28 extension ``io.modelcontextprotocol/tasks`` (SEP-2663,
``resultType: "task"``, ``tasks/get|update|cancel``) or the experimental tasks of 2025-11-25
(``params.task``, ``tasks/get|result|list|cancel``). The server core (``ServerCore``) runs the
tool and keeps the task's *state* in a ``TaskStore``; it never keeps a task anywhere else, so a
store shared by several processes (Redis) makes a task created on one process visible, and its
cancellation and input delivery effective, from every other.

The contract a backend implements (``TaskStore``):

* **Records are plain JSON-serialisable dicts** (``TaskRecord``); a backend may store them as JSON
  text and must give back an equal dict (never the caller's own object to mutate: a copy, or a
  freshly decoded one). Keys:

  - ``taskId`` (str, minted by the core: 128 random bits, URL-safe) and ``owner`` (str: whom the
    task belongs to, ``""`` for nobody in particular; the core compares it on every access);
  - ``status``: ``"working" | "input_required" | "completed" | "failed" | "cancelled"``, the last
    three terminal: once terminal a record's status, ``result`` and ``error`` never change again;
  - ``statusMessage`` (str, optional), ``createdAt``/``lastUpdatedAt`` (ISO 8601 UTC strings; the
    store sets ``lastUpdatedAt`` on every change, with ``now_iso()``);
  - ``ttlMs`` (int or None: unlimited) and ``expiresAt`` (float Unix seconds or None, derived
    from ``createdAt`` + ``ttlMs`` by the core): a record is never given out after ``expiresAt``
    and never dropped before it (no early expiry); ``pollIntervalMs`` (int);
  - ``result`` (the tool's ``CallToolResult``, only at ``completed``) or ``error`` (a JSON-RPC
    error object ``{code, message, data?}``, only at ``failed``);
  - ``inputRequests``: ``{key: {"method", "params"}}``, the server->client requests the task
    waits on (only at ``input_required``; a key is never reused within one task);
    ``inputResponses``: answers delivered by ``answer`` and not yet taken by the running tool;
  - ``cancelRequested`` (bool); ``meta`` (a dict the core keeps for itself: era, tool name).

* **Every mutation is atomic per task** (a Redis backend: a Lua script or WATCH/MULTI) and
  returns the record as it is afterwards, or None when the task is unknown or expired (or, for
  ``finish``, when it was already terminal: the first terminal status wins, so a cancel racing
  the tool's own completion leaves exactly one outcome).

* **Events.** Each successful mutation is published to every subscriber of *every* process
  (``subscribe``): ``callback(event, record)`` on the event loop's thread, where ``event`` is
  ``"status"`` (a status or status message changed: notifications are sent from these),
  ``"cancel"`` (``request_cancel`` reached a task that was running: the process running it
  cancels the tool) or ``"input"`` (``answer`` delivered input responses: the process running
  the task takes them with ``take_responses``). A memory store calls back synchronously, after
  the mutation; a Redis store from its pub/sub reader. Callbacks must not raise and must not
  block; the core's only schedule work. Events are hints, records are the truth: a subscriber
  that reads a record after an event sees at least that event's state.

* **Expiry.** ``get``/``list`` never return an expired record; a backend drops expired records
  in its own time (a Redis backend sets the key's expiry to ``expiresAt``). A task running past
  its TTL is not stopped by the store: its ``finish`` then returns None.

* **Listing** is per owner, oldest first, paged by an opaque cursor the backend mints
  (``list(owner, cursor, limit)`` -> ``(records, next_cursor or None)``); a cursor it cannot
  read raises ``ValueError`` (the core answers -32602).

The in-memory backend (``MemoryTaskStore``) is the default of ``ServerCore(task_store=...)``.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

_log = logging.getLogger("mcpfast.server")

__all__ = [
    "TaskStore",
    "MemoryTaskStore",
    "TaskSubscribers",
    "TaskRecord",
    "TaskEventCallback",
    "TERMINAL",
    "STATUSES",
    "KEEP",
    "now_iso",
    "wait_for",
]

#: a task as the store keeps it (see the module docstring for the keys)
TaskRecord = dict[str, Any]
#: ``callback(event, record)``: event is "status", "cancel" or "input"
TaskEventCallback = Callable[[str, TaskRecord], None]

STATUSES = frozenset({"working", "input_required", "completed", "failed", "cancelled"})
TERMINAL = frozenset({"completed", "failed", "cancelled"})

#: sentinel: "leave this field as it is" (``update``'s ``status_message`` default; a backend
#: compares with ``is KEEP``)
KEEP: Any = object()
_KEEP = KEEP


def now_iso(t: float | None = None) -> str:
    """``t`` (Unix seconds; now by default) as the ISO 8601 UTC timestamp tasks carry, with
    milliseconds: ``2026-07-28T10:30:00.123Z``."""
    if t is None:
        t = time.time()
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@runtime_checkable
class TaskStore(Protocol):
    """Where tasks live (contract in the module docstring). All methods that touch records are
    coroutines; ``subscribe`` is plain (it registers a callback and returns its remover)."""

    async def create(self, record: TaskRecord) -> None:
        """Store a new task. Returns only once a ``get`` from any process would find it (the
        extension's durable-create rule: the core answers ``CreateTaskResult`` after this)."""
        ...

    async def get(self, task_id: str) -> TaskRecord | None:
        """The record, or None when unknown or expired."""
        ...

    async def update(self, task_id: str, *, status: str | None = None,
                     status_message: str | None = _KEEP) -> TaskRecord | None:
        """Change a *non-terminal* task's status (``"working"``/``"input_required"``) and/or its
        ``statusMessage`` (None removes it), set ``lastUpdatedAt``, publish ``"status"``.
        None when unknown, expired or already terminal (nothing changes then)."""
        ...

    async def finish(self, task_id: str, status: str, *, result: dict[str, Any] | None = None,
                     error: dict[str, Any] | None = None,
                     status_message: str | None = None) -> TaskRecord | None:
        """Make the task terminal (``completed`` with ``result``, ``failed`` with ``error``, or
        ``cancelled``), clear ``inputRequests``/``inputResponses``, publish ``"status"``. None
        when unknown, expired or already terminal (the first terminal status wins)."""
        ...

    async def request_cancel(self, task_id: str) -> TaskRecord | None:
        """The client asked to cancel. A non-terminal task becomes ``cancelled`` at once (both
        eras want that status observable after the ack) with ``cancelRequested`` set; the store
        publishes ``"status"`` and then ``"cancel"`` so the process running it stops the tool.
        A terminal task is returned unchanged (cancel is idempotent). None when unknown."""
        ...

    async def park(self, task_id: str, requests: dict[str, Any]) -> TaskRecord | None:
        """Add ``requests`` (``{key: {"method", "params"}}``) to the task's outstanding
        ``inputRequests``; status becomes ``input_required``; publish ``"status"``. None when
        unknown, expired or terminal."""
        ...

    async def answer(self, task_id: str, responses: dict[str, Any]) -> TaskRecord | None:
        """Deliver input responses (``tasks/update``): each key that is outstanding moves from
        ``inputRequests`` to ``inputResponses``; other keys are ignored (never issued, already
        answered). When no request is left outstanding the status returns to ``working``
        (publish ``"status"``); when any key was taken, publish ``"input"``. Returns the record
        (unchanged when no key matched); None when unknown or expired."""
        ...

    async def take_responses(self, task_id: str) -> dict[str, Any]:
        """Remove and return the task's delivered ``inputResponses`` (``{}`` when none, or when
        the task is unknown): the running tool consumes each answer once."""
        ...

    async def list(self, owner: str, cursor: str | None = None,
                   limit: int = 50) -> tuple[list[TaskRecord], str | None]:
        """The owner's live tasks, oldest first, at most ``limit``, and the cursor of the next
        page (None at the end). ``ValueError`` for a cursor this store did not mint."""
        ...

    def subscribe(self, callback: TaskEventCallback) -> Callable[[], None]:
        """Call ``callback(event, record)`` for every event of every task (on the event loop's
        thread); returns a function that unsubscribes."""
        ...

    async def close(self) -> None:
        """Release connections and background work (a no-op in memory)."""
        ...


class TaskSubscribers:
    """The callbacks of ``TaskStore.subscribe`` in one process, shared by every store: each
    gets a copy of the record (so no callback changes what another sees), and one that raises
    is logged without stopping the others (events come from the store, not from a caller who
    could be told)."""

    __slots__ = ("_callbacks",)

    def __init__(self) -> None:
        self._callbacks: list[TaskEventCallback] = []

    def subscribe(self, callback: TaskEventCallback) -> Callable[[], None]:
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            try:
                self._callbacks.remove(callback)
            except ValueError:
                pass

        return unsubscribe

    def publish(self, event: str, rec: TaskRecord) -> None:
        for cb in list(self._callbacks):
            try:
                cb(event, copy_record(rec))
            except Exception:
                _log.exception("a task event callback failed")


class MemoryTaskStore:
    """``TaskStore`` in this process's memory: the default, and the reference behaviour.

    Records are kept as the dicts the core gave (copies come out), in creation order; expired
    ones are dropped lazily (on access) and by a sweep of a heap of expiry times on each
    ``create``, so memory stays bounded by the tasks alive within their TTL. ``max_tasks``
    bounds it further: creating one more drops the oldest terminal task (or, when none is
    terminal, refuses with ``OverflowError``)."""

    def __init__(self, max_tasks: int = 100_000) -> None:
        if max_tasks < 1:
            raise ValueError(f"max_tasks must be at least 1, got {max_tasks}")
        self.max_tasks = max_tasks
        self._tasks: dict[str, TaskRecord] = {}
        self._seq: dict[str, int] = {}
        self._next_seq = 0
        self._expiry: list[tuple[float, str]] = []
        self._subscribers = TaskSubscribers()

    def __len__(self) -> int:
        return len(self._tasks)

    # ------------------------------------------------------------------ helpers

    def _live(self, task_id: str) -> TaskRecord | None:
        rec = self._tasks.get(task_id)
        if rec is None:
            return None
        exp = rec.get("expiresAt")
        if exp is not None and exp <= time.time():
            self._drop(task_id)
            return None
        return rec

    def _drop(self, task_id: str) -> None:
        self._tasks.pop(task_id, None)
        self._seq.pop(task_id, None)

    def _sweep(self) -> None:
        now = time.time()
        heap = self._expiry
        while heap and heap[0][0] <= now:
            _, tid = heapq.heappop(heap)
            rec = self._tasks.get(tid)
            if rec is not None and rec.get("expiresAt") is not None and rec["expiresAt"] <= now:
                self._drop(tid)

    def _publish(self, event: str, rec: TaskRecord) -> None:
        self._subscribers.publish(event, rec)

    # ------------------------------------------------------------------ TaskStore

    async def create(self, record: TaskRecord) -> None:
        tid = record["taskId"]
        if tid in self._tasks:
            raise ValueError(f"task {tid!r} exists already")
        self._sweep()
        if len(self._tasks) >= self.max_tasks:
            for old, rec in self._tasks.items():
                if rec["status"] in TERMINAL:
                    self._drop(old)
                    break
            else:
                raise OverflowError(f"the task store holds {self.max_tasks} unfinished tasks (max_tasks)")
        rec = copy_record(record)
        self._tasks[tid] = rec
        self._seq[tid] = self._next_seq
        self._next_seq += 1
        exp = rec.get("expiresAt")
        if exp is not None:
            heapq.heappush(self._expiry, (exp, tid))

    async def get(self, task_id: str) -> TaskRecord | None:
        rec = self._live(task_id)
        return None if rec is None else copy_record(rec)

    async def update(self, task_id: str, *, status: str | None = None,
                     status_message: str | None = _KEEP) -> TaskRecord | None:
        if status is not None and status not in ("working", "input_required"):
            raise ValueError(f"update() sets a non-terminal status, got {status!r} (use finish())")
        rec = self._live(task_id)
        if rec is None or rec["status"] in TERMINAL:
            return None
        if status is not None:
            rec["status"] = status
        if status_message is not _KEEP:
            if status_message is None:
                rec.pop("statusMessage", None)
            else:
                rec["statusMessage"] = status_message
        rec["lastUpdatedAt"] = now_iso()
        self._publish("status", rec)
        return copy_record(rec)

    async def finish(self, task_id: str, status: str, *, result: dict[str, Any] | None = None,
                     error: dict[str, Any] | None = None,
                     status_message: str | None = None) -> TaskRecord | None:
        if status not in TERMINAL:
            raise ValueError(f"finish() sets a terminal status, got {status!r}")
        rec = self._live(task_id)
        if rec is None or rec["status"] in TERMINAL:
            return None
        terminate_record(rec, status, result, error, status_message)
        self._publish("status", rec)
        return copy_record(rec)

    async def request_cancel(self, task_id: str) -> TaskRecord | None:
        rec = self._live(task_id)
        if rec is None:
            return None
        if rec["status"] in TERMINAL:
            return copy_record(rec)
        terminate_record(rec, "cancelled", None, None, "Cancelled at the client's request")
        rec["cancelRequested"] = True
        self._publish("status", rec)
        self._publish("cancel", rec)
        return copy_record(rec)

    async def park(self, task_id: str, requests: dict[str, Any]) -> TaskRecord | None:
        rec = self._live(task_id)
        if rec is None or rec["status"] in TERMINAL:
            return None
        pending = rec.setdefault("inputRequests", {})
        pending.update(requests)
        rec["status"] = "input_required"
        rec["lastUpdatedAt"] = now_iso()
        self._publish("status", rec)
        return copy_record(rec)

    async def answer(self, task_id: str, responses: dict[str, Any]) -> TaskRecord | None:
        rec = self._live(task_id)
        if rec is None:
            return None
        pending = rec.get("inputRequests")
        if not pending or rec["status"] in TERMINAL:
            return copy_record(rec)
        taken = {k: v for k, v in responses.items() if k in pending}
        if not taken:
            return copy_record(rec)
        for k in taken:
            del pending[k]
        rec.setdefault("inputResponses", {}).update(taken)
        if not pending:
            del rec["inputRequests"]
            rec["status"] = "working"
        rec["lastUpdatedAt"] = now_iso()
        if not pending:
            self._publish("status", rec)
        self._publish("input", rec)
        return copy_record(rec)

    async def take_responses(self, task_id: str) -> dict[str, Any]:
        rec = self._live(task_id)
        if rec is None:
            return {}
        got: dict[str, Any] = rec.pop("inputResponses", None) or {}
        return got

    async def list(self, owner: str, cursor: str | None = None,
                   limit: int = 50) -> tuple[list[TaskRecord], str | None]:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        after = -1
        if cursor is not None:
            if type(cursor) is not str or not cursor.isdigit():
                raise ValueError(f"invalid cursor {cursor!r}")
            after = int(cursor)
        out: list[TaskRecord] = []
        last = after
        more = False
        for tid in list(self._tasks):
            seq = self._seq[tid]
            if seq <= after:
                continue
            rec = self._live(tid)
            if rec is None or rec.get("owner") != owner:
                continue
            if len(out) == limit:
                more = True
                break
            out.append(copy_record(rec))
            last = seq
        return out, (str(last) if more else None)

    def subscribe(self, callback: TaskEventCallback) -> Callable[[], None]:
        return self._subscribers.subscribe(callback)

    async def close(self) -> None:
        return None


def terminate_record(rec: TaskRecord, status: str, result: dict[str, Any] | None, error: dict[str, Any] | None,
                     message: str | None) -> None:
    """Make ``rec`` terminal in place: the one transition every ``TaskStore`` applies (the
    memory store and ``redis_tasks.RedisTaskStore`` share it, so both record the same fields)."""
    rec["status"] = status
    rec.pop("inputRequests", None)
    rec.pop("inputResponses", None)
    if status == "completed":
        rec["result"] = result if result is not None else {"content": []}
    elif status == "failed":
        rec["error"] = error if error is not None else {"code": -32603, "message": "Internal error"}
    if message is not None:
        rec["statusMessage"] = message
    rec["lastUpdatedAt"] = now_iso()


def copy_record(rec: TaskRecord) -> TaskRecord:
    """A copy deep enough that the caller cannot change the store's record: the top level and
    the two maps the store itself mutates (results and requests are never mutated in place)."""
    out = dict(rec)
    for key in ("inputRequests", "inputResponses", "meta"):
        v = out.get(key)
        if v is not None:
            out[key] = dict(v)
    return out


async def wait_for(store: TaskStore, task_id: str, predicate: Callable[[TaskRecord], bool],
                   timeout: float | None = None) -> TaskRecord | None:
    """Wait until ``predicate(record)`` holds for the task (checked now and on each of its
    events), returning the record; None when the task is unknown or expires. For ``tasks/result``
    (block until terminal) and tests."""
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()

    def on_event(event: str, rec: TaskRecord) -> None:
        if rec.get("taskId") == task_id:
            loop.call_soon(changed.set)

    unsubscribe = store.subscribe(on_event)
    try:
        async with asyncio.timeout(timeout):
            while True:
                changed.clear()
                rec = await store.get(task_id)
                if rec is None or predicate(rec):
                    return rec
                exp = rec.get("expiresAt")
                if exp is None:
                    await changed.wait()
                else:  # wake at expiry too, so an expired task ends the wait
                    try:
                        async with asyncio.timeout(max(exp - time.time(), 0.0) + 0.001):
                            await changed.wait()
                    except TimeoutError:
                        pass
    finally:
        unsubscribe()
