"""ObjectPool and BufferPool, run against both twins (ids c and py) via the ``pool`` fixture."""

from __future__ import annotations

import gc
import itertools
import weakref
from typing import Any

import pytest

from mcpfast.wire import pool as pool_selector

# --------------------------------------------------------------------------------------------
# ObjectPool


def numbered() -> Any:
    """A factory of distinct, recognisable objects: [0], [1], ..."""
    counter = itertools.count()
    return lambda: [next(counter)]


def test_first_acquire_is_a_miss(pool: Any) -> None:
    p = pool.ObjectPool(numbered())
    assert p.acquire() == [0]
    assert (p.hits, p.misses, p.discards, p.size) == (0, 1, 0, 0)


def test_release_then_acquire_is_a_hit_returning_the_same_object(pool: Any) -> None:
    p = pool.ObjectPool(numbered())
    a = p.acquire()
    p.release(a)
    assert p.size == 1
    assert p.acquire() is a
    assert (p.hits, p.misses, p.size) == (1, 1, 0)


def test_lifo_order(pool: Any) -> None:
    p = pool.ObjectPool(numbered())
    a, b, c = p.acquire(), p.acquire(), p.acquire()
    for obj in (a, b, c):
        p.release(obj)
    assert [p.acquire(), p.acquire(), p.acquire()] == [c, b, a]
    assert p.acquire() == [3]  # empty again: a miss
    assert (p.hits, p.misses) == (3, 4)


def test_maxsize_bounds_the_pool_and_counts_discards(pool: Any) -> None:
    p = pool.ObjectPool(numbered(), maxsize=2)
    objs = [p.acquire() for _ in range(5)]
    for obj in objs:
        p.release(obj)
    assert p.size == 2 == len(p)
    assert p.discards == 3
    assert p.acquire() is objs[1] and p.acquire() is objs[0]


def test_maxsize_zero_never_keeps(pool: Any) -> None:
    p = pool.ObjectPool(numbered(), maxsize=0)
    for _ in range(3):
        p.release(p.acquire())
    assert p.stats() == {"hits": 0, "misses": 3, "discards": 3, "size": 0, "maxsize": 0}


def test_default_maxsize(pool: Any) -> None:
    assert pool.ObjectPool(list).maxsize == 256
    assert pool.BufferPool().maxsize == 64
    assert pool.BufferPool().max_buffer_size == 1 << 20


@pytest.mark.parametrize("cls", ["ObjectPool", "BufferPool"])
def test_negative_maxsize_is_a_value_error(pool: Any, cls: str) -> None:
    args = (list,) if cls == "ObjectPool" else ()
    with pytest.raises(ValueError, match=r"^maxsize must be >= 0, got -1$"):
        getattr(pool, cls)(*args, maxsize=-1)


@pytest.mark.parametrize("cls", ["ObjectPool", "BufferPool"])
def test_non_integer_maxsize_is_a_type_error(pool: Any, cls: str) -> None:
    args = (list,) if cls == "ObjectPool" else ()
    with pytest.raises(TypeError, match="'float' object cannot be interpreted as an integer"):
        getattr(pool, cls)(*args, maxsize=1.5)
    with pytest.raises(TypeError, match="'str' object cannot be interpreted as an integer"):
        getattr(pool, cls)(*args, maxsize="3")


@pytest.mark.parametrize("cls", ["ObjectPool", "BufferPool"])
def test_huge_maxsize_is_accepted_as_given(pool: Any, cls: str) -> None:
    args = (list,) if cls == "ObjectPool" else ()
    p = getattr(pool, cls)(*args, maxsize=2**80)
    assert p.maxsize == 2**80
    obj = p.acquire()
    p.release(obj)
    assert p.acquire() is obj


def test_index_like_maxsize(pool: Any) -> None:
    class Three:
        def __index__(self) -> int:
            return 3

    assert pool.ObjectPool(list, Three()).maxsize == 3
    assert type(pool.ObjectPool(list, True).maxsize) is int


