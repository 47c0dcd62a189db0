"""Machine-to-machine grants (no user, no browser), with the official SDK's class names:

* ``ClientCredentialsOAuthProvider``: the OAuth client-credentials extension with a client
  secret (``client_secret_basic`` or ``client_secret_post``);
* ``PrivateKeyJWTOAuthProvider``: client credentials authenticated by a signed JWT
  (``private_key_jwt``, RFC 7523 §2.2), from ``SignedJWTParameters`` or any assertion callback;
* ``JWTBearerOAuthProvider``: the JWT-bearer authorization grant (RFC 7523 §2.1) for workload
  identity federation (SEP-1933): a token from the platform (Kubernetes, a cloud metadata
  server, CI) is exchanged for an access token. A refused assertion is reported, never retried
  with another grant;
* ``IdentityAssertionOAuthProvider``: enterprise-managed authorization (SEP-990): an identity
  assertion JWT (ID-JAG) obtained from the enterprise IdP by the caller's
  ``assertion_provider(audience, resource)`` goes through the JWT-bearer grant to a configured
  authorization server; the resource server is never asked which server to trust.

Discovery, resource indicators, DPoP and the token store are the base provider's.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .discovery import canonical_resource
from .errors import OAuthFlowError
from .models import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from .provider import OAuthClientProvider
from .storage import TokenStorage

__all__ = [
    "ClientCredentialsOAuthProvider",
    "JWT_BEARER_GRANT",
    "JWTBearerOAuthProvider",
    "IdentityAssertionOAuthProvider",
    "PrivateKeyJWTOAuthProvider",
    "SignedJWTParameters",
    "static_assertion_provider",
]

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

AssertionProvider = Callable[[str], Awaitable[str]]


def static_assertion_provider(token: str) -> AssertionProvider:
    """An assertion callback that always returns ``token`` (a JWT minted elsewhere)."""

    async def provider(audience: str) -> str:
        return token

    return provider


@dataclass(kw_only=True)
class SignedJWTParameters:
    """How to sign client assertions: ``issuer``/``subject`` (usually the client id), a PEM
    private key, its algorithm, and the lifetime of each assertion."""

    issuer: str
    subject: str
    signing_key: str = field(repr=False)
    signing_algorithm: str = "RS256"
    lifetime_seconds: int = 300
    additional_claims: dict[str, Any] | None = None

    def create_assertion_provider(self) -> AssertionProvider:
        """A callback signing a fresh assertion (new ``jti``) for the given audience."""

        async def provider(audience: str) -> str:
            import jwt

            now = int(time.time())
            claims: dict[str, Any] = {
                "iss": self.issuer,
                "sub": self.subject,
                "aud": audience,
                "iat": now,
                "exp": now + self.lifetime_seconds,
                "jti": secrets.token_urlsafe(24),
            }
            claims.update(self.additional_claims or {})
            return jwt.encode(claims, self.signing_key, algorithm=self.signing_algorithm)

        return provider


class _FixedClientProvider(OAuthClientProvider):
    """A provider whose client id is configured (no registration) and whose grant is not the
    authorization code; ``issuer`` pins the authorization server those credentials belong to."""

    _grant_type = "client_credentials"

    def __init__(self, server_url: str, storage: TokenStorage | None, client_info: OAuthClientInformationFull,
                 scope: str | None, issuer: str | None, **kwargs: Any) -> None:
        metadata = OAuthClientMetadata(redirect_uris=None, grant_types=[self._grant_type],
                                       token_endpoint_auth_method=client_info.token_endpoint_auth_method,
                                       scope=scope, application_type=None)
        super().__init__(server_url, metadata, storage, client_info=client_info, **kwargs)
        self._scope = scope
        self._pinned_issuer = issuer

    def _check_pinned(self) -> None:
        asm = self.authorization_server_metadata
        if self._pinned_issuer is not None and (asm is None or asm.issuer != self._pinned_issuer):
            found = asm.issuer if asm is not None else None
            raise OAuthFlowError(
                f"the credentials are for issuer {self._pinned_issuer!r}, discovery found {found!r}")

    def _effective_scope(self, scope: str | None) -> str | None:
        return self._scope if self._scope is not None else scope

    async def _grant_data(self, scope: str | None) -> dict[str, str]:
        data = {"grant_type": self._grant_type}
        if scope:
            data["scope"] = scope
        resource = self._resource()
        if resource is not None:
            data["resource"] = resource
        return data

    async def _obtain_tokens(self, scope: str | None) -> OAuthToken:
        self._check_pinned()
        return await self._token_request(await self._grant_data(self._effective_scope(scope)))


class ClientCredentialsOAuthProvider(_FixedClientProvider):
    """The client-credentials grant with a client secret."""

    def __init__(self, server_url: str, storage: TokenStorage | None, client_id: str, client_secret: str,
                 token_endpoint_auth_method: str = "client_secret_basic", scope: str | None = None,
                 issuer: str | None = None, **kwargs: Any) -> None:
        if token_endpoint_auth_method not in ("client_secret_basic", "client_secret_post"):
            raise ValueError("token_endpoint_auth_method must be client_secret_basic or client_secret_post")
        info = OAuthClientInformationFull(client_id=client_id, client_secret=client_secret,
                                          grant_types=["client_credentials"],
                                          token_endpoint_auth_method=token_endpoint_auth_method)
        super().__init__(server_url, storage, info, scope, issuer, **kwargs)


class PrivateKeyJWTOAuthProvider(_FixedClientProvider):
    """The client-credentials grant, the client authenticated by a signed JWT (``private_key_jwt``);
    ``assertion_provider(audience)`` returns the assertion (audience: the issuer identifier)."""

    def __init__(self, server_url: str, storage: TokenStorage | None, client_id: str,
                 assertion_provider: AssertionProvider, scope: str | None = None,
                 issuer: str | None = None, **kwargs: Any) -> None:
        info = OAuthClientInformationFull(client_id=client_id, grant_types=["client_credentials"],
                                          token_endpoint_auth_method="private_key_jwt")
        super().__init__(server_url, storage, info, scope, issuer, **kwargs)
        self._assertion_provider = assertion_provider

    async def _client_assertion(self) -> str:
        return await self._assertion_provider(self._assertion_audience())


class JWTBearerOAuthProvider(_FixedClientProvider):
    """The JWT-bearer authorization grant (RFC 7523 §2.1): ``assertion_provider(audience)``
    returns the workload's JWT, sent as ``assertion``; the client is public (``client_id`` in
    the body) unless ``client_secret`` is given."""

    _grant_type = JWT_BEARER_GRANT

    def __init__(self, server_url: str, storage: TokenStorage | None, client_id: str,
                 assertion_provider: AssertionProvider, scope: str | None = None,
                 issuer: str | None = None, client_secret: str | None = None, **kwargs: Any) -> None:
        method = "client_secret_basic" if client_secret else "none"
        info = OAuthClientInformationFull(client_id=client_id, client_secret=client_secret,
                                          grant_types=[JWT_BEARER_GRANT], token_endpoint_auth_method=method)
        super().__init__(server_url, storage, info, scope, issuer, **kwargs)
        self._assertion_provider = assertion_provider

    async def _grant_data(self, scope: str | None) -> dict[str, str]:
        data = await super()._grant_data(scope)
        data["assertion"] = await self._assertion_provider(self._assertion_audience())
        return data


class IdentityAssertionOAuthProvider(_FixedClientProvider):
    """Enterprise-managed authorization (SEP-990, the ID-JAG flow) for a confidential client.

    ``issuer`` is the authorization server this client is provisioned for: its metadata comes
    from its own well-known URL, and the assertion and the secret go only to its token endpoint
    (no protected resource metadata is consulted). ``assertion_provider(audience, resource)``
    (the issuer and this server's resource identifier) returns a fresh ID-JAG, typically from an
    RFC 8693 token exchange at the enterprise IdP."""

    _grant_type = JWT_BEARER_GRANT

    def __init__(self, server_url: str, storage: TokenStorage | None, client_id: str, client_secret: str,
                 issuer: str, assertion_provider: Callable[[str, str], Awaitable[str]], scope: str | None = None,
                 token_endpoint_auth_method: str = "client_secret_post", **kwargs: Any) -> None:
        if not client_secret:
            raise ValueError("client_secret is required: the ID-JAG flow is for confidential clients")
        if not issuer:
            raise ValueError("issuer is required: the authorization server is configuration, not discovery")
        if token_endpoint_auth_method not in ("client_secret_basic", "client_secret_post"):
            raise ValueError("token_endpoint_auth_method must be client_secret_basic or client_secret_post")
        info = OAuthClientInformationFull(client_id=client_id, client_secret=client_secret, issuer=issuer,
                                          grant_types=[JWT_BEARER_GRANT],
                                          token_endpoint_auth_method=token_endpoint_auth_method)
        super().__init__(server_url, storage, info, scope, issuer, **kwargs)
        self._id_jag_provider = assertion_provider

    async def _discover(self, challenge_url: str | None) -> None:
        await self._discover_issuer(self._pinned_issuer or "", None)

    def _resource(self) -> str | None:
        return canonical_resource(self.server_url)

    async def _grant_data(self, scope: str | None) -> dict[str, str]:
        data = await super()._grant_data(scope)
        data["assertion"] = await self._id_jag_provider(self._assertion_audience(), canonical_resource(self.server_url))
        return data
