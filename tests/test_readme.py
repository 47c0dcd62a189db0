"""The README's server and test-client examples run as written (so the front page cannot rot)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_decorator_server_and_its_test_client_example_run() -> None:
    server, test = _blocks()[:2]
    assert "from mcpfast import MCPServer" in server and "mcpfast.testing.Client" in test
    ns: dict[str, Any] = {"__name__": "readme_example"}  # not __main__: mcp.run() stays unreached
    exec(compile(server, "README.md", "exec"), ns)
    exec(compile(test, "README.md", "exec"), ns)
    asyncio.run(ns["test_add"]())

    import mcpfast.testing

    async def more() -> None:
        async with mcpfast.testing.Client(ns["mcp"], protocol_version="2026-07-28") as c:
            res = await c.call_tool("slow", {"steps": 3})
            assert res["content"][0]["text"] == "ok"
            page = await c.read_resource("notes://x")
            assert page["contents"][0]["text"] == "note x"

    asyncio.run(more())
