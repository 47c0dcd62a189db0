"""How ``ServerCore`` serves tasks, both eras (a mixin of ``ServerCore``; the state is in ``tasks.TaskStore``).

* **2026-07-28** (the extension ``io.modelcontextprotocol/tasks``, SEP-2663): a ``tools/call`` of a
  tool registered with ``task="optional"|"required"`` from a request whose client capabilities
  declare the extension is answered ``resultType: "task"`` with the flat task fields; the tool
  runs in the background. An ``optional`` tool first runs as a plain call for ``task_window``
  seconds and is answered plainly if it ends by then (``_provisional``: task creation is
  server-directed, a server may answer the plain result instead). ``tasks/get`` inlines ``result``/``error``/``inputRequests``,
  ``tasks/update`` delivers ``inputResponses`` to a task parked on ``input_required`` (a tool's
  ``ctx.elicit``/``ask`` inside a task parks instead of answering ``InputRequiredResult``),
  ``tasks/cancel`` acks with an empty result. Every ``tasks/*`` method needs the extension
  declared on the request (-32021); a ``required`` tool called without it is -32021 too.
  ``notifications/tasks`` go to ``subscriptions/listen`` streams that asked for the task's id.
* **2025-11-25** (experimental, in the core): ``params.task`` on ``tools/call`` makes a task
  (``CreateTaskResult {task}``); ``tasks/get``, ``tasks/result`` (waits for a terminal status,
  then answers exactly what the call would have, with the related-task ``_meta``),
  ``tasks/list`` (the session's tasks, paged), ``tasks/cancel``; ``notifications/tasks/status``
  to the session; input a task needs is asked with server->client requests carrying the
  related-task ``_meta`` while the task shows ``input_required``.

A task's tool runs through the one ``ToolRunner`` path (``ServerCore._run_tool``), as a
background asyncio task. Cancelling a task cancels that asyncio task: an ``async def`` tool's
coroutine gets ``CancelledError``; a ``def`` tool running in the pool cannot be interrupted, so
its ``Context.cancelled`` becomes True for it to check, and whatever it returns is dropped (the
first terminal status wins in the store).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import requestvars
from .. import tracing as _tracing
from ..errors import (
    SERVER_OVERLOADED,
    InternalError,
    InvalidParams,
    JSONRPCError,
    MethodNotFound,
)
from ..peer import Deferred
from ..requestvars import log_extra
from ..types import CLIENT_CAPABILITIES_KEY, RELATED_TASK_KEY, TASKS_EXTENSION
from .context import Context, MissingClientCapability
from .mrtr import request_digest
from .tasks import TERMINAL, MemoryTaskStore, TaskRecord, TaskStore, now_iso, wait_for

if TYPE_CHECKING:
    from ..wire.jsonrpc import Request
    from .registry import Tool

__all__ = ["TaskServing", "TASKS_EXTENSION", "RELATED_TASK_KEY", "TASK_SUPPORT", "DEFAULT_TASK_WINDOW",
           "check_task_window"]

log = logging.getLogger("mcpfast.server")

#: ``@tool(task=...)`` values (``execution.taskSupport``)
TASK_SUPPORT = ("forbidden", "optional", "required")

_REQUIRED_EXTENSION: dict[str, Any] = {"extensions": {TASKS_EXTENSION: {}}}
#: the longest TTL a 2025-11-25 client may ask for (``params.task.ttl``), ms: one day
MAX_LEGACY_TTL_MS = 86_400_000
#: how long (s) a 2026-07-28 call of a ``task="optional"`` tool runs before it becomes a task.
#: A task costs the client at least two more round trips and, unless it listens, a poll interval
#: (500 ms by default) before it sees the result; a tool done in 100 ms is answered sooner
#: plainly, and a long one's handle comes 100 ms later, which a caller of long work never notices.
DEFAULT_TASK_WINDOW = 0.1
#: the longest window: a request held longer than this is what a task is for
MAX_TASK_WINDOW = 60.0


def check_task_window(value: Any, what: str = "task_window") -> float:
    """``value`` as a window in seconds (0 to ``MAX_TASK_WINDOW``), else ValueError."""
    if type(value) not in (int, float) or not 0 <= value <= MAX_TASK_WINDOW:  # also rejects NaN and bool
        raise ValueError(f"{what} must be a number of seconds from 0 to {MAX_TASK_WINDOW:g}, got {value!r}")
    return float(value)


def _declares_extension(meta: dict[str, Any]) -> bool:
    caps = meta[CLIENT_CAPABILITIES_KEY]
    ext = caps.get("extensions") if type(caps) is dict else None
    return type(ext) is dict and TASKS_EXTENSION in ext


def _task_id(params: dict[str, Any]) -> str:
    tid = params.get("taskId")
    if type(tid) is not str:
        raise InvalidParams("Expected a string at params.taskId")
    return tid


def _task_fields(rec: TaskRecord, ttl_key: str, poll_key: str) -> dict[str, Any]:
    """The fields both eras' task shapes carry; 2026-07-28 names two of them ``ttlMs`` and
    ``pollIntervalMs``, 2025-11-25 ``ttl`` and ``pollInterval``."""
    t: dict[str, Any] = {"taskId": rec["taskId"], "status": rec["status"], "createdAt": rec["createdAt"],
                         "lastUpdatedAt": rec["lastUpdatedAt"], ttl_key: rec.get("ttlMs")}
    if rec.get("pollIntervalMs") is not None:
        t[poll_key] = rec["pollIntervalMs"]
    if rec.get("statusMessage") is not None:
        t["statusMessage"] = rec["statusMessage"]
    return t


def modern_task(rec: TaskRecord) -> dict[str, Any]:
    """A record as the extension's ``DetailedTask`` (``tasks/get``, ``notifications/tasks``)."""
    t = _task_fields(rec, "ttlMs", "pollIntervalMs")
    status = rec["status"]
    if status == "completed":
        t["result"] = rec.get("result") or {"content": []}
    elif status == "failed":
        t["error"] = rec.get("error") or {"code": -32603, "message": "Internal error"}
    elif status == "input_required":
        t["inputRequests"] = rec.get("inputRequests") or {}
    return t


