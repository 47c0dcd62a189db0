"""A server written for the official SDK's auth (``AuthSettings`` + ``TokenVerifier``) gets the
HTTP transport's OAuth resource-server mode unchanged."""

from __future__ import annotations

import pytest

from mcpfast import MCPServer
from mcpfast.transports.http.auth import AccessToken, OAuthResourceServer


class Verifier:
    async def verify_token(self, token: str) -> AccessToken | None:
        return None


def test_sdk_auth_settings_and_verifier_become_a_resource_server() -> None:
    from mcp.server.auth.settings import AuthSettings

    auth = AuthSettings(issuer_url="https://auth.example.com", resource_server_url="http://127.0.0.1:8000/mcp", validate_token_resource=True,
                        required_scopes=["read"])
    app = MCPServer("guarded", auth=auth, token_verifier=Verifier())
    settings = app._http_settings(host="127.0.0.1")
    assert isinstance(settings.auth, OAuthResourceServer)
    paths = settings.auth.well_known()
    assert "/.well-known/oauth-protected-resource/mcp" in paths
    assert b"https://auth.example.com" in paths["/.well-known/oauth-protected-resource/mcp"]


def test_sdk_auth_settings_without_a_verifier_is_refused_clearly() -> None:
    from mcp.server.auth.settings import AuthSettings

    auth = AuthSettings(issuer_url="https://auth.example.com", resource_server_url="http://127.0.0.1:8000/mcp",
                        validate_token_resource=True)
    app = MCPServer("guarded", auth=auth)
    with pytest.raises(ValueError, match="token_verifier"):
        app._http_settings(host="127.0.0.1")
