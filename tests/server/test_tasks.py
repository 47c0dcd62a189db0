"""Tasks, server side, both eras: the 2026-07-28 extension ``io.modelcontextprotocol/tasks``
(SEP-2663) and 2025-11-25's experimental tasks, over the in-memory client, the raw peer
harness and HTTP; plus the in-memory ``TaskStore``'s contract.

No test sleeps to wait for a task: tools block on events the test sets, and the test waits for
the status it expects with ``tasks.wait_for`` (or polls with a bound)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from mcpfast import Context, MCPServer
from mcpfast.errors import InternalError, JSONRPCError, ToolError
from mcpfast.server import ServerCore
from mcpfast.server._tasking import DEFAULT_TASK_WINDOW
from mcpfast.server.tasks import MemoryTaskStore, wait_for
from mcpfast.testing import Client, async_test

from ..support.taskstore_contract import check_task_store, record
from ..support.waiting import until
from ..transports.http.front_fakes import RawClient, message, post, rpc_body

EXT = "io.modelcontextprotocol/tasks"
RELATED = "io.modelcontextprotocol/related-task"
MODERN = "2026-07-28"
LEGACY = "2025-11-25"
WITH_EXT = {"extensions": {EXT: {}}, "elicitation": {}}
TERMINAL = ("completed", "failed", "cancelled")


class Gate:
    """Events a test uses to hold a tool and learn what happened to it."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.cancelled = False
        self.thread_release = threading.Event()
        self.saw_cancel_flag: bool | None = None
        self.runs = 0


def build(gate: Gate, **kw: Any) -> MCPServer[Any]:
    # task_window=0: an optional tool is a task at once (these tests are about tasks; the
    # immediate-result window has its own tests below, which pass a window)
    kw.setdefault("task_window", 0)
    app = MCPServer("tasks-test", **kw)

    @app.tool()
    def plain(name: str = "x") -> str:
        return f"Hello, {name}!"

    @app.tool(task="optional")
    async def held(label: str = "") -> str:
        gate.runs += 1
        gate.started.set()
        try:
            await gate.release.wait()
        except asyncio.CancelledError:
            gate.cancelled = True
            raise
        return f"done {label}"

    @app.tool(task="optional")
    async def quick() -> str:
        return "quick"

    @app.tool(task="required")
    async def tool_error() -> str:
        raise ToolError("it went wrong")

    @app.tool(task="optional")
    async def protocol_error() -> str:
        raise InternalError("deep trouble", {"why": "test"})

    @app.tool(task="optional")
    def blocking_def(ctx: Context) -> str:
        ctx.report_status("in a thread")
        gate.thread_release.wait(5)
        gate.saw_cancel_flag = ctx.cancelled
        return "def done"

    @app.tool(task="optional")
    async def ask_two(ctx: Context) -> str:
        schema = {"type": "object", "properties": {"v": {"type": "string"}}}
        await ctx.report_status("asking")
        a, b = await asyncio.gather(ctx.elicit("A?", schema, key="a"), ctx.elicit("B?", schema, key="b"))
        return f"{a.get('content', {}).get('v')}+{b.get('content', {}).get('v')}"

    @app.tool(task="optional")
    async def ask_one(ctx: Context) -> str:
        a = await ctx.elicit("Sure?", {"type": "object", "properties": {"ok": {"type": "boolean"}}}, key="ok")
        return f"answer: {a.action}"

    @app.tool(task="optional")
    async def chatty(ctx: Context) -> str:
        await ctx.info("working on it")
        await ctx.report_progress(1, 2)
        return "said"

    @app.tool(task="required", defer_task=True)
    async def deferred(ctx: Context) -> str:
        answer = await ctx.elicit("Name?", {"type": "object", "properties": {"name": {"type": "string"}}},
                                  key="user_name")
        await ctx.start_task()
        return f"Hi {answer.get('content', {}).get('name')} ({ctx.in_task})"

    return app


async def settled(core: ServerCore, tid: str, want: tuple[str, ...] = TERMINAL) -> dict[str, Any]:
    rec = await wait_for(core.task_store, tid, lambda r: r["status"] in want, timeout=5)
    assert rec is not None
    return rec


def code_of(exc: pytest.ExceptionInfo[JSONRPCError]) -> int:
    return exc.value.code


# ============================================================================ 2026-07-28


