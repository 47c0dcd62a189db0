"""Run by the official SDK 1.x's Python (not mcpfast's): its WebSocket client against each URL
given (one process for all: the SDK's import is what costs); prints one JSON line per URL."""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.websocket import websocket_client


async def main(url: str) -> None:
    async with websocket_client(url) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        tools = await session.list_tools()
        one = await session.call_tool("echo", {"message": "hello from SDK 1.x"})
        many = await asyncio.gather(*(session.call_tool("echo", {"message": str(i)}) for i in range(100)))
        print(json.dumps({
            "protocol": init.protocolVersion,
            "server": init.serverInfo.name,
            "tools": sorted(t.name for t in tools.tools),
            "text": one.content[0].text,
            "many": [r.content[0].text for r in many],
        }), flush=True)


if __name__ == "__main__":
    for url in sys.argv[1:]:
        asyncio.run(main(url))
