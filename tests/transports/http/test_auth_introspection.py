"""IntrospectionVerifier (RFC 7662) against a loopback stub, and OAuthResourceServer.from_sdk."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from mcpfast.transports.http.auth import AccessToken, IntrospectionVerifier, OAuthResourceServer
from mcpfast.transports.http.security import Rejection

URL = "https://mcp.example.com/mcp"


class _Stub(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers["content-length"])
        form = parse_qs(self.rfile.read(length).decode())
        token = form["token"][0]
        _Stub.seen.append({"token": token, "authorization": self.headers.get("authorization")})
        if token == "active":
            answer: dict[str, Any] = {
                "active": True,
                "scope": "mcp:read",
                "client_id": "app",
                "sub": "alice",
                "aud": URL,
                "iss": "https://auth.example.com",
                "exp": int(time.time()) + 600,
            }
        elif token == "boom":
            self.send_response(500)
            self.end_headers()
            return
        else:
            answer = {"active": False}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the stub
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    _Stub.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/introspect"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_active_and_inactive(endpoint: str) -> None:
    verifier = IntrospectionVerifier(endpoint, client_id="rs", client_secret="pw:d", allow_http=True)
    access = asyncio.run(verifier.verify_token("active"))
    assert isinstance(access, AccessToken)
    assert (access.client_id, access.subject, access.scopes, access.resource) == ("app", "alice", ["mcp:read"], URL)
    assert asyncio.run(verifier.verify_token("other")) is None
    expected = "Basic " + base64.b64encode(b"rs:pw%3Ad").decode()
    assert _Stub.seen[0]["authorization"] == expected


def test_endpoint_failure_becomes_503(endpoint: str) -> None:
    rs = OAuthResourceServer(
        IntrospectionVerifier(endpoint, allow_http=True),
        resource_server_url=URL,
        authorization_servers=["https://auth.example.com"],
    )

    async def main() -> Any:
        return await rs.authenticate("Bearer boom")  # type: ignore[misc]

    result = asyncio.run(main())
    assert isinstance(result, Rejection) and result.status == 503


def test_https_required() -> None:
    with pytest.raises(ValueError, match="must be https"):
        IntrospectionVerifier("http://auth.example.com/introspect")


class _Verifier:
    async def verify_token(self, token: str) -> AccessToken | None:
        return AccessToken(token=token, scopes=["s"], resource="https://elsewhere.example") if token == "t" else None


def _sdk_settings(**kw: Any) -> Any:
    settings_mod = pytest.importorskip("mcp.server.auth.settings")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return settings_mod.AuthSettings(
            issuer_url="https://auth.example.com", resource_server_url=URL, required_scopes=["s"], **kw
        )


def test_from_sdk_settings() -> None:
    rs = OAuthResourceServer.from_sdk(_sdk_settings(validate_token_resource=True), _Verifier())
    meta = json.loads(rs.well_known()["/.well-known/oauth-protected-resource/mcp"])
    assert meta["resource"] == URL and meta["authorization_servers"] == ["https://auth.example.com"]
    assert meta["scopes_supported"] == ["s"]

    async def decide(rs: OAuthResourceServer) -> Any:
        return await rs.authenticate("Bearer t")  # type: ignore[misc]

    # validate_token_resource=True: the token's foreign resource is refused
    assert isinstance(asyncio.run(decide(rs)), Rejection)
    # unset: the SDK does not check (and warns); nor do we
    lax = OAuthResourceServer.from_sdk(_sdk_settings(), _Verifier())
    assert isinstance(asyncio.run(decide(lax)), AccessToken)


def test_from_sdk_needs_resource_url() -> None:
    class Settings:
        issuer_url = "https://auth.example.com"
        resource_server_url = None

    with pytest.raises(ValueError, match="resource_server_url"):
        OAuthResourceServer.from_sdk(Settings(), _Verifier())
