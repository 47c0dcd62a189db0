"""The client side of the 2026-07-28 mirror headers (``mcpfast.http_headers``): the value
encoding of the spec's examples, the ``Mcp-Param-*`` values of one call, and the tools an HTTP
client must drop; each checked against the server side's decoder and checker."""

from __future__ import annotations

from typing import Any

import pytest

from mcpfast.http_headers import (
    check_param_headers,
    decode_header_value,
    encode_header_value,
    has_invalid_annotation,
    param_headers,
    param_spec,
)

from .helpers import BAD_SCHEMA, REGION_SCHEMA


@pytest.mark.parametrize(("value", "sent"), [
    ("us-west1", "us-west1"),
    ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
    (" padded ", "=?base64?IHBhZGRlZCA=?="),
    ("line1\nline2", "=?base64?bGluZTEKbGluZTI=?="),
    ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
    ("tab\there", "=?base64?dGFiCWhlcmU=?="),
    ("inner space", "inner space"),
    ("", ""),
])
def test_value_encoding_follows_the_spec_examples(value: str, sent: str) -> None:
    assert encode_header_value(value) == sent
    assert decode_header_value(sent) == value


def test_param_headers_are_what_the_server_accepts() -> None:
    spec = param_spec(REGION_SCHEMA)
    for args in ({"region": "eu", "n": 3}, {"region": "Zürich"}, {"region": " x ", "n": -7}, {"n": True}, {}):
        pairs = param_headers(spec, args)
        headers = {name.lower(): value for name, value in pairs}
        assert check_param_headers(spec, args, headers) is None, (args, pairs)
    assert param_headers(spec, {"region": "eu", "n": 3}) == [("Mcp-Param-Region", "eu"), ("Mcp-Param-N", "3")] or \
        param_headers(spec, {"region": "eu", "n": 3}) == [("Mcp-Param-N", "3"), ("Mcp-Param-Region", "eu")]
    assert param_headers(spec, {"region": None}) == []  # null: omitted
    assert param_headers(spec, {"region": {"nested": 1}}) == []  # not a primitive: no header


@pytest.mark.parametrize(("schema", "invalid"), [
    (REGION_SCHEMA, False),
    (BAD_SCHEMA, True),
    ({"type": "object", "properties": {"a": {"type": "number", "x-mcp-header": "A"}}}, True),
    ({"type": "object", "properties": {"a": {"type": "string", "x-mcp-header": "bad name"}}}, True),
    ({"type": "object", "properties": {"a": {"type": "string", "x-mcp-header": "A"},
                                       "b": {"type": "string", "x-mcp-header": "a"}}}, True),
    ({"type": "object", "properties": {"a": {"type": "string"}}}, False),
    ({"type": "object", "properties": {"o": {"type": "object", "properties": {
        "deep": {"type": "string", "x-mcp-header": "Deep"}}}}}, False),
    (None, False),
])
def test_invalid_annotations_are_recognised(schema: Any, invalid: bool) -> None:
    assert has_invalid_annotation(schema) is invalid
