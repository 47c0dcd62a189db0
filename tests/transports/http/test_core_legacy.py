"""Legacy (2025-11-25 and earlier) sessions on the Streamable HTTP core, through a real ServerCore."""

from __future__ import annotations

import asyncio
from typing import Any

from mcpfast.errors import INVALID_REQUEST, PARSE_ERROR, SERVER_OVERLOADED
from mcpfast.testing import async_test
from mcpfast.transports.http import HTTPSettings, StreamableHTTP
from mcpfast.wire import jsonrpc

from .fakes import Client, build_core, open_gate, request, result_of, settle

INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}


def make(**kw: Any) -> tuple[Any, StreamableHTTP, Client]:
    core = build_core()
    http = StreamableHTTP(core, HTTPSettings(**kw))
    return core, http, Client(http)


# ------------------------------------------------------------------ session lifecycle


@async_test
async def test_initialize_opens_a_session_with_a_strong_id() -> None:
    core, http, c = make()
    r = c.initialize()
    assert r.status == 200 and r.calls == ["respond"]
    sid = r.header("mcp-session-id")
    assert sid is not None and len(sid) >= 22
    assert all(0x21 <= ord(ch) <= 0x7E for ch in sid)
    assert result_of(r)["protocolVersion"] == "2025-11-25"
    assert len(http.table) == 1 and len(core._sessions) == 1
    other = Client(http)
    other.initialize()
    assert other.session_id != sid and len(http.table) == 2


@async_test
async def test_failed_initialize_opens_nothing() -> None:
    core, http, c = make()
    r = c.post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": 5}})
    assert r.status == 200 and r.header("mcp-session-id") is None
    assert type(r.messages()[0]) is jsonrpc.ErrorResponse
    assert len(http.table) == 0 and not core._sessions


@async_test
async def test_requests_in_a_session() -> None:
    _, _, c = make()
    c.initialize()
    r = c.call("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
    assert r.status == 200 and r.calls == ["respond"] and r.header("content-type") == "application/json"
    res = result_of(r)
    assert res == {"content": [{"type": "text", "text": "3"}]}  # legacy: no resultType
    assert result_of(c.call("ping")) == {}


@async_test
async def test_missing_and_unknown_session_ids() -> None:
    _, _, c = make()
    r = c.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert r.status == 400 and r.error_code() == INVALID_REQUEST
    assert "Mcp-Session-Id" in r.json()["error"]["message"]
    r = c.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, {"mcp-session-id": "nope"})
    assert r.status == 404
    c.session_id = "nope"
    assert c.get().status == 404 and c.delete().status == 404


@async_test
async def test_delete_ends_the_session() -> None:
    core, http, c = make()
    c.initialize()
    g = c.get()
    r = c.delete()
    assert r.status == 200
    assert g.ended  # its GET stream ended too
    assert c.call("ping").status == 404 and c.get().status == 404 and c.delete().status == 404
    assert len(http.table) == 0 and not core._sessions
    assert http.stats["sessions_deleted"] == 1


@async_test
async def test_delete_answers_requests_in_flight() -> None:
    core, http, c = make()
    c.initialize()
    r = c.call("tools/call", {"name": "wait", "arguments": {}})
    await settle()
    assert r.status is None
    c.delete()
    await settle()
    assert r.status == 503 and "session ended" in r.json()["error"]["message"]
    assert "g" not in core.gate  # the handler was cancelled


@async_test
async def test_session_cap_evicts_an_idle_session_else_answers_503_overloaded() -> None:
    _, http, c = make(max_sessions=2)
    a, b = Client(http), Client(http)
    assert a.initialize().status == 200 and b.initialize().status == 200
    ga, gb = a.get(), b.get()  # an open GET stream: neither session is idle
    r = Client(http).initialize()
    assert r.status == 503 and r.error_code() == SERVER_OVERLOADED
    assert "max_sessions" in r.json()["error"]["message"]
    assert http.stats["sessions_refused"] == 1
    gb.disconnect()  # b is idle now: a full table evicts it for a newcomer
    await settle()
    d = Client(http)
    assert d.initialize().status == 200
    assert len(http.table) == 2 and b.call("ping").status == 404 and a.call("ping").status == 200
    ga.disconnect()


@async_test
async def test_idle_sessions_expire() -> None:
    core, http, c = make(session_ttl=0.04)
    await http.startup()
    try:
        c.initialize()
        busy = Client(http)
        busy.initialize()
        g = busy.get()  # an open GET stream holds a session
        keep = Client(http)
        keep.initialize()
        for _ in range(8):
            await asyncio.sleep(0.02)
            assert keep.call("ping").status == 200  # used: stays
        assert c.call("ping").status == 404
        assert busy.call("ping").status == 200
        assert keep.call("ping").status == 200
        assert http.stats["sessions_expired"] == 1
        g.disconnect()
        await asyncio.sleep(0.15)
        assert busy.call("ping").status == 404
        assert keep.call("ping").status == 404  # unused for longer than the TTL
        assert len(http.table) == 0 and not core._sessions
    finally:
        await http.shutdown()


