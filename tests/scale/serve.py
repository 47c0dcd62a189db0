"""Serve ``app.py`` over Streamable HTTP on a shared store: ``python -m tests.scale.serve PORT STORE_URL``
(one process of the multi-process tests)."""

from __future__ import annotations

import asyncio
import logging
import sys

from mcpfast.stores import open_store
from mcpfast.transports.http.server import serve_http
from mcpfast.transports.http.settings import HTTPSettings
from tests.scale.app import mcp


async def main(port: int, url: str) -> None:
    store = open_store(url)
    try:
        await serve_http(mcp.core, host="127.0.0.1", port=port, grace=0.5,
                         settings=HTTPSettings(store=store, sse_keepalive=30.0))
    finally:
        await store.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
