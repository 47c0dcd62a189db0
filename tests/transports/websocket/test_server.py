"""MCP over WebSocket: the standalone server (``mcpfast.transports.websocket``), driven by the
``websockets`` library's own asyncio client (frames, close codes, handshake answers) and by our
client transport with ``ClientSession``."""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

import pytest

pytest.importorskip("websockets")

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mcpfast import MCPServer
from mcpfast.testing import async_test
from mcpfast.transports.http.auth import AccessToken, BearerAuth
from mcpfast.transports.websocket import (
    WebSocketConnection,
    WebSocketSettings,
    select_subprotocol,
    start_websocket_server,
)

from ...support.dispatchers import EchoDispatcher
from .helpers import LEGACY, Conversation, make_app, open_session


def init_msg(rid: int = 1, version: str = LEGACY) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})


def call_msg(rid: Any, name: str, arguments: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                       "params": {"name": name, "arguments": arguments}})


async def start(app: MCPServer | None = None, **kw: Any) -> Any:
    app = app or make_app()
    return await start_websocket_server(lambda: app.core, "127.0.0.1", 0, **kw)


# ---------------------------------------------------------------------------- lifecycle


@async_test
async def test_lifecycle_list_call_shutdown() -> None:
    server = await start()
    assert server.url == f"ws://127.0.0.1:{server.port}/mcp"
    async with open_session(server.url) as (transport, session):
        assert transport.subprotocol == "mcp"
        tools = await session.request("tools/list", {})
        assert {t["name"] for t in tools["tools"]} >= {"echo", "slow", "whoami"}
        result = await session.request("tools/call", {"name": "echo", "arguments": {"message": "hi"}})
        assert result["content"][0]["text"] == "hi"
        assert server.connections == 1
    await server.close()
    assert server.connections == 0


@async_test
async def test_both_eras_on_one_connection() -> None:
    server = await start()
    try:
        async with connect(server.url, subprotocols=["mcp"]) as ws:  # type: ignore[list-item]
            conv = Conversation(ws)
            # a 2026-07-28 request needs no handshake: its envelope is in params._meta
            modern = await conv.ask({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                "name": "echo", "arguments": {"message": "new"},
                "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                          "io.modelcontextprotocol/clientCapabilities": {}}}})
            assert modern["result"]["content"][0]["text"] == "new", modern
            # and the legacy handshake on the same connection
            init = await conv.ask(json.loads(init_msg(2)))
            assert init["result"]["protocolVersion"] == LEGACY
            await ws.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            old = await conv.ask(json.loads(call_msg(3, "echo", {"message": "old"})))
            assert old["result"]["content"][0]["text"] == "old"
    finally:
        await server.close()


@async_test
async def test_100_concurrent_calls_on_one_connection() -> None:
    server = await start()
    try:
        async with open_session(server.url) as (_t, session):
            results = await asyncio.gather(*(
                session.request("tools/call", {"name": "slow", "arguments": {"delay": 0.02, "tag": i}})
                for i in range(100)))
            assert [r["content"][0]["text"] for r in results] == [str(i) for i in range(100)]
    finally:
        await server.close()


@async_test
async def test_50_connections_at_once() -> None:
    server = await start()
    try:
        async def one(i: int) -> str:
            async with open_session(server.url) as (_t, session):
                r = await session.request("tools/call", {"name": "echo", "arguments": {"message": f"c{i}"}})
                return str(r["content"][0]["text"])

        assert await asyncio.gather(*(one(i) for i in range(50))) == [f"c{i}" for i in range(50)]
    finally:
        await server.close()
    assert server.connections == 0


# ---------------------------------------------------------------------------- frames


@async_test
async def test_malformed_frames_answered_and_connection_survives() -> None:
    server = await start()
    try:
        async with connect(server.url, subprotocols=["mcp"]) as ws:  # type: ignore[list-item]
            await ws.send("this is not json")
            err = json.loads(await ws.recv())
            assert err["id"] is None and err["error"]["code"] == -32700
            await ws.send(b'{"jsonrpc":"2.0","id":5,"method":"ping"}')  # binary: not JSON-RPC here
            err = json.loads(await ws.recv())
            assert err["id"] is None and err["error"]["code"] == -32600
            assert "text frame" in err["error"]["message"]
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 7}))  # JSON, not a message
            err = json.loads(await ws.recv())
            assert err["error"]["code"] == -32600 and err["id"] == 7
            # a fragmented text message is one message
            await ws.send(iter(['{"jsonrpc":"2.0",', '"id":8,"method":"ping"}']))
            assert json.loads(await ws.recv()) == {"jsonrpc": "2.0", "id": 8, "result": {}}
            # the connection still serves
            init = await Conversation(ws).ask(json.loads(init_msg(9)))
            assert "result" in init
    finally:
        await server.close()


