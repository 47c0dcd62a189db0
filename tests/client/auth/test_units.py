"""The pure pieces of the OAuth client: challenge parsing, discovery URL orders, resource
matching, scope selection, DPoP proofs and the records' round trip."""

from __future__ import annotations

import base64
import hashlib
import json

import jwt
import pytest

from mcpfast.client.auth import (
    DPoPKey,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthFlowError,
    OAuthMetadata,
    OAuthToken,
)
from mcpfast.client.auth.discovery import (
    as_metadata_urls,
    header_value,
    parse_www_authenticate,
    prm_urls,
    resource_allowed,
    select_scope,
    union_scopes,
)
from mcpfast.client.auth.models import ProtectedResourceMetadata


def test_www_authenticate_parsing() -> None:
    scheme, params = parse_www_authenticate(
        'Bearer error="insufficient_scope", scope="a b", resource_metadata="https://x/.well-known/p", realm=r')
    assert scheme == "Bearer"
    assert params == {"error": "insufficient_scope", "scope": "a b", "resource_metadata": "https://x/.well-known/p",
                      "realm": "r"}
    assert parse_www_authenticate('DPoP error="use_dpop_nonce"') == ("DPoP", {"error": "use_dpop_nonce"})
    assert parse_www_authenticate('Bearer Scope="q\\"x"')[1] == {"scope": 'q"x'}
    assert parse_www_authenticate(None) == (None, {})
    assert header_value({"www-authenticate": "x"}, "WWW-Authenticate") == "x"
    assert header_value([(b"DPoP-Nonce", b"a"), (b"dpop-nonce", b"b")], "DPoP-Nonce") == "a, b"


def test_discovery_url_orders() -> None:
    assert prm_urls("https://h/mcp/", "https://h/custom") == [
        "https://h/custom", "https://h/.well-known/oauth-protected-resource/mcp",
        "https://h/.well-known/oauth-protected-resource"]
    assert prm_urls("https://h", None) == ["https://h/.well-known/oauth-protected-resource"]
    assert as_metadata_urls("https://as/tenant1") == [
        "https://as/.well-known/oauth-authorization-server/tenant1",
        "https://as/.well-known/openid-configuration/tenant1",
        "https://as/tenant1/.well-known/openid-configuration"]
    assert as_metadata_urls("https://as") == [
        "https://as/.well-known/oauth-authorization-server", "https://as/.well-known/openid-configuration"]


@pytest.mark.parametrize(("server", "resource", "ok"), [
    ("https://h/mcp", "https://h/mcp", True),
    ("https://H/mcp", "https://h/mcp/", True),
    ("https://h/mcp", "https://h", True),
    ("https://h/mcp/x", "https://h/mcp", True),
    ("https://h/mcpx", "https://h/mcp", False),
    ("https://h/mcp", "https://h/other", False),
    ("https://h/mcp", "https://evil/mcp", False),
    ("https://h/mcp", "http://h/mcp", False),
])
def test_resource_matching(server: str, resource: str, ok: bool) -> None:
    assert resource_allowed(server, resource) is ok


def test_scope_selection() -> None:
    prm = ProtectedResourceMetadata(resource="https://h", authorization_servers=["https://as"],
                                    scopes_supported=["a", "b"])
    asm = OAuthMetadata(issuer="https://as", scopes_supported=["a", "offline_access"])
    refresh = ["authorization_code", "refresh_token"]
    assert select_scope("c", prm, None, refresh) == "c"
    assert select_scope(None, prm, None, refresh) == "a b"
    assert select_scope(None, prm, asm, refresh) == "a b offline_access"
    assert select_scope(None, prm, asm, ["authorization_code"]) == "a b"
    assert select_scope(None, None, asm, refresh) is None  # never offline_access alone
    assert union_scopes("a b", "b c") == "a b c" and union_scopes(None, None) is None


def test_dpop_proof_claims() -> None:
    key = DPoPKey()
    proof = key.proof("post", "https://h/mcp?x=1#f", nonce="n1", access_token="tok")
    header = jwt.get_unverified_header(proof)
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256" and "d" not in header["jwk"]
    claims = jwt.decode(proof, jwt.PyJWK(header["jwk"], "ES256").key, algorithms=["ES256"])
    assert claims["htm"] == "POST" and claims["htu"] == "https://h/mcp" and claims["nonce"] == "n1"
    assert claims["ath"] == base64.urlsafe_b64encode(hashlib.sha256(b"tok").digest()).rstrip(b"=").decode()
    assert key.proof("GET", "https://h/mcp") != key.proof("GET", "https://h/mcp")  # fresh jti
    members = json.dumps({k: header["jwk"][k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"),
                         sort_keys=True).encode()
    assert key.thumbprint == base64.urlsafe_b64encode(hashlib.sha256(members).digest()).rstrip(b"=").decode()


def test_records_round_trip_and_hide_secrets() -> None:
    info = OAuthClientInformationFull.from_dict(
        {"client_id": "c", "client_secret": "hush", "redirect_uris": ["http://l/cb"], "vendor_field": 1})
    assert info.to_dict()["vendor_field"] == 1 and info.client_secret == "hush"
    assert "hush" not in repr(info)
    token = OAuthToken.from_dict({"access_token": "at-secret", "refresh_token": "rt-secret", "expires_in": 60})
    assert "secret" not in repr(token)
    assert OAuthToken.from_dict(json.loads(token.model_dump_json())) == token
    assert OAuthClientMetadata().application_type == "native"
    with pytest.raises(OAuthFlowError, match="OAuthToken"):
        OAuthToken.from_dict({"token_type": "Bearer"})  # no access_token
