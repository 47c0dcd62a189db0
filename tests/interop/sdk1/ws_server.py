"""Run by the official SDK 1.x's Python (not mcpfast's): its WebSocket server transport
(``mcp.server.websocket.websocket_server``) under uvicorn/Starlette at ws://127.0.0.1:PORT/ws,
serving FastMCP with an ``echo`` tool. Prints ``PORT <n>`` once listening; runs until killed."""

import os
import sys

# the script's folder is on the path only without PYTHONSAFEPATH, which CI sets (and children inherit)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mcp.server.fastmcp import FastMCP
from mcp.server.websocket import websocket_server
from serving import serve  # noqa: E402 - the module beside this script
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


if __name__ == "__main__":
    serve(Starlette(routes=[WebSocketRoute("/ws", endpoint)]))
