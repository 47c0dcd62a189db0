"""mcpfast.eager: a coroutine's first step runs at once inside its own task, on every Python."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from mcpfast import eager
from mcpfast.eager import eager_task
from mcpfast.testing import async_test


async def _outside_task(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` from a plain loop callback (no current task), as a transport's
    ``data_received`` does, and return what it returned."""
    loop = asyncio.get_running_loop()
    out: asyncio.Future[Any] = loop.create_future()

    def run() -> None:
        try:
            out.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out.set_exception(exc)

    loop.call_soon(run)
    return await out


@async_test
async def test_a_coroutine_that_does_not_suspend_is_done_on_return_inside_its_own_task():
    loop = asyncio.get_running_loop()
    seen: list[Any] = []

    async def handler() -> str:
        seen.append(asyncio.current_task())
        async with asyncio.timeout(5):  # needs a current task before the first await
            return "done"

    task = await _outside_task(lambda: eager_task(handler(), loop))
    assert task.done() and task.result() == "done"
    assert seen == [task]
    assert "call_soon" not in vars(loop)  # the shadowing is gone


@async_test
async def test_a_coroutine_that_suspends_continues_in_its_task_and_can_be_cancelled():
    loop = asyncio.get_running_loop()
    gate = loop.create_future()
    steps: list[str] = []

    async def handler() -> str:
        steps.append("first")
        await gate
        steps.append("second")
        return "late"

    task = await _outside_task(lambda: eager_task(handler(), loop))
    assert steps == ["first"] and not task.done()
    gate.set_result(None)
    assert await task == "late" and steps == ["first", "second"]

    async def sleeper() -> None:
        await asyncio.sleep(10)

    slow = await _outside_task(lambda: eager_task(sleeper(), loop))
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow


@async_test
async def test_an_exception_in_the_first_step_is_the_tasks():
    loop = asyncio.get_running_loop()

    async def boom() -> None:
        raise ValueError("no")

    task = await _outside_task(lambda: eager_task(boom(), loop))
    assert task.done() and isinstance(task.exception(), ValueError)


@async_test
async def test_inside_another_task_it_is_a_plain_scheduled_task():
    loop = asyncio.get_running_loop()
    seen: list[Any] = []

    async def handler() -> int:
        seen.append(asyncio.current_task())
        return 1

    task = eager_task(handler(), loop)  # the test's own task is current here
    if not eager.EAGER_START:
        assert not task.done() and seen == []  # a step cannot run inside another task's step
    assert await task == 1 and seen == [task]


@async_test
async def test_work_scheduled_while_the_task_is_made_still_runs_in_order(monkeypatch):
    """Something else calling call_soon during the task's construction (a finalizer the
    garbage collector runs) is handed to the real call_soon; the task's step still runs now."""
    if eager.EAGER_START:
        pytest.skip("3.12+ uses asyncio's own eager_start")
    loop = asyncio.get_running_loop()
    ran: list[str] = []
    real_task = asyncio.Task

    def task_with_a_finalizer(coro: Any, *, loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any]:
        loop.call_soon(ran.append, "finalizer")  # recorded before the task's own step
        return real_task(coro, loop=loop)

    monkeypatch.setattr(eager, "_Task", task_with_a_finalizer)

    async def handler() -> str:
        ran.append("step")
        return "ok"

    task, at_return = await _outside_task(lambda: (eager_task(handler(), loop), list(ran)))
    assert task.done() and at_return == ["step"]  # the step ran at once, the rest is scheduled
    await asyncio.sleep(0)
    assert ran == ["step", "finalizer"]

    def failing(coro: Any, *, loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any]:
        loop.call_soon(ran.append, "kept")
        coro.close()
        raise TypeError("cannot make it")

    monkeypatch.setattr(eager, "_Task", failing)

    async def never() -> None:  # pragma: no cover - closed unstarted
        pass

    with pytest.raises(TypeError, match="cannot make it"):
        await _outside_task(lambda: eager_task(never(), loop))
    assert "call_soon" not in vars(loop)
    await asyncio.sleep(0)
    assert ran[-1] == "kept"


class _FixedLoop(asyncio.SelectorEventLoop):
    """A loop whose methods cannot be shadowed (as uvloop's, which has no instance dict)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "call_soon":
            raise AttributeError(name)
        super().__setattr__(name, value)


def test_a_loop_that_cannot_be_shadowed_gets_plain_tasks():
    loop = _FixedLoop()
    try:
        async def handler() -> int:
            return 2

        async def main() -> Any:
            return await _outside_task(lambda: eager_task(handler(), loop))

        task = loop.run_until_complete(main())
        assert loop.run_until_complete(task) == 2
        if not eager.EAGER_START:
            assert _FixedLoop in eager._fixed  # noqa: SLF001 - the module's own cache, checked by its test
    finally:
        eager._fixed.discard(_FixedLoop)  # noqa: SLF001
        loop.close()
