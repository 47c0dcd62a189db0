"""Authentication for the Streamable HTTP endpoint: a static bearer token, or an OAuth 2.1
resource server (MCP authorization spec; RFC 6750, RFC 8707, RFC 9728).

``HTTPSettings.auth`` holds an *authenticator*: an object with

* ``well_known() -> dict[str, bytes]``: paths the transport serves with GET, without
  authentication, as ``application/json`` (RFC 9728 protected-resource metadata), and
* ``authenticate(authorization) -> AccessToken | Rejection | Awaitable[...]``: given the raw
  ``Authorization`` header (None when absent), either the verified ``AccessToken``, or the
  ``Rejection`` (401/403/400/503 with ``WWW-Authenticate``) to send as is. It answers with a plain
  value whenever it can decide without awaiting (a static token, a cached token, a missing or
  malformed header), so the hot path creates no coroutine; only a token seen for the first time
  returns a coroutine, which the caller must await (or ``close()``).

The transport puts the ``AccessToken`` in ``mcpfast.requestvars.access_token`` while the request
is handled; tools read it with ``get_access_token()``.

Token values are never logged, never used as cache keys (a SHA-256 digest is), and are hidden
from ``AccessToken``'s repr.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, cast
from urllib.parse import urlsplit

from ... import requestvars
from .security import Rejection

__all__ = [
    "AccessToken",
    "TokenVerifier",
    "Authenticator",
    "BearerAuth",
    "OAuthResourceServer",
    "JWTVerifier",
    "IntrospectionVerifier",
    "get_access_token",
    "protected_resource_metadata_url",
    "AuthResult",
]

logger = logging.getLogger(__name__)

_WELL_KNOWN: Final = "/.well-known/oauth-protected-resource"
_JSON: Final = ("content-type", "application/json")
# error responses must not be cached by intermediaries (RFC 6750 §5.3 asks the same of tokens)
_NO_STORE: Final = ("cache-control", "no-store")


@dataclass(slots=True)
class AccessToken:
    """A verified access token and what it grants.

    The fields are those of the official SDK's ``AccessToken`` plus ``issuer``; a verifier
    written for the SDK may return either class (``OAuthResourceServer`` converts).
    """

    #: the bearer token itself (hidden from repr: tokens are never logged)
    token: str = field(repr=False)
    #: the OAuth client the token was issued to (``client_id`` / ``azp`` claim)
    client_id: str | None = None
    #: granted scopes
    scopes: list[str] = field(default_factory=list)
    #: expiry, seconds since the epoch (``exp``); None: does not expire
    expires_at: int | None = None
    #: the resource(s) the token was issued for: RFC 8707 resource indicator / ``aud``
    resource: str | list[str] | None = None
    #: the authorization server that issued it (``iss``)
    issuer: str | None = None
    #: the resource owner (``sub``); unique only per issuer
    subject: str | None = None
    #: every other claim the verifier knows (JWT payload, introspection response)
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def principal(self) -> tuple[str | None, str | None, str | None]:
        """``(client_id, issuer, subject)``: who the token speaks for (e.g. a session's owner)."""
        return (self.client_id, self.issuer, self.subject)


#: what ``authenticate`` decides
AuthResult = AccessToken | Rejection


class TokenVerifier(Protocol):
    """Checks a bearer token (signature, introspection, a database...): the SDK's interface.

    Return None when the token is not valid. ``OAuthResourceServer`` then checks expiry,
    issuer, audience and scopes itself, whatever the verifier did.
    """

    async def verify_token(self, token: str) -> AccessToken | None: ...


class Authenticator(Protocol):
    """What ``HTTPSettings.auth`` holds (``BearerAuth``, ``OAuthResourceServer``, or your own)."""

    def well_known(self) -> dict[str, bytes]: ...

    def authenticate(self, authorization: str | None) -> AuthResult | Awaitable[AuthResult]: ...


def get_access_token() -> AccessToken | None:
    """The verified access token of the HTTP request being handled, or None (no auth, or not
    inside a request). Call it from a tool, resource or prompt handler."""
    return cast("AccessToken | None", requestvars.access_token.get())


# -- helpers -------------------------------------------------------------------------------


def _bearer_token(authorization: str | None) -> str | None | Literal[False]:
    """The token of an ``Authorization: Bearer <token>`` header; None when there are no bearer
    credentials (header absent, empty, another scheme); False when malformed.

    The scheme is case-insensitive (RFC 7235 §2.1), separated by one or more spaces.
    """
    if not authorization:
        return None
    # the usual spellings first: no lower(), no split on the hot path
    if authorization.startswith("Bearer ") or authorization.startswith("bearer "):
        token = authorization[7:]
    else:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
    token = token.strip(" ")
    if not token:
        return None
    # RFC 6750 b64token has no whitespace: "Bearer a b" is not one token
    if " " in token or "\t" in token:
        return False
    return token


_sha256 = hashlib.sha256


def _digest(token: str) -> bytes | None:
    """SHA-256 of the token; None if it cannot be encoded (a lone surrogate)."""
    try:
        return _sha256(token.encode()).digest()
    except UnicodeEncodeError:
        return None


def _quoted(text: str) -> str:
    """A value fit for a quoted-string in ``WWW-Authenticate`` (RFC 6750: no ``"`` or ``\\``)."""
    return "".join(c for c in text if c not in '"\\' and " " <= c <= "~")


def _oauth_body(error: str, description: str) -> bytes:
    return json.dumps({"error": error, "error_description": description}).encode()


def protected_resource_metadata_url(resource_server_url: str) -> str:
    """RFC 9728 §3.1: ``https://h/mcp`` -> ``https://h/.well-known/oauth-protected-resource/mcp``."""
    parts = urlsplit(resource_server_url)
    path = parts.path if parts.path != "/" else ""
    return f"{parts.scheme}://{parts.netloc}{_WELL_KNOWN}{path}"


def _canonical_url(value: str) -> str:
    """Compare resource URLs as URLs: scheme and host case-insensitive, default port dropped,
    trailing slash ignored. Non-URL audiences ("api://x", plain names) compare exactly."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return value
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return value
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != (443 if parts.scheme == "https" else 80):
        host = f"{host}:{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{host}{parts.path.rstrip('/')}{query}"


def _coerce_token(result: Any, token: str) -> AccessToken:
    """Accept our ``AccessToken`` or anything shaped like the SDK's (pydantic) one."""
    if isinstance(result, AccessToken):
        if not result.token:
            result.token = token
        return result
    claims = dict(getattr(result, "claims", None) or {})
    issuer = getattr(result, "issuer", None) or claims.get("iss")
    resource = getattr(result, "resource", None)
    if resource is None:
        resource = claims.get("aud")
    return AccessToken(
        token=getattr(result, "token", None) or token,
        client_id=getattr(result, "client_id", None),
        scopes=list(getattr(result, "scopes", None) or ()),
        expires_at=getattr(result, "expires_at", None),
        resource=resource,
        issuer=issuer,
        subject=getattr(result, "subject", None) or claims.get("sub"),
        claims=claims,
    )


# -- static bearer token -----------------------------------------------------------------------


class BearerAuth:
    """Static bearer token(s): the simplest way to keep strangers out of a private server.

    ``tokens`` is one token, an iterable of tokens, or a mapping ``token -> AccessToken`` (or
    ``token -> scopes``) when tools should see who called (``get_access_token()``). Tokens are
    compared in constant time (``hmac.compare_digest``; with several tokens, a SHA-256 digest
    picks the candidate first). ``authenticate`` never awaits.

    A request without credentials gets 401 ``WWW-Authenticate: Bearer``; a wrong token 401 with
    ``error="invalid_token"``; a malformed header 400 ``error="invalid_request"``.
    """

    __slots__ = ("_single", "_single_token", "_single_header", "_by_digest", "_missing", "_invalid", "_malformed")

    def __init__(
        self,
        tokens: str | Iterable[str] | Mapping[str, AccessToken | Iterable[str] | None],
    ) -> None:
        if isinstance(tokens, str):
            tokens = [tokens]
        entries: dict[str, AccessToken] = {}
        if isinstance(tokens, Mapping):
            for value, grant in tokens.items():
                if isinstance(grant, AccessToken):
                    entries[value] = grant if grant.token == value else _replace_token(grant, value)
                elif isinstance(grant, str):  # "read write": one space-separated scope string
                    entries[value] = AccessToken(token=value, scopes=grant.split())
                else:
                    entries[value] = AccessToken(token=value, scopes=list(grant or ()))
        else:
            for value in tokens:
                entries[value] = AccessToken(token=value)
        if not entries:
            raise ValueError("BearerAuth needs at least one token")
        for value in entries:
            if not isinstance(value, str) or _bearer_token("Bearer " + value) != value:
                raise ValueError("BearerAuth tokens must be non-empty strings without whitespace")
            if _digest(value) is None:
                raise ValueError("BearerAuth tokens must be encodable as UTF-8")
        self._by_digest: dict[bytes, tuple[bytes, AccessToken]] = {
            cast(bytes, _digest(v)): (v.encode(), at) for v, at in entries.items()
        }
        # one token (the common case): compare directly, no digest needed
        self._single: tuple[bytes, AccessToken] | None = (
            next(iter(self._by_digest.values())) if len(entries) == 1 else None
        )
        self._single_token = self._single[0] if self._single else b""
        # the header as clients usually spell it, compared whole first (the scheme is public)
        self._single_header = ("Bearer " + self._single_token.decode()) if self._single else "\x00"
        self._missing = Rejection(
            401,
            _oauth_body("invalid_token", "Authentication required: send an 'Authorization: Bearer <token>' header"),
            (_JSON, ("www-authenticate", "Bearer"), _NO_STORE),
        )
        self._invalid = Rejection(
            401,
            _oauth_body("invalid_token", "The bearer token is not valid"),
            (
                _JSON,
                ("www-authenticate", 'Bearer error="invalid_token", error_description="The bearer token is not valid"'),
                _NO_STORE,
            ),
        )
        self._malformed = Rejection(
            400,
            _oauth_body("invalid_request", "Malformed Authorization header: expected 'Bearer <token>'"),
            (_JSON, ("www-authenticate", 'Bearer error="invalid_request"'), _NO_STORE),
        )

    def well_known(self) -> dict[str, bytes]:
        """No metadata: a static token is not discoverable."""
        return {}

    def authenticate(self, authorization: str | None) -> AuthResult:
        """The ``AccessToken`` of a known token, else the ``Rejection`` to send (never awaits)."""
        if self._single is not None and authorization is not None:
            try:
                if hmac.compare_digest(authorization, self._single_header):
                    return self._single[1]
            except TypeError:  # a non-ASCII str: the general path decides
                pass
        token = _bearer_token(authorization)
        if token is None:
            return self._missing
        if token is False:
            return self._malformed
        try:
            presented = token.encode()
        except UnicodeEncodeError:
            return self._invalid
        if self._single is not None:
            if hmac.compare_digest(presented, self._single_token):
                return self._single[1]
            return self._invalid
        entry = self._by_digest.get(hashlib.sha256(presented).digest())
        if entry is not None and hmac.compare_digest(presented, entry[0]):
            return entry[1]
        return self._invalid

    def __repr__(self) -> str:
        return f"<BearerAuth {len(self._by_digest)} token(s)>"


def _replace_token(grant: AccessToken, token: str) -> AccessToken:
    return AccessToken(
        token=token,
        client_id=grant.client_id,
        scopes=list(grant.scopes),
        expires_at=grant.expires_at,
        resource=grant.resource,
        issuer=grant.issuer,
        subject=grant.subject,
        claims=dict(grant.claims),
    )


# -- OAuth 2.1 resource server --------------------------------------------------------------------


class OAuthResourceServer:
    """The MCP server as an OAuth 2.1 resource server.

    * Serves RFC 9728 protected-resource metadata at ``/.well-known/oauth-protected-resource``
      and at the path-suffixed form ``/.well-known/oauth-protected-resource<path of the resource
      URL>`` (clients try the ``resource_metadata`` of the challenge, then the suffixed path, then
      the root).
    * Answers a request without a token 401 ``WWW-Authenticate: Bearer resource_metadata="...",
      scope="..."``; an invalid, expired, foreign-audience or foreign-issuer token 401 with
      ``error="invalid_token"`` and ``error_description``; a token lacking a required scope 403
      ``error="insufficient_scope"`` with the required ``scope`` (clients step up).
    * Asks ``verifier`` (a ``TokenVerifier``, or an async function ``token -> AccessToken |
      None``) about each token it has not seen, then applies its own checks to whatever the
      verifier returned: expiry (``expires_at`` with ``leeway`` seconds of clock skew), issuer
      (when ``issuer`` is set), audience (RFC 8707: the token's ``resource`` must name this
      server; ``audience`` defaults to ``resource_server_url``; ``audience=False`` turns the
      check off, which the MCP spec forbids for tokens that may have been issued for other
      servers) and ``required_scopes``.
    * Remembers verified tokens (keyed by the SHA-256 digest of ``Bearer <token>``, never the
      token text) in a bounded LRU (``cache_size``),
      each until its expiry or ``cache_ttl`` seconds, whichever is first, so a known token is
      decided synchronously; rejected tokens are remembered ``negative_cache_ttl`` seconds (a
      separate bounded table, so a flood of bad tokens neither reaches the verifier each time nor
      evicts good entries). Concurrent requests bearing the same unknown token share one
      verifier call. A verifier that raises gets 503 and nothing is cached.

    ``cache_ttl`` bounds how long a token revoked at the authorization server keeps working
    here; lower it (0 disables the cache) if your verifier does introspection for revocation.
    """

    def __init__(
        self,
        verifier: TokenVerifier | Callable[[str], Awaitable[Any]],
        *,
        resource_server_url: str,
        authorization_servers: Sequence[str],
        required_scopes: Iterable[str] = (),
        scopes_supported: Sequence[str] | None = None,
        audience: str | Sequence[str] | Literal[False] | None = None,
        issuer: str | None = None,
        resource_name: str | None = None,
        resource_documentation: str | None = None,
        leeway: float = 60,
        cache_size: int = 4096,
        cache_ttl: float = 60.0,
        negative_cache_ttl: float = 10.0,
        extra_metadata: Mapping[str, Any] | None = None,
    ) -> None:
        parts = urlsplit(resource_server_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            raise ValueError(
                f"resource_server_url must be an absolute http(s) URL without fragment, "
                f"e.g. 'https://mcp.example.com/mcp'; got {resource_server_url!r}"
            )
        if isinstance(authorization_servers, str):
            authorization_servers = [authorization_servers]
        if not authorization_servers:
            raise ValueError("authorization_servers needs at least one issuer URL (RFC 9728)")
        verify = getattr(verifier, "verify_token", None)
        if verify is None:
            if not callable(verifier):
                raise TypeError("verifier must have an async verify_token(token) method or be an async function")
            verify = verifier
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        self._verify: Callable[[str], Awaitable[Any]] = verify
        self.resource_server_url = resource_server_url
        self.authorization_servers = list(authorization_servers)
        self.required_scopes: tuple[str, ...] = tuple(required_scopes)
        self.issuer = issuer
        self.leeway = float(leeway)
        self.cache_size = cache_size
        self.cache_ttl = float(cache_ttl)
        self.negative_cache_ttl = float(negative_cache_ttl)
        self._required = frozenset(self.required_scopes)
        if audience is False:
            self._audiences: frozenset[str] | None = None
        elif audience is None:
            self._audiences = frozenset({_canonical_url(resource_server_url)})
        elif isinstance(audience, str):
            self._audiences = frozenset({_canonical_url(audience)})
        else:
            self._audiences = frozenset(_canonical_url(a) for a in audience)

        #: the RFC 9728 metadata URL announced in ``WWW-Authenticate``
        self.resource_metadata_url = protected_resource_metadata_url(resource_server_url)
        if scopes_supported is None and self.required_scopes:
            scopes_supported = list(self.required_scopes)
        metadata: dict[str, Any] = {
            "resource": resource_server_url,
            "authorization_servers": self.authorization_servers,
            "bearer_methods_supported": ["header"],  # MCP: tokens only in the Authorization header
        }
        if scopes_supported is not None:
            metadata["scopes_supported"] = list(scopes_supported)
        if resource_name is not None:
            metadata["resource_name"] = resource_name
        if resource_documentation is not None:
            metadata["resource_documentation"] = resource_documentation
        if extra_metadata:
            metadata.update(extra_metadata)
        self.metadata = metadata
        body = json.dumps(metadata).encode()
        suffixed = urlsplit(self.resource_metadata_url).path
        self._well_known = {_WELL_KNOWN: body, suffixed: body}

        self._cache: OrderedDict[bytes, tuple[float, AccessToken]] = OrderedDict()
        self._negative: OrderedDict[bytes, tuple[float, Rejection]] = OrderedDict()
        # verifications under way, by digest: concurrent requests bearing the same new token
        # (a client opening many connections at once) share one verifier call
        self._inflight: dict[bytes, asyncio.Future[AuthResult]] = {}
        self._missing = self._reject(
            401, None, "Authentication required: send an 'Authorization: Bearer <token>' header"
        )
        self._malformed = self._reject(
            400, "invalid_request", "Malformed Authorization header: expected 'Bearer <token>'"
        )
        self._invalid = self._reject(401, "invalid_token", "The access token is invalid")
        self._expired = self._reject(401, "invalid_token", "The access token expired")
        self._wrong_audience = self._reject(
            401, "invalid_token", "The access token was not issued for this resource (audience mismatch)"
        )
        self._wrong_issuer = self._reject(
            401, "invalid_token", "The access token was not issued by the expected issuer"
        )
        self._insufficient = self._reject(
            403, "insufficient_scope", f"Required scope: {' '.join(self.required_scopes)}"
        )
        self._unavailable = Rejection(
            503,
            _oauth_body("temporarily_unavailable", "Token verification failed; try again later"),
            (_JSON, ("retry-after", "1"), _NO_STORE),
        )

    @classmethod
    def from_sdk(cls, auth_settings: Any, token_verifier: Any, **kw: Any) -> OAuthResourceServer:
        """Build from the official SDK's ``AuthSettings`` and ``TokenVerifier`` (duck-typed), so
        ``MCPServer(token_verifier=..., auth=AuthSettings(...))`` ports unchanged.

        ``issuer_url`` becomes the one authorization server, ``required_scopes`` and
        ``service_documentation_url`` carry over, and ``validate_token_resource`` decides the
        audience check as in the SDK (True: on; False or unset: off, unset with a warning).
        ``kw`` overrides any argument of the constructor.
        """
        resource = getattr(auth_settings, "resource_server_url", None)
        if resource is None:
            raise ValueError(
                "mcpfast serves the OAuth resource-server role only: set AuthSettings.resource_server_url "
                "(e.g. 'https://mcp.example.com/mcp'); run the authorization server separately"
            )
        validate = getattr(auth_settings, "validate_token_resource", None)
        if validate is None and "audience" not in kw:
            logger.warning(
                "AuthSettings.validate_token_resource is unset: tokens are not checked against %s "
                "(set it to True, or pass audience=)",
                resource,
            )
        docs = getattr(auth_settings, "service_documentation_url", None)
        args: dict[str, Any] = {
            "resource_server_url": str(resource),
            "authorization_servers": [str(auth_settings.issuer_url)],
            "required_scopes": list(getattr(auth_settings, "required_scopes", None) or ()),
            "audience": None if validate else False,
            "resource_documentation": str(docs) if docs is not None else None,
        }
        args.update(kw)
        return cls(token_verifier, **args)

    # the Authenticator interface

    def well_known(self) -> dict[str, bytes]:
        """RFC 9728 metadata at the root well-known path and the resource-suffixed one."""
        return dict(self._well_known)

    def authenticate(self, authorization: str | None) -> AuthResult | Awaitable[AuthResult]:
        """A plain ``AccessToken``/``Rejection`` when decided without awaiting (no or malformed
        header, cached token), else a coroutine that verifies, checks and caches."""
        if not authorization:
            return self._missing
        # the cache is keyed by the digest of the canonical header "Bearer <token>": the usual
        # spelling hits without parsing the header at all
        try:
            key = _sha256(authorization.encode()).digest()
        except UnicodeEncodeError:
            return self._invalid
        entry = self._cache.get(key)
        if entry is not None:
            if time.time() < entry[0]:
                self._cache.move_to_end(key)
                return entry[1]
            del self._cache[key]
        return self._authenticate_slow(authorization, key)

    def _authenticate_slow(self, authorization: str, key: bytes) -> AuthResult | Awaitable[AuthResult]:
        token = _bearer_token(authorization)
        if token is None:
            return self._missing
        if token is False:
            return self._malformed
        canonical = "Bearer " + token
        if canonical != authorization:  # "bearer  tok" and the like: look up the usual spelling
            key = _sha256(canonical.encode()).digest()
            entry = self._cache.get(key)
            if entry is not None:
                if time.time() < entry[0]:
                    self._cache.move_to_end(key)
                    return entry[1]
                del self._cache[key]
        bad = self._negative.get(key)
        if bad is not None:
            if time.time() < bad[0]:
                return bad[1]
            del self._negative[key]
        return self._verify_shared(token, key)

    # the slow path

    async def _verify_shared(self, token: str, key: bytes) -> AuthResult:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._verify_and_cache(token, key))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._forget_inflight(key, done))
        # shielded: a request that goes away does not cancel the check others wait for
        return await asyncio.shield(task)

    def _forget_inflight(self, key: bytes, task: asyncio.Future[AuthResult]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]

    async def _verify_and_cache(self, token: str, key: bytes) -> AuthResult:
        try:
            result = await self._verify(token)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a verifier bug or an unreachable AS must not kill the request
            logger.error("token verifier failed: %s: %s", type(exc).__name__, exc)
            return self._unavailable
        if result is None:
            return self._remember_rejection(key, self._invalid)
        access = _coerce_token(result, token)
        rejection = self.check_token(access)
        if rejection is not None:
            return self._remember_rejection(key, rejection)
        if self.cache_size and self.cache_ttl > 0:
            deadline = time.time() + self.cache_ttl
            if access.expires_at is not None:
                deadline = min(deadline, access.expires_at + self.leeway)
            self._cache[key] = (deadline, access)
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return access

    def _remember_rejection(self, key: bytes, rejection: Rejection) -> Rejection:
        if self.cache_size and self.negative_cache_ttl > 0:
            self._negative[key] = (time.time() + self.negative_cache_ttl, rejection)
            while len(self._negative) > self.cache_size:
                self._negative.popitem(last=False)
        return rejection

    def check_token(self, access: AccessToken) -> Rejection | None:
        """The checks applied to every verifier's answer: expiry, issuer, audience, scopes.

        None when the token may be used. Public so a custom authenticator can reuse them.
        """
        if access.expires_at is not None and time.time() > access.expires_at + self.leeway:
            return self._expired
        if self.issuer is not None and (access.issuer or access.claims.get("iss")) != self.issuer:
            logger.debug("token of client %r rejected: issuer %r", access.client_id, access.issuer)
            return self._wrong_issuer
        if self._audiences is not None:
            resource = access.resource
            names = [resource] if isinstance(resource, str) else list(resource or ())
            if not any(isinstance(n, str) and _canonical_url(n) in self._audiences for n in names):
                logger.warning(
                    "token of client %r rejected: its resource/audience %r is not this server's %s "
                    "(set the verifier's AccessToken.resource, or OAuthResourceServer(audience=...))",
                    access.client_id,
                    resource,
                    sorted(self._audiences),
                )
                return self._wrong_audience
        if self._required and not self._required.issubset(access.scopes):
            return self._insufficient
        return None

    def _challenge(self, error: str | None, description: str | None) -> str:
        parts = [f'resource_metadata="{self.resource_metadata_url}"']
        if self.required_scopes:
            parts.append(f'scope="{_quoted(" ".join(self.required_scopes))}"')
        if error is not None:
            parts.append(f'error="{error}"')
            if description:
                parts.append(f'error_description="{_quoted(description)}"')
        return "Bearer " + ", ".join(parts)

    def _reject(self, status: int, error: str | None, description: str) -> Rejection:
        # RFC 6750 §3.1: no error code in the challenge when the request carried no credentials;
        # the body still says what happened, as the official SDK's does
        return Rejection(
            status,
            _oauth_body(error or "invalid_token", description),
            (_JSON, ("www-authenticate", self._challenge(error, description)), _NO_STORE),
        )

    def clear_cache(self) -> None:
        """Forget every remembered token (e.g. after a revocation you know of)."""
        self._cache.clear()
        self._negative.clear()

    def __repr__(self) -> str:
        return f"<OAuthResourceServer {self.resource_server_url} cached={len(self._cache)}>"


