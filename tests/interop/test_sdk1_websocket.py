"""Interoperability over WebSocket with the official SDK 1.x (PyPI ``mcp`` 1.x, in a
virtualenv of its own: ``tests/support/sdk1.py``): its client against our server (standalone,
and through the built-in HTTP server's upgrade), and our client transport against its server
under uvicorn/Starlette. Also ``mcpfast.Client`` against its HTTP+SSE server (2024-11-05), reached
through the client's fallback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("websockets")

from mcpfast.testing import async_test
from mcpfast.transports.http import HTTPServer
from mcpfast.transports.websocket import start_websocket_server

from ..support.sdk1 import sdk1_python
from ..transports.websocket.helpers import make_app, open_session

HERE = Path(__file__).resolve().parent / "sdk1"


@pytest.fixture(scope="module")
def sdk1() -> str:
    return sdk1_python()


async def run_sdk_client(python: str, *urls: str) -> list[dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(python, str(HERE / "ws_client.py"), *urls,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:  # pragma: no cover - a hung client
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()[-3000:]
    return [json.loads(line) for line in out.decode().strip().splitlines()]


def check(seen: dict[str, Any]) -> None:
    assert seen["server"] == "ws-test"
    assert {"echo", "slow", "whoami"} <= set(seen["tools"])
    assert seen["text"] == "hello from SDK 1.x"
    assert seen["many"] == [str(i) for i in range(100)]


def test_sdk1_client_against_our_servers(sdk1: str) -> None:
    """The SDK 1.x client against our standalone server and through the built-in HTTP server's
    upgrade, in one client process (over 2 s: the SDK's import in a fresh interpreter)."""

    @async_test
    async def run() -> None:
        app = make_app()
        server = await start_websocket_server(lambda: app.core, "127.0.0.1", 0)
        try:
            async with HTTPServer(app.core, port=0) as http:
                seen = await run_sdk_client(sdk1, server.url, http.url.replace("http://", "ws://"))
            assert len(seen) == 2
            for one in seen:
                check(one)
        finally:
            await server.close()

    run()


@contextlib.asynccontextmanager
async def sdk1_server(python: str, script: str = "ws_server.py") -> AsyncIterator[int]:
    proc = await asyncio.create_subprocess_exec(python, str(HERE / script), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line.startswith(b"PORT "):
            err = await proc.stderr.read() if proc.stderr else b""  # type: ignore[union-attr]
            raise AssertionError(f"the SDK server did not start: {line!r} {err.decode()[-3000:]}")
        yield int(line.split()[1])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:  # pragma: no cover
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


def test_our_client_against_the_sdk1_server(sdk1: str) -> None:
    """Our client transport against ``mcp.server.websocket.websocket_server`` under uvicorn (over
    2 s: the SDK server's interpreter start and imports)."""

    @async_test
    async def run() -> None:
        async with sdk1_server(sdk1) as port, open_session(f"ws://127.0.0.1:{port}/ws") as (transport, session):
            assert transport.subprotocol == "mcp"
            assert session.handshake["serverInfo"]["name"] == "sdk1-ws"
            tools = await session.request("tools/list", {})
            assert [t["name"] for t in tools["tools"]] == ["echo"]
            results = await asyncio.gather(*(session.request("tools/call", {
                "name": "echo", "arguments": {"message": f"m{i}"}}) for i in range(50)))
            assert [r["content"][0]["text"] for r in results] == [f"m{i}" for i in range(50)]

    run()


def test_our_client_against_the_sdk1_http_sse_server(sdk1: str) -> None:
    """``mcpfast.Client`` given the URL of an SDK 1.x HTTP+SSE server (2024-11-05): the POST is
    refused (405), the client falls back to the old transport (the spec's backward-compatibility
    steps) and works as over any other (over 2 s: the SDK server's interpreter start)."""
    from mcpfast import Client

    @async_test
    async def run() -> None:
        async with sdk1_server(sdk1, "sse_server.py") as port, Client(f"http://127.0.0.1:{port}/sse") as client:
            assert client.server_info is not None and client.server_info.name == "sdk1-sse"
            assert [t.name for t in (await client.list_tools()).tools] == ["echo"]
            results = await asyncio.gather(*(client.call_tool("echo", {"message": f"m{i}"}) for i in range(20)))
            assert [r.content[0].text for r in results] == [f"m{i}" for i in range(20)]

    run()
