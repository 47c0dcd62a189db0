"""HTTP proxies for the HTTP client transports: ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY``.

The official SDK's client goes through httpx, which honours these variables by default
(``trust_env``); a client moved to mcpfast behind a corporate proxy must keep working, so the
Streamable HTTP transport reads them the same way: ``HTTPS_PROXY`` for ``https://`` servers,
``HTTP_PROXY`` for ``http://`` ones, ``ALL_PROXY`` for both when the specific one is unset
(lower-case names too, as ``urllib.request.getproxies`` reads them), and ``NO_PROXY`` (curl's
rules: ``*``, a host or a domain and its subdomains, an IP address or a CIDR range, an optional
``:port``) names the servers reached directly.

Only ``http://`` proxies are spoken (what httpx speaks without extras): an ``http://`` server is
reached through it with absolute-form request targets (RFC 9112 3.2.2), an ``https://`` server
through a ``CONNECT`` tunnel (RFC 9110 9.3.6) with TLS to the server inside it, so the proxy
sees neither the messages nor the credentials. ``user:password@`` in the proxy URL is sent as
``Proxy-Authorization: Basic``. Another proxy scheme (``socks5://``...) is a ``ValueError``
rather than a silent direct connection.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import ssl as ssl_module
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies

__all__ = ["Proxy", "proxy_for", "bypassed", "MAX_CONNECT_RESPONSE"]

#: bytes of a proxy's answer to CONNECT read at most (its status line and headers)
MAX_CONNECT_RESPONSE = 16 * 1024


class Proxy:
    """An ``http://`` proxy: where it is and the ``Proxy-Authorization`` it wants (or None)."""

    __slots__ = ("url", "host", "port", "authorization")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise ValueError(f"unsupported proxy {url!r}: only http:// proxies are supported")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or 80
        self.authorization: str | None = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.authorization = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")

    def __repr__(self) -> str:
        return f"Proxy({self.host}:{self.port})"

    def header_lines(self) -> bytes:
        """The ``Proxy-Authorization`` header line (empty without credentials)."""
        return b"" if self.authorization is None else f"Proxy-Authorization: {self.authorization}\r\n".encode("latin-1")

    async def open(self, loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol], host: str,
                   port: int, ssl: ssl_module.SSLContext | None) -> asyncio.Protocol:
        """A connection to ``host:port`` through the proxy: for TLS a ``CONNECT`` tunnel with
        TLS to the server inside; else the proxy connection itself (absolute-form targets).
        Returns the protocol ``factory`` made, connected. ``OSError`` when the proxy refuses."""
        if ssl is None:
            _, proto = await loop.create_connection(factory, self.host, self.port)
            return proto
        tunnel = _Tunnel(loop)
        raw, _ = await loop.create_connection(lambda: tunnel, self.host, self.port)
        try:
            authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            raw.write(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n".encode("latin-1")
                      + self.header_lines() + b"\r\n")
            status, reason = await tunnel.answered
            if status != 200:
                raise OSError(f"the proxy {self.host}:{self.port} refused CONNECT {authority}: {status} {reason}")
            proto = factory()
            tls = await loop.start_tls(raw, proto, ssl, server_hostname=host)
        except BaseException:
            raw.close()
            raise
        if tls is None:  # pragma: no cover - only when the loop is closing
            raise OSError("the TLS handshake through the proxy did not complete")
        proto.connection_made(tls)
        return proto


class _Tunnel(asyncio.Protocol):
    """Reads the proxy's answer to ``CONNECT`` (nothing else comes before the TLS handshake)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.answered: asyncio.Future[tuple[int, str]] = loop.create_future()
        self._buf = b""

    def data_received(self, data: bytes) -> None:
        if self.answered.done():
            return
        self._buf += data
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_CONNECT_RESPONSE:
                self.answered.set_exception(OSError("the proxy's answer to CONNECT is too long"))
            return
        if end + 4 != len(self._buf):
            self.answered.set_exception(OSError("the proxy sent data behind its answer to CONNECT"))
            return
        line = self._buf.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            self.answered.set_exception(OSError(f"the proxy's answer to CONNECT is not HTTP: {line[:80]!r}"))
            return
        self.answered.set_result((int(parts[1]), parts[2] if len(parts) > 2 else ""))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answered.done():
            self.answered.set_exception(OSError(f"the proxy closed the connection before answering CONNECT{': ' + str(exc) if exc else ''}"))


def bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` (curl's rules, see the module docstring) names ``host:port``."""
    host = host.lower().strip("[]")
    try:
        addr: Any = ipaddress.ip_address(host)
    except ValueError:
        addr = None
    for entry in no_proxy.split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        want_port: int | None = None
        if entry.startswith("["):  # [v6] or [v6]:port
            inner, _, rest = entry[1:].partition("]")
            entry = inner
            if rest.startswith(":") and rest[1:].isdigit():
                want_port = int(rest[1:])
        elif entry.count(":") == 1:
            name, _, p = entry.partition(":")
            if p.isdigit():
                entry, want_port = name, int(p)
        if want_port is not None and want_port != port:
            continue
        if addr is not None:
            try:
                if addr in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry = entry.lstrip(".")
        if host == entry or host.endswith("." + entry):
            return True
    return False


def proxy_for(url: str, env: Mapping[str, str] | None = None) -> Proxy | None:
    """The proxy the environment names for ``url`` (None: connect directly). ``env``: the
    variables to read (default: the process environment, through ``urllib``)."""
    if env is None:
        found = getproxies()
    else:  # the same reading as getproxies(): lower-case wins, then upper-case
        found = {}
        for key, value in env.items():
            low = key.lower()
            if value and low.endswith("_proxy") and (key == low or low[:-6] not in found):
                found[low[:-6]] = value
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    chosen = found.get(scheme) or found.get("all")
    if not chosen:
        return None
    host = parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    if bypassed(host, port, found.get("no", "")):
        return None
    return Proxy(chosen)
