"""Test doubles for the I/O-free Streamable HTTP core: a recording ``Responder`` and a small
client that builds ``HTTPRequest`` objects and decodes what came back."""

from __future__ import annotations

import asyncio
from typing import Any

from mcpfast.transports.http.core import HTTPRequest, Responder, StreamableHTTP
from mcpfast.wire import _json, jsonrpc
from mcpfast.wire.framing import SSEParser

MODERN = "2026-07-28"
PV_KEY = "io.modelcontextprotocol/protocolVersion"
CAPS_KEY = "io.modelcontextprotocol/clientCapabilities"
STD_ACCEPT = "application/json, text/event-stream"


class FakeResponder(Responder):
    """Records everything the core does with it; ``disconnect()`` plays a client going away."""

    def __init__(self, buffered: int = 0) -> None:
        super().__init__()
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.body = b""
        self.chunks: list[bytes] = []
        self.streaming = False
        self.ended = False
        self.calls: list[str] = []
        self.fake_buffered = buffered

    # the contract
    def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        assert self.status is None, f"respond() after {self.calls}"
        self.calls.append("respond")
        self.status = status
        self.headers = list(headers)
        self.body = body
        self.closed = True

    def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        assert self.status is None, f"start() after {self.calls}"
        self.calls.append("start")
        self.status = status
        self.headers = list(headers)
        self.streaming = True

    def write(self, data: bytes) -> None:
        assert self.streaming and not self.ended, f"write() after {self.calls}"
        self.calls.append("write")
        self.chunks.append(bytes(data))

    def end(self) -> None:
        assert self.streaming and not self.ended, f"end() after {self.calls}"
        self.calls.append("end")
        self.ended = True
        self.closed = True

    def buffered(self) -> int:
        return self.fake_buffered

    # test helpers
    def disconnect(self) -> None:
        """The client went away: the front end calls on_close once."""
        done = self.ended or "respond" in self.calls
        self.closed = True
        cb, self.on_close = self.on_close, None
        if cb is not None and not done:
            cb()

    @property
    def done(self) -> bool:
        return self.ended or "respond" in self.calls

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def is_sse(self) -> bool:
        return self.streaming

    def events(self) -> list[Any]:
        """The SSE events received so far (``SSEEvent``: ``id``, ``event``, ``data``, ``retry``)."""
        parser = SSEParser()
        out = []
        for c in self.chunks:
            out.extend(parser.feed(c))
        return out

    def messages(self) -> list[Any]:
        """The JSON-RPC messages received: the JSON body, or every non-empty SSE event."""
        if not self.streaming:
            return [jsonrpc.decode(self.body)] if self.body else []
        return [jsonrpc.decode(e.data) for e in self.events() if e.data]

    def json(self) -> Any:
        return _json.loads(self.body)

    def error_code(self) -> int | None:
        body = self.json()
        return body.get("error", {}).get("code") if isinstance(body, dict) else None


def request(method: str = "POST", body: Any = None, headers: dict[str, str] | None = None, path: str = "/mcp",
            raw: bytes | None = None) -> HTTPRequest:
    h = {"host": "127.0.0.1:8000"}
    if method == "POST":
        h["content-type"] = "application/json"
        h["accept"] = STD_ACCEPT
    elif method == "GET":
        h["accept"] = "text/event-stream"
    if headers:
        for k, v in headers.items():
            if v is None:
                h.pop(k.lower(), None)
            else:
                h[k.lower()] = v
    data = raw if raw is not None else (b"" if body is None else _json.dumps(body))
    return HTTPRequest(method, path, "", h, data, ("127.0.0.1", 5555))


def modern_body(method: str, params: dict[str, Any] | None = None, *, id: Any = 1, caps: dict[str, Any] | None = None,
                version: str = MODERN, **meta: Any) -> dict[str, Any]:
    p = dict(params or {})
    m = {PV_KEY: version, CAPS_KEY: caps if caps is not None else {}}
    m.update(p.get("_meta") or {})
    m.update(meta)
    p["_meta"] = m
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": p}


def modern_headers(method: str, params: dict[str, Any] | None = None, version: str = MODERN) -> dict[str, str]:
    h = {"mcp-protocol-version": version, "mcp-method": method}
    if params:
        if method in ("tools/call", "prompts/get") and "name" in params:
            h["mcp-name"] = params["name"]
        elif method == "resources/read" and "uri" in params:
            h["mcp-name"] = params["uri"]
    return h


