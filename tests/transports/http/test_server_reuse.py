"""The built-in server's repeated-head fast path (``HTTPConnection.data_received``): a read that
holds exactly one request whose head is byte for byte the last one llhttp accepted reuses that
parse; anything else (another head, pipelined or split reads, Expect, Connection: close, bad
bytes) goes through llhttp as before."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from mcpfast.testing import async_test
from mcpfast.transports.http.protocol import HTTPConnection
from mcpfast.transports.http.server import HTTPServer

from .front_fakes import FakeCore, RawClient, post


@asynccontextmanager
async def running() -> AsyncIterator[tuple[HTTPServer, FakeCore]]:
    core = FakeCore()
    server = HTTPServer(core=core, port=0)  # type: ignore[arg-type]
    await server.start()
    try:
        yield server, core
    finally:
        await server.close(grace=1.0)


@contextmanager
def counting_parses() -> Iterator[list[int]]:
    """Count the heads llhttp parses (``on_headers_complete`` calls) on new connections."""
    seen = [0]
    real = HTTPConnection.on_headers_complete

    def counted(self: HTTPConnection) -> None:
        seen[0] += 1
        real(self)

    HTTPConnection.on_headers_complete = counted  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        HTTPConnection.on_headers_complete = real  # type: ignore[method-assign]


def body(i: int) -> bytes:
    return b'{"id":%03d}' % i  # the same length for i < 1000: the same head


@async_test
async def test_a_repeated_head_is_parsed_once_and_each_request_gets_its_own() -> None:
    with counting_parses() as parses:
        async with running() as (server, core):
            c = await RawClient.connect(server.port)
            for i in range(5):
                c.send(post("/echo?q=1", body(i), {"Mcp-Session-Id": "abc"}))
                r = await c.response()
                assert r.status == 200 and r.body == body(i)
                assert r.headers["x-query"] == "q=1" and r.headers["x-path"] == "/echo"
                assert json.loads(r.headers["x-headers"])["mcp-session-id"] == "abc"
            assert parses[0] == 1  # only the first head went through llhttp
            # every request has a headers dict of its own (a handler may keep or change it)
            dicts = [q.headers for q in core.requests]
            assert len({id(d) for d in dicts}) == 5 and all(d == dicts[0] for d in dicts)
            core.requests[0].headers["x-changed"] = "1"
            c.send(post("/echo?q=1", body(7), {"Mcp-Session-Id": "abc"}))
            r = await c.response()
            assert "x-changed" not in json.loads(r.headers["x-headers"])
            # another head (a longer body changes Content-Length) is parsed, then reused
            for i in (1000, 1001):
                c.send(post("/echo?q=1", b'{"id":%d}' % i, {"Mcp-Session-Id": "abc"}))
                assert (await c.response()).body == b'{"id":%d}' % i
            assert parses[0] == 2
            c.close()


@async_test
async def test_pipelined_and_split_reads_take_the_parser() -> None:
    with counting_parses() as parses:
        async with running() as (server, core):
            c = await RawClient.connect(server.port)
            one = post("/echo", body(1))
            c.send(one)
            assert (await c.response()).body == body(1)
            c.send(one + one)  # two requests in one read: not "exactly one request"
            assert (await c.response()).body == body(1)
            assert (await c.response()).body == body(1)
            assert parses[0] == 3
            # the head alone, then the body: the first read is not the whole request
            head, rest = one[:-4], one[-4:]
            c.send(head)
            await server_read(c)
            c.send(rest)
            assert (await c.response()).body == body(1)
            assert parses[0] == 4
            c.close()


async def server_read(c: RawClient) -> None:
    await c.writer.drain()
    await asyncio.sleep(0.05)  # let the server read the first part on its own


@async_test
async def test_special_heads_are_never_reused() -> None:
    with counting_parses() as parses:
        async with running() as (server, core):
            c = await RawClient.connect(server.port)
            expect = b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
            for _ in range(2):
                c.send(expect)
                assert (await c.response()).status == 100  # asked again the second time
                c.send(b"body")
                assert (await c.response()).body == b"body"
            assert parses[0] == 2
            c.close()
            c = await RawClient.connect(server.port)
            closing = post("/echo", body(2), {"Connection": "close"})
            c.send(closing)
            r = await c.response()
            assert r.status == 200 and r.headers.get("connection") == "close"
            assert await c.eof()
            c.close()


@async_test
async def test_bad_bytes_after_a_reused_head_still_get_400() -> None:
    async with running() as (server, core):
        c = await RawClient.connect(server.port)
        good = post("/echo", body(3))
        for _ in range(2):
            c.send(good)
            assert (await c.response()).status == 200
        bad = good.replace(b"Content-Length", b"Content Length")  # same size, not a valid head
        assert len(bad) == len(good)
        c.send(bad)
        r = await c.response()
        assert r.status == 400
        assert await c.eof()
        c.close()
