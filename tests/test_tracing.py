"""Tracing (mcpfast.tracing) with opentelemetry-sdk's in-memory exporter: a SERVER span per
request over stdio pipes, TCP and HTTP, named and attributed after the OpenTelemetry MCP
semantic conventions; the parent taken from ``params._meta`` or the HTTP headers; the CLIENT
span of ``ClientSession`` as the server span's parent; ``error.type``; a tool's own spans as
children of the server span (async, inline and pooled ``def`` tools); nothing built without
a provider."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from mcpfast import tracing
from mcpfast.client.session import ClientHandlers, ClientSession
from mcpfast.errors import McpError
from mcpfast.server import ServerCore
from mcpfast.testing import Client, async_test
from mcpfast.transports.http.server import HTTPServer
from mcpfast.transports.http.settings import HTTPSettings
from mcpfast.transports.stdio import StdioProtocol, _connect_pipes
from mcpfast.transports.tcp import connect_tcp, start_tcp_server

from .transports.http.front_fakes import RawClient, post

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
PV_KEY = "io.modelcontextprotocol/protocolVersion"
CAPS_KEY = "io.modelcontextprotocol/clientCapabilities"
ACCEPT = "application/json, text/event-stream"
# a remote parent, as a caller would send it (W3C Trace Context)
TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PARENT_ID = 0x00F067AA0BA902B7
TRACEPARENT = f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-01"
OTHER_TRACEPARENT = f"00-{0x1234:032x}-{0x5678:016x}-01"


class Tracing:
    """The provider mcpfast uses in a test, its exporter, and a tracer for tools' own spans."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("tests.tools")

    def spans(self, name: str | None = None, kind: SpanKind | None = None) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans()
                if (name is None or s.name == name) and (kind is None or s.kind == kind)]

    def one(self, name: str, kind: SpanKind = SpanKind.SERVER) -> ReadableSpan:
        found = self.spans(name, kind)
        assert len(found) == 1, [(s.name, s.kind) for s in self.exporter.get_finished_spans()]
        return found[0]


@pytest.fixture
def otel() -> Iterator[Tracing]:
    t = Tracing()
    tracing.use_tracer_provider(t.provider)
    try:
        yield t
    finally:
        tracing.use_tracer_provider(None)
        t.provider.shutdown()


def make_core(t: Tracing | None = None) -> ServerCore:
    core = ServerCore("trace-test", "1.0")
    schema = {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}

    def inner(kind: str) -> None:
        if t is not None:
            with t.tracer.start_as_current_span(f"inner {kind}"):
                pass

    def echo(message: str) -> str:
        inner("inline")
        return message

    def pooled(message: str) -> str:
        inner("pooled")
        return message

    async def aecho(message: str) -> str:
        await asyncio.sleep(0)  # suspends: the span must stay current across the suspension
        inner("async")
        return message

    def boom() -> str:
        raise RuntimeError("secret detail")

    core.add_tool("echo", echo, input_schema=schema)
    core.add_tool("pooled", pooled, input_schema=schema, blocking=True)
    core.add_tool("aecho", aecho, input_schema=schema)
    core.add_tool("boom", boom, input_schema={"type": "object", "properties": {}})
    core.add_prompt("greet", lambda: "hello")
    core.add_resource("mem://a", lambda: "a", name="a")
    return core


def check_server_span(span: ReadableSpan, tool: str, transport: str | None, version: str) -> None:
    assert span.kind == SpanKind.SERVER
    assert span.name == f"tools/call {tool}"
    attrs = dict(span.attributes or {})
    assert attrs["mcp.method.name"] == "tools/call"
    assert attrs["gen_ai.tool.name"] == tool
    assert attrs["gen_ai.operation.name"] == "execute_tool"
    assert attrs["mcp.protocol.version"] == version
    assert type(attrs["jsonrpc.request.id"]) is str
    if transport is None:
        assert "network.transport" not in attrs
    else:
        assert attrs["network.transport"] == transport
    assert "error.type" not in attrs
    assert span.status.status_code == StatusCode.UNSET


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


# ====================================================================== transports


@asynccontextmanager
async def pipes_session(core: ServerCore, version: str) -> AsyncIterator[ClientSession]:
    """A ClientSession and the core joined by two OS pipes, as stdio joins them."""
    c2s_r, c2s_w = os.pipe()
    s2c_r, s2c_w = os.pipe()
    server = StdioProtocol(core)
    client = StdioProtocol(ClientHandlers())
    await _connect_pipes(server, c2s_r, s2c_w)
    await _connect_pipes(client, s2c_r, c2s_w)
    assert client.peer is not None
    session = ClientSession(client.peer, ClientHandlers(), protocol_version=version)
    try:
        await session.start()
        yield session
    finally:
        client.close()
        server.close()
        await asyncio.wait_for(asyncio.gather(client.wait_closed(), server.wait_closed()), 5)


