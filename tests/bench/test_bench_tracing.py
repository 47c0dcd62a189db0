"""What tracing costs the dispatcher (mcpfast/tracing.py, ServerCore.on_request): a
``tools/call`` of an inline echo tool answered by ``on_request``, with tracing off
(opentelemetry imported, no provider: the one slot read), on (an SDK provider with no
processor: a recording span built and ended per request), and the slot read alone.

Real runs: ``pytest tests/bench/test_bench_tracing.py --benchmark-enable --benchmark-only``;
by default each body runs once (``--benchmark-disable``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from pytest_benchmark.fixture import BenchmarkFixture

from mcpfast import tracing
from mcpfast.server import ServerCore
from mcpfast.server.session import LegacySession
from mcpfast.wire import jsonrpc

REQUEST = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}'


class _Peer:
    state = LegacySession("2025-11-25", {}, None)
    network_transport = "pipe"


@pytest.fixture
def state(request: pytest.FixtureRequest) -> Iterator[str]:
    assert isinstance(otel_trace.get_tracer_provider(), otel_trace.ProxyTracerProvider)
    tracing.use_tracer_provider(TracerProvider() if request.param == "on" else None)
    try:
        yield request.param
    finally:
        tracing.use_tracer_provider(None)


@pytest.mark.benchmark(group="tracing.on_request")
@pytest.mark.parametrize("state", ["off", "on"], indirect=True)
def test_on_request(benchmark: BenchmarkFixture, state: str) -> None:
    core = ServerCore("bench", "1")
    core.add_tool("echo", lambda message: message, input_schema={"type": "object"})
    req = jsonrpc.decode_all([REQUEST])[0]
    peer: Any = _Peer()
    assert (tracing.watched[tracing.PROVIDER_KEY] is None) == (state == "off")
    res = benchmark(core.on_request, peer, req)
    assert res["content"][0]["text"] == "hi"


@pytest.mark.benchmark(group="tracing.check")
def test_the_slot_read_alone(benchmark: BenchmarkFixture) -> None:
    key = tracing.PROVIDER_KEY

    def check() -> bool:
        return tracing.watched[key] is not None

    assert benchmark(check) is False
