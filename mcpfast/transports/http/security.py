"""DNS-rebinding protection for the Streamable HTTP endpoint: ``Host`` and ``Origin`` checks.

Why: a web page on ``http://evil.example`` can make the victim's browser resolve
``evil.example`` to ``127.0.0.1`` (DNS rebinding) and then talk to a local MCP server as if it
were same-origin. The browser still sends ``Host: evil.example`` and ``Origin:
http://evil.example``, so a server that only answers to its own names defeats the attack. The MCP
transport spec says servers MUST validate ``Origin`` and answer 403 when it is present and
invalid; like the official SDK we check ``Host`` too (421 Misdirected Request when it is not ours).

``HostOriginGuard`` is built once per endpoint and asked once per request (``check``); it knows
nothing of the HTTP core, so both front ends and the core can use it. Nothing here is imported
by ``import mcpfast``.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "Rejection",
    "HostOriginGuard",
    "json_rpc_error_body",
    "is_loopback_host",
    "ENV_ALLOWED_HOSTS",
    "ENV_ALLOWED_ORIGINS",
    "ENV_DNS_REBINDING_PROTECTION",
    "TRANSPORT_ERROR",
]

#: extra ``Host`` patterns, comma-separated; added to ``allowed_hosts``
ENV_ALLOWED_HOSTS: Final = "MCPFAST_ALLOWED_HOSTS"
#: extra ``Origin`` patterns, comma-separated; added to ``allowed_origins``
ENV_ALLOWED_ORIGINS: Final = "MCPFAST_ALLOWED_ORIGINS"
#: ``1``/``0`` (also true/false, yes/no, on/off): decides when ``enabled`` is None
ENV_DNS_REBINDING_PROTECTION: Final = "MCPFAST_DNS_REBINDING_PROTECTION"

#: the JSON-RPC code of a rejection made by the transport before any message was read (the
#: implementation-defined server-error range; the TypeScript SDK answers transport refusals the same way)
TRANSPORT_ERROR: Final = -32000

_JSON_HEADERS: Final = (("content-type", "application/json"),)
_LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "[::1]"})
# "listen everywhere" addresses: they say nothing about the names clients use
_WILDCARD_BINDS: Final = frozenset({"", "0.0.0.0", "::", "[::]", "*"})
# the validated-value caches are cleared when they reach this size: a client cycling through
# distinct allowed spellings (ports, subdomains) cannot grow memory without bound
_CACHE_MAX: Final = 512
# a rejected value quoted back in an error message is cut to this many characters
_QUOTE_MAX: Final = 200
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class Rejection:
    """An HTTP answer that ends a request before it reaches the MCP layer; sent as is.

    ``body`` is JSON (a JSON-RPC error with ``"id": null`` or an OAuth error object) and
    ``headers`` already carry its ``content-type`` (and ``www-authenticate`` for auth
    challenges); the front end adds ``content-length``.
    """

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def json_rpc_error_body(code: int, message: str) -> bytes:
    """The body of a transport-level JSON-RPC error: no request was read, so ``id`` is null."""
    return json.dumps(
        {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}},
        ensure_ascii=False,
    ).encode()


def _split_host_port(value: str) -> tuple[str, str | None]:
    """``"Example.COM:8080"`` -> ``("example.com", "8080")``; IPv6 keeps its brackets.

    A bare IPv6 literal (``"::1"``, not valid in a Host header but natural in a setting) is
    bracketed so that patterns and headers compare alike.
    """
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value, None
        rest = value[end + 1 :]
        return value[: end + 1], (rest[1:] if rest.startswith(":") else None)
    if value.count(":") > 1:  # bare IPv6
        return f"[{value}]", None
    host, sep, port = value.partition(":")
    return host, (port if sep else None)


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` (and ``*.localhost``, RFC 6761), ``127.0.0.0/8`` and ``::1``.

    Accepts a bind address or a Host value, with or without brackets and port.
    """
    if host is None:
        return False
    name, _ = _split_host_port(host)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _env_list(name: str) -> list[str]:
    raw = os.environ.get(name, "")
    return [item.strip() for item in raw.split(",") if item.strip()]


def _env_flag(name: str) -> bool | None:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return None
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{name} must be 1 or 0 (or true/false, yes/no, on/off), got {raw!r}")


def _quote(value: str) -> str:
    """A client-supplied value, shortened, for an error message (json.dumps escapes the rest)."""
    if len(value) > _QUOTE_MAX:
        value = value[:_QUOTE_MAX] + "..."
    return repr(value)


