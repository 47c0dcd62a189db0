from __future__ import annotations

from typing import Any

import pytest

from mcpfast.errors import ToolError
from mcpfast.server import ServerCore

from .harness import make_core

ADD_SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}


def build_core(**kw: Any) -> ServerCore:
    core = make_core(**kw)

    def add(a: int, b: int) -> int:
        return a + b

    async def echo(text: str) -> str:
        return text

    def fail() -> None:
        raise ToolError("bad thing happened")

    def boom() -> None:
        raise ValueError("kaboom")

    def structured(n: int = 1) -> dict[str, Any]:
        return {"x": n}

    async def ask_name(ctx: Any) -> str:
        answer = await ctx.elicit("Your name?", {"type": "object", "properties": {"name": {"type": "string"}}})
        if answer.get("action") != "accept":
            return "declined"
        return f"Hello {answer['content']['name']}"

    def progress(ctx: Any) -> str:
        ctx.report_progress(1, 2, "half")
        ctx.report_progress(2, 2)
        ctx.info("done")
        ctx.debug("details")
        return "ok"

    def needs_sampling() -> str:
        return "sampled"

    core.add_tool("add", add, input_schema=ADD_SCHEMA, description="Add two integers")
    core.add_tool("echo", echo, input_schema={"type": "object", "properties": {"text": {"type": "string"}},
                                              "required": ["text"]})
    core.add_tool("fail", fail, input_schema={"type": "object"})
    core.add_tool("boom", boom, input_schema={"type": "object"})
    core.add_tool("structured", structured, input_schema={"type": "object", "properties": {"n": {"type": "integer"}}},
                  output_schema={"type": "object", "properties": {"x": {"type": "integer"}}})
    core.add_tool("ask_name", ask_name, input_schema={"type": "object"}, context_kwarg="ctx")
    core.add_tool("progress", progress, input_schema={"type": "object"}, context_kwarg="ctx")
    core.add_tool("needs_sampling", needs_sampling, input_schema={"type": "object"},
                  required_capabilities={"sampling": {}})

    core.add_resource("file:///readme.txt", lambda: "hello", name="readme", mime_type="text/plain")
    core.add_resource("file:///logo.png", lambda: b"\x89PNG", name="logo", mime_type="image/png")
    core.add_resource_template("users://{id}/profile", lambda id: f"user {id}", name="profile")
    core.add_resource_template("search://items{?q,limit}", lambda q="", limit="10": f"q={q} limit={limit}",
                               name="search")
    core.add_resource_template("file:///docs/{+path}", lambda path: f"doc {path}", name="docs")

    core.add_prompt("greet", lambda who, style="plain": f"Hello {who} ({style})", description="Greets",
                    arguments=[{"name": "who", "required": True}, {"name": "style"}])

    def complete(ref: Any, argument: Any, context: Any) -> list[str]:
        names = ["alice", "albert", "bob"]
        return [n for n in names if n.startswith(argument.get("value", ""))]

    core.set_completion_handler(complete)
    return core


@pytest.fixture
def core() -> ServerCore:
    return build_core()
