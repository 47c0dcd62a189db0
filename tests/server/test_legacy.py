"""Legacy sessions (2024-11-05 ... 2025-11-25): handshake, ping, logging, subscriptions,
batches, list_changed, server-to-client requests."""

from __future__ import annotations

import pytest

from mcpfast.errors import INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND
from mcpfast.server import LegacySession
from mcpfast.testing import async_test
from mcpfast.wire import jsonrpc

from .harness import Conn, err, ok

LEGACY = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]


@pytest.mark.parametrize("version", LEGACY)
@async_test
async def test_initialize_echoes_supported_version(core, version):
    c = Conn(core)
    res = ok(await c.initialize(version))
    assert res["protocolVersion"] == version
    assert res["serverInfo"] == {"name": "test-server", "version": "1.0.0"}
    caps = res["capabilities"]
    assert caps["tools"] == {"listChanged": True}
    assert caps["resources"] == {"subscribe": True, "listChanged": True}
    assert caps["prompts"] == {"listChanged": True}
    assert "completions" in caps and "logging" in caps
    assert "resultType" not in res
    assert type(c.peer.state) is LegacySession and c.peer.state.initialized


@pytest.mark.parametrize("requested", ["2024-10-07", "2026-07-28", "1999-01-01"])
@async_test
async def test_initialize_unsupported_version_offers_latest_handshake(core, requested):
    c = Conn(core)
    assert ok(await c.initialize(requested))["protocolVersion"] == "2025-11-25"


@async_test
async def test_initialize_twice_is_invalid_request(core):
    c = Conn(core)
    await c.initialize()
    err(await c.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}}), INVALID_REQUEST)


@async_test
async def test_initialize_bad_params(core):
    c = Conn(core)
    err(await c.request("initialize", {"capabilities": {}}), INVALID_PARAMS)


@async_test
async def test_ping_before_and_after_initialize(core):
    c = Conn(core)
    assert ok(await c.request("ping")) == {}
    await c.initialize()
    assert ok(await c.request("ping")) == {}


@async_test
async def test_no_session_no_envelope_is_32602_naming_the_key(core):
    c = Conn(core)
    e = err(await c.request("tools/list"), INVALID_PARAMS)
    assert "io.modelcontextprotocol/protocolVersion" in e.message


@async_test
async def test_unknown_method(core):
    c = Conn(core)
    await c.initialize()
    e = err(await c.request("nope/nothing"), METHOD_NOT_FOUND)
    assert "nope/nothing" in e.message


@async_test
async def test_set_level_and_messages(core):
    c = Conn(core)
    await c.initialize()
    err(await c.request("logging/setLevel", {"level": "loud"}), INVALID_PARAMS)
    assert ok(await c.request("logging/setLevel", {"level": "info"})) == {}
    ok(await c.request("tools/call", {"name": "progress"}))
    msgs = c.notifications("notifications/message")
    assert [m.params for m in msgs] == [{"level": "info", "data": "done"}]
    # debug passes once the level is lowered
    ok(await c.request("logging/setLevel", {"level": "debug"}))
    ok(await c.request("tools/call", {"name": "progress"}))
    assert [m.params["level"] for m in c.notifications("notifications/message")] == ["info", "info", "debug"]


@async_test
async def test_progress_notifications(core):
    c = Conn(core)
    await c.initialize()
    r = await c.request("tools/call", {"name": "progress", "_meta": {"progressToken": "tok"}})
    assert ok(r)["content"] == [{"type": "text", "text": "ok"}]
    assert [n.params for n in c.notifications("notifications/progress")] == [
        {"progressToken": "tok", "progress": 1, "total": 2, "message": "half"},
        {"progressToken": "tok", "progress": 2, "total": 2},
    ]
    # no token: no progress
    c.out.clear()
    await c.request("tools/call", {"name": "progress"})
    assert c.notifications("notifications/progress") == []


@async_test
async def test_subscribe_and_resource_updated(core):
    c = Conn(core)
    await c.initialize()
    assert ok(await c.request("resources/subscribe", {"uri": "file:///readme.txt"})) == {}
    core.notify_resource_updated("file:///readme.txt")
    core.notify_resource_updated("file:///other.txt")
    await c.request("ping")
    assert [n.params for n in c.notifications("notifications/resources/updated")] == [{"uri": "file:///readme.txt"}]
    ok(await c.request("resources/unsubscribe", {"uri": "file:///readme.txt"}))
    core.notify_resource_updated("file:///readme.txt")
    await c.request("ping")
    assert len(c.notifications("notifications/resources/updated")) == 1


