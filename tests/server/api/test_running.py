"""``app.run*``: stdio (a subprocess), TCP and Streamable HTTP in process, lifespan around each."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mcpfast import Context, MCPServer
from mcpfast.testing import async_test
from mcpfast.transports.stdio import connect_stdio
from mcpfast.transports.tcp import connect_tcp

from .harness import ClientSide, text

HERE = os.path.dirname(os.path.abspath(__file__))


def app_with_lifespan(events: list[str]) -> MCPServer:
    @contextlib.asynccontextmanager
    async def lifespan(app: MCPServer) -> AsyncIterator[dict[str, Any]]:
        events.append("start")
        yield {"conn": 42}
        events.append("end")

    app = MCPServer("run", lifespan=lifespan)

    @app.tool()
    def state(ctx: Context) -> dict[str, Any]:
        return ctx.request_context.lifespan_context  # type: ignore[no-any-return]

    return app


async def http_post(port: int, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
    """One HTTP/1.1 POST over a raw socket (Connection: close) -> (status, JSON body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = json.dumps(body).encode()
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
            f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in headers.items())]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
    raw = await reader.read()
    writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(payload)


async def asgi_call(app: Any, method: str, path: str, body: bytes = b"",
                    headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Drive an ASGI app with one HTTP request (no lifespan events, as when mounted)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.encode(), v.encode()) for k, v in {"host": "127.0.0.1", **(headers or {})}.items()],
             "client": ("127.0.0.1", 1234), "server": ("127.0.0.1", 80)}
    sent = False
    out: dict[str, Any] = {"status": 0, "body": b""}
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(msg: dict[str, Any]) -> None:
        if msg["type"] == "http.response.start":
            out["status"] = msg["status"]
        elif msg["type"] == "http.response.body":
            out["body"] += msg.get("body", b"")
            if not msg.get("more_body"):
                done.set()

    await app(scope, receive, send)
    return out["status"], out["body"]


INIT = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}


@async_test
async def test_stdio_run_with_lifespan(capfd: Any = None) -> None:
    proto, proc = await connect_stdio([sys.executable, os.path.join(HERE, "stdio_app.py")], ClientSide())
    try:
        await proto.peer.request("initialize", INIT)
        proto.peer.notify("notifications/initialized")
        res = await proto.peer.request("tools/call", {"name": "state", "arguments": {}})
        assert text(res) == "{'resource': 'open'}"
        for i in range(8):  # through the pool first, then inline
            res = await proto.peer.request("tools/call", {"name": "echo", "arguments": {"message": str(i)}})
            assert res["structuredContent"] == {"result": str(i)}
    finally:
        code = await proto.aclose()
    assert code == 0


@async_test
async def test_tcp_run_with_lifespan() -> None:
    events: list[str] = []
    app = app_with_lifespan(events)
    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(app.run_tcp_async("127.0.0.1", 0, ready=ready.set_result))
    server = await asyncio.wait_for(ready, 5)
    assert events == ["start"]
    proto = await connect_tcp("127.0.0.1", server.port, ClientSide())
    try:
        await proto.peer.request("initialize", INIT)
        res = await proto.peer.request("tools/call", {"name": "state", "arguments": {}})
        assert res["structuredContent"] == {"conn": 42}
    finally:
        proto.close()
        await proto.wait_closed()
    await server.close()
    await asyncio.wait_for(task, 5)
    assert events == ["start", "end"]


@async_test
async def test_streamable_http_run_with_lifespan() -> None:
    events: list[str] = []
    app = app_with_lifespan(events)
    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(app.run_streamable_http_async(host="127.0.0.1", port=0, ready=ready,
                                                               json_response=True))
    server = await asyncio.wait_for(ready, 5)
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json",
               "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "state"}
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    status, body = await http_post(server.port, "/mcp", {
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "state", "arguments": {}, "_meta": meta}}, headers)
    assert status == 200, body
    assert body["result"]["structuredContent"] == {"conn": 42}
    assert events == ["start"]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert events == ["start", "end"]


