"""Every public name of the official SDK's ``MCPServer`` and ``Context`` (``mcp`` 2.3.0) exists
on mcpfast's, so code written for the SDK finds what it uses; the few left out are listed
with the reason. The lists are read from the installed SDK, so a new SDK name fails here."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from pydantic import BaseModel

from mcpfast import Context, MCPServer
from mcpfast.testing import async_test

from .harness import connect, text

#: SDK MCPServer names mcpfast does not have, and why
SERVER_EXCLUDED = {
    # the SDK's provisional (its docstring: "may change in a 2.x minor release") interceptor
    # chain over its own ServerRequestContext objects; mcpfast has no such layer, and a list
    # that took callables and never called them would fail silently instead of loudly
    "middleware": "no message-interceptor chain in mcpfast",
}


def _public(obj: Any) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def _sdk_server() -> Any:
    from mcp.server.mcpserver import MCPServer as SDKServer

    return SDKServer


def test_every_public_name_of_the_sdks_mcpserver() -> None:
    sdk = _sdk_server()
    theirs = _public(sdk) | _public(sdk("n"))
    ours = _public(MCPServer) | _public(MCPServer("n"))
    missing = sorted(theirs - ours - set(SERVER_EXCLUDED))
    assert missing == [], f"mcpfast's MCPServer lacks {missing}"
    assert set(SERVER_EXCLUDED) <= theirs, "an exclusion the SDK no longer has: drop it"


def test_every_public_name_of_the_sdks_context() -> None:
    from mcp.server.mcpserver import Context as SDKContext

    # the SDK's Context is a pydantic model: pydantic's own API (model_dump, model_validate...)
    # is how pydantic serialises it, not the MCP handler API, and a Context is never serialised
    pydantic_api = _public(BaseModel)
    missing = sorted(_public(SDKContext) - pydantic_api - _public(Context))
    assert missing == [], f"mcpfast's Context lacks {missing}"


def _callables(cls: Any) -> dict[str, Any]:
    return {n: getattr(cls, n) for n in _public(cls) if inspect.isfunction(getattr(cls, n, None))}


@pytest.mark.parametrize("which", ["server", "context"])
def test_the_sdks_keyword_arguments_are_accepted(which: str) -> None:
    """Each SDK method's named parameters exist on ours (a call written for the SDK binds)."""
    from mcp.server.mcpserver import Context as SDKContext

    theirs, ours = (_sdk_server(), MCPServer) if which == "server" else (SDKContext, Context)
    problems = []
    for name, fn in _callables(theirs).items():
        if name in SERVER_EXCLUDED or not hasattr(ours, name) or name in _public(BaseModel):
            continue
        mine = inspect.signature(getattr(ours, name))
        if any(p.kind is p.VAR_KEYWORD for p in mine.parameters.values()):
            continue
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in mine.parameters:
                problems.append(f"{name}({p.name}=)")
    assert problems == []


def test_session_manager_runs_the_streamable_http_app() -> None:
    import asyncio
    import contextlib
    from collections.abc import AsyncIterator

    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(server: Any) -> AsyncIterator[None]:
        events.append("lifespan in")
        yield
        events.append("lifespan out")

    app = MCPServer("sm", lifespan=lifespan)
    with pytest.raises(RuntimeError, match="streamable_http_app"):
        app.session_manager  # noqa: B018 - the property raises, as the SDK's

    async def main() -> None:
        app.streamable_http_app()
        async with app.session_manager.run():  # the SDK's FastAPI recipe
            events.append("running")
        events.append("stopped")

    asyncio.run(main())
    assert events == ["lifespan in", "running", "lifespan out", "stopped"]


@async_test
async def test_request_state_is_the_echoed_token() -> None:
    app = MCPServer("rs")
    seen: list[Any] = []

    @app.tool()
    async def ask(ctx: Context) -> str:
        seen.append(ctx.request_state)
        answer = await ctx.elicit("Name?", _Name)
        return answer.data.name if answer.action == "accept" else "no"

    async with connect(app, "modern", caps={"elicitation": {}}) as s:
        res = await s.tool_mrtr("ask", {}, lambda key, req: {"action": "accept", "content": {"name": "ada"}})
    assert text(res) == "ada"
    first, retry = seen
    assert first is None and isinstance(retry, str) and retry  # what the client echoed, as received
    seen.clear()

    async with connect(app, "legacy", caps={"elicitation": {}},
                       handlers={"elicitation/create": lambda p: {"action": "accept", "content": {"name": "bo"}}}) as s:
        assert text(await s.tool("ask")) == "bo"
    assert seen == [None]  # a session has no request state


class _Name(BaseModel):
    name: str


@async_test
async def test_cache_hints_set_ttl_and_scope_per_method() -> None:
    from mcp.server.caching import CacheHint

    app = MCPServer("c", cache_hints={"tools/list": CacheHint(ttl_ms=9, scope="public"),
                                      "server/discover": CacheHint(ttl_ms=7)})

    @app.tool()
    def t() -> str:
        return "x"

    async with connect(app, "modern") as s:
        tools = await s.call("tools/list")
        prompts = await s.call("prompts/list")
        discover = await s.call("server/discover")
    assert (tools["ttlMs"], tools["cacheScope"]) == (9, "public")
    assert (prompts["ttlMs"], prompts["cacheScope"]) == (0, "private")  # not named: the default
    assert (discover["ttlMs"], discover["cacheScope"]) == (7, "private")
    with pytest.raises(ValueError, match="cacheable"):
        MCPServer("c", cache_hints={"tools/call": CacheHint()})
    with pytest.raises(TypeError, match="CacheHint"):
        MCPServer("c", cache_hints={"tools/list": 5})
