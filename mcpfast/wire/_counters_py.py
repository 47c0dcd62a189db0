"""Counters, gauges, latency histograms and label families, with a snapshot and Prometheus text
(pure-Python twin).

This module is the specification of ``mcpfast.wire.counters``: the compiled twin
``_counters.pyx`` has the same names, signatures, results, exception classes and message texts,
and renders byte-identical Prometheus text.

* ``Counter`` only goes up, ``Gauge`` goes anywhere. Their value is an ``int`` while only ints
  were added and becomes a ``float`` at the first float, exactly as Python's ``+=`` would
  (a value never switches back to int except through ``Gauge.set``). Increments must be
  ``int`` or ``float`` (subclasses such as ``bool`` or ``IntEnum`` are converted first).
* ``Histogram`` counts latencies in microseconds into fixed log-linear buckets: upper bounds
  1, 2, ..., 9 x 10^d for d in 0..7 (1 us .. 90 s) and +Inf, ``BUCKET_BOUNDS_US``. A bucket
  holds the observations ``v`` with ``bound[i-1] < v <= bound[i]`` (Prometheus ``le``).
  Fixed buckets mean one array increment per observation and no allocation; the price is
  resolution: a percentile is exact to within its bucket (at worst 1/1 .. 1/9 of a decade wide).
* ``Family`` is a metric with labels, e.g. requests by method. The number of series is bounded
  (``max_series``): past it, new label combinations share one overflow child whose label values
  are all ``"__overflow__"``, and ``dropped`` counts the calls that landed there, so a client
  sending random method names cannot grow the process without bound.
* ``Registry`` owns metrics by name; ``snapshot()`` gives a plain dict and ``prometheus_text()``
  the text exposition format 0.0.4.

Prometheus export conventions: histograms record microseconds, but are exported in seconds
(the Prometheus base unit): ``le`` bounds and ``_sum`` are divided by 10^6, so name histograms
``..._seconds``. Only the bounds 1, 2 and 5 x 10^d are exported (24 buckets plus +Inf rather
than 72); their cumulative counts are exact, since they are a subset of the fine bounds.
Counter names should end in ``_total``; this is not enforced. Numbers are written with
``repr`` (ints as digits, floats as Python's shortest round-trip form), non-finite floats as
``+Inf``, ``-Inf`` and ``NaN``. Metrics and series come out in creation order.

Thread safety: metrics are meant to be updated from one event-loop thread. Under free-threaded
CPython neither twin is atomic (an increment is a read-modify-write): concurrent updates from
several threads may be lost. Keep one registry per thread, or update under a lock.
"""

from __future__ import annotations

import math
import re
import types
from bisect import bisect_left
from collections.abc import Callable, Iterable
from operator import index
from time import perf_counter_ns as _perf_counter_ns
from typing import Any, ClassVar, Generic, Literal, TypeVar, overload

__all__ = [
    "BUCKET_BOUNDS_US",
    "OVERFLOW_LABEL",
    "Counter",
    "Family",
    "Gauge",
    "Histogram",
    "OperationKeys",
    "OperationSlot",
    "Registry",
    "RequestTimer",
    "render_series",
]

BUCKET_BOUNDS_US: tuple[float, ...] = tuple(
    float(k * 10**d) for d in range(8) for k in range(1, 10)
) + (math.inf,)
"""Upper bounds of the histogram buckets in microseconds: 1, 2, ..., 9, 10, 20, ..., 9e7, +Inf."""

OVERFLOW_LABEL = "__overflow__"
"""The label value of a family's overflow child (every label has it)."""

_N_BUCKETS = len(BUCKET_BOUNDS_US)  # 73
_TOP_FINITE = BUCKET_BOUNDS_US[-2]  # 9e7: what a percentile in the +Inf bucket reports
# Snapshot keys of the buckets: the bound in whole microseconds, "+Inf" for the last.
_BUCKET_KEYS: tuple[str, ...] = tuple(str(int(b)) for b in BUCKET_BOUNDS_US[:-1]) + ("+Inf",)
# Exported Prometheus buckets: (fine bucket index, le in seconds) for the bounds 1, 2, 5 x 10^d.
_EXPORT_LE: tuple[tuple[int, str], ...] = tuple(
    (9 * d + k - 1, repr(k * 10**d / 1e6)) for d in range(8) for k in (1, 2, 5)
)

_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_KINDS = ("counter", "gauge", "histogram")

Number = int | float
_CoroutineType = types.CoroutineType
_NO_REENTRY: Any = object()  # RequestTimer.on_request's third argument when not given


# ----------------------------------------------------------------------------------------------
# Validation and formatting, shared by every class below (the compiled twin has copies).


def _check_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"metric name must be a str, got {type(name).__name__}")
    if _NAME_RE.fullmatch(name) is None:
        raise ValueError(f"invalid metric name {name!r}: must match [a-zA-Z_:][a-zA-Z0-9_:]*")
    return name


def _check_help(help: str) -> str:
    if not isinstance(help, str):
        raise TypeError(f"help must be a str, got {type(help).__name__}")
    return help


def _number(n: Any, owner: str, name: str, method: str) -> Number:
    """``n`` as an exact int or float; TypeError for anything else.

    Subclasses are converted (``True`` -> 1, an IntEnum -> its int) so that the stored value
    is always a plain number, whatever was passed.
    """
    if isinstance(n, int):
        return int(n)
    if isinstance(n, float):
        return float(n)
    raise TypeError(f"{owner} {name!r}: {method}() takes an int or float, got {type(n).__name__}")