class _HostPattern:
    """One ``allowed_hosts`` entry.

    ``name`` exact (``api.example.com``), ``*.example.com`` (any subdomain, not the bare
    domain) or ``*`` (any host); the port, if written, is exact (``:8080``) or ``:*``. A pattern
    without a port accepts any port: the name is what DNS rebinding forges, not the port.
    """

    __slots__ = ("name", "suffix", "port")

    def __init__(self, pattern: str) -> None:
        name, port = _split_host_port(pattern)
        if not name:
            raise ValueError(f"allowed host pattern {pattern!r} has no host name")
        self.suffix: str | None = None
        if name == "*":
            self.name: str | None = None
        elif name.startswith("*."):
            self.name = None
            self.suffix = name[1:]  # ".example.com"
        else:
            self.name = name
        if port is not None and port not in ("*", "-") and not port.isdigit():
            raise ValueError(f"allowed host pattern {pattern!r}: the port must be a number or '*'")
        self.port = None if port in (None, "*") else port

    def matches(self, name: str, port: str | None) -> bool:
        if self.port is not None and port != self.port:
            return False
        if self.name is not None:
            return name == self.name
        if self.suffix is not None:
            return name.endswith(self.suffix) and len(name) > len(self.suffix)
        return True


class _OriginPattern:
    """One ``allowed_origins`` entry: ``scheme://host[:port]``.

    Browsers send an origin in canonical form (lower case, default port omitted), so an entry
    without a port matches only the portless origin, as an exact string would; ``:*`` accepts
    any port, the host may be ``*.example.com``, and ``*`` alone accepts every origin.
    """

    __slots__ = ("scheme", "host")

    def __init__(self, pattern: str) -> None:
        pattern = pattern.strip().lower().rstrip("/")
        if pattern == "*":
            self.scheme: str | None = None
            self.host: _HostPattern | None = None
            return
        scheme, sep, rest = pattern.partition("://")
        if not sep or not scheme or not rest or "/" in rest:
            raise ValueError(
                f"allowed origin pattern {pattern!r} must look like 'https://app.example.com[:port]' (or '*')"
            )
        self.scheme = scheme
        name, port = _split_host_port(rest)
        # "no port" must match "no port" only, unlike a host pattern: spell it with a sentinel
        self.host = _HostPattern(name + ":" + (port if port is not None else "-"))

    def matches(self, origin: str) -> bool:
        if self.scheme is None or self.host is None:
            return True
        scheme, sep, rest = origin.partition("://")
        if not sep or scheme != self.scheme or "/" in rest:
            return False
        name, port = _split_host_port(rest)
        if port is not None and not port.isdigit():
            return False
        return self.host.matches(name, port if port is not None else "-")


