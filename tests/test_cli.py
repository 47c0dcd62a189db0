"""The ``mcpfast`` command: ``run`` (finding the server, every transport, the errors) and
``version``, in process where it can be and as ``python -m mcpfast`` where it must."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcpfast import cli
from mcpfast.server import ServerCore
from mcpfast.server.app import MCPServer
from mcpfast.testing import async_test

from .compat import sdk
from .test_examples import _free_port, _wait_listening

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX only (stdio transport, signals)")

APP_FILE = '''
from mcpfast import MCPServer
import helper  # a sibling module: the file's directory is on sys.path

mcp = MCPServer("cli-demo", version="1.0")

@mcp.tool()
def echo(message: str) -> str:
    return helper.PREFIX + message
'''

CORE_FILE = '''
from mcpfast.server import ServerCore

core = ServerCore("cli-core", "2.0")
core.add_tool("echo", lambda message: "core " + message, input_schema={
    "type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]})
'''


@pytest.fixture
def isolated() -> Iterator[None]:
    """Undo what loading user files does to sys.path and sys.modules."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def write(tmp_path: Path, name: str, source: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(source))
    return p


@pytest.fixture
def app_file(tmp_path: Path) -> Path:
    write(tmp_path, "helper.py", 'PREFIX = "cli "\n')
    return write(tmp_path, "app_server.py", APP_FILE)


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mcpfast", *args], env=sdk.child_env(), capture_output=True,
                          text=True, timeout=timeout)


# ------------------------------------------------------------------------------ finding the server


@pytest.mark.usefixtures("isolated")
def test_load_by_convention_and_by_name(tmp_path: Path, app_file: Path) -> None:
    obj = cli.load_server(str(app_file))
    assert isinstance(obj, MCPServer) and obj.name == "cli-demo"
    assert cli.load_server(f"{app_file}:mcp").name == "cli-demo"
    core_file = write(tmp_path, "core_server.py", CORE_FILE)
    core = cli.load_server(str(core_file))  # the only server, whatever its name
    assert isinstance(core, ServerCore) and core.server_info["name"] == "cli-core"


@pytest.mark.usefixtures("isolated")
def test_preferred_names(tmp_path: Path) -> None:
    f = write(tmp_path, "several.py", '''
        from mcpfast import FastMCP
        other = FastMCP("other")
        server = FastMCP("server")
        app = FastMCP("app")
    ''')
    assert cli.load_server(str(f)).name == "app"  # mcp, then app, then server
    assert cli.load_server(f"{f}:other").name == "other"


@pytest.mark.usefixtures("isolated")
def test_ambiguous_and_missing(tmp_path: Path) -> None:
    f = write(tmp_path, "two.py", '''
        from mcpfast import MCPServer
        first = MCPServer("a")
        second = MCPServer("b")
        not_a_server = 3
    ''')
    with pytest.raises(cli.CLIError, match=r"several servers in .*two.py: first \(MCPServer\), second \(MCPServer\);"
                                           r" choose one: .*two.py:first"):
        cli.load_server(str(f))
    with pytest.raises(cli.CLIError, match="two.py:not_a_server is a int, not an MCPServer, FastMCP or ServerCore"):
        cli.load_server(f"{f}:not_a_server")
    with pytest.raises(cli.CLIError, match="has no attribute 'nope'"):
        cli.load_server(f"{f}:nope")
    empty = write(tmp_path, "empty.py", "x = 1\n")
    with pytest.raises(cli.CLIError, match="no MCPServer, FastMCP or ServerCore instance at module level"):
        cli.load_server(str(empty))
    with pytest.raises(cli.CLIError, match="file not found: .*missing.py"):
        cli.load_server(str(tmp_path / "missing.py"))
    with pytest.raises(cli.CLIError, match="is a directory"):
        cli.load_server(str(tmp_path))
    with pytest.raises(cli.CLIError, match="no such file or module: no_such_module_xyz"):
        cli.load_server("no_such_module_xyz")


