"""Run by the official SDK 1.x's Python (not mcpfast's): FastMCP's HTTP+SSE transport of
2024-11-05 (``sse_app()``: GET /sse, POST /messages/) under uvicorn at 127.0.0.1:PORT, with an
``echo`` tool. Prints ``PORT <n>`` once listening; runs until killed."""

from mcp.server.fastmcp import FastMCP
from serving import serve  # the module beside this script

mcp = FastMCP("sdk1-sse")


@mcp.tool()
def echo(message: str) -> str:
    return message


if __name__ == "__main__":
    serve(mcp.sse_app())