class HostOriginGuard:
    """Checks ``Host`` and ``Origin`` against allow-lists (DNS-rebinding protection).

    ``enabled``:
      * ``True``/``False`` force it on or off.
      * ``None`` (the default) reads ``MCPFAST_DNS_REBINDING_PROTECTION`` (``1``/``0``); when that
        is unset, the guard is on when ``bind_host`` is a loopback address or name
        (``127.0.0.0/8``, ``::1``, ``localhost``) **or unknown** (``None``, e.g. an ASGI app whose
        server address the app never learns: the official SDK's ASGI app likewise defaults to a
        loopback host and so to protection on), and also when allow-lists were given explicitly
        (argument or environment): listing names says you want them enforced. A server bound to
        a non-loopback address (``0.0.0.0``, a LAN IP) is off by default, as in the SDK: it is
        meant to be reached under names we cannot guess; set ``allowed_hosts`` to protect it.

    When on, the accepted ``Host`` values are ``localhost``, ``127.0.0.1`` and ``[::1]`` (any
    port), any other loopback IP literal (an IP literal cannot be rebound), the bind address
    itself when it is a specific one, plus ``allowed_hosts`` and ``MCPFAST_ALLOWED_HOSTS``. The
    accepted ``Origin`` values are ``http(s)://localhost``, ``http(s)://127.0.0.1`` and
    ``http(s)://[::1]`` (any port), plus ``allowed_origins`` and ``MCPFAST_ALLOWED_ORIGINS``.

    Patterns: hosts ``name``, ``name:port``, ``name:*``, ``*.example.com[:port]``, ``*``; a host
    pattern without a port accepts any port. Origins ``scheme://name[:port]``, ``scheme://name:*``,
    ``scheme://*.example.com``, ``*``; an origin pattern without a port accepts only the
    portless origin. Names compare case-insensitively.

    A request without ``Origin`` passes (non-browser clients do not send one); a request without
    ``Host`` is refused (HTTP/1.1 requires it). A bad ``Host`` gets 421, a bad ``Origin`` 403
    (MCP transport spec), both with a JSON-RPC error body naming the rejected value and the
    setting that would accept it.
    """

    __slots__ = (
        "enabled",
        "bind_host",
        "_reason",
        "_host_patterns",
        "_origin_patterns",
        "_hosts_ok",
        "_origins_ok",
    )

    def __init__(
        self,
        *,
        bind_host: str | None,
        allowed_hosts: Iterable[str] | None = None,
        allowed_origins: Iterable[str] | None = None,
        enabled: bool | None = None,
    ) -> None:
        # a single string would be iterated character by character: take it as one entry
        if isinstance(allowed_hosts, str):
            allowed_hosts = [allowed_hosts]
        if isinstance(allowed_origins, str):
            allowed_origins = [allowed_origins]
        extra_hosts = [*(allowed_hosts or ()), *_env_list(ENV_ALLOWED_HOSTS)]
        extra_origins = [*(allowed_origins or ()), *_env_list(ENV_ALLOWED_ORIGINS)]
        self.bind_host = bind_host
        if enabled is None:
            enabled = _env_flag(ENV_DNS_REBINDING_PROTECTION)
            if enabled is not None:
                self._reason = f"{ENV_DNS_REBINDING_PROTECTION}={int(enabled)}"
            elif bind_host is None:
                enabled = True
                self._reason = "the bind address is unknown (e.g. an ASGI app), so loopback is assumed"
            elif is_loopback_host(bind_host):
                enabled = True
                self._reason = f"the server is bound to the loopback address {bind_host}"
            else:
                enabled = bool(extra_hosts or extra_origins)
                self._reason = "allow-lists were given"
        else:
            self._reason = f"dns_rebinding_protection={enabled}"
        #: whether ``check`` does anything; a caller may skip calling it when False
        self.enabled: bool = bool(enabled)

        host_patterns = ["localhost", "127.0.0.1", "[::1]"]
        if bind_host is not None and bind_host.strip().lower() not in _WILDCARD_BINDS:
            host_patterns.append(bind_host)
        origin_patterns = [f"{scheme}://{name}:*" for scheme in ("http", "https") for name in _LOOPBACK_NAMES]
        origin_patterns += [f"{scheme}://{name}" for scheme in ("http", "https") for name in _LOOPBACK_NAMES]
        # malformed entries fail here, at startup, not on the first request
        self._host_patterns = [_HostPattern(p) for p in (*host_patterns, *extra_hosts)]
        self._origin_patterns = [_OriginPattern(p) for p in (*origin_patterns, *extra_origins)]
        # raw header values already found acceptable: the hot path is two set lookups
        self._hosts_ok: set[str] = set()
        self._origins_ok: set[str] = {""}

    @classmethod
    def from_settings(cls, settings: Any) -> HostOriginGuard:
        """Build from an ``HTTPSettings`` (duck-typed: ``bind_host``, ``allowed_hosts``,
        ``allowed_origins``, ``dns_rebinding_protection``)."""
        return cls(
            bind_host=getattr(settings, "bind_host", None),
            allowed_hosts=getattr(settings, "allowed_hosts", None),
            allowed_origins=getattr(settings, "allowed_origins", None),
            enabled=getattr(settings, "dns_rebinding_protection", None),
        )

    def check(self, host: str | None, origin: str | None) -> Rejection | None:
        """None when the request may proceed, else the ``Rejection`` to send.

        ``host`` and ``origin`` are the raw header values (None when absent).
        """
        if not self.enabled:
            return None
        if host in self._hosts_ok and (origin is None or origin in self._origins_ok):
            return None
        return self._check_slow(host, origin)

    def check_target(self, authority: str) -> Rejection | None:
        """None when the authority of an absolute-form request target (``POST
        http://host:port/mcp``) may proceed, else the ``Rejection`` (421) to send.

        RFC 9112 section 3.2.2 makes that authority, not ``Host``, the host a server must use
        for such a request, so a guard that checked only ``Host`` could be walked around with
        it: it is held to the same allow-list. The front end that parses the request target
        calls this, as well as (not instead of) ``check``.
        """
        if not self.enabled or authority in self._hosts_ok:
            return None
        if authority and self._host_allowed(authority):
            if len(self._hosts_ok) >= _CACHE_MAX:
                self._hosts_ok.clear()
            self._hosts_ok.add(authority)
            return None
        message = (
            f"Invalid request target authority {_quote(authority)}: DNS-rebinding protection is "
            f"on ({self._reason}) and accepts only localhost, 127.0.0.1, [::1] and the allowed "
            f"hosts, in the Host header and in an absolute-form request target alike. Send the "
            f"request in origin form (POST /path), add the host to allowed_hosts or "
            f"{ENV_ALLOWED_HOSTS}, or turn the protection off with dns_rebinding_protection=False "
            f"or {ENV_DNS_REBINDING_PROTECTION}=0."
        )
        return Rejection(421, json_rpc_error_body(TRANSPORT_ERROR, message), _JSON_HEADERS)

    def _check_slow(self, host: str | None, origin: str | None) -> Rejection | None:
        if host is None or host not in self._hosts_ok:
            if not host or not self._host_allowed(host):
                return self._reject_host(host)
            if len(self._hosts_ok) >= _CACHE_MAX:
                self._hosts_ok.clear()
            self._hosts_ok.add(host)
        if origin is not None and origin not in self._origins_ok:
            if not self._origin_allowed(origin):
                return self._reject_origin(origin)
            if len(self._origins_ok) >= _CACHE_MAX:
                self._origins_ok.clear()
                self._origins_ok.add("")
            self._origins_ok.add(origin)
        return None

    def _host_allowed(self, host: str) -> bool:
        name, port = _split_host_port(host)
        if port is not None and not port.isdigit():
            return False
        if any(p.matches(name, port) for p in self._host_patterns):
            return True
        # an IP literal cannot be the target of DNS rebinding; loopback ones are surely ours
        if name[:1] == "[":
            if not name.endswith("]"):
                return False
            name = name[1:-1]
        elif not name[:1].isdigit():
            return False
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def _origin_allowed(self, origin: str) -> bool:
        origin = origin.strip().lower()
        # "null" (sandboxed frames, file: pages) never matches a pattern but "*"
        return any(p.matches(origin) for p in self._origin_patterns)

    def _reject_host(self, host: str | None) -> Rejection:
        if not host:
            message = (
                "Missing Host header: DNS-rebinding protection is on "
                f"({self._reason}) and needs one. Send a Host header, or turn the protection "
                f"off with dns_rebinding_protection=False or {ENV_DNS_REBINDING_PROTECTION}=0."
            )
        else:
            name, _ = _split_host_port(host)
            message = (
                f"Invalid Host header {_quote(host)}: DNS-rebinding protection is on "
                f"({self._reason}) and accepts only localhost, 127.0.0.1, [::1] and the "
                f"allowed hosts. To accept it, add it to allowed_hosts (e.g. "
                f"allowed_hosts=[{_quote(name)}]) or to the {ENV_ALLOWED_HOSTS} environment "
                f"variable (comma-separated); or turn the protection off with "
                f"dns_rebinding_protection=False or {ENV_DNS_REBINDING_PROTECTION}=0."
            )
        # 421 Misdirected Request: this server does not answer to that name (as the SDK does)
        return Rejection(421, json_rpc_error_body(TRANSPORT_ERROR, message), _JSON_HEADERS)

    def _reject_origin(self, origin: str) -> Rejection:
        message = (
            f"Invalid Origin header {_quote(origin)}: DNS-rebinding protection is on "
            f"({self._reason}) and accepts only http(s)://localhost, 127.0.0.1 and [::1] "
            f"origins and the allowed origins. To accept it, add it to allowed_origins (e.g. "
            f"allowed_origins=[{_quote(origin.strip().lower().rstrip('/'))}]) or to the "
            f"{ENV_ALLOWED_ORIGINS} environment variable (comma-separated); or turn the "
            f"protection off with dns_rebinding_protection=False or {ENV_DNS_REBINDING_PROTECTION}=0."
        )
        # the MCP transport spec: an Origin present and invalid gets 403
        return Rejection(403, json_rpc_error_body(TRANSPORT_ERROR, message), _JSON_HEADERS)

    def __repr__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"<HostOriginGuard {state}: {self._reason}>"
