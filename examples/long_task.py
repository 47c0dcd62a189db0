"""A long-running tool that reports progress and can be cancelled, on mcpfast's ``MCPServer``.

    python examples/long_task.py            # stdio

``crunch(steps, delay)`` works ``steps`` steps of ``delay`` seconds each, sending
``notifications/progress`` after each one (when the client asked for progress with a
``progressToken``). A client that loses interest sends ``notifications/cancelled``: the tool's
task is cancelled at its next ``await``, its ``finally`` block runs, no answer is sent (as MCP
says), and the server goes on serving. ``status`` tells how many runs started, finished and
were cancelled, so a client can check that the cancelled run really stopped.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from pydantic import Field

from mcpfast import Context, MCPServer

mcp = MCPServer("long-task", version="1.0")

STATS = {"started": 0, "finished": 0, "cancelled": 0}


@mcp.tool()
async def crunch(
    ctx: Context,
    steps: Annotated[int, Field(ge=1, le=10_000, description="How many steps")] = 10,
    delay: Annotated[float, Field(ge=0, le=60, description="Seconds per step")] = 0.1,
) -> str:
    """Work for ``steps * delay`` seconds, reporting progress after every step."""
    STATS["started"] += 1
    try:
        for done in range(1, steps + 1):
            await asyncio.sleep(delay)
            await ctx.report_progress(done, steps, f"step {done}/{steps}")
    except asyncio.CancelledError:
        STATS["cancelled"] += 1
        await ctx.debug("crunch cancelled")
        raise
    STATS["finished"] += 1
    return f"crunched {steps} steps"


@mcp.tool()
def status() -> dict[str, int]:
    """How many ``crunch`` runs started, finished and were cancelled."""
    return dict(STATS)


if __name__ == "__main__":
    mcp.run()
