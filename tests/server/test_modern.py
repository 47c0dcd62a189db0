"""The stateless 2026-07-28 core: envelope errors, discover, result decorations, MRTR, listen."""

from __future__ import annotations

import asyncio

import pytest

from mcpfast.errors import INVALID_PARAMS, METHOD_NOT_FOUND
from mcpfast.server import (
    CLIENT_CAPABILITIES_KEY,
    PROTOCOL_VERSION_KEY,
    SERVER_INFO_KEY,
    SUBSCRIPTION_ID_KEY,
    InputRequired,
)
from mcpfast.testing import async_test

from .conftest import build_core
from .harness import Conn, err, ok

INFO = {"name": "test-server", "version": "1.0.0"}


@async_test
async def test_missing_protocol_version_key(core):
    c = Conn(core)
    e = err(await c.request("tools/list", {"_meta": {CLIENT_CAPABILITIES_KEY: {}}}), INVALID_PARAMS)
    assert PROTOCOL_VERSION_KEY in e.message


@async_test
async def test_missing_client_capabilities_key(core):
    c = Conn(core)
    e = err(await c.request("tools/list", {"_meta": {PROTOCOL_VERSION_KEY: "2026-07-28"}}), INVALID_PARAMS)
    assert CLIENT_CAPABILITIES_KEY in e.message
    assert e.data == {"missing": [CLIENT_CAPABILITIES_KEY]}


@async_test
async def test_unsupported_version(core):
    c = Conn(core)
    e = err(await c.modern("tools/list", version="2099-01-01"), -32022)
    assert e.data == {"supported": ["2026-07-28"], "requested": "2099-01-01"}


@async_test
async def test_discover(core):
    c = Conn(core)
    res = ok(await c.modern("server/discover"))
    assert res["resultType"] == "complete"
    assert res["supportedVersions"] == ["2026-07-28"]
    assert res["capabilities"]["tools"] == {"listChanged": True}
    assert res["_meta"] == {SERVER_INFO_KEY: INFO}
    assert res["ttlMs"] == 0 and res["cacheScope"] == "private"  # the SDK's defaults: no caching unless asked
    assert "instructions" not in res


@async_test
async def test_discover_instructions_and_cache_options():
    core = build_core(instructions="Use add.", ttl_ms=5, cache_scope="public")
    c = Conn(core)
    res = ok(await c.modern("server/discover"))
    assert res["instructions"] == "Use add."
    assert (res["ttlMs"], res["cacheScope"]) == (5, "public")


@pytest.mark.parametrize("method", ["initialize", "ping", "logging/setLevel", "resources/subscribe",
                                    "resources/unsubscribe"])
@async_test
async def test_legacy_only_methods_with_envelope(core, method):
    c = Conn(core)
    e = err(await c.modern(method, {"uri": "x://y", "level": "info", "protocolVersion": "2025-11-25"}),
            METHOD_NOT_FOUND)
    assert method in e.message
    assert c.peer.state is None


@async_test
async def test_unknown_method_modern(core):
    c = Conn(core)
    err(await c.modern("nope/nothing"), METHOD_NOT_FOUND)


@pytest.mark.parametrize("method,extra", [
    ("tools/list", {}), ("prompts/list", {}), ("resources/list", {}), ("resources/templates/list", {}),
    ("resources/read", {"uri": "file:///readme.txt"}),
])
@async_test
async def test_cacheable_results(core, method, extra):
    c = Conn(core)
    res = ok(await c.modern(method, extra))
    assert res["resultType"] == "complete"
    assert res["_meta"][SERVER_INFO_KEY] == INFO
    assert res["ttlMs"] >= 0 and res["cacheScope"] == "private"


