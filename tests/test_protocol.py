"""JSONRPCStreamProtocol over a fake transport: framing, errors, flow control, EOF."""

from __future__ import annotations

import asyncio
import json

from mcpfast.protocol import ConnectionState, JSONRPCStreamProtocol
from mcpfast.testing import async_test

from .support.dispatchers import EchoDispatcher
from .support.fakes import connect, line, note, req


def make(**kw):
    d = EchoDispatcher(batches=kw.pop("batches", True))
    p = JSONRPCStreamProtocol(d, **kw)
    t = connect(p)
    return d, p, t


async def settle(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


@async_test
async def test_echo_round_trip_and_one_write_per_chunk() -> None:
    d, p, t = make()
    p.data_received(req(1, "echo", {"a": 1}) + req(2, "aecho", {"b": 2}) + req(3, "nope") + req(4, "invalid"))
    # all four replies leave in one write, synchronously (no task, no loop trip)
    assert len(t.writes) == 1
    msgs = t.by_id()
    assert msgs[1]["result"] == {"a": 1}
    assert msgs[2]["result"] == {"b": 2}
    assert msgs[3]["error"]["code"] == -32601
    assert msgs[4]["error"] == {
        "code": -32602, "message": 'Expected an integer, got "a" - at $.params.n', "data": {"n": "a"}
    }
    p.close()
    await p.wait_closed()


@async_test
async def test_handler_exception_is_internal_error_without_details() -> None:
    d, p, t = make()
    p.data_received(req(1, "boom") + req(2, "aboom"))
    await settle(5)
    msgs = t.by_id()
    for rid in (1, 2):
        err = msgs[rid]["error"]
        assert err == {"code": -32603, "message": "Internal error"}
    assert b"secret" not in b"".join(t.writes) and b"Traceback" not in b"".join(t.writes)
    p.close()
    await p.wait_closed()


@async_test
async def test_malformed_line_then_next_line_works() -> None:
    d, p, t = make()
    p.data_received(b'{"jsonrpc":"2.0","id":1,"method":\n' + req(2, "echo", {"ok": True}))
    msgs = t.messages()
    assert msgs[0]["id"] is None and msgs[0]["error"]["code"] == -32700
    assert msgs[1] == {"jsonrpc": "2.0", "id": 2, "result": {"ok": True}}
    p.close()
    await p.wait_closed()


@async_test
async def test_invalid_envelope_keeps_id_when_recoverable() -> None:
    d, p, t = make()
    p.data_received(
        line({"jsonrpc": "1.0", "id": 7, "method": "echo"})
        + line({"jsonrpc": "2.0", "id": True, "method": "echo"})
        + line({"jsonrpc": "2.0", "id": "s", "method": 5})
    )
    msgs = t.messages()
    assert [m["id"] for m in msgs] == [7, None, "s"]
    assert all(m["error"]["code"] == -32600 for m in msgs)
    assert msgs[0]["error"]["message"] == 'Expected "2.0", got "1.0" - at $.jsonrpc'
    p.close()
    await p.wait_closed()


@async_test
async def test_oversize_message_is_parse_error_then_recovers() -> None:
    d, p, t = make(max_message_size=100)
    p.data_received(req(1, "echo", {"x": "y" * 200}) + req(2, "echo", {"z": 1}))
    msgs = t.messages()
    assert msgs[0]["id"] is None and msgs[0]["error"]["code"] == -32700
    assert "max_message_size" in msgs[0]["error"]["message"]
    assert msgs[1]["result"] == {"z": 1}
    # an oversized frame split across chunks, then a good one
    t.writes.clear()
    p.data_received(b'{"jsonrpc":"2.0","id":3,"params":"' + b"a" * 150)
    p.data_received(b'a"}\n' + req(4, "echo", {"w": 2}))
    msgs = t.messages()
    assert msgs[0]["error"]["code"] == -32700 and msgs[1] == {"jsonrpc": "2.0", "id": 4, "result": {"w": 2}}
    p.close()
    await p.wait_closed()


@async_test
async def test_batches_refused_or_answered_as_array() -> None:
    d, p, t = make(batches=False)
    batch = b"[" + req(1, "echo", {"a": 1}).strip() + b"," + req(2, "echo").strip() + b"]\n"
    p.data_received(batch)
    (msg,) = t.messages()
    assert msg["id"] is None and msg["error"]["code"] == -32600
    assert "Batches are not supported" in msg["error"]["message"]
    p.close()
    await p.wait_closed()

    d, p, t = make(batches=True)
    p.data_received(
        b"[" + req(1, "echo", {"a": 1}).strip() + b"," + note("x").strip() + b',{"jsonrpc":"1.0","id":9,"method":"m"},'
        + req(3, "slow", {"delay": 0.01}).strip() + b"]\n"
    )
    (arr,) = t.messages()  # the immediate answers as one array; notifications get nothing
    assert isinstance(arr, list)
    assert [m["id"] for m in arr] == [1, 9]
    assert arr[1]["error"]["code"] == -32600
    await asyncio.sleep(0.05)  # the suspended one answers on its own
    assert t.messages()[-1]["id"] == 3 and "result" in t.messages()[-1]
    # a batch of notifications only: no answer at all
    t.writes.clear()
    p.data_received(b"[" + note("a").strip() + b"," + note("b").strip() + b"]\n")
    await settle()
    assert t.writes == []
    p.close()
    await p.wait_closed()


@async_test
async def test_read_back_pressure_pauses_past_pause_reading_at() -> None:
    d, p, t = make(pause_reading_at=4, max_in_flight=100)
    p.data_received(b"".join(req(i, "slow", {"delay": 0.05}) for i in range(3)))
    assert t.reading
    p.data_received(req(3, "slow", {"delay": 0.05}))
    assert not t.reading and t.pauses == 1
    await asyncio.sleep(0.2)
    assert t.reading  # resumed once they finished
    assert sorted(t.by_id()) == [0, 1, 2, 3]
    p.close()
    await p.wait_closed()


@async_test
async def test_load_and_write_pauses_combine() -> None:
    # reading stays paused while either the load or the write side asks for it, and resumes
    # once neither does (the load flag only touches the transport when it flips)
    d, p, t = make(pause_reading_at=2, max_in_flight=100)
    p.data_received(b"".join(req(i, "slow", {"delay": 0.05}) for i in range(2)))
    assert not t.reading and t.pauses == 1
    p.pause_writing()
    p.resume_writing()
    assert not t.reading  # still loaded
    await asyncio.sleep(0.2)
    assert t.reading and t.pauses == 1
    p.pause_writing()
    assert not t.reading
    p.data_received(req(2, "slow", {"delay": 0.01}))  # a request read before the pause took effect
    await asyncio.sleep(0.1)
    assert not t.reading  # its end (load falls) must not resume a write-paused connection
    p.resume_writing()
    assert t.reading
    assert sorted(t.by_id()) == [0, 1, 2]
    p.close()
    await p.wait_closed()


@async_test
async def test_write_back_pressure_pauses_reading_and_writable_waits() -> None:
    d, p, t = make()
    p.pause_writing()
    assert not t.reading
    waiter = asyncio.ensure_future(p.writable())
    await settle()
    assert not waiter.done()
    p.resume_writing()
    await settle()
    assert waiter.done() and t.reading
    await p.writable()  # not paused: returns at once
    p.close()
    await p.wait_closed()


@async_test
async def test_eof_answers_in_flight_and_last_line_without_newline() -> None:
    d, p, t = make()
    p.data_received(req(1, "slow", {"delay": 0.05}) + req(2, "echo", {"n": 2}).strip())
    assert p.eof_received() is True
    assert p.state is ConnectionState.CLOSING
    assert not t.closed
    await p.wait_closed()
    msgs = t.by_id()
    assert msgs[2]["result"] == {"n": 2}  # the last line had no newline
    assert msgs[1]["result"]["slept"] == 0.05
    assert t.closed and d.closed == [None]


@async_test
async def test_shutdown_answers_or_cancels_in_flight() -> None:
    d, p, t = make()
    p.data_received(req(1, "slow", {"delay": 0.02}) + req(2, "slow", {"delay": 10}))
    await p.shutdown(grace=0.2)
    msgs = t.by_id()
    assert "result" in msgs[1]
    assert msgs[2]["error"]["code"] == -32000
    assert "shutting down" in msgs[2]["error"]["message"]
    assert p.state is ConnectionState.CLOSED


@async_test
async def test_connection_lost_fails_outgoing_requests() -> None:
    from mcpfast.errors import ConnectionClosed

    d, p, t = make()
    fut = asyncio.ensure_future(p.peer.request("ping", {}))
    await settle()
    assert json.loads(t.writes[-1])["method"] == "ping"
    p.connection_lost(ConnectionResetError("gone"))
    try:
        await fut
    except ConnectionClosed:
        pass
    else:  # pragma: no cover
        raise AssertionError("expected ConnectionClosed")
    assert len(d.closed) == 1 and isinstance(d.closed[0], ConnectionResetError)
