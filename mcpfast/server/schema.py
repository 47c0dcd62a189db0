"""JSON Schema (2020-12) for tool inputs and outputs, derived from a function's signature.

Mirrors the shapes the official MCP SDK's decorator API produces (through pydantic) for the
common cases, without importing pydantic unless an annotation needs it (a pydantic model, or
pydantic's ``Field`` inside ``Annotated``).  Named classes (dataclasses, TypedDicts, Enums and
pydantic models) are always emitted under ``$defs`` and referenced with ``$ref``, as pydantic does.

Schemas are built once per function and cached: callers must treat the returned dicts as read-only.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["input_schema", "output_schema", "untyped_parameters"]

_NONE_TYPE = type(None)
_PRIMITIVES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean", _NONE_TYPE: "null"}
_MISSING = object()
_FACTORY = object()


def _titled(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """Add pydantic's default field title. pydantic leaves it off a reference to a named class
    (model, dataclass, TypedDict, Enum), bare or made nullable (``Point | None``): the class's
    own title is the one shown."""
    if "title" in schema or "$ref" in schema or _nullable_ref(schema):
        return schema
    return {**schema, "title": _title(name)}


def _nullable_ref(schema: dict[str, Any]) -> bool:
    """``{"anyOf": [{"$ref": ...}, {"type": "null"}]}``: ``Optional`` of one named class."""
    arms = schema.get("anyOf")
    return (type(arms) is list and len(arms) == 2 and arms[1] == {"type": "null"}
            and type(arms[0]) is dict and "$ref" in arms[0])


def _title(name: str) -> str:
    # pydantic's default field title
    return name.title().replace("_", " ").strip()


def _jsonable(value: Any) -> bool:
    if value is None or isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, list | tuple):
        return all(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v) for k, v in value.items())
    return False


def _default_value(value: Any) -> Any:
    """The JSON form of a default, or _MISSING when it has none."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, tuple):
        value = list(value)
    elif isinstance(value, set | frozenset):
        try:
            value = sorted(value)
        except TypeError:
            value = list(value)
    return value if _jsonable(value) else _MISSING


def _is_pydantic_model(tp: Any) -> bool:
    if not isinstance(tp, type):
        return False
    return any(c.__module__ == "pydantic.main" and c.__name__ == "BaseModel" for c in tp.__mro__)


def _is_field_info(obj: Any) -> bool:
    cls = type(obj)
    return cls.__module__ == "pydantic.fields" and cls.__name__ == "FieldInfo"


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


_CONSTRAINTS = {
    "ge": "minimum",
    "le": "maximum",
    "gt": "exclusiveMinimum",
    "lt": "exclusiveMaximum",
    "multiple_of": "multipleOf",
    "pattern": "pattern",
}


def _apply_constraint(schema: dict[str, Any], meta: Any) -> None:
    """Apply an annotated_types / pydantic constraint object (Ge, MaxLen, pattern metadata...)."""
    attrs: dict[str, Any] = {}
    for name in ("ge", "le", "gt", "lt", "multiple_of", "pattern", "min_length", "max_length"):
        value = getattr(meta, name, None)
        if value is not None:
            attrs[name] = value
    is_array = schema.get("type") == "array"
    is_object = schema.get("type") == "object"
    for name, value in attrs.items():
        if name in _CONSTRAINTS:
            schema[_CONSTRAINTS[name]] = value
        elif name == "min_length":
            schema["minItems" if is_array else "minProperties" if is_object else "minLength"] = value
        elif name == "max_length":
            schema["maxItems" if is_array else "maxProperties" if is_object else "maxLength"] = value


