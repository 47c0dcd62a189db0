"""``mcpfast.Client`` over stdio: a server subprocess (``StdioServerParameters``), both eras,
the child's end on close (no zombie), a child that dies with calls pending."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from mcpfast import Client, MCPError, StdioServerParameters
from mcpfast.client.stdio import StdioTransport, default_environment
from mcpfast.errors import CONNECTION_CLOSED
from mcpfast.testing import async_test

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="mcpfast's stdio transport is POSIX only")

SERVER_APP = str(Path(__file__).resolve().parent.parent / "interop" / "server_app.py")


def params(script: str = SERVER_APP) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if k.startswith("MCPFAST_") or k == "PYTHONPATH"}
    return StdioServerParameters(sys.executable, [script], env=env)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@async_test
async def test_a_session_over_stdio(mode: str) -> None:
    progress: list[Any] = []
    async with Client(params(), mode=mode) as c:
        assert c.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
        assert c.server_info is not None and c.server_info.name == "mcpfast-interop"
        tools = await c.list_tools()
        assert "countdown" in [t.name for t in tools.tools]
        res = await c.call_tool("add", {"a": 20, "b": 22})
        assert res.structured_content == {"sum": 42, "operands": [20, 22]}
        res = await c.call_tool("countdown", {"steps": 2}, progress_callback=lambda p, t, m: progress.append(p))
        assert res.content[0].text == "counted 2"
        who = json.loads((await c.call_tool("whoami", {})).content[0].text)
        assert who["modern"] is (mode == "auto")
        # the child runs the same wire twin as this process
        assert who["extensions"] is __import__("mcpfast").EXTENSIONS
        transport = c.transport
        assert isinstance(transport, StdioTransport)
        proc = transport.process
    assert progress == [1, 2]
    assert proc.returncode is not None  # reaped: no zombie
    assert transport.returncode == 0  # it left by itself when its stdin closed


@async_test
async def test_a_server_that_dies_fails_every_pending_call() -> None:
    async with Client(params(), mode="legacy") as c:
        transport = c.transport
        assert isinstance(transport, StdioTransport)
        calls = [asyncio.ensure_future(c.call_tool("countdown", {"steps": 500})) for _ in range(5)]
        await asyncio.sleep(0.05)
        os.kill(transport.process.pid, signal.SIGKILL)
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
        assert all(isinstance(r, MCPError) and r.code == CONNECTION_CLOSED for r in results), results
    assert transport.process.returncode == -signal.SIGKILL


@async_test
async def test_a_stubborn_server_is_terminated_on_close(tmp_path: Path) -> None:
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import time\n"
        "from mcpfast.transports.stdio import run_stdio\n"
        "from mcpfast.server import ServerCore\n"
        "core = ServerCore('stubborn', '1')\n"
        "run_stdio(core)\n"
        "time.sleep(30)  # does not exit after EOF\n"
    )
    transport = StdioTransport(params(str(script)), terminate_timeout=0.2)
    async with Client(transport, mode="legacy") as c:
        assert c.server_info is not None and c.server_info.name == "stubborn"
    assert transport.returncode == -signal.SIGTERM


@async_test
async def test_a_missing_program_is_a_clear_error() -> None:
    with pytest.raises(ConnectionError, match="cannot start the MCP server"):
        async with Client(StdioServerParameters("/nonexistent/mcp-server")):
            pass


def test_parameters_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "x")
    env = default_environment()
    assert "SECRET_TOKEN" not in env and env.get("PATH") == os.environ.get("PATH")
    p = StdioServerParameters(command="srv", args=["-v"], env={"A": "1"}, cwd="/tmp")
    assert p.model_dump()["args"] == ["-v"] and p == StdioServerParameters("srv", ["-v"], {"A": "1"}, "/tmp")
    with pytest.raises(TypeError, match="list of strings"):
        StdioServerParameters("srv", "-v")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a command"):
        StdioServerParameters("")
