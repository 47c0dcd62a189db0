"""The server the multi-process tests run (``python -m mcpfast run tests/scale/app.py --transport http --store URL``).

``echo`` answers at once; ``later`` answers, then logs its text from a task of its own (a
message of the session that belongs to no request: it goes to the session's GET stream,
wherever that is open); ``ask`` asks the client to elicit and returns the answer (a
server->client request whose response the client may POST to any process); ``job`` (a task
tool) asks for input, then works until cancelled. ``test_shared_sessions.py`` builds one per
front with ``make_app()``.
"""

from __future__ import annotations

import asyncio
import contextvars

from mcpfast import Context, MCPServer


def make_app() -> MCPServer:
    """A fresh server with the four tools (the in-process tests give each front its own)."""
    mcp = MCPServer("scale-test", log_level="WARNING")

    @mcp.tool()
    def echo(message: str) -> str:
        """Return ``message``."""
        return message

    @mcp.tool()
    async def later(text: str, ctx: Context) -> str:
        """Answer now; log ``text`` (level info) a moment later, outside this request."""

        async def log_it() -> None:
            await asyncio.sleep(0.02)
            ctx.info(text)

        # an empty context: the log message belongs to no request (the GET stream carries it)
        asyncio.get_running_loop().create_task(log_it(), context=contextvars.Context())
        return "scheduled"

    @mcp.tool()
    async def ask(question: str, ctx: Context) -> str:
        """Ask the client (elicitation) and return what it answered."""
        result = await ctx.elicit(question, {"type": "object", "properties": {"answer": {"type": "string"}}})
        return str(getattr(result, "data", None) or getattr(result, "content", None))

    @mcp.tool(task="optional")
    async def job(ctx: Context) -> str:
        """A task: ask whether to go on (input_required), then work until cancelled."""
        await ctx.elicit("Go on?", {"type": "object", "properties": {"go": {"type": "boolean"}}}, key="go")
        await asyncio.sleep(60)
        return "finished"

    return mcp


mcp = make_app()
