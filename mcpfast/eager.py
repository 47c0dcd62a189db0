"""Eager tasks on every Python: a coroutine's first step runs at once, inside its own task.

Python 3.12 added ``asyncio.Task(coro, eager_start=True)``: the task is made and its first step
runs in the constructor, so a handler that never suspends is finished before the call returns,
with no trip through the event loop, and yet runs inside a real task (``asyncio.current_task()``
is its task, so ``asyncio.timeout``, anyio and httpx work from its first line). ``eager_task``
gives the same on 3.11, which has no ``eager_start``.

How, on 3.11: a task's constructor schedules its first step with ``loop.call_soon(step,
context=ctx)``, looked up on the loop object. For the length of the constructor the loop's
``call_soon`` is shadowed by an instance attribute that records what is scheduled instead; the
task's own step is then run at once, in the task's context (exactly what the loop would have
run one iteration later), and anything else recorded meanwhile (a finalizer run by the garbage
collector may schedule work) is handed to the real ``call_soon`` in order. A loop that cannot be
shadowed this way (uvloop's has no instance dictionary) or a thread already inside a task of
this loop (a step cannot run inside another task's step) get a plain task, scheduled as usual.

The saving over ``loop.create_task``: the handle and loop iteration of the first step, and,
when the coroutine finishes in that step, the caller's own trip through the loop to learn it
(the task is already done when it is returned).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["eager_task", "EAGER_START"]

#: the running Python has ``asyncio.Task(..., eager_start=True)`` (3.12+)
EAGER_START = sys.version_info >= (3, 12)

_Task = asyncio.Task
_current_task = asyncio.current_task
if sys.version_info < (3, 12):  # pragma: no branch - depends on the Python version
    # on 3.11 asyncio.current_task is a Python function over this dict (see peer.py)
    _by_loop = getattr(asyncio.tasks, "_current_tasks", None)
    if type(_by_loop) is dict:
        _current_task = _by_loop.get  # type: ignore[assignment]

#: loop classes whose ``call_soon`` cannot be shadowed (no instance dictionary)
_fixed: set[type] = set()
_Call = tuple[Any, tuple[Any, ...], Any]
#: what the shadowed ``call_soon`` recorded, ``(callback, args, context)`` in order
_recorded: list[_Call] = []
#: a token: taken (``pop``, atomic under the GIL) by the thread recording into ``_recorded``
_free = [True]


def _eager_start(coro: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any]:
    return _Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]


def _record(callback: Any, *args: Any, context: Any = None) -> None:
    _recorded.append((callback, args, context))


def _shadowed_start(coro: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any]:
    if _current_task(loop) is not None or type(loop) in _fixed:
        return loop.create_task(coro)  # a step cannot run inside another task's step
    try:
        _free.pop()  # one thread at a time records (meanwhile another thread gets a plain task)
    except IndexError:
        return loop.create_task(coro)
    task: asyncio.Task[Any] | None = None
    first: _Call | None = None
    rest: list[_Call] = []
    try:
        try:
            loop.call_soon = _record  # type: ignore[method-assign, assignment]
        except AttributeError:
            _fixed.add(type(loop))
            return loop.create_task(coro)
        try:
            task = _Task(coro, loop=loop)
        finally:
            del loop.call_soon
    finally:
        if len(_recorded) == 1:
            first = _recorded.pop()
        elif _recorded:
            rest = _recorded[:]
            _recorded.clear()
        _free.append(True)
        if task is None and first is not None:  # _Task raised: what it recorded is scheduled
            _replay(None, loop, [first])
        elif task is None:
            _replay(None, loop, rest)
    assert task is not None  # (else _Task's exception is on its way up)
    if first is not None:  # the task's first step alone: the common case
        callback, args, context = first
        owner: object = getattr(callback, "__self__", None)
        if owner is task and not args:
            context.run(callback)  # the step, in the task's context, as the loop would run it
            return task
        rest = [first]  # pragma: no cover - a task's constructor schedules its step
    _replay(task, loop, rest)
    return task


def _replay(task: asyncio.Task[Any] | None, loop: asyncio.AbstractEventLoop, recorded: list[_Call]) -> None:
    """Something besides the task's step was recorded (a finalizer that the garbage collector
    ran scheduled work), or the task could not be made (``task`` None): run the task's step now
    and hand the rest to the real ``call_soon``, in order."""
    for callback, args, context in recorded:
        if task is not None and getattr(callback, "__self__", None) is task and not args:
            if context is None:
                callback()
            else:
                context.run(callback)
        else:
            loop.call_soon(callback, *args, context=context)


#: ``eager_task(coro, loop)``: a task of ``loop`` (the running loop) running ``coro``, whose
#: first step has already run (see the module docstring): done on return when the coroutine did
#: not suspend
eager_task: Callable[[Coroutine[Any, Any, Any], asyncio.AbstractEventLoop], asyncio.Task[Any]] = (
    _eager_start if EAGER_START else _shadowed_start)
