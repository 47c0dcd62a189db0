"""The real guard and authenticators behind the Streamable HTTP core (I/O-free, fake responder):
what a client sees, and that tools read the verified token."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from mcpfast.testing import async_test
from mcpfast.transports.http.auth import AccessToken, BearerAuth, OAuthResourceServer, get_access_token

from . import fakes

http_mod = pytest.importorskip("mcpfast.transports.http")

URL = "http://127.0.0.1:8000/mcp"


class Verifier:
    def __init__(self) -> None:
        self.calls = 0

    async def verify_token(self, token: str) -> AccessToken | None:
        self.calls += 1
        await asyncio.sleep(0)
        scopes = {"full": ["mcp"], "narrow": []}.get(token)
        if scopes is None:
            return None
        return AccessToken(token=token, client_id="app", scopes=scopes, expires_at=int(time.time()) + 600, resource=URL)


def make(**kw: Any) -> Any:
    core = fakes.build_core()

    def whoami() -> str:
        token = get_access_token()
        return "anonymous" if token is None else f"{token.client_id} {' '.join(token.scopes)}"

    core.add_tool("whoami", whoami, input_schema={"type": "object"})
    http = http_mod.StreamableHTTP(core, http_mod.HTTPSettings(**kw))
    return fakes.Client(http)


@async_test
async def test_guard_rejects_rebinding_and_accepts_localhost() -> None:
    c = make(bind_host="127.0.0.1")
    r = c.post(fakes.modern_body("tools/list"), {"host": "evil.example:8000", **fakes.modern_headers("tools/list")})
    assert r.status == 421 and "allowed_hosts" in r.json()["error"]["message"]
    r = c.post(
        fakes.modern_body("tools/list"),
        {"host": "localhost:8000", "origin": "http://evil.example", **fakes.modern_headers("tools/list")},
    )
    assert r.status == 403 and "allowed_origins" in r.json()["error"]["message"]
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
        r = c.post(fakes.modern_body("tools/list"), {"host": host, **fakes.modern_headers("tools/list")})
        assert r.status == 200, (host, r.body)


@async_test
async def test_bearer_auth_through_the_core() -> None:
    c = make(auth=BearerAuth("s3cret"))
    r = c.modern("tools/list")
    assert r.status == 401 and r.header("www-authenticate") == "Bearer"
    r = c.modern("tools/list", headers={"authorization": "Bearer nope"})
    assert r.status == 401 and 'error="invalid_token"' in (r.header("www-authenticate") or "")
    r = c.modern("tools/list", headers={"authorization": "Bearer s3cret"})
    assert r.status == 200, r.body
    r = c.modern("tools/call", {"name": "whoami", "arguments": {}}, headers={"authorization": "Bearer s3cret"})
    assert fakes.result_of(r)["content"][0]["text"] == "None "


@async_test
async def test_oauth_resource_server_through_the_core() -> None:
    verifier = Verifier()
    c = make(
        auth=OAuthResourceServer(
            verifier, resource_server_url=URL, authorization_servers=["https://as.example"], required_scopes=["mcp"]
        )
    )
    # metadata is public
    for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
        r = c.send(fakes.request("GET", None, path=path))
        assert r.status == 200 and r.json()["resource"] == URL
    r = c.modern("tools/list")
    assert r.status == 401
    assert r.header("www-authenticate") == (
        'Bearer resource_metadata="http://127.0.0.1:8000/.well-known/oauth-protected-resource/mcp", scope="mcp"'
    )
    r = c.modern("tools/list", headers={"authorization": "Bearer narrow"})
    await fakes.settle()
    assert r.status == 403 and 'error="insufficient_scope"' in (r.header("www-authenticate") or "")
    r = c.modern("tools/list", headers={"authorization": "Bearer full"})
    await fakes.settle()
    assert r.status == 200, r.body
    r = c.modern("tools/call", {"name": "whoami", "arguments": {}}, headers={"authorization": "Bearer full"})
    # answered without awaiting the verifier again: the token was cached
    assert fakes.result_of(r)["content"][0]["text"] == "app mcp"
    assert verifier.calls == 2
