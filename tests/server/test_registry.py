"""Unit tests of the registration-time machinery: input checks, URI templates, requestState."""

from __future__ import annotations

import pytest

from mcpfast.errors import InvalidParams
from mcpfast.server import RequestStateSigner, ServerCore, UriTemplate
from mcpfast.server.mrtr import request_digest
from mcpfast.server.validation import compile_input_check


def test_input_check_none_when_unconstrained():
    assert compile_input_check({"type": "object"}) is None
    assert compile_input_check({"type": "object", "properties": {"a": {"description": "x"}}}) is None


def test_input_check_rules():
    check = compile_input_check({
        "type": "object",
        "properties": {
            "s": {"type": "string"}, "i": {"type": "integer"}, "n": {"type": "number"},
            "b": {"type": "boolean"}, "o": {"type": "object"}, "a": {"type": "array"},
            "u": {"type": ["string", "null"]}, "e": {"enum": ["x", "y"]},
        },
        "required": ["s"],
        "additionalProperties": False,
    })
    check({"s": "v", "i": 1, "n": 1.5, "b": False, "o": {}, "a": [], "u": None, "e": "x"})
    check({"s": "v", "i": 2.0, "n": 3, "u": "t"})
    bad = [
        ({}, "Missing required argument 's'"),
        ({"s": 1}, "Argument 's': expected string, got integer"),
        ({"s": "", "i": 1.5}, "Argument 'i': expected integer, got number"),
        ({"s": "", "i": True}, "Argument 'i': expected integer, got boolean"),
        ({"s": "", "n": "1"}, "Argument 'n': expected number, got string"),
        ({"s": "", "b": 0}, "Argument 'b': expected boolean, got integer"),
        ({"s": "", "o": []}, "Argument 'o': expected object, got array"),
        ({"s": "", "a": {}}, "Argument 'a': expected array, got object"),
        ({"s": "", "u": 3}, "Argument 'u': expected string or null, got integer"),
        ({"s": "", "e": "z"}, "Argument 'e': expected one of"),
        ({"s": "", "zz": 1}, "Unexpected argument 'zz'"),
    ]
    for args, msg in bad:
        with pytest.raises(InvalidParams) as info:
            check(args)
        assert info.value.message.startswith(msg), (args, info.value.message)
        assert info.value.code == -32602


def test_input_schema_must_be_object():
    with pytest.raises(ValueError):
        compile_input_check({"type": "array"})
    with pytest.raises(TypeError):
        compile_input_check("nope")  # type: ignore[arg-type]


def test_registration_errors():
    core = ServerCore("s", "1")
    with pytest.raises(TypeError, match="context"):
        core.add_tool("t", lambda a: a, input_schema={"type": "object"}, context_kwarg="ctx")
    with pytest.raises(ValueError):
        core.add_tool("", lambda: 1, input_schema={"type": "object"})
    with pytest.raises(TypeError):
        core.add_tool("t", 3, input_schema={"type": "object"})  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        core.remove_tool("missing")
    with pytest.raises(ValueError):
        ServerCore("s", "1", page_size=0)
    with pytest.raises(ValueError):
        ServerCore("s", "1", cache_scope="shared")


@pytest.mark.parametrize("template,uri,expected", [
    ("file:///{path}", "file:///a.txt", {"path": "a.txt"}),
    ("file:///{path}", "file:///a/b.txt", None),
    ("file:///{+path}", "file:///a/b/c.txt", {"path": "a/b/c.txt"}),
    ("users://{id}/profile", "users://42/profile", {"id": "42"}),
    ("users://{id}/profile", "users://42/other", None),
    ("users://{id}/profile", "users:///profile", None),
    ("x://{a}/{b}", "x://1/2", {"a": "1", "b": "2"}),
    ("x://{a,b}", "x://1,2", {"a": "1", "b": "2"}),
    ("x://{name}", "x://caf%C3%A9", {"name": "café"}),
    ("search://items{?q,limit}", "search://items?limit=5&q=hi%20x", {"q": "hi x", "limit": "5"}),
    ("search://items{?q,limit}", "search://items", {}),
    ("search://items{?q}{&page}", "search://items?q=a&page=2", {"q": "a", "page": "2"}),
    ("x://f{/p*}", "x://f/a/b", {"p": ["a", "b"]}),
    ("x://f{/seg}", "x://f/a", {"seg": "a"}),
    ("x://f{.ext}", "x://f.json", {"ext": "json"}),
    ("x://doc{#frag}", "x://doc#sec-2", {"frag": "sec-2"}),
    ("x://m{;v}", "x://m;v=3", {"v": "3"}),
    ("x://{id:3}", "x://abc", {"id": "abc"}),
])
def test_uri_template_match(template, uri, expected):
    assert UriTemplate(template).match(uri) == expected


def test_uri_template_errors():
    with pytest.raises(ValueError):
        UriTemplate("x://{a}/{a}")
    with pytest.raises(ValueError):
        UriTemplate("x://{?q}/more")
    with pytest.raises(ValueError):
        UriTemplate("x://{a b}")
    assert UriTemplate("x://{a}{?q}").variables == ("a", "q")


def test_signer_round_trip_and_rejections():
    s = RequestStateSigner(b"k" * 32)
    d = request_digest("tools/call", "t")
    token = s.sign(d, {"a": {"action": "accept"}}, {"step": 2})
    assert s.verify(token, d) == ({"a": {"action": "accept"}}, {"step": 2})
    for bad in (token + "A", "x" + token, token.replace(".", ".x"), 5, "", "."):
        with pytest.raises(InvalidParams):
            s.verify(bad, d)
    with pytest.raises(InvalidParams, match="different request"):
        s.verify(token, request_digest("tools/call", "u"))
    with pytest.raises(InvalidParams, match="signature"):
        RequestStateSigner(b"j" * 32).verify(token, d)
    with pytest.raises(ValueError):
        RequestStateSigner(b"short")
    s2 = RequestStateSigner()  # random per-process secret
    assert s2.verify(s2.sign(d, None, None), d) == ({}, None)
