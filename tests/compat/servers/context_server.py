"""Tools that use the Context (logging, progress, the request id), and a lifespan, written
for the official SDK."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.mcpserver import Context, MCPServer


@asynccontextmanager
async def lifespan(server: MCPServer) -> AsyncIterator[dict[str, str]]:
    yield {"db": "connected"}


mcp = MCPServer("compat-context", version="0.1", lifespan=lifespan)


@mcp.tool()
async def work(steps: int, ctx: Context) -> str:
    """Report progress and log while working."""
    await ctx.info(f"working {steps} steps")
    for i in range(steps):
        await ctx.report_progress(i + 1, steps, f"step {i + 1}")
    return f"done {steps}"


@mcp.tool()
def state(ctx: Context) -> str:
    """What the lifespan yielded."""
    return ctx.request_context.lifespan_context["db"]


@mcp.tool()
async def read_own(ctx: Context) -> str:
    """Read one of this server's resources from a tool."""
    [contents] = await ctx.read_resource("data://greeting")
    return str(contents.content)


@mcp.resource("data://greeting")
def greeting() -> str:
    return "hello from a resource"


if __name__ == "__main__":
    mcp.run()
