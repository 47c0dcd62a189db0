"""An MCPServer over stdio whose ``lookup`` tool is fast until told to block (``test_stall.py``
spawns it): a cache hit, then a miss that does slow I/O."""

from __future__ import annotations

import time

from mcpfast import MCPServer  # the installed package, as every test sees it

app = MCPServer("stall-app")


@app.tool()
def echo(message: str) -> str:
    return message


@app.tool()
def lookup(key: str, delay: float = 0.0) -> str:
    if delay:
        time.sleep(delay)  # the miss: blocking I/O
    return key


if __name__ == "__main__":
    app.run()
