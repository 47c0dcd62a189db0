"""Micro-benchmark of the WebSocket server's per-call CPU cost, without sockets.

Feeds masked ``tools/call`` echo frames (64 per read, as a client with 64 in flight sends
them) straight into one ``WebSocketConnection`` whose transport only collects what is written,
the next read once the answers to the last are out: the figure is the Python work per call of
the frame layer (the websockets sans-I/O protocol), the peer, the dispatcher and the event loop
turns the answers take, without socket system calls. A run counts every answer.

    PYTHONPATH=. python tests/bench/ws_hotpath.py [--calls 100000] [--repeats 5] [--profile]

Not collected by pytest (the file name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

MESSAGE = "x" * 100
_UPGRADE = (b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: mcp\r\n\r\n")


class _Transport(asyncio.Transport):
    """Collects what the connection writes; nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []

    def write(self, data: Any) -> None:
        self.out.append(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _Owner:
    stopping = False

    def connected(self, conn: Any) -> None:
        pass

    def disconnected(self, conn: Any) -> None:
        pass


def _frames(first_id: int, n: int) -> bytes:
    """``n`` masked client text frames (the mask a client must apply), in one read."""
    from websockets.frames import Frame, Opcode

    out = []
    for rid in range(first_id, first_id + n):
        body = (b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":'
                b'{"message":"%s"}}}' % (rid, MESSAGE.encode()))
        out.append(Frame(Opcode.TEXT, body).serialize(mask=True, extensions=[]))
    return b"".join(out)


async def _run(calls: int, repeats: int, window: int, profile: bool, async_tool: bool) -> list[float]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
    import echo_mcpserver

    from mcpfast.transports.websocket import WebSocketConnection, WebSocketEndpoint, WebSocketSettings

    app = echo_mcpserver.build(async_tool=async_tool)
    conn = WebSocketConnection(_Owner(), WebSocketEndpoint(lambda: app.core, WebSocketSettings()))
    tr = _Transport()
    conn.connection_made(tr)
    conn.data_received(_UPGRADE)
    assert tr.out[-1].startswith(b"HTTP/1.1 101"), tr.out
    init = (b'{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
            b'"capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}')
    from websockets.frames import Frame, Opcode

    conn.data_received(Frame(Opcode.TEXT, init).serialize(mask=True, extensions=[]))
    conn.data_received(Frame(Opcode.TEXT, b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
                       .serialize(mask=True, extensions=[]))
    # warm up (a def tool runs in the dispatcher's thread pool at first)
    for i in range(50):
        conn.data_received(_frames(1 + i * window, window))
        await asyncio.sleep(0.002)
    tr.out.clear()
    reads = [_frames(1_000_000 + i * window, window) for i in range(calls // window)]
    prof: Any = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
    times = []
    expect = MESSAGE.encode()
    for _ in range(repeats):
        tr.out.clear()
        got = 0
        seen = 0
        if prof is not None:
            prof.enable()
        t0 = time.perf_counter()
        for i, r in enumerate(reads):
            conn.data_received(r)
            # the next read comes once this one's answers are out, as with a client that keeps
            # ``window`` calls in flight (answers from the thread pool arrive through the loop)
            want = (i + 1) * window
            while got < want:
                out = tr.out
                while seen < len(out):
                    got += out[seen].count(expect)
                    seen += 1
                if got < want:
                    await asyncio.sleep(0)
        dt = time.perf_counter() - t0
        if prof is not None:
            prof.disable()
        times.append(dt / (len(reads) * window) * 1e6)
    if prof is not None:
        import pstats

        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=64_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--async-tool", action="store_true", help="an async def echo (default: def, run by the pool)")
    a = ap.parse_args()
    times = asyncio.run(_run(a.calls, a.repeats, a.window, a.profile, a.async_tool))
    print(f"per call: median {statistics.median(times):.2f} us, best {min(times):.2f} us"
          f" ({', '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
