"""The same operations through both counters twins: same values (type and repr), same errors
(class and text), same snapshots and byte-identical Prometheus text."""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable
from functools import partial
from importlib import import_module
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.c_extension


def twin_modules() -> tuple[ModuleType, ModuleType]:
    # Imported on use, not at module level, so that a pure-only run can collect this file.
    return import_module("mcpfast.wire._counters"), import_module("mcpfast.wire._counters_py")


@pytest.fixture(scope="module")
def twins() -> tuple[ModuleType, ModuleType]:
    return twin_modules()


def canon(x: Any) -> Any:
    """A comparable form that tells 1 from 1.0 from True, -0.0 from 0.0, and NaN from NaN."""
    if isinstance(x, dict):
        return {k: canon(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return (type(x).__name__, [canon(v) for v in x])
    if isinstance(x, (int, float)):
        return (type(x).__name__, repr(x))
    return x


def outcome(fn: Callable[[], Any]) -> tuple[Any, ...]:
    try:
        return ("ok", canon(fn()))
    except Exception as exc:  # noqa: BLE001 - the point is to compare any exception
        return ("error", type(exc), str(exc))


class Level(enum.IntEnum):
    LOW = 1
    NEG = -2


def test_same_public_names(twins: tuple[ModuleType, ModuleType]) -> None:
    c, py = twins
    assert c.__all__ == py.__all__
    assert c.BUCKET_BOUNDS_US == py.BUCKET_BOUNDS_US
    assert c.OVERFLOW_LABEL == py.OVERFLOW_LABEL
    for name in py.__all__:
        obj_py = getattr(py, name)
        if isinstance(obj_py, type):
            public_py = {n for n in dir(obj_py) if not n.startswith("_")}
            public_c = {n for n in dir(getattr(c, name)) if not n.startswith("_")}
            assert public_c == public_py, name


def test_selector_picks_compiled() -> None:
    from mcpfast.wire import counters
    from mcpfast.wire._compat import NO_EXTENSIONS

    expected = "mcpfast.wire._counters_py" if NO_EXTENSIONS else "mcpfast.wire._counters"
    for name in ("Counter", "Gauge", "Histogram", "Family", "Registry"):
        assert getattr(counters, name).__module__ == expected


CONSTRUCTOR_CASES: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("Counter", ("",), {}),
    ("Counter", ("a-b",), {}),
    ("Counter", (b"x",), {}),
    ("Counter", ("x", None), {}),
    ("Gauge", ("1x",), {}),
    ("Histogram", ("x y",), {}),
    ("Family", ("summary", "m"), {}),
    ("Family", (None, "m"), {}),
    ("Family", (int, "m"), {}),
    ("Family", ("counter", "m", "", "abc"), {}),
    ("Family", ("counter", "m", "", ("a", 3)), {}),
    ("Family", ("counter", "m", "", ("a", "a")), {}),
    ("Family", ("counter", "m", "", ("__a",)), {}),
    ("Family", ("counter", "m", "", ("9",)), {}),
    ("Family", ("histogram", "m", "", ("le",)), {}),
    ("Family", ("counter", "m", "", ("a",)), {"max_series": -1}),
    ("Family", ("counter", "m", "", ("a",)), {"max_series": 2.0}),
    ("Family", ("counter", "bad name", "", ("a",)), {}),
    ("Family", ("counter", "m", 5, ("a",)), {}),
]


@pytest.mark.parametrize("cls, args, kwargs", CONSTRUCTOR_CASES)
def test_constructor_errors_match(
    twins: tuple[ModuleType, ModuleType], cls: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    c, py = twins
    got_c = outcome(lambda: getattr(c, cls)(*args, **kwargs))
    got_py = outcome(lambda: getattr(py, cls)(*args, **kwargs))
    assert got_py[0] == "error"
    assert got_c == got_py


def call_repr(obj: Any, method: str, args: tuple[Any, ...]) -> str:
    return repr(getattr(obj, method)(*args))


def test_registry_conflicts_match(twins: tuple[ModuleType, ModuleType]) -> None:
    steps: list[tuple[str, tuple[Any, ...]]] = [
        ("counter", ("a",)),
        ("gauge", ("a",)),
        ("histogram", ("a",)),
        ("family", ("counter", "a")),
        ("family", ("gauge", "f", "", ("x",))),
        ("family", ("gauge", "f", "", ("y",))),
        ("family", ("counter", "f", "", ("x",))),
        ("family", ("summary", "f")),
        ("gauge", ("f",)),
        ("counter", ("9",)),
        ("family", ("counter", "9")),
        ("counter", (None,)),
    ]
    results = []
    for mod in twins:
        r = mod.Registry()
        results.append([outcome(partial(call_repr, r, m, a)) for m, a in steps])
    assert results[0] == results[1]


def test_bucket_assignment_matches_on_a_sweep(twins: tuple[ModuleType, ModuleType]) -> None:
    values = [0.0, -0.0, 5e-324, 1.0, 9e7, 1e308, math.inf, -1.0]
    for e in range(-3, 30):
        for j in range(17):
            x = math.ldexp(1 + j / 16, e)
            values += [x, math.nextafter(x, 0.0), math.nextafter(x, math.inf)]
    for d in range(9):
        for k in range(1, 11):
            b = float(k * 10**d)
            values += [b, math.nextafter(b, 0.0), math.nextafter(b, math.inf)]
    rnd = random.Random(99)
    values += [10 ** rnd.uniform(-3, 9) for _ in range(20000)]
    c, py = twins
    for v in values:  # one histogram per value: a mismatch names the value
        hc, hp = c.Histogram("h"), py.Histogram("h")
        hc.observe(v)
        hp.observe(v)
        assert hc.buckets() == hp.buckets(), v


def test_percentiles_match_bit_for_bit(twins: tuple[ModuleType, ModuleType]) -> None:
    rnd = random.Random(5)
    c, py = twins
    hc, hp = c.Histogram("h"), py.Histogram("h")
    for _ in range(5000):
        v = rnd.lognormvariate(6, 3)
        hc.observe(v)
        hp.observe(v)
    qs = [i / 1000 for i in range(1, 1001)] + [1e-9, 0.123456789, 1 / 3]
    assert [repr(hc.percentile(q)) for q in qs] == [repr(hp.percentile(q)) for q in qs]
    assert repr(hc.sum) == repr(hp.sum)


# --------------------------------------------------------------------------------------------
# Random operation sequences

numbers = st.one_of(
    st.integers(min_value=-5, max_value=1000),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), 2**64, 10**30, -(10**30)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=1e9),
    st.sampled_from(
        [0.0, -0.0, 0.5, math.inf, -math.inf, math.nan, True, False, Level.LOW, Level.NEG]
    ),
    st.sampled_from(["1", None, 1j, b"2"]),
)
label_values = st.lists(
    st.one_of(
        st.sampled_from(["a", "b", "tools/call", 'q"t', "b\\s", "n\nl", "", "é", "__overflow__"]),
        st.just(7),
    ),
    min_size=0,
    max_size=3,
).map(tuple)

