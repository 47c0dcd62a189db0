"""The TCP client transport: newline-delimited JSON-RPC on a socket, ``tcp://`` and ``tcps://``.

``tcp://host:port`` is plain TCP; ``tcps://host:port`` is TLS with certificate and host name
verification on (``ssl.create_default_context()``) unless an ``ssl`` context is given. The
framing is stdio's (one JSON message per line), served by ``mcpfast.transports.tcp``.

Options of ``transport_from_url`` (``Client(url, transport_options=...)`` passes them on):
``ssl`` (an ``ssl.SSLContext``; True for the default one), ``server_hostname`` (the name checked
against the certificate), ``connect_timeout`` (seconds), ``max_message_size`` (bytes).
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from typing import Any
from urllib.parse import urlsplit

from ..peer import Dispatcher, JSONRPCPeer
from ..transports.tcp import TCPProtocol, connect_tcp
from .transport import ClientTransport

__all__ = ["TCPTransport", "transport_from_url", "DEFAULT_CONNECT_TIMEOUT"]

DEFAULT_CONNECT_TIMEOUT = 10.0


class TCPTransport(ClientTransport):
    """One TCP (or TLS) connection to ``host:port``."""

    def __init__(self, host: str, port: int, *, ssl: _ssl.SSLContext | bool | None = None,
                 server_hostname: str | None = None, connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
                 max_message_size: int | None = None) -> None:
        self.host = host
        self.port = port
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.connect_timeout = connect_timeout
        self.max_message_size = max_message_size
        self._protocol: TCPProtocol | None = None
        self._closed = False

    async def connect(self, dispatcher: Dispatcher, *, request_timeout: float | None = None,
                      max_in_flight: int | None = None) -> JSONRPCPeer:
        if self._protocol is not None:
            raise RuntimeError("this TCPTransport is already connected (one connection per transport)")
        kw: dict[str, Any] = {"request_timeout": request_timeout}
        if max_in_flight is not None:
            kw["max_in_flight"] = max_in_flight
        if self.max_message_size is not None:
            kw["max_message_size"] = self.max_message_size
        where = f"{'tcps' if self.ssl else 'tcp'}://{self.host}:{self.port}"
        try:
            protocol = await asyncio.wait_for(
                connect_tcp(self.host, self.port, dispatcher, tls=self.ssl, server_hostname=self.server_hostname, **kw),
                self.connect_timeout)
        except TimeoutError:
            raise ConnectionError(f"cannot connect to {where}: no answer within {self.connect_timeout:g} s") from None
        except _ssl.SSLError as exc:
            raise ConnectionError(f"TLS handshake with {where} failed: {exc}") from exc
        except OSError as exc:
            raise ConnectionError(f"cannot connect to {where}: {exc.strerror or exc}") from exc
        self._protocol = protocol
        assert protocol.peer is not None  # set by connection_made
        protocol.peer.eager_writes = True
        return protocol.peer

    async def close(self) -> None:
        protocol = self._protocol
        self._closed = True
        if protocol is None:
            return
        protocol.close()
        await protocol.wait_closed()

    @property
    def closed(self) -> bool:
        p = self._protocol
        return self._closed or (p is not None and p.peer is not None and p.peer.closed)


def transport_from_url(url: str, *, ssl: _ssl.SSLContext | bool | None = None, server_hostname: str | None = None,
                       connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
                       max_message_size: int | None = None) -> TCPTransport:
    """The transport for a ``tcp://host:port`` or ``tcps://host:port`` URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("tcp", "tcps"):
        raise ValueError(f"not a tcp:// or tcps:// URL: {url!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"bad port in {url!r}: {exc}") from None
    if not parts.hostname or port is None:
        raise ValueError(f"a TCP URL needs a host and a port (tcp://host:port), got {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"a TCP URL has no path, query or fragment: {url!r}")
    if scheme == "tcps":
        if ssl is False:
            raise ValueError("tcps:// is TLS: ssl=False contradicts it (use tcp:// for plain TCP)")
        tls: _ssl.SSLContext | bool = ssl if isinstance(ssl, _ssl.SSLContext) else True
    else:
        if isinstance(ssl, _ssl.SSLContext) or ssl is True:
            raise ValueError("tcp:// is plain TCP: use tcps:// for TLS")
        tls = False
    return TCPTransport(parts.hostname, port, ssl=tls or None, server_hostname=server_hostname,
                        connect_timeout=connect_timeout, max_message_size=max_message_size)
