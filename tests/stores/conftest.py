"""Fixtures of the store tests: ``backend`` runs a test on the in-memory store and on a real
redis-server (``tests/support/redis_server.py``); ``make`` opens stores of that backend inside the
test's own loop (the Redis client binds to the loop that first uses it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mcpfast.stores import MemoryStore, Store, open_store

from ..support.redis_server import RedisServer, redis_package_missing, redis_server, unique_prefix

__all__ = ["redis_server"]

#: without the redis package, the modules that import the Redis backend are not collected
#: (the in-memory half of the others still runs; their Redis half skips with the reason)
if redis_package_missing() is not None:
    collect_ignore = ["test_sharing.py", "test_redis_tasks.py"]


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(backend: str, request: pytest.FixtureRequest) -> Iterator[Callable[..., Store]]:
    """``make()``: a store of the test's backend; every call for Redis is a separate client
    (what another process would hold) on one shared key prefix; for memory, one store (a
    process's memory is its own: "another process" is the same store)."""
    if backend == "memory":
        mem = MemoryStore()

        def make_memory(**_: Any) -> Store:
            return mem

        yield make_memory
        return
    missing = redis_package_missing()
    if missing is not None:
        pytest.skip(missing)
    server: RedisServer = request.getfixturevalue("redis_server")
    if not server.running:  # a test before this one stopped it and failed before restarting
        server.start()
    prefix = unique_prefix()

    def make_redis(**options: Any) -> Store:
        options.setdefault("prefix", prefix)
        return open_store(server.url(), **options)

    yield make_redis