METRICS = ["c_total", "g", "h_seconds", "fc_total", "fg", "fh_seconds"]
ops = st.lists(
    st.one_of(
        st.tuples(st.just("inc"), st.just("c_total"), numbers),
        st.tuples(st.sampled_from(["set", "inc", "dec"]), st.just("g"), numbers),
        st.tuples(st.just("observe"), st.just("h_seconds"), numbers),
        st.tuples(st.just("percentile"), st.just("h_seconds"), numbers),
        st.tuples(
            st.just("labels"),
            st.sampled_from(["fc_total", "fg", "fh_seconds"]),
            label_values,
            numbers,
        ),
    ),
    max_size=60,
)


def build(mod: ModuleType) -> Any:
    r = mod.Registry()
    r.counter("c_total", "A counter.")
    r.gauge("g")
    r.histogram("h_seconds", "A histogram\nwith \\ two lines.")
    r.family("counter", "fc_total", "", ("method", "status"), max_series=3)
    r.family("gauge", "fg", "Gauges.", ("k",), max_series=2)
    r.family(mod.Histogram, "fh_seconds", "", ("method",), max_series=2)
    return r


def apply(r: Any, op: tuple[Any, ...]) -> Any:
    kind, name = op[0], op[1]
    metric = r.get(name)
    if kind == "labels":
        child = metric.labels(*op[2])
        action = {"counter": "inc", "gauge": "inc", "histogram": "observe"}[metric.kind]
        getattr(child, action)(op[3])
        return (child.snapshot(), metric.dropped, len(metric))
    if kind == "percentile":
        return metric.percentile(op[2])
    getattr(metric, kind)(op[2])
    return metric.snapshot()


def run(mod: ModuleType, operations: list[tuple[Any, ...]]) -> list[Any]:
    r = build(mod)
    trace: list[Any] = []
    for op in operations:
        trace.append(outcome(partial(apply, r, op)))
    trace.append(canon(r.snapshot()))
    trace.append(r.prometheus_text())
    trace.append([repr(r.get(n)) for n in METRICS])
    return trace


@settings(database=None, max_examples=300, deadline=None)
@given(operations=ops)
def test_operation_sequences_agree(operations: list[tuple[Any, ...]]) -> None:
    c, py = twin_modules()
    got_c, got_py = run(c, operations), run(py, operations)
    assert got_c == got_py


