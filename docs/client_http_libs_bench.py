"""Which HTTP client under the Streamable HTTP client transport: measured, not guessed.

    python docs/client_http_libs_bench.py [--window 64] [--duration 2] [--repeats 3]

Starts the floor HTTP server (``/work/shared/bench/servers/floor_http.py --stateless``, or
``--server CMD``) and, interleaved per repeat, drives it with each candidate: ``--window`` tasks
each POSTing ``tools/call echo`` (100 B) and checking the answer, for ``--duration`` s.
Candidates: httptools' response parser under a small asyncio pool (one connection per request
in flight, keep-alive reuse), aiohttp, httpx2 (what ``mcp`` installs). Prints calls/s and client
CPU us/call per candidate, and the ratio to the first. aiohttp is optional (skipped if absent).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import socket
import subprocess
import sys
import time
from typing import Any

import httptools
import orjson

FLOOR = "/work/shared/bench/servers/floor_http.py"
MSG = ("abcdefghij" * 10)[:100]


def body_for(rid: int) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": rid, "method": "tools/call",
                         "params": {"name": "echo", "arguments": {"message": MSG}}})


HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


class _Conn(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.fut: asyncio.Future[Any] | None = None
        self.body: list[bytes] = []
        self.tr: Any = None

    def connection_made(self, tr: Any) -> None:
        self.tr = tr

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, b: bytes) -> None:
        self.body.append(b)

    def on_message_complete(self) -> None:
        fut, self.fut = self.fut, None
        body, self.body = b"".join(self.body), []
        if fut is not None and not fut.done():
            fut.set_result((self.parser.get_status_code(), body))

    def connection_lost(self, exc: BaseException | None) -> None:
        self.tr = None
        if self.fut is not None and not self.fut.done():
            self.fut.set_exception(ConnectionError("closed"))


class HttptoolsPool:
    name = "httptools+pool"

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port = host, port
        self.head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     + "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())).encode()
        self.idle: list[_Conn] = []

    async def post(self, body: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        if self.idle:
            c = self.idle.pop()
        else:
            _, c = await loop.create_connection(_Conn, self.host, self.port)
        c.fut = loop.create_future()
        c.tr.write(b"%sContent-Length: %d\r\n\r\n%s" % (self.head, len(body), body))
        status, data = await c.fut
        if c.tr is not None:
            self.idle.append(c)
        assert status == 200, status
        return data  # type: ignore[no-any-return]

    async def close(self) -> None:
        for c in self.idle:
            if c.tr is not None:
                c.tr.close()


class Aiohttp:
    name = "aiohttp"

    def __init__(self, host: str, port: int, path: str) -> None:
        import aiohttp

        self.url = f"http://{host}:{port}{path}"
        self.s = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256), headers=HEADERS)

    async def post(self, body: bytes) -> bytes:
        async with self.s.post(self.url, data=body) as r:
            assert r.status == 200, r.status
            return await r.read()

    async def close(self) -> None:
        await self.s.close()


class Httpx:
    name = "httpx2"

    def __init__(self, host: str, port: int, path: str) -> None:
        import httpx2

        self.url = f"http://{host}:{port}{path}"
        self.c = httpx2.AsyncClient(headers=HEADERS, limits=httpx2.Limits(max_connections=256))

    async def post(self, body: bytes) -> bytes:
        r = await self.c.post(self.url, content=body)
        assert r.status_code == 200, r.status_code
        return r.content

    async def close(self) -> None:
        await self.c.aclose()


async def drive(cls: Any, host: str, port: int, window: int, duration: float) -> tuple[float, float]:
    client = cls(host, port, "/mcp")
    rid = 0
    count = 0
    stop = False

    async def worker() -> None:
        nonlocal rid, count
        while not stop:
            rid += 1
            mine = rid
            msg = orjson.loads(await client.post(body_for(mine)))
            assert msg["id"] == mine and msg["result"]["content"][0]["text"] == MSG
            count += 1

    tasks = [asyncio.ensure_future(worker()) for _ in range(window)]
    await asyncio.sleep(0.3)  # warm-up: connections opened
    c0, t0, r0 = count, time.perf_counter(), os.times()
    await asyncio.sleep(duration)
    c1, t1, r1 = count, time.perf_counter(), os.times()
    stop = True
    await asyncio.gather(*tasks)
    await client.close()
    n = c1 - c0
    return n / (t1 - t0), ((r1.user - r0.user) + (r1.system - r0.system)) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--server", default=f"{shlex.quote(sys.executable)} {FLOOR} --stateless --port {{port}}")
    a = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(shlex.split(a.server.replace("{port}", str(port))))
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        cands: list[Any] = [HttptoolsPool, Httpx]
        try:
            import aiohttp  # noqa: F401

            cands.insert(1, Aiohttp)
        except ImportError:
            print("aiohttp not installed: skipped")
        res: dict[str, list[tuple[float, float]]] = {c.name: [] for c in cands}
        for rep in range(a.repeats):
            for c in cands:
                r = asyncio.run(drive(c, "127.0.0.1", port, a.window, a.duration))
                res[c.name].append(r)
                print(f"rep{rep} {c.name:<16} {r[0]:>9,.0f} calls/s  {r[1]:6.1f} us/call client CPU", flush=True)
        base = sorted(x[0] for x in res[cands[0].name])[a.repeats // 2]
        print(f"\nwindow {a.window}, median of {a.repeats}:")
        for name, rs in res.items():
            rate = sorted(x[0] for x in rs)[a.repeats // 2]
            cpu = sorted(x[1] for x in rs)[a.repeats // 2]
            print(f"| {name:<16} | {rate:>9,.0f} calls/s | {rate / base:5.2f}x | {cpu:6.1f} us/call |")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
