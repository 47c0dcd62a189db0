"""Instructions per ``tools/call`` through ``MCPServer``'s tool path, for callgrind.

One ``MCPServer`` (``examples/echo_mcpserver.py``'s ``build``: a ``def`` echo in the thread pool,
or ``--async-tool``) or the ``ServerCore`` echo (``--core``: inline) behind a ``JSONRPCPeer``
whose output is counted, fed ``--n`` calls of a 100-byte message in reads of ``--batch``
(64 in flight, as the stdio bench's pipe phase), each read's answers awaited (no busy
polling: the loop sleeps until the last answer of the read is sent). Run it twice under
callgrind; the difference divided by the difference of N is the instructions per call, start-up
cancelled out (``--separate-threads=yes`` splits the loop's thread from the pool's)::

    for n in 1024 9216; do
      PYTHONHASHSEED=0 valgrind --tool=callgrind --dump-instr=no --callgrind-out-file=/tmp/cg-$n \\
        python tests/bench/tool_path.py --async-tool --n $n 2>&1 | grep Collected
    done     # per call: (Ir(9216) - Ir(1024)) / 8192

Not a test: the figures depend on the Python and the machine. Compare runs of one sitting.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from mcpfast.peer import JSONRPCPeer
from mcpfast.wire import jsonrpc

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
INIT = (b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
        b'"capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}')
INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
CALL = b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"message":"%s"}}}'


def build(args: argparse.Namespace) -> Any:
    sys.path.insert(0, str(EXAMPLES))
    if args.core:
        import echo_server

        return echo_server.build()
    import echo_mcpserver

    return echo_mcpserver.build(False, args.async_tool, not args.no_metrics).core


async def serve(core: Any, n: int, batch: int) -> int:
    loop = asyncio.get_running_loop()
    state = {"got": 0, "want": 0}
    waiter: list[asyncio.Future[None]] = []

    def send(out: list[bytes]) -> None:
        state["got"] += len(out)
        if waiter and state["got"] >= state["want"] and not waiter[0].done():
            waiter[0].set_result(None)

    peer = JSONRPCPeer(core, send)
    peer.network_transport = "pipe"
    peer.feed(jsonrpc.decode_all([INIT, INITIALIZED]))
    msg = b"x" * 100
    i = 1
    while i <= n:
        k = min(batch, n - i + 1)
        state["want"] = state["got"] + k
        waiter[:] = [loop.create_future()]
        peer.feed(jsonrpc.decode_all([CALL % (j, msg) for j in range(i, i + k)]))
        if state["got"] < state["want"]:
            await waiter[0]
        i += k
    return state["got"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=9216, help="tools/call requests to serve")
    ap.add_argument("--batch", type=int, default=64, help="requests per read")
    ap.add_argument("--async-tool", action="store_true", help="an async def echo (default: def, in the pool)")
    ap.add_argument("--core", action="store_true", help="the ServerCore echo, inline on the loop")
    ap.add_argument("--no-metrics", action="store_true", help="MCPServer(metrics=False): what metrics cost")
    args = ap.parse_args()
    answers = asyncio.run(serve(build(args), args.n, args.batch))
    print(f"answers {answers}", file=sys.stderr)


if __name__ == "__main__":
    main()
