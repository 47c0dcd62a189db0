"""Argument checks generated from a tool's input JSON Schema (``compile_input_check``).

The check runs on every ``tools/call`` before the tool, so it is generated once per tool as
straight-line Python (no walk over the schema per call); an error (-32602) names the argument
and the broken keyword.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import InvalidParams

__all__ = ["compile_input_check"]

#: JSON Schema type name -> a Python expression true when ``{v}`` is of that type (bool is not
#: an integer; 1.0 is, as JSON Schema says)
_TYPE_EXPR: dict[str, str] = {
    "string": "type({v}) is str",
    "integer": "(type({v}) is int or (type({v}) is float and {v}.is_integer()))",
    "number": "(type({v}) is int or type({v}) is float)",
    "boolean": "type({v}) is bool",
    "object": "type({v}) is dict",
    "array": "type({v}) is list",
    "null": "{v} is None",
}

#: the keywords a JSON type's constraints read, and the test that ``{v}`` is of that type (a
#: constraint applies only to values of its type, as in JSON Schema)
_STRING_KEYS = ("minLength", "maxLength", "pattern")
_NUMBER_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_ARRAY_KEYS = ("minItems", "maxItems", "items")
_OBJECT_KEYS = ("properties", "required", "additionalProperties")
_IS_STRING = "type({v}) is str"
_IS_NUMBER = "(type({v}) is int or type({v}) is float)"
_IS_ARRAY = "type({v}) is list"
_IS_OBJECT = "type({v}) is dict"

#: how deep nested ``items``/``properties`` are compiled (deeper levels are left to the tool)
_MAX_DEPTH = 4


def _json_type(v: Any) -> str:
    t = type(v)
    if t is bool:
        return "boolean"
    if t is int:
        return "integer"
    if t is float:
        return "number"
    if t is str:
        return "string"
    if t is list:
        return "array"
    if t is dict:
        return "object"
    if v is None:
        return "null"
    return t.__name__


def _missing(name: str) -> None:
    raise InvalidParams(f"Missing required argument {name!r} - at params.arguments", {"argument": name})


def _bad_type(name: str, expected: str, v: Any) -> None:
    raise InvalidParams(f"Argument {name!r}: expected {expected}, got {_json_type(v)} - at params.arguments.{name}",
                        {"argument": name})


def _bad_enum(name: str, allowed: list[Any], v: Any) -> None:
    raise InvalidParams(f"Argument {name!r}: expected one of {allowed!r}, got {v!r} - at params.arguments.{name}",
                        {"argument": name})


def _broken(name: str, path: str, keyword: str, text: str) -> None:
    """A value breaks ``keyword`` (``path``: where, below ``params.arguments``)."""
    raise InvalidParams(f"Argument {name!r}: {text} ({keyword}) - at params.arguments.{path}",
                        {"argument": name, "constraint": keyword})


def _shown(v: Any) -> str:
    """A rejected value for a message: short, whatever the caller sent."""
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _not_multiple(v: int | float, m: int | float) -> bool:
    if type(v) is int and type(m) is int:
        return v % m != 0
    q = v / m
    # floats: a quotient within rounding error of an integer counts (0.3 is a multiple of 0.1)
    return abs(q - round(q)) > 1e-9 * max(1.0, abs(q))


def _finite(x: Any) -> bool:
    """A number a schema bound can be (its repr is a Python literal: no bool, inf or nan)."""
    return (type(x) is int or type(x) is float) and math.isfinite(x)


def _same(v: Any, c: Any) -> bool:
    """JSON equality for ``const``: true is not 1, 1.0 is 1."""
    if type(v) is bool or type(c) is bool:
        return v is c
    return bool(v == c)


def _unexpected(args: dict[str, Any], known: frozenset[str]) -> None:
    for name in args:
        if name not in known:
            raise InvalidParams(f"Unexpected argument {name!r} - at params.arguments.{name}", {"argument": name})


_MISSING_ARG = object()

#: a compiled statement: ``(condition, action)`` is ``if condition: action``; ``(header, [body])``
#: is a block (``for``/``if``) around more statements
_Stmt = tuple[str, "str | list[Any]"]


class _Compiler:
    """Turns the JSON Schema of one argument into straight-line Python statements.

    Values shared by the generated code (enums, constants, compiled patterns) are kept in
    ``ns`` under generated names, so the code itself holds only literals and names.
    """

    def __init__(self, ns: dict[str, Any]) -> None:
        self.ns = ns
        self.count = 0

    def const(self, value: Any) -> str:
        name = f"_k{self.count}"
        self.count += 1
        self.ns[name] = value
        return name

    def value(self, schema: dict[str, Any], v: str, arg: str, path: str, depth: int,
              or_null: bool = False) -> list[_Stmt]:
        """Statements checking the value in variable ``v`` (present) against ``schema``.

        ``arg`` is the top-level argument (named in the error), ``path`` a Python expression
        for where the value is, evaluated only when a check fails; ``or_null``: the value is the
        non-null arm of an ``Optional`` (null was allowed too, which the message says).
        """
        out: list[_Stmt] = []
        t = schema.get("type")
        names = [t] if isinstance(t, str) else list(t) if isinstance(t, list) else []
        if names and all(x in _TYPE_EXPR for x in names):
            test = " or ".join(_TYPE_EXPR[x].format(v=v) for x in names)
            expected = " or ".join(names) + (" or null" if or_null else "")
            if depth == 0:
                out.append((f"not ({test})", f"_bad_type({arg!r}, {expected!r}, {v})"))
            else:
                out.append((f"not ({test})", f"_broken({arg!r}, {path}, 'type', 'expected {expected}, got '"
                                             f" + _json_type({v}))"))
        else:
            names = []
        only = names[0] if len(names) == 1 else None
        enum = schema.get("enum")
        if isinstance(enum, list):
            k = self.const(enum)
            if depth == 0:
                out.append((f"{v} not in {k}", f"_bad_enum({arg!r}, {k}, {v})"))
            else:
                out.append((f"{v} not in {k}", f"_broken({arg!r}, {path}, 'enum', 'expected one of '"
                                               f" + repr({k}) + ', got ' + _shown({v}))"))
        if "const" in schema:
            k = self.const(schema["const"])
            out.append((f"not _same({v}, {k})", f"_broken({arg!r}, {path}, 'const', 'expected ' + repr({k})"
                                                f" + ', got ' + _shown({v}))"))
        out += self._string(schema, v, arg, path, "" if only == "string" else _IS_STRING.format(v=v) + " and ")
        guard = "" if only in ("integer", "number") else _IS_NUMBER.format(v=v) + " and "
        out += self._number(schema, v, arg, path, guard)
        if depth < _MAX_DEPTH:
            out += self._guarded(self._array(schema, v, arg, path, depth), only == "array", _IS_ARRAY.format(v=v))
            out += self._guarded(self._object(schema, v, arg, path, depth), only == "object", _IS_OBJECT.format(v=v))
            out += self._nullable(schema, v, arg, path, depth)
        return out

    @staticmethod
    def _guarded(stmts: list[_Stmt], known: bool, test: str) -> list[_Stmt]:
        if not stmts or known:
            return stmts
        return [(f"if {test}:", stmts)]

    def _string(self, s: dict[str, Any], v: str, arg: str, path: str, guard: str) -> list[_Stmt]:
        out: list[_Stmt] = []
        n = s.get("minLength")
        if type(n) is int:
            out.append((f"{guard}len({v}) < {n}", f"_broken({arg!r}, {path}, 'minLength', "
                                                  f"'shorter than {n} characters: ' + _shown({v}))"))
        n = s.get("maxLength")
        if type(n) is int:
            out.append((f"{guard}len({v}) > {n}", f"_broken({arg!r}, {path}, 'maxLength', "
                                                  f"'longer than {n} characters: ' + _shown({v}))"))
        p = s.get("pattern")
        if isinstance(p, str):
            try:
                rx = re.compile(p)
            except re.error:
                rx = None  # an ECMA-262 construct Python lacks: left to the tool, not guessed at
            if rx is not None:
                k = self.const(rx.search)
                text = f"does not match {p!r}: "
                out.append((f"{guard}{k}({v}) is None", f"_broken({arg!r}, {path}, 'pattern', "
                                                        f"{text!r} + _shown({v}))"))
        return out

    def _number(self, s: dict[str, Any], v: str, arg: str, path: str, guard: str) -> list[_Stmt]:
        out: list[_Stmt] = []
        for key, op, text in (("minimum", "<", "less than"), ("maximum", ">", "greater than"),
                              ("exclusiveMinimum", "<=", "not greater than"),
                              ("exclusiveMaximum", ">=", "not less than")):
            bound = s.get(key)
            if _finite(bound):
                out.append((f"{guard}{v} {op} {bound!r}",
                            f"_broken({arg!r}, {path}, {key!r}, {text + ' ' + repr(bound) + ': '!r} + repr({v}))"))
        m: Any = s.get("multipleOf")
        if _finite(m) and m > 0:
            out.append((f"{guard}_not_multiple({v}, {m!r})",
                        f"_broken({arg!r}, {path}, 'multipleOf', 'not a multiple of {m!r}: ' + repr({v}))"))
        return out

    def _array(self, s: dict[str, Any], v: str, arg: str, path: str, depth: int) -> list[_Stmt]:
        out: list[_Stmt] = []
        for key, op, text in (("minItems", "<", "fewer than"), ("maxItems", ">", "more than")):
            n = s.get(key)
            if type(n) is int:
                out.append((f"len({v}) {op} {n}", f"_broken({arg!r}, {path}, {key!r}, '{text} {n} items')"))
        items = s.get("items")
        if type(items) is dict:
            i, x = f"i{depth + 1}", f"v{depth + 1}"
            body = self.value(items, x, arg, f"{path} + '[' + str({i}) + ']'", depth + 1)
            if body:
                out.append((f"for {i}, {x} in enumerate({v}):", body))
        return out

    def _object(self, s: dict[str, Any], v: str, arg: str, path: str, depth: int) -> list[_Stmt]:
        out: list[_Stmt] = []
        x = f"v{depth + 1}"
        for key in s.get("required") or ():
            if type(key) is str:
                out.append((f"{key!r} not in {v}", f"_broken({arg!r}, {path}, 'required', "
                                                   f"{'missing property ' + repr(key)!r})"))
        props = s.get("properties")
        if type(props) is dict:
            for key, sub in props.items():
                if type(key) is not str or type(sub) is not dict:
                    continue
                body = self.value(sub, x, arg, f"{path} + {'.' + key!r}", depth + 1)
                if body:
                    out.append((f"if {key!r} in {v}:", [(f"{x} = {v}[{key!r}]", ""), *body]))
        extra = s.get("additionalProperties")
        if extra is False and type(props) is dict:
            k = self.const(frozenset(props))
            out.append((f"not {v}.keys() <= {k}", f"_broken({arg!r}, {path}, 'additionalProperties', "
                                                  f"'unexpected property ' + repr(sorted({v}.keys() - {k})[0]))"))
        elif type(extra) is dict and not props:  # dict[str, X]: every value is an X
            key_var = f"k{depth + 1}"
            body = self.value(extra, x, arg, f"{path} + '.' + {key_var}", depth + 1)
            if body:
                out.append((f"for {key_var}, {x} in {v}.items():", body))
        return out

    def _nullable(self, s: dict[str, Any], v: str, arg: str, path: str, depth: int) -> list[_Stmt]:
        """``anyOf: [X, {"type": "null"}]`` (``Optional[X]``): None, or a valid X. Other unions
        are left to the tool."""
        arms = s.get("anyOf")
        if type(arms) is not list or len(arms) != 2 or {"type": "null"} not in arms:
            return []
        [arm] = [a for a in arms if a != {"type": "null"}]
        if type(arm) is not dict:
            return []
        body = self.value(arm, v, arg, path, depth + 1, or_null=True)
        return [(f"if {v} is not None:", body)] if body else []


def _render(stmts: list[_Stmt], indent: str, lines: list[str]) -> None:
    for head, rest in stmts:
        if isinstance(rest, list):
            lines.append(f"{indent}{head}")
            _render(rest, indent + "    ", lines)
        elif rest == "":
            lines.append(f"{indent}{head}")  # a plain statement (an assignment)
        else:
            lines.append(f"{indent}if {head}: {rest}")


def compile_input_check(schema: dict[str, Any], *, unchecked: Iterable[str] = ()
                        ) -> Callable[[dict[str, Any]], None] | None:
    """A function that raises InvalidParams when ``arguments`` break ``schema``, or None when
    the schema constrains nothing this checker knows.

    Checked: ``required``; per property its JSON ``type`` (a name or a list of names),
    ``enum``, ``const``, the string constraints (``minLength``, ``maxLength``, ``pattern``),
    the number constraints (``minimum``, ``maximum``, ``exclusiveMinimum``,
    ``exclusiveMaximum``, ``multipleOf``), the array ones (``minItems``, ``maxItems``, and
    ``items`` checked the same way), nested objects given inline (``properties``,
    ``required``, ``additionalProperties``), and ``Optional[X]`` (``anyOf`` of X and null);
    ``additionalProperties: false`` at the root. ``$ref``, other unions and the remaining
    keywords are left to the tool (a full JSON Schema 2020-12 validator belongs to a later
    layer; this is the per-call hot path). The error (-32602) names the argument and the
    broken keyword. Properties named in ``unchecked`` accept any value whatever their schema
    says (the SDK's unannotated parameters: typed string in the schema, any value accepted).

    The checker is generated as straight-line Python once per tool: no loop over rule tables
    and no allocation per call (``def echo(message: str)`` costs one lookup and one type test).
    """
    if type(schema) is not dict:
        raise TypeError(f"input_schema must be a dict, got {type(schema).__name__}")
    if schema.get("type", "object") != "object":
        raise ValueError(f'input_schema must have "type": "object" at its root, got {schema.get("type")!r}')
    required = [n for n in schema.get("required") or () if type(n) is str]
    props = schema.get("properties") or {}
    closed = schema.get("additionalProperties") is False
    skip = frozenset(unchecked)
    ns: dict[str, Any] = {"_M": _MISSING_ARG, "_missing": _missing, "_bad_type": _bad_type,
                          "_bad_enum": _bad_enum, "_broken": _broken, "_json_type": _json_type,
                          "_shown": _shown, "_same": _same, "_not_multiple": _not_multiple,
                          "_unexpected": _unexpected, "_known": frozenset(props)}
    compiler = _Compiler(ns)
    lines = ["def check(args):"]
    for name in required:
        lines.append(f"    if {name!r} not in args: _missing({name!r})")
    for name, sub in props.items():
        if type(sub) is not dict or type(name) is not str or name in skip:
            continue
        stmts = compiler.value(sub, "v", name, repr(name), 0)
        if not stmts:
            continue
        lines.append(f"    v = args.get({name!r}, _M)")
        if len(stmts) == 1 and isinstance(stmts[0][1], str) and stmts[0][1]:
            # one test (a plain type check, the common case): a single line, one branch
            lines.append(f"    if v is not _M and {stmts[0][0]}: {stmts[0][1]}")
        else:
            lines.append("    if v is not _M:")
            _render(stmts, "        ", lines)
    if closed:
        lines.append("    if not args.keys() <= _known: _unexpected(args, _known)")
    if len(lines) == 1:
        return None
    exec(compile("\n".join(lines), f"<input check {schema.get('title', '')}>", "exec"), ns)  # noqa: S102
    return ns["check"]  # type: ignore[no-any-return]
