"""The seed API: ``mcpfast.Tool``, ``ToolRegistry``, ``register_tool``, stats, ``get_metrics``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import mcpfast
from mcpfast import MCPServer, Tool, ToolRegistry
from mcpfast.errors import InvalidParams
from mcpfast.testing import async_test

from .harness import ERAS, connect, text

ADD_SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
              "required": ["a", "b"]}


class Add(Tool):
    name = "add"
    description = "Add two integers"
    schema = ADD_SCHEMA

    async def execute(self, params: dict[str, Any]) -> Any:
        return params["a"] + params["b"]


class SyncUpper:
    """Not a Tool subclass: any object with name, schema and execute."""

    name = "upper"
    input_schema = {"type": "object", "properties": {"s": {"type": "string"}}, "required": ["s"]}

    def execute(self, params: dict[str, Any]) -> str:
        if params["s"] == "boom":
            raise ValueError("no booms")
        return params["s"].upper()


def test_public_names_are_lazy_exports() -> None:
    assert mcpfast.Tool is Tool and mcpfast.ToolRegistry is ToolRegistry
    assert mcpfast.FastMCP is mcpfast.MCPServer
    assert "MCPServer" in dir(mcpfast)
    with pytest.raises(AttributeError):
        mcpfast.NoSuchThing  # noqa: B018


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_register_tool_objects_sync_and_async(era: str) -> None:
    app = MCPServer("seed")
    app.register_tool(Add())
    app.register_tool(SyncUpper())
    async with connect(app, era) as s:
        listed = {t["name"]: t for t in (await s.call("tools/list"))["tools"]}
        assert listed["add"] == {"name": "add", "description": "Add two integers", "inputSchema": ADD_SCHEMA}
        assert text(await s.tool("add", {"a": 2, "b": 3})) == "5"
        assert text(await s.tool("upper", {"s": "abc"})) == "ABC"
        res = await s.tool("upper", {"s": "boom"})
        # an unexpected exception: only the SDK's generic text, the message stays in the log
        assert res["isError"] is True and text(res) == "Error executing tool upper"
        res = await s.tool("add", {"a": 2})  # SEP-1303: an isError result naming the argument
        assert res["isError"] is True and "'b'" in text(res)


def test_register_rejects_incomplete_objects() -> None:
    app = MCPServer()

    class NoName:
        schema: dict[str, Any] = {"type": "object"}

        def execute(self, params: dict[str, Any]) -> None:
            return None

    class NoSchema:
        name = "x"

        def execute(self, params: dict[str, Any]) -> None:
            return None

    class NoExecute:
        name = "x"
        schema: dict[str, Any] = {"type": "object"}

    for obj, msg in ((NoName(), "no name"), (NoSchema(), "no schema"), (NoExecute(), "no execute")):
        with pytest.raises(TypeError, match=msg):
            app.register_tool(obj)
    with pytest.raises(NotImplementedError):
        asyncio.run(Tool().execute({}))


@async_test
async def test_registry_register_unregister_list_execute() -> None:
    app = MCPServer("seed")
    reg = app.tools
    reg.register(Add())
    reg.register(SyncUpper(), blocking=False)
    assert reg.names() == ["add", "upper"] and "add" in reg and len(reg) == 2 and list(reg) == ["add", "upper"]
    assert [t["name"] for t in reg.list()] == ["add", "upper"]
    assert reg["upper"].placement == "inline" and reg.get("nope") is None
    assert await reg.execute("add", {"a": 1, "b": 2}) == 3
    assert await reg.execute("upper", {"s": "q"}) == "Q"
    with pytest.raises(InvalidParams, match="'a'"):
        await reg.execute("add", {"b": 2})
    with pytest.raises(ValueError, match="no booms"):
        await reg.execute("upper", {"s": "boom"})
    with pytest.raises(KeyError):
        await reg.execute("nope", {})
    async with connect(app) as s:
        reg.unregister("upper")
        assert [t["name"] for t in (await s.call("tools/list"))["tools"]] == ["add"]
        assert s.client.notifications("notifications/tools/list_changed") == [None]
    with pytest.raises(KeyError):
        reg.unregister("upper")


@async_test
async def test_stats_for_every_call() -> None:
    app = MCPServer("stats")
    app.register_tool(Add())

    @app.tool()
    def echo(message: str) -> str:
        return message

    @app.tool()
    def fail() -> str:
        raise RuntimeError("x")

    async with connect(app) as s:
        for i in range(10):
            await s.tool("echo", {"message": str(i)})
        for _ in range(3):
            await s.tool("add", {"a": 1, "b": 1})
        await s.tool("fail")
        assert (await s.tool("add", {"a": "x", "b": 1}))["isError"] is True
    st = app.tools.stats()
    assert st["echo"]["calls"] == 10 and st["echo"]["errors"] == 0
    assert st["add"]["calls"] == 3 and st["add"]["errors"] == 1  # the rejected call is an error, not a call
    assert st["fail"]["calls"] == 1 and st["fail"]["errors"] == 1
    e = st["echo"]
    assert set(e) == {"calls", "errors", "total_ms", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "placement"}
    assert 0 < e["p50_ms"] <= e["p90_ms"] <= e["p99_ms"] and e["total_ms"] > 0
    assert e["mean_ms"] == pytest.approx(e["total_ms"] / 10, rel=1e-3)
    app.tools.reset_stats()
    assert app.tools.stats("echo")["calls"] == 0


@async_test
async def test_get_metrics_shape() -> None:
    app = MCPServer("metrics", version="9")
    app.register_tool(Add())

    @app.tool()
    async def slow() -> str:
        await asyncio.sleep(0.2)
        return "done"

    async with connect(app) as s:
        await s.tool("add", {"a": 1, "b": 2})
        pending = asyncio.ensure_future(s.tool("slow"))
        await asyncio.sleep(0.05)
        m = app.get_metrics()
        assert m["in_flight"] == {"async": 1, "pool": 0, "total": 1}
        assert m["sessions"] == 1
        await pending
    m = app.get_metrics()
    assert m["server"] == {"name": "metrics", "version": "9"}
    assert m["uptime_s"] >= 0
    assert set(m["tools"]) == {"add", "slow"}
    assert m["totals"] == {"tools": 2, "calls": 2, "errors": 0, "total_ms": m["totals"]["total_ms"], "rejected": 0}
    assert m["totals"]["total_ms"] >= 200
    assert m["in_flight"]["total"] == 0 and m["sessions"] == 0
    assert m["thread_pool"]["size"] >= 1 and set(m) >= {"listeners", "resources", "prompts"}
