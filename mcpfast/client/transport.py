"""The contract between ``mcpfast.Client`` and the transports it connects through.

A ``ClientTransport`` opens one connection to one server and hands the client a
``JSONRPCPeer`` that the connection drives: messages that arrive are given to
``peer.feed(...)``, the peer's ``send(list_of_bytes)`` writes what the client produces, and a
lost connection ends in ``peer.connection_lost(exc)``, which fails every pending call at once.
The client makes the dispatcher (``ClientHandlers``: server->client requests and
notifications) and everything MCP; the transport knows framing, sockets and HTTP, no method.

Transports are chosen by URL scheme. The modules are imported on first use, so
``import mcpfast`` pulls in no HTTP or WebSocket library:

=================  ==============================
scheme             module (``transport_from_url``)
=================  ==============================
``http``/``https`` ``mcpfast.client.http``
``tcp``/``tcps``   ``mcpfast.client.tcp``
``ws``/``wss``     ``mcpfast.client.websocket``
=================  ==============================

Each of those modules defines ``transport_from_url(url: str, **options) -> ClientTransport``;
``options`` are the transport's own keywords (headers, TLS context, timeouts, auth...), and an
unknown keyword is a ``TypeError`` there, not silently dropped.
"""

from __future__ import annotations

import abc
import importlib
from typing import Any

from ..peer import Dispatcher, JSONRPCPeer

__all__ = ["ClientTransport", "SCHEMES", "transport_for"]

#: URL scheme -> the module whose ``transport_from_url`` opens it
SCHEMES: dict[str, str] = {
    "http": "mcpfast.client.http",
    "https": "mcpfast.client.http",
    "tcp": "mcpfast.client.tcp",
    "tcps": "mcpfast.client.tcp",
    "ws": "mcpfast.client.websocket",
    "wss": "mcpfast.client.websocket",
}


class ClientTransport(abc.ABC):
    """One connection from a client to a server (see the module docstring)."""

    @abc.abstractmethod
    async def connect(
        self,
        dispatcher: Dispatcher,
        *,
        request_timeout: float | None = None,
        max_in_flight: int | None = None,
    ) -> JSONRPCPeer:
        """Open the connection; return the peer it drives. ``request_timeout`` and
        ``max_in_flight`` bound the server->client requests the peer answers (None: the peer's
        defaults). Raises ``ConnectionError`` (or a subclass) when the server cannot be reached
        or refuses the connection, with a message that says why."""

    @abc.abstractmethod
    async def close(self) -> None:
        """End the connection (idempotent). The peer sees ``connection_lost``: calls still
        pending fail with ``ConnectionClosed``. HTTP also ends its session (DELETE)."""

    @property
    def closed(self) -> bool:
        """Whether the connection is gone (closed here or lost)."""
        return False


def transport_for(url: str, **options: Any) -> ClientTransport:
    """The transport for ``url``, picked by its scheme (``options`` go to that transport)."""
    from urllib.parse import urlsplit  # here: the in-process and stdio targets need no URL parser

    scheme = urlsplit(url).scheme.lower()
    module = SCHEMES.get(scheme)
    if module is None:
        known = ", ".join(sorted(SCHEMES))
        raise ValueError(f"no MCP client transport for {url!r}: the scheme must be one of {known}")
    factory = importlib.import_module(module).transport_from_url
    transport: ClientTransport = factory(url, **options)
    return transport
