"""Counters, gauges, histograms, families and the registry, run against both twins (ids c and py)
via the ``counters`` fixture."""

from __future__ import annotations

import json
import math
import random
import re
from bisect import bisect_left
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpfast.wire import counters as counters_selector

EXPECTED_BOUNDS = tuple(float(k * 10**d) for d in range(8) for k in range(1, 10)) + (math.inf,)


def bucket_of(v: float) -> int:
    """The bucket an observation belongs in, by the definition (bound[i-1] < v <= bound[i])."""
    return bisect_left(EXPECTED_BOUNDS, v if v >= 0 else 0.0)


def bucket_range(i: int) -> tuple[float, float]:
    """The values a percentile estimate may take for a quantile in bucket i."""
    lower = 0.0 if i == 0 else EXPECTED_BOUNDS[i - 1]
    upper = EXPECTED_BOUNDS[i] if i < len(EXPECTED_BOUNDS) - 1 else lower
    return lower, upper


def true_quantile(values: list[float], q: float) -> float:
    """The ceil(q n)-th smallest (clamped) value: the one the rank q n falls on."""
    ordered = sorted(v if v >= 0 else 0.0 for v in values)
    return ordered[max(math.ceil(q * len(ordered)), 1) - 1]


# --------------------------------------------------------------------------------------------
# Counter


def test_counter_starts_at_int_zero(counters: Any) -> None:
    c = counters.Counter("x_total", "help")
    assert c.value == 0 and type(c.value) is int
    assert (c.name, c.help, c.kind) == ("x_total", "help", "counter")


def test_counter_inc(counters: Any) -> None:
    c = counters.Counter("x_total")
    c.inc()
    c.inc(5)
    c.inc(0)
    assert c.value == 6 and type(c.value) is int
    c.inc(0.5)
    assert c.value == 6.5 and type(c.value) is float
    c.inc(2)
    assert c.value == 8.5 and type(c.value) is float


def test_counter_float_then_int_rounds_like_python(counters: Any) -> None:
    c = counters.Counter("x_total")
    c.inc(2**62 + 1)
    c.inc(0.0)  # int + float: float(2**62 + 1) rounds to 2**62
    assert c.value == float(2**62 + 1) == 2.0**62


def test_counter_beyond_64_bits_is_exact(counters: Any) -> None:
    c = counters.Counter("x_total")
    c.inc(2**63 - 1)
    c.inc(1)
    assert c.value == 2**63
    c.inc(2**64)
    assert c.value == 2**63 + 2**64
    c.inc(10**30)
    assert c.value == 2**63 + 2**64 + 10**30 and type(c.value) is int
    c.inc(1.5)
    assert c.value == (2**63 + 2**64 + 10**30) + 1.5


def test_counter_subclass_increments_are_normalised(counters: Any) -> None:
    import enum

    class Two(enum.IntEnum):
        TWO = 2

    class F(float):
        pass

    c = counters.Counter("x_total")
    c.inc(True)
    c.inc(Two.TWO)
    assert c.value == 3 and type(c.value) is int
    c.inc(F(0.5))
    assert c.value == 3.5 and type(c.value) is float


@pytest.mark.parametrize(
    "bad, shown", [(-1, "-1"), (-0.5, "-0.5"), (math.nan, "nan"), (-(2**70), str(-(2**70)))]
)
def test_counter_only_increases(counters: Any, bad: Any, shown: str) -> None:
    c = counters.Counter("x_total")
    c.inc(3)
    with pytest.raises(ValueError) as info:
        c.inc(bad)
    assert str(info.value) == f"Counter 'x_total' can only increase, got inc({shown})"
    assert c.value == 3


def test_counter_negative_in_float_mode(counters: Any) -> None:
    c = counters.Counter("x_total")
    c.inc(1.5)
    with pytest.raises(ValueError, match=r"can only increase, got inc\(-1\)$"):
        c.inc(-1)
    with pytest.raises(ValueError, match=r"can only increase, got inc\(nan\)$"):
        c.inc(math.nan)
    assert c.value == 1.5


def test_counter_infinity(counters: Any) -> None:
    c = counters.Counter("x_total")
    c.inc(math.inf)
    assert c.value == math.inf


@pytest.mark.parametrize(
    "bad, tname", [("1", "str"), (None, "NoneType"), (1j, "complex"), ([1], "list")]
)
def test_counter_type_error(counters: Any, bad: Any, tname: str) -> None:
    c = counters.Counter("x_total")
    with pytest.raises(TypeError) as info:
        c.inc(bad)
    assert str(info.value) == f"Counter 'x_total': inc() takes an int or float, got {tname}"


def test_counter_repr_and_snapshot(counters: Any) -> None:
    c = counters.Counter("x_total", "Things.")
    c.inc(2)
    assert repr(c) == "<Counter 'x_total' value=2>"
    assert c.snapshot() == {"kind": "counter", "help": "Things.", "value": 2}