@async_test
async def test_call_result_decorations(core):
    c = Conn(core)
    res = ok(await c.modern("tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}}))
    assert res == {"content": [{"type": "text", "text": "5"}], "resultType": "complete",
                   "_meta": {SERVER_INFO_KEY: INFO}}
    res = ok(await c.modern("prompts/get", {"name": "greet", "arguments": {"who": "Ann"}}))
    assert res["resultType"] == "complete" and res["messages"]
    res = ok(await c.modern("completion/complete", {"ref": {"type": "ref/prompt", "name": "greet"},
                                                     "argument": {"name": "who", "value": "a"}}))
    assert res["completion"] == {"values": ["alice", "albert"]} and res["resultType"] == "complete"
    res = ok(await c.modern("tools/call", {"name": "fail"}))
    assert res["isError"] is True and res["resultType"] == "complete"


@async_test
async def test_modern_and_legacy_on_one_connection(core):
    c = Conn(core)
    await c.initialize("2025-06-18")
    assert "resultType" not in ok(await c.request("tools/call", {"name": "add", "arguments": {"a": 1, "b": 1}}))
    assert ok(await c.modern("tools/call", {"name": "add", "arguments": {"a": 1, "b": 1}}))["resultType"] == "complete"


@async_test
async def test_missing_client_capability_for_tool(core):
    c = Conn(core)
    e = err(await c.modern("tools/call", {"name": "needs_sampling"}), -32021)
    assert e.data == {"requiredCapabilities": {"sampling": {}}}
    res = ok(await c.modern("tools/call", {"name": "needs_sampling"}, caps={"sampling": {}}))
    assert res["content"][0]["text"] == "sampled"


@async_test
async def test_progress_and_log_level_modern(core):
    c = Conn(core)
    ok(await c.modern("tools/call", {"name": "progress"}, progressToken=7))
    assert [n.params["progress"] for n in c.notifications("notifications/progress")] == [1, 2]
    assert c.notifications("notifications/message") == []  # no logLevel in _meta: no logs
    ok(await c.modern("tools/call", {"name": "progress"}, **{"io.modelcontextprotocol/logLevel": "info"}))
    assert [n.params for n in c.notifications("notifications/message")] == [{"level": "info", "data": "done"}]


# ------------------------------------------------------------------------------ MRTR

@async_test
async def test_mrtr_round_trip(core):
    c = Conn(core)
    caps = {"elicitation": {}}
    first = ok(await c.modern("tools/call", {"name": "ask_name"}, caps=caps))
    assert first["resultType"] == "input_required"
    req = first["inputRequests"]["elicitation"]
    assert req["method"] == "elicitation/create" and req["params"]["message"] == "Your name?"
    state = first["requestState"]
    assert isinstance(state, str)
    assert c.requests() == []  # never a server->client request at 2026-07-28
    res = ok(await c.modern("tools/call", {
        "name": "ask_name", "requestState": state,
        "inputResponses": {"elicitation": {"action": "accept", "content": {"name": "Ada"}}},
    }, caps=caps))
    assert res["resultType"] == "complete"
    assert res["content"] == [{"type": "text", "text": "Hello Ada"}]


@async_test
async def test_mrtr_needs_capability(core):
    c = Conn(core)
    e = err(await c.modern("tools/call", {"name": "ask_name"}), -32021)
    assert e.data == {"requiredCapabilities": {"elicitation": {}}}


@async_test
async def test_mrtr_tampered_state(core):
    c = Conn(core)
    caps = {"elicitation": {}}
    state = ok(await c.modern("tools/call", {"name": "ask_name"}, caps=caps))["requestState"]
    head, _, mac = state.partition(".")
    bad = head[:-2] + ("A" if head[-2] != "A" else "B") + head[-1] + "." + mac
    for token in (bad, state + "x", "garbage", state.replace(".", "")):
        e = err(await c.modern("tools/call", {"name": "ask_name", "requestState": token,
                                              "inputResponses": {}}, caps=caps), INVALID_PARAMS)
        assert "requestState" in e.message
    # a state minted for one tool is refused by another
    core.add_tool("ask2", core.tools["ask_name"].fn, input_schema={"type": "object"}, context_kwarg="ctx")
    e = err(await c.modern("tools/call", {"name": "ask2", "requestState": state}, caps=caps), INVALID_PARAMS)
    assert "different request" in e.message


@async_test
async def test_mrtr_state_from_another_server_secret(core):
    other = build_core(state_secret=b"s" * 32)
    caps = {"elicitation": {}}
    state = ok(await Conn(other).modern("tools/call", {"name": "ask_name"}, caps=caps))["requestState"]
    e = err(await Conn(core).modern("tools/call", {"name": "ask_name", "requestState": state}, caps=caps),
            INVALID_PARAMS)
    assert "signature" in e.message


@async_test
async def test_mrtr_expired_state():
    core = build_core(state_ttl=-1)
    c = Conn(core)
    caps = {"elicitation": {}}
    state = ok(await c.modern("tools/call", {"name": "ask_name"}, caps=caps))["requestState"]
    e = err(await c.modern("tools/call", {"name": "ask_name", "requestState": state}, caps=caps), INVALID_PARAMS)
    assert "expired" in e.message


@async_test
async def test_mrtr_multi_round_with_state(core):
    async def wizard(ctx):
        ctx.state = {"step": (ctx.state or {}).get("step", 0) + 1}
        a = await ctx.elicit("first?", {"type": "object"}, key="a")
        b = await ctx.elicit("second?", {"type": "object"}, key="b")
        return f"{a['content']['v']}+{b['content']['v']} after {ctx.state['step']} rounds"

    core.add_tool("wizard", wizard, input_schema={"type": "object"}, context_kwarg="ctx")
    c = Conn(core)
    caps = {"elicitation": {}}
    r1 = ok(await c.modern("tools/call", {"name": "wizard"}, caps=caps))
    assert list(r1["inputRequests"]) == ["a"]
    r2 = ok(await c.modern("tools/call", {"name": "wizard", "requestState": r1["requestState"],
                                          "inputResponses": {"a": {"action": "accept", "content": {"v": 1}}}},
                           caps=caps))
    assert list(r2["inputRequests"]) == ["b"]
    r3 = ok(await c.modern("tools/call", {"name": "wizard", "requestState": r2["requestState"],
                                          "inputResponses": {"b": {"action": "accept", "content": {"v": 2}}}},
                           caps=caps))
    assert r3["content"][0]["text"] == "1+2 after 3 rounds"


@async_test
async def test_mrtr_raised_by_sync_prompt(core):
    def confirm(ctx):
        if "ok" not in ctx.responses:
            raise InputRequired({"ok": {"method": "roots/list", "params": {}}}, state={"n": 1})
        return f"roots={len(ctx.responses['ok']['roots'])} state={ctx.state}"

    core.add_prompt("confirm", confirm, context_kwarg="ctx")
    c = Conn(core)
    r1 = ok(await c.modern("prompts/get", {"name": "confirm"}, caps={"roots": {}}))
    assert r1["resultType"] == "input_required"
    r2 = ok(await c.modern("prompts/get", {"name": "confirm", "requestState": r1["requestState"],
                                           "inputResponses": {"ok": {"roots": [{"uri": "file:///"}]}}},
                           caps={"roots": {}}))
    assert r2["messages"][0]["content"]["text"] == "roots=1 state={'n': 1}"


# ------------------------------------------------------------------------------ listen

@async_test
async def test_listen_ack_list_changed_and_cancel(core):
    c = Conn(core)
    rid = c.send("subscriptions/listen", {
        "notifications": {"toolsListChanged": True, "promptsListChanged": True,
                          "resourceSubscriptions": ["file:///readme.txt"]},
        "_meta": {PROTOCOL_VERSION_KEY: "2026-07-28", CLIENT_CAPABILITIES_KEY: {}},
    }, id="L1")
    await asyncio.sleep(0)
    (ack,) = c.notifications("notifications/subscriptions/acknowledged")
    assert ack.params == {"notifications": {"toolsListChanged": True, "promptsListChanged": True,
                                            "resourceSubscriptions": ["file:///readme.txt"]},
                          "_meta": {SUBSCRIPTION_ID_KEY: "L1"}}
    assert c.peer.in_flight == 1
    core.add_tool("late", lambda: "x", input_schema={"type": "object"})
    core.add_resource("file:///new.txt", lambda: "n", name="new")  # resourcesListChanged not asked
    core.notify_resource_updated("file:///readme.txt")
    core.notify_resource_updated("file:///other.txt")
    await asyncio.sleep(0)
    sent = [(n.method, n.params) for n in c.notifications() if n.method != "notifications/subscriptions/acknowledged"]
    assert sent == [
        ("notifications/tools/list_changed", {"_meta": {SUBSCRIPTION_ID_KEY: "L1"}}),
        ("notifications/resources/updated", {"uri": "file:///readme.txt", "_meta": {SUBSCRIPTION_ID_KEY: "L1"}}),
    ]
    c.notify("notifications/cancelled", {"requestId": rid})
    for _ in range(3):
        await asyncio.sleep(0)
    assert c.peer.in_flight == 0 and core._listeners == {}
    assert c.find(rid) is None
    core.add_tool("later", lambda: "x", input_schema={"type": "object"})
    await asyncio.sleep(0)
    assert len(c.notifications("notifications/tools/list_changed")) == 1


@async_test
async def test_listen_unsupported_types_not_honoured():
    core = build_core()
    for name in list(core._prompts):
        core.remove_prompt(name)
    c = Conn(core)
    c.send("subscriptions/listen", {"notifications": {"promptsListChanged": True, "toolsListChanged": True},
                                    "_meta": {PROTOCOL_VERSION_KEY: "2026-07-28", CLIENT_CAPABILITIES_KEY: {}}})
    await asyncio.sleep(0)
    (ack,) = c.notifications("notifications/subscriptions/acknowledged")
    assert ack.params["notifications"] == {"toolsListChanged": True}
    c.peer.connection_lost(None)
    await asyncio.sleep(0)
    assert core._listeners == {}


@async_test
async def test_listen_graceful_close(core):
    c = Conn(core)
    rid = c.send("subscriptions/listen", {"notifications": {"toolsListChanged": True},
                                          "_meta": {PROTOCOL_VERSION_KEY: "2026-07-28", CLIENT_CAPABILITIES_KEY: {}}})
    await asyncio.sleep(0)
    core.close_listeners()
    res = ok(await c.wait_for(rid))
    assert res == {"resultType": "complete", "_meta": {SUBSCRIPTION_ID_KEY: rid, SERVER_INFO_KEY: INFO}}


@async_test
async def test_listen_bad_filter(core):
    c = Conn(core)
    err(await c.modern("subscriptions/listen", {"notifications": 3}), INVALID_PARAMS)


@async_test
async def test_mrtr_sampling_request_object():
    from .harness import make_core

    core = make_core()

    async def summarize(ctx):
        msg = await ctx.create_message([{"role": "user", "content": {"type": "text", "text": "sum"}}], 10)
        return msg["content"]["text"]

    core.add_tool("summarize", summarize, input_schema={"type": "object"}, context_kwarg="ctx")
    c = Conn(core)
    err(await c.modern("tools/call", {"name": "summarize"}), -32021)
    r1 = ok(await c.modern("tools/call", {"name": "summarize"}, caps={"sampling": {}}))
    assert r1["inputRequests"] == {"sampling": {"method": "sampling/createMessage", "params": {
        "messages": [{"role": "user", "content": {"type": "text", "text": "sum"}}], "maxTokens": 10}}}
    r2 = ok(await c.modern("tools/call", {"name": "summarize", "requestState": r1["requestState"], "inputResponses": {
        "sampling": {"role": "assistant", "model": "m", "content": {"type": "text", "text": "short"}}}},
        caps={"sampling": {}}))
    assert r2["content"][0]["text"] == "short"
    # answers without any requestState are accepted too (the state is optional in MRTR)
    r3 = ok(await c.modern("tools/call", {"name": "summarize", "inputResponses": {
        "sampling": {"role": "assistant", "model": "m", "content": {"type": "text", "text": "s2"}}}},
        caps={"sampling": {}}))
    assert r3["content"][0]["text"] == "s2"
