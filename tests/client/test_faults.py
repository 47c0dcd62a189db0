"""``mcpfast.Client`` under faults: concurrency, cancellation, timeouts, a dying server, and
malformed server messages. The server is a scripted dispatcher served in process (the real
codec), so each fault is exact; the stdio tests kill a real subprocess."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from mcpfast import Client, MCPError
from mcpfast.client.memory import InProcessTransport
from mcpfast.errors import CONNECTION_CLOSED, REQUEST_TIMEOUT, MethodNotFound
from mcpfast.testing import async_test

from ..support.dispatchers import RecordingDispatcher


class Scripted(RecordingDispatcher):
    """A legacy-only server: ``tools/call`` of ``echo``, ``slow`` (``delay`` s; ignores
    cancellation when ``stubborn``), ``hang`` (never answers), ``malformed`` (answers with a
    response that has neither result nor error)."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[Any] = []
        self.transport: InProcessTransport | None = None

    def on_request(self, peer: Any, req: Any) -> Any:
        if req.method == "initialize":
            return {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                    "serverInfo": {"name": "scripted", "version": "0"}}
        if req.method != "tools/call":
            raise MethodNotFound(f"Method not found: {req.method}")
        self.started.append(req.id)
        name, args = req.params["name"], req.params.get("arguments") or {}
        if name == "echo":
            return {"content": [{"type": "text", "text": args["message"]}]}
        if name == "slow":
            return self._slow(args["delay"], args.get("message", ""))
        if name == "hang":
            return asyncio.ensure_future(asyncio.Event().wait())
        if name == "malformed":
            assert self.transport is not None and self.transport.server_end is not None
            self.transport.server_end.write_transport.write(  # type: ignore[union-attr]
                b'{"jsonrpc":"2.0","id":%d}\n' % req.id)
            return asyncio.ensure_future(asyncio.Event().wait())
        raise MethodNotFound(f"no tool {name}")

    async def _slow(self, delay: float, message: str) -> Any:
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            self.seen.append(("handler cancelled", None))
            raise
        return {"content": [{"type": "text", "text": message}]}


def scripted_client(**kw: Any) -> tuple[Client, Scripted, InProcessTransport]:
    server = Scripted()
    transport = InProcessTransport(server)
    server.transport = transport
    return Client(transport, mode="legacy", **kw), server, transport


@async_test
async def test_a_hundred_concurrent_calls_are_all_answered() -> None:
    client, _server, _t = scripted_client()
    async with client as c:
        rng = random.Random(7)
        calls = [c.call_tool("slow", {"delay": rng.random() / 50, "message": f"m{i}"}) if i % 2 else
                 c.call_tool("echo", {"message": f"m{i}"}) for i in range(100)]
        results = await asyncio.gather(*calls)
        assert [r.content[0].text for r in results] == [f"m{i}" for i in range(100)]
        assert c.session.peer.pending == 0


@async_test
async def test_a_cancelled_call_sends_notifications_cancelled() -> None:
    client, server, _t = scripted_client()
    async with client as c:
        task = asyncio.ensure_future(c.call_tool("slow", {"delay": 30}))
        while not server.started:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(10):
            await asyncio.sleep(0)
        cancels = [p for m, p in server.seen if m == "notifications/cancelled"]
        assert [p["requestId"] for p in cancels] == server.started
        assert ("handler cancelled", None) in server.seen
        assert (await c.call_tool("echo", {"message": "still fine"})).content[0].text == "still fine"


@async_test
async def test_a_timeout_raises_and_the_late_answer_is_dropped() -> None:
    client, server, _t = scripted_client()
    server.on_notification = lambda peer, note: server.seen.append((note.method, note.params))  # type: ignore[method-assign]
    async with client as c:  # the server ignores the cancellation: its answer comes late
        with pytest.raises(MCPError) as info:
            await c.call_tool("slow", {"delay": 0.1, "message": "late"}, read_timeout_seconds=0.02)
        assert info.value.error.code == REQUEST_TIMEOUT
        for _ in range(10):
            await asyncio.sleep(0)
        assert [m for m, _ in server.seen] == ["notifications/initialized", "notifications/cancelled"]
        await asyncio.sleep(0.15)  # the late answer arrives and is dropped
        assert c.session.peer.pending == 0
        assert (await c.call_tool("echo", {"message": "next"})).content[0].text == "next"
    async with Client(scripted_client()[2], mode="legacy", read_timeout_seconds=0.02) as c:  # the client default
        with pytest.raises(MCPError, match="timed out"):
            await c.call_tool("hang")


@async_test
async def test_a_dying_server_fails_every_pending_call_at_once() -> None:
    client, server, transport = scripted_client()
    async with client as c:
        calls = [asyncio.ensure_future(c.call_tool("hang")) for _ in range(10)]
        while len(server.started) < 10:
            await asyncio.sleep(0)
        assert transport.server_end is not None
        transport.server_end.close()  # the server hangs up
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 2)
        assert all(isinstance(r, MCPError) and r.code == CONNECTION_CLOSED for r in results), results
        assert "Connection closed" in str(results[0])
        with pytest.raises(MCPError, match="Connection closed"):
            await c.call_tool("echo", {"message": "after"})


@async_test
async def test_a_malformed_message_is_reported_not_a_hang() -> None:
    seen: list[Any] = []

    async def handler(message: Any) -> None:
        seen.append(message)

    client, _server, transport = scripted_client(message_handler=handler)
    async with client as c:
        # a response that answers our call but is no valid response: that call fails now
        with pytest.raises(MCPError, match="Malformed message from the server"):
            await asyncio.wait_for(c.call_tool("malformed"), 2)
        # bytes that are not JSON: reported to message_handler, and nothing is answered back
        assert transport.server_end is not None
        transport.server_end.write_transport.write(b"this is not json\n")  # type: ignore[union-attr]
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(seen) == 2 and all(isinstance(m, MCPError) for m in seen)
        assert seen[1].code == -32700
        assert (await c.call_tool("echo", {"message": "ok"})).content[0].text == "ok"