@async_test
async def test_message_size_limit_closes_1009() -> None:
    server = await start(max_message_size=1000)
    try:
        async with connect(server.url, subprotocols=["mcp"], max_size=None) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "y" * 900}}))
            assert json.loads(await ws.recv())["id"] == 1  # just under: served
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping", "params": {"x": "y" * 2000}}))
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    finally:
        await server.close()


# ---------------------------------------------------------------------------- handshake


@async_test
async def test_subprotocol_choices() -> None:
    assert select_subprotocol(["x", "mcp"]) == "mcp"
    assert select_subprotocol([]) is None
    server = await start()
    try:
        async with connect(server.url) as ws:  # none offered: served without one (documented)
            assert ws.subprotocol is None
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            assert json.loads(await ws.recv())["result"] == {}
        with pytest.raises(InvalidStatus) as info:
            async with connect(server.url, subprotocols=["graphql-ws"]):  # type: ignore[list-item]
                pass
        assert info.value.response.status_code == 400
        assert b"mcp" in info.value.response.body
        with pytest.raises(InvalidStatus) as info:  # not the MCP path
            async with connect(server.url.replace("/mcp", "/other"), subprotocols=["mcp"]):  # type: ignore[list-item]
                pass
        assert info.value.response.status_code == 404
    finally:
        await server.close()
    strict = await start(require_subprotocol=True)
    try:
        with pytest.raises(InvalidStatus) as info:
            async with connect(strict.url):
                pass
        assert info.value.response.status_code == 400
    finally:
        await strict.close()


@async_test
async def test_origin_and_host_checked_on_loopback() -> None:
    server = await start()
    try:
        with pytest.raises(InvalidStatus) as info:
            async with connect(server.url, subprotocols=["mcp"], origin="http://evil.example"):  # type: ignore[list-item,arg-type]
                pass
        assert info.value.response.status_code == 403
        assert b"Invalid Origin" in info.value.response.body
        with pytest.raises(InvalidStatus) as info:
            async with connect(server.url, subprotocols=["mcp"],  # type: ignore[list-item]
                               additional_headers={"Host": "evil.example"}):
                pass
        assert info.value.response.status_code == 421
        async with connect(server.url, subprotocols=["mcp"], origin="http://localhost:3000") as ws:  # type: ignore[list-item,arg-type]
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            assert json.loads(await ws.recv())["id"] == 1
    finally:
        await server.close()
    opened = await start(allowed_origins=["https://app.example"])
    try:
        async with connect(opened.url, subprotocols=["mcp"], origin="https://app.example") as ws:  # type: ignore[list-item,arg-type]
            assert ws.subprotocol == "mcp"
    finally:
        await opened.close()


@async_test
async def test_bearer_auth_on_the_upgrade() -> None:
    grant = AccessToken(token="s3cret", client_id="alice", expires_at=int(time.time()) + 3600)
    server = await start(auth=BearerAuth({"s3cret": grant}))
    try:
        with pytest.raises(InvalidStatus) as info:
            async with connect(server.url, subprotocols=["mcp"]):  # type: ignore[list-item]
                pass
        assert info.value.response.status_code == 401
        assert info.value.response.headers["WWW-Authenticate"].startswith("Bearer")
        async with open_session(server.url, headers={"Authorization": "Bearer s3cret"}) as (_t, session):
            who = await session.request("tools/call", {"name": "whoami", "arguments": {}})
            assert who["content"][0]["text"] == "alice"
    finally:
        await server.close()


@async_test
async def test_expired_token_closes_1008() -> None:
    class Soon:
        def well_known(self) -> dict[str, bytes]:
            return {}

        def authenticate(self, authorization: str | None) -> Any:
            async def verify() -> AccessToken:  # a verifier that awaits (the slow path)
                # at least a whole second of life (int(now) + 1 could leave a few ms, and the
                # ping below would then race the expiry on a loaded machine)
                return AccessToken(token="t", client_id="bob", expires_at=math.ceil(time.time()) + 1)
            return verify()

    server = await start(auth=Soon())
    try:
        async with connect(server.url, subprotocols=["mcp"],  # type: ignore[list-item]
                           additional_headers={"Authorization": "Bearer t"}) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            assert json.loads(await ws.recv())["id"] == 1
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    finally:
        await server.close()


