"""Resident memory of idle legacy Streamable HTTP sessions on the built-in server.

Starts the echo server (``examples/echo_mcpserver.py``'s tool) in a subprocess with a short
``session_ttl``, opens sessions (``initialize`` + ``notifications/initialized``) over a few
keep-alive connections, and reads the server's ``VmRSS`` from ``/proc``:

1. after a warm-up round (sessions opened and expired, so allocator pools and caches exist);
2. with N sessions open and idle: bytes per idle session;
3. after they expired, and after more rounds of N sessions opened, abandoned and expired:
   RSS must stay flat (an expired session leaves nothing behind).

    PYTHONPATH=. python tests/bench/http_memory.py [--sessions 10000] [--rounds 3] [--ttl 15]

Exits with status 1 when a goal is missed (4 KiB per idle session; RSS after the last round
within ``--flat-mib`` of RSS after the first: freed sessions' memory is reused by the next
ones, not necessarily returned to the OS, so the steady state is about one round's peak). Linux only (``/proc``). Not collected
by pytest (the file name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO = "2025-11-25"
INIT = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                   "params": {"protocolVersion": PROTO, "capabilities": {},
                              "clientInfo": {"name": "http-memory", "version": "0"}}}).encode()
INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'


def serve(port: int, ttl: float, max_sessions: int) -> None:
    """The server under test (run in the subprocess)."""
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import echo_mcpserver

    from mcpfast.transports.http import HTTPSettings, run_http

    app = echo_mcpserver.build()
    # every session comes from 127.0.0.1: no per-client limit here
    settings = HTTPSettings(json_response=True, session_ttl=ttl, max_sessions=max_sessions, max_sessions_per_client=None,
                            metrics_path="/metrics")
    run_http(app.core, host="127.0.0.1", port=port, settings=settings)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/PID/status")


def _headers(sid: str | None = None) -> dict[str, str]:
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
         "MCP-Protocol-Version": PROTO}
    if sid is not None:
        h["Mcp-Session-Id"] = sid
    return h


def _open_sessions(port: int, count: int, connections: int) -> None:
    """Open ``count`` sessions over ``connections`` keep-alive connections (threads)."""
    errors: list[str] = []

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for _ in range(n):
                conn.request("POST", "/mcp", INIT, _headers())
                r = conn.getresponse()
                r.read()
                sid = r.getheader("mcp-session-id")
                if r.status != 200 or sid is None:
                    errors.append(f"initialize: HTTP {r.status}")
                    return
                conn.request("POST", "/mcp", INITIALIZED, _headers(sid))
                r = conn.getresponse()
                r.read()
                if r.status != 202:
                    errors.append(f"notifications/initialized: HTTP {r.status}")
                    return
        finally:
            conn.close()

    share = [count // connections + (1 if i < count % connections else 0) for i in range(connections)]
    threads = [threading.Thread(target=worker, args=(n,)) for n in share if n]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"opening sessions failed: {errors[0]} ({len(errors)} errors)")


def _open_count(port: int) -> int:
    """Sessions open now (the server's ``mcp_http_sessions`` gauge)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    for line in text.splitlines():
        if line.startswith("mcp_http_sessions "):
            return int(float(line.split()[1]))
    raise RuntimeError("no mcp_http_sessions gauge in /metrics")


def _wait_expired(port: int, limit: float) -> float:
    t0 = time.monotonic()
    while _open_count(port) > 0:
        if time.monotonic() - t0 > limit:
            raise RuntimeError(f"sessions did not expire within {limit:g} s")
        time.sleep(0.1)
    return time.monotonic() - t0


def _settle() -> None:
    time.sleep(0.3)  # let the server finish answering (RSS is read from outside)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3, help="rounds opened and abandoned after the first")
    ap.add_argument("--ttl", type=float, default=15.0,
                    help="the server's session_ttl (seconds): longer than opening --sessions takes")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--goal-bytes", type=int, default=4096, help="bytes per idle session at most")
    ap.add_argument("--flat-mib", type=float, default=2.0, help="RSS growth allowed from round 1 to the last")
    ap.add_argument("--serve", nargs=3, metavar=("PORT", "TTL", "MAX"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        serve(int(a.serve[0]), float(a.serve[1]), int(a.serve[2]))
        return 0
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", str(port), str(a.ttl),
                             str(max(a.sessions * 2, 10_000))], env=env)
    rows: list[tuple[str, int, int]] = []
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.05)
        wait = a.ttl * 3 + 10
        # warm-up: a round of sessions, expired, so what stays is the steady state
        _open_sessions(port, min(a.sessions, 1000), a.connections)
        _wait_expired(port, wait)
        _settle()
        base = _rss(proc.pid)
        rows.append(("start (after a warm-up round)", 0, base))
        _open_sessions(port, a.sessions, a.connections)
        _settle()
        full = _rss(proc.pid)
        open_now = _open_count(port)
        rows.append((f"{a.sessions} idle sessions open", open_now, full))
        if open_now != a.sessions:
            raise RuntimeError(f"{open_now} of {a.sessions} sessions open when measured: raise --ttl")
        _wait_expired(port, wait)
        _settle()
        after = _rss(proc.pid)
        rows.append(("all expired", 0, after))
        for i in range(a.rounds):
            _open_sessions(port, a.sessions, a.connections)
            _wait_expired(port, wait)
            _settle()
            rows.append((f"round {i + 1}: {a.sessions} opened, abandoned, expired", 0, _rss(proc.pid)))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    per = (full - base) / a.sessions
    # freed sessions' memory is reused, not necessarily returned to the OS: the steady state
    # is about the peak of one round; what must not happen is growth from round to round
    first = rows[3][2] if a.rounds else after
    growth = rows[-1][2] - first
    print("| step | sessions open | RSS MiB | vs start MiB |\n|---|---|---|---|")
    for label, n, rss in rows:
        print(f"| {label} | {n} | {rss / 2**20:.1f} | {(rss - base) / 2**20:+.1f} |")
    print(f"\nper idle session: {per:,.0f} bytes (goal <= {a.goal_bytes}); RSS from round 1 to round"
          f" {max(a.rounds, 1)}: {growth / 2**20:+.1f} MiB (goal within {a.flat_mib:g} MiB); highest RSS after"
          f" expiry {max(r[2] for r in rows[2:]) / 2**20:.1f} MiB vs {full / 2**20:.1f} MiB with"
          f" {a.sessions} sessions open")
    ok = per <= a.goal_bytes and abs(growth) <= a.flat_mib * 2**20
    print("OK" if ok else "GOAL MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
