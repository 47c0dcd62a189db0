"""Counters, gauges, latency histograms and label families (compiled twin).

Twin of ``mcpfast/wire/_counters_py.py``, which is the specification (docstrings, edge cases,
export conventions); this module has the same names, signatures, results, exception classes
and texts, and renders byte-identical snapshots and Prometheus text.

What makes it faster, per hot operation:

* ``Counter.inc`` / ``Gauge.inc``: the value is a C ``long long`` while it is an int (and a C
  ``double`` once a float came); an exact-int increment is an overflow-checked C add, with no
  Python int created. Past 64 bits the value moves to a Python int, as Python's would grow.
* ``Histogram.observe``: a fixed C array of ``uint64_t`` counts; the bucket is found from the
  top bits of the double through a 432-byte table and one compare (no search); no Python
  object is made or touched per observation.
* ``Family.labels``: one dict lookup, keyed by the label value itself for one-label families
  (no tuple hash and compare); no method or attribute lookups.

Snapshots and exposition are not hot; they run the twin's formatting code, copied, on C fields.

Thread safety: one event-loop thread; not atomic under free-threading (see the twin).
"""

cimport cython
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_AsDouble, PyFloat_CheckExact
from cpython.long cimport PyLong_AsDouble, PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from cpython.number cimport PyNumber_Index
from cpython.pyport cimport PY_SSIZE_T_MAX
from cpython.ref cimport PyObject, Py_XDECREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport PyUnicode_CheckExact
from libc.stdint cimport uint64_t
from libc.string cimport memcpy

from mcpfast.wire._jsonrpc cimport Request

import math
import re
import time
import types
from bisect import bisect_left as _bisect_left
from types import GenericAlias

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

cdef extern from *:
    """
    /* Overflow-checked 64-bit add/sub: 1 when the result does not fit (then *r is unusable).
       The builtins compile to an add and a jump-on-overflow; the fallback is portable C. */
    static inline int mcpfast_add_i64(long long a, long long b, long long *r) {
    #if defined(__GNUC__) || defined(__clang__)
        return __builtin_add_overflow(a, b, r);
    #else
        if ((b > 0 && a > LLONG_MAX - b) || (b < 0 && a < LLONG_MIN - b)) return 1;
        *r = a + b;
        return 0;
    #endif
    }
    /* Equality of two exact str: equal strings have the same length and kind (the canonical
       representation), then the same bytes. No 3-way compare, as PyUnicode_Compare does. */
    static inline int mcpfast_str_eq(PyObject *a, PyObject *b) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(a);
        int kind = PyUnicode_KIND(a);
        if (n != PyUnicode_GET_LENGTH(b) || kind != (int)PyUnicode_KIND(b)) return 0;
        return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * (size_t)kind) == 0;
    }
    /* a is b, or two exact str compared by mcpfast_str_eq: 1 equal, 0 not; -1: neither (the
       caller compares with ==). Small enough for the compiler to inline at each key compare. */
    static inline int mcpfast_same_str(PyObject *a, PyObject *b) {
        if (a == b) return 1;
        if (!PyUnicode_CheckExact(a) || !PyUnicode_CheckExact(b)) return -1;
        return mcpfast_str_eq(a, b);
    }
    /* list[i], which becomes None: the list's reference goes to the caller. NULL (no error
       set) when the list is shorter than i + 1: RequestTimer.resolved is a public list, and a
       caller that shrank it must not make this read past its end. */
    static inline PyObject *mcpfast_take(PyObject *list, Py_ssize_t i) {
        PyObject *v;
        if (PyList_GET_SIZE(list) <= i) return NULL;
        v = PyList_GET_ITEM(list, i);
        Py_INCREF(Py_None);
        PyList_SET_ITEM(list, i, Py_None);
        return v;
    }
    static inline int mcpfast_sub_i64(long long a, long long b, long long *r) {
    #if defined(__GNUC__) || defined(__clang__)
        return __builtin_sub_overflow(a, b, r);
    #else
        if ((b < 0 && a > LLONG_MAX + b) || (b > 0 && a < LLONG_MIN + b)) return 1;
        *r = a - b;
        return 0;
    #endif
    }
    """
    bint mcpfast_str_eq(object a, object b) noexcept
    int mcpfast_same_str(object a, object b) noexcept
    bint mcpfast_add_i64(long long a, long long b, long long *r) noexcept nogil
    bint mcpfast_sub_i64(long long a, long long b, long long *r) noexcept nogil
    PyObject *mcpfast_take(list lst, Py_ssize_t i) noexcept


BUCKET_BOUNDS_US = tuple(float(k * 10**d) for d in range(8) for k in range(1, 10)) + (math.inf,)
OVERFLOW_LABEL = "__overflow__"

cdef enum:
    N_BUCKETS = 73           # 8 decades x 9 bounds + the +Inf bucket
    LAST_BUCKET = 72         # the +Inf bucket

# The same bounds as C doubles, filled from the tuple at import so both agree by construction.
cdef double _BOUNDS[N_BUCKETS]
for _i in range(N_BUCKETS):
    _BOUNDS[_i] = BUCKET_BOUNDS_US[_i]
# The table of _bucket_index: for each slice key (e << 4 | j) the first bound >= the slice
# start 2^e (1 + j/16), found by bisect on the same tuple as the twin uses.
cdef unsigned char _FIRST_BOUND[27 * 16]
for _i in range(27 * 16):
    _FIRST_BOUND[_i] = _bisect_left(BUCKET_BOUNDS_US, math.ldexp(1.0 + (_i & 15) / 16.0, _i >> 4))
