"""The 2026-07-28 (stateless) side of the Streamable HTTP core, through a real ServerCore."""

from __future__ import annotations

import base64
from typing import Any

from mcpfast.errors import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from mcpfast.testing import async_test
from mcpfast.transports.http import HTTPSettings, StreamableHTTP
from mcpfast.wire import jsonrpc

from .fakes import (
    CAPS_KEY,
    MODERN,
    PV_KEY,
    Client,
    build_core,
    modern_body,
    modern_headers,
    open_gate,
    result_of,
    settle,
)


def make(**kw: Any) -> tuple[Any, StreamableHTTP, Client]:
    core = build_core()
    http = StreamableHTTP(core, HTTPSettings(**kw))
    return core, http, Client(http)


@async_test
async def test_tools_call_answers_json_with_result_type() -> None:
    _, http, c = make()
    r = c.modern("tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}})
    assert r.status == 200 and r.calls == ["respond"]
    assert r.header("content-type") == "application/json"
    assert r.header("mcp-session-id") is None  # never minted on the stateless path
    res = result_of(r)
    assert res["content"] == [{"type": "text", "text": "5"}]
    assert res["resultType"] == "complete"
    assert len(http.table) == 0


@async_test
async def test_discover_and_lists() -> None:
    _, _, c = make()
    r = c.modern("server/discover")
    assert r.status == 200 and MODERN in result_of(r)["supportedVersions"]
    r = c.modern("tools/list")
    names = [t["name"] for t in result_of(r)["tools"]]
    assert "add" in names and "ttlMs" in result_of(r)


@async_test
async def test_notification_is_202_and_unsupported_version_400() -> None:
    _, _, c = make()
    r = c.post({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
               {"mcp-protocol-version": MODERN})
    assert r.status == 202 and r.body == b""
    r = c.post({"jsonrpc": "2.0", "method": "notifications/x"}, {"mcp-protocol-version": "2099-01-01"})
    assert r.status == 400 and r.error_code() == UNSUPPORTED_PROTOCOL_VERSION


@async_test
async def test_removed_methods_are_404_method_not_found() -> None:
    _, _, c = make()
    for method in ("initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe",
                   "no/such/method"):
        r = c.modern(method, {"uri": "file:///a.txt"} if "subscribe" in method else {})
        assert r.status == 404, (method, r.body)
        body = r.json()
        assert body["error"]["code"] == METHOD_NOT_FOUND and body["id"] is not None


@async_test
async def test_errors_keep_the_request_id_and_map_status() -> None:
    core, _, c = make()
    r = c.modern("tools/call", {"name": "nope"}, id="abc")
    assert r.status == 400 and r.json()["id"] == "abc" and r.error_code() == INVALID_PARAMS
    # bad arguments are a tool execution error by default (SEP-1303): a result, 200
    r = c.modern("tools/call", {"name": "add", "arguments": {"a": "x", "b": 1}})
    assert r.status == 200 and r.json()["result"]["isError"] is True
    # as a JSON-RPC error (invalid_arguments="error"), its status is mapped: 400
    core.invalid_arguments = "error"
    r = c.modern("tools/call", {"name": "add", "arguments": {"a": "x", "b": 1}})
    assert r.status == 400 and r.error_code() == INVALID_PARAMS


@async_test
async def test_meta_envelope_checks() -> None:
    _, _, c = make()
    h = modern_headers("tools/list")
    r = c.post({"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {"_meta": {PV_KEY: MODERN}}}, h)
    assert r.status == 400 and r.error_code() == INVALID_PARAMS and r.json()["id"] == 7
    assert CAPS_KEY in r.json()["error"]["message"]
    r = c.post({"jsonrpc": "2.0", "id": 8, "method": "tools/list", "params": {"_meta": "no"}}, h)
    assert r.status == 400 and r.error_code() == INVALID_PARAMS
    r = c.post({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}, h)
    assert r.status == 400 and r.error_code() == INVALID_PARAMS


@async_test
async def test_unsupported_version_in_envelope_and_header() -> None:
    _, _, c = make()
    r = c.modern("tools/list", version="2030-01-01")
    assert r.status == 400 and r.error_code() == UNSUPPORTED_PROTOCOL_VERSION
    data = r.json()["error"]["data"]
    assert data == {"supported": [MODERN], "requested": "2030-01-01"}


@async_test
async def test_routing_header_mismatches_are_32020() -> None:
    _, _, c = make()
    params = {"name": "add", "arguments": {"a": 1, "b": 1}}
    cases = [
        {"mcp-protocol-version": None},  # missing: the envelope says modern, the header must too
        {"mcp-method": "tools/list"},
        {"mcp-method": None},
        {"mcp-name": "other"},
        {"mcp-name": None},
        {"mcp-protocol-version": "2025-11-25"},
    ]
    for extra in cases:
        h = modern_headers("tools/call", params)
        for k, v in extra.items():
            if v is None:
                h.pop(k)
            else:
                h[k] = v
        # headers given as None are removed by request()
        r = c.post(modern_body("tools/call", params, id=3), {**h, **{k: v for k, v in extra.items() if v is None}})
        assert r.status == 400, (extra, r.body)
        assert r.error_code() == HEADER_MISMATCH, (extra, r.body)
        assert r.json()["id"] == 3


@async_test
async def test_header_values_trimmed_and_case_sensitive() -> None:
    _, _, c = make()
    params = {"name": "add", "arguments": {"a": 1, "b": 1}}
    h = modern_headers("tools/call", params)
    h["mcp-name"] = "  add "
    h["mcp-method"] = " tools/call"
    assert c.post(modern_body("tools/call", params), h).status == 200
    h["mcp-name"] = "ADD"
    assert c.post(modern_body("tools/call", params), h).error_code() == HEADER_MISMATCH


@async_test
async def test_mcp_name_for_resources_read_and_base64() -> None:
    _, _, c = make()
    r = c.modern("resources/read", {"uri": "file:///a.txt"})
    assert r.status == 200 and result_of(r)["contents"][0]["text"] == "A"
    enc = "=?base64?" + base64.b64encode(b"file:///a.txt").decode() + "?="
    r = c.modern("resources/read", {"uri": "file:///a.txt"}, headers={"mcp-name": enc})
    assert r.status == 200
    r = c.modern("resources/read", {"uri": "file:///a.txt"}, headers={"mcp-name": "file:///b.txt"})
    assert r.error_code() == HEADER_MISMATCH
    r = c.modern("prompts/get", {"name": "greet"}, headers={"mcp-name": "nope"})
    assert r.error_code() == HEADER_MISMATCH


def _b64(s: str) -> str:
    return "=?base64?" + base64.b64encode(s.encode()).decode() + "?="


@async_test
async def test_x_mcp_header_params() -> None:
    _, _, c = make()

    def call(args: dict[str, Any], **headers: str) -> Any:
        return c.modern("tools/call", {"name": "region", "arguments": args},
                        headers={f"mcp-param-{k}": v for k, v in headers.items()})

    assert call({"region": "eu", "count": 3, "flag": True}, region="eu", count="3", flag="true").status == 200
    assert call({}).status == 200  # no annotated values, no headers
    assert call({"text": "free"}).status == 200  # not annotated
    # missing / extra / different / case of the value
    assert call({"region": "eu"}).error_code() == HEADER_MISMATCH
    assert call({}, region="eu").error_code() == HEADER_MISMATCH
    assert call({"region": "eu"}, region="us").error_code() == HEADER_MISMATCH
    assert call({"region": "eu"}, region="EU").error_code() == HEADER_MISMATCH
    # integers compare numerically; booleans as true/false
    assert call({"count": 42}, count="42.0").status == 200
    assert call({"count": 42}, count="42.5").error_code() == HEADER_MISMATCH
    assert call({"count": 42}, count="0x2a").error_code() == HEADER_MISMATCH
    assert call({"flag": False}, flag="false").status == 200
    assert call({"flag": False}, flag="False").error_code() == HEADER_MISMATCH
    # base64 sentinel for values a header cannot carry as they are
    assert call({"region": "München"}, region=_b64("München")).status == 200
    assert call({"region": " padded "}, region=_b64(" padded ")).status == 200
    assert call({"region": "eu"}, region=_b64("eu")).status == 200
    assert call({"region": "eu"}, region="=?base64?!!!?=").error_code() == HEADER_MISMATCH
    assert call({"region": "eu"}, region="=?base64?ZXV=?=").error_code() == HEADER_MISMATCH  # non-canonical
    assert call({"region": "eu"}, region=_b64("us")).error_code() == HEADER_MISMATCH
    # the header name is case-insensitive (front ends lower-case it)
    r = c.modern("tools/call", {"name": "region", "arguments": {"region": "eu"}}, headers={"Mcp-Param-Region": "eu"})
    assert r.status == 200


@async_test
async def test_x_mcp_header_invalid_annotation_validates_nothing() -> None:
    core, _, c = make()
    core.add_tool("bad", lambda n=0.0: "ok", input_schema={
        "type": "object", "properties": {"n": {"type": "number", "x-mcp-header": "N"}}})
    r = c.modern("tools/call", {"name": "bad", "arguments": {"n": 1.5}})
    assert r.status == 200  # a number may not carry x-mcp-header: clients drop the tool, we check nothing
    # a replaced tool's annotations are re-read
    core.add_tool("bad", lambda n="": "ok", input_schema={
        "type": "object", "properties": {"n": {"type": "string", "x-mcp-header": "N"}}})
    r = c.modern("tools/call", {"name": "bad", "arguments": {"n": "x"}})
    assert r.error_code() == HEADER_MISMATCH


@async_test
async def test_body_shape_errors() -> None:
    _, _, c = make()
    h = modern_headers("tools/list")
    r = c.post(None, h, raw=b"{not json")
    assert r.status == 400 and r.error_code() == PARSE_ERROR and r.json()["id"] is None
    r = c.post({"jsonrpc": "1.0", "id": 4, "method": "x"}, h)
    assert r.status == 400 and r.error_code() == INVALID_REQUEST and r.json()["id"] == 4
    r = c.post([modern_body("tools/list")], h)  # a batch
    assert r.status == 400 and r.error_code() == INVALID_REQUEST
    r = c.post({"jsonrpc": "2.0", "id": 1, "result": {}}, h)  # a response
    assert r.status == 400 and r.error_code() == INVALID_REQUEST


@async_test
async def test_progress_switches_to_sse_and_ends_with_the_response() -> None:
    _, http, c = make()
    r = c.modern("tools/call", {"name": "progress", "arguments": {}, "_meta": {"progressToken": "p"}})
    assert r.status == 200 and r.is_sse and r.ended
    assert r.header("content-type") == "text/event-stream"
    assert r.header("x-accel-buffering") == "no"
    events = r.events()
    assert all(e.id is None for e in events)  # 2026-07-28: no resumability, no event ids
    msgs = r.messages()
    assert [m.method for m in msgs[:-1]] == ["notifications/progress", "notifications/progress"]
    assert type(msgs[-1]) is jsonrpc.Response and msgs[-1].result["content"][0]["text"] == "ok"
    assert http.stats["sse_open"] == 0


@async_test
async def test_logs_need_the_per_request_level() -> None:
    _, _, c = make()
    r = c.modern("tools/call", {"name": "progress", "arguments": {}}, **{"io.modelcontextprotocol/logLevel": "info"})
    assert [m.method for m in r.messages()[:-1]] == ["notifications/message"]


@async_test
async def test_json_response_mode_drops_notifications() -> None:
    _, _, c = make(json_response=True)
    r = c.modern("tools/call", {"name": "progress", "arguments": {}, "_meta": {"progressToken": "p"}})
    assert r.calls == ["respond"] and result_of(r)["content"][0]["text"] == "ok"


@async_test
async def test_suspended_handler_answers_json_later() -> None:
    core, http, c = make()
    r = c.modern("tools/call", {"name": "wait", "arguments": {}})
    await settle()
    assert r.status is None and len(http.inflight) == 1
    open_gate(core)
    await settle()
    assert r.calls == ["respond"] and result_of(r)["content"][0]["text"] == "opened g"
    assert not http.inflight


@async_test
async def test_client_disconnect_cancels_the_request() -> None:
    core, http, c = make()
    r = c.modern("tools/call", {"name": "wait", "arguments": {}})
    await settle()
    assert "g" in core.gate
    r.disconnect()
    await settle()
    assert "g" not in core.gate  # the handler was cancelled (its finally ran)
    assert r.calls == [] and not http.inflight


@async_test
async def test_disconnect_during_sse_cancels_too() -> None:
    core, http, c = make()
    r = c.modern("tools/call", {"name": "slow_progress", "arguments": {}, "_meta": {"progressToken": 1}})
    await settle()
    assert r.is_sse and len(r.messages()) == 1
    r.disconnect()
    await settle()
    assert "g" not in core.gate and http.stats["sse_open"] == 0


@async_test
async def test_silent_request_commits_to_sse_for_keepalive() -> None:
    core, http, c = make(sse_keepalive=0.01)
    r = c.modern("tools/call", {"name": "wait", "arguments": {}})
    import asyncio

    await asyncio.sleep(0.05)
    assert r.is_sse and any(ch.startswith(b":") for ch in r.chunks)
    open_gate(core)
    await settle()
    assert r.ended and result_of(r)["content"][0]["text"] == "opened g"


@async_test
async def test_listen_streams_with_keepalive_and_ends_on_close() -> None:
    core, http, c = make(sse_keepalive=0.01)
    r = c.modern("subscriptions/listen", {"notifications": {"toolsListChanged": True}})
    assert r.is_sse and not r.ended
    msgs = r.messages()
    assert msgs[0].method == "notifications/subscriptions/acknowledged"
    core.add_tool("new", lambda: "x", input_schema={"type": "object"})
    msgs = r.messages()
    assert msgs[-1].method == "notifications/tools/list_changed"
    assert msgs[-1].params["_meta"]["io.modelcontextprotocol/subscriptionId"] == 1
    import asyncio

    await asyncio.sleep(0.05)
    assert any(ch == b": ping\n\n" for ch in r.chunks)
    r.disconnect()
    await settle()
    assert not core._listeners and not http.inflight


@async_test
async def test_listen_streams_even_in_json_mode_but_needs_sse_accept() -> None:
    _, _, c = make(json_response=True)
    r = c.modern("subscriptions/listen", {"notifications": {}})
    assert r.is_sse
    r.disconnect()
    r = c.modern("subscriptions/listen", {"notifications": {}}, headers={"accept": "application/json"})
    assert r.status == 406


@async_test
async def test_listen_ends_gracefully_on_shutdown() -> None:
    _, http, c = make()
    await http.startup()
    r = c.modern("subscriptions/listen", {"notifications": {"toolsListChanged": True}})
    await http.shutdown()
    assert r.ended
    assert type(r.messages()[-1]) is jsonrpc.Response


@async_test
async def test_handlers_see_the_http_request() -> None:
    _, _, c = make()
    r = c.modern("tools/call", {"name": "who", "arguments": {}})
    assert result_of(r)["content"][0]["text"] == "POST /mcp None"


@async_test
async def test_no_state_survives_a_request() -> None:
    core, http, c = make()
    for _ in range(3):
        assert c.modern("tools/call", {"name": "add", "arguments": {"a": 1, "b": 1}}, id=1).status == 200
    assert not core._sessions and not http.inflight and len(http.table) == 0
