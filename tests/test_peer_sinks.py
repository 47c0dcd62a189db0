"""JSONRPCPeer's public seams for drivers that route answers by request (HTTP, clients):
``call``/``feed`` with a reply sink, ``emit``, ``on_suspend``, ``in_flight``/``has_in_flight``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mcpfast.errors import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    REQUEST_TIMEOUT,
    SERVER_OVERLOADED,
    InvalidRequest,
)
from mcpfast.peer import JSONRPCPeer
from mcpfast.testing import async_test
from mcpfast.wire.jsonrpc import Notification, Request, decode_all

from .support.dispatchers import EchoDispatcher


class Chatty(EchoDispatcher):
    """``chatty`` sends a notification, then answers; ``achatty`` does so after a suspension."""

    def on_request(self, peer: Any, req: Any) -> Any:
        if req.method == "chatty":
            peer.notify("notifications/message", {"n": 1})
            return {"ok": True}
        if req.method == "achatty":
            return self._achatty(peer)
        return super().on_request(peer, req)

    async def _achatty(self, peer: Any) -> Any:
        await asyncio.sleep(0)
        peer.notify("notifications/message", {"n": 2})
        return {"ok": 2}


class Sink:
    """A reply sink that records ``(rid, decoded answer, error_code)``."""

    def __init__(self, log: list[Any] | None = None) -> None:
        self.answers: list[tuple[Any, Any, int | None]] = []
        self.log = log

    def __call__(self, rid: Any, data: bytes, code: int | None) -> None:
        self.answers.append((rid, json.loads(data), code))
        if self.log is not None:
            self.log.append(("answer", rid))


class RoutingPeer(JSONRPCPeer):
    """A driver that routes messages itself (as HTTP does) and records its hooks."""

    def __init__(self, dispatcher: Any, log: list[Any], **kw: Any) -> None:
        super().__init__(dispatcher, self._no_batches, **kw)
        self.log = log

    def _no_batches(self, messages: list[bytes]) -> None:
        raise AssertionError(f"nothing should be batched: {messages!r}")

    def emit(self, data: bytes) -> None:
        self.log.append(("emit", json.loads(data)["method"]))

    def on_suspend(self, rid: Any) -> None:
        self.log.append(("suspend", rid, self.has_in_flight(rid), self.in_flight))


def _sent() -> tuple[list[list[bytes]], Any]:
    calls: list[list[bytes]] = []
    return calls, calls.append


@async_test
async def test_call_answers_an_eager_handler_at_once_through_its_sink() -> None:
    calls, send = _sent()
    peer = JSONRPCPeer(EchoDispatcher(), send)
    sink = Sink()
    peer.call(Request(1, "echo", {"a": 1}), sink)
    assert sink.answers == [(1, {"jsonrpc": "2.0", "id": 1, "result": {"a": 1}}, None)]  # no loop turn needed
    peer.call(Request(2, "aecho", {"b": 2}), sink)  # a coroutine that never suspends
    peer.call(Request(3, "invalid"), sink)
    peer.call(Request(4, "boom"), sink)
    assert [(rid, code) for rid, _, code in sink.answers[1:]] == [(2, None), (3, INVALID_PARAMS), (4, INTERNAL_ERROR)]
    assert "secret" not in json.dumps(sink.answers[3][1])
    await asyncio.sleep(0)
    assert calls == []  # nothing went through send


@async_test
async def test_suspended_handler_answers_its_own_sink_later() -> None:
    log: list[Any] = []
    d = Chatty()
    peer = RoutingPeer(d, log)
    first, second = Sink(log), Sink(log)
    peer.call(Request("a", "gate", {"x": 1}), first)
    assert log == [("suspend", "a", True, 1)] and first.answers == []
    assert peer.has_in_flight("a") and not peer.has_in_flight("b")
    peer.call(Request("b", "echo", {"y": 2}), second)  # others are served meanwhile
    assert second.answers == [("b", {"jsonrpc": "2.0", "id": "b", "result": {"y": 2}}, None)]
    assert d.gate is not None
    d.gate.set()
    while not first.answers:
        await asyncio.sleep(0)
    assert first.answers == [("a", {"jsonrpc": "2.0", "id": "a", "result": {"x": 1}}, None)]
    assert peer.in_flight == 0 and not peer.has_in_flight("a")


@async_test
async def test_messages_leave_through_emit_before_the_answer() -> None:
    log: list[Any] = []
    peer = RoutingPeer(Chatty(), log)
    peer.call(Request(1, "chatty"), Sink(log))
    assert log == [("emit", "notifications/message"), ("answer", 1)]
    log.clear()
    peer.call(Request(2, "achatty"), Sink(log))
    while len(log) < 3:
        await asyncio.sleep(0)
    assert log == [("suspend", 2, True, 1), ("emit", "notifications/message"), ("answer", 2)]


@async_test
async def test_duplicate_and_overload_are_answered_through_the_sink() -> None:
    d = EchoDispatcher()
    peer = JSONRPCPeer(d, _sent()[1], max_in_flight=1)
    sink = Sink()
    peer.call(Request(1, "gate"), sink)
    peer.call(Request(1, "echo"), sink)
    peer.call(Request(2, "echo"), sink)
    assert [(rid, code) for rid, _, code in sink.answers] == [(1, INVALID_REQUEST), (2, SERVER_OVERLOADED)]
    assert d.gate is not None
    d.gate.set()
    while len(sink.answers) < 3:
        await asyncio.sleep(0)
    assert sink.answers[2][0] == 1 and sink.answers[2][2] is None


@async_test
async def test_timeout_and_shutdown_reach_the_sink_with_their_codes() -> None:
    peer = JSONRPCPeer(EchoDispatcher(), _sent()[1], request_timeout=0.05)
    sink = Sink()
    peer.call(Request(1, "slow", {"delay": 5}), sink)
    while not sink.answers:
        await asyncio.sleep(0.01)
    assert sink.answers[0][0] == 1 and sink.answers[0][2] == REQUEST_TIMEOUT

    peer = JSONRPCPeer(EchoDispatcher(), _sent()[1])
    sink = Sink()
    peer.call(Request(2, "slow", {"delay": 5}), sink)
    await peer.drain(0.01)
    assert [(rid, code) for rid, _, code in sink.answers] == [(2, CONNECTION_CLOSED)]


@async_test
async def test_cancelled_by_the_requester_or_closed_gets_no_answer() -> None:
    d = EchoDispatcher()
    peer = JSONRPCPeer(d, _sent()[1])
    sink = Sink()
    peer.call(Request(1, "slow", {"delay": 5}), sink)
    assert peer.cancel_request(1)
    await asyncio.sleep(0.01)
    assert sink.answers == [] and d.cancelled == 1 and peer.in_flight == 0
    peer.call(Request(2, "slow", {"delay": 5}), sink)
    peer.connection_lost(None)
    await asyncio.sleep(0.01)
    peer.call(Request(3, "echo"), sink)
    assert sink.answers == []


@async_test
async def test_call_from_inside_a_task_runs_the_eager_step_outside_it() -> None:
    peer = JSONRPCPeer(EchoDispatcher(), _sent()[1])
    sink = Sink()
    peer.call(Request(1, "current"), sink)  # this test runs inside a task
    assert sink.answers == [(1, {"jsonrpc": "2.0", "id": 1, "result": {"task": False}}, None)]
    assert asyncio.current_task() is not None  # and the caller's task is back


@async_test
async def test_feed_with_a_sink_routes_errors_batches_and_late_answers() -> None:
    calls, send = _sent()
    d = EchoDispatcher()
    peer = JSONRPCPeer(d, send)
    sink = Sink()
    bad = InvalidRequest("Invalid Request: no method", id=9)
    peer.feed([bad, Notification("notifications/x"), Request(1, "echo", {"a": 1})], sink)
    assert [(rid, code) for rid, _, code in sink.answers] == [(9, INVALID_REQUEST), (1, None)]
    sink.answers.clear()
    # a JSON-RPC batch: the immediate answers as one array, a suspended one on its own later
    peer.feed(decode_all([b'[{"jsonrpc":"2.0","id":5,"method":"echo","params":{"n":5}},'
                          b'{"jsonrpc":"2.0","id":6,"method":"gate"}]']), sink)
    assert len(sink.answers) == 1 and sink.answers[0][0] is None
    assert [m["id"] for m in sink.answers[0][1]] == [5]
    assert d.gate is not None
    d.gate.set()
    while len(sink.answers) < 2:
        await asyncio.sleep(0)
    assert sink.answers[1][0] == 6 and sink.answers[1][1]["id"] == 6
    assert calls == [] and d.notifications[0].method == "notifications/x"


@async_test
async def test_without_a_sink_answers_and_messages_share_one_send_in_order() -> None:
    calls, send = _sent()
    peer = JSONRPCPeer(Chatty(), send)
    peer.feed([Request(1, "chatty"), Request(2, "echo", {})])
    assert len(calls) == 1
    assert [json.loads(m).get("id", "note") for m in calls[0]] == ["note", 1, 2]
    peer.call(Request(3, "echo", {}))  # no sink: queued, flushed on the next loop turn
    assert len(calls) == 1
    await asyncio.sleep(0)
    assert [json.loads(m)["id"] for m in calls[1]] == [3]


class CancelsItself(EchoDispatcher):
    """``selfcut``: while taking its eager first step the handler makes its requester cancel it
    (as an HTTP stream cut for a slow reader does), then suspends; as a coroutine, or as an
    eager task (3.12+) whose first step runs inside ``create_task``."""

    def __init__(self) -> None:
        super().__init__()
        self.finished = False
        self.cancelled = False

    def on_request(self, peer: Any, req: Any) -> Any:
        if req.method == "selfcut":
            return self._selfcut(peer, req.id)
        if req.method == "selfcut-task":
            return asyncio.ensure_future(self._selfcut(peer, req.id))
        return super().on_request(peer, req)

    async def _selfcut(self, peer: Any, rid: Any) -> Any:
        assert peer.cancel_request(rid)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        self.finished = True
        return {"never": True}


@async_test
async def test_a_request_cancelled_during_its_eager_step_is_cancelled_when_it_suspends() -> None:
    for method in ("selfcut", "selfcut-task"):
        d = CancelsItself()
        sent: list[list[bytes]] = []
        peer = JSONRPCPeer(d, sent.append)
        sink = Sink()
        peer.call(Request(1, method), sink)
        for _ in range(5):
            await asyncio.sleep(0)
        assert d.cancelled and not d.finished, method
        assert sink.answers == [] and peer.in_flight == 0, method  # the requester asked for no answer
        # the id is free again and a later request with it runs normally
        peer.call(Request(1, "echo", {"x": 1}), sink)
        assert sink.answers and sink.answers[0][2] is None, method
