"""What metrics on cost the server per ``tools/call``, against metrics off, in one process.

Two ``ServerCore``s (``metrics=True`` and ``metrics=False``) with the same echo tool, each
behind a ``JSONRPCPeer`` whose output is thrown away, get the same batches of ``tools/call``
requests (``--batch`` per ``decode_all`` + ``feed``, as one read of a stream transport gives).
The two are timed alternately, ``--rounds`` times, so both see the same machine; the report is
the median µs per call of each and the ratio of the medians (and the median of the per-round
ratios). ``--tool pooled`` runs the echo in the thread pool (``MCPServer``'s default for a
``def``), on a running loop; ``inline`` calls it on the loop.

    python tests/bench/metrics_overhead.py [--tool inline|pooled] [--batch 64] [--rounds 41]
    python tests/bench/metrics_overhead.py --transport http [--rounds 41]

``--transport http`` serves the inline echo through the built-in HTTP server instead: one
``HTTPConnection`` per side, fed one ``POST /mcp`` at a time from an event-loop callback (as a
socket's ``data_received`` runs) with a transport that only collects the answers (no sockets:
the front end, the Streamable HTTP core, the peer and the dispatcher; ``http_hotpath.py``'s
harness). ``--batch`` does not apply there (one request per read).

``--scrape`` times a scrape instead: a core with 100 tools, each called once, and requests of
10 methods, so every series is populated; the median (over ``--rounds``) of rendering the
text (``metrics.text()``) and of a whole ``GET /metrics`` through the HTTP server's
connection (process CPU time: the machine is shared).

Not a test: the figures depend on the machine. Compare only the two sides of one run.

On a loaded machine CPU time is noisy; instruction counts are not. ``--fixed-calls N --side
on|off`` serves N calls on one side and exits, to run under callgrind twice with two values of
N: the difference divided by the difference of N is the instructions per call, start-up and
imports cancelled out (``PYTHONHASHSEED=0`` keeps dict probing the same from run to run;
add ``--transport http`` for the HTTP server)::

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
import sys
import time
from pathlib import Path
from typing import Any

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


class _HTTPSide:
    """One core behind the built-in HTTP server's connection; ``run`` feeds ``per_round`` POSTs."""

    def __init__(self, metrics: bool, calls: int) -> None:
        self.core = ServerCore("bench", "1", metrics=metrics)

        def echo(message: str) -> str:
            return message

        self.core.add_tool("echo", echo, input_schema={"type": "object"}, blocking=False)
        self.calls = calls
        self.rid = 0

    async def start(self) -> None:
        sys.path.insert(0, str(Path(__file__).parent))
        from http_hotpath import _post, _session_id, _Transport

        from mcpfast.transports.http.protocol import HTTPConnection
        from mcpfast.transports.http.server import HTTPServer
        from mcpfast.transports.http.settings import HTTPSettings

        self.server = HTTPServer(self.core, host="127.0.0.1", port=0,
                                 settings=HTTPSettings(json_response=True, bind_host="127.0.0.1"))
        await self.server.core.startup()
        self.tr = _Transport()
        self.conn = HTTPConnection(self.server)
        self.conn.connection_made(self.tr)
        self.conn.data_received(_post(INIT, None))
        sid = _session_id(self.tr.out[-1])
        self.conn.data_received(_post(INITIALIZED, sid))
        self.tr.out.clear()
        self.post_body: Any = lambda body: _post(body, sid)
        self.post = lambda rid: _post(CALL % rid, sid)

    async def run(self, per_round: int) -> float:
        """µs of this process's CPU per call; every answer checked."""
        reqs = []
        for _ in range(per_round):
            self.rid += 1
            reqs.append(self.post(self.rid))
        loop = asyncio.get_running_loop()
        done: asyncio.Future[float] = loop.create_future()
        feed = self.conn.data_received

        def fire() -> None:  # from a loop callback, as a socket's data_received runs
            t0 = time.process_time_ns()
            for r in reqs:
                feed(r)
            done.set_result((time.process_time_ns() - t0) / 1000 / per_round)

        loop.call_soon(fire)
        us = await done
        out = self.tr.out
        if len(out) != per_round or not all(b" 200 OK" in o[:20] and b'"hi"' in o for o in out):
            raise RuntimeError(f"{len(out)} answers for {per_round} requests; e.g. {out[:1]!r}")
        out.clear()
        return us


async def _alternate(on: Any, off: Any, rounds: int, calls: int) -> tuple[list[float], list[float]]:
    """``rounds`` rounds of ``calls`` calls on each side, the order swapped every round (neither
    side always runs on a cache the other warmed), the collector off inside a round: the
    per-call times of both sides, round by round."""
    ons: list[float] = []
    offs: list[float] = []
    gc.disable()
    try:
        for r in range(rounds):
            first, second = (on, off) if r % 2 else (off, on)
            x, y = await first.run(calls), await second.run(calls)
            ons.append(x if first is on else y)
            offs.append(y if first is on else x)
            gc.collect()
    finally:
        gc.enable()
    return ons, offs


