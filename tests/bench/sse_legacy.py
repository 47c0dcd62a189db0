"""Tool calls over the deprecated HTTP+SSE transport, driven by the official SDK's
``sse_client``: mcpfast's ``sse_app()`` and the official SDK's, serving the same server file
(``tests/compat/servers/tools_server.py``), each under uvicorn on 127.0.0.1 in a thread of its
own. Prints calls per second for each and their ratio (the client is the same SDK client, so
its cost is in both figures). Not collected by pytest; run it:

    PYTHONPATH=. python tests/bench/sse_legacy.py [calls]
"""

from __future__ import annotations

import asyncio
import sys
import time

from mcp import Client
from mcp.client.sse import sse_client

from tests.compat.test_sse import _load, _served


async def _rate(base: str, calls: int) -> float:
    async with Client(sse_client(base + "/sse"), mode="legacy") as client:
        for _ in range(20):  # warm up
            await client.call_tool("add", {"a": 1, "b": 2})
        t0 = time.perf_counter()
        for i in range(calls):
            await client.call_tool("add", {"a": i, "b": 2})
        return calls / (time.perf_counter() - t0)


def main() -> None:
    import logging

    logging.disable(logging.INFO)  # the SDK's MCPServer turns INFO logging on (a line per HTTP request)
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    rates = {}
    for impl in ("sdk", "mcpfast"):
        with _served(_load(impl, "tools_server").sse_app()) as served:
            rates[impl] = asyncio.run(_rate(served.base, calls))
        print(f"{impl:8} {rates[impl]:8.0f} calls/s over HTTP+SSE ({calls} sequential add calls)")
    print(f"mcpfast / sdk: {rates['mcpfast'] / rates['sdk']:.2f}x")


if __name__ == "__main__":
    main()
