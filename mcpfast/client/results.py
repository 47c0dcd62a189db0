"""Result objects with the attribute names of the official SDK's types, over the decoded dicts.

``mcpfast.Client`` hands back what the server sent, wrapped: ``result.tools[0].input_schema``,
``result.content[0].text``, ``result.is_error``, ``result.next_cursor`` read the JSON object the
decoder produced (``inputSchema``, ``content``, ``isError``, ``nextCursor``...) with the SDK 2.x
names and defaults (``is_error`` is ``False`` when absent, ``structured_content`` ``None``).
Nothing is validated or copied when a result arrives: a wrapper is one object holding the dict,
nested objects are wrapped on first access and kept. That is what keeps ``call_tool`` cheap;
pydantic models would cost more than the whole round trip.

Every object also offers ``obj["wireKey"]`` (the raw JSON value), ``obj.raw`` (the dict itself,
not a copy: do not mutate it), ``model_dump()`` (snake_case keys, as the SDK;
``by_alias=True`` for the wire names; ``exclude_none``) and ``model_dump_json()``. Fields the
server sent that a class does not declare are still readable by their snake_case name.

The class names are the SDK's, so code that only reads attributes runs unchanged; ``isinstance``
against ``mcp.types`` classes does not match (these are not pydantic models).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, ClassVar

from ..errors import ErrorData

__all__ = [
    "MCPModel", "wrap_result", "ErrorData",
    "CallToolResult", "ListToolsResult", "Tool", "ToolAnnotations", "ToolExecution", "Icon", "Annotations",
    "TextContent", "ImageContent", "AudioContent", "EmbeddedResource", "ResourceLink",
    "ToolUseContent", "ToolResultContent",
    "ListResourcesResult", "Resource", "ResourceTemplate", "ListResourceTemplatesResult",
    "ReadResourceResult", "TextResourceContents", "BlobResourceContents",
    "ListPromptsResult", "Prompt", "PromptArgument", "GetPromptResult", "PromptMessage",
    "CompleteResult", "Completion", "EmptyResult", "Implementation", "ServerCapabilities",
    "InitializeResult", "DiscoverResult", "InputRequiredResult",
    "LoggingMessageNotificationParams", "ProgressNotificationParams", "CreateMessageRequestParams",
    "ElicitRequestParams", "SamplingMessage", "Root", "ListRootsResult",
    "ServerNotification", "notification_of",
]

_MISSING: Any = object()
#: what may follow an underscore that ``_camel`` folds into a capital
_FOLDS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _camel(name: str) -> str:
    """The wire key of a snake_case name: ``_x`` becomes ``X`` for x in [a-z0-9], any other
    underscore stays (``mime_type`` -> ``mimeType``, ``a__b`` -> ``a_B``). String operations,
    not a regex: this runs for every declared field while the module is imported."""
    if name == "meta":
        return "_meta"
    if "_" not in name:
        return name
    parts = name.split("_")
    out = [parts[0]]
    for part in parts[1:]:
        out.append(part[0].upper() + part[1:] if part and part[0] in _FOLDS else "_" + part)
    return "".join(out)


def _snake(key: str) -> str:
    if key == "_meta":
        return "meta"
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), key)


class MCPModel:
    """A read-only view of one JSON object with the SDK's snake_case attribute names.

    Subclasses declare their fields as annotations; ``DEFAULTS`` gives the value of an absent
    field (None otherwise), ``NESTED`` the wrapper of a field's value (a class, or a function
    of the raw value). The properties are made once per class (``__init_subclass__``); a
    subclass inherits its base's unless it declares the field again or gives it another
    default or wrapper (so a hand-written property of the base, ``Task.ttl``, is inherited too).
    """

    __slots__ = ("_d", "_c")

    DEFAULTS: ClassVar[dict[str, Any]] = {}
    NESTED: ClassVar[dict[str, Any]] = {}
    #: snake name -> wire key, for this class's declared fields
    FIELD_KEYS: ClassVar[dict[str, str]] = {}

    def __init__(self, data: dict[str, Any] | None = None, **fields: Any) -> None:
        if fields:  # built by hand (a callback's answer): snake_case or wire keys both work
            data = dict(data or {})
            keys = type(self).FIELD_KEYS
            for k, v in fields.items():
                data[keys.get(k, k)] = _unwrap(v)
        self._d: dict[str, Any] = data if data is not None else {}
        self._c: dict[str, Any] | None = None

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        keys = dict(cls.FIELD_KEYS)  # the base class's fields, then this class's own
        make = []
        for name in cls.__dict__.get("__annotations__", ()):
            if name[0] != "_" and not name.isupper():
                keys[name] = _camel(name)
                make.append(name)
        defaults, nested = cls.DEFAULTS, cls.NESTED
        bases = cls.__bases__
        if len(bases) != 1 or not issubclass(bases[0], MCPModel):
            make = list(keys)  # no single model base to inherit from: make them all
        elif defaults is not bases[0].DEFAULTS or nested is not bases[0].NESTED:
            base_defaults, base_nested = bases[0].DEFAULTS, bases[0].NESTED
            make += [name for name in cls.FIELD_KEYS if name not in make and (
                defaults.get(name) is not base_defaults.get(name) or nested.get(name) is not base_nested.get(name))]
        cls.FIELD_KEYS = keys
        for name in make:
            if name not in cls.__dict__:
                setattr(cls, name, _field(name, keys[name], defaults.get(name), nested.get(name)))

    # ------------------------------------------------------------------ access

    @property
    def raw(self) -> dict[str, Any]:
        """The JSON object as received (shared, not copied)."""
        return self._d

    def __getitem__(self, key: str) -> Any:
        return self._d[key]

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def get(self, key: str, default: Any = None) -> Any:
        """The raw JSON value under the wire ``key`` (as ``dict.get``)."""
        return self._d.get(key, default)

    def __getattr__(self, name: str) -> Any:
        # fields the class does not declare (extra keys a server sent), by their snake name
        if name.startswith("__"):
            raise AttributeError(name)
        key = _camel(name)
        d = self._d
        if key in d:
            return _wrap_any(d[key])
        if name in d:
            return _wrap_any(d[name])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MCPModel):
            return self._d == other.raw
        if isinstance(other, dict):
            return self._d == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = []
        for name, key in type(self).FIELD_KEYS.items():
            if key in self._d:
                parts.append(f"{name}={getattr(self, name)!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # ------------------------------------------------------------------ pydantic-like

    def model_dump(self, *, by_alias: bool = False, exclude_none: bool = False, mode: str = "python",
                   **_ignored: Any) -> dict[str, Any]:
        """A plain dict: snake_case keys with every declared field (absent ones at their
        default), or the wire keys as received with ``by_alias=True``; a deep copy."""
        out: dict[str, Any] = {}
        if by_alias:
            out.update(_copy(self._d))
            if exclude_none:
                out = {k: v for k, v in out.items() if v is not None}
            return out
        keys = type(self).FIELD_KEYS
        for name in keys:
            value = _dump(getattr(self, name), exclude_none)
            if value is None and exclude_none:
                continue
            out[name] = value
        wire = set(keys.values())
        for key, value in self._d.items():  # extra keys the class does not declare
            if key not in wire:
                out[_snake(key)] = _copy(value)
        return out

    def model_dump_json(self, *, by_alias: bool = False, exclude_none: bool = False, **kw: Any) -> str:
        return json.dumps(self.model_dump(by_alias=by_alias, exclude_none=exclude_none), separators=(",", ":"))

    @classmethod
    def model_validate(cls, data: Any) -> MCPModel:
        """Wrap ``data`` (a dict, or another model's dump) without checking it."""
        if isinstance(data, MCPModel):
            return cls(data.raw)
        if hasattr(data, "model_dump"):
            return cls(data.model_dump(by_alias=True, exclude_none=True, mode="json"))
        return cls(dict(data))


def _field(name: str, key: str, default: Any, nested: Any) -> property:
    if nested is None:
        if default is None:
            def get(self: MCPModel) -> Any:
                return self._d.get(key)
        else:
            def get(self: MCPModel) -> Any:
                return self._d.get(key, default)
    else:
        def get(self: MCPModel) -> Any:
            c = self._c
            if c is not None:
                hit = c.get(name, _MISSING)
                if hit is not _MISSING:
                    return hit
            value = self._d.get(key, _MISSING)
            if value is _MISSING or value is None:
                return default() if callable(default) else default
            out = nested(value)
            if c is None:
                self._c = {name: out}
            else:
                c[name] = out
            return out
    get.__name__ = name
    return property(get)


def _list_of(make: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if type(value) is list:
            return [make(v) for v in value]
        return make(value)
    return convert


def _obj(cls: type[MCPModel]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return cls(value) if type(value) is dict else value
    return convert


def _wrap_any(value: Any) -> Any:
    if type(value) is dict:
        return GenericModel(value)
    if type(value) is list:
        return [_wrap_any(v) for v in value]
    return value


def _unwrap(value: Any) -> Any:
    if isinstance(value, MCPModel):
        return value.raw
    if hasattr(value, "model_dump"):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    if type(value) is list:
        return [_unwrap(v) for v in value]
    return value


def _copy(value: Any) -> Any:
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value


def _dump(value: Any, exclude_none: bool) -> Any:
    if isinstance(value, MCPModel):
        return value.model_dump(exclude_none=exclude_none)
    if type(value) is list:
        return [_dump(v, exclude_none) for v in value]
    return _copy(value)


def _empty_list() -> list[Any]:
    return []


class GenericModel(MCPModel):
    """A JSON object with no declared fields (an extra key's value): snake_case access only."""

    __slots__ = ()


# ---------------------------------------------------------------------------- shared pieces


class Icon(MCPModel):
    __slots__ = ()
    src: str
    mime_type: str | None
    sizes: list[str] | None
    theme: str | None


class Annotations(MCPModel):
    __slots__ = ()
    audience: list[str] | None
    priority: float | None
    last_modified: str | None


_icons = _list_of(_obj(Icon))
_annotations = _obj(Annotations)


class Implementation(MCPModel):
    __slots__ = ()
    NESTED = {"icons": _icons}
    name: str
    title: str | None
    version: str
    description: str | None
    website_url: str | None
    icons: list[Icon] | None


class TextResourceContents(MCPModel):
    __slots__ = ()
    uri: str
    mime_type: str | None
    meta: dict[str, Any] | None
    text: str


class BlobResourceContents(MCPModel):
    __slots__ = ()
    uri: str
    mime_type: str | None
    meta: dict[str, Any] | None
    blob: str


def _resource_contents(value: Any) -> Any:
    if type(value) is not dict:
        return value
    return BlobResourceContents(value) if "blob" in value and "text" not in value else TextResourceContents(value)


class TextContent(MCPModel):
    __slots__ = ()
    DEFAULTS = {"type": "text"}
    NESTED = {"annotations": _annotations}
    type: str
    text: str
    annotations: Annotations | None
    meta: dict[str, Any] | None


class ImageContent(MCPModel):
    __slots__ = ()
    DEFAULTS = {"type": "image"}
    NESTED = {"annotations": _annotations}
    type: str
    data: str
    mime_type: str
    annotations: Annotations | None
    meta: dict[str, Any] | None


class AudioContent(ImageContent):
    __slots__ = ()
    DEFAULTS = {"type": "audio"}


class EmbeddedResource(MCPModel):
    __slots__ = ()
    DEFAULTS = {"type": "resource"}
    NESTED = {"annotations": _annotations, "resource": _resource_contents}
    type: str
    resource: TextResourceContents | BlobResourceContents
    annotations: Annotations | None
    meta: dict[str, Any] | None


class ResourceLink(MCPModel):
    __slots__ = ()
    DEFAULTS = {"type": "resource_link"}
    NESTED = {"annotations": _annotations, "icons": _icons}
    name: str
    title: str | None
    uri: str
    description: str | None
    mime_type: str | None
    size: int | None
    icons: list[Icon] | None
    annotations: Annotations | None
    meta: dict[str, Any] | None
    type: str


def _content_block(value: Any) -> Any:
    if type(value) is not dict:
        return value
    cls = _CONTENT_BY_TYPE.get(value.get("type"), GenericModel)  # type: ignore[arg-type]
    return cls(value)


_content_list = _list_of(_content_block)


class ToolUseContent(MCPModel):
    __slots__ = ()
    DEFAULTS = {"type": "tool_use"}
    type: str
    id: str
    name: str
    input: dict[str, Any]
    meta: dict[str, Any] | None


class ToolResultContent(MCPModel):
    __slots__ = ()
    DEFAULTS = {"type": "tool_result", "content": _empty_list}
    NESTED = {"content": _content_list}
    type: str
    tool_use_id: str
    content: list[Any]
    structured_content: Any
    is_error: bool | None
    meta: dict[str, Any] | None


_CONTENT_BY_TYPE: dict[str, type[MCPModel]] = {
    "text": TextContent, "image": ImageContent, "audio": AudioContent, "resource": EmbeddedResource,
    "resource_link": ResourceLink, "tool_use": ToolUseContent, "tool_result": ToolResultContent,
}


# ---------------------------------------------------------------------------- tools


class ToolAnnotations(MCPModel):
    __slots__ = ()
    title: str | None
    read_only_hint: bool | None
    destructive_hint: bool | None
    idempotent_hint: bool | None
    open_world_hint: bool | None


class ToolExecution(MCPModel):
    __slots__ = ()
    task_support: str | None


class Tool(MCPModel):
    __slots__ = ()
    NESTED = {"annotations": _obj(ToolAnnotations), "execution": _obj(ToolExecution), "icons": _icons}
    name: str
    title: str | None
    description: str | None
    input_schema: dict[str, Any]
    execution: ToolExecution | None
    output_schema: dict[str, Any] | None
    icons: list[Icon] | None
    annotations: ToolAnnotations | None
    meta: dict[str, Any] | None


class _Cacheable(MCPModel):
    __slots__ = ()
    DEFAULTS = {"ttl_ms": 0, "cache_scope": "private", "result_type": "complete"}
    meta: dict[str, Any] | None
    ttl_ms: int
    cache_scope: str
    result_type: str


class ListToolsResult(_Cacheable):
    __slots__ = ()
    NESTED = {"tools": _list_of(_obj(Tool))}
    next_cursor: str | None
    tools: list[Tool]


class CallToolResult(MCPModel):
    __slots__ = ()
    DEFAULTS = {"is_error": False, "result_type": "complete"}
    meta: dict[str, Any] | None
    content: list[Any]
    structured_content: Any
    is_error: bool
    result_type: str

    @property  # type: ignore[no-redef]
    def content(self) -> list[Any]:  # noqa: F811 - the hot field, wrapped without the generic getter
        # read on every call: the wrapped list is kept in ``_c`` itself (no dict for one field)
        c = self._c
        if c is not None:
            return c  # type: ignore[return-value]
        raw = self._d.get("content")
        if type(raw) is list:
            out = []  # a loop, not a comprehension: on 3.11 that is one frame less per call
            for b in raw:
                out.append(TextContent(b) if type(b) is dict and b.get("type") == "text" else _content_block(b))
        else:
            out = [] if raw is None else [_content_block(raw)]
        self._c = out  # type: ignore[assignment]
        return out


# ---------------------------------------------------------------------------- resources


class Resource(MCPModel):
    __slots__ = ()
    NESTED = {"annotations": _annotations, "icons": _icons}
    name: str
    title: str | None
    uri: str
    description: str | None
    mime_type: str | None
    size: int | None
    icons: list[Icon] | None
    annotations: Annotations | None
    meta: dict[str, Any] | None


class ResourceTemplate(MCPModel):
    __slots__ = ()
    NESTED = {"annotations": _annotations, "icons": _icons}
    name: str
    title: str | None
    uri_template: str
    description: str | None
    mime_type: str | None
    icons: list[Icon] | None
    annotations: Annotations | None
    meta: dict[str, Any] | None


class ListResourcesResult(_Cacheable):
    __slots__ = ()
    NESTED = {"resources": _list_of(_obj(Resource))}
    next_cursor: str | None
    resources: list[Resource]


class ListResourceTemplatesResult(_Cacheable):
    __slots__ = ()
    NESTED = {"resource_templates": _list_of(_obj(ResourceTemplate))}
    next_cursor: str | None
    resource_templates: list[ResourceTemplate]


class ReadResourceResult(_Cacheable):
    __slots__ = ()
    NESTED = {"contents": _list_of(_resource_contents)}
    contents: list[TextResourceContents | BlobResourceContents]


# ---------------------------------------------------------------------------- prompts


class PromptArgument(MCPModel):
    __slots__ = ()
    name: str
    title: str | None
    description: str | None
    required: bool | None


class Prompt(MCPModel):
    __slots__ = ()
    NESTED = {"arguments": _list_of(_obj(PromptArgument)), "icons": _icons}
    name: str
    title: str | None
    description: str | None
    arguments: list[PromptArgument] | None
    icons: list[Icon] | None
    meta: dict[str, Any] | None


class ListPromptsResult(_Cacheable):
    __slots__ = ()
    NESTED = {"prompts": _list_of(_obj(Prompt))}
    next_cursor: str | None
    prompts: list[Prompt]


class PromptMessage(MCPModel):
    __slots__ = ()
    NESTED = {"content": _content_block}
    role: str
    content: Any


class GetPromptResult(MCPModel):
    __slots__ = ()
    DEFAULTS = {"result_type": "complete"}
    NESTED = {"messages": _list_of(_obj(PromptMessage))}
    meta: dict[str, Any] | None
    description: str | None
    messages: list[PromptMessage]
    result_type: str


# ---------------------------------------------------------------------------- the rest


class Completion(MCPModel):
    __slots__ = ()
    values: list[str]
    total: int | None
    has_more: bool | None


class CompleteResult(MCPModel):
    __slots__ = ()
    DEFAULTS = {"result_type": "complete"}
    NESTED = {"completion": _obj(Completion)}
    meta: dict[str, Any] | None
    completion: Completion
    result_type: str


class EmptyResult(MCPModel):
    __slots__ = ()
    meta: dict[str, Any] | None
    result_type: str | None


class _Capability(MCPModel):
    __slots__ = ()
    list_changed: bool | None


class ToolsCapability(_Capability):
    __slots__ = ()


class PromptsCapability(_Capability):
    __slots__ = ()


class ResourcesCapability(_Capability):
    __slots__ = ()
    subscribe: bool | None


class ServerCapabilities(MCPModel):
    __slots__ = ()
    NESTED = {"prompts": _obj(PromptsCapability), "resources": _obj(ResourcesCapability),
               "tools": _obj(ToolsCapability)}
    experimental: dict[str, Any] | None
    logging: dict[str, Any] | None
    prompts: PromptsCapability | None
    resources: ResourcesCapability | None
    tools: ToolsCapability | None
    completions: dict[str, Any] | None
    extensions: dict[str, Any] | None
    tasks: Any


class InitializeResult(MCPModel):
    __slots__ = ()
    NESTED = {"capabilities": _obj(ServerCapabilities), "server_info": _obj(Implementation)}
    meta: dict[str, Any] | None
    protocol_version: str
    capabilities: ServerCapabilities
    server_info: Implementation
    instructions: str | None


class DiscoverResult(_Cacheable):
    __slots__ = ()
    NESTED = {"capabilities": _obj(ServerCapabilities)}
    supported_versions: list[str]
    capabilities: ServerCapabilities
    instructions: str | None


class InputRequiredResult(MCPModel):
    """A 2026-07-28 ``resultType: "input_required"`` answer (multi round-trip request)."""

    __slots__ = ()
    meta: dict[str, Any] | None
    input_requests: dict[str, Any] | None
    request_state: str | None
    result_type: str


# ---------------------------------------------------------------------------- tasks

def _ms(new_key: str, old_key: str) -> property:
    # the two eras name one value differently (2025-11-25 ``ttl``/``pollInterval``, 2026-07-28
    # ``ttlMs``/``pollIntervalMs``; both milliseconds): either name reads whichever was sent
    def get(self: MCPModel) -> Any:
        d = self.raw
        return d[new_key] if new_key in d else d.get(old_key)
    return property(get)


class Task(MCPModel):
    """A task's state (``tasks/get``, ``notifications/tasks/status``, ``notifications/tasks``,
    a 2026-07-28 ``CreateTaskResult``). ``ttl``/``ttl_ms`` and ``poll_interval``/
    ``poll_interval_ms`` read the value under either era's key. At 2026-07-28 the detailed
    shapes inline ``result`` (completed), ``error`` (failed) and ``input_requests``
    (input_required)."""

    __slots__ = ()
    meta: dict[str, Any] | None
    task_id: str
    status: str
    status_message: str | None
    created_at: str
    last_updated_at: str
    ttl: int | None
    poll_interval: int | None
    ttl_ms: int | None
    poll_interval_ms: int | None
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    input_requests: dict[str, Any] | None

    ttl = _ms("ttl", "ttlMs")  # type: ignore[assignment]  # noqa: F811
    ttl_ms = _ms("ttlMs", "ttl")  # type: ignore[assignment]  # noqa: F811
    poll_interval = _ms("pollInterval", "pollIntervalMs")  # type: ignore[assignment]  # noqa: F811
    poll_interval_ms = _ms("pollIntervalMs", "pollInterval")  # type: ignore[assignment]  # noqa: F811


class GetTaskResult(Task):
    """The answer to ``tasks/get`` (the task's state; at 2026-07-28 with its payload inlined)."""

    __slots__ = ()
    result_type: str | None


class CancelTaskResult(Task):
    """The answer to ``tasks/cancel``: the cancelled task at 2025-11-25, an empty
    acknowledgement at 2026-07-28 (every task field None)."""

    __slots__ = ()
    result_type: str | None


class CreateTaskResult(MCPModel):
    """A tool call answered with a task: 2025-11-25 nests it (``{"task": {...}}``), 2026-07-28
    sends the task's fields flat with ``resultType: "task"``; ``task`` is the ``Task`` either way."""

    __slots__ = ()
    meta: dict[str, Any] | None
    task: Task
    result_type: str | None

    @property  # type: ignore[no-redef]
    def task(self) -> Task:  # noqa: F811
        inner = self.raw.get("task")
        return Task(inner if type(inner) is dict else self.raw)


class ListTasksResult(MCPModel):
    """The answer to ``tasks/list`` (2025-11-25)."""

    __slots__ = ()
    NESTED = {"tasks": _list_of(_obj(Task))}
    meta: dict[str, Any] | None
    tasks: list[Task]
    next_cursor: str | None


class TaskStatusNotificationParams(Task):
    """The params of ``notifications/tasks/status`` (2025-11-25) and ``notifications/tasks``
    (2026-07-28): the whole task."""

    __slots__ = ()


class SamplingMessage(MCPModel):
    __slots__ = ()
    NESTED = {"content": lambda v: _content_list(v) if type(v) is list else _content_block(v)}
    role: str
    content: Any
    meta: dict[str, Any] | None


class CreateMessageRequestParams(MCPModel):
    __slots__ = ()
    NESTED = {"messages": _list_of(_obj(SamplingMessage))}
    meta: dict[str, Any] | None
    messages: list[SamplingMessage]
    model_preferences: dict[str, Any] | None
    system_prompt: str | None
    include_context: str | None
    temperature: float | None
    max_tokens: int
    stop_sequences: list[str] | None
    metadata: dict[str, Any] | None
    tools: list[Any] | None
    tool_choice: dict[str, Any] | None
    task: dict[str, Any] | None


class ElicitRequestParams(MCPModel):
    __slots__ = ()
    DEFAULTS = {"mode": "form"}
    meta: dict[str, Any] | None
    mode: str
    message: str
    requested_schema: dict[str, Any] | None
    url: str | None
    elicitation_id: str | None


class Root(MCPModel):
    __slots__ = ()
    uri: str
    name: str | None
    meta: dict[str, Any] | None


class ListRootsResult(MCPModel):
    __slots__ = ()
    NESTED = {"roots": _list_of(_obj(Root))}
    meta: dict[str, Any] | None
    roots: list[Root]


class LoggingMessageNotificationParams(MCPModel):
    __slots__ = ()
    meta: dict[str, Any] | None
    level: str
    logger: str | None
    data: Any


class ProgressNotificationParams(MCPModel):
    __slots__ = ()
    meta: dict[str, Any] | None
    progress_token: str | int
    progress: float
    total: float | None
    message: str | None


# ---------------------------------------------------------------------------- notifications


class ServerNotification:
    """A notification from the server, as ``message_handler`` receives it: ``method`` and
    ``params`` (wrapped with the SDK's names: ``params.level``, ``params.progress_token``...).
    Subclasses carry the SDK's class names (``LoggingMessageNotification``...)."""

    __slots__ = ("method", "_params", "_wrapped")

    PARAMS: ClassVar[type[MCPModel]] = GenericModel

    def __init__(self, method: str, params: Any) -> None:
        self.method = method
        self._params = params
        self._wrapped: Any = _MISSING

    @property
    def params(self) -> Any:
        w = self._wrapped
        if w is _MISSING:
            p = self._params
            w = type(self).PARAMS(p) if type(p) is dict else p
            self._wrapped = w
        return w

    @property
    def root(self) -> ServerNotification:
        """Itself (the SDK once wrapped notifications in a root model)."""
        return self

    def model_dump(self, *, by_alias: bool = False, exclude_none: bool = False, **kw: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method}
        p = self.params
        if isinstance(p, MCPModel):
            out["params"] = p.model_dump(by_alias=by_alias, exclude_none=exclude_none)
        elif p is not None or not exclude_none:
            out["params"] = _copy(p)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(method={self.method!r}, params={self._params!r})"


class LoggingMessageNotification(ServerNotification):
    __slots__ = ()
    PARAMS = LoggingMessageNotificationParams


class ProgressNotification(ServerNotification):
    __slots__ = ()
    PARAMS = ProgressNotificationParams


class ResourceUpdatedNotification(ServerNotification):
    __slots__ = ()


class ResourceListChangedNotification(ServerNotification):
    __slots__ = ()


class ToolListChangedNotification(ServerNotification):
    __slots__ = ()


class PromptListChangedNotification(ServerNotification):
    __slots__ = ()


class CancelledNotification(ServerNotification):
    __slots__ = ()


class SubscriptionsAcknowledgedNotification(ServerNotification):
    __slots__ = ()


class TaskStatusNotification(ServerNotification):
    """A task's status changed: ``notifications/tasks/status`` (2025-11-25) or, on a
    ``subscriptions/listen`` stream, ``notifications/tasks`` (2026-07-28)."""

    __slots__ = ()
    PARAMS = TaskStatusNotificationParams


__all__ += ["LoggingMessageNotification", "ProgressNotification", "ResourceUpdatedNotification",
            "ResourceListChangedNotification", "ToolListChangedNotification", "PromptListChangedNotification",
            "CancelledNotification", "SubscriptionsAcknowledgedNotification", "ToolsCapability",
            "PromptsCapability", "ResourcesCapability", "GenericModel",
            "Task", "GetTaskResult", "CancelTaskResult", "CreateTaskResult", "ListTasksResult",
            "TaskStatusNotificationParams", "TaskStatusNotification"]

_NOTIFICATION_CLASS: dict[str, type[ServerNotification]] = {
    "notifications/message": LoggingMessageNotification,
    "notifications/progress": ProgressNotification,
    "notifications/resources/updated": ResourceUpdatedNotification,
    "notifications/resources/list_changed": ResourceListChangedNotification,
    "notifications/tools/list_changed": ToolListChangedNotification,
    "notifications/prompts/list_changed": PromptListChangedNotification,
    "notifications/cancelled": CancelledNotification,
    "notifications/subscriptions/acknowledged": SubscriptionsAcknowledgedNotification,
    "notifications/tasks/status": TaskStatusNotification,
    "notifications/tasks": TaskStatusNotification,
}


def notification_of(method: str, params: Any) -> ServerNotification:
    """The notification object for ``method`` (the SDK's class name when it has one)."""
    return _NOTIFICATION_CLASS.get(method, ServerNotification)(method, params)


#: the wrapper of each request's result, by method
RESULT_CLASS: dict[str, type[MCPModel]] = {
    "tools/call": CallToolResult,
    "tools/list": ListToolsResult,
    "resources/list": ListResourcesResult,
    "resources/templates/list": ListResourceTemplatesResult,
    "resources/read": ReadResourceResult,
    "prompts/list": ListPromptsResult,
    "prompts/get": GetPromptResult,
    "completion/complete": CompleteResult,
    "server/discover": DiscoverResult,
    "initialize": InitializeResult,
    "tasks/get": GetTaskResult,
    "tasks/cancel": CancelTaskResult,
    "tasks/list": ListTasksResult,
}


def wrap_result(method: str, result: Any) -> Any:
    """The result of ``method`` wrapped in its class (``EmptyResult`` for the others)."""
    if type(result) is not dict:
        return result
    return RESULT_CLASS.get(method, EmptyResult)(result)