def test_metric_attributes_are_read_only(counters: Any) -> None:
    c = counters.Counter("x_total")
    for name in ("value", "name", "help"):
        with pytest.raises(AttributeError):
            setattr(c, name, 1)


# --------------------------------------------------------------------------------------------
# Gauge


def test_gauge_set_inc_dec(counters: Any) -> None:
    g = counters.Gauge("open")
    assert g.value == 0 and g.kind == "gauge"
    g.inc()
    g.inc(4)
    g.dec(2)
    assert g.value == 3 and type(g.value) is int
    g.dec(10)
    assert g.value == -7
    g.inc(-3)
    g.dec(-1)
    assert g.value == -9
    g.set(2.5)
    assert g.value == 2.5 and type(g.value) is float
    g.dec()
    assert g.value == 1.5
    g.set(7)
    assert g.value == 7 and type(g.value) is int
    g.set(True)
    assert g.value == 1 and type(g.value) is int


def test_gauge_big_ints_and_back(counters: Any) -> None:
    g = counters.Gauge("big")
    g.set(-(2**63))
    g.dec(1)
    assert g.value == -(2**63) - 1
    g.set(2**100)
    g.dec(2**100)
    assert g.value == 0 and type(g.value) is int
    g.set(5)
    g.inc(2**64)
    assert g.value == 2**64 + 5


def test_gauge_float_with_huge_int_overflows_like_python(counters: Any) -> None:
    g = counters.Gauge("g")
    g.set(1.0)
    with pytest.raises(OverflowError, match="int too large to convert to float"):
        g.inc(10**400)
    assert g.value == 1.0


def test_gauge_non_finite(counters: Any) -> None:
    g = counters.Gauge("g")
    g.set(math.nan)
    assert math.isnan(g.value)
    g.set(-math.inf)
    assert g.value == -math.inf


@pytest.mark.parametrize("method", ["set", "inc", "dec"])
def test_gauge_type_error(counters: Any, method: str) -> None:
    g = counters.Gauge("g")
    with pytest.raises(TypeError) as info:
        getattr(g, method)("3")
    assert str(info.value) == f"Gauge 'g': {method}() takes an int or float, got str"


def test_gauge_repr_and_snapshot(counters: Any) -> None:
    g = counters.Gauge("g")
    g.set(-1.25)
    assert repr(g) == "<Gauge 'g' value=-1.25>"
    assert g.snapshot() == {"kind": "gauge", "help": "", "value": -1.25}


# --------------------------------------------------------------------------------------------
# Histogram


def test_bucket_bounds(counters: Any) -> None:
    assert counters.BUCKET_BOUNDS_US == EXPECTED_BOUNDS
    assert len(EXPECTED_BOUNDS) == 73
    assert EXPECTED_BOUNDS[:12] == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30)
    assert EXPECTED_BOUNDS[-2] == 90_000_000
    h = counters.Histogram("h")
    assert h.bucket_bounds == EXPECTED_BOUNDS
    assert h.buckets() == (0,) * 73
    assert (h.count, h.sum, h.kind) == (0, 0.0, "histogram")


def test_observe_bounds_are_inclusive(counters: Any) -> None:
    # Prometheus `le`: a value equal to a bound is in that bound's bucket, the next double up
    # is in the next bucket, the next double down in the same one (or bucket 0 below 1 us).
    for i, bound in enumerate(EXPECTED_BOUNDS[:-1]):
        h = counters.Histogram("h")
        h.observe(bound)
        h.observe(math.nextafter(bound, 0.0))
        h.observe(math.nextafter(bound, math.inf))
        expected = [0] * 73
        expected[i] = 2
        expected[i + 1] = 1
        assert list(h.buckets()) == expected, bound


def test_observe_matches_bisect_on_many_values(counters: Any) -> None:
    rnd = random.Random(1234)
    values = [0.0, -0.0, 1e-300, 5e-324, 0.999999, 1.0, 9e7, 9.0000001e7, 1e300, math.inf]
    values += [rnd.uniform(0, 2000) for _ in range(3000)]
    values += [10 ** rnd.uniform(-2, 9) for _ in range(3000)]
    values += [float(i) for i in range(3000)]
    for e in range(28):  # the binary exponents 1 .. 9e7 span, and their sixteenths
        for j in range(17):
            x = math.ldexp(1 + j / 16, e)
            values += [x, math.nextafter(x, 0.0), math.nextafter(x, math.inf)]
    h = counters.Histogram("h")
    expected = [0] * 73
    for v in values:
        h.observe(v)
        expected[bucket_of(v)] += 1
    assert list(h.buckets()) == expected
    assert h.count == len(values)


def test_observe_negative_clamps_to_zero(counters: Any) -> None:
    h = counters.Histogram("h")
    h.observe(5)
    h.observe(-3.5)
    h.observe(-math.inf)
    h.observe(-(10**30))
    assert h.count == 4
    assert h.sum == 5.0 and type(h.sum) is float
    assert h.buckets()[0] == 3 and h.buckets()[4] == 1


