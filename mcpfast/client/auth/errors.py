"""Errors of the OAuth client (the official SDK's names, so ``except`` clauses port unchanged)."""

from __future__ import annotations

__all__ = ["OAuthFlowError", "OAuthRegistrationError", "OAuthTokenError"]


class OAuthFlowError(Exception):
    """The authorization flow cannot go on: discovery failed, a check (resource, issuer,
    ``iss``, ``state``) did not hold, or the retries ran out. The message says which; it never
    contains a token or a secret."""


class OAuthTokenError(OAuthFlowError):
    """The token endpoint refused (its ``error`` code is in ``error``) or answered nonsense."""

    def __init__(self, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


class OAuthRegistrationError(OAuthFlowError):
    """Dynamic client registration failed, or no way to obtain a client id was available."""