def _report(header: str, ons: list[float], offs: list[float]) -> None:
    """Print both sides' medians and the on/off ratios (of the medians, and the median of the
    per-round ratios: each round ran both sides back to back)."""
    m_on, m_off = statistics.median(ons), statistics.median(offs)
    ratios = [x / y for x, y in zip(ons, offs, strict=True)]
    print(header)
    print(f"metrics off: median {m_off:.3f} us/call  (min {min(offs):.3f})")
    print(f"metrics on : median {m_on:.3f} us/call  (min {min(ons):.3f})")
    print(f"on/off: ratio of medians {m_on / m_off:.4f}; median of per-round ratios {statistics.median(ratios):.4f}")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tool", choices=("inline", "pooled"), default="inline")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=41)
    ap.add_argument("--calls", type=int, default=20_000, help="calls per side per round")
    ap.add_argument("--fixed-calls", type=int, default=0, help="serve this many calls on --side, then exit")
    ap.add_argument("--side", choices=("on", "off"), default="on")
    ap.add_argument("--transport", choices=("pipe", "http"), default="pipe")
    ap.add_argument("--scrape", action="store_true", help="time a scrape of 100 tools and 10 methods")
    a = ap.parse_args()
    if a.scrape:
        await _scrape(a)
        return
    pooled = a.tool == "pooled"
    if a.transport == "http":
        await _http(a)
        return
    if a.fixed_calls:
        n = max(a.batch, a.fixed_calls // a.batch * a.batch)
        await _Side(a.side == "on", pooled, a.batch, n).run(n)
        return
    per_round = a.calls // a.batch * a.batch
    on, off = _Side(True, pooled, a.batch, per_round), _Side(False, pooled, a.batch, per_round)
    for side in (on, off):  # warm up: caches, the pool's threads
        await side.run(per_round)
    ons, offs = await _alternate(on, off, a.rounds, per_round)
    ops = on.core.metrics.operations  # type: ignore[union-attr]
    timed = sum(h.count for labels, h in ops.series() if labels[1] == "echo")
    assert timed == on.answers - 1, (timed, on.answers)  # every call counted once (not initialize)
    _report(f"tool={a.tool} batch={a.batch} rounds={a.rounds} calls/round={per_round}", ons, offs)


async def _scrape(a: Any) -> None:
    """``--scrape``: the module docstring."""
    side = _HTTPSide(True, 0)
    for i in range(100):
        side.core.add_tool(f"tool{i:03d}", lambda message="": message, input_schema={"type": "object"},
                           blocking=False)
    await side.start()
    post, feed, out = side.post_body, side.conn.data_received, side.tr.out
    bodies = [b'{"jsonrpc":"2.0","id":%%d,"method":"tools/call","params":{"name":"tool%03d","arguments":{}}}' % i
              for i in range(100)]
    bodies += [b'{"jsonrpc":"2.0","id":%%d,"method":"%s","params":{}}' % m.encode() for m in (
        "ping", "tools/list", "resources/list", "resources/templates/list", "prompts/list", "prompts/get",
        "resources/read", "completion/complete", "logging/setLevel")]  # with tools/call and initialize: 11
    for i, b in enumerate(bodies):
        feed(post(b % (i + 10)))
    assert len(out) == len(bodies), (len(out), len(bodies))
    out.clear()
    metrics = side.core.metrics
    assert metrics is not None
    methods = {labels[0] for labels, _ in metrics.operations.series()}
    texts, gets = [], []
    get = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    for _ in range(a.rounds):
        t0 = time.process_time_ns()
        text = metrics.text()
        texts.append((time.process_time_ns() - t0) / 1e6)
        t0 = time.process_time_ns()
        feed(get)
        while not out:  # the endpoint may answer from a task
            await asyncio.sleep(0)
        gets.append((time.process_time_ns() - t0) / 1e6)
        assert len(out) == 1 and b" 200 OK" in out[0][:20], out[:1]
        out.clear()
    print(f"scrape: {len(metrics.operations)} operation series, {len(methods)} methods, {len(text)} B of text")
    print(f"metrics.text(): median {statistics.median(texts):.2f} ms (min {min(texts):.2f})")
    print(f"GET /metrics  : median {statistics.median(gets):.2f} ms (min {min(gets):.2f})")


async def _http(a: Any) -> None:
    """``--transport http``: the same comparison through the HTTP server (the module docstring)."""
    if a.fixed_calls:
        side = _HTTPSide(a.side == "on", a.fixed_calls)
        await side.start()
        await side.run(a.fixed_calls)
        return
    on, off = _HTTPSide(True, a.calls), _HTTPSide(False, a.calls)
    for side in (on, off):
        await side.start()
        await side.run(a.calls)  # warm up
    ons, offs = await _alternate(on, off, a.rounds, a.calls)
    ops = on.core.metrics.operations  # type: ignore[union-attr]
    timed = sum(h.count for labels, h in ops.series() if labels[1] == "echo")
    assert timed == on.rid, (timed, on.rid)  # every call counted once
    _report(f"transport=http rounds={a.rounds} calls/round={a.calls}", ons, offs)


if __name__ == "__main__":
    asyncio.run(main())
