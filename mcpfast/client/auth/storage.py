"""Where the OAuth client keeps tokens and its registration between runs.

``TokenStorage`` is the official SDK's protocol (same four async methods), so a storage written
for ``mcp.client.auth`` plugs in unchanged. The default, ``InMemoryTokenStorage``, forgets
everything when the process ends: fine for tests and short-lived tools; a long-lived client
should persist (to a keyring, a file with 0600 permissions, ...) by implementing the protocol.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .models import OAuthClientInformationFull, OAuthToken

__all__ = ["InMemoryTokenStorage", "TokenStorage"]


@runtime_checkable
class TokenStorage(Protocol):
    """Persistence for tokens and the client registration (one server per storage)."""

    async def get_tokens(self) -> OAuthToken | None:
        """The stored tokens, or None."""
        ...

    async def set_tokens(self, tokens: OAuthToken) -> None:
        """Store (replace) the tokens."""
        ...

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        """The stored registration, or None."""
        ...

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        """Store (replace) the registration."""
        ...


class InMemoryTokenStorage:
    """``TokenStorage`` in process memory; optionally seeded with a pre-registered client."""

    def __init__(self, client_info: OAuthClientInformationFull | None = None,
                 tokens: OAuthToken | None = None) -> None:
        self._tokens = tokens
        self._client_info = client_info

    async def get_tokens(self) -> OAuthToken | None:
        return self._tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self._tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self._client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self._client_info = client_info

    def __repr__(self) -> str:
        return f"InMemoryTokenStorage(has_tokens={self._tokens is not None}, has_client={self._client_info is not None})"