def _format_value(v: Number) -> str:
    """A sample value as the exposition format writes it (Python repr; Prometheus infinities)."""
    if type(v) is int:
        return repr(v)
    if math.isnan(v):
        return "NaN"
    if v == math.inf:
        return "+Inf"
    if v == -math.inf:
        return "-Inf"
    return repr(v)


def _escape_label(value: str) -> str:
    # Exposition format 0.0.4: in label values, backslash, double quote and line feed are escaped.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    # Exposition format 0.0.4: in HELP text, backslash and line feed are escaped (quotes are not).
    return text.replace("\\", "\\\\").replace("\n", "\\n")


# ----------------------------------------------------------------------------------------------
# Metrics


class _Scalar:
    """What a counter and a gauge share: a name, a help text and one number."""

    __slots__ = ("_help", "_name", "_value")
    kind: ClassVar[str]

    def __init__(self, name: str, help: str = "") -> None:
        self._name = _check_name(name)
        self._help = _check_help(help)
        self._value: Number = 0

    @property
    def value(self) -> Number:
        """The current value (an int until a float is added)."""
        return self._value

    @property
    def name(self) -> str:
        return self._name

    @property
    def help(self) -> str:
        return self._help

    def snapshot(self) -> dict[str, Any]:
        """``{"kind": "counter" | "gauge", "help": ..., "value": ...}``."""
        return {"kind": self.kind, "help": self._help, "value": self._value}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r} value={self._value!r}>"


class Counter(_Scalar):
    """A number that only goes up: requests served, bytes received.

    ``inc(n)`` adds ``n`` (default 1); a negative or NaN ``n`` is a ValueError and leaves the
    value unchanged.
    """

    __slots__ = ()
    kind: ClassVar[str] = "counter"

    def inc(self, n: Number = 1) -> None:
        """Add ``n`` >= 0."""
        if type(n) is not int and type(n) is not float:
            n = _number(n, "Counter", self._name, "inc")
        if not n >= 0:  # catches NaN too
            raise ValueError(f"Counter {self._name!r} can only increase, got inc({n!r})")
        self._value += n


class Gauge(_Scalar):
    """A number that goes up and down: connections open, requests in flight."""

    __slots__ = ()
    kind: ClassVar[str] = "gauge"

    def set(self, v: Number) -> None:
        """Make the value ``v`` (any int or float, NaN and infinities included)."""
        if type(v) is not int and type(v) is not float:
            v = _number(v, "Gauge", self._name, "set")
        self._value = v

    def inc(self, n: Number = 1) -> None:
        """Add ``n`` (may be negative)."""
        if type(n) is not int and type(n) is not float:
            n = _number(n, "Gauge", self._name, "inc")
        self._value += n

    def dec(self, n: Number = 1) -> None:
        """Subtract ``n`` (may be negative)."""
        if type(n) is not int and type(n) is not float:
            n = _number(n, "Gauge", self._name, "dec")
        self._value -= n