def test_factory_and_reset_must_be_callable(pool: Any) -> None:
    with pytest.raises(TypeError, match=r"^factory must be callable, got int$"):
        pool.ObjectPool(3)
    with pytest.raises(TypeError, match=r"^reset must be callable or None, got str$"):
        pool.ObjectPool(list, 4, "clear")


def test_reset_is_called_on_every_release(pool: Any) -> None:
    seen: list[Any] = []

    def reset(d: dict[str, int]) -> None:
        seen.append(dict(d))
        d.clear()

    p = pool.ObjectPool(dict, maxsize=1, reset=reset)
    a, b = p.acquire(), p.acquire()
    a["x"] = 1
    b["y"] = 2
    p.release(a)
    p.release(b)  # pool full: reset still runs (it may free resources), then b is dropped
    assert seen == [{"x": 1}, {"y": 2}]
    assert p.acquire() is a and a == {}
    assert p.discards == 1


def test_reset_raising_propagates_and_does_not_pool(pool: Any) -> None:
    def reset(obj: Any) -> None:
        raise RuntimeError("cannot reset")

    p = pool.ObjectPool(list, reset=reset)
    with pytest.raises(RuntimeError, match="cannot reset"):
        p.release(p.acquire())
    assert (p.size, p.discards) == (0, 0)


def test_factory_raising_still_counts_a_miss(pool: Any) -> None:
    def factory() -> Any:
        raise OSError("no")

    p = pool.ObjectPool(factory)
    with pytest.raises(OSError):
        p.acquire()
    assert p.misses == 1


def test_stats_and_clear(pool: Any) -> None:
    p = pool.ObjectPool(numbered(), maxsize=3)
    objs = [p.acquire() for _ in range(4)]
    for obj in objs:
        p.release(obj)
    p.acquire()
    stats = p.stats()
    assert stats == {"hits": 1, "misses": 4, "discards": 1, "size": 2, "maxsize": 3}
    assert all(type(v) is int for v in stats.values())
    p.clear()
    assert p.stats() == {"hits": 1, "misses": 4, "discards": 1, "size": 0, "maxsize": 3}
    assert p.acquire() == [4]


def test_clear_lets_objects_go(pool: Any) -> None:
    class Obj:
        pass

    p = pool.ObjectPool(Obj)
    obj = p.acquire()
    ref = weakref.ref(obj)
    p.release(obj)
    del obj
    assert ref() is not None
    p.clear()
    gc.collect()
    assert ref() is None


def test_pooled_cycle_is_collectable(pool: Any) -> None:
    # A pooled object referring back to its pool: the cycle collector must see the pool's list.
    class Obj:
        pass

    p = pool.ObjectPool(Obj)
    obj = p.acquire()
    obj.pool = p
    p.release(obj)
    ref = weakref.ref(obj)
    del obj, p
    gc.collect()
    assert ref() is None


def test_counters_are_read_only(pool: Any) -> None:
    p = pool.ObjectPool(list)
    for name in ("hits", "misses", "discards", "size", "maxsize"):
        with pytest.raises(AttributeError):
            setattr(p, name, 5)


def test_generic_subscript(pool: Any) -> None:
    alias = pool.ObjectPool[dict]
    assert alias.__origin__ is pool.ObjectPool
    assert alias.__args__ == (dict,)


def test_object_pool_repr(pool: Any) -> None:
    p = pool.ObjectPool(list, maxsize=2)
    p.release(p.acquire())
    assert repr(p) == "<ObjectPool size=1 maxsize=2 hits=0 misses=1 discards=0>"


# --------------------------------------------------------------------------------------------
# BufferPool


def test_buffer_acquire_gives_an_empty_bytearray(pool: Any) -> None:
    p = pool.BufferPool()
    buf = p.acquire()
    assert type(buf) is bytearray and buf == b""
    assert (p.hits, p.misses) == (0, 1)


def test_buffer_release_clears_and_reuses(pool: Any) -> None:
    p = pool.BufferPool()
    buf = p.acquire()
    buf += b"hello world"
    p.release(buf)
    assert buf == b""  # cleared at release, not at acquire
    again = p.acquire()
    assert again is buf and again == b""
    again += b"x"
    assert again == b"x"
    assert (p.hits, p.misses, p.discards) == (1, 1, 0)


