"""The built-in server in front of the real core (``StreamableHTTP`` over a ``ServerCore``):
legacy sessions with their GET stream, stateless 2026-07-28 requests, a disconnect cancelling a
tool, and ``run_http(workers=2)`` in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from mcpfast.server import ServerCore
from mcpfast.testing import async_test
from mcpfast.transports.http.server import HTTPServer, run_http, serve_http
from mcpfast.transports.http.settings import HTTPSettings

from .front_fakes import RawClient, Response, free_port, message, post, rpc_body

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
PV_KEY = "io.modelcontextprotocol/protocolVersion"
CAPS_KEY = "io.modelcontextprotocol/clientCapabilities"
ACCEPT = "application/json, text/event-stream"


def make_core(events: dict[str, Any]) -> ServerCore:
    core = ServerCore("front-test", "1.0")

    def echo(message: str) -> str:
        return message

    async def wait() -> str:
        events["started"].set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            events["cancelled"] = True
            raise
        return "never"

    schema = {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}
    core.add_tool("echo", echo, input_schema=schema)
    core.add_tool("wait", wait, input_schema={"type": "object", "properties": {}})
    return core


@asynccontextmanager
async def running(**settings: Any) -> AsyncIterator[tuple[HTTPServer, dict[str, Any]]]:
    events: dict[str, Any] = {"started": asyncio.Event(), "cancelled": False}
    server = HTTPServer(make_core(events), port=0, settings=HTTPSettings(**settings))
    await server.start()
    try:
        yield server, events
    finally:
        await server.close(grace=1.0)


async def initialize(c: RawClient) -> str:
    c.send(post("/mcp", rpc_body(0, "initialize", {"protocolVersion": LEGACY, "capabilities": {},
                                                     "clientInfo": {"name": "t", "version": "0"}}),
                {"Content-Type": "application/json", "Accept": ACCEPT}))
    r = await c.response()
    assert r.status == 200, r.body
    sid = r.headers["mcp-session-id"]
    c.send(post("/mcp", rpc_body(None, "notifications/initialized"),
                {"Content-Type": "application/json", "Accept": ACCEPT, "Mcp-Session-Id": sid,
                 "MCP-Protocol-Version": LEGACY}))
    assert (await c.response()).status == 202
    return sid


def modern_headers(tool: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Accept": ACCEPT, "MCP-Protocol-Version": MODERN,
            "Mcp-Method": "tools/call", "Mcp-Name": tool}


def legacy_headers(sid: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Accept": ACCEPT, "Mcp-Session-Id": sid, "MCP-Protocol-Version": LEGACY}


@async_test
async def test_legacy_session_over_the_built_in_server() -> None:
    async with running() as (server, _):
        c = await RawClient.connect(server.port)
        sid = await initialize(c)
        for i in range(3):  # keep-alive: the same connection
            c.send(post("/mcp", rpc_body(i + 1, "tools/call", {"name": "echo", "arguments": {"message": f"hi {i}"}}),
                        legacy_headers(sid)))
            r = await c.response()
            assert r.status == 200
            assert message(r)["result"]["content"][0]["text"] == f"hi {i}"
        # the session's GET stream: chunked SSE, ended when the session is deleted
        g = await RawClient.connect(server.port)
        g.send(f"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nMcp-Session-Id: {sid}\r\n"
               f"MCP-Protocol-Version: {LEGACY}\r\n\r\n".encode())
        head = await asyncio.wait_for(g.reader.readuntil(b"\r\n\r\n"), 5)
        assert b" 200 " in head.split(b"\r\n")[0]
        assert b"transfer-encoding: chunked" in head.lower() and b"text/event-stream" in head
        c.send(f"DELETE /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nMcp-Session-Id: {sid}\r\n"
               f"MCP-Protocol-Version: {LEGACY}\r\n\r\n".encode())
        r = await c.response()
        assert r.status in (200, 202, 204)
        # the stream ends with the last chunk; the connection stays usable
        rest = await asyncio.wait_for(g.reader.readuntil(b"\r\n0\r\n\r\n"), 5)
        assert b"retry:" in rest
        g.send(b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (await g.response()).status == 404
        c.send(post("/mcp", rpc_body(9, "tools/call", {"name": "echo", "arguments": {"message": "x"}}), legacy_headers(sid)))
        assert (await c.response()).status == 404  # the session is gone
        c.close()
        g.close()


@async_test
async def test_modern_stateless_request() -> None:
    async with running() as (server, _):
        c = await RawClient.connect(server.port)
        params = {"name": "echo", "arguments": {"message": "modern"}, "_meta": {PV_KEY: MODERN, CAPS_KEY: {}}}
        c.send(post("/mcp", rpc_body(7, "tools/call", params), modern_headers("echo")))
        r = await c.response()
        assert r.status == 200, r.body
        assert message(r)["result"]["content"][0]["text"] == "modern"
        assert "mcp-session-id" not in r.headers
        c.close()


@async_test
async def test_client_disconnect_cancels_the_tool() -> None:
    async with running() as (server, events):
        # 2026-07-28: a closed response stream cancels the request (the front end's on_close)
        c = await RawClient.connect(server.port)
        params = {"name": "wait", "arguments": {}, "_meta": {PV_KEY: MODERN, CAPS_KEY: {}}}
        c.send(post("/mcp", rpc_body(5, "tools/call", params), modern_headers("wait")))
        await asyncio.wait_for(events["started"].wait(), 5)
        c.close()
        loop = asyncio.get_running_loop()
        end = loop.time() + 5
        while not events["cancelled"] and loop.time() < end:
            await asyncio.sleep(0.02)
        assert events["cancelled"]


@async_test
async def test_over_limit_body_413_from_the_core() -> None:
    async with running(max_body=1000) as (server, _):
        c = await RawClient.connect(server.port)
        c.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + (b"200\r\n" + b" " * 512 + b"\r\n") * 3 + b"0\r\n\r\n")
        r = await c.response()
        assert r.status == 413
        assert json.loads(r.body)["error"]["message"].startswith("Request body too large")
        assert r.raw_head.lower().count(b"connection: close") == 1
        assert await c.eof()
        c.close()


@async_test
async def test_serve_http_ready_and_cancel() -> None:
    events: dict[str, Any] = {"started": asyncio.Event(), "cancelled": False}
    ready: asyncio.Future[HTTPServer] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(serve_http(make_core(events), port=0, ready=ready))
    server = await asyncio.wait_for(ready, 5)
    assert server.core.settings.bind_host == "127.0.0.1"
    c = await RawClient.connect(server.port)
    await initialize(c)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await c.eof()
    c.close()


# ---------------------------------------------------------------------------- workers


def test_workers_need_stateless() -> None:
    core = ServerCore("x", "1")
    with pytest.raises(ValueError, match="stateless=True"):
        run_http(core, workers=2)
    with pytest.raises(ValueError, match="stateless=True"):
        run_http(core, workers=2, settings=HTTPSettings())
    with pytest.raises(ValueError, match="workers must be at least 1"):
        run_http(core, workers=0)

    async def go() -> None:
        with pytest.raises(ValueError, match="run_http"):
            await serve_http(core, workers=2, settings=HTTPSettings(stateless=True))

    asyncio.run(go())


WORKER_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from mcpfast.server import ServerCore
    from mcpfast.transports.http.server import run_http
    from mcpfast.transports.http.settings import HTTPSettings

    core = ServerCore("workers", "1")
    core.add_tool("pid", lambda: str(os.getpid()), input_schema={"type": "object", "properties": {}})
    run_http(core, port=int(sys.argv[1]), workers=2, settings=HTTPSettings(stateless=True), grace=1.0)
    """
)