class Histogram:
    """Latencies in microseconds, counted in the fixed buckets ``BUCKET_BOUNDS_US``.

    ``observe(us)`` takes an int or float; a negative value counts as 0 (clocks can step back),
    NaN is a ValueError, +Inf lands in the +Inf bucket. ``count`` and ``sum`` are the number and
    the (float) sum of the observations after clamping.
    """

    __slots__ = ("_count", "_counts", "_help", "_name", "_sum")
    kind: ClassVar[str] = "histogram"

    def __init__(self, name: str, help: str = "") -> None:
        self._name = _check_name(name)
        self._help = _check_help(help)
        self._counts = [0] * _N_BUCKETS
        self._count = 0
        self._sum = 0.0

    def observe(self, us: float) -> None:
        """Count one observation of ``us`` microseconds."""
        if type(us) is not float:
            if not isinstance(us, (int, float)):
                raise TypeError(
                    f"Histogram {self._name!r}: observe() takes an int or float, "
                    f"got {type(us).__name__}"
                )
            us = float(us)  # OverflowError for an int beyond the float range, as float() says
        if not us >= 0.0:
            if math.isnan(us):
                raise ValueError(f"Histogram {self._name!r} cannot observe nan")
            us = 0.0
        # bisect_left: the first bound >= us, i.e. the bucket with bound[i-1] < us <= bound[i].
        self._counts[bisect_left(BUCKET_BOUNDS_US, us)] += 1
        self._count += 1
        self._sum += us

    def observe_since(self, t0_ns: int) -> None:
        """Count the time since ``t0_ns``, a ``time.perf_counter_ns()`` reading, in
        microseconds: ``observe((perf_counter_ns() - t0_ns) * 0.001)`` in one call, the
        clock read inside (what a request timer does on every request)."""
        if not isinstance(t0_ns, int):
            raise TypeError(
                f"Histogram {self._name!r}: observe_since() takes an int (perf_counter_ns), "
                f"got {type(t0_ns).__name__}"
            )
        self.observe((_perf_counter_ns() - t0_ns) * 0.001)

    @property
    def count(self) -> int:
        """Observations so far."""
        return self._count

    @property
    def sum(self) -> float:
        """Sum of the observations, in microseconds."""
        return self._sum

    @property
    def bucket_bounds(self) -> tuple[float, ...]:
        """``BUCKET_BOUNDS_US``."""
        return BUCKET_BOUNDS_US

    @property
    def name(self) -> str:
        return self._name

    @property
    def help(self) -> str:
        return self._help

    def buckets(self) -> tuple[int, ...]:
        """Per-bucket (not cumulative) counts, one per ``BUCKET_BOUNDS_US`` entry."""
        return tuple(self._counts)

    def percentile(self, q: float) -> float:
        """Estimate the ``q``-quantile (0 < q <= 1) in microseconds; 0.0 when empty.

        The rank ``q * count`` is located in the cumulative counts and the value interpolated
        linearly inside its bucket, as Prometheus' ``histogram_quantile`` does: the first
        bucket spans [0, 1], and a rank in the +Inf bucket reports the top finite bound
        (9e7). The true quantile lies in the same bucket as the estimate.
        """
        if type(q) is not float:
            if not isinstance(q, (int, float)):
                raise TypeError(f"percentile q must be a float, got {type(q).__name__}")
            q = float(q)
        if not 0.0 < q <= 1.0:
            raise ValueError(f"percentile q must be in (0, 1], got {q!r}")
        count = self._count
        if count == 0:
            return 0.0
        rank = q * count  # 0 < rank <= count, so the loop below always stops at a bucket
        cum = 0
        counts = self._counts
        i = 0
        for i in range(_N_BUCKETS):
            n = counts[i]
            if n and cum + n >= rank:
                break
            cum += n
        lower = 0.0 if i == 0 else BUCKET_BOUNDS_US[i - 1]
        if i == _N_BUCKETS - 1:
            return lower
        upper = BUCKET_BOUNDS_US[i]
        return lower + (upper - lower) * ((rank - cum) / counts[i])

    def snapshot(self) -> dict[str, Any]:
        """``kind``, ``help``, ``count``, ``sum``, ``p50``/``p90``/``p99`` and the non-empty
        ``buckets`` keyed by their bound in microseconds (``"+Inf"`` for the last)."""
        return {
            "kind": "histogram",
            "help": self._help,
            "count": self._count,
            "sum": self._sum,
            "p50": self.percentile(0.5),
            "p90": self.percentile(0.9),
            "p99": self.percentile(0.99),
            "buckets": {_BUCKET_KEYS[i]: n for i, n in enumerate(self._counts) if n},
        }

    def __repr__(self) -> str:
        return f"<Histogram {self._name!r} count={self._count} sum={self._sum!r}>"


Metric = Counter | Gauge | Histogram
M = TypeVar("M", Counter, Gauge, Histogram)
_CLASSES: dict[str, type[Metric]] = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}


def _kind_name(kind: Any) -> str:
    if isinstance(kind, str):
        if kind in _KINDS:
            return kind
    elif kind is Counter or kind is Gauge or kind is Histogram:
        return kind.kind
    raise ValueError(f"kind must be 'counter', 'gauge' or 'histogram', got {kind!r}")


def _check_labelnames(labelnames: Iterable[str], kind: str) -> tuple[str, ...]:
    if isinstance(labelnames, str):
        # ("method") is a str, not a 1-tuple: a classic slip that would give one label per letter
        raise TypeError("labelnames must be a tuple of str, got str")
    names = tuple(labelnames)
    for ln in names:
        if not isinstance(ln, str):
            raise TypeError(f"label names must be str, got {type(ln).__name__}")
        if _LABEL_RE.fullmatch(ln) is None or ln.startswith("__"):
            raise ValueError(
                f"invalid label name {ln!r}: must match [a-zA-Z_][a-zA-Z0-9_]* "
                "and not start with '__'"
            )
        if ln == "le" and kind == "histogram":
            raise ValueError("label name 'le' is reserved for histogram buckets")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate label names in {names!r}")
    return names


