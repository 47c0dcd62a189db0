"""Tasks on Redis: ``RedisTaskStore`` passes the ``TaskStore`` contract the in-memory store passes,
and two servers on one Redis (two processes' worth: separate cores, stores and connections) share
a task's whole life: created on A, polled on B, input delivered on both, cancelled from B while
it runs on A."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mcpfast.errors import StoreUnavailable
from mcpfast.server import ServerCore
from mcpfast.server.redis_tasks import RedisTaskStore
from mcpfast.server.tasks import MemoryTaskStore, wait_for
from mcpfast.stores import RedisStore, open_store
from mcpfast.testing import Client, async_test

from ..server.test_tasks import MODERN, WITH_EXT, Gate, build, settled
from ..support.redis_server import RedisServer, unique_prefix
from ..support.taskstore_contract import check_task_store, record


@async_test
async def test_contract(redis_server: RedisServer) -> None:
    async with open_store(redis_server.url(), prefix=unique_prefix()) as store:
        assert isinstance(store, RedisStore)
        tasks = RedisTaskStore(store)
        await tasks.open()
        try:
            await check_task_store(tasks)
        finally:
            await tasks.close()


@async_test
async def test_events_and_races_across_clients(redis_server: RedisServer) -> None:
    """Two clients (processes) on one task: each hears the other's events; a cancel racing the
    completion leaves one outcome, whichever lands first."""
    prefix = unique_prefix()
    async with open_store(redis_server.url(), prefix=prefix) as sa, open_store(redis_server.url(), prefix=prefix) as sb:
        assert isinstance(sa, RedisStore) and isinstance(sb, RedisStore)
        a, b = RedisTaskStore(sa), RedisTaskStore(sb)
        await a.open()
        await b.open()
        heard: list[tuple[str, str]] = []
        b.subscribe(lambda ev, rec: heard.append((ev, rec["status"])))
        try:
            for i in range(10):
                tid = f"race-{i}"
                await a.create(record(tid))
                with pytest.raises(ValueError, match="exists already"):
                    await b.create(record(tid))
                done, cancelled = await asyncio.gather(
                    a.finish(tid, "completed", result={"content": []}), b.request_cancel(tid))
                final = await b.get(tid)
                assert final is not None and final["status"] in ("completed", "cancelled")
                assert cancelled is not None and cancelled["status"] == final["status"]
                assert (done is not None) == (final["status"] == "completed")
            await a.create(record("heard"))
            await a.update("heard", status_message="from A")
            for _ in range(200):
                if ("status", "working") in heard:
                    break
                await asyncio.sleep(0.005)
            assert ("status", "working") in heard
        finally:
            await a.close()
            await b.close()


@async_test
async def test_down_raises_store_unavailable(redis_server: RedisServer) -> None:
    async with open_store(redis_server.url(), prefix=unique_prefix(), timeout=0.3) as store:
        assert isinstance(store, RedisStore)
        tasks = RedisTaskStore(store)
        await tasks.create(record("t1"))
        redis_server.stop()
        try:
            with pytest.raises(StoreUnavailable):
                await tasks.get("t1")
            with pytest.raises(StoreUnavailable):
                await tasks.finish("t1", "completed")
        finally:
            redis_server.start()
        await tasks.create(record("t2"))  # back (empty: no persistence)
        assert (await tasks.get("t2")) is not None
        await tasks.close()


async def _get(c: Client, tid: str) -> dict[str, Any]:
    return await c.request("tasks/get", {"taskId": tid})  # type: ignore[no-any-return]


@async_test
async def test_task_lifecycle_across_two_servers(redis_server: RedisServer) -> None:
    url = f"{redis_server.url()}?prefix={unique_prefix()}"
    gate_a, gate_b = Gate(), Gate()
    app_a, app_b = build(gate_a, store=url), build(gate_b, store=url)
    async with Client(app_a, protocol_version=MODERN, capabilities=WITH_EXT) as a, \
            Client(app_b, protocol_version=MODERN, capabilities=WITH_EXT) as b:
        assert isinstance(app_a.core.task_store, RedisTaskStore)
        # input: created on A, polled on B, one answer delivered on B and the other on A
        h = await a.request("tools/call", {"name": "ask_two", "arguments": {}})
        tid = h["taskId"]
        both = await wait_for(app_b.core.task_store, tid, lambda r: len(r.get("inputRequests", ())) == 2, timeout=5)
        assert both is not None  # (the tool asks twice at once: two parks)
        g = await _get(b, tid)
        assert g["status"] == "input_required" and sorted(g["inputRequests"]) == ["a", "b"]
        await b.request("tasks/update", {"taskId": tid, "inputResponses": {"a": {"action": "accept", "content": {"v": "1"}}}})
        g = await _get(a, tid)
        assert list(g["inputRequests"]) == ["b"]
        await a.request("tasks/update", {"taskId": tid, "inputResponses": {"b": {"action": "accept", "content": {"v": "2"}}}})
        await settled(app_b.core, tid)
        g = await _get(b, tid)
        assert g["status"] == "completed" and g["result"]["content"][0]["text"] == "1+2"
        # cancel: running on A, cancelled from B: A's tool is cancelled
        h = await a.request("tools/call", {"name": "held", "arguments": {}})
        await gate_a.started.wait()
        await b.request("tasks/cancel", {"taskId": h["taskId"]})
        for _ in range(400):
            if gate_a.cancelled:
                break
            await asyncio.sleep(0.005)
        assert gate_a.cancelled and not gate_b.started.is_set()
        assert (await _get(a, h["taskId"]))["status"] == "cancelled"
        # unknown on both
        for c in (a, b):
            with pytest.raises(Exception, match="(?i)task"):
                await _get(c, "no-such-task")
    # after the servers stop, their cores are back on memory
    assert isinstance(app_a.core.task_store, MemoryTaskStore)


@async_test
async def test_explicit_task_store_is_kept(redis_server: RedisServer) -> None:
    mine = MemoryTaskStore()
    core = ServerCore("t", "1", task_store=mine)
    async with core.using_store(f"{redis_server.url()}?prefix={unique_prefix()}"):
        assert core.task_store is mine
