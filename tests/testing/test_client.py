"""``mcpfast.testing.Client``: an in-process MCP client through the real codec, both eras."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from mcpfast import Context, MCPServer
from mcpfast.errors import McpError, ToolError
from mcpfast.server import ServerCore
from mcpfast.testing import ERAS, LEGACY, MODERN, Client, async_test, text_of

from ..support.callbacks import add_callback_tools

SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo"


def make_app(events: list[str] | None = None) -> MCPServer:
    @asynccontextmanager
    async def lifespan(server: MCPServer) -> AsyncIterator[dict[str, str]]:
        if events is not None:
            events.append("start")
        yield {"db": "up"}
        if events is not None:
            events.append("stop")

    app = MCPServer("testing-demo", version="3.1", instructions="For the test client.", lifespan=lifespan)

    @app.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @app.tool()
    def fail() -> str:
        raise ToolError("nope")

    @app.tool()
    def db(ctx: Context) -> str:
        return str(ctx.request_context.lifespan_context["db"])

    add_callback_tools(app)

    @app.tool()
    async def progress(steps: int, ctx: Context) -> str:
        await ctx.info("starting")
        await ctx.debug("details")
        for i in range(steps):
            await ctx.report_progress(i + 1, steps, f"step {i + 1}")
        return "done"

    @app.tool()
    async def sleepy(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "awake"

    @app.resource("demo://static", mime_type="text/plain")
    def static() -> str:
        return "static text"

    @app.resource("demo://items/{item}")
    def item(item: str) -> str:
        return f"item {item}"

    @app.prompt()
    def greet(name: str, polite: bool = False) -> str:
        """Greet someone."""
        return f"{'Dear' if polite else 'Hi'} {name}"

    @app.completion()
    def complete(ref: Any, argument: Any, context: Any) -> list[str]:
        return [n for n in ("alice", "bob", "bert") if n.startswith(argument.value)]

    return app


@pytest.mark.parametrize("version", ERAS)
@async_test
async def test_handshake_and_identity(version: str) -> None:
    async with Client(make_app(), protocol_version=version) as c:
        assert c.connected and c.protocol_version == version
        assert c.server_info == {"name": "testing-demo", "version": "3.1"}
        assert c.instructions == "For the test client."
        assert {"tools", "resources", "prompts", "completions"} <= set(c.server_capabilities)
        assert repr(c) == f"<mcpfast.testing.Client connected at {version}>"
    assert not c.connected
    with pytest.raises(RuntimeError, match="not connected"):
        await c.list_tools()


@async_test
async def test_auto_probes_and_picks_the_stateless_era() -> None:
    async with Client(make_app(), protocol_version="auto") as c:
        assert c.protocol_version == MODERN
        assert c.session.handshake is not None and c.session.handshake["supportedVersions"] == [MODERN]


@pytest.mark.parametrize("version", ERAS)
@async_test
async def test_tools(version: str) -> None:
    async with Client(make_app(), protocol_version=version) as c:
        listed = await c.list_tools()
        names = [t["name"] for t in listed["tools"]]
        assert names[:2] == ["add", "fail"] and "nextCursor" not in listed
        assert ("resultType" in listed) == (version == MODERN)
        res = await c.call_tool("add", {"a": 2, "b": 40})
        assert res["structuredContent"] == {"result": 42} and text_of(res) == "42"
        assert res.get("isError") is not True
        if version == MODERN:  # results are returned as received
            assert res["resultType"] == "complete" and res["_meta"][SERVER_INFO_KEY]["name"] == "testing-demo"
        failed = await c.call_tool("fail")
        assert failed["isError"] is True and text_of(failed) == "nope"
        assert text_of(await c.call_tool("db")) == "up"  # the lifespan ran


@pytest.mark.parametrize("version", ERAS)
@async_test
async def test_errors_raise_mcp_error(version: str) -> None:
    async with Client(make_app(), protocol_version=version) as c:
        # bad arguments are a tool result (SEP-1303, MCPServer's default), not a JSON-RPC error
        res = await c.call_tool("add", {"a": 1})
        assert res["isError"] is True and "'b'" in text_of(res)
        with pytest.raises(McpError) as info:
            await c.read_resource("demo://missing/thing")
        assert info.value.code == (-32002 if version == LEGACY else -32602)
        with pytest.raises(McpError) as info:
            await c.request("no/such/method")
        assert info.value.code == -32601


@async_test
async def test_raise_on_error() -> None:
    async with Client(make_app(), raise_on_error=True) as c:
        with pytest.raises(ToolError, match="^nope$") as info:
            await c.call_tool("fail")
        assert info.value.result["isError"] is True  # type: ignore[attr-defined]
        assert (await c.call_tool("fail", raise_on_error=False))["isError"] is True
    async with Client(make_app()) as c:
        with pytest.raises(ToolError):
            await c.call_tool("fail", raise_on_error=True)


@pytest.mark.parametrize("version", ERAS)
@async_test
async def test_resources_prompts_completion(version: str) -> None:
    async with Client(make_app(), protocol_version=version) as c:
        [static] = (await c.list_resources())["resources"]
        assert static["uri"] == "demo://static" and static["mimeType"] == "text/plain"
        [tmpl] = (await c.list_resource_templates())["resourceTemplates"]
        assert tmpl["uriTemplate"] == "demo://items/{item}"
        assert (await c.read_resource("demo://static"))["contents"] == [
            {"uri": "demo://static", "text": "static text", "mimeType": "text/plain"}]
        [contents] = (await c.read_resource("demo://items/7"))["contents"]
        assert contents["text"] == "item 7"
        [prompt] = (await c.list_prompts())["prompts"]
        assert prompt["name"] == "greet" and prompt["description"] == "Greet someone."
        got = await c.get_prompt("greet", {"name": "Ann", "polite": "true"})
        assert got["messages"] == [{"role": "user", "content": {"type": "text", "text": "Dear Ann"}}]
        done = await c.complete({"type": "ref/prompt", "name": "greet"}, {"name": "name", "value": "b"})
        assert done["completion"]["values"] == ["bob", "bert"]


@pytest.mark.parametrize("version", ERAS)
@async_test
async def test_callbacks_answer_input_requests(version: str) -> None:
    # legacy: the server sends elicitation/create, sampling/createMessage, roots/list requests;
    # 2026-07-28: it answers InputRequiredResult and the client retries with inputResponses
    asked: list[dict[str, Any]] = []

    async def elicit(params: dict[str, Any]) -> dict[str, Any]:
        asked.append(params)
        return {"action": "accept", "content": {"name": "Zoe"}}

    def sampling(params: dict[str, Any]) -> dict[str, Any]:
        assert params["maxTokens"] == 5
        return {"role": "assistant", "content": {"type": "text", "text": "hi!"}, "model": "fake"}

    def roots(params: dict[str, Any]) -> dict[str, Any]:
        return {"roots": [{"uri": "file:///tmp/a"}, {"uri": "file:///tmp/b"}]}

    async with Client(make_app(), protocol_version=version, elicitation_callback=elicit,
                      sampling_callback=sampling, list_roots_callback=roots) as c:
        assert c.session.capabilities == {"sampling": {}, "elicitation": {"form": {}, "url": {}},
                                          "roots": {"listChanged": True}}
        assert text_of(await c.call_tool("ask_name")) == "hello Zoe"
        assert asked[0]["message"] == "Your name?"
        assert text_of(await c.call_tool("sample")) == "hi!"
        assert (await c.call_tool("roots"))["structuredContent"] == {"result": ["file:///tmp/a", "file:///tmp/b"]}
        methods = [m for m, _ in c.server_requests]
        assert methods == ([] if version == MODERN else ["elicitation/create", "sampling/createMessage", "roots/list"])


@pytest.mark.parametrize("version", ERAS)
@async_test
async def test_missing_callback(version: str) -> None:
    async with Client(make_app(), protocol_version=version) as c:
        # no elicitation capability declared: the server refuses before asking
        with pytest.raises(McpError) as info:
            await c.call_tool("ask_name")
        assert info.value.code == -32021
    async with Client(make_app(), protocol_version=version, capabilities={"elicitation": {}}) as c:
        # declared by hand but no callback: the client cannot answer
        if version == MODERN:
            with pytest.raises(McpError) as info:
                await c.call_tool("ask_name")
            assert info.value.code == -32601 and "elicitation/create" in info.value.message
        else:
            res = await c.call_tool("ask_name")
            assert res["isError"] is True and "elicitation/create" in text_of(res)


@pytest.mark.parametrize("version", ERAS)
@async_test
async def test_progress_logging_and_notifications(version: str) -> None:
    logs: list[Any] = []
    seen: list[str] = []

    async def handler(method: str, params: Any) -> None:
        seen.append(method)

    async with Client(make_app(), protocol_version=version, logging_callback=logs.append,
                      message_handler=handler, log_level="info") as c:
        await c.set_logging_level("info")
        steps: list[tuple[float, float | None, str | None]] = []
        res = await c.call_tool("progress", {"steps": 2}, progress_callback=lambda p, t, m: steps.append((p, t, m)))
        assert text_of(res) == "done"
        assert steps == [(1, 2, "step 1"), (2, 2, "step 2")]
        assert logs == [{"level": "info", "data": "starting"}]  # debug is below the level
        assert c.notifications_of("notifications/message") == logs
        assert len(c.notifications_of("notifications/progress")) == 2
        assert seen == [m for m, _ in c.notifications]


@async_test
async def test_legacy_only_requests() -> None:
    async with Client(make_app()) as c:
        assert await c.send_ping() == {}
        assert await c.subscribe_resource("demo://static") == {}
        assert await c.unsubscribe_resource("demo://static") == {}
        await c.send_roots_list_changed()
        discovered = await c.discover()  # dual-era servers answer it on a session's connection too
        assert discovered["supportedVersions"] == [MODERN]
    async with Client(make_app(), protocol_version=MODERN) as c:
        with pytest.raises(McpError) as info:
            await c.send_ping()
        assert info.value.code == -32601


@async_test
async def test_list_changed_notification() -> None:
    app = make_app()
    async with Client(app) as c:
        app.add_tool(lambda: "x", name="late")
        await c.session.wait_idle()
        assert c.notifications_of("notifications/tools/list_changed") == [None]
        assert "late" in [t["name"] for t in (await c.list_tools())["tools"]]


@async_test
async def test_read_timeout() -> None:
    async with Client(make_app(), read_timeout=0.05) as c:
        with pytest.raises(McpError) as info:
            await c.call_tool("sleepy", {"seconds": 5})
        assert info.value.code == -32001
        assert text_of(await c.call_tool("sleepy", {"seconds": 0}, read_timeout=5)) == "awake"


@async_test
async def test_lifespan_runs_once_per_connection_and_nesting() -> None:
    events: list[str] = []
    app = make_app(events)
    client = Client(app)
    async with client as c:
        async with client as again:  # entering a connected client is a no-op
            assert again is c
        assert c.connected and events == ["start"]
    assert events == ["start", "stop"] and not client.connected
    async with Client(app, lifespan=False) as c:
        assert events == ["start", "stop"]


@pytest.mark.parametrize("version", ERAS)
@async_test
async def test_a_bare_server_core(version: str) -> None:
    core = ServerCore("core", "1.0")
    core.add_tool("echo", lambda message: message, input_schema={
        "type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]})
    async with Client(core, protocol_version=version) as c:
        assert c.server_info == {"name": "core", "version": "1.0"}
        assert text_of(await c.call_tool("echo", {"message": "raw"})) == "raw"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="Unknown protocol_version '1999-01-01'"):
        Client(make_app(), protocol_version="1999-01-01")
    with pytest.raises(TypeError, match="needs an MCPServer or a ServerCore, got int"):
        Client(3)


def test_text_of() -> None:
    assert text_of({"content": [{"type": "text", "text": "a"}, {"type": "image", "data": ""},
                                {"type": "text", "text": "b"}]}) == "ab"
    assert text_of({"content": {"type": "text", "text": "one"}}) == "one"
    assert text_of({}) == ""


@async_test
async def test_auto_falls_back_to_a_session_on_a_legacy_only_server() -> None:
    core = ServerCore("old", "1.0")
    core.modern_versions = ()  # speaks no 2026-07-28: server/discover is refused (-32022)
    async with Client(core, protocol_version="auto") as c:
        assert c.protocol_version == LEGACY
        assert c.server_info == {"name": "old", "version": "1.0"}


@async_test
async def test_several_input_rounds() -> None:
    app = MCPServer("rounds")

    @app.tool()
    async def survey(ctx: Context) -> str:
        first = await ctx.elicit("first?", {"type": "object", "properties": {"v": {"type": "string"}}}, key="a")
        second = await ctx.elicit("second?", {"type": "object", "properties": {"v": {"type": "string"}}}, key="b")
        return f"{first.content['v']}+{second.content['v']}"

    answers = iter(["one", "two", "three", "four"])
    asked: list[str] = []

    def elicit(params: dict[str, Any]) -> dict[str, Any]:
        asked.append(params["message"])
        return {"action": "accept", "content": {"v": next(answers)}}

    async with Client(app, protocol_version=MODERN, elicitation_callback=elicit) as c:
        assert text_of(await c.call_tool("survey")) == "one+two"
        assert asked == ["first?", "second?"]  # each asked once, the first answer carried along
    async with Client(app, protocol_version=MODERN, elicitation_callback=elicit, max_input_rounds=1) as c:
        with pytest.raises(McpError, match="still needs input after 1 rounds"):
            await c.call_tool("survey")


def test_notification_record_is_bounded() -> None:
    from types import SimpleNamespace

    from mcpfast.client import ClientHandlers

    h = ClientHandlers(keep_notifications=3)
    for i in range(5):
        h.on_notification(None, SimpleNamespace(method=f"n/{i}", params=None))  # type: ignore[arg-type]
    assert [m for m, _ in h.notifications] == ["n/2", "n/3", "n/4"]
    none = ClientHandlers(keep_notifications=0)
    none.on_notification(None, SimpleNamespace(method="n", params=None))  # type: ignore[arg-type]
    assert list(none.notifications) == []
