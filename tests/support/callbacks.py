"""Tools that call back into the client (elicitation, sampling, roots), for the client tests
that check those callbacks end to end: ``mcpfast.Client`` and ``mcpfast.testing.Client``."""

from __future__ import annotations

from mcpfast import Context, MCPServer


def add_callback_tools(app: MCPServer) -> None:
    """Register ``ask_name`` (one elicitation), ``sample`` (one sampling request) and ``roots``
    (the client's roots, as URIs) on ``app``."""

    @app.tool()
    async def ask_name(ctx: Context) -> str:
        r = await ctx.elicit("Your name?", {"type": "object", "properties": {"name": {"type": "string"}}})
        return f"hello {r.content['name']}" if r.action == "accept" else f"no name ({r.action})"

    @app.tool()
    async def sample(ctx: Context) -> str:
        res = await ctx.session.create_message("say hi", max_tokens=5)
        return str(res.content.text)

    @app.tool()
    async def roots(ctx: Context) -> list[str]:
        res = await ctx.session.list_roots()
        return [r.uri for r in res.roots]