def test_observe_infinity_lands_in_the_last_bucket(counters: Any) -> None:
    h = counters.Histogram("h")
    h.observe(math.inf)
    h.observe(9e7 + 1)
    assert h.buckets()[-1] == 2
    assert h.sum == math.inf


def test_observe_nan_is_an_error(counters: Any) -> None:
    h = counters.Histogram("lat")
    with pytest.raises(ValueError) as info:
        h.observe(math.nan)
    assert str(info.value) == "Histogram 'lat' cannot observe nan"
    assert h.count == 0


def test_observe_types(counters: Any) -> None:
    h = counters.Histogram("lat")
    h.observe(3)
    h.observe(True)
    h.observe(2.5)
    assert (h.count, h.sum) == (3, 6.5)
    with pytest.raises(TypeError) as info:
        h.observe("3")
    assert str(info.value) == "Histogram 'lat': observe() takes an int or float, got str"
    with pytest.raises(OverflowError, match="int too large to convert to float"):
        h.observe(10**400)
    assert h.count == 3


def test_percentile_empty_is_zero(counters: Any) -> None:
    h = counters.Histogram("h")
    assert h.percentile(0.5) == 0.0
    assert h.percentile(1) == 0.0


@pytest.mark.parametrize("q", [0, 0.0, -0.1, 1.0000001, 2, math.nan, math.inf])
def test_percentile_q_out_of_range(counters: Any, q: Any) -> None:
    h = counters.Histogram("h")
    h.observe(10)
    with pytest.raises(ValueError) as info:
        h.percentile(q)
    assert str(info.value) == f"percentile q must be in (0, 1], got {float(q)!r}"


def test_percentile_q_type(counters: Any) -> None:
    with pytest.raises(TypeError, match=r"^percentile q must be a float, got str$"):
        counters.Histogram("h").percentile("0.5")


def test_percentile_interpolates_inside_the_bucket(counters: Any) -> None:
    h = counters.Histogram("h")
    for v in (110, 120, 130, 140):  # all in (100, 200]
        h.observe(v)
    assert h.percentile(0.5) == 150.0  # 100 + 100 * (2 / 4)
    assert h.percentile(0.25) == 125.0
    assert h.percentile(1) == 200.0


def test_percentile_first_bucket_starts_at_zero(counters: Any) -> None:
    h = counters.Histogram("h")
    h.observe(0)
    h.observe(0.5)
    assert h.percentile(0.5) == 0.5
    assert h.percentile(1.0) == 1.0


def test_percentile_in_the_inf_bucket_is_the_top_bound(counters: Any) -> None:
    h = counters.Histogram("h")
    h.observe(1e12)
    assert h.percentile(0.5) == 9e7


def test_percentile_uniform_is_exact_at_bucket_edges(counters: Any) -> None:
    h = counters.Histogram("h")
    for v in range(1, 10001):
        h.observe(v)
    assert h.percentile(0.5) == 5000.0
    assert h.percentile(0.9) == 9000.0
    assert h.percentile(0.99) == 9900.0
    assert h.count == 10000 and h.sum == 50005000.0


@pytest.mark.parametrize(
    "dist",
    [
        lambda r: r.expovariate(1 / 1000),  # mean 1 ms
        lambda r: r.lognormvariate(8, 2),  # spans several decades
        lambda r: r.uniform(0, 50),
        lambda r: 150.0,
        lambda r: r.choice([3.0, 30_000.0]),  # bimodal
    ],
    ids=["exponential", "lognormal", "uniform-small", "constant", "bimodal"],
)
@pytest.mark.parametrize("q", [0.5, 0.9, 0.99, 0.999])
def test_percentile_within_bucket_of_true_quantile(counters: Any, dist: Any, q: float) -> None:
    rnd = random.Random(42)
    values = [dist(rnd) for _ in range(5000)]
    h = counters.Histogram("h")
    for v in values:
        h.observe(v)
    lower, upper = bucket_range(bucket_of(true_quantile(values, q)))
    assert lower <= h.percentile(q) <= upper


observations = st.lists(
    st.one_of(
        st.floats(min_value=-1e3, max_value=1e9, allow_nan=False),
        st.integers(min_value=-1000, max_value=10**9),
        st.sampled_from([0.0, -0.0, 1.0, 10.0, 9e7, math.inf]),
    ),
    min_size=1,
    max_size=300,
)


@settings(database=None, max_examples=300, deadline=None)
@given(values=observations)
def test_histogram_property(counters: Any, values: list[float]) -> None:
    h = counters.Histogram("h")
    total = 0.0
    for v in values:
        h.observe(v)
        fv = float(v)
        total += max(fv, 0.0)  # the same additions, in the same order
    assert h.count == len(values) == sum(h.buckets())
    assert h.sum == total
    floats = [float(v) for v in values]
    for q in (0.5, 0.9):
        lower, upper = bucket_range(bucket_of(true_quantile(floats, q)))
        assert lower <= h.percentile(q) <= upper