@async_test
async def test_streamable_http_app_with_custom_routes() -> None:
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    events: list[str] = []
    app = app_with_lifespan(events)

    @app.custom_route("/health", methods=["GET"])
    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    asgi = app.streamable_http_app(json_response=True, stateless_http=True)
    status, body = await asgi_call(asgi, "GET", "/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, body = await asgi_call(
        asgi, "POST", "/mcp", json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT}).encode(),
        {"accept": "application/json, text/event-stream", "content-type": "application/json"})
    assert status == 200, body
    assert json.loads(body)["result"]["serverInfo"]["name"] == "run"
    plain = MCPServer("plain").streamable_http_app()
    assert type(plain).__name__ == "ASGIApp"


def test_http_settings_from_sdk_option_names() -> None:
    app = MCPServer("x", json_response=True, request_timeout=7.0)
    s = app._http_settings(host="0.0.0.0", streamable_http_path="/api", stateless_http=True,
                           max_request_body_size=1000, session_idle_timeout=60.0, max_sessions=5,
                           retry_interval=250, metrics_path="/metrics")
    assert (s.path, s.json_response, s.stateless, s.max_body, s.session_ttl, s.max_sessions, s.sse_retry_ms) == \
        ("/api", True, True, 1000, 60.0, 5, 250)
    assert s.request_timeout == 7.0 and s.bind_host == "0.0.0.0" and s.metrics_path == "/metrics"
    assert s.lifespan is not None
    with pytest.raises(TypeError, match="unknown Streamable HTTP option"):
        app._http_settings(bogus=1)


def test_run_rejects_unknown_transports() -> None:
    app = MCPServer()  # ("sse" is served since the HTTP+SSE transport exists: tests/compat/test_sse.py)
    with pytest.raises(ValueError, match="Unknown transport"):
        app.run("carrier-pigeon")


@async_test
async def test_lifespan_runs_once_when_nested() -> None:
    events: list[str] = []
    app = app_with_lifespan(events)
    assert app.core.lifespan_state is None
    async with app.lifespan_context() as state:
        async with app.lifespan_context() as inner:
            assert inner is state
        assert app.core.lifespan_state == {"conn": 42}
    assert events == ["start", "end"]
    plain = MCPServer()
    assert plain.core.lifespan_state == {}


@async_test
async def test_run_with_custom_routes_serves_them_beside_the_endpoint() -> None:
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    events: list[str] = []
    app = app_with_lifespan(events)

    @app.custom_route("/health", methods=["GET"])
    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "lifespan": events})

    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(app.run_streamable_http_async(host="127.0.0.1", port=0, ready=ready,
                                                               json_response=True))
    server = await asyncio.wait_for(ready, 10)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nConnection: close\r\n\r\n".encode())
    raw = await reader.read()
    writer.close()
    assert raw.startswith(b"HTTP/1.1 200"), raw
    assert json.loads(raw.partition(b"\r\n\r\n")[2]) == {"status": "ok", "lifespan": ["start"]}
    status, body = await http_post(server.port, "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                                         "params": INIT},
                                   {"accept": "application/json, text/event-stream", "content-type": "application/json"})
    assert status == 200 and body["result"]["serverInfo"]["name"] == "run", body
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert events == ["start", "end"]  # entered once for the routes and the endpoint


def test_custom_routes_refuse_workers() -> None:
    app = MCPServer("routes")

    @app.custom_route("/health", methods=["GET"])
    async def health(request: Any) -> Any:
        raise AssertionError("not reached")

    with pytest.raises(ValueError, match="workers must be 1"):
        app.run(transport="streamable-http", port=0, workers=2, stateless_http=True)


def test_sdk_transport_security_maps_onto_http_settings() -> None:
    from mcp.server.transport_security import TransportSecuritySettings

    app = MCPServer("sec")
    s = app._http_settings(transport_security=TransportSecuritySettings(
        allowed_hosts=["api.example"], allowed_origins=["https://app.example"], enable_dns_rebinding_protection=True))
    assert s.allowed_hosts == ["api.example"] and s.allowed_origins == ["https://app.example"]
    assert s.dns_rebinding_protection is True
    off = app._http_settings(transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
    assert off.dns_rebinding_protection is False
