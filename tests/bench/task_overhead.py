"""What making a call a task costs: create-to-completed time of a task against a plain
``tools/call`` of the same tool, in one process, in memory (the default ``MemoryTaskStore``).

One ``ServerCore`` behind a ``JSONRPCPeer`` whose output is counted and thrown away serves the
same ``async def`` echo tool under three names: ``plain`` (never a task), ``tasked``
(``task="optional", task_window=0``: always a task) and ``windowed`` (``task="optional"`` with the
server's immediate-result window: the echo ends inside it, so it is answered plainly). Each request is a 2026-07-28 request declaring the tasks extension. A
plain or windowed call is timed from ``feed`` to its answer; a task from ``feed`` to the store's
``completed`` status (the ``CreateTaskResult`` answered on the way). Calls are one at a time
(latency, not throughput); the kinds alternate by round, ``--rounds`` times, so all see the
same machine. The report: median µs per call of each, the task's overhead and the ratios.

    python tests/bench/task_overhead.py [--calls 200] [--rounds 21] [--store redis://127.0.0.1:6379/0]

``--store``: the tasks live in that store (``RedisTaskStore`` for a Redis URL; the completed
event then arrives through Redis pub/sub, as another process would hear it).

Not a test: the figures depend on the machine. Compare only the two sides of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from typing import Any

from mcpfast.peer import JSONRPCPeer
from mcpfast.server import ServerCore
from mcpfast.wire import jsonrpc

META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}}}


def _call(rid: int, name: str) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                       "params": {"name": name, "arguments": {"message": "hi"}, "_meta": META}}).encode()


class Bench:
    def __init__(self) -> None:
        self.core = ServerCore("bench", "1", metrics=False)

        async def echo(message: str) -> str:
            return message

        schema = {"type": "object", "properties": {"message": {"type": "string"}}}
        self.core.add_tool("plain", echo, input_schema=schema)
        self.core.add_tool("tasked", echo, input_schema=schema, task="optional", task_window=0)
        self.core.add_tool("windowed", echo, input_schema=schema, task="optional")
        self.answered: asyncio.Event | None = None
        self.completed: asyncio.Event | None = None
        self.last: bytes = b""
        self.peer = JSONRPCPeer(self.core, self._send)
        self.next_id = 0

    def _send(self, messages: list[bytes]) -> None:
        self.last = messages[-1]
        if self.answered is not None:
            self.answered.set()

    def _on_event(self, event: str, rec: dict[str, Any]) -> None:
        if event == "status" and rec["status"] == "completed" and self.completed is not None:
            self.completed.set()

    async def one(self, name: str) -> int:
        self.next_id += 1
        self.answered = asyncio.Event()
        self.completed = asyncio.Event() if name == "tasked" else None
        t0 = time.perf_counter_ns()
        self.peer.feed(jsonrpc.decode_all([_call(self.next_id, name)]))
        await self.answered.wait()
        if self.completed is not None:
            await self.completed.wait()
        return time.perf_counter_ns() - t0

    async def round(self, name: str, calls: int) -> float:
        gc.collect()
        gc.disable()
        try:
            times = [await self.one(name) for _ in range(calls)]
        finally:
            gc.enable()
        return statistics.median(times) / 1000.0


async def main(calls: int, rounds: int, store: str | None) -> None:
    b = Bench()
    async with b.core.using_store(store or "memory"):
        b.core.task_store.subscribe(b._on_event)
        print(f"tasks in {b.core.task_store!r}")
        await measure(b, calls, rounds)


async def measure(b: Bench, calls: int, rounds: int) -> None:
    await b.round("plain", 20)  # warm up both paths
    await b.round("tasked", 20)
    assert b"completed" not in b.last and b'"resultType":"task"' in b.last.replace(b" ", b""), b.last
    await b.round("windowed", 20)
    assert b'"resultType":"complete"' in b.last.replace(b" ", b"") and b"taskId" not in b.last, b.last
    times: dict[str, list[float]] = {"plain": [], "tasked": [], "windowed": []}
    kinds = tuple(times)
    for i in range(rounds):
        for name in kinds[i % 3:] + kinds[:i % 3]:
            times[name].append(await b.round(name, calls))
    p = statistics.median(times["plain"])
    t = statistics.median(times["tasked"])
    w = statistics.median(times["windowed"])
    print(f"plain tools/call          median {p:8.1f} µs per call ({rounds} rounds x {calls} calls)")
    print(f"task create->completed    median {t:8.1f} µs per call")
    print(f"task overhead             {t - p:8.1f} µs ({t / p:.2f}x a plain call); goal <= 1000 µs")
    print(f"optional, in the window   median {w:8.1f} µs per call ({w / p:.2f}x a plain call, {w / t:.2f}x a task)")
    if hasattr(b.core.task_store, "__len__"):
        print(f"tasks left in the store: {len(b.core.task_store)}")  # type: ignore[arg-type]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--store", help="the store URL (default: memory)")
    a = ap.parse_args()
    asyncio.run(main(a.calls, a.rounds, a.store))