@settings(database=None, max_examples=200, deadline=None)
@given(values=st.lists(st.floats(min_value=-10, max_value=2e8, allow_nan=False), max_size=200))
def test_histogram_exposition_agrees(values: list[float]) -> None:
    c, py = twin_modules()
    texts = []
    for mod in (c, py):
        r = mod.Registry()
        h = r.histogram("lat_seconds", "Latency.")
        f = r.family("histogram", "by_method_seconds", "", ("method",))
        for i, v in enumerate(values):
            h.observe(v)
            f.labels("even" if i % 2 == 0 else "odd").observe(v)
        texts.append((r.prometheus_text(), canon(r.snapshot())))
    assert texts[0] == texts[1]


RENDER_SERIES_CASES: list[tuple[Any, ...]] = [
    ("histogram", "x", "", ("a",), "ok"),
    ("summary", "x", "", (), "ok"),
    ("histogram", "x-y", "", (), "ok"),
    ("histogram", "x", 3, (), "ok"),
    ("histogram", "x", "", "a", "ok"),
    ("histogram", "x", "", ("le",), "ok"),
    ("histogram", "x", "", ("a",), "two"),
    ("histogram", "x", "", ("a",), "int"),
    ("histogram", "x", "", ("a",), "counter"),
    ("counter", "x", "", ("a",), "counter"),
]


@pytest.mark.parametrize("case", RENDER_SERIES_CASES)
def test_render_series_agrees(twins: tuple[ModuleType, ModuleType], case: tuple[Any, ...]) -> None:
    kind, name, help_text, labelnames, series = case
    results = []
    for mod in twins:
        h = mod.Histogram("h")
        h.observe(12.5)
        c = mod.Counter("c")
        c.inc(2)
        rows = {"ok": [(("v\n",), h)], "two": [(("1", "2"), h)], "int": [((1,), h)],
                "counter": [(("v",), c)]}[series]
        results.append(outcome(partial(mod.render_series, kind, name, help_text, labelnames, rows)))
    assert results[0] == results[1]


@pytest.mark.parametrize("t0", ["future", "huge", "negative-huge", "5s", "float", "str", "bool"])
def test_observe_since_agrees(twins: tuple[ModuleType, ModuleType], t0: str) -> None:
    import time

    results = []
    for mod in twins:
        h = mod.Histogram("h")
        now = time.perf_counter_ns()
        arg = {"future": now + 10**12, "huge": 10**30, "negative-huge": -(10**30), "5s": now - 5_500_000_000,
               "float": 1.5, "str": "1", "bool": True}[t0]
        out = outcome(partial(h.observe_since, arg))
        # the clock moves between the twins: compare the buckets, not the exact sums
        results.append((out, h.count, h.buckets()))
    assert results[0] == results[1]


def test_operation_keys_twins_agree(twins: tuple[ModuleType, ModuleType]) -> None:
    # the same requests and peers through both twins: the same keys handed to resolve (in the
    # same order: only keys not cached), the same children returned, the same cache size
    from types import SimpleNamespace as NS

    legacy = NS(protocol_version="2025-11-25")
    peers = [NS(state=legacy, network_transport="pipe"), NS(state=None, network_transport="tcp"),
             NS(state=NS(protocol_version=None), network_transport=None)]
    params: list[Any] = [
        None, [], "x", {}, {"name": "echo"}, {"name": 3}, {"name": ["a"]}, {"name": "echo", "_meta": None},
        {"name": "echo", "_meta": {"v": "2026-07-28"}}, {"name": "t", "_meta": {"v": 7}}, {"_meta": "m"},
        {"_meta": {}}, {"name": "echo", "_meta": {"v": "2026-07-28", "other": 1}},
    ]
    methods = ["tools/call", "tools/list", "ping", "made/up"]
    runs = []
    for mod in twins:
        resolved: list[tuple[Any, ...]] = []

        def resolve(key: tuple[Any, ...], resolved: list[tuple[Any, ...]] = resolved) -> tuple[str, tuple[Any, ...]]:
            resolved.append(key)
            return ("child", key)

        keys = mod.OperationKeys(resolve, tool_method="tools/call", version_key="v", max_size=20)
        out = []
        for _ in range(2):  # the second round is served from the cache, up to max_size
            for peer in peers:
                for method in methods:
                    for p in params:
                        for err in ("", "tool_error"):
                            out.append(keys.child(peer, NS(method=method, params=p), err))
        runs.append((out, resolved, len(keys)))
        keys.clear()
        assert len(keys) == 0
    assert runs[0] == runs[1]
    assert runs[0][2] == 20  # the cache stopped at max_size; the rest resolved each time
    assert ("child", ("tools/call", None, "", "pipe", "2025-11-25")) in runs[0][0]
    assert ("child", ("tools/call", "t", "", "tcp", "")) in runs[0][0]  # a non-str version: ""