class _Builder:
    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}

    # -- annotations -------------------------------------------------------------------------

    def field(self, annotation: Any) -> tuple[dict[str, Any], Any]:
        """Schema for a parameter/field annotation, plus a default carried by a pydantic Field."""
        default: Any = _MISSING
        metadata: list[Any] = []
        while True:
            annotation = _strip_qualifiers(annotation)
            if typing.get_origin(annotation) is not typing.Annotated:
                break
            metadata = [*annotation.__metadata__, *metadata]
            annotation = annotation.__origin__
        schema = self.schema(annotation)
        extra: dict[str, Any] = {}
        for meta in metadata:
            if isinstance(meta, str):
                extra["description"] = meta
            elif _is_field_info(meta):
                if meta.title is not None:
                    extra["title"] = meta.title
                if meta.description is not None:
                    extra["description"] = meta.description
                if meta.default_factory is not None:
                    default = _FACTORY  # optional, but no default to show
                elif not meta.is_required():
                    default = meta.default
                for sub in meta.metadata:
                    schema = self._constrain(schema, sub)
                if meta.json_schema_extra and isinstance(meta.json_schema_extra, dict):
                    extra.update(meta.json_schema_extra)
            else:
                schema = self._constrain(schema, meta)
        if extra:
            schema = self._decorate(schema, extra)
        return schema, default

    def _constrain(self, schema: dict[str, Any], meta: Any) -> dict[str, Any]:
        if "anyOf" in schema:
            # as pydantic does for Optional[X]: constraints go to the non-null arms
            arms = [arm if arm == {"type": "null"} else self._constrain(arm, meta) for arm in schema["anyOf"]]
            return {**schema, "anyOf": arms}
        schema = dict(schema)
        _apply_constraint(schema, meta)
        return schema

    @staticmethod
    def _decorate(schema: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        return {**schema, **extra}

    def schema(self, tp: Any) -> dict[str, Any]:
        if tp is Any or tp is inspect.Parameter.empty:
            return {}
        if tp is None:
            tp = _NONE_TYPE
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            return self.field(tp)[0]
        if isinstance(tp, type) and tp in _PRIMITIVES:
            return {"type": _PRIMITIVES[tp]}
        if tp is bytes:
            return {"type": "string", "format": "binary"}
        if origin is typing.Union or origin is types.UnionType:
            return self._union(typing.get_args(tp))
        if origin is typing.Literal:
            return self._literal(typing.get_args(tp))
        if origin in (list, set, frozenset) or tp in (list, set, frozenset):
            args = typing.get_args(tp)
            out: dict[str, Any] = {"type": "array"}
            if args:
                out["items"] = self.schema(args[0])
            if origin in (set, frozenset) or tp in (set, frozenset):
                out["uniqueItems"] = True
            return out
        if origin is tuple or tp is tuple:
            args = typing.get_args(tp)
            if not args:
                return {"type": "array"}
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.schema(args[0])}
            if args == ((),):
                return {"type": "array", "maxItems": 0}
            return {
                "type": "array",
                "prefixItems": [self.schema(a) for a in args],
                "minItems": len(args),
                "maxItems": len(args),
            }
        if origin is dict or tp is dict:
            args = typing.get_args(tp)
            out = {"type": "object"}
            if args:
                out["additionalProperties"] = self.schema(args[1])
            return out
        if isinstance(tp, type):
            if issubclass(tp, enum.Enum):
                return self._ref(tp, self._enum)
            if _is_pydantic_model(tp):
                return self._pydantic(tp)
            if _is_typeddict(tp) or dataclasses.is_dataclass(tp):
                return self._ref(tp, self._object)
        raise TypeError(f"cannot derive a JSON schema for {tp!r}")

    def _union(self, args: tuple[Any, ...]) -> dict[str, Any]:
        # pydantic makes a union with None "nullable": null is the last arm wherever None was
        # written (``None | int`` and ``int | None`` give the same schema)
        arms = [self.schema(a) for a in args if a is not _NONE_TYPE and a is not None]
        if len(arms) < len(args):
            arms.append({"type": "null"})
        return {"anyOf": arms}

    @staticmethod
    def _literal(values: tuple[Any, ...]) -> dict[str, Any]:
        values = tuple(v.value if isinstance(v, enum.Enum) else v for v in values)
        kinds = {_PRIMITIVES.get(type(v)) for v in values}
        out: dict[str, Any] = {"const": values[0]} if len(values) == 1 else {"enum": list(values)}
        if len(kinds) == 1 and None not in kinds:
            out["type"] = kinds.pop()
        return out

    # -- named classes ------------------------------------------------------------------------

    def _ref(self, cls: type, build: Callable[[type], dict[str, Any]]) -> dict[str, Any]:
        name = cls.__name__
        if name not in self.defs:
            self.defs[name] = {}  # placeholder: recursion ends at the $ref
            self.defs[name] = build(cls)
        return {"$ref": f"#/$defs/{name}"}

    @staticmethod
    def _enum(cls: type) -> dict[str, Any]:
        values = [m.value for m in typing.cast("type[enum.Enum]", cls)]
        out: dict[str, Any] = _described(cls)
        out["enum"] = values
        out["title"] = cls.__name__
        kinds = {_PRIMITIVES.get(type(v)) for v in values}
        if len(kinds) == 1 and None not in kinds:
            out["type"] = kinds.pop()
        return out

    def _object(self, cls: type) -> dict[str, Any]:
        hints = typing.get_type_hints(cls, include_extras=True)
        properties: dict[str, Any] = {}
        required: list[str] = []
        if _is_typeddict(cls):
            required_keys: frozenset[str] = cls.__required_keys__  # type: ignore[attr-defined]
            for name, hint in hints.items():
                schema, _ = self.field(_strip_qualifiers(hint))
                properties[name] = _titled(schema, name)
                if name in required_keys:
                    required.append(name)
        else:
            for f in dataclasses.fields(cls):
                schema, default = self.field(hints[f.name])
                if f.default is not dataclasses.MISSING:
                    default = f.default
                prop = dict(_titled(schema, f.name))
                if default is not _MISSING:
                    value = _default_value(default)
                    if value is not _MISSING:
                        prop["default"] = value
                elif f.default_factory is dataclasses.MISSING:
                    required.append(f.name)
                properties[f.name] = prop
        out: dict[str, Any] = _described(cls)
        out["properties"] = properties
        if required:
            out["required"] = required
        out["title"] = cls.__name__
        out["type"] = "object"
        return out

    def _pydantic(self, cls: type) -> dict[str, Any]:
        schema = dict(cls.model_json_schema(ref_template="#/$defs/{model}"))  # type: ignore[attr-defined]
        self.defs.update(schema.pop("$defs", {}))
        self.defs[cls.__name__] = schema
        return {"$ref": f"#/$defs/{cls.__name__}"}

    def finish(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self.defs:
            schema["$defs"] = dict(sorted(self.defs.items()))
        return schema


def _described(cls: type) -> dict[str, Any]:
    """``{"description": ...}`` from a class's own docstring, or ``{}``: pydantic's rule, so a
    schema reads as the SDK's. The docstring is cleaned (``inspect.cleandoc``); Enum's generic
    ``"An enumeration."`` and the ``Name(field: type, ...)`` text the ``dataclass`` decorator
    writes for a class without a docstring are not descriptions. Only the class's own
    ``__doc__`` counts (a class without one has ``None``: it is not inherited)."""
    doc = cls.__dict__.get("__doc__")
    if not doc:
        return {}
    if dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}("):
        return {}
    doc = inspect.cleandoc(doc)
    if isinstance(cls, enum.EnumMeta) and doc == "An enumeration.":
        return {}
    return {"description": doc}


_QUALIFIERS = frozenset({"Required", "NotRequired", "ReadOnly"})


def _strip_qualifiers(hint: Any) -> Any:
    while getattr(typing.get_origin(hint), "_name", None) in _QUALIFIERS:
        hint = typing.get_args(hint)[0]
    return hint


@functools.cache
def _input_schema(fn: Callable[..., Any], skip: frozenset[str]) -> dict[str, Any]:
    sig = inspect.signature(fn, eval_str=True)
    builder = _Builder()
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in sig.parameters.values():
        if param.name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.annotation is inspect.Parameter.empty:
            # the SDK's schema for an unannotated parameter (it accepts any value all the same:
            # see ``untyped_parameters``)
            prop: dict[str, Any] = {"title": param.name, "type": "string"}
            default: Any = _MISSING
        else:
            schema, default = builder.field(param.annotation)
            prop = dict(_titled(schema, param.name))
        if param.default is not inspect.Parameter.empty:
            default = param.default
        if default is _MISSING:
            required.append(param.name)
        else:
            value = _default_value(default)
            if value is not _MISSING:
                prop["default"] = value
        properties[param.name] = prop
    out: dict[str, Any] = {"properties": properties}
    if required:
        out["required"] = required
    out["title"] = f"{getattr(fn, '__name__', 'function')}Arguments"
    out["type"] = "object"
    return builder.finish(out)


def untyped_parameters(fn: Callable[..., Any], *, skip: Iterable[str] = ()) -> frozenset[str]:
    """The parameters of ``fn`` without an annotation (those in ``skip`` aside).

    Their schema says ``"type": "string"`` (the SDK's, kept for identical ``tools/list``
    answers) while the SDK validates them as ``Any``: the input check must accept any JSON
    value for them (``compile_input_check(schema, unchecked=...)``).
    """
    left_out = frozenset(skip)
    return frozenset(
        p.name for p in inspect.signature(fn).parameters.values()
        if p.annotation is inspect.Parameter.empty and p.name not in left_out
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    )


def input_schema(fn: Callable[..., Any], *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The JSON Schema of ``fn``'s arguments (an object schema); parameters named in ``skip`` are left out.

    Cached per (function, skip): the result is shared and must not be mutated.
    """
    return _input_schema(fn, frozenset(skip))


def _inline(builder: _Builder, schema: dict[str, Any]) -> dict[str, Any]:
    """Turn a top-level ``$ref`` into the definition itself (pydantic's shape for a model's own schema)."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and len(schema) == 1:
        name = ref.rsplit("/", 1)[-1]
        body = dict(builder.defs.pop(name))
        # a self-referential class keeps its definition
        target = f"#/$defs/{name}"
        if target in repr(body) or any(target in repr(d) for d in builder.defs.values()):
            builder.defs[name] = dict(body)  # a copy: the top level gains "$defs" itself
        return body
    return schema


def _has_type_hints(cls: type) -> bool:
    try:
        return bool(typing.get_type_hints(cls))
    except Exception:  # noqa: BLE001 - unresolvable hints: let the schema builder report them
        return True


@functools.cache
def output_schema(fn: Callable[..., Any]) -> dict[str, Any] | None:
    """The structured-output schema of ``fn``'s return annotation, or None when it has none.

    Object-like returns (``dict[str, X]``, dataclasses, TypedDicts, pydantic models) give their own
    object schema; a class without type hints (an Enum) gives None, as in the SDK; anything else
    is wrapped as ``{"result": ...}`` the way the SDK does.
    Cached per function: the result is shared and must not be mutated.
    """
    sig = inspect.signature(fn, eval_str=True)
    ann = sig.return_annotation
    if ann is inspect.Signature.empty:
        return None
    name = getattr(fn, "__name__", "function")
    builder = _Builder()
    bare = ann
    while typing.get_origin(bare) is typing.Annotated:
        bare = bare.__origin__
    origin = typing.get_origin(bare)
    if origin is dict and typing.get_args(bare)[:1] == (str,):
        schema = builder.schema(bare)
        schema["title"] = f"{name}DictOutput"
        return builder.finish(schema)
    if isinstance(bare, type) and (_is_pydantic_model(bare) or _is_typeddict(bare) or dataclasses.is_dataclass(bare)):
        schema = _inline(builder, builder.schema(bare))
        if dataclasses.is_dataclass(bare):
            # the SDK rebuilds a returned dataclass as a model of its fields: its docstring
            # does not reach the output schema (it does where the class is nested, in $defs)
            schema.pop("description", None)
        return builder.finish(schema)
    if isinstance(bare, type) and bare not in _PRIMITIVES and bare is not bytes and not _has_type_hints(bare):
        # the SDK's rule: a class without type hints (an Enum, a plain class) cannot carry
        # structured output, so the tool has none (its value is sent as content only)
        return None
    result, _ = builder.field(ann)
    wrapped: dict[str, Any] = {
        "properties": {"result": _titled(result, "result")},
        "required": ["result"],
        "title": f"{name}Output",
        "type": "object",
    }
    return builder.finish(wrapped)