@pytest.mark.parametrize("version", [LEGACY, MODERN])
@async_test
async def test_stdio_server_span_is_the_client_spans_child(otel: Tracing, version: str) -> None:
    async with pipes_session(make_core(otel), version) as session:
        with otel.tracer.start_as_current_span("caller"):
            res = await session.request("tools/call", {"name": "echo", "arguments": {"message": "hi"}})
    assert res["content"][0]["text"] == "hi"
    server = otel.one("tools/call echo")
    client = otel.one("tools/call echo", SpanKind.CLIENT)
    caller = otel.one("caller", SpanKind.INTERNAL)
    check_server_span(server, "echo", "pipe", version)
    # one trace from the caller into the tool: caller -> CLIENT span -> SERVER span -> tool's span
    assert server.context.trace_id == client.context.trace_id == caller.context.trace_id
    assert parent_of(client) == caller.context.span_id
    assert parent_of(server) == client.context.span_id
    assert server.parent is not None and server.parent.is_remote
    assert parent_of(otel.one("inner inline", SpanKind.INTERNAL)) == server.context.span_id
    cattrs = dict(client.attributes or {})
    assert cattrs["mcp.method.name"] == "tools/call" and cattrs["gen_ai.tool.name"] == "echo"
    assert cattrs["network.transport"] == "pipe" and cattrs["mcp.protocol.version"] == version
    assert cattrs["jsonrpc.request.id"] == dict(server.attributes or {})["jsonrpc.request.id"]


@async_test
async def test_tcp_spans_and_tools_own_spans_are_children(otel: Tracing) -> None:
    core = make_core(otel)
    server = await start_tcp_server(lambda: core)
    try:
        conn = await connect_tcp("127.0.0.1", server.port, ClientHandlers())
        assert conn.peer is not None
        session = ClientSession(conn.peer, ClientHandlers(), protocol_version=LEGACY)
        await session.start()
        for tool in ("echo", "pooled", "aecho"):
            res = await session.request("tools/call", {"name": tool, "arguments": {"message": tool}})
            assert res["content"][0]["text"] == tool
        # the pool answers several calls of one loop iteration through Deferreds
        await asyncio.gather(*(session.request("tools/call", {"name": "pooled", "arguments": {"message": "x"}})
                               for _ in range(5)))
        conn.close()
        await conn.wait_closed()
    finally:
        await server.close()
    for tool, kind in (("echo", "inline"), ("pooled", "pooled"), ("aecho", "async")):
        span = otel.spans(f"tools/call {tool}", SpanKind.SERVER)[0]
        check_server_span(span, tool, "tcp", LEGACY)
        inner = otel.spans(f"inner {kind}", SpanKind.INTERNAL)[0]
        assert parent_of(inner) == span.context.span_id, kind
        assert inner.context.trace_id == span.context.trace_id
    pooled = otel.spans("tools/call pooled", SpanKind.SERVER)
    inners = otel.spans("inner pooled", SpanKind.INTERNAL)
    assert len(pooled) == len(inners) == 6
    assert sorted(parent_of(s) or 0 for s in inners) == sorted(s.context.span_id for s in pooled)
    init = otel.one("initialize")
    assert dict(init.attributes or {})["mcp.protocol.version"] == LEGACY


@asynccontextmanager
async def http_server(core: ServerCore) -> AsyncIterator[HTTPServer]:
    server = HTTPServer(core, port=0, settings=HTTPSettings(json_response=True))
    await server.start()
    try:
        yield server
    finally:
        await server.close(grace=1.0)


def rpc(rid: Any, method: str, params: Any = None) -> bytes:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        msg["params"] = params
    return json.dumps(msg).encode()


@async_test
async def test_http_parent_from_headers_then_from_meta_with_a_link(otel: Tracing) -> None:
    async with http_server(make_core(otel)) as server:
        c = await RawClient.connect(server.port)
        try:
            headers = {"Content-Type": "application/json", "Accept": ACCEPT, "MCP-Protocol-Version": MODERN,
                       "Mcp-Method": "tools/call", "traceparent": TRACEPARENT}
            envelope = {PV_KEY: MODERN, CAPS_KEY: {}}
            # no trace context in _meta: the HTTP request's is the parent
            c.send(post("/mcp", rpc(1, "tools/call", {"name": "echo", "arguments": {"message": "a"},
                                                      "_meta": envelope}), {**headers, "Mcp-Name": "echo"}))
            r = await c.response()
            assert r.status == 200, r.body
            # _meta's context wins; the transport's is linked
            meta = {**envelope, "traceparent": OTHER_TRACEPARENT}
            c.send(post("/mcp", rpc(2, "tools/call", {"name": "aecho", "arguments": {"message": "b"}, "_meta": meta}),
                        {**headers, "Mcp-Name": "aecho"}))
            r = await c.response()
            assert r.status == 200, r.body
        finally:
            c.close()
    first = otel.one("tools/call echo")
    check_server_span(first, "echo", "tcp", MODERN)
    attrs = dict(first.attributes or {})
    assert attrs["network.protocol.name"] == "http"
    assert attrs["client.address"] == "127.0.0.1" and type(attrs["client.port"]) is int
    assert first.parent is not None and first.parent.is_remote
    assert (first.context.trace_id, first.parent.span_id) == (TRACE_ID, PARENT_ID)
    second = otel.one("tools/call aecho")
    assert second.parent is not None and (second.context.trace_id, second.parent.span_id) == (0x1234, 0x5678)
    assert [(link.context.trace_id, link.context.span_id) for link in second.links] == [(TRACE_ID, PARENT_ID)]
    assert parent_of(otel.one("inner async", SpanKind.INTERNAL)) == second.context.span_id