def legacy_task(rec: TaskRecord) -> dict[str, Any]:
    """A record as 2025-11-25's ``Task`` (``ttl``, ``pollInterval``; no inlined payload)."""
    return _task_fields(rec, "ttl", "pollInterval")


class _Running:
    """A task whose tool runs in this process: its asyncio task, its context, the input
    responses it waits for (``key -> future``)."""

    __slots__ = ("task", "ctx", "waiting")

    def __init__(self, task: asyncio.Future[Any] | None, ctx: Context | None) -> None:
        self.task = task
        self.ctx = ctx
        self.waiting: dict[str, asyncio.Future[Any]] = {}


class TaskServing:
    """The tasks part of ``ServerCore`` (see the module docstring). ``_init_tasks`` runs in
    ``ServerCore.__init__``; the handlers are registered there."""

    # provided by ServerCore
    _meta: dict[str, Any]
    _tools: dict[str, Tool]
    _listeners: dict[tuple[Any, Any], Any]
    _run_tool: Callable[..., Any]
    _start: Callable[[Any], Any]
    _check_caps: Callable[..., None]
    _context: Callable[..., Context]
    _restore: Callable[..., None]

    def _init_tasks(self, store: TaskStore | None, ttl_ms: int | None, poll_interval_ms: int,
                    window: float = DEFAULT_TASK_WINDOW) -> None:
        if ttl_ms is not None and ttl_ms < 1:
            raise ValueError(f"task_ttl_ms must be positive or None (unlimited), got {ttl_ms}")
        if poll_interval_ms < 1:
            raise ValueError(f"task_poll_interval_ms must be positive, got {poll_interval_ms}")
        #: where tasks live (``tasks.TaskStore``); in memory by default
        self.task_store: TaskStore = store if store is not None else MemoryTaskStore()
        #: a task's time to live (ms; None: unlimited); a 2025-11-25 client may ask for less
        self.task_ttl_ms = ttl_ms
        #: the polling interval tasks suggest (ms)
        self.task_poll_interval_ms = poll_interval_ms
        #: 2026-07-28: seconds a ``task="optional"`` tool runs as a plain call before it becomes
        #: a task (a tool's own ``task_window`` wins; 0: a task at once)
        self.task_window = check_task_window(window)
        self._running: dict[str, _Running] = {}
        self._jobs: set[asyncio.Task[Any]] = set()  # provisional calls' _settle, once tasks
        self._task_peers: dict[str, Any] = {}  # legacy task -> the session's peer (notifications)
        self._peer_owner: dict[Any, str] = {}
        #: legacy task -> the pending ``tasks/result`` handlers that carry its server->client
        #: requests on their own response streams, and who waits for one to come
        self._relays: dict[str, list[asyncio.Queue[tuple[str, dict[str, Any], asyncio.Future[Any]]]]] = {}
        self._relay_wanted: dict[str, asyncio.Event] = {}
        self._unsubscribe_tasks = self.task_store.subscribe(self._on_task_event)

    @property
    def running_tasks(self) -> int:
        """Tasks whose tool runs in this process now."""
        return len(self._running)

    def has_task_tools(self) -> bool:
        """Whether a registered tool supports tasks (then the capabilities say so)."""
        return any(t.task_support is not None for t in self._tools.values())

    # ================================================================== creation

    def _owner(self, peer: Any, session: Any) -> str:
        """Whom a task belongs to: the OAuth client when there is one, and in a legacy session
        the session (its HTTP session id, shared by every process; else this connection)."""
        token = requestvars.access_token.get()
        client = getattr(token, "client_id", None) if token is not None else None
        prefix = f"client:{client}|" if client else ""
        if session is None:
            return prefix
        req = requestvars.http_request.get()
        headers = getattr(req, "headers", None) if req is not None else None
        sid = headers.get("mcp-session-id") if isinstance(headers, dict) else None
        if sid:
            return f"{prefix}session:{sid}"
        own = self._peer_owner.get(peer)
        if own is None:
            own = self._peer_owner[peer] = "conn:" + secrets.token_urlsafe(12)
        return prefix + own

    def _task_call(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any,
                   tool: Tool, args: dict[str, Any]) -> Any:
        """A ``tools/call`` of a task-supporting tool (or with a legacy ``params.task``): the
        task handle, or None to serve the call as usual (the client cannot take a task)."""
        support = tool.task_support
        if session is None:
            if not _declares_extension(meta):
                if support == "required":
                    raise MissingClientCapability(
                        f"Missing required client capability: extension {TASKS_EXTENSION} (tool {tool.name!r}"
                        " runs only as a task)", {"requiredCapabilities": _REQUIRED_EXTENSION})
                return None
            ttl = self.task_ttl_ms
        else:
            hint = params.get("task")
            if hint is None:
                if support == "required":
                    raise MethodNotFound(f"Tool {tool.name!r} must be called as a task (execution.taskSupport"
                                         ' is "required"): send params.task')
                return None
            if support is None:
                raise MethodNotFound(f"Tool {tool.name!r} does not support tasks (execution.taskSupport is"
                                     ' "forbidden"): call it without params.task')
            if type(hint) is not dict:
                raise InvalidParams("Expected an object at params.task")
            ttl = self.task_ttl_ms
            want = hint.get("ttl")
            if type(want) is int and want > 0:
                ttl = min(want, ttl if ttl is not None else MAX_LEGACY_TTL_MS)
        if tool.required_caps is not None:
            self._check_caps(tool.required_caps, session, meta, f"tool {tool.name!r}")
        ctx, digest = self._task_context(peer, request, params, session, meta, tool)
        if ctx is not None:
            args = {**args, tool.context_kwarg: ctx}  # type: ignore[dict-item]
        owner = self._owner(peer, session)
        if session is None:
            if tool.defer_task:
                return self._provisional(peer, tool, args, ctx, digest, ttl, owner, None)
            if support == "optional":
                window = tool.task_window if tool.task_window is not None else self.task_window
                if window > 0:
                    return self._provisional(peer, tool, args, ctx, digest, ttl, owner, window)
        return self._start(self._create(peer, tool, args, ctx, digest, session is None, ttl, owner))

    def _task_context(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any,
                      tool: Tool) -> tuple[Context | None, str | None]:
        """The call's ``Context`` (when the tool takes one) and MRTR digest: a retry's
        ``requestState`` is verified and its ``inputResponses`` gathered (2026-07-28)."""
        digest = None
        if session is None and ("requestState" in params or tool.context_kwarg is not None):
            digest = request_digest("tools/call", tool.name)
        ctx = None
        if tool.context_kwarg is not None:
            ctx = self._context(peer, request, params, session, meta, digest)
        elif digest is not None:
            self._restore(None, params, digest)
        return ctx, digest

    async def _create(self, peer: Any, tool: Tool, args: dict[str, Any], ctx: Context | None, digest: str | None,
                      modern: bool, ttl: int | None, owner: str) -> dict[str, Any]:
        rec = await self._new_task(peer, tool, ctx, modern, ttl, owner)
        self._launch(rec["taskId"], tool, args, ctx, digest)
        return self._created(rec, modern)

    async def _new_task(self, peer: Any, tool: Tool, ctx: Context | None, modern: bool, ttl: int | None,
                        owner: str, status_message: str | None = None) -> TaskRecord:
        now = time.time()
        stamp = now_iso(now)
        tid = secrets.token_urlsafe(16)
        rec: TaskRecord = {
            "taskId": tid, "owner": owner, "status": "working", "createdAt": stamp, "lastUpdatedAt": stamp,
            "ttlMs": ttl, "expiresAt": None if ttl is None else now + ttl / 1000.0,
            "pollIntervalMs": self.task_poll_interval_ms,
            "meta": {"era": "modern" if modern else "legacy", "tool": tool.name},
        }
        if status_message is not None:
            rec["statusMessage"] = status_message
        if not modern:
            self._task_peers[tid] = peer  # before create: its first status notification goes there
        try:
            await self.task_store.create(rec)  # durable before the handle is given out
        except OverflowError as exc:  # the store is full of unfinished tasks
            self._task_peers.pop(tid, None)
            raise JSONRPCError(f"Server overloaded: {exc}", code=SERVER_OVERLOADED) from None
        if ctx is not None:
            ctx.task_id = tid
        return rec

    def _launch(self, tid: str, tool: Tool, args: dict[str, Any], ctx: Context | None, digest: str | None) -> None:
        run = _Running(None, ctx)
        self._running[tid] = run
        run.task = asyncio.get_running_loop().create_task(self._body(tid, tool, args, ctx, digest))

    def _created(self, rec: TaskRecord, modern: bool) -> dict[str, Any]:
        if modern:
            t = modern_task(rec)
            return {"resultType": "task", **t, "_meta": self._meta}
        return {"task": legacy_task(rec)}

    def _provisional(self, peer: Any, tool: Tool, args: dict[str, Any], ctx: Context | None,
                     digest: str | None, ttl: int | None, owner: str, window: float | None) -> Any:
        """A 2026-07-28 call that runs as a plain one and may become a task part way (the
        extension lets the server decide per request whether to make one). The running tool goes
        on as the task: it is never run twice, and what it did (status, input) carries over.

        * ``window`` None, a ``defer_task`` tool: the task is made when the tool calls
          ``await ctx.start_task()``; its input before that is gathered by multi round-trip
          requests on the call itself.
        * ``window`` seconds, a ``task="optional"`` tool (the immediate-result shortcut): a tool
          that ends within the window is answered as a plain call would be (its result, its
          ``isError`` result, its protocol error) and no task is made; one still running at the
          end of the window, or that asks for input (it then parks on the task:
          ``Context.ask``) or calls ``ctx.start_task()``, becomes the task. When the task cannot
          be made then (the store is full or down) the call simply goes on as a plain one.

        The answer is the tool's plain one when it is already there, else a ``Deferred`` given
        by whichever comes first: the task handle or the tool's end (callbacks, no coroutine of
        its own: a fast call costs no extra loop turn). Cancelling the request before there is a
        task cancels the tool. Once the call is a task, ``_settle`` records how the tool ends."""
        if window is None and ctx is None:
            raise TypeError(f"tool {tool.name!r} has defer_task=True but takes no Context to start the task with")
        loop = asyncio.get_running_loop()
        #: the task's id once decided; None: this stays a plain call
        made: asyncio.Future[str | None] = loop.create_future()
        run = _Running(None, ctx)  # the tool's future goes in once _run_tool gives it
        timer: asyncio.TimerHandle | None = None
        starting = False

        def answer_plain(fut: asyncio.Future[Any]) -> None:
            if timer is not None:
                timer.cancel()
            if answer.done():
                return
            if fut.cancelled():
                answer.reject(asyncio.CancelledError())
                return
            exc = fut.exception()
            if exc is not None:
                answer.reject(exc)
            else:
                answer.resolve(self._plain(fut.result()))

        def settle_as_task(tid: str) -> None:
            if run.task is not None:
                self._keep(loop.create_task(self._settle(tid, run.task)))

        async def start() -> None:
            nonlocal starting
            if made.done():
                return
            if starting:  # the window ended while the tool asked for input: one task, made once
                await asyncio.shield(made)
                return
            starting = True
            said = ctx.pending_status if ctx is not None else None
            try:
                rec = await self._new_task(peer, tool, ctx, True, ttl, owner, said)
            except BaseException as exc:
                made.set_result(None)
                if run.task is not None and run.task.done():  # it ended meanwhile: its own answer
                    answer_plain(run.task)
                if window is None or not isinstance(exc, Exception):
                    raise  # ctx.start_task() raises it to the tool; a cancellation goes on
                log.warning("tool %r goes on as a plain call: its task could not be made (%s)", tool.name, exc,
                            extra=log_extra(tool.name))
                return
            tid = rec["taskId"]
            self._running[tid] = run
            made.set_result(tid)
            if timer is not None:
                timer.cancel()
            answer.resolve(self._created(rec, True))  # (False: the request was cancelled meanwhile)
            settle_as_task(tid)
            if ctx is not None and ctx.pending_status is not said:  # a def tool said more meanwhile
                await self.task_status(ctx, ctx.pending_status)

        def on_tool_done(fut: asyncio.Future[Any]) -> None:
            if made.done():
                if made.result() is None:
                    answer_plain(fut)
                return  # a task: _settle records the end
            if not starting:  # (else start() decides)
                made.set_result(None)  # it ended first: a plain call for good
                answer_plain(fut)

        def on_window() -> None:
            if not made.done() and not starting and run.task is not None and not run.task.done():
                self._keep(loop.create_task(start()))

        def on_cancel(_: Deferred) -> None:
            # the request was cancelled (the client's notifications/cancelled, a timeout, the
            # connection's end) before it was answered: the tool stops
            if timer is not None:
                timer.cancel()
            if ctx is not None:
                ctx.cancelled = True
            if run.task is not None and not run.task.done():
                run.task.cancel()

        answer = Deferred(on_cancel)
        if ctx is not None:
            ctx.task_starter = start
            ctx.start_on_input = window is not None
        res = self._run_tool(tool, args, True, ctx, digest)  # raises what a plain call raises
        if asyncio.iscoroutine(res):  # eager_async_handlers: the bare coroutine
            res = asyncio.ensure_future(res)
        if not asyncio.isfuture(res):
            made.set_result(None)
            return self._plain(res)  # an inline def tool: done already
        fut: asyncio.Future[Any] = res
        run.task = fut
        if made.done():
            tid = made.result()
            if tid is not None:  # an eager tool (Python 3.12+) started its task already
                settle_as_task(tid)
                return answer
        elif fut.done() and not starting:
            made.set_result(None)
            return self._plain(fut.result())  # an eager tool done already (its error: the call's)
        fut.add_done_callback(on_tool_done)
        if window is not None and not made.done():
            timer = loop.call_later(window, on_window)
        return answer

    def _plain(self, res: Any) -> Any:
        """A provisional call's own answer: the tool's result, or an InputRequiredResult (a
        ``defer_task`` tool asked for input before starting its task)."""
        if type(res) is dict and "resultType" not in res:
            res = {**res, "resultType": "complete", "_meta": self._meta}
        return res

    async def _settle(self, tid: str, fut: asyncio.Future[Any]) -> None:
        """Record how a provisional call's tool ends, now that it is task ``tid``."""
        try:
            res = await fut
            result = _strip(res)
        except BaseException as exc:
            await self._settle_error(tid, exc)
            if not isinstance(exc, Exception) and not isinstance(exc, asyncio.CancelledError):
                raise  # KeyboardInterrupt, SystemExit
            return
        try:
            await self._record(tid, "completed", result=result)
        finally:
            self._running.pop(tid, None)

    def _keep(self, job: asyncio.Task[Any]) -> None:
        """Hold a background job until it ends (the loop holds tasks weakly)."""
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    # ================================================================== running

    async def _body(self, tid: str, tool: Tool, args: dict[str, Any], ctx: Context | None, digest: str | None) -> None:
        """Run the task's tool (``_run_tool``, the one way a tool runs) and record its outcome;
        nothing escapes but a cancellation (the task then ends ``cancelled``)."""
        try:
            res = self._run_tool(tool, args, False, ctx, digest)
            if asyncio.isfuture(res) or asyncio.iscoroutine(res):
                res = await res
            result = _strip(res)
        except BaseException as exc:
            await self._settle_error(tid, exc)
            if not isinstance(exc, Exception):
                raise  # CancelledError, KeyboardInterrupt, SystemExit
        else:
            await self._record(tid, "completed", result=result)
        finally:
            self._running.pop(tid, None)

    async def _record(self, tid: str, status: str, **kw: Any) -> None:
        """``finish`` on the store; a store that fails (a shared one that is down) is logged:
        the task then shows its last status until its TTL ends it."""
        try:
            await self.task_store.finish(tid, status, **kw)
        except Exception:  # noqa: BLE001 - a background task has nobody to raise to
            log.exception("could not record task %s as %s", tid, status, extra=log_extra())

    async def _settle_error(self, tid: str, exc: BaseException) -> None:
        if isinstance(exc, asyncio.CancelledError):
            await self._record(tid, "cancelled")
        elif isinstance(exc, JSONRPCError):
            await self._record(tid, "failed", error=exc.to_dict(), status_message=exc.message)
        else:
            log.error("task %s failed with an unexpected exception", tid, exc_info=exc, extra=log_extra())
            await self._record(tid, "failed", error=InternalError("Internal error").to_dict())
        self._running.pop(tid, None)

    def _on_task_event(self, event: str, rec: TaskRecord) -> None:
        tid = rec.get("taskId")
        if type(tid) is not str:
            return
        if event == "status":
            self._notify_status(tid, rec)
            return
        run = self._running.get(tid)
        if run is None:
            return
        if event == "cancel":
            if run.ctx is not None:
                run.ctx.cancelled = True
            for fut in run.waiting.values():
                if not fut.done():
                    fut.cancel()
            if run.task is not None and not run.task.done() and run.task is not asyncio.current_task():
                run.task.cancel()
        elif event == "input" and run.waiting:
            asyncio.get_running_loop().create_task(self._take_input(tid, run))

    async def _take_input(self, tid: str, run: _Running) -> None:
        got = await self.task_store.take_responses(tid)
        for key, value in got.items():
            fut = run.waiting.get(key)
            if fut is not None and not fut.done():
                fut.set_result(value)

    def _notify_status(self, tid: str, rec: TaskRecord) -> None:
        peer = self._task_peers.get(tid)
        if peer is not None:
            if getattr(peer, "closed", False):
                self._task_peers.pop(tid, None)
            else:
                peer.notify("notifications/tasks/status", legacy_task(rec))
            if rec["status"] in TERMINAL:
                self._task_peers.pop(tid, None)
        if self._listeners:
            from .core import SUBSCRIPTION_ID_KEY

            detailed: dict[str, Any] | None = None
            for lst in self._listeners.values():
                if tid in lst.task_ids:
                    if detailed is None:
                        detailed = modern_task(rec)
                    lst.peer.notify("notifications/tasks", {**detailed, "_meta": {SUBSCRIPTION_ID_KEY: lst.id}})

    # ================================================================== from a task's Context

    async def task_ask(self, ctx: Context, requests: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Input for a task's tool (``Context.ask`` inside a task). 2026-07-28: the requests not
        answered yet are parked on the task (``input_required``, shown by ``tasks/get``) until
        ``tasks/update`` delivers them. 2025-11-25: sent to the client as server->client requests
        with the related-task ``_meta`` while the task shows ``input_required``."""
        tid = ctx.task_id
        if tid is None:
            raise RuntimeError("task_ask() needs a task's context")
        store = self.task_store
        if ctx.legacy is not None:
            out: dict[str, Any] = {}
            await store.update(tid, status="input_required")
            try:
                for key, r in requests.items():
                    p = dict(r.get("params") or {})
                    p["_meta"] = {**(p.get("_meta") or {}), RELATED_TASK_KEY: {"taskId": tid}}
                    out[key] = await self._legacy_ask(ctx, tid, r["method"], p)
            finally:
                await store.update(tid, status="working")
            return out
        have = ctx.responses
        missing = {k: r for k, r in requests.items() if k not in have}
        if missing:
            run = self._running.get(tid)
            if run is None:
                raise RuntimeError(f"task {tid} is not running in this process")
            loop = asyncio.get_running_loop()
            futs = {k: run.waiting.setdefault(k, loop.create_future()) for k in missing}
            try:
                if await store.park(tid, missing) is None:
                    raise asyncio.CancelledError  # terminal (cancelled) or gone: stop the tool
                for k, fut in futs.items():
                    have[k] = await fut
            finally:
                for k in futs:
                    run.waiting.pop(k, None)
        return {k: have[k] for k in requests}

    async def _legacy_ask(self, ctx: Context, tid: str, method: str, params: dict[str, Any]) -> Any:
        """One server->client request of a 2025-11-25 task. It goes on the response stream of a
        ``tasks/result`` the client has pending for the task (what the spec suggests a client do
        on seeing ``input_required``); over HTTP, where a message outside any request is lost
        without a GET stream, it waits up to two polling intervals for such a call, then goes
        out as any message of the session would (the GET stream)."""
        relays = self._relays.get(tid)
        if not relays and ctx.http_request is not None:
            wanted = self._relay_wanted.setdefault(tid, asyncio.Event())
            try:
                async with asyncio.timeout(2 * self.task_poll_interval_ms / 1000.0):
                    await wanted.wait()
            except TimeoutError:
                pass
            finally:
                self._relay_wanted.pop(tid, None)
            relays = self._relays.get(tid)
        if relays:
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            relays[-1].put_nowait((method, params, fut))
            return await fut
        return await _tracing.server_request(ctx.peer, method, params)

    async def task_status(self, ctx: Context, message: str | None) -> None:
        """Set the task's ``statusMessage`` (``Context.report_status``)."""
        if ctx.task_id is not None:
            await self.task_store.update(ctx.task_id, status_message=message)

    # ================================================================== tasks/* handlers (modern)

    def _gate(self, meta: Any, method: str) -> None:
        if not _declares_extension(meta):
            raise MissingClientCapability(
                f"Missing required client capability: {method} belongs to the {TASKS_EXTENSION} extension,"
                " which this request's client capabilities do not declare", {"requiredCapabilities": _REQUIRED_EXTENSION})

    async def _find(self, peer: Any, tid: str, session: Any) -> TaskRecord:
        rec = await self.task_store.get(tid)
        if rec is None or rec.get("owner") != self._owner(peer, session):
            raise InvalidParams(f"Unknown task: {tid!r} (never created here, expired, or not yours)", {"taskId": tid})
        return rec

    def _handle_tasks_get(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        if session is None:
            self._gate(meta, "tasks/get")
        return self._start(self._tasks_get(peer, _task_id(params), session))

    async def _tasks_get(self, peer: Any, tid: str, session: Any) -> dict[str, Any]:
        rec = await self._find(peer, tid, session)
        if session is None:
            return {"resultType": "complete", **modern_task(rec), "_meta": self._meta}
        return legacy_task(rec)

    def _handle_tasks_update(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        self._gate(meta, "tasks/update")
        tid = _task_id(params)
        responses = params.get("inputResponses")
        if type(responses) is not dict:
            raise InvalidParams("Expected an object at params.inputResponses")
        return self._start(self._tasks_update(peer, tid, responses))

    async def _tasks_update(self, peer: Any, tid: str, responses: dict[str, Any]) -> dict[str, Any]:
        await self._find(peer, tid, None)
        if await self.task_store.answer(tid, responses) is None:
            raise InvalidParams(f"Unknown task: {tid!r}", {"taskId": tid})
        return {"resultType": "complete", "_meta": self._meta}

    def _handle_tasks_cancel(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        if session is None:
            self._gate(meta, "tasks/cancel")
        return self._start(self._tasks_cancel(peer, _task_id(params), session))

    async def _tasks_cancel(self, peer: Any, tid: str, session: Any) -> dict[str, Any]:
        rec = await self._find(peer, tid, session)
        if session is not None and rec["status"] in TERMINAL:
            # 2025-11-25: a terminal task cannot be cancelled (2026-07-28 acks it: idempotent)
            raise InvalidParams(f"Task {tid!r} is already {rec['status']}", {"taskId": tid, "status": rec["status"]})
        after = await self.task_store.request_cancel(tid)
        if after is None:
            raise InvalidParams(f"Unknown task: {tid!r}", {"taskId": tid})
        if session is None:
            return {"resultType": "complete", "_meta": self._meta}
        return legacy_task(after)

    # ================================================================== tasks/* handlers (legacy)

    def _handle_tasks_result(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        return self._start(self._tasks_result(peer, _task_id(params), session))

    async def _tasks_result(self, peer: Any, tid: str, session: Any) -> Any:
        await self._find(peer, tid, session)
        rec = await self._relay_until_terminal(peer, tid)
        if rec is None:
            raise InvalidParams(f"Unknown task: {tid!r} (it expired)", {"taskId": tid})
        related = {RELATED_TASK_KEY: {"taskId": tid}}
        status = rec["status"]
        if status == "completed":
            res = dict(rec.get("result") or {"content": []})
            res["_meta"] = {**(res.get("_meta") or {}), **related}
            return res
        if status == "failed":
            err = rec.get("error") or {}
            raise JSONRPCError(err.get("message", "Internal error"), err.get("data"), code=err.get("code", -32603))
        raise JSONRPCError(f"Task {tid!r} was cancelled", {"taskId": tid, **related}, code=-32800)

    async def _relay_until_terminal(self, peer: Any, tid: str) -> TaskRecord | None:
        """Wait for the task to end, meanwhile sending the requests its tool asks the client
        (``_legacy_ask``) from this handler, so they travel on this request's response stream."""
        queue: asyncio.Queue[tuple[str, dict[str, Any], asyncio.Future[Any]]] = asyncio.Queue()
        self._relays.setdefault(tid, []).append(queue)
        wanted = self._relay_wanted.get(tid)
        if wanted is not None:
            wanted.set()
        ended = asyncio.ensure_future(wait_for(self.task_store, tid, lambda r: r["status"] in TERMINAL))
        try:
            while True:
                job = asyncio.ensure_future(queue.get())
                await asyncio.wait((ended, job), return_when=asyncio.FIRST_COMPLETED)
                if not job.done():
                    job.cancel()
                    return ended.result()
                method, params, fut = job.result()
                try:
                    answer = await _tracing.server_request(peer, method, params)
                except Exception as exc:  # noqa: BLE001 - the client's error is the asking tool's
                    if not fut.done():
                        fut.set_exception(exc)
                else:
                    if not fut.done():
                        fut.set_result(answer)
        finally:
            ended.cancel()
            mine = self._relays.get(tid)
            if mine is not None:
                mine.remove(queue)
                if not mine:
                    del self._relays[tid]
            while not queue.empty():  # asked after this handler stopped relaying: ask directly
                method, params, fut = queue.get_nowait()
                if not fut.done():
                    fut.set_exception(JSONRPCError("the tasks/result that carried this request ended",
                                                   code=-32603))

    def _handle_tasks_list(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        cursor = params.get("cursor")
        if cursor is not None and type(cursor) is not str:
            raise InvalidParams("Expected a string at params.cursor")
        return self._start(self._tasks_list(peer, session, cursor))

    async def _tasks_list(self, peer: Any, session: Any, cursor: str | None) -> dict[str, Any]:
        page_size = getattr(self, "page_size", None) or 50
        try:
            recs, nxt = await self.task_store.list(self._owner(peer, session), cursor, page_size)
        except ValueError:
            raise InvalidParams(f"Invalid cursor {cursor!r} - at params.cursor") from None
        res: dict[str, Any] = {"tasks": [legacy_task(r) for r in recs]}
        if nxt is not None:
            res["nextCursor"] = nxt
        return res

    # ================================================================== lifecycle

    def _tasks_peer_closed(self, peer: Any) -> None:
        self._peer_owner.pop(peer, None)
        for tid in [t for t, p in self._task_peers.items() if p is peer]:
            del self._task_peers[tid]


def _strip(res: Any) -> dict[str, Any]:
    """A tool's answer as a task's result: the ``CallToolResult`` without the modern envelope
    keys (``resultType``, the serverInfo ``_meta``), which belong to responses, not results."""
    if type(res) is not dict and not isinstance(res, dict):
        raise InternalError("Internal error: a task's tool produced no result object")
    out = dict(res)
    out.pop("resultType", None)
    meta = out.get("_meta")
    if type(meta) is dict:
        meta = {k: v for k, v in meta.items() if k != "io.modelcontextprotocol/serverInfo"}
        if meta:
            out["_meta"] = meta
        else:
            del out["_meta"]
    return out
