"""Counters, latency histograms, label families and their export: mcpfast/wire/_counters.pyx
(impl "c") and mcpfast/wire/_counters_py.py (impl "py"). For the export benchmarks ``size`` is
the number of label values (methods) per family.
"""

from __future__ import annotations

import random
from typing import Any

from .common import IMPLS, load, payloads


def server_registry(counters: Any, n_methods: int) -> Any:
    """Per-method request/error counters and latency histograms over ``n_methods`` method
    names, byte counters and an in-flight gauge, filled with seeded data."""
    rng = random.Random("mcpfast-bench-registry")
    methods = list(payloads.MCP_METHODS)
    methods += [f"tools/call:tool_{i}" for i in range(n_methods - len(methods))]
    reg = counters.Registry()
    requests = reg.family("counter", "mcp_requests_total", "Requests received", ("method",))
    errors = reg.family("counter", "mcp_errors_total", "Error responses sent", ("method", "code"))
    latency = reg.family("histogram", "mcp_request_duration_seconds", "Handler latency", ("method",))
    for method in methods[:n_methods]:
        req = requests.labels(method)
        lat = latency.labels(method)
        for _ in range(16):
            req.inc()
            lat.observe(rng.lognormvariate(6.0, 1.5))
        errors.labels(method, "-32603").inc(rng.randrange(3))
    reg.counter("mcp_bytes_received_total", "Bytes read").inc(12_345_678)
    reg.counter("mcp_bytes_sent_total", "Bytes written").inc(98_765_432)
    reg.gauge("mcp_requests_in_flight", "Requests being handled").set(3)
    return reg


class Update:
    """The hot-path updates: one per message or per request."""

    params = (IMPLS,)
    param_names = ["impl"]

    def setup(self, impl: str) -> None:
        mod = load(impl, "counters")
        self.counter: Any = mod.Counter("mcp_messages_total")
        self.histogram: Any = mod.Histogram("mcp_request_duration_seconds")
        reg = mod.Registry()
        self.by_method: Any = reg.family("counter", "mcp_requests_total", "Requests", ("method",))
        self.latency: Any = reg.family("histogram", "mcp_latency_seconds", "Latency", ("method",))
        for method in payloads.MCP_METHODS:
            self.by_method.labels(method)
            self.latency.labels(method)

    def time_counter_inc(self, impl: str) -> None:
        self.counter.inc()

    def time_histogram_observe(self, impl: str) -> None:
        self.histogram.observe(137.5)

    def time_labels_inc(self, impl: str) -> None:
        self.by_method.labels("tools/call").inc()

    def time_labels_observe(self, impl: str) -> None:
        self.latency.labels("tools/call").observe(137.5)


class Export:
    """``prometheus_text()`` and ``snapshot()`` of a server's registry."""

    params = (IMPLS, [16, 256])
    param_names = ["impl", "size"]

    def setup(self, impl: str, size: int) -> None:
        self.registry: Any = server_registry(load(impl, "counters"), size)

    def time_prometheus_text(self, impl: str, size: int) -> None:
        self.registry.prometheus_text()

    def time_snapshot(self, impl: str, size: int) -> None:
        self.registry.snapshot()

    def peakmem_prometheus_text(self, impl: str, size: int) -> None:
        self.registry.prometheus_text()

    def track_text_bytes(self, impl: str, size: int) -> int:
        return len(self.registry.prometheus_text().encode())

    track_text_bytes.unit = "bytes"  # type: ignore[attr-defined]
