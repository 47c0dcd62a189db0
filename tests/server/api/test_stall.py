"""The README's promise "``def`` tools never stall the server": a plain ``def`` tool that blocks
delays other requests by at most ~10 ms (``_threads.RENDEZVOUS_S`` + a worker hand-off), on its
first call and after a thousand fast ones (no promotion to the loop: a tool warmed up on cache
hits that then misses and does I/O must not stop every connection).

Measured two ways: in process (two connections on one loop; a probe task records the loop's
longest gap) and over stdio against a subprocess (a second request's round trip while the
first blocks). The bounds keep CI slack but fail the old behaviour by two orders of magnitude
(the warmed-up tool ran inline: the echo waited for the whole block, ~1.5 s)."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from mcpfast import MCPServer
from mcpfast.testing import async_test

from .harness import connect, text

BLOCK_S = 1.5
#: the promise: another request waits at most ~10 ms; the median of many is held to it
PROMISE_S = 0.010
#: one measurement on a loaded CI machine may be descheduled: the worst is only held to this,
#: which the old behaviour (BLOCK_S) still fails by far
WORST_S = 0.5
HERE = os.path.dirname(os.path.abspath(__file__))


def make_app() -> MCPServer:
    app = MCPServer("stall")
    blocking = {"on": False}

    @app.tool()
    def echo(message: str) -> str:
        return message

    @app.tool()
    def lookup(key: str) -> str:
        if blocking["on"]:
            time.sleep(BLOCK_S)
        return key

    app.blocking = blocking  # type: ignore[attr-defined]
    return app


async def probe(gaps: list[float], stop: asyncio.Event) -> None:
    """Record how late the loop wakes a task that asks for 1 ms sleeps."""
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


async def echoes_while_blocked(app: MCPServer, warm: int) -> tuple[list[float], float]:
    """Warm ``lookup`` with ``warm`` fast calls, make it block, and time echoes on another
    connection meanwhile -> (echo round trips, the loop's longest gap)."""
    async with connect(app) as a, connect(app, era="modern") as b:
        for i in range(warm // 2):
            assert text(await a.tool("lookup", {"key": str(i)})) == str(i)
        got = await asyncio.gather(*(a.tool("lookup", {"key": str(i)}) for i in range(warm - warm // 2)))
        assert [text(r) for r in got] == [str(i) for i in range(warm - warm // 2)]
        app.blocking["on"] = True  # type: ignore[attr-defined]
        gaps: list[float] = []
        stop = asyncio.Event()
        prober = asyncio.ensure_future(probe(gaps, stop))
        t_slow = time.perf_counter()
        slow = asyncio.ensure_future(a.tool("lookup", {"key": "miss"}))
        await asyncio.sleep(0.05)  # the slow call is running in its worker now
        trips = []
        while time.perf_counter() - t_slow < BLOCK_S - 0.3:
            t0 = time.perf_counter()
            assert text(await b.tool("echo", {"message": "hi"})) == "hi"
            trips.append(time.perf_counter() - t0)
            await asyncio.sleep(0.01)
        assert not slow.done()  # all of this happened while the tool blocked
        stop.set()
        await prober
        assert text(await slow) == "miss"
        app.blocking["on"] = False  # type: ignore[attr-defined]
    return trips, max(gaps)


def check(trips: list[float], worst_gap: float | None) -> None:
    assert len(trips) >= 20, trips
    assert statistics.median(trips) < PROMISE_S, sorted(trips)
    assert max(trips) < WORST_S, sorted(trips)
    if worst_gap is not None:
        assert worst_gap < WORST_S, worst_gap


@async_test
async def test_a_def_tool_blocking_after_many_fast_calls_does_not_stall_the_loop() -> None:
    app = make_app()
    trips, gap = await echoes_while_blocked(app, warm=1000)
    check(trips, gap)
    assert app.core.tools["lookup"].placement == "pool"


@async_test
async def test_a_def_tool_blocking_on_its_first_call_does_not_stall_the_loop() -> None:
    app = make_app()
    trips, gap = await echoes_while_blocked(app, warm=0)
    check(trips, gap)


@async_test
async def test_queued_calls_behind_a_blocked_worker_are_taken_by_another() -> None:
    # one worker is blocked; calls queued behind it must not wait for it (pool of 2)
    app = MCPServer("steal", thread_pool_size=2)

    @app.tool()
    def nap(seconds: float) -> str:
        time.sleep(seconds)
        return "ok"

    async with connect(app) as s:
        slow = asyncio.ensure_future(s.tool("nap", {"seconds": 2 * BLOCK_S}))
        await asyncio.sleep(0.05)
        t0 = time.perf_counter()
        got = await asyncio.gather(*(s.tool("nap", {"seconds": 0}) for _ in range(50)))
        # 50 calls through the one free worker; waiting for the blocked one would take 3 s
        assert time.perf_counter() - t0 < 2 * WORST_S
        assert all(text(r) == "ok" for r in got)
        assert not slow.done()
        await slow
    assert app.core.runner.threads <= 2


def _rpc(proc: subprocess.Popen[bytes], rid: int, method: str, params: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}).encode() + b"\n")
    proc.stdin.flush()


def _read(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, "the server closed stdout"
    return json.loads(line)  # type: ignore[no-any-return]


def test_over_stdio_a_warmed_up_tool_that_blocks_delays_no_other_request() -> None:
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "stall_app.py")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        _rpc(proc, 0, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                     "clientInfo": {"name": "t", "version": "0"}})
        assert _read(proc)["id"] == 0
        assert proc.stdin is not None
        proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        for i in range(1, 1001):  # warm-up: fast calls (pipelined by 50)
            _rpc(proc, i, "tools/call", {"name": "lookup", "arguments": {"key": str(i)}})
            if i % 50 == 0:
                for _ in range(50):
                    assert "result" in _read(proc)
        t_slow = time.perf_counter()
        _rpc(proc, 5000, "tools/call", {"name": "lookup", "arguments": {"key": "miss", "delay": BLOCK_S}})
        time.sleep(0.05)
        trips = []
        rid = 6000
        while time.perf_counter() - t_slow < BLOCK_S - 0.3:
            rid += 1
            t0 = time.perf_counter()
            _rpc(proc, rid, "tools/call", {"name": "echo", "arguments": {"message": "hi"}})
            msg = _read(proc)
            trips.append(time.perf_counter() - t0)
            assert msg["id"] == rid and msg["result"]["content"][0]["text"] == "hi", msg
            time.sleep(0.01)
        msg = _read(proc)  # the slow call answers last
        assert msg["id"] == 5000 and time.perf_counter() - t_slow >= BLOCK_S - 0.05, msg
        check(trips, None)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