@async_test
async def test_list_changed_to_initialized_sessions_only(core):
    c1, c2 = Conn(core), Conn(core)
    await c1.initialize()
    await c2.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}})  # not initialized yet
    core.add_tool("late", lambda: "x", input_schema={"type": "object"})
    core.remove_tool("late")
    core.add_prompt("p2", lambda: "x")
    await c1.request("ping")
    await c2.request("ping")
    assert [n.method for n in c1.notifications()] == [
        "notifications/tools/list_changed", "notifications/tools/list_changed", "notifications/prompts/list_changed",
    ]
    assert c2.notifications() == []
    c1.peer.connection_lost(None)
    assert c1.peer not in core._sessions


@async_test
async def test_batches_only_at_2025_03_26(core):
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 2}}},
    ]
    for version in LEGACY:
        c = Conn(core)
        await c.initialize(version)
        c.out.clear()
        c.feed(batch)
        await asyncio_sleep()
        if version == "2025-03-26":
            assert len(c.out) == 1 and type(c.out[0]) is jsonrpc.Batch
            assert [r.id for r in c.out[0]] == [1, 2]
            assert c.out[0][1].result["content"][0]["text"] == "3"
        else:
            assert len(c.out) == 1
            err(c.out[0], INVALID_REQUEST)
    # no session at all: rejected too
    c = Conn(core)
    c.feed(batch)
    err(c.out[0], INVALID_REQUEST)


async def asyncio_sleep() -> None:
    import asyncio

    for _ in range(3):
        await asyncio.sleep(0)


@async_test
async def test_server_to_client_elicitation(core):
    c = Conn(core)
    await c.initialize(caps={"elicitation": {}})
    rid = c.send("tools/call", {"name": "ask_name"})
    await asyncio_sleep()
    (req,) = c.requests("elicitation/create")
    assert req.params["message"] == "Your name?"
    assert req.params["mode"] == "form"
    c.feed({"jsonrpc": "2.0", "id": req.id, "result": {"action": "accept", "content": {"name": "Ada"}}})
    res = ok(await c.wait_for(rid))
    assert res["content"] == [{"type": "text", "text": "Hello Ada"}]


@async_test
async def test_elicitation_form_params_before_2025_11_25(core):
    c = Conn(core)
    await c.initialize("2025-06-18", caps={"elicitation": {}})
    rid = c.send("tools/call", {"name": "ask_name"})
    await asyncio_sleep()
    (req,) = c.requests("elicitation/create")
    assert "mode" not in req.params
    c.feed({"jsonrpc": "2.0", "id": req.id, "result": {"action": "decline"}})
    assert ok(await c.wait_for(rid))["content"][0]["text"] == "declined"


@async_test
async def test_elicitation_without_client_capability(core):
    c = Conn(core)
    await c.initialize()
    e = err(await c.request("tools/call", {"name": "ask_name"}), -32021)
    assert e.data == {"requiredCapabilities": {"elicitation": {}}}
    assert c.requests() == []


@async_test
async def test_cancelled_notification_cancels_handler(core):
    import asyncio

    started = asyncio.Event()

    async def slow() -> str:
        started.set()
        await asyncio.sleep(10)
        return "never"

    core.add_tool("slow", slow, input_schema={"type": "object"})
    c = Conn(core)
    await c.initialize()
    rid = c.send("tools/call", {"name": "slow"})
    await started.wait()
    assert c.peer.in_flight == 1
    c.notify("notifications/cancelled", {"requestId": rid})
    await asyncio_sleep()
    assert c.peer.in_flight == 0
    assert c.find(rid) is None


@async_test
async def test_sampling_and_roots_legacy():
    from .harness import make_core

    core = make_core()

    async def both(ctx):
        msg = await ctx.create_message([{"role": "user", "content": {"type": "text", "text": "hi"}}], 50,
                                       systemPrompt="be brief")
        roots = await ctx.list_roots()
        return f"{msg['content']['text']} / {len(roots['roots'])}"

    core.add_tool("both", both, input_schema={"type": "object"}, context_kwarg="ctx")
    c = Conn(core)
    await c.initialize(caps={"sampling": {}, "roots": {}})
    rid = c.send("tools/call", {"name": "both"})
    await asyncio_sleep()
    (s,) = c.requests("sampling/createMessage")
    assert s.params["maxTokens"] == 50 and s.params["systemPrompt"] == "be brief"
    c.feed({"jsonrpc": "2.0", "id": s.id, "result": {"role": "assistant", "model": "m",
                                                       "content": {"type": "text", "text": "yo"}}})
    await asyncio_sleep()
    (r,) = c.requests("roots/list")
    c.feed({"jsonrpc": "2.0", "id": r.id, "result": {"roots": [{"uri": "file:///a"}, {"uri": "file:///b"}]}})
    assert ok(await c.wait_for(rid))["content"][0]["text"] == "yo / 2"
    # an error answer from the client surfaces in the tool as an exception -> isError
    rid = c.send("tools/call", {"name": "both"})
    await asyncio_sleep()
    s = c.requests("sampling/createMessage")[-1]
    c.feed({"jsonrpc": "2.0", "id": s.id, "error": {"code": -1, "message": "user rejected"}})
    res = ok(await c.wait_for(rid))
    assert res["isError"] is True and "user rejected" in res["content"][0]["text"]


