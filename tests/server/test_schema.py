"""JSON Schema generation from function signatures (mcpfast.server.schema)."""

import dataclasses
import enum
import subprocess
import sys
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,  # pydantic needs these below 3.12
    Optional,
    Union,
)

import pytest
from typing_extensions import TypedDict

from mcpfast.server.schema import input_schema, output_schema


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title" or not isinstance(v, str)}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def _sdk_input(fn: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    func_metadata = pytest.importorskip("mcp.server.mcpserver.utilities.func_metadata").func_metadata
    schema: dict[str, Any] = func_metadata(fn, skip_names=skip).arg_model.model_json_schema()
    return schema


def _sdk_output(fn: Any) -> dict[str, Any] | None:
    func_metadata = pytest.importorskip("mcp.server.mcpserver.utilities.func_metadata").func_metadata
    schema: dict[str, Any] | None = func_metadata(fn).output_schema
    return schema


def _same_as_sdk(fn: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    ours = input_schema(fn, skip=skip)
    assert _strip_titles(ours) == _strip_titles(_sdk_input(fn, skip))
    return ours


# -- fixtures types ------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


@dataclasses.dataclass
class Shape:
    name: str
    points: list[Point]
    color: Color = Color.RED


class Movie(TypedDict):
    title: str
    year: int
    rating: NotRequired[float]


class Library(TypedDict):
    movies: list[Movie]


# -- primitives, required and defaults -----------------------------------------------------


def test_primitives_required_and_defaults() -> None:
    def f(a: str, b: int, c: float, d: bool = True, e: None = None, s: str = "x") -> None: ...

    schema = _same_as_sdk(f)
    assert schema["type"] == "object"
    assert schema["required"] == ["a", "b", "c"]
    props = schema["properties"]
    assert props["a"]["type"] == "string"
    assert props["b"]["type"] == "integer"
    assert props["c"]["type"] == "number"
    assert props["d"] == {"type": "boolean", "default": True, "title": "D"}
    assert props["e"]["type"] == "null" and props["e"]["default"] is None
    assert props["s"]["default"] == "x"


def test_titles_match_pydantic() -> None:
    def my_tool(some_arg: int) -> None: ...

    schema = input_schema(my_tool)
    assert schema == _sdk_input(my_tool)
    assert schema["title"] == "my_toolArguments"
    assert schema["properties"]["some_arg"]["title"] == "Some Arg"


def test_no_required_key_when_all_defaulted() -> None:
    def f(a: int = 1) -> None: ...

    assert "required" not in _same_as_sdk(f)


def test_unjsonable_default_omitted_but_not_required() -> None:
    sentinel = object()

    def f(a: Any = sentinel) -> None: ...

    schema = input_schema(f)
    assert schema["properties"]["a"] == {"title": "A"}
    assert "required" not in schema


def test_unannotated_is_string_like_sdk() -> None:
    def f(a, b=3):  # type: ignore[no-untyped-def]
        ...

    schema = _same_as_sdk(f)
    assert schema["properties"]["a"]["type"] == "string"
    assert schema["required"] == ["a"]
    assert schema["properties"]["b"]["default"] == 3


def test_any_is_unconstrained() -> None:
    def f(a: Any) -> None: ...

    assert _strip_titles(input_schema(f)["properties"]["a"]) == {}


def test_skip_and_varargs() -> None:
    def f(ctx: object, a: int, *args: int, b: str = "", **kwargs: int) -> None: ...

    schema = input_schema(f, skip=["ctx"])
    assert list(schema["properties"]) == ["a", "b"]
    assert schema["required"] == ["a"]
    assert input_schema(f, skip=("ctx",)) is schema  # cached


def test_cached_per_function() -> None:
    def f(a: int) -> int: ...

    assert input_schema(f) is input_schema(f)
    assert output_schema(f) is output_schema(f)


# -- unions and containers -------------------------------------------------------------------


def test_optional_and_unions() -> None:
    def f(a: int | None, b: Optional[str] = None, c: Union[int, str] = 1, d: int | str | None = None) -> None:  # noqa: UP045, UP007
        ...

    schema = _same_as_sdk(f)
    props = schema["properties"]
    assert props["a"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    assert props["b"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["b"]["default"] is None
    assert props["c"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert props["d"]["anyOf"] == [{"type": "integer"}, {"type": "string"}, {"type": "null"}]
    assert schema["required"] == ["a"]


def test_lists_tuples_dicts() -> None:
    def f(
        a: list[int],
        b: tuple[str, ...],
        c: tuple[int, str],
        d: dict[str, float],
        e: list[list[str]] = [],  # noqa: B006
        t: tuple[int, int] = (1, 2),
    ) -> None: ...

    schema = _same_as_sdk(f)
    props = schema["properties"]
    assert props["a"]["items"] == {"type": "integer"} and props["a"]["type"] == "array"
    assert props["b"]["items"] == {"type": "string"}
    assert props["c"]["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert props["c"]["minItems"] == props["c"]["maxItems"] == 2
    assert props["d"] == {"type": "object", "additionalProperties": {"type": "number"}, "title": "D"}
    assert props["e"]["items"] == {"type": "array", "items": {"type": "string"}}
    assert props["t"]["default"] == [1, 2]


# -- Literal and Enum ------------------------------------------------------------------------


def test_literal() -> None:
    def f(mode: Literal["fast", "slow"], one: Literal["only"], n: Literal[1, 2] = 1) -> None: ...

    props = _same_as_sdk(f)["properties"]
    assert props["mode"]["enum"] == ["fast", "slow"] and props["mode"]["type"] == "string"
    assert props["one"]["const"] == "only" and props["one"]["type"] == "string"
    assert props["n"]["enum"] == [1, 2] and props["n"]["type"] == "integer"
    assert props["n"]["default"] == 1


def test_enum() -> None:
    def f(color: Color, level: Level = Level.LOW) -> None: ...

    schema = _same_as_sdk(f)
    assert schema["properties"]["color"]["$ref"] == "#/$defs/Color"
    assert schema["$defs"]["Color"]["enum"] == ["red", "green"]
    assert schema["$defs"]["Color"]["type"] == "string"
    assert schema["$defs"]["Level"]["enum"] == [1, 2]
    assert schema["$defs"]["Level"]["type"] == "integer"
    assert schema["properties"]["level"]["default"] == 1


# -- Annotated -------------------------------------------------------------------------------


def test_annotated_string_description() -> None:
    def f(q: Annotated[str, "the query"]) -> None: ...

    prop = input_schema(f)["properties"]["q"]
    assert prop["type"] == "string" and prop["description"] == "the query"


def test_annotated_pydantic_field() -> None:
    from pydantic import Field

    def f(
        n: Annotated[int, Field(description="a count", ge=1, le=10)],
        s: Annotated[str, Field(min_length=2, max_length=5, pattern="^[a-z]+$")] = "ab",
        x: Annotated[float, Field(gt=0, lt=1, multiple_of=0.25)] = 0.5,
        items: Annotated[list[int], Field(min_length=1)] = [1],  # noqa: B006
        d: Annotated[int, Field(default=7, description="defaulted")] = 7,
    ) -> None: ...

    schema = _same_as_sdk(f)
    props = schema["properties"]
    assert props["n"] == {"type": "integer", "description": "a count", "minimum": 1, "maximum": 10, "title": "N"}
    assert props["s"]["minLength"] == 2 and props["s"]["maxLength"] == 5 and props["s"]["pattern"] == "^[a-z]+$"
    assert props["x"]["exclusiveMinimum"] == 0 and props["x"]["exclusiveMaximum"] == 1
    assert props["x"]["multipleOf"] == 0.25
    assert props["items"]["minItems"] == 1
    assert props["d"]["default"] == 7 and props["d"]["description"] == "defaulted"
    assert schema["required"] == ["n"]


def test_field_default_without_signature_default() -> None:
    from pydantic import Field

    def f(a: Annotated[int, Field(default=3)]) -> None: ...

    schema = input_schema(f)
    assert schema["properties"]["a"]["default"] == 3
    assert "required" not in schema


# -- dataclasses, TypedDicts, pydantic models ------------------------------------------------


def test_nested_dataclass() -> None:
    def f(shape: Shape) -> None: ...

    schema = _same_as_sdk(f)
    assert schema["properties"]["shape"]["$ref"] == "#/$defs/Shape"
    shape = schema["$defs"]["Shape"]
    assert shape["type"] == "object" and shape["required"] == ["name", "points"]
    assert shape["properties"]["points"]["items"] == {"$ref": "#/$defs/Point"}
    assert shape["properties"]["color"]["default"] == "red"
    point = schema["$defs"]["Point"]
    assert point["required"] == ["x"] and point["properties"]["y"]["default"] == 0
    assert schema["$defs"]["Color"]["enum"] == ["red", "green"]


def test_nested_typeddict() -> None:
    def f(lib: Library) -> None: ...

    schema = _same_as_sdk(f)
    movie = schema["$defs"]["Movie"]
    assert movie["required"] == ["title", "year"]
    assert movie["properties"]["rating"]["type"] == "number"
    assert schema["$defs"]["Library"]["properties"]["movies"]["items"] == {"$ref": "#/$defs/Movie"}


def test_pydantic_model_parameter() -> None:
    from pydantic import BaseModel, Field

    class Inner(BaseModel):
        v: int

    class Query(BaseModel):
        text: str = Field(description="search text")
        limit: int = 10
        inner: Inner

    def f(q: Query, tag: str | None = None) -> None: ...

    schema = _same_as_sdk(f)
    assert schema["properties"]["q"] == {"$ref": "#/$defs/Query"}
    query = schema["$defs"]["Query"]
    assert query["required"] == ["text", "inner"]
    assert query["properties"]["text"]["description"] == "search text"
    assert query["properties"]["inner"] == {"$ref": "#/$defs/Inner"}
    assert schema["$defs"]["Inner"]["required"] == ["v"]


def test_unsupported_type_raises() -> None:
    class Opaque:
        pass

    def f(o: Opaque) -> None: ...

    with pytest.raises(TypeError):
        input_schema(f)


# -- output schemas ----------------------------------------------------------------------------


def _same_output(fn: Any) -> dict[str, Any] | None:
    ours = output_schema(fn)
    assert _strip_titles(ours) == _strip_titles(_sdk_output(fn))
    return ours


def test_output_none_without_annotation() -> None:
    def f():  # type: ignore[no-untyped-def]
        return 1

    assert output_schema(f) is None


@pytest.mark.parametrize(
    ("ann", "inner"),
    [
        (int, {"type": "integer"}),
        (str, {"type": "string"}),
        (bool, {"type": "boolean"}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (int | None, {"anyOf": [{"type": "integer"}, {"type": "null"}]}),
        (
            tuple[int, str],
            {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "minItems": 2, "maxItems": 2},
        ),
    ],
)
def test_output_wrapped(ann: Any, inner: dict[str, Any]) -> None:
    def f() -> None: ...

    f.__annotations__["return"] = ann
    schema = _same_output(f)
    assert schema is not None
    assert schema["type"] == "object" and schema["required"] == ["result"]
    assert _strip_titles(schema["properties"]["result"]) == inner
    assert schema["title"] == "fOutput"


def test_output_none_return_is_wrapped_null() -> None:
    def f() -> None: ...

    schema = _same_output(f)
    assert schema is not None and schema["properties"]["result"]["type"] == "null"


def test_output_dict() -> None:
    def f() -> dict[str, int]: ...

    schema = _same_output(f)
    assert schema == {"type": "object", "additionalProperties": {"type": "integer"}, "title": "fDictOutput"}


def test_output_dataclass_and_typeddict() -> None:
    def d() -> Shape: ...

    def t() -> Movie: ...

    shape = _same_output(d)
    assert shape is not None and shape["type"] == "object" and shape["required"] == ["name", "points"]
    assert set(shape["$defs"]) == {"Point", "Color"}
    movie = _same_output(t)
    assert movie is not None and movie["required"] == ["title", "year"] and "$defs" not in movie


def test_output_pydantic_model() -> None:
    from pydantic import BaseModel

    class Out(BaseModel):
        ok: bool
        note: str = ""

    def f() -> Out: ...

    schema = _same_output(f)
    assert schema == Out.model_json_schema()


# -- laziness -------------------------------------------------------------------------------------


def test_import_does_not_import_pydantic() -> None:
    code = (
        "import sys\n"
        "import mcpfast.server.schema as s\n"
        "def f(a: int, b: list[str] | None = None) -> dict[str, int]: ...\n"
        "s.input_schema(f); s.output_schema(f)\n"
        "assert 'pydantic' not in sys.modules, 'pydantic imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_stdlib_typeddict() -> None:
    import typing

    class Opts(typing.TypedDict, total=False):
        verbose: typing.Required[bool]
        depth: int

    def f(o: Opts) -> None: ...

    opts = input_schema(f)["$defs"]["Opts"]
    assert opts["required"] == ["verbose"]
    assert opts["properties"]["depth"]["type"] == "integer"


def test_recursive_dataclass() -> None:
    def f(n: Node) -> Node: ...

    schema = input_schema(f)
    assert schema["$defs"]["Node"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    out = output_schema(f)
    assert out is not None and out["type"] == "object" and "Node" in out["$defs"]


@dataclasses.dataclass
class Node:
    value: int
    children: list["Node"] = dataclasses.field(default_factory=list)


def test_recursive_output_is_acyclic_json() -> None:
    import json

    def f() -> Node: ...

    out = output_schema(f)
    assert out is not None
    json.dumps(out)  # no reference cycles
    assert out["required"] == ["value"]


def test_optional_constraint_and_set_default() -> None:
    from pydantic import Field

    def f(a: Annotated[int | None, Field(ge=0)] = None, s: set[int] = {2, 1}) -> None:  # noqa: B006
        ...

    props = _same_as_sdk(f)["properties"]
    assert props["a"]["anyOf"] == [{"type": "integer", "minimum": 0}, {"type": "null"}]
    assert props["s"]["uniqueItems"] is True and props["s"]["default"] == [1, 2]


def test_field_default_factory_and_bytes() -> None:
    from pydantic import Field

    def f(a: Annotated[list[int], Field(default_factory=list)], b: bytes) -> None: ...

    schema = _same_as_sdk(f)
    assert schema["required"] == ["b"]
    assert "default" not in schema["properties"]["a"]
    assert schema["properties"]["b"]["format"] == "binary"