class Family(Generic[M]):
    """A metric with labels: one child ``Counter``/``Gauge``/``Histogram`` per label values.

    ``labels(*values)`` returns the child for those values (the same object every time: keep
    it to skip even the dict lookup). Values are str, one per label name; a wrong number is a
    ValueError. Past ``max_series`` distinct combinations, new ones all get the overflow child
    (label values ``"__overflow__"``) and ``dropped`` grows by one per such call; a
    combination seen before the limit keeps its own child for ever. ``max_series=0`` sends
    everything to the overflow child.
    """

    __slots__ = (
        "_children",
        "_cls",
        "_dropped",
        "_help",
        "_kind",
        "_labelnames",
        "_max_series",
        "_name",
        "_overflow",
        "_overflow_values",
    )

    @overload
    def __init__(
        self: Family[Counter],
        kind: type[Counter] | Literal["counter"],
        name: str,
        help: str = "",
        labelnames: Iterable[str] = (),
        max_series: int = 1000,
    ) -> None: ...
    @overload
    def __init__(
        self: Family[Gauge],
        kind: type[Gauge] | Literal["gauge"],
        name: str,
        help: str = "",
        labelnames: Iterable[str] = (),
        max_series: int = 1000,
    ) -> None: ...
    @overload
    def __init__(
        self: Family[Histogram],
        kind: type[Histogram] | Literal["histogram"],
        name: str,
        help: str = "",
        labelnames: Iterable[str] = (),
        max_series: int = 1000,
    ) -> None: ...
    def __init__(
        self,
        kind: type[Metric] | str,
        name: str,
        help: str = "",
        labelnames: Iterable[str] = (),
        max_series: int = 1000,
    ) -> None:
        self._kind = _kind_name(kind)
        self._cls = _CLASSES[self._kind]
        self._name = _check_name(name)
        self._help = _check_help(help)
        self._labelnames = _check_labelnames(labelnames, self._kind)
        max_series = index(max_series)
        if max_series < 0:
            raise ValueError(f"max_series must be >= 0, got {max_series}")
        self._max_series = max_series
        self._children: dict[tuple[str, ...], M] = {}
        self._overflow: M | None = None
        self._overflow_values = (OVERFLOW_LABEL,) * len(self._labelnames)
        self._dropped = 0

    def labels(self, *values: str) -> M:
        """The child for these label values (created on first use, or the overflow child)."""
        child = self._children.get(values)
        if child is None:
            child = self._new_child(values)
        return child

    def _new_child(self, values: tuple[str, ...]) -> M:
        # The slow path of labels(): only reached for combinations not seen (or not stored).
        if len(values) != len(self._labelnames):
            raise ValueError(
                f"Family {self._name!r} has label names {self._labelnames!r}, "
                f"got {len(values)} values for {len(self._labelnames)}"
            )
        for v in values:
            if not isinstance(v, str):
                raise TypeError(f"label values must be str, got {type(v).__name__}")
        if values == self._overflow_values:
            # Asked for by name: the overflow child itself, not a second series with its labels.
            return self._get_overflow()
        if len(self._children) >= self._max_series:
            self._dropped += 1
            return self._get_overflow()
        child: M = self._cls(self._name, self._help)  # type: ignore[assignment]
        self._children[values] = child
        return child

    def _get_overflow(self) -> M:
        if self._overflow is None:
            self._overflow = self._cls(self._name, self._help)  # type: ignore[assignment]
        return self._overflow  # type: ignore[return-value]

    def series(self) -> list[tuple[tuple[str, ...], M]]:
        """``(label values, child)`` pairs in creation order, the overflow child (if any) last."""
        out = list(self._children.items())
        if self._overflow is not None:
            out.append((self._overflow_values, self._overflow))
        return out

    @property
    def kind(self) -> str:
        """``"counter"``, ``"gauge"`` or ``"histogram"``."""
        return self._kind

    @property
    def name(self) -> str:
        return self._name

    @property
    def help(self) -> str:
        return self._help

    @property
    def labelnames(self) -> tuple[str, ...]:
        return self._labelnames

    @property
    def max_series(self) -> int:
        """Distinct label combinations kept before the overflow child takes over."""
        return self._max_series

    @property
    def dropped(self) -> int:
        """Calls to ``labels()`` with a new combination that went to the overflow child."""
        return self._dropped

    def __len__(self) -> int:
        """Distinct series kept, not counting the overflow child."""
        return len(self._children)

    def snapshot(self) -> dict[str, Any]:
        """``kind``, ``help``, ``labelnames``, ``max_series``, ``dropped`` and ``series``: a list
        of ``{"labels": {name: value}, ...the child's snapshot without kind and help}``."""
        labelnames = self._labelnames
        series = []
        for values, child in self.series():
            entry: dict[str, Any] = {"labels": dict(zip(labelnames, values))}
            snap = child.snapshot()
            del snap["kind"], snap["help"]
            entry.update(snap)
            series.append(entry)
        return {
            "kind": self._kind,
            "help": self._help,
            "labelnames": list(labelnames),
            "max_series": self._max_series,
            "dropped": self._dropped,
            "series": series,
        }

    def __repr__(self) -> str:
        return (
            f"<Family {self._kind} {self._name!r} labelnames={self._labelnames!r} "
            f"series={len(self._children)} dropped={self._dropped}>"
        )


# ----------------------------------------------------------------------------------------------
# Exposition


def _render(out: list[str], name: str, help: str, kind: str, series: list[tuple[str, Any]]) -> None:
    """Append the exposition lines of one metric; ``series`` pairs a rendered label set
    (``a="x",b="y"`` or "") with a Counter/Gauge/Histogram."""
    if help:
        out.append(f"# HELP {name} {_escape_help(help)}\n")
    out.append(f"# TYPE {name} {kind}\n")
    for lbl, m in series:
        if kind != "histogram":
            braces = f"{{{lbl}}}" if lbl else ""
            out.append(f"{name}{braces} {_format_value(m.value)}\n")
            continue
        prefix = f"{lbl}," if lbl else ""
        braces = f"{{{lbl}}}" if lbl else ""
        counts = m.buckets()
        cum = 0
        j = 0
        for i, le in _EXPORT_LE:
            while j <= i:
                cum += counts[j]
                j += 1
            out.append(f'{name}_bucket{{{prefix}le="{le}"}} {cum}\n')
        out.append(f'{name}_bucket{{{prefix}le="+Inf"}} {m.count}\n')
        out.append(f"{name}_sum{braces} {_format_value(m.sum / 1e6)}\n")
        out.append(f"{name}_count{braces} {m.count}\n")


def _render_labels(labelnames: tuple[str, ...], values: tuple[str, ...]) -> str:
    return ",".join(f'{ln}="{_escape_label(v)}"' for ln, v in zip(labelnames, values))