@async_test
async def test_a_message_behind_the_upgrade_waits_for_an_awaiting_verifier() -> None:
    """A client may send its first message in the same write as the upgrade request; when the
    token verifier awaits, that message is served once the connection opens, not dropped."""
    import base64
    import os

    class Slow:
        def well_known(self) -> dict[str, bytes]:
            return {}

        def authenticate(self, authorization: str | None) -> Any:
            async def verify() -> AccessToken:
                await asyncio.sleep(0.05)
                return AccessToken(token="t", client_id="bob", expires_at=int(time.time()) + 3600)
            return verify()

    server = await start(auth=Slow())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        key = base64.b64encode(os.urandom(16)).decode()
        head = (f"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Protocol: mcp\r\nAuthorization: Bearer t\r\n\r\n").encode()
        payload = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "ping"}).encode()
        mask = os.urandom(4)
        frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        writer.write(head + frame)  # one write: the upgrade and a frame behind it
        status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert status.startswith(b"HTTP/1.1 101"), status
        first = await asyncio.wait_for(reader.readexactly(2), 5)
        assert first[0] == 0x81, first  # an unmasked text frame from the server
        n = first[1] & 0x7F
        if n == 126:
            n = int.from_bytes(await reader.readexactly(2), "big")
        answer = json.loads(await asyncio.wait_for(reader.readexactly(n), 5))
        assert answer["id"] == 7 and "result" in answer, answer
        writer.close()
    finally:
        await server.close()


@async_test
async def test_max_connections_refused_with_503() -> None:
    server = await start(max_connections=1)
    try:
        async with connect(server.url, subprotocols=["mcp"]):  # type: ignore[list-item]
            with pytest.raises(InvalidStatus) as info:
                async with connect(server.url, subprotocols=["mcp"]):  # type: ignore[list-item]
                    pass
            assert info.value.response.status_code == 503
            assert server.refused == 1
            # counted by its reason, as TCP and HTTP count theirs
            assert server.endpoint.metrics.refused.labels("max_connections").value == 1
    finally:
        await server.close()


# ---------------------------------------------------------------------------- lifetime


@async_test
async def test_shutdown_delivers_answers_in_flight_then_1001() -> None:
    server = await start()
    async with connect(server.url, subprotocols=["mcp"]) as ws:  # type: ignore[list-item]
        conv = Conversation(ws)
        await conv.ask(json.loads(init_msg(1)))
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        for i in range(5):
            await ws.send(call_msg(10 + i, "slow", {"delay": 0.2, "tag": i}))
        await asyncio.sleep(0.05)  # the calls are running
        closing = asyncio.ensure_future(server.close(grace=5))
        answers = []
        with pytest.raises(ConnectionClosed) as info:
            while True:
                answers.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        assert sorted(a["id"] for a in answers) == [10, 11, 12, 13, 14]
        assert all("result" in a for a in answers)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        await closing
    assert server.connections == 0


@async_test
async def test_shutdown_grace_cancels_the_rest_with_an_answer() -> None:
    server = await start()
    async with connect(server.url, subprotocols=["mcp"]) as ws:  # type: ignore[list-item]
        conv = Conversation(ws)
        await conv.ask(json.loads(init_msg(1)))
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        await ws.send(call_msg(2, "slow", {"delay": 30, "tag": 0}))
        await asyncio.sleep(0.05)
        closing = asyncio.ensure_future(server.close(grace=0.1))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert answer["id"] == 2 and answer["error"]["code"] == -32000
        await closing


@async_test
async def test_keepalive_ping_and_idle_timeout() -> None:
    server = await start(ping_interval=0.1, ping_timeout=0.2, idle_timeout=None)
    try:
        # a client that answers pings (the library does) stays open past several intervals
        async with connect(server.url, subprotocols=["mcp"], ping_interval=None) as ws:  # type: ignore[list-item]
            await asyncio.sleep(0.6)
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            assert json.loads(await ws.recv())["id"] == 1
        # a client that never reads (so never answers a ping) is closed
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        t0 = time.monotonic()
        data = await asyncio.wait_for(reader.read(), 5)  # ping, then close 1011, then EOF
        assert b"\x89" in data[:2]  # a ping frame came first
        assert b"\x03\xf3" in data  # 1011 in the close frame
        assert time.monotonic() - t0 < 3
        writer.close()
    finally:
        await server.close()
    idle = await start(ping_interval=None, idle_timeout=0.2)
    try:
        async with connect(idle.url, subprotocols=["mcp"], ping_interval=None) as ws:  # type: ignore[list-item]
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    finally:
        await idle.close()