def test_buffer_longer_than_max_buffer_size_is_dropped(pool: Any) -> None:
    p = pool.BufferPool(max_buffer_size=8)
    small, exact, big = p.acquire(), p.acquire(), p.acquire()
    small += b"1234"
    exact += b"12345678"
    big += b"123456789"
    p.release(big)
    assert (p.size, p.discards) == (0, 1)
    assert big == b"123456789"  # dropped untouched
    p.release(exact)
    p.release(small)
    assert (p.size, p.discards) == (2, 1)


def test_buffer_pool_full_discards(pool: Any) -> None:
    p = pool.BufferPool(maxsize=1)
    a, b = p.acquire(), p.acquire()
    a += b"a"
    b += b"b"
    p.release(a)
    p.release(b)
    assert p.stats() == {
        "hits": 0,
        "misses": 2,
        "discards": 1,
        "size": 1,
        "maxsize": 1,
        "max_buffer_size": 1 << 20,
    }
    assert p.acquire() is a


def test_buffer_pool_maxsize_zero(pool: Any) -> None:
    p = pool.BufferPool(maxsize=0, max_buffer_size=0)
    for _ in range(3):
        p.release(p.acquire())  # empty buffers: len 0 <= max_buffer_size 0, but no room
    assert (p.hits, p.misses, p.discards, p.size) == (0, 3, 3, 0)


def test_buffer_pool_negative_max_buffer_size(pool: Any) -> None:
    with pytest.raises(ValueError, match=r"^max_buffer_size must be >= 0, got -5$"):
        pool.BufferPool(max_buffer_size=-5)


@pytest.mark.parametrize(
    "bad, name",
    [(b"abc", "bytes"), (memoryview(b"abc"), "memoryview"), ("abc", "str"), (None, "NoneType")],
)
def test_buffer_release_takes_only_bytearray(pool: Any, bad: Any, name: str) -> None:
    p = pool.BufferPool()
    with pytest.raises(TypeError, match=rf"^BufferPool.release\(\) takes a bytearray, got {name}$"):
        p.release(bad)


def test_buffer_release_refuses_bytearray_subclass(pool: Any) -> None:
    class Buf(bytearray):
        pass

    with pytest.raises(TypeError, match=r"got Buf$"):
        pool.BufferPool().release(Buf(b"x"))


def test_buffer_with_live_view_is_not_pooled(pool: Any) -> None:
    p = pool.BufferPool()
    buf = p.acquire()
    buf += b"data"
    view = memoryview(buf)
    with pytest.raises(BufferError, match="Existing exports of data: object cannot be re-sized"):
        p.release(buf)
    assert (p.size, p.discards) == (0, 0)
    assert buf == b"data"
    view.release()
    p.release(buf)
    assert p.size == 1


def test_empty_buffer_with_live_view_is_pooled(pool: Any) -> None:
    # Nothing to clear, so nothing to refuse: `del buf[:]` on an empty buffer succeeds too.
    p = pool.BufferPool()
    buf = p.acquire()
    view = memoryview(buf)
    p.release(buf)
    assert p.size == 1
    view.release()


def test_buffer_pool_clear_and_repr(pool: Any) -> None:
    p = pool.BufferPool(maxsize=4)
    p.release(p.acquire())
    assert repr(p) == "<BufferPool size=1 maxsize=4 hits=0 misses=1 discards=0>"
    p.clear()
    assert p.size == 0 and p.misses == 1


def test_buffer_pool_counters_are_read_only(pool: Any) -> None:
    p = pool.BufferPool()
    for name in ("hits", "misses", "discards", "size", "maxsize", "max_buffer_size"):
        with pytest.raises(AttributeError):
            setattr(p, name, 5)


# --------------------------------------------------------------------------------------------
# The selector


def test_selector_exports_one_twin() -> None:
    assert set(pool_selector.__all__) == {"ObjectPool", "BufferPool"}
    module = pool_selector.ObjectPool.__module__
    assert module in ("mcpfast.wire._pool", "mcpfast.wire._pool_py")
    assert pool_selector.BufferPool.__module__ == module
