"""The OAuth client's flows against the in-process mock authorization + resource server.

Each test drives ``OAuthClientProvider`` through its transport hooks (via the httpx2 adapter,
which calls ``headers`` and ``on_response`` exactly as the Streamable HTTP transport does) and
checks what reached the servers: discovery order, PKCE, resource indicators, client
authentication, scopes, the iss and issuer checks, step-up limits, migration and DPoP."""

from __future__ import annotations

import json
import ssl
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from mcpfast.client.auth import (
    AuthorizationCodeResult,
    ClientCredentialsOAuthProvider,
    IdentityAssertionOAuthProvider,
    InMemoryTokenStorage,
    JWTBearerOAuthProvider,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthClientProvider,
    OAuthFlowError,
    OAuthRegistrationError,
    OAuthTokenError,
    PrivateKeyJWTOAuthProvider,
    SignedJWTParameters,
)
from mcpfast.client.auth import provider as provider_module
from mcpfast.testing import async_test

from .mock_oauth import Issued, MockConfig, MockOAuth

REDIRECT = "http://127.0.0.1:9/callback"
#: one TLS context for every client of the module (each new one costs ~0.1 s; nothing here uses TLS)
TLS = ssl.create_default_context()


def http(**kw: Any) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(verify=TLS, **kw)