@async_test
async def test_protocol_version_header() -> None:
    _, _, c = make()
    c.initialize()
    assert c.call("ping", headers={"mcp-protocol-version": "2025-06-18"}).status == 200
    r = c.call("ping", headers={"mcp-protocol-version": "1999-01-01"})
    assert r.status == 400 and "MCP-Protocol-Version" in r.json()["error"]["message"]
    h = c.session_headers()
    del h["mcp-protocol-version"]
    assert c.post({"jsonrpc": "2.0", "id": 5, "method": "ping"}, h).status == 200  # absent: 2025-03-26


@async_test
async def test_notifications_and_responses_get_202() -> None:
    _, _, c = make()
    c.initialize()
    assert c.notify("notifications/progress", {"progressToken": 1, "progress": 1}).status == 202
    r = c.post({"jsonrpc": "2.0", "id": 99, "result": {}}, c.session_headers())
    assert r.status == 202


@async_test
async def test_batches_only_at_2025_03_26() -> None:
    _, _, c = make()
    c.initialize("2025-11-25")
    r = c.post([{"jsonrpc": "2.0", "id": 1, "method": "ping"}], c.session_headers())
    assert r.status == 400 and r.error_code() == INVALID_REQUEST and "2025-03-26" in r.json()["error"]["message"]


@async_test
async def test_a_batch_gets_one_json_array() -> None:
    core, _, c = make()
    c.initialize("2025-03-26")
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 2}}},
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 0, "progress": 1}},
        {"jsonrpc": "2.0", "id": 2, "method": "nope"},
        {"jsonrpc": "1.0", "id": 3, "method": "bad"},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "wait", "arguments": {}}},
    ]
    r = c.post(batch, c.session_headers())
    await settle()
    assert r.status is None  # waits for the suspended one
    open_gate(core)
    await settle()
    assert r.status == 200 and r.calls == ["respond"]
    answers = {a["id"]: a for a in r.json()}
    assert answers[1]["result"]["content"][0]["text"] == "3"
    assert answers[2]["error"]["code"] == -32601
    assert answers[3]["error"]["code"] == INVALID_REQUEST
    assert answers[4]["result"]["content"][0]["text"] == "opened g"
    # only notifications: 202
    r = c.post([{"jsonrpc": "2.0", "method": "notifications/initialized"}], c.session_headers())
    assert r.status == 202


@async_test
async def test_a_batch_streams_once_a_handler_sends_something() -> None:
    _, _, c = make()
    c.initialize("2025-03-26")
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "progress", "arguments": {}, "_meta": {"progressToken": 7}}},
        {"jsonrpc": "2.0", "id": 3, "method": "ping"},
        {"jsonrpc": "2.0", "id": 3, "method": "ping"},
    ]
    r = c.post(batch, c.session_headers())
    assert r.is_sse and r.ended
    msgs = r.messages()
    responses = [m for m in msgs if type(m) in (jsonrpc.Response, jsonrpc.ErrorResponse)]
    assert sorted(str(m.id) for m in responses) == ["1", "2", "3", "3"]
    assert any(type(m) is jsonrpc.Notification for m in msgs)
    # the same id twice in one batch: both refused
    assert sum(1 for m in responses if type(m) is jsonrpc.ErrorResponse) == 2


@async_test
async def test_duplicate_request_id_in_flight() -> None:
    core, _, c = make()
    c.initialize()
    r1 = c.call("tools/call", {"name": "wait", "arguments": {}}, id=7)
    await settle()
    r2 = c.call("ping", id=7)
    assert r2.status == 409
    open_gate(core)
    await settle()
    assert result_of(r1)["content"][0]["text"] == "opened g"


# ------------------------------------------------------------------ HTTP-level checks


@async_test
async def test_content_type_accept_and_methods() -> None:
    _, _, c = make()
    r = c.post(INIT, {"content-type": "text/plain"})
    assert r.status == 415
    assert c.post(INIT, {"content-type": "application/json; charset=utf-8"}).status == 200
    for accept in ("application/json", "text/event-stream", None, "text/html"):
        r = c.post(INIT, {"accept": accept})
        assert r.status == 406, accept
    for accept in ("*/*", "application/*, text/*", "application/json;q=1, text/event-stream;q=0.5"):
        assert c.post(INIT, {"accept": accept}).status == 200, accept
    r = c.send(request("PUT", None, {}))
    assert r.status == 405 and r.header("allow") == "GET, POST, DELETE"
    r = c.send(request("POST", INIT, path="/other"))
    assert r.status == 404


