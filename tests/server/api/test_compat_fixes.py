"""Differences from the official SDK closed in session 2 (see tests/compat for the wire comparison):

1. constraints from ``Annotated[..., Field(...)]`` are enforced by the compiled input check;
2. an unannotated parameter accepts any JSON value (its schema is the SDK's);
3. ``Optional`` of a named class has the SDK's schema (no field title; null last);
4. an unexpected exception in a tool sends only ``"Error executing tool <name>"``;
5. the elicitation ``requestedSchema`` of a pydantic model is the one the SDK sends.
"""

from __future__ import annotations

import dataclasses
import dis
import enum
import logging
import re
from typing import Annotated, Any, Literal, Optional, Union

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from mcpfast import Context, MCPServer, ToolError
from mcpfast.errors import InvalidParams, McpError
from mcpfast.server.context import _elicitation_schema
from mcpfast.server.schema import input_schema, untyped_parameters
from mcpfast.server.validation import compile_input_check
from mcpfast.testing import async_test

from .harness import ERAS, connect, text

# ------------------------------------------------------------------------------ 1. constraints


def _schema(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


def _rejects(check: Any, args: dict[str, Any], arg: str, keyword: str) -> str:
    with pytest.raises(InvalidParams) as info:
        check(args)
    assert info.value.data["argument"] == arg
    assert info.value.data.get("constraint", "type") == keyword
    assert repr(arg) in info.value.message
    return info.value.message


@pytest.mark.parametrize(("prop", "good", "bad", "keyword"), [
    ({"type": "string", "minLength": 2}, "ab", "a", "minLength"),
    ({"type": "string", "maxLength": 3}, "abc", "abcd", "maxLength"),
    ({"type": "string", "pattern": "^[a-z]+$"}, "abc", "aBc", "pattern"),
    ({"type": "string", "pattern": "b"}, "abc", "xyz", "pattern"),  # search, not match
    ({"type": "integer", "minimum": 0}, 0, -1, "minimum"),
    ({"type": "integer", "maximum": 150}, 150, 151, "maximum"),
    ({"type": "number", "exclusiveMinimum": 0}, 0.5, 0, "exclusiveMinimum"),
    ({"type": "number", "exclusiveMaximum": 1}, 0.99, 1.0, "exclusiveMaximum"),
    ({"type": "integer", "multipleOf": 5}, 15, 16, "multipleOf"),
    ({"type": "number", "multipleOf": 0.1}, 0.3, 0.35, "multipleOf"),
    ({"type": "array", "minItems": 1}, [1], [], "minItems"),
    ({"type": "array", "maxItems": 2}, [1, 2], [1, 2, 3], "maxItems"),
    ({"const": "a"}, "a", "b", "const"),
    ({"const": 1}, 1.0, True, "const"),  # JSON: true is not 1
    ({"type": "array", "items": {"type": "integer"}}, [1, 2], [1, "2"], "type"),
    ({"type": "array", "items": {"type": "string", "minLength": 1}}, ["a"], ["a", ""], "minLength"),
    ({"type": "object", "additionalProperties": {"type": "number"}}, {"a": 1.5}, {"a": "x"}, "type"),
    ({"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}, {"x": 1}, {"y": 1}, "required"),
    ({"type": "object", "properties": {"x": {"type": "integer", "maximum": 3}}}, {"x": 3}, {"x": 4}, "maximum"),
    ({"type": "object", "properties": {"x": {}}, "additionalProperties": False}, {"x": 1}, {"z": 1},
     "additionalProperties"),
    ({"anyOf": [{"type": "string", "minLength": 2}, {"type": "null"}]}, None, "a", "minLength"),
    ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, 3, "3", "type"),
])
def test_each_keyword_is_enforced(prop: dict[str, Any], good: Any, bad: Any, keyword: str) -> None:
    check = compile_input_check(_schema(v=prop))
    assert check is not None
    check({"v": good})
    check({})  # an absent optional argument is not checked
    _rejects(check, {"v": bad}, "v", keyword)


def test_the_error_says_where_and_what() -> None:
    check = compile_input_check(_schema(tags={"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}},
                                        w={"type": "object", "additionalProperties": {"type": "number"}}))
    assert check is not None
    msg = _rejects(check, {"tags": ["ok", "No"]}, "tags", "pattern")
    assert msg == "Argument 'tags': does not match '^[a-z]+$': 'No' (pattern) - at params.arguments.tags[1]"
    msg = _rejects(check, {"w": {"a": 1, "b": "x"}}, "w", "type")
    assert msg == "Argument 'w': expected number, got string (type) - at params.arguments.w.b"
    check2 = compile_input_check(_schema(o={"anyOf": [{"type": "integer"}, {"type": "null"}]}))
    assert "expected integer or null, got string" in _rejects(check2, {"o": "x"}, "o", "type")


def test_constraints_apply_to_values_of_their_type_only() -> None:
    # as in JSON Schema: minLength says nothing about a number, minimum nothing about a string
    check = compile_input_check(_schema(v={"type": ["string", "integer"], "minLength": 2, "minimum": 10}))
    assert check is not None
    check({"v": "ab"})
    check({"v": 10})
    _rejects(check, {"v": "a"}, "v", "minLength")
    _rejects(check, {"v": 9}, "v", "minimum")


def test_a_pattern_python_cannot_compile_is_left_to_the_tool() -> None:
    check = compile_input_check(_schema(v={"type": "string", "pattern": r"\p{L}+"}))  # ECMA-262 only
    assert check is not None
    check({"v": "anything"})


def test_the_plain_check_is_one_line_per_argument() -> None:
    """``def echo(message: str)``: one lookup, one type test (the hot path did not grow)."""
    def echo(message: str) -> str:
        return message

    check = compile_input_check(input_schema(echo))
    assert check is not None
    check({"message": "hi"})
    code = check.__code__
    # required test + get + one combined test: no nested block, no loop
    assert set(code.co_names) == {"_missing", "get", "_M", "_bad_type", "type", "str"}
    assert "GET_ITER" not in {i.opname for i in dis.get_instructions(code)}
    _rejects(check, {"message": 5}, "message", "type")


def test_unchecked_properties_accept_anything() -> None:
    schema = _schema(x={"title": "x", "type": "string"}, n={"type": "integer"})
    check = compile_input_check(schema, unchecked=["x"])
    assert check is not None
    for value in (5, [1], {"a": 1}, None, "s"):
        check({"x": value, "n": 1})
    _rejects(check, {"x": 5, "n": "1"}, "n", "type")


def _constrained_app(**kw: Any) -> MCPServer:
    app = MCPServer("c", **kw)

    @app.tool()
    def constrained(
        name: Annotated[str, Field(min_length=2, max_length=8)],
        age: Annotated[int, Field(ge=0, le=150)] = 30,
        tags: Annotated[list[str], Field(max_length=3)] = [],  # noqa: B006 - never mutated
        numbers: list[int] | None = None,
    ) -> str:
        return f"{name}/{age}/{','.join(tags)}/{sum(numbers or [])}"

    return app


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_field_constraints_are_enforced_by_mcpserver(era: str) -> None:
    # the default (SEP-1303, as the SDK): an isError result naming the argument and the keyword
    app = _constrained_app()
    async with connect(app, era) as s:
        assert text(await s.tool("constrained", {"name": "al", "tags": ["x"]})) == "al/30/x/0"
        for args, arg, keyword in [({"name": "a"}, "name", "minLength"), ({"name": "al", "age": 200}, "age", "maximum"),
                                   ({"name": "al", "tags": ["1", "2", "3", "4"]}, "tags", "maxItems"),
                                   ({"name": "al", "age": "200"}, "age", "maximum")]:  # lax "200" -> 200 first
            res = await s.tool("constrained", args)
            assert res["isError"] is True
            assert f"Argument {arg!r}" in text(res) and f"({keyword})" in text(res)
    assert app.get_metrics()["totals"]["rejected"] == 4


@async_test
async def test_field_constraints_as_json_rpc_errors() -> None:
    app = _constrained_app(validation_errors="error")
    async with connect(app) as s:
        with pytest.raises(McpError) as info:
            await s.tool("constrained", {"name": "a"})
    assert info.value.code == -32602
    assert "'name'" in info.value.message and "minLength" in info.value.message


def test_validation_errors_default_is_the_sdks() -> None:
    """SEP-1303: the default answers bad arguments with an isError result, as the SDK does."""
    assert MCPServer("d").validation_errors == "result"


@async_test
async def test_array_items_get_lax_conversion() -> None:
    # pydantic (the SDK) turns "2" into 2 inside a list[int]; so does mcpfast, then checks
    app = _constrained_app()
    async with connect(app) as s:
        assert text(await s.tool("constrained", {"name": "al", "numbers": ["1", 2, " 3 "]})) == "al/30//6"
        res = await s.tool("constrained", {"name": "al", "numbers": [1, "x"]})
    assert res["isError"] is True and "numbers[1]" in text(res)


class Shade(enum.Enum):
    LIGHT = "light"
    DARK = "dark"


@pytest.mark.parametrize(("mode", "form"), [("error", "error"), ("result", "result")])
@async_test
async def test_conversion_failures_follow_validation_errors(mode: str, form: str) -> None:
    """An argument the input check lets through but the conversion refuses (an Enum given by
    ``$ref``, a pydantic model's own validation) is answered as ``validation_errors`` says."""
    app = MCPServer("c", validation_errors=mode)

    class Point(BaseModel):
        x: int

    @app.tool()
    def paint(shade: Shade, where: Point | None = None) -> str:
        return shade.value

    async with connect(app) as s:
        assert text(await s.tool("paint", {"shade": "dark"})) == "dark"
        for args, arg in (({"shade": "blue"}, "shade"), ({"shade": "dark", "where": {"y": 1}}, "where")):
            if form == "error":
                with pytest.raises(McpError) as info:
                    await s.tool("paint", args)
                assert info.value.code == -32602 and repr(arg) in info.value.message
            else:
                res = await s.tool("paint", args)
                assert res["isError"] is True and repr(arg) in text(res)
    assert app.get_metrics()["totals"]["rejected"] == 2


# ------------------------------------------------------------------------------ 2. no annotation


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_an_unannotated_parameter_takes_any_value(era: str) -> None:
    app = MCPServer("u")

    @app.tool()
    def untyped(x, y=1, *, n: int = 0):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
        return {"x": x, "y": y}

    listed = await app.list_tools()
    props = listed[0]["inputSchema"]["properties"]
    # the SDK's schema: typed string, titled with the bare name
    assert props["x"] == {"title": "x", "type": "string"}
    assert props["y"] == {"title": "y", "type": "string", "default": 1}
    async with connect(app, era) as s:
        for value in (5, [1, "a"], {"k": None}, None, "s"):
            res = await s.tool("untyped", {"x": value})
            assert res.get("isError") is not True, res
            assert res["structuredContent"] if "structuredContent" in res else text(res)
        res = await s.tool("untyped", {"x": 1, "n": "many"})  # the annotated one is still checked
        assert res["isError"] is True and "'n'" in text(res)


def test_untyped_parameters() -> None:
    def f(a, b: int, c=1, *args, ctx: Context, **kw):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN002, ANN003, ANN202
        pass

    assert untyped_parameters(f) == {"a", "c"}
    assert untyped_parameters(f, skip=["a"]) == {"c"}


# ------------------------------------------------------------------------------ 3. Optional schemas


class Point(BaseModel):
    x: int
    y: int = 0


@dataclasses.dataclass
class Box:
    w: int


class Movie(TypedDict):
    title: str


def _sdk_schema(fn: Any) -> dict[str, Any]:
    from mcp.server.mcpserver.utilities.func_metadata import func_metadata

    return func_metadata(fn).arg_model.model_json_schema(by_alias=True)  # type: ignore[no-any-return]


def s1(q: Point | None = None) -> None: ...
def s2(q: Optional[Point]) -> None: ...  # noqa: UP045 - as SDK users write it
def s3(q: Box | None = None, m: Movie | None = None, s: Shade | None = None) -> None: ...
def s4(q: None | Point = None, n: None | int = None) -> None: ...
def s5(q: Union[None, int, str] = None, r: Point | int | None = None) -> None: ...  # noqa: UP007
def s6(q: Annotated[Point | None, Field(description="where")] = None) -> None: ...
def s7(q: Annotated[Optional[Point], Field(title="Where")] = None, ls: list[Point] | None = None) -> None: ...  # noqa: UP045
def s8(q: Literal["a", "b"] | None = None, d: dict[str, Point] | None = None) -> None: ...


@pytest.mark.parametrize("fn", [s1, s2, s3, s4, s5, s6, s7, s8], ids=lambda f: f.__name__)
def test_optional_schemas_are_the_sdks(fn: Any) -> None:
    assert input_schema(fn) == _sdk_schema(fn)


def test_optional_of_a_model_has_no_field_title() -> None:
    prop = input_schema(s1)["properties"]["q"]
    assert prop == {"anyOf": [{"$ref": "#/$defs/Point"}, {"type": "null"}], "default": None}
    assert input_schema(s4)["properties"]["n"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]  # null last


# ------------------------------------------------------------------------------ 4. tool exceptions


def _failing_app() -> MCPServer:
    from mcp.server.mcpserver.exceptions import ToolError as SDKToolError

    app = MCPServer("f")

    @app.tool()
    def crash() -> str:
        raise ValueError("password=hunter2 in /srv/app/db.py")

    @app.tool()
    async def crash_async() -> str:
        raise KeyError("SELECT * FROM users")

    @app.tool()
    def refuse() -> str:
        raise ToolError("not allowed")

    @app.tool()
    def refuse_sdk() -> str:
        raise SDKToolError("not allowed")

    return app


@pytest.mark.parametrize("era", ERAS)
@async_test
async def test_an_unexpected_exception_sends_no_internals(era: str, caplog: pytest.LogCaptureFixture) -> None:
    app = _failing_app()
    with caplog.at_level(logging.INFO, logger="mcpfast.server"):
        async with connect(app, era) as s:
            res = await s.tool("crash")
            assert res["isError"] is True and res["content"] == [{"type": "text", "text": "Error executing tool crash"}]
            res = await s.tool("crash_async")
            assert res["isError"] is True and text(res) == "Error executing tool crash_async"
            # mcpfast's ToolError: the message is for the client, as it is
            res = await s.tool("refuse")
            assert res["isError"] is True and text(res) == "not allowed"
            # the SDK's ToolError (a server written for the SDK): the SDK's text
            res = await s.tool("refuse_sdk")
            assert res["isError"] is True and text(res) == "Error executing tool refuse_sdk: not allowed"
    crashes = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.name for r in crashes] == ["mcpfast.server", "mcpfast.server"]
    assert crashes[0].exc_info is not None and "hunter2" in str(crashes[0].exc_info[1])
    assert "SELECT" in str(crashes[1].exc_info[1])  # type: ignore[index]
    assert not [r for r in caplog.records if r.levelno == logging.ERROR and "refuse" in r.getMessage()]
    assert app.tools.stats("crash")["errors"] == 1


# ------------------------------------------------------------------------------ 5. elicitation schema


class Booking(BaseModel):
    guests: int = Field(description="How many guests", ge=1, le=8)
    vegetarian: bool = False
    note: str | None = None


class Form(BaseModel):
    """Everything at once."""

    mode: Literal["a", "b"] = "a"
    tags: list[Literal["x", "y"]] = []
    n: Optional[int] = Field(default=None, title="Num")  # noqa: UP045
    when: Optional[str] = Field(default="x", json_schema_extra={"format": "date"})  # noqa: UP045


@pytest.mark.parametrize("model", [Booking, Form])
def test_the_elicitation_schema_is_the_sdks(model: type[BaseModel]) -> None:
    from mcp.server.elicitation import render_elicitation_schema

    assert _elicitation_schema(model) == render_elicitation_schema(model)


def test_the_booking_schema() -> None:
    schema = _elicitation_schema(Booking)
    assert schema["title"] == "Booking"
    assert schema["properties"]["note"] == {"title": "Note", "type": "string"}  # no anyOf, no default null
    assert schema["required"] == ["guests"]


def test_an_enum_field_is_inlined_and_a_nested_model_refused() -> None:
    class Pick(BaseModel):
        shade: Shade = Shade.LIGHT
        other: Optional[Shade] = None  # noqa: UP045

    props = _elicitation_schema(Pick)["properties"]
    assert props["shade"] == {"enum": ["light", "dark"], "title": "Shade", "type": "string", "default": "light"}
    assert props["other"] == {"enum": ["light", "dark"], "title": "Shade", "type": "string"}

    class Nested(BaseModel):
        where: Point

    with pytest.raises(TypeError, match=re.escape("field 'where' of Nested")):
        _elicitation_schema(Nested)


@async_test
async def test_elicit_sends_the_sdks_schema() -> None:
    app = MCPServer("e")

    @app.tool()
    async def book(ctx: Context) -> str:
        answer = await ctx.elicit("Book?", Booking)
        return f"{answer.action}:{answer.data.guests}"

    asked: list[Any] = []

    def answer(params: Any) -> Any:
        asked.append(params)
        return {"action": "accept", "content": {"guests": 2}}

    async with connect(app, "legacy", caps={"elicitation": {}}, handlers={"elicitation/create": answer}) as s:
        assert text(await s.tool("book")) == "accept:2"
    from mcp.server.elicitation import render_elicitation_schema

    assert asked[0]["requestedSchema"] == render_elicitation_schema(Booking)


# ------------------------------------------------------------------------------ against a reference

#: argument schemas of the kinds the check compiles, judged against the jsonschema package
REFERENCE_SCHEMAS: list[dict[str, Any]] = [
    {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[a-c]"},
    {"type": "integer", "minimum": -3, "maximum": 7, "multipleOf": 2},
    {"type": "number", "exclusiveMinimum": -1.5, "exclusiveMaximum": 2},
    {"type": ["string", "null"], "minLength": 1},
    {"const": True},
    {"enum": ["a", "b"], "type": "string"},
    {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "integer", "minimum": 0}},
    {"type": "array", "items": {"type": "array", "items": {"type": "string", "maxLength": 1}}},
    {"type": "object", "additionalProperties": {"type": "number", "maximum": 10}},
    {"type": "object", "properties": {"a": {"type": "boolean"}, "b": {"type": "string", "minLength": 1}},
     "required": ["a"], "additionalProperties": False},
    {"anyOf": [{"type": "integer", "minimum": 5}, {"type": "null"}]},
    {"anyOf": [{"type": "array", "items": {"type": "string"}, "maxItems": 2}, {"type": "null"}]},
]


def _values() -> Any:
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers(-10, 12) | st.floats(-3, 12, allow_nan=False) \
        | st.text(alphabet="abcxyz", max_size=5)
    # scalars at the top as often as containers: most schemas above constrain a scalar
    return scalars | st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                                  | st.dictionaries(st.sampled_from("abc"), inner, max_size=3), max_leaves=8)


@pytest.mark.parametrize("prop", REFERENCE_SCHEMAS, ids=lambda p: str(p)[:40])
def test_the_check_agrees_with_a_json_schema_validator(prop: dict[str, Any]) -> None:
    from hypothesis import given, settings
    from jsonschema import Draft202012Validator

    schema = {"type": "object", "properties": {"v": prop}, "required": ["v"]}
    reference = Draft202012Validator(schema)
    check = compile_input_check(schema)
    assert check is not None

    @settings(max_examples=120, deadline=None, database=None)
    @given(_values())
    def agree(value: Any) -> None:
        valid = reference.is_valid({"v": value})
        try:
            check({"v": value})
        except InvalidParams as exc:
            assert not valid, f"{value!r} rejected: {exc.message}"
            assert exc.data["argument"] == "v"
        else:
            assert valid, f"{value!r} accepted, breaks {prop}"

    agree()
