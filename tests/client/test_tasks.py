"""The client side of tasks on ``mcpfast.Client``, against a scripted task server in process
(the real codec), both eras: the 2026-07-28 extension (``resultType: "task"``, ``tasks/get``
with the payload inlined, ``tasks/update``, ``tasks/cancel``, ``notifications/tasks`` on a
listen stream) and the 2025-11-25 experimental tasks (``params.task``, ``CreateTaskResult``,
``tasks/result``, ``tasks/list``, ``notifications/tasks/status``, the related-task ``_meta``).

The scripted server keeps each task's state machine by hand so every transition (and every
message the client sends) is exact; its poll interval is 10 ms, so no test sleeps long.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from mcpfast import Client, MCPError
from mcpfast.client.client import SUBSCRIPTION_ID_KEY
from mcpfast.client.memory import InProcessTransport
from mcpfast.client.results import CallToolResult, CreateTaskResult, Task, TaskStatusNotification
from mcpfast.client.tasks import (
    RELATED_TASK_KEY,
    TASKS_EXTENSION,
    TaskCancelledError,
    legacy_tool_tasks,
    related_task_id,
    tag_related,
)
from mcpfast.errors import INVALID_PARAMS, REQUEST_CANCELLED, REQUEST_TIMEOUT, InvalidParams, MethodNotFound
from mcpfast.testing import async_test

from ..support.dispatchers import RecordingDispatcher

MODERN = "2026-07-28"
LEGACY = "legacy"
ERAS = [MODERN, LEGACY]
CLIENT_CAPS = "io.modelcontextprotocol/clientCapabilities"


def _text(result: dict[str, Any] | CallToolResult) -> str:
    raw = result.raw if isinstance(result, CallToolResult) else result
    return str(raw["content"][0]["text"])


class FakeTask:
    """One task of ``TaskServer``: its status, the polls it has seen, its end."""

    def __init__(self, tid: str, tool: str, args: dict[str, Any]) -> None:
        self.tid = tid
        self.tool = tool
        self.args = args
        self.status = "working"
        self.message: str | None = None
        self.polls = 0
        self.result: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.input_requests: dict[str, Any] | None = None
        self.responses: dict[str, Any] = {}
        self.ended = asyncio.Event()

    def end(self, status: str, *, result: dict[str, Any] | None = None, error: dict[str, Any] | None = None) -> None:
        self.status, self.result, self.error = status, result, error
        self.input_requests = None
        self.ended.set()


class TaskServer(RecordingDispatcher):
    """A scripted server that runs some tools as tasks, in either era.

    Tools: ``direct`` (answered at once), ``slow`` (a task that completes on its
    ``args["polls"]``-th poll, default 2), ``fails`` (ends ``failed`` with -32603), ``oops``
    (``completed`` with ``isError``), ``asks`` (needs a name: ``input_required`` at 2026-07-28,
    an ``elicitation/create`` with the related-task ``_meta`` during ``tasks/result`` at
    2025-11-25), ``forever`` (works until cancelled).
    """

    def __init__(self, era: str, *, notify: bool = False, poll_ms: int = 10) -> None:
        self.era = era
        self.notify = notify  # 2025-11-25: send notifications/tasks/status on changes
        self.poll_ms = poll_ms
        self.tasks: dict[str, FakeTask] = {}
        super().__init__()
        self.ids = itertools.count(1)
        self.listeners: dict[Any, list[str]] = {}
        self.peer: Any = None
        self.background: set[asyncio.Task[Any]] = set()

    # --- the wire shapes
    def state(self, t: FakeTask, *, detailed: bool = True) -> dict[str, Any]:
        s: dict[str, Any] = {"taskId": t.tid, "status": t.status, "createdAt": "2026-12-07T10:00:00Z",
                             "lastUpdatedAt": "2026-12-07T10:00:01Z"}
        if t.message is not None:
            s["statusMessage"] = t.message
        if self.era == MODERN:
            s.update(ttlMs=60000, pollIntervalMs=self.poll_ms)
            if detailed:
                if t.status == "completed":
                    s["result"] = t.result
                elif t.status == "failed":
                    s["error"] = t.error
                elif t.status == "input_required":
                    s["inputRequests"] = t.input_requests
        else:
            s.update(ttl=60000, pollInterval=self.poll_ms)
        return s

    def changed(self, t: FakeTask) -> None:
        if self.era == MODERN:
            for rid, ids in self.listeners.items():
                if t.tid in ids:
                    self.peer.notify("notifications/tasks", {**self.state(t), "_meta": {SUBSCRIPTION_ID_KEY: rid}})
        elif self.notify:
            self.peer.notify("notifications/tasks/status", self.state(t))

    # --- Dispatcher
    def on_request(self, peer: Any, req: Any) -> Any:
        self.peer = peer
        params = req.params or {}
        self.seen.append((req.method, params))
        method = req.method
        if method == "initialize":
            return {"protocolVersion": "2025-11-25", "serverInfo": {"name": "tasks", "version": "0"},
                    "capabilities": {"tools": {}, "tasks": {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}}}
        if method == "tools/call":
            return self.call(params)
        if method == "subscriptions/listen":
            return self.listen(peer, req)
        tid = params.get("taskId")
        t = self.tasks.get(tid)  # type: ignore[arg-type]
        if method == "tasks/list":
            return {"tasks": [self.state(x, detailed=False) for x in self.tasks.values()]}
        if t is None:
            raise InvalidParams(f"Failed to retrieve task: Task not found ({tid!r})")
        if method == "tasks/get":
            return self.get(t)
        if method == "tasks/update":
            t.responses.update(params["inputResponses"])
            name = t.responses.get("name")
            if name is not None and name.get("action") == "accept":
                t.status, t.input_requests = "working", None
                self.changed(t)
                t.end("completed", result={"content": [{"type": "text", "text": f"hello {name['content']['name']}"}]})
                self.changed(t)
            return {"resultType": "complete"}
        if method == "tasks/cancel":
            if self.era == LEGACY and t.status in ("completed", "failed", "cancelled"):
                raise InvalidParams("Cannot cancel a task in a terminal status")
            t.message = "cancelled by request"
            t.end("cancelled")
            self.changed(t)
            return self.state(t, detailed=False) if self.era == LEGACY else {"resultType": "complete"}
        if method == "tasks/result":
            # a task, not the bare coroutine: its first step waits with asyncio.wait_for, which
            # needs a running task on 3.12+ (the peer runs a coroutine's first step outside one)
            return asyncio.ensure_future(self.result(t))
        raise MethodNotFound(f"Method not found: {method}")

    def call(self, params: dict[str, Any]) -> Any:
        name, args = params["name"], params.get("arguments") or {}
        if name == "direct":
            return {"content": [{"type": "text", "text": "at once"}], "resultType": "complete"}
        if self.era == MODERN:
            caps = (params.get("_meta") or {}).get(CLIENT_CAPS) or {}
            if TASKS_EXTENSION not in (caps.get("extensions") or {}):
                return {"content": [{"type": "text", "text": "no tasks declared"}], "resultType": "complete"}
        elif "task" not in params:
            return {"content": [{"type": "text", "text": "no task asked"}]}
        t = FakeTask(f"t{next(self.ids)}", name, args)
        self.tasks[t.tid] = t
        if name == "asks" and self.era == MODERN:
            t.status = "input_required"
            t.input_requests = {"name": {"method": "elicitation/create", "params": {
                "mode": "form", "message": "Your name?",
                "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}}}}}
        state = self.state(t, detailed=False)
        return {**state, "resultType": "task"} if self.era == MODERN else {"task": state}

    def advance(self, t: FakeTask) -> None:
        # one poll's worth of progress
        t.polls += 1
        if t.status != "working":
            return
        if t.tool == "slow" and t.polls >= t.args.get("polls", 2):
            t.end("completed", result={"content": [{"type": "text", "text": f"done after {t.polls}"}]})
            self.changed(t)
        elif t.tool == "slow" and t.message is None:
            t.message = "halfway"
            self.changed(t)
        elif t.tool == "fails":
            t.message = "upstream down"
            t.end("failed", error={"code": -32603, "message": "upstream down", "data": {"retry": True}})
            self.changed(t)
        elif t.tool == "oops":
            t.end("completed", result={"content": [{"type": "text", "text": "bad input"}], "isError": True})
            self.changed(t)

    def get(self, t: FakeTask) -> dict[str, Any]:
        self.advance(t)
        return {**self.state(t), "resultType": "complete"} if self.era == MODERN else self.state(t)

    async def result(self, t: FakeTask) -> dict[str, Any]:
        # 2025-11-25 tasks/result: blocks until the end; asks for input through the client
        if t.tool == "asks" and t.status == "working":
            t.status = "input_required"
            self.changed(t)
            answer = await self.peer.request("elicitation/create", {
                "mode": "form", "message": "Your name?",
                "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}},
                "_meta": {RELATED_TASK_KEY: {"taskId": t.tid}}})
            self.seen.append(("answer", answer))
            t.status = "working"
            t.end("completed", result={"content": [{"type": "text", "text": f"hello {answer['content']['name']}"}]})
            self.changed(t)
        while not t.ended.is_set():
            self.advance(t)
            if t.ended.is_set():
                break
            try:
                await asyncio.wait_for(t.ended.wait(), self.poll_ms / 1000)
            except TimeoutError:
                pass
        if t.status == "completed":
            assert t.result is not None
            return {**t.result, "_meta": {RELATED_TASK_KEY: {"taskId": t.tid}}}
        if t.status == "failed":
            assert t.error is not None
            raise MCPError(t.error["code"], t.error["message"], t.error.get("data"))
        raise MCPError(INVALID_PARAMS, "the task was cancelled")

    async def listen(self, peer: Any, req: Any) -> None:
        ids = list((req.params.get("notifications") or {}).get("taskIds") or [])
        known = [i for i in ids if i in self.tasks]
        self.listeners[req.id] = known
        peer.notify("notifications/subscriptions/acknowledged",
                    {"notifications": {"taskIds": known}, "_meta": {SUBSCRIPTION_ID_KEY: req.id}})
        try:
            await asyncio.Event().wait()
        finally:
            self.listeners.pop(req.id, None)

    def methods(self) -> list[str]:
        return [m for m, _ in self.seen]


def connect(era: str, server: TaskServer | None = None, **kw: Any) -> tuple[Client, TaskServer]:
    server = server or TaskServer(era)
    return Client(InProcessTransport(server), mode=era, **kw), server


def elicit_name(ctx: Any, params: Any) -> dict[str, Any]:
    assert params.message == "Your name?"
    return {"action": "accept", "content": {"name": "Ada"}}


# ---------------------------------------------------------------------------- 2026-07-28, transparent


@async_test
async def test_the_extension_is_declared_on_every_modern_request() -> None:
    client, server = connect(MODERN)
    async with client as c:
        assert c.session.capabilities["extensions"] == {TASKS_EXTENSION: {}}
        await c.call_tool("direct")
    assert server.seen[0][1]["_meta"][CLIENT_CAPS]["extensions"] == {TASKS_EXTENSION: {}}
    client, server = connect(MODERN, tasks=False)
    async with client as c:
        assert "extensions" not in c.session.capabilities
        # the server may not create a task for a client that did not declare the extension
        assert (await c.call_tool("slow")).content[0].text == "no tasks declared"


@async_test
async def test_a_server_created_task_is_finished_transparently() -> None:
    client, server = connect(MODERN)
    async with client as c:
        res = await c.call_tool("slow", {"polls": 3})
        assert isinstance(res, CallToolResult)
        assert res.content[0].text == "done after 3" and res.is_error is False
    assert server.methods() == ["tools/call", "tasks/get", "tasks/get", "tasks/get"]
    assert all(p == {"taskId": "t1", "_meta": server.seen[1][1]["_meta"]} for m, p in server.seen[1:])


@async_test
async def test_a_tool_error_is_a_result_and_a_failed_task_raises() -> None:
    client, _server = connect(MODERN)
    async with client as c:
        res = await c.call_tool("oops")
        assert res.is_error is True and res.content[0].text == "bad input"
        with pytest.raises(MCPError) as info:
            await c.call_tool("fails")
        assert info.value.error.code == -32603 and info.value.error.message == "upstream down"
        assert info.value.error.data == {"retry": True}


@async_test
async def test_input_required_is_answered_by_the_callbacks_and_sent_with_tasks_update() -> None:
    client, server = connect(MODERN, elicitation_callback=elicit_name)
    async with client as c:
        assert (await c.call_tool("asks")).content[0].text == "hello Ada"
    updates = [p for m, p in server.seen if m == "tasks/update"]
    assert len(updates) == 1
    assert updates[0]["inputResponses"] == {"name": {"action": "accept", "content": {"name": "Ada"}}}


@async_test
async def test_repeated_input_requests_are_answered_once() -> None:
    asked: list[Any] = []

    def elicit(ctx: Any, params: Any) -> dict[str, Any]:
        asked.append(params.message)
        return {"action": "decline"}  # the server keeps asking until it gets a name

    client, server = connect(MODERN, elicitation_callback=elicit)
    async with client as c:
        task = await c.start_tool_task("asks")
        with pytest.raises(MCPError, match="did not finish"):
            await task.result(timeout=0.1)
        assert task.status == "input_required"
    assert asked == ["Your name?"]  # each polled snapshot repeats the key: one answer
    assert [m for m in server.methods() if m == "tasks/update"] == ["tasks/update"]
    assert server.methods().count("tasks/get") >= 3


@async_test
async def test_cancelling_a_transparent_call_cancels_its_task() -> None:
    client, server = connect(MODERN)
    async with client as c:
        waiter = asyncio.ensure_future(c.call_tool("forever"))
        while "tasks/get" not in server.methods():
            await asyncio.sleep(0.005)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        while "tasks/cancel" not in server.methods():
            await asyncio.sleep(0.005)
        assert server.tasks["t1"].status == "cancelled"
        polls = server.methods().count("tasks/get")
        await asyncio.sleep(0.05)
        assert server.methods().count("tasks/get") == polls  # the poller stopped


# ---------------------------------------------------------------------------- the handle


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_a_handle_reports_each_status_change(era: str) -> None:
    seen: list[tuple[str, str | None]] = []
    client, _server = connect(era)
    async with client as c:
        task = await c.start_tool_task("slow", {"polls": 3}, ttl=5000,
                                       on_status=lambda t: seen.append((t.status, t.status_message)))
        assert task.task_id == "t1" and task.name == "slow" and not task.done
        assert isinstance(task.task, Task) and task.task.poll_interval_ms == 10 and task.task.ttl == 60000
        res = await task.result()
        assert res.content[0].text.startswith("done after")
        assert task.done and task.status == "completed"
        assert (await task.result()).raw is res.raw  # a second wait: the same answer, no request
    assert seen[0] == ("working", None)
    assert seen[-1][0] == "completed"
    assert len(seen) == len(set(seen))  # changes only
    if era == MODERN:  # (2025-11-25: the server's own tasks/result loop may pass "halfway" between polls)
        assert ("working", "halfway") in seen


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_statuses_iterates_until_the_end(era: str) -> None:
    client, _server = connect(era)
    async with client as c:
        task = await c.start_tool_task("slow", {"polls": 3})
        states = [t async for t in task.statuses()]
        assert [s.status for s in states][0] == "working"
        assert states[-1].status == "completed"
        assert _text(await task.wait_raw()).startswith("done after")


@async_test
async def test_statuses_raises_when_the_wait_fails_and_stops_polling_when_left() -> None:
    client, server = connect(MODERN)
    async with client as c:
        with pytest.raises(MCPError) as info:
            async for _ in c.get_tool_task("gone").statuses():
                pass
        assert info.value.error.code == INVALID_PARAMS
        task = await c.start_tool_task("forever")
        async for state in task.statuses():
            assert state.status == "working"
            break  # leaving the iteration stops the driver it started
        await asyncio.sleep(0.03)
        polls = server.methods().count("tasks/get")
        await asyncio.sleep(0.05)
        assert server.methods().count("tasks/get") == polls
        assert server.tasks["t1"].status == "working"  # and leaves the task alone


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_get_and_cancel(era: str) -> None:
    client, server = connect(era)
    async with client as c:
        task = await c.start_tool_task("forever")
        state = await task.get()
        assert state.status == "working" and state.task_id == "t1"
        ack = await task.cancel()
        if era == LEGACY:
            assert ack.status == "cancelled"
        with pytest.raises(TaskCancelledError) as info:
            await task.result()
        assert info.value.error.code == REQUEST_CANCELLED and info.value.task_id == "t1"
        assert task.status == "cancelled"
        with pytest.raises(MCPError) as missing:
            await c.get_tool_task("nope").get()
        assert missing.value.error.code == INVALID_PARAMS


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_a_timeout_can_cancel_the_task(era: str) -> None:
    client, server = connect(era)
    async with client as c:
        task = await c.start_tool_task("forever")
        with pytest.raises(MCPError) as info:
            await task.result(timeout=0.05)
        assert info.value.error.code == REQUEST_TIMEOUT
        assert server.tasks["t1"].status == "working"  # the wait gave up, the task did not
        with pytest.raises(MCPError):
            await task.result(timeout=0.05, cancel_task=True)
        for _ in range(50):
            if server.tasks["t1"].status == "cancelled":
                break
            await asyncio.sleep(0.005)
        assert server.tasks["t1"].status == "cancelled"


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_a_direct_answer_gives_a_completed_handle(era: str) -> None:
    client, _server = connect(era)
    async with client as c:
        task = await c.start_tool_task("direct")
        assert task.task_id is None and task.done and task.status == "completed"
        assert (await task).content[0].text == "at once"
        assert (await task.cancel()).raw == {}


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_a_failed_task_raises_its_error(era: str) -> None:
    client, _server = connect(era)
    async with client as c:
        task = await c.start_tool_task("fails")
        with pytest.raises(MCPError) as info:
            await task.result()
        assert info.value.error.code == -32603 and info.value.error.message == "upstream down"


@async_test
async def test_attaching_by_id_waits_for_an_earlier_task() -> None:
    client, _server = connect(MODERN)
    async with client as c:
        first = await c.start_tool_task("slow", {"polls": 2})
        again = c.get_tool_task(first.task_id or "")
        assert again.status is None
        assert (await again.result()).content[0].text == "done after 2"


@async_test
async def test_listen_brings_the_end_without_waiting_for_the_next_poll() -> None:
    server = TaskServer(MODERN, poll_ms=60_000)  # polling alone would wait a minute
    client, _ = connect(MODERN, server, elicitation_callback=elicit_name)
    async with client as c:
        events: list[Any] = []
        task = await c.start_tool_task("asks", listen=True, on_status=events.append)
        res = await asyncio.wait_for(task.result(), 2)
        assert res.content[0].text == "hello Ada"
        assert [e.status for e in events] == ["input_required", "working", "completed"]
    listen = [p for m, p in server.seen if m == "subscriptions/listen"]
    assert listen[0]["notifications"] == {"taskIds": ["t1"]}
    # one poll for the input requests (the creation answer is a bare Task), the end by notification
    assert server.methods().count("tasks/get") == 1


class _Deaf(TaskServer):
    """Acknowledges ``subscriptions/listen`` without any task in it."""

    async def listen(self, peer: Any, req: Any) -> None:
        peer.notify("notifications/subscriptions/acknowledged",
                    {"notifications": {"taskIds": []}, "_meta": {SUBSCRIPTION_ID_KEY: req.id}})
        await asyncio.Event().wait()


class _NoListen(TaskServer):
    """Refuses ``subscriptions/listen`` (method not found)."""

    def listen(self, peer: Any, req: Any) -> Any:
        raise MethodNotFound("Method not found: subscriptions/listen")


@pytest.mark.parametrize("server_class", [_Deaf, _NoListen], ids=["left-out-of-the-ack", "refused"])
@async_test
async def test_a_task_the_listen_does_not_cover_is_polled(server_class: type[TaskServer]) -> None:
    client, server = connect(MODERN, server_class(MODERN))
    async with client as c:
        task = await c.start_tool_task("slow", {"polls": 2}, listen=True)
        assert (await task.result()).content[0].text == "done after 2"
    assert server.methods().count("subscriptions/listen") == 1
    assert server.methods().count("tasks/get") == 2


@async_test
async def test_start_tool_task_declares_the_extension_even_with_tasks_false() -> None:
    client, server = connect(MODERN, tasks=False)
    async with client as c:
        assert (await c.call_tool("slow")).content[0].text == "no tasks declared"
        task = await c.start_tool_task("slow", {"polls": 1})
        assert task.task_id == "t1"
        assert (await task.result()).content[0].text == "done after 1"
    calls = [p for m, p in server.seen if m == "tools/call"]
    assert "extensions" not in calls[0]["_meta"][CLIENT_CAPS]
    assert calls[1]["_meta"][CLIENT_CAPS]["extensions"] == {TASKS_EXTENSION: {}}


# ---------------------------------------------------------------------------- 2025-11-25


@async_test
async def test_legacy_asks_for_a_task_with_params_task() -> None:
    client, server = connect(LEGACY)
    async with client as c:
        assert legacy_tool_tasks(c.session.server_capabilities)
        task = await c.start_tool_task("slow", {"polls": 2}, ttl=1234)
        assert (await task.result()).content[0].text == "done after 2"
    call = next(p for m, p in server.seen if m == "tools/call")
    assert call["task"] == {"ttl": 1234}
    # nobody watched the status: one blocking tasks/result, no polling
    assert server.methods()[-2:] == ["tools/call", "tasks/result"]
    assert "tasks/get" not in server.methods()


@async_test
async def test_legacy_tasks_result_is_sent_again_after_each_read_timeout() -> None:
    client, server = connect(LEGACY, read_timeout_seconds=0.03)
    async with client as c:
        task = await c.start_tool_task("slow", {"polls": 12})  # about 120 ms of 10 ms steps
        assert (await task.result()).content[0].text == "done after 12"
    assert server.methods().count("tasks/result") >= 2
    assert "tasks/get" not in server.methods()


@async_test
async def test_async_and_failing_status_callbacks() -> None:
    seen: list[str] = []

    async def record(task: Task) -> None:
        await asyncio.sleep(0)
        seen.append(str(task.status))

    def broken(task: Task) -> None:
        raise RuntimeError("a watcher bug")

    client, _server = connect(MODERN)
    async with client as c:
        task = await c.start_tool_task("slow", on_status=record)
        task.add_status_callback(broken)  # logged, and the wait goes on
        assert (await task.result()).content[0].text == "done after 2"
        await asyncio.sleep(0.01)
    assert seen[0] == "working" and seen[-1] == "completed"


@async_test
async def test_legacy_elicitation_during_tasks_result_carries_the_related_task() -> None:
    seen_meta: list[Any] = []

    def elicit(ctx: Any, params: Any) -> dict[str, Any]:
        seen_meta.append(related_task_id(ctx.meta))
        return {"action": "accept", "content": {"name": "Grace"}}

    client, server = connect(LEGACY, elicitation_callback=elicit)
    async with client as c:
        task = await c.start_tool_task("asks")
        res = await task.result()
        assert res.content[0].text == "hello Grace"
        assert related_task_id(res.meta) == "t1"
    assert seen_meta == ["t1"]
    answer = next(p for m, p in server.seen if m == "answer")
    assert answer["_meta"] == {RELATED_TASK_KEY: {"taskId": "t1"}}


@async_test
async def test_legacy_status_notifications_reach_the_handle() -> None:
    server = TaskServer(LEGACY, notify=True, poll_ms=60_000)
    notes: list[Any] = []
    client, _ = connect(LEGACY, server, message_handler=notes.append)
    async with client as c:
        statuses: list[str | None] = []
        task = await c.start_tool_task("forever", on_status=lambda t: statuses.append(t.status))
        server.tasks["t1"].message = "still going"
        server.changed(server.tasks["t1"])
        await asyncio.sleep(0.01)
        assert task.task.status_message == "still going"
        await c.experimental.cancel_task("t1")
        await asyncio.sleep(0.01)
        assert statuses == ["working", "working", "cancelled"]
    kinds = {type(n) for n in notes}
    assert TaskStatusNotification in kinds


@async_test
async def test_legacy_without_task_support_calls_directly() -> None:
    class Plain(TaskServer):
        def on_request(self, peer: Any, req: Any) -> Any:
            res = super().on_request(peer, req)
            if req.method == "initialize":
                res["capabilities"] = {"tools": {}}
            return res

    client, server = connect(LEGACY, Plain(LEGACY))
    async with client as c:
        task = await c.start_tool_task("slow")
        assert task.task_id is None
        assert (await task.result()).content[0].text == "no task asked"
    assert "task" not in next(p for m, p in server.seen if m == "tools/call")


# ---------------------------------------------------------------------------- the SDK's names


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_the_experimental_methods(era: str) -> None:
    client, _server = connect(era)
    async with client as c:
        created = await c.experimental.call_tool_as_task("slow", {"polls": 2}, ttl=9000)
        assert isinstance(created, CreateTaskResult)
        tid = created.task.task_id
        assert tid == "t1" and created.task.status == "working" and created.task.poll_interval == 10
        polled = [s.status async for s in c.experimental.poll_task(tid)]
        assert polled[-1] == "completed"
        got = await c.experimental.get_task(tid)
        assert got.status == "completed"
        res = await c.experimental.get_task_result(tid, CallToolResult)
        assert isinstance(res, CallToolResult) and res.content[0].text.startswith("done after")
        direct = await c.experimental.call_tool_as_task("direct")
        assert isinstance(direct, CallToolResult)
        if era == LEGACY:
            listed = await c.experimental.list_tasks()
            assert [t.task_id for t in listed.tasks] == ["t1"]
        else:
            await c.experimental.call_tool_as_task("forever")
            await c.experimental.update_task("t2", {"x": {}})
            await c.experimental.cancel_task("t2")
            assert (await c.experimental.get_task("t2")).status == "cancelled"


@async_test
async def test_the_sdk_result_type_is_accepted() -> None:
    from mcp.types import CallToolResult as SDKCallToolResult

    client, _server = connect(LEGACY)
    async with client as c:
        created = await c.experimental.call_tool_as_task("slow", {"polls": 1})
        assert isinstance(created, CreateTaskResult)
        res = await c.experimental.get_task_result(created.task.task_id, SDKCallToolResult)
        assert isinstance(res, SDKCallToolResult) and res.content[0].text == "done after 1"


def test_tag_related_and_the_models() -> None:
    params = {"_meta": {RELATED_TASK_KEY: {"taskId": "x"}}}
    assert tag_related(params, {"action": "accept"}) == {"action": "accept", "_meta": {RELATED_TASK_KEY: {"taskId": "x"}}}
    assert tag_related({}, {"a": 1}) == {"a": 1}
    assert related_task_id({RELATED_TASK_KEY: {"taskId": 3}}) is None
    modern = CreateTaskResult({"resultType": "task", "taskId": "a", "status": "working", "ttlMs": None,
                               "pollIntervalMs": 250})
    assert modern.task.task_id == "a" and modern.task.poll_interval == 250 and modern.task.ttl is None
    legacy = CreateTaskResult({"task": {"taskId": "b", "status": "working", "ttl": 10, "pollInterval": 5}})
    assert legacy.task.task_id == "b" and legacy.task.ttl_ms == 10 and legacy.task.poll_interval_ms == 5


# ---------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_cli_call_task_prints_the_status_changes(era: str) -> None:
    import argparse
    import io

    from mcpfast.cli_client import _call

    client, _server = connect(era)
    out, err = io.StringIO(), io.StringIO()
    async with client as c:
        code = await _call(c, argparse.Namespace(json=False, task=True), "slow", [], {"polls": 3}, out, err)
        assert code == 0, err.getvalue()
        assert out.getvalue().startswith("done after")
        lines = err.getvalue().splitlines()
        assert lines[0] == "task t1: working" and lines[-1] == "task t1: completed - halfway"
        err.truncate(0)
        err.seek(0)
        with pytest.raises(MCPError, match="upstream down"):
            await _call(c, argparse.Namespace(json=False, task=True), "fails", [], {}, out, err)
        assert err.getvalue().splitlines() == ["task t2: working", "task t2: failed - upstream down"]


@async_test
async def test_cli_call_task_answered_directly() -> None:
    import argparse
    import io

    from mcpfast.cli_client import _call

    client, _server = connect(MODERN)
    out, err = io.StringIO(), io.StringIO()
    async with client as c:
        assert await _call(c, argparse.Namespace(json=False, task=True), "direct", [], {}, out, err) == 0
    assert out.getvalue() == "at once\n"
    assert err.getvalue() == "mcpfast: the server answered 'direct' directly (no task)\n"
