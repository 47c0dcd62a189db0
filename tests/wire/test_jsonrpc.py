"""JSON-RPC envelope codec, run against both twins (ids c and py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcpfast.errors import EncodeError, InvalidRequest, JSONRPCError, McpError, ParseError

from .corpus import INVALID_ENVELOPE, PARSE_ERRORS, REQ, VALID


def test_request(jsonrpc: Any) -> None:
    msg = jsonrpc.decode(REQ)
    assert type(msg) is jsonrpc.Request
    assert msg.id == 1 and msg.method == "tools/call"
    assert msg.params == {"name": "echo", "arguments": {"message": "hi"}}
    assert msg == jsonrpc.Request(1, "tools/call", {"name": "echo", "arguments": {"message": "hi"}})
    assert "tools/call" in repr(msg)


def test_accepts_bytes_like_and_str(jsonrpc: Any) -> None:
    for data in (REQ, bytearray(REQ), memoryview(REQ), REQ.decode()):
        assert jsonrpc.decode(data).id == 1


def test_notification(jsonrpc: Any) -> None:
    msg = jsonrpc.decode(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    assert type(msg) is jsonrpc.Notification
    assert msg.method == "notifications/initialized" and msg.params is None
    assert msg.as_dict() == {"jsonrpc": "2.0", "method": "notifications/initialized"}


def test_response_and_error(jsonrpc: Any) -> None:
    ok = jsonrpc.decode(b'{"jsonrpc":"2.0","id":"a","result":{"x":1}}')
    assert type(ok) is jsonrpc.Response and ok.id == "a" and ok.result == {"x": 1}
    err = jsonrpc.decode(b'{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"nope","data":[1]}}')
    assert type(err) is jsonrpc.ErrorResponse
    assert (err.id, err.code, err.message, err.data) == (5, -32601, "nope", [1])
    exc = err.to_exception()
    assert isinstance(exc, McpError) and exc.code == -32601 and exc.data == [1]
    anon = jsonrpc.decode(b'{"jsonrpc":"2.0","error":{"code":-32700,"message":"bad"}}')
    assert anon.id is None


def test_null_result_is_a_result(jsonrpc: Any) -> None:
    msg = jsonrpc.decode(b'{"jsonrpc":"2.0","id":1,"result":null}')
    assert type(msg) is jsonrpc.Response and msg.result is None


@pytest.mark.parametrize("data", VALID, ids=lambda d: repr(d[:40]))
def test_valid_corpus(jsonrpc: Any, data: bytes) -> None:
    msg = jsonrpc.decode(data)
    assert isinstance(msg, (jsonrpc.Request, jsonrpc.Notification, jsonrpc.Response, jsonrpc.ErrorResponse, jsonrpc.Batch))


@pytest.mark.parametrize("data", INVALID_ENVELOPE, ids=lambda d: repr(d[:40]))
def test_invalid_envelope_is_32600(jsonrpc: Any, data: bytes) -> None:
    with pytest.raises(InvalidRequest) as info:
        jsonrpc.decode(data)
    assert info.value.code == -32600
    assert " - at $" in info.value.message


@pytest.mark.parametrize("data", PARSE_ERRORS, ids=lambda d: repr(d[:40]))
def test_bad_json_is_32700(jsonrpc: Any, data: bytes) -> None:
    with pytest.raises(ParseError) as info:
        jsonrpc.decode(data)
    assert info.value.code == -32700 and info.value.id is None


@pytest.mark.parametrize(
    ("data", "message", "rid"),
    [
        (b'{"jsonrpc":"1.0","id":7,"method":"x"}', 'Expected "2.0", got "1.0" - at $.jsonrpc', 7),
        (b'{"id":"k","method":"x"}', 'Expected "2.0", got nothing - at $.jsonrpc', "k"),
        (b'{"jsonrpc":"2.0","id":true,"method":"x"}', "Expected a string or an integer, got true - at $.id", None),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"x"}', "Expected a string or an integer, got 1.5 - at $.id", None),
        (b'{"jsonrpc":"2.0","id":null,"method":"x"}', "Expected a string or an integer, got null - at $.id", None),
        (b'{"jsonrpc":"2.0","id":3,"method":5}', "Expected a string, got 5 - at $.method", 3),
        (b'{"jsonrpc":"2.0","id":3,"method":"m","params":"p"}', 'Expected an object or an array, got "p" - at $.params', 3),
        (b'{"jsonrpc":"2.0","id":3,"method":"m","params":null}', "Expected an object or an array, got null - at $.params", 3),
        (b'{"jsonrpc":"2.0","id":3}', 'Expected "method", "result" or "error", got none of them - at $', 3),
        (b'{"jsonrpc":"2.0","id":3,"result":1,"error":{}}', 'Expected exactly one of "result" and "error", got both - at $', 3),
        # a request that is also a response is neither (checked before the method's type)
        (b'{"jsonrpc":"2.0","id":3,"method":"m","result":{}}', 'Expected either "method" or "result"/"error", got "method" and "result" - at $', 3),
        (b'{"jsonrpc":"2.0","id":"k","method":5,"error":{"code":1,"message":"m"}}', 'Expected either "method" or "result"/"error", got "method" and "error" - at $', "k"),
        (b'{"jsonrpc":"2.0","method":"m","result":null,"error":null}', 'Expected either "method" or "result"/"error", got "method" and "result" - at $', None),
        # an integer beyond 64 bits decodes as a float (the JSON backends' rule): not an id
        (b'{"jsonrpc":"2.0","id":18446744073709551616,"method":"m"}', "Expected a string or an integer, got 1.8446744073709552e+19 - at $.id", None),
        (b'{"jsonrpc":"2.0","id":3,"error":{"code":"x","message":"m"}}', 'Expected an integer, got "x" - at $.error.code', 3),
        (b'{"jsonrpc":"2.0","id":3,"error":{"code":1}}', "Expected a string, got nothing - at $.error.message", 3),
        (b'"hello"', 'Expected an object, got "hello" - at $', None),
        (b"[]", "Expected a non-empty array of messages, got [] - at $", None),
        (b'{"jsonrpc":"2.0","id":"' + b"x" * 100 + b'","method":1}', "Expected a string, got 1 - at $.method", "x" * 100),
        (b'{"jsonrpc":"' + b"v" * 100 + b'"}', 'Expected "2.0", got "' + "v" * 36 + '... - at $.jsonrpc', None),
    ],
)
def test_error_texts_and_recovered_id(jsonrpc: Any, data: bytes, message: str, rid: Any) -> None:
    with pytest.raises(InvalidRequest) as info:
        jsonrpc.decode(data)
    assert info.value.message == message
    assert info.value.id == rid
    assert info.value.to_dict() == {"code": -32600, "message": message}


def test_batch(jsonrpc: Any) -> None:
    batch = jsonrpc.decode(
        b'[{"jsonrpc":"2.0","id":1,"method":"a"},7,{"jsonrpc":"2.0","method":"n"},{"jsonrpc":"2.0","id":"z","method":3}]'
    )
    assert type(batch) is jsonrpc.Batch and len(batch) == 4
    assert type(batch[0]) is jsonrpc.Request and batch[0].id == 1
    assert isinstance(batch[1], InvalidRequest) and batch[1].message == "Expected an object, got 7 - at $[1]"
    assert type(batch[2]) is jsonrpc.Notification
    assert isinstance(batch[3], InvalidRequest) and batch[3].id == "z"
    assert batch[3].message == "Expected a string, got 3 - at $[3].method"


def test_decode_all_keeps_order_and_errors_in_place(jsonrpc: Any) -> None:
    out = jsonrpc.decode_all([REQ, b"{bad", b'{"jsonrpc":"2.0","id":2,"method":1}', b'{"jsonrpc":"2.0","method":"n"}'])
    assert type(out[0]) is jsonrpc.Request
    assert isinstance(out[1], ParseError)
    assert isinstance(out[2], InvalidRequest) and out[2].id == 2
    assert type(out[3]) is jsonrpc.Notification


def test_parse_error_text(jsonrpc: Any) -> None:
    with pytest.raises(ParseError) as info:
        jsonrpc.decode(b'{"jsonrpc":"2.0","id":1,"method":"x",}')
    lines = str(info.value).splitlines()
    assert lines[0] == "Invalid JSON: expected a string key in double quotes - at byte 37 (line 1, column 38)"
    assert lines[2].index("^") - 2 == 37


def test_validate_takes_decoded_values(jsonrpc: Any) -> None:
    assert jsonrpc.validate({"jsonrpc": "2.0", "id": 1, "method": "m"}) == jsonrpc.Request(1, "m")
    with pytest.raises(InvalidRequest):
        jsonrpc.validate({"jsonrpc": "2.0", "id": True, "method": "m"})


# ------------------------------------------------------------------------------ encoding


def test_encode_request_and_notification(jsonrpc: Any) -> None:
    assert jsonrpc.encode_request(1, "ping") == b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
    assert (
        jsonrpc.encode_request("a/b", "tools/call", {"name": "é"})
        == '{"jsonrpc":"2.0","id":"a/b","method":"tools/call","params":{"name":"é"}}'.encode()
    )
    assert jsonrpc.encode_notification("n") == b'{"jsonrpc":"2.0","method":"n"}'
    assert jsonrpc.encode_notification("n", {"a": 1}) == b'{"jsonrpc":"2.0","method":"n","params":{"a":1}}'


def test_encode_result(jsonrpc: Any) -> None:
    assert jsonrpc.encode_result(3, {"content": []}) == b'{"jsonrpc":"2.0","id":3,"result":{"content":[]}}'
    assert jsonrpc.encode_result("x", None) == b'{"jsonrpc":"2.0","id":"x","result":null}'


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_encode_result_passes_encoded_bytes_through(jsonrpc: Any, kind: Any) -> None:
    raw = kind(b'{"content":[{"type":"text","text":"pre-encoded"}]}')
    out = jsonrpc.encode_result('q"', raw)
    assert out == b'{"jsonrpc":"2.0","id":"q\\"","result":{"content":[{"type":"text","text":"pre-encoded"}]}}'
    assert jsonrpc.encode_result(1, b"") == b'{"jsonrpc":"2.0","id":1,"result":}'  # caller vouches


def test_encode_error(jsonrpc: Any) -> None:
    assert jsonrpc.encode_error(None, -32700, "Parse error") == (
        b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}'
    )
    assert jsonrpc.encode_error(4, -32602, "bad", {"uri": "x"}) == (
        b'{"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"bad","data":{"uri":"x"}}}'
    )


@pytest.mark.parametrize("bad_id", [True, 1.5, None, [1], b"x"])
def test_encode_rejects_bad_ids(jsonrpc: Any, bad_id: Any) -> None:
    with pytest.raises(TypeError, match="request id"):
        jsonrpc.encode_request(bad_id, "m")
    with pytest.raises(TypeError, match="request id"):
        jsonrpc.encode_result(bad_id, {})


@pytest.mark.parametrize("rid", [2**64, -(2**63) - 1, 10**30, -(10**5000)], ids=["2**64", "-2**63-1", "10**30", "-10**5000"])
def test_encoders_refuse_ids_beyond_64_bits(jsonrpc: Any, rid: int) -> None:
    # decode can never give such an id back (it reads as a float), so no encoder writes one;
    # the id is checked first, whatever else is wrong, and the text is the same in both twins
    text = f"{rid}" if rid.bit_length() <= 200 else f"-<{rid.bit_length()} bits>"
    message = "^" + re.escape(f"Cannot encode integer {text} outside [-2**63, 2**64) - at $.id") + "$"
    with pytest.raises(EncodeError, match=message):
        jsonrpc.encode_request(rid, "m", {"x": float("nan")})
    with pytest.raises(EncodeError, match=message):
        jsonrpc.encode_result(rid, {"x": float("nan")})
    with pytest.raises(EncodeError, match=message):
        jsonrpc.encode_result(rid, b"{}")
    with pytest.raises(EncodeError, match=message):
        jsonrpc.encode_error(rid, -1, "m")
    with pytest.raises(EncodeError, match=message):
        jsonrpc.encode_message(jsonrpc.Response(rid, {}))


@pytest.mark.parametrize("rid", [2**64 - 1, 2**63, 2**63 - 1, -(2**63), 0])
def test_ids_at_the_64_bit_edges_round_trip(jsonrpc: Any, rid: int) -> None:
    assert jsonrpc.decode(jsonrpc.encode_request(rid, "m")).id == rid
    assert jsonrpc.decode(jsonrpc.encode_result(rid, {})).id == rid
    assert jsonrpc.decode(jsonrpc.encode_result(rid, b"{}")).id == rid
    assert jsonrpc.decode(jsonrpc.encode_error(rid, -1, "m")).id == rid


def test_encode_rejects_non_json(jsonrpc: Any) -> None:
    with pytest.raises(EncodeError, match=r"nan.* - at \$\.result\.v"):
        jsonrpc.encode_result(1, {"v": float("nan")})
    with pytest.raises(EncodeError, match=r"- at \$\.params\.k"):
        jsonrpc.encode_request(1, "m", {"k": object()})
    with pytest.raises(TypeError):
        jsonrpc.encode_request(1, 5)
    with pytest.raises(TypeError):
        jsonrpc.encode_error(1, "code", "m")


def test_encode_message_round_trip(jsonrpc: Any) -> None:
    msgs = [
        jsonrpc.Request(1, "m", {"a": [1]}),
        jsonrpc.Notification("n", [1, 2]),
        jsonrpc.Response("r", {"ok": True}),
        jsonrpc.ErrorResponse(None, -32600, "bad", {"why": "x"}),
    ]
    for msg in msgs:
        assert jsonrpc.decode(jsonrpc.encode_message(msg)) == msg
    with pytest.raises(TypeError):
        jsonrpc.encode_message({"jsonrpc": "2.0"})


def test_messages_are_mutable_records(jsonrpc: Any) -> None:
    msg = jsonrpc.Request(1, "m")
    msg.params = {"x": 1}
    assert msg.as_dict()["params"] == {"x": 1}


ids = st.one_of(st.integers(min_value=-(2**63), max_value=2**64 - 1), st.text(max_size=20))
json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=20,
)
params = st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=4) | st.lists(json_values, max_size=4)


@settings(max_examples=150, deadline=None)
@given(ids, st.text(max_size=30), params)
def test_encode_then_decode_request_is_identity(jsonrpc: Any, rid: Any, method: str, p: Any) -> None:
    msg = jsonrpc.decode(jsonrpc.encode_request(rid, method, p))
    assert type(msg) is jsonrpc.Request
    assert (msg.id, msg.method, msg.params) == (rid, method, p)


@settings(max_examples=150, deadline=None)
@given(ids, json_values)
def test_encode_then_decode_result_is_identity(jsonrpc: Any, rid: Any, result: Any) -> None:
    msg = jsonrpc.decode(jsonrpc.encode_result(rid, result))
    assert type(msg) is jsonrpc.Response and msg.id == rid and msg.result == result


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_raise_only_documented_errors(jsonrpc: Any, data: bytes) -> None:
    try:
        jsonrpc.decode(data)
    except (ParseError, InvalidRequest):
        pass


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_json_values_raise_only_invalid_request(jsonrpc: Any, value: Any) -> None:
    try:
        jsonrpc.validate(value)
    except InvalidRequest as exc:
        assert isinstance(exc, JSONRPCError) and exc.code == -32600


def test_large_message(jsonrpc: Any) -> None:
    big = "x" * (16 * 1024 * 1024)
    data = jsonrpc.encode_result(1, {"text": big})
    assert len(data) > 16 * 1024 * 1024
    assert jsonrpc.decode(data).result["text"] == big


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": (1.0, [float("inf")])}, r"\$\.result\.a\[1\]\[0\]"),
        ([{"deep": {"x": [1, 2, -float("inf")]}}], r"\$\.result\[0\]\.deep\.x\[2\]"),
        (float("nan"), r"\$\.result"),
    ],
)
def test_nonfinite_floats_are_found_anywhere(jsonrpc: Any, value: Any, path: str) -> None:
    with pytest.raises(EncodeError, match=path):
        jsonrpc.encode_result(7, value)


def test_nonfinite_in_container_subclasses(jsonrpc: Any) -> None:
    from collections import OrderedDict

    class L(list):  # type: ignore[type-arg]
        pass

    with pytest.raises(EncodeError):
        jsonrpc.encode_result(1, OrderedDict(x=L([float("nan")])))
    with pytest.raises(EncodeError):
        jsonrpc.encode_notification("n", {"p": float("nan")})


def test_null_and_text_null_are_fine(jsonrpc: Any) -> None:
    out = jsonrpc.encode_result(1, {"a": None, "t": "null nan NaN Infinity", "f": [0.5, -1e300]})
    assert jsonrpc.decode(out).result == {"a": None, "t": "null nan NaN Infinity", "f": [0.5, -1e300]}


def test_nonfinite_found_in_large_results(jsonrpc: Any) -> None:
    # past 512 encoded bytes the compiled twin walks the value instead of scanning the output
    big = {"text": "n" * 2000, "items": [{"v": i * 0.5} for i in range(50)]}
    assert jsonrpc.decode(jsonrpc.encode_result(1, big)).result == big
    big["items"][40]["v"] = float("nan")
    with pytest.raises(EncodeError, match=r"\$\.result\.items\[40\]\.v"):
        jsonrpc.encode_result(1, big)
    with pytest.raises(EncodeError, match=r"\$\.params\.items\[40\]\.v"):
        jsonrpc.encode_request(1, "m", big)
