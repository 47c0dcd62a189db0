"""OAuthResourceServer: RFC 9728 metadata, challenges, generic token checks, the token cache."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Awaitable
from typing import Any

import pytest

from mcpfast.transports.http import auth as auth_mod
from mcpfast.transports.http.auth import (
    AccessToken,
    OAuthResourceServer,
    protected_resource_metadata_url,
)
from mcpfast.transports.http.security import Rejection

URL = "https://mcp.example.com/mcp"
AS = "https://auth.example.com"
PRM = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"


class Verifier:
    """Knows a fixed set of tokens; counts calls."""

    def __init__(self, tokens: dict[str, Any] | None = None) -> None:
        self.tokens = tokens or {}
        self.calls = 0

    async def verify_token(self, token: str) -> Any:
        self.calls += 1
        await asyncio.sleep(0)
        return self.tokens.get(token)


def good(token: str = "tok", **kw: Any) -> AccessToken:
    fields: dict[str, Any] = {
        "token": token,
        "client_id": "client",
        "scopes": ["mcp:read", "mcp:write"],
        "expires_at": int(time.time()) + 3600,
        "resource": URL,
        "issuer": AS,
        "subject": "alice",
    }
    fields.update(kw)
    return AccessToken(**fields)


def server(verifier: Any, **kw: Any) -> OAuthResourceServer:
    kw.setdefault("resource_server_url", URL)
    kw.setdefault("authorization_servers", [AS])
    return OAuthResourceServer(verifier, **kw)


def decide(rs: OAuthResourceServer, header: str | None) -> AccessToken | Rejection:
    result = rs.authenticate(header)
    if isinstance(result, (AccessToken, Rejection)):
        return result
    assert inspect.iscoroutine(result)
    return asyncio.run(_await(result))


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def www(rejection: object) -> str:
    assert isinstance(rejection, Rejection)
    [value] = [v for k, v in rejection.headers if k == "www-authenticate"]
    return value


# -- metadata --------------------------------------------------------------------------------


def test_metadata_served_at_both_well_known_paths() -> None:
    rs = server(
        Verifier(),
        scopes_supported=["mcp:read", "mcp:write"],
        resource_name="Demo",
        resource_documentation="https://docs.example.com",
    )
    paths = rs.well_known()
    assert set(paths) == {"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"}
    for body in paths.values():
        assert json.loads(body) == {
            "resource": URL,
            "authorization_servers": [AS],
            "scopes_supported": ["mcp:read", "mcp:write"],
            "bearer_methods_supported": ["header"],
            "resource_name": "Demo",
            "resource_documentation": "https://docs.example.com",
        }
    assert rs.resource_metadata_url == PRM


def test_metadata_scopes_default_to_required_and_omitted_otherwise() -> None:
    with_required = json.loads(
        server(Verifier(), required_scopes=["a"]).well_known()["/.well-known/oauth-protected-resource"]
    )
    assert with_required["scopes_supported"] == ["a"]
    without = json.loads(server(Verifier()).well_known()["/.well-known/oauth-protected-resource"])
    assert "scopes_supported" not in without


def test_metadata_for_root_resource() -> None:
    rs = server(Verifier(), resource_server_url="https://mcp.example.com")
    assert list(rs.well_known()) == ["/.well-known/oauth-protected-resource"]
    assert rs.resource_metadata_url == "https://mcp.example.com/.well-known/oauth-protected-resource"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h.example/mcp", "https://h.example/.well-known/oauth-protected-resource/mcp"),
        ("https://h.example/", "https://h.example/.well-known/oauth-protected-resource"),
        ("http://localhost:3000/a/b", "http://localhost:3000/.well-known/oauth-protected-resource/a/b"),
    ],
)
def test_metadata_url(url: str, expected: str) -> None:
    assert protected_resource_metadata_url(url) == expected


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"resource_server_url": "mcp.example.com/mcp"}, "absolute http"),
        ({"resource_server_url": "https://x/mcp#frag"}, "absolute http"),
        ({"authorization_servers": []}, "authorization_servers"),
        ({"cache_size": -1}, "cache_size"),
    ],
)
def test_bad_configuration(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        server(Verifier(), **kw)


# -- challenges ------------------------------------------------------------------------------


def test_missing_token_401_with_resource_metadata_and_scope() -> None:
    rs = server(Verifier(), required_scopes=["mcp:read", "mcp:write"])
    rejection = decide(rs, None)
    assert isinstance(rejection, Rejection) and rejection.status == 401
    assert www(rejection) == f'Bearer resource_metadata="{PRM}", scope="mcp:read mcp:write"'
    assert ("cache-control", "no-store") in rejection.headers


def test_missing_token_without_required_scopes_has_no_scope_param() -> None:
    assert www(decide(server(Verifier()), "Basic abc")) == f'Bearer resource_metadata="{PRM}"'


def test_invalid_token_401() -> None:
    rs = server(Verifier(), required_scopes=["mcp:read"])
    rejection = decide(rs, "Bearer nope")
    assert isinstance(rejection, Rejection) and rejection.status == 401
    assert www(rejection) == (
        f'Bearer resource_metadata="{PRM}", scope="mcp:read", error="invalid_token", '
        'error_description="The access token is invalid"'
    )
    assert json.loads(rejection.body) == {"error": "invalid_token", "error_description": "The access token is invalid"}


def test_malformed_header_400() -> None:
    rejection = decide(server(Verifier()), "Bearer a b")
    assert isinstance(rejection, Rejection) and rejection.status == 400
    assert 'error="invalid_request"' in www(rejection)


def test_valid_token_accepted() -> None:
    verifier = Verifier({"tok": good()})
    result = decide(server(verifier, required_scopes=["mcp:read"]), "Bearer tok")
    assert isinstance(result, AccessToken) and result.subject == "alice"


def test_insufficient_scope_403() -> None:
    verifier = Verifier({"tok": good(scopes=["mcp:read"])})
    rs = server(verifier, required_scopes=["mcp:read", "mcp:admin"])
    rejection = decide(rs, "Bearer tok")
    assert isinstance(rejection, Rejection) and rejection.status == 403
    assert www(rejection) == (
        f'Bearer resource_metadata="{PRM}", scope="mcp:read mcp:admin", error="insufficient_scope", '
        'error_description="Required scope: mcp:read mcp:admin"'
    )
    assert json.loads(rejection.body)["error"] == "insufficient_scope"


# -- generic checks --------------------------------------------------------------------------


def test_expired_token_rejected_beyond_leeway() -> None:
    now = int(time.time())
    verifier = Verifier({"old": good("old", expires_at=now - 120), "recent": good("recent", expires_at=now - 30)})
    rs = server(verifier, leeway=60)
    rejection = decide(rs, "Bearer old")
    assert isinstance(rejection, Rejection) and rejection.status == 401
    assert 'error_description="The access token expired"' in www(rejection)
    assert isinstance(decide(rs, "Bearer recent"), AccessToken)  # within the clock-skew leeway
    assert isinstance(decide(server(verifier, leeway=0), "Bearer recent"), Rejection)


@pytest.mark.parametrize(
    "resource",
    [None, "https://other.example.com/mcp", ["https://other.example.com/mcp"], "https://mcp.example.com/mcp2", ""],
)
def test_wrong_audience_rejected(resource: Any) -> None:
    rejection = decide(server(Verifier({"tok": good(resource=resource)})), "Bearer tok")
    assert isinstance(rejection, Rejection) and rejection.status == 401
    assert "audience" in www(rejection)


@pytest.mark.parametrize(
    "resource",
    [URL, URL + "/", "https://MCP.example.com:443/mcp", ["https://x.example/", URL]],
)
def test_audience_compared_as_urls(resource: Any) -> None:
    assert isinstance(decide(server(Verifier({"tok": good(resource=resource)})), "Bearer tok"), AccessToken)


def test_audience_configurable_and_can_be_turned_off() -> None:
    verifier = Verifier({"a": good("a", resource="api://mcp"), "n": good("n", resource=None)})
    assert isinstance(decide(server(verifier, audience="api://mcp"), "Bearer a"), AccessToken)
    assert isinstance(decide(server(verifier, audience=["x", "api://mcp"]), "Bearer a"), AccessToken)
    assert isinstance(decide(server(verifier), "Bearer a"), Rejection)
    assert isinstance(decide(server(verifier, audience=False), "Bearer n"), AccessToken)


def test_issuer_checked_when_configured() -> None:
    verifier = Verifier({"tok": good(issuer="https://evil.example.com")})
    assert isinstance(decide(server(verifier), "Bearer tok"), AccessToken)
    rejection = decide(server(verifier, issuer=AS), "Bearer tok")
    assert isinstance(rejection, Rejection) and rejection.status == 401
    assert "expected issuer" in www(rejection)
    assert isinstance(decide(server(Verifier({"tok": good()}), issuer=AS), "Bearer tok"), AccessToken)
    # a verifier that left the issuer in the claims only
    in_claims = Verifier({"tok": good(issuer=None, claims={"iss": AS})})
    assert isinstance(decide(server(in_claims, issuer=AS), "Bearer tok"), AccessToken)


def test_sdk_access_token_is_accepted() -> None:
    provider = pytest.importorskip("mcp.server.auth.provider")
    sdk_token = provider.AccessToken(
        token="tok",
        client_id="sdk-client",
        scopes=["mcp:read"],
        expires_at=int(time.time()) + 60,
        resource=URL,
        subject="bob",
        claims={"iss": AS},
    )
    result = decide(server(Verifier({"tok": sdk_token}), issuer=AS, required_scopes=["mcp:read"]), "Bearer tok")
    assert isinstance(result, AccessToken)
    assert (result.client_id, result.issuer, result.subject, result.scopes) == ("sdk-client", AS, "bob", ["mcp:read"])


def test_plain_async_function_as_verifier() -> None:
    async def verify(token: str) -> AccessToken | None:
        return good(token) if token == "fn" else None

    rs = server(verify)
    assert isinstance(decide(rs, "Bearer fn"), AccessToken)
    assert isinstance(decide(rs, "Bearer other"), Rejection)


def test_verifier_failure_503_not_cached(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        calls = 0

        async def verify_token(self, token: str) -> AccessToken | None:
            self.calls += 1
            raise ConnectionError("authorization server unreachable")

    broken = Broken()
    rs = server(broken)
    for _ in range(2):
        rejection = decide(rs, "Bearer secret-token-value")
        assert isinstance(rejection, Rejection) and rejection.status == 503
    assert broken.calls == 2
    assert "secret-token-value" not in caplog.text


# -- cache -----------------------------------------------------------------------------------


def test_cache_hit_is_synchronous() -> None:
    verifier = Verifier({"tok": good()})
    rs = server(verifier)
    first = rs.authenticate("Bearer tok")
    assert inspect.iscoroutine(first)
    verified = asyncio.run(_await(first))
    assert isinstance(verified, AccessToken)
    for header in ("Bearer tok", "bearer tok"):
        again = rs.authenticate(header)
        assert again is verified  # a plain value: no coroutine on the hot path
    assert verifier.calls == 1


def test_cache_is_bounded_lru() -> None:
    tokens = {f"t{i}": good(f"t{i}") for i in range(4)}
    verifier = Verifier(tokens)
    rs = server(verifier, cache_size=2)
    for name in ("t0", "t1"):
        decide(rs, f"Bearer {name}")
    assert isinstance(rs.authenticate("Bearer t0"), AccessToken)  # t0 now most recent
    decide(rs, "Bearer t2")  # evicts t1, the least recently used
    assert len(rs._cache) == 2
    assert isinstance(rs.authenticate("Bearer t0"), AccessToken)
    pending = rs.authenticate("Bearer t1")
    assert inspect.iscoroutine(pending)
    pending.close()


def test_cache_entry_ends_at_expiry_or_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr(auth_mod.time, "time", lambda: clock[0])
    verifier = Verifier({"short": good("short", expires_at=1_000_010), "long": good("long", expires_at=2_000_000)})
    rs = server(verifier, cache_ttl=30, leeway=0)
    decide(rs, "Bearer short")
    decide(rs, "Bearer long")
    clock[0] += 9
    assert isinstance(rs.authenticate("Bearer short"), AccessToken)
    clock[0] += 2  # past the token's expiry: re-verified, then rejected as expired
    rejection = decide(rs, "Bearer short")
    assert isinstance(rejection, Rejection) and "expired" in www(rejection)
    assert isinstance(rs.authenticate("Bearer long"), AccessToken)
    clock[0] += 20  # past cache_ttl: verified again
    assert inspect.iscoroutine(pending := rs.authenticate("Bearer long"))
    assert isinstance(asyncio.run(_await(pending)), AccessToken)
    assert verifier.calls == 4


def test_rejections_cached_briefly(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr(auth_mod.time, "time", lambda: clock[0])
    verifier = Verifier()
    rs = server(verifier, negative_cache_ttl=10)
    assert isinstance(decide(rs, "Bearer bad"), Rejection)
    assert isinstance(rs.authenticate("Bearer bad"), Rejection)  # synchronous, verifier not asked
    assert verifier.calls == 1
    clock[0] += 11
    assert inspect.iscoroutine(pending := rs.authenticate("Bearer bad"))
    pending.close()


def test_negative_cache_bounded_and_separate() -> None:
    verifier = Verifier({"good": good("good")})
    rs = server(verifier, cache_size=3)
    decide(rs, "Bearer good")
    for i in range(10):
        decide(rs, f"Bearer bad{i}")
    assert len(rs._negative) == 3
    assert isinstance(rs.authenticate("Bearer good"), AccessToken)  # not evicted by the flood


def test_cache_disabled() -> None:
    verifier = Verifier({"tok": good()})
    rs = server(verifier, cache_ttl=0)
    decide(rs, "Bearer tok")
    assert inspect.iscoroutine(pending := rs.authenticate("Bearer tok"))
    pending.close()


def test_clear_cache() -> None:
    rs = server(Verifier({"tok": good()}))
    decide(rs, "Bearer tok")
    rs.clear_cache()
    assert inspect.iscoroutine(pending := rs.authenticate("Bearer tok"))
    pending.close()


def test_cache_keys_are_digests_not_tokens() -> None:
    rs = server(Verifier({"tok-value": good("tok-value")}))
    decide(rs, "Bearer tok-value")
    decide(rs, "Bearer wrong-value")
    for key in (*rs._cache, *rs._negative):
        assert isinstance(key, bytes) and len(key) == 32 and b"value" not in key


def test_tokens_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    verifier = Verifier(
        {
            "aud-token-xyz": good("aud-token-xyz", resource="https://other.example"),
            "iss-token-xyz": good("iss-token-xyz", issuer="x"),
        }
    )
    rs = server(verifier, issuer=AS)
    for header in ("Bearer aud-token-xyz", "Bearer iss-token-xyz", "Bearer unknown-token-xyz"):
        decide(rs, header)
    assert "token-xyz" not in caplog.text
    assert "audience" in caplog.text or "resource" in caplog.text


def test_hit_path_cost() -> None:
    import timeit

    rs = server(Verifier({"tok": good()}))
    decide(rs, "Bearer tok")
    n = 20_000
    per_call = min(timeit.repeat(lambda: rs.authenticate("Bearer tok"), number=n, repeat=3)) / n
    assert per_call < 10e-6  # ~1 us on the reference machine


def test_concurrent_misses_share_one_verification() -> None:
    class Slow:
        calls = 0

        def __init__(self) -> None:
            self.gate: asyncio.Future[None] | None = None

        async def verify_token(self, token: str) -> AccessToken | None:
            self.calls += 1
            self.gate = asyncio.get_running_loop().create_future()
            await self.gate
            return good(token)

    slow = Slow()
    rs = server(slow)

    async def main() -> None:
        tasks = [asyncio.ensure_future(_await(rs.authenticate("Bearer tok"))) for _ in range(10)]  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        assert slow.calls == 1 and slow.gate is not None
        tasks[0].cancel()  # one client goes away: the others still get their answer
        await asyncio.sleep(0)
        slow.gate.set_result(None)
        results = await asyncio.gather(*tasks[1:])
        assert all(isinstance(r, AccessToken) for r in results)
        assert tasks[0].cancelled()
        assert rs._inflight == {}
        assert isinstance(rs.authenticate("Bearer tok"), AccessToken)

    asyncio.run(main(), debug=True)
    assert slow.calls == 1
