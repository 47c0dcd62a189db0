"""MCP client side: ``ClientSession`` (both eras over any connected peer) and its dispatcher
``ClientHandlers``. The test client (``mcpfast.testing.Client``) is built on them."""

from __future__ import annotations

from .session import ClientHandlers, ClientSession

__all__ = ["ClientHandlers", "ClientSession"]
