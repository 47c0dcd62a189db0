"""A class's docstring becomes its schema's ``description``, by pydantic's rule (the SDK builds
its schemas with pydantic): cleaned with ``inspect.cleandoc``; none for a class without one,
for Enum's generic text, or for the ``Name(field: type)`` text ``@dataclass`` writes; and none on
a returned dataclass's own output schema (the SDK rebuilds it as a model of its fields). Each
case is compared with the SDK's ``func_metadata`` on the same function."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from mcpfast.server.schema import input_schema, output_schema


class Documented(enum.Enum):
    """A documented enum.

        An indented second paragraph.
    """

    A = "a"


class Undocumented(enum.IntEnum):
    ONE = 1


class Generic(enum.Enum):
    """An enumeration."""

    X = "x"


class Movie(TypedDict):
    """A film.

    Two lines."""

    title: str


class Plain(TypedDict):
    title: str


@dataclasses.dataclass
class Box:
    """  A box.  """

    w: int


@dataclasses.dataclass
class Bare:
    w: int


@dataclasses.dataclass
class LooksGenerated:
    """LooksGenerated(w) - pydantic takes this for the generated text, and so do we."""

    w: int


class Model(BaseModel):
    """A model."""

    x: int


class Child(Model):
    y: int = 0


class NoDoc(BaseModel):
    x: int


def _sdk(fn: Any) -> Any:
    from mcp.server.mcpserver.utilities.func_metadata import func_metadata

    return func_metadata(fn)


def f_enums(a: Documented, b: Undocumented, c: Generic = Generic.X) -> None: ...
def f_dicts(m: Movie, p: Plain | None = None) -> None: ...
def f_dataclasses(b: Box, c: Bare, d: list[LooksGenerated]) -> None: ...
def f_models(m: Model, c: Child, n: NoDoc) -> None: ...
def f_nested(items: list[Box], by_name: dict[str, Movie], shade: Documented | None = None) -> None: ...


@pytest.mark.parametrize("fn", [f_enums, f_dicts, f_dataclasses, f_models, f_nested], ids=lambda f: f.__name__)
def test_input_schema_descriptions_are_the_sdks(fn: Any) -> None:
    ours = input_schema(fn)
    assert ours == _sdk(fn).arg_model.model_json_schema(by_alias=True)


def test_the_rule() -> None:
    defs = input_schema(f_enums)["$defs"]
    # cleandoc: the first line's indentation goes, the common one of the others too
    assert defs["Documented"]["description"] == "A documented enum.\n\nAn indented second paragraph."
    assert "description" not in defs["Undocumented"] and "description" not in defs["Generic"]
    defs = input_schema(f_dataclasses)["$defs"]
    assert defs["Box"]["description"] == "A box.  "  # cleandoc keeps trailing blanks of a line
    assert "description" not in defs["Bare"] and "description" not in defs["LooksGenerated"]
    defs = input_schema(f_dicts)["$defs"]
    assert defs["Movie"]["description"] == "A film.\n\nTwo lines." and "description" not in defs["Plain"]
    defs = input_schema(f_models)["$defs"]
    # a docstring is not inherited: Child has none of its own
    assert defs["Model"]["description"] == "A model." and "description" not in defs["Child"]


def r_movie() -> Movie: ...
def r_box() -> Box: ...
def r_model() -> Model: ...
def r_boxes() -> list[Box]: ...
def r_shade() -> Documented: ...
def r_shades() -> list[Documented]: ...
def r_count() -> Undocumented: ...


@pytest.mark.parametrize("fn", [r_movie, r_box, r_model, r_boxes, r_shade, r_shades, r_count], ids=lambda f: f.__name__)
def test_output_schema_descriptions_are_the_sdks(fn: Any) -> None:
    theirs = _sdk(fn).output_schema
    assert output_schema(fn) == theirs


def test_a_returned_dataclass_has_no_description_but_a_nested_one_has() -> None:
    assert "description" not in output_schema(r_box)  # type: ignore[operator]
    assert output_schema(r_boxes)["$defs"]["Box"]["description"] == "A box.  "  # type: ignore[index]


def test_an_enum_return_has_no_structured_output() -> None:
    # the SDK: a class without type hints cannot carry structured output (a list of them can)
    assert output_schema(r_shade) is None
    assert output_schema(r_shades)["$defs"]["Documented"]["description"].startswith("A documented enum.")  # type: ignore[index]
