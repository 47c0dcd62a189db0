"""The interoperability matrix: ``mcpfast.Client`` against mcpfast's servers on every transport
(in process, a stdio subprocess, TCP, Streamable HTTP on the built-in server, the Streamable HTTP
ASGI app under uvicorn, WebSocket) in both eras (``legacy``: the ``initialize`` handshake;
``2026-07-28``: stateless requests with the ``_meta`` envelope).

Every cell does the same four requests (``tools/list``, ``tools/call``, ``resources/read``,
``prompts/get``) against ``tests/interop/server_app.py``'s server and checks what came back,
plus the era the server saw. The socket servers start once per module (threads with their own
loops); stdio starts one subprocess per cell, as every stdio client does.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpfast import Client, StdioServerParameters
from mcpfast.testing import async_test

from ..interop import server_app
from ..support.served import ServedInThread, UvicornInThread

MODES = ["legacy", "2026-07-28"]
TRANSPORTS = ["memory", "stdio", "tcp", "http", "asgi", "ws"]
SERVER_APP = str(Path(__file__).resolve().parent.parent / "interop" / "server_app.py")


def _stdio() -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if k.startswith("MCPFAST_") or k == "PYTHONPATH"}
    return StdioServerParameters(sys.executable, [SERVER_APP], env=env)


@pytest.fixture(scope="module")
def targets() -> Iterator[dict[str, Callable[[], Any]]]:
    """transport -> a function giving a fresh ``Client`` target; one server per socket transport."""
    from mcpfast.transports.http.asgi import asgi_app
    from mcpfast.transports.http.settings import HTTPSettings

    started: list[Any] = []
    try:
        for transport in ("tcp", "http", "ws"):
            started.append(ServedInThread(server_app.build(), transport))
        started.append(UvicornInThread(asgi_app(server_app.build(), HTTPSettings(bind_host="127.0.0.1"))))
        tcp, http, ws, asgi = (s.url for s in started)
        yield {
            "memory": server_app.build,
            "stdio": _stdio,
            "tcp": lambda: tcp,
            "http": lambda: http,
            "asgi": lambda: asgi,
            "ws": lambda: ws,
        }
    finally:
        for served in reversed(started):
            served.close()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_every_transport_in_both_eras(targets: dict[str, Callable[[], Any]], transport: str, mode: str) -> None:
    target = targets[transport]()

    @async_test
    async def cell() -> None:
        async with Client(target, mode=mode) as c:
            assert c.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
            if mode == "legacy":  # the handshake tells who answered; 2026-07-28 pinned without a probe does not
                assert c.server_info is not None and c.server_info.name == server_app.SERVER_NAME

            tools = await c.list_tools()
            by_name = {t.name: t for t in tools.tools}
            assert set(by_name) == {"echo", "add", "countdown", "fail", "whoami"}
            assert by_name["add"].input_schema["required"] == ["a", "b"]
            assert by_name["add"].output_schema == server_app.ADD_OUTPUT_SCHEMA

            res = await c.call_tool("add", {"a": 2, "b": 40})
            assert res.is_error is False and res.structured_content == {"sum": 42, "operands": [2, 40]}
            res = await c.call_tool("echo", {"message": f"{transport} {mode} ✓"})
            assert res.content[0].type == "text" and res.content[0].text == f"{transport} {mode} ✓"
            who = json.loads((await c.call_tool("whoami", {})).content[0].text)
            assert who["modern"] is (mode != "legacy") and who["protocolVersion"] == c.protocol_version

            read = await c.read_resource("test://item/7")
            assert read.contents[0].uri == "test://item/7" and read.contents[0].mime_type == "application/json"
            assert json.loads(read.contents[0].text) == {"id": "7", "label": "item 7"}

            prompt = await c.get_prompt("greet", {"name": "Ada", "style": "warm"})
            assert [m.role for m in prompt.messages] == ["user", "assistant"]
            assert prompt.messages[0].content.text == "Hello, Ada! (warm)"
            assert prompt.description == "Greet someone."

    cell()
