"""End to end: ``tools/call`` through the whole server, as clients see it.

Covers mcpfast/server/core.py (dispatch, argument check, the tool call), mcpfast/peer.py,
mcpfast/protocol.py and the transports (stdio, TCP, the built-in Streamable HTTP server), with
the wire twins under them, and the client (mcpfast/client/, mcpfast/testing.py):

* ``InProcessToolsCall``: one ``tools/call echo`` through the in-process client and server
  (real encoder, line splitter and decoder both ways), arguments and result of ``size`` bytes
  (10, 100, 1,000, 10,000: the original design's benchmark);
* ``StdioRoundTrip``: a server process over its stdin/stdout pipes, one request in flight, the
  same sizes (raw NDJSON writes and reads here, so only the server is measured);
* ``TCPConcurrent`` / ``HTTPConcurrent``: ``conns`` connections (1, 10, 100) to a server process,
  each doing ``CALLS`` sequential calls at once (raw NDJSON / raw HTTP/1.1 keep-alive with the
  2026-07-28 stateless envelope);
* ``ClientToolsCall``: ``mcpfast.Client`` against an in-process server.

Server processes start once per benchmark process (asv runs each benchmark in its own) and
are stopped at exit. A commit that lacks an API raises ``NotImplementedError`` (``n/a``).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import subprocess
import sys
import textwrap
from typing import Any

__all__ = ["SIZES_B", "CONNS", "CALLS", "prestart"]

#: argument (and result) sizes in bytes
SIZES_B: list[int] = [10, 100, 1000, 10000]
#: concurrent connections
CONNS: list[int] = [1, 10, 100]
#: sequential calls per connection in one timed round
CALLS = 10

PROTO_LEGACY = "2025-11-25"
PROTO_MODERN = "2026-07-28"
_PV = "io.modelcontextprotocol/protocolVersion"
_CAPS = "io.modelcontextprotocol/clientCapabilities"

_SERVER = textwrap.dedent("""
    import asyncio, sys
    from mcpfast.server import ServerCore

    core = ServerCore("asv-endtoend", "1")
    core.add_tool("echo", lambda message: message, input_schema={
        "type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]})
    kind = sys.argv[1]
    if kind == "stdio":
        from mcpfast.transports.stdio import run_stdio
        run_stdio(core)
    elif kind == "tcp":
        from mcpfast.transports.tcp import start_tcp_server

        async def main():
            server = await start_tcp_server(lambda: core, max_connections=4096)
            print(server.port, flush=True)
            await asyncio.Event().wait()
        asyncio.run(main())
    else:
        from mcpfast.transports.http.server import serve_http
        from mcpfast.transports.http.settings import HTTPSettings

        def ready(server):
            print(server.port, flush=True)
        asyncio.run(serve_http(core, port=0, ready=ready, max_connections=4096,
                               settings=HTTPSettings(stateless=True, json_response=True)))
""")

_procs: dict[str, subprocess.Popen[bytes]] = {}
_ports: dict[str, int] = {}


def _message(size: int) -> str:
    return ("abcdefghijklmnopqrstuvwxyz0123456789" * (size // 36 + 1))[:size]


def prestart(*kinds: str) -> None:
    """Start the server processes of ``kinds`` now, side by side (their start-up overlaps)."""
    for kind in kinds:
        if kind not in _procs:
            _procs[kind] = subprocess.Popen([sys.executable, "-c", _SERVER, kind], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)


def _spawn(kind: str) -> subprocess.Popen[bytes]:
    """The server process for ``kind`` ("stdio", "tcp", "http"), started once; ready."""
    proc = _procs.get(kind)
    if proc is not None and proc.poll() is None and (kind == "stdio" or kind in _ports):
        return proc
    try:
        import mcpfast.server  # noqa: F401
    except ImportError as exc:  # pragma: no cover - a broken install
        raise NotImplementedError(f"mcpfast.server is not available: {exc}") from None
    if proc is not None and proc.poll() is not None:
        del _procs[kind]
    prestart(kind)
    proc = _procs[kind]
    if kind != "stdio":
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            proc.kill()
            raise NotImplementedError(f"the {kind} server did not start (this commit may lack its API)")
        _ports[kind] = int(line)
    return proc


@atexit.register
def _stop_all() -> None:
    for proc in _procs.values():
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
    _procs.clear()
    _ports.clear()


def _request(rid: int, size: int, modern: bool = False) -> bytes:
    params: dict[str, Any] = {"name": "echo", "arguments": {"message": _message(size)}}
    if modern:
        params["_meta"] = {_PV: PROTO_MODERN, _CAPS: {}}
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params}).encode()


def _initialize(rid: int = 0) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": "initialize", "params": {
        "protocolVersion": PROTO_LEGACY, "capabilities": {}, "clientInfo": {"name": "asv", "version": "0"}}}).encode()


_INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'


class InProcessToolsCall:
    """``tools/call echo`` through ``mcpfast.testing.Client`` and the server in one process."""

    params = SIZES_B
    param_names = ["size"]

    def setup(self, size: int) -> None:
        try:
            from mcpfast.server import ServerCore
            from mcpfast.testing import Client
        except ImportError as exc:
            raise NotImplementedError(str(exc)) from None
        core = ServerCore("asv", "1")
        core.add_tool("echo", lambda message: message, input_schema={
            "type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]})
        self.loop = asyncio.new_event_loop()
        self.client = Client(core)
        self.loop.run_until_complete(self.client.__aenter__())
        self.args = {"message": _message(size)}

    def teardown(self, size: int) -> None:
        self.loop.run_until_complete(self.client.__aexit__(None, None, None))
        self.loop.close()

    def time_tools_call(self, size: int) -> None:
        self.loop.run_until_complete(self.client.call_tool("echo", self.args))


class StdioRoundTrip:
    """One ``tools/call echo`` round trip to a server process over stdio (one in flight)."""

    params = SIZES_B
    param_names = ["size"]

    def setup(self, size: int) -> None:
        self.proc = _spawn("stdio")
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.out = self.proc.stdin.fileno()
        self.inp = self.proc.stdout.fileno()
        self.buf = b""
        if not getattr(self.proc, "initialized", False):
            self._round(_initialize() + b"\n")
            os.write(self.out, _INITIALIZED + b"\n")
            self.proc.initialized = True  # type: ignore[attr-defined]
        self.line = _request(1, size) + b"\n"

    def _round(self, line: bytes) -> bytes:
        os.write(self.out, line)
        buf = self.buf
        while True:
            end = buf.find(b"\n")
            if end >= 0:
                self.buf = buf[end + 1:]
                return buf[:end]
            chunk = os.read(self.inp, 1 << 16)
            if not chunk:
                raise RuntimeError("the stdio server closed its stdout")
            buf += chunk

    def time_round_trip(self, size: int) -> None:
        self._round(self.line)


async def _tcp_conn(port: int, lines: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(_initialize() + b"\n")
        await reader.readline()
        writer.write(_INITIALIZED + b"\n")
        for line in lines:
            writer.write(line)
            if not (await reader.readline()).startswith(b'{"jsonrpc":"2.0","id":1,"result"'):
                raise RuntimeError("unexpected answer from the TCP server")
    finally:
        writer.close()
        await writer.wait_closed()


class TCPConcurrent:
    """``conns`` TCP connections at once (NDJSON), each: initialize, ``CALLS`` calls of 100 B."""

    params = CONNS
    param_names = ["conns"]
    timeout = 120

    def setup(self, conns: int) -> None:
        _spawn("tcp")
        self.port = _ports["tcp"]
        self.lines = [_request(1, 100) + b"\n"] * CALLS
        self.loop = asyncio.new_event_loop()

    def teardown(self, conns: int) -> None:
        self.loop.close()

    def time_connections(self, conns: int) -> None:
        async def run() -> None:
            await asyncio.gather(*(_tcp_conn(self.port, self.lines) for _ in range(conns)))

        self.loop.run_until_complete(run())


async def _http_conn(port: int, post: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(CALLS):
            writer.write(post)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer from the HTTP server: {head[:40]!r}")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
    finally:
        writer.close()
        await writer.wait_closed()


class HTTPConcurrent:
    """``conns`` keep-alive HTTP/1.1 connections at once to the built-in Streamable HTTP server,
    each: ``CALLS`` stateless (2026-07-28) ``tools/call`` POSTs of 100 B, JSON responses."""

    params = CONNS
    param_names = ["conns"]
    timeout = 120

    def setup(self, conns: int) -> None:
        _spawn("http")
        self.port = _ports["http"]
        body = _request(1, 100, modern=True)
        self.post = (f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     f"Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: {PROTO_MODERN}\r\n"
                     f"Mcp-Method: tools/call\r\nMcp-Name: echo\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        self.loop = asyncio.new_event_loop()

    def teardown(self, conns: int) -> None:
        self.loop.close()

    def time_connections(self, conns: int) -> None:
        async def run() -> None:
            await asyncio.gather(*(_http_conn(self.port, self.post) for _ in range(conns)))

        self.loop.run_until_complete(run())


class ClientToolsCall:
    """``mcpfast.Client.call_tool`` against an in-process server, both eras."""

    params = (["legacy", PROTO_MODERN], [100, 10000])
    param_names = ["mode", "size"]

    def setup(self, mode: str, size: int) -> None:
        try:
            from mcpfast import Client  # type: ignore[attr-defined]
            from mcpfast.server import ServerCore
        except ImportError as exc:
            raise NotImplementedError(str(exc)) from None
        core = ServerCore("asv", "1")
        core.add_tool("echo", lambda message: message, input_schema={
            "type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]})
        self.loop = asyncio.new_event_loop()
        self.client = Client(core, mode=mode)
        self.loop.run_until_complete(self.client.__aenter__())
        self.args = {"message": _message(size)}

    def teardown(self, mode: str, size: int) -> None:
        self.loop.run_until_complete(self.client.__aexit__(None, None, None))
        self.loop.close()

    def time_call_tool(self, mode: str, size: int) -> None:
        self.loop.run_until_complete(self.client.call_tool("echo", self.args))