@async_test
async def test_modern_lifecycle_completed_with_flat_handle() -> None:
    gate = Gate()
    app = build(gate)
    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        h = await c.request("tools/call", {"name": "held", "arguments": {"label": "L"}})
        assert h["resultType"] == "task" and "task" not in h
        for key in ("taskId", "status", "createdAt", "lastUpdatedAt", "ttlMs", "pollIntervalMs"):
            assert key in h
        assert not {"ttl", "pollInterval", "result", "error", "inputRequests", "requestState"} & h.keys()
        assert h["status"] == "working" and type(h["ttlMs"]) is int and h["ttlMs"] > 0
        g = await c.request("tasks/get", {"taskId": h["taskId"]})
        assert g["resultType"] == "complete" and g["status"] == "working" and "result" not in g
        gate.release.set()
        await settled(app.core, h["taskId"])
        g = await c.request("tasks/get", {"taskId": h["taskId"]})
        assert g["status"] == "completed"
        assert g["result"]["content"] == [{"type": "text", "text": "done L"}]
        assert "resultType" not in g["result"] and RELATED not in (g["result"].get("_meta") or {})


@async_test
async def test_modern_tool_error_is_completed_with_is_error_and_protocol_error_is_failed() -> None:
    app = build(Gate())
    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        h = await c.request("tools/call", {"name": "tool_error", "arguments": {}})
        await settled(app.core, h["taskId"])
        g = await c.request("tasks/get", {"taskId": h["taskId"]})
        assert g["status"] == "completed" and g["result"]["isError"] is True
        assert "it went wrong" in g["result"]["content"][0]["text"]
        h = await c.request("tools/call", {"name": "protocol_error", "arguments": {}})
        await settled(app.core, h["taskId"])
        g = await c.request("tasks/get", {"taskId": h["taskId"]})
        assert g["status"] == "failed" and "result" not in g
        assert g["error"] == {"code": -32603, "message": "deep trouble", "data": {"why": "test"}}


@async_test
async def test_modern_cancel_running_async_tool_and_idempotent_ack() -> None:
    gate = Gate()
    app = build(gate)
    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        h = await c.request("tools/call", {"name": "held", "arguments": {}})
        await gate.started.wait()
        ack = await c.request("tasks/cancel", {"taskId": h["taskId"]})
        assert ack == {"resultType": "complete", "_meta": ack["_meta"]}
        assert (await c.request("tasks/get", {"taskId": h["taskId"]}))["status"] == "cancelled"
        for _ in range(20):  # within a few loop turns
            if gate.cancelled:
                break
            await asyncio.sleep(0)
        assert gate.cancelled, "the tool's coroutine was not cancelled"
        assert app.core.running_tasks == 0
        again = await c.request("tasks/cancel", {"taskId": h["taskId"]})  # terminal: same empty ack
        assert again["resultType"] == "complete" and "status" not in again


@async_test
async def test_modern_cancel_def_tool_sets_context_flag_and_drops_its_result() -> None:
    gate = Gate()
    app = build(gate)
    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        h = await c.request("tools/call", {"name": "blocking_def", "arguments": {}})
        for _ in range(200):  # the status set from the worker thread reaches the store
            if (await c.request("tasks/get", {"taskId": h["taskId"]})).get("statusMessage") == "in a thread":
                break
            await asyncio.sleep(0.005)
        else:
            raise AssertionError("the def tool's report_status never reached the task")
        await c.request("tasks/cancel", {"taskId": h["taskId"]})
        gate.thread_release.set()  # the thread finishes; its answer must not replace "cancelled"
        await until(lambda: gate.saw_cancel_flag is not None)
        assert gate.saw_cancel_flag is True
        g = await c.request("tasks/get", {"taskId": h["taskId"]})
        assert g["status"] == "cancelled" and "result" not in g


@async_test
async def test_modern_input_required_partial_then_complete() -> None:
    app = build(Gate())
    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        h = await c.request("tools/call", {"name": "ask_two", "arguments": {}})
        tid = h["taskId"]
        await settled(app.core, tid, ("input_required",))
        g = await c.request("tasks/get", {"taskId": tid})
        assert g["status"] == "input_required" and sorted(g["inputRequests"]) == ["a", "b"]
        assert g["inputRequests"]["a"]["method"] == "elicitation/create"
        assert g["statusMessage"] == "asking"
        ack = await c.request("tasks/update", {"taskId": tid, "inputResponses": {
            "a": {"action": "accept", "content": {"v": "1"}}, "never-issued": {"x": 1}}})
        assert ack["resultType"] == "complete" and "status" not in ack
        g = await c.request("tasks/get", {"taskId": tid})
        assert g["status"] == "input_required" and list(g["inputRequests"]) == ["b"]
        await c.request("tasks/update", {"taskId": tid, "inputResponses": {"b": {"action": "accept",
                                                                                 "content": {"v": "2"}}}})
        await settled(app.core, tid)
        g = await c.request("tasks/get", {"taskId": tid})
        assert g["status"] == "completed" and g["result"]["content"][0]["text"] == "1+2"


