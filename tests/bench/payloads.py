"""Seeded payload factories shared by the pytest-benchmark suites, the asv suite
(asv_bench/benchmarks/common.py loads this file by path) and tests/bench/speed_table.py.

Every factory is deterministic (``random.Random`` seeded with a fixed string, which does not
depend on PYTHONHASHSEED), needs only the standard library, and is cached: the 1 MB payloads
are built once per process (tens of milliseconds), never inside a timed call.

Sizes are exact: ``tools_call_request("10KB")`` is 10240 bytes, and the result envelope of
``tools_call_result("1MB")`` encodes to exactly 1048576 bytes. JSON text is written compact with
non-ASCII unescaped, which is byte for byte what ``orjson.dumps`` gives for these values (the
floats are rounded to 4 places, so no exponent layout differences arise).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any, Final

__all__ = [
    "SIZES",
    "REQUEST_SIZES",
    "RESULT_ID",
    "MCP_METHODS",
    "size_bytes",
    "compact_dumps",
    "tools_call_request",
    "request_frames",
    "tools_call_result",
    "result_envelope",
    "result_bytes",
    "envelope_bytes",
    "ndjson_stream",
    "sse_stream",
]

#: the benchmark ``size`` parameter and its byte count
SIZES: Final[dict[str, int]] = {"100B": 100, "10KB": 10 * 1024, "1MB": 1024 * 1024}
REQUEST_SIZES: Final[tuple[str, ...]] = tuple(SIZES)
#: the id every result envelope carries (a typical small integer request id)
RESULT_ID: Final[int] = 7
_SEED: Final[str] = "mcpfast-bench-1"

#: method names a server sees (the labels of the per-method counter families)
MCP_METHODS: Final[tuple[str, ...]] = (
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
)

# Mostly ASCII, a few multi-byte words: tool arguments and results carry user text.
_WORDS: Final[tuple[str, ...]] = (
    "alpha", "beta", "gamma", "delta", "epsilon", "server", "client", "tool", "resource",
    "prompt", "session", "request", "result", "stream", "buffer", "cursor", "search", "query",
    "document", "vector", "index", "token", "model", "context", "protocol", "message", "batch",
    "frame", "schema", "object", "array", "string", "number", "value", "error", "status",
    "café", "naïve", "Zürich", "東京", "façade", "über",
)
_ASCII_WORDS: Final[tuple[str, ...]] = tuple(w for w in _WORDS if w.isascii())

_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def compact_dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON with non-ASCII unescaped: the bytes ``orjson.dumps(obj)`` gives."""
    return _compact(obj).encode("utf-8")


def size_bytes(size: str) -> int:
    """Byte count of a ``size`` parameter ("100B", "10KB", "1MB")."""
    try:
        return SIZES[size]
    except KeyError:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}") from None


def _rng(*parts: object) -> random.Random:
    return random.Random("/".join((_SEED, *map(str, parts))))


@lru_cache(maxsize=1)
def _corpus() -> str:
    """About 110 KB of seeded ASCII words: the source of all padding text."""
    rng = _rng("corpus")
    return " ".join([rng.choice(_ASCII_WORDS) for _ in range(16384)])


def _ascii_text(rng: random.Random, n: int) -> str:
    """Exactly ``n`` ASCII characters of space-separated words (a seeded slice of the corpus)."""
    corpus = _corpus()
    if n * 2 > len(corpus):
        return (corpus * (n // len(corpus) + 1))[:n]
    start = rng.randrange(len(corpus) - n)
    return corpus[start : start + n]


def _record(rng: random.Random) -> dict[str, Any]:
    """One ~100-byte row: the mix of ints, floats, strings, bools and a list that tool
    arguments and structured results usually hold."""
    return {
        "id": 0,
        "title": " ".join([rng.choice(_WORDS), rng.choice(_WORDS), rng.choice(_WORDS)]),
        "score": round(rng.random(), 4),
        "tags": [rng.choice(_ASCII_WORDS), rng.choice(_ASCII_WORDS)],
        "active": rng.random() < 0.5,
    }


_POOL_SIZE: Final[int] = 256


def _fill(
    obj: dict[str, Any],
    records: list[dict[str, Any]],
    set_pad: Callable[[str], None],
    target: int,
    rng: random.Random,
) -> bytes:
    """Append records to ``records`` while they fit, then pad one ASCII string (through
    ``set_pad``) so that ``obj`` encodes to exactly ``target`` bytes.

    Rows cycle through a pool of 256 seeded ones with the ``id`` renumbered, so that a 1 MB
    payload costs one encode, not ten thousand.
    """
    set_pad("")
    size = len(compact_dumps(obj))
    if size > target:
        raise ValueError(f"the empty payload is {size} bytes, more than the {target} asked for")
    pool = [_record(rng) for _ in range(_POOL_SIZE)]
    pool_len = [len(compact_dumps(rec)) - 1 for rec in pool]  # without the one-digit id "0"
    i = 0
    while True:
        k = i % _POOL_SIZE
        extra = pool_len[k] + len(str(i)) + (1 if records else 0)
        # leave room for the padding to absorb the remainder
        if size + extra > target - 16:
            break
        records.append({**pool[k], "id": i})
        size += extra
        i += 1
    set_pad(_ascii_text(rng, target - size))
    data = compact_dumps(obj)
    assert len(data) == target, (len(data), target)
    return data


@cache
def tools_call_request(size: str) -> bytes:
    """A ``tools/call`` request of exactly ``size`` bytes (one NDJSON frame, no newline)."""
    target = size_bytes(size)
    rng = _rng("request", size)
    arguments: dict[str, Any] = {"text": ""}
    msg: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": 42,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": arguments},
    }
    records: list[dict[str, Any]] = []
    if target >= 1024:
        msg["params"]["name"] = "index_documents"
        msg["params"]["_meta"] = {"progressToken": "tok-42"}
        arguments["documents"] = records

    def set_pad(text: str) -> None:
        arguments["text"] = text

    if target < 1024:
        set_pad(_ascii_text(rng, target - len(compact_dumps(msg))))
        data = compact_dumps(msg)
        assert len(data) == target, (len(data), target)
        return data
    return _fill(msg, records, set_pad, target, rng)


