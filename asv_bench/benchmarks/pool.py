"""Object and buffer free lists: mcpfast/wire/_pool.pyx (impl "c") and mcpfast/wire/_pool_py.py
(impl "py"); ``size`` is the pool's ``maxsize``. ``track_hit_ratio`` replays a seeded load of
1 to 32 messages in flight and reports the share of acquires served from the pool.
"""

from __future__ import annotations

import random
from typing import Any

from .common import IMPLS, load

MAXSIZES = [16, 256]
BURST = 32


def _replay(pool: Any, steps: int = 2000) -> None:
    """Acquire and release in waves of a seeded 1..32 objects in flight."""
    rng = random.Random("mcpfast-bench-pool")
    held: list[Any] = []
    for _ in range(steps):
        want = rng.randint(1, BURST)
        while len(held) < want:
            held.append(pool.acquire())
        while len(held) > want // 2:
            pool.release(held.pop())
    for obj in held:
        pool.release(obj)


class ObjectPoolCycle:
    """``ObjectPool(dict, maxsize)``: one acquire+release (a hit), and a burst of 32."""

    params = (IMPLS, MAXSIZES)
    param_names = ["impl", "size"]

    def setup(self, impl: str, size: int) -> None:
        self.mod: Any = load(impl, "pool")
        self.pool: Any = self.mod.ObjectPool(dict, size)
        self.pool.release(self.pool.acquire())

    def time_acquire_release(self, impl: str, size: int) -> None:
        pool = self.pool
        pool.release(pool.acquire())

    def time_burst_32(self, impl: str, size: int) -> None:
        pool = self.pool
        held = [pool.acquire() for _ in range(BURST)]
        for obj in held:
            pool.release(obj)

    def track_hit_ratio(self, impl: str, size: int) -> float:
        pool = self.mod.ObjectPool(dict, size)
        _replay(pool)
        return pool.hits / (pool.hits + pool.misses)  # type: ignore[no-any-return]

    track_hit_ratio.unit = "ratio"  # type: ignore[attr-defined]


class BufferPoolCycle:
    """``BufferPool(maxsize)``: acquire+release, and acquire, write 10 KB, release."""

    params = (IMPLS, MAXSIZES)
    param_names = ["impl", "size"]

    def setup(self, impl: str, size: int) -> None:
        self.mod: Any = load(impl, "pool")
        self.pool: Any = self.mod.BufferPool(size)
        self.pool.release(self.pool.acquire())
        self.chunk: bytes = b"x" * (10 * 1024)

    def time_acquire_release(self, impl: str, size: int) -> None:
        pool = self.pool
        pool.release(pool.acquire())

    def time_acquire_write_release(self, impl: str, size: int) -> None:
        pool = self.pool
        buf = pool.acquire()
        buf += self.chunk
        pool.release(buf)

    def peakmem_replay(self, impl: str, size: int) -> None:
        pool = self.mod.BufferPool(size)
        _replay(pool, 500)

    def track_hit_ratio(self, impl: str, size: int) -> float:
        pool = self.mod.BufferPool(size)
        _replay(pool)
        return pool.hits / (pool.hits + pool.misses)  # type: ignore[no-any-return]

    track_hit_ratio.unit = "ratio"  # type: ignore[attr-defined]


class AllocBaseline:
    """No pool: what acquire+release replaces."""

    def time_new_dict(self) -> None:
        _ = dict()  # noqa: C408 - the allocation is what is timed

    def time_new_bytearray(self) -> None:
        bytearray()
