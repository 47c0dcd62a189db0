"""What a server offers: tools, resources, resource templates, prompts.

Everything a request needs is computed at registration: the list entry (``Tool`` etc. as sent
in ``tools/list``), the input checker, whether the handler is a coroutine function, how it gets
its context. The list pages themselves are encoded once per registry change (``ServerCore``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..wire.counters import Histogram, OperationSlot
from ._threads import MODE_INLINE, MODE_POOL
from .uritemplate import UriTemplate
from .validation import compile_input_check

__all__ = [
    "Tool",
    "Resource",
    "ResourceTemplate",
    "Prompt",
    "ToolResult",
]


class ToolResult(dict):  # type: ignore[type-arg]
    """A complete ``CallToolResult`` (``content``, ``structuredContent``, ``isError``...).

    A tool returning one is answered with it as it is; any other return value is converted
    (see ``ServerCore.add_tool``). A subclass of dict, so building one costs nothing extra.
    """

    __slots__ = ()


def _wants(fn: Callable[..., Any]) -> tuple[bool, bool, frozenset[str]]:
    """(is a coroutine function, takes **kwargs, its keyword parameter names)."""
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004 - an instance whose __call__ is async
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return is_async, True, frozenset()
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    names = frozenset(
        n for n, p in sig.parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    )
    return is_async, var_kw, names



class _Entry:
    """Shared handler facts: the callable, sync/async, its keyword names, its context kwarg."""

    __slots__ = ("fn", "is_async", "context_kwarg", "var_kw", "params", "blocking")

    def __init__(self, fn: Callable[..., Any], context_kwarg: str | None, blocking: bool | None) -> None:
        if not callable(fn):
            raise TypeError(f"handler must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.is_async, self.var_kw, self.params = _wants(fn)
        if context_kwarg is not None and not self.var_kw and context_kwarg not in self.params:
            raise TypeError(f"{getattr(fn, '__name__', fn)!r} has no parameter {context_kwarg!r} for the context")
        self.context_kwarg = context_kwarg
        #: for tools: False pins a sync handler inline on the loop, None and True put it in the
        #: thread pool (True: known slow; see ``_threads``); resources and prompts run inline
        self.blocking = blocking


def _put(d: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        d[key] = value


class Tool(_Entry):
    """A registered tool: its list entry, input check, result shape, placement and stats.

    Placement of a sync handler (``mode``): ``MODE_INLINE`` (called on the event loop:
    ``blocking=False`` pins it there) or ``MODE_POOL`` (the server's thread pool: ``blocking=None``
    or ``True``); see ``_threads.ToolRunner``. ``slow`` says the last pooled call was slow
    (always true with ``blocking=True``): results finished before its next call are handed to
    the loop first.

    Stats: every call's duration goes to ``hist`` (a ``wire.counters.Histogram`` in µs: its
    ``count`` is the number of calls, ``sum`` the total time); ``errors`` counts calls that
    failed (``isError`` results and protocol errors raised by the handler).
    """

    __slots__ = ("name", "entry", "check", "output_schema", "required_caps", "convert", "plain", "fast",
                 "wrap", "text", "coerce", "hist", "errors", "mode", "slow", "source", "task_support", "defer_task",
                 "task_window", "op_slot")

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        input_schema: dict[str, Any],
        output_schema: dict[str, Any] | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: dict[str, Any] | None = None,
        icons: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        context_kwarg: str | None = None,
        required_capabilities: dict[str, Any] | None = None,
        convert: Callable[[Any], dict[str, Any]] | None = None,
        blocking: bool | None = False,
        wrap_output: bool = False,
        coerce: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        source: Any = None,
        task: str = "forbidden",
        defer_task: bool = False,
        task_window: float | None = None,
    ) -> None:
        if type(name) is not str or not name:
            raise ValueError(f"a tool name must be a non-empty string, got {name!r}")
        super().__init__(fn, context_kwarg, blocking)
        self.name = name
        self.check = compile_input_check(input_schema)
        self.output_schema = output_schema
        self.required_caps = required_capabilities or None
        self.convert = convert
        #: a str return value becomes one text block (no converter, no output schema)
        self.plain = convert is None and output_schema is None
        #: structured output wraps the value: ``structuredContent = {"result": value}``
        self.wrap = wrap_output and output_schema is not None
        #: a str return value is answered at once: one text block (+ the wrapped structure)
        self.text = self.plain or self.wrap or getattr(convert, "str_as_text", False) is True
        #: served by the one-frame path of ``ServerCore._handle_tools_call`` (no context, no
        #: capability check; a sync one answers a str at once)
        self.fast = self.text and context_kwarg is None and self.required_caps is None
        #: called with the arguments when ``check`` rejected them: returns coerced arguments
        #: (lax conversions such as "5" -> 5) or raises the InvalidParams itself
        self.coerce = coerce
        #: what was registered (a seed-API tool object, the decorated function...)
        self.source = source if source is not None else fn
        self.hist = Histogram("mcpfast_tool_duration_seconds", "tool call duration")
        #: the server metrics' slot of this tool's calls (``RequestMeter.tool_slot``); None: metrics off
        self.op_slot: OperationSlot | None = None
        self.errors = 0
        self.mode = MODE_INLINE if self.is_async or blocking is False else MODE_POOL
        self.slow = blocking is True
        #: ``"optional"``/``"required"``: the tool may/must run as a task (None: ``"forbidden"``)
        self.task_support = None if task == "forbidden" else task
        #: the task starts when the tool calls ``ctx.start_task()`` (input gathered before it)
        self.defer_task = defer_task
        #: an optional task's immediate-result window (s; None: the server's ``task_window``)
        self.task_window = task_window
        e: dict[str, Any] = {"name": name}
        _put(e, "title", title)
        _put(e, "description", description)
        _put(e, "icons", icons)
        e["inputSchema"] = input_schema
        _put(e, "outputSchema", output_schema)
        _put(e, "annotations", annotations)
        if self.task_support is not None:
            e["execution"] = {"taskSupport": self.task_support}
        _put(e, "_meta", meta)
        #: the ``Tool`` object as listed
        self.entry = e

    @property
    def placement(self) -> str:
        """Where a call runs now: ``"async"``, ``"inline"`` or ``"pool"``."""
        if self.is_async:
            return "async"
        return "pool" if self.mode == MODE_POOL else "inline"

    @property
    def pinned(self) -> bool:
        """True when the author chose the placement (``blocking=True``/``False``) or the tool is
        async; with ``blocking=None`` a plain tool runs in the pool (the server's choice)."""
        return self.is_async or self.blocking is not None


class Resource(_Entry):
    __slots__ = ("uri", "entry", "mime_type", "ttl_ms")

    def __init__(
        self,
        uri: str,
        fn: Callable[..., Any],
        *,
        name: str,
        title: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
        size: int | None = None,
        annotations: dict[str, Any] | None = None,
        icons: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        context_kwarg: str | None = None,
        ttl_ms: int | None = None,
        blocking: bool = False,
    ) -> None:
        super().__init__(fn, context_kwarg, blocking)
        self.uri = uri
        self.mime_type = mime_type
        self.ttl_ms = ttl_ms
        e: dict[str, Any] = {"uri": uri, "name": name}
        _put(e, "title", title)
        _put(e, "description", description)
        _put(e, "mimeType", mime_type)
        _put(e, "size", size)
        _put(e, "icons", icons)
        _put(e, "annotations", annotations)
        _put(e, "_meta", meta)
        self.entry = e


class ResourceTemplate(_Entry):
    __slots__ = ("template", "entry", "mime_type", "ttl_ms")

    def __init__(
        self,
        uri_template: str,
        fn: Callable[..., Any],
        *,
        name: str,
        title: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
        annotations: dict[str, Any] | None = None,
        icons: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        context_kwarg: str | None = None,
        ttl_ms: int | None = None,
        blocking: bool = False,
    ) -> None:
        super().__init__(fn, context_kwarg, blocking)
        self.template = UriTemplate(uri_template)
        self.mime_type = mime_type
        self.ttl_ms = ttl_ms
        e: dict[str, Any] = {"uriTemplate": uri_template, "name": name}
        _put(e, "title", title)
        _put(e, "description", description)
        _put(e, "mimeType", mime_type)
        _put(e, "icons", icons)
        _put(e, "annotations", annotations)
        _put(e, "_meta", meta)
        self.entry = e


class Prompt(_Entry):
    __slots__ = ("name", "entry", "required")

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        title: str | None = None,
        description: str | None = None,
        arguments: list[dict[str, Any]] | None = None,
        icons: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        context_kwarg: str | None = None,
        blocking: bool = False,
    ) -> None:
        super().__init__(fn, context_kwarg, blocking)
        self.name = name
        self.required = tuple(a["name"] for a in arguments or () if a.get("required"))
        e: dict[str, Any] = {"name": name}
        _put(e, "title", title)
        _put(e, "description", description)
        _put(e, "arguments", arguments)
        _put(e, "icons", icons)
        _put(e, "_meta", meta)
        self.entry = e
