"""The same operations through both pool twins: same objects handed out, same counters, same
errors (class and text)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import partial
from importlib import import_module
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.c_extension


@pytest.fixture(scope="module")
def twins() -> tuple[ModuleType, ModuleType]:
    # Imported here, not at module level, so that a pure-only run can collect this file.
    return import_module("mcpfast.wire._pool"), import_module("mcpfast.wire._pool_py")


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001 - the point is to compare any exception
        return ("error", (type(exc), str(exc)))


def test_same_public_names(twins: tuple[ModuleType, ModuleType]) -> None:
    c, py = twins
    assert c.__all__ == py.__all__
    for name in py.__all__:
        cls_c, cls_py = getattr(c, name), getattr(py, name)
        public_py = {n for n in dir(cls_py) if not n.startswith("_")}
        public_c = {n for n in dir(cls_c) if not n.startswith("_")}
        assert public_c == public_py, name


def test_selector_picks_compiled() -> None:
    from mcpfast.wire import pool
    from mcpfast.wire._compat import NO_EXTENSIONS

    expected = "mcpfast.wire._pool_py" if NO_EXTENSIONS else "mcpfast.wire._pool"
    assert pool.ObjectPool.__module__ == expected
    assert pool.BufferPool.__module__ == expected


BAD_ARGS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("ObjectPool", (3,), {}),
    ("ObjectPool", (list,), {"maxsize": -1}),
    ("ObjectPool", (list,), {"maxsize": 1.0}),
    ("ObjectPool", (list,), {"maxsize": None}),
    ("ObjectPool", (list,), {"reset": 1}),
    ("ObjectPool", (list, -(2**70)), {}),
    ("BufferPool", (), {"maxsize": -3}),
    ("BufferPool", (), {"max_buffer_size": -1}),
    ("BufferPool", (), {"max_buffer_size": "big"}),
    ("BufferPool", (-1, -1), {}),
]


@pytest.mark.parametrize("cls, args, kwargs", BAD_ARGS)
def test_constructor_errors_match(
    twins: tuple[ModuleType, ModuleType], cls: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    c, py = twins
    got_c = outcome(lambda: getattr(c, cls)(*args, **kwargs))
    got_py = outcome(lambda: getattr(py, cls)(*args, **kwargs))
    assert got_c[0] == got_py[0] == "error"
    assert got_c == got_py


@pytest.mark.parametrize("bad", [b"x", "x", memoryview(b"x"), None, 3, [1]])
def test_buffer_release_errors_match(twins: tuple[ModuleType, ModuleType], bad: Any) -> None:
    c, py = twins
    assert outcome(lambda: c.BufferPool().release(bad)) == outcome(
        lambda: py.BufferPool().release(bad)
    )


def test_live_view_errors_match(twins: tuple[ModuleType, ModuleType]) -> None:
    results = []
    for mod in twins:
        p = mod.BufferPool()
        buf = p.acquire()
        buf += b"abc"
        view = memoryview(buf)
        results.append((outcome(partial(p.release, buf)), p.stats(), bytes(buf)))
        view.release()
    assert results[0] == results[1]


def test_reprs_match(twins: tuple[ModuleType, ModuleType]) -> None:
    reprs = []
    for mod in twins:
        o = mod.ObjectPool(list, maxsize=1)
        for _ in range(2):
            o.release(o.acquire())
        b = mod.BufferPool(maxsize=3)
        b.release(b.acquire())
        reprs.append((repr(o), repr(b)))
    assert reprs[0] == reprs[1]


# Operations: ("acquire",), ("release", k) releases the k-th held object (modulo), ("clear",),
# ("grow", k, n) appends n bytes to the k-th held buffer.
object_ops = st.lists(
    st.one_of(
        st.just(("acquire",)),
        st.tuples(st.just("release"), st.integers(0, 50)),
        st.just(("clear",)),
    ),
    max_size=80,
)


def run_object_pool(mod: ModuleType, maxsize: int, with_reset: bool, ops: list[Any]) -> list[Any]:
    counter = itertools.count()
    resets: list[int] = []
    reset = (lambda obj: resets.append(obj[0])) if with_reset else None
    p = mod.ObjectPool(lambda: [next(counter)], maxsize, reset)
    held: list[Any] = []
    trace: list[Any] = []
    for op in ops:
        if op[0] == "acquire":
            obj = p.acquire()
            held.append(obj)
            trace.append(("got", obj[0]))
        elif op[0] == "release" and held:
            obj = held.pop(op[1] % len(held))
            p.release(obj)
        elif op[0] == "clear":
            p.clear()
        trace.append(p.stats())
    trace.append(("resets", resets))
    return trace


@settings(database=None, max_examples=200, deadline=None)
@given(maxsize=st.integers(0, 6), with_reset=st.booleans(), ops=object_ops)
def test_object_pool_twins_agree(maxsize: int, with_reset: bool, ops: list[Any]) -> None:
    c = import_module("mcpfast.wire._pool")
    py = import_module("mcpfast.wire._pool_py")
    assert run_object_pool(c, maxsize, with_reset, ops) == run_object_pool(
        py, maxsize, with_reset, ops
    )


buffer_ops = st.lists(
    st.one_of(
        st.just(("acquire",)),
        st.tuples(st.just("release"), st.integers(0, 50)),
        st.tuples(st.just("grow"), st.integers(0, 50), st.integers(0, 40)),
        st.just(("clear",)),
    ),
    max_size=80,
)


def run_buffer_pool(
    mod: ModuleType, maxsize: int, max_buffer_size: int, ops: list[Any]
) -> list[Any]:
    p = mod.BufferPool(maxsize, max_buffer_size)
    ids: dict[int, int] = {}  # id(buffer) -> order of creation, to compare identities
    keep: list[bytearray] = []  # every buffer seen stays alive, so no id() is ever reused
    held: list[bytearray] = []
    trace: list[Any] = []
    for op in ops:
        if op[0] == "acquire":
            buf = p.acquire()
            keep.append(buf)
            ids.setdefault(id(buf), len(ids))
            held.append(buf)
            trace.append(("got", ids[id(buf)], bytes(buf)))
        elif op[0] == "release" and held:
            p.release(held.pop(op[1] % len(held)))
        elif op[0] == "grow" and held:
            held[op[1] % len(held)].extend(b"x" * op[2])
        elif op[0] == "clear":
            p.clear()
        trace.append(p.stats())
    return trace


@settings(database=None, max_examples=200, deadline=None)
@given(maxsize=st.integers(0, 5), max_buffer_size=st.integers(0, 60), ops=buffer_ops)
def test_buffer_pool_twins_agree(maxsize: int, max_buffer_size: int, ops: list[Any]) -> None:
    c = import_module("mcpfast.wire._pool")
    py = import_module("mcpfast.wire._pool_py")
    assert run_buffer_pool(c, maxsize, max_buffer_size, ops) == run_buffer_pool(
        py, maxsize, max_buffer_size, ops
    )
