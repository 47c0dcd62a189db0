"""The ASGI 3 adapter (mcpfast.transports.http.asgi) in front of a fake core: called directly
with fake receive/send, mounted in Starlette (lazy start, paths), and under a real uvicorn."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from mcpfast.testing import async_test
from mcpfast.transports.http.asgi import ASGIApp

from .front_fakes import FakeCore, FakeSettings, free_port, injecting_handle


class Channel:
    """Fake ASGI receive/send: request body messages in, response messages out."""

    def __init__(self, chunks: list[bytes] | None = None, *, disconnect_after: bool = True) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        chunks = chunks if chunks is not None else [b""]
        for i, chunk in enumerate(chunks):
            self.incoming.put_nowait({"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1})
        self.sent: list[dict[str, Any]] = []
        self.received = 0

    async def receive(self) -> dict[str, Any]:
        self.received += 1
        return await self.incoming.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def disconnect(self) -> None:
        self.incoming.put_nowait({"type": "http.disconnect"})

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def scope(method: str = "POST", path: str = "/mcp", *, root_path: str = "", query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": query,
        "headers": headers if headers is not None else [(b"host", b"127.0.0.1"), (b"x-a", b"1"), (b"x-a", b"2")],
        "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", 8000),
    }


def make(max_body: int = 1024) -> tuple[ASGIApp, FakeCore]:
    core = FakeCore(settings=FakeSettings(max_body=max_body))
    return ASGIApp(core=core), core  # type: ignore[arg-type]


@async_test
async def test_fast_path_response_and_request_fields() -> None:
    app, core = make()
    ch = Channel([b"hel", b"lo"])
    await app(scope(query=b"a=1", headers=[(b"X-A", b"1"), (b"x-a", b"2")]), ch.receive, ch.send)
    assert core.started == 1
    assert ch.status == 200 and ch.body == b"hello"
    assert ch.headers[b"content-length"] == b"5"
    assert ch.sent[-1]["more_body"] is False and len(ch.sent) == 2
    req = core.requests[0]
    assert (req.method, req.path, req.query, req.client) == ("POST", "/mcp", "a=1", ("127.0.0.1", 5555))
    assert req.headers["x-a"] == "1, 2"


@async_test
async def test_fast_path_creates_no_task() -> None:
    app, core = make()
    await app.startup()
    created: list[Any] = []
    loop = asyncio.get_running_loop()
    orig = loop.create_task

    def spy(*a: Any, **k: Any) -> Any:
        created.append(a)
        return orig(*a, **k)

    loop.create_task = spy  # type: ignore[method-assign]
    try:
        ch = Channel([b"x"])
        await app(scope(), ch.receive, ch.send)
    finally:
        loop.create_task = orig  # type: ignore[method-assign]
    assert ch.status == 200 and created == []


@async_test
async def test_streamed_response() -> None:
    app, core = make()
    ch = Channel()
    await app(scope("GET", "/sse"), ch.receive, ch.send)
    assert ch.status == 200
    assert ch.headers[b"cache-control"] == b"no-cache" and ch.headers[b"x-accel-buffering"] == b"no"
    assert b"content-length" not in ch.headers
    assert [m["body"] for m in ch.sent[1:]] == [b"data: one\n\n", b"data: two\n\n", b""]
    assert ch.sent[-1]["more_body"] is False


@async_test
async def test_late_response_and_disconnect() -> None:
    app, core = make()
    ch = Channel()
    await app(scope("GET", "/slow", query=b"ms=20"), ch.receive, ch.send)
    assert ch.body == b"slow 20"
    ch = Channel()
    task = asyncio.ensure_future(app(scope("GET", "/stream-hang"), ch.receive, ch.send))
    while not ch.sent:
        await asyncio.sleep(0.01)
    responder = core.open_streams[0]
    responder.write(b"data: more\n\n")
    await asyncio.sleep(0.01)
    assert [m["body"] for m in ch.sent[1:]] == [b": primed\n\n", b"data: more\n\n"]
    assert responder.buffered() == 0
    ch.disconnect()
    await asyncio.wait_for(task, 2)
    assert core.closed == ["/stream-hang"] and responder.closed


@async_test
async def test_over_limit_body_413() -> None:
    app, core = make(max_body=10)
    ch = Channel([b"a" * 6, b"b" * 6, b"never read"])
    await app(scope(), ch.receive, ch.send)
    assert ch.status == 413 and core.rejected == 1 and core.requests == []
    assert ch.received == 2  # stopped reading at the first byte past the limit
    ch = Channel([b"a" * 10])
    await app(scope(), ch.receive, ch.send)
    assert ch.status == 200


@async_test
async def test_handler_exception_gets_500() -> None:
    app, core = make()
    ch = Channel()
    await app(scope("GET", "/boom"), ch.receive, ch.send)
    assert ch.status == 500


@pytest.mark.parametrize(
    ("path", "root", "seen"),
    [
        ("/mcp", "", "/mcp"),
        ("/", "", "/"),
        ("/x", "/x", "/mcp"),
        ("/x/", "/x", "/mcp"),
        ("/x/mcp", "/x", "/mcp"),
        ("/x/.well-known/oauth-protected-resource", "/x", "/.well-known/oauth-protected-resource"),
        ("/mcp", "/x", "/mcp"),  # a server that strips root_path itself
    ],
)
def test_paths_relative_to_mount(path: str, root: str, seen: str) -> None:
    @async_test
    async def check() -> None:
        app, core = make()
        ch = Channel()
        await app(scope("POST", path, root_path=root), ch.receive, ch.send)
        assert core.requests[0].path == seen

    check()


@async_test
async def test_lifespan_events() -> None:
    app, core = make()
    ch = Channel([])
    ch.incoming.put_nowait({"type": "lifespan.startup"})
    ch.incoming.put_nowait({"type": "lifespan.shutdown"})
    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, ch.receive, ch.send)
    assert [m["type"] for m in ch.sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert core.started == 1 and core.stopped == 1


@async_test
async def test_lifespan_startup_failure_reported() -> None:
    app, core = make()

    async def fail() -> None:
        raise RuntimeError("no database")

    core.startup = fail  # type: ignore[method-assign]
    ch = Channel([])
    ch.incoming.put_nowait({"type": "lifespan.startup"})
    await app({"type": "lifespan"}, ch.receive, ch.send)
    assert ch.sent[0]["type"] == "lifespan.startup.failed" and "no database" in ch.sent[0]["message"]


@async_test
async def test_concurrent_first_requests_start_once() -> None:
    app, core = make()
    chans = [Channel([b"%d" % i]) for i in range(5)]
    await asyncio.gather(*(app(scope(), c.receive, c.send) for c in chans))
    assert core.started == 1 and all(c.status == 200 for c in chans)


# ---------------------------------------------------------------------------- Starlette, uvicorn


def _starlette_client_call(app: Any, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """Drive a Starlette app in-process with raw ASGI (no httpx here)."""

    async def go() -> tuple[int, bytes]:
        ch = Channel([body])
        await app(scope(method, path, root_path="", headers=[(b"host", b"127.0.0.1")]), ch.receive, ch.send)
        return ch.status, ch.body

    return asyncio.run(go())


def test_mounted_in_starlette_starts_lazily() -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    app, core = make()

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hi")

    parent = Starlette(routes=[Route("/hello", hello), Mount("/api", app=app)])
    assert _starlette_client_call(parent, "GET", "/hello") == (200, b"hi")
    assert core.started == 0
    status, body = _starlette_client_call(parent, "POST", "/api/mcp", b"payload")
    assert (status, body) == (200, b"payload")
    assert core.started == 1
    assert core.requests[-1].path == "/mcp"
    status, body = _starlette_client_call(parent, "POST", "/api/", b"root")
    assert (status, body) == (200, b"root") and core.requests[-1].path == "/mcp"
    assert core.started == 1


def _serve_uvicorn(app: Any, port: int) -> tuple[Any, threading.Thread]:
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, thread


def _wait(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    import time

    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_under_uvicorn() -> None:
    app, core = make(max_body=100)
    port = free_port()
    server, thread = _serve_uvicorn(app, port)
    try:
        _wait(lambda: server.started)
        assert core.started == 1  # lifespan startup
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("POST", "/mcp", body=b"hello", headers={"X-A": "1"})
        r = c.getresponse()
        assert r.status == 200 and r.read() == b"hello"
        assert json.loads(r.getheader("X-Headers") or "{}")["x-a"] == "1"
        c.request("GET", "/sse")
        r = c.getresponse()
        assert r.getheader("Transfer-Encoding") == "chunked" and r.read() == b"data: one\n\ndata: two\n\n"
        c.request("POST", "/mcp", body=b"x" * 200)
        r = c.getresponse()
        assert r.status == 413
        r.read()
        c.close()
        # a client that goes away mid-stream: on_close
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/stream-hang")
        r = c.getresponse()
        assert r.status == 200
        c.close()
        _wait(lambda: core.closed == ["/stream-hang"])
    finally:
        server.should_exit = True
        thread.join(10)
    assert core.stopped == 1  # lifespan shutdown


@async_test
async def test_header_injection_is_refused_with_500() -> None:
    app, core = make()

    core.handle = injecting_handle  # type: ignore[method-assign]
    for path in ("/inject", "/stream"):
        ch = Channel()
        await app(scope("GET", path), ch.receive, ch.send)
        assert ch.status == 500 and b"x-evil" not in ch.headers and ch.body != b"ignored"
