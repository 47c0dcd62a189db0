"""Limits of the built-in HTTP server over real loopback sockets (the issue's fault probe): slow
heads and bodies get 408 and free their slot, keep-alive idleness is timed apart from them, a
request in progress is never cut, the timeouts come from the settings, an absolute-form request
target is held to the DNS-rebinding guard, and sessions are capped per client with -32005.
Every timeout is configured short: each test runs in about a second."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcpfast.errors import SERVER_OVERLOADED
from mcpfast.testing import async_test
from mcpfast.transports.http import HTTPRequest, HTTPSettings, StreamableHTTP
from mcpfast.transports.http.server import HTTPServer

from .fakes import Client, FakeResponder, build_core
from .front_fakes import FakeCore, RawClient, post
from .test_server_real import ACCEPT, LEGACY, initialize, legacy_headers, make_core, rpc_body


@asynccontextmanager
async def running(**kw: Any) -> AsyncIterator[tuple[HTTPServer, FakeCore]]:
    core = FakeCore()
    server = HTTPServer(core=core, port=0, **kw)  # type: ignore[arg-type]
    await server.start()
    try:
        yield server, core
    finally:
        await server.close(grace=0.5)


async def trickle(c: RawClient, data: bytes, every: float = 0.05) -> None:
    """Send ``data`` a byte at a time (a slowloris client); stops quietly when cut off."""
    try:
        for i in range(len(data)):
            c.send(data[i : i + 1])
            await c.writer.drain()
            await asyncio.sleep(every)
    except (ConnectionError, OSError):
        pass


# ---------------------------------------------------------------------------- slow clients


@async_test
async def test_slow_head_gets_408_and_frees_its_connection_slot() -> None:
    async with running(max_connections=1, head_timeout=0.3, keep_alive_timeout=5.0) as (server, core):
        slow = await RawClient.connect(server.port)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        # a byte every 50 ms: each read is progress, but the head as a whole is late
        sender = asyncio.ensure_future(trickle(slow, b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 200))
        r = await slow.response(timeout=3.0)
        elapsed = loop.time() - t0
        assert r.status == 408 and r.headers["connection"] == "close"
        assert "head" in json.loads(r.body)["error"]["message"]
        assert 0.25 < elapsed < 1.5, elapsed
        assert await slow.eof(timeout=3.0)
        sender.cancel()
        slow.close()
        assert core.requests == []  # nothing reached the core
        # the slot is free again: a normal client is served, not refused
        await asyncio.sleep(0.05)
        c = await RawClient.connect(server.port)
        c.send(post("/echo", b"ok"))
        r = await c.response()
        assert r.status == 200 and r.body == b"ok"
        assert server.refused == 0
        c.close()


@async_test
async def test_slow_body_gets_408() -> None:
    async with running(body_timeout=0.3, head_timeout=5.0) as (server, core):
        c = await RawClient.connect(server.port)
        c.send(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n0123456789")
        sender = asyncio.ensure_future(trickle(c, b"x" * 90, every=0.05))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        r = await c.response(timeout=3.0)
        assert r.status == 408 and r.headers["connection"] == "close"
        assert "body" in json.loads(r.body)["error"]["message"]
        assert 0.25 < loop.time() - t0 < 1.5
        assert await c.eof(timeout=3.0)
        sender.cancel()
        c.close()
        assert core.requests == []


@async_test
async def test_many_slow_heads_do_not_lock_out_other_clients() -> None:
    # the probe's attack: max_connections slow clients; with the head timeout they are answered
    # 408, and once the answer had its linger (protocol.LINGER, 2 s, so that the 408 is not lost
    # to a reset) their slots are free
    async with running(max_connections=3, head_timeout=0.3) as (server, core):
        slow = [await RawClient.connect(server.port) for _ in range(3)]
        senders = [asyncio.ensure_future(trickle(s, b"GET /echo HTTP/1.1\r\n" + b"X: y\r\n" * 40)) for s in slow]
        await asyncio.sleep(0.1)
        assert server.connections == 3
        loop = asyncio.get_running_loop()
        end = loop.time() + 4.0
        status = None
        while loop.time() < end:
            c = await RawClient.connect(server.port)
            c.send(post("/echo", b"hi"))
            r = await c.response(timeout=3.0)
            c.close()
            status = r.status
            if status == 200:
                break
            assert status == 503  # refused while the slow ones still hold the slots
            await asyncio.sleep(0.1)
        assert status == 200
        for s, t in zip(slow, senders, strict=True):
            t.cancel()
            s.close()


@async_test
async def test_keep_alive_idle_is_timed_apart_and_a_long_request_is_not_cut() -> None:
    async with running(head_timeout=0.2, body_timeout=0.2, keep_alive_timeout=1.0) as (server, core):
        c = await RawClient.connect(server.port)
        # a request in progress for three times the head and body timeouts: answered
        c.send(b"GET /slow?ms=600 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        r = await c.response(timeout=3.0)
        assert r.status == 200 and r.body == b"slow 600"
        # idle between requests for longer than the head timeout: still open (keep-alive 1 s)
        await asyncio.sleep(0.5)
        c.send(post("/echo", b"again"))
        assert (await c.response()).body == b"again"
        # and idle past the keep-alive timeout: closed without an answer
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert await c.eof(timeout=3.0)
        assert 0.9 < loop.time() - t0 < 2.0
        c.close()


@async_test
async def test_blank_lines_do_not_keep_an_idle_connection_open() -> None:
    async with running(keep_alive_timeout=0.3, head_timeout=5.0) as (server, core):
        c = await RawClient.connect(server.port)
        sender = asyncio.ensure_future(trickle(c, b"\r\n" * 100, every=0.03))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert await c.eof(timeout=3.0)
        assert loop.time() - t0 < 1.5
        sender.cancel()
        c.close()


def test_timeouts_come_from_the_settings_unless_given() -> None:
    settings = HTTPSettings(keep_alive_timeout=7.0, head_timeout=3.0, body_timeout=None)
    server = HTTPServer(make_core({}), port=0, settings=settings)
    assert (server.keep_alive_timeout, server.head_timeout, server.body_timeout) == (7.0, 3.0, None)
    assert server.tick == 0.75  # a quarter of the shortest limit
    server = HTTPServer(make_core({}), port=0, settings=settings, keep_alive_timeout=None, body_timeout=2.0)
    assert (server.keep_alive_timeout, server.head_timeout, server.body_timeout) == (None, 3.0, 2.0)
    default = HTTPServer(make_core({}), port=0)
    assert (default.keep_alive_timeout, default.head_timeout, default.body_timeout) == (5.0, 10.0, 30.0)
    for bad in ({"head_timeout": 0}, {"body_timeout": -1.0}, {"keep_alive_timeout": 0.0},
                {"max_sessions_per_client": 0}):
        try:
            HTTPSettings(**bad)  # type: ignore[arg-type]
        except ValueError:
            continue
        raise AssertionError(f"{bad} was accepted")


# ---------------------------------------------------------------------------- DNS rebinding


@async_test
async def test_absolute_form_target_is_checked_by_the_rebinding_guard() -> None:
    async with running() as (server, core):  # bind address unknown to the fake core: guard on
        c = await RawClient.connect(server.port)
        c.send(b"POST http://evil.example/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nhi")
        r = await c.response()
        assert r.status == 421 and r.headers["connection"] == "close"
        err = json.loads(r.body)["error"]
        assert err["code"] == -32000 and "request target" in err["message"] and "evil.example" in err["message"]
        assert await c.eof()
        c.close()
        assert core.requests == []
        # our own names pass, IPv6 literal and port included
        for target in (b"http://127.0.0.1:9/echo", b"http://localhost/echo", b"http://[::1]:8000/echo"):
            c = await RawClient.connect(server.port)
            c.send(b"POST " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nok")
            r = await c.response()
            assert r.status == 200 and r.body == b"ok", (target, r.status, r.body)
            c.close()


@async_test
async def test_absolute_form_target_over_the_real_core_and_the_guard_off() -> None:
    core = make_core({})
    server = HTTPServer(core, port=0, settings=HTTPSettings(json_response=True))
    await server.start()
    try:
        c = await RawClient.connect(server.port)
        body = rpc_body(1, "ping")
        c.send(b"POST http://evil.example:%d/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Accept: %s\r\nContent-Length: %d\r\n\r\n%s" % (server.port, ACCEPT.encode(), len(body), body))
        assert (await c.response()).status == 421
        c.close()
    finally:
        await server.close(grace=0.5)
    server = HTTPServer(make_core({}), port=0, settings=HTTPSettings(dns_rebinding_protection=False))
    await server.start()
    try:
        c = await RawClient.connect(server.port)
        c.send(b"POST http://evil.example/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}")
        assert (await c.response()).status != 421  # the guard is off: the core answers
        c.close()
    finally:
        await server.close(grace=0.5)


# ---------------------------------------------------------------------------- sessions


@async_test
async def test_sessions_capped_per_client_with_overloaded() -> None:
    core = make_core({"started": asyncio.Event(), "cancelled": False})
    server = HTTPServer(core, port=0, settings=HTTPSettings(max_sessions_per_client=2))
    await server.start()
    try:
        c = await RawClient.connect(server.port)
        sids = [await initialize(c), await initialize(c)]
        c.send(post("/mcp", rpc_body(0, "initialize", {"protocolVersion": LEGACY, "capabilities": {},
                                                         "clientInfo": {"name": "t", "version": "0"}}),
                    {"Content-Type": "application/json", "Accept": ACCEPT}))
        r = await c.response()
        assert r.status == 503
        err = json.loads(r.body)["error"]
        assert err["code"] == SERVER_OVERLOADED and "max_sessions_per_client" in err["message"]
        # ending one of its sessions makes room again
        c.send(b"DELETE /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               + "".join(f"{k}: {v}\r\n" for k, v in legacy_headers(sids[0]).items()).encode() + b"\r\n")
        assert (await c.response()).status == 200
        await initialize(c)
        c.close()
    finally:
        await server.close(grace=0.5)


def _from(client: Client, address: str) -> Client:
    """A fake client whose requests come from ``address``."""

    def send(req: HTTPRequest) -> FakeResponder:
        r = FakeResponder()
        client.http.handle(HTTPRequest(req.method, req.path, req.query, req.headers, req.body, (address, 4000)), r)
        return r

    client.send = send  # type: ignore[method-assign]
    return client


@async_test
async def test_a_full_table_evicts_the_biggest_holders_idle_session() -> None:
    http = StreamableHTTP(build_core(), HTTPSettings(max_sessions=4, max_sessions_per_client=3))
    flood = [_from(Client(http), "10.0.0.1") for _ in range(3)]
    for f in flood:
        assert f.initialize().status == 200
    other = _from(Client(http), "10.0.0.2")
    assert other.initialize().status == 200
    assert len(http.table) == 4 and http.table.count("10.0.0.1") == 3
    # the flooder is at its own limit: refused, whatever the table holds
    r = _from(Client(http), "10.0.0.1").initialize()
    assert r.status == 503 and r.error_code() == SERVER_OVERLOADED
    # a newcomer gets a place: the flooder's least recently used idle session goes
    assert flood[1].call("ping").status == 200 and flood[2].call("ping").status == 200
    newcomer = _from(Client(http), "10.0.0.3")
    assert newcomer.initialize().status == 200
    assert flood[0].call("ping").status == 404
    assert other.call("ping").status == 200 and newcomer.call("ping").status == 200
    assert http.table.count("10.0.0.1") == 2 and len(http.table) == 4
