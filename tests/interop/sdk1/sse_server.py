"""Run by the official SDK 1.x's Python (not mcpfast's): FastMCP's HTTP+SSE transport of
2024-11-05 (``sse_app()``: GET /sse, POST /messages/) under uvicorn at 127.0.0.1:PORT, with an
``echo`` tool. Prints ``PORT <n>`` once listening; runs until killed."""

import asyncio
import socket

import uvicorn
from mcp.server.fastmcp import FastMCP

mcp = FastMCP("sdk1-sse")


@mcp.tool()
def echo(message: str) -> str:
    return message


async def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(mcp.sse_app(), log_level="warning", lifespan="off"))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    print("PORT", sock.getsockname()[1], flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main())
