"""Pure helpers of the discovery steps: challenge parsing, the well-known URLs in the order
the MCP authorization spec gives them, resource matching and scope selection. No I/O here, so
every rule is testable on its own."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .models import OAuthMetadata, ProtectedResourceMetadata

__all__ = [
    "as_metadata_urls",
    "canonical_resource",
    "header_value",
    "origin",
    "parse_www_authenticate",
    "prm_urls",
    "resource_allowed",
    "select_scope",
    "union_scopes",
]

# auth-param = token BWS "=" BWS ( token / quoted-string )  (RFC 9110 §11.2)
_PARAM = re.compile(r'([A-Za-z0-9_.\-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))')
_SCHEME = re.compile(r"\s*([A-Za-z0-9_.\-]+)(?:\s+|$)")


def header_value(headers: Any, name: str) -> str | None:
    """``name`` from response headers given as a mapping (any case) or a list of pairs; several
    fields of that name are joined with ``, `` as HTTP does."""
    wanted = name.lower()
    items: Iterable[tuple[Any, Any]]
    if isinstance(headers, Mapping):
        get_list = getattr(headers, "get_list", None)
        if callable(get_list):  # httpx2.Headers keeps repeated fields apart
            values = get_list(name)
            return ", ".join(values) if values else None
        items = headers.items()
    else:
        items = headers
    found = []
    for key, value in items:
        k = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        if k.lower() == wanted:
            found.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    return ", ".join(found) if found else None


def parse_www_authenticate(value: str | None) -> tuple[str | None, dict[str, str]]:
    """The first challenge's scheme and its parameters (``resource_metadata``, ``scope``,
    ``error``...). Parameter names are case-insensitive; quoted values are unescaped."""
    if not value:
        return None, {}
    m = _SCHEME.match(value)
    scheme = m.group(1) if m and "=" not in m.group(1) else None
    params: dict[str, str] = {}
    for name, quoted, bare in _PARAM.findall(value):
        key = name.lower()
        if key not in params:
            params[key] = re.sub(r"\\(.)", r"\1", quoted) if quoted else bare
    return scheme, params


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (scheme and host lower-cased)."""
    p = urlsplit(url)
    return urlunsplit((p.scheme.lower(), p.netloc.lower(), "", "", ""))


def canonical_resource(url: str) -> str:
    """The canonical resource URI of an MCP server URL (RFC 8707, MCP spec): lower-case scheme
    and host, no fragment; the path kept as given (a lone ``/`` dropped)."""
    p = urlsplit(url)
    path = "" if p.path == "/" else p.path
    return urlunsplit((p.scheme.lower(), p.netloc.lower(), path, p.query, ""))


def resource_allowed(server_url: str, resource: str) -> bool:
    """Whether protected resource metadata naming ``resource`` may stand for ``server_url``:
    same origin, and the resource's path is the server's path or a parent of it."""
    s, r = urlsplit(canonical_resource(server_url)), urlsplit(canonical_resource(resource))
    if (s.scheme, s.netloc) != (r.scheme, r.netloc):
        return False
    rp = r.path.rstrip("/")
    sp = s.path.rstrip("/")
    return rp == "" or sp == rp or sp.startswith(rp + "/")


def prm_urls(server_url: str, challenge_url: str | None) -> list[str]:
    """Where to look for protected resource metadata (RFC 9728 §3; MCP spec): the URL of the
    401 challenge, then the path-based well-known URL, then the root one."""
    p = urlsplit(server_url)
    base = f"{p.scheme}://{p.netloc}"
    urls = [challenge_url] if challenge_url else []
    path = p.path.rstrip("/")
    if path:
        urls.append(f"{base}/.well-known/oauth-protected-resource{path}")
    urls.append(f"{base}/.well-known/oauth-protected-resource")
    return list(dict.fromkeys(urls))


def as_metadata_urls(issuer: str) -> list[str]:
    """Where to look for authorization server metadata, in the order of the MCP spec: for an
    issuer with a path, RFC 8414 path insertion, OIDC path insertion, then OIDC path appending;
    for a bare origin, RFC 8414 then OIDC."""
    p = urlsplit(issuer)
    base = f"{p.scheme}://{p.netloc}"
    path = p.path.rstrip("/")
    if path:
        return [
            f"{base}/.well-known/oauth-authorization-server{path}",
            f"{base}/.well-known/openid-configuration{path}",
            f"{base}{path}/.well-known/openid-configuration",
        ]
    return [f"{base}/.well-known/oauth-authorization-server", f"{base}/.well-known/openid-configuration"]


def union_scopes(first: str | None, second: str | None) -> str | None:
    """Both scope lists, in order, without duplicates (None when both are empty)."""
    words = [*(first or "").split(), *(second or "").split()]
    merged = list(dict.fromkeys(words))
    return " ".join(merged) if merged else None


def select_scope(challenge_scope: str | None, prm: ProtectedResourceMetadata | None,
                 asm: OAuthMetadata | None, grant_types: Iterable[str] | None) -> str | None:
    """The scope to request (MCP spec, scope selection): the 401/403 challenge's ``scope``,
    else everything the resource lists in ``scopes_supported``, else none at all (the parameter
    is omitted). ``offline_access`` is added (SEP-2207) only when the authorization server lists
    it and the client may use refresh tokens, and never otherwise."""
    if challenge_scope is not None:
        scope: str | None = challenge_scope
    elif prm is not None and prm.scopes_supported is not None:
        scope = " ".join(prm.scopes_supported)
    else:
        scope = None
    if (
        scope
        and asm is not None
        and "offline_access" in (asm.scopes_supported or ())
        and "refresh_token" in (grant_types or ())
    ):
        scope = union_scopes(scope, "offline_access")
    return scope or None
