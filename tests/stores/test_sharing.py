"""A server on a shared store: the MRTR ``requestState`` key and the change notifications
(list changes, resource updates) shared between two ``ServerCore``s on one Redis, as two
processes would be; ``MCPServer(store=...)``, ``MCPFAST_STORE`` and ``--store`` choose it."""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mcpfast.errors import InvalidParams
from mcpfast.server import CLIENT_CAPABILITIES_KEY, PROTOCOL_VERSION_KEY, MCPServer, ServerCore
from mcpfast.server.mrtr import request_digest
from mcpfast.stores import MemoryStore, RedisStore, open_store
from mcpfast.testing import async_test

from ..server.harness import Conn
from ..support.redis_server import RedisServer, unique_prefix
from ..support.waiting import until


def _core(**kw: Any) -> ServerCore:
    core = ServerCore("shared-server", "1.0.0", **kw)
    core.add_resource("file:///a.txt", lambda: "a", name="a")
    core.add_tool("t", lambda: "x", input_schema={"type": "object"})
    return core


def _listen(core: ServerCore) -> Conn:
    c = Conn(core)
    c.send("subscriptions/listen", {
        "notifications": {"toolsListChanged": True, "resourceSubscriptions": ["file:///a.txt"]},
        "_meta": {PROTOCOL_VERSION_KEY: "2026-07-28", CLIENT_CAPABILITIES_KEY: {}}}, id="L")
    return c


def _sent(c: Conn) -> list[tuple[str, Any]]:
    return [(n.method, n.params) for n in c.notifications() if n.method != "notifications/subscriptions/acknowledged"]


@async_test
async def test_request_state_key_shared(redis_server: RedisServer) -> None:
    url = f"{redis_server.url()}?prefix={unique_prefix()}"
    a, b, lone = _core(), _core(), _core()
    async with a.using_store(url) as sa, b.using_store(url), lone.using_store("memory"):
        assert isinstance(sa, RedisStore) and a.store is sa
        digest = request_digest("tools/call", "t")
        token = a.signer.sign(digest, {"k": {"ok": 1}}, {"n": 2})
        assert b.signer.verify(token, digest) == ({"k": {"ok": 1}}, {"n": 2})
        with pytest.raises(InvalidParams, match="signature mismatch"):
            lone.signer.verify(token, digest)  # a process not on the store has its own key
    assert isinstance(a.store, MemoryStore)  # detached: back to memory


@async_test
async def test_explicit_state_secret_wins(redis_server: RedisServer) -> None:
    url = f"{redis_server.url()}?prefix={unique_prefix()}"
    mine, other = _core(state_secret="0123456789abcdef-mine"), _core()
    async with mine.using_store(url), other.using_store(url):
        digest = request_digest("tools/call", "t")
        with pytest.raises(InvalidParams, match="signature mismatch"):
            other.signer.verify(mine.signer.sign(digest, None, None), digest)
        assert _core(state_secret="0123456789abcdef-mine").signer.verify(mine.signer.sign(digest, None, None), digest)


@async_test
async def test_listen_and_sessions_hear_changes_made_elsewhere(redis_server: RedisServer) -> None:
    url = f"{redis_server.url()}?prefix={unique_prefix()}"
    a, b = _core(), _core()
    async with a.using_store(url), b.using_store(url):
        la, lb = _listen(a), _listen(b)
        await asyncio.sleep(0)
        a.notify_resource_updated("file:///a.txt")
        a.add_tool("new", lambda: "y", input_schema={"type": "object"})
        updated = ("notifications/resources/updated", {"uri": "file:///a.txt", "_meta": {"io.modelcontextprotocol/subscriptionId": "L"}})
        changed = ("notifications/tools/list_changed", {"_meta": {"io.modelcontextprotocol/subscriptionId": "L"}})
        await asyncio.sleep(0)  # the peer writes on the next loop turn
        assert _sent(la) == [updated, changed]  # at once, where the change happened
        await until(lambda: len(_sent(lb)) == 2)
        assert _sent(lb) == [updated, changed]
        await asyncio.sleep(0.05)
        assert len(_sent(la)) == 2  # its own message, back from Redis, is not delivered twice
        # the other way, and only to the matching subscription
        b.notify_resource_updated("file:///other.txt")
        b.notify_resource_updated("file:///a.txt")
        await until(lambda: len(_sent(la)) == 3)
        assert _sent(la)[2] == updated
        for c in (la, lb):
            c.peer.connection_lost(None)


@async_test
async def test_other_server_names_do_not_hear(redis_server: RedisServer) -> None:
    url = f"{redis_server.url()}?prefix={unique_prefix()}"
    a = _core()
    b = ServerCore("another-server", "1.0.0")
    b.add_resource("file:///a.txt", lambda: "a", name="a")
    b.add_tool("t", lambda: "x", input_schema={"type": "object"})
    async with a.using_store(url), b.using_store(url):
        lb = _listen(b)
        await asyncio.sleep(0)
        a.notify_resource_updated("file:///a.txt")
        await asyncio.sleep(0.1)
        assert _sent(lb) == []
        lb.peer.connection_lost(None)