_UPGRADE = (b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def test_backpressure_pauses_reading() -> None:
    app = make_app()

    class Owner:
        stopping = False

        def connected(self, conn: Any) -> None:
            pass

        def disconnected(self, conn: Any) -> None:
            pass

    class Transport(asyncio.Transport):
        def __init__(self) -> None:
            super().__init__()
            self.paused = False
            self.out: list[bytes] = []

        def write(self, data: Any) -> None:
            self.out.append(bytes(data))

        def pause_reading(self) -> None:
            self.paused = True

        def resume_reading(self) -> None:
            self.paused = False

        def is_closing(self) -> bool:
            return False

        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return default

    from mcpfast.transports.websocket import WebSocketEndpoint

    @async_test
    async def run() -> None:
        conn = WebSocketConnection(Owner(), WebSocketEndpoint(lambda: app.core, WebSocketSettings()))
        tr = Transport()
        conn.connection_made(tr)
        conn.data_received(_UPGRADE)
        assert tr.out[-1].startswith(b"HTTP/1.1 101")
        conn.pause_writing()
        assert tr.paused
        conn.resume_writing()
        assert not tr.paused

        # past half of max_in_flight suspended handlers, reading pauses until half of them finished
        from websockets.frames import Frame, Opcode

        loaded = WebSocketConnection(Owner(), WebSocketEndpoint(EchoDispatcher, WebSocketSettings(max_in_flight=4)))
        tr2 = Transport()
        loaded.connection_made(tr2)
        loaded.data_received(_UPGRADE)
        frames = b"".join(Frame(Opcode.TEXT, json.dumps({"jsonrpc": "2.0", "id": i, "method": "slow",
                                                         "params": {"delay": 0.05}}).encode())
                          .serialize(mask=True, extensions=[]) for i in range(2))
        loaded.data_received(frames)
        assert tr2.paused
        await asyncio.sleep(0.3)
        assert not tr2.paused
        assert b"".join(tr2.out).count(b'"slept"') == 2

    run()


# ---------------------------------------------------------------------------- metrics


@async_test
async def test_metrics_count_calls_connections_and_bytes() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    def scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        text = app.core.metrics.text()  # type: ignore[union-attr]
        return {(s.name, frozenset(s.labels.items())): s.value
                for fam in text_string_to_metric_families(text) for s in fam.samples}

    n = 5
    app = make_app()
    server = await start(app)
    tcp = frozenset({("network_transport", "tcp")})
    try:
        sent = received = 0
        async with connect(server.url, subprotocols=["mcp"], compression=None) as ws:  # type: ignore[list-item]
            conv = Conversation(ws)
            for rid, msg in [(1, init_msg(1))] + [(i, call_msg(i, "echo", {"message": f"m{i}"})) for i in range(2, n + 2)]:
                sent += len(msg)
                answer = await conv.ask(json.loads(msg))
                received += len(json.dumps(answer, separators=(",", ":")))
                assert "result" in answer, answer
                if rid == 1:
                    note = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
                    sent += len(note)
                    await ws.send(note)
            s = scrape()
            call = frozenset({("mcp_method_name", "tools/call"), ("gen_ai_tool_name", "echo"), ("error_type", ""),
                              ("network_transport", "tcp"), ("mcp_protocol_version", LEGACY)})
            assert s[("mcp_server_operation_duration_seconds_count", call)] == n
            assert s[("mcpfast_connections_open", tcp)] == 1
            # frames carry the messages plus a few header (and, from the client, mask) bytes each
            assert sent < s[("mcpfast_bytes_received_total", tcp)] < sent + 20 * (n + 2)
            assert received <= s[("mcpfast_bytes_sent_total", tcp)] < received + 20 * (n + 1)
        for _ in range(200):
            if server.connections == 0 and app.core.session_count == 0:
                break
            await asyncio.sleep(0.005)
        s = scrape()
        assert s[("mcpfast_connections_open", tcp)] == 0
        assert s[("mcp_server_session_duration_seconds_count",
                  frozenset({("network_transport", "tcp"), ("mcp_protocol_version", LEGACY)}))] == 1
    finally:
        await server.close()
