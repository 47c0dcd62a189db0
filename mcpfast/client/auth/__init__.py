"""OAuth 2.1 for MCP clients: ``OAuthClientProvider`` (authorization code + PKCE, discovery,
registration, refresh, step-up, DPoP) and the machine-to-machine providers.

The names are the official SDK's (``mcp.client.auth`` and its ``extensions.client_credentials``),
so SDK code ports by changing the import. Give a provider to the Streamable HTTP transport
(``auth=provider``), or to an ``httpx2`` client through ``provider.httpx_auth()``. Needs the
``oauth-client`` extra (httpx2, PyJWT[crypto]); those are imported when first used.
"""

from __future__ import annotations

from .dpop import DPoPKey
from .errors import OAuthFlowError, OAuthRegistrationError, OAuthTokenError
from .extensions import (
    ClientCredentialsOAuthProvider,
    IdentityAssertionOAuthProvider,
    JWTBearerOAuthProvider,
    PrivateKeyJWTOAuthProvider,
    SignedJWTParameters,
    static_assertion_provider,
)
from .models import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthMetadata,
    OAuthToken,
    ProtectedResourceMetadata,
)
from .provider import OAuthClientProvider, PKCEParameters
from .storage import InMemoryTokenStorage, TokenStorage

__all__ = [
    "AuthorizationCodeResult",
    "ClientCredentialsOAuthProvider",
    "DPoPKey",
    "IdentityAssertionOAuthProvider",
    "InMemoryTokenStorage",
    "JWTBearerOAuthProvider",
    "OAuthClientInformationFull",
    "OAuthClientMetadata",
    "OAuthClientProvider",
    "OAuthFlowError",
    "OAuthMetadata",
    "OAuthRegistrationError",
    "OAuthToken",
    "OAuthTokenError",
    "PKCEParameters",
    "PrivateKeyJWTOAuthProvider",
    "ProtectedResourceMetadata",
    "SignedJWTParameters",
    "TokenStorage",
    "static_assertion_provider",
]
