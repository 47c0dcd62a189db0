"""The ``ws://``/``wss://`` client transport (``mcpfast.client.websocket``) against our server
and against small servers that misbehave on purpose."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("websockets")

from websockets.asyncio.server import serve
from websockets.utils import accept_key

from mcpfast.client import ClientHandlers
from mcpfast.client.transport import transport_for
from mcpfast.client.websocket import WebSocketHandshakeError, WebSocketTransport, transport_from_url
from mcpfast.errors import ConnectionClosed
from mcpfast.testing import async_test
from mcpfast.transports.http.auth import BearerAuth
from mcpfast.transports.websocket import start_websocket_server

from ..transports.test_tcp import _self_signed
from ..transports.websocket.helpers import make_app, open_session


def test_scheme_picks_this_transport_and_checks_options() -> None:
    t = transport_for("ws://127.0.0.1:1/mcp", ping_interval=None)
    assert isinstance(t, WebSocketTransport) and t.ping_interval is None
    assert isinstance(transport_for("wss://example.com/mcp"), WebSocketTransport)
    with pytest.raises(TypeError):
        transport_from_url("ws://127.0.0.1:1/mcp", no_such_option=1)
    with pytest.raises(ValueError):
        transport_from_url("ws://127.0.0.1:1/mcp", ssl=ssl.create_default_context())  # ssl needs wss
    with pytest.raises(ValueError):
        transport_from_url("ws://127.0.0.1:1/mcp", ping_timeout=0)


@async_test
async def test_connect_call_close_and_lost_connection() -> None:
    app = make_app()
    server = await start_websocket_server(lambda: app.core, "127.0.0.1", 0)
    try:
        async with open_session(server.url) as (transport, session):
            assert not transport.closed
            r = await session.request("tools/call", {"name": "echo", "arguments": {"message": "m"}})
            assert r["content"][0]["text"] == "m"
            pending = asyncio.ensure_future(session.request("tools/call", {"name": "slow", "arguments": {
                "delay": 30, "tag": 1}}))
            await asyncio.sleep(0.05)
            for conn in server.protocols:
                conn.abort()  # the server goes away: pending calls fail at once
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(pending, 5)
        assert transport.closed
    finally:
        await server.close()


@async_test
async def test_unreachable_and_refused_with_a_clear_error() -> None:
    with pytest.raises(ConnectionError, match="cannot connect"):
        await transport_from_url("ws://127.0.0.1:1/mcp").connect(ClientHandlers())
    app = make_app()
    server = await start_websocket_server(lambda: app.core, "127.0.0.1", 0, auth=BearerAuth("tok"))
    try:
        with pytest.raises(WebSocketHandshakeError) as info:
            await transport_from_url(server.url).connect(ClientHandlers())
        assert info.value.status == 401 and "401" in str(info.value)
        async with open_session(server.url, headers={"Authorization": "Bearer tok"}) as (_t, session):
            assert (await session.request("ping", {})) == {}
    finally:
        await server.close()


@async_test
async def test_server_refusing_the_subprotocol() -> None:
    async def handler(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    # a plain WebSocket server that speaks no subprotocol: accepts without echoing "mcp"
    async with serve(handler, "127.0.0.1", 0) as plain:
        port = plain.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}/"
        with pytest.raises(WebSocketHandshakeError, match="without the 'mcp' subprotocol"):
            await transport_from_url(url).connect(ClientHandlers())
        lenient = transport_from_url(url, require_subprotocol=False)
        await lenient.connect(ClientHandlers())
        assert lenient.subprotocol is None
        await lenient.close()

    # a server that knows other subprotocols only: refuses the handshake (400)
    async with serve(handler, "127.0.0.1", 0, subprotocols=["graphql-ws"]) as other:  # type: ignore[list-item]
        port = other.sockets[0].getsockname()[1]
        with pytest.raises(WebSocketHandshakeError) as info:
            await transport_from_url(f"ws://127.0.0.1:{port}/").connect(ClientHandlers())
        assert info.value.status == 400 and "subprotocol" in str(info.value)


@async_test
async def test_keepalive_ping_timeout_fails_pending_calls() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: %b\r\nSec-WebSocket-Protocol: mcp\r\n\r\n"
                     % accept_key(key.decode()).encode())
        await reader.read()  # reads everything, answers nothing, never pongs
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        transport = transport_from_url(f"ws://127.0.0.1:{port}/mcp", ping_interval=0.1, ping_timeout=0.1)
        peer = await transport.connect(ClientHandlers())
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(peer.request("ping"), 5)
        assert transport.closed
    finally:
        server.close()


@async_test
async def test_message_size_limit_from_the_server() -> None:
    app = make_app()
    server = await start_websocket_server(lambda: app.core, "127.0.0.1", 0)
    try:
        transport = transport_from_url(server.url, max_message_size=2000)
        peer = await transport.connect(ClientHandlers())
        assert await peer.request("ping") == {}
        with pytest.raises(ConnectionClosed):  # the answer is too big: closed with 1009
            await asyncio.wait_for(peer.request("tools/call", {"name": "echo", "arguments": {"message": "x" * 5000},
                                                               "_meta": {
                                                                   "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                                                   "io.modelcontextprotocol/clientCapabilities": {}}}), 5)
        await transport.close()
    finally:
        await server.close()


def test_wss_with_tls(tmp_path: Path) -> None:
    certfile, keyfile = _self_signed(tmp_path)

    @async_test
    async def run() -> None:
        app = make_app()
        server = await start_websocket_server(lambda: app.core, "127.0.0.1", 0, tls=(certfile, keyfile))
        try:
            assert server.url.startswith("wss://")
            ctx = ssl.create_default_context(cafile=certfile)
            async with open_session(server.url, ssl=ctx, server_hostname="localhost") as (transport, session):
                r = await session.request("tools/call", {"name": "echo", "arguments": {"message": "secure"}})
                assert r["content"][0]["text"] == "secure"
            with pytest.raises((WebSocketHandshakeError, ConnectionError, ssl.SSLError)):
                await transport_from_url(server.url).connect(ClientHandlers())  # untrusted certificate
        finally:
            await server.close()

    run()


@async_test
async def test_mcpfast_client_over_ws_in_both_eras() -> None:
    from mcpfast import Client

    app = make_app()
    server = await start_websocket_server(lambda: app.core, "127.0.0.1", 0, auth=BearerAuth("tok"))
    try:
        options = {"headers": {"Authorization": "Bearer tok"}, "ping_interval": 5.0}
        for mode in ("legacy", "2026-07-28", "auto"):
            async with Client(server.url, mode=mode, transport_options=options) as client:
                result = await client.call_tool("echo", {"message": mode})
                assert result.content[0].text == mode
                many = await asyncio.gather(*(client.call_tool("echo", {"message": str(i)}) for i in range(20)))
                assert [r.content[0].text for r in many] == [str(i) for i in range(20)]
        with pytest.raises(WebSocketHandshakeError) as info:
            async with Client(server.url):  # no credentials: the upgrade is refused, and says why
                pass
        assert info.value.status == 401
    finally:
        await server.close()
