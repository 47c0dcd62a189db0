"""BearerAuth (static tokens), the Authorization header parser, get_access_token."""

from __future__ import annotations

import asyncio
import hmac
import json
import timeit

import pytest

from mcpfast import requestvars
from mcpfast.transports.http import auth as auth_mod
from mcpfast.transports.http.auth import AccessToken, BearerAuth, get_access_token
from mcpfast.transports.http.security import Rejection


def rejected(result: object, status: int) -> Rejection:
    assert isinstance(result, Rejection), result
    assert result.status == status
    assert ("content-type", "application/json") in result.headers
    assert ("cache-control", "no-store") in result.headers
    return result


def challenge(rejection: Rejection) -> str:
    values = [v for k, v in rejection.headers if k == "www-authenticate"]
    assert len(values) == 1
    return values[0]


@pytest.mark.parametrize(
    "header",
    ["Bearer s3cret", "bearer s3cret", "BEARER s3cret", "Bearer   s3cret", "  Bearer s3cret  ", "bEaReR s3cret"],
)
def test_accepts_known_token_any_scheme_case(header: str) -> None:
    result = BearerAuth("s3cret").authenticate(header)
    assert isinstance(result, AccessToken) and result.token == "s3cret"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic czNjcmV0", "s3cret", "Token s3cret"])
def test_missing_credentials_401_without_error_code(header: str | None) -> None:
    rejection = rejected(BearerAuth("s3cret").authenticate(header), 401)
    # RFC 6750 §3.1: no error code when the request carried no (bearer) credentials
    assert challenge(rejection) == "Bearer"
    assert json.loads(rejection.body)["error"] == "invalid_token"


@pytest.mark.parametrize(
    "header", ["Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET", "Bearer s3crét", "Bearer \udcff"]
)
def test_wrong_token_401_invalid_token(header: str) -> None:
    rejection = rejected(BearerAuth("s3cret").authenticate(header), 401)
    assert challenge(rejection) == 'Bearer error="invalid_token", error_description="The bearer token is not valid"'
    body = json.loads(rejection.body)
    assert body == {"error": "invalid_token", "error_description": "The bearer token is not valid"}


@pytest.mark.parametrize("header", ["Bearer a b", "Bearer s3cret extra", "Bearer s3cret\tx"])
def test_malformed_400_invalid_request(header: str) -> None:
    rejection = rejected(BearerAuth("s3cret").authenticate(header), 400)
    assert challenge(rejection) == 'Bearer error="invalid_request"'


def test_several_tokens() -> None:
    auth = BearerAuth(["alpha", "beta", "gamma"])
    for token in ("alpha", "beta", "gamma"):
        result = auth.authenticate(f"Bearer {token}")
        assert isinstance(result, AccessToken) and result.token == token
    rejected(auth.authenticate("Bearer delta"), 401)
    rejected(auth.authenticate("Bearer alph"), 401)


def test_mapping_gives_identity_and_scopes() -> None:
    grant = AccessToken(token="ignored", client_id="ci-bot", scopes=["deploy"], subject="bot")
    auth = BearerAuth({"t1": grant, "t2": ["read", "write"], "t3": None, "t4": "read write"})
    first = auth.authenticate("Bearer t1")
    assert isinstance(first, AccessToken)
    assert (first.token, first.client_id, first.scopes, first.subject) == ("t1", "ci-bot", ["deploy"], "bot")
    second = auth.authenticate("Bearer t2")
    assert isinstance(second, AccessToken) and second.scopes == ["read", "write"]
    third = auth.authenticate("Bearer t3")
    assert isinstance(third, AccessToken) and third.scopes == []
    fourth = auth.authenticate("Bearer t4")
    assert isinstance(fourth, AccessToken) and fourth.scopes == ["read", "write"]


@pytest.mark.parametrize("tokens", [[], "", ["a b"], ["ok", ""], {"x y": None}])
def test_bad_configuration(tokens: object) -> None:
    with pytest.raises(ValueError):
        BearerAuth(tokens)  # type: ignore[arg-type]


def test_well_known_empty() -> None:
    assert BearerAuth("x").well_known() == {}


def test_never_awaits() -> None:
    auth = BearerAuth(["a", "b"])
    for header in ("Bearer a", "Bearer zz", None, "Bearer a b"):
        assert isinstance(auth.authenticate(header), (AccessToken, Rejection))


def test_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a: object, b: object) -> bool:
        calls.append((a, b))
        return real(a, b)  # type: ignore[arg-type]

    monkeypatch.setattr(auth_mod.hmac, "compare_digest", spy)
    single = BearerAuth("s3cret")
    assert isinstance(single.authenticate("bearer s3cret"), AccessToken)
    rejected(single.authenticate("Bearer nope"), 401)
    several = BearerAuth(["s3cret", "other"])
    assert isinstance(several.authenticate("Bearer s3cret"), AccessToken)
    # every decision about a presented token went through compare_digest
    assert len(calls) >= 4
    assert any(b == b"s3cret" for _, b in calls)


def test_repr_hides_tokens() -> None:
    auth = BearerAuth({"topsecret": ["x"]})
    token = auth.authenticate("Bearer topsecret")
    assert "topsecret" not in repr(auth)
    assert "topsecret" not in repr(token)


def test_get_access_token_reads_request_context() -> None:
    assert get_access_token() is None
    token = AccessToken(token="t", client_id="c")

    async def handler() -> AccessToken | None:
        return get_access_token()

    async def main() -> AccessToken | None:
        reset = requestvars.access_token.set(token)
        try:
            return await asyncio.create_task(handler())
        finally:
            requestvars.access_token.reset(reset)

    assert asyncio.run(main()) is token
    assert get_access_token() is None


def test_principal() -> None:
    assert AccessToken(token="t", client_id="c", issuer="i", subject="s").principal == ("c", "i", "s")


def test_authenticate_is_fast() -> None:
    single = BearerAuth("s3cret-token-value-0123456789")
    header = "Bearer s3cret-token-value-0123456789"
    n = 20_000
    per_call = min(timeit.repeat(lambda: single.authenticate(header), number=n, repeat=3)) / n
    assert per_call < 5e-6  # ~0.1 us on the reference machine


def test_import_is_light() -> None:
    import subprocess
    import sys
    code = (
        "import sys; import mcpfast.transports.http.auth, mcpfast.transports.http.security; "
        "print([m for m in ('jwt', 'cryptography', 'pydantic', 'urllib.request', 'mcp') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
