"""The client's response cache: ``ttlMs`` / ``cacheScope`` honoured (2026-07-28, SEP-2549).

A 2026-07-28 server stamps the results of ``server/discover``, ``tools/list``,
``prompts/list``, ``resources/list``, ``resources/templates/list`` and ``resources/read`` with
``ttlMs`` (how long the result may be reused, like ``max-age``) and ``cacheScope``. ``Client``
keeps such results for that long and answers a repeat call from here:

* the key is the method plus what changes the result: the first page of a list (continuation
  pages always go to the server), the URI of a read;
* results reached through input rounds (``inputResponses``/``requestState``) are never stored,
  and calls carrying ``meta`` always reach the server (and refresh the entry);
* list-changed notifications and ``notifications/resources/updated`` evict what they name;
* each ``Client`` has its own cache, so ``"private"`` and ``"public"`` entries are alike here.

Handshake-era results carry no ``ttlMs``: with the default ``default_ttl_ms=0`` nothing of
theirs is kept.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any

__all__ = ["CacheConfig", "ResponseCache", "CACHEABLE_METHODS"]

CACHEABLE_METHODS = frozenset((
    "server/discover", "tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read",
))

#: what each notification makes stale: methods whose entries all go (resources/updated: one URI)
_EVICTS: dict[str, tuple[str, ...]] = {
    "notifications/tools/list_changed": ("tools/list",),
    "notifications/prompts/list_changed": ("prompts/list",),
    "notifications/resources/list_changed": ("resources/list", "resources/templates/list"),
}


class CacheConfig:
    """How ``Client(cache=...)`` caches: ``default_ttl_ms`` for results without ``ttlMs``
    (0: not cached), ``max_entries`` (oldest dropped first), ``clock`` (seconds, monotonic).
    ``Client(cache=None)`` turns the cache off. Other keywords of the SDK's ``CacheConfig``
    (``store``, ``partition``, ``target_id``, ``share_public``) are accepted and have no effect:
    the cache lives in the client."""

    __slots__ = ("default_ttl_ms", "max_entries", "clock")

    def __init__(self, *, default_ttl_ms: int = 0, max_entries: int = 1024,
                 clock: Callable[[], float] | None = None, **_sdk_options: Any) -> None:
        if default_ttl_ms < 0:
            raise ValueError("default_ttl_ms must be >= 0")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.default_ttl_ms = default_ttl_ms
        self.max_entries = max_entries
        self.clock = clock or time.monotonic


class ResponseCache:
    """The entries of one client: ``(method, key) -> (expiry, result dict)``."""

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self._entries: collections.OrderedDict[tuple[str, str], tuple[float, dict[str, Any]]] = (
            collections.OrderedDict())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, method: str, key: str) -> dict[str, Any] | None:
        """The live entry, or None (an expired one is dropped)."""
        hit = self._entries.get((method, key))
        if hit is None:
            return None
        if hit[0] <= self.config.clock():
            del self._entries[(method, key)]
            return None
        return hit[1]

    def put(self, method: str, key: str, result: Any) -> None:
        """Keep ``result`` for its ``ttlMs`` (or ``default_ttl_ms``); a zero TTL, an
        ``input_required`` result or a non-object drops any entry under the key instead."""
        if type(result) is not dict or result.get("resultType", "complete") != "complete":
            self._entries.pop((method, key), None)
            return
        ttl = result.get("ttlMs", self.config.default_ttl_ms)
        if type(ttl) not in (int, float) or ttl <= 0:
            self._entries.pop((method, key), None)
            return
        entries = self._entries
        entries[(method, key)] = (self.config.clock() + ttl / 1000.0, result)
        entries.move_to_end((method, key))
        while len(entries) > self.config.max_entries:
            entries.popitem(last=False)

    def evict_method(self, method: str) -> None:
        for k in [k for k in self._entries if k[0] == method]:
            del self._entries[k]

    def evict_for(self, method: str, params: Any) -> None:
        """Drop what the notification ``method`` says changed."""
        for stale in _EVICTS.get(method, ()):
            self.evict_method(stale)
        if method == "notifications/resources/updated" and isinstance(params, dict):
            uri = params.get("uri")
            if isinstance(uri, str):
                self._entries.pop(("resources/read", uri), None)

    def clear(self) -> None:
        self._entries.clear()
