"""Where ``def`` tools run: a bounded thread pool for slow ones, inline on the loop for fast ones."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from typing import Any

import pytest

from mcpfast import MCPServer
from mcpfast.errors import McpError
from mcpfast.server._threads import PROMOTE_AFTER, ThreadPool
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


async def until_inline(s: Any, name: str, args: dict[str, Any], t: Any, limit: int = 40) -> int:
    """Call a tool until it is placed inline; how many calls that took."""
    for n in range(1, limit + 1):
        await s.tool(name, args)
        if t.placement == "inline":
            return n
    raise AssertionError(f"{name} still in the pool after {limit} calls")


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
async def test_a_fast_def_tool_ends_up_inline() -> None:
    app = make_app()
    t = app.core.tools["quick"]
    assert t.placement == "pool"  # a first call cannot stall the loop
    async with connect(app) as s:
        calls = await until_inline(s, "quick", {"x": 1}, t)
        assert text(await s.tool("quick", {"x": 1})) == "2"
    # worker timings include waits for the GIL, so a busy loop can delay (never hasten) promotion
    assert PROMOTE_AFTER <= calls <= 40
    assert t.placement == "inline"
    assert t.hist.count == calls + 1
    assert app.tools.stats("quick")["placement"] == "inline"


@async_test
async def test_an_inline_tool_seen_slow_goes_back_to_the_pool() -> None:
    app = make_app()
    t = app.core.tools["nap"]
    async with connect(app) as s:
        await until_inline(s, "nap", {"seconds": 0}, t)
        assert t.placement == "inline"
        # slow inline calls: back to the pool at the second (one alone may be a descheduled
        # process, a strike; under load an earlier "fast" call may already have been one)
        names = []
        while t.placement == "inline" and len(names) < 3:
            names.append(text(await s.tool("nap", {"seconds": 0.01})))
        assert names[0] == "MainThread" and len(names) <= 2, names
        assert t.placement == "pool"
        assert t.promote_after >= 2 * PROMOTE_AFTER  # the way back is longer now
        assert text(await s.tool("nap", {"seconds": 0})).startswith("mcpfast-tool")


@async_test
async def test_pinned_placements_never_move() -> None:
    app = make_app()
    async with connect(app) as s:
        for _ in range(PROMOTE_AFTER * 3):
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
        assert app.core.pool.in_flight == 1  # the thread still finishes its call
        assert text(await s.tool("quick", {"x": 1})) == "2"
    await asyncio.sleep(0.5)
    assert app.core.pool.in_flight == 0


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
    pool = ThreadPool(3)
    assert pool._executor is None and "started=False" in repr(pool)
    with pytest.raises(ValueError, match="at least 1"):
        ThreadPool(0)


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


def test_strikes_demote_only_twice_slow_within_the_window() -> None:
    # deterministic: synthetic durations through the same bookkeeping the dispatcher uses
    from mcpfast.server._threads import SLOW_NS, STRIKE_WINDOW

    app = make_app()
    core, t = app.core, app.core.tools["quick"]
    t.mode = 0  # placed inline
    fast, slow = 1_000, SLOW_NS + 1
    core._timed(t, slow)
    assert t.placement == "inline"  # one strike
    for _ in range(STRIKE_WINDOW + 1):
        core._timed(t, fast)
    core._timed(t, slow)
    assert t.placement == "inline"  # the first strike was forgotten: a strike again
    core._timed(t, fast)
    core._timed(t, slow)
    assert t.placement == "pool" and t.promote_after == 2 * PROMOTE_AFTER
    for _ in range(2 * PROMOTE_AFTER - 1):
        core._pooled_time(t, fast)
    assert t.placement == "pool"
    core._pooled_time(t, 200_000)  # a slow pooled call resets the streak
    for _ in range(2 * PROMOTE_AFTER):
        core._pooled_time(t, fast)
    assert t.placement == "inline"


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