def test_histogram_snapshot_and_repr(counters: Any) -> None:
    h = counters.Histogram("lat", "Latency.")
    for v in (110, 120, 130, 140, 5000):
        h.observe(v)
    assert h.snapshot() == {
        "kind": "histogram",
        "help": "Latency.",
        "count": 5,
        "sum": 5500.0,
        "p50": 100.0 + 100.0 * (2.5 / 4),  # rank 2.5 of 4 in (100, 200]
        "p90": 4500.0,  # rank 4.5: half-way through (4000, 5000]
        "p99": 4000.0 + 1000.0 * ((0.99 * 5 - 4) / 1),
        "buckets": {"200": 4, "5000": 1},
    }
    assert repr(h) == "<Histogram 'lat' count=5 sum=5500.0>"


# --------------------------------------------------------------------------------------------
# Family


def test_family_same_child_for_same_values(counters: Any) -> None:
    f = counters.Family("counter", "calls_total", "Calls.", ("method",))
    a = f.labels("tools/call")
    assert f.labels("tools/call") is a
    assert f.labels("tools/" + "call") is a  # equal, not identical, str
    b = f.labels("ping")
    assert b is not a
    assert type(a) is counters.Counter
    a.inc()
    assert (a.value, b.value, len(f)) == (1, 0, 2)
    assert (a.name, a.help) == ("calls_total", "Calls.")


@pytest.mark.parametrize("kind", ["counter", "gauge", "histogram"])
def test_family_kinds(counters: Any, kind: str) -> None:
    cls = {"counter": counters.Counter, "gauge": counters.Gauge, "histogram": counters.Histogram}[
        kind
    ]
    for spec in (kind, cls):
        f = counters.Family(spec, "m", "", ("a", "b"))
        assert f.kind == kind
        assert type(f.labels("x", "y")) is cls


def test_family_attributes(counters: Any) -> None:
    f = counters.Family("gauge", "m", "Help.", ["a", "b"], max_series=7)
    assert (f.name, f.help, f.labelnames, f.max_series, f.dropped) == (
        "m",
        "Help.",
        ("a", "b"),
        7,
        0,
    )
    assert repr(f) == "<Family gauge 'm' labelnames=('a', 'b') series=0 dropped=0>"
    assert counters.Family[counters.Gauge].__origin__ is counters.Family


def test_family_without_labels(counters: Any) -> None:
    f = counters.Family("counter", "m")
    assert f.labels() is f.labels()
    with pytest.raises(ValueError, match=r"got 1 values for 0$"):
        f.labels("x")


@pytest.mark.parametrize("values", [(), ("a",), ("a", "b", "c")])
def test_family_wrong_label_count(counters: Any, values: tuple[str, ...]) -> None:
    f = counters.Family("counter", "calls_total", "", ("method", "status"))
    with pytest.raises(ValueError) as info:
        f.labels(*values)
    assert str(info.value) == (
        f"Family 'calls_total' has label names ('method', 'status'), got {len(values)} values for 2"
    )
    assert len(f) == 0


@pytest.mark.parametrize("bad, tname", [(200, "int"), (None, "NoneType"), (b"x", "bytes")])
def test_family_label_values_must_be_str(counters: Any, bad: Any, tname: str) -> None:
    f = counters.Family("counter", "calls_total", "", ("status",))
    with pytest.raises(TypeError) as info:
        f.labels(bad)
    assert str(info.value) == f"label values must be str, got {tname}"


def test_family_unhashable_label_value(counters: Any) -> None:
    f = counters.Family("counter", "calls_total", "", ("status",))
    with pytest.raises(TypeError, match="unhashable type: 'list'"):
        f.labels(["x"])


def test_family_overflow(counters: Any) -> None:
    f = counters.Family("counter", "calls_total", "", ("method", "status"), max_series=2)
    a = f.labels("a", "ok")
    b = f.labels("b", "ok")
    over = f.labels("c", "ok")
    assert over is not a and over is not b
    assert f.dropped == 1
    assert f.labels("d", "error") is over
    assert f.labels("c", "ok") is over  # not remembered: counted again
    assert f.dropped == 3
    assert f.labels("a", "ok") is a and f.labels("b", "ok") is b  # known series keep theirs
    assert f.dropped == 3 and len(f) == 2
    # asking for the overflow labels by name is the overflow child, not a drop
    assert f.labels("__overflow__", "__overflow__") is over
    assert f.dropped == 3
    over.inc(5)
    assert f.series() == [
        (("a", "ok"), a),
        (("b", "ok"), b),
        (("__overflow__", "__overflow__"), over),
    ]
    assert counters.OVERFLOW_LABEL == "__overflow__"


def test_family_max_series_zero_sends_everything_to_overflow(counters: Any) -> None:
    f = counters.Family("histogram", "lat", "", ("method",), max_series=0)
    child = f.labels("ping")
    assert f.labels("other") is child
    assert f.dropped == 2 and len(f) == 0
    assert type(child) is counters.Histogram


def test_family_series_without_overflow(counters: Any) -> None:
    f = counters.Family("counter", "m", "", ("k",))
    x = f.labels("x")
    assert f.series() == [(("x",), x)]


