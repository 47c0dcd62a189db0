"""A fake Streamable HTTP core and small HTTP clients for the front-end tests (server.py, asgi.py).

``FakeCore`` implements the core's contract (``handle``, ``reject_too_large``, ``startup``,
``shutdown``, ``settings``) with a few paths whose behaviour the tests pick:

* ``/echo``: 200, body echoed, method/query/header facts in ``X-*`` headers;
* ``/sse``: streamed (start, two writes, end);
* ``/slow?ms=N``: answered N ms later (the pipelining-order test);
* ``/hang`` and ``/stream-hang``: never finished (disconnect tests; ``on_close`` is recorded);
* ``/get-stream``: a streamed answer ended only by ``shutdown()``;
* ``/boom``: ``handle`` raises (the front end still answers).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from mcpfast.transports.http.core import HTTPRequest, Responder

from ...support.ports import free_port as free_port  # for the front tests


@dataclass
class FakeSettings:
    path: str = "/mcp"
    max_body: int = 1024
    stateless: bool = False
    bind_host: str | None = None


@dataclass
class FakeCore:
    settings: FakeSettings = field(default_factory=FakeSettings)
    requests: list[HTTPRequest] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    rejected: int = 0
    started: int = 0
    stopped: int = 0
    open_streams: list[Responder] = field(default_factory=list)

    def handle(self, request: HTTPRequest, responder: Responder) -> None:
        self.requests.append(request)
        path = request.path
        if path in ("/echo", "/mcp"):
            responder.respond(
                200,
                [
                    ("Content-Type", "application/octet-stream"),
                    ("X-Method", request.method),
                    ("X-Path", request.path),
                    ("X-Query", request.query),
                    ("X-Headers", json.dumps(request.headers)),
                    ("X-Client", "yes" if request.client else "no"),
                ],
                request.body,
            )
        elif path == "/sse":
            responder.start(200, [("Content-Type", "text/event-stream")])
            responder.write(b"data: one\n\n")
            responder.write(b"")
            responder.write(b"data: two\n\n")
            responder.end()
        elif path == "/slow":
            ms = int(request.query.split("=")[1])
            asyncio.get_running_loop().call_later(
                ms / 1000, responder.respond, 200, [("Content-Type", "text/plain")], f"slow {ms}".encode()
            )
        elif path in ("/hang", "/stream-hang", "/get-stream"):
            responder.on_close = lambda: self.closed.append(path)
            if path != "/hang":
                responder.start(200, [("Content-Type", "text/event-stream")])
                responder.write(b": primed\n\n")
                self.open_streams.append(responder)
        elif path == "/boom":
            raise RuntimeError("boom")
        else:
            responder.respond(404, [("Content-Type", "text/plain")], b"not found")

    def reject_too_large(self, responder: Responder) -> None:
        self.rejected += 1
        responder.respond(413, [("Content-Type", "application/json")], b'{"error":"too large"}')

    async def startup(self) -> None:
        self.started += 1

    async def shutdown(self) -> None:
        self.stopped += 1
        for r in self.open_streams:
            if not r.closed:
                r.end()
        self.open_streams.clear()


# ---------------------------------------------------------------------------- raw client


class RawClient:
    """A raw HTTP/1.1 client on asyncio streams: send bytes, read responses exactly."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def response(self, timeout: float = 5.0) -> Response:
        return await asyncio.wait_for(read_response(self.reader), timeout)

    async def eof(self, timeout: float = 5.0) -> bool:
        """True when the server closed (EOF or reset) with nothing more sent."""
        try:
            data = await asyncio.wait_for(self.reader.read(1), timeout)
        except ConnectionResetError:
            return True
        return data == b""

    def close(self) -> None:
        self.writer.close()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    chunks: list[bytes]
    raw_head: bytes


async def read_response(reader: asyncio.StreamReader) -> Response:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    chunks: list[bytes] = []
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.strip(), 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(data[:-2])
        body = b"".join(chunks)
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif status in (100, 204, 304):
        body = b""
    else:
        body = await reader.read()
    return Response(status, headers, body, chunks, head)


def post(path: str, body: bytes, headers: dict[str, str] | None = None, *, host: str = "127.0.0.1") -> bytes:
    h = {"Host": host, "Content-Length": str(len(body))}
    h.update(headers or {})
    lines = "".join(f"{k}: {v}\r\n" for k, v in h.items())
    return f"POST {path} HTTP/1.1\r\n{lines}\r\n".encode() + body


def injecting_handle(request: HTTPRequest, responder: Responder) -> None:
    """A core's ``handle`` that tries to inject a header through CR/LF in a value: ``/inject`` in
    one ``respond()``, any other path through ``start()``/``write()``/``end()``."""
    if request.path == "/inject":
        responder.respond(200, [("X-Evil", "a\r\nSet-Cookie: x=1")], b"body")
    else:
        responder.start(200, [("X-Evil", "a\nb")])
        responder.write(b"ignored")
        responder.end()


def rpc_body(rid: Any, method: str, params: Any = None) -> bytes:
    """A JSON-RPC request (``rid`` given) or notification (``rid`` None), encoded."""
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if rid is not None:
        msg["id"] = rid
    if params is not None:
        msg["params"] = params
    return json.dumps(msg).encode()


def decode_message(ctype: str, raw: bytes) -> Any:
    """The JSON-RPC response in a JSON body, or the first one in an SSE body (``ctype`` says which)."""
    if ctype.startswith("text/event-stream"):
        for block in raw.decode().split("\n\n"):
            data = "\n".join(line[5:].lstrip() for line in block.split("\n") if line.startswith("data:"))
            if data:
                obj = json.loads(data)
                if "id" in obj and "method" not in obj:
                    return obj
        raise AssertionError(f"no response in {raw!r}")
    return json.loads(raw)


def message(r: Response) -> Any:
    """``decode_message`` of a response read by ``read_response``."""
    return decode_message(r.headers.get("content-type", ""), r.body)
