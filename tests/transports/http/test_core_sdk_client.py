"""The official Python SDK's client (``mcp``) against the core behind the built-in HTTP server, in
both eras: JSON answers, SSE on progress/logs, a server->client request on the POST stream
(legacy) or MRTR (2026-07-28), x-mcp-header mirrors with the base64 sentinel, and SEP-1699
polling (the stream closed mid-call, the client resuming with GET + Last-Event-ID)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mcp import Client

from mcpfast.testing import async_test
from mcpfast.transports.http import HTTPSettings
from mcpfast.transports.http.server import HTTPServer

from .fakes import build_core

ERAS = [pytest.param("legacy", id="legacy"), pytest.param("auto", id="modern")]


def _core() -> Any:
    core = build_core()

    async def test_reconnection(ctx: Any) -> str:
        from mcpfast.requestvars import stream_control

        ctx.report_progress(1, 2)
        await asyncio.sleep(0.02)
        control = stream_control.get()
        if control is not None:
            control.close_sse_stream()
        await asyncio.sleep(0.05)
        ctx.report_progress(2, 2)
        return "Reconnection test completed"

    core.add_tool("test_reconnection", test_reconnection, input_schema={"type": "object"}, context_kwarg="ctx")
    return core


@pytest.mark.parametrize("mode", ERAS)
@async_test
async def test_sdk_client_over_http(mode: str) -> None:
    from mcp.types import ElicitResult

    logs: list[Any] = []
    progress: list[float] = []

    async def on_log(params: Any) -> None:
        logs.append(params)

    async def on_elicit(ctx: Any, params: Any) -> Any:
        return ElicitResult(action="accept", content={"name": "Ada"})

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append(p)

    srv = HTTPServer(_core(), host="127.0.0.1", port=0, settings=HTTPSettings(sse_retry_ms=50))
    await srv.start()
    try:
        url = f"http://127.0.0.1:{srv.port}/mcp"
        async with Client(url, mode=mode, logging_callback=on_log, elicitation_callback=on_elicit) as c:
            assert c.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
            r = await c.call_tool("add", {"a": 2, "b": 3})
            assert r.content[0].text == "5"
            r = await c.call_tool("progress", {}, progress_callback=on_progress)
            assert r.content[0].text == "ok" and progress == [1, 2]
            if mode == "legacy":
                assert [getattr(x, "data", None) for x in logs] == ["done"]
            r = await c.call_tool("region", {"region": "München", "count": 3, "flag": True})
            assert r.content[0].text == "München/3/True"
            r = await c.call_tool("ask", {})
            assert r.content[0].text == "Hello Ada"
            assert len((await c.list_tools()).tools) >= 8
            assert (await c.read_resource("file:///a.txt")).contents[0].text == "A"
            r = await asyncio.wait_for(c.call_tool("test_reconnection", {}), 10)
            assert r.content[0].text == "Reconnection test completed"
    finally:
        await srv.close(1.0)