@cache
def request_frames(size: str, n: int = 64) -> tuple[bytes, ...]:
    """``n`` tools/call requests of ``size`` (distinct objects, equal bytes)."""
    data = tools_call_request(size)
    return tuple(bytes(bytearray(data)) for _ in range(n))


@cache
def _result_and_envelope(size: str) -> tuple[dict[str, Any], bytes]:
    target = size_bytes(size)
    rng = _rng("result", size)
    content: dict[str, Any] = {"type": "text", "text": ""}
    result: dict[str, Any] = {"content": [content], "isError": False}
    records: list[dict[str, Any]] = []
    if target >= 1024:
        result["structuredContent"] = {"rows": records, "total": 0}
    envelope = {"jsonrpc": "2.0", "id": RESULT_ID, "result": result}

    def set_pad(text: str) -> None:
        content["text"] = text

    if target < 1024:
        set_pad(_ascii_text(rng, target - len(compact_dumps(envelope))))
        data = compact_dumps(envelope)
        assert len(data) == target, (len(data), target)
        return result, data
    data = _fill(envelope, records, set_pad, target, rng)
    return result, data


def tools_call_result(size: str) -> dict[str, Any]:
    """A ``CallToolResult`` dict whose envelope ``{"jsonrpc":"2.0","id":RESULT_ID,"result":..}``
    encodes to exactly ``size`` bytes. Shared and cached: do not mutate it."""
    return _result_and_envelope(size)[0]


@cache
def result_envelope(size: str) -> dict[str, Any]:
    """``{"jsonrpc": "2.0", "id": RESULT_ID, "result": tools_call_result(size)}``."""
    return {"jsonrpc": "2.0", "id": RESULT_ID, "result": tools_call_result(size)}


def envelope_bytes(size: str) -> bytes:
    """The encoded result envelope: exactly ``size`` bytes."""
    return _result_and_envelope(size)[1]


@cache
def result_bytes(size: str) -> bytes:
    """The result alone, already encoded (the pass-through input of ``encode_result``)."""
    return compact_dumps(tools_call_result(size))


@cache
def ndjson_stream(total: int, line_size: int) -> bytes:
    """``total // line_size`` NDJSON lines of exactly ``line_size`` bytes each (newline
    included): log-message notifications, padded; ``line_size`` must be at least ~100."""
    rng = _rng("ndjson", total, line_size)
    lines: list[bytes] = []
    for i in range(total // line_size):
        head = (
            '{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"%d ' % i
        )
        tail = '"}}\n'
        pad = line_size - len(head) - len(tail)
        if pad < 0:
            raise ValueError(f"line_size {line_size} is too small for line {i}")
        lines.append((head + _ascii_text(rng, pad) + tail).encode("ascii"))
    return b"".join(lines)


@cache
def sse_stream(size: str, total: int = 64 * 1024) -> bytes:
    """An SSE body of ``message`` events whose data is a result envelope of ``size``, as many
    as fit in ``total`` bytes (at least one)."""
    data = envelope_bytes(size)
    events: list[bytes] = []
    length = 0
    i = 0
    while not events or length + len(data) + 40 <= total:
        ev = b"id: %d\nevent: message\ndata: %s\n\n" % (i, data)
        events.append(ev)
        length += len(ev)
        i += 1
    return b"".join(events)
