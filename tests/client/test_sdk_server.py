"""``mcpfast.Client`` against a server written with the official SDK (``sdk_server.py``) over
stdio, in both eras, with the SDK's own ``mcp.Client`` run on the same calls: what the code
reads off the results must be the same.

Slow by nature (over 2 s): the SDK's server starts three times, and its start-up (pydantic,
starlette imports) is most of the time; the calls themselves take milliseconds."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client as SDKClient
from mcp import StdioServerParameters as SDKParams

from mcpfast import Client, MCPError, StdioServerParameters
from mcpfast.testing import async_test

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="mcpfast's stdio transport is POSIX only")

SDK_SERVER = str(Path(__file__).with_name("sdk_server.py"))


async def observe(client: Any) -> dict[str, Any]:
    """The same calls, read the same way, whichever client."""
    out: dict[str, Any] = {"version": client.protocol_version, "name": client.server_info.name,
                           "instructions": client.instructions,
                           "tools_cap": client.server_capabilities.tools is not None}
    tools = await client.list_tools()
    out["tools"] = [(t.name, t.description, t.input_schema, t.output_schema) for t in tools.tools]
    out["next_cursor"] = tools.next_cursor
    res = await client.call_tool("add", {"a": 2, "b": 40})
    out["add"] = (res.content[0].type, res.content[0].text, res.structured_content, res.is_error)
    bad = await client.call_tool("add", {"a": "x"})
    out["bad"] = (bad.is_error, len(bad.content))
    unknown = await client.call_tool("nope", {})
    out["unknown"] = (unknown.is_error, unknown.content[0].text)
    progress: list[Any] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append((p, total, message))

    chatty = await client.call_tool("chatty", {}, progress_callback=on_progress)
    out["chatty"] = (chatty.content[0].text, progress)
    read = await client.read_resource("sdk://static")
    out["read"] = [(c.uri, c.mime_type, c.text) for c in read.contents]
    resources = await client.list_resources()
    out["resources"] = [(str(r.uri), r.name, r.mime_type) for r in resources.resources]
    prompts = await client.list_prompts()
    out["prompts"] = [(p.name, [(a.name, a.required) for a in p.arguments or ()]) for p in prompts.prompts]
    got = await client.get_prompt("greet", {"name": "Ada"})
    out["prompt"] = [(m.role, m.content.text) for m in got.messages]
    try:
        await client.get_prompt("missing", {})
    except MCPError as exc:
        out["error"] = (type(exc).__name__, exc.error.code, exc.error.message)
    except Exception as exc:  # noqa: BLE001 - the SDK's MCPError is another class of that name
        out["error"] = (type(exc).__name__, exc.error.code, exc.error.message)  # type: ignore[attr-defined]
    return out


@async_test
async def test_same_observations_as_the_sdk_client() -> None:
    # the SDK's client once (its default mode: the modern era with this server), ours in both
    # eras: the SDK's server answers these calls alike in both, so every observation but the
    # version must match the SDK client's (and the error: that server words it per era)
    async with SDKClient(SDKParams(command=sys.executable, args=[SDK_SERVER])) as theirs:
        reference = await observe(theirs)
    assert reference["version"] == "2026-07-28"
    for mode, version in (("auto", "2026-07-28"), ("legacy", "2025-11-25")):
        async with Client(StdioServerParameters(sys.executable, [SDK_SERVER]), mode=mode) as ours:
            mine = await observe(ours)
        expected = {**reference, "version": version}
        if mode == "legacy":
            expected["error"] = mine["error"]
            assert mine["error"][0] == "MCPError" and "missing" in mine["error"][2]
        assert mine == expected, mode
    assert mine["add"] == ("text", "42", {"result": 42}, False)
    assert mine["error"][0] == "MCPError"
