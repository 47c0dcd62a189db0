"""``mcpfast.Client``'s tasks against mcpfast's own task server (``@tool(task=...)``), both
eras, in process (the real codec) and over Streamable HTTP (port 0, the test's loop).

The fake-server tests (``test_tasks.py``) pin each message; these prove the two sides agree:
a plain ``call_tool`` that the server turns into a task, the handle's statuses, input asked
from inside a task (2026-07-28 ``tasks/update``; 2025-11-25 a server request with the
related-task ``_meta`` during ``tasks/result``), cancellation, failures, listen, the CLI.
Tasks suggest a 10 ms poll interval so nothing waits long.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mcpfast import Client, Context, MCPError, MCPServer
from mcpfast.client.tasks import TaskCancelledError, related_task_id
from mcpfast.errors import INTERNAL_ERROR, REQUEST_CANCELLED, InternalError, ToolError
from mcpfast.server._tasking import DEFAULT_TASK_WINDOW
from mcpfast.testing import async_test

ERAS = ["legacy", "2026-07-28"]
WHERE = ["inproc", "http"]
NAME_SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}}


class Probe:
    """What the tools saw (the test's loop runs them)."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.started = asyncio.Event()


def build(probe: Probe, poll_ms: int = 10, task_window: float = 0) -> MCPServer[Any]:
    # task_window=0: every optional call is a task (these tests are about the client's side of
    # tasks; test_the_immediate_result_window_* keep the server's default window)
    app = MCPServer("ctasks-e2e", task_window=task_window)

    @app.tool()
    def plain() -> str:
        return "plain"

    @app.tool(task="optional")
    async def work(ctx: Context, label: str = "x") -> str:
        await ctx.report_status("halfway")
        await asyncio.sleep(0.02)
        return f"done {label}"

    @app.tool(task="required")
    async def must() -> str:
        return "required ok"

    @app.tool(task="optional")
    async def ask(ctx: Context) -> str:
        answer = await ctx.elicit("Your name?", NAME_SCHEMA, key="name")
        return f"hello {answer.get('content', {}).get('name')}"

    @app.tool(task="optional")
    async def boom() -> str:
        raise InternalError("deep trouble")

    @app.tool(task="optional")
    async def oops() -> str:
        raise ToolError("bad input")

    @app.tool(task="optional")
    async def forever() -> str:
        probe.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            probe.cancelled.set()
            raise
        return "never"

    app.core.task_poll_interval_ms = poll_ms
    return app


@contextlib.asynccontextmanager
async def connected(where: str, era: str, app: MCPServer[Any], **kw: Any) -> AsyncIterator[Client]:
    if where == "inproc":
        async with Client(app, mode=era, **kw) as c:
            yield c
        return
    async with app.core.start("http", port=0) as server, Client(f"http://127.0.0.1:{server.port}/mcp",
                                                                mode=era, **kw) as c:
        yield c


def elicit_name(ctx: Any, params: Any) -> dict[str, Any]:
    return {"action": "accept", "content": {"name": "Ada"}}


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_a_plain_call_tool_gets_the_result(where: str, era: str) -> None:
    app = build(Probe())
    async with connected(where, era, app) as c:
        res = await c.call_tool("work", {"label": "L"})
        assert res.content[0].text == "done L" and res.is_error is False
        assert (await c.call_tool("plain")).content[0].text == "plain"
    # 2026-07-28: the server chose a task (the client declared the extension); 2025-11-25: no
    # task unless the client asks for one
    assert len(app.core.task_store) == (1 if era == "2026-07-28" else 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_a_required_task_tool_works_through_plain_call_tool(where: str, era: str) -> None:
    app = build(Probe())
    async with connected(where, era, app) as c:
        assert (await c.call_tool("must")).content[0].text == "required ok"
    assert len(app.core.task_store) == 1  # type: ignore[arg-type]
    async with connected(where, era, build(Probe()), tasks=False) as c:
        with pytest.raises(MCPError) as info:
            await c.call_tool("must")
        # 2026-07-28: the client did not declare the extension; 2025-11-25: not called as a task
        assert info.value.error.code == (-32021 if era == "2026-07-28" else -32601)
        # asked for explicitly, the task works all the same (its tasks/* declare the extension)
        task = await c.start_tool_task("must", listen=True)
        assert (await asyncio.wait_for(task.result(), 5)).content[0].text == "required ok"


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_the_handle_reports_statuses_and_the_result(where: str, era: str) -> None:
    seen: list[tuple[str, str | None]] = []
    async with connected(where, era, build(Probe())) as c:
        task = await c.start_tool_task("work", {"label": "H"}, on_status=lambda t: seen.append(
            (t.status, t.status_message)))
        assert task.task_id is not None and task.status == "working"
        res = await asyncio.wait_for(task.result(), 5)
        assert res.content[0].text == "done H" and task.status == "completed"
        required = await c.start_tool_task("must")
        assert (await required.result()).content[0].text == "required ok"
    assert seen[0][0] == "working" and seen[-1][0] == "completed"


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_input_from_inside_a_task(where: str, era: str) -> None:
    metas: list[str | None] = []

    def elicit(ctx: Any, params: Any) -> dict[str, Any]:
        metas.append(related_task_id(ctx.meta))
        return elicit_name(ctx, params)

    async with connected(where, era, build(Probe()), elicitation_callback=elicit) as c:
        task = await c.start_tool_task("ask")
        res = await asyncio.wait_for(task.result(), 5)
        assert res.content[0].text == "hello Ada"
        # the transparent path answers input the same way (2026-07-28: a server-created task)
        assert (await asyncio.wait_for(c.call_tool("ask"), 5)).content[0].text == "hello Ada"
    if era == "legacy":  # a server request tied to the task
        assert metas[0] == task.task_id
    else:  # an input request of the task's tasks/get, answered with tasks/update
        assert metas == [None, None]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_cancel_failure_and_tool_error(where: str, era: str) -> None:
    probe = Probe()
    async with connected(where, era, build(probe)) as c:
        task = await c.start_tool_task("forever")
        await asyncio.wait_for(probe.started.wait(), 5)
        await task.cancel()
        with pytest.raises(TaskCancelledError) as cancelled:
            await asyncio.wait_for(task.result(), 5)
        assert cancelled.value.error.code == REQUEST_CANCELLED
        await asyncio.wait_for(probe.cancelled.wait(), 5)
        failing = await c.start_tool_task("boom")
        with pytest.raises(MCPError) as failed:
            await asyncio.wait_for(failing.result(), 5)
        assert failed.value.error.code == INTERNAL_ERROR and "deep trouble" in failed.value.error.message
        bad = await asyncio.wait_for((await c.start_tool_task("oops")).result(), 5)
        assert bad.is_error is True and "bad input" in bad.content[0].text


@pytest.mark.parametrize("where", WHERE)
@async_test
async def test_cancelling_a_transparent_call_cancels_the_task(where: str) -> None:
    probe = Probe()
    async with connected(where, "2026-07-28", build(probe)) as c:
        waiter = asyncio.ensure_future(c.call_tool("forever"))
        await asyncio.wait_for(probe.started.wait(), 5)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await asyncio.wait_for(probe.cancelled.wait(), 5)  # tasks/cancel reached the tool


@pytest.mark.parametrize("where", WHERE)
@async_test
async def test_listen_ends_the_wait_without_polling(where: str) -> None:
    app = build(Probe(), poll_ms=60_000)  # polling alone would wait a minute
    events: list[str] = []
    async with connected(where, "2026-07-28", app, elicitation_callback=elicit_name) as c:
        task = await c.start_tool_task("ask", listen=True, on_status=lambda t: events.append(t.status))
        res = await asyncio.wait_for(task.result(), 5)
        assert res.content[0].text == "hello Ada"
    assert events[-1] == "completed" and "input_required" in events


@pytest.mark.parametrize("where", WHERE)
@async_test
async def test_legacy_experimental_list_and_get(where: str) -> None:
    async with connected(where, "legacy", build(Probe())) as c:
        created = await c.experimental.call_tool_as_task("work", {"label": "E"}, ttl=60_000)
        tid = created.task.task_id
        res = await asyncio.wait_for(c.experimental.get_task_result(tid), 5)
        assert res.content[0].text == "done E"
        assert (await c.experimental.get_task(tid)).status == "completed"
        assert tid in [t.task_id for t in (await c.experimental.list_tasks()).tasks]


@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
def test_cli_call_task_over_http(capsys: pytest.CaptureFixture[str], era: str) -> None:
    from mcpfast.cli import main

    from ..support.served import ServedInThread

    served = ServedInThread(build(Probe()).core, "http")
    try:
        code = main(["call", "--task", "--mode", era, served.url, "work", "label=cli"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "done cli" in out
        lines = err.splitlines()
        assert lines[0].startswith("task ") and lines[0].endswith(": working")
        assert lines[-1].split(": ", 1)[1].startswith("completed")
        code = main(["call", "--task", "--mode", era, served.url, "boom"])
        out, err = capsys.readouterr()
        assert code == 1 and "deep trouble" in err
    finally:
        served.close()


@pytest.mark.parametrize("where", WHERE)
@async_test
async def test_after_discover_the_transparent_call_listens(where: str) -> None:
    # the server declared the extension in server/discover (mode "auto" probes it): call_tool
    # subscribes to the task's notifications, so a 60 s poll interval does not delay the end
    app = build(Probe(), poll_ms=60_000)
    async with connected(where, "auto", app) as c:
        assert c.protocol_version == "2026-07-28"
        res = await asyncio.wait_for(c.call_tool("work", {"label": "fast"}), 5)
        assert res.content[0].text == "done fast"
    assert len(app.core.task_store) == 1  # type: ignore[arg-type]


@pytest.mark.parametrize("where", WHERE)
@async_test
async def test_the_immediate_result_window_answers_fast_calls_without_a_task(where: str) -> None:
    # the server's default window: "work" (20 ms) ends inside it, so call_tool and
    # start_tool_task get the plain result and no task is made; "ask" becomes a task as soon as
    # it asks for input (answered through tasks/update); "forever" becomes one when the window ends
    probe = Probe()
    app = build(probe, task_window=DEFAULT_TASK_WINDOW)
    async with connected(where, "2026-07-28", app, elicitation_callback=elicit_name) as c:
        res = await c.call_tool("work", {"label": "W"})
        assert res.content[0].text == "done W"
        handle = await c.start_tool_task("work", {"label": "S"})
        assert handle.task_id is None and handle.status == "completed"
        assert (await handle.result()).content[0].text == "done S"
        assert len(app.core.task_store) == 0  # type: ignore[arg-type]
        asked = await c.start_tool_task("ask")
        assert asked.task_id is not None
        assert (await asyncio.wait_for(asked.result(), 5)).content[0].text == "hello Ada"
        long = await c.start_tool_task("forever")
        assert long.task_id is not None and probe.started.is_set()
        await long.cancel()
        await asyncio.wait_for(probe.cancelled.wait(), 5)  # the tool that ran in the window is the task
        assert len(app.core.task_store) == 2  # type: ignore[arg-type]
