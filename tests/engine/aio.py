"""Running async tests without pytest-asyncio: a fresh debug-mode loop per test that fails
on tasks left behind (uvloop's _testbase does the same in tearDown)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any


def async_test(fn: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    """Turn ``async def test_x(...)`` into a plain test run by ``asyncio.run(debug=True)``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        async def main() -> Any:
            result = await fn(*args, **kwargs)
            for _ in range(3):  # let done callbacks and closing transports settle
                await asyncio.sleep(0)
            me = asyncio.current_task()
            leftover = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
            for t in leftover:
                t.cancel()
            assert not leftover, f"tasks left running: {leftover!r}"
            return result

        return asyncio.run(main(), debug=True)

    return wrapper
