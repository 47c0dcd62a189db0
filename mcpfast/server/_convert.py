"""Conversions between Python values and MCP wire shapes for the decorator API (``MCPServer``).

* results: what a tool / resource / prompt function returns -> content blocks, structured
  content, resource text, prompt messages, following the official SDK's rules (a non-str value
  becomes JSON text indented by 2; ``Image``/``Audio`` helpers and content objects become
  their blocks; the SDK's own pydantic types are accepted by duck typing, never imported);
* arguments: validated JSON -> the annotated Python types (float, Enum, dataclass, tuple, set,
  pydantic models, nested in list/dict/Optional), compiled once per function;
* lax coercion: the pydantic "lax mode" conversions the SDK applies to arguments ("5" -> 5 for
  an integer, "true" -> True, a JSON string for an array/object), run only after the fast
  input check has rejected the arguments, so well-typed calls never pay for it.

pydantic is imported only for a signature that uses a pydantic model.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import inspect
import json
import math
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InvalidParams
from .registry import ToolResult

__all__ = [
    "Image", "Audio", "Message", "UserMessage", "AssistantMessage",
    "jsonable", "json_text", "to_content", "to_structured", "tool_result_converter",
    "argument_converter", "lax_coercer", "prompt_messages", "resource_value", "is_context_annotation",
]

_NONE = type(None)


# ------------------------------------------------------------------------------ helpers

class Image:
    """An image a tool returns (``path`` or ``data``; ``format`` e.g. "png"), as in the SDK."""

    _TYPES: dict[str, str] = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                              ".gif": "image/gif", ".webp": "image/webp"}
    _KIND = "image"
    _DEFAULT = "image/png"

    def __init__(self, path: str | Path | None = None, data: bytes | None = None, format: str | None = None) -> None:
        if (path is None) == (data is None):
            raise ValueError("give exactly one of path or data")
        self.path = Path(path) if path is not None else None
        self.data = data
        self._format = format
        if format:
            self.mime_type = f"{self._KIND}/{format.lower()}"
        elif self.path is not None:
            self.mime_type = self._TYPES.get(self.path.suffix.lower(), "application/octet-stream")
        else:
            self.mime_type = self._DEFAULT

    def _b64(self) -> str:
        raw = self.path.read_bytes() if self.path is not None else self.data
        return base64.b64encode(raw or b"").decode("ascii")

    def to_content(self) -> dict[str, Any]:
        return {"type": self._KIND, "data": self._b64(), "mimeType": self.mime_type}

    def to_image_content(self) -> dict[str, Any]:
        return self.to_content()


class Audio(Image):
    """Audio a tool returns (``path`` or ``data``; ``format`` e.g. "wav"), as in the SDK."""

    _TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".flac": "audio/flac",
              ".aac": "audio/aac", ".m4a": "audio/mp4"}
    _KIND = "audio"
    _DEFAULT = "audio/wav"

    def to_audio_content(self) -> dict[str, Any]:
        return self.to_content()


class Message:
    """A prompt message (``role`` "user"/"assistant"; ``content`` a str, a content dict, an
    ``Image``/``Audio`` or an SDK content object)."""

    role = "user"

    def __init__(self, content: Any, role: str | None = None) -> None:
        if role is not None:
            self.role = role
        self.content = content

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "content": _block(self.content)}


class UserMessage(Message):
    role = "user"


class AssistantMessage(Message):
    role = "assistant"


def _block(content: Any) -> dict[str, Any]:
    if isinstance(content, str):
        return {"type": "text", "text": content}
    blocks = to_content(content)
    if len(blocks) != 1:
        raise TypeError(f"a prompt message holds one content block, got {len(blocks)}")
    return blocks[0]


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (pydantic models, dataclasses, enums, tuples, sets, bytes,
    dates...), the way pydantic's ``to_jsonable_python(fallback=str)`` renders them."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        return value if math.isfinite(value) else None
    if t is dict:
        return {str(k) if not isinstance(k, str) else k: jsonable(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [jsonable(v) for v in value]
    dump = getattr(value, "model_dump", None)
    if dump is not None and not isinstance(value, type):
        return dump(mode="json", by_alias=True)
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    iso = getattr(value, "isoformat", None)
    if iso is not None:
        return iso()
    if isinstance(value, int | float | str):
        return jsonable(t.__mro__[1](value)) if t is not bool else value
    return str(value)


def json_text(value: Any) -> str:
    """The SDK's text for a non-str value: JSON, 2-space indent, non-ASCII kept."""
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False)


