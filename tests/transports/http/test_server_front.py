"""The built-in HTTP/1.1 server (mcpfast.transports.http.server) over real sockets, in front of a
fake core: keep-alive, pipelining, chunked bodies, 100-continue, limits, streams, disconnects,
max_connections, idle timeout and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest

from mcpfast.testing import async_test
from mcpfast.transports.http.server import HTTPServer

from ...support.waiting import until
from .front_fakes import FakeCore, FakeSettings, RawClient, injecting_handle, post


@asynccontextmanager
async def running(core: FakeCore | None = None, **kw: Any) -> AsyncIterator[tuple[HTTPServer, FakeCore]]:
    core = core or FakeCore()
    server = HTTPServer(core=core, port=0, **kw)  # type: ignore[arg-type]
    await server.start()
    try:
        yield server, core
    finally:
        await server.close(grace=1.0)


def run(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    return async_test(fn)


# ---------------------------------------------------------------------------- basics


@run
async def test_keep_alive_reuses_the_connection() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        for i in range(3):
            c.send(post("/echo?x=%d" % i, b"hello %d" % i, {"X-Rep": "a"}))
            r = await c.response()
            assert r.status == 200
            assert r.body == b"hello %d" % i
            assert r.headers["x-query"] == "x=%d" % i
            assert r.headers["content-length"] == str(len(r.body))
            assert "date" in r.headers and "connection" not in r.headers
        assert server.connections == 1
        assert [q.client is not None for q in core.requests] == [True] * 3
        c.close()


@run
async def test_repeated_headers_joined_and_lowercased() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 0\r\n\r\n")
        r = await c.response()
        headers = json.loads(r.headers["x-headers"])
        assert headers["x-a"] == "1, 2"
        assert headers["host"] == "h"
        c.close()


@run
async def test_repeated_head_gives_each_request_its_own_headers() -> None:
    # a keep-alive client repeating its head gets the decoded headers reused: each request
    # must still have a dict of its own, and a changed value must be seen
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        head = b"POST /echo HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2\r\n\r\nab"
        for _ in range(2):
            c.send(head)
            assert (await c.response()).status == 200
        c.send(head.replace(b"x-a: 2", b"x-a: 3"))
        r = await c.response()
        assert json.loads(r.headers["x-headers"])["x-a"] == "1, 3"
        first, second, third = core.requests
        assert first.headers == second.headers == {"host": "h", "x-a": "1, 2", "content-length": "2"}
        assert first.headers is not second.headers
        first.headers["x-a"] = "changed by a handler"
        c.send(head)
        assert (await c.response()).status == 200
        assert core.requests[3].headers["x-a"] == "1, 2"
        assert third.headers["x-a"] == "1, 3"
        c.close()


@run
async def test_pipelined_requests_are_answered_in_order() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        c.send(
            b"GET /slow?ms=150 HTTP/1.1\r\nHost: h\r\n\r\n"
            + post("/echo", b"second")
            + b"GET /slow?ms=10 HTTP/1.1\r\nHost: h\r\n\r\n"
            + b"GET /sse HTTP/1.1\r\nHost: h\r\n\r\n"
            + post("/echo", b"fifth")
        )
        bodies = [(await c.response()).body for _ in range(5)]
        assert bodies == [b"slow 150", b"second", b"slow 10", b"data: one\n\ndata: two\n\n", b"fifth"]
        c.close()


@run
async def test_chunked_request_body() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await asyncio.sleep(0.02)
        c.send(b"6\r\n world\r\n0\r\n\r\n")
        r = await c.response()
        assert r.status == 200 and r.body == b"hello world"
        c.close()


@run
async def test_expect_100_continue() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        interim = await c.response()
        assert interim.status == 100
        c.send(b"body")
        r = await c.response()
        assert r.status == 200 and r.body == b"body"
        c.close()


@run
async def test_http10_closes_unless_keep_alive() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"POST /echo HTTP/1.0\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi")
        r = await c.response()
        assert r.status == 200 and r.headers["connection"] == "keep-alive"
        c.send(b"POST /echo HTTP/1.0\r\nContent-Length: 2\r\n\r\nyo")
        r = await c.response()
        assert r.body == b"yo" and r.headers["connection"] == "close"
        assert await c.eof()
        c.close()


@run
async def test_connection_close_request() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        c.send(post("/echo", b"x", {"Connection": "close"}) + post("/echo", b"ignored"))
        r = await c.response()
        assert r.body == b"x" and r.headers["connection"] == "close"
        assert await c.eof()
        assert len(core.requests) == 1
        c.close()


@run
async def test_handler_exception_gets_500() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"GET /boom HTTP/1.1\r\nHost: h\r\n\r\n")
        r = await c.response()
        assert r.status == 500
        assert json.loads(r.body)["error"]["code"] == -32603
        c.close()


# ---------------------------------------------------------------------------- streams


@run
async def test_sse_stream_is_chunked_and_connection_stays_usable() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"GET /sse HTTP/1.1\r\nHost: h\r\n\r\n")
        r = await c.response()
        assert r.status == 200
        assert r.headers["transfer-encoding"] == "chunked"
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["x-accel-buffering"] == "no"
        assert "content-length" not in r.headers
        assert r.chunks == [b"data: one\n\n", b"data: two\n\n"]  # the empty write sent nothing
        c.send(post("/echo", b"after"))
        assert (await c.response()).body == b"after"
        c.close()


@run
async def test_sse_over_http10_runs_until_close() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"GET /sse HTTP/1.0\r\n\r\n")
        r = await c.response()
        assert "transfer-encoding" not in r.headers and r.headers["connection"] == "close"
        assert r.body == b"data: one\n\ndata: two\n\n"
        c.close()


@run
async def test_disconnect_calls_on_close_once() -> None:
    async with running() as (server, core):
        for path in ("/hang", "/stream-hang"):
            c = await RawClient.connect(server.port)
            c.send(f"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
            await until(lambda p=path: any(q.path == p for q in core.requests))  # type: ignore[misc]
            if path == "/stream-hang":
                head = await asyncio.wait_for(c.reader.readuntil(b"\r\n\r\n"), 2)
                assert b"200 OK" in head
            c.close()
            await until(lambda p=path: p in core.closed)  # type: ignore[misc]
        await asyncio.sleep(0.05)
        assert core.closed == ["/hang", "/stream-hang"]


@run
async def test_buffered_reports_unsent_bytes() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"GET /stream-hang HTTP/1.1\r\nHost: h\r\n\r\n")
        await until(lambda: bool(core.open_streams))
        responder = core.open_streams[0]
        for _ in range(64):
            responder.write(b"x" * 65536)  # 4 MiB the client does not read
        assert responder.buffered() > 0
        c.close()
        await until(lambda: responder.closed)


# ---------------------------------------------------------------------------- limits


@run
async def test_over_limit_chunked_body_gets_413_and_close() -> None:
    async with running(FakeCore(settings=FakeSettings(max_body=1000))) as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):
            c.send(b"190\r\n" + b"a" * 400 + b"\r\n")  # 1200 bytes in all, no Content-Length
        r = await c.response()
        assert r.status == 413 and r.headers["connection"] == "close"
        assert core.rejected == 1 and core.requests == []
        assert await c.eof()
        c.close()


@run
async def test_within_limit_body_is_served() -> None:
    async with running(FakeCore(settings=FakeSettings(max_body=1000))) as (server, core):
        c = await RawClient.connect(server.port)
        c.send(post("/echo", b"a" * 1000))
        r = await c.response()
        assert r.status == 200 and len(r.body) == 1000
        c.close()


@run
async def test_declared_length_over_limit_refused_before_continue() -> None:
    async with running(FakeCore(settings=FakeSettings(max_body=1000))) as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
        r = await c.response()
        assert r.status == 413  # not 100 Continue first
        assert await c.eof()
        c.close()


@run
async def test_413_waits_for_the_pipelined_response_before_it() -> None:
    async with running(FakeCore(settings=FakeSettings(max_body=10))) as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"GET /slow?ms=50 HTTP/1.1\r\nHost: h\r\n\r\n" + post("/echo", b"x" * 50))
        first = await c.response()
        assert first.status == 200 and first.body == b"slow 50" and "connection" not in first.headers
        second = await c.response()
        assert second.status == 413
        assert await c.eof()
        c.close()


@run
async def test_too_many_headers_431() -> None:
    async with running(max_headers=20) as (server, core):
        c = await RawClient.connect(server.port)
        extra = "".join(f"X-H{i}: v\r\n" for i in range(30))
        c.send(f"GET /echo HTTP/1.1\r\nHost: h\r\n{extra}\r\n".encode())
        r = await c.response()
        assert r.status == 431 and r.headers["connection"] == "close"
        assert "header" in json.loads(r.body)["error"]["message"].lower()
        assert await c.eof()
        c.close()


@run
async def test_oversized_header_431_even_when_split_over_reads() -> None:
    async with running(max_header_bytes=4096) as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"GET /echo HTTP/1.1\r\nHost: h\r\nX-Big: ")
        for _ in range(8):
            await asyncio.sleep(0.01)
            c.send(b"v" * 1024)
        r = await c.response()
        assert r.status == 431
        c.close()
        c = await RawClient.connect(server.port)
        c.send(b"GET /echo HTTP/1.1\r\nHost: h\r\nX-Big: " + b"v" * 8000 + b"\r\n\r\n")
        assert (await c.response()).status == 431
        c.close()
        assert core.requests == []


@pytest.mark.parametrize(
    "raw",
    [
        b"NOT A REQUEST\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n",
        b"GET /echo HTTP/1.1\r\nBad Header\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_malformed_request_400(raw: bytes) -> None:
    @run
    async def check() -> None:
        async with running() as (server, core):
            c = await RawClient.connect(server.port)
            c.send(raw)
            r = await c.response()
            assert r.status == 400 and r.headers["connection"] == "close"
            assert json.loads(r.body)["error"]["code"] == -32600
            assert await c.eof()
            c.close()
            assert core.requests == []

    check()


@run
async def test_max_connections_503() -> None:
    async with running(max_connections=1) as (server, core):
        a = await RawClient.connect(server.port)
        a.send(post("/echo", b"a"))
        assert (await a.response()).status == 200
        b = await RawClient.connect(server.port)
        b.send(post("/echo", b"b"))
        r = await b.response()
        assert r.status == 503 and r.headers["connection"] == "close"
        assert json.loads(r.body)["error"]["code"] == -32005
        assert await b.eof()
        b.close()
        assert server.refused == 1
        a.close()
        await until(lambda: server.connections == 0)
        c = await RawClient.connect(server.port)
        c.send(post("/echo", b"c"))
        assert (await c.response()).status == 200
        c.close()


@run
async def test_idle_keep_alive_connection_closed() -> None:
    async with running(keep_alive_timeout=0.2) as (server, core):
        c = await RawClient.connect(server.port)
        c.send(post("/echo", b"a"))
        assert (await c.response()).status == 200
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert await c.eof(timeout=2.0)
        assert 0.15 < loop.time() - t0 < 1.5
        c.close()


@run
async def test_busy_stream_not_closed_as_idle() -> None:
    async with running(keep_alive_timeout=0.1) as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"GET /stream-hang HTTP/1.1\r\nHost: h\r\n\r\n")
        await asyncio.wait_for(c.reader.readuntil(b"\r\n\r\n"), 2)
        await asyncio.sleep(0.5)
        assert server.connections == 1 and core.closed == []
        c.close()
        await until(lambda: core.closed == ["/stream-hang"])


# ---------------------------------------------------------------------------- shutdown


@run
async def test_graceful_shutdown() -> None:
    core = FakeCore()
    server = HTTPServer(core=core, port=0)  # type: ignore[arg-type]
    await server.start()
    assert core.started == 1
    idle = await RawClient.connect(server.port)
    idle.send(post("/echo", b"a"))
    await idle.response()
    busy = await RawClient.connect(server.port)
    busy.send(b"GET /slow?ms=200 HTTP/1.1\r\nHost: h\r\n\r\n")
    stream = await RawClient.connect(server.port)
    stream.send(b"GET /get-stream HTTP/1.1\r\nHost: h\r\n\r\n")
    await until(lambda: len(core.requests) == 3)
    closing = asyncio.ensure_future(server.close(grace=2.0))
    assert await idle.eof()  # idle keep-alive connection closed at once
    r = await busy.response()
    assert r.status == 200 and r.body == b"slow 200" and r.headers["connection"] == "close"
    r = await stream.response()  # ended by core.shutdown()
    assert r.chunks == [b": primed\n\n"]
    await asyncio.wait_for(closing, 3)
    await server.wait_closed()
    assert core.stopped == 1
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", server.port)
    for c in (idle, busy, stream):
        c.close()


@run
async def test_graceful_shutdown_does_not_wait_for_a_client_that_left() -> None:
    core = FakeCore()
    server = HTTPServer(core=core, port=0)  # type: ignore[arg-type]
    await server.start()
    c = await RawClient.connect(server.port)
    c.send(b"GET /hang HTTP/1.1\r\nHost: h\r\n\r\n")
    await until(lambda: len(core.requests) == 1)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    closing = asyncio.ensure_future(server.close(grace=5.0))
    await asyncio.sleep(0.2)
    assert not closing.done()  # the request in progress has its grace period
    c.close()  # the client goes: nothing is left to wait for
    await asyncio.wait_for(closing, 3)
    assert loop.time() - t0 < 1.5 and core.closed == ["/hang"] and core.stopped == 1


@run
async def test_serve_forever_cancelled_closes() -> None:
    core = FakeCore()
    server = HTTPServer(core=core, port=0)  # type: ignore[arg-type]
    task = asyncio.ensure_future(server.serve_forever(grace=0.5))
    await until(lambda: server.port != 0)
    c = await RawClient.connect(server.port)
    c.send(post("/echo", b"a"))
    assert (await c.response()).status == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert core.stopped == 1
    c.close()


# ---------------------------------------------------------------------------- more HTTP details


@run
async def test_expect_continue_waits_for_the_pipelined_response_before_it() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"GET /slow?ms=100 HTTP/1.1\r\nHost: h\r\n\r\n"
               b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        first = await c.response()
        assert first.body == b"slow 100"
        assert (await c.response()).status == 100  # only now: a 100 before it would break the order
        c.send(b"abc")
        r = await c.response()
        assert r.status == 200 and r.body == b"abc"
        c.close()


@run
async def test_unknown_expectation_417() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: teapot\r\n\r\nabc")
        assert (await c.response()).status == 417
        c.close()


@run
async def test_head_response_has_no_body_and_absolute_form_target() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"HEAD /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody")
        c.send(b"POST http://127.0.0.1:9/echo?q=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok")
        head = await asyncio.wait_for(c.reader.readuntil(b"\r\n\r\n"), 2)
        assert b"Content-Length: 4" in head
        r = await c.response()  # straight after the head: no body bytes in between
        assert r.status == 200 and r.body == b"ok"
        assert (core.requests[1].path, core.requests[1].query) == ("/echo", "q=1")
        c.close()


@run
async def test_content_length_with_chunked_is_refused() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"0\r\n\r\nGET /echo HTTP/1.1\r\n\r\n")
        r = await c.response()
        assert r.status == 400
        assert core.requests == []  # no smuggled request
        c.close()


@run
async def test_core_connection_close_header_is_honoured_once() -> None:
    core = FakeCore()
    orig = core.handle

    def handle(request: Any, responder: Any) -> None:
        if request.path == "/bye":
            responder.respond(200, [("connection", "close")], b"bye")
        else:
            orig(request, responder)

    core.handle = handle  # type: ignore[method-assign]
    async with running(core) as (server, _):
        c = await RawClient.connect(server.port)
        c.send(b"GET /bye HTTP/1.1\r\nHost: h\r\n\r\n")
        r = await c.response()
        assert r.body == b"bye" and r.raw_head.lower().count(b"connection: close") == 1
        assert await c.eof()
        c.close()


def test_tls(tmp_path: Any) -> None:
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:  # pragma: no cover - the CI image has it
        pytest.fail("openssl CLI needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True,
    )

    @run
    async def check() -> None:
        async with running(tls=(str(cert), str(key))) as (server, core):
            assert server.url.startswith("https://")
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=ctx)
            c = RawClient(reader, writer)
            c.send(post("/echo", b"secret"))
            r = await c.response()
            assert r.status == 200 and r.body == b"secret"
            c.send(b"GET /sse HTTP/1.1\r\nHost: h\r\n\r\n")
            assert (await c.response()).chunks == [b"data: one\n\n", b"data: two\n\n"]
            writer.close()
            with contextlib.suppress(ssl.SSLError, ConnectionError):
                await writer.wait_closed()

    check()


@run
async def test_header_injection_is_refused_with_500() -> None:
    core = FakeCore()

    core.handle = injecting_handle  # type: ignore[method-assign]
    async with running(core) as (server, _):
        c = await RawClient.connect(server.port)
        for path in (b"/inject", b"/stream"):
            c.send(b"GET " + path + b" HTTP/1.1\r\nHost: h\r\n\r\n")
            r = await c.response()
            assert r.status == 500 and b"Set-Cookie" not in r.raw_head and b"ignored" not in r.body
        c.close()