# -- verifiers ------------------------------------------------------------------------------------


def _require_jwt() -> Any:
    try:
        import jwt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("JWTVerifier needs PyJWT with its crypto extra: pip install 'mcpfast[oauth]'") from exc
    return jwt


def _scopes_from_claims(claims: Mapping[str, Any]) -> list[str]:
    """``scope`` (RFC 8693/9068: space-separated string) or ``scp`` (a list, e.g. Okta, Azure)."""
    scope = claims.get("scope")
    if scope is None:
        scope = claims.get("scp")
    if isinstance(scope, str):
        return scope.split()
    if isinstance(scope, (list, tuple)):
        return [s for s in scope if isinstance(s, str)]
    return []


def _token_from_claims(token: str, claims: dict[str, Any]) -> AccessToken:
    exp = claims.get("exp")
    client_id = claims.get("client_id", claims.get("azp"))
    aud = claims.get("aud")
    return AccessToken(
        token=token,
        client_id=client_id if isinstance(client_id, str) else None,
        scopes=_scopes_from_claims(claims),
        expires_at=int(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None,
        resource=aud if isinstance(aud, (str, list)) else None,
        issuer=claims.get("iss") if isinstance(claims.get("iss"), str) else None,
        subject=claims.get("sub") if isinstance(claims.get("sub"), str) else None,
        claims=claims,
    )


class JWTVerifier:
    """Verifies JWT access tokens (RFC 9068) locally, with PyJWT (``pip install 'mcpfast[oauth]'``).

    Give either ``jwks_url`` (the authorization server's JSON Web Key Set; fetched in a worker
    thread by ``jwt.PyJWKClient``, which caches the keys ``jwks_cache_seconds`` and refetches on
    an unknown ``kid``) or ``key`` (a PEM public key, a key object, or a shared secret for HS*).
    Signature, ``exp``/``nbf``/``iat`` (with ``leeway``), ``iss`` and ``aud`` are checked by PyJWT;
    ``audience=None`` skips the ``aud`` check here (``OAuthResourceServer`` still checks the
    audience unless told not to). Claims map to ``AccessToken``: ``scope``/``scp`` -> scopes,
    ``client_id``/``azp`` -> client_id, ``aud`` -> resource, ``iss``, ``sub``, ``exp``.
    """

    def __init__(
        self,
        *,
        jwks_url: str | None = None,
        key: Any = None,
        issuer: str | Sequence[str] | None,
        audience: str | Sequence[str] | None,
        algorithms: Sequence[str] = ("RS256", "ES256"),
        leeway: float = 60,
        required_claims: Sequence[str] = ("exp",),
        jwks_cache_seconds: int = 300,
        jwks_timeout: float = 10.0,
    ) -> None:
        if (jwks_url is None) == (key is None):
            raise ValueError("JWTVerifier needs exactly one of jwks_url= or key=")
        algorithms = [algorithms] if isinstance(algorithms, str) else list(algorithms)
        if not algorithms or any(a.lower() == "none" for a in algorithms):
            raise ValueError("JWTVerifier algorithms must be a non-empty list without 'none'")
        self._jwt = _require_jwt()
        self.issuer = issuer
        self.audience = audience
        self.algorithms = algorithms
        self.leeway = leeway
        self._options = {"require": list(required_claims), "verify_aud": audience is not None}
        self._key = key
        self._jwks: Any = (
            self._jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=jwks_cache_seconds, timeout=jwks_timeout)
            if jwks_url is not None
            else None
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        """The token's ``AccessToken`` when its signature and standard claims check out, else None."""
        jwt = self._jwt
        key = self._key
        try:
            if self._jwks is not None:
                # PyJWKClient fetches over blocking HTTP: keep it off the event loop
                key = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options=self._options,
            )
        except jwt.PyJWKClientConnectionError:
            raise  # the AS is unreachable: a server-side failure (503), not a bad token
        except jwt.PyJWTError as exc:
            logger.debug("JWT rejected: %s: %s", type(exc).__name__, exc)
            return None
        return _token_from_claims(token, claims)


