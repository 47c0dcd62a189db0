"""The servers ``ws_bench.py`` measures, one per process; each prints ``PORT <n>`` once it
listens on 127.0.0.1 and serves until SIGTERM.

    python tests/bench/ws_servers.py ours-ws      # MCPServer echo over mcpfast's WebSocket server
    python tests/bench/ws_servers.py ours-http    # the same app on mcpfast's Streamable HTTP server (JSON answers)
    python tests/bench/ws_servers.py floor-ws     # the floor: websockets' own asyncio server + orjson

The floor is not MCP-complete: it answers ``initialize`` and echoes ``tools/call`` with the
least work the same WebSocket library allows (one handler per connection, one ``orjson`` loads
and dumps per message), which is what the ">= 0.6x the floor" goal compares against.

Not collected by pytest (the file name does not start with ``test_``).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _announce(port: int) -> None:
    print("PORT", port, flush=True)


async def ours_ws() -> None:
    sys.path.insert(0, str(_EXAMPLES))
    import echo_mcpserver

    app = echo_mcpserver.build()
    await app.run_websocket_async("127.0.0.1", 0, ready=lambda server: _announce(server.port), idle_timeout=None)


async def ours_http() -> None:
    sys.path.insert(0, str(_EXAMPLES))
    import echo_mcpserver

    app = echo_mcpserver.build()
    await app.run_streamable_http_async(host="127.0.0.1", port=0, json_response=True,
                                        ready=lambda server: _announce(server.port))


async def floor_ws() -> None:
    import orjson
    from websockets.asyncio.server import serve

    init = {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
            "serverInfo": {"name": "floor-ws", "version": "0"}}

    async def handler(ws: Any) -> None:
        async for raw in ws:
            msg = orjson.loads(raw)
            rid = msg.get("id")
            if rid is None:
                continue
            method = msg.get("method")
            if method == "tools/call":
                result: Any = {"content": [{"type": "text", "text": msg["params"]["arguments"]["message"]}]}
            elif method == "initialize":
                result = init
            else:
                result = {}
            await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": rid, "result": result}).decode())

    async with serve(handler, "127.0.0.1", 0, subprotocols=["mcp"], compression=None,  # type: ignore[list-item]
                     ping_interval=None) as server:
        _announce(server.sockets[0].getsockname()[1])
        await asyncio.Future()


KINDS = {"ours-ws": ours_ws, "ours-http": ours_http, "floor-ws": floor_ws}

if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind not in KINDS:
        raise SystemExit(f"usage: ws_servers.py {{{','.join(KINDS)}}}")
    try:
        asyncio.run(KINDS[kind]())
    except KeyboardInterrupt:
        pass