def test_family_max_series_validation(counters: Any) -> None:
    with pytest.raises(ValueError, match=r"^max_series must be >= 0, got -1$"):
        counters.Family("counter", "m", "", ("a",), max_series=-1)
    with pytest.raises(TypeError, match="'float' object cannot be interpreted as an integer"):
        counters.Family("counter", "m", "", ("a",), max_series=1.5)
    assert counters.Family("counter", "m", "", ("a",), max_series=2**70).max_series == 2**70


@pytest.mark.parametrize("kind", ["summary", "Counter", "", None, int])
def test_family_invalid_kind(counters: Any, kind: Any) -> None:
    with pytest.raises(ValueError) as info:
        counters.Family(kind, "m", "", ("a",))
    assert str(info.value) == f"kind must be 'counter', 'gauge' or 'histogram', got {kind!r}"


@pytest.mark.parametrize("name", ["1a", "a-b", "a b", "", "é", "__reserved", "a:b"])
def test_family_invalid_label_names(counters: Any, name: str) -> None:
    with pytest.raises(ValueError) as info:
        counters.Family("counter", "m", "", ("ok", name))
    assert str(info.value) == (
        f"invalid label name {name!r}: must match [a-zA-Z_][a-zA-Z0-9_]* and not start with '__'"
    )


def test_family_label_name_rules(counters: Any) -> None:
    counters.Family("counter", "m", "", ("le", "_x", "A9"))  # `le` is fine outside histograms
    with pytest.raises(ValueError, match=r"^label name 'le' is reserved for histogram buckets$"):
        counters.Family("histogram", "m", "", ("method", "le"))
    with pytest.raises(ValueError, match=r"^duplicate label names in \('a', 'b', 'a'\)$"):
        counters.Family("counter", "m", "", ("a", "b", "a"))
    with pytest.raises(TypeError, match=r"^labelnames must be a tuple of str, got str$"):
        counters.Family("counter", "m", "", "method")
    with pytest.raises(TypeError, match=r"^label names must be str, got int$"):
        counters.Family("counter", "m", "", ("a", 1))


# --------------------------------------------------------------------------------------------
# Names and help


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b", "é", "a\n", "a.b", "a{b}", "a\x00"])
@pytest.mark.parametrize("cls", ["Counter", "Gauge", "Histogram"])
def test_invalid_metric_names(counters: Any, cls: str, name: str) -> None:
    with pytest.raises(ValueError) as info:
        getattr(counters, cls)(name)
    assert str(info.value) == f"invalid metric name {name!r}: must match [a-zA-Z_:][a-zA-Z0-9_:]*"


@pytest.mark.parametrize("name", ["a", "_", ":", "mcp:requests_total", "A_9:z", "x" * 300])
def test_valid_metric_names(counters: Any, name: str) -> None:
    assert counters.Counter(name).name == name
    assert counters.Registry().family("gauge", name).name == name


def test_name_and_help_types(counters: Any) -> None:
    with pytest.raises(TypeError, match=r"^metric name must be a str, got bytes$"):
        counters.Counter(b"x")
    with pytest.raises(TypeError, match=r"^help must be a str, got int$"):
        counters.Gauge("x", 3)
    with pytest.raises(TypeError, match=r"^metric name must be a str, got NoneType$"):
        counters.Registry().counter(None)


# --------------------------------------------------------------------------------------------
# Registry


def test_registry_returns_the_existing_metric(counters: Any) -> None:
    r = counters.Registry()
    c = r.counter("req_total", "Requests.")
    assert r.counter("req_total") is c
    assert r.counter("req_total", "Other help.").help == "Requests."
    g = r.gauge("open")
    assert r.gauge("open") is g
    h = r.histogram("lat_seconds")
    assert r.histogram("lat_seconds") is h
    f = r.family("counter", "calls_total", "", ("method",))
    assert r.family(counters.Counter, "calls_total", "x", ["method"]) is f
    assert len(r) == 4 and "open" in r and "nope" not in r
    assert r.get("open") is g and r.get("nope") is None
    assert repr(r) == "<Registry metrics=4>"


@pytest.mark.parametrize(
    "first, second, message",
    [
        (
            ("counter", "m"),
            ("gauge", "m"),
            "metric 'm' is already registered as a counter, not a gauge",
        ),
        (
            ("gauge", "m"),
            ("histogram", "m"),
            "metric 'm' is already registered as a gauge, not a histogram",
        ),
        (
            ("histogram", "m"),
            ("counter", "m"),
            "metric 'm' is already registered as a histogram, not a counter",
        ),
        (
            ("counter", "m"),
            ("family", "counter", "m"),
            "metric 'm' is already registered as a counter, not a counter family",
        ),
        (
            ("family", "gauge", "m"),
            ("gauge", "m"),
            "metric 'm' is already registered as a gauge family, not a gauge",
        ),
        (
            ("family", "gauge", "m"),
            ("family", "counter", "m"),
            "metric 'm' is already registered as a gauge family, not a counter family",
        ),
    ],
)
def test_registry_kind_conflicts(
    counters: Any, first: tuple[str, ...], second: tuple[str, ...], message: str
) -> None:
    r = counters.Registry()
    getattr(r, first[0])(*first[1:])
    with pytest.raises(ValueError) as info:
        getattr(r, second[0])(*second[1:])
    assert str(info.value) == message


