"""Transports: each drives ``JSONRPCStreamProtocol`` (or the peer) over one kind of channel.

``stdio`` (MCP's own), ``tcp`` (the stdio framing on TCP/TLS), ``http`` (Streamable HTTP),
``memory`` (in-process, through the real codec). ``listener`` is what every socket server stands
on: accept, ``max_connections``, timeouts, TLS, graceful shutdown, signals. Import the submodule
you need; nothing is imported here eagerly.
"""

from __future__ import annotations

__all__ = ["memory", "stdio", "tcp"]
