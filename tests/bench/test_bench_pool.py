"""Benchmarks of the object and buffer free lists (mcpfast/wire/_pool.pyx, _pool_py.py), with
the plain allocation they replace as the baseline row.

Real runs: ``pytest tests/bench --benchmark-enable --benchmark-only
--benchmark-group-by=group,param:size``; by default each body runs once (``--benchmark-disable``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

MAXSIZE = 64
BURST = 32  # acquired at once from a pool of BURST // 2: hits, misses and discards


def _cycle(acquire: Callable[[], Any], release: Callable[[Any], None]) -> None:
    release(acquire())


def _burst(acquire: Callable[[], Any], release: Callable[[Any], None]) -> None:
    held = [acquire() for _ in range(BURST)]
    for obj in held:
        release(obj)


def _alloc(factory: Callable[[], Any]) -> None:
    factory()


@pytest.mark.benchmark(group="pool.object")
def test_object_acquire_release(benchmark: BenchmarkFixture, pool: Any) -> None:
    """The steady state: every acquire is a hit."""
    p = pool.ObjectPool(dict, MAXSIZE)
    p.release(p.acquire())
    benchmark(_cycle, p.acquire, p.release)
    assert p.misses == 1 and p.hits >= 1


@pytest.mark.benchmark(group="pool.object")
def test_object_baseline_alloc(benchmark: BenchmarkFixture) -> None:
    """No pool: a new dict each time (what acquire+release replaces)."""
    benchmark(_alloc, dict)


@pytest.mark.benchmark(group="pool.object_burst")
def test_object_burst(benchmark: BenchmarkFixture, pool: Any) -> None:
    p = pool.ObjectPool(dict, BURST // 2)
    benchmark(_burst, p.acquire, p.release)
    assert p.discards >= BURST // 2


@pytest.mark.benchmark(group="pool.buffer")
def test_buffer_acquire_release(benchmark: BenchmarkFixture, pool: Any) -> None:
    p = pool.BufferPool(MAXSIZE)
    p.release(p.acquire())
    benchmark(_cycle, p.acquire, p.release)
    assert p.misses == 1 and p.hits >= 1


@pytest.mark.benchmark(group="pool.buffer")
def test_buffer_baseline_alloc(benchmark: BenchmarkFixture) -> None:
    """No pool: a new bytearray each time."""
    benchmark(_alloc, bytearray)
