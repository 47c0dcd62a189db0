"""Round trip of each ``Store`` primitive (``mcpfast.stores``), in memory and on Redis, in one run.

Each primitive is called one at a time (latency, not throughput) ``--calls`` times per round;
memory and Redis alternate by round so both see the same machine. The report: median µs per
call of each, and Redis against memory. ``publish->delivered`` is a message published by one
client and received by a second one's subscription (another process, for Redis).

    python tests/bench/store_roundtrip.py --redis redis://127.0.0.1:6379/0 [--calls 200] [--rounds 5]

Not a test: the figures depend on the machine (and on what else runs on it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from mcpfast.stores import Store, open_store

Op = Callable[[], Awaitable[object]]


async def _ops(a: Store, b: Store) -> dict[str, Op]:
    delivered = asyncio.Event()
    await b.subscribe("bench", lambda _: delivered.set())
    await a.set("bench:k", {"protocolVersion": "2025-11-25", "level": "info"}, ttl=60)
    await a.append_event("bench.0", b"")

    async def pub() -> None:
        delivered.clear()
        await a.publish("bench", b'{"jsonrpc":"2.0","method":"notifications/message"}')
        await delivered.wait()

    return {
        "get(refresh=)": lambda: a.get("bench:k", refresh=60),
        "set(xx, ttl)": lambda: a.set("bench:k", {"level": "debug"}, ttl=60, xx=True),
        "append_event": lambda: a.append_event("bench.0", b'{"jsonrpc":"2.0","id":1,"result":{}}'),
        "replay_after (cap 1000)": lambda: a.replay_after("bench.0/999999999999999-0"),
        "publish->delivered": pub,
    }


async def _round(ops: dict[str, Op], calls: int) -> dict[str, float]:
    out = {}
    for name, op in ops.items():
        times = []
        for _ in range(calls):
            t0 = time.perf_counter_ns()
            await op()
            times.append(time.perf_counter_ns() - t0)
        out[name] = statistics.median(times) / 1000.0
    return out


async def main(url: str, calls: int, rounds: int) -> None:
    mem = open_store("memory")
    ra, rb = open_store(url, prefix="bench:"), open_store(url, prefix="bench:")
    try:
        kinds = {"memory": await _ops(mem, mem), "redis": await _ops(ra, rb)}
        res: dict[str, list[dict[str, float]]] = {"memory": [], "redis": []}
        for i in range(rounds):
            for kind in (("memory", "redis") if i % 2 == 0 else ("redis", "memory")):
                res[kind].append(await _round(kinds[kind], calls))
        print(f"{'primitive':26s} {'memory µs':>10s} {'redis µs':>10s}")
        for name in kinds["memory"]:
            m = statistics.median(r[name] for r in res["memory"])
            r_ = statistics.median(r[name] for r in res["redis"])
            print(f"{name:26s} {m:10.1f} {r_:10.1f}")
    finally:
        await mem.close()
        await ra.close()
        await rb.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis", required=True, help="redis://HOST:PORT/DB")
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    asyncio.run(main(a.redis, a.calls, a.rounds))
