"""Two real mcpfast HTTP server processes (``mcpfast run --store redis://...``) on one real Redis:
a client alternates between their ports through a whole legacy session and task lifecycles of
both eras, then Redis stops and comes back mid-run.

initialize on A, calls on B; the GET stream on A receives a log message a tool call on B
caused (at the level the client set on B); the client resumes on B with ``Last-Event-ID`` and
gets it again; a task created on A, polled on B, its input delivered on A, cancelled on B (both
eras: 2026-07-28 ``tasks/update``, 2025-11-25 a related ``elicitation/create`` on A's
``tasks/result`` stream); DELETE on A, then 404 on B; Redis stopped: 503 saying the session store is
unavailable (a stateless 2026-07-28 call still works); Redis back (empty: no persistence):
service resumes.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.ports import free_port as _free_port
from tests.support.redis_server import RedisServer, redis_server  # noqa: F401 - the fixture

LEGACY = "2025-11-25"
MODERN = "2026-07-28"
ACCEPT = "application/json, text/event-stream"
ROOT = Path(__file__).resolve().parents[2]
APP = Path(__file__).resolve().parent / "app.py"


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server on {port} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"server on {port} did not listen in {timeout} s")


@pytest.fixture
def two_servers(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[int, int]]:  # noqa: F811
    ports = [_free_port(), _free_port()]
    env = {k: v for k, v in os.environ.items() if k != "MCPFAST_STORE"}
    logs = [tmp_path / f"server-{p}.log" for p in ports]
    procs = []
    for p, log in zip(ports, logs, strict=True):
        with log.open("wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "mcpfast", "run", str(APP), "--transport", "http", "--host", "127.0.0.1",
                 "--port", str(p), "--store", redis_server.url(3)],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out))
    try:
        for p, proc, log in zip(ports, procs, logs, strict=True):
            _wait_listening(p, proc, log)
        yield ports[0], ports[1]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def request(port: int, method: str, payload: Any = None, sid: str | None = None,
            extra: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Accept": ACCEPT, "MCP-Protocol-Version": LEGACY}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    if sid is not None:
        headers["Mcp-Session-Id"] = sid
    headers.update(extra or {})
    conn.request(method, "/mcp", json.dumps(payload).encode() if payload is not None else None, headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    hdrs = {k.lower(): v for k, v in resp.getheaders()}
    if hdrs.get("content-type", "").startswith("text/event-stream"):
        msgs = [json.loads(line[5:]) for line in raw.decode().splitlines() if line.startswith("data:") and line[5:].strip()]
        body: Any = msgs[-1] if msgs else None
    else:
        body = json.loads(raw) if raw else None
    return resp.status, hdrs, body


def rpc(rid: Any, method: str, params: Any = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if rid is not None:
        msg["id"] = rid
    if params is not None:
        msg["params"] = params
    return msg


def initialize(port: int, rid: int = 0) -> tuple[int, str | None, Any]:
    status, hdrs, body = request(port, "POST", rpc(rid, "initialize", {
        "protocolVersion": LEGACY, "capabilities": {"elicitation": {}}, "clientInfo": {"name": "two", "version": "0"}}))
    return status, hdrs.get("mcp-session-id"), body


def call(port: int, sid: str, rid: int, name: str, args: dict[str, Any]) -> tuple[int, Any]:
    status, _, body = request(port, "POST", rpc(rid, "tools/call", {"name": name, "arguments": args}), sid)
    return status, body


class Stream:
    """A GET stream read event by event (raw socket, chunked coding undone)."""

    def __init__(self, port: int, sid: str, last_event_id: str | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        extra = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id else ""
        self.sock.sendall(f"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                          f"Mcp-Session-Id: {sid}\r\nMCP-Protocol-Version: {LEGACY}\r\n{extra}\r\n".encode())
        self.raw = b""
        self.body = b""
        while b"\r\n\r\n" not in self.raw:
            self._recv()
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ")[1])

    def _recv(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.raw += data

    def event(self) -> dict[str, str]:
        while True:
            if b"\n\n" in self.body:
                block, self.body = self.body.split(b"\n\n", 1)
                fields: dict[str, str] = {}
                for line in block.decode().split("\n"):
                    if line and not line.startswith(":"):
                        k, _, v = line.partition(":")
                        fields[k] = fields.get(k, "") + v.lstrip()
                if fields:
                    return fields
                continue
            while b"\r\n" not in self.raw:
                self._recv()
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line, 16)
            while len(rest) < size + 2:
                self._recv()
                rest = self.raw.split(b"\r\n", 1)[1]
            self.body += rest[:size]
            self.raw = rest[size + 2:]

    def message(self) -> dict[str, Any]:
        """The next event that carries a message."""
        while True:
            ev = self.event()
            if ev.get("data"):
                return json.loads(ev["data"])  # type: ignore[no-any-return]

    def close(self) -> None:
        self.sock.close()


TASKS_EXT = "io.modelcontextprotocol/tasks"


def until(probe: Any, timeout: float = 5.0) -> Any:
    """Call ``probe()`` until it returns something true (then return it), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def modern(port: int, rid: int, method: str, params: dict[str, Any], name: str) -> tuple[int, Any]:
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS_EXT: {}}, "elicitation": {}}}
    status, _, body = request(port, "POST", rpc(rid, method, {**params, "_meta": meta}),
                              extra={"MCP-Protocol-Version": MODERN, "Mcp-Method": method, "Mcp-Name": name})
    return status, body