def render_series(
    kind: str,
    name: str,
    help: str,
    labelnames: Iterable[str],
    series: Iterable[tuple[tuple[str, ...], Counter | Gauge | Histogram]],
) -> str:
    """The exposition text of one metric made of metrics kept elsewhere, without copying them.

    For numbers recorded by their owner (a tool's own latency histogram) that an exporter
    shows under one labelled name: ``series`` pairs label values (one str per label name)
    with a ``Counter``, ``Gauge`` or ``Histogram`` of ``kind``; the text is what a
    ``Family`` holding those children would render. Wrong kinds, names or label counts are
    TypeError/ValueError, as for ``Family``.
    """
    kind = _kind_name(kind)
    _check_name(name)
    _check_help(help)
    names = _check_labelnames(labelnames, kind)
    cls = _CLASSES[kind]
    rendered: list[tuple[str, Any]] = []
    for values, m in series:
        values = tuple(values)
        if len(values) != len(names):
            raise ValueError(
                f"render_series {name!r} has label names {names!r}, "
                f"got {len(values)} values for {len(names)}"
            )
        for v in values:
            if not isinstance(v, str):
                raise TypeError(f"label values must be str, got {type(v).__name__}")
        if type(m) is not cls:
            raise TypeError(f"render_series {name!r}: expected {kind} metrics, got {type(m).__name__}")
        rendered.append((_render_labels(names, values), m))
    out: list[str] = []
    _render(out, name, help, kind, rendered)
    return "".join(out)


