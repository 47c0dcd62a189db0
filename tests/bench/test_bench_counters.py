"""Benchmarks of counters, latency histograms, label families and their export
(mcpfast/wire/_counters.pyx, _counters_py.py).

Real runs: ``pytest tests/bench --benchmark-enable --benchmark-only
--benchmark-group-by=group,param:size``; by default each body runs once (``--benchmark-disable``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from .payloads import MCP_METHODS


def _labels_inc(labels: Callable[..., Any]) -> None:
    labels("tools/call").inc()


def _labels_observe(labels: Callable[..., Any]) -> None:
    labels("tools/call").observe(137.5)


def server_registry(counters: Any) -> Any:
    """What a busy server exports: per-method request/error counters and latency histograms
    (16 methods), byte and message counters, an in-flight gauge; filled with seeded data."""
    rng = random.Random("mcpfast-bench-registry")
    reg = counters.Registry()
    requests = reg.family("counter", "mcp_requests_total", "Requests received", ("method",))
    errors = reg.family("counter", "mcp_errors_total", "Error responses sent", ("method", "code"))
    latency = reg.family("histogram", "mcp_request_duration_seconds", "Handler latency", ("method",))
    bytes_in = reg.counter("mcp_bytes_received_total", "Bytes read from the transport")
    bytes_out = reg.counter("mcp_bytes_sent_total", "Bytes written to the transport")
    in_flight = reg.gauge("mcp_requests_in_flight", "Requests being handled")
    for method in MCP_METHODS:
        req = requests.labels(method)
        lat = latency.labels(method)
        for _ in range(64):
            req.inc()
            lat.observe(rng.lognormvariate(6.0, 1.5))
        errors.labels(method, "-32603").inc(rng.randrange(3))
    bytes_in.inc(12_345_678)
    bytes_out.inc(98_765_432)
    in_flight.set(3)
    return reg


@pytest.mark.benchmark(group="counters.inc")
def test_counter_inc(benchmark: BenchmarkFixture, counters: Any) -> None:
    c = counters.Counter("mcp_messages_total")
    benchmark(c.inc)
    assert c.value >= 1


@pytest.mark.benchmark(group="counters.observe")
def test_histogram_observe(benchmark: BenchmarkFixture, counters: Any) -> None:
    h = counters.Histogram("mcp_request_duration_seconds")
    benchmark(h.observe, 137.5)
    assert h.count >= 1


@pytest.mark.benchmark(group="counters.labels_inc")
def test_family_labels_inc(benchmark: BenchmarkFixture, counters: Any) -> None:
    fam = counters.Registry().family("counter", "mcp_requests_total", "Requests", ("method",))
    for method in MCP_METHODS:
        fam.labels(method)
    benchmark(_labels_inc, fam.labels)
    assert fam.labels("tools/call").value >= 1


@pytest.mark.benchmark(group="counters.labels_observe")
def test_family_labels_observe(benchmark: BenchmarkFixture, counters: Any) -> None:
    reg = counters.Registry()
    fam = reg.family("histogram", "mcp_request_duration_seconds", "Latency", ("method",))
    benchmark(_labels_observe, fam.labels)
    assert fam.labels("tools/call").count >= 1


@pytest.mark.benchmark(group="counters.prometheus_text")
def test_prometheus_text(benchmark: BenchmarkFixture, counters: Any) -> None:
    reg = server_registry(counters)
    text = benchmark(reg.prometheus_text)
    assert 'mcp_requests_total{method="tools/call"} 64' in text


@pytest.mark.benchmark(group="counters.snapshot")
def test_snapshot(benchmark: BenchmarkFixture, counters: Any) -> None:
    reg = server_registry(counters)
    snap = benchmark(reg.snapshot)
    assert "mcp_requests_total" in snap
