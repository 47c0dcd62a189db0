"""``mcpfast.Client("http://...")``: the public client over this transport (picked by scheme),
against the built-in server in every mode, with transport options, and in the seed's shape."""

from __future__ import annotations

import asyncio

import pytest

from mcpfast.client.client import Client
from mcpfast.errors import MCPError
from mcpfast.testing import async_test
from mcpfast.transports.http.auth import BearerAuth as ServerBearer

from .helpers import LEGACY, MODERN, serving


@pytest.mark.parametrize("mode", ["auto", "legacy", MODERN])
@async_test
async def test_client_over_http(mode: str) -> None:
    async with serving() as (server, _), Client(server.url, mode=mode) as client:
        assert client.protocol_version == (LEGACY if mode == "legacy" else MODERN)
        tools = await client.list_tools()
        assert {"echo", "where"} <= {t.name for t in tools.tools}
        assert "bad" not in {t.name for t in tools.tools}  # invalid x-mcp-header annotation
        results = await asyncio.gather(*(client.call_tool("echo", {"message": f"m{i}"}) for i in range(20)))
        assert [r.content[0].text for r in results] == [f"m{i}" for i in range(20)]
        r = await client.call_tool("where", {"region": "Zürich", "n": 2})
        assert r.content[0].text == "Zürich/2" and not r.is_error


@async_test
async def test_client_transport_options_and_seed_shape() -> None:
    async with serving(auth=ServerBearer("s3cret")) as (server, _):
        with pytest.raises(MCPError):
            async with Client(server.url):
                pass
        client = await Client.connect(server.url, transport_options={"bearer": "s3cret"})
        try:
            assert (await client.call_tool("echo", {"message": "hi"})).content[0].text == "hi"
        finally:
            await client.close()


@async_test
async def test_listen_stream_over_http() -> None:
    """2026-07-28 subscriptions/listen: a POST whose SSE stream stays open, exempt from the read
    timeout; leaving the subscription closes that request's connection."""
    from mcpfast.client.subscriptions import ToolsListChanged
    from mcpfast.server import ServerCore

    from .helpers import make_core, new_events

    core: ServerCore = make_core(new_events())
    async with serving(core) as (server, _), \
            Client(server.url, mode=MODERN, transport_options={"read_timeout": 0.3}) as client:
        async with client.listen(tools_list_changed=True) as sub:
            await asyncio.sleep(0.8)  # quiet for longer than read_timeout: still open
            core.add_tool("late", lambda: "x", input_schema={"type": "object", "properties": {}})
            event = await sub.next(timeout=3)
            assert event == ToolsListChanged()
        assert (await client.call_tool("echo", {"message": "after"})).content[0].text == "after"
