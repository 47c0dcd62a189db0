"""Routing around the MCP endpoint: Host/Origin guard, authentication (and sessions bound to who
opened them), well-known metadata, metrics, the body limit, settings, memory per session."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from dataclasses import dataclass
from typing import Any

import pytest

from mcpfast.testing import async_test
from mcpfast.transports.http import HTTPRequest, HTTPSettings, Responder, StreamableHTTP
from mcpfast.transports.http.security import Rejection
from mcpfast.wire import _json

from .fakes import Client, FakeResponder, build_core, request, result_of, settle

INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}


@dataclass
class Token:
    token: str
    client_id: str | None
    subject: str | None = None
    issuer: str | None = None


DENY = Rejection(401, b'{"error":"invalid_token"}', (("content-type", "application/json"),
                                                     ("www-authenticate", 'Bearer error="invalid_token"')))


class FakeAuth:
    """Tokens "a" and "b" are two clients; "slow-a" is "a" checked asynchronously."""

    def __init__(self) -> None:
        self.calls = 0

    def well_known(self) -> dict[str, bytes]:
        return {"/.well-known/oauth-protected-resource/mcp": b'{"resource":"http://127.0.0.1:8000/mcp"}'}

    def authenticate(self, authorization: str | None) -> Any:
        self.calls += 1
        if authorization == "Bearer a":
            return Token("a", "client-a")
        if authorization == "Bearer b":
            return Token("b", "client-b")
        if authorization == "Bearer slow-a":
            async def later() -> Any:
                await asyncio.sleep(0)
                return Token("a", "client-a")
            return later()
        if authorization == "Bearer slow-bad":
            async def later_bad() -> Any:
                await asyncio.sleep(0)
                return DENY
            return later_bad()
        if authorization == "Bearer none":
            return None
        if authorization == "Bearer broken":
            async def broken() -> Any:
                raise RuntimeError("verifier down")
            return broken()
        return DENY


def make(**kw: Any) -> tuple[Any, StreamableHTTP, Client]:
    core = build_core()
    http = StreamableHTTP(core, HTTPSettings(**kw))
    return core, http, Client(http)


# ------------------------------------------------------------------ guard


@async_test
async def test_dns_rebinding_guard_runs_first() -> None:
    _, _, c = make(bind_host="127.0.0.1")
    r = c.post(INIT, {"host": "evil.example"})
    assert r.status == 421 and r.header("content-type") == "application/json"
    r = c.post(INIT, {"origin": "http://evil.example"})
    assert r.status == 403
    assert c.post(INIT, {"host": "localhost:8000", "origin": "http://localhost:3000"}).status == 200
    # the metrics route is guarded too
    _, _, c = make(bind_host="127.0.0.1", metrics_path="/metrics")
    assert c.send(request("GET", None, {"host": "evil.example"}, path="/metrics")).status == 421


@async_test
async def test_guard_off_when_asked() -> None:
    _, _, c = make(dns_rebinding_protection=False)
    assert c.post(INIT, {"host": "evil.example"}).status == 200


# ------------------------------------------------------------------ auth


@async_test
async def test_auth_rejection_is_sent_as_is() -> None:
    _, _, c = make(auth=FakeAuth())
    r = c.post(INIT)
    assert r.status == 401 and r.body == DENY.body
    assert r.header("www-authenticate") == 'Bearer error="invalid_token"'


@async_test
async def test_auth_token_reaches_handlers() -> None:
    _, _, c = make(auth=FakeAuth())
    r = c.modern("tools/call", {"name": "who", "arguments": {}}, headers={"authorization": "Bearer a"})
    assert result_of(r)["content"][0]["text"] == "POST /mcp client-a"


@async_test
async def test_async_auth() -> None:
    _, _, c = make(auth=FakeAuth())
    r = c.modern("tools/call", {"name": "who", "arguments": {}}, headers={"authorization": "Bearer slow-a"})
    assert r.status is None
    await settle()
    assert result_of(r)["content"][0]["text"] == "POST /mcp client-a"
    r = c.modern("tools/list", headers={"authorization": "Bearer slow-bad"})
    await settle()
    assert r.status == 401
    r = c.modern("tools/list", headers={"authorization": "Bearer broken"})
    await settle()
    assert r.status == 500
    r = c.modern("tools/list", headers={"authorization": "Bearer none"})
    assert r.status == 500  # an authenticator that decides nothing never lets a request through
    # the client left while its token was being checked: nothing is sent
    resp = FakeResponder()
    c.http.handle(request("POST", INIT, {"authorization": "Bearer slow-a"}), resp)
    resp.closed = True
    await settle()
    assert resp.calls == []


@async_test
async def test_sessions_are_bound_to_who_opened_them() -> None:
    _, http, c = make(auth=FakeAuth())
    r = c.post(INIT, {"authorization": "Bearer a"})
    sid = r.header("mcp-session-id")
    assert sid is not None
    h = {"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert c.post(ping, {**h, "authorization": "Bearer a"}).status == 200
    assert c.post(ping, {**h, "authorization": "Bearer b"}).status == 404  # as if it did not exist
    assert c.send(request("DELETE", None, {**h, "authorization": "Bearer b"})).status == 404
    assert len(http.table) == 1


@async_test
async def test_well_known_is_served_without_auth() -> None:
    _, _, c = make(auth=FakeAuth())
    r = c.send(request("GET", None, {}, path="/.well-known/oauth-protected-resource/mcp"))
    assert r.status == 200 and r.json() == {"resource": "http://127.0.0.1:8000/mcp"}
    assert r.header("content-type") == "application/json"
    r = c.send(request("POST", {}, {}, path="/.well-known/oauth-protected-resource/mcp"))
    assert r.status == 405 and "GET" in (r.header("allow") or "")


# ------------------------------------------------------------------ metrics


@async_test
async def test_metrics_route() -> None:
    _, _, c = make(metrics_path="/metrics")
    c.initialize()
    c.call("ping")
    c.post({"jsonrpc": "2.0", "id": 1, "method": "ping"})  # 400: no session
    r = c.send(request("GET", None, {}, path="/metrics"))
    assert r.status == 200 and r.header("content-type").startswith("text/plain")
    text = r.body.decode()
    assert 'mcp_http_responses_total{method="POST",status="200"} 2' in text
    assert 'mcp_http_responses_total{method="POST",status="400"} 1' in text
    assert "mcp_http_sessions 1" in text
    assert "mcp_http_sessions_created_total 1" in text
    c.delete()
    text = c.send(request("GET", None, {}, path="/metrics")).body.decode()
    assert "mcp_http_sessions 0" in text and "mcp_http_sessions_deleted_total 1" in text
    assert 'mcp_http_responses_total{method="DELETE",status="200"} 1' in text
    # the route is there by default (issue 12: metrics on by default); metrics_path=None removes it
    _, _, c = make()
    assert c.send(request("GET", None, {}, path="/metrics")).status == 200
    _, _, c = make(metrics_path=None)
    assert c.send(request("GET", None, {}, path="/metrics")).status == 404


# ------------------------------------------------------------------ body limit, crashes, settings


def test_reject_too_large() -> None:
    http = StreamableHTTP(build_core(), HTTPSettings(max_body=100))
    r = FakeResponder()
    http.reject_too_large(r)
    assert r.status == 413 and r.header("connection") == "close"
    body = r.json()
    assert body["error"]["code"] == -32600 and "100 bytes" in body["error"]["message"]
    assert "max_body" in body["error"]["message"]


@async_test
async def test_a_crashing_front_end_call_gives_500_not_an_exception() -> None:
    class Bad(FakeResponder):
        def start(self, status: int, headers: list[tuple[str, str]]) -> None:
            raise RuntimeError("socket exploded")

    _, http, c = make()
    c.initialize()
    r = Bad()
    http.handle(request("GET", None, c.session_headers()), r)
    assert r.status == 500


@async_test
async def test_a_raising_dispatcher_never_escapes() -> None:
    class Boom:
        def on_request(self, peer: Any, req: Any) -> Any:
            raise RuntimeError("bug")

        def on_notification(self, peer: Any, n: Any) -> None:
            pass

        def on_batch(self, peer: Any, b: Any) -> bool:
            return False

        def on_close(self, peer: Any, exc: Any) -> None:
            pass

    http = StreamableHTTP(Boom(), HTTPSettings())
    c = Client(http)
    r = c.post(INIT)
    assert r.status == 200 and r.json()["error"]["code"] == -32603 and r.header("mcp-session-id") is None
    assert len(http.table) == 0


def test_settings_validation() -> None:
    for bad in ({"path": "mcp"}, {"max_sessions": 0}, {"session_ttl": 0}, {"max_body": 0},
                {"sse_keepalive": 0}, {"sse_retry_ms": -1}, {"max_in_flight": 0}, {"metrics_path": "m"}):
        with pytest.raises(ValueError):
            HTTPSettings(**bad)
    assert HTTPSettings().max_body == 4 * 1024 * 1024


def test_responder_base_class() -> None:
    r = Responder()
    assert r.on_close is None and r.closed is False and r.buffered() == 0
    for call in (lambda: r.respond(200, [], b""), lambda: r.start(200, []), lambda: r.write(b""), r.end):
        with pytest.raises(NotImplementedError):
            call()
    req = HTTPRequest("GET", "/mcp")
    assert req.headers == {} and req.body == b"" and req.query == "" and "GET /mcp" in repr(req)


def test_exports() -> None:
    import mcpfast.transports.http as h

    assert set(h.__all__) == {"HTTPRequest", "Responder", "StreamableHTTP", "HTTPSettings", "serve_http",
                              "run_http", "HTTPServer", "asgi_app"}
    with pytest.raises(AttributeError):
        h.nothing_here  # noqa: B018


# ------------------------------------------------------------------ memory


class _Sink(Responder):
    __slots__ = ()

    def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.closed = True


@async_test
async def test_idle_session_memory_is_bounded() -> None:
    http = StreamableHTTP(build_core(), HTTPSettings(max_sessions=100_000))
    body = _json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"sampling": {}, "elicitation": {}},
        "clientInfo": {"name": "some-client", "version": "1.2.3"}}})
    req = HTTPRequest("POST", "/mcp", "", {"host": "127.0.0.1:8000", "content-type": "application/json",
                                          "accept": "application/json, text/event-stream"}, body)
    http.handle(req, _Sink())
    gc.collect()
    n = 2000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            http.handle(req, _Sink())
        gc.collect()
        per_session = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert len(http.table) == n + 1
    assert per_session <= 6 * 1024, per_session
    # and they all go away again
    for s in list(http.table.sessions.values()):
        http._end_session(s)
    assert len(http.table) == 0 and not http.dispatcher._sessions
