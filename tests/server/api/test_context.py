"""``Context`` injected by annotation, in both eras."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp.server.mcpserver import Context as SDKContext
from mcp.server.mcpserver.tools import Tool as SDKTool
from pydantic import BaseModel

from mcpfast import Context, MCPServer, requestvars
from mcpfast.errors import McpError
from mcpfast.testing import async_test

from .harness import ERAS, connect, text


class Booking(BaseModel):
    date: str
    seats: int = 1


@contextlib.asynccontextmanager
async def lifespan(app: MCPServer) -> AsyncIterator[dict[str, Any]]:
    yield {"db": "connected", "app": app.name}


def build() -> MCPServer:
    app = MCPServer("ctx", lifespan=lifespan)

    @app.tool()
    async def logs(ctx: Context) -> str:
        await ctx.debug("d")
        await ctx.info("i", logger_name="lg")
        ctx.warning({"w": 1})
        await ctx.error("e")
        await ctx.report_progress(1, 2, "half")
        await ctx.report_progress(2, 2)
        return "logged"

    @app.tool()
    def sync_logs(n: int, context: Context) -> str:  # runs in the pool first: notifications cross threads
        context.info(f"sync {n}")
        context.report_progress(n, n)
        return "ok"

    @app.tool()
    async def book(ctx: Context) -> str:
        res = await ctx.elicit("When?", Booking)
        if res.action != "accept":
            return res.action
        return f"{res.data.date} x{res.data.seats} ({type(res.data).__name__})"

    @app.tool()
    async def ask_raw(ctx: Context) -> str:
        res = await ctx.elicit("Name?", {"type": "object", "properties": {"name": {"type": "string"}}})
        return f"{res['action']}:{res.content['name']}"

    @app.tool()
    async def sample(topic: str, ctx: Context) -> str:
        from mcp_types import SamplingMessage, TextContent

        result = await ctx.session.create_message(
            messages=[SamplingMessage(role="user", content=TextContent(type="text", text=f"About {topic}"))],
            max_tokens=50, system_prompt="Be brief")
        return result.content.text

    @app.tool()
    async def facts(ctx: Context[Any, Any]) -> dict[str, Any]:
        rc = ctx.request_context
        return {"id": ctx.request_id, "lifespan": rc.lifespan_context, "server": ctx.mcp_server.name,
                "fastmcp": ctx.fastmcp is ctx.mcp_server, "http": rc.request is None, "meta_x": (ctx.meta or {}).get("x"),
                "client_id": ctx.client_id, "version": ctx.protocol_version}

    @app.resource("notes://{name}")
    def note(name: str) -> str:
        return f"note {name}"

    @app.tool()
    async def reads(ctx: Context) -> str:
        [c] = await ctx.read_resource("notes://a")
        return f"{c.content}|{c.mime_type}"

    @app.tool()
    async def closes(ctx: Context) -> str:
        await ctx.close_sse_stream()
        await ctx.request_context.close_sse_stream()
        return "closed"

    return app


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_logging_and_progress(era: str) -> None:
    app = build()
    meta = {"io.modelcontextprotocol/logLevel": "debug"} if era == "modern" else {}
    async with app.lifespan_context(), connect(app, era, meta=meta) as s:
        res = await s.tool("logs", progressToken="tok")
        assert text(res) == "logged"
        logs = s.client.notifications("notifications/message")
        assert [(m["level"], m["data"], m.get("logger")) for m in logs] == [
            ("debug", "d", None), ("info", "i", "lg"), ("warning", {"w": 1}, None), ("error", "e", None)]
        progress = s.client.notifications("notifications/progress")
        assert progress == [{"progressToken": "tok", "progress": 1, "total": 2, "message": "half"},
                            {"progressToken": "tok", "progress": 2, "total": 2}]
        res = await s.tool("sync_logs", {"n": 3}, progressToken=7)
        assert text(res) == "ok"
        assert s.client.notifications("notifications/message")[-1]["data"] == "sync 3"
        assert s.client.notifications("notifications/progress")[-1] == {"progressToken": 7, "progress": 3, "total": 3}


@async_test
async def test_modern_logging_needs_the_log_level_opt_in() -> None:
    async with connect(build(), "modern") as s:
        await s.tool("logs")
        assert s.client.notifications("notifications/message") == []


@async_test
async def test_elicitation_legacy_is_a_server_to_client_request() -> None:
    answers = iter([{"action": "accept", "content": {"date": "2026-01-01", "seats": 2}},
                    {"action": "decline"},
                    {"action": "accept", "content": {"name": "Ann"}}])
    async with connect(build(), "legacy", caps={"elicitation": {}},
                       handlers={"elicitation/create": lambda p: next(answers)}) as s:
        assert text(await s.tool("book")) == "2026-01-01 x2 (Booking)"
        method, params = s.client.asked[0]
        assert method == "elicitation/create" and params["mode"] == "form" and params["message"] == "When?"
        assert params["requestedSchema"]["properties"]["seats"]["type"] == "integer"
        assert params["requestedSchema"]["required"] == ["date"]
        assert text(await s.tool("book")) == "decline"
        assert text(await s.tool("ask_raw")) == "accept:Ann"


@async_test
async def test_elicitation_needs_the_client_capability() -> None:
    async with connect(build(), "legacy") as s:
        with pytest.raises(McpError) as info:
            await s.tool("book")
        assert info.value.code == -32021


@async_test
async def test_elicitation_modern_is_a_multi_round_trip() -> None:
    async with connect(build(), "modern", caps={"elicitation": {}}) as s:
        asked: list[Any] = []

        def answer(key: str, req: Any) -> Any:
            asked.append((key, req["method"]))
            return {"action": "accept", "content": {"date": "d", "seats": 5}}

        res = await s.tool_mrtr("book", {}, answer)
        assert text(res) == "d x5 (Booking)" and res["resultType"] == "complete"
        assert asked == [("elicitation", "elicitation/create")]


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_sampling_through_ctx_session(era: str) -> None:
    def sampled(params: Any) -> Any:
        assert params["systemPrompt"] == "Be brief" and params["maxTokens"] == 50
        msg = params["messages"][0]
        return {"role": "assistant", "content": {"type": "text", "text": "echo: " + msg["content"]["text"]},
                "model": "m", "stopReason": "endTurn"}

    async with connect(build(), era, caps={"sampling": {}}, handlers={"sampling/createMessage": sampled}) as s:
        if era == "legacy":
            res = await s.tool("sample", {"topic": "owls"})
        else:
            res = await s.tool_mrtr("sample", {"topic": "owls"}, lambda k, r: sampled(r["params"]))
        assert text(res) == "echo: About owls"


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_request_facts_and_lifespan(era: str) -> None:
    app = build()
    async with app.lifespan_context(), connect(app, era) as s:
        res = await s.call("tools/call", {"name": "facts", "arguments": {}, "_meta": {"x": "y"}})
        sc = res["structuredContent"]
        assert isinstance(sc["id"], int)
        assert sc["lifespan"] == {"db": "connected", "app": "ctx"} and sc["server"] == "ctx" and sc["fastmcp"]
        assert sc["http"] is True and sc["meta_x"] == "y" and sc["client_id"] is None
        assert sc["version"] == ("2025-11-25" if era == "legacy" else "2026-07-28")
    assert app.core.lifespan_state is None  # the lifespan ended


@async_test
async def test_read_resource_from_a_tool() -> None:
    async with connect(build()) as s:
        assert text(await s.tool("reads")) == "note a|text/plain"


@async_test
async def test_close_sse_stream_uses_the_stream_control_variable() -> None:
    closed: list[str] = []

    class Control:
        def close_sse_stream(self) -> None:
            closed.append("post")

        def close_standalone_sse_stream(self) -> None:
            closed.append("get")

    app = build()
    async with connect(app) as s:
        assert text(await s.tool("closes")) == "closed"  # no stream: a no-op
        assert closed == []
        token = requestvars.stream_control.set(Control())
        try:
            assert text(await s.tool("closes")) == "closed"
        finally:
            requestvars.stream_control.reset(token)
    assert closed == ["post", "post"]


def test_context_is_excluded_from_the_schema_whatever_its_name() -> None:
    app = build()
    assert app.core.tools["sync_logs"].context_kwarg == "context"
    assert app.core.tools["facts"].context_kwarg == "ctx"
    assert "context" not in app.core.tools["sync_logs"].entry["inputSchema"]["properties"]
    assert Context[int, str] is Context


@async_test
async def test_the_sdks_context_annotation_and_tool_objects_work_too() -> None:
    def who(ctx: SDKContext) -> str:  # type: ignore[type-arg]
        return type(ctx).__name__

    def plain(x: int) -> int:
        return x

    app = MCPServer("sdk", tools=[SDKTool.from_function(plain, name="plain2"), who])
    assert app.core.tools["who"].context_kwarg == "ctx"
    assert set(app.core.tools) == {"plain2", "who"}
    async with connect(app) as s:
        assert text(await s.tool("who")) == "Context"
        assert text(await s.tool("plain2", {"x": 3})) == "3"
