"""The examples run as documented (the README points at client_demo.py), each one driven
by a real client: the MCPServer examples by the official SDK's client in both eras."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import mcp_types as types
import pytest

from mcpfast.testing import async_test

from .compat import sdk
from .support.ports import free_port as _free_port

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="mcpfast's stdio transport is POSIX only")


def run(script: str) -> str:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    return out.stdout


def test_client_demo_talks_to_the_echo_server_in_both_eras() -> None:
    out = run("client_demo.py")
    assert "legacy session: mcpfast-echo speaks 2025-11-25" in out
    assert "tools: ['echo']" in out
    assert "echo -> hello over stdio" in out
    assert "2026-07-28 echo -> hello, stateless (resultType complete)" in out
    assert "bad arguments -> isError True: Argument 'message': expected string, got integer" in out
    assert "unknown tool -> error -32602: Unknown tool: 'nope'" in out


def test_wire_roundtrip() -> None:
    out = run("wire_roundtrip.py").splitlines()
    assert out[1] == '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}'
    assert out[2] == '{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"again"}]}}'
    assert '"id":null,"error":{"code":-32700' in out[3]
    assert out[-1] == '{"jsonrpc":"2.0","id":9,"error":{"code":-32600,"message":"Expected \\"2.0\\", got \\"1.0\\" - at $.jsonrpc"}}'


# ------------------------------------------------------------------ MCPServer examples, real clients
#
# Each example runs as a subprocess (directly, or through ``python -m mcpfast run``) and is driven
# by the official SDK's client (``mcp`` 2.3.0) in both eras: ``legacy`` (initialize) and ``auto``
# (server/discover, then the stateless 2026-07-28 envelope).


ECHO = [str(ROOT / "examples" / "echo_mcpserver.py")]
NOTES = ["-m", "mcpfast", "run", str(ROOT / "examples" / "notes_server.py")]
LONG = ["-m", "mcpfast", "run", str(ROOT / "examples" / "long_task.py")]


@pytest.mark.parametrize("mode", sdk.MODES)
@async_test
async def test_echo_mcpserver_over_stdio(mode: str) -> None:
    async with sdk.connect(ECHO, mode) as c:
        assert c.server_info is not None and c.server_info.name == "echo-bench"
        [tool] = (await c.list_tools()).tools
        assert tool.name == "echo" and tool.description == "Return the message unchanged."
        assert tool.input_schema["required"] == ["message"]
        assert tool.output_schema is None  # structured_output=False, as the SDK's bench server
        res = await c.call_tool("echo", {"message": "héllo"})
        assert res.is_error is False and sdk.text(res) == "héllo" and res.structured_content is None


@async_test
async def test_echo_mcpserver_async_structured() -> None:
    async with sdk.connect([*ECHO, "--async-tool", "--structured"], "auto") as c:
        res = await c.call_tool("echo", {"message": "x"})
        assert sdk.text(res) == "x" and res.structured_content == {"result": "x"}


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")


@pytest.mark.parametrize("flags", [[], ["--json-response"], ["--json-response", "--stateless"]],
                         ids=["sse", "json", "json-stateless"])
def test_echo_mcpserver_over_http(flags: list[str]) -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, *ECHO, "--http", str(port), *flags], env=sdk.child_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(port, proc)

        @async_test
        async def drive() -> None:
            for mode in sdk.MODES:
                from mcp import Client

                async with Client(f"http://127.0.0.1:{port}/mcp", mode=mode, read_timeout_seconds=20) as c:
                    res = await c.call_tool("echo", {"message": f"over http ({mode})"})
                    assert sdk.text(res) == f"over http ({mode})"

        drive()
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", sdk.MODES)
@async_test
async def test_notes_server_through_the_cli(mode: str) -> None:
    async with sdk.connect(NOTES, mode, log_level="debug") as c:
        assert c.server_info is not None and (c.server_info.name, c.server_info.version) == ("notes", "1.0")
        assert c.instructions is not None and "notes" in c.instructions
        tools = {t.name: t for t in (await c.list_tools()).tools}
        assert set(tools) == {"add_note", "list_notes", "delete_note", "search"}
        assert tools["add_note"].input_schema["properties"]["title"]["maxLength"] == 64
        assert tools["search"].input_schema["properties"]["limit"] == {
            "type": "integer", "minimum": 1, "maximum": 50, "title": "Limit", "default": 10}
        assert tools["delete_note"].annotations is not None and tools["delete_note"].annotations.destructive_hint

        res = await c.call_tool("add_note", {"title": "groceries", "text": "milk, eggs"})
        assert res.is_error is False and sdk.text(res) == "Added note 'groceries'"
        res = await c.call_tool("search", {"query": "EGG"})
        assert res.structured_content == {"result": [{"title": "groceries", "excerpt": "milk, eggs"}]}
        res = await c.call_tool("list_notes", {})
        assert res.structured_content == {"result": ["groceries", "welcome"]}
        res = await c.call_tool("delete_note", {"title": "nope"})
        # the example raises ToolError: its message is meant for the client
        assert res.is_error is True and sdk.text(res) == "no note titled 'nope'"

        [index] = (await c.list_resources()).resources
        assert str(index.uri) == "notes://index" and index.mime_type == "application/json"
        [template] = (await c.list_resource_templates()).resource_templates
        assert template.uri_template == "notes://{title}"
        [contents] = (await c.read_resource("notes://index")).contents
        assert isinstance(contents, types.TextResourceContents) and json.loads(contents.text) == ["groceries", "welcome"]
        [contents] = (await c.read_resource("notes://groceries")).contents
        assert isinstance(contents, types.TextResourceContents) and contents.text == "milk, eggs"

        prompts = {p.name: p for p in (await c.list_prompts()).prompts}
        assert [(a.name, a.required) for a in prompts["rewrite"].arguments or ()] == [("title", True), ("style", False)]
        got = await c.get_prompt("rewrite", {"title": "groceries", "style": "pirate"})
        assert [m.content.text for m in got.messages] == ["Rewrite in a pirate style:", "milk, eggs"]  # type: ignore[union-attr]
        got = await c.get_prompt("summarize", {"title": "welcome"})
        assert "Notes live in memory" in got.messages[0].content.text  # type: ignore[union-attr]

        done = await c.complete(types.PromptReference(type="ref/prompt", name="rewrite"), {"name": "style", "value": "f"})
        assert done.completion.values == ["formal", "friendly"]
        done = await c.complete(types.ResourceTemplateReference(type="ref/resource", uri="notes://{title}"),
                                {"name": "title", "value": "gro"})
        assert done.completion.values == ["groceries"]


@pytest.mark.parametrize("mode", sdk.MODES)
@async_test
async def test_long_task_progress_and_cancellation(mode: str) -> None:
    async with sdk.connect(LONG, mode) as c:
        seen: list[tuple[float, float | None, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((progress, total, message))

        res = await c.call_tool("crunch", {"steps": 3, "delay": 0.01}, progress_callback=on_progress)
        assert sdk.text(res) == "crunched 3 steps"
        assert seen == [(1, 3, "step 1/3"), (2, 3, "step 2/3"), (3, 3, "step 3/3")]

        # a long run, cancelled by the client once it is under way
        started = anyio.Event()

        async def note_start(progress: float, total: float | None, message: str | None) -> None:
            started.set()

        async with anyio.create_task_group() as tg:
            async def long_call() -> None:
                await c.call_tool("crunch", {"steps": 1000, "delay": 0.02}, progress_callback=note_start)
                raise AssertionError("the cancelled call returned")

            tg.start_soon(long_call)
            with anyio.fail_after(10):
                await started.wait()
            tg.cancel_scope.cancel()  # the SDK sends notifications/cancelled for the request

        # the server stays healthy and its handler really stopped
        for _ in range(100):
            stats = (await c.call_tool("status", {})).structured_content
            if stats == {"started": 2, "finished": 1, "cancelled": 1}:
                break
            await anyio.sleep(0.02)
        assert stats == {"started": 2, "finished": 1, "cancelled": 1}
        res = await c.call_tool("crunch", {"steps": 1, "delay": 0})
        assert sdk.text(res) == "crunched 1 steps"
