"""A small OAuth authorization server + MCP resource server for the client's auth tests.

One threaded stdlib HTTP server on 127.0.0.1 (port 0) plays both roles, configured per test:
protected resource metadata at the path-based or root well-known URL, authorization server
metadata (RFC 8414 or OIDC, optionally under an issuer path), dynamic registration, an
authorization endpoint that redirects at once with a code (``state`` and ``iss`` echoed, or
tampered with), a token endpoint (authorization code with PKCE checked, refresh,
client credentials, JWT bearer; client authentication checked) that can bind tokens to a DPoP
key and demand nonces, and ``/mcp`` answering JSON-RPC only with a valid token that carries the
required scopes. Every request is recorded for the assertions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]
    body: Any


@dataclass
class Issued:
    scopes: set[str]
    jkt: str | None = None


@dataclass
class MockConfig:
    prm_at: str = "path"  # "path", "root", "none" (legacy), "challenge" (only via WWW-Authenticate)
    issuer_path: str = ""  # e.g. "/tenant1"
    oidc: bool = False
    as_metadata: bool = True  # False: no metadata at all (2025-03-26 default endpoints)
    metadata_issuer: str | None = None  # override the issuer in the AS metadata
    resource: str | None = None  # override the PRM resource
    scopes_supported: list[str] | None = None
    as_scopes_supported: list[str] | None = None
    challenge_scope: str | None = None
    required_scopes: set[str] = field(default_factory=set)  # /mcp answers 403 without them
    always_403: bool = False  # /mcp refuses every token with 403 insufficient_scope
    step_up_scope: str | None = None  # the scope named in the 403 challenge
    registration: bool = True
    cimd: bool = False
    auth_methods: list[str] = field(default_factory=lambda: ["none"])
    registered_method: str | None = None  # token_endpoint_auth_method the registration answers
    iss_supported: bool | None = True
    iss_mode: str = "correct"  # correct, wrong, omit, normalized
    state_mode: str = "echo"  # echo, wrong
    dpop_algs: list[str] | None = None
    as_nonce: str | None = None
    rs_nonce: str | None = None
    refresh: bool = False
    expires_in: int = 3600
    grant_types: list[str] = field(default_factory=lambda: ["authorization_code", "refresh_token"])
    pkce_methods: list[str] | None = field(default_factory=lambda: ["S256"])
    client_secret: str = "s3cret"
    fail_token: str | None = None  # an OAuth error code the token endpoint answers with


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    return b64url(hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest())


class MockOAuth:
    """The servers; use as a context manager. ``url`` is the origin, ``mcp_url`` the MCP endpoint."""

    def __init__(self, config: MockConfig | None = None) -> None:
        self.config = config or MockConfig()
        self.seen: list[Seen] = []
        self.tokens: dict[str, Issued] = {}
        self.refresh_tokens: dict[str, set[str]] = {}
        self.codes: dict[str, dict[str, str]] = {}
        self.clients: dict[str, dict[str, Any]] = {}
        self.jtis: set[str] = set()
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # a short poll interval: shutdown() waits for the serving loop to notice
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> MockOAuth:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def mcp_url(self) -> str:
        return self.url + "/mcp"

    @property
    def issuer(self) -> str:
        return self.url + self.config.issuer_path

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    # ------------------------------------------------------------------ routing

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        mock = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                ctype = self.headers.get("Content-Type", "")
                form: dict[str, str] = {}
                body: Any = None
                if "x-www-form-urlencoded" in ctype:
                    form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                elif raw:
                    body = json.loads(raw)
                seen = Seen(self.command, parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()},
                            {k.lower(): v for k, v in self.headers.items()}, form, body)
                with mock._lock:
                    mock.seen.append(seen)
                    status, headers, payload = mock.route(seen)
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if payload is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

        return Handler

    def route(self, r: Seen) -> tuple[int, dict[str, str], Any]:
        c = self.config
        ip = c.issuer_path
        prm_path = {"path": "/.well-known/oauth-protected-resource/mcp", "root": "/.well-known/oauth-protected-resource",
                    "challenge": "/custom/prm"}.get(c.prm_at)
        if prm_path and r.path == prm_path:
            return 200, {}, self.prm()
        as_paths = ([f"/.well-known/openid-configuration{ip}", f"{ip}/.well-known/openid-configuration"] if c.oidc
                    else [f"/.well-known/oauth-authorization-server{ip}"])
        if r.path in as_paths and c.as_metadata:
            return 200, {}, self.as_metadata()
        if r.path == f"{ip}/register" and r.method == "POST" and (c.registration or c.prm_at == "none"):
            return self.register(r)
        if r.path == f"{ip}/authorize":
            return self.authorize(r)
        if r.path == f"{ip}/token" and r.method == "POST":
            return self.token(r)
        if r.path == "/mcp":
            return self.mcp(r)
        return 404, {}, {"error": "not found"}

    def prm(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"resource": self.config.resource or self.mcp_url, "authorization_servers": [self.issuer]}
        if self.config.scopes_supported is not None:
            doc["scopes_supported"] = self.config.scopes_supported
        return doc

    def as_metadata(self) -> dict[str, Any]:
        c, ip = self.config, self.config.issuer_path
        doc: dict[str, Any] = {
            "issuer": c.metadata_issuer or self.issuer,
            "authorization_endpoint": f"{self.url}{ip}/authorize",
            "token_endpoint": f"{self.url}{ip}/token",
            "response_types_supported": ["code"],
            "grant_types_supported": c.grant_types,
            "token_endpoint_auth_methods_supported": c.auth_methods,
        }
        if c.pkce_methods is not None:
            doc["code_challenge_methods_supported"] = c.pkce_methods
        if c.registration:
            doc["registration_endpoint"] = f"{self.url}{ip}/register"
        if c.iss_supported is not None:
            doc["authorization_response_iss_parameter_supported"] = c.iss_supported
        if c.as_scopes_supported is not None:
            doc["scopes_supported"] = c.as_scopes_supported
        if c.cimd:
            doc["client_id_metadata_document_supported"] = True
        if c.dpop_algs is not None:
            doc["dpop_signing_alg_values_supported"] = c.dpop_algs
        return doc

    def register(self, r: Seen) -> tuple[int, dict[str, str], Any]:
        client_id = "client-" + secrets.token_hex(4)
        info = dict(r.body or {})
        info["client_id"] = client_id
        info["client_secret"] = self.config.client_secret
        if self.config.registered_method:
            info["token_endpoint_auth_method"] = self.config.registered_method
        self.clients[client_id] = info
        return 201, {}, info

    def authorize(self, r: Seen) -> tuple[int, dict[str, str], Any]:
        q, c = r.query, self.config
        code = "code-" + secrets.token_hex(8)
        self.codes[code] = q
        params = {"code": code, "state": q.get("state", "") if c.state_mode == "echo" else "tampered"}
        iss = {"correct": self.issuer, "wrong": "https://evil.example", "normalized": self.issuer + "/"}.get(c.iss_mode)
        if iss is not None:
            params["iss"] = iss
        return 302, {"Location": q["redirect_uri"] + "?" + urlencode(params)}, None

    def _dpop_check(self, r: Seen, htm: str, htu: str, nonce: str | None, token: str | None) -> tuple[str | None, str | None]:
        """(jkt, error) of the request's DPoP proof; (None, None) when there is none."""
        proof = r.headers.get("dpop")
        if proof is None:
            return None, None
        header = jwt.get_unverified_header(proof)
        if header.get("typ") != "dpop+jwt" or "d" in header.get("jwk", {}):
            return None, "bad proof header"
        key = jwt.PyJWK(header["jwk"], header["alg"])
        claims = jwt.decode(proof, key.key, algorithms=[header["alg"]])
        if claims["jti"] in self.jtis:
            return None, "replayed jti"
        self.jtis.add(claims["jti"])
        if claims["htm"] != htm or claims["htu"] != htu:
            return None, f"htm/htu mismatch {claims['htm']} {claims['htu']}"
        if token is not None and claims.get("ath") != b64url(hashlib.sha256(token.encode()).digest()):
            return None, "ath mismatch"
        if nonce is not None and claims.get("nonce") != nonce:
            return None, "use_dpop_nonce"
        return jwk_thumbprint(header["jwk"]), None

    def _client_of(self, r: Seen) -> tuple[str | None, str]:
        """(client_id, method used) from the token request."""
        auth = r.headers.get("authorization", "")
        if auth.startswith("Basic "):
            cid, _, _ = base64.b64decode(auth[6:]).decode().partition(":")
            return cid, "client_secret_basic"
        if "client_assertion" in r.form:
            return r.form.get("client_id"), "private_key_jwt"
        if "client_secret" in r.form:
            return r.form.get("client_id"), "client_secret_post"
        return r.form.get("client_id"), "none"

    def token(self, r: Seen) -> tuple[int, dict[str, str], Any]:
        c, f = self.config, r.form
        if c.fail_token:
            return 400, {}, {"error": c.fail_token}
        grant = f.get("grant_type")
        jkt = None
        if c.dpop_algs is not None:
            jkt, err = self._dpop_check(r, "POST", f"{self.url}{c.issuer_path}/token", c.as_nonce, None)
            if err == "use_dpop_nonce":
                return 400, {"DPoP-Nonce": c.as_nonce or ""}, {"error": "use_dpop_nonce"}
            if err:
                self.errors.append(err)
                return 400, {}, {"error": "invalid_dpop_proof"}
        _, method = self._client_of(r)
        if method not in c.auth_methods:
            self.errors.append(f"client auth {method} not in {c.auth_methods}")
            return 401, {}, {"error": "invalid_client"}
        if grant == "authorization_code":
            q = self.codes.pop(f.get("code", ""), None)
            if q is None:
                return 400, {}, {"error": "invalid_grant"}
            challenge = b64url(hashlib.sha256(f.get("code_verifier", "").encode()).digest())
            if challenge != q.get("code_challenge") or q.get("code_challenge_method") != "S256":
                self.errors.append("pkce mismatch")
                return 400, {}, {"error": "invalid_grant"}
            if f.get("resource") != q.get("resource") or f.get("redirect_uri") != q.get("redirect_uri"):
                self.errors.append("resource/redirect mismatch")
                return 400, {}, {"error": "invalid_grant"}
            scopes = set((q.get("scope") or "").split())
        elif grant == "refresh_token":
            scopes_or_none = self.refresh_tokens.pop(f.get("refresh_token", ""), None)
            if scopes_or_none is None:
                return 400, {}, {"error": "invalid_grant"}
            scopes = scopes_or_none
        elif grant in ("client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"):
            if grant not in c.grant_types:
                return 400, {}, {"error": "unsupported_grant_type"}
            scopes = set((f.get("scope") or "").split())
        else:
            return 400, {}, {"error": "unsupported_grant_type"}
        access = "at-" + secrets.token_hex(8)
        self.tokens[access] = Issued(scopes, jkt)
        out: dict[str, Any] = {"access_token": access, "token_type": "DPoP" if jkt else "Bearer",
                               "expires_in": c.expires_in, "scope": " ".join(sorted(scopes))}
        if c.refresh:
            rt = "rt-" + secrets.token_hex(8)
            self.refresh_tokens[rt] = scopes
            out["refresh_token"] = rt
        return 200, {}, out

    def mcp(self, r: Seen) -> tuple[int, dict[str, str], Any]:
        c = self.config
        prm_url = {"path": f"{self.url}/.well-known/oauth-protected-resource/mcp",
                   "challenge": f"{self.url}/custom/prm"}.get(c.prm_at)
        challenge = "Bearer"
        params = []
        if prm_url and c.prm_at != "path":
            params.append(f'resource_metadata="{prm_url}"')
        if c.challenge_scope:
            params.append(f'scope="{c.challenge_scope}"')
        if params:
            challenge += " " + ", ".join(params)
        auth = r.headers.get("authorization")
        if not auth:
            return 401, {"WWW-Authenticate": challenge}, {"error": "unauthorized"}
        scheme, _, token = auth.partition(" ")
        issued = self.tokens.get(token)
        if issued is None:
            return 401, {"WWW-Authenticate": challenge}, {"error": "invalid_token"}
        if issued.jkt is not None:
            if scheme != "DPoP":
                self.errors.append("bound token sent as " + scheme)
                return 401, {"WWW-Authenticate": challenge}, {"error": "invalid_token"}
            jkt, err = self._dpop_check(r, r.method, self.mcp_url, c.rs_nonce, token)
            if err == "use_dpop_nonce":
                return 401, {"WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": c.rs_nonce or ""}, None
            if err or jkt != issued.jkt:
                self.errors.append(f"rs proof: {err or 'jkt mismatch'}")
                return 401, {"WWW-Authenticate": challenge}, {"error": "invalid_token"}
        elif scheme != "Bearer":
            return 401, {"WWW-Authenticate": challenge}, {"error": "invalid_token"}
        if c.always_403 or not c.required_scopes <= issued.scopes:
            scope = c.step_up_scope or " ".join(sorted(c.required_scopes))
            return 403, {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'}, None
        rid = (r.body or {}).get("id", 1)
        if (r.body or {}).get("method") == "tools/list":  # enough MCP for mcpfast.Client's list_tools
            return 200, {}, {"jsonrpc": "2.0", "id": rid, "result": {"tools": [], "resultType": "complete"}}
        return 200, {}, {"jsonrpc": "2.0", "id": rid, "result": {"ok": True}}