def to_content(value: Any) -> list[dict[str, Any]]:
    """Content blocks for a tool's return value (the SDK's ``_convert_to_content``)."""
    if value is None:
        return []
    t = type(value)
    if t is str:
        return [{"type": "text", "text": value}]
    if t is dict and type(value.get("type")) is str:
        return [value]
    if isinstance(value, Image):
        return [value.to_content()]
    if t is list or t is tuple:
        out: list[dict[str, Any]] = []
        for item in value:
            out.extend(to_content(item))
        return out
    conv = getattr(value, "to_image_content", None) or getattr(value, "to_audio_content", None)
    if conv is not None:  # the SDK's Image/Audio helpers
        return [jsonable_block(conv())]
    if _is_content_model(value):
        return [jsonable_block(value)]
    return [{"type": "text", "text": json_text(value)}]


def jsonable_block(block: Any) -> dict[str, Any]:
    if isinstance(block, dict):
        return block
    return block.model_dump(mode="json", by_alias=True, exclude_none=True)  # type: ignore[no-any-return]


_CONTENT_NAMES = frozenset({"TextContent", "ImageContent", "AudioContent", "EmbeddedResource", "ResourceLink"})


def _is_content_model(value: Any) -> bool:
    return any(c.__name__ in _CONTENT_NAMES for c in type(value).__mro__) and hasattr(value, "model_dump")


def to_structured(value: Any, wrap: bool) -> Any:
    """``structuredContent`` for a tool with an output schema."""
    data = jsonable(value)
    return {"result": data} if wrap else data


def tool_result_converter(output: bool, wrap: bool) -> Callable[[Any], dict[str, Any]]:
    """The converter of one tool's return values (``ServerCore.add_tool(convert=...)``)."""

    def convert(value: Any) -> dict[str, Any]:
        if type(value) is ToolResult:
            return value
        name = type(value).__name__
        if name == "CallToolResult" and hasattr(value, "model_dump"):  # the SDK's own result type
            return ToolResult(value.model_dump(mode="json", by_alias=True, exclude_none=True))
        res: dict[str, Any] = {"content": to_content(value)}
        if output:
            res["structuredContent"] = to_structured(value, wrap)
        return res

    # a str becomes exactly one text block (+ {"result": str} when wrapped): the core may answer
    # a str at once on its one-frame path without calling this converter
    convert.str_as_text = not output or wrap  # type: ignore[attr-defined]
    return convert


def resource_value(value: Any) -> Any:
    """What a resource function returned -> str or bytes (the SDK JSON-encodes the rest)."""
    t = type(value)
    if t is str or t is bytes:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return json_text(value)


def prompt_messages(value: Any) -> list[dict[str, Any]]:
    """A prompt function's return value -> PromptMessage dicts (the SDK's rules: a str,
    content or message is one message; a dict is a message; a list/tuple of those)."""
    if type(value) is dict and "messages" in value:
        return value  # type: ignore[return-value]  # a whole GetPromptResult
    items = value if isinstance(value, list | tuple) else [value]
    out: list[dict[str, Any]] = []
    for m in items:
        if isinstance(m, Message):
            out.append(m.to_dict())
        elif isinstance(m, str):
            out.append({"role": "user", "content": {"type": "text", "text": m}})
        elif isinstance(m, dict):
            if "role" in m and "content" in m:
                out.append({"role": m["role"], "content": _block(m["content"])})
            else:
                out.append({"role": "user", "content": _block(m)})
        elif hasattr(m, "role") and hasattr(m, "content") and hasattr(m, "model_dump"):  # SDK Message
            out.append({"role": m.role, "content": jsonable_block(m.content)})
        elif isinstance(m, Image) or _is_content_model(m) or hasattr(m, "to_image_content") \
                or hasattr(m, "to_audio_content"):
            out.append({"role": "user", "content": to_content(m)[0]})
        else:
            out.append({"role": "user", "content": {"type": "text", "text": json_text(m)}})
    return out


