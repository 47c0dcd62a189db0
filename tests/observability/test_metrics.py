"""Metrics after the OpenTelemetry MCP conventions (``mcpfast.metrics``): exact counts after N
calls over stdio, TCP and HTTP, error types, bounded labels, the metrics port, the
``prometheus_client`` parser and collector, ``get_metrics()`` and the off switch."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mcpfast import MCPServer
from mcpfast.errors import McpError
from mcpfast.metrics import OTHER, ClientMetrics, register_prometheus
from mcpfast.server import ServerCore
from mcpfast.testing import Client, async_test
from mcpfast.transports.http.metrics_port import start_metrics_server
from mcpfast.transports.http.server import HTTPServer
from mcpfast.transports.tcp import start_tcp_server

from ..transports.http.front_fakes import RawClient, Response, post

LEGACY = "2025-11-25"
OP = "mcp_server_operation_duration_seconds"
N = 7
SERVER = str(Path(__file__).with_name("metrics_stdio_server.py"))


def make_app(**kw: Any) -> MCPServer:
    app = MCPServer("metrics-test", version="1", **kw)

    @app.tool()
    def echo(text: str) -> str:
        return text

    @app.tool()
    def fail() -> str:
        raise ValueError("no")

    @app.tool()
    async def slow() -> str:
        await asyncio.sleep(0)
        return "done"

    return app


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, keyed by (sample name, labels), through prometheus_client's parser."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def op_count(text: str, **labels: str) -> float:
    """The sum of ``mcp_server_operation_duration_seconds_count`` over series matching ``labels``."""
    total = 0.0
    for (name, lbls), v in samples(text).items():
        d = dict(lbls)
        if name == OP + "_count" and all(d.get(k) == val for k, val in labels.items()):
            total += v
    return total


def tool_count(text: str, tool: str) -> float:
    return samples(text).get(("mcpfast_tool_duration_seconds_count", frozenset({("gen_ai_tool_name", tool)})), 0.0)


async def http(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Response:
    """One request on a fresh connection."""
    c = await RawClient.connect(port)
    try:
        if method == "POST":
            c.send(post(path, body, headers))
        else:
            c.send(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        return await c.response()
    finally:
        c.close()


def line(rid: int, method: str, params: dict[str, Any] | None = None) -> bytes:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
    if params is not None:
        msg["params"] = params
    return json.dumps(msg).encode() + b"\n"


INIT = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}


def session_lines() -> list[bytes]:
    """initialize, initialized, N echo calls, one failing call, one unknown tool, one unknown method."""
    out = [line(0, "initialize", INIT),
           b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n']
    out += [line(i, "tools/call", {"name": "echo", "arguments": {"text": f"m{i}"}}) for i in range(1, N + 1)]
    out.append(line(100, "tools/call", {"name": "fail", "arguments": {}}))
    out.append(line(101, "tools/call", {"name": "no-such-tool-x1", "arguments": {}}))
    out.append(line(102, "made/up-method", {}))
    return out


def check_session_scrape(text: str, transport: str) -> None:
    assert op_count(text, mcp_method_name="tools/call", gen_ai_tool_name="echo", error_type="",
                    network_transport=transport, mcp_protocol_version=LEGACY) == N
    assert tool_count(text, "echo") == N
    # a tool that raised: an isError result, error_type tool_error
    assert op_count(text, gen_ai_tool_name="fail", error_type="tool_error") == 1
    # client-chosen names collapse into _OTHER; the errors are their JSON-RPC codes
    assert op_count(text, mcp_method_name="tools/call", gen_ai_tool_name=OTHER, error_type="-32602") == 1
    assert op_count(text, mcp_method_name=OTHER, error_type="-32601") == 1
    assert "no-such-tool-x1" not in text and "made/up-method" not in text
    assert op_count(text, mcp_method_name="initialize") == 1


# ---------------------------------------------------------------------------- stdio


@async_test
async def test_stdio_counts_over_the_metrics_port_and_stdout_is_only_jsonrpc() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, SERVER, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        port = None
        while port is None:
            err = await asyncio.wait_for(proc.stderr.readline(), 20)
            assert err, "the server ended before logging its metrics port"
            m = re.search(rb"metrics on http://[^:]+:(\d+)/metrics", err)
            if m:
                port = int(m.group(1))
        lines = session_lines()
        proc.stdin.write(b"".join(lines))
        await proc.stdin.drain()
        answers = []
        for _ in range(len(lines) - 1):  # the notification has no answer
            answers.append(json.loads(await asyncio.wait_for(proc.stdout.readline(), 20)))
        assert all(a.get("jsonrpc") == "2.0" for a in answers)
        r = await http(port, "GET", "/metrics")
        assert r.status == 200 and r.headers["content-type"].startswith("text/plain")
        check_session_scrape(r.body.decode(), "pipe")
        assert samples(r.body.decode())[("mcpfast_connections_open", frozenset({("network_transport", "pipe")}))] == 1
        proc.stdin.close()
        rest, stderr = await asyncio.wait_for(proc.communicate(), 20)
        # DEBUG logging was on all along: stdout held the answers and nothing else
        assert rest == b""
        assert b"LOG mcpfast" in stderr
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# ---------------------------------------------------------------------------- TCP


@async_test
async def test_tcp_counts_and_bytes() -> None:
    app = make_app()
    server = await start_tcp_server(lambda: app.core, "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        lines = session_lines()
        writer.write(b"".join(lines))
        await writer.drain()
        received = 0
        for _ in range(len(lines) - 1):
            received += len(await asyncio.wait_for(reader.readline(), 10))
        text = app.core.metrics.text()  # type: ignore[union-attr]
        check_session_scrape(text, "tcp")
        s = samples(text)
        tcp = frozenset({("network_transport", "tcp")})
        assert s[("mcpfast_bytes_received_total", tcp)] == sum(len(x) for x in lines)
        assert s[("mcpfast_bytes_sent_total", tcp)] == received
        assert s[("mcpfast_connections_open", tcp)] == 1
        assert s[("mcpfast_sessions_open", frozenset())] == 1
        assert s[("mcpfast_requests_in_flight", frozenset())] == 0
        writer.close()
        await writer.wait_closed()
        for _ in range(200):
            if app.core.session_count == 0:
                break
            await asyncio.sleep(0.005)
        s = samples(app.core.metrics.text())  # type: ignore[union-attr]
        assert s[("mcpfast_connections_open", tcp)] == 0
        assert s[("mcp_server_session_duration_seconds_count",
                  frozenset({("network_transport", "tcp"), ("mcp_protocol_version", LEGACY)}))] == 1
    finally:
        await server.close()


# ---------------------------------------------------------------------------- HTTP


@async_test
async def test_http_counts_at_metrics_and_on_a_metrics_port() -> None:
    app = make_app()
    server = HTTPServer(app.core, port=0)
    await server.start()
    metrics = await start_metrics_server(app.core.metrics, port=0)
    try:
        modern_meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                       "io.modelcontextprotocol/clientCapabilities": {}}
        headers = {"accept": "application/json, text/event-stream", "content-type": "application/json",
                   "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "slow"}
        for i in range(N):
            body = {"jsonrpc": "2.0", "id": i, "method": "tools/call",
                    "params": {"name": "slow", "arguments": {}, "_meta": modern_meta}}
            r = await http(server.port, "POST", "/mcp", json.dumps(body).encode(), headers)
            assert r.status == 200, r.body
        scrape = (await http(server.port, "GET", "/metrics")).body.decode()
        port_scrape = (await http(metrics.port, "GET", "/metrics")).body.decode()
        assert (await http(metrics.port, "GET", "/other")).status == 404
        assert (await http(metrics.port, "POST", "/metrics")).status == 405
        for text in (scrape, port_scrape):
            assert op_count(text, mcp_method_name="tools/call", gen_ai_tool_name="slow", error_type="",
                            network_transport="tcp", mcp_protocol_version="2026-07-28") == N
            assert tool_count(text, "slow") == N
        # the HTTP endpoint's own counters come with it on /metrics
        assert 'mcp_http_responses_total{method="POST",status="200"} 7' in scrape
        assert samples(scrape)[("mcpfast_connections_open", frozenset({("network_transport", "tcp")}))] >= 1
    finally:
        await metrics.close()
        await server.close()


# ---------------------------------------------------------------------------- in process


@async_test
async def test_get_metrics_matches_the_scrape_and_errors_are_typed() -> None:
    app = make_app()
    async with Client(app) as c:
        for _ in range(3):
            await c.call_tool("echo", {"text": "x"})
        await c.call_tool("slow")
        res = await c.call_tool("fail")
        assert res["isError"] is True
    snap = app.get_metrics()["metrics"]
    text = app.core.metrics.text()  # type: ignore[union-attr]
    ops = snap[OP]
    by_tool = {(s["labels"]["gen_ai_tool_name"], s["labels"]["error_type"]): s["count"] for s in ops["series"]
               if s["labels"]["mcp_method_name"] == "tools/call"}
    assert by_tool == {("echo", ""): 3, ("slow", ""): 1, ("fail", "tool_error"): 1}
    for (tool, err), n in by_tool.items():
        assert op_count(text, gen_ai_tool_name=tool, error_type=err) == n
    tools = {s["labels"]["gen_ai_tool_name"]: s["count"] for s in snap["mcpfast_tool_duration_seconds"]["series"]}
    assert tools == {"echo": 3, "slow": 1, "fail": 1}
    assert tool_count(text, "echo") == 3
    # the in-process transport has its own label value
    assert {s["labels"]["network_transport"] for s in ops["series"]} == {"inproc"}


@async_test
async def test_labels_stay_bounded_whatever_the_client_sends() -> None:
    app = make_app()
    async with Client(app) as c:
        for i in range(50):
            with pytest.raises(McpError) as info:
                await c.request(f"random/{i}", {})
            assert info.value.code == -32601
            with pytest.raises(McpError):
                await c.call_tool(f"tool-{i}", {})
    ops = app.core.metrics.operations  # type: ignore[union-attr]
    values = {v for labels, _ in ops.series() for v in labels}
    assert not any(v.startswith(("random/", "tool-")) for v in values)
    assert len(ops) <= 6  # initialize, ping?, the two _OTHER series


@async_test
async def test_refused_requests_are_counted_by_reason() -> None:
    app = MCPServer("refuse", version="1")
    gate = asyncio.Event()

    @app.tool()
    async def hold() -> str:
        await gate.wait()
        return "ok"

    server = await start_tcp_server(lambda: app.core, "127.0.0.1", 0, max_in_flight=2)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(line(0, "initialize", INIT))
        await reader.readline()
        writer.write(b"".join(line(i, "tools/call", {"name": "hold", "arguments": {}}) for i in range(1, 4)))
        answer = json.loads(await asyncio.wait_for(reader.readline(), 10))
        assert answer["id"] == 3 and answer["error"]["code"] == -32005
        s = samples(app.core.metrics.text())  # type: ignore[union-attr]
        assert s[("mcpfast_requests_refused_total", frozenset({("reason", "max_in_flight")}))] == 1
        assert s[("mcpfast_requests_in_flight", frozenset())] == 2
        gate.set()
        for _ in range(2):
            await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        await writer.wait_closed()
    finally:
        await server.close()


# ---------------------------------------------------------------------------- export


@async_test
async def test_prometheus_client_collector_and_parser() -> None:
    app = make_app()
    async with Client(app) as c:
        await c.call_tool("echo", {"text": "x"})
    registry = CollectorRegistry()
    collector = register_prometheus(app, registry)
    out = generate_latest(registry).decode()
    assert op_count(out, gen_ai_tool_name="echo") == 1
    names = {f.name for f in text_string_to_metric_families(out)}
    assert {"mcp_server_operation_duration_seconds", "mcpfast_tool_duration_seconds",
            "mcpfast_requests_in_flight"} <= names
    registry.unregister(collector)
    assert generate_latest(registry) == b""


def test_client_recorder() -> None:
    m = ClientMetrics()
    t0 = m.start()
    m.done(t0, "tools/call", tool="echo", transport="pipe", version=LEGACY)
    m.done(m.start(), "tools/call", tool="echo", error_type="-32602", transport="pipe", version=LEGACY)
    m.session_closed(t0, "pipe", LEGACY)
    text = m.text()
    s = samples(text)
    assert s[("mcp_client_operation_duration_seconds_count", frozenset({
        ("mcp_method_name", "tools/call"), ("gen_ai_tool_name", "echo"), ("error_type", "-32602"),
        ("network_transport", "pipe"), ("mcp_protocol_version", LEGACY)}))] == 1
    assert s[("mcp_client_session_duration_seconds_count", frozenset({
        ("network_transport", "pipe"), ("mcp_protocol_version", LEGACY)}))] == 1
    registry = CollectorRegistry()
    register_prometheus(m, registry)
    assert "mcp_client_operation_duration_seconds_bucket" in generate_latest(registry).decode()


@async_test
async def test_metrics_off() -> None:
    app = make_app(metrics=False)
    assert app.core.metrics is None
    assert app.core.on_request.__func__ is ServerCore.on_request  # type: ignore[attr-defined]
    async with Client(app) as c:
        await c.call_tool("echo", {"text": "x"})
    assert app.get_metrics()["metrics"] == {}
    assert app.get_metrics()["tools"]["echo"]["calls"] == 1  # the runner's own stats still count
    with pytest.raises(TypeError):
        register_prometheus(app, CollectorRegistry())
    async with app.metrics_server(port=0) as server:
        assert server is None


@async_test
async def test_scrape_of_many_tools() -> None:
    app = MCPServer("many", version="1")
    for i in range(30):
        app.add_tool(lambda x=i: str(x), name=f"t{i}")
    async with Client(app) as c:
        for i in range(30):
            await c.call_tool(f"t{i}", {})
    text = app.core.metrics.text()  # type: ignore[union-attr]
    s = samples(text)
    counts = [s[("mcpfast_tool_duration_seconds_count", frozenset({("gen_ai_tool_name", f"t{i}")}))]
              for i in range(30)]
    assert counts == [1.0] * 30
    assert op_count(text, mcp_method_name="tools/call") == 30


# ---------------------------------------------------------------------------- CLI


def test_cli_metrics_port_option_and_its_checks() -> None:
    from mcpfast import cli

    args = cli._parser().parse_args(["run", "x.py", "--metrics-port", "9464"])
    assert args.metrics_port == 9464
    with pytest.raises(cli.CLIError, match="metrics=False"):
        cli.serve(make_app(metrics=False), metrics_port=9464)
    with pytest.raises(cli.CLIError, match="port number"):
        cli.serve(make_app(), metrics_port=70000)
    with pytest.raises(cli.CLIError, match="one process"):
        cli.serve(make_app(), transport="http", workers=2, stateless=True, metrics_port=9464)


def test_a_wrapper_calling_back_in_is_timed_once() -> None:
    # another wrapper of the core's on_request (tracing) may call back in with extra arguments:
    # the call passes through untimed, so each request is counted once
    from mcpfast.metrics import ServerMetrics
    from mcpfast.server._metering import RequestMeter
    from mcpfast.wire.jsonrpc import decode_all

    seen: list[tuple[Any, ...]] = []

    def inner(peer: Any, request: Any, *rest: Any) -> Any:
        seen.append(rest)
        return {}

    m = ServerMetrics(known_methods=("ping",))
    meter = RequestMeter(m, inner)
    req = decode_all([b'{"jsonrpc":"2.0","id":1,"method":"ping"}'])[0]

    class Peer:
        state = None
        network_transport = None  # unknown: recorded as ""

    assert meter.on_request(Peer(), req, True) == {}
    assert meter.on_request(Peer(), req) == {}
    assert seen == [(True,), ()]
    assert [(labels, h.count) for labels, h in m.operations.series()] == [(("ping", "", "", "", ""), 1)]


def test_a_read_is_timed_as_one_batch() -> None:
    # inside a peer's feed the eager answers of one read are observed together once they are
    # flushed: all N counted (none before the flush), each with the read's whole duration
    import time

    from mcpfast.peer import JSONRPCPeer
    from mcpfast.wire.jsonrpc import decode_all

    core = ServerCore("t", "1")
    core.add_tool("echo", lambda text: text, input_schema={"type": "object"})
    slept: list[int] = []

    def send(out: list[bytes]) -> None:
        # the answers are sent before they are observed: none counted yet
        assert op_count(core.metrics.text(), gen_ai_tool_name="echo") == 0  # type: ignore[union-attr]
        time.sleep(0.002)  # the flush takes 2 ms: every answer of the read waited for it
        slept.append(len(out))

    peer = JSONRPCPeer(core, send, loop=asyncio.new_event_loop())
    peer.network_transport = "pipe"
    peer.feed(decode_all([line(0, "initialize", INIT)]))
    lines = [line(i, "tools/call", {"name": "echo", "arguments": {"text": "x"}}) for i in range(1, N + 1)]
    peer.feed(decode_all(lines))
    assert slept == [1, N]
    (labels, h), = [(lb, h) for lb, h in core.metrics.operations.series() if lb[1] == "echo"]  # type: ignore[union-attr]
    assert labels == ("tools/call", "echo", "", "pipe", LEGACY)
    assert h.count == N
    assert h.sum >= N * 2000  # µs: each waited for the 2 ms flush
    assert sum(1 for c in h.buckets() if c) == 1  # one duration for the whole read
    # outside a feed (a driver's call()) each request is timed on its own: no 2 ms flush in it
    before = h.sum
    peer.call(decode_all([line(50, "tools/call", {"name": "echo", "arguments": {"text": "y"}})])[0],
              lambda rid, data, code: None)
    assert h.count == N + 1
    assert h.sum - before < 2000
    peer.loop.close()


@async_test
async def test_tool_calls_are_labelled_from_what_the_core_resolved() -> None:
    # ServerCore hands the timer the tool's slot (RequestTimer.resolved): the labels are the
    # ones read from the request, a legacy call with a _meta carries its session's version,
    # and a tool re-added under the same name counts into the same series
    app = make_app()
    async with Client(app) as c:
        await c.request("tools/call", {"name": "echo", "arguments": {"text": "x"}, "_meta": {"progressToken": 1}})
        await c.call_tool("echo", {"text": "y"})
        app.core.remove_tool("echo")
        with pytest.raises(McpError):
            await c.call_tool("echo", {"text": "gone"})
        app.core.add_tool("echo", lambda text: text, input_schema={"type": "object"})
        await c.call_tool("echo", {"text": "z"})
        await c.call_tool("slow")
    text = app.core.metrics.text()  # type: ignore[union-attr]
    assert op_count(text, mcp_method_name="tools/call", gen_ai_tool_name="echo", error_type="",
                    mcp_protocol_version=LEGACY) == 3
    assert op_count(text, mcp_method_name="tools/call", gen_ai_tool_name=OTHER, error_type="-32602") == 1
    assert op_count(text, mcp_method_name="tools/call", gen_ai_tool_name="slow", error_type="") == 1
    assert app.core.feed_timer.resolved == [None, None]  # type: ignore[union-attr]
