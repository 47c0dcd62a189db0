"""A server written with the official SDK (PyPI ``mcp`` 2.x), run over stdio by the client
interoperability tests: ``python sdk_server.py``."""

from __future__ import annotations

from mcp.server.mcpserver import Context, MCPServer

app = MCPServer("sdk-interop", instructions="An SDK server.")


@app.tool()
def echo(message: str) -> str:
    """Return the message unchanged."""
    return message


@app.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@app.tool()
async def chatty(ctx: Context) -> str:
    """Log once and report progress twice."""
    await ctx.info("starting")
    await ctx.report_progress(1, 2, "half")
    await ctx.report_progress(2, 2, "done")
    return "ok"


@app.resource("sdk://static", mime_type="text/plain")
def static() -> str:
    return "static text"


@app.prompt()
def greet(name: str) -> str:
    """Greet someone."""
    return f"Hello, {name}!"


if __name__ == "__main__":
    app.run("stdio")
