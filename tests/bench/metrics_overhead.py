"""What metrics on cost the server per ``tools/call``, against metrics off, in one process.

Two ``ServerCore``s (``metrics=True`` and ``metrics=False``) with the same echo tool, each
behind a ``JSONRPCPeer`` whose output is thrown away, get the same batches of ``tools/call``
requests (``--batch`` per ``decode_all`` + ``feed``, as one read of a stream transport gives).
The two are timed alternately, ``--rounds`` times, so both see the same machine; the report is
the median µs per call of each and the ratio of the medians (and the median of the per-round
ratios). ``--tool pooled`` runs the echo in the thread pool (``MCPServer``'s default for a
``def``), on a running loop; ``inline`` calls it on the loop.

    python tests/bench/metrics_overhead.py [--tool inline|pooled] [--batch 64] [--rounds 41]

Not a test: the figures depend on the machine. Compare only the two sides of one run.

On a loaded machine CPU time is noisy; instruction counts are not. ``--fixed-calls N --side
on|off`` serves N calls on one side and exits, to run under callgrind twice with two values of
N: the difference divided by the difference of N is the instructions per call, start-up and
imports cancelled out (``PYTHONHASHSEED=0`` keeps dict probing the same from run to run)::

    for side in on off; do for n in 1024 9216; do
      PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/cg-$side-$n \
        python tests/bench/metrics_overhead.py --side $side --fixed-calls $n 2>&1 | grep Collected
    done; done     # per call: (Ir(9216) - Ir(1024)) / 8192, on against off
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time

from mcpfast.peer import JSONRPCPeer
from mcpfast.server import ServerCore
from mcpfast.wire import jsonrpc

INIT = (b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
        b'"capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}')
INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
CALL = (b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo",'
        b'"arguments":{"message":"hi"}}}')


class _Side:
    """One core + peer; ``run`` feeds ``per_round`` calls in batches and waits for the answers."""

    def __init__(self, metrics: bool, pooled: bool, batch: int, calls: int) -> None:
        self.core = ServerCore("bench", "1", metrics=metrics)

        def echo(message: str) -> str:
            return message

        self.core.add_tool("echo", echo, input_schema={"type": "object"}, blocking=pooled)
        self.answers = 0
        self.peer = JSONRPCPeer(self.core, self._send)
        self.peer.network_transport = "pipe"
        self.peer.feed(jsonrpc.decode_all([INIT, INITIALIZED]))
        # distinct ids within a round (a pooled call is still in flight when the next batch comes)
        self.batches = [[CALL % (i * batch + j + 1) for j in range(batch)] for i in range(calls // batch)]

    def _send(self, out: list[bytes]) -> None:
        self.answers += len(out)

    async def run(self, per_round: int) -> float:
        """µs of this process's CPU per call (CPU, not wall time: the machine is shared)."""
        start = self.answers
        want = start + per_round
        feed, decode = self.peer.feed, jsonrpc.decode_all
        batches = self.batches
        limit = self.peer.max_in_flight // 2  # past max_in_flight calls are refused, not served
        sent = 0
        t0 = time.process_time_ns()
        for b in batches[:per_round // len(batches[0])]:
            while sent - (self.answers - start) > limit:
                await asyncio.sleep(0)
            feed(decode(b))
            sent += len(b)
        while self.answers < want:
            await asyncio.sleep(0)
        return (time.process_time_ns() - t0) / 1000 / per_round


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tool", choices=("inline", "pooled"), default="inline")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=41)
    ap.add_argument("--calls", type=int, default=20_000, help="calls per side per round")
    ap.add_argument("--fixed-calls", type=int, default=0, help="serve this many calls on --side, then exit")
    ap.add_argument("--side", choices=("on", "off"), default="on")
    a = ap.parse_args()
    pooled = a.tool == "pooled"
    if a.fixed_calls:
        n = max(a.batch, a.fixed_calls // a.batch * a.batch)
        await _Side(a.side == "on", pooled, a.batch, n).run(n)
        return
    per_round = a.calls // a.batch * a.batch
    on, off = _Side(True, pooled, a.batch, per_round), _Side(False, pooled, a.batch, per_round)
    for side in (on, off):  # warm up: caches, the pool's threads
        await side.run(per_round)
    ons: list[float] = []
    offs: list[float] = []
    gc.disable()
    try:
        for r in range(a.rounds):
            first, second = (on, off) if r % 2 else (off, on)
            x, y = await first.run(per_round), await second.run(per_round)
            ons.append(x if first is on else y)
            offs.append(y if first is on else x)
            gc.collect()
    finally:
        gc.enable()
    ops = on.core.metrics.operations  # type: ignore[union-attr]
    timed = sum(h.count for labels, h in ops.series() if labels[1] == "echo")
    assert timed == on.answers - 1, (timed, on.answers)  # every call counted once (not initialize)
    m_on, m_off = statistics.median(ons), statistics.median(offs)
    ratios = [x / y for x, y in zip(ons, offs, strict=True)]
    print(f"tool={a.tool} batch={a.batch} rounds={a.rounds} calls/round={per_round}")
    print(f"metrics off: median {m_off:.3f} us/call  (min {min(offs):.3f})")
    print(f"metrics on : median {m_on:.3f} us/call  (min {min(ons):.3f})")
    print(f"on/off: ratio of medians {m_on / m_off:.4f}; median of per-round ratios {statistics.median(ratios):.4f}")


if __name__ == "__main__":
    asyncio.run(main())