class Browser:
    """A redirect/callback handler pair that follows the authorization URL without a user."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self._result: AuthorizationCodeResult | None = None

    async def redirect(self, url: str) -> None:
        self.urls.append(url)
        async with http(follow_redirects=False) as client:
            resp = await client.get(url)
        q = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["location"]).query).items()}
        self._result = AuthorizationCodeResult(code=q["code"], state=q.get("state"), iss=q.get("iss"))

    async def callback(self) -> AuthorizationCodeResult:
        assert self._result is not None
        return self._result

    def query(self, i: int = -1) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.urls[i]).query).items()}


def provider_for(mock: MockOAuth, browser: Browser, **kw: Any) -> OAuthClientProvider:
    meta = OAuthClientMetadata(client_name="t", redirect_uris=[REDIRECT], **kw.pop("meta", {}))
    return OAuthClientProvider(mock.mcp_url, meta, kw.pop("storage", InMemoryTokenStorage()),
                               browser.redirect, browser.callback, http_client=http(), **kw)


async def call(provider: OAuthClientProvider, url: str) -> httpx2.Response:
    async with http(auth=provider.httpx_auth()) as client:
        return await client.post(url, json={"jsonrpc": "2.0", "id": 7, "method": "ping"})


async def close(provider: OAuthClientProvider) -> None:
    if provider.http_client is not None:
        await provider.http_client.aclose()


async def run(mock: MockOAuth, provider: OAuthClientProvider) -> httpx2.Response:
    try:
        return await call(provider, mock.mcp_url)
    finally:
        await close(provider)


@async_test
async def test_authorization_code_flow_with_dcr_pkce_and_resource() -> None:
    with MockOAuth() as mock:
        b = Browser()
        resp = await run(mock, provider_for(mock, b))
        assert resp.status_code == 200 and resp.json()["id"] == 7
        assert not mock.errors
        paths = [s.path for s in mock.seen]
        assert paths[:4] == ["/mcp", "/.well-known/oauth-protected-resource/mcp",
                             "/.well-known/oauth-authorization-server", "/register"]
        reg = mock.requests_to("/register")[0].body
        assert reg["application_type"] == "native" and reg["redirect_uris"] == [REDIRECT]
        q = b.query()
        assert q["code_challenge_method"] == "S256" and q["resource"] == mock.mcp_url
        assert "scope" not in q  # neither challenge nor PRM define one
        token = mock.requests_to("/token")[0].form
        assert token["resource"] == mock.mcp_url and token["client_id"].startswith("client-")
        assert mock.requests_to("/mcp")[-1].headers["authorization"].startswith("Bearer at-")


@async_test
async def test_root_prm_and_issuer_with_path_over_oidc() -> None:
    with MockOAuth(MockConfig(prm_at="root", issuer_path="/tenant1", oidc=True)) as mock:
        resp = await run(mock, provider_for(mock, Browser()))
        assert resp.status_code == 200
        paths = [s.path for s in mock.seen]
        # path-based PRM first (404), then root; RFC 8414 path insertion (404), then OIDC
        assert paths[1:5] == ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource",
                              "/.well-known/oauth-authorization-server/tenant1",
                              "/.well-known/openid-configuration/tenant1"]


@async_test
async def test_challenge_prm_url_is_tried_first() -> None:
    with MockOAuth(MockConfig(prm_at="challenge")) as mock:
        assert (await run(mock, provider_for(mock, Browser()))).status_code == 200
        assert mock.seen[1].path == "/custom/prm"


@async_test
async def test_legacy_server_without_metadata_uses_default_endpoints() -> None:
    cfg = MockConfig(prm_at="none", as_metadata=False, iss_mode="omit", auth_methods=["client_secret_basic"])
    with MockOAuth(cfg) as mock:
        resp = await run(mock, provider_for(mock, Browser()))
        assert resp.status_code == 200
        assert mock.requests_to("/register") and "resource" not in mock.requests_to("/token")[0].form


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post", "none"])
@async_test
async def test_token_endpoint_auth_methods(method: str) -> None:
    with MockOAuth(MockConfig(auth_methods=[method], registered_method=method)) as mock:
        assert (await run(mock, provider_for(mock, Browser()))).status_code == 200
        assert not mock.errors
        assert mock._client_of(mock.requests_to("/token")[0])[1] == method


@async_test
async def test_pre_registered_client_skips_registration() -> None:
    with MockOAuth(MockConfig(registration=False, auth_methods=["client_secret_basic"])) as mock:
        info = OAuthClientInformationFull(client_id="pre", client_secret="s3cret", redirect_uris=[REDIRECT])
        p = provider_for(mock, Browser(), storage=InMemoryTokenStorage(client_info=info))
        assert (await run(mock, p)).status_code == 200
        assert not mock.requests_to("/register")
        assert mock.requests_to("/token")[0].headers["authorization"].startswith("Basic ")


@async_test
async def test_no_registration_and_no_client_id_is_an_error() -> None:
    with MockOAuth(MockConfig(registration=False)) as mock, pytest.raises(OAuthRegistrationError):
        await run(mock, provider_for(mock, Browser()))


@async_test
async def test_cimd_client_id_when_supported() -> None:
    with MockOAuth(MockConfig(cimd=True)) as mock:
        b = Browser()
        p = provider_for(mock, b, client_metadata_url="https://client.example/meta.json")
        assert (await run(mock, p)).status_code == 200
        assert not mock.requests_to("/register")
        assert b.query()["client_id"] == "https://client.example/meta.json"


@async_test
async def test_scope_from_challenge_then_prm_and_offline_access() -> None:
    with MockOAuth(MockConfig(challenge_scope="mcp:read", scopes_supported=["a", "b"])) as mock:
        b = Browser()
        await run(mock, provider_for(mock, b))
        assert b.query()["scope"] == "mcp:read"
    with MockOAuth(MockConfig(scopes_supported=["a", "b"], as_scopes_supported=["a", "b", "offline_access"])) as mock:
        b = Browser()
        await run(mock, provider_for(mock, b))
        assert b.query()["scope"] == "a b offline_access"
    with MockOAuth(MockConfig(scopes_supported=["a"], as_scopes_supported=["a", "offline_access"])) as mock:
        b = Browser()  # a client that may not refresh does not ask for offline_access
        await run(mock, provider_for(mock, b, meta={"grant_types": ["authorization_code"]}))
        assert b.query()["scope"] == "a"


@async_test
async def test_step_up_on_insufficient_scope() -> None:
    cfg = MockConfig(challenge_scope="mcp:read", required_scopes={"mcp:read", "mcp:write"}, step_up_scope="mcp:write")
    with MockOAuth(cfg) as mock:
        b = Browser()
        assert (await run(mock, provider_for(mock, b))).status_code == 200
        assert [u["scope"] for u in (b.query(0), b.query(1))] == ["mcp:read", "mcp:read mcp:write"]


@async_test
async def test_step_up_retry_limit() -> None:
    cfg = MockConfig(always_403=True, step_up_scope="more")
    with MockOAuth(cfg) as mock:
        b = Browser()
        resp = await run(mock, provider_for(mock, b, max_step_up=2))
        assert resp.status_code == 403
        assert len(b.urls) == 3  # the first authorization and two step-ups, then it gives up


@pytest.mark.parametrize("mode", ["wrong", "normalized"])
@async_test
async def test_iss_mismatch_is_rejected(mode: str) -> None:
    with MockOAuth(MockConfig(iss_mode=mode)) as mock:
        with pytest.raises(OAuthFlowError, match="issuer"):
            await run(mock, provider_for(mock, Browser()))
        assert not mock.requests_to("/token")


@async_test
async def test_iss_missing_when_advertised_is_rejected_and_accepted_when_not() -> None:
    with MockOAuth(MockConfig(iss_mode="omit")) as mock, pytest.raises(OAuthFlowError, match="iss"):
        await run(mock, provider_for(mock, Browser()))
    with MockOAuth(MockConfig(iss_mode="omit", iss_supported=None)) as mock:
        assert (await run(mock, provider_for(mock, Browser()))).status_code == 200
    # compared even when not advertised
    with MockOAuth(MockConfig(iss_mode="wrong", iss_supported=None)) as mock, pytest.raises(OAuthFlowError):
        await run(mock, provider_for(mock, Browser()))


@async_test
async def test_state_mismatch_is_rejected() -> None:
    with MockOAuth(MockConfig(state_mode="wrong")) as mock, pytest.raises(OAuthFlowError, match="state"):
        await run(mock, provider_for(mock, Browser()))


@async_test
async def test_metadata_issuer_mismatch_is_rejected() -> None:
    with MockOAuth(MockConfig(metadata_issuer="https://other.example")) as mock:
        with pytest.raises(OAuthFlowError, match="names issuer"):
            await run(mock, provider_for(mock, Browser()))
        assert not mock.requests_to("/register")


@async_test
async def test_resource_mismatch_is_rejected() -> None:
    cfg = MockConfig(resource="https://elsewhere.example/mcp")
    with MockOAuth(cfg) as mock, pytest.raises(OAuthFlowError, match="resource"):
        await run(mock, provider_for(mock, Browser()))


@async_test
async def test_missing_pkce_support_is_refused() -> None:
    with MockOAuth(MockConfig(pkce_methods=None)) as mock, pytest.raises(OAuthFlowError, match="PKCE"):
        await run(mock, provider_for(mock, Browser()))


class LaterClock:
    """``time`` as seen an hour later."""

    @staticmethod
    def time() -> float:
        return time.time() + 3600


@async_test
async def test_refresh_before_expiry_and_token_store(monkeypatch: pytest.MonkeyPatch) -> None:
    storage = InMemoryTokenStorage()
    with MockOAuth(MockConfig(refresh=True, expires_in=600)) as mock:
        b = Browser()
        p = provider_for(mock, b, storage=storage)
        assert (await call(p, mock.mcp_url)).status_code == 200
        first = (await storage.get_tokens())
        assert first is not None and first.refresh_token
        monkeypatch.setattr(provider_module, "time", LaterClock)
        assert (await call(p, mock.mcp_url)).status_code == 200
        await close(p)
        grants = [s.form["grant_type"] for s in mock.requests_to("/token")]
        assert grants == ["authorization_code", "refresh_token"] and len(b.urls) == 1
        second = await storage.get_tokens()
        assert second is not None and second.access_token != first.access_token
        assert "at-" not in repr(second)  # never printed


@async_test
async def test_authorization_server_change_registers_again() -> None:
    with MockOAuth() as rs, MockOAuth() as as2:
        b = Browser()
        p = provider_for(rs, b)
        assert (await call(p, rs.mcp_url)).status_code == 200
        old = p.client_info
        assert old is not None and old.issuer == rs.issuer
        # the resource now names another authorization server and forgets its tokens
        rs.tokens.clear()
        rs.prm = lambda: {"resource": rs.mcp_url, "authorization_servers": [as2.issuer]}  # type: ignore[method-assign]
        as2.tokens = rs.tokens  # the resource trusts what the new server issues
        assert (await call(p, rs.mcp_url)).status_code == 200
        await close(p)
        assert p.client_info is not None and p.client_info.client_id != old.client_id
        assert p.client_info.issuer == as2.issuer
        assert as2.requests_to("/register") and all(
            s.form.get("client_id") != old.client_id for s in as2.requests_to("/token"))


@pytest.mark.parametrize("nonces", [False, True])
@async_test
async def test_dpop_bound_tokens_with_nonces(nonces: bool) -> None:
    cfg = MockConfig(dpop_algs=["ES256"], as_nonce="as-n" if nonces else None, rs_nonce="rs-n" if nonces else None)
    with MockOAuth(cfg) as mock:
        p = provider_for(mock, Browser())
        assert (await call(p, mock.mcp_url)).status_code == 200
        assert (await call(p, mock.mcp_url)).status_code == 200
        await close(p)
        assert not mock.errors
        authed = [s for s in mock.requests_to("/mcp") if "authorization" in s.headers]
        assert all(s.headers["authorization"].startswith("DPoP ") for s in authed)
        assert len({s.headers["dpop"] for s in authed}) == len(authed)  # a fresh proof each time
        token_reqs = mock.requests_to("/token")
        assert len(token_reqs) == (2 if nonces else 1)


@async_test
async def test_dpop_off_keeps_bearer() -> None:
    with MockOAuth(MockConfig(dpop_algs=["ES256"])) as mock:
        p = provider_for(mock, Browser(), dpop=False)
        assert (await run(mock, p)).status_code == 200
        assert "dpop" not in mock.requests_to("/token")[0].headers


@async_test
async def test_client_credentials_basic_and_post() -> None:
    for method in ("client_secret_basic", "client_secret_post"):
        with MockOAuth(MockConfig(grant_types=["client_credentials"], auth_methods=[method])) as mock:
            p = ClientCredentialsOAuthProvider(mock.mcp_url, None, "cc", "s3cret", method, scope="x", http_client=http())
            assert (await run(mock, p)).status_code == 200
            form = mock.requests_to("/token")[0].form
            assert form["grant_type"] == "client_credentials" and form["scope"] == "x"
            assert form["resource"] == mock.mcp_url and not mock.errors


@async_test
async def test_private_key_jwt_assertion() -> None:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    with MockOAuth(MockConfig(grant_types=["client_credentials"], auth_methods=["private_key_jwt"])) as mock:
        params = SignedJWTParameters(issuer="cid", subject="cid", signing_key=pem, signing_algorithm="ES256")
        p = PrivateKeyJWTOAuthProvider(mock.mcp_url, None, "cid", params.create_assertion_provider(),
                                       issuer=mock.issuer, http_client=http())
        assert (await run(mock, p)).status_code == 200
        form = mock.requests_to("/token")[0].form
        claims = jwt.decode(form["client_assertion"], key.public_key(), algorithms=["ES256"], audience=mock.issuer)
        assert claims["iss"] == claims["sub"] == "cid"


@async_test
async def test_pinned_issuer_mismatch_stops() -> None:
    with MockOAuth(MockConfig(grant_types=["client_credentials"], auth_methods=["client_secret_basic"])) as mock:
        p = ClientCredentialsOAuthProvider(mock.mcp_url, None, "cc", "s", issuer="https://other.example",
                                           http_client=http())
        with pytest.raises(OAuthFlowError, match="issuer"):
            await run(mock, p)
        assert not mock.requests_to("/token")


@async_test
async def test_jwt_bearer_grant_and_refusal_is_not_retried() -> None:
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    async def assertion(audience: str) -> str:
        return "workload.jwt.value"

    with MockOAuth(MockConfig(grant_types=[grant])) as mock:
        assert (await run(mock, JWTBearerOAuthProvider(mock.mcp_url, None, "wif", assertion, http_client=http()))).status_code == 200
        form = mock.requests_to("/token")[0].form
        assert form["grant_type"] == grant and form["assertion"] == "workload.jwt.value"
    with MockOAuth(MockConfig(grant_types=[grant], fail_token="invalid_grant")) as mock:
        with pytest.raises(OAuthTokenError) as info:
            await run(mock, JWTBearerOAuthProvider(mock.mcp_url, None, "wif", assertion, http_client=http()))
        assert info.value.error == "invalid_grant" and len(mock.requests_to("/token")) == 1


@async_test
async def test_identity_assertion_uses_the_configured_issuer_only() -> None:
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    seen: list[tuple[str, str]] = []

    async def id_jag(audience: str, resource: str) -> str:
        seen.append((audience, resource))
        return "id.jag.value"

    with MockOAuth(MockConfig(grant_types=[grant], auth_methods=["client_secret_basic"])) as mock:
        p = IdentityAssertionOAuthProvider(mock.mcp_url, None, "ent", "s3cret", mock.issuer, id_jag,
                                           token_endpoint_auth_method="client_secret_basic", http_client=http())
        assert (await run(mock, p)).status_code == 200
        assert not any(s.path.startswith("/.well-known/oauth-protected-resource") for s in mock.seen)
        form = mock.requests_to("/token")[0].form
        assert form["assertion"] == "id.jag.value" and seen == [(mock.issuer, mock.mcp_url)]
        with pytest.raises(ValueError):
            IdentityAssertionOAuthProvider(mock.mcp_url, None, "ent", "", mock.issuer, id_jag)


@pytest.mark.parametrize("dpop", [False, True])
@async_test
async def test_through_mcpfast_client_and_its_http_transport(dpop: bool) -> None:
    """The provider as the Streamable HTTP transport's auth hook: authorization on the first
    401, then the DPoP nonce of the resource server (a second retry of the same request)."""
    from mcpfast import Client

    cfg = MockConfig(dpop_algs=["ES256"], rs_nonce="rs-n") if dpop else MockConfig()
    with MockOAuth(cfg) as mock:
        p = provider_for(mock, Browser())
        async with Client(mock.mcp_url, mode="2026-07-28", transport_options={"auth": p}) as client:
            assert (await client.list_tools()).tools == []
            assert (await client.list_tools(cursor="next")).tools == []
        await close(p)
        assert not mock.errors
        authed = [s.headers["authorization"].split()[0] for s in mock.requests_to("/mcp") if "authorization" in s.headers]
        assert set(authed) == {"DPoP" if dpop else "Bearer"}


@async_test
async def test_stored_tokens_and_sdk_models_are_used() -> None:
    """A storage written for the SDK (pydantic models) works unchanged: its registration and
    token are loaded and used without a new authorization."""
    from mcp.shared.auth import OAuthClientInformationFull as SDKInfo
    from mcp.shared.auth import OAuthClientMetadata as SDKMetadata
    from mcp.shared.auth import OAuthToken as SDKToken

    with MockOAuth() as mock:
        mock.tokens["at-stored"] = Issued(set())
        storage = InMemoryTokenStorage()
        await storage.set_client_info(SDKInfo(client_id="sdk", redirect_uris=[REDIRECT]))
        await storage.set_tokens(SDKToken(access_token="at-stored"))
        meta = SDKMetadata(client_name="t", redirect_uris=[REDIRECT])
        b = Browser()
        p = OAuthClientProvider(mock.mcp_url, meta, storage, b.redirect, b.callback, http_client=http())
        assert (await run(mock, p)).status_code == 200
        assert b.urls == [] and mock.requests_to("/mcp")[0].headers["authorization"] == "Bearer at-stored"
        assert p.client_info is not None and p.client_info.client_id == "sdk"
        assert "at-stored" not in repr(p.tokens) and p.tokens is not None
        assert json.loads(p.tokens.model_dump_json())["access_token"] == "at-stored"