class Client:
    """Drives a ``StreamableHTTP`` like an HTTP client would (one fresh responder per request)."""

    def __init__(self, http: StreamableHTTP) -> None:
        self.http = http
        self.session_id: str | None = None
        self.version = "2025-11-25"
        self._next = 0

    def send(self, req: HTTPRequest) -> FakeResponder:
        r = FakeResponder()
        self.http.handle(req, r)
        return r

    def post(self, body: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> FakeResponder:
        return self.send(request("POST", body, headers, raw=raw))

    # modern
    def modern(self, method: str, params: dict[str, Any] | None = None, *, headers: dict[str, str] | None = None,
               id: Any = None, **kw: Any) -> FakeResponder:
        if id is None:
            self._next += 1
            id = self._next
        h = modern_headers(method, params, kw.get("version", MODERN))
        if headers:
            h.update(headers)
        return self.post(modern_body(method, params, id=id, **kw), h)

    # legacy
    def session_headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        h: dict[str, str] = {"mcp-protocol-version": self.version}
        if self.session_id is not None:
            h["mcp-session-id"] = self.session_id
        if extra:
            h.update(extra)
        return h

    def initialize(self, version: str = "2025-11-25", caps: dict[str, Any] | None = None) -> FakeResponder:
        self.version = version
        r = self.post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": caps or {}, "clientInfo": {"name": "t", "version": "0"}}},
            {"mcp-protocol-version": None})
        sid = r.header("mcp-session-id")
        if sid is not None:
            self.session_id = sid
            n = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, self.session_headers())
            assert n.status == 202, n.body
        return r

    def call(self, method: str, params: dict[str, Any] | None = None, *, id: Any = None,
             headers: dict[str, str] | None = None) -> FakeResponder:
        if id is None:
            self._next += 1
            id = self._next
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            body["params"] = params
        return self.post(body, self.session_headers(headers))

    def notify(self, method: str, params: dict[str, Any] | None = None) -> FakeResponder:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            body["params"] = params
        return self.post(body, self.session_headers())

    def get(self, headers: dict[str, str] | None = None) -> FakeResponder:
        return self.send(request("GET", None, self.session_headers(headers)))

    def delete(self) -> FakeResponder:
        return self.send(request("DELETE", None, self.session_headers()))


def result_of(r: FakeResponder) -> Any:
    msgs = [m for m in r.messages() if type(m) in (jsonrpc.Response, jsonrpc.ErrorResponse)]
    assert len(msgs) == 1, (r.status, r.body, r.chunks)
    m = msgs[0]
    assert type(m) is jsonrpc.Response, m
    return m.result


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


REGION_SCHEMA = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "count": {"type": "integer", "x-mcp-header": "Count"},
        "flag": {"type": "boolean", "x-mcp-header": "Flag"},
        "text": {"type": "string"},
    },
}


def build_core(**kw: Any) -> Any:
    """A ServerCore with the tools the HTTP tests need."""
    from mcpfast.server import ServerCore

    core = ServerCore("http-test", "1.0.0", **kw)
    gate: dict[str, asyncio.Future[Any]] = {}
    core.gate = gate  # type: ignore[attr-defined]  # tests open gates by name

    def add(a: int, b: int) -> int:
        return a + b

    def progress(ctx: Any) -> str:
        ctx.report_progress(1, 2, "half")
        ctx.report_progress(2, 2)
        ctx.info("done")
        return "ok"

    async def wait(ctx: Any, name: str = "g") -> str:
        fut = gate.setdefault(name, asyncio.get_running_loop().create_future())
        try:
            await fut
        finally:
            gate.pop(name, None)
        return f"opened {name}"

    async def slow_progress(ctx: Any, name: str = "g") -> str:
        fut = gate.setdefault(name, asyncio.get_running_loop().create_future())
        ctx.report_progress(1, 3)
        try:
            await fut
        finally:
            gate.pop(name, None)
        ctx.report_progress(2, 3)
        return "slow done"

    async def reconnect(ctx: Any, name: str = "g") -> str:
        ctx.report_progress(1, 3)
        from mcpfast.requestvars import stream_control

        control = stream_control.get()
        if control is not None:
            control.close_sse_stream()
        fut = gate.setdefault(name, asyncio.get_running_loop().create_future())
        try:
            await fut
        finally:
            gate.pop(name, None)
        ctx.report_progress(2, 3)
        return "reconnected"

    async def ask(ctx: Any) -> str:
        answer = await ctx.elicit("Your name?", {"type": "object", "properties": {"name": {"type": "string"}}})
        return f"Hello {answer['content']['name']}"

    def who() -> str:
        from mcpfast.requestvars import access_token, http_request

        req = http_request.get()
        tok = access_token.get()
        return f"{req.method} {req.path} {getattr(tok, 'client_id', None)}"

    def region_tool(region: str = "", count: int = 0, flag: bool = False, text: str = "") -> str:
        return f"{region}/{count}/{flag}"

    obj = {"type": "object"}
    core.add_tool("add", add, input_schema={"type": "object", "properties": {"a": {"type": "integer"},
                                                                             "b": {"type": "integer"}},
                                            "required": ["a", "b"]})
    core.add_tool("progress", progress, input_schema=obj, context_kwarg="ctx")
    core.add_tool("wait", wait, input_schema=obj, context_kwarg="ctx")
    core.add_tool("slow_progress", slow_progress, input_schema=obj, context_kwarg="ctx")
    core.add_tool("reconnect", reconnect, input_schema=obj, context_kwarg="ctx")
    core.add_tool("ask", ask, input_schema=obj, context_kwarg="ctx")
    core.add_tool("who", who, input_schema=obj)
    core.add_tool("region", region_tool, input_schema=REGION_SCHEMA)
    core.add_resource("file:///a.txt", lambda: "A", name="a", mime_type="text/plain")
    core.add_prompt("greet", lambda who="x": f"Hello {who}", description="Greets", arguments=[{"name": "who"}])
    return core


def open_gate(core: Any, name: str = "g", value: Any = None) -> None:
    fut = core.gate.get(name)
    assert fut is not None, f"nobody waits at gate {name!r}"
    fut.set_result(value)
