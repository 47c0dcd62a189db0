"""A stdio MCPServer for the metrics tests, with its metrics port on a free port and every
log record at DEBUG level on: the protocol's stdout must still carry only JSON-RPC. The port
is logged on stderr (``metrics on http://...``)."""

from __future__ import annotations

import logging
import sys

from mcpfast import MCPServer

app = MCPServer("metrics-stdio", version="1", metrics_port=0)


@app.tool()
def echo(text: str) -> str:
    return text


@app.tool()
def fail() -> str:
    raise ValueError("boom")


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="LOG %(name)s %(message)s")
    app.run("stdio")
