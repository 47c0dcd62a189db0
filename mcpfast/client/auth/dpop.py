"""DPoP (RFC 9449): a key pair held by the client, and a fresh signed proof per HTTP request.

A DPoP-bound access token is useless without the private key: each request carries a proof
JWT (``typ: dpop+jwt``, the public key in the ``jwk`` header) over the method and URL, with a
fresh ``jti``, the time, the hash of the token (``ath``, at a resource server) and, once a
server asked for one, its ``nonce``. Keys are ES256 (P-256), the algorithm every DPoP server
must accept. PyJWT and cryptography are imported on first use (the ``oauth-client`` extra).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["DPoPKey", "htu_of"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def htu_of(url: str) -> str:
    """The ``htu`` claim of a request URL: without query and fragment (RFC 9449 §4.2)."""
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, p.path, "", ""))


class DPoPKey:
    """One ES256 proof-of-possession key. Generate a new one per client (``DPoPKey()``) or load
    a persisted key with ``DPoPKey.from_pem``; tokens bound to a key die with it."""

    algorithm = "ES256"

    def __init__(self, private_key: Any = None) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        if private_key is None:
            private_key = ec.generate_private_key(ec.SECP256R1())
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or private_key.curve.name != "secp256r1":
            raise ValueError("a DPoP key must be a P-256 (ES256) private key")
        self._key = private_key
        numbers = private_key.public_key().public_numbers()
        self._jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
        }

    @classmethod
    def from_pem(cls, pem: bytes | str, password: bytes | None = None) -> DPoPKey:
        """Load a P-256 private key (PKCS#8 or SEC1 PEM)."""
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        data = pem.encode() if isinstance(pem, str) else pem
        return cls(load_pem_private_key(data, password))

    @property
    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK (no private part)."""
        return dict(self._jwk)

    @property
    def thumbprint(self) -> str:
        """The JWK SHA-256 thumbprint (RFC 7638): what a bound token's ``cnf.jkt`` holds."""
        canonical = json.dumps(self._jwk, separators=(",", ":"), sort_keys=True).encode()
        return _b64url(hashlib.sha256(canonical).digest())

    def proof(self, method: str, url: str, *, nonce: str | None = None, access_token: str | None = None) -> str:
        """A fresh proof JWT for one request (new ``jti`` each call)."""
        import jwt

        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(24),
            "htm": method.upper(),
            "htu": htu_of(url),
            "iat": int(time.time()),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["ath"] = _b64url(hashlib.sha256(access_token.encode("ascii")).digest())
        headers = {"typ": "dpop+jwt", "jwk": self.public_jwk}
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)

    def __repr__(self) -> str:
        return f"DPoPKey(thumbprint={self.thumbprint!r})"