def is_context_annotation(ann: Any) -> bool:
    """Whether a parameter annotation asks for the request context: our ``Context``, a
    subclass, ``Context[...]``, or the official SDK's ``Context`` (so a server written for
    the SDK keeps its imports)."""
    from .context import Context

    ann = _strip(ann)
    origin = typing.get_origin(ann)
    if origin is not None:
        ann = origin
    if not isinstance(ann, type):
        return False
    if issubclass(ann, Context):
        return True
    return ann.__name__ == "Context" and ann.__module__.startswith("mcp.server")


def _strip(ann: Any) -> Any:
    while typing.get_origin(ann) is typing.Annotated:
        ann = ann.__origin__
    return ann


# ------------------------------------------------------------------------------ arguments

Conv = Callable[[Any], Any]


def _is_pydantic(tp: Any) -> bool:
    return isinstance(tp, type) and any(
        c.__module__ == "pydantic.main" and c.__name__ == "BaseModel" for c in tp.__mro__)


def _conv(tp: Any) -> Conv | None:  # noqa: PLR0911, PLR0912 - one branch per kind of type
    """A function turning validated JSON into ``tp``'s Python value, or None if none is needed."""
    tp = _strip(tp)
    if tp is float:
        return _to_float
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or origin is types.UnionType:
        arms = [(a, _conv(a)) for a in args if a is not _NONE]
        if all(c is None for _, c in arms):
            return None
        return _union(arms)
    if origin in (list, set, frozenset, collections_abc_seq()):
        item = _conv(args[0]) if args else None
        make = origin if origin in (set, frozenset) else list
        if item is None:
            return None if make is list else make
        return lambda v: make(item(x) for x in v)  # type: ignore[misc]
    if origin is tuple:
        if not args:
            return tuple
        if len(args) == 2 and args[1] is Ellipsis:
            item = _conv(args[0])
            return tuple if item is None else (lambda v: tuple(item(x) for x in v))
        convs = [_conv(a) or _ident for a in args]
        return lambda v: tuple(c(x) for c, x in zip(convs, v, strict=False))
    if tp in (set, frozenset, tuple):
        return tp  # type: ignore[no-any-return]
    if origin is dict:
        val = _conv(args[1]) if len(args) == 2 else None
        if val is None:
            return None
        return lambda v: {k: val(x) for k, x in v.items()}
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return tp
        if _is_pydantic(tp):
            return tp.model_validate  # type: ignore[attr-defined,no-any-return]
        if dataclasses.is_dataclass(tp):
            return _dataclass(tp)
        if issubclass(tp, dict) and hasattr(tp, "__required_keys__"):  # TypedDict
            hints = typing.get_type_hints(tp)
            fields = {k: c for k, h in hints.items() if (c := _conv(h)) is not None}
            if not fields:
                return None
            return lambda v: {k: (fields[k](x) if k in fields else x) for k, x in v.items()}
    return None


def collections_abc_seq() -> Any:
    import collections.abc

    return collections.abc.Sequence


def _ident(v: Any) -> Any:
    return v


def _to_float(v: Any) -> Any:
    return float(v) if type(v) is int else v


def _union(arms: list[tuple[Any, Conv | None]]) -> Conv:
    def conv(v: Any) -> Any:
        if v is None:
            return None
        err: Exception | None = None
        for tp, c in arms:
            if c is None:
                if _plain_fits(tp, v):
                    return v
                continue
            try:
                return c(v)
            except (ValueError, TypeError, KeyError) as exc:
                err = exc
        if err is not None:
            raise err
        return v

    return conv


def _plain_fits(tp: Any, v: Any) -> bool:
    tp = _strip(tp)
    origin = typing.get_origin(tp) or tp
    if origin is typing.Literal:
        return v in typing.get_args(tp)
    if isinstance(origin, type):
        if origin is int:
            return type(v) is int
        try:
            return isinstance(v, origin)
        except TypeError:
            return True
    return True


