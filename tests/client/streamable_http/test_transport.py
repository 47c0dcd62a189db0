"""The Streamable HTTP client transport against the built-in server (port 0): both eras, JSON
and SSE responses, the GET stream, SEP-1699 resumption, the session's end and expiry, HTTP
errors, auth, cancellation and the connection pool."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from mcpfast.client.http import AUTH_RETRIES, HTTPAuth, SessionExpired, StreamableHTTPTransport, transport_from_url
from mcpfast.client.session import ClientHandlers
from mcpfast.client.transport import transport_for
from mcpfast.errors import HEADER_MISMATCH, ConnectionClosed, McpError
from mcpfast.testing import async_test
from mcpfast.transports.http.auth import BearerAuth as ServerBearer

from ...support.waiting import until
from .helpers import LEGACY, MODERN, raw_server, serving, session, text

MODES = [pytest.param(False, id="sse"), pytest.param(True, id="json")]
ERAS = [pytest.param(LEGACY, id="legacy"), pytest.param(MODERN, id="modern"), pytest.param("auto", id="auto")]


@pytest.mark.parametrize("json_response", MODES)
@pytest.mark.parametrize("version", ERAS)
@async_test
async def test_calls_in_both_eras_and_response_modes(version: str, json_response: bool) -> None:
    async with serving(json_response=json_response) as (server, _), session(server.url, version) as (s, t):
        assert s.protocol_version == (LEGACY if version == LEGACY else MODERN)
        assert (t.session_id is not None) == (version == LEGACY)
        results = await asyncio.gather(*(s.request("tools/call", {"name": "echo", "arguments": {"message": f"m{i}"}})
                                         for i in range(20)))
        assert [text(r) for r in results] == [f"m{i}" for i in range(20)]
        names = [tool["name"] for tool in (await s.request("tools/list"))["tools"]]
        assert "echo" in names
        # a notification related to the request travels on its SSE stream (SSE mode only)
        seen: list[Any] = []
        res = await s.request("tools/call", {"name": "progress", "arguments": {}},
                              progress_callback=lambda p, total, msg: seen.append((p, total, msg)))
        assert text(res) == "done"
        assert seen == ([] if json_response else [(1, 2, "half")])


@async_test
async def test_transport_for_picks_this_module_and_refuses_unknown_options() -> None:
    assert isinstance(transport_for("http://127.0.0.1:1/mcp"), StreamableHTTPTransport)
    with pytest.raises(TypeError):
        transport_from_url("http://127.0.0.1:1/mcp", nonsense=1)
    with pytest.raises(ValueError, match="follow_redirects"):
        transport_from_url("http://127.0.0.1:1/mcp", follow_redirects=True)
    with pytest.raises(ValueError, match="header"):
        transport_from_url("http://127.0.0.1:1/mcp", headers={"X-Bad": "a\r\nInjected: 1"})
    for reserved in ("Content-Length", "host", "Mcp-Session-Id", "MCP-Protocol-Version", "Mcp-Param-Region"):
        with pytest.raises(ValueError, match="written by the transport"):
            transport_from_url("http://127.0.0.1:1/mcp", headers={reserved: "1"})


@async_test
async def test_unreachable_server_is_a_connection_error() -> None:
    async with serving() as (server, _):
        url = server.url
    with pytest.raises(ConnectionError, match="cannot reach"):
        await transport_from_url(url).connect(ClientHandlers())


@pytest.mark.parametrize("json_response", MODES)
@async_test
async def test_modern_routing_and_param_headers(json_response: bool) -> None:
    """The server answers -32020 unless MCP-Protocol-Version, Mcp-Method, Mcp-Name and the
    Mcp-Param-* mirrors match the body: these calls pass only if the client sends them, base64
    sentinel included."""
    async with serving(json_response=json_response) as (server, _), session(server.url, MODERN) as (s, _t):
        tools = {tool["name"] for tool in (await s.request("tools/list"))["tools"]}
        assert "where" in tools and "bad" not in tools  # invalid x-mcp-header: dropped (SEP-2243)
        for region in ("us-west1", "Zürich", " padded ", "=?base64?x?="):
            res = await s.request("tools/call", {"name": "where", "arguments": {"region": region, "n": 7}})
            assert text(res) == f"{region}/7", res
        res = await s.request("tools/call", {"name": "where", "arguments": {"region": "eu"}})  # n absent: omitted
        assert text(res) == "eu/0"
        with pytest.raises(McpError, match="not found") as info:  # past the header check: Mcp-Name matched
            await s.request("resources/read", {"uri": "file:///nothing/é"})
        assert info.value.code != HEADER_MISMATCH


@async_test
async def test_without_the_learnt_schema_the_server_refuses_the_call() -> None:
    # the mirror of the test above: a call made before tools/list lacks Mcp-Param-Region
    async with serving() as (server, _), session(server.url, MODERN) as (s, _t):
        with pytest.raises(McpError) as info:
            await s.request("tools/call", {"name": "where", "arguments": {"region": "eu"}})
        assert info.value.code == HEADER_MISMATCH


@async_test
async def test_get_stream_carries_unrelated_notifications() -> None:
    from mcpfast.server import ServerCore

    from .helpers import make_core, new_events

    core: ServerCore = make_core(new_events())
    async with serving(core) as (server, _), session(server.url, LEGACY) as (s, t):
        await until(lambda: t.get_stream_open)
        core.add_tool("late", lambda: "x", input_schema={"type": "object", "properties": {}})
        await until(lambda: any(m == "notifications/tools/list_changed" for m, _ in s.handlers.notifications))


@async_test
async def test_get_stream_closed_by_the_server_is_reopened() -> None:
    from mcpfast.server import ServerCore

    from .helpers import make_core, new_events

    core: ServerCore = make_core(new_events())
    async with serving(core) as (server, _), session(server.url, LEGACY) as (s, t):
        for round_ in range(2):  # SEP-1699 polling on the GET stream: closed, reopened after retry
            await until(lambda: t.get_stream_open)
            assert text(await s.request("tools/call", {"name": "closeget", "arguments": {}})) == "closed"
            core.add_tool(f"late{round_}", lambda: "x", input_schema={"type": "object", "properties": {}})
            want = round_ + 1
            await until(lambda want=want: sum(m == "notifications/tools/list_changed"
                                              for m, _ in s.handlers.notifications) == want)


@async_test
async def test_server_requests_on_the_post_stream_are_answered() -> None:
    async def elicit(params: dict[str, Any]) -> dict[str, Any]:
        return {"action": "accept", "content": {"name": "Ada"}}

    handlers = ClientHandlers(elicitation_callback=elicit)
    for version in (LEGACY, MODERN):  # legacy: a request on the SSE stream; modern: MRTR
        async with serving() as (server, _), session(server.url, version, handlers) as (s, _t):
            assert text(await s.request("tools/call", {"name": "ask", "arguments": {}})) == "hello Ada"


@async_test
async def test_a_stream_cut_before_the_response_is_resumed_after_retry() -> None:
    """SEP-1699: the server ends the POST's SSE stream (after an event id and ``retry``); the
    client resumes with GET + Last-Event-ID and gets the answer there."""
    async with serving() as (server, _), session(server.url, LEGACY) as (s, _t):
        seen: list[Any] = []
        res = await s.request("tools/call", {"name": "poll", "arguments": {}},
                              progress_callback=lambda p, total, msg: seen.append(msg))
        assert text(res) == "after the cut"
        assert seen == ["before the cut"]


@async_test
async def test_close_deletes_the_session() -> None:
    async with serving() as (server, _):
        async with session(server.url, LEGACY) as (_s, t):
            sid = t.session_id
        assert t.closed
        # the session is gone on the server: a request naming it gets 404
        status = await asyncio.to_thread(_post_status, server.url, sid)
        assert status == 404


def _post_status(url: str, sid: str | None) -> int:
    host, port = url.split("//")[1].split("/")[0].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    c.request("POST", "/mcp", body=b'{"jsonrpc":"2.0","id":1,"method":"ping"}',
              headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                       "Mcp-Session-Id": sid or "", "MCP-Protocol-Version": LEGACY})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def _delete(url: str, sid: str) -> int:
    host, port = url.split("//")[1].split("/")[0].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    c.request("DELETE", "/mcp", headers={"Mcp-Session-Id": sid, "MCP-Protocol-Version": LEGACY})
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


@async_test
async def test_an_expired_session_fails_calls_clearly() -> None:
    # a long retry keeps the GET stream from finding out first: the POST meets the 404
    async with serving(sse_retry_ms=60_000) as (server, _), session(server.url, LEGACY) as (s, t):
        assert t.session_id is not None
        await until(lambda: t.get_stream_open)
        assert await asyncio.to_thread(_delete, server.url, t.session_id) in (200, 204)
        with pytest.raises(McpError, match="expired") as info:
            await s.request("tools/call", {"name": "echo", "arguments": {"message": "x"}})
        assert info.value.data == {"httpStatus": 404}
        assert t.closed and s.peer.closed
        with pytest.raises(ConnectionClosed):
            await s.request("tools/call", {"name": "echo", "arguments": {"message": "x"}})
        assert issubclass(SessionExpired, ConnectionClosed)


@async_test
async def test_modern_cancellation_closes_the_stream() -> None:
    async with serving() as (server, events), session(server.url, MODERN) as (s, _t):
        call = asyncio.ensure_future(s.request("tools/call", {"name": "wait", "arguments": {}}))
        await asyncio.wait_for(events["started"].wait(), 3)
        call.cancel()
        await asyncio.wait_for(events["cancelled"].wait(), 3)  # the server saw the disconnect
        with pytest.raises(asyncio.CancelledError):
            await call


@async_test
async def test_legacy_cancellation_is_a_notification() -> None:
    async with serving() as (server, events), session(server.url, LEGACY) as (s, _t):
        with pytest.raises(McpError, match="timed out"):
            await s.request("tools/call", {"name": "wait", "arguments": {}}, timeout=0.2)
        await asyncio.wait_for(events["cancelled"].wait(), 3)


@async_test
async def test_the_pool_is_bounded_and_reused() -> None:
    async with serving() as (server, _), session(server.url, MODERN, max_connections=3) as (s, t):
        for _ in range(2):
            results = await asyncio.gather(*(s.request("tools/call", {"name": "echo", "arguments": {"message": str(i)}})
                                             for i in range(60)))
            assert [text(r) for r in results] == [str(i) for i in range(60)]
            assert 1 <= t.open_connections <= 3


@async_test
async def test_one_connection_is_enough_beside_the_get_stream() -> None:
    async with serving() as (server, _), session(server.url, LEGACY, max_connections=1) as (s, t):
        await until(lambda: t.get_stream_open)
        results = await asyncio.gather(*(s.request("tools/call", {"name": "echo", "arguments": {"message": str(i)}})
                                         for i in range(10)))
        assert [text(r) for r in results] == [str(i) for i in range(10)]
        assert t.open_connections == 2  # the stream's and one for the requests


@async_test
async def test_http_errors_become_errors_of_the_waiting_call() -> None:
    auth = ServerBearer("s3cret")
    async with serving(auth=auth) as (server, _):
        with pytest.raises(McpError) as info:
            async with session(server.url, LEGACY):
                pass
        assert info.value.data == {"httpStatus": 401} or "401" in info.value.message
        async with session(server.url, LEGACY, bearer="s3cret") as (s, _t):
            assert text(await s.request("tools/call", {"name": "echo", "arguments": {"message": "in"}})) == "in"
        async with session(server.url, MODERN, headers={"Authorization": "Bearer s3cret"}) as (s, _t):
            assert text(await s.request("tools/call", {"name": "echo", "arguments": {"message": "in"}})) == "in"


class _RotatingAuth:
    """An HTTPAuth with a stale token first; on 401 it reads the challenge and refreshes
    (suspending, as a token request would)."""

    def __init__(self) -> None:
        self.token = "stale"
        self.challenges: list[tuple[int, str]] = []
        self.calls = 0

    async def headers(self, method: str, url: str) -> Mapping[str, str]:
        self.calls += 1
        return {"Authorization": f"Bearer {self.token}"}

    async def on_response(self, status: int, headers: Mapping[str, str], method: str, url: str) -> bool:
        self.challenges.append((status, headers.get("www-authenticate", "")))
        await asyncio.sleep(0.001)  # the refresh suspends
        self.token = "s3cret"
        return True


class _SlowAuth(_RotatingAuth):
    async def headers(self, method: str, url: str) -> Mapping[str, str]:
        await asyncio.sleep(0)  # suspends (a bare yield), then waits on a future: sent from a task
        await asyncio.sleep(0.001)
        return await super().headers(method, url)


@pytest.mark.parametrize("cls", [_RotatingAuth, _SlowAuth])
@async_test
async def test_auth_hook_retries_once_after_a_challenge(cls: type[_RotatingAuth]) -> None:
    hook = cls()
    assert isinstance(hook, HTTPAuth)
    async with serving(auth=ServerBearer("s3cret")) as (server, _), session(server.url, LEGACY, auth=hook) as (s, _t):
        assert text(await s.request("tools/call", {"name": "echo", "arguments": {"message": "ok"}})) == "ok"
    assert [status for status, _ in hook.challenges] == [401]
    assert hook.challenges[0][1].lower().startswith("bearer")


class _NeverAuth(_RotatingAuth):
    async def on_response(self, status: int, headers: Mapping[str, str], method: str, url: str) -> bool:
        self.challenges.append((status, ""))
        return True  # asks for a retry every time: only AUTH_RETRIES are made


@async_test
async def test_auth_hook_retries_are_bounded() -> None:
    hook = _NeverAuth()
    async with serving(auth=ServerBearer("s3cret")) as (server, _):
        with pytest.raises(McpError) as info:
            async with session(server.url, LEGACY, auth=hook):
                pass
    assert info.value.data == {"httpStatus": 401} or "401" in info.value.message
    assert len(hook.challenges) == AUTH_RETRIES + 1 and hook.calls == AUTH_RETRIES + 1


@async_test
async def test_a_malformed_body_fails_the_call_not_hangs(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{oops")
        await writer.drain()
        writer.close()

    async with raw_server(handler) as url:
        t = transport_from_url(url)
        peer = await t.connect(ClientHandlers())
        with caplog.at_level(logging.WARNING), pytest.raises(McpError, match="without the response"):
            await asyncio.wait_for(peer.request("ping"), 3)
        await t.close()


@async_test
async def test_a_malformed_event_is_reported_and_the_answer_still_arrives() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        rid = json.loads(await reader.readexactly(length))["id"]
        body = b'data: {oops\n\ndata: {"jsonrpc":"2.0","id":%d,"result":{"ok":1}}\n\n' % rid
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))
        await writer.drain()
        writer.close()

    async with raw_server(handler) as url:
        t = transport_from_url(url)
        peer = await t.connect(ClientHandlers())
        reported: list[Any] = []

        def report(err: Any) -> bool:
            reported.append(err)
            return True

        peer.on_malformed = report
        assert await asyncio.wait_for(peer.request("ping"), 3) == {"ok": 1}
        assert len(reported) == 1  # the bad event, reported once; nothing was answered to the server
        await t.close()


@async_test
async def test_a_redirect_is_not_followed() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://elsewhere/mcp\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async with raw_server(handler) as url:
        t = transport_from_url(url)
        peer = await t.connect(ClientHandlers())
        with pytest.raises(McpError, match="redirects are not followed") as info:
            await asyncio.wait_for(peer.request("ping"), 3)
        assert info.value.data == {"httpStatus": 307}
        await t.close()


@async_test
async def test_read_timeout_fails_a_silent_response() -> None:
    stop = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await stop.wait()  # never answers in time
        writer.close()

    async with raw_server(handler) as url:
        try:
            t = transport_from_url(url, read_timeout=0.2)
            peer = await t.connect(ClientHandlers())
            with pytest.raises(McpError, match="read_timeout"):
                await asyncio.wait_for(peer.request("ping"), 3)
            await t.close()
        finally:
            stop.set()  # before the server waits for its handlers


def test_tls_is_verified_by_default(tmp_path: Any) -> None:
    import ssl

    from ...transports.test_tcp import _self_signed

    certfile, keyfile = _self_signed(tmp_path)

    @async_test
    async def run() -> None:
        async with serving(tls=(certfile, keyfile)) as (server, _events):
            url = f"https://localhost:{server.port}/mcp"
            with pytest.raises(ConnectionError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
                await transport_from_url(url).connect(ClientHandlers())
            for options in ({"verify": certfile}, {"ssl": ssl.create_default_context(cafile=certfile)},
                            {"verify": False}):
                async with session(url, MODERN, **options) as (s, _t):
                    res = await s.request("tools/call", {"name": "echo", "arguments": {"message": "sealed"}})
                    assert text(res) == "sealed"

    run()


@async_test
async def test_405_for_get_and_delete_is_fine() -> None:
    """A legacy server with sessions but no GET stream and no DELETE (both 405)."""
    from .helpers import fake_server

    def answer(method: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        if method != "POST":
            return 405, {}, b""
        msg = json.loads(body)
        if "id" not in msg:
            return 202, {}, b""
        result: dict[str, Any] = {}
        if msg["method"] == "initialize":
            result = {"protocolVersion": LEGACY, "capabilities": {}, "serverInfo": {"name": "f", "version": "0"}}
        reply = json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}).encode()
        extra = {"Content-Type": "application/json", "Mcp-Session-Id": "sess-1"}
        return 200, extra, reply

    async with fake_server(answer) as (url, seen):
        async with session(url, LEGACY) as (s, t):
            assert t.session_id == "sess-1"
            await until(lambda: any(m == "GET" for m, _, _ in seen))
            assert await s.request("ping") == {}
            assert not t.get_stream_open
        methods = [m for m, _, _ in seen]
        assert methods.count("GET") == 1 and methods[-1] == "DELETE"  # 405: no second try, no error
        assert all(h["mcp-session-id"] == "sess-1" for m, h, _ in seen[1:])
