"""MCP client side: ``Client`` (the public client, ``mcpfast.Client``), ``ClientSession``
(both eras over any connected peer) and its dispatcher ``ClientHandlers``; the transports
(``ClientTransport``: in process, stdio, TCP; HTTP and WebSocket by URL scheme). The test client
(``mcpfast.testing.Client``) is built on the session too. Submodules load on first use."""

from __future__ import annotations

from .session import ClientHandlers, ClientSession

__all__ = ["ClientHandlers", "ClientSession"]