def test_registry_family_label_conflict(counters: Any) -> None:
    r = counters.Registry()
    r.family("counter", "m", "", ("a",))
    with pytest.raises(ValueError) as info:
        r.family("counter", "m", "", ("a", "b"))
    assert (
        str(info.value)
        == "metric 'm' is already registered with label names ('a',), not ('a', 'b')"
    )


def test_registry_invalid_name(counters: Any) -> None:
    r = counters.Registry()
    for make in (r.counter, r.gauge, r.histogram, lambda n: r.family("counter", n)):
        with pytest.raises(ValueError, match="invalid metric name '9lives'"):
            make("9lives")
    assert len(r) == 0


def test_empty_registry(counters: Any) -> None:
    r = counters.Registry()
    assert r.snapshot() == {}
    assert r.prometheus_text() == ""


# --------------------------------------------------------------------------------------------
# Snapshot and exposition of a small registry


def small_registry(counters: Any) -> Any:
    r = counters.Registry()
    req = r.counter("mcp_requests_total", "Requests received.")
    req.inc()
    req.inc(2)
    r.gauge("mcp_connections").set(2.5)
    lat = r.histogram("mcp_latency_seconds", 'Latency "quoted" \\ back\nslash')
    for us in (0.5, 3, 150, 2500.5, 1e9):
        lat.observe(us)
    fam = r.family("counter", "mcp_calls_total", "Calls by method.", ("method", "status"))
    fam.labels("tools/call", "ok").inc(3)
    fam.labels('we"ird\\name\n', "error").inc()
    r.family("histogram", "mcp_call_seconds", "", ("method",)).labels("ping").observe(12)
    return r


EXPECTED_TEXT = """\
# HELP mcp_requests_total Requests received.
# TYPE mcp_requests_total counter
mcp_requests_total 3
# TYPE mcp_connections gauge
mcp_connections 2.5
# HELP mcp_latency_seconds Latency "quoted" \\\\ back\\nslash
# TYPE mcp_latency_seconds histogram
mcp_latency_seconds_bucket{le="1e-06"} 1
mcp_latency_seconds_bucket{le="2e-06"} 1
mcp_latency_seconds_bucket{le="5e-06"} 2
mcp_latency_seconds_bucket{le="1e-05"} 2
mcp_latency_seconds_bucket{le="2e-05"} 2
mcp_latency_seconds_bucket{le="5e-05"} 2
mcp_latency_seconds_bucket{le="0.0001"} 2
mcp_latency_seconds_bucket{le="0.0002"} 3
mcp_latency_seconds_bucket{le="0.0005"} 3
mcp_latency_seconds_bucket{le="0.001"} 3
mcp_latency_seconds_bucket{le="0.002"} 3
mcp_latency_seconds_bucket{le="0.005"} 4
mcp_latency_seconds_bucket{le="0.01"} 4
mcp_latency_seconds_bucket{le="0.02"} 4
mcp_latency_seconds_bucket{le="0.05"} 4
mcp_latency_seconds_bucket{le="0.1"} 4
mcp_latency_seconds_bucket{le="0.2"} 4
mcp_latency_seconds_bucket{le="0.5"} 4
mcp_latency_seconds_bucket{le="1.0"} 4
mcp_latency_seconds_bucket{le="2.0"} 4
mcp_latency_seconds_bucket{le="5.0"} 4
mcp_latency_seconds_bucket{le="10.0"} 4
mcp_latency_seconds_bucket{le="20.0"} 4
mcp_latency_seconds_bucket{le="50.0"} 4
mcp_latency_seconds_bucket{le="+Inf"} 5
mcp_latency_seconds_sum 1000.002654
mcp_latency_seconds_count 5
# HELP mcp_calls_total Calls by method.
# TYPE mcp_calls_total counter
mcp_calls_total{method="tools/call",status="ok"} 3
mcp_calls_total{method="we\\"ird\\\\name\\n",status="error"} 1
# TYPE mcp_call_seconds histogram
mcp_call_seconds_bucket{method="ping",le="1e-06"} 0
mcp_call_seconds_bucket{method="ping",le="2e-06"} 0
mcp_call_seconds_bucket{method="ping",le="5e-06"} 0
mcp_call_seconds_bucket{method="ping",le="1e-05"} 0
mcp_call_seconds_bucket{method="ping",le="2e-05"} 1
mcp_call_seconds_bucket{method="ping",le="5e-05"} 1
mcp_call_seconds_bucket{method="ping",le="0.0001"} 1
mcp_call_seconds_bucket{method="ping",le="0.0002"} 1
mcp_call_seconds_bucket{method="ping",le="0.0005"} 1
mcp_call_seconds_bucket{method="ping",le="0.001"} 1
mcp_call_seconds_bucket{method="ping",le="0.002"} 1
mcp_call_seconds_bucket{method="ping",le="0.005"} 1
mcp_call_seconds_bucket{method="ping",le="0.01"} 1
mcp_call_seconds_bucket{method="ping",le="0.02"} 1
mcp_call_seconds_bucket{method="ping",le="0.05"} 1
mcp_call_seconds_bucket{method="ping",le="0.1"} 1
mcp_call_seconds_bucket{method="ping",le="0.2"} 1
mcp_call_seconds_bucket{method="ping",le="0.5"} 1
mcp_call_seconds_bucket{method="ping",le="1.0"} 1
mcp_call_seconds_bucket{method="ping",le="2.0"} 1
mcp_call_seconds_bucket{method="ping",le="5.0"} 1
mcp_call_seconds_bucket{method="ping",le="10.0"} 1
mcp_call_seconds_bucket{method="ping",le="20.0"} 1
mcp_call_seconds_bucket{method="ping",le="50.0"} 1
mcp_call_seconds_bucket{method="ping",le="+Inf"} 1
mcp_call_seconds_sum{method="ping"} 1.2e-05
mcp_call_seconds_count{method="ping"} 1
"""


