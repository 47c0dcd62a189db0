"""An mcpfast stdio server for the interoperability tests (``test_sdk_client.py``).

It registers one of each kind of thing an MCP client meets: tools (plain, structured output,
async with progress and log messages, failing, and one reporting the era the server saw),
a static resource, a resource template, a prompt with a required argument and a completion
handler. It answers both eras on one connection (``initialize`` sessions and 2026-07-28
requests with the ``_meta`` envelope), like every ``ServerCore``.

    python tests/interop/server_app.py   # with mcpfast installed (pip install -e . in a checkout)

``MCPFAST_NO_EXTENSIONS`` is read by mcpfast itself at import: the ``whoami`` tool reports
which twins this process runs on, so a test can check the variable reached the subprocess.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from typing import Any

import mcpfast
from mcpfast.server import Context, ServerCore
from mcpfast.transports.stdio import run_stdio

SERVER_NAME = "mcpfast-interop"
SERVER_VERSION = "1.2.3"
INSTRUCTIONS = "Interop test server: echo, add, countdown, fail, whoami."

#: what the completion handler offers, by argument name
NAMES = ["alice", "alfred", "bob"]
ITEM_IDS = ["1", "12", "123", "7"]

ADD_OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"sum": {"type": "integer"}, "operands": {"type": "array", "items": {"type": "integer"}}},
    "required": ["sum", "operands"],
}


def echo(message: str) -> str:
    return message


def add(a: int, b: int) -> dict[str, Any]:
    return {"sum": a + b, "operands": [a, b]}


async def countdown(steps: int, ctx: Context) -> str:
    """Reports progress ``1..steps`` of ``steps`` and logs one message per step."""
    ctx.debug({"start": steps}, logger="countdown")
    for i in range(1, steps + 1):
        await asyncio.sleep(0.01)  # really suspend: the notifications go out before the result
        ctx.report_progress(i, steps, f"step {i}/{steps}")
        await ctx.info(f"step {i}", logger="countdown")
    ctx.warning("done", logger="countdown")
    return f"counted {steps}"


def fail(reason: str) -> str:
    raise RuntimeError(reason)


def whoami(ctx: Context) -> dict[str, Any]:
    """What the server saw of this request: its era, the client, the twins in use."""
    info = ctx.client_info
    return {
        "protocolVersion": ctx.protocol_version,
        "modern": ctx.modern,
        "clientName": info.get("name") if isinstance(info, dict) else None,
        "extensions": mcpfast.EXTENSIONS,
    }


def read_static() -> str:
    return "static content"


def read_item(id: str) -> str:  # noqa: A002 - the template variable is called id
    return json.dumps({"id": id, "label": f"item {id}"})


def greet(name: str, style: str = "plain") -> list[Any]:
    text = f"Hello, {name}!" if style == "plain" else f"Hello, {name}! ({style})"
    return [text, {"role": "assistant", "content": {"type": "text", "text": "Hi, how can I help?"}}]


def complete(ref: dict[str, Any], argument: dict[str, Any], context_arguments: dict[str, Any] | None) -> Any:
    prefix = argument.get("value", "")
    if ref.get("type") == "ref/prompt" and ref.get("name") == "greet" and argument["name"] == "name":
        return [n for n in NAMES if n.startswith(prefix)]
    if ref.get("type") == "ref/resource" and ref.get("uri") == "test://item/{id}" and argument["name"] == "id":
        values = [i for i in ITEM_IDS if i.startswith(prefix)]
        return {"values": values, "total": len(values), "hasMore": False}
    return None


def build() -> ServerCore:
    server = ServerCore(SERVER_NAME, SERVER_VERSION, instructions=INSTRUCTIONS)
    server.add_tool(
        "echo", echo, description="Return the message unchanged.",
        input_schema={"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
    )
    server.add_tool(
        "add", add, description="Add two integers.",
        input_schema={
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
        output_schema=ADD_OUTPUT_SCHEMA,
    )
    server.add_tool(
        "countdown", countdown, description="Count with progress and log messages.", context_kwarg="ctx",
        input_schema={"type": "object", "properties": {"steps": {"type": "integer"}}, "required": ["steps"]},
    )
    server.add_tool(
        "fail", fail, description="Always raises.",
        input_schema={"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]},
    )
    server.add_tool("whoami", whoami, context_kwarg="ctx", input_schema={"type": "object"})
    server.add_resource("test://static", read_static, name="static", description="A fixed text.",
                        mime_type="text/plain")
    server.add_resource_template("test://item/{id}", read_item, name="item", description="One item by id.",
                                 mime_type="application/json")
    server.add_prompt(
        "greet", greet, description="Greet someone.",
        arguments=[{"name": "name", "description": "Who to greet", "required": True},
                   {"name": "style", "description": "How"}],
    )
    server.set_completion_handler(complete)
    return server


if __name__ == "__main__":
    # stderr is the log; keep the expected traceback of the "fail" tool short
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    run_stdio(build())
