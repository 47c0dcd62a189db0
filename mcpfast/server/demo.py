"""The demo server of ``python -m mcpfast.server`` (and of the Docker image): a few tools to try
a client, a gateway or a deployment against without writing a file.

* ``echo(message)`` - the message back (a decorated ``def`` tool);
* ``add(a, b)`` - the sum of two numbers (a tool object in the seed's shape: ``name()``,
  ``schema()`` and a sync ``execute(params)``, run in the thread pool);
* ``sleep(seconds)`` - waits, then says how long (an ``async def`` tool: slow calls, timeouts,
  graceful shutdown with calls in flight); at most ``MAX_SLEEP`` seconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .. import __version__
from ..errors import ToolError
from .app import MCPServer

__all__ = ["demo_server", "MAX_SLEEP"]

#: the longest ``sleep`` the demo accepts (seconds): a public demo must not hold calls forever
MAX_SLEEP = 60.0


class Add:
    """``add``, in the seed's tool shape."""

    def name(self) -> str:
        return "add"

    def schema(self) -> dict[str, Any]:
        return {"name": "add", "description": "Add two numbers",
                "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                               "required": ["a", "b"]}}

    def execute(self, params: dict[str, Any]) -> Any:
        return params["a"] + params["b"]


def demo_server(**settings: Any) -> MCPServer[Any]:
    """A new demo ``MCPServer`` (``settings``: its constructor's serving options)."""
    app: MCPServer[Any] = MCPServer("mcpfast-demo", version=__version__,
                                    instructions="A demo server: echo, add, sleep.", **settings)

    @app.tool(description="Return the message unchanged")
    def echo(message: str) -> str:
        return message

    app.register_tool(Add())

    @app.tool(description=f"Wait this many seconds (at most {MAX_SLEEP:g}), then say so")
    async def sleep(seconds: float = 1.0) -> str:
        if not 0 <= seconds <= MAX_SLEEP:
            raise ToolError(f"seconds must be between 0 and {MAX_SLEEP:g}")
        await asyncio.sleep(seconds)
        return f"slept {seconds:g} s"

    return app
