"""How a tool runs: ``ToolRunner``, the one place that calls a tool's function.

Placement, per tool (``Tool.mode``):

* ``async def`` tools run on the loop (``run_async``: timed, counted in flight);
* a plain ``def`` tool pinned inline (``blocking=False``: thread-affine code, or code the
  author knows returns in microseconds) is called on the loop (``call_inline``). Such a tool
  opts out of the guarantee below;
* every other ``def`` tool (``blocking=None``, the ``MCPServer`` default, and ``blocking=True``)
  runs in the pool (``submit``) and never on the loop's thread. Code cannot be preempted, so a
  tool that was fast a thousand times and then blocks (a cache miss doing I/O) would stall
  every connection if it ran on the loop; in the pool it delays nobody.

A thread switch is what a hand-off costs (on a small VM about as much as a whole inline call:
waking a sleeping thread is tens of µs), so the pool makes as few as it can:

* ``submit`` only queues the call; at the end of the loop iteration (``_close_batch``) one
  worker is woken for all the calls that the iteration's input produced: the loop holds the GIL
  until then, so a worker woken earlier could not run anyway;
* the loop then waits, the GIL released, up to ``RENDEZVOUS_S`` (1 ms) for the pool to run out of
  queued calls of tools not seen slow (the rendezvous): the worker that finds the queue empty
  releases it, and the answers leave in the same iteration. A lone call (one per iteration, the
  sequential case) is answered this way straight from ``run``, as a plain value, with no future
  at all. A call that takes longer is answered later: the worker wakes the loop (one
  ``call_soon_threadsafe``, never two while one is pending) when it runs out of calls, before a
  call of a tool seen slow (``Tool.slow``: its last call took over ``SLOW_NS``, or
  ``blocking=True``), or when it holds ``BATCH_MAX`` answers;
* workers take calls one at a time from one shared queue, so a call that blocks holds back
  nothing queued behind it: when every awake worker has been inside one tool function for
  longer than ``STUCK_NS`` and calls are waiting, one more worker is woken (or started, up to
  ``size``); one at a time, since an unstuck worker drains the whole queue (more would only
  fight over the GIL). The loop checks this at the end of each iteration that queued calls, and
  a watchdog (``WATCH_S``, while calls are in the pool) checks it again and collects answers a
  worker left behind when it went on to a call that blocks. So the most a blocking ``def`` tool
  delays another request is about ``STUCK_NS`` + ``WATCH_S`` + a thread wake-up (~5 ms);
* the loop and the workers share no lock: they coordinate through single GIL-atomic operations
  on deques and lists, each side publishing its state before it looks at the other's;
* the loop resolves each call's answer and records its stats (the histograms are not
  thread-safe); workers start on first use (a server whose tools are all async starts no
  thread), are daemon threads (a tool blocked at exit does not hold the process), and sleep on
  their own lock.

Context variables are copied into the call (``contextvars.copy_context().run``), so
``requestvars`` and the user's own variables are visible to the tool. A pooled call answers
through an ``asyncio.Future`` (``submit``) or, on the dispatcher's one-frame path (``run``),
through the peer's ``Deferred``: no future, and the peer's answer is given inside the delivery,
so a batch of finished calls costs one loop wake-up and one write. Cancelling either (a
client's ``notifications/cancelled``, a request timeout) answers the request at once; a call
not yet started is then skipped, one already running finishes in its thread (a thread cannot
be interrupted) and is counted in ``in_flight`` until it does.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from ..peer import Deferred

if TYPE_CHECKING:
    from .registry import Tool

__all__ = [
    "ToolRunner",
    "MODE_INLINE",
    "MODE_POOL",
    "SLOW_NS",
    "STUCK_NS",
    "WATCH_S",
    "default_pool_size",
]

#: the tool runs on the event loop (0: the dispatcher tests ``not tool.mode``)
MODE_INLINE = 0
#: the tool runs in the thread pool
MODE_POOL = 1

#: a pooled call slower than this marks its tool slow: before its next call a worker hands the
#: results it holds to the loop first, so they do not wait behind it
SLOW_NS = 200_000
#: a worker holding this many finished calls hands them to the loop even while calls remain
BATCH_MAX = 64
#: a worker inside one tool function for longer than this no longer counts as serving the queue
STUCK_NS = 3_000_000
#: while calls are in the pool, the loop collects results and checks for stuck workers this often
WATCH_S = 0.002
#: how long the loop may wait, at the end of an input batch, for the pool to finish the batch's
#: calls of tools not seen slow (it then answers them in the same loop iteration); the most a
#: pooled call can delay other requests, well under the 10 ms the README promises
RENDEZVOUS_S = 0.001

log = logging.getLogger("mcpfast.server")

_now = perf_counter_ns
_copy_context = contextvars.copy_context
_get_running_loop = asyncio.get_running_loop
#: a result slot for a call skipped because it was cancelled before it started
_SKIPPED: Any = object()

#: ``finish(tool, value, exception, data)``: turns a pooled call's outcome into the request's
#: answer on the loop (raise for an error answer)
Finish = Callable[["Tool", Any, "BaseException | None", Any], Any]


def default_pool_size() -> int:
    """``min(32, cpu_count + 4)``: the stdlib executor's default, for I/O-bound tools."""
    return min(32, (os.cpu_count() or 1) + 4)