def _dataclass(cls: type) -> Conv:
    hints = typing.get_type_hints(cls)
    fields = [(f.name, _conv(hints.get(f.name, Any))) for f in dataclasses.fields(cls) if f.init]
    names = {n for n, _ in fields}

    def conv(v: Any) -> Any:
        if isinstance(v, cls):
            return v
        if type(v) is not dict:
            raise TypeError(f"expected an object for {cls.__name__}, got {type(v).__name__}")
        extra = [k for k in v if k not in names]
        if extra:
            raise TypeError(f"unexpected field {extra[0]!r} for {cls.__name__}")
        kw = {}
        for name, c in fields:
            if name in v:
                kw[name] = c(v[name]) if c is not None else v[name]
        try:
            return cls(**kw)
        except TypeError as exc:
            raise TypeError(f"{cls.__name__}: {exc}") from None

    return conv


def argument_converter(fn: Callable[..., Any], schema: dict[str, Any], skip: frozenset[str],
                       is_async: bool, invalid: Callable[[InvalidParams], Exception] | None = None
                       ) -> Callable[..., Any]:
    """``fn`` itself when its arguments need no conversion; else a wrapper (same signature,
    sync or async like ``fn``) that converts them, and fills defaults given through
    ``Annotated[..., Field(default=...)]`` (optional in the schema, required by Python).

    An argument that cannot be converted (a pydantic model's validation, an Enum value) raises
    InvalidParams naming it, or what ``invalid`` makes of that error (decided per call: a
    ``ToolError`` when the server answers invalid arguments with an ``isError`` result)."""
    sig = inspect.signature(fn, eval_str=True)
    convs: list[tuple[str, Conv]] = []
    defaults: dict[str, Any] = {}
    props = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    for p in sig.parameters.values():
        if p.name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.annotation is not inspect.Parameter.empty:
            c = _conv(p.annotation)
            if c is not None:
                convs.append((p.name, c))
        if p.default is inspect.Parameter.empty and p.name not in required and p.name in props:
            d = _field_default(p.annotation)
            if d is not _NO_DEFAULT:
                defaults[p.name] = d
    if not convs and not defaults:
        return fn

    def convert(kw: dict[str, Any]) -> dict[str, Any]:
        for name, value in defaults.items():
            if name not in kw:
                kw[name] = value() if type(value) is _Factory else value
        for name, c in convs:
            if name in kw:
                try:
                    kw[name] = c(kw[name])
                except InvalidParams:
                    raise
                except Exception as exc:  # noqa: BLE001 - ValueError, TypeError, pydantic's ValidationError
                    msg = str(exc).replace("\n", "; ")
                    err = InvalidParams(f"Argument {name!r}: {msg} - at params.arguments.{name}",
                                        {"argument": name})
                    raise (err if invalid is None else invalid(err)) from None
        return kw

    if is_async:
        async def call_async(**kw: Any) -> Any:
            return await fn(**convert(kw))

        wrapper: Callable[..., Any] = call_async
    else:
        def call(**kw: Any) -> Any:
            return fn(**convert(kw))

        wrapper = call
    wrapper.__signature__ = sig  # type: ignore[attr-defined]  # keyword names for the core
    wrapper.__name__ = getattr(fn, "__name__", "tool")
    wrapper.__doc__ = fn.__doc__
    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


_NO_DEFAULT = object()