@async_test
async def test_store_down_at_start_then_shared(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store down when the server starts: it serves anyway (own key, local notifications)
    and shares once the store is back."""
    from mcpfast.server import sharing

    monkeypatch.setattr(sharing, "RETRY_INTERVAL", 0.05)
    url = f"{redis_server.url()}?prefix={unique_prefix()}"
    a, b = _core(), _core()
    async with b.using_store(url):
        redis_server.stop()
        try:
            own_key = a.signer
            async with open_store(url, timeout=0.3) as given, a.using_store(given):  # a Store: not closed by it
                assert a.signer is own_key
                la = _listen(a)
                await asyncio.sleep(0)
                a.notify_resource_updated("file:///a.txt")  # delivered here, not shared (logged)
                await asyncio.sleep(0.02)
                assert len(_sent(la)) == 1
                redis_server.start()
                await until(lambda: a.signer is not own_key, timeout=5)
                digest = request_digest("tools/call", "t")
                await until(lambda: _verifies(b, a.signer.sign(digest, None, None), digest), timeout=5)
                lb = _listen(b)
                await asyncio.sleep(0)
                await until(lambda: _resubscribed(b), timeout=5)
                a.notify_resource_updated("file:///a.txt")
                await until(lambda: len(_sent(lb)) == 1, timeout=5)
                for c in (la, lb):
                    c.peer.connection_lost(None)
        finally:
            if not redis_server.running:
                redis_server.start()


def _verifies(core: ServerCore, token: str, digest: str) -> bool:
    try:
        core.signer.verify(token, digest)
    except InvalidParams:
        return False
    return True


def _resubscribed(core: ServerCore) -> bool:
    store = core.store
    assert isinstance(store, RedisStore)
    return store.subscriber_connected


@async_test
async def test_mcpserver_store_setting(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from mcpfast.testing import Client

    url = f"{redis_server.url()}?prefix={unique_prefix()}"
    monkeypatch.setenv("MCPFAST_STORE", url)  # read when the server starts
    env_app = MCPServer("shared-server")
    mem_app = MCPServer("shared-server", store="memory")  # explicit wins over the env var
    url_app = MCPServer("shared-server", store=f"{redis_server.url()}?prefix={unique_prefix()}")

    @url_app.tool()
    def ping() -> str:
        return "pong"

    async with env_app.lifespan_context(), mem_app.lifespan_context(), Client(url_app) as c:
        assert isinstance(env_app.core.store, RedisStore) and isinstance(url_app.core.store, RedisStore)
        assert isinstance(mem_app.core.store, MemoryStore)
        assert (await c.call_tool("ping"))["content"][0]["text"] == "pong"
        digest = request_digest("tools/call", "t")
        with pytest.raises(InvalidParams, match="signature mismatch"):  # another prefix: another deployment
            env_app.core.signer.verify(url_app.core.signer.sign(digest, None, None), digest)
    assert isinstance(url_app.core.store, MemoryStore)


# ============================================================================== --store


def _redis_exists(server: RedisServer, key: str) -> bool:
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as s:
        s.sendall(b"EXISTS %s\r\n" % key.encode())
        return s.recv(64).startswith(b":1")


def test_cli_store_flag_checked() -> None:
    from mcpfast.cli import CLIError, add_serve_arguments, serve

    ap = argparse.ArgumentParser()
    add_serve_arguments(ap)
    assert ap.parse_args(["--store", "redis://h:1/0"]).store == "redis://h:1/0"
    assert ap.parse_args([]).store is None
    with pytest.raises(CLIError, match="--store: Unknown store URL 'mongodb://x'"):
        serve(MCPServer("x"), transport="stdio", store="mongodb://x")


@pytest.mark.parametrize("which", ["mcpserver", "core"])
def test_cli_store_flag_serves_on_redis(redis_server: RedisServer, tmp_path: Path, which: str) -> None:
    """``python -m mcpfast.server --store URL`` (an MCPServer) and ``mcpfast run core.py --store
    URL`` (a bare ServerCore) attach the store: the shared requestState key appears in Redis."""
    prefix = unique_prefix()
    url = f"{redis_server.url()}?prefix={prefix}"
    if which == "mcpserver":
        cmd = [sys.executable, "-m", "mcpfast.server", "--transport", "http", "--port", "0", "--store", url]
    else:
        app = tmp_path / "core_app.py"
        app.write_text("from mcpfast.server import ServerCore\ncore = ServerCore('cli-core', '1')\n")
        cmd = [sys.executable, "-m", "mcpfast", "run", str(app), "--transport", "http", "--port", "0", "--store", url]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        assert "mcpfast: serving http on" in line, line
        assert _redis_exists(redis_server, prefix + "k:mrtr-request-state")
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
