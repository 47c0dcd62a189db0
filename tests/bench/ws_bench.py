"""WebSocket speed, as ratios measured in one run (issue: MCP over WebSocket).

    PYTHONPATH=. python tests/bench/ws_bench.py [--repeats 5] [--duration 2] [--no-sdk1]

Servers (each its own process, ``ws_servers.py``; the SDK's from its 1.x virtualenv, made
once per machine by ``tests/support/sdk1.py``):

* ``ours-ws``    ``MCPServer`` echo (examples/echo_mcpserver.py) on mcpfast's WebSocket server
* ``floor-ws``   websockets' own asyncio server answering with orjson (not MCP-complete)
* ``ours-http``  the same app on mcpfast's Streamable HTTP server, JSON answers
* ``sdk1-ws``    the official SDK 1.x ``websocket_server`` under uvicorn/Starlette, FastMCP echo

Load (this process, a lean client on the websockets sans-I/O protocol / raw HTTP/1.1):
``tools/call`` echo with a 100 B message, 64 calls in flight on ONE connection (HTTP: 64
pipelined requests on one keep-alive connection), for ``--duration`` seconds after a warm-up;
every answer is checked. Each repeat measures every server once, in a rotated order; the ratio
of a repeat is calls/s(ours-ws) / calls/s(other) in that repeat, and the table shows the median
over repeats with the lowest and highest. Then 100 connections at once against ``ours-ws``,
each with one call in flight: calls/s, errors, p50/p99 latency.

Goals: ours-ws >= 50x sdk1-ws, >= 0.6x floor-ws, >= 1.0x ours-http. Measured, not asserted.
Not collected by pytest (the file name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MESSAGE = "x" * 100
PROTO = "2025-11-25"


# ---------------------------------------------------------------------------- servers


class Server:
    """A server process started in its own session, stopped by its process group."""

    def __init__(self, name: str, cmd: list[str], path: str) -> None:
        self.name = name
        self.cmd = cmd
        self.path = path
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> None:
        log = open(f"/tmp/ws-bench-{self.name}.log", "wb")  # noqa: SIM115 - kept by the child
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=log, start_new_session=True,
                                     cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith(b"PORT "):
                self.port = int(line.split()[1])
                return
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError(f"{self.name} did not start; see /tmp/ws-bench-{self.name}.log")

    @property
    def url(self) -> str:
        scheme = "http" if self.name.endswith("http") else "ws"
        return f"{scheme}://127.0.0.1:{self.port}{self.path}"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# ---------------------------------------------------------------------------- clients


def _call(rid: int) -> bytes:
    return (b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"message":"%s"}}}'
            % (rid, MESSAGE.encode()))


_INIT = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
    "protocolVersion": PROTO, "capabilities": {}, "clientInfo": {"name": "ws-bench", "version": "0"}}}).encode()
_INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
_EXPECT = b'"text":"' + MESSAGE.encode() + b'"'


class WSLoad(asyncio.Protocol):
    """One WebSocket connection driven with the websockets sans-I/O client: initialize, then
    keep ``window`` calls in flight (or one, timing each) until told to stop."""

    def __init__(self, url: str, window: int, latencies: list[float] | None = None) -> None:
        from websockets.client import ClientProtocol
        from websockets.uri import parse_uri

        self.ws = ClientProtocol(parse_uri(url), subprotocols=["mcp"], max_size=None)  # type: ignore[list-item]
        self.window = window
        self.latencies = latencies
        self.sent_at: dict[int, float] = {}
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.next_id = 1
        self.calls = 0
        self.errors = 0
        self.running = False
        self.stopping = False
        self.in_flight = 0
        self.opened = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.ws.send_request(self.ws.connect())
        self._flush()

    def _flush(self) -> None:
        out = self.ws.data_to_send()
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def _send(self, data: bytes) -> None:
        self.ws.send_text(data)

    def start(self) -> None:
        self.running = True
        for _ in range(self.window):
            self._one()
        self._flush()

    def _one(self) -> None:
        rid = self.next_id
        self.next_id += 1
        if self.latencies is not None:
            self.sent_at[rid] = time.perf_counter()
        self._send(_call(rid))
        self.in_flight += 1

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        ws.receive_data(data)
        for ev in ws.events_received():
            if not self.opened:
                self.opened = True
                if ws.handshake_exc is not None:
                    self.ready.set_exception(ws.handshake_exc)
                    return
                self._send(_INIT)
                continue
            payload = getattr(ev, "data", None)
            if payload is None or getattr(ev, "opcode", None) is None or ev.opcode.name != "TEXT":
                continue
            if not self.ready.done():
                self._send(_INITIALIZED)
                self.ready.set_result(None)
                continue
            self.in_flight -= 1
            if _EXPECT in payload and b'"result"' in payload:
                self.calls += 1
            else:
                self.errors += 1
            if self.latencies is not None:
                rid = int(payload[payload.index(b'"id":') + 5:payload.index(b",", payload.index(b'"id":'))])
                t0 = self.sent_at.pop(rid, None)
                if t0 is not None:
                    self.latencies.append(time.perf_counter() - t0)
            if self.running and not self.stopping:
                self._one()
            elif self.in_flight == 0 and not self.done.done():
                self.done.set_result(None)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed during the handshake: {exc}"))
        if not self.done.done():
            self.done.set_result(None)


def _header(head: bytes, name: bytes) -> bytes:
    """The value of header ``name`` (lower case, with its colon) in a response head, or b""."""
    i = head.lower().find(name)
    if i < 0:
        return b""
    end = head.find(b"\r\n", i)
    return head[i + len(name):end if end >= 0 else len(head)].strip()


class HTTPLoad(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with ``window`` pipelined POSTs in flight (JSON answers
    with Content-Length, as our server sends them with ``json_response``)."""

    def __init__(self, path: str, port: int, window: int) -> None:
        self.path = path.encode()
        self.host = b"127.0.0.1:%d" % port
        self.window = window
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.session = b""
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.stage = 0
        self.next_id = 1
        self.calls = self.errors = self.in_flight = 0
        self.running = self.stopping = False

    def _post(self, body: bytes) -> bytes:
        head = (b"POST %b HTTP/1.1\r\nHost: %b\r\nContent-Type: application/json\r\n"
                b"Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: %b\r\n"
                % (self.path, self.host, PROTO.encode()))
        if self.session:
            head += b"Mcp-Session-Id: " + self.session + b"\r\n"
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self._post(_INIT))  # type: ignore[attr-defined]

    def start(self) -> None:
        self.running = True
        assert self.transport is not None
        self.transport.write(b"".join(self._next() for _ in range(self.window)))

    def _next(self) -> bytes:
        rid = self.next_id
        self.next_id += 1
        self.in_flight += 1
        return self._post(_call(rid))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        out = []
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = self.buf[:end]
            length = int(_header(head, b"content-length:") or 0)
            if len(self.buf) < end + 4 + length:
                break
            body = self.buf[end + 4:end + 4 + length]
            self.buf = self.buf[end + 4 + length:]
            if self.stage == 0:
                self.session = _header(head, b"mcp-session-id:")
                self.stage = 1
                assert self.transport is not None
                self.transport.write(self._post(_INITIALIZED))
                continue
            if self.stage == 1:  # 202 to notifications/initialized
                self.stage = 2
                self.ready.set_result(None)
                continue
            self.in_flight -= 1
            if _EXPECT in body:
                self.calls += 1
            else:
                self.errors += 1
            if self.running and not self.stopping:
                out.append(self._next())
            elif self.in_flight == 0 and not self.done.done():
                self.done.set_result(None)
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed: {exc}"))
        if not self.done.done():
            self.done.set_result(None)