@async_test
async def test_json_response_mode_needs_only_json_accept() -> None:
    _, _, c = make(json_response=True)
    assert c.post(INIT, {"accept": "application/json"}).status == 200
    assert c.post(INIT, {"accept": "text/event-stream"}).status == 406


@async_test
async def test_parse_errors() -> None:
    _, _, c = make()
    r = c.post(None, raw=b"{")
    assert r.status == 400 and r.error_code() == PARSE_ERROR
    r = c.post({"jsonrpc": "2.0", "id": 1})
    assert r.status == 400 and r.error_code() == INVALID_REQUEST and r.json()["id"] == 1


@async_test
async def test_trailing_slash_path() -> None:
    _, _, c = make()
    r = c.send(request("POST", INIT, path="/mcp/"))
    assert r.status == 200


# ------------------------------------------------------------------ streaming


@async_test
async def test_progress_switches_to_sse_with_priming_and_ids() -> None:
    _, http, c = make(sse_retry_ms=250)
    c.initialize()
    r = c.call("tools/call", {"name": "progress", "arguments": {}, "_meta": {"progressToken": 9}})
    assert r.is_sse and r.ended and r.header("content-type") == "text/event-stream"
    events = r.events()
    prime = events[0]
    assert prime.data == "" and prime.id is not None and prime.retry == 250
    assert all(e.id for e in events) and len({e.id for e in events}) == len(events)
    assert all(e.id.startswith(c.session_id) for e in events)  # an id names its session's stream
    msgs = r.messages()
    assert [m.method for m in msgs[:-1]] == ["notifications/progress", "notifications/progress",
                                             "notifications/message"]
    assert type(msgs[-1]) is jsonrpc.Response
    assert http.stats["sse_open"] == 0


@async_test
async def test_no_priming_before_2025_11_25() -> None:
    _, _, c = make()
    c.initialize("2025-06-18")
    r = c.call("tools/call", {"name": "progress", "arguments": {}, "_meta": {"progressToken": 9}})
    events = r.events()
    assert events[0].data != "" and all(e.retry is None for e in events)


@async_test
async def test_json_response_mode_never_streams_posts() -> None:
    _, _, c = make(json_response=True)
    c.initialize()
    r = c.call("tools/call", {"name": "progress", "arguments": {}, "_meta": {"progressToken": 9}})
    assert r.calls == ["respond"] and result_of(r)["content"][0]["text"] == "ok"


@async_test
async def test_server_to_client_request_on_the_post_stream() -> None:
    core, _, c = make()
    c.initialize(caps={"elicitation": {}})
    r = c.call("tools/call", {"name": "ask", "arguments": {}})
    await settle()
    assert r.is_sse
    ask = r.messages()[-1]
    assert type(ask) is jsonrpc.Request and ask.method == "elicitation/create"
    answer = c.post({"jsonrpc": "2.0", "id": ask.id, "result": {"action": "accept", "content": {"name": "Ada"}}},
                    c.session_headers())
    assert answer.status == 202
    await settle()
    assert r.ended and result_of(r)["content"][0]["text"] == "Hello Ada"


@async_test
async def test_cancelled_notification_ends_the_stream() -> None:
    core, _, c = make()
    c.initialize()
    r = c.call("tools/call", {"name": "wait", "arguments": {}}, id=11)
    await settle()
    c.notify("notifications/cancelled", {"requestId": 11})
    await settle()
    assert r.status == 200 and r.json()["error"]["code"] == -32800
    assert "g" not in core.gate


@async_test
async def test_get_stream_carries_unsolicited_messages() -> None:
    core, http, c = make()
    c.initialize()
    g = c.get()
    assert g.status == 200 and g.is_sse and not g.ended
    prime = g.events()[0]
    assert prime.data == "" and prime.id == f"{c.session_id}.0/1" and prime.retry == 1000
    core.add_tool("new", lambda: "x", input_schema={"type": "object"})
    msgs = g.messages()
    assert [m.method for m in msgs] == ["notifications/tools/list_changed"]
    # a second concurrent GET is a conflict
    assert c.get().status == 409
    # a request's own notifications go to its POST, not to the GET stream
    r = c.call("tools/call", {"name": "progress", "arguments": {}, "_meta": {"progressToken": 1}})
    assert r.is_sse and len(g.messages()) == 1
    g.disconnect()
    assert c.get().status == 200  # free again


@async_test
async def test_unsolicited_without_a_stream_is_dropped_or_kept() -> None:
    core, http, c = make()
    c.initialize()
    core.add_tool("new1", lambda: "x", input_schema={"type": "object"})
    assert http.stats["unsolicited_dropped"] == 1  # never had a GET stream: nobody could resume it
    g = c.get()
    last = g.events()[-1].id
    g.disconnect()
    core.add_tool("new2", lambda: "x", input_schema={"type": "object"})  # kept for the resume
    g2 = c.get({"last-event-id": last})
    assert [m.method for m in g2.messages()] == ["notifications/tools/list_changed"]
    core.add_tool("new3", lambda: "x", input_schema={"type": "object"})
    assert len(g2.messages()) == 2


