"""``python -m mcpfast.server`` (the demo tools or ``--app``) as a subprocess over stdio and TCP,
its flags' errors in process, and ``python -m mcpfast.server.healthcheck``."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import ssl
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mcpfast.server import __main__ as server_main
from mcpfast.server import healthcheck
from mcpfast.server.demo import demo_server
from mcpfast.server.serving import SOCKET_TRANSPORTS
from mcpfast.testing import async_test
from mcpfast.transports.stdio import connect_stdio
from mcpfast.transports.tcp import connect_tcp

from ...compat.sdk import child_env
from ...transports.test_tcp import _self_signed
from .harness import ClientSide, text

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX only (signals)")

INIT = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}

APP = '''
from mcpfast import MCPServer

app = MCPServer("from-app")

@app.tool()
async def wait(seconds: float) -> str:
    import asyncio
    await asyncio.sleep(seconds)
    return "waited"
'''


async def call(peer: Any, name: str, arguments: dict[str, Any]) -> Any:
    return await peer.request("tools/call", {"name": name, "arguments": arguments})


async def check_demo(peer: Any) -> None:
    init = await peer.request("initialize", INIT)
    assert init["serverInfo"]["name"] == "mcpfast-demo"
    peer.notify("notifications/initialized")
    tools = {t["name"] for t in (await peer.request("tools/list", {}))["tools"]}
    assert tools == {"echo", "add", "sleep"}
    assert text(await call(peer, "echo", {"message": "hi"})) == "hi"
    assert text(await call(peer, "add", {"a": 2, "b": 3.5})) == "5.5"
    assert text(await call(peer, "sleep", {"seconds": 0.01})) == "slept 0.01 s"
    res = await call(peer, "sleep", {"seconds": 1e9})
    assert res["isError"] is True and "between 0 and" in text(res)


@contextlib.asynccontextmanager
async def serving_tcp(*args: str, scheme: str = "tcp") -> AsyncIterator[tuple[str, int]]:
    """``python -m mcpfast.server --transport tcp --port 0 *args``: (url, port) from its stderr
    line; SIGTERM at the end must stop it with status 0."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mcpfast.server", "--transport", "tcp", "--port", "0", *args, env=child_env(),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    try:
        line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
        m = re.fullmatch(rf"mcpfast: serving tcp on ({scheme}://127\.0\.0\.1:(\d+))\n", line)
        assert m is not None, line + (await proc.stderr.read()).decode()
        yield m.group(1), int(m.group(2))
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@async_test
async def test_demo_over_stdio() -> None:
    proto, proc = await connect_stdio([sys.executable, "-m", "mcpfast.server"], ClientSide(), env=child_env())
    try:
        await check_demo(proto.peer)
    finally:
        code = await proto.aclose()
    assert code == 0


@async_test
async def test_demo_over_tcp_port_0_health_and_sigterm() -> None:
    async with serving_tcp() as (url, port):
        proto = await connect_tcp("127.0.0.1", port, ClientSide())
        try:
            await check_demo(proto.peer)
        finally:
            proto.close()
            await proto.wait_closed()
        assert await asyncio.to_thread(healthcheck.main, [url]) == 0


@async_test
async def test_app_over_tcp_with_flags(tmp_path: Path) -> None:
    (tmp_path / "my_app.py").write_text(textwrap.dedent(APP))
    certfile, keyfile = _self_signed(tmp_path)
    ctx = ssl.create_default_context(cafile=certfile)
    async with serving_tcp("--app", f"{tmp_path / 'my_app.py'}:app", "--request-timeout", "0.3",
                           "--max-connections", "1", "--tls-cert", certfile, "--tls-key", keyfile,
                           scheme="tcps") as (_, port):
        proto = await connect_tcp("127.0.0.1", port, ClientSide(), tls=ctx, server_hostname="localhost")
        try:
            peer = proto.peer
            assert (await peer.request("initialize", INIT))["serverInfo"]["name"] == "from-app"  # type: ignore[union-attr]
            assert text(await call(peer, "wait", {"seconds": 0.01})) == "waited"
            with pytest.raises(Exception, match="(?i)timed? ?out"):  # --request-timeout 0.3
                await call(peer, "wait", {"seconds": 5})
            # --max-connections 1: a second connection is refused with an error line
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
            refusal = await asyncio.wait_for(reader.readline(), 10)
            writer.close()
            assert b"max_connections (1)" in refusal, refusal
        finally:
            proto.close()
            await proto.wait_closed()


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        server_main.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m mcpfast.server: error: ") and err.count("\n") == 1, err
    return err


def test_flags_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    cases = [
        (["--transport", "tcp", "--tls-cert", str(cert)], "--tls-cert and --tls-key go together"),
        (["--transport", "tcp", "--tls-cert", str(cert), "--tls-key", str(tmp_path / "nope.pem")],
         "--tls-key: file not found"),
        (["--max-connections", "2"], "not stdio"),
        (["--transport", "tcp", "--max-connections", "0"], "--max-connections must be at least 1"),
        (["--transport", "http", "--request-timeout", "0"], "--request-timeout must be seconds > 0"),
        (["--transport", "tcp", "--port", "70000"], "--port must be 0..65535"),
        (["--transport", "tcp", "--stateless"], "apply to --transport http only"),
        (["--app", "no_such_module_here"], "no such file or module"),
        (["--app", str(tmp_path / "nope.py")], "file not found"),
    ]
    if "ws" not in SOCKET_TRANSPORTS:
        cases.append((["--transport", "ws", "--port", "0"], "WebSocket transport (ws) is not available"))
    for argv, message in cases:
        assert message in usage_error(argv, capsys), argv


def test_demo_server_is_a_plain_mcpserver() -> None:
    app = demo_server(max_connections=5)
    assert app.settings.max_connections == 5
    assert sorted(app.tools.names()) == ["add", "echo", "sleep"]


@pytest.mark.parametrize("transport", ["http", "tcp"])
@async_test
async def test_healthcheck(transport: str) -> None:
    async with demo_server().start(transport, port=0) as server:
        assert await asyncio.to_thread(healthcheck.main, [server.url]) == 0
        url = server.url
    assert await asyncio.to_thread(healthcheck.main, [url]) == 1  # nothing listens any more


def test_healthcheck_reports_why(capsys: pytest.CaptureFixture[str]) -> None:
    assert healthcheck.main(["ftp://127.0.0.1:1/"]) == 1
    assert "the scheme must be" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no JSON-RPC reply"):
        healthcheck._reply(b"event: x\n\n")