@async_test
async def test_http_legacy_session_id(otel: Tracing) -> None:
    async with http_server(make_core()) as server:
        c = await RawClient.connect(server.port)
        try:
            base = {"Content-Type": "application/json", "Accept": ACCEPT}
            c.send(post("/mcp", rpc(0, "initialize", {"protocolVersion": LEGACY, "capabilities": {},
                                                      "clientInfo": {"name": "t", "version": "0"}}), base))
            r = await c.response()
            sid = r.headers["mcp-session-id"]
            c.send(post("/mcp", rpc(1, "tools/call", {"name": "echo", "arguments": {"message": "x"}}),
                        {**base, "Mcp-Session-Id": sid, "MCP-Protocol-Version": LEGACY}))
            r = await c.response()
            assert r.status == 200, r.body
        finally:
            c.close()
    span = otel.one("tools/call echo")
    check_server_span(span, "echo", "tcp", LEGACY)
    assert dict(span.attributes or {})["mcp.session.id"] == sid
    assert span.parent is None  # no context sent: a root span


# ====================================================================== outcomes


@async_test
async def test_error_type_of_a_failing_tool_and_of_an_error_response(otel: Tracing) -> None:
    async with Client(make_core(), protocol_version=LEGACY) as c:
        res = await c.call_tool("boom", {})
        assert res["isError"] is True
        with pytest.raises(McpError):
            await c.session.request("tools/call", {"name": "nope", "arguments": {}})
    for kind in (SpanKind.SERVER, SpanKind.CLIENT):
        failed = otel.one("tools/call boom", kind)
        assert dict(failed.attributes or {})["error.type"] == "tool_error"
        assert failed.status.status_code == StatusCode.ERROR
        unknown = otel.one("tools/call nope", kind)
        attrs = dict(unknown.attributes or {})
        assert attrs["error.type"] == attrs["rpc.response.status_code"] == "-32602"
        assert unknown.status.status_code == StatusCode.ERROR
        assert unknown.status.description == "Unknown tool: 'nope'"
    # the crash's text stays in the server's log, never in the span the tool's caller sees
    assert "secret detail" not in str(otel.one("tools/call boom").status.description)


@async_test
async def test_other_methods_names_and_attributes(otel: Tracing) -> None:
    async with Client(make_core(), protocol_version=MODERN) as c:
        await c.session.request("prompts/get", {"name": "greet"})
        await c.session.request("resources/read", {"uri": "mem://a"})
        await c.session.request("tools/list")
    prompt = dict(otel.one("prompts/get greet").attributes or {})
    assert prompt["gen_ai.prompt.name"] == "greet" and "gen_ai.operation.name" not in prompt
    read = dict(otel.one("resources/read").attributes or {})
    assert read["mcp.resource.uri"] == "mem://a"
    listed = otel.one("tools/list")
    assert dict(listed.attributes or {})["mcp.protocol.version"] == MODERN
    assert "network.transport" not in dict(listed.attributes or {})  # in-process: no network


@async_test
async def test_a_cancelled_request_ends_its_span(otel: Tracing) -> None:
    core = make_core()
    started = asyncio.Event()

    async def wait() -> str:
        started.set()
        await asyncio.sleep(30)
        return "never"

    core.add_tool("wait", wait, input_schema={"type": "object", "properties": {}})
    async with Client(core, protocol_version=LEGACY) as c:
        task = asyncio.ensure_future(c.session.request("tools/call", {"name": "wait", "arguments": {}}))
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(20):  # the cancellation notice reaches the server
            if otel.spans("tools/call wait", SpanKind.SERVER):
                break
            await asyncio.sleep(0.01)
    for kind in (SpanKind.SERVER, SpanKind.CLIENT):
        assert dict(otel.one("tools/call wait", kind).attributes or {})["error.type"] == "cancelled"


