"""An MCPServer over stdio whose ``lookup`` tool is fast until told to block (``test_stall.py``
spawns it): a cache hit, then a miss that does slow I/O."""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from mcpfast import MCPServer  # noqa: E402

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
