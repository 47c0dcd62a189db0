"""``Deferred``: a request answered later without an ``asyncio.Future``. The peer tracks it as it
tracks a future (in flight, duplicate ids, ``max_in_flight``, ``request_timeout``,
``cancel_request``, ``drain``, ``connection_lost``) and answers it inside ``resolve``/``reject``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from mcpfast.errors import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    REQUEST_TIMEOUT,
    SERVER_OVERLOADED,
    InvalidParams,
)
from mcpfast.peer import Deferred, JSONRPCPeer
from mcpfast.testing import async_test
from mcpfast.wire.jsonrpc import Notification, Request

from .support.dispatchers import EchoDispatcher
from .test_peer_sinks import Sink


class Deferring(EchoDispatcher):
    """``later`` answers through a ``Deferred`` kept in ``self.deferred[rid]``; ``cancelled``
    records the ids whose ``on_cancel`` hook ran."""

    def __init__(self) -> None:
        super().__init__()
        self.deferred: dict[Any, Deferred] = {}
        self.hooked: list[Any] = []

    def on_request(self, peer: Any, req: Any) -> Any:
        if req.method == "later":
            rid = req.id
            d = Deferred(on_cancel=lambda _d: self.hooked.append(rid))
            self.deferred[rid] = d
            return d
        if req.method == "ready":  # resolved before the peer sees it
            d = Deferred()
            d.resolve(req.params)
            return d
        return super().on_request(peer, req)


def _peer(**kw: Any) -> tuple[JSONRPCPeer, Deferring, list[list[bytes]]]:
    sent: list[list[bytes]] = []
    d = Deferring()
    return JSONRPCPeer(d, sent.append, **kw), d, sent


@async_test
async def test_resolve_and_reject_answer_through_the_sink_inside_the_call() -> None:
    peer, d, _ = _peer()
    changes: list[int] = []
    peer.on_in_flight_change = changes.append
    sink = Sink()
    for rid in (1, 2, 3, 4):
        peer.call(Request(rid, "later"), sink)
    assert peer.in_flight == 4 and peer.has_in_flight(3) and sink.answers == []
    assert changes == [1, 2, 3, 4]
    assert d.deferred[1].resolve({"a": 1})
    assert sink.answers == [(1, {"jsonrpc": "2.0", "id": 1, "result": {"a": 1}}, None)]  # no loop turn
    d.deferred[2].reject(InvalidParams("bad x"))
    d.deferred[3].reject(RuntimeError("secret /etc/passwd"))
    d.deferred[4].resolve(b'{"pre":"encoded"}')
    assert [(rid, code) for rid, _, code in sink.answers] == [(1, None), (2, INVALID_PARAMS), (3, INTERNAL_ERROR), (4, None)]
    assert "secret" not in json.dumps(sink.answers[2][1])
    assert sink.answers[3][1]["result"] == {"pre": "encoded"}
    assert peer.in_flight == 0 and changes == [1, 2, 3, 4, 3, 2, 1, 0]
    # exactly one answer: later outcomes are refused and change nothing
    assert not d.deferred[1].resolve({"again": 1}) and not d.deferred[1].reject(RuntimeError())
    assert not d.deferred[1].cancel()
    assert len(sink.answers) == 4


@async_test
async def test_an_already_resolved_deferred_is_answered_at_once() -> None:
    peer, _, _ = _peer()
    sink = Sink()
    peer.call(Request(1, "ready", {"z": 1}), sink)
    assert sink.answers == [(1, {"jsonrpc": "2.0", "id": 1, "result": {"z": 1}}, None)]
    assert peer.in_flight == 0


@async_test
async def test_answers_resolved_in_one_iteration_leave_in_one_send() -> None:
    peer, d, sent = _peer()
    peer.feed([Request(i, "later") for i in range(5)] + [Request("e", "echo", {"e": 1})])
    assert [[json.loads(m)["id"] for m in batch] for batch in sent] == [["e"]]
    for i in range(5):
        d.deferred[i].resolve({"i": i})
    assert len(sent) == 1  # queued, not yet written
    await asyncio.sleep(0)
    assert [[json.loads(m)["id"] for m in batch] for batch in sent] == [["e"], [0, 1, 2, 3, 4]]


@async_test
async def test_duplicate_ids_and_the_in_flight_limit_apply() -> None:
    peer, d, _ = _peer(max_in_flight=2)
    sink = Sink()
    peer.call(Request(1, "later"), sink)
    peer.call(Request(1, "echo"), sink)
    peer.call(Request(2, "later"), sink)
    peer.call(Request(3, "later"), sink)
    assert [(rid, code) for rid, _, code in sink.answers] == [(1, INVALID_REQUEST), (3, SERVER_OVERLOADED)]
    assert 3 not in d.deferred  # refused before the handler ran
    d.deferred[1].resolve({})
    peer.call(Request(1, "echo", {"again": True}), sink)  # the id is free again
    assert sink.answers[-1][1]["result"] == {"again": True}


@async_test
async def test_timeout_answers_32001_and_cancels_with_the_hook() -> None:
    peer, d, _ = _peer(request_timeout=0.02)
    sink = Sink()
    peer.call(Request(1, "later"), sink)
    for _ in range(100):
        if sink.answers:
            break
        await asyncio.sleep(0.01)
    assert [(rid, code) for rid, _, code in sink.answers] == [(1, REQUEST_TIMEOUT)]
    assert d.deferred[1].cancelled() and d.hooked == [1] and peer.in_flight == 0
    assert not d.deferred[1].resolve({"late": True})  # a late result is dropped
    assert len(sink.answers) == 1


@async_test
async def test_no_timer_without_a_request_timeout() -> None:
    peer, d, _ = _peer()
    loop = asyncio.get_running_loop()
    before = len(loop._scheduled)  # type: ignore[attr-defined]
    peer.call(Request(1, "later"), Sink())
    assert len(loop._scheduled) == before  # type: ignore[attr-defined]
    d.deferred[1].resolve({})


@async_test
async def test_cancel_request_and_connection_lost_give_no_answer() -> None:
    peer, d, sent = _peer()
    sink = Sink()
    peer.call(Request(1, "later"), sink)
    assert peer.cancel_request(1)
    assert d.deferred[1].cancelled() and d.hooked == [1] and peer.in_flight == 0
    assert not peer.has_in_flight(1)
    peer.call(Request(2, "later"), sink)
    peer.feed([Request(3, "later")])  # no sink: the send batches
    peer.connection_lost(None)
    assert d.deferred[2].cancelled() and d.deferred[3].cancelled() and d.hooked == [1, 2, 3]
    assert not d.deferred[2].resolve({"late": 1})
    await asyncio.sleep(0)
    assert sink.answers == [] and sent == [] and peer.in_flight == 0


@async_test
async def test_cancelled_notification_reaches_a_deferred() -> None:
    peer, d, _ = _peer()
    sink = Sink()
    peer.call(Request(7, "later"), sink)
    peer.feed([Notification("notifications/cancelled", {"requestId": 7})])
    assert d.deferred[7].cancelled() and sink.answers == []


@async_test
async def test_drain_waits_then_answers_32000() -> None:
    peer, d, _ = _peer()
    sink = Sink()
    peer.call(Request(1, "later"), sink)
    peer.call(Request(2, "later"), sink)
    asyncio.get_running_loop().call_later(0.005, d.deferred[1].resolve, {"in": "time"})
    await peer.drain(0.05)
    assert [(rid, code) for rid, _, code in sink.answers] == [(1, None), (2, CONNECTION_CLOSED)]
    assert d.deferred[2].cancelled() and d.hooked == [2] and peer.in_flight == 0


@async_test
async def test_a_deferred_can_be_awaited() -> None:
    d = Deferred()
    asyncio.get_running_loop().call_soon(d.resolve, 5)
    assert await d == 5
    e = Deferred()
    asyncio.get_running_loop().call_soon(e.reject, ValueError("x"))
    with pytest.raises(ValueError):
        await e
    c = Deferred()
    asyncio.get_running_loop().call_soon(c.cancel)
    with pytest.raises(asyncio.CancelledError):
        await c
    assert d.result() == 5 and isinstance(e.exception(), ValueError)
    with pytest.raises(asyncio.InvalidStateError):
        Deferred().result()


def test_a_failing_cancel_hook_does_not_stop_the_cancellation() -> None:
    def hook(_d: Deferred) -> None:
        raise RuntimeError("hook")

    seen: list[bool] = []
    d = Deferred(on_cancel=hook)
    d.add_done_callback(lambda x: seen.append(x.cancelled()))
    assert d.cancel() and d.cancelled() and seen == [True]