@async_test
async def test_a_broken_propagator_never_fails_a_request(otel: Tracing, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    from opentelemetry import propagate

    def broken(*a: Any, **kw: Any) -> Any:
        raise ValueError("bad propagator")

    monkeypatch.setattr(propagate, "extract", broken)
    async with Client(make_core(), protocol_version=MODERN) as c:
        res = await c.session.request("tools/call", {"name": "echo", "arguments": {"message": "x"},
                                                     "_meta": {"traceparent": TRACEPARENT}})
        assert res["content"][0]["text"] == "x"
    assert otel.spans("tools/call echo", SpanKind.SERVER) == []
    assert "could not be started" in caplog.text


# ====================================================================== off


@async_test
async def test_no_provider_builds_no_span(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider: the hot path reads one slot and goes on; nothing of the traced path runs,
    no span object (not even a non-recording one) is made, no _meta entry is added. A
    provider that makes no spans is recognised and skipped the same way, after its first
    request."""
    assert isinstance(otel_trace.get_tracer_provider(), otel_trace.ProxyTracerProvider), \
        "a global tracer provider was set by another test: this test needs none"
    entered: list[str] = []
    real_trace_request = tracing.trace_request

    def counting(route: Any, peer: Any, request: Any) -> Any:
        entered.append(request.method)
        return real_trace_request(route, peer, request)

    made: list[str] = []
    for cls in (otel_trace.NoOpTracer, otel_trace.ProxyTracer):
        def start_span(self: Any, name: str, *a: Any, **kw: Any) -> Any:
            made.append(name)
            raise AssertionError("a span was started")
        monkeypatch.setattr(cls, "start_span", start_span)
    monkeypatch.setattr(tracing, "trace_request", counting)
    sent: list[Any] = []
    core = make_core()
    async with Client(core, protocol_version=LEGACY, message_handler=None) as c:
        real_request = c.session.peer.request

        async def spy(method: str, params: Any = None, **kw: Any) -> Any:
            sent.append(params)
            return await real_request(method, params, **kw)

        monkeypatch.setattr(c.session.peer, "request", spy)
        assert tracing.watched[tracing.PROVIDER_KEY] is None
        await c.call_tool("echo", {"message": "x"})
        assert entered == [] and made == []
        assert "_meta" not in sent[-1]
        # a provider that builds nothing (NoOpTracerProvider): the traced path only decides so
        tracing.use_tracer_provider(otel_trace.NoOpTracerProvider())
        try:
            assert tracing.tracer() is None
            await c.call_tool("echo", {"message": "x"})
            assert entered == ["tools/call"] and made == []
            assert "_meta" not in sent[-1]
        finally:
            tracing.use_tracer_provider(None)


@async_test
async def test_a_provider_set_later_is_seen_at_the_next_request() -> None:
    t = Tracing()
    async with Client(make_core(), protocol_version=LEGACY) as c:
        await c.call_tool("echo", {"message": "before"})
        tracing.use_tracer_provider(t.provider)
        try:
            await c.call_tool("echo", {"message": "after"})
        finally:
            tracing.use_tracer_provider(None)
        await c.call_tool("echo", {"message": "off again"})
    assert len(t.spans("tools/call echo", SpanKind.SERVER)) == 1


def test_the_global_provider_is_watched_in_a_fresh_process() -> None:
    """The real thing, which a test process cannot undo: the global provider of
    ``opentelemetry.trace`` set after the server started serves the next request with a span,
    and importing mcpfast imports no opentelemetry. A subprocess (about a second, most of it
    opentelemetry's import)."""
    code = textwrap.dedent("""
        import asyncio, sys
        import mcpfast.server, mcpfast.testing
        assert "opentelemetry" not in sys.modules, "mcpfast imported opentelemetry"
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        core = mcpfast.server.ServerCore("s", "1")
        core.add_tool("echo", lambda message: message, input_schema={"type": "object"})

        async def main():
            async with mcpfast.testing.Client(core) as c:
                await c.call_tool("echo", {"message": "x"})
                exporter = InMemorySpanExporter()
                provider = TracerProvider()
                provider.add_span_processor(SimpleSpanProcessor(exporter))
                trace.set_tracer_provider(provider)
                await c.call_tool("echo", {"message": "y"})
            print(sorted((s.name, s.kind.name) for s in exporter.get_finished_spans()))

        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[('tools/call echo', 'CLIENT'), ('tools/call echo', 'SERVER')]"


def test_client_call_is_none_when_off_and_injects_w3c_context(otel: Tracing) -> None:
    call = tracing.client_call("tools/call", {"name": "echo"}, protocol_version=LEGACY, session_id="s1",
                               network_transport="tcp", server_address="example.com", server_port=443)
    assert call is not None
    assert call.meta["traceparent"].split("-")[2] == f"{call.span.get_span_context().span_id:016x}"
    call.set_request_id(7)
    call.fail(TimeoutError("gone"))
    span = otel.one("tools/call echo", SpanKind.CLIENT)
    attrs = dict(span.attributes or {})
    assert attrs["mcp.session.id"] == "s1" and attrs["server.address"] == "example.com"
    assert attrs["server.port"] == 443 and attrs["jsonrpc.request.id"] == "7"
    assert attrs["error.type"] == "TimeoutError"
    tracing.use_tracer_provider(None)
    assert tracing.client_call("tools/call", {"name": "echo"}) is None


# ====================================================================== mcpfast.Client


@pytest.mark.parametrize("mode", ["legacy", MODERN])
@async_test
async def test_client_span_is_the_parent_of_the_server_span_over_tcp(otel: Tracing, mode: str) -> None:
    """The issue's "done when": the server span's parent is the span of the client call."""
    from mcpfast import Client as MCPClient

    core = make_core(otel)
    server = await start_tcp_server(lambda: core)
    try:
        async with MCPClient(f"tcp://127.0.0.1:{server.port}", mode=mode) as client:
            with otel.tracer.start_as_current_span("agent"):
                res = await client.call_tool("pooled", {"message": "hi"})
                assert res.content[0].text == "hi"
                failed = await client.call_tool("boom", {})
                assert failed.is_error
    finally:
        await server.close()
    version = LEGACY if mode == "legacy" else MODERN
    agent = otel.one("agent", SpanKind.INTERNAL)
    client_span = otel.one("tools/call pooled", SpanKind.CLIENT)
    server_span = otel.one("tools/call pooled")
    check_server_span(server_span, "pooled", "tcp", version)
    assert parent_of(client_span) == agent.context.span_id
    assert parent_of(server_span) == client_span.context.span_id
    assert parent_of(otel.one("inner pooled", SpanKind.INTERNAL)) == server_span.context.span_id
    assert len({s.context.trace_id for s in (agent, client_span, server_span)}) == 1
    cattrs = dict(client_span.attributes or {})
    assert cattrs["network.transport"] == "tcp" and cattrs["mcp.protocol.version"] == version
    assert cattrs["jsonrpc.request.id"] == dict(server_span.attributes or {})["jsonrpc.request.id"]
    for kind in (SpanKind.CLIENT, SpanKind.SERVER):
        assert dict(otel.one("tools/call boom", kind).attributes or {})["error.type"] == "tool_error"
    # one span per call, and the handshake has its own (issue 12: initialize and its
    # notification are messages like the others); a pinned 2026-07-28 client sends no probe
    opening = ["initialize", "notifications/initialized"] if mode == "legacy" else []
    assert sorted(s.name for s in otel.spans(kind=SpanKind.CLIENT)) == sorted(
        [*opening, "tools/call boom", "tools/call pooled"])
    for span in otel.spans(kind=SpanKind.CLIENT):
        assert dict(span.attributes or {})["mcp.protocol.version"] == version, span.name


STDIO_SERVER = textwrap.dedent("""
    import json, sys
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
    from mcpfast.server import ServerCore
    from mcpfast.transports.stdio import run_stdio

    class ToFile(SpanExporter):
        def export(self, spans):
            with open(sys.argv[1], "a") as out:
                for s in spans:
                    print(json.dumps({"name": s.name, "kind": s.kind.name, "trace": s.context.trace_id,
                                      "parent": s.parent.span_id if s.parent else None}), file=out)
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ToFile()))
    trace.set_tracer_provider(provider)
    core = ServerCore("stdio-trace", "1")
    core.add_tool("echo", lambda message: message, input_schema={"type": "object"})
    run_stdio(core)
""")


@async_test
async def test_one_trace_from_the_client_into_a_stdio_server_process(otel: Tracing, tmp_path: Any) -> None:
    """Across a real process boundary: the client's context rides in params._meta over the
    pipes; the server process (its own global provider) makes its span a child of the client's
    span. A subprocess (about a second: opentelemetry's import in the child)."""
    from mcpfast import Client as MCPClient
    from mcpfast.client.stdio import StdioServerParameters

    script = tmp_path / "server.py"
    script.write_text(STDIO_SERVER)
    log = tmp_path / "spans.jsonl"
    params = StdioServerParameters(sys.executable, [str(script), str(log)], env=dict(os.environ))
    async with MCPClient(params, mode="legacy") as client:
        assert (await client.call_tool("echo", {"message": "hi"})).content[0].text == "hi"
    client_span = otel.one("tools/call echo", SpanKind.CLIENT)
    assert dict(client_span.attributes or {})["network.transport"] == "pipe"
    exported = [json.loads(line) for line in log.read_text().splitlines()]
    server = [s for s in exported if s["name"] == "tools/call echo"]
    assert server == [{"name": "tools/call echo", "kind": "SERVER", "trace": client_span.context.trace_id,
                       "parent": client_span.context.span_id}], log.read_text()


def test_without_the_private_slot_the_public_api_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    """An opentelemetry whose namespace has no provider slot: ``watched`` falls back to
    ``get_tracer_provider()`` (a proxy provider reads as None, a real one as itself)."""
    current: list[Any] = [otel_trace.ProxyTracerProvider()]
    monkeypatch.setattr(otel_trace, "get_tracer_provider", lambda: current[0])
    monkeypatch.delitem(vars(otel_trace), tracing.PROVIDER_KEY)
    tracing.refresh()
    try:
        assert tracing.watched is not vars(otel_trace)
        assert tracing.watched[tracing.PROVIDER_KEY] is None
        provider = TracerProvider()
        current[0] = provider
        assert tracing.watched[tracing.PROVIDER_KEY] is provider
        assert tracing.tracer() is not None
    finally:
        monkeypatch.undo()
        tracing.refresh()
    assert tracing.watched is vars(otel_trace)


# ====================================================================== the other direction, notifications


def attrs_of(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


@async_test
async def test_a_tools_requests_to_the_client_are_children_of_the_tool_span_and_parents_of_the_callbacks(
        otel: Tracing) -> None:
    """sampling/createMessage, elicitation/create and roots/list asked by a tool over TCP: a
    CLIENT span on the server (child of the tool's SERVER span), whose context rides in the
    request's ``_meta`` to the client, where the callback runs inside a SERVER span that is its
    child; the callback's own spans are children of that one. One trace, agent to callback."""
    from mcpfast.client.client import Client as MCPClient

    core = ServerCore("asker", "1")

    async def ask(ctx: Any) -> str:
        await ctx.info("asking")  # a notification: the client's _Handlers get it in a SERVER span
        sampled = await ctx.create_message("hi", 10)
        answer = await ctx.elicit("name?", {"type": "object", "properties": {"n": {"type": "string"}}})
        roots = await ctx.list_roots()
        return f"{sampled['content']['text']} {answer.content['n']} {len(roots['roots'])}"

    core.add_tool("ask", ask, input_schema={"type": "object"}, context_kwarg="ctx")
    seen_meta: list[Any] = []

    async def sample(ctx: Any, params: Any) -> dict[str, Any]:
        seen_meta.append(ctx.meta)
        with otel.tracer.start_as_current_span("the model"):
            return {"role": "assistant", "model": "m", "content": {"type": "text", "text": "yo"}}

    def elicit(ctx: Any, params: Any) -> dict[str, Any]:
        return {"action": "accept", "content": {"n": "Ada"}}

    def roots(ctx: Any) -> dict[str, Any]:
        return {"roots": [{"uri": "file:///a"}]}

    server = await start_tcp_server(lambda: core)
    try:
        async with MCPClient(f"tcp://127.0.0.1:{server.port}", mode="legacy", sampling_callback=sample,
                             elicitation_callback=elicit, list_roots_callback=roots) as client:
            version = client.session.protocol_version
            with otel.tracer.start_as_current_span("agent"):
                res = await client.call_tool("ask", {})
    finally:
        await server.close()
    assert res.content[0].text == "yo Ada 1"
    tool_span = otel.one("tools/call ask")
    trace_id = otel.one("agent", SpanKind.INTERNAL).context.trace_id
    for method in ("sampling/createMessage", "elicitation/create", "roots/list", "notifications/message"):
        asked = otel.one(method, SpanKind.CLIENT)  # the server's: it initiates the request
        handled = otel.one(method, SpanKind.SERVER)  # the client's: it handles it
        assert parent_of(asked) == tool_span.context.span_id, method
        assert parent_of(handled) == asked.context.span_id, method
        assert handled.parent is not None and handled.parent.is_remote
        assert asked.context.trace_id == handled.context.trace_id == trace_id
        a, h = attrs_of(asked), attrs_of(handled)
        assert a["mcp.method.name"] == h["mcp.method.name"] == method
        assert a["network.transport"] == h["network.transport"] == "tcp"
        assert a["mcp.protocol.version"] == version
        assert a.get("jsonrpc.request.id") == h.get("jsonrpc.request.id")
        assert ("jsonrpc.request.id" in a) is not method.startswith("notifications/")
        assert "error.type" not in a and "error.type" not in h
    model = otel.one("the model", SpanKind.INTERNAL)
    assert parent_of(model) == otel.one("sampling/createMessage", SpanKind.SERVER).context.span_id
    # the context travelled in params._meta (W3C, unprefixed)
    sampled = otel.one("sampling/createMessage", SpanKind.CLIENT)
    assert seen_meta[0]["traceparent"][:52] == f"00-{trace_id:032x}-{sampled.context.span_id:016x}"


@async_test
async def test_a_refused_server_request_fails_both_spans(otel: Tracing) -> None:
    core = make_core()

    async def ask(ctx: Any) -> str:
        await ctx.create_message("hi", 10)
        return "never"

    core.add_tool("ask", ask, input_schema={"type": "object"}, context_kwarg="ctx")

    def refuse(params: dict[str, Any]) -> dict[str, Any]:
        raise McpError("the user said no", code=-1)

    async with Client(core, protocol_version=LEGACY, sampling_callback=refuse) as c:
        res = await c.session.request("tools/call", {"name": "ask", "arguments": {}})
    assert res["isError"] is True
    for kind in (SpanKind.CLIENT, SpanKind.SERVER):
        span = otel.one("sampling/createMessage", kind)
        assert attrs_of(span)["error.type"] == attrs_of(span)["rpc.response.status_code"] == "-1"
        assert span.status.status_code == StatusCode.ERROR
        assert span.status.description == "the user said no"


@pytest.mark.parametrize("version", [LEGACY, MODERN])
@async_test
async def test_the_clients_opening_requests_have_client_spans(otel: Tracing, version: str) -> None:
    """``initialize`` + ``notifications/initialized`` (legacy) and ``server/discover``
    (2026-07-28) used to go straight to the peer, untraced: each has its CLIENT span now, the
    parent of the server's span for it (a received notification gets a SERVER span too)."""
    async with pipes_session(make_core(), version):
        for _ in range(200):  # until the server has handled the notification (over real pipes)
            if len(otel.spans(kind=SpanKind.SERVER)) == (2 if version == LEGACY else 1):
                break
            await asyncio.sleep(0.005)
    opening = ["initialize", "notifications/initialized"] if version == LEGACY else ["server/discover"]
    for method in opening:
        sent = otel.one(method, SpanKind.CLIENT)
        received = otel.one(method, SpanKind.SERVER)
        assert parent_of(received) == sent.context.span_id, method
        assert sent.context.trace_id == received.context.trace_id
        for span in (sent, received):
            attrs = attrs_of(span)
            assert attrs["mcp.method.name"] == method
            assert attrs["network.transport"] == "pipe"
            assert attrs["mcp.protocol.version"] == version, (method, span.kind)
            assert ("jsonrpc.request.id" in attrs) is (method != "notifications/initialized")
    assert len(otel.spans(kind=SpanKind.CLIENT)) == len(opening)


@async_test
async def test_notifications_both_ways_have_spans(otel: Tracing) -> None:
    """A notification's sender makes a CLIENT span (ended at once: nothing to wait for) and
    puts its context in ``params._meta``; the receiver handles it in a SERVER span, its child.
    Server -> client: progress and log messages from a tool (children of the tool's span),
    list_changed and resources/updated broadcasts; client -> server: roots/list_changed."""
    core = make_core()
    changed: list[Any] = []
    core.on_roots_list_changed = lambda peer, params: changed.append(params)

    async def work(ctx: Any) -> str:
        await ctx.report_progress(1, 2)
        await ctx.info("half way")
        return "done"

    core.add_tool("work", work, input_schema={"type": "object"}, context_kwarg="ctx")
    progress: list[float] = []
    async with Client(core, protocol_version=LEGACY, list_roots_callback=lambda p: {"roots": []}) as c:
        await c.session.request("resources/subscribe", {"uri": "mem://a"})
        res = await c.session.request("tools/call", {"name": "work", "arguments": {}},
                                      progress_callback=lambda p, t, m: progress.append(p))
        assert res["content"][0]["text"] == "done"
        core.add_prompt("later", lambda: "x")  # notifications/prompts/list_changed
        core.notify_resource_updated("mem://a")
        await c.send_roots_list_changed()
        await c.session.wait_idle()
        received = dict(c.notifications)
    assert progress == [1] and len(changed) == 1
    tool_span = otel.one("tools/call work")
    for method in ("notifications/progress", "notifications/message"):
        sent = otel.one(method, SpanKind.CLIENT)
        assert parent_of(sent) == tool_span.context.span_id, method
        assert sent.context.trace_id == tool_span.context.trace_id
        traceparent = received[method]["_meta"]["traceparent"]
        assert traceparent[:52] == f"00-{sent.context.trace_id:032x}-{sent.context.span_id:016x}"
        assert attrs_of(sent)["mcp.protocol.version"] == LEGACY
        assert "jsonrpc.request.id" not in attrs_of(sent)
        handled = otel.one(method, SpanKind.SERVER)  # in the client (testing.Client's ClientHandlers)
        assert parent_of(handled) == sent.context.span_id
    assert received["notifications/progress"]["progressToken"] is not None  # the rest is intact
    assert received["notifications/message"]["data"] == "half way"
    updated = otel.one("notifications/resources/updated", SpanKind.CLIENT)
    assert attrs_of(updated)["mcp.resource.uri"] == "mem://a"
    assert "traceparent" in received["notifications/resources/updated"]["_meta"]
    otel.one("notifications/prompts/list_changed", SpanKind.CLIENT)
    # client -> server: the client's CLIENT span is the parent of the server's SERVER span
    sent = otel.one("notifications/roots/list_changed", SpanKind.CLIENT)
    handled = otel.one("notifications/roots/list_changed", SpanKind.SERVER)
    assert parent_of(handled) == sent.context.span_id
    assert changed[0]["_meta"]["traceparent"].split("-")[2] == f"{sent.context.span_id:016x}"


@async_test
async def test_off_no_span_and_no_meta_on_the_new_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider: the server's requests and notifications, the client's handshake and its
    notifications go out exactly as before (no ``_meta`` added), and nothing of the traced
    paths runs (no span started, no handler wrapped)."""
    assert tracing.watched[tracing.PROVIDER_KEY] is None
    entered: list[str] = []

    def spy(name: str) -> None:
        real = getattr(tracing, name)

        def wrapped(*a: Any, **kw: Any) -> Any:
            entered.append(name)
            return real(*a, **kw)

        monkeypatch.setattr(tracing, name, wrapped)

    for name in ("trace_request", "trace_notification", "client_call", "_start_sent"):
        spy(name)
    core = make_core()
    changed: list[Any] = []
    core.on_roots_list_changed = lambda peer, params: changed.append(params)

    async def ask(ctx: Any) -> str:
        await ctx.info("note")
        res = await ctx.create_message("hi", 10)
        return str(res["content"]["text"])

    core.add_tool("ask", ask, input_schema={"type": "object"}, context_kwarg="ctx")
    sampled: list[Any] = []

    def sample(params: dict[str, Any]) -> dict[str, Any]:
        sampled.append(params)
        return {"role": "assistant", "model": "m", "content": {"type": "text", "text": "yo"}}

    async with Client(core, protocol_version=LEGACY, sampling_callback=sample,
                      list_roots_callback=lambda p: {"roots": []}) as c:
        assert (await c.session.request("tools/call", {"name": "ask", "arguments": {}}))["content"][0]["text"] == "yo"
        await c.send_roots_list_changed()
        await c.session.wait_idle()
        received = dict(c.notifications)
    assert entered == []
    assert "_meta" not in sampled[0] and "_meta" not in received["notifications/message"]
    assert changed == [{}]


@async_test
async def test_a_modern_requests_notifications_name_its_protocol_version(otel: Tracing) -> None:
    """At 2026-07-28 there is no session: the version of a tool's progress notification is
    the one its request's envelope names."""
    core = make_core()

    async def work(ctx: Any) -> str:
        await ctx.report_progress(1, 2)
        return "done"

    core.add_tool("work", work, input_schema={"type": "object"}, context_kwarg="ctx")
    async with Client(core, protocol_version=MODERN) as c:
        await c.session.request("tools/call", {"name": "work", "arguments": {}},
                                progress_callback=lambda p, t, m: None)
    sent = otel.one("notifications/progress", SpanKind.CLIENT)
    assert attrs_of(sent)["mcp.protocol.version"] == MODERN
    assert parent_of(sent) == otel.one("tools/call work").context.span_id


@async_test
async def test_a_listen_stream_has_one_client_span_ended_by_the_clients_close(otel: Tracing) -> None:
    """``subscriptions/listen`` goes straight to the peer (no read timeout may end it): its
    CLIENT span covers the stream, the server's change notification on it is a child of the
    span current where the change was made, and the client's own close (a cancel) is the
    stream's normal end, not an error."""
    from mcpfast.client.client import Client as MCPClient
    from mcpfast.client.subscriptions import ToolsListChanged

    core = make_core()
    async with MCPClient(core, mode=MODERN) as c, c.listen(tools_list_changed=True) as sub:
        with otel.tracer.start_as_current_span("deploy"):
            core.add_tool("later", lambda: "x", input_schema={"type": "object"})
        assert await sub.next(timeout=2) == ToolsListChanged()
    listen = otel.one("subscriptions/listen", SpanKind.CLIENT)
    attrs = attrs_of(listen)
    assert "error.type" not in attrs and listen.status.status_code == StatusCode.UNSET
    assert attrs["mcp.protocol.version"] == MODERN and "jsonrpc.request.id" in attrs
    assert parent_of(otel.one("subscriptions/listen")) == listen.context.span_id
    changed = otel.one("notifications/tools/list_changed", SpanKind.CLIENT)
    assert parent_of(changed) == otel.one("deploy", SpanKind.INTERNAL).context.span_id
    assert parent_of(otel.one("notifications/tools/list_changed")) == changed.context.span_id
