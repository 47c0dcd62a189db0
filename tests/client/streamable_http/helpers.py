"""Shared pieces of the HTTP client transport tests: a server core with the tools they call,
the built-in server on port 0, and a ``ClientSession`` over the transport."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from mcpfast.client.http import StreamableHTTPTransport, transport_from_url
from mcpfast.client.session import ClientHandlers, ClientSession
from mcpfast.server import ServerCore
from mcpfast.transports.http.server import HTTPServer
from mcpfast.transports.http.settings import HTTPSettings

LEGACY = "2025-11-25"
MODERN = "2026-07-28"

#: a tool whose ``region`` argument is mirrored in ``Mcp-Param-Region`` (the server checks it)
REGION_SCHEMA = {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"},
                                                  "n": {"type": "integer", "x-mcp-header": "N"}},
                 "required": ["region"]}
#: an annotation under ``items``: invalid, so an HTTP client drops the tool from tools/list
BAD_SCHEMA = {"type": "object", "properties": {"xs": {"type": "array", "items": {"type": "string",
                                                                                  "x-mcp-header": "X"}}}}


def make_core(events: dict[str, Any]) -> ServerCore:
    core = ServerCore("httpc-test", "1.0")

    def echo(message: str) -> str:
        return message

    def where(region: str, n: int = 0) -> str:
        return f"{region}/{n}"

    async def progress(ctx: Any) -> str:
        await ctx.report_progress(1, 2, "half")
        return "done"

    async def poll(ctx: Any) -> str:
        # SEP-1699: the stream ends here; the answer comes on the resumed stream
        await ctx.report_progress(1, 2, "before the cut")
        await ctx.close_sse_stream()
        await asyncio.sleep(0.05)
        return "after the cut"

    async def closeget(ctx: Any) -> str:
        await ctx.close_standalone_sse_stream()
        return "closed"

    async def wait() -> str:
        events["started"].set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            events["cancelled"].set()
            raise
        return "never"

    async def ask(ctx: Any) -> str:
        res = await ctx.elicit("name?", {"type": "object", "properties": {"name": {"type": "string"}}})
        return f"hello {res['content']['name']}"

    obj: dict[str, Any] = {"type": "object", "properties": {}}
    core.add_tool("echo", echo, input_schema={"type": "object", "properties": {"message": {"type": "string"}},
                                              "required": ["message"]})
    core.add_tool("where", where, input_schema=REGION_SCHEMA)
    core.add_tool("bad", echo, input_schema=BAD_SCHEMA)
    core.add_tool("progress", progress, input_schema=obj, context_kwarg="ctx")
    core.add_tool("poll", poll, input_schema=obj, context_kwarg="ctx")
    core.add_tool("wait", wait, input_schema=obj)
    core.add_tool("closeget", closeget, input_schema=obj, context_kwarg="ctx")
    core.add_tool("ask", ask, input_schema=obj, context_kwarg="ctx")
    return core


def new_events() -> dict[str, Any]:
    return {"started": asyncio.Event(), "cancelled": asyncio.Event()}


@contextlib.asynccontextmanager
async def serving(core: ServerCore | None = None, *, tls: tuple[str, str] | None = None,
                  **settings: Any) -> AsyncIterator[tuple[HTTPServer, dict[str, Any]]]:
    """The built-in HTTP server on 127.0.0.1, port 0 (HTTPS with ``tls=(certfile, keyfile)``),
    over ``core`` or ``make_core``; the events that ``make_core``'s tools set."""
    events = new_events()
    settings.setdefault("sse_retry_ms", 10)
    server = HTTPServer(core or make_core(events), port=0, tls=tls, settings=HTTPSettings(**settings))
    await server.start()
    try:
        yield server, events
    finally:
        await server.close(grace=0.5)


@contextlib.asynccontextmanager
async def session(url: str, version: str = LEGACY, handlers: ClientHandlers | None = None,
                  **options: Any) -> AsyncIterator[tuple[ClientSession, StreamableHTTPTransport]]:
    transport = transport_from_url(url, **options)
    handlers = handlers or ClientHandlers()
    peer = await transport.connect(handlers)
    try:
        s = ClientSession(peer, handlers, protocol_version=version)
        await s.start()
        yield s, transport
    finally:
        await transport.close()


def text(result: dict[str, Any]) -> str:
    return "".join(b.get("text", "") for b in result.get("content", ()))


Reply = tuple[int, dict[str, str], bytes]


@contextlib.asynccontextmanager
async def raw_server(handle: Any) -> AsyncIterator[str]:
    """``asyncio.start_server(handle)`` on 127.0.0.1, port 0; yields its ``http://.../mcp`` URL,
    then closes it and waits for its handlers."""
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}/mcp"
    finally:
        srv.close()
        await srv.wait_closed()


@contextlib.asynccontextmanager
async def fake_server(answer: Any) -> AsyncIterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    """A keep-alive HTTP/1.1 server of a few lines: ``answer(method, headers, body) -> (status,
    headers, body)``; yields the URL and the requests seen (method, lower-cased headers, body)."""
    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method = lines[0].split(" ")[0]
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen.append((method, headers, body))
                status, extra, out = answer(method, headers, body)
                lines_out = [f"HTTP/1.1 {status} X", f"Content-Length: {len(out)}",
                             *(f"{k}: {v}" for k, v in extra.items())]
                writer.write(("\r\n".join(lines_out) + "\r\n\r\n").encode("latin-1") + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async with raw_server(handle) as url:
        yield url, seen