@async_test
async def test_modern_cancel_while_input_required() -> None:
    app = build(Gate())
    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        h = await c.request("tools/call", {"name": "ask_two", "arguments": {}})
        await settled(app.core, h["taskId"], ("input_required",))
        await c.request("tasks/cancel", {"taskId": h["taskId"]})
        g = await c.request("tasks/get", {"taskId": h["taskId"]})
        assert g["status"] == "cancelled" and "inputRequests" not in g
        for _ in range(20):  # within a few loop turns
            if not app.core.running_tasks:
                break
            await asyncio.sleep(0)
        assert app.core.running_tasks == 0


@async_test
async def test_modern_negotiation_errors() -> None:
    app = build(Gate())
    async with Client(app, protocol_version=MODERN, capabilities={}) as c:
        for method, params in (("tasks/get", {"taskId": "x"}), ("tasks/cancel", {"taskId": "x"}),
                               ("tasks/update", {"taskId": "x", "inputResponses": {}})):
            with pytest.raises(JSONRPCError) as e:
                await c.request(method, params)
            assert code_of(e) == -32021, method
        with pytest.raises(JSONRPCError) as e:
            await c.request("tools/call", {"name": "tool_error", "arguments": {}})
        assert code_of(e) == -32021
        assert e.value.data == {"requiredCapabilities": {"extensions": {EXT: {}}}}
        res = await c.request("tools/call", {"name": "quick", "arguments": {}})  # optional: plain call
        assert res["resultType"] == "complete" and "taskId" not in res
        # per-request opt-in: this request's own capabilities declare the extension
        res = await c.request("tools/call", {"name": "quick", "arguments": {}},
                              meta={"io.modelcontextprotocol/clientCapabilities": {"extensions": {EXT: {}}}})
        assert res["resultType"] == "task"
        # a legacy task hint is ignored at 2026-07-28: a plain tool stays plain
        res = await c.request("tools/call", {"name": "plain", "arguments": {}, "task": {"ttl": 5}})
        assert res["resultType"] == "complete"


@async_test
async def test_modern_unknown_task_and_removed_methods() -> None:
    app = build(Gate())
    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        for method, params in (("tasks/get", {"taskId": "nope"}), ("tasks/cancel", {"taskId": "nope"}),
                               ("tasks/update", {"taskId": "nope", "inputResponses": {}}),
                               ("tasks/get", {})):
            with pytest.raises(JSONRPCError) as e:
                await c.request(method, params)
            assert code_of(e) == -32602, method
        for method in ("tasks/result", "tasks/list"):
            with pytest.raises(JSONRPCError) as e:
                await c.request(method, {"taskId": "nope"})
            assert code_of(e) == -32601, method
        disc = await c.discover()
        assert disc["capabilities"]["extensions"] == {EXT: {}} and "tasks" not in disc["capabilities"]
        tools = {t["name"]: t for t in (await c.list_tools())["tools"]}
        assert tools["held"]["execution"] == {"taskSupport": "optional"}
        assert tools["tool_error"]["execution"] == {"taskSupport": "required"}
        assert "execution" not in tools["plain"]