@async_test
async def test_input_required_is_fulfilled_by_requests_in_legacy_sessions():
    """A handler written for MRTR (raising InputRequired) also works in a legacy session."""
    from mcpfast.server import InputRequired

    from .harness import make_core

    core = make_core()

    def confirm(ctx):
        if "roots" not in ctx.responses or "ok" not in ctx.responses:
            raise InputRequired({"roots": {"method": "roots/list", "params": {}},
                                 "ok": {"method": "elicitation/create",
                                        "params": {"message": "sure?", "requestedSchema": {"type": "object"}}}},
                                state={"n": 1})
        return f"{len(ctx.responses['roots']['roots'])} roots, {ctx.responses['ok']['action']}, state={ctx.state}"

    core.add_prompt("confirm", confirm, context_kwarg="ctx")
    core.add_tool("confirm_tool", confirm, input_schema={"type": "object"}, context_kwarg="ctx")
    c = Conn(core)
    await c.initialize(caps={"roots": {}, "elicitation": {}})
    for method, params in (("prompts/get", {"name": "confirm"}), ("tools/call", {"name": "confirm_tool"})):
        c.out.clear()
        rid = c.send(method, params)
        await asyncio_sleep()
        (r,) = c.requests("roots/list")
        c.feed({"jsonrpc": "2.0", "id": r.id, "result": {"roots": [{"uri": "file:///"}]}})
        await asyncio_sleep()
        (e,) = c.requests("elicitation/create")
        c.feed({"jsonrpc": "2.0", "id": e.id, "result": {"action": "accept", "content": {}}})
        res = ok(await c.wait_for(rid))
        text = res["messages"][0]["content"]["text"] if method == "prompts/get" else res["content"][0]["text"]
        assert text == "1 roots, accept, state={'n': 1}"
    # without the client capability: -32021, nothing sent
    c2 = Conn(core)
    await c2.initialize()
    err(await c2.request("prompts/get", {"name": "confirm"}), -32021)
    assert c2.requests() == []


@async_test
async def test_input_required_without_context_is_internal_error():
    from mcpfast.server import InputRequired

    from .harness import make_core

    core = make_core()

    def bad():
        raise InputRequired({"x": {"method": "roots/list", "params": {}}})

    core.add_prompt("bad", bad)
    c = Conn(core)
    await c.initialize(caps={"roots": {}})
    err(await c.request("prompts/get", {"name": "bad"}), -32603)


@async_test
async def test_input_required_of_async_handlers_is_fulfilled_in_legacy_sessions():
    """The same as above for ``async def`` handlers: the rerun's answer is awaited, never the
    rerun's task handed back as the result."""
    from mcpfast.server import InputRequired

    from .harness import make_core

    core = make_core()

    async def confirm(ctx):
        if "ok" not in ctx.responses:
            raise InputRequired({"ok": {"method": "elicitation/create",
                                        "params": {"message": "sure?", "requestedSchema": {"type": "object"}}}})
        await asyncio_sleep()  # suspends: the rerun is answered later, through its task
        return f"answer {ctx.responses['ok']['action']}"

    core.add_prompt("confirm", confirm, context_kwarg="ctx")
    core.add_tool("confirm_tool", confirm, input_schema={"type": "object"}, context_kwarg="ctx")
    c = Conn(core)
    await c.initialize(caps={"elicitation": {}})
    for method, params in (("prompts/get", {"name": "confirm"}), ("tools/call", {"name": "confirm_tool"})):
        c.out.clear()
        rid = c.send(method, params)
        await asyncio_sleep()
        (e,) = c.requests("elicitation/create")
        c.feed({"jsonrpc": "2.0", "id": e.id, "result": {"action": "accept", "content": {}}})
        res = ok(await c.wait_for(rid))
        text = res["messages"][0]["content"]["text"] if method == "prompts/get" else res["content"][0]["text"]
        assert text == "answer accept"
