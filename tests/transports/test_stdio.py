"""The stdio transport with a real server subprocess (tests/transports/stdio_server.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from mcpfast.errors import McpError
from mcpfast.testing import async_test
from mcpfast.transports.stdio import connect_stdio

from ..support.dispatchers import EchoDispatcher
from ..support.fakes import req

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="stdio pipes transport is POSIX only")

SERVER = str(Path(__file__).with_name("stdio_server.py"))


def server_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


async def raw_server(**extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, SERVER,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=server_env(**extra),
    )


@async_test
async def test_echo_round_trip_and_clean_close() -> None:
    client, proc = await connect_stdio([sys.executable, SERVER], EchoDispatcher(), env=server_env())
    try:
        assert await client.peer.request("echo", {"hello": "wörld", "n": [1, 2.5, None]}) == {
            "hello": "wörld", "n": [1, 2.5, None]
        }
        with pytest.raises(McpError) as info:
            await client.peer.request("nope")
        assert info.value.code == -32601
        # the server may ask the client too (server -> client request over the same pipes)
        assert await client.peer.request("ask", {"q": 1}) == {"q": 1}
    finally:
        rc = await client.aclose()
    assert rc == 0  # it exited on stdin EOF, no signal needed


@async_test
async def test_stray_print_does_not_corrupt_stdout() -> None:
    proc = await raw_server()
    out, err = await proc.communicate(req(1, "print", {"a": 1}) + req(2, "echo", {"b": 2}))
    lines = out.splitlines()
    assert [json.loads(x) for x in lines] == [
        {"jsonrpc": "2.0", "id": 1, "result": {"a": 1}},
        {"jsonrpc": "2.0", "id": 2, "result": {"b": 2}},
    ]
    assert b"stray output from a tool" in err and b"stray bytes on fd 1" in err
    assert proc.returncode == 0


@async_test
async def test_16_mib_result_through_the_pipe() -> None:
    size = 16 * 1024 * 1024
    client, proc = await connect_stdio(
        [sys.executable, SERVER], EchoDispatcher(), env=server_env(), max_message_size=size + 1024
    )
    try:
        # several at once, plus small calls while the pipe is full: no deadlock, right order
        big = [asyncio.ensure_future(client.peer.request("big", {"size": size})) for _ in range(2)]
        small = await asyncio.wait_for(client.peer.request("echo", {"s": 1}), 30)
        assert small == {"s": 1}
        results = await asyncio.wait_for(asyncio.gather(*big), 60)
        assert all(len(r["data"]) == size for r in results)
    finally:
        assert await client.aclose() == 0


@async_test
async def test_oversize_message_error_then_recovery() -> None:
    proc = await raw_server(MCPFAST_TEST_MAX_MESSAGE_SIZE="1000")
    out, err = await proc.communicate(req(1, "echo", {"x": "y" * 5000}) + req(2, "echo", {"ok": 1}))
    first, second = (json.loads(x) for x in out.splitlines())
    assert first["id"] is None and first["error"]["code"] == -32700
    assert "Message too large" in first["error"]["message"] and "limit 1000" in first["error"]["message"]
    assert second == {"jsonrpc": "2.0", "id": 2, "result": {"ok": 1}}


@async_test
async def test_exit_on_stdin_eof_after_answering_in_flight() -> None:
    proc = await raw_server()
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(req(1, "slow", {"delay": 0.3}) + req(2, "echo", {"n": 2}))
    await proc.stdin.drain()
    first = json.loads(await proc.stdout.readline())
    assert first["id"] == 2
    t0 = time.perf_counter()
    proc.stdin.close()  # EOF while the slow one is in flight
    rest = await asyncio.wait_for(proc.stdout.read(), 10)
    assert json.loads(rest) == {"jsonrpc": "2.0", "id": 1, "result": {"slept": 0.3, "tag": None}}
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    assert time.perf_counter() - t0 < 5
    assert b"clean exit" in await proc.stderr.read()  # type: ignore[union-attr]


@async_test
async def test_sigterm_is_graceful() -> None:
    proc = await raw_server()
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(req(1, "slow", {"delay": 0.3}) + req(2, "echo", {}))
    await proc.stdin.drain()
    assert json.loads(await proc.stdout.readline())["id"] == 2
    proc.send_signal(signal.SIGTERM)
    rest = await asyncio.wait_for(proc.stdout.read(), 10)
    assert json.loads(rest)["result"]["slept"] == 0.3  # in flight: still answered
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    proc.stdin.close()
    assert b"clean exit" in await proc.stderr.read()  # type: ignore[union-attr]


@async_test
async def test_server_crash_fails_pending_requests() -> None:
    from mcpfast.errors import ConnectionClosed

    client, proc = await connect_stdio([sys.executable, SERVER], EchoDispatcher(), env=server_env())
    try:
        fut = asyncio.ensure_future(client.peer.request("slow", {"delay": 10}))
        await asyncio.sleep(0.3)
        proc.kill()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(fut, 10)
    finally:
        await client.aclose()


@async_test
async def test_aclose_terminates_a_server_that_ignores_eof() -> None:
    cmd = [sys.executable, "-c", "import time; time.sleep(60)"]
    client, proc = await connect_stdio(cmd, EchoDispatcher())
    t0 = time.perf_counter()
    rc = await client.aclose(timeout=0.3)
    assert rc == -signal.SIGTERM
    assert time.perf_counter() - t0 < 5


@async_test
async def test_connect_stdio_rejects_an_empty_command() -> None:
    with pytest.raises(ValueError, match="empty"):
        await connect_stdio([], EchoDispatcher())


def test_regular_file_redirections(tmp_path: Path) -> None:
    import subprocess

    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(req(1, "slow", {"delay": 0.05}) + req(2, "print", {"p": 1}) + req(3, "echo", {"e": 3}).strip())
    with src.open("rb") as fin, dst.open("wb") as fout:
        proc = subprocess.run([sys.executable, SERVER], stdin=fin, stdout=fout, stderr=subprocess.PIPE,
                              env=server_env(), timeout=30)
    assert proc.returncode == 0, proc.stderr
    got = {m["id"]: m for m in map(json.loads, dst.read_bytes().splitlines())}
    assert got[1]["result"]["slept"] == 0.05 and got[2]["result"] == {"p": 1} and got[3]["result"] == {"e": 3}
    assert b"stray output" in proc.stderr


@pytest.mark.parametrize("where", ["devnull", "regular-file"])
def test_stdin_and_stdout_that_epoll_refuses(tmp_path: Path, where: str) -> None:
    # /dev/null is a character device that epoll refuses (EPERM), like a regular file: the
    # server must fall back to plain reads/writes instead of hanging after a failed callback
    import subprocess

    requests = tmp_path / "in.jsonl"
    requests.write_bytes(req(1, "echo", {"x": 1}) + req(2, "echo", {"y": 2}))
    out = tmp_path / "out.jsonl"
    stdin = open(os.devnull, "rb") if where == "devnull" else open(requests, "rb")  # noqa: SIM115
    stdout = open(os.devnull, "wb") if where == "devnull" else open(out, "wb")  # noqa: SIM115
    with stdin, stdout:
        proc = subprocess.run([sys.executable, SERVER], stdin=stdin, stdout=stdout, env=server_env(), timeout=20)
    assert proc.returncode == 0
    if where == "regular-file":
        lines = [json.loads(line) for line in out.read_bytes().splitlines()]
        assert [m["id"] for m in lines] == [1, 2]
