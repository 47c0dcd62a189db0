"""An MCPServer run over stdio with a lifespan (``test_running.py`` spawns it)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from typing import Any

from mcpfast import Context, MCPServer


@contextlib.asynccontextmanager
async def lifespan(app: MCPServer) -> AsyncIterator[dict[str, Any]]:
    print("lifespan: start", file=sys.stderr, flush=True)
    yield {"resource": "open"}
    print("lifespan: end", file=sys.stderr, flush=True)


app = MCPServer("stdio-app", lifespan=lifespan)


@app.tool()
def state(ctx: Context) -> str:
    return str(ctx.request_context.lifespan_context)


@app.tool()
def echo(message: str) -> str:
    return message


if __name__ == "__main__":
    app.run()