@async_test
async def test_modern_defer_task_gathers_input_first() -> None:
    app = build(Gate())

    async def elicit(params: dict[str, Any]) -> dict[str, Any]:
        return {"action": "accept", "content": {"name": "Alice"}}

    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT, elicitation_callback=elicit) as c:
        h = await c.request("tools/call", {"name": "deferred", "arguments": {}})
        assert h["resultType"] == "task" and "requestState" not in h and "inputRequests" not in h
        await settled(app.core, h["taskId"])
        g = await c.request("tasks/get", {"taskId": h["taskId"]})
        assert g["result"]["content"][0]["text"] == "Hi Alice (True)"
    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT) as c:  # no callback: round 1
        r = await c.session.peer.request("tools/call", {"name": "deferred", "arguments": {}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": WITH_EXT}})
        assert r["resultType"] == "input_required" and "taskId" not in r and "user_name" in r["inputRequests"]


@async_test
async def test_modern_status_notifications_on_listen() -> None:
    gate = Gate()
    app = build(gate)
    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        h = await c.request("tools/call", {"name": "held", "arguments": {}})
        listen = asyncio.ensure_future(c.request("subscriptions/listen", {"notifications": {"taskIds": [h["taskId"]]}}))
        await until(lambda: c.notifications_of("notifications/subscriptions/acknowledged"))
        ack = c.notifications_of("notifications/subscriptions/acknowledged")[0]
        assert ack["notifications"]["taskIds"] == [h["taskId"]]
        gate.release.set()
        await settled(app.core, h["taskId"])
        await until(lambda: c.notifications_of("notifications/tasks"))
        note = c.notifications_of("notifications/tasks")[-1]
        assert note["taskId"] == h["taskId"] and note["status"] == "completed" and note["result"]["content"]
        assert "io.modelcontextprotocol/subscriptionId" in note["_meta"]
        listen.cancel()
    async with Client(app, protocol_version=MODERN, capabilities={}) as c:
        with pytest.raises(JSONRPCError) as e:
            await c.request("subscriptions/listen", {"notifications": {"taskIds": ["x"]}})
        assert code_of(e) == -32021


@async_test
async def test_ttl_expiry_and_no_early_expiry() -> None:
    app = build(Gate(), task_ttl_ms=100)
    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        started = time.time()
        h = await c.request("tools/call", {"name": "quick", "arguments": {}})
        assert h["ttlMs"] == 100
        await settled(app.core, h["taskId"])
        if time.time() - started < 0.09:  # still inside its TTL: it must be there
            assert (await c.request("tasks/get", {"taskId": h["taskId"]}))["status"] == "completed"
        await asyncio.sleep(max(0.0, started + 0.11 - time.time()))
        with pytest.raises(JSONRPCError) as e:
            await c.request("tasks/get", {"taskId": h["taskId"]})
        assert code_of(e) == -32602
    async with Client(app, protocol_version=LEGACY) as c:  # a 2025-11-25 client asks for less
        t = (await c.request("tools/call", {"name": "quick", "arguments": {}, "task": {"ttl": 50}}))["task"]
        assert t["ttl"] == 50


@async_test
async def test_full_store_refuses_new_tasks_with_overloaded() -> None:
    gate = Gate()
    app = build(gate, task_store=MemoryTaskStore(max_tasks=1))
    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        await c.request("tools/call", {"name": "held", "arguments": {}})
        with pytest.raises(JSONRPCError) as e:
            await c.request("tools/call", {"name": "held", "arguments": {}})
        assert code_of(e) == -32005
        gate.release.set()


# ============================================================================ immediate-result window


@async_test
async def test_window_fast_optional_calls_are_answered_as_plain_calls() -> None:
    gate = Gate()
    app = build(gate, task_window=DEFAULT_TASK_WINDOW)
    assert app.core.task_window == DEFAULT_TASK_WINDOW > 0

    @app.tool(task="optional")
    async def oops() -> str:
        raise ToolError("bad input")

    @app.tool(task="optional")
    def pooled(n: int = 1) -> str:  # a def tool: it runs in the thread pool
        return f"pooled {n}"

    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        res = await c.request("tools/call", {"name": "quick", "arguments": {}})
        assert res["resultType"] == "complete" and "taskId" not in res
        assert res["content"] == [{"type": "text", "text": "quick"}]
        assert (await c.request("tools/call", {"name": "chatty", "arguments": {}}))["content"][0]["text"] == "said"
        assert (await c.request("tools/call", {"name": "pooled", "arguments": {"n": 2}}))["content"] == [
            {"type": "text", "text": "pooled 2"}]
        bad = await c.request("tools/call", {"name": "oops", "arguments": {}})  # a tool error: isError
        assert bad["resultType"] == "complete" and bad["isError"] is True
        assert bad["content"][0]["text"] == "bad input"
        with pytest.raises(JSONRPCError) as e:  # a protocol error: the plain call's JSON-RPC error
            await c.request("tools/call", {"name": "protocol_error", "arguments": {}})
        assert code_of(e) == -32603 and e.value.message == "deep trouble"
        assert len(app.core.task_store) == 0  # type: ignore[arg-type]
        h = await c.request("tools/call", {"name": "tool_error", "arguments": {}})  # required: a task anyway
        assert h["resultType"] == "task"
        assert (await settled(app.core, h["taskId"]))["result"]["isError"] is True
    async with Client(app, protocol_version=LEGACY) as c:  # 2025-11-25 params.task: the client asked
        h = await c.request("tools/call", {"name": "quick", "arguments": {}, "task": {}})
        assert h["task"]["status"] == "working"
        assert (await c.request("tools/call", {"name": "quick", "arguments": {}}))["content"][0]["text"] == "quick"
    assert app.core.running_tasks == 0


@async_test
async def test_window_a_call_still_running_becomes_the_task_without_a_second_run() -> None:
    gate = Gate()
    app = build(gate, task_window=0.02)
    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        h = await c.request("tools/call", {"name": "held", "arguments": {"label": "W"}})
        assert h["resultType"] == "task" and h["status"] == "working" and gate.started.is_set()
        assert (await c.request("tasks/get", {"taskId": h["taskId"]}))["status"] == "working"
        gate.release.set()
        rec = await settled(app.core, h["taskId"])
        assert rec["status"] == "completed" and rec["result"]["content"] == [{"type": "text", "text": "done W"}]
        assert gate.runs == 1
        # a def tool in the pool: what it reported before or after the window is the task's
        # status; cancelling the task sets its flag and drops what it returns
        h = await c.request("tools/call", {"name": "blocking_def", "arguments": {}})
        assert h["resultType"] == "task"
        tid = h["taskId"]
        said = await wait_for(app.core.task_store, tid, lambda r: r.get("statusMessage") == "in a thread", timeout=5)
        assert said is not None
        await c.request("tasks/cancel", {"taskId": tid})
        gate.thread_release.set()
        await until(lambda: gate.saw_cancel_flag is not None, 5.0)
        assert gate.saw_cancel_flag is True
        rec = await settled(app.core, tid)
        assert rec["status"] == "cancelled" and "result" not in rec
    await until(lambda: app.core.running_tasks == 0, 5.0)


@async_test
async def test_window_input_makes_the_task_at_once_and_keeps_the_status() -> None:
    app = build(Gate(), task_window=30)  # only the input can end the window early
    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        h = await asyncio.wait_for(c.request("tools/call", {"name": "ask_two", "arguments": {}}), 5)
        assert h["resultType"] == "task" and h["statusMessage"] == "asking"  # said inside the window
        tid = h["taskId"]
        await settled(app.core, tid, ("input_required",))
        g = await c.request("tasks/get", {"taskId": tid})
        assert sorted(g["inputRequests"]) == ["a", "b"] and g["statusMessage"] == "asking"
        await c.request("tasks/update", {"taskId": tid, "inputResponses": {
            "a": {"action": "accept", "content": {"v": "1"}}, "b": {"action": "accept", "content": {"v": "2"}}}})
        rec = await settled(app.core, tid)
        assert rec["status"] == "completed" and rec["result"]["content"][0]["text"] == "1+2"
        assert len(app.core.task_store) == 1  # type: ignore[arg-type]


@async_test
async def test_window_cancelling_the_call_cancels_the_tool_and_makes_no_task() -> None:
    gate = Gate()
    app = build(gate, task_window=30)
    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        call = asyncio.ensure_future(c.request("tools/call", {"name": "held", "arguments": {}}))
        await asyncio.wait_for(gate.started.wait(), 5)
        call.cancel()  # notifications/cancelled goes to the server
        with pytest.raises(asyncio.CancelledError):
            await call
        await until(lambda: gate.cancelled, 5.0)
        assert len(app.core.task_store) == 0 and app.core.running_tasks == 0  # type: ignore[arg-type]


@async_test
async def test_window_per_tool_and_its_checks() -> None:
    core = ServerCore("w", "1", task_window=30)

    async def job() -> str:
        return "job"

    core.add_tool("now", job, input_schema={"type": "object"}, task="optional", task_window=0)
    core.add_tool("later", job, input_schema={"type": "object"}, task="optional")
    async with Client(core, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        h = await c.request("tools/call", {"name": "now", "arguments": {}})  # its own window: 0, a task
        assert h["resultType"] == "task"
        assert (await settled(core, h["taskId"]))["result"]["content"] == [{"type": "text", "text": "job"}]
        res = await c.request("tools/call", {"name": "later", "arguments": {}})  # the server's window
        assert res["resultType"] == "complete" and res["content"] == [{"type": "text", "text": "job"}]
    bads: tuple[Any, ...] = (-1, 61, True, "1", float("nan"))
    for bad in bads:
        with pytest.raises(ValueError, match="task_window"):
            core.add_tool("x", job, input_schema={"type": "object"}, task="optional", task_window=bad)
        with pytest.raises(ValueError, match="task_window"):
            MCPServer("w", task_window=bad)
    with pytest.raises(ValueError, match="task_window"):
        core.add_tool("x", job, input_schema={"type": "object"}, task="required", task_window=1)
    app: MCPServer[Any] = MCPServer("w")
    assert app.core.task_window == DEFAULT_TASK_WINDOW
    with pytest.raises(ValueError, match="task_window"):
        app.add_tool(job, task="forbidden", task_window=1)


# ============================================================================ 2025-11-25


@async_test
async def test_legacy_lifecycle_result_list_cancel_and_notifications() -> None:
    gate = Gate()
    app = build(gate, page_size=2)
    async with Client(app, protocol_version=LEGACY) as c:
        assert c.server_capabilities["tasks"] == {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
        h = await c.request("tools/call", {"name": "held", "arguments": {"label": "x"}, "task": {"ttl": 60_000}})
        task = h["task"]
        assert task["status"] == "working" and task["ttl"] == 60_000 and "ttlMs" not in task
        g = await c.request("tasks/get", {"taskId": task["taskId"]})
        assert g["status"] == "working" and "result" not in g
        waiting = asyncio.ensure_future(c.request("tasks/result", {"taskId": task["taskId"]}))
        await asyncio.sleep(0.01)
        assert not waiting.done()  # blocks until terminal
        gate.release.set()
        res = await asyncio.wait_for(waiting, 5)
        assert res["content"] == [{"type": "text", "text": "done x"}]
        assert res["_meta"][RELATED] == {"taskId": task["taskId"]}
        statuses = [n["status"] for n in c.notifications_of("notifications/tasks/status") if n["taskId"] == task["taskId"]]
        assert statuses[-1] == "completed"
        with pytest.raises(JSONRPCError) as e:  # a terminal task cannot be cancelled (2025-11-25)
            await c.request("tasks/cancel", {"taskId": task["taskId"]})
        assert code_of(e) == -32602
        # a running one can
        gate.release.clear()
        h2 = (await c.request("tools/call", {"name": "held", "arguments": {}, "task": {}}))["task"]
        cancelled = await c.request("tasks/cancel", {"taskId": h2["taskId"]})
        assert cancelled["status"] == "cancelled" and cancelled["taskId"] == h2["taskId"]
        with pytest.raises(JSONRPCError) as e:
            await c.request("tasks/result", {"taskId": h2["taskId"]})
        h3 = (await c.request("tools/call", {"name": "quick", "arguments": {}, "task": {}}))["task"]
        page = await c.request("tasks/list", {})
        assert [t["taskId"] for t in page["tasks"]] == [task["taskId"], h2["taskId"]]
        rest = await c.request("tasks/list", {"cursor": page["nextCursor"]})
        assert [t["taskId"] for t in rest["tasks"]] == [h3["taskId"]] and "nextCursor" not in rest
        with pytest.raises(JSONRPCError) as e:
            await c.request("tasks/list", {"cursor": "garbage"})
        assert code_of(e) == -32602
    async with Client(app, protocol_version=LEGACY) as other:  # another session sees none of them
        assert (await other.request("tasks/list", {}))["tasks"] == []
        with pytest.raises(JSONRPCError) as e:
            await other.request("tasks/get", {"taskId": task["taskId"]})
        assert code_of(e) == -32602


@async_test
async def test_legacy_task_support_rules_and_failures() -> None:
    app = build(Gate())
    async with Client(app, protocol_version=LEGACY) as c:
        with pytest.raises(JSONRPCError) as e:
            await c.request("tools/call", {"name": "tool_error", "arguments": {}})  # required, no params.task
        assert code_of(e) == -32601
        with pytest.raises(JSONRPCError) as e:
            await c.request("tools/call", {"name": "plain", "arguments": {}, "task": {}})  # forbidden
        assert code_of(e) == -32601
        assert (await c.request("tools/call", {"name": "quick", "arguments": {}}))["content"]  # optional, plain
        t = (await c.request("tools/call", {"name": "tool_error", "arguments": {}, "task": {}}))["task"]
        res = await c.request("tasks/result", {"taskId": t["taskId"]})
        assert res["isError"] is True
        t = (await c.request("tools/call", {"name": "protocol_error", "arguments": {}, "task": {}}))["task"]
        with pytest.raises(JSONRPCError) as e:
            await c.request("tasks/result", {"taskId": t["taskId"]})
        assert code_of(e) == -32603 and e.value.data == {"why": "test"}
        assert (await c.request("tasks/get", {"taskId": t["taskId"]}))["status"] == "failed"
        tools = {x["name"]: x for x in (await c.list_tools())["tools"]}
        assert tools["quick"]["execution"] == {"taskSupport": "optional"}


@async_test
async def test_legacy_input_is_a_related_server_request() -> None:
    app = build(Gate())
    asked: list[dict[str, Any]] = []

    async def elicit(params: dict[str, Any]) -> dict[str, Any]:
        asked.append(params)
        return {"action": "accept", "content": {"v": params["message"][0]}}

    async with Client(app, protocol_version=LEGACY, elicitation_callback=elicit) as c:
        t = (await c.request("tools/call", {"name": "ask_two", "arguments": {}, "task": {}}))["task"]
        res = await c.request("tasks/result", {"taskId": t["taskId"]})
        assert res["content"][0]["text"] == "A+B"
        assert [p["_meta"][RELATED] for p in asked] == [{"taskId": t["taskId"]}] * 2
        statuses = [n["status"] for n in c.notifications_of("notifications/tasks/status")]
        assert "input_required" in statuses and statuses[-1] == "completed"


@async_test
async def test_task_messages_legacy_related_modern_silent() -> None:
    app = build(Gate())
    async with Client(app, protocol_version=LEGACY) as c:
        t = (await c.request("tools/call", {"name": "chatty", "arguments": {}, "task": {},
                                            "_meta": {"progressToken": "p1"}}))["task"]
        await c.request("tasks/result", {"taskId": t["taskId"]})
        logs = c.notifications_of("notifications/message")
        assert logs and logs[0]["_meta"][RELATED] == {"taskId": t["taskId"]}
        progress = c.notifications_of("notifications/progress")
        assert progress and progress[0]["progressToken"] == "p1" and progress[0]["_meta"][RELATED]
    async with Client(app, protocol_version=MODERN, capabilities=WITH_EXT, log_level="debug") as c:
        h = await c.request("tools/call", {"name": "chatty", "arguments": {}})
        await settled(app.core, h["taskId"])
        assert not c.notifications_of("notifications/message")  # the extension carries none


# ============================================================================ the store


@async_test
async def test_memory_store_contract() -> None:
    await check_task_store(MemoryTaskStore())


@async_test
async def test_memory_store_bounds() -> None:
    store = MemoryTaskStore(max_tasks=2)
    await store.create(record("a"))
    await store.finish("a", "completed", result={"content": []})
    await store.create(record("b"))
    await store.create(record("c"))  # full: the oldest terminal task ("a") makes room
    assert await store.get("a") is None and len(store) == 2
    with pytest.raises(OverflowError):
        await store.create(record("d"))  # every task unfinished
    with pytest.raises(ValueError):
        await store.create(record("b"))  # ids are unique
    with pytest.raises(ValueError):
        MemoryTaskStore(max_tasks=0)


# ============================================================================ HTTP


def _modern_headers(method: str, name: str | None) -> dict[str, str]:
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
         "MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if name is not None:
        h["Mcp-Name"] = name
    return h


@async_test
async def test_http_modern_task_with_routing_headers() -> None:
    gate = Gate()
    app = build(gate)
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": WITH_EXT}
    async with app.core.start("http", port=0) as server:
        c = await RawClient.connect(server.port)
        try:
            c.send(post("/mcp", rpc_body(1, "tools/call", {"name": "quick", "arguments": {}, "_meta": meta}),
                        _modern_headers("tools/call", "quick")))
            r = await c.response()
            h = message(r)["result"]
            assert h["resultType"] == "task"
            tid = h["taskId"]
            await settled(app.core, tid)
            c.send(post("/mcp", rpc_body(2, "tasks/get", {"taskId": tid, "_meta": meta}), _modern_headers("tasks/get", tid)))
            r = await c.response()
            g = message(r)["result"]
            assert r.status == 200 and g["status"] == "completed" and g["result"]["content"][0]["text"] == "quick"
            c.send(post("/mcp", rpc_body(3, "tasks/get", {"taskId": tid, "_meta": meta}),
                        _modern_headers("tasks/get", "some-other-task")))
            r = await c.response()
            assert r.status == 400 and message(r)["error"]["code"] == -32020
            c.send(post("/mcp", rpc_body(4, "tasks/cancel", {"taskId": tid, "_meta": meta}),
                        _modern_headers("tasks/cancel", tid)))
            r = await c.response()
            assert message(r)["result"]["resultType"] == "complete"
        finally:
            c.close()


async def _legacy_session(c: RawClient, capabilities: dict[str, Any]) -> tuple[dict[str, str], Any]:
    """``initialize`` (at 2025-11-25, with ``capabilities``) and ``notifications/initialized`` on
    ``c``: the headers of the session's next requests, and the initialize result."""
    accept = "application/json, text/event-stream"
    c.send(post("/mcp", rpc_body(0, "initialize", {"protocolVersion": LEGACY, "capabilities": capabilities,
                                                   "clientInfo": {"name": "t", "version": "0"}}),
                {"Content-Type": "application/json", "Accept": accept}))
    r = await c.response()
    hdrs = {"Content-Type": "application/json", "Accept": accept, "Mcp-Session-Id": r.headers["mcp-session-id"],
            "MCP-Protocol-Version": LEGACY}
    c.send(post("/mcp", rpc_body(None, "notifications/initialized"), hdrs))
    assert (await c.response()).status == 202
    return hdrs, message(r)["result"]


@async_test
async def test_http_legacy_task_result() -> None:
    app = build(Gate())
    async with app.core.start("http", port=0) as server:
        c = await RawClient.connect(server.port)
        try:
            hdrs, init = await _legacy_session(c, {})
            assert init["capabilities"]["tasks"]
            c.send(post("/mcp", rpc_body(1, "tools/call", {"name": "quick", "arguments": {}, "task": {}}), hdrs))
            r = await c.response()
            tid = message(r)["result"]["task"]["taskId"]
            c.send(post("/mcp", rpc_body(2, "tasks/result", {"taskId": tid}), hdrs))
            r = await c.response()
            res = message(r)["result"]
            assert res["content"][0]["text"] == "quick" and res["_meta"][RELATED] == {"taskId": tid}
        finally:
            c.close()


async def _sse_until(c: RawClient, needle: bytes, seen: bytearray) -> None:
    """Read an SSE response's chunks into ``seen`` until ``needle`` shows up."""
    if not seen:
        head = await asyncio.wait_for(c.reader.readuntil(b"\r\n\r\n"), 5)
        assert b" 200 " in head.split(b"\r\n")[0] and b"text/event-stream" in head.lower(), head
        seen.extend(b"\x00")  # marks the head as read
    while needle not in seen:
        size = int((await asyncio.wait_for(c.reader.readuntil(b"\r\n"), 5)).strip(), 16)
        data = await asyncio.wait_for(c.reader.readexactly(size + 2), 5)
        if size == 0:
            raise AssertionError(f"the stream ended without {needle!r}: {bytes(seen)!r}")
        seen.extend(data[:-2])


@async_test
async def test_http_legacy_task_input_travels_on_the_tasks_result_stream() -> None:
    app = build(Gate())
    async with app.core.start("http", port=0) as server:
        c = await RawClient.connect(server.port)
        r2 = await RawClient.connect(server.port)
        try:
            hdrs, _init = await _legacy_session(c, {"elicitation": {}})
            c.send(post("/mcp", rpc_body(1, "tools/call", {"name": "ask_one", "arguments": {}, "task": {}}), hdrs))
            r = await c.response()
            tid = message(r)["result"]["task"]["taskId"]
            await settled(app.core, tid, ("input_required",))
            r2.send(post("/mcp", rpc_body(2, "tasks/result", {"taskId": tid}), hdrs))  # no GET stream: this one
            seen = bytearray()
            await _sse_until(r2, b"elicitation/create", seen)
            line = next(ln for ln in bytes(seen).decode().split("\n") if "elicitation/create" in ln)
            ask = json.loads(line[line.index("{"):])
            assert ask["params"]["_meta"][RELATED] == {"taskId": tid}
            c.send(post("/mcp", json.dumps({"jsonrpc": "2.0", "id": ask["id"],
                                            "result": {"action": "accept", "content": {"ok": True}}}).encode(), hdrs))
            assert (await c.response()).status == 202
            await _sse_until(r2, b"answer: accept", seen)
            assert RELATED.encode() in seen
        finally:
            c.close()
            r2.close()


@async_test
async def test_server_core_registration_with_a_def_tool() -> None:
    core = ServerCore("low", "1", task_ttl_ms=None, task_poll_interval_ms=100)

    def double(n: int) -> int:  # a plain def: the thread pool runs it, as for a plain call
        return 2 * n

    core.add_tool("double", double, input_schema={"type": "object", "properties": {"n": {"type": "integer"}}},
                  task="required", blocking=None)
    with pytest.raises(ValueError):
        core.add_tool("bad", double, input_schema={"type": "object"}, task="sometimes")
    with pytest.raises(ValueError):
        core.add_tool("bad", double, input_schema={"type": "object"}, task="optional", defer_task=True)
    async with Client(core, protocol_version=MODERN, capabilities=WITH_EXT) as c:
        h = await c.request("tools/call", {"name": "double", "arguments": {"n": 21}})
        assert h["ttlMs"] is None and h["pollIntervalMs"] == 100
        rec = await settled(core, h["taskId"])
        assert rec["result"]["content"] == [{"type": "text", "text": "42"}]
        assert rec["expiresAt"] is None
