"""The HTTP client transport against other servers: mcpfast's ASGI app under uvicorn (with a
spy on the requests it gets: the headers and the DELETE), and the official SDK's Streamable
HTTP server (``mcp`` 2.3.0) in both eras and both response modes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from mcp.server.mcpserver import Context, MCPServer

from mcpfast.testing import async_test
from mcpfast.transports.http.asgi import asgi_app
from mcpfast.transports.http.settings import HTTPSettings

from ...support.served import UvicornInThread
from .helpers import LEGACY, MODERN, make_core, new_events, session, text


class _Spy:
    """ASGI middleware: the (method, headers) of every HTTP request, in arrival order."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[tuple[str, dict[str, str]]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen.append((scope["method"], {k.decode().lower(): v.decode() for k, v in scope["headers"]}))
        await self.app(scope, receive, send)


@contextmanager
def ours(**settings: Any) -> Iterator[tuple[UvicornInThread, _Spy]]:
    spy = _Spy(asgi_app(make_core(new_events()), HTTPSettings(bind_host="127.0.0.1", sse_retry_ms=10, **settings)))
    with UvicornInThread(spy) as served:
        yield served, spy


@pytest.mark.parametrize("json_response", [False, True], ids=["sse", "json"])
@async_test
async def test_asgi_app_legacy_headers_get_stream_and_delete(json_response: bool) -> None:
    with ours(json_response=json_response) as (served, spy):
        async with session(served.url, LEGACY) as (s, t):
            await asyncio.gather(*(s.request("tools/call", {"name": "echo", "arguments": {"message": str(i)}})
                                   for i in range(10)))
            res = await s.request("tools/call", {"name": "poll", "arguments": {}})
            assert text(res) == "after the cut"
            sid = t.session_id
        methods = [m for m, _ in spy.seen]
        assert methods[-1] == "DELETE" and "GET" in methods
        posts = [h for m, h in spy.seen if m == "POST"]
        assert all(h["accept"] == "application/json, text/event-stream" for h in posts)
        assert all(h["content-type"] == "application/json" for h in posts)
        assert "mcp-session-id" not in posts[0] and "mcp-protocol-version" not in posts[0]  # initialize
        assert all(h["mcp-session-id"] == sid and h["mcp-protocol-version"] == LEGACY for h in posts[1:])
        gets = [h for m, h in spy.seen if m == "GET"]
        assert all(h["accept"] == "text/event-stream" and h["mcp-session-id"] == sid for h in gets)
        if not json_response:  # the cut stream was resumed by GET + Last-Event-ID
            assert any("last-event-id" in h for h in gets)


@async_test
async def test_asgi_app_modern_headers() -> None:
    with ours() as (served, spy):
        async with session(served.url, MODERN, headers={"X-Custom": "yes"}) as (s, t):
            await s.request("tools/list")
            assert text(await s.request("tools/call", {"name": "where", "arguments": {"region": "Zürich", "n": 3}})) \
                == "Zürich/3"
        assert t.session_id is None
        posts = [h for m, h in spy.seen if m == "POST"]
        assert all(h["mcp-protocol-version"] == MODERN and h["x-custom"] == "yes" for h in posts)
        assert "mcp-session-id" not in posts[-1]
        call = posts[-1]
        assert call["mcp-method"] == "tools/call" and call["mcp-name"] == "where"
        assert call["mcp-param-region"] == "=?base64?WsO8cmljaA==?="
        assert call["mcp-param-n"] == "3"
        assert [m for m, _ in spy.seen].count("DELETE") == 0  # no session: nothing to end


def _sdk_app(json_response: bool) -> Any:
    mcp = MCPServer("sdk-server")

    @mcp.tool()
    def echo(message: str) -> str:
        return message

    @mcp.tool()
    async def progress(ctx: Context) -> str:
        await ctx.report_progress(1, 2, "half")
        return "done"

    return mcp.streamable_http_app(json_response=json_response)


@pytest.mark.parametrize("json_response", [False, True], ids=["sse", "json"])
@pytest.mark.parametrize("version", [LEGACY, MODERN, "auto"])
@async_test
async def test_official_sdk_server(version: str, json_response: bool) -> None:
    with UvicornInThread(_sdk_app(json_response)) as served:
        async with session(served.url, version) as (s, t):
            assert s.protocol_version == (LEGACY if version == LEGACY else MODERN)
            results = await asyncio.gather(*(s.request("tools/call", {"name": "echo", "arguments": {"message": f"m{i}"}})
                                             for i in range(10)))
            assert [text(r) for r in results] == [f"m{i}" for i in range(10)]
            assert {tool["name"] for tool in (await s.request("tools/list"))["tools"]} >= {"echo", "progress"}
            seen: list[Any] = []
            res = await s.request("tools/call", {"name": "progress", "arguments": {}},
                                  progress_callback=lambda p, total, msg: seen.append(msg))
            assert text(res) == "done"
            if not json_response:
                assert seen == ["half"]
            assert (t.session_id is not None) == (s.protocol_version == LEGACY)
