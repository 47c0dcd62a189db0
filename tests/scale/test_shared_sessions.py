"""Legacy Streamable HTTP sessions shared by two fronts through one store, in one process (fast):
two built-in HTTP servers, each over its own ``ServerCore`` (as two processes would be), on one
in-memory store that calls itself shared. What crosses: the session record (initialize on A,
served on B), state changes (log level), DELETE, messages for the GET stream, ``Last-Event-ID``
replay, a response POSTed to the process that did not ask, and a store that goes down.

The same over real processes and a real Redis is ``test_two_processes.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcpfast.errors import StoreUnavailable
from mcpfast.stores import MemoryStore
from mcpfast.testing import async_test
from mcpfast.transports.http.server import HTTPServer
from mcpfast.transports.http.settings import HTTPSettings
from tests.scale.app import make_app
from tests.transports.http.front_fakes import RawClient, Response, post
from tests.transports.http.front_fakes import rpc_body as body

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
ACCEPT = "application/json, text/event-stream"


class SharedMemoryStore(MemoryStore):
    """The in-memory store, posing as one shared by processes (two fronts in this process share
    it), and able to go down like a Redis that stopped."""

    down = False

    @property
    def shared(self) -> bool:
        return True

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("the test store is down")

    async def get(self, key: str, **kw: Any) -> Any:
        self._check()
        return await super().get(key, **kw)

    async def set(self, key: str, value: Any, **kw: Any) -> bool:
        self._check()
        return await super().set(key, value, **kw)

    async def delete(self, key: str) -> bool:
        self._check()
        return await super().delete(key)

    async def touch(self, key: str, ttl: float) -> bool:
        self._check()
        return await super().touch(key, ttl)

    async def append_event(self, stream_id: str, message: bytes, **kw: Any) -> str:
        self._check()
        return await super().append_event(stream_id, message, **kw)

    async def replay_after(self, last_event_id: str) -> Any:
        self._check()
        return await super().replay_after(last_event_id)

    async def publish(self, channel: str, message: bytes) -> int:
        self._check()
        return await super().publish(channel, message)

    async def subscribe(self, channel: str, callback: Any, **kw: Any) -> Any:
        self._check()
        return await super().subscribe(channel, callback, **kw)


@asynccontextmanager
async def two_fronts(store: Any) -> AsyncIterator[tuple[HTTPServer, HTTPServer]]:
    fronts = []
    for _ in range(2):
        core = make_app().core
        server = HTTPServer(core, port=0, settings=HTTPSettings(store=store, sse_keepalive=30.0))
        await server.start()
        fronts.append(server)
    try:
        yield fronts[0], fronts[1]
    finally:
        for server in fronts:
            await server.close(grace=0.5)


def headers(sid: str | None = None) -> dict[str, str]:
    h = {"Content-Type": "application/json", "Accept": ACCEPT, "MCP-Protocol-Version": LEGACY}
    if sid is not None:
        h["Mcp-Session-Id"] = sid
    return h


def messages(r: Response) -> list[Any]:
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        out = []
        for block in r.body.decode().split("\n\n"):
            data = "\n".join(line[5:].lstrip() for line in block.split("\n") if line.startswith("data:"))
            if data:
                out.append(json.loads(data))
        return out
    return [json.loads(r.body)] if r.body else []


async def call(port: int, payload: bytes, sid: str | None = None, extra: dict[str, str] | None = None) -> Response:
    c = await RawClient.connect(port)
    try:
        c.send(post("/mcp", payload, {**headers(sid), **(extra or {})}))
        return await c.response()
    finally:
        c.close()


async def initialize(port: int) -> str:
    r = await call(port, body(0, "initialize", {"protocolVersion": LEGACY, "capabilities": {"elicitation": {}},
                                                 "clientInfo": {"name": "t", "version": "0"}}))
    assert r.status == 200, r.body
    sid = r.headers["mcp-session-id"]
    assert (await call(port, body(None, "notifications/initialized"), sid)).status == 202
    return sid


async def tool(port: int, sid: str, rid: int, name: str, args: dict[str, Any]) -> Response:
    return await call(port, body(rid, "tools/call", {"name": name, "arguments": args}), sid)


class SSEReader:
    """A GET stream read event by event (chunked transfer coding taken apart on the fly)."""

    def __init__(self, client: RawClient) -> None:
        self.client = client
        self.buf = b""

    @classmethod
    async def open(cls, port: int, sid: str, last_event_id: str | None = None) -> tuple[SSEReader, int]:
        c = await RawClient.connect(port)
        extra = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
        c.send(f"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nMcp-Session-Id: {sid}\r\n"
               f"MCP-Protocol-Version: {LEGACY}\r\n{extra}\r\n".encode())
        head = await asyncio.wait_for(c.reader.readuntil(b"\r\n\r\n"), 5)
        return cls(c), int(head.split(b" ")[1])

    async def event(self, timeout: float = 5.0) -> dict[str, str] | None:
        """The next event with data or an id (None: the stream ended)."""
        while True:
            if b"\n\n" in self.buf:
                block, self.buf = self.buf.split(b"\n\n", 1)
                fields: dict[str, str] = {}
                for line in block.decode().split("\n"):
                    if line.startswith(":"):
                        continue
                    name, _, value = line.partition(":")
                    fields[name] = fields.get(name, "") + value.lstrip()
                if fields:
                    return fields
                continue
            size_line = await asyncio.wait_for(self.client.reader.readuntil(b"\r\n"), timeout)
            size = int(size_line.strip(), 16)
            if size == 0:
                return None
            self.buf += (await asyncio.wait_for(self.client.reader.readexactly(size + 2), timeout))[:-2]

    def close(self) -> None:
        self.client.close()


@async_test
async def test_a_session_opened_on_one_front_is_served_by_the_other() -> None:
    store = SharedMemoryStore()
    async with two_fronts(store) as (a, b):
        sid = await initialize(a.port)
        r = await tool(b.port, sid, 1, "echo", {"message": "on b"})
        assert r.status == 200, r.body
        assert messages(r)[0]["result"]["content"][0]["text"] == "on b"
        assert sid in b.core.local_sessions() and sid in a.core.local_sessions()
        # an unknown id is still 404 on both
        assert (await tool(b.port, "nope", 2, "echo", {"message": "x"})).status == 404
        # the state B took over is the negotiated one
        assert b.core.dispatcher.session_record(b.core.table.sessions[sid].peer)["protocolVersion"] == LEGACY


@async_test
async def test_a_session_cached_on_a_front_costs_no_store_read_per_call() -> None:
    # the README's promise: a session another process opened is loaded once, then served from
    # the local cache (DELETE and expiry reach it by broadcast, not by a read per request)
    store = SharedMemoryStore()
    reads: list[str] = []
    get = store.get

    async def counting_get(key: str, **kw: Any) -> Any:
        reads.append(key)
        return await get(key, **kw)

    store.get = counting_get  # type: ignore[method-assign]
    async with two_fronts(store) as (a, b):
        sid = await initialize(a.port)
        assert (await tool(b.port, sid, 1, "echo", {"message": "load"})).status == 200
        loaded = len(reads)
        assert loaded >= 1  # B did read the record it did not hold
        for i in range(20):
            r = await tool(b.port, sid, 2 + i, "echo", {"message": f"m{i}"})
            assert r.status == 200 and messages(r)[0]["result"]["content"][0]["text"] == f"m{i}"
        assert len(reads) == loaded, reads[loaded:]


@async_test
async def test_delete_on_one_front_ends_the_session_on_the_other() -> None:
    store = SharedMemoryStore()
    async with two_fronts(store) as (a, b):
        sid = await initialize(a.port)
        assert (await tool(b.port, sid, 1, "echo", {"message": "x"})).status == 200
        c = await RawClient.connect(a.port)
        c.send(f"DELETE /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nMcp-Session-Id: {sid}\r\n"
               f"MCP-Protocol-Version: {LEGACY}\r\n\r\n".encode())
        assert (await c.response()).status == 200
        c.close()
        assert sid not in b.core.local_sessions()  # acknowledged before the 200
        assert (await tool(b.port, sid, 2, "echo", {"message": "x"})).status == 404
        assert (await tool(a.port, sid, 3, "echo", {"message": "x"})).status == 404


@async_test
async def test_the_get_stream_gets_what_a_tool_on_the_other_front_sends_and_replays_there() -> None:
    store = SharedMemoryStore()
    async with two_fronts(store) as (a, b):
        sid = await initialize(a.port)
        stream, status = await SSEReader.open(a.port, sid)
        assert status == 200
        priming = await stream.event()
        assert priming is not None and "id" in priming
        # the level set on B holds on A too
        r = await call(b.port, body(5, "logging/setLevel", {"level": "info"}), sid)
        assert r.status == 200, r.body
        assert a.core.table.sessions[sid].peer.state.log_level == 1
        assert (await tool(b.port, sid, 6, "later", {"text": "from b"})).status == 200
        ev = await stream.event()
        assert ev is not None
        note = json.loads(ev["data"])
        assert note["method"] == "notifications/message" and note["params"]["data"] == "from b"
        stream.close()
        # the client reconnects to B with the last id it saw: B replays from the shared log
        await asyncio.sleep(0.05)
        replayed, status = await SSEReader.open(b.port, sid, priming["id"])
        assert status == 200
        seen = []
        while True:
            ev = await replayed.event()
            assert ev is not None
            if ev.get("data"):
                seen.append(json.loads(ev["data"]))
                break
        assert seen[0]["params"]["data"] == "from b"
        # B now holds the stream: a message sent on A goes there
        assert (await tool(a.port, sid, 7, "later", {"text": "from a"})).status == 200
        ev = await replayed.event()
        assert ev is not None and json.loads(ev["data"])["params"]["data"] == "from a"
        replayed.close()


@async_test
async def test_a_response_posted_to_the_other_front_reaches_the_tool_that_asked() -> None:
    store = SharedMemoryStore()
    async with two_fronts(store) as (a, b):
        sid = await initialize(a.port)
        c = await RawClient.connect(a.port)
        c.send(post("/mcp", body(9, "tools/call", {"name": "ask", "arguments": {"question": "name?"}}), headers(sid)))
        head = await asyncio.wait_for(c.reader.readuntil(b"\r\n\r\n"), 5)
        assert b"text/event-stream" in head
        reader = SSEReader(c)
        ev = await reader.event()
        while ev is not None and not ev.get("data"):
            ev = await reader.event()
        assert ev is not None
        req = json.loads(ev["data"])
        assert req["method"] == "elicitation/create"
        answer = {"jsonrpc": "2.0", "id": req["id"], "result": {"action": "accept", "content": {"answer": "bob"}}}
        assert (await call(b.port, json.dumps(answer).encode(), sid)).status == 202
        ev = await reader.event()
        while ev is not None and not ev.get("data"):
            ev = await reader.event()
        assert ev is not None
        res = json.loads(ev["data"])
        assert res["id"] == 9 and "bob" in res["result"]["content"][0]["text"]
        c.close()


@async_test
async def test_store_down_is_503_and_service_resumes() -> None:
    store = SharedMemoryStore()
    async with two_fronts(store) as (a, b):
        sid = await initialize(a.port)
        store.down = True
        r = await call(a.port, body(41, "initialize", {"protocolVersion": LEGACY, "capabilities": {},
                                                        "clientInfo": {"name": "t", "version": "0"}}))
        assert r.status == 503
        err = json.loads(r.body)
        assert err["id"] == 41 and "session store is unavailable" in err["error"]["message"]
        # a session B never saw needs the store: 503; A serves its own from its cache
        r = await tool(b.port, sid, 42, "echo", {"message": "x"})
        assert r.status == 503 and json.loads(r.body)["id"] == 42
        assert (await tool(a.port, sid, 43, "echo", {"message": "cached"})).status == 200
        # stateless 2026-07-28 needs no store
        meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
        r = await call(b.port, body(44, "tools/call", {"name": "echo", "arguments": {"message": "m"}, "_meta": meta}),
                       extra={"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": "echo"})
        assert r.status == 200, r.body
        store.down = False
        assert (await tool(b.port, sid, 45, "echo", {"message": "back"})).status == 200
        assert await initialize(b.port)


@async_test
async def test_the_in_memory_default_shares_nothing() -> None:
    mcp = make_app()
    server = HTTPServer(mcp.core, port=0, settings=HTTPSettings())
    await server.start()
    try:
        assert server.core.shared is None
        sid = await initialize(server.port)
        assert (await tool(server.port, sid, 1, "echo", {"message": "x"})).status == 200
    finally:
        await server.close(grace=0.5)


async def _get_on_a_cached_on_b(a: HTTPServer, b: HTTPServer) -> tuple[str, SSEReader]:
    sid = await initialize(a.port)
    assert (await tool(b.port, sid, 1, "echo", {"message": "x"})).status == 200  # B holds a copy
    stream, status = await SSEReader.open(a.port, sid)
    assert status == 200
    assert "id" in (await stream.event() or {})  # priming
    return sid, stream


@async_test
async def test_a_change_on_one_front_alone_reaches_the_get_stream_on_the_other() -> None:
    store = SharedMemoryStore()
    async with two_fronts(store) as (a, b):
        _, stream = await _get_on_a_cached_on_b(a, b)
        b.core.dispatcher.notify_list_changed("tools")  # the dispatcher shares nothing itself
        ev = await stream.event()
        assert ev is not None and json.loads(ev["data"])["method"] == "notifications/tools/list_changed"
        stream.close()


@async_test
async def test_a_change_every_front_delivers_reaches_the_get_stream_once() -> None:
    store = SharedMemoryStore()
    async with two_fronts(store) as (a, b):
        for front in (a, b):
            front.core.dispatcher.store = store  # as MCPServer(store=...) attaches it: changes are shared
        sid, stream = await _get_on_a_cached_on_b(a, b)
        # what the dispatchers' own sharing does: the change is delivered on both processes
        b.core.dispatcher.notify_list_changed("tools")
        a.core.dispatcher.notify_list_changed("tools")
        assert (await tool(a.port, sid, 2, "later", {"text": "marker"})).status == 200
        seen = []
        while True:
            ev = await stream.event()
            assert ev is not None
            msg = json.loads(ev["data"])
            seen.append(msg.get("method"))
            if msg.get("method") == "notifications/message":
                break
        assert seen == ["notifications/tools/list_changed", "notifications/message"]
        stream.close()


@async_test
async def test_expiry_ends_the_session_everywhere_and_use_anywhere_keeps_it() -> None:
    store = SharedMemoryStore()
    fronts = []
    for _ in range(2):
        server = HTTPServer(make_app().core, port=0, settings=HTTPSettings(store=store, session_ttl=0.4))
        await server.start()
        fronts.append(server)
    a, b = fronts
    try:
        sid = await initialize(a.port)
        # used on B only, for longer than the TTL: the record lives (B's sweeps push it back)
        for i in range(5):
            assert (await tool(b.port, sid, i + 1, "echo", {"message": "x"})).status == 200
            await asyncio.sleep(0.1)
        assert (await tool(a.port, sid, 10, "echo", {"message": "still"})).status == 200
        # idle past the TTL (and a sweep): gone on both
        await asyncio.sleep(0.8)
        assert (await tool(b.port, sid, 11, "echo", {"message": "x"})).status == 404
        assert (await tool(a.port, sid, 12, "echo", {"message": "x"})).status == 404
    finally:
        for server in fronts:
            await server.close(grace=0.5)


def test_workers_are_accepted_with_a_shared_store_only() -> None:
    import pytest

    from mcpfast.transports.http.workers import check_workers

    with pytest.raises(ValueError, match="shared store"):
        check_workers(2, HTTPSettings())
    check_workers(2, HTTPSettings(stateless=True))
    check_workers(2, HTTPSettings(store="redis://127.0.0.1:6379/0"))  # attached by each worker
    check_workers(2, HTTPSettings(store=SharedMemoryStore()))
    with pytest.raises(ValueError):
        check_workers(2, HTTPSettings(store=MemoryStore()))  # one process's memory
    with pytest.raises(ValueError):
        check_workers(2, HTTPSettings(store="memory"))
