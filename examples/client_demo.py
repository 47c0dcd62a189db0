"""A real MCP client talking to a real mcpfast server over stdio, both eras in one run.

    python examples/client_demo.py

It spawns ``examples/echo_server.py``, opens a legacy session (``initialize``), lists and
calls the ``echo`` tool, then sends the same call as a stateless 2026-07-28 request (the
``_meta`` envelope, no session), and shows what a malformed call gets back. The client side is
mcpfast's JSON-RPC peer, to show the wire; ``mcpfast.Client`` (``docs/client.md``) is the
high-level client, and ``mcpfast call`` its command line.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import mcpfast
from mcpfast.errors import McpError, MethodNotFound
from mcpfast.transports.stdio import connect_stdio

HERE = Path(__file__).resolve().parent
MODERN = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "client-demo", "version": "0.1"},
}


class Client:
    """The client's dispatcher: it answers the server's ``ping`` and prints notifications."""

    def on_request(self, peer: Any, request: Any) -> Any:
        if request.method == "ping":
            return {}
        raise MethodNotFound(f"Method not found: {request.method}")

    def on_notification(self, peer: Any, note: Any) -> None:
        print(f"  <- notification {note.method}: {note.params}")

    def on_batch(self, peer: Any, batch: Any) -> bool:
        return False

    def on_close(self, peer: Any, exc: BaseException | None) -> None:
        pass


async def main() -> None:
    # the server imports the same mcpfast as this client (installed, or a source checkout)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(mcpfast.__file__).resolve().parent.parent) + os.pathsep + env.get("PYTHONPATH", "")
    proto, _proc = await connect_stdio([sys.executable, str(HERE / "echo_server.py")], Client(), env=env)
    peer = proto.peer
    assert peer is not None
    print(f"mcpfast {mcpfast.__version__} (compiled wire core: {mcpfast.EXTENSIONS})")
    try:
        init = await peer.request("initialize", {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "client-demo", "version": "0.1"},
        })
        peer.notify("notifications/initialized")
        print(f"legacy session: {init['serverInfo']['name']} speaks {init['protocolVersion']}")
        tools = await peer.request("tools/list")
        print("tools:", [t["name"] for t in tools["tools"]])
        res = await peer.request("tools/call", {"name": "echo", "arguments": {"message": "hello over stdio"}})
        print("echo ->", res["content"][0]["text"])
        res = await peer.request("tools/call", {
            "name": "echo", "arguments": {"message": "hello, stateless"}, "_meta": MODERN,
        })
        print("2026-07-28 echo ->", res["content"][0]["text"], f"(resultType {res['resultType']})")
        # bad arguments: a tool execution error the model can read and fix (SEP-1303)
        res = await peer.request("tools/call", {"name": "echo", "arguments": {"message": 42}})
        print(f"bad arguments -> isError {res['isError']}: {res['content'][0]['text']}")
        try:
            await peer.request("tools/call", {"name": "nope", "arguments": {}})
        except McpError as exc:  # an unknown tool is a protocol error
            print(f"unknown tool -> error {exc.code}: {exc.message}")
    finally:
        await proto.aclose()


if __name__ == "__main__":
    asyncio.run(main())