del _i

cdef tuple _BUCKET_KEYS = tuple(str(int(b)) for b in BUCKET_BOUNDS_US[:LAST_BUCKET]) + ("+Inf",)
cdef tuple _EXPORT_LE = tuple(
    (9 * d + k - 1, repr(k * 10**d / 1e6)) for d in range(8) for k in (1, 2, 5)
)
cdef object _NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
cdef object _LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
cdef tuple _KINDS = ("counter", "gauge", "histogram")
cdef object _INF = math.inf
cdef object _perf_counter_ns = time.perf_counter_ns
cdef object _CoroutineType = types.CoroutineType
cdef object _NO_REENTRY = object()  # RequestTimer.on_request's third argument when not given
cdef object _NINF = -math.inf

# Representations of a Counter/Gauge value; the Python-visible value is the same in each.
cdef enum:
    NUM_INT = 0     # _i holds it (the start: value 0)
    NUM_FLOAT = 1   # _f holds it (after the first float, as int + float is a float)
    NUM_OBJ = 2     # _o holds it (an int beyond 64 bits, and whatever it became after)

cdef enum:
    KIND_COUNTER = 0
    KIND_GAUGE = 1
    KIND_HISTOGRAM = 2


# ----------------------------------------------------------------------------------------------
# Validation and formatting: copies of the twin's helpers, same texts.


cdef str _check_name(object name):
    if not isinstance(name, str):
        raise TypeError(f"metric name must be a str, got {type(name).__name__}")
    if _NAME_RE.fullmatch(name) is None:
        raise ValueError(f"invalid metric name {name!r}: must match [a-zA-Z_:][a-zA-Z0-9_:]*")
    return name


cdef str _check_help(object help):
    if not isinstance(help, str):
        raise TypeError(f"help must be a str, got {type(help).__name__}")
    return help


cdef object _number(object n, str owner, str name, str method):
    if isinstance(n, int):
        return int(n)
    if isinstance(n, float):
        return float(n)
    raise TypeError(f"{owner} {name!r}: {method}() takes an int or float, got {type(n).__name__}")


cdef str _format_value(object v):
    if type(v) is int:
        return repr(v)
    if v != v:
        return "NaN"
    if v == _INF:
        return "+Inf"
    if v == _NINF:
        return "-Inf"
    return repr(v)


