"""``mcpfast.testing.async_test``: the one runner of the suite's async tests."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest

from mcpfast.testing import SETTLE_ROUNDS, LeftoverTasksError, async_test


def test_runs_in_a_fresh_debug_loop() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    @async_test
    async def body() -> None:
        loop = asyncio.get_running_loop()
        assert loop.get_debug()
        loops.append(loop)

    body()
    body()
    assert len(loops) == 2 and loops[0] is not loops[1]
    assert all(loop.is_closed() for loop in loops)


def test_a_task_left_running_fails_the_test_and_is_cancelled() -> None:
    cancelled = []

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    @async_test
    async def leaky() -> None:
        asyncio.get_running_loop().create_task(forever(), name="the-leak")
        await asyncio.sleep(0)

    with pytest.raises(LeftoverTasksError, match="1 task\\(s\\) left running.*the-leak"):
        leaky()
    assert cancelled == [True]


def test_tasks_that_finish_within_the_settle_rounds_pass() -> None:
    async def a_few_turns(n: int) -> None:
        for _ in range(n):
            await asyncio.sleep(0)

    @async_test
    async def body() -> str:
        asyncio.get_running_loop().create_task(a_few_turns(SETTLE_ROUNDS // 2))
        return "done"

    assert body() == "done"


def test_the_bodys_own_failure_wins_over_leftovers() -> None:
    @async_test
    async def failing() -> None:
        asyncio.get_running_loop().create_task(asyncio.sleep(3600))
        raise ValueError("the real failure")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="the real failure"):
            failing()


@pytest.mark.parametrize("n", [1, 2])
@async_test
async def test_fixtures_and_parameters_reach_the_body(n: int, tmp_path: Any) -> None:
    assert n in (1, 2)
    assert tmp_path.is_dir()