def test_prometheus_text_exact(counters: Any) -> None:
    assert small_registry(counters).prometheus_text() == EXPECTED_TEXT


_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE_LINE = re.compile(rf"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{{({_LABEL}(?:,{_LABEL})*)\}})? (\S+)")
COMMENT_LINE = re.compile(
    r"# (?:HELP [a-zA-Z_:][a-zA-Z0-9_:]* (?:[^\\\n]|\\[\\n])*"
    r"|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (?:counter|gauge|histogram))"
)


def parse_exposition(text: str) -> list[tuple[str, str, float]]:
    """Check every line's syntax (format 0.0.4) and return the samples."""
    assert text.endswith("\n")
    samples = []
    for line in text[:-1].split("\n"):
        if line.startswith("#"):
            assert COMMENT_LINE.fullmatch(line), line
            continue
        m = SAMPLE_LINE.fullmatch(line)
        assert m, line
        samples.append((m.group(1), m.group(2) or "", float(m.group(3))))
    return samples


def test_prometheus_text_is_parseable(counters: Any) -> None:
    r = small_registry(counters)
    g = r.gauge("weird_values")
    g.set(-math.inf)
    r.family("gauge", "g2", "", ("k",)).labels('\\\n"').set(math.nan)
    r.family("counter", "big_total", "", ("k",)).labels("x").inc(10**30)
    samples = parse_exposition(r.prometheus_text())
    names = {name for name, _, _ in samples}
    assert "weird_values" in names and "big_total" in names
    # histogram buckets are cumulative and end at the count
    for base in ("mcp_latency_seconds", "mcp_call_seconds"):
        buckets = [v for n, _, v in samples if n == f"{base}_bucket"]
        count = next(v for n, _, v in samples if n == f"{base}_count")
        assert buckets == sorted(buckets) and buckets[-1] == count
        assert len(buckets) == 25


def test_exported_bucket_counts_are_exact(counters: Any) -> None:
    rnd = random.Random(7)
    r = counters.Registry()
    h = r.histogram("lat_seconds")
    values = [10 ** rnd.uniform(-1, 8.2) for _ in range(2000)]
    for v in values:
        h.observe(v)
    samples = parse_exposition(r.prometheus_text())
    for _, labels, got in samples:
        if not labels.startswith("le=") or labels == 'le="+Inf"':
            continue
        le_seconds = float(labels[4:-1])
        le_us = round(le_seconds * 1e6)
        assert got == sum(1 for v in values if v <= le_us), labels


def test_snapshot_small_registry(counters: Any) -> None:
    snap = small_registry(counters).snapshot()
    json.dumps(snap, allow_nan=False)  # plain JSON types only
    assert snap["mcp_requests_total"] == {
        "kind": "counter",
        "help": "Requests received.",
        "value": 3,
    }
    assert snap["mcp_connections"] == {"kind": "gauge", "help": "", "value": 2.5}
    assert snap["mcp_latency_seconds"] == {
        "kind": "histogram",
        "help": 'Latency "quoted" \\ back\nslash',
        "count": 5,
        "sum": 1000002654.0,
        "p50": 150.0,
        "p90": 9e7,
        "p99": 9e7,
        "buckets": {"1": 1, "3": 1, "200": 1, "3000": 1, "+Inf": 1},
    }
    assert snap["mcp_calls_total"] == {
        "kind": "counter",
        "help": "Calls by method.",
        "labelnames": ["method", "status"],
        "max_series": 1000,
        "dropped": 0,
        "series": [
            {"labels": {"method": "tools/call", "status": "ok"}, "value": 3},
            {"labels": {"method": 'we"ird\\name\n', "status": "error"}, "value": 1},
        ],
    }
    assert snap["mcp_call_seconds"] == {
        "kind": "histogram",
        "help": "",
        "labelnames": ["method"],
        "max_series": 1000,
        "dropped": 0,
        "series": [
            {
                "labels": {"method": "ping"},
                "count": 1,
                "sum": 12.0,
                "p50": 15.0,
                "p90": 19.0,
                "p99": 10.0 + 10.0 * 0.99,
                "buckets": {"20": 1},
            }
        ],
    }
    assert list(snap) == [
        "mcp_requests_total",
        "mcp_connections",
        "mcp_latency_seconds",
        "mcp_calls_total",
        "mcp_call_seconds",
    ]


