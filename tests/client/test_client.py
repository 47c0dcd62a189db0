"""``mcpfast.Client`` against mcpfast's server in process (the real codec), both eras.

The server is ``tests/interop/server_app.py``'s ``ServerCore`` (tools, resources, a template,
a prompt, completions) or a small ``MCPServer`` for the callbacks. Every scenario that both
eras share runs in both: ``legacy`` (the ``initialize`` handshake) and ``2026-07-28`` (the
``_meta`` envelope; ``auto`` probes and lands there with our server).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import mcpfast
from mcpfast import Client, Context, MCPError, MCPServer
from mcpfast.client.cache import CacheConfig
from mcpfast.client.results import CallToolResult, ListToolsResult, TextContent
from mcpfast.client.session import InputRequiredRoundsExceededError
from mcpfast.client.subscriptions import (
    SUBSCRIPTION_ID_KEY,
    ResourceUpdated,
    SubscriptionFilter,
    SubscriptionLost,
    ToolsListChanged,
)
from mcpfast.errors import McpError
from mcpfast.server import ServerCore
from mcpfast.testing import async_test
from mcpfast.wire import jsonrpc

from ..interop import server_app
from ..support.callbacks import add_callback_tools

MODES = ["legacy", "2026-07-28"]


def make_app() -> MCPServer:
    app = MCPServer("callbacks", instructions="Ask away.")

    add_callback_tools(app)

    @app.tool()
    async def chatty(ctx: Context) -> str:
        await ctx.info("starting")
        await ctx.report_progress(1, 2, "half")
        await ctx.report_progress(2, 2, "done")
        return "ok"

    @app.tool()
    async def survey(ctx: Context) -> str:
        first = await ctx.elicit("first?", {"type": "object", "properties": {"v": {"type": "string"}}}, key="a")
        second = await ctx.elicit("second?", {"type": "object", "properties": {"v": {"type": "string"}}}, key="b")
        return f"{first.content['v']}+{second.content['v']}"

    return app


def test_the_public_names() -> None:
    assert mcpfast.Client is Client
    assert mcpfast.MCPError is MCPError and issubclass(MCPError, McpError)
    assert mcpfast.StdioServerParameters("python", ["x.py"]).args == ["x.py"]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="mode must be"):
        Client(server_app.build(), mode="1999-01-01")
    with pytest.raises(TypeError, match="sequence of extension objects"):
        Client(server_app.build(), extensions={"x": {}})  # type: ignore[arg-type]


@async_test
async def test_an_unknown_target_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="cannot connect to a int"):
        async with Client(3):
            pass
    with pytest.raises(ValueError, match="no MCP client transport"):
        async with Client("gopher://example"):
            pass


@pytest.mark.parametrize("mode", MODES)
@async_test
async def test_tools_with_the_sdk_names(mode: str) -> None:
    async with Client(server_app.build(), mode=mode) as c:
        assert c.protocol_version == ("2025-11-25" if mode == "legacy" else mode)
        listed = await c.list_tools()
        assert isinstance(listed, ListToolsResult) and listed.next_cursor is None
        by_name = {t.name: t for t in listed.tools}
        assert by_name["echo"].input_schema["required"] == ["message"]
        assert by_name["echo"].output_schema is None and by_name["echo"].description == "Return the message unchanged."
        assert by_name["add"].output_schema == server_app.ADD_OUTPUT_SCHEMA

        res = await c.call_tool("add", {"a": 2, "b": 3})
        assert isinstance(res, CallToolResult) and res.is_error is False
        assert res.structured_content == {"sum": 5, "operands": [2, 3]}
        assert isinstance(res.content[0], TextContent) and res.content[0].type == "text"
        assert res.content is res.content  # wrapped once, kept

        echoed = await c.call_tool("echo", {"message": "hi"})
        assert echoed.content[0].text == "hi" and echoed.structured_content is None

        bad = await c.call_tool("add", {"a": "x", "b": 1})  # bad arguments: a result, not an exception
        assert bad.is_error is True and bad.content[0].text
        failed = await c.call_tool("fail", {"reason": "because"})
        assert failed.is_error is True


@pytest.mark.parametrize("mode", ["legacy", "auto", "2026-07-28"])
@async_test
async def test_identity_and_capabilities(mode: str) -> None:
    async with Client(server_app.build(), mode=mode) as c:
        caps = c.server_capabilities
        if mode == "2026-07-28":  # pinned without a probe: nothing known yet, as the SDK
            assert c.server_info is None and caps.tools is None
            return
        assert c.server_info is not None
        assert (c.server_info.name, c.server_info.version) == (server_app.SERVER_NAME, server_app.SERVER_VERSION)
        assert c.instructions == server_app.INSTRUCTIONS
        assert caps.tools is not None and caps.prompts is not None and caps.resources is not None
        assert c.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
        assert c.session.handshake is not None


@async_test
async def test_prior_discover_is_adopted() -> None:
    prior = {"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {"listChanged": True}},
             "instructions": "from before", "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "s", "version": "1"}}}
    async with Client(server_app.build(), mode="2026-07-28", prior_discover=prior) as c:
        assert c.instructions == "from before" and c.server_info is not None and c.server_info.name == "s"
        assert c.server_capabilities.tools is not None and c.server_capabilities.tools.list_changed is True
        assert (await c.call_tool("echo", {"message": "x"})).content[0].text == "x"


@pytest.mark.parametrize("mode", MODES)
@async_test
async def test_errors_raise_mcp_error(mode: str) -> None:
    async with Client(server_app.build(), mode=mode) as c:
        with pytest.raises(MCPError) as info:
            await c.get_prompt("nope")
        assert info.value.error.code == -32602 and "nope" in info.value.error.message
        assert str(info.value) == info.value.message
        with pytest.raises(MCPError) as missing:
            await c.session.request("no/such/method")
        assert missing.value.code == -32601
        with pytest.raises(MCPError):
            await c._request("no/such/method")  # noqa: SLF001 - the conversion every method shares


@pytest.mark.parametrize("mode", MODES)
@async_test
async def test_resources_prompts_completion(mode: str) -> None:
    async with Client(server_app.build(), mode=mode) as c:
        resources = await c.list_resources()
        assert [r.uri for r in resources.resources] == ["test://static"]
        assert resources.resources[0].mime_type == "text/plain"
        templates = await c.list_resource_templates()
        assert templates.resource_templates[0].uri_template == "test://item/{id}"
        read = await c.read_resource("test://static")
        assert read.contents[0].text == "static content" and read.contents[0].uri == "test://static"
        prompts = await c.list_prompts()
        greet = prompts.prompts[0]
        assert greet.name == "greet" and greet.arguments is not None and greet.arguments[0].required is True
        got = await c.get_prompt("greet", {"name": "Ada"})
        assert got.messages[0].role == "user" and got.messages[0].content.text == "Hello, Ada!"
        done = await c.complete({"type": "ref/prompt", "name": "greet"}, {"name": "name", "value": "al"})
        assert done.completion.values == ["alice", "alfred"]


@pytest.mark.parametrize("mode", MODES)
@async_test
async def test_callbacks_with_the_sdk_signatures(mode: str) -> None:
    seen: list[tuple[str, Any]] = []

    async def elicit(ctx: Any, params: Any) -> dict[str, Any]:
        seen.append(("elicit", params.message))
        assert ctx.session is c.session
        return {"action": "accept", "content": {"name": "Ada"}}

    async def sample(ctx: Any, params: Any) -> Any:
        seen.append(("sample", params.max_tokens))
        # a result built with the SDK's own types works as well as a dict
        import mcp_types
        return mcp_types.CreateMessageResult(role="assistant", content=mcp_types.TextContent(type="text", text="hi!"),
                                             model="m")

    async def roots(ctx: Any) -> dict[str, Any]:
        seen.append(("roots", None))
        return {"roots": [{"uri": "file:///tmp", "name": "tmp"}]}

    async with Client(make_app(), mode=mode, elicitation_callback=elicit, sampling_callback=sample,
                      list_roots_callback=roots) as c:
        # (and the Tasks extension, which Client declares unless tasks=False)
        assert set(c.session.capabilities) == {"sampling", "elicitation", "roots", "extensions"}
        assert (await c.call_tool("ask_name")).content[0].text == "hello Ada"
        assert (await c.call_tool("sample")).content[0].text == "hi!"
        assert (await c.call_tool("roots")).structured_content == {"result": ["file:///tmp"]}
    assert seen == [("elicit", "Your name?"), ("sample", 5), ("roots", None)]


@pytest.mark.parametrize("mode", MODES)
@async_test
async def test_an_error_data_answer_is_an_error(mode: str) -> None:
    from mcpfast.errors import ErrorData

    async def elicit(ctx: Any, params: Any) -> Any:
        return ErrorData(-32600, "no elicitation today")

    async with Client(make_app(), mode=mode, elicitation_callback=elicit) as c:
        if mode == "legacy":  # the server got an error response to its request: the tool failed
            assert (await c.call_tool("ask_name")).is_error is True
        else:  # 2026-07-28: the callback's error ends the call here, as the SDK
            with pytest.raises(MCPError, match="no elicitation today"):
                await c.call_tool("ask_name")


@async_test
async def test_input_rounds_are_bounded() -> None:
    answers = iter(["one", "two", "three"])

    def elicit(ctx: Any, params: Any) -> dict[str, Any]:
        return {"action": "accept", "content": {"v": next(answers)}}

    async with Client(make_app(), mode="2026-07-28", elicitation_callback=elicit) as c:
        assert (await c.call_tool("survey")).content[0].text == "one+two"
    async with Client(make_app(), mode="2026-07-28", elicitation_callback=elicit, input_required_max_rounds=1) as c:
        with pytest.raises(InputRequiredRoundsExceededError, match="after 1 rounds"):
            await c.call_tool("survey")


@pytest.mark.parametrize("mode", MODES)
@async_test
async def test_progress_logging_and_message_handler(mode: str) -> None:
    logs: list[Any] = []
    messages: list[Any] = []
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_log(params: Any) -> None:
        logs.append((params.level, params.data))

    async def on_message(message: Any) -> None:
        messages.append(message)

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append((p, total, message))

    async with Client(make_app(), mode=mode, logging_callback=on_log, message_handler=on_message,
                      log_level="debug") as c:
        if mode == "legacy":
            await c.set_logging_level("debug")
        res = await c.call_tool("chatty", progress_callback=on_progress)
        assert res.content[0].text == "ok"
        for _ in range(5):
            await asyncio.sleep(0)
    assert progress == [(1, 2, "half"), (2, 2, "done")]
    assert logs == [("info", "starting")]
    kinds = [type(m).__name__ for m in messages]
    assert "LoggingMessageNotification" in kinds
    log_note = next(m for m in messages if m.method == "notifications/message")
    assert log_note.params.level == "info"


@async_test
async def test_the_response_cache_honours_ttl() -> None:
    core = server_app.build()
    now = [100.0]
    calls: list[str] = []
    real = core.on_request

    def counting(peer: Any, req: Any) -> Any:
        calls.append(req.method)
        return real(peer, req)

    core.on_request = counting  # type: ignore[method-assign]
    core.ttl_ms = core.resource_ttl_ms = 5000
    async with Client(core, mode="2026-07-28", cache=CacheConfig(clock=lambda: now[0])) as c:
        first = await c.list_tools()
        assert first.ttl_ms == 5000
        again = await c.list_tools()
        assert again.tools[0].name == first.tools[0].name
        assert calls.count("tools/list") == 1  # served from the cache
        await c.list_tools(cache_mode="refresh")
        await c.list_tools(cache_mode="bypass")
        assert calls.count("tools/list") == 3
        now[0] += 6  # past ttlMs: asked again
        await c.list_tools()
        assert calls.count("tools/list") == 4
        await c.read_resource("test://static")
        await c.read_resource("test://static")
        assert calls.count("resources/read") == 1
        await c.read_resource("test://static", meta={"k": 1})  # meta: always asked
        assert calls.count("resources/read") == 2
    async with Client(core, mode="2026-07-28", cache=None) as c:
        await c.list_tools()
        await c.list_tools()
        assert calls.count("tools/list") == 6


@async_test
async def test_a_list_changed_notification_evicts() -> None:
    core = server_app.build()
    core.ttl_ms = 60_000
    async with Client(core, mode="2026-07-28") as c:
        await c.list_tools()
        store = c.cache_store
        assert store is not None and len(store) == 1
        store.evict_for("notifications/tools/list_changed", {})
        assert len(store) == 0


def test_version_retry_after_32022(monkeypatch: pytest.MonkeyPatch) -> None:
    # a client that also spoke a newer (made-up) version and used it: the server answers
    # -32022 with what it supports, and the call is retried once at that version
    from mcpfast.client import session as session_mod

    monkeypatch.setattr(session_mod, "MODERN_PROTOCOL_VERSIONS", ("2026-07-28", "2099-01-01"))
    core = server_app.build()
    seen: list[str] = []
    real = core.on_request

    def spying(peer: Any, req: Any) -> Any:
        seen.append(req.params["_meta"]["io.modelcontextprotocol/protocolVersion"])
        return real(peer, req)

    core.on_request = spying  # type: ignore[method-assign]

    @async_test
    async def run() -> None:
        async with Client(core, mode="2026-07-28") as c:
            c.session.use_version("2099-01-01")
            assert (await c.call_tool("echo", {"message": "x"})).content[0].text == "x"
            assert seen == ["2099-01-01", "2026-07-28"] and c.protocol_version == "2026-07-28"
            seen.clear()
            c.session.use_version("2099-01-01")
            assert (await c.list_prompts(cache_mode="bypass")).prompts[0].name == "greet"
            assert seen == ["2099-01-01", "2026-07-28"]

    run()


@async_test
async def test_auto_falls_back_to_initialize() -> None:
    core = ServerCore("old", "1.0")
    core.modern_versions = ()  # speaks no 2026-07-28
    async with Client(core) as c:
        assert c.protocol_version == "2025-11-25"
        assert c.server_info is not None and c.server_info.name == "old"


@async_test
async def test_connect_and_close_the_seed_shape() -> None:
    client = await Client.connect(server_app.build())
    try:
        assert (await client.call_tool("echo", {"message": "seed"})).content[0].text == "seed"
    finally:
        await client.close()
    await client.close()  # idempotent
    with pytest.raises(RuntimeError, match="async context manager"):
        await client.call_tool("echo", {"message": "late"})


@async_test
async def test_legacy_only_requests() -> None:
    async with Client(server_app.build(), mode="legacy") as c:
        assert (await c.send_ping()).raw == {}
        await c.send_roots_list_changed()
        await c.send_progress_notification("tok", 0.5, 1.0, "half")


@async_test
async def test_listen_needs_the_modern_era() -> None:
    from mcpfast.client.client import ListenNotSupportedError

    async with Client(server_app.build(), mode="legacy") as c:
        with pytest.raises(ListenNotSupportedError):
            async with c.listen(tools_list_changed=True):
                pass
        with pytest.raises(RuntimeError) as info:  # the SDK's class: a RuntimeError
            async with c.listen(tools_list_changed=True):
                pass
        assert info.value.negotiated_version == c.protocol_version  # type: ignore[attr-defined]


@async_test
async def test_listen_delivers_change_events() -> None:
    app = MCPServer("changing")

    @app.tool()
    def first() -> str:
        return "1"

    async with Client(app, mode="2026-07-28", read_timeout_seconds=0.2) as c:
        async with c.listen(tools_list_changed=True) as sub:
            assert sub.honored == {"toolsListChanged": True}
            await asyncio.sleep(0.3)  # longer than the read timeout: the stream stays open

            @app.tool()
            def second() -> str:
                return "2"

            event = await sub.next(timeout=2)
            assert event == ToolsListChanged()  # the SDK's typed event
        names = [t.name for t in (await c.list_tools()).tools]
        assert names == ["first", "second"]


@async_test
async def test_extensions_and_sampling_capabilities_are_declared() -> None:
    class Ext:
        identifier = "com.example/thing"

        def settings(self) -> dict[str, Any]:
            return {"level": 2}

    async def sample(ctx: Any, params: Any) -> dict[str, Any]:
        return {"role": "assistant", "content": {"type": "text", "text": "x"}, "model": "m"}

    async with Client(server_app.build(), mode="2026-07-28", extensions=[Ext()], sampling_callback=sample,
                      sampling_capabilities={"tools": {}}) as c:
        caps = c.session.capabilities
        assert caps["extensions"] == {"com.example/thing": {"level": 2}, "io.modelcontextprotocol/tasks": {}}
        assert caps["sampling"] == {"tools": {}}
        assert c.session.envelope["io.modelcontextprotocol/clientCapabilities"] is caps
    with pytest.raises(ValueError, match="no `identifier`"):
        Client(server_app.build(), extensions=[object()])


def test_result_objects() -> None:
    from mcpfast.client.results import ReadResourceResult, wrap_result

    res = CallToolResult({"content": [{"type": "text", "text": "a", "annotations": {"priority": 0.5}},
                                      {"type": "image", "data": "AA==", "mimeType": "image/png"},
                                      {"type": "resource", "resource": {"uri": "x://1", "blob": "AA=="}}],
                          "isError": True, "extraField": {"deepKey": 1}})
    text, image, embedded = res.content
    assert text.annotations.priority == 0.5 and image.mime_type == "image/png"
    assert type(embedded.resource).__name__ == "BlobResourceContents" and embedded.resource.blob == "AA=="
    assert res.extra_field.deep_key == 1  # undeclared keys by their snake_case name
    assert res["isError"] is True and "content" in res and res.get("nope") is None
    dumped = res.model_dump()
    assert dumped["is_error"] is True and dumped["structured_content"] is None
    assert dumped["content"][1] == {"type": "image", "data": "AA==", "mime_type": "image/png",
                                    "annotations": None, "meta": None}
    assert res.model_dump(by_alias=True)["content"][0]["annotations"] == {"priority": 0.5}
    assert CallToolResult({}).content == [] and CallToolResult({}).is_error is False
    built = CallToolResult(content=[TextContent(type="text", text="t")], is_error=False)
    assert built.raw == {"content": [{"type": "text", "text": "t"}], "isError": False}
    assert built == {"content": [{"type": "text", "text": "t"}], "isError": False}
    assert "CallToolResult(" in repr(built) and "text='t'" in repr(built)
    read = wrap_result("resources/read", {"contents": [{"uri": "u", "text": "t", "mimeType": "text/plain"}],
                                          "ttlMs": 5})
    assert isinstance(read, ReadResourceResult) and read.ttl_ms == 5 and read.cache_scope == "private"
    with pytest.raises(AttributeError):
        _ = res.no_such_field
    err = MCPError(-32602, "bad", {"x": 1})
    assert (err.error.code, err.error.message, err.error.data) == (-32602, "bad", {"x": 1})
    import pickle
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is MCPError and again.code == -32602 and again.data == {"x": 1}


def _server_says(c: Client, method: str, params: dict[str, Any]) -> None:
    """Feed ``c`` a notification as if its server had sent it."""
    c._handlers.on_notification(  # noqa: SLF001 - injecting the server's notification
        c.session.peer, type("N", (), {"method": method, "params": params})())


@async_test
async def test_listen_ends_when_the_server_cancels_it() -> None:
    """The server's notifications/cancelled is a teardown, not the graceful close (a result):
    the events before it are still yielded, then SubscriptionLost, as in the SDK."""
    app = MCPServer("ending")
    async with Client(app, mode="2026-07-28") as c, c.listen(tools_list_changed=True) as sub:
        assert sub.request_id is not None and sub.subscription_id == sub.request_id
        tag = {"_meta": {SUBSCRIPTION_ID_KEY: sub.subscription_id}}
        _server_says(c, "notifications/tools/list_changed", tag)
        _server_says(c, "notifications/cancelled", {"requestId": sub.request_id})
        events = []
        with pytest.raises(SubscriptionLost):
            async for e in sub:
                events.append(e)
        assert events == [ToolsListChanged()]


@async_test
async def test_listen_events_are_typed_filtered_and_deduplicated() -> None:
    app = MCPServer("events")

    @app.resource("file:///a")
    def a() -> str:
        return "a"

    async with Client(app, mode="2026-07-28") as c, \
            c.listen(tools_list_changed=True, resource_subscriptions=["file:///a"]) as sub:
        assert isinstance(sub.honored, SubscriptionFilter)
        assert sub.honored.tools_list_changed is True and sub.honored.resource_subscriptions == ["file:///a"]
        assert sub.honored.prompts_list_changed is None
        tag = {"_meta": {SUBSCRIPTION_ID_KEY: sub.subscription_id}}
        for method in ("notifications/tools/list_changed", "notifications/prompts/list_changed",
                       "notifications/tools/list_changed"):  # prompts: not honoured; tools twice: one event
            _server_says(c, method, tag)
        _server_says(c, "notifications/resources/updated", {"uri": "file:///a/sub", **tag})
        _server_says(c, "notifications/resources/updated", {"uri": "file:///a/sub", **tag})
        _server_says(c, "notifications/tools/list_changed", {"_meta": {SUBSCRIPTION_ID_KEY: "another"}})
        got = [await sub.next(timeout=1), await sub.next(timeout=1)]
        assert got == [ToolsListChanged(), ResourceUpdated("file:///a/sub")]
        with pytest.raises(TimeoutError):
            await sub.next(timeout=0.05)
        _server_says(c, "notifications/tools/list_changed", tag)  # consumed: queued again
        assert await sub.next(timeout=1) == ToolsListChanged()
    with pytest.raises(TypeError, match="bare string"):
        c.listen(resource_subscriptions="file:///a")


@async_test
async def test_listen_backlog_is_bounded() -> None:
    """Distinct unconsumed events past MAX_PENDING_EVENTS lose the stream (the SDK's bound: URIs
    of sub-resources have no other limit) instead of growing memory."""
    from mcpfast.client import subscriptions

    app = MCPServer("flood")
    limit = subscriptions.MAX_PENDING_EVENTS
    async with Client(app, mode="2026-07-28") as c, c.listen(resource_subscriptions=["file:///d"]) as sub:
        tag = {SUBSCRIPTION_ID_KEY: sub.subscription_id}
        for i in range(limit + 1):
            _server_says(c, "notifications/resources/updated", {"uri": f"file:///d/{i}", "_meta": tag})
        got = 0
        with pytest.raises(SubscriptionLost):
            async for _ in sub:
                got += 1
        assert got == limit


@async_test
async def test_listen_graceful_close_ends_the_loop_and_a_lost_connection_raises() -> None:
    app = MCPServer("closing")
    async with Client(app, mode="2026-07-28") as c:
        async with c.listen(tools_list_changed=True) as sub:
            tag = {"_meta": {SUBSCRIPTION_ID_KEY: sub.subscription_id}}
            _server_says(c, "notifications/tools/list_changed", tag)
            # the server's graceful close: the result to the listen request
            c.session.peer.feed([jsonrpc.Response(sub.subscription_id, {"resultType": "complete", **tag})])
            assert [e async for e in sub] == [ToolsListChanged()]
        async with c.listen(tools_list_changed=True) as sub:
            c.session.peer.connection_lost(ConnectionError("gone"))
            with pytest.raises(SubscriptionLost) as info:
                await sub.next(timeout=1)
            assert isinstance(info.value.__cause__, MCPError)


@pytest.mark.parametrize("mode", MODES)
@async_test
async def test_client_metrics(mode: str) -> None:
    from mcpfast.metrics import TOOL_ERROR, ClientMetrics

    app = MCPServer("metered")

    @app.tool()
    def echo(text: str) -> str:
        return text

    @app.tool()
    def fail() -> str:
        raise ValueError("no")

    n = 4
    metrics = ClientMetrics()
    async with Client(app, mode=mode, metrics=metrics) as client:
        version = client.protocol_version
        for i in range(n):
            assert (await client.call_tool("echo", {"text": str(i)})).content[0].text == str(i)  # type: ignore[union-attr]
        assert (await client.call_tool("fail", {})).is_error
        with pytest.raises(MCPError):
            await client.call_tool("echo", {"text": "x"}, meta={"progressToken": 1}, read_timeout_seconds=-1)
        await client.list_tools()
    ops = {labels: h.count for labels, h in metrics.operations.series()}
    assert ops.pop(("tools/call", "echo", "", "inproc", version)) == n
    assert ops.pop(("tools/call", "fail", TOOL_ERROR, "inproc", version)) == 1
    assert ops.pop(("tools/list", "", "", "inproc", version)) == 1
    (labels, count), = ops.items()  # the timed-out call: failed, under the error's type
    assert labels[:2] == ("tools/call", "echo") and labels[2] not in ("", TOOL_ERROR) and count == 1
    sessions = {labels: h.count for labels, h in metrics.sessions.series()}
    assert sessions == ({} if mode != "legacy" else {("inproc", version): 1})
    assert "mcp_client_operation_duration_seconds_count" in metrics.text()