def modern_task_lifecycle(a: int, b: int) -> None:
    """2026-07-28: created on A, polled on B, input delivered on A, cancelled on B."""
    status, body = modern(a, 100, "tools/call", {"name": "job", "arguments": {}}, "job")
    assert status == 200 and body["result"]["resultType"] == "task", body
    tid = body["result"]["taskId"]

    def get(port: int) -> dict[str, Any]:
        status, body = modern(port, 101, "tasks/get", {"taskId": tid}, tid)
        assert status == 200, body
        return body["result"]  # type: ignore[no-any-return]

    parked = until(lambda: (r := get(b))["status"] == "input_required" and r)
    assert "go" in parked["inputRequests"]
    status, body = modern(a, 102, "tasks/update", {"taskId": tid, "inputResponses": {
        "go": {"action": "accept", "content": {"go": True}}}}, tid)
    assert status == 200, body
    until(lambda: get(b)["status"] == "working")
    status, body = modern(b, 103, "tasks/cancel", {"taskId": tid}, tid)
    assert status == 200, body
    until(lambda: get(a)["status"] == "cancelled")


def legacy_task_lifecycle(a: int, b: int, sid: str) -> None:
    """2025-11-25, in the session: created on A, polled on B, the elicitation answered on A (it
    comes on A's tasks/result stream), cancelled on B."""
    status, _, body = request(a, "POST", rpc(200, "tools/call", {"name": "job", "arguments": {}, "task": {}}), sid)
    assert status == 200, body
    tid = body["result"]["task"]["taskId"]

    def get(port: int) -> dict[str, Any]:
        status, _, body = request(port, "POST", rpc(201, "tasks/get", {"taskId": tid}), sid)
        assert status == 200, body
        return body["result"]  # type: ignore[no-any-return]

    until(lambda: get(b)["status"] == "input_required")
    waiting = socket.create_connection(("127.0.0.1", a), timeout=5)  # tasks/result on A: the ask comes there
    payload = json.dumps(rpc(202, "tasks/result", {"taskId": tid})).encode()
    waiting.sendall(f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"Accept: {ACCEPT}\r\nMcp-Session-Id: {sid}\r\nMCP-Protocol-Version: {LEGACY}\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    seen = b""
    while b"elicitation/create" not in seen or not seen.rstrip().endswith(b"}"):
        seen += waiting.recv(65536)
    line = next(ln for ln in seen.decode().split("\n") if "elicitation/create" in ln)
    ask = json.loads(line[line.index("{"):])
    assert ask["params"]["_meta"]["io.modelcontextprotocol/related-task"] == {"taskId": tid}
    answer = {"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "accept", "content": {"go": True}}}
    assert request(a, "POST", answer, sid)[0] == 202
    until(lambda: get(b)["status"] == "working")
    status, _, body = request(b, "POST", rpc(203, "tasks/cancel", {"taskId": tid}), sid)
    assert status == 200, body
    until(lambda: get(a)["status"] == "cancelled")
    waiting.close()


def test_a_legacy_session_across_two_processes_and_a_redis_restart(
        two_servers: tuple[int, int], redis_server: RedisServer) -> None:  # noqa: F811
    a, b = two_servers
    status, sid, body = initialize(a)
    assert status == 200 and sid, body
    assert request(b, "POST", rpc(None, "notifications/initialized"), sid)[0] == 202
    for i in range(3):  # calls on B
        status, body = call(b, sid, 10 + i, "echo", {"message": f"b{i}"})
        assert status == 200 and body["result"]["content"][0]["text"] == f"b{i}"
    # the GET stream on A; the level set on B; a tool on B logs outside its request
    stream = Stream(a, sid)
    assert stream.status == 200
    priming = stream.event()
    assert "id" in priming
    assert request(b, "POST", rpc(20, "logging/setLevel", {"level": "info"}), sid)[0] == 200
    assert call(b, sid, 21, "later", {"text": "caused on B"})[0] == 200
    note = stream.message()
    assert note["method"] == "notifications/message" and note["params"] == {"level": "info", "data": "caused on B"}
    stream.close()
    # resumption on B with the last id seen on A
    resumed = Stream(b, sid, priming["id"])
    assert resumed.status == 200
    again = resumed.message()
    assert again["params"]["data"] == "caused on B"
    # B holds the stream now: a message caused on A reaches it
    assert call(a, sid, 22, "later", {"text": "caused on A"})[0] == 200
    assert resumed.message()["params"]["data"] == "caused on A"
    resumed.close()
    modern_task_lifecycle(a, b)
    legacy_task_lifecycle(a, b, sid)
    # DELETE on A, then 404 on B
    assert request(a, "DELETE", sid=sid)[0] == 200
    status, body = call(b, sid, 23, "echo", {"message": "gone?"})
    assert status == 404, body

    # Redis stops: what needs the store is 503, with a body that says so
    _, sid2, _ = initialize(a, 30)
    assert sid2
    redis_server.stop()
    status, _, body = initialize(b, 31)
    assert status == 503 and body["id"] == 31
    assert "session store is unavailable" in body["error"]["message"]
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}}
    status, _, body = request(b, "POST", rpc(32, "tools/call", {"name": "echo", "arguments": {"message": "m"},
                                                                 "_meta": meta}),
                              extra={"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": "echo"})
    assert status == 200 and body["result"]["content"][0]["text"] == "m"  # stateless: no store needed
    status, body = call(b, sid2, 33, "echo", {"message": "x"})  # B never saw sid2: it needs the store
    assert status == 503 and body["id"] == 33
    # Redis back (empty: the test server keeps nothing): service resumes on both processes
    redis_server.start()
    deadline = time.monotonic() + 5
    while True:
        status, sid3, body = initialize(b, 34)
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 200 and sid3, body
    status, body = call(a, sid3, 35, "echo", {"message": "back"})
    assert status == 200 and body["result"]["content"][0]["text"] == "back"
