"""Benchmarks of NDJSON and SSE framing (mcpfast/wire/_framing.pyx,
_framing_py.py), with plain-``bytes`` baselines where one exists.

Real runs: ``pytest tests/bench --benchmark-enable --benchmark-only
--benchmark-group-by=group,param:size``; by default each body runs once (``--benchmark-disable``).
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from . import payloads

#: (size, shape): the stream length and the length of each NDJSON line
SPLIT_CASES = [("64KB", "100B"), ("1MB", "100B"), ("1MB", "10KB")]
_STREAM = {"64KB": 64 * 1024, "1MB": 1024 * 1024}
_LINE = {"100B": 100, "10KB": 10 * 1024}
CHUNK = 4096  # what one socket read typically brings


def _stream(size: str, shape: str) -> bytes:
    return payloads.ndjson_stream(_STREAM[size], _LINE[shape])


def _feed_chunks(feed: Any, chunks: list[bytes]) -> int:
    n = 0
    for chunk in chunks:
        n += len(feed(chunk))
    return n


# ------------------------------------------------------------------------------------- NDJSON


@pytest.mark.benchmark(group="framing.split")
@pytest.mark.parametrize(("size", "shape"), SPLIT_CASES)
def test_split(benchmark: BenchmarkFixture, framing: Any, size: str, shape: str) -> None:
    """One ``feed`` of a whole buffer of complete lines (the splitter ends each call empty)."""
    data = _stream(size, shape)
    splitter = framing.LineSplitter()
    frames = benchmark(splitter.feed, data)
    assert len(frames) == len(data) // _LINE[shape]
    assert splitter.pending == 0


@pytest.mark.benchmark(group="framing.split")
@pytest.mark.parametrize(("size", "shape"), SPLIT_CASES)
def test_split_baseline_bytes_split(benchmark: BenchmarkFixture, size: str, shape: str) -> None:
    """The floor: ``bytes.split`` with no buffering, CR handling, blank-line skip or limit."""
    data = _stream(size, shape)
    frames = benchmark(data.split, b"\n")
    assert len(frames) == len(data) // _LINE[shape] + 1


@pytest.mark.benchmark(group="framing.split_chunked")
@pytest.mark.parametrize("size", ["64KB", "1MB"])
def test_split_chunked(benchmark: BenchmarkFixture, framing: Any, size: str) -> None:
    """100 B lines arriving in 4 KiB reads, so that lines straddle chunk boundaries."""
    data = _stream(size, "100B")
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    splitter = framing.LineSplitter()
    n = benchmark(_feed_chunks, splitter.feed, chunks)
    assert n == len(data) // 100


# ---------------------------------------------------------------------------------------- SSE


@pytest.mark.benchmark(group="framing.sse_parse")
@pytest.mark.parametrize("size", payloads.REQUEST_SIZES)
def test_sse_parse(benchmark: BenchmarkFixture, framing: Any, size: str) -> None:
    """A 64 KiB body of ``message`` events carrying result envelopes of ``size`` (one event
    for 1 MB)."""
    data = payloads.sse_stream(size)
    parser = framing.SSEParser()
    events = benchmark(parser.feed, data)
    assert events and events[-1].event == "message"
    assert events[-1].data.encode() == payloads.envelope_bytes(size)


@pytest.mark.benchmark(group="framing.encode_sse")
@pytest.mark.parametrize("size", payloads.REQUEST_SIZES)
def test_encode_sse(benchmark: BenchmarkFixture, framing: Any, size: str) -> None:
    data = payloads.envelope_bytes(size)
    out = benchmark(framing.encode_sse, data, event="message", id="42")
    assert out.endswith(b"\n\n") and len(out) > len(data)