cdef str _escape_label(str value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


cdef str _escape_help(str text):
    return text.replace("\\", "\\\\").replace("\n", "\\n")


cdef inline Py_ssize_t _bucket_index(double v) noexcept nogil:
    # The first i with _BOUNDS[i] >= v (what bisect_left gives the twin), looked up rather than
    # searched: a binary search over 73 doubles is a chain of seven dependent loads and cost
    # more than the rest of observe(). Precondition: v >= 0 and not NaN.
    #
    # For 1 < v <= 9e7 the top 16 bits of the double (exponent e in 0..26 and 4 mantissa bits)
    # name a slice [2^e (1 + j/16), 2^e (1 + (j+1)/16)) of width ratio <= 17/16; consecutive
    # bounds are at least 10/9 apart, so a slice holds at most one bound. _FIRST_BOUND[slice]
    # is the first bound >= the slice start, and one exact compare settles which side v is.
    cdef uint64_t bits
    cdef Py_ssize_t i
    if v <= 1.0:
        return 0
    if v > _BOUNDS[LAST_BUCKET - 1]:
        return LAST_BUCKET
    memcpy(&bits, &v, sizeof(double))
    i = _FIRST_BOUND[<Py_ssize_t>(bits >> 48) - (1023 << 4)]
    return i + (v > _BOUNDS[i])


# ----------------------------------------------------------------------------------------------
# Counter and Gauge


cdef class _Scalar:
    """The value store shared by Counter and Gauge (private base class)."""

    cdef readonly str name
    cdef readonly str help
    cdef int _mode          # NUM_INT / NUM_FLOAT / NUM_OBJ: which field below holds the value
    cdef long long _i       # NUM_INT
    cdef double _f          # NUM_FLOAT
    cdef object _o          # NUM_OBJ; None otherwise, so a big int is not kept alive

    @property
    def value(self):
        """The current value (an int until a float is added)."""
        if self._mode == NUM_INT:
            return self._i
        if self._mode == NUM_FLOAT:
            return self._f
        return self._o


cdef int _scalar_add(_Scalar s, object n, bint sub, bint counter, str method) except -1:
    # The general case of inc/dec: normalise n, check it, then add exactly as Python's += / -=
    # on the Python-visible value would. The callers have fast paths for the usual cases.
    cdef long long v
    cdef long long r
    cdef int overflow = 0
    cdef bint ovf
    cdef double d
    if not (PyLong_CheckExact(n) or PyFloat_CheckExact(n)):
        n = _number(n, "Counter" if counter else "Gauge", s.name, method)
    if counter and not n >= 0:
        raise ValueError(f"Counter {s.name!r} can only increase, got inc({n!r})")
    if s._mode == NUM_INT:
        if PyLong_CheckExact(n):
            v = PyLong_AsLongLongAndOverflow(n, &overflow)
            if overflow == 0:
                ovf = mcpfast_sub_i64(s._i, v, &r) if sub else mcpfast_add_i64(s._i, v, &r)
                if not ovf:
                    s._i = r
                    return 0
            # Beyond 64 bits: continue with Python ints (exact, like the twin's value).
            s._o = (s._i - n) if sub else (s._i + n)
            s._mode = NUM_OBJ
        else:
            # int op float is float(int) op float in Python; (double)long long rounds the same
            # way (to nearest, ties to even) as PyLong_AsDouble.
            d = PyFloat_AS_DOUBLE(n)
            s._f = (<double>s._i - d) if sub else (<double>s._i + d)
            s._mode = NUM_FLOAT
    elif s._mode == NUM_FLOAT:
        # For an int n this is PyLong_AsDouble, raising the OverflowError that float + int
        # raises for ints beyond the float range; the value is then unchanged.
        d = PyFloat_AsDouble(n)
        s._f = (s._f - d) if sub else (s._f + d)
    else:
        s._o = (s._o - n) if sub else (s._o + n)
    return 0


@cython.final
cdef class Counter(_Scalar):
    """A number that only goes up (see ``_counters_py.Counter``)."""

    kind = "counter"

    def __init__(self, name, help=""):
        self.name = _check_name(name)
        self.help = _check_help(help)

    def inc(self, n=1):
        """Add ``n`` >= 0."""
        cdef long long v
        cdef long long r
        cdef int overflow = 0
        cdef double d
        if self._mode == NUM_INT:
            if PyLong_CheckExact(n):
                v = PyLong_AsLongLongAndOverflow(n, &overflow)
                if overflow == 0 and v >= 0 and not mcpfast_add_i64(self._i, v, &r):
                    self._i = r
                    return
        elif self._mode == NUM_FLOAT and PyFloat_CheckExact(n):
            d = PyFloat_AS_DOUBLE(n)
            if d >= 0.0:  # false for NaN too, which the slow path reports
                self._f += d
                return
        _scalar_add(self, n, False, True, "inc")

    def snapshot(self):
        """``{"kind": "counter", "help": ..., "value": ...}``."""
        return {"kind": "counter", "help": self.help, "value": self.value}

    def __repr__(self):
        return f"<Counter {self.name!r} value={self.value!r}>"


@cython.final
cdef class Gauge(_Scalar):
    """A number that goes up and down (see ``_counters_py.Gauge``)."""

    kind = "gauge"

    def __init__(self, name, help=""):
        self.name = _check_name(name)
        self.help = _check_help(help)

    def set(self, v):
        """Make the value ``v`` (any int or float, NaN and infinities included)."""
        cdef long long i
        cdef int overflow = 0
        if PyFloat_CheckExact(v):
            self._f = PyFloat_AS_DOUBLE(v)
            self._mode = NUM_FLOAT
            self._o = None
            return
        if not PyLong_CheckExact(v):
            v = _number(v, "Gauge", self.name, "set")
            if PyFloat_CheckExact(v):
                self._f = PyFloat_AS_DOUBLE(v)
                self._mode = NUM_FLOAT
                self._o = None
                return
        i = PyLong_AsLongLongAndOverflow(v, &overflow)
        if overflow == 0:
            self._i = i
            self._mode = NUM_INT
            self._o = None
        else:
            self._o = v
            self._mode = NUM_OBJ

    def inc(self, n=1):
        """Add ``n`` (may be negative)."""
        cdef long long v
        cdef long long r
        cdef int overflow = 0
        if self._mode == NUM_INT:
            if PyLong_CheckExact(n):
                v = PyLong_AsLongLongAndOverflow(n, &overflow)
                if overflow == 0 and not mcpfast_add_i64(self._i, v, &r):
                    self._i = r
                    return
        elif self._mode == NUM_FLOAT and PyFloat_CheckExact(n):
            self._f += PyFloat_AS_DOUBLE(n)
            return
        _scalar_add(self, n, False, False, "inc")

    def dec(self, n=1):
        """Subtract ``n`` (may be negative)."""
        cdef long long v
        cdef long long r
        cdef int overflow = 0
        if self._mode == NUM_INT:
            if PyLong_CheckExact(n):
                v = PyLong_AsLongLongAndOverflow(n, &overflow)
                if overflow == 0 and not mcpfast_sub_i64(self._i, v, &r):
                    self._i = r
                    return
        elif self._mode == NUM_FLOAT and PyFloat_CheckExact(n):
            self._f -= PyFloat_AS_DOUBLE(n)
            return
        _scalar_add(self, n, True, False, "dec")

    def snapshot(self):
        """``{"kind": "gauge", "help": ..., "value": ...}``."""
        return {"kind": "gauge", "help": self.help, "value": self.value}

    def __repr__(self):
        return f"<Gauge {self.name!r} value={self.value!r}>"


# ----------------------------------------------------------------------------------------------
# Histogram


@cython.final
cdef class Histogram:
    """Latencies in microseconds in fixed buckets (see ``_counters_py.Histogram``)."""

    cdef readonly str name
    cdef readonly str help
    cdef uint64_t _counts[N_BUCKETS]   # per bucket, not cumulative; zeroed by tp_alloc
    cdef uint64_t _count               # == sum of _counts, kept to answer .count in O(1)
    cdef double _sum                   # microseconds, after clamping

    kind = "histogram"

    def __init__(self, name, help=""):
        self.name = _check_name(name)
        self.help = _check_help(help)

    def observe(self, us):
        """Count one observation of ``us`` microseconds."""
        cdef double d
        if PyFloat_CheckExact(us):
            d = PyFloat_AS_DOUBLE(us)
        elif PyLong_CheckExact(us):
            d = PyLong_AsDouble(us)  # float(int): the same OverflowError past the float range
        elif isinstance(us, (int, float)):
            d = float(us)
        else:
            raise TypeError(
                f"Histogram {self.name!r}: observe() takes an int or float, "
                f"got {type(us).__name__}"
            )
        self._observe(d)

    cdef int _observe(self, double d) except -1:
        if not d >= 0.0:
            if d != d:
                raise ValueError(f"Histogram {self.name!r} cannot observe nan")
            d = 0.0
        self._counts[_bucket_index(d)] += 1
        self._count += 1
        self._sum += d
        return 0

    def observe_since(self, t0_ns):
        """Count the time since ``t0_ns`` (a ``time.perf_counter_ns()`` reading) in
        microseconds (see ``_counters_py.Histogram.observe_since``)."""
        cdef long long t0
        cdef long long now
        cdef long long dt
        cdef int overflow = 0
        if not isinstance(t0_ns, int):
            raise TypeError(
                f"Histogram {self.name!r}: observe_since() takes an int (perf_counter_ns), "
                f"got {type(t0_ns).__name__}"
            )
        t0 = PyLong_AsLongLongAndOverflow(t0_ns, &overflow)
        clock = _perf_counter_ns()
        if overflow == 0 and PyLong_CheckExact(clock):
            now = PyLong_AsLongLongAndOverflow(clock, &overflow)
            if overflow == 0 and not mcpfast_sub_i64(now, t0, &dt):
                # float(int) and a C cast both round to nearest: the same double as the twin
                self._observe(<double>dt * 0.001)
                return
        self.observe((clock - t0_ns) * 0.001)

    @property
    def count(self):
        """Observations so far."""
        return self._count

    @property
    def sum(self):
        """Sum of the observations, in microseconds."""
        return self._sum

    @property
    def bucket_bounds(self):
        """``BUCKET_BOUNDS_US``."""
        return BUCKET_BOUNDS_US

    def buckets(self):
        """Per-bucket (not cumulative) counts, one per ``BUCKET_BOUNDS_US`` entry."""
        return tuple([self._counts[i] for i in range(N_BUCKETS)])

    def percentile(self, q):
        """Estimate the ``q``-quantile (0 < q <= 1) in microseconds; 0.0 when empty."""
        if not PyFloat_CheckExact(q):
            if not isinstance(q, (int, float)):
                raise TypeError(f"percentile q must be a float, got {type(q).__name__}")
            q = float(q)
        if not 0.0 < q <= 1.0:
            raise ValueError(f"percentile q must be in (0, 1], got {q!r}")
        return _percentile(self, q)

    def snapshot(self):
        """``kind``, ``help``, ``count``, ``sum``, ``p50``/``p90``/``p99``, non-empty ``buckets``."""
        cdef Py_ssize_t i
        buckets = {}
        for i in range(N_BUCKETS):
            if self._counts[i]:
                buckets[_BUCKET_KEYS[i]] = self._counts[i]
        return {
            "kind": "histogram",
            "help": self.help,
            "count": self._count,
            "sum": self._sum,
            "p50": _percentile(self, 0.5),
            "p90": _percentile(self, 0.9),
            "p99": _percentile(self, 0.99),
            "buckets": buckets,
        }

    def __repr__(self):
        return f"<Histogram {self.name!r} count={self._count} sum={self._sum!r}>"


cdef object _percentile(Histogram h, object q):
    # The bucket search runs in C; the interpolation is done on Python floats on purpose: C
    # compilers may fuse "lower + width * frac" into one FMA instruction (GCC does on aarch64),
    # rounding differently from Python, and the twins must return the same float.
    cdef uint64_t count = h._count
    cdef uint64_t cum = 0
    cdef uint64_t n = 0
    cdef double rank
    cdef Py_ssize_t i
    cdef object lower
    cdef object upper
    if count == 0:
        return 0.0
    rank = PyFloat_AS_DOUBLE(q) * <double>count  # a product used only in compares: no fusing
    for i in range(N_BUCKETS):
        n = h._counts[i]
        if n and <double>(cum + n) >= rank:
            break
        cum += n
    lower = 0.0 if i == 0 else BUCKET_BOUNDS_US[i - 1]
    if i == LAST_BUCKET:
        return lower
    upper = BUCKET_BOUNDS_US[i]
    return lower + (upper - lower) * ((q * count - cum) / n)


# ----------------------------------------------------------------------------------------------
# Family


cdef object _new_metric(int kind, str name, str help):
    # A child of a family: the name was validated when the family was made, so the fields are
    # set directly instead of going through __init__.
    cdef _Scalar s
    cdef Histogram h
    if kind == KIND_HISTOGRAM:
        h = Histogram.__new__(Histogram)
        h.name = name
        h.help = help
        return h
    s = Counter.__new__(Counter) if kind == KIND_COUNTER else Gauge.__new__(Gauge)
    s.name = name
    s.help = help
    return s


cdef str _kind_name(object kind):
    if isinstance(kind, str):
        if kind in _KINDS:
            return kind
    elif kind is Counter or kind is Gauge or kind is Histogram:
        return kind.kind
    raise ValueError(f"kind must be 'counter', 'gauge' or 'histogram', got {kind!r}")


cdef tuple _check_labelnames(object labelnames, str kind):
    if isinstance(labelnames, str):
        raise TypeError("labelnames must be a tuple of str, got str")
    cdef tuple names = tuple(labelnames)
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


@cython.final
cdef class Family:
    """A metric with labels and a bounded number of series (see ``_counters_py.Family``)."""

    cdef readonly str kind
    cdef readonly str name
    cdef readonly str help
    cdef readonly tuple labelnames
    cdef int _kind                   # KIND_*: which class the children are
    cdef dict _children              # label values tuple -> child, creation order
    cdef dict _by_value              # one-label families: the value itself -> child (a str
                                     # hash is cached and compares by identity; a tuple's is not)
    cdef bint _one_label             # len(labelnames) == 1: labels() looks in _by_value
    cdef object _max_series_obj      # as given, for .max_series and snapshots
    cdef Py_ssize_t _max_series      # the same, saturated for the C compare
    cdef object _overflow            # the overflow child once needed, else None
    cdef tuple _overflow_values      # ("__overflow__",) * len(labelnames)
    cdef uint64_t _dropped

    __class_getitem__ = classmethod(GenericAlias)

    def __init__(self, kind, name, help="", labelnames=(), max_series=1000):
        self.kind = _kind_name(kind)
        self._kind = _KINDS.index(self.kind)
        self.name = _check_name(name)
        self.help = _check_help(help)
        self.labelnames = _check_labelnames(labelnames, self.kind)
        max_series = PyNumber_Index(max_series)
        if max_series < 0:
            raise ValueError(f"max_series must be >= 0, got {max_series}")
        self._max_series_obj = max_series
        # saturate the C copy: a dict cannot hold more than PY_SSIZE_T_MAX entries anyway
        if max_series > PY_SSIZE_T_MAX:
            self._max_series = PY_SSIZE_T_MAX
        else:
            self._max_series = max_series
        self._children = {}
        self._by_value = {}
        self._one_label = len(self.labelnames) == 1
        self._overflow = None
        self._overflow_values = (OVERFLOW_LABEL,) * len(self.labelnames)
        self._dropped = 0

    @cython.binding(False)  # a plain method descriptor: with binding, CPython builds the args
    def labels(self, *values):  # tuple with self in it and Cython slices it off (2 tuples)
        """The child for these label values (created on first use, or the overflow child)."""
        if self._one_label and PyTuple_GET_SIZE(values) == 1:
            child = self._by_value.get(<object>PyTuple_GET_ITEM(values, 0))
        else:
            child = self._children.get(values)
        if child is None:
            return self._new_child(values)
        return child

    cdef object _new_child(self, tuple values):
        if len(values) != len(self.labelnames):
            raise ValueError(
                f"Family {self.name!r} has label names {self.labelnames!r}, "
                f"got {len(values)} values for {len(self.labelnames)}"
            )
        for v in values:
            if not isinstance(v, str):
                raise TypeError(f"label values must be str, got {type(v).__name__}")
        if values == self._overflow_values:
            return self._get_overflow()
        if len(self._children) >= self._max_series:
            self._dropped += 1
            return self._get_overflow()
        child = _new_metric(self._kind, self.name, self.help)
        self._children[values] = child
        if self._one_label:
            self._by_value[values[0]] = child
        return child

    cdef object _get_overflow(self):
        if self._overflow is None:
            self._overflow = _new_metric(self._kind, self.name, self.help)
        return self._overflow

    def series(self):
        """``(label values, child)`` pairs in creation order, the overflow child (if any) last."""
        out = list(self._children.items())
        if self._overflow is not None:
            out.append((self._overflow_values, self._overflow))
        return out

    @property
    def max_series(self):
        """Distinct label combinations kept before the overflow child takes over."""
        return self._max_series_obj

    @property
    def dropped(self):
        """Calls to ``labels()`` with a new combination that went to the overflow child."""
        return self._dropped

    def __len__(self):
        return len(self._children)

    def snapshot(self):
        """``kind``, ``help``, ``labelnames``, ``max_series``, ``dropped`` and ``series``."""
        labelnames = self.labelnames
        series = []
        for values, child in self.series():
            entry = {"labels": dict(zip(labelnames, values))}
            snap = child.snapshot()
            del snap["kind"], snap["help"]
            entry.update(snap)
            series.append(entry)
        return {
            "kind": self.kind,
            "help": self.help,
            "labelnames": list(labelnames),
            "max_series": self._max_series_obj,
            "dropped": self._dropped,
            "series": series,
        }

    def __repr__(self):
        return (
            f"<Family {self.kind} {self.name!r} labelnames={self.labelnames!r} "
            f"series={len(self._children)} dropped={self._dropped}>"
        )


# ----------------------------------------------------------------------------------------------
# Exposition


cdef int _render_histogram(list out, str name, str lbl, Histogram h) except -1:
    # Cumulative counts at the exported bounds (1, 2, 5 x 10^d), summed in C from the fine ones.
    cdef str prefix = f"{lbl}," if lbl else ""
    cdef str braces = f"{{{lbl}}}" if lbl else ""
    cdef uint64_t cum = 0
    cdef Py_ssize_t j = 0
    cdef Py_ssize_t i
    for i, le in _EXPORT_LE:
        while j <= i:
            cum += h._counts[j]
            j += 1
        out.append(f'{name}_bucket{{{prefix}le="{le}"}} {cum}\n')
    out.append(f'{name}_bucket{{{prefix}le="+Inf"}} {h._count}\n')
    out.append(f"{name}_sum{braces} {_format_value(h._sum / 1e6)}\n")
    out.append(f"{name}_count{braces} {h._count}\n")
    return 0


cdef int _render(list out, str name, str help, str kind, list series) except -1:
    if help:
        out.append(f"# HELP {name} {_escape_help(help)}\n")
    out.append(f"# TYPE {name} {kind}\n")
    for lbl, m in series:
        if kind == "histogram":
            _render_histogram(out, name, lbl, <Histogram>m)
        else:
            braces = f"{{{lbl}}}" if lbl else ""
            out.append(f"{name}{braces} {_format_value((<_Scalar>m).value)}\n")
    return 0


cdef str _render_labels(tuple labelnames, tuple values):
    return ",".join([f'{ln}="{_escape_label(v)}"' for ln, v in zip(labelnames, values)])


def render_series(kind, name, help, labelnames, series):
    """The exposition text of one metric made of metrics kept elsewhere (see
    ``_counters_py.render_series``)."""
    kind = _kind_name(kind)
    _check_name(name)
    _check_help(help)
    cdef tuple names = _check_labelnames(labelnames, kind)
    cdef type cls = Counter if kind == "counter" else Gauge if kind == "gauge" else Histogram
    cdef list rendered = []
    cdef tuple vals
    for values, m in series:
        vals = tuple(values)
        if len(vals) != len(names):
            raise ValueError(
                f"render_series {name!r} has label names {names!r}, "
                f"got {len(vals)} values for {len(names)}"
            )
        for v in vals:
            if not isinstance(v, str):
                raise TypeError(f"label values must be str, got {type(v).__name__}")
        if type(m) is not cls:
            raise TypeError(f"render_series {name!r}: expected {kind} metrics, got {type(m).__name__}")
        rendered.append((_render_labels(names, vals), m))
    cdef list out = []
    _render(out, name, help, kind, rendered)
    return "".join(out)


cdef str _describe(object m):
    return f"{m.kind} family" if type(m) is Family else m.kind


@cython.final
cdef class Registry:
    """Metrics by name, in creation order (see ``_counters_py.Registry``)."""

    cdef dict _metrics   # name -> Counter | Gauge | Histogram | Family, creation order

    def __init__(self):
        self._metrics = {}

    def counter(self, name, help=""):
        """The counter ``name``, created on first call."""
        return self._get_or_add(Counter, name, help)

    def gauge(self, name, help=""):
        """The gauge ``name``, created on first call."""
        return self._get_or_add(Gauge, name, help)

    def histogram(self, name, help=""):
        """The histogram ``name`` (microseconds; exported in seconds), created on first call."""
        return self._get_or_add(Histogram, name, help)

    cdef object _get_or_add(self, type cls, object name, object help):
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

    def family(self, kind, name, help="", labelnames=(), max_series=1000):
        """The labelled family ``name``, created on first call (see ``Family``)."""
        _check_name(name)
        existing = self._metrics.get(name)
        if existing is None:
            fam = Family(kind, name, help, labelnames, max_series)
            self._metrics[name] = fam
            return fam
        kind_name = _kind_name(kind)
        if type(existing) is not Family or (<Family>existing).kind != kind_name:
            raise ValueError(
                f"metric {name!r} is already registered as a {_describe(existing)}, "
                f"not a {kind_name} family"
            )
        names = _check_labelnames(labelnames, kind_name)
        if names != (<Family>existing).labelnames:
            raise ValueError(
                f"metric {name!r} is already registered with label names "
                f"{(<Family>existing).labelnames!r}, not {names!r}"
            )
        return existing

    def get(self, name):
        """The metric registered as ``name``, or None."""
        return self._metrics.get(name)

    def __contains__(self, name):
        return name in self._metrics

    def __len__(self):
        return len(self._metrics)

    def snapshot(self):
        """Every metric's ``snapshot()`` by name: plain dicts, lists, str, int and float."""
        return {name: m.snapshot() for name, m in self._metrics.items()}

    def prometheus_text(self):
        """The text exposition format 0.0.4 (``Content-Type: text/plain; version=0.0.4``)."""
        cdef list out = []
        cdef Family fam
        for name, m in self._metrics.items():
            if type(m) is Family:
                fam = <Family>m
                series = [
                    (_render_labels(fam.labelnames, values), child) for values, child in fam.series()
                ]
                _render(out, name, fam.help, fam.kind, series)
            else:
                _render(out, name, m.help, m.kind, [("", m)])
        return "".join(out)

    def __repr__(self):
        return f"<Registry metrics={len(self._metrics)}>"


cdef class OperationSlot


cdef inline bint _same(object a, object b) except -1:
    # a == b as a dict compares keys: identity first, then equality (two exact str: length,
    # kind and bytes, in C; no rich compare, no 3-way compare). Only the C test is inlined: the
    # rich compare of other types is a call (_same_slow)
    cdef int r = mcpfast_same_str(a, b)
    if r >= 0:
        return r
    return _same_slow(a, b)


cdef bint _same_slow(object a, object b) except -1:
    return a == b


@cython.final
cdef class OperationKeys:
    """Twin of ``_counters_py.OperationKeys`` (the specification): the same reads, key and
    cache, as C API calls (no bytecode dispatch, the dict lookups without method calls); the
    last key is kept as five fields, so a repeat builds no tuple."""

    cdef dict _children
    cdef object _resolve
    cdef Py_ssize_t _max
    cdef object _tool_method
    cdef object _version_key
    cdef bint _has_last
    cdef object _l_method, _l_tool, _l_error, _l_transport, _l_version, _last_child
    cdef object _p_peer, _p_state, _p_transport, _p_version  # the (peer, state) memo (see the twin)
    cdef long long _generation  # bumped by clear(): slots' kept children of older ones are stale
    cdef object _out_transport, _out_version  # _transport_version's results (no tuple made)

    def __init__(self, resolve, *, tool_method, version_key, max_size=4096):
        self._children = {}
        self._resolve = resolve
        self._max = max_size
        self._tool_method = tool_method
        self._version_key = version_key
        self._has_last = False
        self._generation = 0

    @property
    def generation(self):
        """How many times ``clear()`` ran (see the twin)."""
        return self._generation

    def transport_version(self, peer, meta):
        """The raw transport and version labels of a request (see the twin)."""
        self._transport_version(peer, meta)
        return self._out_transport, self._out_version

    def find(self, key):
        """The child of a raw key: cached, or resolved (see the twin)."""
        return self._find(key)

    def slot(self, method, tool):
        """The ``OperationSlot`` of requests resolved to ``method`` and ``tool`` (see the twin)."""
        cdef OperationSlot s = OperationSlot.__new__(OperationSlot)
        s._keys = self
        s._method = method
        s._tool = tool
        s._generation = -1
        return s

    cdef int _transport_version(self, object peer, object meta) except -1:
        # the twin's transport_version, the results left in _out_transport and _out_version
        cdef object state
        cdef object v
        if type(meta) is dict and self._version_key in <dict>meta:  # a modern request
            v = (<dict>meta)[self._version_key]
            self._out_transport = peer.network_transport
            self._out_version = v if type(v) is str else ""
            return 0
        state = peer.state
        if not (peer is self._p_peer and state is self._p_state):
            v = state.protocol_version if state is not None else ""
            self._p_transport = peer.network_transport
            self._p_version = v
            self._p_peer = peer
            self._p_state = state
        self._out_transport = self._p_transport
        self._out_version = self._p_version
        return 0

    cdef object _find(self, tuple key):
        child = self._children.get(key)
        if child is None:
            child = self._resolve(key)
            if len(self._children) < self._max:
                self._children[key] = child
        return child

    def child(self, peer, request, error_type):
        return self._child(peer, request, error_type)

    cdef object _child(self, object peer, object request, object error_type):
        cdef object method
        cdef object params
        cdef object tool = ""
        cdef object meta = None
        cdef object version
        cdef object transport
        if type(request) is Request:  # the compiled request: its fields are struct members
            method = (<Request>request).method
            params = (<Request>request).params
        else:
            method = request.method
            params = request.params
        if type(params) is dict:
            if method is self._tool_method or _same(method, self._tool_method):
                tool = (<dict>params).get("name")
                if type(tool) is not str:
                    tool = None
            meta = (<dict>params).get("_meta")
        self._transport_version(peer, meta)
        transport = self._out_transport
        version = self._out_version
        if (self._has_last
                and (self._l_method is method or _same(self._l_method, method))
                and (self._l_tool is tool or _same(self._l_tool, tool))
                and (self._l_error is error_type or _same(self._l_error, error_type))
                and (self._l_transport is transport or _same(self._l_transport, transport))
                and (self._l_version is version or _same(self._l_version, version))):
            return self._last_child
        cdef tuple key = (method, tool, error_type, transport, version)
        child = self._children.get(key)
        if child is None:
            child = self._resolve(key)
            if len(self._children) >= self._max:
                return child
            self._children[key] = child
        self._l_method = method
        self._l_tool = tool
        self._l_error = error_type
        self._l_transport = transport
        self._l_version = version
        self._last_child = child
        self._has_last = True
        return child

    def clear(self):
        """Forget every cached child (what a key resolves to changed), the slots' kept ones too."""
        self._generation += 1
        self._children.clear()
        self._has_last = False
        self._l_method = self._l_tool = self._l_error = self._l_transport = self._l_version = None
        self._last_child = None
        self._p_peer = self._p_state = self._p_transport = self._p_version = None

    def __len__(self):
        return len(self._children)


@cython.final
cdef class OperationSlot:
    """Twin of ``_counters_py.OperationSlot`` (the specification): the children of one
    (method, tool) pair the dispatcher resolved; a repeat of the kept (peer, session, error
    type) is three identity checks and a compare of two ints."""

    cdef OperationKeys _keys
    cdef object _method, _tool
    cdef long long _generation
    cdef object _peer, _session, _error, _transport, _version, _child

    def __init__(self, OperationKeys keys not None, method, tool):
        self._keys = keys
        self._method = method
        self._tool = tool
        self._generation = -1

    @property
    def method(self):
        """The method label value (raw)."""
        return self._method

    @property
    def tool(self):
        """The tool label value (raw)."""
        return self._tool

    def child(self, peer, request, session, error_type):
        return self._child_of(peer, request, session, error_type)

    cdef object _child_of(self, object peer, object request, object session, object error_type):
        cdef OperationKeys keys = self._keys
        cdef object transport
        cdef object version
        cdef object params
        if session is None:
            params = (<Request>request).params if type(request) is Request else request.params
            keys._transport_version(peer, (<dict>params).get("_meta") if type(params) is dict else None)
            return keys._find((self._method, self._tool, error_type, keys._out_transport, keys._out_version))
        if peer is self._peer and session is self._session and self._generation == keys._generation:
            if self._error is error_type or _same(self._error, error_type):
                return self._child
            transport = self._transport
            version = self._version
        else:
            transport = peer.network_transport
            version = session.protocol_version
        child = keys._find((self._method, self._tool, error_type, transport, version))
        self._generation = keys._generation
        self._peer = peer
        self._session = session
        self._error = error_type
        self._transport = transport
        self._version = version
        self._child = child
        return child


cdef int _observe_child(object child, long long t0) except -1:
    # child.observe_since(t0) without the Python call for a compiled Histogram
    cdef long long now
    if type(child) is Histogram:
        now = _perf_counter_ns()
        (<Histogram>child)._observe(<double>(now - t0) * 0.001)
    else:
        child.observe_since(t0)
    return 0


@cython.final
cdef class _Settle:
    """Twin of ``_counters_py._Settle``: a request's done callback, not a closure."""

    cdef RequestTimer _timer
    cdef object _peer
    cdef object _request
    cdef long long _t0
    cdef object _slot
    cdef object _session

    def __call__(self, fut):
        try:
            result = fut.result()
        except BaseException as exc:
            self._timer._done(self._peer, self._request, self._t0, None, exc, self._slot, self._session)
            return
        self._timer._done(self._peer, self._request, self._t0, result, None, self._slot, self._session)


cdef inline object _take_resolved(list resolved, PyObject **session):
    # resolved[0], returned, and resolved[1], a new reference in *session, both left None;
    # None and NULL if the list was shrunk
    cdef PyObject *slot = mcpfast_take(resolved, 0)
    session[0] = mcpfast_take(resolved, 1)
    if slot == NULL or session[0] == NULL:
        Py_XDECREF(slot)
        Py_XDECREF(session[0])
        session[0] = NULL
        return None
    s = <object>slot
    Py_XDECREF(slot)  # the cast took its own reference
    return s


@cython.final
cdef class RequestTimer:
    """Twin of ``_counters_py.RequestTimer`` (the specification): the per-request hook in C;
    the common answer (a dict given at once inside a feed) reads no clock, calls no Python
    function but ``inner`` and allocates nothing."""

    cdef object _inner
    cdef OperationKeys _keys
    cdef object _error_type
    cdef object _tool_error
    cdef object _timed
    cdef tuple _settles
    cdef long long _started
    cdef list _batch
    cdef long long _batch_t0
    cdef list _resolved

    def __init__(self, inner, OperationKeys keys not None, *, error_type, tool_error, timed, settles=()):
        self._inner = inner
        self._keys = keys
        self._error_type = error_type
        self._tool_error = tool_error
        self._timed = timed
        self._settles = tuple(settles)
        self._started = 0
        self._batch = None
        self._batch_t0 = 0
        self._resolved = [None, None]

    @property
    def started(self):
        """Requests timed so far."""
        return self._started

    @property
    def resolved(self):
        """``[slot, session]`` the dispatcher fills (see the twin)."""
        return self._resolved

    def enter(self):
        """A peer starts handling one read's messages (see the twin)."""
        mark = (self._batch, self._batch_t0)
        self._batch = []
        self._batch_t0 = _perf_counter_ns()
        return mark

    def exit(self, tuple mark not None):
        """The peer flushed the feed's answers: each answer given at once is observed now."""
        cdef list batch = self._batch
        cdef double us
        if batch:
            us = <double>(<long long>_perf_counter_ns() - self._batch_t0) * 0.001
            for child in batch:
                if type(child) is Histogram:
                    (<Histogram>child)._observe(us)
                else:
                    child.observe(us)
        self._batch = mark[0]
        self._batch_t0 = mark[1]

    def on_request(self, peer, request, reentry=_NO_REENTRY):
        """``inner(peer, request)``, timed (see the twin)."""
        if reentry is not _NO_REENTRY:
            return self._inner(peer, request, reentry)
        self._started += 1
        cdef list batch = self._batch
        cdef long long t0 = self._batch_t0 if batch is not None else <long long>_perf_counter_ns()
        cdef list resolved = self._resolved
        cdef object slot
        cdef object session = None
        cdef PyObject *taken
        Py_XDECREF(mcpfast_take(resolved, 0))  # only what inner puts there now counts
        try:
            result = self._inner(peer, request)
        except BaseException as exc:
            slot = _take_resolved(resolved, &taken)
            if taken != NULL:
                session = <object>taken
                Py_XDECREF(taken)
            self._eager(peer, request, slot, session, self._error_type(exc), batch, t0)
            raise
        slot = _take_resolved(resolved, &taken)
        if taken != NULL:
            session = <object>taken
            Py_XDECREF(taken)
        cdef type rt = type(result)
        if rt is dict:
            self._eager(peer, request, slot, session,
                        self._tool_error if (<dict>result).get("isError") is True else "", batch, t0)
        elif rt is _CoroutineType:
            return self._timed(self, peer, request, result, t0, slot, session)
        elif isinstance(result, self._settles):
            result.add_done_callback(self._settle(peer, request, t0, slot, session))
        else:
            self._eager(peer, request, slot, session, "", batch, t0)
        return result

    cdef _Settle _settle(self, object peer, object request, long long t0, object slot, object session):
        cdef _Settle s = _Settle.__new__(_Settle)
        s._timer = self
        s._peer = peer
        s._request = request
        s._t0 = t0
        s._slot = slot
        s._session = session
        return s

    cdef object _child(self, object peer, object request, object slot, object session, object error_type):
        if slot is not None:
            return (<OperationSlot?>slot)._child_of(peer, request, session, error_type)
        return self._keys._child(peer, request, error_type)

    cdef int _eager(self, object peer, object request, object slot, object session, object error_type, list batch,
                    long long t0) except -1:
        child = self._child(peer, request, slot, session, error_type)
        if batch is not None:
            batch.append(child)
        else:
            _observe_child(child, t0)
        return 0

    def done(self, peer, request, long long t0, result, exc, slot=None, session=None):
        """Record a request started at ``t0`` and answered now (see the twin)."""
        self._done(peer, request, t0, result, exc, slot, session)

    cdef int _done(self, object peer, object request, long long t0, object result, object exc, object slot,
                   object session) except -1:
        if exc is not None:
            error_type = self._error_type(exc)
        elif type(result) is dict and (<dict>result).get("isError") is True:
            error_type = self._tool_error
        else:
            error_type = ""
        _observe_child(self._child(peer, request, slot, session, error_type), t0)
        return 0