def _call_pid(port: int) -> str:
    import http.client

    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    params = {"name": "pid", "arguments": {}, "_meta": {PV_KEY: MODERN, CAPS_KEY: {}}}
    c.request("POST", "/mcp", body=rpc_body(1, "tools/call", params),
              headers={"Content-Type": "application/json", "Accept": ACCEPT, "MCP-Protocol-Version": MODERN,
                       "Mcp-Method": "tools/call", "Mcp-Name": "pid"})
    r = c.getresponse()
    raw = r.read()
    c.close()
    assert r.status == 200, raw
    obj = message(Response(r.status, {"content-type": r.getheader("Content-Type") or ""}, raw, [], b""))
    return str(obj["result"]["content"][0]["text"])


def _wait_serving(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            _call_pid(port)
            return
        except (OSError, AssertionError):
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def test_two_workers_share_the_port() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, str(port)],
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_serving(port, proc)
        pids = {_call_pid(port) for _ in range(30)}  # new connection each: the kernel spreads them
        assert len(pids) == 2, pids
        assert str(proc.pid) not in pids
        # a crashed worker is restarted
        victim = int(sorted(pids)[0])
        os.kill(victim, signal.SIGKILL)
        end = time.monotonic() + 10
        seen: set[str] = set()
        while time.monotonic() < end:
            try:
                seen.add(_call_pid(port))
            except (OSError, AssertionError):
                pass
            if len(seen - pids) >= 1 and len(seen) >= 2:
                break
            time.sleep(0.02)
        assert seen - pids, f"no restarted worker answered: {seen} vs {pids}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
