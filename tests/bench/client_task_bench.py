"""What tasks cost a ``mcpfast.Client`` caller, in one process (the in-process transport, the
real codec), all sides measured in one run:

* ``plain``: ``call_tool`` of an ``async def`` echo tool that is never a task;
* ``plain, tasks=False``: the same from a client that does not declare the Tasks extension
  (what declaring it on every 2026-07-28 request costs);
* ``server-made task``: ``call_tool`` of the same tool registered ``task="optional",
  task_window=0``, which the server runs as a task (2026-07-28, after ``server/discover``: the
  client listens for the end; the server's suggested poll interval stays at its 500 ms default);
* ``optional, in window``: ``call_tool`` of the same tool registered ``task="optional"`` with
  the server's default immediate-result window: it ends inside it and is answered plainly;
* ``legacy task``: ``start_tool_task(...).result()`` at 2025-11-25 (``params.task``, then
  ``tasks/result``).

Calls are one at a time; each kind runs ``--rounds`` times, alternating, and the best round of
each is reported with its ratio to ``plain``.

    python tests/bench/client_task_bench.py [--calls 500] [--rounds 3]

Not a test: the figures depend on the machine. Compare only the sides of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mcpfast import Client, MCPServer


def build() -> MCPServer[Any]:
    app = MCPServer("client-task-bench")

    @app.tool()
    async def echo(m: str = "x") -> str:
        return m

    @app.tool(task="optional", task_window=0)
    async def tasked(m: str = "x") -> str:
        return m

    @app.tool(task="optional")
    async def windowed(m: str = "x") -> str:
        return m

    return app


async def rate(call: Callable[[], Awaitable[Any]], n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        await call()
    return n / (time.perf_counter() - t)


async def main(calls: int, rounds: int) -> None:
    best: dict[str, float] = {}

    def keep(name: str, value: float) -> None:
        best[name] = max(best.get(name, 0.0), value)

    for _ in range(rounds):
        for tasks in (True, False):
            async with Client(build(), mode="auto", tasks=tasks) as c:
                await rate(lambda c=c: c.call_tool("echo", {"m": "hi"}), 50)  # warm up
                keep("plain" if tasks else "plain, tasks=False",
                     await rate(lambda c=c: c.call_tool("echo", {"m": "hi"}), calls))
        async with Client(build(), mode="auto") as c:
            keep("server-made task", await rate(lambda c=c: c.call_tool("tasked", {"m": "hi"}), calls // 5))
            keep("optional, in window", await rate(lambda c=c: c.call_tool("windowed", {"m": "hi"}), calls))

        async with Client(build(), mode="legacy") as c:
            async def legacy(c: Client = c) -> Any:
                return await (await c.start_tool_task("tasked", {"m": "hi"})).result()

            keep("legacy task", await rate(legacy, calls // 5))
    base = best["plain"]
    for name, value in best.items():
        print(f"{name:20} {value:10,.0f} calls/s  {value / base:6.3f}x plain")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