class _Factory:
    """A ``Field(default_factory=...)``: called for each call that leaves the argument out."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make

    def __call__(self) -> Any:
        return self.make()


def _field_default(ann: Any) -> Any:
    while typing.get_origin(ann) is typing.Annotated:
        for meta in ann.__metadata__:
            cls = type(meta)
            if cls.__module__ == "pydantic.fields" and cls.__name__ == "FieldInfo":
                if meta.default_factory is not None:
                    return _Factory(meta.default_factory)
                if not meta.is_required():
                    return meta.default
        ann = ann.__origin__
    return _NO_DEFAULT


# ------------------------------------------------------------------------------ lax coercion

_INT = re.compile(r"\s*[+-]?\d+\s*\Z")
_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})


def _lax(kinds: list[str], v: Any) -> Any:
    """``v`` converted to one of the JSON ``kinds`` the way pydantic's lax mode would, or raise."""
    t = type(v)
    for kind in kinds:
        if t is str:
            s = v.strip()
            if kind == "integer" and _INT.match(v):
                return int(s)
            if kind == "number":
                try:
                    f = float(s)
                except ValueError:
                    pass
                else:
                    if math.isfinite(f):
                        return int(s) if _INT.match(v) else f
            if kind == "boolean":
                low = s.lower()
                if low in _TRUE:
                    return True
                if low in _FALSE:
                    return False
            if kind in ("array", "object"):
                try:
                    parsed = json.loads(v)
                except ValueError:
                    continue
                if (kind == "array") == (type(parsed) is list) and type(parsed) in (list, dict):
                    return parsed
        elif kind == "boolean" and t is int and v in (0, 1):
            return bool(v)
        elif kind == "integer" and t is float and v.is_integer():
            return int(v)
    raise ValueError("no lax conversion")


def _fits(v: Any, allowed: frozenset[str]) -> bool:
    t = type(v)
    if t is bool:
        return "boolean" in allowed
    if t is int:
        return "integer" in allowed or "number" in allowed
    if t is float:
        return "number" in allowed or ("integer" in allowed and v.is_integer())
    if t is str:
        return "string" in allowed
    if t is list:
        return "array" in allowed
    if t is dict:
        return "object" in allowed
    return v is None and "null" in allowed


def _kinds(prop: dict[str, Any]) -> list[str]:
    """The JSON type names a property schema allows (its ``type``, or its ``anyOf`` arms')."""
    t = prop.get("type")
    names = [t] if isinstance(t, str) else list(t) if isinstance(t, list) else []
    for arm in prop.get("anyOf") or ():
        if isinstance(arm, dict) and isinstance(arm.get("type"), str):
            names.append(arm["type"])
    return names


def _items_schema(prop: dict[str, Any]) -> dict[str, Any] | None:
    """The ``items`` schema of an array property (or of the array arm of ``Optional[list]``)."""
    for s in (prop, *(a for a in prop.get("anyOf") or () if isinstance(a, dict))):
        if s.get("type") == "array" and isinstance(s.get("items"), dict):
            return s["items"]  # type: ignore[no-any-return]
    return None


def lax_coercer(schema: dict[str, Any], check: Callable[[dict[str, Any]], None] | None
                ) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """A ``coerce`` for ``ServerCore.add_tool``: applies lax conversions to the top-level
    arguments whose JSON type is wrong, and to the items of array arguments of a simple item
    type (``list[int]`` given ``["1", "2"]``), then runs ``check`` again (its InvalidParams,
    naming the argument, is what the client gets when nothing helps)."""
    if check is None:
        return None
    kinds: dict[str, list[str]] = {}
    allowed: dict[str, frozenset[str]] = {}
    #: array arguments -> (item kinds to try, item kinds allowed)
    items: dict[str, tuple[list[str], frozenset[str]]] = {}
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        names = _kinds(prop)
        allowed[name] = frozenset(names)
        names = [n for n in names if n != "null" and n != "string"]
        if names:
            kinds[name] = names
        item = _items_schema(prop)
        if item is not None:
            item_names = _kinds(item)
            tries = [n for n in item_names if n != "null" and n != "string"]
            if tries:
                items[name] = (tries, frozenset(item_names))

    if not kinds:
        return None

    def coerce(args: dict[str, Any]) -> dict[str, Any]:
        fixed = dict(args)
        for name, ks in kinds.items():
            if name in fixed and not _fits(fixed[name], allowed[name]):
                try:
                    fixed[name] = _lax(ks, fixed[name])
                except ValueError:
                    pass
        for name, (ks, ok) in items.items():
            value = fixed.get(name)
            if type(value) is list and not all(_fits(x, ok) for x in value):
                fixed[name] = [x if _fits(x, ok) else _lax_or_same(ks, x) for x in value]
        check(fixed)  # raises the InvalidParams naming the argument if still wrong
        return fixed

    return coerce


def _lax_or_same(kinds: list[str], v: Any) -> Any:
    try:
        return _lax(kinds, v)
    except ValueError:
        return v  # left for the check to name
