"""SSE resumability (Last-Event-ID, SEP-1699 polling), the event store and its bounds, slow clients."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mcpfast.testing import async_test
from mcpfast.transports.http import HTTPSettings, StreamableHTTP
from mcpfast.transports.http.sessions import EventStore, MemoryEventStore
from mcpfast.wire import jsonrpc

from .fakes import Client, FakeResponder, build_core, open_gate, request, result_of, settle


def make(**kw: Any) -> tuple[Any, StreamableHTTP, Client]:
    core = build_core()
    http = StreamableHTTP(core, HTTPSettings(**kw))
    return core, http, Client(http)


# ------------------------------------------------------------------ close_sse_stream (polling)


@async_test
async def test_close_sse_stream_then_resume_gets_the_rest_and_the_response() -> None:
    core, http, c = make()
    c.initialize()
    r = c.call("tools/call", {"name": "reconnect", "arguments": {}, "_meta": {"progressToken": 1}})
    await settle()
    # the stream was primed (id + retry), carried the first progress, then ended early
    assert r.is_sse and r.ended
    events = r.events()
    assert events[0].data == "" and events[0].retry == 1000
    assert [m.method for m in r.messages()] == ["notifications/progress"]
    last = events[-1].id
    # the request runs on; what it sends now waits in the store
    open_gate(core)
    await settle()
    g = c.get({"last-event-id": last})
    assert g.status == 200 and g.ended
    msgs = g.messages()
    assert msgs[0].method == "notifications/progress" and msgs[0].params["progress"] == 2
    assert type(msgs[-1]) is jsonrpc.Response and msgs[-1].result["content"][0]["text"] == "reconnected"
    # replayed events keep their ids, in order
    ids = [e.id for e in g.events()]
    assert ids == sorted(ids, key=lambda i: int(i.rpartition("/")[2]))


@async_test
async def test_resume_before_the_response_waits_for_it_on_the_new_stream() -> None:
    core, http, c = make()
    c.initialize()
    r = c.call("tools/call", {"name": "reconnect", "arguments": {}, "_meta": {"progressToken": 1}})
    await settle()
    last = r.events()[0].id  # resume from the priming event: the progress is replayed
    g = c.get({"last-event-id": last})
    assert g.is_sse and not g.ended
    assert [m.method for m in g.messages()] == ["notifications/progress"]
    assert g.events()[-1].data == "" and g.events()[-1].retry == 1000  # primed again, resumable again
    open_gate(core)
    await settle()
    assert g.ended
    assert result_of(g)["content"][0]["text"] == "reconnected"
    # the session's own GET stream is still free
    assert c.get().status == 200


@async_test
async def test_close_sse_stream_is_a_noop_where_the_client_cannot_resume() -> None:
    core, _, c = make()
    c.initialize("2025-06-18")  # no priming events before 2025-11-25
    r = c.call("tools/call", {"name": "reconnect", "arguments": {}, "_meta": {"progressToken": 1}})
    await settle()
    assert r.is_sse and not r.ended
    open_gate(core)
    await settle()
    assert r.ended and result_of(r)["content"][0]["text"] == "reconnected"
    # modern requests cannot resume either: the stream stays
    m = Client(c.http).modern("tools/call", {"name": "reconnect", "arguments": {}, "_meta": {"progressToken": 1}})
    await settle()
    assert not m.ended
    open_gate(core)
    await settle()
    assert m.ended and result_of(m)["content"][0]["text"] == "reconnected"


@async_test
async def test_close_standalone_sse_stream() -> None:
    core, http, c = make()
    c.initialize()
    g = c.get()

    async def end_get(ctx: Any) -> str:
        from mcpfast.requestvars import stream_control

        stream_control.get().close_standalone_sse_stream()
        return "ended"

    core.add_tool("end_get", end_get, input_schema={"type": "object"}, context_kwarg="ctx")
    last = g.events()[-1].id
    r = c.call("tools/call", {"name": "end_get", "arguments": {}})
    await settle()
    assert result_of(r)["content"][0]["text"] == "ended"
    assert g.ended
    core.add_tool("later", lambda: "x", input_schema={"type": "object"})
    g2 = c.get({"last-event-id": last})
    assert [m.method for m in g2.messages()] == ["notifications/tools/list_changed"]


@async_test
async def test_legacy_disconnect_is_not_cancellation() -> None:
    core, http, c = make()
    c.initialize()
    r = c.call("tools/call", {"name": "slow_progress", "arguments": {}, "_meta": {"progressToken": 1}})
    await settle()
    assert r.is_sse
    last = r.events()[-1].id
    r.disconnect()
    await settle()
    assert "g" in core.gate  # still running
    open_gate(core)
    await settle()
    g = c.get({"last-event-id": last})
    msgs = g.messages()
    assert msgs[0].params["progress"] == 2 and msgs[-1].result["content"][0]["text"] == "slow done"
    assert g.ended


@async_test
async def test_last_event_id_of_another_session_or_unknown_is_not_replayed() -> None:
    core, http, c = make()
    c.initialize()
    r = c.call("tools/call", {"name": "progress", "arguments": {}, "_meta": {"progressToken": 1}})
    first = r.events()[0].id
    other = Client(http)
    other.initialize()
    g = other.get({"last-event-id": first})
    assert g.is_sse and g.messages() == []  # a fresh GET stream, nothing of the other session
    assert other.get({"last-event-id": "garbage"}).status == 409  # its GET stream is open now
    g.disconnect()
    assert other.get({"last-event-id": "garbage"}).status == 200


@async_test
async def test_deleted_session_forgets_its_events() -> None:
    _, http, c = make()
    c.initialize()
    c.call("tools/call", {"name": "progress", "arguments": {}, "_meta": {"progressToken": 1}})
    store = http.store
    assert isinstance(store, MemoryEventStore) and store.streams == 1
    c.delete()
    assert store.streams == 0 and store.size == 0


@async_test
async def test_slow_client_stream_is_cut_and_resumable() -> None:
    core, http, c = make(max_sse_buffer=10)
    c.initialize()
    g = FakeResponder(buffered=100)
    http.handle(request("GET", None, c.session_headers()), g)
    assert g.is_sse and not g.ended  # the priming event alone is not checked
    core.add_tool("new", lambda: "x", input_schema={"type": "object"})
    assert g.ended  # cut: the client was not reading
    last = g.events()[0].id
    g2 = c.get({"last-event-id": last})
    assert [m.method for m in g2.messages()] == ["notifications/tools/list_changed"]


# ------------------------------------------------------------------ the store itself


def test_memory_store_replay_and_ids() -> None:
    s = MemoryEventStore()
    assert isinstance(s, EventStore)
    prime = s.store_event("S.1", b"")
    a = s.store_event("S.1", b"a")
    b = s.store_event("S.1", b"b")
    s.store_event("S.2", b"other")
    assert s.replay_after(prime) == ("S.1", [(a, b"a"), (b, b"b")])
    assert s.replay_after(a) == ("S.1", [(b, b"b")])
    assert s.replay_after(b) == ("S.1", [])
    assert s.replay_after("S.9/1") is None
    assert s.replay_after("nonsense") is None
    assert s.replay_after("S.1/x") is None
    s.forget_session("S")
    assert s.streams == 0 and s.size == 0


def test_memory_store_bounds() -> None:
    s = MemoryEventStore(max_events_per_stream=3, max_bytes=10_000)
    first = s.store_event("A.1", b"0")
    for i in range(1, 10):
        s.store_event("A.1", str(i).encode())
    _, events = s.replay_after(first)  # type: ignore[misc]
    assert [e[1] for e in events] == [b"7", b"8", b"9"]  # only the last 3 are kept
    # the byte cap evicts the oldest streams' oldest events first
    s = MemoryEventStore(max_bytes=2000)
    old = s.store_event("A.1", b"x" * 500)
    for i in range(20):
        s.store_event(f"B.{i}", b"y" * 500)
    assert s.size <= 2000
    assert s.replay_after(old) is None  # stream A.1 was evicted entirely
    assert s.streams <= 4
    with pytest.raises(ValueError):
        MemoryEventStore(max_events_per_stream=0)
    with pytest.raises(ValueError):
        MemoryEventStore(max_bytes=0)


@async_test
async def test_a_custom_event_store_is_used() -> None:
    class Recording(MemoryEventStore):
        __slots__ = ("seen",)

        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def store_event(self, stream_id: str, message: bytes) -> str:
            self.seen.append(stream_id)
            return super().store_event(stream_id, message)

    store = Recording()
    _, http, c = make(event_store=store)
    c.initialize()
    c.call("tools/call", {"name": "progress", "arguments": {}, "_meta": {"progressToken": 1}})
    assert store.seen and all(s == f"{c.session_id}.1" for s in store.seen)


@async_test
async def test_event_store_is_bounded_under_load() -> None:
    store = MemoryEventStore(max_bytes=50_000)
    core, http, c = make(event_store=store)
    c.initialize()
    g = c.get()
    for i in range(300):
        core.add_tool(f"t{i}", lambda: "x", input_schema={"type": "object"})
    assert len(g.messages()) == 300
    assert store.size <= 50_000


@async_test
async def test_many_streams_keep_working() -> None:
    core, http, c = make()
    c.initialize()
    rs = [c.call("tools/call", {"name": "slow_progress", "arguments": {"name": f"g{i}"},
                                "_meta": {"progressToken": i}}) for i in range(5)]
    await settle()
    assert all(r.is_sse for r in rs)
    for i in reversed(range(5)):
        open_gate(core, f"g{i}")
    await asyncio.sleep(0.01)
    for i, r in enumerate(rs):
        assert r.ended and r.messages()[-1].result["content"][0]["text"] == "slow done"
        assert all(m.params["progressToken"] == i for m in r.messages()[:-1])
    assert http.stats["sse_open"] == 0 and http.inflight == set()


@async_test
async def test_close_sse_stream_before_anything_was_sent() -> None:
    core, _, c = make()

    def quick(ctx: Any) -> str:
        from mcpfast.requestvars import stream_control

        stream_control.get().close_sse_stream()
        return "answered after the close"

    core.add_tool("quick", quick, input_schema={"type": "object"}, context_kwarg="ctx")
    c.initialize()
    r = c.call("tools/call", {"name": "quick", "arguments": {}})
    assert r.is_sse and r.ended and r.messages() == []  # just the priming event
    g = c.get({"last-event-id": r.events()[0].id})
    assert result_of(g)["content"][0]["text"] == "answered after the close" and g.ended


@async_test
async def test_resume_while_the_old_connection_still_looks_open() -> None:
    core, http, c = make()
    c.initialize()
    r = c.call("tools/call", {"name": "slow_progress", "arguments": {}, "_meta": {"progressToken": 1}})
    await settle()
    g = c.get({"last-event-id": r.events()[0].id})
    assert r.ended  # the stale connection was ended, the new one took over
    open_gate(core)
    await settle()
    assert g.ended and result_of(g)["content"][0]["text"] == "slow done"
    assert http.stats["sse_open"] == 0


@async_test
async def test_slow_client_on_a_post_stream() -> None:
    core, http, c = make(max_sse_buffer=10)
    # 2026-07-28: cut and cancelled
    m = FakeResponder(buffered=100)
    from .fakes import modern_body, modern_headers

    params = {"name": "slow_progress", "arguments": {}, "_meta": {"progressToken": 1}}
    http.handle(request("POST", modern_body("tools/call", params), modern_headers("tools/call", params)), m)
    await settle()
    assert m.ended and "g" not in core.gate
    # legacy: cut, the request runs on, resumable
    c.initialize()
    r = FakeResponder(buffered=100)
    http.handle(request("POST", {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": params},
                        c.session_headers()), r)
    await settle()
    assert r.ended and "g" in core.gate
    open_gate(core)
    await settle()
    g = c.get({"last-event-id": r.events()[0].id})
    assert result_of(g)["content"][0]["text"] == "slow done"


@async_test
async def test_delete_ends_open_post_streams() -> None:
    core, http, c = make()
    c.initialize()
    r = c.call("tools/call", {"name": "slow_progress", "arguments": {}, "_meta": {"progressToken": 1}})
    await settle()
    d = c.call("tools/call", {"name": "reconnect", "arguments": {"name": "d"}, "_meta": {"progressToken": 2}})
    await settle()
    assert r.is_sse and not r.ended and d.ended
    assert c.delete().status == 200
    await settle()
    assert r.ended and not core.gate and http.stats["sse_open"] == 0


@async_test
async def test_json_mode_sends_server_requests_on_the_get_stream() -> None:
    _, _, c = make(json_response=True)
    c.initialize(caps={"elicitation": {}})
    g = c.get()
    r = c.call("tools/call", {"name": "ask", "arguments": {}})
    await settle()
    ask = g.messages()[-1]
    assert type(ask) is jsonrpc.Request and ask.method == "elicitation/create"
    c.post({"jsonrpc": "2.0", "id": ask.id, "result": {"action": "accept", "content": {"name": "Bo"}}},
           c.session_headers())
    await settle()
    assert r.calls == ["respond"] and result_of(r)["content"][0]["text"] == "Hello Bo"


@async_test
async def test_a_message_after_the_response_goes_to_the_get_stream() -> None:
    core, _, c = make()
    later: list[Any] = []

    def leaves_work(ctx: Any) -> str:
        async def after() -> None:
            await asyncio.sleep(0)
            ctx.info("after the response")

        later.append(asyncio.ensure_future(after()))
        return "done"

    core.add_tool("leaves_work", leaves_work, input_schema={"type": "object"}, context_kwarg="ctx")
    c.initialize()
    g = c.get()
    r = c.call("tools/call", {"name": "leaves_work", "arguments": {}})
    assert r.calls == ["respond"]
    await asyncio.gather(*later)
    assert [m.params["data"] for m in g.messages()] == ["after the response"]


@async_test
async def test_unencodable_results_and_errors() -> None:
    core, _, c = make()
    from mcpfast.errors import JSONRPCError
    from mcpfast.server.registry import ToolResult

    async def weird() -> Any:
        return ToolResult(content=[{"type": "text", "text": "x"}], extra={1, 2})

    def bad_error() -> Any:
        raise JSONRPCError("custom", data={3, 4}, code=-31999)

    core.add_tool("weird", weird, input_schema={"type": "object"})
    core.add_tool("bad_error", bad_error, input_schema={"type": "object"})
    c.initialize()
    r = c.call("tools/call", {"name": "weird", "arguments": {}})
    await settle()
    assert r.json()["error"]["code"] == -32603
    r = c.call("tools/call", {"name": "bad_error", "arguments": {}})
    assert r.json()["error"] == {"code": -31999, "message": "custom"}