@pytest.mark.usefixtures("isolated")
def test_an_importable_module(tmp_path: Path) -> None:
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    write(pkg, "__init__.py", "")
    write(pkg, "srv.py", CORE_FILE)
    sys.path.insert(0, str(tmp_path))
    assert cli.load_server("mypkg.srv:core").server_info["name"] == "cli-core"


def test_split_target() -> None:
    assert cli._split_target("a/b.py:app") == ("a/b.py", "app")
    assert cli._split_target("a/b.py") == ("a/b.py", None)
    assert cli._split_target("pkg.mod:server") == ("pkg.mod", "server")
    assert cli._split_target("C:server.py") == ("C:server.py", None)  # a drive, not a name
    assert cli._split_target("x.py:not-a-name") == ("x.py:not-a-name", None)


# ------------------------------------------------------------------------------ errors and version


@pytest.mark.usefixtures("isolated")
def test_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in [
        (["run", str(tmp_path / "nope.py")], "file not found"),
        (["run", str(write(tmp_path, "e.py", "x = 1\n"))], "no MCPServer"),
        (["run", str(write(tmp_path, "c.py", CORE_FILE)), "--port", "9"], "--host, --port and --workers apply to"),
        (["run", str(tmp_path / "c.py"), "-t", "tcp", "--json-response"], "apply to --transport http only"),
        (["run", str(tmp_path / "c.py"), "-t", "http", "--workers", "2"], "--workers 2 needs --stateless"),
        (["run", str(tmp_path / "c.py"), "-t", "http", "--workers", "0"], "--workers must be at least 1"),
    ]:
        with pytest.raises(SystemExit) as info:
            cli.main(argv)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("mcpfast: error: ") and message in err and err.count("\n") == 1, err


