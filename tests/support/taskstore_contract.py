"""The ``TaskStore`` contract (``mcpfast.server.tasks``) as one coroutine any backend can be run
through: ``await check_task_store(store)`` on a fresh, empty store. The in-memory store's test
runs it; a shared backend (Redis) runs the same, so both keep one behaviour.

It checks what the module docstring promises: copies out, first terminal status wins, cancel is
idempotent on a terminal task, input parks and is delivered key by key (unknown keys ignored),
responses are taken once, listing is per owner and paged by the backend's cursor (a foreign
cursor is ``ValueError``), expiry (never before ``expiresAt``, never after), and the events
(``status``, ``cancel``, ``input``) reach a subscriber until it unsubscribes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mcpfast.server.tasks import KEEP, TaskStore


def record(tid: str, owner: str = "o", ttl: float | None = None) -> dict[str, Any]:
    """A fresh ``working`` record as the core makes one (``ttl`` in seconds, None: unlimited)."""
    now = time.time()
    return {"taskId": tid, "owner": owner, "status": "working", "createdAt": "2026-07-28T00:00:00.000Z",
            "lastUpdatedAt": "2026-07-28T00:00:00.000Z", "ttlMs": None if ttl is None else int(ttl * 1000),
            "expiresAt": None if ttl is None else now + ttl, "pollIntervalMs": 500,
            "meta": {"era": "modern", "tool": "t"}}


async def _settle(events: list[Any], n: int, timeout: float = 2.0) -> None:
    """Wait until ``events`` holds at least ``n`` entries (a shared store publishes later)."""
    deadline = time.monotonic() + timeout
    while len(events) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.005)


async def check_task_store(store: TaskStore, prefix: str = "contract-") -> None:
    """Run the contract on ``store`` (task ids start with ``prefix``; owners are unique to the run)."""
    assert isinstance(store, TaskStore)
    owner = f"{prefix}owner-{time.monotonic_ns()}"
    events: list[tuple[str, str, str]] = []
    unsubscribe = store.subscribe(lambda ev, rec: events.append((ev, rec["taskId"], rec["status"])))
    a, b, c = f"{prefix}a", f"{prefix}b", f"{prefix}c"
    try:
        await store.create(record(a, owner))
        got = await store.get(a)
        assert got is not None and got["status"] == "working" and got["meta"] == {"era": "modern", "tool": "t"}
        got["status"] = "mutated"
        again = await store.get(a)
        assert again is not None and again["status"] == "working"  # copies come out
        assert await store.get(f"{prefix}never") is None

        upd = await store.update(a, status_message="half way")
        assert upd is not None and upd["statusMessage"] == "half way" and upd["status"] == "working"
        upd = await store.update(a, status_message=KEEP)
        assert upd is not None and upd["statusMessage"] == "half way"
        upd = await store.update(a, status_message=None)
        assert upd is not None and "statusMessage" not in upd

        done = await store.finish(a, "completed", result={"content": [{"type": "text", "text": "ok"}]})
        assert done is not None and done["status"] == "completed" and done["result"]["content"][0]["text"] == "ok"
        assert await store.finish(a, "failed", error={"code": -32603, "message": "m"}) is None  # first wins
        assert await store.update(a, status="working") is None  # terminal: no change
        same = await store.request_cancel(a)
        assert same is not None and same["status"] == "completed"  # idempotent, unchanged
        assert await store.request_cancel(f"{prefix}never") is None

        await store.create(record(b, owner))
        parked = await store.park(b, {"k1": {"method": "elicitation/create", "params": {}},
                                      "k2": {"method": "elicitation/create", "params": {}}})
        assert parked is not None and parked["status"] == "input_required" and sorted(parked["inputRequests"]) == ["k1", "k2"]
        after = await store.answer(b, {"k1": {"action": "accept"}, "never-issued": 1})
        assert after is not None and after["status"] == "input_required" and list(after["inputRequests"]) == ["k2"]
        assert await store.take_responses(b) == {"k1": {"action": "accept"}}
        assert await store.take_responses(b) == {}  # taken once
        unchanged = await store.answer(b, {"k1": "again"})  # already answered: ignored
        assert unchanged is not None and list(unchanged["inputRequests"]) == ["k2"]
        after = await store.answer(b, {"k2": 2})
        assert after is not None and after["status"] == "working" and "inputRequests" not in after
        cancelled = await store.request_cancel(b)
        assert cancelled is not None and cancelled["status"] == "cancelled" and cancelled["cancelRequested"] is True
        assert await store.park(b, {"k3": {}}) is None  # terminal

        await store.create(record(c, f"{owner}-other"))
        page, nxt = await store.list(owner, limit=1)
        assert [r["taskId"] for r in page] == [a] and nxt is not None
        page, nxt = await store.list(owner, nxt, limit=1)
        assert [r["taskId"] for r in page] == [b] and nxt is None
        try:
            await store.list(owner, "not a cursor this store made")
        except ValueError:
            pass
        else:
            raise AssertionError("a foreign cursor must raise ValueError")

        short = f"{prefix}short"
        await store.create(record(short, owner, ttl=0.3))
        assert await store.get(short) is not None  # not before its expiry
        await asyncio.sleep(0.35)
        assert await store.get(short) is None  # nor after
        assert short not in [r["taskId"] for r in (await store.list(owner, limit=50))[0]]

        await _settle(events, 1)
        kinds = {(ev, tid) for ev, tid, _ in events}
        assert ("status", a) in kinds and ("cancel", b) in kinds and ("input", b) in kinds, events
        assert ("cancel", a) not in kinds  # a terminal task is not "cancelled" again
    finally:
        unsubscribe()
    n = len(events)
    await store.update(c, status_message="nobody hears this")
    await asyncio.sleep(0.02)
    assert len(events) == n
