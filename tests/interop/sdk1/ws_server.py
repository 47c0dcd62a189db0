"""Run by the official SDK 1.x's Python (not mcpfast's): its WebSocket server transport
(``mcp.server.websocket.websocket_server``) under uvicorn/Starlette at ws://127.0.0.1:PORT/ws,
serving FastMCP with an ``echo`` tool. Prints ``PORT <n>`` once listening; runs until killed."""

import asyncio
import socket

import uvicorn
from mcp.server.fastmcp import FastMCP
from mcp.server.websocket import websocket_server
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

mcp = FastMCP("sdk1-ws")


@mcp.tool()
def echo(message: str) -> str:
    return message


async def endpoint(websocket):
    async with websocket_server(websocket.scope, websocket.receive, websocket.send) as (read, write):
        server = mcp._mcp_server
        await server.run(read, write, server.create_initialization_options())


async def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(Starlette(routes=[WebSocketRoute("/ws", endpoint)]), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    print("PORT", sock.getsockname()[1], flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main())
