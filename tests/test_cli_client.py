"""The client commands of ``mcpfast``: ``tools``, ``call``, ``read``, ``prompt``.

Against ``tests/interop/server_app.py`` spoken to over stdio (``-- python server_app.py``) and
the same server on mcpfast's HTTP server (port 0, in a thread with its own loop), once plain
and once behind a static bearer token. The commands run in process (``main(argv)``: the real
parser, ``asyncio.run`` and output), plus one run of the installed entry point
(``python -m mcpfast``).
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpfast.cli import main
from mcpfast.cli_client import ProgressBar, parse_pairs, split_argv, tools_table
from mcpfast.server import Context, ServerCore
from mcpfast.transports.http.auth import BearerAuth

from .interop import server_app
from .support.served import ServedInThread

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="mcpfast's stdio transport is POSIX only")

SERVER_APP = str(Path(__file__).resolve().parent / "interop" / "server_app.py")
STDIO = ["--", sys.executable, SERVER_APP]
TOKEN = "s3cret-token-value"
PNG = base64.b64encode(b"\x89PNG" + b"\0" * 96).decode()


def headers_tool(ctx: Context) -> dict[str, Any]:
    """The HTTP headers this request arrived with (what the server saw)."""
    return {"headers": ctx.headers or {}}


def media() -> list[dict[str, Any]]:
    return [{"type": "text", "text": "a picture:"}, {"type": "image", "data": PNG, "mimeType": "image/png"},
            {"type": "audio", "data": "AAAA", "mimeType": "audio/wav"}]


def pick(value: str, zip: str) -> dict[str, Any]:  # noqa: A002 - a tool parameter
    return {"value": value, "zip": zip}


def build() -> ServerCore:
    core = server_app.build()
    core.add_tool("headers", headers_tool, context_kwarg="ctx", input_schema={"type": "object"},
                  description="The request's HTTP headers.\nA second line.")
    core.add_tool("media", media, input_schema={"type": "object"})
    core.add_tool("pick", pick, input_schema={
        "type": "object", "properties": {"value": {}, "zip": {"type": "string"}}, "required": ["value", "zip"]})
    return core


@pytest.fixture(scope="module")
def http() -> Iterator[str]:
    served = ServedInThread(build(), "http")
    yield served.url
    served.close()


@pytest.fixture(scope="module")
def http_bearer() -> Iterator[str]:
    served = ServedInThread(build(), "http", auth=BearerAuth(TOKEN))
    yield served.url
    served.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------- stdio


def test_tools_over_stdio(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "tools", *STDIO)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "DESCRIPTION", "PARAMETERS"]
    add = next(line for line in lines if line.startswith("add "))
    assert "Add two integers." in add and add.endswith("a: integer, b: integer")
    assert any(line.startswith("echo ") and line.endswith("message: string") for line in lines)


def test_call_over_stdio_readable_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "call", "add", "a=20", "b=22", *STDIO)
    assert code == 0, err
    # structured content pretty-printed, once (the text block repeating it is left out)
    assert json.loads(out) == {"sum": 42, "operands": [20, 22]} and out.count("42") == 1
    code, out, err = run(capsys, "call", "--json", '{"a": 1, "b": 2}', "add", *STDIO)
    assert code == 0, err
    result = json.loads(out)
    assert result["structuredContent"] == {"sum": 3, "operands": [1, 2]} and not result.get("isError")
    code, out, _ = run(capsys, "call", "echo", "message=42", *STDIO)  # the schema says string: stays "42"
    assert (code, out) == (0, "42\n")


def test_read_and_prompt_over_stdio(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "read", "test://item/7", *STDIO)
    assert code == 0, err
    assert json.loads(out) == {"id": "7", "label": "item 7"}
    code, out, err = run(capsys, "prompt", "greet", "name=alice", "style=42", *STDIO)
    assert code == 0, err
    assert out.splitlines() == ["# Greet someone.", "", "[user]", "Hello, alice! (42)", "",
                                "[assistant]", "Hi, how can I help?"]
    code, out, _ = run(capsys, "prompt", "--json", "greet", "name=bob", *STDIO)
    assert json.loads(out)["messages"][0]["content"]["text"] == "Hello, bob!"


def test_stdio_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "call", "fail", "reason=boom", *STDIO)
    assert (code, out) == (1, "") and "tool 'fail' failed: Error executing tool fail" in err
    code, _, err = run(capsys, "tools", "--", "/nonexistent/mcp-server")
    assert code == 1 and "cannot start the MCP server" in err and len(err.splitlines()) == 1
    code, _, err = run(capsys, "tools", "--", sys.executable, "-c", "import sys; sys.exit(3)")
    assert code == 1 and "the server process ended" in err
    code, _, err = run(capsys, "call", *STDIO)
    assert code == 2 and "call needs TOOL before --" in err
    code, _, err = run(capsys, "tools", "--bearer", TOKEN, *STDIO)
    assert code == 2 and "not stdio" in err and TOKEN not in err


def test_the_entry_point_runs_the_same() -> None:
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "mcpfast", "call", "echo", "message=hi there", *STDIO],
                          capture_output=True, text=True, timeout=60, env=env)
    assert (proc.returncode, proc.stdout) == (0, "hi there\n"), proc.stderr


# ------------------------------------------------------------------------------- HTTP


@pytest.mark.parametrize("mode", ["auto", "legacy", "2026-07-28"])
def test_http_in_every_mode(capsys: pytest.CaptureFixture[str], http: str, mode: str) -> None:
    code, out, err = run(capsys, "call", "--mode", mode, "--json", http, "whoami")
    assert code == 0, err
    seen = json.loads(json.loads(out)["content"][0]["text"])
    assert seen["modern"] is (mode != "legacy") and seen["clientName"] == "mcpfast-cli"
    code, out, _ = run(capsys, "tools", "--mode", mode, "--json", http)
    assert code == 0 and {t["name"] for t in json.loads(out)["tools"]} >= {"echo", "add", "headers"}
    code, out, _ = run(capsys, "read", "--mode", mode, http, "test://static")
    assert (code, out) == (0, "static content\n")


def test_headers_reach_the_server(capsys: pytest.CaptureFixture[str], http: str) -> None:
    code, out, err = run(capsys, "call", "-H", "X-Trace: abc 123", "--header", "x-other:v", http, "headers")
    assert code == 0, err
    seen = json.loads(out)["headers"]
    assert seen["x-trace"] == "abc 123" and seen["x-other"] == "v"
    code, _, err = run(capsys, "tools", "--header", "no colon", http)
    assert code == 2 and "'Name: value'" in err


def test_bearer(capsys: pytest.CaptureFixture[str], http_bearer: str) -> None:
    code, out, err = run(capsys, "call", "--bearer", TOKEN, http_bearer, "headers")
    assert code == 0, err
    assert json.loads(out)["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in err
    code, out, err = run(capsys, "tools", "--bearer", "wrong-" + TOKEN, http_bearer)
    assert code == 1 and "401" in err and TOKEN not in err + out
    code, _, err = run(capsys, "tools", http_bearer)
    assert code == 1 and "401" in err


def test_values_json_or_text_by_schema(capsys: pytest.CaptureFixture[str], http: str) -> None:
    code, out, err = run(capsys, "call", http, "pick", 'value={"a": [1, true]}', "zip=01234")
    assert code == 0, err
    assert json.loads(out) == {"value": {"a": [1, True]}, "zip": "01234"}
    code, out, _ = run(capsys, "call", http, "pick", "value=not json", "zip=007")
    assert json.loads(out) == {"value": "not json", "zip": "007"}


def test_binary_content_is_summarized(capsys: pytest.CaptureFixture[str], http: str) -> None:
    code, out, err = run(capsys, "call", http, "media")
    assert code == 0, err
    assert out.splitlines() == ["a picture:", "[image: image/png, 100 bytes]", "[audio: audio/wav, 3 bytes]"]


def test_http_errors(capsys: pytest.CaptureFixture[str], http: str) -> None:
    code, _, err = run(capsys, "call", http, "nope")
    assert code == 1 and "nope" in err and len(err.splitlines()) == 1
    code, _, err = run(capsys, "read", http, "test://missing")
    assert code == 1 and "MCP error" in err
    code, _, err = run(capsys, "call", http, "echo", "oops")
    assert code == 2 and "key=value" in err
    code, _, err = run(capsys, "call", "--json", "{nope", http, "echo")
    assert code == 2 and "not JSON" in err
    code, _, err = run(capsys, "tools", "--mode", "1999", http)
    assert code == 2 and "--mode must be" in err
    code, _, err = run(capsys, "tools", "server.py")
    assert code == 2 and "-- python3 server.py" in err
    code, _, err = run(capsys, "tools", "tcp://127.0.0.1:9", "-H", "a: b")
    assert code == 2 and "not tcp" in err
    code, _, err = run(capsys, "tools", "-H", "Content-Type: text/plain", http)  # the transport's own header
    assert code == 2 and "Content-Type" in err
    code, _, err = run(capsys, "tools", "tcp://127.0.0.1/")
    assert code == 2 and "needs a host and a port" in err


def test_connection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for url in (f"http://127.0.0.1:{port}/mcp", f"tcp://127.0.0.1:{port}"):
        code, _, err = run(capsys, "tools", "--timeout", "5", url)
        assert code == 1 and len(err.splitlines()) == 1 and "refused" in err.lower(), err


def test_progress_bar_on_a_terminal(capsys: pytest.CaptureFixture[str], http: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    code = main(["call", http, "countdown", "steps=3"])
    out = capsys.readouterr().out
    assert (code, out) == (0, "counted 3\n")
    drawn = term.getvalue()
    assert "[" + "#" * 8 + "." * 16 + "] 1/3 step 1/3" in drawn and "3/3 step 3/3" in drawn
    assert drawn.endswith("\r\x1b[K")  # wiped before the result


def test_no_progress_bar_off_a_terminal(capsys: pytest.CaptureFixture[str], http: str) -> None:
    code, out, err = run(capsys, "call", http, "countdown", "steps=2")
    assert (code, out, err) == (0, "counted 2\n", "")


# ------------------------------------------------------------------------------- pieces


def test_split_argv() -> None:
    words, line = split_argv(["call", "--json", '{"a": 1}', "x", "--", "python3", "s.py", "--json"])
    assert words == ["call", "--json", "x"]
    assert line.stdio_command == ["python3", "s.py", "--json"] and line.json_args == '{"a": 1}'
    words, line = split_argv(["call", "--json", "http://h/mcp", "t"])
    assert words == ["call", "--json", "http://h/mcp", "t"] and line.json_args is None
    assert line.stdio_command is None


def test_parse_pairs() -> None:
    schema = {"properties": {"s": {"type": "string"}, "n": {"type": ["string", "integer"]}}}
    assert parse_pairs(["s=1", "n=2", "x=3.5", "y=null", "z=a=b"], schema) == {
        "s": "1", "n": 2, "x": 3.5, "y": None, "z": "a=b"}
    assert parse_pairs(["a=1"], as_json=False) == {"a": "1"}


def test_tools_table_cuts_long_descriptions() -> None:
    table = tools_table([{"name": "t", "description": "x" * 100 + "\nmore",
                          "inputSchema": {"properties": {"k": {"enum": ["a", "b"], "default": "a"}}}}])
    row = table.splitlines()[1]
    assert "x" * 59 + "…" in row and "more" not in row and row.endswith('k?: "a"|"b" = "a"')
    assert tools_table([]) == "(no tools)"


def test_progress_bar_without_a_total() -> None:
    term = io.StringIO()
    bar = ProgressBar(term)
    bar(5, None, None)
    bar.clear()
    assert term.getvalue() == "\r[5]\x1b[K\r\x1b[K"


def test_the_readme_first_command() -> None:
    """The install-and-run line at the top of the README, after its ``pip install .``, with
    this interpreter for ``python3``: the echo server answers the CLI with ``hello``."""
    import re
    import shlex

    root = Path(__file__).resolve().parent.parent
    first = re.findall(r"```bash\n(.*?)```", (root / "README.md").read_text(encoding="utf-8"), re.S)[0].strip()
    install, sep, command = first.partition(" && ")
    assert sep and install == "python3 -m pip install ."
    argv = [sys.executable if word == "python3" else word for word in shlex.split(command)]
    assert argv[1:4] == ["-m", "mcpfast", "call"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=root)
    assert (proc.returncode, proc.stdout) == (0, "hello\n"), proc.stderr


def test_call_output_shows_a_value_once() -> None:
    from mcpfast.cli_client import call_output

    items = [{"title": "a"}, {"title": "b"}]
    listed = {"content": [{"type": "text", "text": json.dumps(i)} for i in items],
              "structuredContent": {"result": items}}
    assert json.loads(call_output(listed)) == {"result": items}
    wrapped = {"content": [{"type": "text", "text": "hi"}], "structuredContent": {"result": "hi"}}
    assert json.loads(call_output(wrapped)) == {"result": "hi"}
    beside = {"content": [{"type": "text", "text": "found 2"}], "structuredContent": {"n": 2}}
    assert call_output(beside) == 'found 2\n{\n  "n": 2\n}'


def test_websocket_target_with_bearer(capsys: pytest.CaptureFixture[str]) -> None:
    served = ServedInThread(build(), "ws", auth=BearerAuth(TOKEN))
    try:
        code, out, err = run(capsys, "call", "--bearer", TOKEN, "-H", "X-Trace: ws", served.url, "echo",
                             "message=over ws")
        assert (code, out) == (0, "over ws\n"), err
        code, _, err = run(capsys, "tools", served.url)
        assert code == 1 and "401" in err and len(err.splitlines()) == 1
    finally:
        served.close()


def test_a_missing_transport_extra_is_one_line(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcpfast.client.http", None)  # as without httptools: ImportError
    code, out, err = run(capsys, "tools", "http://127.0.0.1:9/mcp")
    assert (code, out) == (1, "") and len(err.splitlines()) == 1 and "mcpfast.client.http" in err


def test_timeout(capsys: pytest.CaptureFixture[str], http: str) -> None:
    code, out, err = run(capsys, "call", "--timeout", "0.1", http, "countdown", "steps=100")  # about 1 s
    assert (code, out) == (1, "") and "MCP error -32001" in err and len(err.splitlines()) == 1
    code, _, err = run(capsys, "tools", "--timeout", "0", http)
    assert code == 2 and "--timeout must be seconds > 0" in err
