"""Where ``def`` tools run: in a bounded thread pool, never on the loop unless pinned there."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from mcpfast import MCPServer
from mcpfast.errors import McpError
from mcpfast.peer import Deferred
from mcpfast.server._threads import ToolRunner
from mcpfast.testing import async_test

from .harness import connect, text

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def make_app(**kw: object) -> MCPServer:
    app = MCPServer("threads", **kw)  # type: ignore[arg-type]

    @app.tool()
    def nap(seconds: float) -> str:
        time.sleep(seconds)
        return threading.current_thread().name

    @app.tool()
    def quick(x: int) -> int:
        return x + 1

    @app.tool(blocking=True)
    def pinned_pool(x: int) -> str:
        return threading.current_thread().name

    @app.tool(blocking=False)
    def pinned_inline(x: int) -> str:
        return threading.current_thread().name

    @app.tool()
    async def aio(x: int) -> str:
        return threading.current_thread().name

    @app.tool()
    def where() -> str:
        return VAR.get()

    return app


@async_test
async def test_four_sleeping_def_tools_run_concurrently() -> None:
    app = make_app()
    async with connect(app) as s:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(s.tool("nap", {"seconds": 0.5}) for _ in range(4)))
        elapsed = time.perf_counter() - t0
    assert elapsed < 1.2, elapsed  # serially it would be 2 s
    names = {text(r) for r in results}
    assert all(n.startswith("mcpfast-tool") for n in names), names
    assert len(names) == 4  # four threads at once


@async_test
async def test_a_slow_tool_does_not_stall_other_requests() -> None:
    app = make_app()
    async with connect(app) as s:
        slow = asyncio.ensure_future(s.tool("nap", {"seconds": 0.4}))
        await asyncio.sleep(0.05)
        t0 = time.perf_counter()
        assert text(await s.tool("quick", {"x": 1})) == "2"
        assert time.perf_counter() - t0 < 0.2
        assert not slow.done()
        await slow


@async_test
async def test_a_fast_def_tool_stays_in_the_pool() -> None:
    # no promotion to the loop: a tool fast a thousand times may block at the next call
    app = make_app()
    t = app.core.tools["quick"]
    assert t.placement == "pool"
    async with connect(app) as s:
        for i in range(50):
            assert text(await s.tool("quick", {"x": i})) == str(i + 1)
        assert text(await s.tool("pinned_pool", {"x": 1})).startswith("mcpfast-tool")
    assert t.placement == "pool"
    assert t.hist.count == 50
    assert app.tools.stats("quick")["placement"] == "pool"
    assert app.core.runner.in_flight == 0


@async_test
async def test_many_calls_in_flight_at_once_all_answered_with_stats() -> None:
    app = make_app()
    async with connect(app) as s:
        results = await asyncio.gather(*(s.tool("quick", {"x": i}) for i in range(300)))
    assert [text(r) for r in results] == [str(i + 1) for i in range(300)]
    assert app.core.tools["quick"].hist.count == 300
    assert app.core.runner.in_flight == 0
    assert app.core.runner.threads <= app.core.runner.size


@async_test
async def test_pinned_placements_never_move() -> None:
    app = make_app()
    async with connect(app) as s:
        for _ in range(12):
            assert text(await s.tool("pinned_pool", {"x": 1})).startswith("mcpfast-tool")
            assert text(await s.tool("pinned_inline", {"x": 1})) == "MainThread"
            assert text(await s.tool("aio", {"x": 1})) == "MainThread"
    assert app.core.tools["pinned_pool"].placement == "pool"
    assert app.core.tools["pinned_inline"].placement == "inline"
    assert app.core.tools["aio"].placement == "async"
    assert app.core.tools["pinned_pool"].pinned and not app.core.tools["quick"].pinned


@async_test
async def test_context_variables_reach_the_worker() -> None:
    app = make_app()
    VAR.set("from the loop")
    async with connect(app) as s:
        assert text(await s.tool("where")) == "from the loop"


@async_test
async def test_cancelling_a_pooled_call_answers_at_once() -> None:
    app = make_app()
    async with connect(app, request_timeout=0.1) as s:
        t0 = time.perf_counter()
        with pytest.raises(McpError) as info:
            await s.tool("nap", {"seconds": 0.5})
        assert info.value.code == -32001  # request timeout, answered before the thread ends
        assert time.perf_counter() - t0 < 0.4
        assert app.core.runner.in_flight == 1  # the thread still finishes its call
        assert text(await s.tool("quick", {"x": 1})) == "2"
    await asyncio.sleep(0.5)
    assert app.core.runner.in_flight == 0


@async_test
async def test_client_cancellation_of_a_pooled_call() -> None:
    app = make_app()
    async with connect(app) as s:
        fut = asyncio.ensure_future(s.tool("nap", {"seconds": 0.3}))
        await asyncio.sleep(0.05)
        fut.cancel()  # the client peer sends notifications/cancelled
        with pytest.raises(asyncio.CancelledError):
            await fut
        assert text(await s.tool("quick", {"x": 2})) == "3"


@async_test
async def test_pool_is_bounded() -> None:
    app = make_app(thread_pool_size=2)
    async with connect(app) as s:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(s.tool("nap", {"seconds": 0.2}) for _ in range(4)))
        elapsed = time.perf_counter() - t0
    assert {text(r) for r in results} <= {"mcpfast-tool_0", "mcpfast-tool_1"}
    assert 0.35 < elapsed < 1.0, elapsed  # two waves of two


def test_pool_starts_no_thread_until_used_and_rejects_bad_size() -> None:
    runner = ToolRunner(3)
    assert not runner.started and runner.threads == 0 and "threads=0" in repr(runner)
    with pytest.raises(ValueError, match="at least 1"):
        ToolRunner(0)


@async_test
async def test_run_answers_a_batch_through_deferreds_and_skips_a_call_cancelled_before_it_started() -> None:
    app = MCPServer("x")
    ran: list[int] = []

    @app.tool()
    def count(x: int) -> int:
        ran.append(x)
        if x == 4:
            raise ValueError("four")
        return x

    tool = app.core.tools["count"]
    runner = ToolRunner(1)

    def finish(t: object, value: object, exc: BaseException | None, data: object) -> object:
        if exc is not None:
            raise McpError(str(exc))
        return {"v": value, "data": data}

    first = runner.submit(tool, {"x": 0})  # opens the batch: the calls below never wait
    ds = [runner.run(tool, {"x": i}, finish, i * 10) for i in (1, 2, 3, 4)]
    assert all(type(d) is Deferred for d in ds) and not runner.started  # no worker before the loop turns
    assert ds[1].cancel()  # not started: the worker skips it
    assert await first == (0, None)
    for _ in range(500):
        if all(d.done() for d in ds) and runner.in_flight == 0:
            break
        await asyncio.sleep(0.002)
    assert ran == [0, 1, 3, 4]
    assert ds[0].result() == {"v": 1, "data": 10} and ds[2].result() == {"v": 3, "data": 30}
    assert ds[1].cancelled() and isinstance(ds[3].exception(), McpError)
    assert tool.hist.count == 4 and runner.in_flight == 0  # the call skipped is not timed
    runner.shutdown()


@async_test
async def test_a_failing_answer_does_not_strand_the_calls_delivered_after_it(caplog: pytest.LogCaptureFixture) -> None:
    app = MCPServer("x")

    @app.tool()
    def same(x: int) -> int:
        return x

    tool = app.core.tools["same"]
    runner = ToolRunner(1)

    def broken_sink(_d: Deferred) -> None:
        raise ValueError("a sink bug")

    first = runner.submit(tool, {"x": 0})
    ds = [runner.run(tool, {"x": i}, lambda t, v, e, d: v) for i in (1, 2)]
    assert all(type(d) is Deferred for d in ds)
    ds[0].add_done_callback(broken_sink)
    await first
    for _ in range(500):
        if ds[1].done() and runner.in_flight == 0:
            break
        await asyncio.sleep(0.002)
    assert ds[1].result() == 2 and runner.in_flight == 0
    assert "answering pooled call of tool 'same' failed" in caplog.text
    runner.shutdown()


@async_test
async def test_a_pooled_tool_failure_is_an_error_result() -> None:
    app = MCPServer("x")

    @app.tool(blocking=True)
    def bad() -> str:
        raise RuntimeError("broken in a thread")

    async with connect(app) as s:
        res = await s.tool("bad")
    assert res["isError"] is True and text(res) == "Error executing tool bad"  # the text stays in the log
    assert app.tools.stats("bad")["errors"] == 1


@async_test
async def test_servercore_placement_options() -> None:
    from mcpfast.server import ServerCore

    core = ServerCore("low", "1")
    schema = {"type": "object"}

    def name() -> str:
        return threading.current_thread().name

    core.add_tool("default", name, input_schema=schema)  # low-level default: inline
    core.add_tool("pool", name, input_schema=schema, blocking=True)
    core.add_tool("adaptive", name, input_schema=schema, blocking=None)
    async with connect(core) as s:
        assert text(await s.tool("default")) == "MainThread"
        assert text(await s.tool("pool")).startswith("mcpfast-tool")
        assert text(await s.tool("adaptive")).startswith("mcpfast-tool")
    assert [core.tools[n].placement for n in ("default", "pool", "adaptive")] == ["inline", "pool", "pool"]


@async_test
async def test_registry_execute_runs_a_def_tool_in_the_pool_with_stats() -> None:
    app = make_app()

    @app.tool()
    def fails() -> str:
        raise ValueError("no")

    assert (await app.tools.execute("pinned_pool", {"x": 1})).startswith("mcpfast-tool")
    assert (await app.tools.execute("quick", {"x": "4"})) == 5  # lax coercion as on the wire
    assert (await app.tools.execute("pinned_inline", {"x": 1})) == "MainThread"
    with pytest.raises(ValueError, match="no"):
        await app.tools.execute("fails")
    stats = app.tools.stats()
    assert stats["quick"]["calls"] == 1 and stats["pinned_pool"]["calls"] == 1
    assert stats["fails"]["calls"] == 1 and stats["fails"]["errors"] == 1
    assert app.core.runner.in_flight == 0


@async_test
async def test_shutdown_stops_idle_workers_and_a_later_call_starts_one() -> None:
    app = make_app()
    runner = app.core.runner
    async with connect(app) as s:
        assert text(await s.tool("quick", {"x": 1})) == "2"
        assert runner.threads == 1
        runner.shutdown()
        assert runner.threads == 0
        assert text(await s.tool("quick", {"x": 2})) == "3"
        assert runner.threads == 1
    metrics = app.get_metrics()
    assert metrics["thread_pool"]["started"] is True and metrics["thread_pool"]["threads"] == 1


@async_test
async def test_public_accessors_of_the_core() -> None:
    app = make_app()

    @app.resource("test://r")
    def r() -> str:
        return "r"

    @app.prompt()
    def p() -> str:
        return "p"

    core = app.core
    assert list(core.resources) == ["test://r"] and list(core.prompts) == ["p"]
    assert core.resource_templates == {} and core.session_count == 0 and core.listener_count == 0
    async with connect(app):
        assert core.session_count == 1
    with pytest.raises(ValueError, match="kind"):
        core.notify_list_changed("widgets")
