"""What the HTTP client does when the first answer is not the one it hoped for: a 2026-07-28
response stream cut before the answer (re-issued with a new id), a ``HeaderMismatch`` (-32020:
tools listed again, the call sent once more), an HTTP+SSE server of 2024-11-05 (the spec's
fallback), and proxies from the environment (absolute-form for http://, CONNECT for https://)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mcpfast import MCPServer
from mcpfast.client.client import Client
from mcpfast.client.http import StreamableHTTPTransport
from mcpfast.client.proxy import Proxy, bypassed, proxy_for
from mcpfast.errors import HEADER_MISMATCH, MCPError
from mcpfast.testing import async_test

from .helpers import MODERN, raw_server, serving

# ---------------------------------------------------------------------------- a raw HTTP server


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target = lines[0].split(" ")[:2]
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return method, target, headers, body


def _json_reply(msg_id: Any, result: Any) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "result": result}).encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


# ---------------------------------------------------------------------------- 2026-07-28 stream cut


@pytest.mark.parametrize("cut", ["sse", "connection"])
@async_test
async def test_a_cut_response_stream_is_reissued_with_a_new_id(cut: str) -> None:
    """The spec's changelog (SEP-2575): a broken response stream loses the request and the client
    re-issues it as a new request with a new id. Cut once as an SSE stream after a progress
    event, once as a connection closed before any answer; the caller gets the second answer."""
    seen: list[dict[str, Any]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                _, _, _, body = await _read_request(reader)
                msg = json.loads(body)
                seen.append(msg)
                calls = [m for m in seen if m.get("method") == "tools/call"]
                if msg.get("method") == "tools/call" and len(calls) == 1:
                    if cut == "sse":
                        token = msg["params"]["_meta"].get("progressToken", "t")
                        event = json.dumps({"jsonrpc": "2.0", "method": "notifications/progress",
                                            "params": {"progressToken": token, "progress": 1}})
                        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                     b"Transfer-Encoding: chunked\r\n\r\n")
                        data = f"event: message\ndata: {event}\n\n".encode()
                        writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                        await writer.drain()
                    writer.close()  # the cut
                    return
                writer.write(_json_reply(msg["id"], {"resultType": "complete",
                                                     "content": [{"type": "text", "text": f"id {msg['id']}"}]}))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async with raw_server(handle) as url, Client(url, mode=MODERN) as client:
        res = await client.call_tool("echo", {"message": "x"})
        first, second = [m for m in seen if m.get("method") == "tools/call"]
        assert first["id"] != second["id"] and first["params"] == second["params"]
        assert res.content[0].text == f"id {second['id']}" and not res.is_error
        assert (await client.call_tool("echo", {"message": "y"})).content[0].text.startswith("id ")


@async_test
async def test_reissues_are_bounded() -> None:
    from mcpfast.client.http import MAX_REISSUES

    posts = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal posts
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await _read_request(reader)
            posts += 1
        writer.close()  # every request's connection is cut

    async with raw_server(handle) as url, Client(url, mode=MODERN) as client:
        with pytest.raises(MCPError, match="times in a row"):
            await client.call_tool("echo", {"message": "x"})
    assert posts == MAX_REISSUES + 1


# ---------------------------------------------------------------------------- -32020


@async_test
async def test_header_mismatch_relists_the_tools_and_sends_again() -> None:
    """A call to a tool with ``x-mcp-header`` arguments before any ``tools/list``: the client
    cannot mirror them, the server refuses with -32020, the client lists and sends again."""
    async with serving() as (server, _), Client(server.url, mode=MODERN) as client:
        res = await client.call_tool("where", {"region": "Bern", "n": 3})
        assert res.content[0].text == "Bern/3" and not res.is_error
        assert isinstance(client.transport, StreamableHTTPTransport)


@async_test
async def test_a_second_header_mismatch_is_raised() -> None:
    lists = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal lists
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                _, _, _, body = await _read_request(reader)
                msg = json.loads(body)
                if msg["method"] == "tools/list":
                    lists += 1
                    writer.write(_json_reply(msg["id"], {"resultType": "complete", "tools": []}))
                else:
                    err = json.dumps({"jsonrpc": "2.0", "id": msg["id"],
                                      "error": {"code": HEADER_MISMATCH, "message": "Header mismatch"}}).encode()
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(err), err))
                await writer.drain()
        writer.close()

    async with raw_server(handle) as url, Client(url, mode=MODERN) as client:
        with pytest.raises(MCPError) as info:
            await client.call_tool("t", {"a": 1})
        assert info.value.code == HEADER_MISMATCH and lists == 1


# ---------------------------------------------------------------------------- HTTP+SSE (2024-11-05)


@contextlib.asynccontextmanager
async def _sse_server() -> AsyncIterator[str]:
    app = MCPServer("old-style")

    @app.tool()
    def echo(message: str) -> str:
        return message

    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(app.run_sse_async(host="127.0.0.1", port=0, ready=ready.set_result))
    try:
        info = await asyncio.wait_for(ready, 10)
        yield f"http://127.0.0.1:{info.port}/sse"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@async_test
async def test_http_sse_server_is_reached_through_the_fallback(mode: str) -> None:
    async with _sse_server() as url, Client(url, mode=mode) as client:
        transport = client.transport
        assert isinstance(transport, StreamableHTTPTransport) and transport.http_sse
        assert client.server_info is not None and client.server_info.name == "old-style"
        assert [t.name for t in (await client.list_tools()).tools] == ["echo"]
        results = await asyncio.gather(*(client.call_tool("echo", {"message": f"m{i}"}) for i in range(10)))
        assert [r.content[0].text for r in results] == [f"m{i}" for i in range(10)]
        missing = await client.call_tool("echo", {})  # bad arguments: an error result, as over the others
        assert missing.is_error


@async_test
async def test_a_refusal_without_an_endpoint_event_stands() -> None:
    """Not an HTTP+SSE server either (its GET is refused too): the POST's own refusal is raised,
    and the URL is probed once only."""
    gets = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal gets
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                method, _, _, _ = await _read_request(reader)
                gets += method == "GET"
                body = b"no MCP here"
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        writer.close()

    async with raw_server(handle) as url:
        with pytest.raises(MCPError, match="404"):
            async with Client(url, mode="legacy"):
                pass
    assert gets == 1


@async_test
async def test_a_quiet_event_stream_ends_the_probe() -> None:
    """A Streamable HTTP server whose GET opens a stream that stays quiet: the refused request
    is not held for longer than PROBE_TIMEOUT."""
    from mcpfast.client import http

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                method, _, _, _ = await _read_request(reader)
                if method == "GET":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n")
                    await writer.drain()
                    await reader.read()  # quiet until the client gives up on it
                    break
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno")
                await writer.drain()
        writer.close()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(http, "PROBE_TIMEOUT", 0.2)
        async with raw_server(handle) as url:
            with pytest.raises(MCPError, match="400"):
                await asyncio.wait_for(Client(url, mode="legacy").__aenter__(), 5)


# ---------------------------------------------------------------------------- proxies


def test_proxy_choice_follows_the_environment() -> None:
    env = {"HTTP_PROXY": "http://p1:3128", "https_proxy": "p2:8080", "NO_PROXY": "localhost,.internal,10.0.0.0/8"}
    assert repr(proxy_for("http://example.com/mcp", env)) == "Proxy(p1:3128)"
    assert repr(proxy_for("https://example.com/mcp", env)) == "Proxy(p2:8080)"
    assert proxy_for("http://localhost:8000/mcp", env) is None
    assert proxy_for("http://api.internal/mcp", env) is None
    assert proxy_for("http://10.1.2.3/mcp", env) is None
    assert repr(proxy_for("http://internal.example/mcp", env)) == "Proxy(p1:3128)"
    assert repr(proxy_for("https://x.org/", {"ALL_PROXY": "http://all:1"})) == "Proxy(all:1)"
    assert proxy_for("https://x.org/", {"http_proxy": "http://p:1"}) is None
    assert proxy_for("http://x.org/", {"HTTP_PROXY": "http://p:1", "NO_PROXY": "*"}) is None
    assert bypassed("x.org", 8080, "x.org:8080") and not bypassed("x.org", 80, "x.org:8080")
    assert bypassed("::1", 80, "[::1]") and not bypassed("notx.org", 80, "x.org")
    assert Proxy("http://u%40x:p%3Aw@p:1").authorization == "Basic dUB4OnA6dw=="
    with pytest.raises(ValueError, match="only http:// proxies"):
        Proxy("socks5://p:1080")


@contextlib.asynccontextmanager
async def _proxy(log: list[str]) -> AsyncIterator[str]:
    """A small forward proxy: CONNECT tunnels, absolute-form requests are passed on in origin
    form; each client connection is piped to one upstream connection."""

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        line = head.split(b"\r\n", 1)[0].decode()
        log.append(line)
        method, target, _ = line.split(" ")
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            up_r, up_w = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            first = b""
        else:
            rest = target.split("://", 1)[1]
            authority, _, path = rest.partition("/")
            host, _, port = authority.rpartition(":")
            up_r, up_w = await asyncio.open_connection(host, int(port))
            first = f"{method} /{path} HTTP/1.1\r\n".encode() + head.split(b"\r\n", 1)[1]
        up_w.write(first)
        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    finally:
        srv.close()


@async_test
async def test_http_goes_through_the_environment_proxy() -> None:
    log: list[str] = []
    async with serving() as (server, _), _proxy(log) as proxy_url:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("HTTP_PROXY", proxy_url)
            mp.delenv("NO_PROXY", raising=False)
            mp.delenv("no_proxy", raising=False)
            async with Client(server.url, mode=MODERN) as client:
                assert (await client.call_tool("echo", {"message": "via"})).content[0].text == "via"
            assert log and all(ln.startswith(f"POST {server.url} ") for ln in log)
            log.clear()
            mp.setenv("NO_PROXY", "127.0.0.1")
            async with Client(server.url, mode=MODERN) as client:
                assert (await client.call_tool("echo", {"message": "direct"})).content[0].text == "direct"
            assert log == []
            async with Client(server.url, mode=MODERN, transport_options={"proxy": proxy_url}) as client:
                assert (await client.call_tool("echo", {"message": "explicit"})).content[0].text == "explicit"
            assert log


def test_https_is_tunnelled_through_the_proxy(tmp_path: Any) -> None:
    from ...transports.test_tcp import _self_signed

    certfile, keyfile = _self_signed(tmp_path)

    @async_test
    async def run() -> None:
        log: list[str] = []
        async with serving(tls=(certfile, keyfile)) as (server, _events), _proxy(log) as proxy_url:
            url = f"https://localhost:{server.port}/mcp"
            options = {"proxy": proxy_url, "verify": certfile}
            async with Client(url, mode=MODERN, transport_options=options) as client:
                res = await client.call_tool("echo", {"message": "sealed"})
                assert res.content[0].text == "sealed"
            assert log and all(ln == f"CONNECT localhost:{server.port} HTTP/1.1" for ln in log)

    run()
