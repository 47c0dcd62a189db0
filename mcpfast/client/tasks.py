"""Tasks on the client side: tool calls that the server runs in the background, both eras.

* **2026-07-28** (the extension ``io.modelcontextprotocol/tasks``, SEP-2663): ``mcpfast.Client``
  declares the extension in every request's client capabilities (``Client(tasks=False)`` does
  not); the server alone decides whether a ``tools/call`` becomes a task and then answers
  ``resultType: "task"`` with the task's fields flat. ``tasks/get`` reports the status and, at
  a terminal one, inlines the ``result`` (``completed``; a tool error is ``completed`` with
  ``isError``) or the JSON-RPC ``error`` (``failed``); ``input_required`` carries
  ``inputRequests``, answered with the client's elicitation/sampling/roots callbacks and sent
  back with ``tasks/update``; ``tasks/cancel`` is an acknowledgement; status notifications
  (``notifications/tasks``) come on a ``subscriptions/listen`` stream for the task's id.
* **2025-11-25** (experimental, in the core): the client asks for a task with ``params.task``
  (``ttl``) when the server declares ``tasks.requests.tools.call``; the answer is
  ``CreateTaskResult`` (``{"task": {...}}``); ``tasks/result`` blocks until the task ends and
  answers exactly what the call would have (result or error); meanwhile the server's requests
  (elicitation, sampling) carry the related-task ``_meta`` and reach the same callbacks (the
  answers carry it back); ``notifications/tasks/status`` may report changes; ``tasks/list``.

A plain ``await client.call_tool(...)`` that the server turned into a task is finished here,
transparently: polled (honouring ``pollIntervalMs``) until the task ends and the
``CallToolResult`` returned, a failure raised as ``MCPError``; cancelling the awaiting coroutine
cancels the task (the caller never saw it). ``await client.start_tool_task(...)`` returns the
task itself, a ``ToolTask``::

    task = await client.start_tool_task("render", {"scene": 3}, on_status=print)
    async for state in task.statuses():       # a Task each time the status changes
        print(state.status, state.status_message)
    result = await task.result(timeout=60)     # CallToolResult; MCPError when it failed

``client.experimental`` carries the method names of the official SDK's experimental client
(``call_tool_as_task``, ``get_task``, ``get_task_result``, ``list_tasks``, ``cancel_task``,
``poll_task``) for code written against them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from .. import tracing as _tracing
from ..errors import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    REQUEST_CANCELLED,
    REQUEST_TIMEOUT,
    JSONRPCError,
    MCPError,
)
from ..types import CLIENT_CAPABILITIES_KEY, RELATED_TASK_KEY, SUBSCRIPTIONS_ACKNOWLEDGED, TASKS_EXTENSION
from .results import (
    CallToolResult,
    CancelTaskResult,
    CreateTaskResult,
    GetTaskResult,
    ListTasksResult,
    Task,
)

if TYPE_CHECKING:
    from .client import Client
    from .session import ClientSession

__all__ = [
    "TASKS_EXTENSION",
    "RELATED_TASK_KEY",
    "TERMINAL_STATUSES",
    "DEFAULT_POLL_INTERVAL_MS",
    "ToolTask",
    "TaskListen",
    "TaskCancelledError",
    "TaskRegistry",
    "ExperimentalClientFeatures",
    "start_tool_task",
    "finish_call",
    "call_required_task",
    "requires_task",
    "related_task_id",
    "declaring",
    "task_request",
    "tag_related",
    "legacy_tool_tasks",
]

log = logging.getLogger("mcpfast.client.tasks")

#: statuses a task never leaves
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
#: the polling interval when the server suggests none (milliseconds)
DEFAULT_POLL_INTERVAL_MS = 500
#: a task's state pushed on a listen stream (2026-07-28)
TASK_NOTIFICATION = "notifications/tasks"
LISTEN_ACKNOWLEDGED = SUBSCRIPTIONS_ACKNOWLEDGED
#: a server's ``pollIntervalMs: 0`` must not turn the wait into a busy loop
MIN_POLL_INTERVAL_MS = 1

#: ``on_status(task)``: called with a ``Task`` each time the status (or its message) changes;
#: may return an awaitable, which is run on its own
StatusCallback = Callable[[Task], Any]


class TaskCancelledError(MCPError):
    """The task ended ``cancelled``, so it has no result (``.task_id``)."""

    def __init__(self, task_id: str, message: str | None = None) -> None:
        super().__init__(REQUEST_CANCELLED, message or f"Task {task_id!r} was cancelled", {"taskId": task_id})
        self.task_id = task_id


def related_task_id(meta: Any) -> str | None:
    """The task id of a 2025-11-25 related-task ``_meta`` (None when there is none)."""
    if type(meta) is dict:
        rel = meta.get(RELATED_TASK_KEY)
        if type(rel) is dict and type(rel.get("taskId")) is str:
            return rel["taskId"]  # type: ignore[no-any-return]
    return None


def tag_related(params: dict[str, Any], result: Any) -> Any:
    """The answer to a server request, carrying the request's related-task ``_meta`` back
    (2025-11-25: every message about a task names it); ``result`` unchanged otherwise."""
    task_id = related_task_id(params.get("_meta"))
    if task_id is None or type(result) is not dict:
        return result
    meta = result.get("_meta")
    meta = dict(meta) if type(meta) is dict else {}
    meta.setdefault(RELATED_TASK_KEY, {"taskId": task_id})
    return {**result, "_meta": meta}


def legacy_tool_tasks(server_capabilities: dict[str, Any]) -> bool:
    """Whether a 2025-11-25 server accepts task-augmented ``tools/call`` (its
    ``tasks.requests.tools.call`` capability; without it a client must not ask)."""
    tasks = server_capabilities.get("tasks")
    requests = tasks.get("requests") if type(tasks) is dict else None
    tools = requests.get("tools") if type(requests) is dict else None
    return type(tools) is dict and tools.get("call") is not None


def declaring(session: ClientSession) -> dict[str, Any] | None:
    """The ``_meta`` that declares the extension on one 2026-07-28 request of a client that does
    not declare it on all (``Client(tasks=False)``): a server answers ``tasks/*`` and task
    notifications only to a declaring request (-32021). None when nothing needs adding."""
    if not session.modern:
        return None
    caps = session.capabilities
    exts = caps.get("extensions") or {}
    if TASKS_EXTENSION in exts:
        return None
    return {CLIENT_CAPABILITIES_KEY: {**caps, "extensions": {**exts, TASKS_EXTENSION: {}}}}


async def task_request(client: Client, method: str, params: dict[str, Any] | None) -> Any:
    """A ``tasks/*`` request through ``client.request`` (declaring the extension when the
    client does not on every request)."""
    return await client.request(method, params, meta=declaring(client.session))


def _interval_s(state: dict[str, Any]) -> float:
    ms = state.get("pollIntervalMs", state.get("pollInterval"))
    value = float(ms) if type(ms) is int or type(ms) is float else float(DEFAULT_POLL_INTERVAL_MS)  # (not bool)
    return max(value, MIN_POLL_INTERVAL_MS) / 1000.0


def _task_state(res: Any, *, modern: bool) -> dict[str, Any] | None:
    """The task a ``tools/call`` answer created (its flat fields), None for a direct answer."""
    if type(res) is not dict:
        raise MCPError(INVALID_PARAMS, f"Malformed tools/call result: expected an object, got {type(res).__name__}")
    state: Any = res
    if modern:
        if res.get("resultType") != "task":
            return None
    else:
        state = res.get("task")
        if state is None:
            return None  # the server answered directly (it may decline a task)
    if type(state) is not dict or type(state.get("taskId")) is not str or type(state.get("status")) is not str:
        raise MCPError(INVALID_PARAMS, "Malformed CreateTaskResult: expected a task with a string taskId and status")
    return state


class TaskRegistry:
    """Per client: the open ``ToolTask`` handles (weakly held), so 2025-11-25
    ``notifications/tasks/status`` reach their handle; and the ``tasks/cancel`` requests sent
    when a wait was abandoned, kept alive until answered."""

    def __init__(self) -> None:
        self._tasks: weakref.WeakSet[ToolTask] = weakref.WeakSet()
        self._background: set[asyncio.Task[Any]] = set()

    def watch(self, task: ToolTask) -> None:
        if task.task_id is not None:
            self._tasks.add(task)

    def deliver(self, params: Any) -> None:
        """A status notification: hand the task's state to its handle, if one is open."""
        if type(params) is dict:
            for task in list(self._tasks):  # a handle takes only its own task's state
                task.observe(params)

    def keep(self, job: asyncio.Task[Any]) -> None:
        """Hold ``job`` until it ends (the loop holds tasks weakly); its failure is logged."""
        self._background.add(job)
        job.add_done_callback(self._ended)

    def _ended(self, job: asyncio.Task[Any]) -> None:
        self._background.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.debug("cancelling an abandoned task failed: %s", job.exception())


class ToolTask:
    """A tool call the server runs as a task (see the module docstring).

    ``task_id`` is None when the server answered the call directly (a 2026-07-28 server that
    chose not to create a task, a 2025-11-25 server without task support): the handle is then
    already ``completed`` and ``result()`` returns that answer. ``status`` and ``task`` are the
    last known state; ``get()`` asks the server now.

    One driver per handle waits for the end (``result()``, ``statuses()`` and the
    ``on_status`` callbacks share it). At 2026-07-28 it polls ``tasks/get`` every
    ``pollIntervalMs``, woken early by ``notifications/tasks`` from a ``subscriptions/listen``
    stream (``listen``: True, False, or None for "when the server's ``server/discover``
    declared the extension"; a server that refuses the stream or leaves the task out of its
    acknowledgement is polled alone), and answers ``input_required`` once per input key. At
    2025-11-25 it blocks on ``tasks/result`` (re-sent after each ``read_timeout_seconds``),
    polling ``tasks/get`` alongside only when someone watches the status.
    """

    def __init__(self, client: Client, task_id: str | None, *, name: str | None = None,
                 state: dict[str, Any] | None = None, result: dict[str, Any] | None = None,
                 on_status: StatusCallback | None = None, listen: bool | None = None) -> None:
        self.client = client
        self.task_id = task_id
        #: the tool's name, when this handle started the call
        self.name = name
        #: 2026-07-28 (poll ``tasks/get``) or 2025-11-25 (``tasks/result``)
        self.modern = client.session.modern
        #: open a ``subscriptions/listen`` stream for this task while waiting (2026-07-28): the
        #: end arrives at once instead of at the next poll; None: when the server declared the
        #: extension (``server/discover``)
        self.listen = listen
        # what is known of the task: nothing but its id when attached by id
        self._state: dict[str, Any] = state if state is not None else (
            {"taskId": task_id, "status": "completed"} if result is not None else {"taskId": task_id})
        self._result = result
        self._reported: tuple[Any, Any] | None = None
        self._callbacks: list[StatusCallback] = [on_status] if on_status is not None else []
        self._queues: list[asyncio.Queue[Task]] = []
        self._wake: asyncio.Event | None = None
        self._answered: set[str] = set()
        self._driver: asyncio.Task[dict[str, Any]] | None = None
        self._waiters = 0
        self._jobs: set[asyncio.Future[Any]] = set()
        client.task_registry.watch(self)
        self.observe(self._state)

    @classmethod
    def attach(cls, client: Client, task_id: str, **kw: Any) -> ToolTask:
        """A handle for a task created earlier (an id kept across a restart, say): its state is
        unknown until ``get()`` or a wait asks."""
        return cls(client, task_id, **kw)

    # ------------------------------------------------------------------ state

    @property
    def status(self) -> str | None:
        """The last known status (``working``, ``input_required``, ``completed``, ``failed``,
        ``cancelled``)."""
        return self._state.get("status")

    @property
    def task(self) -> Task:
        """The last known state, as a ``Task``."""
        return Task(self._state)

    @property
    def done(self) -> bool:
        """Whether the task has reached a terminal status."""
        return self.status in TERMINAL_STATUSES

    def __repr__(self) -> str:
        return f"<ToolTask {self.task_id!r} {self.name or ''} {self.status}>"

    def add_status_callback(self, callback: StatusCallback) -> None:
        """Call ``callback(task)`` on every later status change."""
        self._callbacks.append(callback)

    def observe(self, state: dict[str, Any]) -> None:
        """A fresher view of the task (a poll, a notification, a cancel's answer): kept, and
        reported to the callbacks and iterators when the status or its message changed. A
        terminal status is never replaced by a non-terminal one (a late, reordered message)."""
        if state.get("taskId") != self.task_id or type(state.get("status")) is not str:
            return
        status = state["status"]
        if self.status in TERMINAL_STATUSES and status not in TERMINAL_STATUSES:
            return
        self._state = state
        key = (status, state.get("statusMessage"))
        if key != self._reported:
            self._reported = key
            task = Task(state)
            for q in self._queues:
                q.put_nowait(task)
            for cb in list(self._callbacks):
                try:
                    res = cb(task)
                except Exception:  # noqa: BLE001 - a watcher's failure must not stop the wait
                    log.exception("a task status callback failed")
                    continue
                if inspect.isawaitable(res):
                    job = asyncio.ensure_future(res)
                    self._jobs.add(job)
                    job.add_done_callback(self._callback_done)
        if self._wake is not None:
            self._wake.set()

    def _callback_done(self, job: asyncio.Future[Any]) -> None:
        self._jobs.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.error("a task status callback failed", exc_info=job.exception())

    # ------------------------------------------------------------------ requests

    def _need_id(self) -> str:
        if self.task_id is None:
            raise RuntimeError("the server answered this call directly: there is no task to ask about")
        return self.task_id

    async def get(self) -> GetTaskResult:
        """``tasks/get`` now; the answer also updates ``status``."""
        return GetTaskResult(await self._get_raw())

    async def _get_raw(self) -> dict[str, Any]:
        raw = await task_request(self.client, "tasks/get", {"taskId": self._need_id()})
        if type(raw) is not dict:
            raise MCPError(INVALID_PARAMS, "Malformed tasks/get result: expected an object")
        self.observe(raw)
        return raw

    async def cancel(self) -> CancelTaskResult:
        """``tasks/cancel``: ask the server to stop the task (cooperative: it may still end
        otherwise). A call answered directly has nothing to cancel (an empty result)."""
        if self.task_id is None:
            return CancelTaskResult({})
        raw = await task_request(self.client, "tasks/cancel", {"taskId": self.task_id})
        if type(raw) is dict and "status" in raw:
            self.observe(raw)  # 2025-11-25 answers with the cancelled task
        return CancelTaskResult(raw if type(raw) is dict else {})

    async def update(self, input_responses: dict[str, Any]) -> None:
        """``tasks/update`` (2026-07-28): deliver answers to the task's ``inputRequests``."""
        await task_request(self.client, "tasks/update", {"taskId": self._need_id(), "inputResponses": input_responses})

    # ------------------------------------------------------------------ waiting

    async def result(self, timeout: float | None = None, *, cancel_task: bool = False) -> CallToolResult:
        """Wait for the end and return the tool's ``CallToolResult`` (``is_error`` for a tool
        error). A failed task raises its JSON-RPC error as ``MCPError``; a cancelled one
        ``TaskCancelledError``. ``timeout`` (seconds) bounds the whole wait (``MCPError``
        -32001 after it); ``cancel_task=True`` also cancels the server's task when the wait is
        abandoned (timeout, or the awaiting coroutine cancelled). Each request sent meanwhile
        is bounded by the client's ``read_timeout_seconds``."""
        return CallToolResult(await self.wait_raw(timeout, cancel_task=cancel_task))

    def __await__(self) -> Any:
        return self.result().__await__()

    async def wait_raw(self, timeout: float | None = None, *, cancel_task: bool = False) -> dict[str, Any]:
        """``result()``'s wait, the result as the decoded JSON object."""
        if self._result is not None:
            return self._result
        driver = self._ensure_driver()
        self._waiters += 1
        try:
            if timeout is None:
                return await asyncio.shield(driver)
            return await asyncio.wait_for(asyncio.shield(driver), timeout)
        except TimeoutError:
            self._abandon(cancel_task, alone=self._waiters == 1)
            raise MCPError(REQUEST_TIMEOUT, f"Task {self.task_id!r} did not finish within {timeout:g} s") from None
        except asyncio.CancelledError:
            if not driver.done():  # our waiter was cancelled, not the driver's own end
                self._abandon(cancel_task, alone=self._waiters == 1)
            raise
        finally:
            self._waiters -= 1

    async def statuses(self) -> AsyncIterator[Task]:
        """Each status change as a ``Task`` (the current one first), until a terminal status
        (the last one yielded); drives the wait as ``result()`` does."""
        queue: asyncio.Queue[Task] = asyncio.Queue()
        if self.status is not None:
            queue.put_nowait(self.task)
        self._queues.append(queue)
        driver = self._ensure_driver() if self._result is None else None
        self._waiters += 1
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                waits: set[asyncio.Future[Any]] = {getter}
                if driver is not None and not driver.done():
                    waits.add(driver)
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not getter.done():
                        getter.cancel()
                        await asyncio.gather(getter, return_exceptions=True)
                if getter.done() and not getter.cancelled():
                    task = getter.result()
                    yield task
                    if task.status in TERMINAL_STATUSES:
                        return
                    continue
                if driver is not None and driver.done():
                    if not queue.empty():
                        continue
                    exc = driver.exception() if not driver.cancelled() else None
                    if exc is not None and not self.done:
                        raise exc  # the wait failed before an end was seen (connection lost, task gone)
                    return  # (the terminal status was queued, and yielded, before the driver ended)
        finally:
            self._queues.remove(queue)
            self._waiters -= 1
            if driver is not None and not driver.done() and self._waiters == 0:
                self._abandon(False, alone=True)

    def _ensure_driver(self) -> asyncio.Task[dict[str, Any]]:
        d = self._driver
        if d is None or (d.done() and d.cancelled()):
            d = self._driver = asyncio.get_running_loop().create_task(self._run())
            d.add_done_callback(_retrieve)
        return d

    def _abandon(self, cancel_task: bool, *, alone: bool) -> None:
        # the last waiter gave up: stop the driver (a later wait starts a new one); tell the
        # server when asked to
        if alone and self._driver is not None and not self._driver.done():
            self._driver.cancel()
            self._driver = None
        if cancel_task and self.task_id is not None and not self.done:
            self.client.task_registry.keep(asyncio.get_running_loop().create_task(self.cancel()))

    async def _run(self) -> dict[str, Any]:
        if self._result is not None:
            return self._result
        raw = await (self._run_modern() if self.modern else self._run_legacy())
        self._result = raw
        return raw

    # 2026-07-28: poll tasks/get (or take notifications/tasks), answer input, read the inlined end
    async def _run_modern(self) -> dict[str, Any]:
        wake = self._wake = asyncio.Event()  # set by observe(): a notification brought news
        pump = await self._open_listen() if self._listens() else None
        try:
            state = self._state
            if "status" not in state or pump is not None:
                # attached by id (nothing known yet), or subscribed just now: what changed
                # before the stream was acknowledged is not notified, so ask once
                state = await self._get_raw()
            fetched = False
            while True:
                status = state.get("status")
                if status in TERMINAL_STATUSES:
                    end = _ending(state)
                    if end is not None:
                        return end
                    state = await self._get_raw()  # a terminal status without its payload: ask for it
                    end = _ending(state)
                    if end is None:
                        raise MCPError(INVALID_PARAMS, f"Malformed tasks/get result: task {self.task_id!r} is"
                                                       f" {state.get('status')} without its result or error")
                    return end
                if status == "input_required":
                    requests = state.get("inputRequests")
                    if requests is None and not fetched:
                        # the creation answer (a bare Task) or a notification without them: ask once
                        state, fetched = await self._get_raw(), True
                        continue
                    await self._answer(requests)
                fetched = False
                if await self._pause(_interval_s(state), state, wake):
                    state = self._state  # a notification brought a newer state
                else:
                    state = await self._get_raw()
        finally:
            if self._wake is wake:  # (a driver started after this one was cancelled has its own)
                self._wake = None
            if pump is not None:
                await pump.aclose()

    async def _pause(self, seconds: float, state: dict[str, Any], wake: asyncio.Event) -> bool:
        """Wait ``seconds`` for the next poll; True at once when a newer state than ``state``
        arrived meanwhile (a notification during ``tasks/update``, say), or when one arrives."""
        if self._state is not state:
            return True
        wake.clear()
        try:
            await asyncio.wait_for(wake.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _answer(self, requests: Any) -> None:
        """Answer the input requests not answered yet (keys are unique over a task's life, and
        a poll repeats the outstanding ones) and send the answers with ``tasks/update``."""
        if type(requests) is not dict:
            return
        fresh = {k: v for k, v in requests.items() if k not in self._answered}
        if not fresh:
            return
        try:
            answers = await self.client.session.answer_inputs(fresh)
        except JSONRPCError as exc:
            raise MCPError.from_error(exc) from None
        self._answered.update(fresh)
        await self.update(answers)

    def _listens(self) -> bool:
        if self.listen is not None:
            return self.listen
        exts = self.client.session.server_capabilities.get("extensions")
        return type(exts) is dict and TASKS_EXTENSION in exts

    async def _open_listen(self) -> TaskListen | None:
        listen = TaskListen(self)
        if await listen.open():
            return listen
        log.debug("no notifications from the server for task %s: polling alone", self.task_id)
        return None

    # 2025-11-25: tasks/result blocks until the end (and carries the server's requests meanwhile)
    async def _run_legacy(self) -> dict[str, Any]:
        task_id = self._need_id()
        watched = bool(self._callbacks or self._queues)
        poller = asyncio.get_running_loop().create_task(self._poll_until_done()) if watched else None
        try:
            while True:
                try:
                    raw = await self.client.request("tasks/result", {"taskId": task_id})
                    break
                except MCPError as exc:
                    if exc.code == REQUEST_TIMEOUT:
                        continue  # read_timeout_seconds bounds each request, not the task: ask again
                    await self._raise_ending(exc)
        finally:
            if poller is not None:
                poller.cancel()
                await asyncio.gather(poller, return_exceptions=True)
        if type(raw) is not dict:
            raise MCPError(INVALID_PARAMS, "Malformed tasks/result result: expected an object")
        if watched and not self.done:
            try:
                await self._get_raw()  # report the terminal status to the watchers
            except MCPError:
                pass  # the server may drop a finished task at once
        return raw

    async def _raise_ending(self, exc: MCPError) -> None:
        # tasks/result failed: the task failed (that error stands) or was cancelled
        try:
            state = await self._get_raw()
        except MCPError:
            raise exc from None
        if state.get("status") == "cancelled":
            raise TaskCancelledError(self._need_id(), state.get("statusMessage")) from None
        raise exc

    async def _poll_until_done(self) -> None:
        while not self.done:
            await asyncio.sleep(_interval_s(self._state))
            try:
                await self._get_raw()
            except MCPError as exc:
                log.debug("polling task %s: %s", self.task_id, exc)


def _ending(state: dict[str, Any]) -> dict[str, Any] | None:
    """The result of a task at a terminal status (2026-07-28, inlined); raises for ``failed``
    (its JSON-RPC error) and ``cancelled``; None when the payload is missing."""
    status = state.get("status")
    if status == "completed":
        result = state.get("result")
        return result if type(result) is dict else None
    if status == "failed":
        error = state.get("error")
        if type(error) is not dict:
            return None
        code = error.get("code")
        raise MCPError(code if type(code) is int else INVALID_PARAMS,
                       str(error.get("message", state.get("statusMessage") or "Task failed")), error.get("data"))
    if status == "cancelled":
        raise TaskCancelledError(str(state.get("taskId")), state.get("statusMessage"))
    return None


def _retrieve(driver: asyncio.Task[Any]) -> None:
    # a driver nobody awaits any more must not log "exception was never retrieved"
    if not driver.cancelled():
        driver.exception()


class TaskListen:
    """A ``subscriptions/listen`` stream for one task's ``notifications/tasks`` (2026-07-28),
    each handed to ``ToolTask.observe``. It is a listener of the client's notification routing
    (``Client.register_listener``: ``deliver``/``end``/``lost``), not a ``Client.listen()``
    stream, whose events are the change notifications alone."""

    def __init__(self, task: ToolTask) -> None:
        self.task = task
        #: the listen request's JSON-RPC id (the stream's ``subscriptionId``)
        self.request_id: Any = None
        self._acked: asyncio.Future[Any] | None = None
        self._request: asyncio.Task[Any] | None = None

    # fed by the client's notification routing
    def deliver(self, method: str, params: dict[str, Any]) -> None:
        if method == LISTEN_ACKNOWLEDGED:
            acked = self._acked
            if acked is not None and not acked.done():
                acked.set_result(params.get("notifications"))
        elif method == TASK_NOTIFICATION:
            self.task.observe(params)

    def end(self) -> None:
        """The server tore the stream down: polling carries on alone."""

    def lost(self, exc: BaseException | None) -> None:
        """The connection is gone: the next poll says so."""

    def _sent(self, rid: Any) -> None:
        self.request_id = rid
        self.task.client.register_listener(rid, self)

    async def open(self) -> bool:
        """Send the listen request and wait for its acknowledgement (``read_timeout_seconds``);
        False, with the stream closed again, when the server refuses it (-32021 without the
        extension declared), leaves the task out of its acknowledgement, or does not answer."""
        client = self.task.client
        session = client.session
        loop = asyncio.get_running_loop()
        self._acked = loop.create_future()
        # straight to the peer: the stream lives as long as the wait, read_timeout_seconds must not end it
        self._request = loop.create_task(_tracing.request(
            session.peer, "subscriptions/listen", {"notifications": {"taskIds": [self.task.task_id]},
                                                   "_meta": {**session.envelope, **(declaring(session) or {})}},
            protocol_version=session.protocol_version, cancel_ends=True, on_sent=self._sent))
        self._request.add_done_callback(_retrieve)
        done, _ = await asyncio.wait({self._acked, self._request}, timeout=client.read_timeout_seconds,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._acked in done:
            honored = self._acked.result()
            if type(honored) is dict and self.task.task_id in (honored.get("taskIds") or ()):
                return True
        await self.aclose()
        return False

    async def aclose(self) -> None:
        """End the stream (the peer cancels the request)."""
        if self.request_id is not None:
            self.task.client.unregister_listener(self.request_id)
        request, self._request = self._request, None
        if request is not None and not request.done():
            request.cancel()
            await asyncio.gather(request, return_exceptions=True)


# ---------------------------------------------------------------------------- starting and finishing


async def start_tool_task(client: Client, name: str, arguments: dict[str, Any] | None = None, *,
                          ttl: int | None = None, read_timeout_seconds: float | None = None,
                          meta: dict[str, Any] | None = None, on_status: StatusCallback | None = None,
                          listen: bool | None = None) -> ToolTask:
    """Call tool ``name`` as a task (see ``Client.start_tool_task``)."""
    session = client.session
    params: dict[str, Any] = {"name": name, "arguments": arguments if arguments is not None else {}}
    if session.modern:
        extra = declaring(session)
        if extra is not None:
            meta = {**(meta or {}), **extra}
    elif legacy_tool_tasks(session.server_capabilities):
        params["task"] = {"ttl": ttl} if ttl is not None else {}
    res = await client.request("tools/call", params, timeout=read_timeout_seconds, meta=meta)
    state = _task_state(res, modern=session.modern)
    if state is None:
        return ToolTask(client, None, name=name, result=res, on_status=on_status)
    return ToolTask(client, state["taskId"], name=name, state=state, on_status=on_status, listen=listen)


async def finish_call(client: Client, name: str, created: dict[str, Any]) -> dict[str, Any]:
    """A plain ``call_tool`` the server answered with a task (2026-07-28): wait for its end and
    return the ``CallToolResult`` JSON. The caller never asked for a task, so abandoning the
    wait (cancelling the awaiting coroutine) cancels the task too."""
    state = _task_state(created, modern=True)
    assert state is not None
    return await ToolTask(client, state["taskId"], name=name, state=state).wait_raw(cancel_task=True)


def requires_task(exc: BaseException, session: ClientSession) -> bool:
    """Whether ``exc``, answering a plain 2025-11-25 ``tools/call``, says the tool must be called
    as a task: -32601 from a server that supports task-augmented calls (``legacy_tool_tasks``;
    the spec's answer for a tool whose ``execution.taskSupport`` is ``"required"``)."""
    return (isinstance(exc, JSONRPCError) and exc.code == METHOD_NOT_FOUND and not session.modern
            and legacy_tool_tasks(session.server_capabilities))


async def call_required_task(client: Client, name: str, arguments: dict[str, Any] | None,
                             read_timeout_seconds: float | None, meta: dict[str, Any] | None) -> dict[str, Any]:
    """A plain 2025-11-25 ``call_tool`` the server refused because the tool requires a task
    (``requires_task``): call it again as a task and wait for the end (the task is cancelled
    with the awaiting coroutine)."""
    task = await start_tool_task(client, name, arguments, read_timeout_seconds=read_timeout_seconds, meta=meta)
    return await task.wait_raw(cancel_task=True)


class ExperimentalClientFeatures:
    """``client.experimental``: the official SDK's experimental task methods, on both eras."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def call_tool_as_task(self, name: str, arguments: dict[str, Any] | None = None, *, ttl: int = 60000,
                                meta: dict[str, Any] | None = None) -> CreateTaskResult | CallToolResult:
        """``tools/call`` as a task: the ``CreateTaskResult`` (``.task.task_id``...). At
        2026-07-28 the server decides; a call it answers directly returns the ``CallToolResult``
        (so does a 2025-11-25 server without task support)."""
        task = await start_tool_task(self.client, name, arguments, ttl=ttl, meta=meta)
        if task.task_id is None:
            return CallToolResult(await task.wait_raw())
        return CreateTaskResult({"task": task.task.raw} if not task.modern else task.task.raw)

    async def get_task(self, task_id: str) -> GetTaskResult:
        """``tasks/get``."""
        return GetTaskResult(await task_request(self.client, "tasks/get", {"taskId": task_id}))

    async def get_task_result(self, task_id: str, result_type: Any = CallToolResult) -> Any:
        """The task's result, once it ends (2025-11-25 ``tasks/result``; 2026-07-28 polls
        ``tasks/get``), as ``result_type`` (a class with ``model_validate``: ours or the SDK's)."""
        raw = await ToolTask.attach(self.client, task_id).wait_raw()
        validate = getattr(result_type, "model_validate", None)
        return validate(raw) if validate is not None else result_type(raw)

    async def list_tasks(self, cursor: str | None = None) -> ListTasksResult:
        """``tasks/list`` (2025-11-25; the 2026-07-28 extension has none)."""
        return ListTasksResult(await self.client.request("tasks/list", {"cursor": cursor} if cursor else None))

    async def cancel_task(self, task_id: str) -> CancelTaskResult:
        """``tasks/cancel``."""
        return await ToolTask.attach(self.client, task_id).cancel()

    async def update_task(self, task_id: str, input_responses: dict[str, Any]) -> None:
        """``tasks/update`` (2026-07-28): answers to the task's ``inputRequests``."""
        await ToolTask.attach(self.client, task_id).update(input_responses)

    async def poll_task(self, task_id: str) -> AsyncIterator[GetTaskResult]:
        """``tasks/get`` every ``pollInterval`` until a terminal status, each answer yielded."""
        while True:
            state = await self.get_task(task_id)
            yield state
            if state.status in TERMINAL_STATUSES:
                return
            await asyncio.sleep(_interval_s(state.raw))
