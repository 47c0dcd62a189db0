"""MCP over WebSocket through the other fronts: the built-in Streamable HTTP server (one port
for both transports) and the ASGI app under uvicorn; ``MCPServer.run(transport="ws")`` and
``mcpfast run --transport ws``."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("websockets")

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mcpfast.testing import async_test
from mcpfast.transports.http import HTTPServer, HTTPSettings

from .helpers import make_app, open_session


@async_test
async def test_one_port_serves_streamable_http_and_websocket() -> None:
    app = make_app()
    async with HTTPServer(app.core, port=0, settings=HTTPSettings(max_body=2000)) as server:
        ws_url = server.url.replace("http://", "ws://")
        async with open_session(ws_url) as (transport, session):
            assert transport.subprotocol == "mcp"
            r = await session.request("tools/call", {"name": "echo", "arguments": {"message": "over ws"}})
            assert r["content"][0]["text"] == "over ws"
            # the same port still answers Streamable HTTP
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "h", "version": "0"}}}).encode()
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Accept: application/json, text/event-stream\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n%b" % (len(body), body))
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            assert answer.startswith(b"HTTP/1.1 200") and b"mcp-session-id" in answer.lower()
            assert server.connections >= 1
        # the message limit is the body limit
        async with connect(ws_url, subprotocols=["mcp"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "y" * 3000}}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        # the upgrade is checked like a request: Origin on loopback
        with pytest.raises(InvalidStatus) as info:
            async with connect(ws_url, subprotocols=["mcp"], origin="http://evil.example"):  # type: ignore[list-item,arg-type]
                pass
        assert info.value.response.status_code == 403
        # an upgrade elsewhere than the MCP path is not a WebSocket endpoint
        with pytest.raises(InvalidStatus):
            async with connect(ws_url.replace("/mcp", "/nope"), subprotocols=["mcp"]):  # type: ignore[list-item]
                pass


@async_test
async def test_http_server_shutdown_closes_websockets_1001_after_answers() -> None:
    app = make_app()
    server = HTTPServer(app.core, port=0)
    await server.start()
    ws_url = server.url.replace("http://", "ws://")
    async with connect(ws_url, subprotocols=["mcp"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "slow", "arguments": {"delay": 0.2, "tag": 7},
            "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {}}}}))
        await asyncio.sleep(0.05)
        closing = asyncio.ensure_future(server.close(grace=5))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert answer["result"]["content"][0]["text"] == "7"
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        await closing


def _free_port() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@async_test
async def test_asgi_app_under_uvicorn_serves_websocket() -> None:
    import uvicorn

    app = make_app()
    sock = _free_port()
    port = sock.getsockname()[1]
    # the WebSocket message limit is the HTTP body limit
    server = uvicorn.Server(uvicorn.Config(app.streamable_http_app(max_request_body_size=2000), log_level="warning",
                                           lifespan="on"))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        url = f"ws://127.0.0.1:{port}/mcp"
        async with open_session(url) as (transport, session):
            assert transport.subprotocol == "mcp"
            results = await asyncio.gather(*(session.request("tools/call", {
                "name": "slow", "arguments": {"delay": 0.01, "tag": i}}) for i in range(20)))
            assert [r["content"][0]["text"] for r in results] == [str(i) for i in range(20)]
            # a WebSocket served through the ASGI app is metered as one on the built-in server
            m = app.core.metrics
            assert m is not None
            assert [h.count for labels, h in m.operations.series() if labels[1] == "slow"] == [20]
            assert [labels[3] for labels, h in m.operations.series() if labels[1] == "slow"] == ["tcp"]
            assert m.connections.labels("tcp").value == 1
            assert m.bytes_received.labels("tcp").value > 20 * 60
            assert m.bytes_sent.labels("tcp").value > 20 * 60
        for _ in range(200):  # the connection's end is seen by the ASGI task a moment later
            if m.connections.labels("tcp").value == 0:
                break
            await asyncio.sleep(0.01)
        assert m.connections.labels("tcp").value == 0
        async with connect(url, subprotocols=["mcp"]) as ws:  # type: ignore[list-item]
            await ws.send("not json")
            assert json.loads(await ws.recv())["error"]["code"] == -32700
            await ws.send(b"\x01")
            assert json.loads(await ws.recv())["error"]["code"] == -32600
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "y" * 3000}}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        with pytest.raises(InvalidStatus) as info:
            async with connect(url, subprotocols=["mcp"], origin="http://evil.example"):  # type: ignore[list-item,arg-type]
                pass
        assert info.value.response.status_code == 403
        with pytest.raises(InvalidStatus) as info:
            async with connect(url, subprotocols=["other"]):  # type: ignore[list-item]
                pass
        assert info.value.response.status_code == 400
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def _wait_port(port: int, proc: subprocess.Popen[Any], log: Path, timeout: float = 15.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the server did not listen in time")


def test_cli_transport_ws(tmp_path: Path) -> None:
    """``mcpfast run server.py --transport ws``: the file's MCPServer is served with its own
    ``run(transport="ws")`` (one subprocess: a second, for ``python server.py``, would only
    repeat the same path at 2 s of interpreter start)."""
    how = "cli"
    sock = _free_port()
    port = sock.getsockname()[1]
    sock.close()
    server_py = tmp_path / "server.py"
    server_py.write_text(textwrap.dedent(f"""
        from mcpfast import MCPServer
        mcp = MCPServer("cli-ws")

        @mcp.tool()
        def echo(message: str) -> str:
            return message

        if __name__ == "__main__":
            mcp.run(transport="ws", port={port})
    """))
    cmd = [sys.executable, "-m", "mcpfast", "run", str(server_py), "--transport", "ws", "--port", str(port)]
    log = tmp_path / "stderr.txt"
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        _wait_port(port, proc, log)

        @async_test
        async def talk() -> None:
            async with open_session(f"ws://127.0.0.1:{port}/mcp") as (_t, session):
                r = await session.request("tools/call", {"name": "echo", "arguments": {"message": how}})
                assert r["content"][0]["text"] == how

        talk()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, -15), log.read_text()
