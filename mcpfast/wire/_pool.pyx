"""Bounded free lists for message objects and reusable bytearrays (compiled twin).

Twin of ``mcpfast/wire/_pool_py.py``, which is the specification (docstrings, edge cases);
this module has the same names, signatures, results, exception classes and texts.

What makes it faster: counters are C integers and the bound a C ``Py_ssize_t``; the pooled
objects live in a ``list`` typed as such, so pop/append go to CPython's list internals
without method lookups, and ``bytearray()`` is made by ``PyByteArray_FromStringAndSize``.
A Python list (rather than a C array of ``PyObject*``) keeps the pooled objects visible to the
cycle collector: a pooled object that refers back to its pool is still collectable.

Thread safety: one event-loop thread; not atomic under free-threading (see the twin).
"""

cimport cython
from cpython.bytearray cimport PyByteArray_FromStringAndSize, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.list cimport PyList_GET_SIZE
from cpython.number cimport PyNumber_Index
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.stdint cimport uint64_t

from types import GenericAlias

__all__ = ["BufferPool", "ObjectPool"]


cdef object _check_size(str what, object value):
    # Same rule and texts as _pool_py._check_size.
    value = PyNumber_Index(value)
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return value


cdef inline Py_ssize_t _clamp(object value):
    # The Python-visible bound stays the int given; the C copy saturates, since a list can
    # never hold more than PY_SSIZE_T_MAX items anyway.
    if value > PY_SSIZE_T_MAX:
        return PY_SSIZE_T_MAX
    return <Py_ssize_t>value


cdef class _FreeList:
    """What both pools share (see ``_pool_py._FreeList``): the items, the bound, the counts."""

    cdef list _items            # the pooled items; LIFO, the end of the list is the top
    cdef object _maxsize_obj    # the bound as given, for .maxsize and stats()
    cdef Py_ssize_t _maxsize    # the same bound, saturated to Py_ssize_t for the C compare
    cdef uint64_t _hits
    cdef uint64_t _misses
    cdef uint64_t _discards

    def clear(self):
        """Drop every pooled item; the counters are kept."""
        del self._items[:]

    @property
    def hits(self):
        """Acquires served from the pool."""
        return self._hits

    @property
    def misses(self):
        """Acquires that had to make a new item."""
        return self._misses

    @property
    def discards(self):
        """Releases dropped (the pool was full, or the item too large to keep)."""
        return self._discards

    @property
    def size(self):
        """Items pooled now."""
        return PyList_GET_SIZE(self._items)

    @property
    def maxsize(self):
        """The most items the pool keeps."""
        return self._maxsize_obj

    def stats(self):
        """``{"hits", "misses", "discards", "size", "maxsize"}`` as plain ints."""
        return {
            "hits": self._hits,
            "misses": self._misses,
            "discards": self._discards,
            "size": PyList_GET_SIZE(self._items),
            "maxsize": self._maxsize_obj,
        }

    def __len__(self):
        return PyList_GET_SIZE(self._items)

    def __repr__(self):
        return (
            f"<{type(self).__name__} size={PyList_GET_SIZE(self._items)} maxsize={self._maxsize_obj} "
            f"hits={self._hits} misses={self._misses} discards={self._discards}>"
        )


@cython.final
cdef class ObjectPool(_FreeList):
    """A bounded free list of objects made by ``factory`` (see ``_pool_py.ObjectPool``)."""

    cdef object _factory        # called with no argument on a miss
    cdef object _reset          # None or called with each released object

    def __init__(self, factory, maxsize=256, reset=None):
        if not callable(factory):
            raise TypeError(f"factory must be callable, got {type(factory).__name__}")
        if reset is not None and not callable(reset):
            raise TypeError(f"reset must be callable or None, got {type(reset).__name__}")
        self._maxsize_obj = _check_size("maxsize", maxsize)
        self._maxsize = _clamp(self._maxsize_obj)
        self._factory = factory
        self._reset = reset
        self._items = []
        self._hits = 0
        self._misses = 0
        self._discards = 0

    # ObjectPool[Envelope] in annotations, as with the Generic pure twin.
    __class_getitem__ = classmethod(GenericAlias)

    def acquire(self):
        """A pooled object if there is one (hit), else a new one from ``factory()`` (miss)."""
        if PyList_GET_SIZE(self._items):
            self._hits += 1
            return self._items.pop()  # Cython inlines this as __Pyx_PyList_Pop
        self._misses += 1
        return self._factory()

    def release(self, obj):
        """Reset ``obj`` (if a reset callable was given) and keep it unless the pool is full."""
        if self._reset is not None:
            self._reset(obj)
        if PyList_GET_SIZE(self._items) < self._maxsize:
            self._items.append(obj)
        else:
            self._discards += 1


@cython.final
cdef class BufferPool(_FreeList):
    """A bounded free list of ``bytearray`` write buffers (see ``_pool_py.BufferPool``)."""

    cdef object _max_buffer_size_obj  # the bound as given; items are all empty bytearrays
    cdef Py_ssize_t _max_buffer_size  # the same bound saturated to Py_ssize_t

    def __init__(self, maxsize=64, max_buffer_size=1 << 20):
        self._maxsize_obj = _check_size("maxsize", maxsize)
        self._max_buffer_size_obj = _check_size("max_buffer_size", max_buffer_size)
        self._maxsize = _clamp(self._maxsize_obj)
        self._max_buffer_size = _clamp(self._max_buffer_size_obj)
        self._items = []
        self._hits = 0
        self._misses = 0
        self._discards = 0

    def acquire(self):
        """An empty bytearray: pooled (hit) or new (miss)."""
        if PyList_GET_SIZE(self._items):
            self._hits += 1
            return self._items.pop()
        self._misses += 1
        return PyByteArray_FromStringAndSize(NULL, 0)

    def release(self, buf):
        """Clear ``buf`` and keep it; drop it (a discard) when oversized or the pool is full."""
        if type(buf) is not bytearray:
            raise TypeError(f"BufferPool.release() takes a bytearray, got {type(buf).__name__}")
        if PyByteArray_GET_SIZE(buf) > self._max_buffer_size:
            self._discards += 1
            return
        if PyList_GET_SIZE(self._items) >= self._maxsize:
            self._discards += 1
            return
        # PyByteArray_Resize(buf, 0) is what `del buf[:]` ends in: the same BufferError text
        # ("Existing exports of data: object cannot be re-sized") while a view is alive, and
        # the same early return for an already empty buffer.
        PyByteArray_Resize(buf, 0)
        self._items.append(buf)

    @property
    def max_buffer_size(self):
        """Released buffers longer than this (in bytes) are dropped."""
        return self._max_buffer_size_obj

    def stats(self):
        """``{"hits", "misses", "discards", "size", "maxsize", "max_buffer_size"}``."""
        d = _FreeList.stats(self)
        d["max_buffer_size"] = self._max_buffer_size_obj
        return d
