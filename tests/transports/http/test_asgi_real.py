"""The ASGI app in front of the real core: under uvicorn (lifespan, a legacy session, a
2026-07-28 request, the GET stream) and mounted in Starlette (lazy start, mount paths)."""

from __future__ import annotations

import http.client
import json

from mcpfast.server import ServerCore
from mcpfast.testing import async_test
from mcpfast.transports.http.asgi import asgi_app
from mcpfast.transports.http.settings import HTTPSettings

from .front_fakes import decode_message, free_port
from .test_asgi_front import Channel, _serve_uvicorn, _wait, scope

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
ACCEPT = "application/json, text/event-stream"
PV_KEY = "io.modelcontextprotocol/protocolVersion"
CAPS_KEY = "io.modelcontextprotocol/clientCapabilities"


def echo_core() -> ServerCore:
    core = ServerCore("asgi-test", "1.0")

    def echo(message: str) -> str:
        return message

    core.add_tool("echo", echo, input_schema={"type": "object", "properties": {"message": {"type": "string"}},
                                              "required": ["message"]})
    return core


def test_real_core_under_uvicorn() -> None:
    app = asgi_app(echo_core(), HTTPSettings(bind_host="127.0.0.1"))
    port = free_port()
    server, thread = _serve_uvicorn(app, port)
    try:
        _wait(lambda: server.started)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
        c.request("POST", "/mcp", body=json.dumps(init), headers={"Content-Type": "application/json", "Accept": ACCEPT})
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, body
        sid = r.getheader("Mcp-Session-Id")
        assert sid
        h = {"Content-Type": "application/json", "Accept": ACCEPT, "Mcp-Session-Id": sid, "MCP-Protocol-Version": LEGACY}
        c.request("POST", "/mcp", body=json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}), headers=h)
        r = c.getresponse()
        r.read()
        assert r.status == 202
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "via asgi"}}}
        c.request("POST", "/mcp", body=json.dumps(call), headers=h)
        r = c.getresponse()
        assert decode_message(r.getheader("Content-Type") or "", r.read())["result"]["content"][0]["text"] == "via asgi"
        # 2026-07-28, no session
        params = {"name": "echo", "arguments": {"message": "modern"}, "_meta": {PV_KEY: MODERN, CAPS_KEY: {}}}
        c.request("POST", "/mcp", body=json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params}),
                  headers={"Content-Type": "application/json", "Accept": ACCEPT, "MCP-Protocol-Version": MODERN,
                           "Mcp-Method": "tools/call", "Mcp-Name": "echo"})
        r = c.getresponse()
        assert decode_message(r.getheader("Content-Type") or "", r.read())["result"]["content"][0]["text"] == "modern"
        # the GET stream opens (priming event), and a disconnect frees it for a new one
        g = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        g.request("GET", "/mcp", headers={"Accept": "text/event-stream", "Mcp-Session-Id": sid, "MCP-Protocol-Version": LEGACY})
        gr = g.getresponse()
        assert gr.status == 200 and (gr.getheader("Content-Type") or "").startswith("text/event-stream")
        assert b"retry:" in gr.fp.readline() + gr.fp.readline() + gr.fp.readline()  # type: ignore[union-attr]
        g.close()
        stats = app.core.stats
        _wait(lambda: stats["sse_open"] == 0)
        c.request("DELETE", "/mcp", headers=h)
        r = c.getresponse()
        r.read()
        assert r.status == 200
        c.close()
    finally:
        server.should_exit = True
        thread.join(10)
    assert app._started is False  # lifespan shutdown stopped the core


def test_mounted_in_starlette_with_real_core() -> None:
    import asyncio

    from starlette.applications import Starlette
    from starlette.routing import Mount

    app = asgi_app(echo_core(), HTTPSettings(bind_host="127.0.0.1"))
    parent = Starlette(routes=[Mount("/mcp", app=app)])

    async def go() -> None:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
        hdrs = [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"), (b"accept", ACCEPT.encode())]
        ch = Channel([json.dumps(init).encode()])
        await parent(scope("POST", "/mcp/", headers=hdrs), ch.receive, ch.send)
        assert ch.status == 200, ch.body
        assert app._started
        sid = ch.headers[b"mcp-session-id"]
        hdrs += [(b"mcp-session-id", sid), (b"mcp-protocol-version", LEGACY.encode())]
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "m"}}}
        ch = Channel([json.dumps(call).encode()])
        await parent(scope("POST", "/mcp/mcp", headers=hdrs), ch.receive, ch.send)  # the SDK-style path works too
        assert ch.status == 200
        assert decode_message(ch.headers[b"content-type"].decode(), ch.body)["result"]["content"][0]["text"] == "m"
        await app.shutdown()

    asyncio.run(go())


@async_test
async def test_lifespan_context_manager() -> None:
    app = asgi_app(echo_core(), HTTPSettings(bind_host="127.0.0.1"))
    async with app.lifespan():
        assert app._started
    assert not app._started