def test_snapshot_with_overflow(counters: Any) -> None:
    r = counters.Registry()
    f = r.family("gauge", "g", "", ("a",), max_series=1)
    f.labels("x").set(1)
    f.labels("y").set(2)
    snap = r.snapshot()["g"]
    assert snap["dropped"] == 1
    assert snap["series"] == [
        {"labels": {"a": "x"}, "value": 1},
        {"labels": {"a": "__overflow__"}, "value": 2},
    ]
    assert 'g{a="__overflow__"} 2\n' in r.prometheus_text()


def test_snapshot_is_a_copy(counters: Any) -> None:
    r = counters.Registry()
    c = r.counter("c_total")
    snap = r.snapshot()
    c.inc()
    assert snap["c_total"]["value"] == 0


def test_observe_since_counts_the_time_since_a_clock_reading(counters: Any) -> None:
    import time

    h = counters.Histogram("t_seconds")
    h.observe_since(time.perf_counter_ns() - 2_000_000)  # 2 ms ago
    assert h.count == 1 and 2000.0 <= h.sum < 2_000_000.0
    assert sum(h.buckets()[:18]) == 0  # not in a bucket at or below 1 ms
    h.observe_since(time.perf_counter_ns() + 10**12)  # a reading from the future: clamped to 0
    assert h.count == 2 and h.buckets()[0] == 1
    h.observe_since(10**30)  # beyond 64 bits: the same clamp
    assert h.buckets()[0] == 2
    h.observe_since(True)  # an int subclass is an int
    with pytest.raises(TypeError, match="observe_since\\(\\) takes an int"):
        h.observe_since(1.5)
    assert h.count == 4


def test_render_series_is_what_a_family_of_the_same_children_renders(counters: Any) -> None:
    # histograms kept by their owners (a tool's own), exported under one labelled name
    h1, h2 = counters.Histogram("a"), counters.Histogram("b")
    for v in (3, 70, 70_000):
        h1.observe(v)
    h2.observe(0.5)
    r = counters.Registry()
    fam = r.family("histogram", "tool_seconds", "Per tool.", ("tool",))
    for v in (3, 70, 70_000):
        fam.labels('a"1').observe(v)
    fam.labels("b").observe(0.5)
    text = counters.render_series("histogram", "tool_seconds", "Per tool.", ("tool",), [(('a"1',), h1), (("b",), h2)])
    assert text == r.prometheus_text()
    assert counters.render_series("counter", "n_total", "", (), []) == "# TYPE n_total counter\n"
    c = counters.Counter("x")
    c.inc(4)
    assert counters.render_series("counter", "n_total", "", ("k",), [(("v",), c)]) == (
        '# TYPE n_total counter\nn_total{k="v"} 4\n')


def test_render_series_errors(counters: Any) -> None:
    h = counters.Histogram("h")
    with pytest.raises(ValueError, match="kind must be"):
        counters.render_series("summary", "x", "", (), [])
    with pytest.raises(ValueError, match="invalid metric name"):
        counters.render_series("histogram", "x-y", "", (), [])
    with pytest.raises(ValueError, match="reserved"):
        counters.render_series("histogram", "x", "", ("le",), [])
    with pytest.raises(ValueError, match="got 2 values for 1"):
        counters.render_series("histogram", "x", "", ("a",), [(("1", "2"), h)])
    with pytest.raises(TypeError, match="label values must be str"):
        counters.render_series("histogram", "x", "", ("a",), [((1,), h)])
    with pytest.raises(TypeError, match="expected histogram metrics, got Counter"):
        counters.render_series("histogram", "x", "", ("a",), [(("1",), counters.Counter("c"))])


# --------------------------------------------------------------------------------------------
# The selector


def test_selector_exports_one_twin() -> None:
    assert set(counters_selector.__all__) == {
        "BUCKET_BOUNDS_US",
        "OVERFLOW_LABEL",
        "Counter",
        "Gauge",
        "Histogram",
        "Family",
        "OperationKeys",
        "OperationSlot",
        "Registry",
        "RequestTimer",
        "render_series",
    }
    module = counters_selector.Counter.__module__
    assert module in ("mcpfast.wire._counters", "mcpfast.wire._counters_py")
    for name in ("Gauge", "Histogram", "Family", "OperationKeys", "Registry", "RequestTimer"):
        assert getattr(counters_selector, name).__module__ == module
