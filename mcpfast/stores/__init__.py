"""Stores: the state server processes share (legacy sessions, SSE event logs, pub/sub, the MRTR
signing key, tasks), in memory (the default) or on Redis.

::

    store = open_store("redis://127.0.0.1:6379/0")   # or None / "memory"
    async with store:
        await store.set("session:abc", {...}, ttl=3600)

``MCPServer(..., store=URL)``, ``mcpfast run --store URL`` and the env var ``MCPFAST_STORE``
choose it (``store_url`` says which wins). The interface and its contract are in
``mcpfast.stores.base``; the Redis layout and what happens when Redis is down in
``docs/stores.md``. The Redis backend imports the ``redis`` package (extra ``redis``) only when
a ``redis://`` URL is opened.
"""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING, Any

from ..errors import StoreUnavailable
from .base import DEFAULT_EVENT_CAP, DEFAULT_EVENT_TTL, MessageCallback, Store, Subscription
from .memory import MemoryStore

if TYPE_CHECKING:
    from .redis_backend import RedisStore

__all__ = [
    "DEFAULT_EVENT_CAP",
    "DEFAULT_EVENT_TTL",
    "ENV_VAR",
    "MemoryStore",
    "MessageCallback",
    "RedisStore",
    "Store",
    "StoreUnavailable",
    "Subscription",
    "check_store_url",
    "open_store",
    "store_url",
]

#: the environment variable naming the store when neither ``store=`` nor ``--store`` does
ENV_VAR = "MCPFAST_STORE"

_REDIS_SCHEMES = ("redis", "rediss", "unix")


def store_url(url: str | None = None) -> str:
    """The store URL in effect: ``url`` when given, else ``$MCPFAST_STORE``, else ``"memory"``."""
    if url is None or url == "":
        url = os.environ.get(ENV_VAR) or "memory"
    return url


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else url.lower()


def check_store_url(url: str) -> str:
    """``url`` if ``open_store`` can open it; else ValueError saying why (an unknown scheme, or
    the ``redis`` package missing for a Redis URL). Connects to nothing: for checking flags early."""
    scheme = _scheme(url)
    if scheme == "memory":
        return url
    if scheme not in _REDIS_SCHEMES:
        raise ValueError(f'Unknown store URL {url!r}: expected "memory" or redis://host:port/db'
                         f" (rediss://, unix:// too)")
    if importlib.util.find_spec("redis") is None:
        raise ValueError(f"the store {url!r} needs the redis package: pip install 'mcpfast[redis]'")
    return url


def open_store(url: str | Store | None = None, **options: Any) -> Store:
    """A store from its URL (see ``store_url`` for None): ``"memory"`` (or ``"memory://"``) for
    the in-memory store, ``redis://[user:password@]host:port/db``, ``rediss://...`` (TLS) or
    ``unix:///path/to/redis.sock?db=0`` for Redis (``RedisStore``'s keywords in ``options``: ``prefix``,
    ``timeout``...). A ``Store`` passes through unchanged. Opening connects lazily: the first
    call reaches the backend (``await store.ping()`` to check it early).

    Raises ValueError for an unknown scheme, or when the ``redis`` package is missing (naming
    the extra to install).
    """
    if isinstance(url, Store):
        return url
    url = check_store_url(store_url(url))
    if _scheme(url) == "memory":
        return MemoryStore(**options)
    from .redis_backend import RedisStore

    return RedisStore(url, **options)


def __getattr__(name: str) -> Any:
    # RedisStore is importable from here without importing redis on `import mcpfast.stores`
    if name == "RedisStore":
        from .redis_backend import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