class Registry:
    """Metrics by name, in creation order.

    ``counter``/``gauge``/``histogram``/``family`` create and register a metric, or return the
    one already registered under that name when it is of the same kind (a family: same kind
    and label names; its help and max_series are those of the first registration). Another
    kind under a taken name is a ValueError.
    """

    __slots__ = ("_metrics",)

    def __init__(self) -> None:
        self._metrics: dict[str, Metric | Family[Any]] = {}

    def counter(self, name: str, help: str = "") -> Counter:
        """The counter ``name``, created on first call."""
        return self._get_or_add(Counter, name, help)  # type: ignore[return-value]

    def gauge(self, name: str, help: str = "") -> Gauge:
        """The gauge ``name``, created on first call."""
        return self._get_or_add(Gauge, name, help)  # type: ignore[return-value]

    def histogram(self, name: str, help: str = "") -> Histogram:
        """The histogram ``name`` (microseconds; exported in seconds), created on first call."""
        return self._get_or_add(Histogram, name, help)  # type: ignore[return-value]

    def _get_or_add(self, cls: type[Metric], name: str, help: str) -> Metric:
        _check_name(name)
        existing = self._metrics.get(name)
        if existing is None:
            metric = cls(name, help)
            self._metrics[name] = metric
            return metric
        if type(existing) is not cls:
            raise ValueError(
                f"metric {name!r} is already registered as a {_describe(existing)}, "
                f"not a {cls.kind}"
            )
        return existing

    @overload
    def family(
        self,
        kind: type[Counter] | Literal["counter"],
        name: str,
        help: str = "",
        labelnames: Iterable[str] = (),
        max_series: int = 1000,
    ) -> Family[Counter]: ...
    @overload
    def family(
        self,
        kind: type[Gauge] | Literal["gauge"],
        name: str,
        help: str = "",
        labelnames: Iterable[str] = (),
        max_series: int = 1000,
    ) -> Family[Gauge]: ...
    @overload
    def family(
        self,
        kind: type[Histogram] | Literal["histogram"],
        name: str,
        help: str = "",
        labelnames: Iterable[str] = (),
        max_series: int = 1000,
    ) -> Family[Histogram]: ...
    def family(
        self,
        kind: type[Metric] | str,
        name: str,
        help: str = "",
        labelnames: Iterable[str] = (),
        max_series: int = 1000,
    ) -> Family[Any]:
        """The labelled family ``name``, created on first call (see ``Family``)."""
        _check_name(name)
        existing = self._metrics.get(name)
        if existing is None:
            # The overloads of Family want a literal kind; here it is only known at run time.
            make: Any = Family
            fam: Family[Any] = make(kind, name, help, labelnames, max_series)
            self._metrics[name] = fam
            return fam
        kind_name = _kind_name(kind)
        if type(existing) is not Family or existing.kind != kind_name:
            raise ValueError(
                f"metric {name!r} is already registered as a {_describe(existing)}, "
                f"not a {kind_name} family"
            )
        names = _check_labelnames(labelnames, kind_name)
        if names != existing.labelnames:
            raise ValueError(
                f"metric {name!r} is already registered with label names "
                f"{existing.labelnames!r}, not {names!r}"
            )
        return existing

    def get(self, name: str) -> Metric | Family[Any] | None:
        """The metric registered as ``name``, or None."""
        return self._metrics.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._metrics

    def __len__(self) -> int:
        return len(self._metrics)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every metric's ``snapshot()`` by name: plain dicts, lists, str, int and float.

        It is JSON-serialisable as long as no value is infinite or NaN (a gauge set so, or
        an observed +Inf); those stay Python floats, which strict JSON encoders refuse.
        """
        return {name: m.snapshot() for name, m in self._metrics.items()}

    def prometheus_text(self) -> str:
        """The text exposition format 0.0.4 (``Content-Type: text/plain; version=0.0.4``)."""
        out: list[str] = []
        for name, m in self._metrics.items():
            if type(m) is Family:
                ln = m.labelnames
                series = [(_render_labels(ln, values), child) for values, child in m.series()]
                _render(out, name, m.help, m.kind, series)
            else:
                _render(out, name, m.help, m.kind, [("", m)])
        return "".join(out)

    def __repr__(self) -> str:
        return f"<Registry metrics={len(self._metrics)}>"


def _describe(m: Any) -> str:
    return f"{m.kind} family" if type(m) is Family else m.kind


class OperationKeys:
    """The histogram child of one MCP request, found from its raw label values and cached.

    ``child(peer, request, error_type)`` reads the five raw values of the operations'
    labels: ``request.method``; the tool's name (``params["name"]``, only when the method is
    ``tool_method``; ``None`` when it is not a str); ``error_type``; ``peer.network_transport``;
    the protocol version, as the server core tells the two protocol eras apart: a request whose
    ``params["_meta"]`` is a dict holding ``version_key`` is a modern (per-request envelope)
    one, labelled with that value (``""`` when it is not a str); any other is a legacy request,
    labelled with its session's version (``peer.state.protocol_version``; ``""`` with no
    ``peer.state``, before ``initialize``). The tuple of the five is the key into a cache of
    children; a key not cached is given to ``resolve(key)``, which bounds the values and
    returns the child, kept while fewer than ``max_size`` are cached.

    The last key found in the cache and its child are kept aside: a request whose five values
    equal them (``==``, as the cache's own lookup compares) gets that child without a key tuple
    being built, hashed and looked up (a connection mostly repeats one method and tool).

    A legacy request's transport and version are read once per (peer, state) pair: while the
    request comes from the same peer with the same ``peer.state`` object as the last legacy
    request, the ``network_transport`` and ``protocol_version`` read then are used again (a
    transport names itself when it makes the peer; a session's version is fixed when it is
    negotiated; a new session is a new state). That pair is held until another replaces it
    or ``clear()``; it saves two attribute reads per request, a third of what metrics cost.

    ``slot(method, tool)`` gives the ``OperationSlot`` of a (method, tool) pair the dispatcher
    has already resolved: it finds the same children without reading the request's method,
    name or ``_meta`` (see ``RequestTimer.resolved``).

    ``RequestTimer`` calls it once per request; the compiled twin does the same reads without
    the interpreter's dispatch (the largest part of what metrics cost a request).
    """

    __slots__ = ("_children", "_resolve", "_max", "_tool_method", "_version_key", "_last", "_last_child",
                 "_peer_memo", "_generation")

    def __init__(self, resolve: Callable[[tuple[Any, ...]], Any], *, tool_method: str, version_key: str,
                 max_size: int = 4096) -> None:
        self._children: dict[tuple[Any, ...], Any] = {}
        self._resolve = resolve
        self._max = max_size
        self._tool_method = tool_method
        self._version_key = version_key
        # the last key served from (or put into) the cache, and its child; None: no such key
        self._last: tuple[Any, ...] | None = None
        self._last_child: Any = None
        # (peer, state, transport, version) of the last legacy request; None: none yet
        self._peer_memo: tuple[Any, Any, Any, Any] | None = None
        # bumped by clear(): a slot's kept child from an older generation is not used
        self._generation = 0

    def child(self, peer: Any, request: Any, error_type: str) -> Any:
        method = request.method
        params = request.params
        tool: Any = ""
        meta: Any = None
        if type(params) is dict:
            if method == self._tool_method:
                tool = params.get("name")
                if type(tool) is not str:
                    tool = None  # not a name (and hashable)
            meta = params.get("_meta")
        transport, version = self.transport_version(peer, meta)
        last = self._last
        if (last is not None and (last[0] is method or last[0] == method) and (last[1] is tool or last[1] == tool)
                and (last[2] is error_type or last[2] == error_type)
                and (last[3] is transport or last[3] == transport) and (last[4] is version or last[4] == version)):
            return self._last_child
        key = (method, tool, error_type, transport, version)
        child = self._children.get(key)
        if child is None:
            child = self._resolve(key)
            if len(self._children) >= self._max:
                return child  # not cached, so not kept aside either: resolved again next time
            self._children[key] = child
        self._last = key
        self._last_child = child
        return child

    def transport_version(self, peer: Any, meta: Any) -> tuple[Any, Any]:
        """The raw transport and version labels of a request from ``peer`` whose
        ``params["_meta"]`` is ``meta`` (None: it has none), as ``child`` reads them."""
        if type(meta) is dict and self._version_key in meta:  # a modern request: its own version
            version = meta[self._version_key]
            return peer.network_transport, version if type(version) is str else ""
        # a legacy request: its session's version (none before initialize)
        state = peer.state
        memo = self._peer_memo
        if memo is not None and memo[0] is peer and memo[1] is state:
            return memo[2], memo[3]
        version = state.protocol_version if state is not None else ""
        transport = peer.network_transport
        self._peer_memo = (peer, state, transport, version)
        return transport, version

    def find(self, key: tuple[Any, ...]) -> Any:
        """The child of a raw key (method, tool, error type, transport, version): cached, or
        resolved (and cached while there is room). No last-key memo: a slot keeps its own."""
        child = self._children.get(key)
        if child is None:
            child = self._resolve(key)
            if len(self._children) < self._max:
                self._children[key] = child
        return child

    def slot(self, method: str, tool: str) -> OperationSlot:
        """The ``OperationSlot`` of requests the dispatcher resolved to ``method`` and ``tool``
        (``""`` for a method that names no tool): these label values, as given."""
        return OperationSlot(self, method, tool)

    @property
    def generation(self) -> int:
        """How many times ``clear()`` ran: a slot's kept child from another generation is stale."""
        return self._generation

    def clear(self) -> None:
        """Forget every cached child (what a key resolves to changed), the slots' kept ones too."""
        self._children.clear()
        self._last = None
        self._last_child = None
        self._peer_memo = None
        self._generation += 1

    def __len__(self) -> int:
        return len(self._children)


class OperationSlot:
    """The children of one (method, tool) pair the dispatcher has already resolved.

    The server core looks the tool of a ``tools/call`` up anyway; it hands this slot (kept on
    its ``Tool``) to the ``RequestTimer`` with the request's session (``RequestTimer.resolved``),
    so the timer reads neither the method, the tool's name nor ``_meta`` out of the request.

    ``child(peer, request, session, error_type)`` is ``OperationKeys.child`` for a request with
    this method and tool: the same key, cache and children. ``session`` is the request's
    legacy session (``peer.state``) as the dispatcher read it, or None for any other request,
    whose transport and version are then read as ``OperationKeys.child`` reads them. With a
    session the last (peer, session, error type) and its child are kept here: a repeat of them
    is one identity check per value, and no attribute read.
    """

    __slots__ = ("_keys", "_method", "_tool", "_generation", "_peer", "_session", "_error", "_transport",
                 "_version", "_child")

    def __init__(self, keys: OperationKeys, method: str, tool: str) -> None:
        self._keys = keys
        self._method = method
        self._tool = tool
        # the kept (peer, session, error type) -> child, valid while _generation is the keys'
        self._generation = -1
        self._peer: Any = None
        self._session: Any = None
        self._error: Any = None
        self._transport: Any = None
        self._version: Any = None
        self._child: Any = None

    @property
    def method(self) -> str:
        """The method label value (raw: bounded when a child is resolved)."""
        return self._method

    @property
    def tool(self) -> str:
        """The tool label value (raw)."""
        return self._tool

    def child(self, peer: Any, request: Any, session: Any, error_type: str) -> Any:
        """The histogram child of ``request`` from ``peer`` in ``session`` (the class docstring)."""
        keys = self._keys
        if session is None:  # not a legacy session's request: read as OperationKeys does
            params = request.params
            transport, version = keys.transport_version(peer, params.get("_meta") if type(params) is dict else None)
            return keys.find((self._method, self._tool, error_type, transport, version))
        if peer is self._peer and session is self._session and self._generation == keys.generation:
            if self._error is error_type or self._error == error_type:
                return self._child
            transport, version = self._transport, self._version
        else:
            transport, version = peer.network_transport, session.protocol_version
        child = keys.find((self._method, self._tool, error_type, transport, version))
        self._generation = keys.generation
        self._peer, self._session, self._error = peer, session, error_type
        self._transport, self._version, self._child = transport, version, child
        return child


class _Settle:
    """The done callback of a request answered through a future or ``Deferred``: records it
    with the answer's outcome (``RequestTimer.done``). One small object, not a closure."""

    __slots__ = ("_timer", "_peer", "_request", "_t0", "_slot", "_session")

    def __init__(self, timer: RequestTimer, peer: Any, request: Any, t0: int, slot: OperationSlot | None,
                 session: Any) -> None:
        self._timer = timer
        self._peer = peer
        self._request = request
        self._t0 = t0
        self._slot = slot
        self._session = session

    def __call__(self, fut: Any) -> None:
        try:
            result = fut.result()  # one call: the answer, or its exception (a cancellation too)
        except BaseException as exc:  # noqa: BLE001 - recorded, not handled: the peer answers it
            self._timer.done(self._peer, self._request, self._t0, None, exc, self._slot, self._session)
            return
        self._timer.done(self._peer, self._request, self._t0, result, None, self._slot, self._session)


class RequestTimer:
    """Times every request a dispatcher answers into the histogram child ``keys`` (an
    ``OperationKeys``) finds for it: the one per-request hook of the server's metrics.

    ``on_request(peer, request)`` stands in for the dispatcher's ``inner(peer, request)``: the
    peer calls it once per request, it calls ``inner`` and times the answer from the moment the
    request was received until the answer is ready, whichever way the answer comes:

    * returned at once (a dict: most requests; ``isError: true`` in it is ``tool_error``;
      any other value: a success) or raised (``error_type(exc)`` names it);
    * a coroutine: ``timed(self, peer, request, coro, t0, slot, session)`` is returned in its
      place, a coroutine that awaits it and calls ``done`` with the same arguments (the
      caller's own ``async def``: a compiled coroutine is not ``types.CoroutineType``, which
      the peer steps; ``slot`` and ``session``: see ``resolved`` below);
    * an instance of one of ``settles`` (the peer's ``Deferred``, ``asyncio.Future``: given by
      the caller, so this module imports no ``asyncio``): a done callback records it when it
      settles, a cancellation as ``error_type`` of its ``CancelledError``.

    Inside a peer's feed (``enter()`` ... ``exit(mark)``, the peer's ``feed_timer``) the requests
    arrived together: they share the feed's clock reading as their start, and the answers given
    at once are observed together at ``exit``, after the peer flushed them (what the client
    waited for). Outside a feed each request reads the clock itself.

    The dispatcher may say what it resolved the request to, so that the labels need not be
    read out of the request again: while ``inner`` runs, it may put the request's
    ``OperationSlot`` (from ``keys.slot``) in ``resolved[0]`` and the request's legacy session
    (``peer.state``; None for another request) in ``resolved[1]``. The timer empties
    ``resolved[0]`` before it calls ``inner`` and takes both out (leaving None) after it
    returned or raised; a request whose dispatcher left the slot empty is labelled from the
    request by ``keys.child``, with the same labels. A request handled inside another's
    ``inner`` (another peer's feed in a handler's step) empties it too: the outer request is
    then labelled from the request, never with the inner one's slot.

    A call with a third argument (a wrapper inside calling back in, as tracing's ``untraced``)
    passes through untimed, so a request is counted once. ``started`` counts the requests timed (the finished ones are the
    histograms' counts; the rest are in flight). The compiled twin does the same with no
    interpreter dispatch and no allocation on the common path.
    """

    __slots__ = ("_inner", "_keys", "_error_type", "_tool_error", "_timed", "_settles", "_started", "_batch",
                 "_batch_t0", "_resolved")

    def __init__(self, inner: Callable[..., Any], keys: OperationKeys, *, error_type: Callable[[BaseException], str],
                 tool_error: str, timed: Callable[..., Any], settles: tuple[type, ...] = ()) -> None:
        self._inner = inner
        self._keys = keys
        self._error_type = error_type
        self._tool_error = tool_error
        self._timed = timed
        self._settles = tuple(settles)
        self._started = 0
        self._batch: list[Any] | None = None
        self._batch_t0 = 0
        self._resolved: list[Any] = [None, None]

    @property
    def started(self) -> int:
        """Requests timed so far."""
        return self._started

    @property
    def resolved(self) -> list[Any]:
        """``[slot, session]``: where the dispatcher says what it resolved the request being
        handled to (the class docstring); a list, so that the dispatcher's two stores are the
        cheapest the interpreter has."""
        return self._resolved

    def enter(self) -> tuple[list[Any] | None, int]:
        """A peer starts handling one read's messages, received now. Returns the mark ``exit``
        takes back (feeds of other peers may nest inside a handler's step)."""
        mark = (self._batch, self._batch_t0)
        self._batch = []
        self._batch_t0 = _perf_counter_ns()
        return mark

    def exit(self, mark: tuple[list[Any] | None, int]) -> None:
        """The peer flushed the feed's answers: each answer given at once is observed now, with
        the feed's duration."""
        batch = self._batch
        if batch:
            us = (_perf_counter_ns() - self._batch_t0) * 0.001
            for child in batch:
                child.observe(us)
        self._batch, self._batch_t0 = mark

    def on_request(self, peer: Any, request: Any, reentry: Any = _NO_REENTRY) -> Any:
        """``inner(peer, request)``, timed (the class docstring); with ``reentry`` given,
        ``inner(peer, request, reentry)`` untimed."""
        if reentry is not _NO_REENTRY:
            return self._inner(peer, request, reentry)
        self._started += 1
        batch = self._batch
        t0 = self._batch_t0 if batch is not None else _perf_counter_ns()
        resolved = self._resolved
        if resolved:
            resolved[0] = None  # only what inner puts there now counts
        try:
            result = self._inner(peer, request)
        except BaseException as exc:
            slot, session = self._take_resolved()
            self._eager(peer, request, slot, session, self._error_type(exc), batch, t0)
            raise
        slot, session = self._take_resolved()
        rt = type(result)
        if rt is dict:
            self._eager(peer, request, slot, session, self._tool_error if result.get("isError") is True else "",
                        batch, t0)
        elif rt is _CoroutineType:
            return self._timed(self, peer, request, result, t0, slot, session)
        elif isinstance(result, self._settles):
            pending: Any = result  # any of the settles types: each has add_done_callback
            pending.add_done_callback(_Settle(self, peer, request, t0, slot, session))
        else:
            self._eager(peer, request, slot, session, "", batch, t0)
        return result

    def _take_resolved(self) -> tuple[OperationSlot | None, Any]:
        """``resolved``'s two items, both left None (None, None when the list was shrunk)."""
        resolved = self._resolved
        n = len(resolved)
        slot = session = None
        if n > 0:
            slot, resolved[0] = resolved[0], None
        if n > 1:
            session, resolved[1] = resolved[1], None
        return (slot, session) if n > 1 else (None, None)

    def _child(self, peer: Any, request: Any, slot: OperationSlot | None, session: Any, error_type: str) -> Any:
        if slot is not None:
            return slot.child(peer, request, session, error_type)
        return self._keys.child(peer, request, error_type)

    def _eager(self, peer: Any, request: Any, slot: OperationSlot | None, session: Any, error_type: str,
               batch: list[Any] | None, t0: int) -> None:
        child = self._child(peer, request, slot, session, error_type)
        if batch is not None:
            batch.append(child)
        else:
            child.observe_since(t0)

    def done(self, peer: Any, request: Any, t0: int, result: Any, exc: BaseException | None,
             slot: OperationSlot | None = None, session: Any = None) -> None:
        """Record a request started at ``t0`` (``perf_counter_ns``) and answered now: failed
        with ``exc`` when it is not None, else with ``result`` (``isError`` is ``tool_error``);
        ``slot`` and ``session``: what the dispatcher resolved it to, if it said (``resolved``)."""
        if exc is not None:
            error_type = self._error_type(exc)
        elif type(result) is dict and result.get("isError") is True:
            error_type = self._tool_error
        else:
            error_type = ""
        self._child(peer, request, slot, session, error_type).observe_since(t0)