@async_test
async def test_resource_updates_reach_the_subscriber_only() -> None:
    core, _, c = make()
    c.initialize()
    other = Client(c.http)
    other.initialize()
    assert result_of(c.call("resources/subscribe", {"uri": "file:///a.txt"})) == {}
    g1, g2 = c.get(), other.get()
    core.notify_resource_updated("file:///a.txt")
    assert [m.params["uri"] for m in g1.messages()] == ["file:///a.txt"]
    assert g2.messages() == []


@async_test
async def test_stateless_mode_serves_legacy_without_sessions() -> None:
    core, http, c = make(stateless=True)
    r = c.initialize()
    assert r.status == 200 and r.header("mcp-session-id") is None and c.session_id is None
    assert not core._sessions and len(http.table) == 0
    r = c.post({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add",
                                                                            "arguments": {"a": 1, "b": 1}}},
               {"mcp-protocol-version": "2025-06-18"})
    assert result_of(r)["content"][0]["text"] == "2"
    assert c.get().status == 405 and c.delete().status == 405
    assert c.post({"jsonrpc": "2.0", "method": "notifications/initialized"}).status == 202
    # a suspended handler still answers
    r = c.post({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "wait", "arguments": {}}})
    await settle()
    open_gate(core)
    await settle()
    assert result_of(r)["content"][0]["text"] == "opened g"


@async_test
async def test_shutdown_answers_requests_in_flight_and_ends_streams() -> None:
    entered: list[str] = []

    class Life:
        async def __aenter__(self) -> None:
            entered.append("in")

        async def __aexit__(self, *exc: Any) -> None:
            entered.append("out")

    core, http, c = make(lifespan=Life, shutdown_grace=0.01)
    await http.startup()
    await http.startup()  # once
    assert entered == ["in"]
    c.initialize()
    g = c.get()
    r = c.call("tools/call", {"name": "wait", "arguments": {}})
    m = Client(http).modern("tools/call", {"name": "wait", "arguments": {}}, headers={})
    await settle()
    await http.shutdown()
    assert entered == ["in", "out"]
    assert g.ended
    assert r.status == 200 and r.json()["error"]["code"] == -32000
    assert m.status == 200 and m.json()["error"]["code"] == -32000
    assert len(http.table) == 0 and not core._sessions
    r = c.post(INIT)
    assert r.status == 503


@async_test
async def test_request_timeout_answers_32001() -> None:
    core, http, c = make(request_timeout=0.01)
    c.initialize()
    r = c.call("tools/call", {"name": "wait", "arguments": {}})
    m = Client(http).modern("tools/call", {"name": "wait", "arguments": {"name": "m"}})
    await asyncio.sleep(0.05)
    assert r.status == 200 and r.json()["error"]["code"] == -32001
    assert m.status == 200 and m.json()["error"]["code"] == -32001
    assert not http.inflight and not core.gate


@async_test
async def test_in_flight_limit_per_session() -> None:
    core, _, c = make(max_in_flight=2)
    c.initialize()
    rs = [c.call("tools/call", {"name": "wait", "arguments": {"name": f"g{i}"}}) for i in range(2)]
    await settle()
    r = c.call("ping")
    assert r.status == 503 and r.json()["error"]["code"] == -32005 and "max_in_flight" in r.json()["error"]["message"]
    for i in range(2):
        open_gate(core, f"g{i}")
    await settle()
    assert all(x.status == 200 for x in rs)
    assert c.call("ping").status == 200


@async_test
async def test_get_stream_keepalive_and_modern_get() -> None:
    _, _, c = make(sse_keepalive=0.01)
    c.initialize()
    g = c.get()
    await asyncio.sleep(0.05)
    assert g.chunks.count(b": ping\n\n") >= 2
    g.disconnect()
    r = c.send(request("GET", None, {"mcp-protocol-version": "2026-07-28"}))
    assert r.status == 405 and r.header("allow") == "POST"
    r = c.send(request("DELETE", None, {"mcp-protocol-version": "2026-07-28"}))
    assert r.status == 405
    assert c.get({"accept": "application/json"}).status == 406
    h = c.session_headers()
    del h["mcp-session-id"]
    assert c.send(request("GET", None, h)).status == 400
    assert c.send(request("DELETE", None, h)).status == 400


@async_test
async def test_sessions_expire_even_without_startup() -> None:
    _, http, c = make(session_ttl=0.02)
    c.initialize()
    assert http.table.running
    await asyncio.sleep(0.1)
    assert c.call("ping").status == 404
    await http.shutdown()
    assert not http.table.running
