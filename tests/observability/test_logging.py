"""Logging: records about a request carry its id, method and tool in ``extra``; tokens and
arguments never reach a log record (the stdio stdout check is in test_metrics.py)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from mcpfast import MCPServer, requestvars
from mcpfast.testing import Client, async_test
from mcpfast.transports.http.auth import BearerAuth
from mcpfast.transports.http.server import HTTPServer
from mcpfast.transports.http.settings import HTTPSettings

from ..transports.http.front_fakes import RawClient, post

SECRET = "tok-7f3a9c1e-do-not-log"


def make_app() -> MCPServer:
    app = MCPServer("log-test", version="1")

    @app.tool()
    def crash_sync(password: str) -> str:
        raise RuntimeError("sync crash")

    @app.tool()
    async def crash_async(password: str) -> str:
        await asyncio.sleep(0)
        raise RuntimeError("async crash")

    return app


@pytest.mark.parametrize("tool", ["crash_sync", "crash_async"])
def test_a_tool_crash_is_logged_with_request_id_method_and_tool(tool: str, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()

    async def run() -> None:
        async with Client(app) as c:
            res = await c.call_tool(tool, {"password": SECRET})
            assert res["isError"] is True

    with caplog.at_level(logging.DEBUG, logger="mcpfast"):
        async_test(run)()
    records = [r for r in caplog.records if r.name.startswith("mcpfast") and "unexpected exception" in r.getMessage()]
    assert len(records) == 1
    rec: Any = records[0]
    assert rec.name == "mcpfast.server"
    assert rec.mcp_method_name == "tools/call"
    assert rec.gen_ai_tool_name == tool
    assert isinstance(rec.jsonrpc_request_id, int)
    # the arguments are not logged
    assert SECRET not in caplog.text


def test_log_extra_outside_a_request_is_empty() -> None:
    assert requestvars.log_extra() == {}
    assert requestvars.log_extra("t") == {"gen_ai_tool_name": "t"}


@async_test
async def test_a_bearer_token_never_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()
    server = HTTPServer(app.core, port=0, settings=HTTPSettings(auth=BearerAuth(SECRET), json_response=True))
    await server.start()
    caplog.set_level(logging.DEBUG)
    try:
        for token in (SECRET, SECRET + "x"):  # accepted, then refused
            c = await RawClient.connect(server.port)
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                "name": "crash_sync", "arguments": {"password": SECRET},
                "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                          "io.modelcontextprotocol/clientCapabilities": {}}}}).encode()
            c.send(post("/mcp", body, {"authorization": f"Bearer {token}", "content-type": "application/json",
                                       "accept": "application/json, text/event-stream",
                                       "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call",
                                       "mcp-name": "crash_sync"}))
            r = await c.response()
            assert r.status in (200, 401)
            c.close()
    finally:
        await server.close()
    assert any(r.name.startswith("mcpfast") for r in caplog.records)
    assert SECRET not in caplog.text


@async_test
async def test_metrics_route_is_behind_the_endpoints_authentication() -> None:
    app = make_app()
    server = HTTPServer(app.core, port=0, settings=HTTPSettings(auth=BearerAuth(SECRET)))
    await server.start()
    try:
        statuses = []
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Bearer {SECRET}"}):
            c = await RawClient.connect(server.port)
            lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            c.send(f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode())
            r = await c.response()
            statuses.append(r.status)
            c.close()
        assert statuses == [401, 401, 200]
        assert b"mcp_server_operation_duration_seconds" in r.body
    finally:
        await server.close()
