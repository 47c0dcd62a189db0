"""The official SDK's echo benchmark server, served by mcpfast: the same ``MCPServer`` code with
one import changed (``from mcpfast import MCPServer``). One tool, ``echo``, returns its
``message`` as text.

    python examples/echo_mcpserver.py                         # stdio (default)
    python examples/echo_mcpserver.py --http 8000             # Streamable HTTP at /mcp
    python examples/echo_mcpserver.py --http 8000 --json-response --stateless
    python examples/echo_mcpserver.py --async-tool --structured
    python examples/echo_mcpserver.py --no-metrics            # what metrics cost, against the default

It takes the options of ``../shared/bench/servers/mcp_sdk_server.py`` (``--loop uvloop``
when uvloop is installed; ``--asgi`` runs the ASGI app under uvicorn instead of mcpfast's own
HTTP server, ``--http-impl`` then picks uvicorn's parser). ``--structured`` keeps the SDK's
default for a ``-> str`` tool (``structuredContent: {"result": ...}`` beside the text).
"""

from __future__ import annotations

import argparse

from mcpfast import MCPServer


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Echo MCP server (the SDK's bench server on mcpfast).")
    ap.add_argument("--http", type=int, default=0, metavar="PORT", help="serve Streamable HTTP on PORT (0: stdio)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--json-response", action="store_true", help="HTTP: plain JSON answers, never SSE")
    ap.add_argument("--stateless", action="store_true", help="HTTP: no sessions for legacy clients")
    ap.add_argument("--structured", action="store_true", help="also send structuredContent")
    ap.add_argument("--async-tool", action="store_true", help="an async def tool (default: plain def)")
    ap.add_argument("--no-metrics", action="store_true", help="metrics=False (to measure what metrics cost)")
    ap.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
    ap.add_argument("--asgi", action="store_true", help="HTTP through uvicorn and the ASGI app")
    ap.add_argument("--http-impl", default="httptools", choices=["h11", "httptools"], help="uvicorn's parser (--asgi)")
    return ap.parse_args()


def build(structured: bool = False, async_tool: bool = False, metrics: bool = True) -> MCPServer:
    mcp = MCPServer("echo-bench", log_level="WARNING", metrics=metrics)
    if async_tool:
        @mcp.tool(structured_output=structured)
        async def echo(message: str) -> str:
            """Return the message unchanged."""
            return message
    else:
        @mcp.tool(structured_output=structured)
        def echo(message: str) -> str:
            """Return the message unchanged."""
            return message
    return mcp


def main() -> None:
    a = parse_args()
    mcp = build(a.structured, a.async_tool, not a.no_metrics)
    if a.loop == "uvloop":
        import asyncio

        import uvloop  # an optional dependency: only when asked for

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if not a.http:
        mcp.run("stdio")
    elif a.asgi:
        import uvicorn

        app = mcp.streamable_http_app(json_response=a.json_response, stateless_http=a.stateless)
        uvicorn.run(app, host=a.host, port=a.http, loop=a.loop, http=a.http_impl, log_level="warning",
                    access_log=False)
    else:
        mcp.run("streamable-http", host=a.host, port=a.http, json_response=a.json_response,
                stateless_http=a.stateless)


if __name__ == "__main__":
    main()
