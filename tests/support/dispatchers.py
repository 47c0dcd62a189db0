"""A tiny dispatcher for the engine and transport tests (no MCP: plain JSON-RPC methods)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from mcpfast.errors import InvalidParams, MethodNotFound


class EchoDispatcher:
    """Methods: ``echo`` (sync), ``aecho`` (async, never awaits), ``slow`` (sleeps
    ``params.delay``), ``boom`` (raises), ``print`` (a stray print, then echo), ``big``
    (``params.size`` bytes of "x"), ``invalid`` (InvalidParams), ``ask`` (asks the other side
    ``ping`` and returns its answer), ``gate`` (waits for ``self.gate`` to be set); anything else is MethodNotFound. ``notifications/cancelled``
    cancels the named request. Counters let tests look inside."""

    def __init__(self, *, batches: bool = True) -> None:
        self.batches = batches
        self.started = 0
        self.finished = 0
        self.cancelled = 0
        self.notifications: list[Any] = []
        self.closed: list[BaseException | None] = []
        self.gate: asyncio.Event | None = None  # ``gate`` requests wait for it

    def on_request(self, peer: Any, req: Any) -> Any:
        m = req.method
        p = req.params or {}
        if m == "echo" or m == "ping":
            return p
        if m == "aecho":
            return self._aecho(p)
        if m == "slow":
            return self._slow(p)
        if m == "boom":
            raise RuntimeError("secret traceback text /etc/passwd")
        if m == "task":  # a handler that needs a current task: the dispatcher starts one
            return asyncio.ensure_future(self._with_timeout(p))
        if m == "notask":  # the same run eagerly: asyncio.timeout() has no task to use
            return self._with_timeout(p)
        if m == "current":
            return self._current()
        if m == "gate":
            return self._gate(p)
        if m == "aboom":
            return self._aboom()
        if m == "print":
            print("stray output from a tool", p)
            os.write(1, b"stray bytes on fd 1\n")
            return p
        if m == "big":
            return {"data": "x" * int(p["size"])}
        if m == "invalid":
            raise InvalidParams("Expected an integer, got \"a\" - at $.params.n", {"n": "a"})
        if m == "ask":
            return peer.request("ping", p)
        raise MethodNotFound(f"Method not found: {m!r}")

    async def _aecho(self, p: Any) -> Any:
        return p

    async def _slow(self, p: Any) -> Any:
        self.started += 1
        try:
            await asyncio.sleep(float(p.get("delay", 0.2)))
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        return {"slept": p.get("delay", 0.2), "tag": p.get("tag")}

    async def _with_timeout(self, p: Any) -> Any:
        async with asyncio.timeout(float(p.get("limit", 5))):
            await asyncio.sleep(float(p.get("delay", 0.01)))
        return {"done": True}

    async def _current(self) -> Any:
        return {"task": asyncio.current_task() is not None}

    async def _gate(self, p: Any) -> Any:
        if self.gate is None:
            self.gate = asyncio.Event()
        await self.gate.wait()
        return p

    async def _aboom(self) -> Any:
        await asyncio.sleep(0)
        raise ValueError("secret async failure")

    def on_notification(self, peer: Any, note: Any) -> None:
        self.notifications.append(note)
        if note.method == "notifications/cancelled":
            peer.cancel_request((note.params or {}).get("requestId"))
        elif note.method == "notifications/progress":
            peer.on_progress(note.params or {})

    def on_batch(self, peer: Any, batch: Any) -> bool:
        return self.batches

    def on_close(self, peer: Any, exc: BaseException | None) -> None:
        self.closed.append(exc)


class RecordingDispatcher:
    """The common part of the scripted servers of the client tests: every notification is
    recorded in ``self.seen`` as ``(method, params)`` (subclasses add their own entries),
    ``notifications/cancelled`` cancels the named request, batches are refused, and close does
    nothing. Subclasses write ``on_request``."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    def on_notification(self, peer: Any, note: Any) -> None:
        self.seen.append((note.method, note.params))
        if note.method == "notifications/cancelled":
            peer.cancel_request(note.params["requestId"])

    def on_batch(self, peer: Any, batch: Any) -> bool:
        return False

    def on_close(self, peer: Any, exc: BaseException | None) -> None:
        pass