async def _connect(server: Server, window: int, latencies: list[float] | None = None) -> Any:
    loop = asyncio.get_running_loop()
    proto: Any
    if server.url.startswith("http"):
        proto = HTTPLoad(server.path, server.port, window)
    else:
        proto = WSLoad(server.url, window, latencies)
    await loop.create_connection(lambda: proto, "127.0.0.1", server.port)
    await asyncio.wait_for(proto.ready, 30)
    return proto


async def _measure(loads: list[Any], warmup: float, duration: float,
                   latencies: list[float] | None = None) -> tuple[float, int, int]:
    for p in loads:
        p.start()
    await asyncio.sleep(warmup)
    if latencies is not None:
        latencies.clear()
    c0 = sum(p.calls for p in loads)
    t0 = time.perf_counter()
    await asyncio.sleep(duration)
    calls = sum(p.calls for p in loads) - c0
    dt = time.perf_counter() - t0
    for p in loads:
        p.stopping = True
    await asyncio.wait_for(asyncio.gather(*(p.done for p in loads)), 30)
    for p in loads:
        p.transport.close()
    return calls / dt, calls, sum(p.errors for p in loads)


async def one_connection(server: Server, window: int, warmup: float, duration: float) -> float:
    load = await _connect(server, window)
    rate, _calls, errors = await _measure([load], warmup, duration)
    if errors:
        raise RuntimeError(f"{server.name}: {errors} wrong answers")
    return rate


