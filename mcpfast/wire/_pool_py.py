"""Bounded free lists for message objects and reusable bytearrays (pure-Python twin).

This module is the specification of ``mcpfast.wire.pool``: the compiled twin ``_pool.pyx``
has the same names, signatures, results, exception classes and message texts.

A pool trades a little memory for fewer allocations on the hot path: the peer takes an
envelope or a write buffer with ``acquire()`` and hands it back with ``release()`` once the
message has left. Both pools are *bounded*: at most ``maxsize`` objects wait in a pool, and a
release into a full pool drops the object (and counts a discard), so a burst of traffic never
leaves a large pool behind. ``maxsize=0`` is a pool that never keeps anything (every acquire
is a miss), useful to switch pooling off without changing the calling code.

The counters (``hits``, ``misses``, ``discards``) only ever grow; ``clear()`` drops the pooled
objects but keeps them, so a hit ratio survives a cache flush.

Thread safety: pools are meant to be used from one event-loop thread. Under free-threaded
CPython neither twin is atomic: two threads sharing a pool may miscount or, worse, both take
the same object. Give each thread its own pool.

Releasing an object twice, or using it after release, is the caller's bug and is not checked
(an ``in`` test would make release O(n)): the object would be handed out twice.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import index
from typing import Any, Generic, TypeVar

__all__ = ["BufferPool", "ObjectPool"]

T = TypeVar("T")


def _check_size(what: str, value: int) -> int:
    """``value`` as an int >= 0; TypeError for non-integers, ValueError for negatives."""
    value = index(value)  # the same TypeError text in both twins: PyNumber_Index
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return value


class _FreeList:
    """What both pools share: the pooled items, the limit and the hit/miss/discard counts."""

    __slots__ = ("_discards", "_hits", "_items", "_maxsize", "_misses")
    _items: list[Any]
    _hits: int
    _misses: int
    _discards: int
    _maxsize: int

    def clear(self) -> None:
        """Drop every pooled item; the counters are kept."""
        self._items.clear()

    @property
    def hits(self) -> int:
        """Acquires served from the pool."""
        return self._hits

    @property
    def misses(self) -> int:
        """Acquires that had to make a new item."""
        return self._misses

    @property
    def discards(self) -> int:
        """Releases dropped (the pool was full, or the item too large to keep)."""
        return self._discards

    @property
    def size(self) -> int:
        """Items pooled now."""
        return len(self._items)

    @property
    def maxsize(self) -> int:
        """The most items the pool keeps."""
        return self._maxsize

    def stats(self) -> dict[str, int]:
        """``{"hits", "misses", "discards", "size", "maxsize"}`` as plain ints."""
        return {
            "hits": self._hits,
            "misses": self._misses,
            "discards": self._discards,
            "size": len(self._items),
            "maxsize": self._maxsize,
        }

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} size={len(self._items)} maxsize={self._maxsize} "
            f"hits={self._hits} misses={self._misses} discards={self._discards}>"
        )


class ObjectPool(_FreeList, Generic[T]):
    """A bounded free list of objects made by ``factory``.

    ``acquire()`` pops a pooled object (a hit) or calls ``factory()`` (a miss).
    ``release(obj)`` calls ``reset(obj)`` when a reset callable was given, then keeps the object
    if fewer than ``maxsize`` are pooled, else drops it and counts a discard. ``reset`` runs
    before the capacity check, so it sees every released object whether kept or not (it may
    free resources); if it raises, the exception propagates and the object is not pooled.

    Objects come back in LIFO order: the most recently released (cache-warm) one first.
    """

    __slots__ = ("_factory", "_reset")

    def __init__(
        self,
        factory: Callable[[], T],
        maxsize: int = 256,
        reset: Callable[[T], None] | None = None,
    ) -> None:
        if not callable(factory):
            raise TypeError(f"factory must be callable, got {type(factory).__name__}")
        if reset is not None and not callable(reset):
            raise TypeError(f"reset must be callable or None, got {type(reset).__name__}")
        self._maxsize = _check_size("maxsize", maxsize)
        self._factory = factory
        self._reset = reset
        self._items: list[T] = []
        self._hits = 0
        self._misses = 0
        self._discards = 0

    def acquire(self) -> T:
        """A pooled object if there is one (hit), else a new one from ``factory()`` (miss)."""
        items = self._items
        if items:
            self._hits += 1
            return items.pop()
        # Count before calling: a factory that raises still cost a miss.
        self._misses += 1
        return self._factory()

    def release(self, obj: T) -> None:
        """Reset ``obj`` (if a reset callable was given) and keep it unless the pool is full."""
        if self._reset is not None:
            self._reset(obj)
        items = self._items
        if len(items) < self._maxsize:
            items.append(obj)
        else:
            self._discards += 1


class BufferPool(_FreeList):
    """A bounded free list of ``bytearray`` write buffers.

    ``acquire()`` returns an empty bytearray: a pooled one (hit) or a new one (miss).
    ``release(buf)`` clears ``buf`` and keeps it unless the pool is full (a discard). A buffer
    longer than ``max_buffer_size`` when released is dropped (a discard too), so that one huge
    message does not pin a huge buffer in the pool for ever.

    About capacity: CPython's bytearray gives memory back when it shrinks to less than half its
    allocation, so clearing a buffer frees most of its capacity, and a pooled buffer does not
    keep the room it had. What the pool saves is the object allocation; the byte storage is
    regrown by realloc. This is accepted: keeping capacity would need writing the bytearray's
    internals, which no public API allows.

    Clearing a bytearray that has a live export (a ``memoryview`` still held, e.g. by a
    transport that has not finished writing) raises ``BufferError``; ``release`` lets it
    propagate and does not pool the buffer, since its memory is still in use.
    """

    __slots__ = ("_max_buffer_size",)

    def __init__(self, maxsize: int = 64, max_buffer_size: int = 1 << 20) -> None:
        self._maxsize = _check_size("maxsize", maxsize)
        self._max_buffer_size = _check_size("max_buffer_size", max_buffer_size)
        self._items: list[bytearray] = []
        self._hits = 0
        self._misses = 0
        self._discards = 0

    def acquire(self) -> bytearray:
        """An empty bytearray: pooled (hit) or new (miss)."""
        items = self._items
        if items:
            self._hits += 1
            return items.pop()
        self._misses += 1
        return bytearray()

    def release(self, buf: bytearray) -> None:
        """Clear ``buf`` and keep it; drop it (a discard) when oversized or the pool is full."""
        if type(buf) is not bytearray:
            # Exactly bytearray: acquire() must hand out what it promises, not a subclass.
            raise TypeError(f"BufferPool.release() takes a bytearray, got {type(buf).__name__}")
        if len(buf) > self._max_buffer_size:
            self._discards += 1
            return
        items = self._items
        if len(items) >= self._maxsize:
            self._discards += 1
            return
        del buf[:]  # BufferError while a memoryview is alive: not pooled, see the class doc
        items.append(buf)

    @property
    def max_buffer_size(self) -> int:
        """Released buffers longer than this (in bytes) are dropped."""
        return self._max_buffer_size

    def stats(self) -> dict[str, int]:
        """``{"hits", "misses", "discards", "size", "maxsize", "max_buffer_size"}``."""
        d = super().stats()
        d["max_buffer_size"] = self._max_buffer_size
        return d
