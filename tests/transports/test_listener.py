"""The shared ``Listener`` on its own, with a toy line protocol over real loopback sockets: the
timeout clock (a key that changes restarts it, one that stays past its limit times out once),
max_connections refusals, and a graceful shutdown bounded even when a connection never finishes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Hashable

import pytest

from mcpfast.testing import async_test
from mcpfast.transports.listener import CLOSE_WAIT, Listener


class Toy(asyncio.Protocol):
    """Each line received is progress (it changes the timeout key); ``hang`` makes shutdown
    never finish on its own."""

    def __init__(self, listener: ToyListener) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.lines = 0
        self.timeouts: list[Hashable] = []
        self.hang = False
        self.aborted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.listener.connected(self)

    def data_received(self, data: bytes) -> None:
        self.lines += data.count(b"\n")
        if b"hang" in data:
            self.hang = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener.disconnected(self)

    def timeout_state(self) -> tuple[Hashable, float | None]:
        return self.lines, self.listener.idle_timeout

    def timed_out(self, key: Hashable) -> None:
        self.timeouts.append(key)
        if self.transport is not None:
            self.transport.write(b"timeout\n")

    async def shutdown(self, grace: float) -> None:
        if self.hang:
            await asyncio.sleep(3600)
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self.hang:
            self.transport.close()

    def abort(self) -> None:
        self.aborted = True
        if self.transport is not None:
            self.transport.abort()


class ToyListener(Listener[Toy]):
    def __init__(self, **kw: object) -> None:
        super().__init__(host="127.0.0.1", port=0, **kw)  # type: ignore[arg-type]
        self.made: list[Toy] = []
        self.drained = 0

    def make_connection(self) -> Toy:
        self.made.append(Toy(self))
        return self.made[-1]

    def refusal(self, reason: str) -> asyncio.Protocol:
        return Refuse(reason)

    async def on_drained(self) -> None:
        self.drained += 1


class Refuse(asyncio.Protocol):
    def __init__(self, reason: str) -> None:
        self.reason = reason

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.reason.encode() + b"\n")  # type: ignore[attr-defined]
        transport.close()


@async_test
async def test_the_clock_restarts_on_progress_and_times_out_once() -> None:
    server = ToyListener(idle_timeout=0.3)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        for _ in range(6):  # progress every 0.1 s for 0.6 s: twice the limit, never timed out
            writer.write(b"x\n")
            await asyncio.sleep(0.1)
        (conn,) = server.made
        assert conn.timeouts == []
        assert await asyncio.wait_for(reader.readline(), 2) == b"timeout\n"
        assert conn.timeouts == [6]
        await asyncio.sleep(0.5)  # the same state: not timed out again until it changes
        assert conn.timeouts == [6] and server.connections == 1
        writer.close()
        await writer.wait_closed()
    finally:
        await server.close(grace=0.2)


@async_test
async def test_max_connections_refuses_and_counts() -> None:
    server = ToyListener(max_connections=1)
    await server.start()
    try:
        _, w1 = await asyncio.open_connection("127.0.0.1", server.port)
        r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
        assert await asyncio.wait_for(r2.read(), 2) == b"Server at max_connections (1); try again later\n"
        assert server.refused == 1 and server.connections == 1 and server.protocols == server.made
        for w in (w1, w2):
            w.close()
            with contextlib.suppress(OSError):
                await w.wait_closed()
    finally:
        await server.close(grace=0.2)


@async_test
async def test_shutdown_is_bounded_when_a_connection_never_finishes() -> None:
    server = ToyListener()
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    _, quiet = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"hang\n")
    await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await server.close(grace=0.2)
    took = loop.time() - t0
    assert took < 0.2 + 2 * CLOSE_WAIT + 0.5, took
    hung, other = server.made
    assert hung.aborted and not other.aborted and server.drained == 1
    assert server.connections == 0
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)
    for w in (writer, quiet):
        w.close()
        with contextlib.suppress(OSError):
            await w.wait_closed()


def test_bad_limits_are_refused() -> None:
    for kw in ({"max_connections": 0}, {"idle_timeout": 0}, {"timeouts": (-1.0,)}):
        with pytest.raises(ValueError):
            ToyListener(**kw)
    assert ToyListener().tick == 1.0 and ToyListener(idle_timeout=0.1).tick == 0.05
    assert ToyListener(idle_timeout=2.0, timeouts=(None, 1.0)).tick == 0.25
