"""An MCP echo server on mcpfast's low-level API: one tool, ``echo``, returning its ``message``
as text content. It answers both eras (an ``initialize`` session, or 2026-07-28 requests with
the ``_meta`` envelope) on one connection.

    python examples/echo_server.py                 # stdio
    python examples/echo_server.py --tcp 8765      # newline-delimited JSON-RPC over TCP

This is the server ``../shared/bench/stdio_bench.py`` measures for mcpfast.
"""

from __future__ import annotations

import argparse
import asyncio

from mcpfast.server import ServerCore
from mcpfast.transports.stdio import run_stdio


def echo(message: str) -> str:
    """Return the message unchanged."""
    return message


def build() -> ServerCore:
    server = ServerCore("mcpfast-echo", "0.1")
    server.add_tool(
        "echo",
        echo,
        description="Return the message unchanged.",
        input_schema={
            "type": "object",
            "properties": {"message": {"type": "string"}},
            "required": ["message"],
        },
    )
    return server


async def serve_tcp(port: int) -> None:
    from mcpfast.transports.tcp import start_tcp_server  # ssl and friends only when asked for

    server = build()
    tcp = await start_tcp_server(lambda: server, "127.0.0.1", port)
    await tcp.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tcp", type=int, metavar="PORT", help="serve TCP on 127.0.0.1:PORT instead of stdio")
    args = ap.parse_args()
    if args.tcp:
        asyncio.run(serve_tcp(args.tcp))
    else:
        run_stdio(build())


if __name__ == "__main__":
    main()
