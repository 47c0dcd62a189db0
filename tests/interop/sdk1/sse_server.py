"""Run by the official SDK 1.x's Python (not mcpfast's): FastMCP's HTTP+SSE transport of
2024-11-05 (``sse_app()``: GET /sse, POST /messages/) under uvicorn at 127.0.0.1:PORT, with an
``echo`` tool. Prints ``PORT <n>`` once listening; runs until killed."""

import os
import sys

# the script's folder is on the path only without PYTHONSAFEPATH, which CI sets (and children inherit)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mcp.server.fastmcp import FastMCP
from serving import serve  # noqa: E402 - the module beside this script

mcp = FastMCP("sdk1-sse")


@mcp.tool()
def echo(message: str) -> str:
    return message


if __name__ == "__main__":
    serve(mcp.sse_app())
