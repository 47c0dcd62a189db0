"""Waiting in a test for something another task or thread makes true."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(cond: Callable[[], object], timeout: float = 3.0) -> None:
    """Return once ``cond()`` is true; ``AssertionError`` when it is still false after ``timeout``
    seconds. Polls every 2 ms, so a condition that comes true ends the wait at once."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)
