"""2026-07-28 request headers: ``MCP-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name`` and the
``Mcp-Param-*`` mirrors of ``x-mcp-header`` tool parameters (SEP-2243), both sides: the
server's checks (``check_routing_headers``, ``check_param_headers``) and the client's values
(``encode_header_value``, ``param_headers``, ``has_invalid_annotation``). It sits beside
``types.py`` rather than under ``transports/http`` so that the HTTP client imports it without
the server.

The body is the source of truth; a header that disagrees with it (or is missing where the body
has the value) is a -32020 HeaderMismatch, HTTP 400. Header names arrive lower-cased (the
front end's contract), values are compared case-sensitively after trimming surrounding
whitespace. A value that is not plain visible ASCII travels as ``=?base64?<UTF-8 base64>?=``
and is decoded before the comparison; integer parameters compare numerically.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

__all__ = ["check_routing_headers", "decode_header_value", "param_spec", "check_param_headers", "NAME_PARAM",
           "encode_header_value", "param_headers", "has_invalid_annotation"]

#: method -> the params key ``Mcp-Name`` mirrors
NAME_PARAM = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri",
              # the tasks extension (SEP-2663 "Streamable HTTP: Routing Headers")
              "tasks/get": "taskId", "tasks/update": "taskId", "tasks/cancel": "taskId"}

_SENTINEL = re.compile(r"=\?base64\?(.*)\?=", re.S)
# a value that travels as it is: visible ASCII, inner spaces, no surrounding space (or empty)
_PLAIN = re.compile(r"([\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?)?")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_HEADER_TYPES = frozenset({"string", "integer", "boolean"})
# applicators whose subschemas leave the pure ``properties`` chain (an annotation there is invalid)
_SUB_ONE = frozenset({"items", "contains", "unevaluatedItems", "additionalProperties", "propertyNames",
                      "unevaluatedProperties", "not", "if", "then", "else", "contentSchema"})
_SUB_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SUB_MAP = frozenset({"patternProperties", "dependentSchemas", "$defs", "definitions"})
_NO_SPEC: tuple[Any, ...] = ()


def decode_header_value(value: str) -> str | None:
    """A header value as the client meant it: the base64 sentinel decoded (None when malformed:
    bad or non-canonical base64, or not UTF-8), anything else as it is."""
    m = _SENTINEL.fullmatch(value)
    if m is None:
        return value
    payload = m.group(1)
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(raw).decode("ascii") != payload:
        return None  # non-canonical (stray padding bits): never what a conforming client sends
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def encode_header_value(value: str) -> str:
    """``value`` as a client sends it in ``Mcp-Name``/``Mcp-Param-*``: as it is when it is plain
    visible ASCII (inner spaces allowed), else -- non-ASCII, control characters, surrounding
    whitespace, or a value that itself looks like the sentinel -- ``=?base64?<UTF-8 base64>?=``."""
    if _PLAIN.fullmatch(value) is not None and _SENTINEL.fullmatch(value) is None:
        return value
    return "=?base64?" + base64.b64encode(value.encode("utf-8", "surrogatepass")).decode("ascii") + "?="


def _same(header: str | None, expected: Any) -> bool:
    if header is None:
        return False
    if header == expected:
        return True
    return bool(header.strip() == expected)


def check_routing_headers(headers: dict[str, str], method: str, params: dict[str, Any], version: Any) -> str | None:
    """The -32020 message for the first routing header that disagrees with the body, or None."""
    # each header is compared equal first (what conforming clients send), _same() only otherwise:
    # this runs for every 2026-07-28 request
    got = headers.get("mcp-protocol-version")
    if got != version and not _same(got, version):
        return (f"MCP-Protocol-Version header ({'missing' if got is None else repr(got)}) does not match"
                f" params._meta protocolVersion {version!r}")
    got = headers.get("mcp-method")
    if got != method and not _same(got, method):
        return f"Mcp-Method header ({'missing' if got is None else repr(got)}) does not match the method {method!r}"
    key = NAME_PARAM.get(method)
    if key is not None:
        value = params.get(key)
        if value is not None:
            raw = headers.get("mcp-name")
            if raw is None:
                return f"Mcp-Name header is missing; it must mirror params.{key} ({value!r})"
            if raw != value and not _same(raw, value):
                decoded = decode_header_value(raw.strip())
                if decoded != value:
                    return f"Mcp-Name header ({raw!r}) does not match params.{key} ({value!r})"
    return None


# ------------------------------------------------------------------------------ x-mcp-header


def _positions(schema: Any) -> list[tuple[tuple[str, ...] | None, dict[str, Any]]]:
    """Every schema position with its ``properties`` path (None once off that chain)."""
    out: list[tuple[tuple[str, ...] | None, dict[str, Any]]] = []
    stack: list[tuple[tuple[str, ...] | None, Any]] = [((), schema)]
    while stack:
        path, node = stack.pop()
        if type(node) is not dict:
            continue
        out.append((path, node))
        for kw, val in node.items():
            if kw == "properties" and type(val) is dict:
                for name, sub in val.items():
                    stack.append(((*path, name) if path is not None else None, sub))
            elif kw in _SUB_ONE:
                stack.append((None, val))
            elif kw in _SUB_LIST and type(val) is list:
                stack.extend((None, sub) for sub in val)
            elif kw in _SUB_MAP and type(val) is dict:
                stack.extend((None, sub) for sub in val.values())
    return out


def param_spec(input_schema: Any) -> tuple[tuple[str, str, tuple[str, ...], str], ...]:
    """The ``Mcp-Param-*`` headers a tool's calls must carry: (lower-case header name, header
    name, argument path, JSON type) each. Empty when the schema has none, or when an
    annotation is invalid (off the ``properties`` chain, not an RFC 9110 token, on a type other
    than string/integer/boolean, or a case-insensitive duplicate): conforming clients drop such
    a tool, so nothing is validated for it."""
    spec: list[tuple[str, str, tuple[str, ...], str]] = []
    seen: set[str] = set()
    for path, node in _positions(input_schema):
        if "x-mcp-header" not in node:
            continue
        token = node["x-mcp-header"]
        ptype = node.get("type")
        if (not path or type(token) is not str or not _TOKEN.fullmatch(token)
                or type(ptype) is not str or ptype not in _HEADER_TYPES or token.lower() in seen):
            return _NO_SPEC
        seen.add(token.lower())
        name = f"Mcp-Param-{token}"
        spec.append((name.lower(), name, path, ptype))
    return tuple(spec)


def _render(value: Any) -> str | None:
    t = type(value)
    if t is bool:
        return "true" if value else "false"
    if t is str:
        return value  # type: ignore[no-any-return]
    if t is int or t is float:
        try:
            return str(value)
        except ValueError:  # an int past the int->str digit limit
            return None
    return None


def _at(arguments: Any, path: tuple[str, ...]) -> Any:
    node = arguments
    for key in path:
        if type(node) is not dict:
            return None
        node = node.get(key)
    return node


def _matches(ptype: str, value: Any, rendered: str, decoded: str) -> bool:
    if (ptype == "integer" and type(value) is not bool and (type(value) is int or (type(value) is float
                                                                                      and value.is_integer()))
            and _DECIMAL.fullmatch(decoded) is not None):
        whole, _, frac = decoded.partition(".")
        if frac.strip("0"):
            return False
        return int(whole) == int(value)
    return decoded == rendered


def param_headers(spec: tuple[tuple[str, str, tuple[str, ...], str], ...], arguments: Any) -> list[tuple[str, str]]:
    """The ``(header name, encoded value)`` pairs a client sends for one ``tools/call`` whose
    tool has ``spec`` (``param_spec`` of its input schema): one per annotated argument present
    in ``arguments`` with a value a header can carry (absent or null: omitted)."""
    out: list[tuple[str, str]] = []
    for _key, name, path, _ptype in spec:
        rendered = _render(_at(arguments, path))
        if rendered is not None:
            out.append((name, encode_header_value(rendered)))
    return out


def has_invalid_annotation(input_schema: Any) -> bool:
    """Whether ``input_schema`` carries an ``x-mcp-header`` annotation that ``param_spec``
    refuses: an HTTP client must then leave the tool out of ``tools/list``."""
    if param_spec(input_schema):
        return False
    return any("x-mcp-header" in node for _path, node in _positions(input_schema))


def check_param_headers(spec: tuple[tuple[str, str, tuple[str, ...], str], ...], arguments: Any,
                        headers: dict[str, str]) -> str | None:
    """The -32020 message for the first ``Mcp-Param-*`` header that disagrees with the
    arguments (present without the argument, missing with it, malformed, different), or None."""
    for key, name, path, ptype in spec:
        raw = headers.get(key)
        value = _at(arguments, path)
        where = ".".join(path)
        if value is None:
            if raw is not None:
                return f"{name} header is present but argument {where!r} is absent"
            continue
        rendered = _render(value)
        if rendered is None:
            if raw is not None:
                return f"{name} header does not match argument {where!r} (the value cannot be a header)"
            continue
        if raw is None:
            return f"{name} header is missing; it must mirror argument {where!r}"
        raw = raw.strip()
        decoded = decode_header_value(raw)
        if decoded is None:
            return f"{name} header carries a malformed =?base64?...?= value"
        if not _matches(ptype, value, rendered, decoded):
            return f"{name} header ({raw!r}) does not match argument {where!r}"
    return None