async def many_connections(server: Server, n: int, warmup: float, duration: float) -> dict[str, float]:
    latencies: list[float] = []
    loads = await asyncio.gather(*(_connect(server, 1, latencies) for _ in range(n)))
    rate, calls, errors = await _measure(list(loads), warmup, duration, latencies)
    q = statistics.quantiles(latencies, n=100)
    return {"calls_s": rate, "calls": calls, "errors": errors, "p50_ms": q[49] * 1e3, "p99_ms": q[98] * 1e3}


# ---------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--no-sdk1", action="store_true", help="skip the SDK 1.x server (no virtualenv for it)")
    a = ap.parse_args()

    py = sys.executable
    servers = [Server("ours-ws", [py, str(HERE / "ws_servers.py"), "ours-ws"], "/mcp"),
               Server("floor-ws", [py, str(HERE / "ws_servers.py"), "floor-ws"], "/"),
               Server("ours-http", [py, str(HERE / "ws_servers.py"), "ours-http"], "/mcp")]
    if not a.no_sdk1:
        sys.path.insert(0, str(ROOT))
        from tests.support.sdk1 import sdk1_python

        servers.append(Server("sdk1-ws", [sdk1_python(), str(ROOT / "tests/interop/sdk1/ws_server.py")], "/ws"))
    for s in servers:
        s.start()
    try:
        rates: dict[str, list[float]] = {s.name: [] for s in servers}
        for rep in range(a.repeats):
            order = servers[rep % len(servers):] + servers[:rep % len(servers)]
            for s in order:
                rate = asyncio.run(one_connection(s, a.window, a.warmup, a.duration))
                rates[s.name].append(rate)
                print(f"rep{rep} {s.name:10s} {rate:10.0f} calls/s", flush=True)
        print(f"\n### 64 in flight on one connection, tools/call echo {len(MESSAGE)} B"
              f" ({a.repeats} repeats x {a.duration:g} s)\n")
        print("| server | calls/s (median) | ours-ws / it (median, low-high) | goal |")
        print("|---|---:|---:|---|")
        goals = {"floor-ws": ">= 0.6x", "ours-http": ">= 1.0x", "sdk1-ws": ">= 50x"}
        ours = rates["ours-ws"]
        for s in servers:
            r = rates[s.name]
            ratios = [o / x for o, x in zip(ours, r)]
            print(f"| {s.name} | {statistics.median(r):.0f} | {statistics.median(ratios):.2f}x"
                  f" ({min(ratios):.2f}-{max(ratios):.2f}) | {goals.get(s.name, '')} |")
        many = asyncio.run(many_connections(servers[0], a.connections, a.warmup, a.duration))
        print(f"\n### {a.connections} connections at once against ours-ws, one call in flight each\n")
        print(f"calls/s {many['calls_s']:.0f}, calls {many['calls']:.0f}, errors {many['errors']:.0f},"
              f" p50 {many['p50_ms']:.2f} ms, p99 {many['p99_ms']:.2f} ms")
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    main()
