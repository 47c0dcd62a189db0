"""Where a plain ``def`` tool runs: inline on the event loop, or in a bounded thread pool.

A thread hand-off costs on the order of 100 µs (submit, wake a worker, wake the loop back);
a tool that returns in a few microseconds must not pay that, and a tool that sleeps or does
blocking I/O must not stall every other request on the loop. So placement is adaptive, per
tool (``ToolRunner``):

* a ``def`` tool starts in the pool (``MODE_POOL``): a first call cannot stall the server;
* the worker times each call; after ``PROMOTE_AFTER`` consecutive calls faster than
  ``FAST_NS`` the tool moves inline (``MODE_INLINE``) and is called on the loop, on the
  dispatcher's one-frame fast path;
* every inline call is timed too (the same two clock reads feed the stats); a second call
  slower than ``SLOW_NS`` within ``STRIKE_WINDOW`` calls sends the tool back to the pool (one
  slow measurement may be the OS descheduling the process or a GC pause, so a tool that turns
  blocking stalls the loop for at most two calls), and doubles the streak it needs to come
  back (up to ``MAX_PROMOTE_AFTER``), so a tool that is only sometimes slow settles in the pool;
* ``pin="pool"`` (``blocking=True``) and ``pin="inline"`` (``blocking=False``, thread-affine
  code) fix the placement; ``async def`` tools always run on the loop.

The pool itself (``ThreadPool``) is a ``concurrent.futures.ThreadPoolExecutor`` created on
first use, so a server whose tools are all fast or async starts no thread. Context variables
are copied into the worker (``contextvars.copy_context().run``), so ``requestvars`` and the
user's own variables are visible to the tool. A pooled call answers through an
``asyncio.Future`` resolved with ``call_soon_threadsafe``; cancelling it (a client's
``notifications/cancelled``, a request timeout) answers the request at once while the thread
finishes the call in the background (a thread cannot be interrupted).
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from time import perf_counter_ns
from typing import Any

__all__ = [
    "ThreadPool",
    "MODE_INLINE",
    "MODE_POOL",
    "FAST_NS",
    "SLOW_NS",
    "STRIKE_WINDOW",
    "PROMOTE_AFTER",
    "MAX_PROMOTE_AFTER",
    "default_pool_size",
]

#: the tool runs on the event loop (0: the dispatcher tests ``not tool.mode``)
MODE_INLINE = 0
#: the tool runs in the thread pool
MODE_POOL = 1

#: a pooled call faster than this (measured in the worker) counts toward moving inline
FAST_NS = 100_000
#: an inline call slower than this sends the tool back to the pool
SLOW_NS = 2_000_000
#: an inline tool goes back to the pool at its second slow call within this many calls: one
#: slow measurement alone may be the process being descheduled or a GC pause, not the tool
STRIKE_WINDOW = 64
#: consecutive fast pooled calls before a tool moves inline (doubles at each demotion)
PROMOTE_AFTER = 4
MAX_PROMOTE_AFTER = 1024

#: never demote (pinned inline): an inline call is never "slow"
NEVER = 1 << 62


def default_pool_size() -> int:
    """``min(32, cpu_count + 4)``: the stdlib executor's default, for I/O-bound tools."""
    return min(32, (os.cpu_count() or 1) + 4)


class ThreadPool:
    """A bounded pool for blocking ``def`` tools (see the module docstring).

    ``submit(loop, fn, kwargs)`` returns an ``asyncio.Future`` resolved on ``loop`` with
    ``(value, exception, duration_ns)``: the tool's own exception is a value here, so the
    caller (on the loop) decides what it means. Calls beyond ``size`` wait in the executor's
    queue. ``in_flight`` counts calls submitted and not finished (a cancelled call still
    occupies its thread until the function returns).
    """

    def __init__(self, size: int | None = None) -> None:
        if size is None:
            size = default_pool_size()
        if size < 1:
            raise ValueError(f"thread_pool_size must be at least 1, got {size}")
        self.size = size
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        #: calls submitted and not yet finished in their thread
        self.in_flight = 0

    def _get(self) -> ThreadPoolExecutor:
        ex = self._executor
        if ex is None:
            with self._lock:
                ex = self._executor
                if ex is None:
                    ex = self._executor = ThreadPoolExecutor(self.size, thread_name_prefix="mcpfast-tool")
        return ex

    def submit(self, loop: asyncio.AbstractEventLoop, fn: Callable[..., Any],
               kwargs: dict[str, Any]) -> asyncio.Future[tuple[Any, BaseException | None, int]]:
        fut: asyncio.Future[tuple[Any, BaseException | None, int]] = loop.create_future()
        ctx = contextvars.copy_context()

        def settle(out: tuple[Any, BaseException | None, int]) -> None:
            self.in_flight -= 1
            if not fut.done():  # cancelled meanwhile: the answer was already given
                fut.set_result(out)

        def work() -> None:
            t0 = perf_counter_ns()
            try:
                value = ctx.run(fn, **kwargs)
                exc: BaseException | None = None
            except BaseException as e:  # noqa: BLE001 - handed to the loop as a value
                value = None
                exc = e
            out = (value, exc, perf_counter_ns() - t0)
            try:
                loop.call_soon_threadsafe(settle, out)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

        self.in_flight += 1
        try:
            self._get().submit(work)
        except BaseException:
            self.in_flight -= 1
            raise
        return fut

    def shutdown(self, wait: bool = False) -> None:
        """Stop the workers (a later ``submit`` starts a new executor)."""
        with self._lock:
            ex, self._executor = self._executor, None
        if ex is not None:
            ex.shutdown(wait=wait, cancel_futures=False)

    def __repr__(self) -> str:
        return f"ThreadPool(size={self.size}, in_flight={self.in_flight}, started={self._executor is not None})"
