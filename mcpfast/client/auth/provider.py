"""``OAuthClientProvider``: OAuth 2.1 for an MCP client (the MCP authorization spec,
2025-11-25 and 2026-07-28), driven by the HTTP transport through two hooks.

The Streamable HTTP transport asks ``await auth.headers(method, url)`` before each request and
tells ``await auth.on_response(status, headers, method, url)`` every answer; a True return means
"credentials changed, send the request again". Everything else happens here:

1. **401** -> protected resource metadata (RFC 9728): the ``resource_metadata`` URL of the
   challenge, then the path-based, then the root well-known URL; its ``resource`` must name
   this server (RFC 8707) unless ``validate_resource_url`` decides otherwise. No metadata at all
   is the 2025-03-26 layout: the server's origin is the authorization server.
2. Authorization server metadata (RFC 8414, then OpenID Connect discovery, in the spec's order);
   its ``issuer`` must be exactly the one the URL was built from (RFC 8414 §3.3).
3. A client id: a pre-registered one (constructor or storage), a Client ID Metadata Document
   URL when the server supports it, else dynamic registration (RFC 7591). Credentials remember
   their issuer; when the resource moves to another authorization server they are dropped and
   the client registers again (SEP-2352).
4. Tokens: authorization code + PKCE S256 through ``redirect_handler``/``callback_handler``,
   with ``state`` and the RFC 9207 ``iss`` checked by simple string comparison; the
   ``resource`` indicator on both requests; client authentication ``none``,
   ``client_secret_basic``, ``client_secret_post`` or ``private_key_jwt``. Subclasses (the
   client-credentials and JWT-bearer providers) swap this step.
5. Scope: the challenge's ``scope``, else the resource's ``scopes_supported``, else none;
   ``offline_access`` only when the authorization server lists it. **403
   insufficient_scope** re-authorizes with the union of the old and the new scopes, at most
   ``max_step_up`` times in a row.
6. Refresh before expiry (and on a 401 when the authorization server did not change).
7. **DPoP** (RFC 9449) when the authorization server advertises ES256 (or ``dpop=True``): a
   proof on the token request, a ``DPoP``-bound token sent as ``Authorization: DPoP`` with a
   fresh proof per request, and the ``DPoP-Nonce`` of either server honoured
   (``use_dpop_nonce`` -> one retry).

Side requests to the authorization server go through ``httpx2`` (the ``oauth-client`` extra),
imported when the first one is made. Tokens and secrets never reach a log or an exception.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from .discovery import (
    as_metadata_urls,
    canonical_resource,
    header_value,
    origin,
    parse_www_authenticate,
    prm_urls,
    resource_allowed,
    select_scope,
    union_scopes,
)
from .dpop import DPoPKey
from .errors import OAuthFlowError, OAuthRegistrationError, OAuthTokenError
from .models import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthMetadata,
    OAuthToken,
    ProtectedResourceMetadata,
)
from .storage import InMemoryTokenStorage, TokenStorage

if TYPE_CHECKING:
    import httpx2

__all__ = ["OAuthClientProvider", "PKCEParameters"]

logger = logging.getLogger("mcpfast.client.auth")

#: seconds before ``expires_in`` runs out at which the token counts as expired (clock skew,
#: request latency); at most a tenth of the lifetime, so a short-lived token is still used
EXPIRY_MARGIN = 30.0
#: how many 401-triggered authorizations within FLOW_WINDOW seconds before giving up (the
#: transport bounds the retries of one request; this bounds a server that rejects every token)
MAX_UNAUTHORIZED = 3
FLOW_WINDOW = 30.0
#: how many ``use_dpop_nonce`` answers in a row the token endpoint may send before giving up
MAX_NONCE_RETRIES = 2
#: the largest metadata or token response read (bytes); a bigger one is an error
MAX_RESPONSE_BYTES = 1 << 20

#: the 2025-03-26 default endpoints, at the MCP server's origin, when there is no metadata
_LEGACY_PATHS = {
    "authorization_endpoint": "/authorize",
    "token_endpoint": "/token",
    "registration_endpoint": "/register",
}

RedirectHandler = Callable[[str], Awaitable[None]]
CallbackHandler = Callable[[], Awaitable[Any]]
ResourceValidator = Callable[[str, "str | None"], Awaitable[None]]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class PKCEParameters:
    """A PKCE pair (RFC 7636): a 64-character verifier and its S256 challenge."""

    __slots__ = ("code_challenge", "code_verifier")

    def __init__(self, code_verifier: str, code_challenge: str) -> None:
        self.code_verifier = code_verifier
        self.code_challenge = code_challenge

    @classmethod
    def generate(cls) -> PKCEParameters:
        """A fresh random pair."""
        verifier = secrets.token_urlsafe(48)  # 64 chars of the unreserved alphabet
        return cls(verifier, _b64url(hashlib.sha256(verifier.encode("ascii")).digest()))


def _code_result(value: Any) -> AuthorizationCodeResult:
    """The callback's answer: an ``AuthorizationCodeResult`` (ours or the SDK's), a dict, or the
    SDK 1.x tuple ``(code, state)``."""
    if isinstance(value, AuthorizationCodeResult):
        return value
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        return AuthorizationCodeResult(code=value[0], state=value[1] if len(value) > 1 else None)
    result = AuthorizationCodeResult.from_dict(value)
    if not result.code:
        raise OAuthFlowError("the authorization callback returned no code")
    return result


class OAuthClientProvider:
    """OAuth 2.1 authorization for one MCP server (see the module docstring).

    The arguments are the official SDK's (``mcp.client.auth.OAuthClientProvider``), so code
    written for it ports by changing the import; ``client_metadata`` and stored records may be
    the SDK's pydantic models or ours. Extra keywords: ``client_info`` (a pre-registered
    client), ``dpop`` (None: use DPoP when the authorization server offers ES256; True: always;
    False: never), ``dpop_key``, ``max_step_up`` (403 re-authorizations in a row),
    ``timeout`` (seconds per side request) and ``http_client`` (an ``httpx2.AsyncClient`` to
    use instead of the provider's own).
    """

    def __init__(
        self,
        server_url: str,
        client_metadata: Any,
        storage: TokenStorage | None = None,
        redirect_handler: RedirectHandler | None = None,
        callback_handler: CallbackHandler | None = None,
        client_metadata_url: str | None = None,
        validate_resource_url: ResourceValidator | None = None,
        *,
        client_info: OAuthClientInformationFull | None = None,
        dpop: bool | None = None,
        dpop_key: DPoPKey | None = None,
        max_step_up: int = 2,
        timeout: float = 30.0,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        if client_metadata_url is not None and not _valid_cimd_url(client_metadata_url):
            raise ValueError(f"client_metadata_url must be an https URL with a path, got {client_metadata_url!r}")
        if max_step_up < 0:
            raise ValueError("max_step_up must be >= 0")
        self.server_url = server_url
        self.client_metadata = OAuthClientMetadata.from_dict(client_metadata)
        self.storage: TokenStorage = storage if storage is not None else InMemoryTokenStorage()
        self.redirect_handler = redirect_handler
        self.callback_handler = callback_handler
        self.client_metadata_url = client_metadata_url
        self.max_step_up = max_step_up
        self.timeout = timeout
        self._validate_resource_url = validate_resource_url
        self._fixed_client_info = OAuthClientInformationFull.from_dict(client_info) if client_info else None
        self._dpop_mode = dpop
        self._dpop_key = dpop_key
        self._http = http_client
        self._own_http = http_client is None

        self._lock = asyncio.Lock()
        self._loaded = False
        self._prm: ProtectedResourceMetadata | None = None
        self._asm: OAuthMetadata | None = None
        self._issuer: str | None = None  # the authorization server the current credentials are for
        self._legacy = False  # no metadata at all: 2025-03-26 default endpoints
        self._client_info: OAuthClientInformationFull | None = None
        self._tokens: OAuthToken | None = None
        self._expires_at: float | None = None
        self._generation = 0  # bumped whenever the tokens change
        self._requested_scope: str | None = None
        self._flows: list[float] = []  # when the recent 401-triggered authorizations ran
        self._step_ups = 0
        self._bearer_headers: dict[str, str] | None = None  # headers() of the current bearer token
        self._rs_nonce: str | None = None
        self._as_nonce: str | None = None

    # ------------------------------------------------------------------ the transport's hooks

    async def headers(self, method: str, url: str) -> dict[str, str]:
        """The authorization headers for one request (none until a token exists): ``Bearer``,
        or ``DPoP`` plus a fresh proof. Refreshes an expired token first when it can."""
        cached = self._bearer_headers  # the hot path: a valid bearer token, one dict for all
        if cached is not None and (self._expires_at is None or time.time() < self._expires_at):
            return cached
        await self._load()
        if self._tokens is not None and self._expired():
            gen = self._generation
            async with self._lock:
                if gen == self._generation and self._tokens is not None and self._expired():
                    if not await self._try_refresh():
                        self._set_tokens_local(None)
        token = self._tokens
        if token is None:
            return {}
        if token.token_type.lower() == "dpop":
            return {
                "Authorization": f"DPoP {token.access_token}",
                "DPoP": self._key().proof(method, url, nonce=self._rs_nonce, access_token=token.access_token),
            }
        return self._bearer_headers or {"Authorization": f"Bearer {token.access_token}"}

    async def on_response(self, status: int, headers: Any, method: str, url: str) -> bool:
        """A 401 or 403 of the MCP server (other statuses are ignored); True when the request
        should be sent again with new headers: after authorizing, stepping up or taking a new
        DPoP nonce. Raises ``OAuthFlowError`` when authorization fails. Returns False when
        retrying is pointless: the same nonce asked for again, more than ``MAX_UNAUTHORIZED``
        authorizations within ``FLOW_WINDOW`` seconds (a server that rejects every token), or
        more than ``max_step_up`` step-ups in a row for scopes already requested."""
        if status not in (401, 403):
            return False
        _scheme, params = parse_www_authenticate(header_value(headers, "WWW-Authenticate"))
        error = params.get("error")
        nonce = header_value(headers, "DPoP-Nonce")
        if nonce and self._dpop_key is not None:
            fresh = nonce != self._rs_nonce
            self._rs_nonce = nonce
            if error == "use_dpop_nonce":
                return fresh
        if status == 401:
            now = time.monotonic()
            self._flows = [t for t in self._flows if now - t < FLOW_WINDOW]
            if len(self._flows) >= MAX_UNAUTHORIZED:
                logger.warning("the server rejected %d fresh authorizations; giving up", len(self._flows))
                return False
            self._flows.append(now)
            self._step_ups = 0
            await self._authorize(params, step_up=False)
            return True
        if error != "insufficient_scope":
            return False
        wanted = set((params.get("scope") or "").split())
        if wanted and not wanted <= set((self._requested_scope or "").split()):
            self._step_ups = 1  # new scopes: a real escalation
        else:
            self._step_ups += 1  # the same scopes again: they will not be granted
        if self._step_ups > self.max_step_up:
            logger.warning("403 insufficient_scope after %d re-authorizations; giving up", self.max_step_up)
            return False
        await self._authorize(params, step_up=True)
        return True

    # ------------------------------------------------------------------ adapters, lifecycle

    def httpx_auth(self) -> httpx2.Auth:
        """This provider as an ``httpx2.Auth`` (``httpx2.AsyncClient(auth=provider.httpx_auth())``),
        for code that talks HTTP itself, the official SDK's transports included."""
        from ._httpx import ProviderAuth

        return ProviderAuth(self)

    async def aclose(self) -> None:
        """Close the provider's own HTTP client (a given ``http_client`` is left open)."""
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    @property
    def http_client(self) -> httpx2.AsyncClient | None:
        """The HTTP client of the side requests (None until the first one, when it is the
        provider's own)."""
        return self._http

    @property
    def tokens(self) -> OAuthToken | None:
        """The current tokens (None before authorization)."""
        return self._tokens

    @property
    def client_info(self) -> OAuthClientInformationFull | None:
        """The registration in use (None before one was obtained)."""
        return self._client_info

    @property
    def authorization_server_metadata(self) -> OAuthMetadata | None:
        """The authorization server metadata discovered last (None on the legacy path)."""
        return self._asm

    @property
    def protected_resource_metadata(self) -> ProtectedResourceMetadata | None:
        """The protected resource metadata discovered last (None when the server has none)."""
        return self._prm

    # ------------------------------------------------------------------ the flow

    async def _load(self) -> None:
        if self._loaded:
            return
        stored_tokens = await self.storage.get_tokens()
        stored = await self.storage.get_client_info()
        if self._loaded:  # another request loaded (and maybe authorized) meanwhile
            return
        self._loaded = True
        if stored_tokens is not None:
            self._set_tokens_local(OAuthToken.from_dict(stored_tokens))
            self._expires_at = None  # the time it was issued is unknown: valid until refused
        self._client_info = self._fixed_client_info or (
            OAuthClientInformationFull.from_dict(stored) if stored else None)

    def _expired(self) -> bool:
        return self._expires_at is not None and time.time() >= self._expires_at

    async def _authorize(self, challenge: dict[str, str], *, step_up: bool) -> None:
        """Obtain new tokens after a 401 (or a 403 step-up), under the lock; a flow finished by
        another request while this one waited counts as done."""
        gen = self._generation
        async with self._lock:
            await self._load()
            if self._generation != gen:
                return
            granted = self._tokens.scope if self._tokens is not None else None
            if not step_up or self._asm is None and not self._legacy:
                await self._discover(challenge.get("resource_metadata"))
            scope = select_scope(challenge.get("scope"), self._prm, self._asm, self.client_metadata.grant_types)
            if scope is None:
                scope = self.client_metadata.scope  # the application's own choice, if it made one
            if step_up:
                scope = union_scopes(union_scopes(self._requested_scope, granted), scope)
            elif self._tokens is not None and self._tokens.refresh_token and self._issuer_matches():
                if await self._try_refresh():
                    return
            self._requested_scope = scope
            await self._ensure_client(scope)
            tokens = await self._obtain_tokens(scope)
            await self._store_tokens(tokens)

    def _issuer_matches(self) -> bool:
        info = self._client_info
        return info is None or info.issuer is None or info.issuer == self._issuer

    async def _discover(self, challenge_url: str | None) -> None:
        """Steps 1-2: protected resource metadata, then authorization server metadata."""
        prm: ProtectedResourceMetadata | None = None
        failure: int | None = None
        for url in prm_urls(self.server_url, challenge_url):
            status, doc = await self._get_json(url)
            if status == 200 and isinstance(doc, dict):
                try:
                    candidate = ProtectedResourceMetadata.from_dict(doc)
                except OAuthFlowError:
                    continue
                if candidate.authorization_servers:
                    prm = candidate
                    break
            elif status >= 500 or status == 429:
                failure = status
        if prm is None and failure is not None:
            raise OAuthFlowError(f"protected resource metadata request failed: HTTP {failure}")
        if prm is not None:
            if self._validate_resource_url is not None:
                await self._validate_resource_url(self.server_url, prm.resource)
            elif not resource_allowed(self.server_url, prm.resource):
                raise OAuthFlowError(
                    f"protected resource metadata names resource {prm.resource!r}, not this server ({self.server_url!r})")
            issuer = prm.authorization_servers[0]
        else:
            issuer = origin(self.server_url)
        self._prm = prm

        if self._client_info is not None and self._client_info.issuer not in (None, issuer):
            # SEP-2352: the resource moved to another authorization server; the old client id
            # and tokens belong to the old one and are never shown to the new one
            logger.info("authorization server changed; registering again")
            self._client_info = self._fixed_client_info if self._fixed_client_info and self._fixed_client_info.issuer in (None, issuer) else None
            self._set_tokens_local(None)
        await self._discover_issuer(issuer, prm)

    async def _discover_issuer(self, issuer: str, prm: ProtectedResourceMetadata | None) -> None:
        """Authorization server metadata for ``issuer`` (RFC 8414 / OIDC, the spec's order); on
        the legacy path (no ``prm``) none at all means the 2025-03-26 default endpoints."""
        if issuer != self._issuer:
            self._as_nonce = None
        self._issuer = issuer
        self._asm, self._legacy = None, False
        for url in as_metadata_urls(issuer):
            status, doc = await self._get_json(url)
            if status == 200 and isinstance(doc, dict):
                asm = OAuthMetadata.from_dict(doc)
                expected = issuer
                if prm is None and asm.issuer.rstrip("/") == issuer.rstrip("/"):
                    expected = asm.issuer  # legacy: the origin may be written with its slash
                if asm.issuer != expected:
                    raise OAuthFlowError(
                        f"authorization server metadata at {url} names issuer {asm.issuer!r}, expected {expected!r}")
                self._asm = asm
                return
            if status >= 500:
                raise OAuthFlowError(f"authorization server metadata request failed: HTTP {status} at {url}")
        if prm is not None:
            raise OAuthFlowError(f"no authorization server metadata found for {issuer!r}")
        self._legacy = True  # 2025-03-26: default endpoints at the server's origin

    def _endpoint(self, name: str) -> str:
        asm = self._asm
        value = getattr(asm, name) if asm is not None else None
        if value:
            return str(value)
        if self._legacy:
            return origin(self.server_url) + _LEGACY_PATHS[name]
        raise OAuthFlowError(f"the authorization server metadata has no {name}")

    async def _ensure_client(self, scope: str | None) -> None:
        """Step 3: a client id for the current authorization server."""
        if self._client_info is not None:
            return
        asm = self._asm
        if asm is not None and asm.client_id_metadata_document_supported and self.client_metadata_url:
            self._client_info = OAuthClientInformationFull(
                client_id=self.client_metadata_url,
                redirect_uris=self.client_metadata.redirect_uris,
                token_endpoint_auth_method="none",
                issuer=self._issuer,
            )
            await self.storage.set_client_info(self._client_info)
            return
        if asm is not None and not asm.registration_endpoint:
            raise OAuthRegistrationError(
                "the authorization server offers no dynamic registration and no client id is configured "
                "(pre-register the client, or give client_metadata_url for a server that supports CIMD)")
        body = self.client_metadata.to_dict()
        if scope is not None:
            body["scope"] = scope
        body.setdefault("application_type", "native")
        http = await self._client()
        resp = await http.post(self._endpoint("registration_endpoint"), json=body)
        if resp.status_code not in (200, 201):
            raise OAuthRegistrationError(f"dynamic client registration failed: HTTP {resp.status_code}")
        try:
            info = OAuthClientInformationFull.from_dict(resp.json())
        except ValueError as exc:
            raise OAuthRegistrationError("dynamic client registration answered invalid JSON") from exc
        if not info.client_id:
            raise OAuthRegistrationError("dynamic client registration answered no client_id")
        info.issuer = self._issuer
        self._client_info = info
        await self.storage.set_client_info(info)

    async def _obtain_tokens(self, scope: str | None) -> OAuthToken:
        """Step 4, authorization code + PKCE. Subclasses with another grant override this."""
        if self.redirect_handler is None or self.callback_handler is None:
            raise OAuthFlowError("the authorization code flow needs a redirect_handler and a callback_handler")
        info = self._require_client()
        asm = self._asm
        if asm is not None and "S256" not in (asm.code_challenge_methods_supported or ()):
            raise OAuthFlowError("the authorization server does not advertise PKCE S256; refusing to authorize")
        pkce = PKCEParameters.generate()
        state = secrets.token_urlsafe(32)
        redirect_uri = self._redirect_uri(info)
        params = {
            "response_type": "code",
            "client_id": info.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": pkce.code_challenge,
            "code_challenge_method": "S256",
        }
        if scope:
            params["scope"] = scope
        resource = self._resource()
        if resource is not None:
            params["resource"] = resource
        endpoint = self._endpoint("authorization_endpoint")
        await self.redirect_handler(endpoint + ("&" if "?" in endpoint else "?") + urlencode(params))
        result = _code_result(await self.callback_handler())
        if result.state is None or not secrets.compare_digest(result.state, state):
            raise OAuthFlowError("the authorization response's state does not match the request")
        self._check_iss(result.iss)
        data = {
            "grant_type": "authorization_code",
            "code": result.code,
            "redirect_uri": redirect_uri,
            "code_verifier": pkce.code_verifier,
        }
        if resource is not None:
            data["resource"] = resource
        return await self._token_request(data)

    def _check_iss(self, iss: str | None) -> None:
        """RFC 9207 (SEP-2468): an ``iss`` in the response must be the issuer, by simple string
        comparison; a server that advertises the parameter must send it."""
        asm = self._asm
        expected = asm.issuer if asm is not None else self._issuer
        if iss is None:
            if asm is not None and asm.authorization_response_iss_parameter_supported:
                raise OAuthFlowError("the authorization server advertises 'iss' but the response has none")
            return
        if expected is None or iss != expected:
            raise OAuthFlowError(f"the authorization response names issuer {iss!r}, expected {expected!r}")

    def _redirect_uri(self, info: OAuthClientInformationFull) -> str:
        uris = info.redirect_uris or self.client_metadata.redirect_uris
        if not uris:
            raise OAuthFlowError("the client metadata has no redirect_uris")
        return str(uris[0])

    def _resource(self) -> str | None:
        """The RFC 8707 resource indicator: the metadata's ``resource`` when it covers this
        server, else the server's canonical URL; none on the legacy (no metadata) path."""
        if self._prm is None:
            return None
        if resource_allowed(self.server_url, self._prm.resource):
            return self._prm.resource
        return canonical_resource(self.server_url)

    def _require_client(self) -> OAuthClientInformationFull:
        if self._client_info is None:
            raise OAuthRegistrationError("no client registration")
        return self._client_info

    # ------------------------------------------------------------------ the token endpoint

    def _use_dpop(self) -> bool:
        if self._dpop_mode is not None:
            return self._dpop_mode
        algs = self._asm.dpop_signing_alg_values_supported if self._asm is not None else None
        required = self._prm is not None and bool(self._prm.dpop_bound_access_tokens_required)
        return required or bool(algs and DPoPKey.algorithm in algs)

    def _key(self) -> DPoPKey:
        if self._dpop_key is None:
            self._dpop_key = DPoPKey()
        return self._dpop_key

    async def _client_auth(self, data: dict[str, str], headers: dict[str, str]) -> None:
        """Client authentication at the token endpoint, by the registration's method (when it
        names none: Basic when a secret exists and the server allows it, else post, else none)."""
        info = self._require_client()
        method = info.token_endpoint_auth_method
        if method is None:
            supported = (self._asm.token_endpoint_auth_methods_supported if self._asm else None) or ["client_secret_basic"]
            if info.client_secret and "client_secret_basic" in supported:
                method = "client_secret_basic"
            elif info.client_secret and "client_secret_post" in supported:
                method = "client_secret_post"
            else:
                method = "none"
        if method == "client_secret_basic":
            if not info.client_secret:
                raise OAuthTokenError("client_secret_basic needs a client secret")
            pair = f"{quote(info.client_id, safe='')}:{quote(info.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        elif method == "client_secret_post":
            if not info.client_secret:
                raise OAuthTokenError("client_secret_post needs a client secret")
            data["client_id"] = info.client_id
            data["client_secret"] = info.client_secret
        elif method == "private_key_jwt":
            data["client_id"] = info.client_id
            data["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            data["client_assertion"] = await self._client_assertion()
        elif method == "none":
            data["client_id"] = info.client_id
        else:
            raise OAuthTokenError(f"unsupported token_endpoint_auth_method {method!r}")

    async def _client_assertion(self) -> str:
        raise OAuthTokenError("private_key_jwt needs a provider with an assertion (PrivateKeyJWTOAuthProvider)")

    def _assertion_audience(self) -> str:
        """The ``aud`` of client assertions: the authorization server's issuer identifier."""
        if self._asm is not None:
            return self._asm.issuer
        return self._issuer or origin(self.server_url)

    async def _token_request(self, data: dict[str, str], *, authenticate: bool = True) -> OAuthToken:
        """POST to the token endpoint (client authentication, DPoP proof and nonce retry)."""
        endpoint = self._endpoint("token_endpoint")
        headers = {"Accept": "application/json"}
        if authenticate:
            await self._client_auth(data, headers)
        http = await self._client()
        dpop = self._use_dpop()
        for _ in range(MAX_NONCE_RETRIES + 1):
            if dpop:
                headers["DPoP"] = self._key().proof("POST", endpoint, nonce=self._as_nonce)
            resp = await http.post(endpoint, data=data, headers=headers)
            nonce = resp.headers.get("DPoP-Nonce")
            if dpop and nonce:
                self._as_nonce = nonce
            body = _json_object(resp)
            if resp.status_code == 200:
                return self._parse_token(body, dpop)
            error = body.get("error") if body else None
            if dpop and nonce and error == "use_dpop_nonce":
                continue
            desc = body.get("error_description") if body else None
            raise OAuthTokenError(
                f"token request failed: HTTP {resp.status_code}" + (f" {error}" if error else "")
                + (f": {desc}" if isinstance(desc, str) else ""), error if isinstance(error, str) else None)
        raise OAuthTokenError("the token endpoint kept asking for a new DPoP nonce", "use_dpop_nonce")

    def _parse_token(self, body: dict[str, Any] | None, dpop: bool) -> OAuthToken:
        if not body or not isinstance(body.get("access_token"), str):
            raise OAuthTokenError("the token response has no access_token")
        token = OAuthToken.from_dict(body)
        kind = token.token_type.lower()
        if kind == "dpop":
            if not dpop:
                raise OAuthTokenError("the authorization server issued a DPoP token to a request without a proof")
            token.token_type = "DPoP"
        elif kind == "bearer":
            token.token_type = "Bearer"
        else:
            raise OAuthTokenError(f"unsupported token_type {token.token_type!r}")
        return token

    async def _try_refresh(self) -> bool:
        """The refresh_token grant; False (tokens kept for the caller to drop) when refused."""
        tokens = self._tokens
        if tokens is None or not tokens.refresh_token or self._client_info is None:
            return False
        if self._asm is None and not self._legacy:
            try:
                await self._discover(None)
            except OAuthFlowError:
                return False
        data = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token}
        resource = self._resource()
        if resource is not None:
            data["resource"] = resource
        try:
            new = await self._token_request(data)
        except OAuthTokenError as exc:
            logger.info("token refresh refused (%s); authorizing again", exc.error or "error")
            return False
        if new.refresh_token is None:
            new.refresh_token = tokens.refresh_token  # RFC 6749 §6: the old one stays valid
        await self._store_tokens(new)
        return True

    async def _store_tokens(self, tokens: OAuthToken) -> None:
        self._set_tokens_local(tokens)
        await self.storage.set_tokens(tokens)

    def _set_tokens_local(self, tokens: OAuthToken | None) -> None:
        self._tokens = tokens
        self._bearer_headers = (
            {"Authorization": f"Bearer {tokens.access_token}"}
            if tokens is not None and tokens.token_type.lower() == "bearer" else None)
        self._expires_at = (
            time.time() + tokens.expires_in - min(EXPIRY_MARGIN, tokens.expires_in / 10)
            if tokens is not None and tokens.expires_in is not None else None)
        self._generation += 1

    # ------------------------------------------------------------------ HTTP side requests

    async def _client(self) -> httpx2.AsyncClient:
        if self._http is None:
            import httpx2

            self._http = httpx2.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._http

    async def _get_json(self, url: str) -> tuple[int, Any]:
        """GET a metadata document: (status, parsed JSON or None)."""
        http = await self._client()
        headers = {"Accept": "application/json"}
        try:
            resp = await http.get(url, headers=headers)
        except Exception as exc:  # an unreachable well-known URL is "not there"
            logger.debug("metadata request to %s failed: %s", url, type(exc).__name__)
            return 0, None
        return resp.status_code, _json_object(resp) if resp.status_code == 200 else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(server_url={self.server_url!r}, has_tokens={self._tokens is not None})"


def _json_object(resp: Any) -> dict[str, Any] | None:
    content = resp.content
    if len(content) > MAX_RESPONSE_BYTES:
        raise OAuthFlowError(f"response larger than {MAX_RESPONSE_BYTES} bytes")
    try:
        value = resp.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _valid_cimd_url(url: str) -> bool:
    from urllib.parse import urlsplit

    p = urlsplit(url)
    return p.scheme == "https" and bool(p.netloc) and p.path not in ("", "/")


