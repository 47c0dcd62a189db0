"""Counters, gauges, latency histograms and label families; picks the compiled or pure twin.

See ``_counters_py.py`` for the specification; ``NO_EXTENSIONS`` (``_compat.py``) forces it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import NO_EXTENSIONS

if TYPE_CHECKING or NO_EXTENSIONS:
    from ._counters_py import (
        BUCKET_BOUNDS_US,
        OVERFLOW_LABEL,
        Counter,
        Family,
        Gauge,
        Histogram,
        OperationKeys,
        OperationSlot,
        Registry,
        RequestTimer,
        render_series,
    )
else:
    try:
        from ._counters import (
            BUCKET_BOUNDS_US,
            OVERFLOW_LABEL,
            Counter,
            Family,
            Gauge,
            Histogram,
            OperationKeys,
            OperationSlot,
            Registry,
            RequestTimer,
            render_series,
        )
    except ImportError:  # pragma: no cover
        from ._counters_py import (
            BUCKET_BOUNDS_US,
            OVERFLOW_LABEL,
            Counter,
            Family,
            Gauge,
            Histogram,
            OperationKeys,
            OperationSlot,
            Registry,
            RequestTimer,
            render_series,
        )

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