@pytest.mark.usefixtures("isolated")
def test_import_error_shows_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path, "broken.py", "import json\n\ndef f():\n    return 1 / 0\n\nf()\n")
    with pytest.raises(SystemExit) as info:
        cli.main(["run", str(f)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and 'broken.py", line 6' in err
    assert "cli.py" not in err  # only the user's frames
    assert err.rstrip().splitlines()[-1] == f"mcpfast: error: importing {f} failed: ZeroDivisionError: division by zero"


def test_version_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    import mcpfast

    assert cli.main(["version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"mcpfast {mcpfast.__version__} (")
    assert ("compiled" in out) == mcpfast.EXTENSIONS
    assert cli.main([]) == 2
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "x.py", "--transport", "sse"])
    assert info.value.code == 2


def test_python_dash_m() -> None:
    out = run_cli("version")
    assert out.returncode == 0 and out.stdout.startswith("mcpfast ")
    out = run_cli("run", "/no/such/file.py")
    assert out.returncode == 2 and out.stderr == "mcpfast: error: file not found: /no/such/file.py\n"


# ------------------------------------------------------------------------------ serving


@pytest.mark.parametrize("mode", sdk.MODES)
@async_test
async def test_stdio_mcpserver_and_core(tmp_path: Path, app_file: Path, mode: str) -> None:
    core_file = write(tmp_path, "core_server.py", CORE_FILE)
    async with sdk.connect(["-m", "mcpfast", "run", str(app_file)], mode) as c:
        assert c.server_info is not None and c.server_info.name == "cli-demo"
        assert sdk.text(await c.call_tool("echo", {"message": "hi"})) == "cli hi"
    async with sdk.connect(["-m", "mcpfast", "run", f"{core_file}:core", "--log-level", "debug"], mode) as c:
        assert sdk.text(await c.call_tool("echo", {"message": "hi"})) == "core hi"


async def _tcp_roundtrip(port: int) -> list[dict[str, object]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}}
        for i, msg in enumerate([
            {"method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                                                "clientInfo": {"name": "t", "version": "0"}}},
            {"method": "tools/call", "params": {"name": "echo", "arguments": {"message": "tcp"}, "_meta": meta}},
        ]):
            writer.write(json.dumps({"jsonrpc": "2.0", "id": i, **msg}).encode() + b"\n")
        await writer.drain()
        return [json.loads(await asyncio.wait_for(reader.readline(), 10)) for _ in range(2)]
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize("which", ["mcpserver", "core"])
def test_tcp(tmp_path: Path, app_file: Path, which: str) -> None:
    target = str(app_file) if which == "mcpserver" else str(write(tmp_path, "core_server.py", CORE_FILE))
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mcpfast", "run", target, "-t", "tcp", "--host", "127.0.0.1",
                             "--port", str(port)], env=sdk.child_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        _wait_listening(port, proc)
        init, call = asyncio.run(_tcp_roundtrip(port))
        assert init["result"]["serverInfo"]["name"] == ("cli-demo" if which == "mcpserver" else "cli-core")  # type: ignore[index]
        assert call["result"]["content"] == [  # type: ignore[index]
            {"type": "text", "text": "cli tcp" if which == "mcpserver" else "core tcp"}]
    finally:
        proc.terminate()
        assert proc.wait(10) in (0, -15, 130), proc.stderr.read().decode()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


@pytest.mark.parametrize("which", ["mcpserver", "core"])
def test_http(tmp_path: Path, app_file: Path, which: str) -> None:
    target = str(app_file) if which == "mcpserver" else str(write(tmp_path, "core_server.py", CORE_FILE))
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mcpfast", "run", target, "--transport", "http", "--port",
                             str(port), "--json-response", "--stateless"], env=sdk.child_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(port, proc)

        @async_test
        async def drive() -> None:
            from mcp import Client

            for mode in sdk.MODES:
                async with Client(f"http://127.0.0.1:{port}/mcp", mode=mode, read_timeout_seconds=20) as c:
                    res = await c.call_tool("echo", {"message": "http"})
                    assert sdk.text(res) == ("cli http" if which == "mcpserver" else "core http")

        drive()
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()  # type: ignore[union-attr]


@pytest.mark.parametrize(("transport", "which"), [("tcp", "mcpserver"), ("tcp", "core"), ("http", "mcpserver"),
                                                   ("http", "core")])
def test_idle_timeout_option(tmp_path: Path, app_file: Path, transport: str, which: str) -> None:
    target = str(app_file) if which == "mcpserver" else str(write(tmp_path, "core_server.py", CORE_FILE))
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mcpfast", "run", target, "-t", transport, "--port", str(port),
                             "--idle-timeout", "0.3"], env=sdk.child_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        _wait_listening(port, proc)

        async def silent() -> float:
            loop = asyncio.get_running_loop()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            t0 = loop.time()
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server, silently
            writer.close()
            return loop.time() - t0

        assert asyncio.run(silent()) < 2.0  # the defaults would be 300 s (tcp) and 5 s (http)
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()  # type: ignore[union-attr]


def test_idle_timeout_option_errors() -> None:
    core = ServerCore("x", "1")
    with pytest.raises(cli.CLIError, match="not stdio"):
        cli.serve(core, transport="stdio", idle_timeout=1.0)
    with pytest.raises(cli.CLIError, match=">= 0"):
        cli.serve(core, transport="tcp", idle_timeout=-1.0)


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = run_cli("run", str(write(tmp_path, "c.py", CORE_FILE)), "-t", "tcp", "--port", str(port))
    assert out.returncode == 2
    assert out.stderr.startswith(f"mcpfast: error: cannot listen on 127.0.0.1:{port}: ") and out.stderr.count("\n") == 1


def test_the_console_script_entry_point_is_main() -> None:
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert 'mcpfast = "mcpfast.cli:main"' in text
    assert os.path.exists(Path(cli.__file__).with_name("__main__.py"))
