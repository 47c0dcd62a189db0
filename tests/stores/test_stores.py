"""The ``Store`` contract (``mcpfast/stores/base.py``), every primitive on both backends: the
in-memory store and a real redis-server. For Redis, ``make()`` twice gives two clients, as two
server processes would hold; what one writes, the other must see."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from mcpfast.errors import StoreUnavailable
from mcpfast.stores import ENV_VAR, MemoryStore, Store, open_store, store_url
from mcpfast.testing import async_test

from ..support.redis_server import RedisServer, unique_prefix
from ..support.waiting import until

Make = Callable[..., Store]

# ============================================================================== records


@async_test
async def test_records_set_get_delete(make: Make) -> None:
    async with make() as a, make() as b:
        assert await a.get("s:1") is None
        assert await a.set("s:1", {"v": "2025-11-25", "n": [1, 2.5, True, None, "é"]}) is True
        assert await b.get("s:1") == {"v": "2025-11-25", "n": [1, 2.5, True, None, "é"]}
        assert await b.delete("s:1") is True
        assert await a.get("s:1") is None
        assert await a.delete("s:1") is False


@async_test
async def test_records_are_copies(make: Make) -> None:
    async with make() as a:
        value = {"level": "info"}
        await a.set("k", value)
        value["level"] = "debug"
        got = await a.get("k")
        got["level"] = "error"
        assert await a.get("k") == {"level": "info"}


@async_test
async def test_records_nx_xx(make: Make) -> None:
    async with make() as a, make() as b:
        assert await a.set("k", 1, nx=True) is True
        assert await b.set("k", 2, nx=True) is False  # the other process lost the race
        assert await a.get("k") == 1
        assert await b.set("k", 3, xx=True) is True
        assert await a.get("k") == 3
        await a.delete("k")
        assert await b.set("k", 4, xx=True) is False  # an update never resurrects
        assert await a.get("k") is None
        with pytest.raises(ValueError, match="exclude each other"):
            await a.set("k", 1, nx=True, xx=True)


@async_test
async def test_records_refuse_none_and_non_json(make: Make) -> None:
    async with make() as a:
        with pytest.raises(TypeError, match="cannot be None"):
            await a.set("k", None)
        with pytest.raises(TypeError):
            await a.set("k", {"x": object()})
        with pytest.raises(ValueError, match="ttl must be positive"):
            await a.set("k", 1, ttl=0)
        assert await a.get("k") is None


@async_test
async def test_records_ttl_expiry_refresh_touch(make: Make) -> None:
    async with make() as a, make() as b:
        await a.ping()
        await b.ping()  # both connected: what follows is timed
        await a.set("short", "x", ttl=0.15)
        await a.set("kept", "y", ttl=0.15)
        await a.set("forever", "z")
        assert await b.get("kept", refresh=5) == "y"  # read + push the expiry back, one call
        assert await b.touch("forever", 0.15) is True  # a record without TTL gets one
        assert await b.touch("missing", 5) is False
        await asyncio.sleep(0.3)
        assert await a.get("short") is None
        assert await a.get("kept") == "y"
        assert await a.get("forever") is None
        assert await a.set("short", "again", nx=True) is True  # expired = absent for nx


@async_test
async def test_memory_sweeps_expired_records_on_write() -> None:
    async with MemoryStore() as m:
        for i in range(50):
            await m.set(f"k{i}", i, ttl=0.01)
        await asyncio.sleep(0.03)
        await m.set("other", 1)
        assert "records=1 " in repr(m)


# ============================================================================== event logs


@async_test
async def test_events_replay_from_any_client(make: Make) -> None:
    async with make() as a, make() as b:
        prime = await a.append_event("sess.0", b"")
        e1 = await a.append_event("sess.0", b'{"jsonrpc":"2.0","method":"one"}')
        e2 = await a.append_event("sess.0", b'{"jsonrpc":"2.0","method":"two"}')
        other = await a.append_event("sess.1", b'{"x":1}')
        for eid in (prime, e1, e2):
            assert eid.startswith("sess.0/")
        assert other.startswith("sess.1/")
        assert await b.replay_after(prime) == ("sess.0", [(e1, b'{"jsonrpc":"2.0","method":"one"}'),
                                                         (e2, b'{"jsonrpc":"2.0","method":"two"}')])
        assert await b.replay_after(e1) == ("sess.0", [(e2, b'{"jsonrpc":"2.0","method":"two"}')])
        assert await b.replay_after(e2) == ("sess.0", [])  # known stream, nothing newer
        assert await b.replay_after(other) == ("sess.1", [])


@async_test
async def test_events_malformed_and_unknown_ids(make: Make) -> None:
    async with make() as a:
        await a.append_event("s.0", b"{}")
        for bad in ("", "nostream", "/1", "s.0/", "s.0/abc", "s.0/1-x", "unknown.0/1", "unknown.0/1-0"):
            assert await a.replay_after(bad) is None, bad


@async_test
async def test_events_cap_keeps_the_newest(make: Make) -> None:
    async with make() as a:
        ids = [await a.append_event("s.0", b"%d" % i, cap=3) for i in range(6)]
        replay = await a.replay_after(ids[0])
        assert replay is not None
        assert [m for _, m in replay[1]] == [b"3", b"4", b"5"]
        assert [i for i, _ in replay[1]] == ids[3:]


@async_test
async def test_events_ttl_after_last_append(make: Make) -> None:
    async with make() as a:
        first = await a.append_event("s.0", b"1", ttl=0.1)
        await asyncio.sleep(0.06)
        await a.append_event("s.0", b"2", ttl=0.1)  # pushes the stream's expiry back
        await asyncio.sleep(0.06)
        replay = await a.replay_after(first)
        assert replay is not None and [m for _, m in replay[1]] == [b"2"]
        await asyncio.sleep(0.12)
        assert await a.replay_after(first) is None
        again = await a.append_event("s.0", b"3")  # a new log under the old name
        assert await a.replay_after(again) == ("s.0", [])


@async_test
async def test_events_forget_stream_and_session(make: Make) -> None:
    async with make() as a, make() as b:
        g = await a.append_event("abc.0", b"g")
        p1 = await a.append_event("abc.1", b"p1")
        p2 = await a.append_event("abc.2", b"p2")
        keep = await a.append_event("abcd.1", b"other session, same prefix")
        await b.forget_stream("abc.1")
        assert await a.replay_after(p1) is None
        assert await a.replay_after(g) == ("abc.0", [])
        await b.forget_session("abc")
        assert await a.replay_after(g) is None
        assert await a.replay_after(p2) is None
        assert await a.replay_after(keep) == ("abcd.1", [])
        await b.forget_session("never-was")


# ============================================================================== pub/sub


@async_test
async def test_pubsub_reaches_other_clients_in_order(make: Make) -> None:
    async with make() as a, make() as b:
        got_b: list[bytes] = []
        got_b2: list[bytes] = []
        got_a: list[bytes] = []
        sb = await b.subscribe("notify", got_b.append)
        sb2 = await b.subscribe("notify", got_b2.append)
        sa = await a.subscribe("notify", got_a.append)
        other: list[bytes] = []
        so = await b.subscribe("elsewhere", other.append)
        assert sb.channel == "notify" and not sb.closed
        reached = await a.publish("notify", b"1")
        assert reached >= 1
        await a.publish("notify", b"2")
        await b.publish("notify", b"3")
        await until(lambda: len(got_b) == 3 and len(got_b2) == 3 and len(got_a) == 3)
        assert got_b == got_b2 == [b"1", b"2", b"3"]
        assert got_a == [b"1", b"2", b"3"]  # the publisher's own subscriptions too
        assert other == []
        await sb.close()
        await sb.close()  # idempotent
        assert sb.closed
        await a.publish("notify", b"4")
        await until(lambda: len(got_b2) == 4)
        assert got_b == [b"1", b"2", b"3"]
        for s in (sb2, sa, so):
            await s.close()
        assert await a.publish("notify", b"5") == 0


@async_test
async def test_pubsub_callback_errors_do_not_stop_delivery(make: Make, caplog: pytest.LogCaptureFixture) -> None:
    async with make() as a:
        got: list[bytes] = []

        def bad(_: bytes) -> None:
            raise RuntimeError("boom")

        s1 = await a.subscribe("c", bad)
        s2 = await a.subscribe("c", got.append)
        await a.publish("c", b"x")
        await a.publish("c", b"y")
        await until(lambda: len(got) == 2)
        assert "callback on 'c' failed" in caplog.text
        await s1.close()
        await s2.close()


@async_test
async def test_close_ends_subscriptions_and_refuses_calls(make: Make) -> None:
    a = make()
    got: list[bytes] = []
    sub = await a.subscribe("c", got.append)
    await a.close()
    await a.close()
    assert sub.closed
    await sub.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await a.get("k")
    with pytest.raises(StoreUnavailable, match="closed"):
        await a.publish("c", b"x")


# ============================================================================== secrets


@async_test
async def test_shared_secret_created_once(make: Make) -> None:
    async with make() as a, make() as b:
        ka, kb = await asyncio.gather(a.shared_secret("mrtr"), b.shared_secret("mrtr"))
        assert ka == kb and len(ka) == 32
        assert await a.shared_secret("mrtr") == ka
        other = await b.shared_secret("other", 16)
        assert other != ka and len(other) == 16
        with pytest.raises(ValueError, match="at least 16 bytes"):
            await a.shared_secret("tiny", 8)


# ============================================================================== open_store


def test_open_store_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert store_url(None) == "memory"
    assert isinstance(open_store(None), MemoryStore)
    assert isinstance(open_store("memory"), MemoryStore)
    assert isinstance(open_store("memory://"), MemoryStore)
    mem = MemoryStore()
    assert open_store(mem) is mem
    monkeypatch.setenv(ENV_VAR, "redis://127.0.0.1:1/3")
    assert store_url(None) == "redis://127.0.0.1:1/3"
    assert store_url("memory") == "memory"  # an explicit URL wins over the env var
    with pytest.raises(ValueError, match="Unknown store URL 'mongodb://x'"):
        open_store("mongodb://x")


def test_redis_url_password_is_masked() -> None:
    store = open_store("redis://user:s3cret@127.0.0.1:1/0")
    assert store.shared
    assert "s3cret" not in store.url and "s3cret" not in repr(store)
    assert store.url == "redis://user:***@127.0.0.1:1/0"


def test_import_mcpfast_does_not_import_redis() -> None:
    code = ("import sys, mcpfast, mcpfast.stores, mcpfast.server; "
            "assert 'redis' not in sys.modules, 'redis imported'; "
            "from mcpfast.stores import RedisStore; assert 'redis' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONWARNINGS": "error"})


# ============================================================================== Redis down


@async_test
async def test_redis_down_fails_fast_then_resumes(redis_server: RedisServer) -> None:
    """Stop redis-server mid-test: every call raises StoreUnavailable quickly (no hang, no
    crash); restart it: the same store objects work again, and a subscription is back in place
    (its on_gap said messages may have been missed)."""
    prefix = unique_prefix()
    a = open_store(redis_server.url(), prefix=prefix, timeout=0.5)
    b = open_store(redis_server.url(), prefix=prefix, timeout=0.5)
    got: list[bytes] = []
    gaps: list[int] = []
    try:
        sub = await b.subscribe("notify", got.append, on_gap=lambda: gaps.append(1))
        await a.set("k", 1)
        await a.publish("notify", b"before")
        await until(lambda: got == [b"before"])
        redis_server.stop()
        calls = [
            lambda: a.get("k"), lambda: a.set("k", 2), lambda: a.delete("k"), lambda: a.touch("k", 1),
            lambda: a.append_event("s.0", b"x"), lambda: a.replay_after("s.0/1-0"), lambda: a.forget_session("s"),
            lambda: a.publish("notify", b"lost"), lambda: a.subscribe("other", got.append),
            lambda: a.shared_secret("never-fetched"), lambda: a.ping(),
        ]
        for call in calls:
            t0 = time.monotonic()
            with pytest.raises(StoreUnavailable, match=r"Redis store at redis://127\.0\.0\.1:\d+/0 is unavailable"):
                await call()
            assert time.monotonic() - t0 < 1.5
        await asyncio.sleep(0.1)  # the subscriber notices and starts reconnecting
        with pytest.raises(StoreUnavailable):
            await b.subscribe("notify2", got.append)
        redis_server.start()
        await until(lambda: gaps == [1], timeout=5)
        assert await a.get("k") is None  # no persistence: Redis came back empty
        assert await a.set("k", 3) is True
        assert await b.get("k") == 3
        await a.publish("notify", b"after")
        await until(lambda: got == [b"before", b"after"])
        await sub.close()
    finally:
        if not redis_server.running:
            redis_server.start()
        await a.close()
        await b.close()


@async_test
async def test_redis_unreachable_at_open(redis_server: RedisServer) -> None:
    """A store opened on a port nobody listens on fails each call fast; opening never blocks."""
    dead = RedisServer(redis_server.binary, redis_server.workdir)  # a free port, never started
    async with open_store(dead.url(), timeout=0.3) as s:
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await s.get("k")
        with pytest.raises(StoreUnavailable):
            await s.subscribe("c", lambda _: None)
        assert time.monotonic() - t0 < 1.5
