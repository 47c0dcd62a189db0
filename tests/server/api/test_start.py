"""``await app.start(...)`` and its handle, on every socket transport: start on port 0, connect,
list tools, call, shut down (with calls in flight); the lifespan around it; the errors.

The lifecycle tests are parametrized by ``CONNECTORS``, one client per transport id: a new
socket transport (``"ws"``) joins them by adding its connector there, and
``test_every_socket_transport_has_a_connector`` fails until it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mcpfast import MCPServer
from mcpfast.server import ServerCore
from mcpfast.server.serving import SOCKET_TRANSPORTS, ServerHandle, TransportUnavailable
from mcpfast.testing import async_test
from mcpfast.transports.tcp import connect_tcp

from ...transports.test_tcp import _self_signed
from .harness import ClientSide, text

MODERN_META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
               "io.modelcontextprotocol/clientCapabilities": {}}
INIT = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}


class Rpc:
    """One client connection: ``await rpc.call(method, params)`` -> the result (raises on an error)."""

    def __init__(self, call: Callable[[str, dict[str, Any]], Awaitable[Any]]) -> None:
        self.call = call


@contextlib.asynccontextmanager
async def tcp_client(handle: ServerHandle, ssl_ctx: ssl.SSLContext | None = None) -> AsyncIterator[Any]:
    u = urlsplit(handle.url)
    assert u.scheme == ("tcps" if ssl_ctx else "tcp") and u.port == handle.port
    proto = await connect_tcp(u.hostname or "", handle.port, ClientSide(), tls=ssl_ctx,
                              server_hostname="localhost" if ssl_ctx else None)
    try:
        peer = proto.peer
        assert peer is not None
        await peer.request("initialize", INIT)
        peer.notify("notifications/initialized")
        yield Rpc(peer.request)
    finally:
        proto.close()
        await proto.wait_closed()


async def http_call(url: str, method: str, params: dict[str, Any], ssl_ctx: ssl.SSLContext | None = None) -> Any:
    """One 2026-07-28 request over its own HTTP/1.1 connection -> the result (JSON or SSE body)."""
    u = urlsplit(url)
    reader, writer = await asyncio.open_connection(u.hostname, u.port, ssl=ssl_ctx,
                                                   server_hostname="localhost" if ssl_ctx else None)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                       "params": {**params, "_meta": MODERN_META}}).encode()
    head = [f"POST {u.path} HTTP/1.1", f"Host: {u.hostname}:{u.port}", "Connection: close",
            "Content-Type: application/json", "Accept: application/json, text/event-stream",
            "Mcp-Protocol-Version: 2026-07-28", f"Mcp-Method: {method}", f"Content-Length: {len(body)}"]
    if "name" in params:
        head.append(f"Mcp-Name: {params['name']}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    try:
        raw = await reader.read()
    finally:
        writer.close()
    status, _, rest = raw.partition(b"\r\n")
    headers, _, payload = rest.partition(b"\r\n\r\n")
    assert b" 200 " in status + b" ", raw
    if b"text/event-stream" in headers.lower():
        if b"transfer-encoding: chunked" in headers.lower():
            payload = _dechunk(payload)
        messages = [json.loads(line[5:]) for line in payload.splitlines() if line.startswith(b"data:")]
        reply = next(m for m in messages if m.get("id") == 1)
    else:
        reply = json.loads(payload)
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply["result"]


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size, _, data = data.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out, data = out + data[:n], data[n + 2:]
    return out


@contextlib.asynccontextmanager
async def http_client(handle: ServerHandle, ssl_ctx: ssl.SSLContext | None = None) -> AsyncIterator[Any]:
    u = urlsplit(handle.url)
    assert u.scheme == ("https" if ssl_ctx else "http") and u.port == handle.port and u.path == "/mcp"
    yield Rpc(lambda method, params: http_call(handle.url, method, params, ssl_ctx))


@contextlib.asynccontextmanager
async def ws_client(handle: ServerHandle, ssl_ctx: ssl.SSLContext | None = None) -> AsyncIterator[Any]:
    from mcpfast.client.websocket import transport_from_url

    u = urlsplit(handle.url)
    assert u.scheme == ("wss" if ssl_ctx else "ws") and u.port == handle.port and u.path == "/mcp"
    transport = transport_from_url(handle.url, ssl=ssl_ctx, server_hostname="localhost" if ssl_ctx else None)
    peer = await transport.connect(ClientSide())
    try:
        await peer.request("initialize", INIT)
        peer.notify("notifications/initialized")
        yield Rpc(peer.request)
    finally:
        await transport.close()


#: transport id -> a client of a started server
CONNECTORS: dict[str, Callable[..., contextlib.AbstractAsyncContextManager[Any]]] = {
    "tcp": tcp_client,
    "http": http_client,
    "ws": ws_client,
}
TRANSPORTS = sorted(CONNECTORS)


class SeedAdd:
    """The seed's tool shape: ``name()``, ``schema()`` -> {name, description, parameters}."""

    def name(self) -> str:
        return "add"

    def schema(self) -> dict[str, Any]:
        return {"name": "add", "description": "Add two integers",
                "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                               "required": ["a", "b"]}}

    async def execute(self, params: dict[str, Any]) -> int:
        return int(params["a"] + params["b"])


def make_app(events: list[str] | None = None, **settings: Any) -> MCPServer[Any]:
    lifespan = None
    if events is not None:
        @contextlib.asynccontextmanager
        async def lifespan(app: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
            events.append("start")
            yield {}
            events.append("end")

    app: MCPServer[Any] = MCPServer("start-test", lifespan=lifespan, **settings)

    @app.tool()
    def echo(message: str) -> str:
        return message

    @app.tool()
    async def slow(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return f"slept {seconds}"

    app.register_tool(SeedAdd())
    return app


async def refused(handle: ServerHandle) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", handle.port)
    except OSError:
        return True
    writer.close()
    return False


def test_every_socket_transport_has_a_connector() -> None:
    assert sorted(SOCKET_TRANSPORTS) == TRANSPORTS


@pytest.mark.parametrize("transport", TRANSPORTS)
@async_test
async def test_lifecycle(transport: str) -> None:
    events: list[str] = []
    app = make_app(events)
    server = await app.start(transport, host="127.0.0.1", port=0)
    assert events == ["start"] and server.transport == transport
    assert server.port > 0 and server.host == "127.0.0.1" and str(server.port) in server.url
    assert not server.closing and transport in repr(server)
    async with CONNECTORS[transport](server) as rpc:
        names = {t["name"] for t in (await rpc.call("tools/list", {}))["tools"]}
        assert names == {"echo", "slow", "add"}
        assert text(await rpc.call("tools/call", {"name": "echo", "arguments": {"message": "hi"}})) == "hi"
        assert text(await rpc.call("tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}})) == "5"
    await server.shutdown(grace=1)
    assert server.closing and events == ["start", "end"]
    assert await refused(server)
    await server.shutdown()  # again: nothing more
    await server.wait_closed()
    assert events == ["start", "end"]


@pytest.mark.parametrize("transport", TRANSPORTS)
@async_test
async def test_async_with_and_calls_in_flight_at_shutdown(transport: str) -> None:
    """Calls in flight when the shutdown begins are answered; then the server is closed."""
    app = make_app()
    async with app.start(transport, port=0) as server, CONNECTORS[transport](server) as rpc:
        calls = [asyncio.ensure_future(rpc.call("tools/call", {"name": "slow", "arguments": {"seconds": 0.3}}))
                 for _ in range(3)]
        deadline = time.monotonic() + 5
        while app.core.runner.async_in_flight < 3:
            assert time.monotonic() < deadline, "the calls never started"
            await asyncio.sleep(0.01)
        t0 = time.monotonic()
        await server.shutdown(grace=5)
        assert time.monotonic() - t0 < 3  # done when the calls are, not after the grace period
        assert [text(r) for r in await asyncio.gather(*calls)] == ["slept 0.3"] * 3
        assert await refused(server)


@pytest.mark.parametrize("transport", TRANSPORTS)
@async_test
async def test_tls_and_constructor_settings(transport: str, tmp_path: Path) -> None:
    certfile, keyfile = _self_signed(tmp_path)
    app = make_app(max_connections=3, tls=(certfile, keyfile))
    ctx = ssl.create_default_context(cafile=certfile)
    async with app.start(transport, port=0) as server:
        assert server.listener.max_connections == 3
        assert urlsplit(server.url).scheme in ("tcps", "https", "wss")
        async with CONNECTORS[transport](server, ctx) as rpc:
            assert text(await rpc.call("tools/call", {"name": "echo", "arguments": {"message": "tls"}})) == "tls"


@async_test
async def test_request_timeout_from_start() -> None:
    app = make_app()
    async with app.start("tcp", port=0, request_timeout=0.2) as server, tcp_client(server) as rpc:
        with pytest.raises(Exception, match="(?i)timed? ?out"):
            await rpc.call("tools/call", {"name": "slow", "arguments": {"seconds": 5}})


@async_test
async def test_a_bare_core_starts_too() -> None:
    core = ServerCore("bare", "1")
    core.add_tool("echo", lambda message: message, input_schema={
        "type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]})
    async with core.start("tcp", port=0) as server, tcp_client(server) as rpc:
        assert text(await rpc.call("tools/call", {"name": "echo", "arguments": {"message": "x"}})) == "x"


@async_test
async def test_wait_closed_and_serve_forever() -> None:
    events: list[str] = []
    app = make_app(events)
    server = await app.start("tcp", port=0)
    waiter = asyncio.ensure_future(server.wait_closed())
    await server.listener.close(0.5)  # the listener closed directly: the handle finishes too
    await asyncio.wait_for(waiter, 5)
    assert events == ["start", "end"]

    server = await app.start("http", port=0)
    serving = asyncio.ensure_future(server.serve_forever(grace=0.5))
    await asyncio.sleep(0.05)
    serving.cancel()  # cancelling serve_forever shuts down gracefully
    with pytest.raises(asyncio.CancelledError):
        await serving
    assert server.closing and await refused(server)
    assert events == ["start", "end", "start", "end"]


@async_test
async def test_start_errors() -> None:
    events: list[str] = []
    app = make_app(events)
    with pytest.raises(ValueError, match="stdio is not a socket transport"):
        app.start("stdio")
    with pytest.raises(ValueError, match="Unknown transport"):
        app.start("carrier-pigeon")
    if "ws" not in SOCKET_TRANSPORTS:
        with pytest.raises(TransportUnavailable, match="mcpfast.transports.websocket"):
            app.start("ws")
    with pytest.raises(ValueError, match="workers must be 1"):
        app.start("http", workers=2)
    with pytest.raises(TypeError):  # the transport's own keywords: an unknown one is refused
        await app.start("tcp", port=0, no_such_option=1)
    assert events == ["start", "end"]  # the lifespan was left when the start failed
    async with app.start("tcp", port=0) as server:
        with pytest.raises(OSError):  # the port is taken
            await app.start("tcp", port=server.port)

    @app.custom_route("/health", methods=["GET"])
    async def health(request: Any) -> Any:
        raise AssertionError("not served")

    with pytest.raises(ValueError, match="uvicorn"):
        app.start("http")


# ------------------------------------------------------------------------------ the seed's tool shape


class SyncSeed:
    def __init__(self) -> None:
        self.threads: list[str] = []

    def name(self) -> str:
        return "sync_seed"

    def schema(self) -> dict[str, Any]:
        return {"name": "sync_seed", "description": "Sync execute",
                "parameters": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}}

    def execute(self, params: dict[str, Any]) -> str:
        self.threads.append(threading.current_thread().name)
        if params["x"] == "boom":
            raise RuntimeError("exploded")
        time.sleep(0.05)  # blocking: must not run on the loop
        return params["x"] * 2


class NamedBySchema:
    """No name(): the name comes from schema(); no parameters: an empty object schema."""

    def schema(self) -> dict[str, Any]:
        return {"name": "ping_seed", "description": "Pong"}

    async def execute(self, params: dict[str, Any]) -> str:
        raise ValueError("async failure")


@async_test
async def test_seed_tool_shape_over_the_wire() -> None:
    app: MCPServer[Any] = MCPServer("seed-shape")
    sync = SyncSeed()
    app.register_tool(sync)
    app.register_tool(SeedAdd())
    app.register_tool(NamedBySchema())
    async with app.start("tcp", port=0) as server, tcp_client(server) as rpc:
        tools = {t["name"]: t for t in (await rpc.call("tools/list", {}))["tools"]}
        assert tools["add"]["description"] == "Add two integers"
        assert tools["add"]["inputSchema"] == SeedAdd().schema()["parameters"]
        assert tools["ping_seed"]["inputSchema"] == {"type": "object", "properties": {}}
        # the loop keeps answering while sync calls block their threads
        slow = [asyncio.ensure_future(rpc.call("tools/call", {"name": "sync_seed", "arguments": {"x": "ab"}}))
                for _ in range(2)]
        assert text(await rpc.call("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})) == "3"
        assert [text(r) for r in await asyncio.gather(*slow)] == ["abab", "abab"]
        assert all(t != threading.main_thread().name for t in sync.threads)
        for name, args in (("sync_seed", {"x": "boom"}), ("ping_seed", {})):
            res = await rpc.call("tools/call", {"name": name, "arguments": args})
            assert res["isError"] is True and name in text(res)
        res = await rpc.call("tools/call", {"name": "add", "arguments": {"a": 1}})  # a missing argument
        assert res["isError"] is True and "'b'" in text(res)
        assert text(await rpc.call("tools/call", {"name": "add", "arguments": {"a": 4, "b": 4}})) == "8"


def test_seed_tool_shape_errors() -> None:
    app: MCPServer[Any] = MCPServer()

    class BadSchema:
        def name(self) -> str:
            return "bad"

        def schema(self) -> Any:
            return ["not", "a", "dict"]

        def execute(self, params: dict[str, Any]) -> None:
            return None

    class BadParameters(BadSchema):
        def schema(self) -> Any:
            return {"name": "bad", "parameters": "string"}

    class Nameless(BadSchema):
        def name(self) -> str:
            return ""

        def schema(self) -> Any:
            return {"description": "no name anywhere"}

    with pytest.raises(TypeError, match="must return a dict"):
        app.register_tool(BadSchema())
    with pytest.raises(TypeError, match="JSON Schema"):
        app.register_tool(BadParameters())
    with pytest.raises(TypeError, match="no name"):
        app.register_tool(Nameless())


def test_the_readme_serving_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import re

    readme = Path(__file__).resolve().parents[3] / "README.md"
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
                if "mcp.start(" in b]
    exec(compile(block, "README.md", "exec"), {"__name__": "readme_serving"})
    out = capsys.readouterr().out.split()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/mcp", out[0]) and re.fullmatch(r"tcp://127\.0\.0\.1:\d+", out[1])
