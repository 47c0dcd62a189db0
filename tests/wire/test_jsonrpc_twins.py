"""One corpus through both codec twins: same message or the same error class and text."""

from __future__ import annotations

from typing import Any

import pytest

from mcpfast.errors import JSONRPCError
from mcpfast.wire import _jsonrpc_py as P

from .corpus import INVALID_ENVELOPE, PARSE_ERRORS, REQ, VALID, same

pytestmark = pytest.mark.c_extension


@pytest.fixture(scope="module")
def C() -> Any:
    from mcpfast.wire import _jsonrpc

    return _jsonrpc


def result(mod: Any, data: Any) -> Any:
    try:
        return norm(mod.decode(data))
    except JSONRPCError as exc:
        return [type(exc).__name__, str(exc), exc.id, exc.code]


def norm(msg: Any) -> Any:
    if isinstance(msg, list):
        return ["Batch", [norm(m) for m in msg]]
    if isinstance(msg, JSONRPCError):
        return [type(msg).__name__, str(msg), msg.id, msg.code]
    return [type(msg).__name__, msg.as_dict()]


CORPUS = VALID + INVALID_ENVELOPE + PARSE_ERRORS


@pytest.mark.parametrize("data", CORPUS, ids=lambda d: repr(d[:40]))
def test_twins_agree(C: Any, data: bytes) -> None:
    assert same(result(C, data), result(P, data))


@pytest.mark.parametrize("data", CORPUS, ids=lambda d: repr(d[:40]))
def test_twins_agree_on_every_prefix(C: Any, data: bytes) -> None:
    # a frame cut anywhere (a truncated read) must fail alike in both twins
    for i in range(0, min(len(data), 200)):
        assert same(result(C, data[:i]), result(P, data[:i]))


def test_decode_all_agrees(C: Any) -> None:
    frames = CORPUS + [REQ] * 3
    assert same([norm(m) for m in C.decode_all(frames)], [norm(m) for m in P.decode_all(frames)])


@pytest.mark.parametrize(
    ("fn", "args"),
    [
        ("encode_request", (1, "m", {"a": "é/"})),
        ("encode_request", ("s", "m", [1.5e-7, 1e16])),
        ("encode_notification", ("n", None)),
        ("encode_result", (2**64 - 1, {"x": [None, True]})),
        ("encode_result", ("i", b'{"pre":1}')),
        ("encode_result", (1, {"nan": float("nan")})),
        ("encode_result", (1, {"big": 2**64})),
        ("encode_result", (True, {})),
        ("encode_error", (None, -32700, "m", None)),
        ("encode_error", (1, -1, "m", {"d": 1})),
    ],
)
def test_encoders_agree(C: Any, fn: str, args: tuple[Any, ...]) -> None:
    def run(mod: Any) -> Any:
        try:
            return getattr(mod, fn)(*args)
        except Exception as exc:  # noqa: BLE001 - comparing whatever happens
            return (type(exc).__name__, str(exc))

    assert run(C) == run(P)
