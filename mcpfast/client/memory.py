"""The in-process client transport: a client joined to an ``MCPServer`` or ``ServerCore`` in
this process through ``mcpfast.transports.memory``.

Every message goes through the real encoder, line splitter and decoder of the active wire
twin, so what the client sees is what a stdio client would see, without a subprocess. An
``MCPServer``'s lifespan is entered on connect and left on close (``lifespan=False`` skips it).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ..peer import Dispatcher, JSONRPCPeer
from ..protocol import JSONRPCStreamProtocol
from ..transports.memory import memory_pair
from .transport import ClientTransport

__all__ = ["InProcessTransport", "core_of", "is_server"]


def core_of(app: Any) -> Any:
    """The dispatcher that serves ``app``: an ``MCPServer``'s ``core``, or a ``ServerCore``."""
    core = getattr(app, "core", None)
    if core is not None and hasattr(core, "on_request"):
        return core
    if hasattr(app, "on_request") and hasattr(app, "on_notification"):
        return app
    raise TypeError(f"Client() needs an MCPServer or a ServerCore, got {type(app).__name__}")


def is_server(target: Any) -> bool:
    """Whether ``target`` is something ``InProcessTransport`` can serve."""
    try:
        core_of(target)
    except TypeError:
        return False
    return True


class InProcessTransport(ClientTransport):
    """Serve ``app`` in this process and connect to it (see the module docstring).
    ``protocol_kw`` goes to both ends' protocols (``max_message_size``...)."""

    def __init__(self, app: Any, *, lifespan: bool = True, **protocol_kw: Any) -> None:
        self.app = app
        self.core = core_of(app)
        self.lifespan = lifespan
        self.protocol_kw = protocol_kw
        self._stack: contextlib.AsyncExitStack | None = None
        self._ends: tuple[JSONRPCStreamProtocol, JSONRPCStreamProtocol] | None = None
        self._closed = False

    async def connect(self, dispatcher: Dispatcher, *, request_timeout: float | None = None,
                      max_in_flight: int | None = None) -> JSONRPCPeer:
        if self._stack is not None:
            raise RuntimeError("this InProcessTransport is already connected (one connection per transport)")
        kw = dict(self.protocol_kw)
        if request_timeout is not None:
            kw.setdefault("request_timeout", request_timeout)
        if max_in_flight is not None:
            kw.setdefault("max_in_flight", max_in_flight)
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            lifespan = getattr(self.app, "lifespan_context", None) if self.lifespan else None
            if lifespan is not None:
                await stack.enter_async_context(lifespan())
            server, client = memory_pair(self.core, dispatcher, **kw)
            self._ends = (server, client)
            stack.push_async_callback(self._close_ends)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        assert client.peer is not None  # set by connection_made
        return client.peer

    @property
    def server_end(self) -> JSONRPCStreamProtocol | None:
        """The server's end of the connection (tests write raw bytes or hang up through it)."""
        return self._ends[0] if self._ends is not None else None

    async def _close_ends(self) -> None:
        ends = self._ends
        if ends is None:
            return
        server, client = ends
        client.close()
        server.close()
        await client.wait_closed()
        await server.wait_closed()
        # let the closed transports' last callbacks run (no task left behind)
        for _ in range(3):
            await asyncio.sleep(0)

    async def close(self) -> None:
        stack, self._stack = self._stack, None
        self._closed = True
        if stack is not None:
            await stack.aclose()

    @property
    def closed(self) -> bool:
        ends = self._ends
        return self._closed or (ends is not None and ends[1].peer is not None and ends[1].peer.closed)
