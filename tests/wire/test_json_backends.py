"""Every JSON backend behaves the same: same values, same bytes, same errors and texts.

The backend is normally chosen once per process (MCPFAST_JSON); here the module-level
``select`` switches the ``_json`` functions themselves, so one run compares all three.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpfast.errors import EncodeError, ParseError
from mcpfast.wire import _json

from .corpus import INVALID_ENVELOPE, PARSE_ERRORS, VALID
from .corpus import same as _same


@pytest.fixture(params=_json.BACKENDS)
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    old = _json.BACKEND
    _json.select(request.param)
    try:
        yield request.param
    finally:
        _json.select(old)


def outcome(fn: Any, arg: Any) -> tuple[str, Any]:
    try:
        return ("ok", fn(arg))
    except (ParseError, EncodeError) as exc:
        return (type(exc).__name__, str(exc))


def by_backend(fn_name: str, arg: Any) -> dict[str, tuple[str, Any]]:
    old = _json.BACKEND
    results = {}
    try:
        for name in _json.BACKENDS:
            _json.select(name)
            results[name] = outcome(getattr(_json, fn_name), arg)
    finally:
        _json.select(old)
    return results


@pytest.mark.parametrize("data", VALID + INVALID_ENVELOPE + PARSE_ERRORS, ids=lambda d: repr(d[:30]))
def test_decode_agrees(data: bytes) -> None:
    results = by_backend("loads", data)
    first = results["orjson"]
    for name, res in results.items():
        assert res[0] == first[0], (name, res, first)
        if res[0] == "ok":
            assert _same(res[1], first[1]), name
        else:
            assert res[1] == first[1], name


@pytest.mark.parametrize("data", PARSE_ERRORS, ids=lambda d: repr(d[:30]))
def test_parse_errors_rejected(backend: str, data: bytes) -> None:
    with pytest.raises(ParseError) as info:
        _json.loads(data)
    assert info.value.code == -32700
    assert "Invalid JSON: " in str(info.value)
    assert " - at byte " in str(info.value)


def test_parse_error_points_at_the_offset(backend: str) -> None:
    with pytest.raises(ParseError) as info:
        _json.loads(b'{"a": 1 "b": 2}')
    text = str(info.value)
    assert text.splitlines()[0] == "Invalid JSON: expected ',' or a closing bracket - at byte 8 (line 1, column 9)"
    assert text.splitlines()[2].index("^") - 2 == 8


@pytest.mark.parametrize(
    ("data", "first_line"),
    [
        (b'{"a":1 , }', "Invalid JSON: expected a string key in double quotes - at byte 9 (line 1, column 10)"),
        (b"[1, ]", "Invalid JSON: expected a JSON value - at byte 4 (line 1, column 5)"),
        (b"[1,\n  ]", "Invalid JSON: expected a JSON value - at byte 6 (line 2, column 3)"),
    ],
)
def test_trailing_comma_text_is_the_same_on_every_python(backend: str, data: bytes, first_line: str) -> None:
    # CPython 3.13's stdlib scanner words a trailing comma its own way, at the comma; the
    # canonical text (what 3.11 and 3.12 say) points at what should follow it
    with pytest.raises(ParseError) as info:
        _json.loads(data)
    assert str(info.value).splitlines()[0] == first_line


def test_depth_past_the_limit_behind_a_later_syntax_error_is_the_depth_error(backend: str) -> None:
    deep = b"[" * (_json.MAX_DEPTH + 1) + b"1,]" + b"]" * _json.MAX_DEPTH
    with pytest.raises(ParseError, match="nesting deeper than 1024"):
        _json.loads(deep)


def test_offset_counts_bytes_not_characters(backend: str) -> None:
    # "é" is two bytes: the bad token is at character 9 but at byte 10
    with pytest.raises(ParseError, match=r"at byte 10 \(line 1, column 10\)"):
        _json.loads('{"é": 1, x}'.encode())


def test_bom_is_ignored(backend: str) -> None:
    assert _json.loads(b'\xef\xbb\xbf{"a":1}') == {"a": 1}


def test_big_integers_become_floats(backend: str) -> None:
    value = _json.loads(b"[18446744073709551615, 18446744073709551616, -9223372036854775808, -9223372036854775809]")
    assert value[0] == 2**64 - 1 and type(value[0]) is int
    assert type(value[1]) is float and value[1] == float(2**64)
    assert value[2] == -(2**63) and type(value[2]) is int
    assert type(value[3]) is float


def test_duplicate_keys_keep_the_last(backend: str) -> None:
    assert _json.loads(b'{"a":1,"b":0,"a":2}') == {"a": 2, "b": 0}


def test_depth_limit(backend: str) -> None:
    ok = b"[" * _json.MAX_DEPTH + b"]" * _json.MAX_DEPTH
    depth = 0
    value = _json.loads(ok)
    while value:
        value = value[0]
        depth += 1
    assert depth == _json.MAX_DEPTH - 1
    with pytest.raises(ParseError, match="nesting deeper than 1024"):
        _json.loads(b"[" * (_json.MAX_DEPTH + 1) + b"]" * (_json.MAX_DEPTH + 1))


ENCODABLE: list[Any] = [
    {"a": [1, "two", 3.5, True, False, None]},
    "/é\u2028😀\x00\x1f\x7f",
    {"k": -(2**63), "u": 2**64 - 1},
    [0.1, -0.0, 1e16, 1.5e-7, 1e300, 5e-324],
    (1, 2),
    {"nested": {"deep": [[[]]]}},
    "",
    {},
]

NOT_ENCODABLE: list[Any] = [
    float("nan"),
    {"x": [1, float("inf")]},
    -float("inf"),
    2**64,
    {"n": -(2**63) - 1},
    {1: "int key"},
    {"ok": {None: 1}},
    "\ud800",
    {"\udc00": 1},
    object(),
    {"b": b"bytes"},
    {"s": {1, 2}},
]


@pytest.mark.parametrize("value", ENCODABLE, ids=repr)
def test_encode_agrees(value: Any) -> None:
    results = by_backend("dumps", value)
    assert len({r for r in results.values()}) == 1, results
    kind, out = results["orjson"]
    assert kind == "ok"
    assert b"\\/" not in out and b"\\u00e9" not in out
    assert _json.loads(out) == (list(value) if isinstance(value, tuple) else value)


@pytest.mark.parametrize("value", NOT_ENCODABLE, ids=repr)
def test_encode_errors_agree(value: Any) -> None:
    results = by_backend("dumps", value)
    assert len({r for r in results.values()}) == 1, results
    kind, text = results["orjson"]
    assert kind == "EncodeError"
    assert " - at $" in text


def test_encode_error_names_the_path(backend: str) -> None:
    with pytest.raises(EncodeError, match=r"Cannot encode float nan: not valid JSON - at \$\.result\.items\[2\]"):
        _json.dumps({"result": {"items": [1, 2, math.nan]}})


def test_null_alone_is_fine(backend: str) -> None:
    # orjson's NaN check is triggered by a null in the output; a real null must still pass
    assert _json.dumps({"a": None, "b": [None]}) == b'{"a":null,"b":[null]}'


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_roundtrip_same_bytes_on_every_backend(value: Any) -> None:
    results = by_backend("dumps", value)
    outs = {r for r in results.values()}
    assert len(outs) == 1, results
    kind, out = results["orjson"]
    assert kind == "ok"
    decoded = by_backend("loads", out)
    assert all(_same(r[1], decoded["orjson"][1]) for r in decoded.values())
    assert decoded["json"][1] == value


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_agree_and_raise_only_parse_error(data: bytes) -> None:
    results = by_backend("loads", data)
    kinds = {r[0] for r in results.values()}
    assert kinds <= {"ok", "ParseError"}
    first = results["orjson"]
    for res in results.values():
        assert res[0] == first[0]
        if res[0] == "ParseError":
            assert res[1] == first[1]
