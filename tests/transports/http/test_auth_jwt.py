"""JWTVerifier with locally generated keys (no network), alone and behind OAuthResourceServer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

jwt = pytest.importorskip("jwt")
pytest.importorskip("cryptography")

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402

from mcpfast.transports.http.auth import AccessToken, JWTVerifier, OAuthResourceServer  # noqa: E402
from mcpfast.transports.http.security import Rejection  # noqa: E402

ISS = "https://auth.example.com"
AUD = "https://mcp.example.com/mcp"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def public_pem(rsa_key: rsa.RSAPrivateKey) -> bytes:
    return rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def claims(**kw: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "sub": "alice",
        "client_id": "app",
        "scope": "mcp:read mcp:write",
        "iat": now,
        "exp": now + 600,
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: Any, payload: dict[str, Any], alg: str = "RS256", kid: str | None = None) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, key, algorithm=alg, headers=headers)  # type: ignore[no-any-return]


def verify(verifier: JWTVerifier, token: str) -> AccessToken | None:
    return asyncio.run(verifier.verify_token(token))


def test_valid_token_maps_claims(rsa_key: Any, public_pem: bytes) -> None:
    verifier = JWTVerifier(key=public_pem, issuer=ISS, audience=AUD)
    payload = claims()
    token = sign(rsa_key, payload)
    access = verify(verifier, token)
    assert access is not None
    assert access.token == token
    assert access.client_id == "app" and access.subject == "alice" and access.issuer == ISS
    assert access.scopes == ["mcp:read", "mcp:write"]
    assert access.resource == AUD and access.expires_at == payload["exp"]
    assert access.claims["sub"] == "alice"


@pytest.mark.parametrize(
    ("extra", "scopes", "client"),
    [
        ({"scope": None, "scp": ["a", "b"]}, ["a", "b"], "app"),
        ({"scope": None, "scp": "a b"}, ["a", "b"], "app"),
        ({"scope": None}, [], "app"),
        ({"client_id": None, "azp": "spa"}, ["mcp:read", "mcp:write"], "spa"),
    ],
)
def test_scope_and_client_claim_variants(
    rsa_key: Any, public_pem: bytes, extra: dict[str, Any], scopes: list[str], client: str
) -> None:
    access = verify(JWTVerifier(key=public_pem, issuer=ISS, audience=AUD), sign(rsa_key, claims(**extra)))
    assert access is not None and access.scopes == scopes and access.client_id == client


@pytest.mark.parametrize(
    "payload_kw",
    [
        {"exp": int(time.time()) - 3600},  # expired beyond leeway
        {"aud": "https://other.example.com/mcp"},
        {"iss": "https://evil.example.com"},
        {"exp": None},  # required claim missing
        {"nbf": int(time.time()) + 3600},  # not yet valid
    ],
)
def test_invalid_claims_rejected(rsa_key: Any, public_pem: bytes, payload_kw: dict[str, Any]) -> None:
    verifier = JWTVerifier(key=public_pem, issuer=ISS, audience=AUD)
    assert verify(verifier, sign(rsa_key, claims(**payload_kw))) is None


def test_leeway(rsa_key: Any, public_pem: bytes) -> None:
    token = sign(rsa_key, claims(exp=int(time.time()) - 30))
    assert verify(JWTVerifier(key=public_pem, issuer=ISS, audience=AUD, leeway=60), token) is not None
    assert verify(JWTVerifier(key=public_pem, issuer=ISS, audience=AUD, leeway=0), token) is None


def test_wrong_key_and_garbage_rejected(public_pem: bytes) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    verifier = JWTVerifier(key=public_pem, issuer=ISS, audience=AUD)
    assert verify(verifier, sign(other, claims())) is None
    assert verify(verifier, "not.a.jwt") is None
    assert verify(verifier, "garbage") is None


def test_alg_none_and_unlisted_algorithms_rejected(rsa_key: Any, public_pem: bytes) -> None:
    verifier = JWTVerifier(key=public_pem, issuer=ISS, audience=AUD, algorithms=["RS256"])
    unsigned = jwt.encode(claims(), None, algorithm="none")
    assert verify(verifier, unsigned) is None
    assert verify(verifier, sign(rsa_key, claims(), alg="RS384")) is None
    # algorithm confusion: HS256 "signed" with the public key as the HMAC secret must not pass
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"." + b64(json.dumps(claims()).encode())
    mac = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    confused = (signing_input + b"." + b64(mac)).decode()
    assert verify(verifier, confused) is None
    assert (
        verify(JWTVerifier(key=public_pem, issuer=ISS, audience=AUD, algorithms=["RS256", "HS256"]), confused) is None
    )


def test_es256_and_hs256(public_pem: bytes) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_pub = ec_key.public_key()
    assert verify(JWTVerifier(key=ec_pub, issuer=ISS, audience=AUD), sign(ec_key, claims(), alg="ES256")) is not None
    secret = "a-shared-secret-of-at-least-32-bytes!!"
    hs = JWTVerifier(key=secret, issuer=ISS, audience=AUD, algorithms=["HS256"])
    assert verify(hs, jwt.encode(claims(), secret, algorithm="HS256")) is not None


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({}, "exactly one of"),
        ({"key": "k", "jwks_url": "https://x/jwks"}, "exactly one of"),
        ({"key": "k", "algorithms": ["none"]}, "without 'none'"),
        ({"key": "k", "algorithms": []}, "non-empty"),
    ],
)
def test_bad_configuration(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        JWTVerifier(issuer=ISS, audience=AUD, **kw)


def test_audience_none_skips_aud_check(rsa_key: Any, public_pem: bytes) -> None:
    verifier = JWTVerifier(key=public_pem, issuer=ISS, audience=None)
    access = verify(verifier, sign(rsa_key, claims(aud="https://anything.example")))
    assert access is not None and access.resource == "https://anything.example"


def test_jwks_fetched_in_a_thread_and_cached(rsa_key: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True)
    jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})
    fetches: list[str] = []
    loop_thread = threading.get_ident()

    verifier = JWTVerifier(jwks_url="https://auth.example.com/jwks", issuer=ISS, audience=AUD)

    def fetch_data() -> dict[str, Any]:
        fetches.append(threading.current_thread().name)
        assert threading.get_ident() != loop_thread  # never blocks the event loop
        return {"keys": [jwk]}

    monkeypatch.setattr(verifier._jwks, "fetch_data", fetch_data)
    for _ in range(3):
        assert verify(verifier, sign(rsa_key, claims(), kid="k1")) is not None
    assert len(fetches) == 1  # PyJWKClient's own cache
    assert verify(verifier, sign(rsa_key, claims(), kid="unknown")) is None


def test_jwks_unreachable_is_a_server_failure(rsa_key: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = JWTVerifier(jwks_url="https://auth.example.com/jwks", issuer=ISS, audience=AUD)

    def down() -> dict[str, Any]:
        raise jwt.PyJWKClientConnectionError("down")

    monkeypatch.setattr(verifier._jwks, "fetch_data", down)
    rs = OAuthResourceServer(verifier, resource_server_url=AUD, authorization_servers=[ISS])

    async def main() -> Any:
        result = rs.authenticate("Bearer " + sign(rsa_key, claims(), kid="k1"))
        return await result  # type: ignore[misc]

    rejection = asyncio.run(main())
    assert isinstance(rejection, Rejection) and rejection.status == 503


def test_end_to_end_with_resource_server(rsa_key: Any, public_pem: bytes) -> None:
    verifier = JWTVerifier(key=public_pem, issuer=ISS, audience=AUD)
    rs = OAuthResourceServer(
        verifier, resource_server_url=AUD, authorization_servers=[ISS], issuer=ISS, required_scopes=["mcp:read"]
    )

    async def decide(header: str) -> Any:
        result = rs.authenticate(header)
        if isinstance(result, (AccessToken, Rejection)):
            return result
        return await result

    async def main() -> None:
        token = sign(rsa_key, claims())
        first = await decide("Bearer " + token)
        assert isinstance(first, AccessToken) and first.subject == "alice"
        assert rs.authenticate("Bearer " + token) is first  # cached: synchronous
        narrow = await decide("Bearer " + sign(rsa_key, claims(scope="other")))
        assert isinstance(narrow, Rejection) and narrow.status == 403
        expired = await decide("Bearer " + sign(rsa_key, claims(exp=int(time.time()) - 3600)))
        assert isinstance(expired, Rejection) and expired.status == 401

    asyncio.run(main())