class IntrospectionVerifier:
    """Asks the authorization server about each token (RFC 7662 token introspection).

    POSTs ``token=<token>`` to ``introspection_url`` (in a worker thread, stdlib ``urllib``),
    authenticating with ``client_id``/``client_secret`` (HTTP Basic) when given. An inactive
    token is invalid; an active one maps like a JWT (``scope``, ``client_id``, ``aud``, ``iss``,
    ``sub``, ``exp``). Only ``https`` endpoints are accepted unless ``allow_http=True`` (tests,
    loopback authorization servers).
    """

    def __init__(
        self,
        introspection_url: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout: float = 10.0,
        allow_http: bool = False,
    ) -> None:
        scheme = urlsplit(introspection_url).scheme
        if scheme != "https" and not (allow_http and scheme == "http"):
            raise ValueError(f"introspection_url must be https (or pass allow_http=True), got {introspection_url!r}")
        self.introspection_url = introspection_url
        self.timeout = timeout
        self._authorization: str | None = None
        if client_id is not None:
            import base64
            from urllib.parse import quote

            pair = f"{quote(client_id, safe='')}:{quote(client_secret or '', safe='')}"
            self._authorization = "Basic " + base64.b64encode(pair.encode()).decode()

    def _post(self, token: str) -> dict[str, Any]:
        import urllib.request
        from urllib.parse import urlencode

        request = urllib.request.Request(
            self.introspection_url,
            data=urlencode({"token": token}).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            method="POST",
        )
        if self._authorization is not None:
            request.add_header("Authorization", self._authorization)
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - scheme checked
            data = json.loads(response.read(1 << 20))
        if not isinstance(data, dict):
            raise ValueError("introspection response is not a JSON object")
        return data

    async def verify_token(self, token: str) -> AccessToken | None:
        """None for an inactive token; raises (-> 503) when the endpoint cannot be reached."""
        data = await asyncio.to_thread(self._post, token)
        if data.get("active") is not True:
            return None
        return _token_from_claims(token, data)
