"""Imported by the SDK 1.x server scripts beside it (``sse_server.py``, ``ws_server.py``), which
that SDK's Python runs as programs (their folder is then first on ``sys.path``): serve an ASGI app
under uvicorn on 127.0.0.1 at an ephemeral port, print ``PORT <n>`` once listening, run until
killed."""

import asyncio
import socket
from typing import Any

import uvicorn


async def _serve(app: Any) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    print("PORT", sock.getsockname()[1], flush=True)
    await task


def serve(app: Any) -> None:
    """Run ``app`` as said in the module docstring."""
    asyncio.run(_serve(app))
