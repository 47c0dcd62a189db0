"""Four concurrent calls of a ``def`` tool that sleeps 0.5 s, over stdio, driven by the official
SDK client: mcpfast's ``MCPServer`` and the official SDK run the same server file (issue 4's
thread-pool goal: about 0.5 s, not 2 s). Not collected by pytest; run it:

    PYTHONPATH=. python tests/bench/threadpool_stdio.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

SERVER = '''
import os, time
if os.environ.get("IMPL") == "sdk":
    from mcp.server.mcpserver import MCPServer
else:
    from mcpfast import MCPServer

mcp = MCPServer("sleepy")

@mcp.tool()
def nap(seconds: float) -> str:
    time.sleep(seconds)
    return "ok"

mcp.run()
'''
ROOT = Path(__file__).resolve().parents[2]


async def rounds(impl: str, server: str, n: int = 3) -> list[float]:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = dict(os.environ, IMPL=impl, PYTHONPATH=str(ROOT))
    params = StdioServerParameters(command=sys.executable, args=[server], env=env)
    out = []
    async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
        await s.initialize()
        for _ in range(n):
            t0 = time.perf_counter()
            res = await asyncio.gather(*(s.call_tool("nap", {"seconds": 0.5}) for _ in range(4)))
            out.append(time.perf_counter() - t0)
            assert all(x.content[0].text == "ok" for x in res)  # type: ignore[union-attr]
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        server = os.path.join(d, "sleep_server.py")
        Path(server).write_text(SERVER)
        for impl in ("mcpfast", "sdk"):
            times = asyncio.run(rounds(impl, server))
            print(f"{impl:8} 4 concurrent nap(0.5): " + ", ".join(f"{t:.3f} s" for t in times))


if __name__ == "__main__":
    main()
