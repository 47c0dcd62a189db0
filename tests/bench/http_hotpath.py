"""Micro-benchmark of the built-in HTTP server's per-request CPU cost, without sockets.

Feeds ``tools/call`` echo requests, as wrk sends them in ``../shared/bench/http_bench.py``,
straight into one ``HTTPConnection`` whose transport only collects what is written: the
figure is the Python (and httptools) work per request of the front end, the Streamable HTTP
core, the peer and the dispatcher, without the socket system calls. A run checks every answer.

    PYTHONPATH=. python tests/bench/http_hotpath.py [--requests 200000] [--repeats 5] [--sse]
    PYTHONPATH=. python tests/bench/http_hotpath.py --profile     # cProfile of one run

Not collected by pytest (the file name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import Any

PROTO = "2025-11-25"
MESSAGE = "x" * 100


class _Transport(asyncio.Transport):
    """Collects what the connection writes; nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.out.append(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _post(body: bytes, sid: str | None) -> bytes:
    head = [
        b"POST /mcp HTTP/1.1",
        b"Host: 127.0.0.1:18100",
        b"Content-Type: application/json",
        b"Accept: application/json, text/event-stream",
        b"MCP-Protocol-Version: " + PROTO.encode(),
    ]
    if sid is not None:
        head.append(b"Mcp-Session-Id: " + sid.encode())
    head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


async def _in_callback(feed: Any, reqs: list[bytes], prof: Any) -> float:
    """Feed ``reqs`` from a plain event-loop callback, as a socket's ``data_received`` runs
    (outside any task: the peer takes its fast path only there)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()

    def run() -> None:
        if prof is not None:
            prof.enable()
        t0 = time.perf_counter()
        for r in reqs:
            feed(r)
        dt = time.perf_counter() - t0
        if prof is not None:
            prof.disable()
        done.set_result(dt)

    loop.call_soon(run)
    return await done


def _session_id(response: bytes) -> str:
    for line in response.split(b"\r\n"):
        if line.lower().startswith(b"mcp-session-id:"):
            return line.split(b":", 1)[1].strip().decode()
    raise RuntimeError(f"initialize gave no session id: {response[:300]!r}")


async def _run(n: int, repeats: int, json_response: bool, profile: bool) -> list[float]:
    sys.path.insert(0, "examples")
    import echo_mcpserver

    from mcpfast.transports.http.protocol import HTTPConnection
    from mcpfast.transports.http.server import HTTPServer
    from mcpfast.transports.http.settings import HTTPSettings

    app = echo_mcpserver.build()
    server = HTTPServer(app.core, host="127.0.0.1", port=0,
                        settings=HTTPSettings(json_response=json_response, bind_host="127.0.0.1"))
    await server.core.startup()
    conn = HTTPConnection(server)
    tr = _Transport()
    conn.connection_made(tr)
    init = (b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"%s",'
            b'"capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}' % PROTO.encode())
    conn.data_received(_post(init, None))
    sid = _session_id(tr.out[-1])
    conn.data_received(_post(b'{"jsonrpc":"2.0","method":"notifications/initialized"}', sid))
    tr.out.clear()
    pre = b'{"jsonrpc":"2.0","id":'
    post = (b',"method":"tools/call","params":{"name":"echo","arguments":{"message":"%s"}}}'
            % MESSAGE.encode())
    # warm up one request at a time: a plain ``def`` tool runs in the dispatcher's thread pool
    # (never inline on the loop), whose workers start with the first calls
    for i in range(200):
        conn.data_received(_post(pre + str(i + 1).encode() + post, sid))
        while not tr.out:
            await asyncio.sleep(0.0005)
        tr.out.clear()
    times: list[float] = []
    rid = 1_000_000_000
    expect = MESSAGE.encode()
    prof: Any = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
    for _ in range(repeats):
        reqs = []
        for _ in range(n):
            rid += 1
            reqs.append(_post(pre + str(rid).encode() + post, sid))
        dt = await _in_callback(conn.data_received, reqs, prof)
        # a handler that went asynchronous (a tool the dispatcher moved to its thread pool
        # after slow calls) answers later: wait for it, and say so
        deadline = time.monotonic() + 10
        late = n - len(tr.out)
        while len(tr.out) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        if late:
            print(f"  ({late} answers came later, from the event loop)")
        if len(tr.out) != n or not all(b" 200 OK" in o[:20] and expect in o for o in tr.out):
            bad = next(o for o in tr.out if b" 200 OK" not in o[:20] or expect not in o)
            raise RuntimeError(f"{len(tr.out)} answers for {n} requests; e.g. {bad[:400]!r}")
        tr.out.clear()
        times.append(dt / n * 1e6)
    if prof is not None:
        import pstats

        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
    await server.core.shutdown()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sse", action="store_true", help="without json_response (the answers are still JSON)")
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    times = asyncio.run(_run(a.requests, a.repeats, not a.sse, a.profile))
    print(f"per request: median {statistics.median(times):.2f} us, best {min(times):.2f} us"
          f" ({', '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
