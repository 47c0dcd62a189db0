"""The in-memory transport: a client and a server through the real codec and framing."""

from __future__ import annotations

import asyncio

import pytest

from mcpfast.errors import ConnectionClosed, McpError
from mcpfast.protocol import ConnectionState
from mcpfast.testing import async_test
from mcpfast.transports.memory import memory_connection, memory_pair

from ..support.dispatchers import EchoDispatcher


@async_test
async def test_round_trip_both_ways() -> None:
    sd, cd = EchoDispatcher(), EchoDispatcher()
    async with memory_connection(sd, cd) as (server, client):
        assert await client.peer.request("echo", {"a": [1, "ü"]}) == {"a": [1, "ü"]}
        assert await server.peer.request("echo", {"from": "server"}) == {"from": "server"}
        assert await client.peer.request("ask", {"q": 2}) == {"q": 2}
        with pytest.raises(McpError) as info:
            await client.peer.request("boom")
        assert info.value.code == -32603 and info.value.message == "Internal error"
        client.peer.notify("hello", {"x": 1})
        await asyncio.sleep(0.01)
        assert sd.notifications[-1].method == "hello"
    assert server.state is ConnectionState.CLOSED and client.state is ConnectionState.CLOSED
    assert sd.closed == [None] and cd.closed == [None]


@async_test
async def test_client_close_lets_the_server_answer_in_flight_then_close() -> None:
    sd, cd = EchoDispatcher(), EchoDispatcher()
    server, client = memory_pair(sd, cd)
    fut = asyncio.ensure_future(client.peer.request("slow", {"delay": 0.05}))
    await asyncio.sleep(0.01)
    client.transport.write_eof()  # half-close: the server sees EOF, the client still reads
    assert await fut == {"slept": 0.05, "tag": None}
    await server.wait_closed()
    await client.wait_closed()
    with pytest.raises(ConnectionClosed):
        await client.peer.request("echo")


@async_test
async def test_pause_reading_holds_delivery() -> None:
    server, client = memory_pair(EchoDispatcher(), EchoDispatcher())
    server.transport.pause_reading()
    fut = asyncio.ensure_future(client.peer.request("echo", {"n": 1}))
    await asyncio.sleep(0.02)
    assert not fut.done() and client.transport.get_write_buffer_size() > 0
    server.transport.resume_reading()
    assert await fut == {"n": 1}
    client.close()
    await client.wait_closed()
    await server.wait_closed()


@async_test
async def test_write_flow_control_with_a_large_result() -> None:
    server, client = memory_pair(EchoDispatcher(), EchoDispatcher(), max_message_size=4 * 1024 * 1024)
    paused: list[bool] = []
    orig_pause, orig_resume = server.pause_writing, server.resume_writing
    server.pause_writing = lambda: (paused.append(True), orig_pause())[-1]  # type: ignore[method-assign]
    server.resume_writing = lambda: (paused.append(False), orig_resume())[-1]  # type: ignore[method-assign]
    client.transport.pause_reading()
    fut = asyncio.ensure_future(client.peer.request("big", {"size": 1024 * 1024}))
    await asyncio.sleep(0.02)
    assert paused == [True] and server._write_paused  # the server's buffer is past the mark
    client.transport.resume_reading()
    assert len((await fut)["data"]) == 1024 * 1024
    assert paused == [True, False]
    client.close()
    await client.wait_closed()
    await server.wait_closed()