def _working(w: _Worker, now: int) -> bool:
    """Awake, and free or inside a function that started less than ``STUCK_NS`` ago."""
    if w.parked:
        return False
    t0 = w.t0
    return t0 == 0 or now - t0 < STUCK_NS


#: one pooled call: where its answer goes (a future or a Deferred), the tool, the arguments,
#: the caller's context, ``finish`` and its ``data`` (a tuple: made once per call on the loop)
_Call = tuple[
    "asyncio.Future[Any] | Deferred", "Tool", dict[str, Any], contextvars.Context, "Finish | None", Any]


class _Worker:
    """A pool thread: parked on ``wake`` (a held lock) when idle; ``holding`` while it may hold
    a call (from before it takes one until it parks); ``t0`` is when the function it runs now
    started (0 outside the function: waiting for the GIL is not being stuck)."""

    __slots__ = ("thread", "wake", "t0", "parked", "holding")

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.wake = threading.Lock()
        self.wake.acquire()
        self.t0 = 0
        self.parked = False
        self.holding = False


class ToolRunner:
    """Runs tool functions: inline, as coroutines, or in the bounded pool (module docstring).

    ``size`` bounds the worker threads (``thread_pool_size``; default ``default_pool_size()``).
    ``in_flight`` counts pooled calls submitted and not yet handed back to the loop (a cancelled
    call still counts until its thread returns); ``async_in_flight`` the ``async def`` calls
    running. Every call's duration goes to its tool's histogram (``Tool.hist``, µs).
    """

    def __init__(self, size: int | None = None) -> None:
        if size is None:
            size = default_pool_size()
        if size < 1:
            raise ValueError(f"thread_pool_size must be at least 1, got {size}")
        self.size = size
        self.in_flight = 0
        self.async_in_flight = 0
        self._calls: deque[_Call] = deque()
        self._done: deque[tuple[_Call, Any, Any, int]] = deque()
        # No lock: the loop and the workers coordinate through single GIL-atomic operations on
        # these deques and lists (append, pop, remove), each side publishing before it checks
        # the other's state, so a wake-up is never lost and never given twice.
        self._workers: list[_Worker] = []
        #: parked workers (a worker appends itself; the loop pops one to wake it)
        self._idle: list[_Worker] = []
        self._started = 0
        self._signalled = False
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        #: the rendezvous: held while nobody waits. The loop, to wait, puts a token in
        #: ``_waiter``; the worker that pops it (one at most) releases ``_rv``
        self._rv = threading.Lock()
        self._rv.acquire()
        self._waiter: list[bool] = []
        #: calls submitted in this loop iteration (0: no batch open), and how many of them are
        #: of tools not seen slow
        self._batch = 0
        self._quick = 0
        #: the last batch had a single call: a lone call waits for its answer at once
        self._lone = True

    # ------------------------------------------------------------------ state

    @property
    def started(self) -> bool:
        """Whether a worker thread exists (they start with the first pooled call)."""
        return bool(self._workers)

    @property
    def threads(self) -> int:
        """Worker threads alive now."""
        return len(self._workers)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop pooled calls were last submitted from (results are delivered to it;
        notifications a worker sends are handed to it), or None before the first."""
        return self._loop

    # ------------------------------------------------------------------ on the loop

    def call_inline(self, tool: Tool, args: dict[str, Any]) -> Any:
        """Call a plain tool on this thread (pinned inline), timed into its histogram."""
        t0 = _now()
        try:
            return tool.fn(**args)
        finally:
            tool.hist.observe((_now() - t0) * 0.001)

    async def run_async(self, tool: Tool, coro: Coroutine[Any, Any, Any]) -> Any:
        """Await an ``async def`` tool's coroutine, timed and counted in ``async_in_flight``."""
        t0 = _now()
        self.async_in_flight += 1
        try:
            return await coro
        finally:
            self.async_in_flight -= 1
            tool.hist.observe((_now() - t0) * 0.001)

    def run(self, tool: Tool, args: dict[str, Any], finish: Finish, data: Any = None) -> Any:
        """Run a plain tool in the pool and return its answer, ``finish(tool, value, exception,
        data)``, when it comes within ``RENDEZVOUS_S`` for a lone call (one call per loop
        iteration lately: waiting costs two thread switches, answering later four), else a
        ``Deferred`` resolved with it (the peer tracks it like a future, without one). For the
        dispatcher's one-frame path."""
        d = Deferred()
        self._queue(d, tool, args, finish, data)
        if self._batch > 1 or not self._lone or tool.slow:
            return d
        self._rendezvous(True)
        if d.done():
            return d.result()  # the answer, or its exception raised to the dispatcher
        return d

    def submit(self, tool: Tool, args: dict[str, Any], finish: Finish | None = None,
               data: Any = None) -> asyncio.Future[Any]:
        """Run ``tool.fn(**args)`` in the pool. The future (of the running loop) resolves to
        ``finish(tool, value, exception, data)`` computed on the loop (an exception it raises
        becomes the future's), or to ``(value, exception)`` without ``finish``: the tool's own
        exception is a value here, the caller decides what it means. ``finish`` must not return
        a coroutine.

        The call is queued; a worker is woken at the end of the loop iteration (``_close_batch``),
        once for all the calls the iteration's input produced: the loop holds the GIL until then,
        so a worker woken earlier could not run anyway."""
        fut = _get_running_loop().create_future()
        self._queue(fut, tool, args, finish, data)
        return fut

    def _queue(self, fut: asyncio.Future[Any] | Deferred, tool: Tool, args: dict[str, Any],
               finish: Finish | None, data: Any) -> None:
        loop = _get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        self._calls.append((fut, tool, args, _copy_context(), finish, data))
        self.in_flight += 1
        if not self._batch:
            loop.call_soon(self._close_batch)
        self._batch += 1
        if not tool.slow:
            self._quick += 1
        if self._timer is None:
            self._timer = loop.call_later(WATCH_S, self._watch)

    def _close_batch(self) -> None:
        """After the input batch (the next loop iteration): give its calls a worker and wait
        briefly for the quick ones, so their answers leave in this iteration."""
        self._lone = self._batch == 1
        self._batch = 0
        quick, self._quick = self._quick, 0
        self._rendezvous(quick > 0)

    def _rendezvous(self, wait: bool) -> None:
        """Wake workers for the queued calls (none awake, or all stuck), then, with ``wait``,
        wait up to ``RENDEZVOUS_S`` for the pool to run out of queued calls (the GIL is released
        meanwhile, so the workers run); deliver what is finished."""
        calls = self._calls
        woken = self._rescue() if calls else None
        if wait:
            self._waiter.append(True)  # published before the check below (see _work)
            if not calls and not self._busy():
                wait = False  # nothing to wait for: withdraw the token, unless a worker took it
                try:
                    self._waiter.pop()
                except IndexError:
                    self._rv.acquire()  # taken: its release comes at once
        if woken:  # released last, just before this thread blocks: the worker finds the GIL free
            for w in woken:
                w.wake.release()
        if wait and not self._rv.acquire(True, RENDEZVOUS_S):
            try:
                self._waiter.pop()  # nobody came: withdraw the token
            except IndexError:
                self._rv.acquire()  # a worker took it just now: its release comes at once
        if self._done:
            self._deliver()

    def _busy(self) -> bool:
        """Whether an awake worker may hold a call and is not stuck in it."""
        now = _now()
        return any(w.holding and _working(w, now) for w in self._workers)

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        # a new loop (a server run again, a test's fresh loop): results still held for the old
        # one are dropped with it
        self._loop = loop
        self._timer = None
        self._signalled = False
        self._batch = 0
        self._quick = 0

    def _deliver(self) -> None:
        """Hand finished calls to their futures or Deferreds (a Deferred's peer answers at
        once) and record their stats (on the loop)."""
        self._signalled = False
        done = self._done
        while done:
            call, value, exc, dt = done.popleft()
            self.in_flight -= 1
            if exc is _SKIPPED:
                continue
            fut, tool, _, ctx, finish, data = call
            tool.hist.observe(dt * 0.001)
            tool.slow = dt > SLOW_NS or tool.blocking is True
            if fut.done():  # cancelled meanwhile: the answer was already given
                continue
            answer: Callable[[Any], object]
            fail: Callable[[BaseException], object]
            if isinstance(fut, Deferred):
                answer, fail = fut.resolve, fut.reject
            else:
                answer, fail = fut.set_result, fut.set_exception
            try:
                if finish is None:
                    res: Any = (value, exc)
                else:
                    try:
                        # in the request's context, as the tool ran: what it logs names the request
                        res = ctx.run(finish, tool, value, exc, data)
                    except BaseException as e:  # noqa: BLE001 - the request's error answer
                        fail(e)
                        continue
                answer(res)
            except RuntimeError:  # a future (or a peer) of a loop that is gone
                pass
            except Exception:  # noqa: BLE001 - a failing reply sink must not strand the calls after it
                log.exception("answering pooled call of tool %r failed", tool.name, extra={"gen_ai_tool_name": tool.name})

    def _watch(self) -> None:
        """The watchdog (on the loop, every ``WATCH_S`` while calls are in the pool): collect
        results a worker left behind and give waiting calls a worker if all are stuck."""
        self._timer = None
        self._rendezvous(False)
        loop = self._loop
        if self.in_flight and loop is not None and not loop.is_closed():
            self._timer = loop.call_later(WATCH_S, self._watch)

    # ------------------------------------------------------------------ workers

    def _rescue(self) -> list[_Worker] | None:
        """Calls are queued: unless an awake worker is free or inside a function that started
        less than ``STUCK_NS`` ago, take one parked worker for them (returned: the caller
        releases it) or start a new one, up to ``size``. One at a time: a worker drains the
        whole queue unless it gets stuck, and then the next check (the next batch, or the
        watchdog) adds another. On the loop's thread only."""
        now = _now()
        if any(_working(w, now) for w in self._workers):
            return None
        try:
            w = self._idle.pop()  # the most recently parked: its stack is warm
        except IndexError:
            if len(self._workers) < self.size and not self._closing:
                w = _Worker()
                t = threading.Thread(target=self._work, args=(w,), name=f"mcpfast-tool_{self._started}", daemon=True)
                w.thread = t
                self._started += 1
                self._workers.append(w)
                t.start()
            return None
        w.parked = False
        return [w]

    def _hand_over(self) -> None:
        """From a worker: have the loop deliver the finished calls: release the loop if it waits
        in the rendezvous, else wake it."""
        try:
            self._waiter.pop()
        except IndexError:
            self._signal()
        else:
            self._rv.release()

    def _signal(self) -> None:
        """Wake the loop to deliver (one ``call_soon_threadsafe``, never two while one is pending)."""
        if not self._signalled:
            self._signalled = True
            loop = self._loop
            if loop is None:
                return
            try:
                loop.call_soon_threadsafe(self._deliver)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

    def _work(self, w: _Worker) -> None:
        calls = self._calls
        done = self._done
        idle = self._idle
        waiter = self._waiter
        while True:
            w.holding = True  # from before the pop: the rendezvous waits for a call in hand
            try:
                call = calls.popleft()
            except IndexError:
                if self._closing:
                    w.holding = False
                    self._workers.remove(w)
                    return
                # park: publish (parked, in idle, not busy) before looking at the queue and the
                # token again; the loop publishes a call or a token before looking at us
                w.parked = True
                idle.append(w)
                w.holding = False
                if calls:
                    try:
                        idle.remove(w)
                    except ValueError:  # the loop took us to wake: take its wake-up
                        w.wake.acquire()
                    else:
                        w.parked = False
                    continue
                try:
                    waiter.pop()
                except IndexError:
                    if done:
                        self._signal()
                else:
                    self._rv.release()
                w.wake.acquire()
                continue
            fut, tool, args, ctx, _, _ = call
            if fut.cancelled():  # answered already, not started: skip it
                done.append((call, None, _SKIPPED, 0))
                continue
            if done and (tool.slow or len(done) >= BATCH_MAX):
                self._hand_over()  # what is finished leaves before a call that may take long
            w.t0 = t0 = _now()
            try:
                value = ctx.run(tool.fn, **args)
                exc: BaseException | None = None
            except BaseException as e:  # noqa: BLE001 - handed to the loop as a value
                value = None
                exc = e
            t1 = _now()
            w.t0 = 0
            done.append((call, value, exc, t1 - t0))

    def shutdown(self) -> None:
        """Let the workers exit once the queue is empty (a later ``submit`` starts new ones)."""
        self._closing = True
        woken = []
        while True:
            try:
                w = self._idle.pop()
            except IndexError:
                break
            w.parked = False
            w.wake.release()
            woken.append(w)
        for w in woken:
            if w.thread is not None:
                w.thread.join(1.0)
        self._closing = False

    def __repr__(self) -> str:
        return (f"ToolRunner(size={self.size}, threads={len(self._workers)}, in_flight={self.in_flight},"
                f" async_in_flight={self.async_in_flight})")
