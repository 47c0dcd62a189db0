"""Benchmarks of the JSON-RPC envelope codec (mcpfast/wire/_jsonrpc.pyx, _jsonrpc_py.py), with
bare orjson / ujson / stdlib json rows in the same groups as baselines.

Real runs: ``pytest tests/bench --benchmark-enable --benchmark-only
--benchmark-group-by=group,param:size``; by default each body runs once (``--benchmark-disable``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import orjson
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from . import payloads

SIZES = list(payloads.REQUEST_SIZES)
FRAME_SIZES = ["100B", "10KB"]  # decode_all of 64 frames: 64 MB of 1 MB frames says nothing new
LIBS = ["orjson", "ujson", "json"]


def _library(name: str) -> ModuleType:
    if name == "ujson":
        return pytest.importorskip("ujson")  # type: ignore[no-any-return]
    return orjson if name == "orjson" else json


def _loads(name: str) -> Callable[[bytes], Any]:
    """The library's own decode of UTF-8 bytes, called bare."""
    return _library(name).loads  # type: ignore[no-any-return]


def _dumps(name: str) -> Callable[[Any], bytes]:
    """The library's encode to the same wire bytes as orjson gives (compact, UTF-8, non-ASCII
    unescaped); for ujson and json that needs keyword arguments and a ``.encode()``."""
    if name == "orjson":
        return orjson.dumps
    if name == "ujson":
        ujson = _library("ujson")
        u_dumps = ujson.dumps

        def ujson_dumps(obj: Any) -> bytes:
            out: str = u_dumps(obj, ensure_ascii=False, escape_forward_slashes=False)
            return out.encode()

        return ujson_dumps
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def json_dumps(obj: Any) -> bytes:
        return encode(obj).encode()

    return json_dumps


def test_payloads_are_what_they_say() -> None:
    """Not a benchmark: the inputs decode, have their nominal size and agree with orjson."""
    for size in SIZES:
        data = payloads.tools_call_request(size)
        assert len(data) == payloads.size_bytes(size)
        assert orjson.loads(data)["method"] == "tools/call"
        assert orjson.dumps(payloads.result_envelope(size)) == payloads.envelope_bytes(size)
        assert len(payloads.envelope_bytes(size)) == payloads.size_bytes(size)


# ------------------------------------------------------------------------------------ decode


@pytest.mark.benchmark(group="jsonrpc.decode")
@pytest.mark.parametrize("size", SIZES)
def test_decode(benchmark: BenchmarkFixture, jsonrpc: Any, size: str) -> None:
    data = payloads.tools_call_request(size)
    msg = benchmark(jsonrpc.decode, data)
    assert type(msg) is jsonrpc.Request and msg.method == "tools/call"


@pytest.mark.benchmark(group="jsonrpc.decode")
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("lib", LIBS)
def test_decode_baseline(benchmark: BenchmarkFixture, lib: str, size: str) -> None:
    loads = _loads(lib)
    data = payloads.tools_call_request(size)
    obj = benchmark(loads, data)
    assert obj["method"] == "tools/call"


@pytest.mark.benchmark(group="jsonrpc.decode_all")
@pytest.mark.parametrize("size", FRAME_SIZES)
def test_decode_all_64(benchmark: BenchmarkFixture, jsonrpc: Any, size: str) -> None:
    frames = list(payloads.request_frames(size, 64))
    out = benchmark(jsonrpc.decode_all, frames)
    assert len(out) == 64 and type(out[-1]) is jsonrpc.Request


# ------------------------------------------------------------------------------- encode_result


@pytest.mark.benchmark(group="jsonrpc.encode_result")
@pytest.mark.parametrize("size", SIZES)
def test_encode_result(benchmark: BenchmarkFixture, jsonrpc: Any, size: str) -> None:
    result = payloads.tools_call_result(size)
    out = benchmark(jsonrpc.encode_result, payloads.RESULT_ID, result)
    assert out == payloads.envelope_bytes(size)


@pytest.mark.benchmark(group="jsonrpc.encode_result")
@pytest.mark.parametrize("size", SIZES)
def test_encode_result_passthrough(benchmark: BenchmarkFixture, jsonrpc: Any, size: str) -> None:
    """The result is already encoded (``bytes``): copied into the envelope, not re-encoded."""
    result = payloads.result_bytes(size)
    out = benchmark(jsonrpc.encode_result, payloads.RESULT_ID, result)
    assert out == payloads.envelope_bytes(size)


@pytest.mark.benchmark(group="jsonrpc.encode_result")
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("lib", LIBS)
def test_encode_result_baseline(benchmark: BenchmarkFixture, lib: str, size: str) -> None:
    """The library encoding the equivalent envelope dict, built beforehand."""
    dumps = _dumps(lib)
    envelope = payloads.result_envelope(size)
    out = benchmark(dumps, envelope)
    assert out == payloads.envelope_bytes(size)
