"""The seed API: a ``Tool`` base class, ``ToolRegistry`` and per-tool statistics.

Beside the SDK-style decorators, a tool can be an object::

    class Add(mcpfast.Tool):
        name = "add"
        description = "Add two integers"
        schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                  "required": ["a", "b"]}

        async def execute(self, params):
            return params["a"] + params["b"]

    server.register_tool(Add())          # or any object with name, schema and execute (sync or async)
    server.tools.unregister("add")
    server.tools.stats()                 # {"add": {"calls": ..., "errors": ..., "p99_ms": ...}}

``ToolRegistry`` is a live view of a server's tools (decorated ones included): every call is
timed on the dispatcher's hot path (two clock reads and one histogram bucket, see
``ServerCore._handle_tools_call``), whichever way the tool was registered.
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
from collections.abc import Iterator
from time import perf_counter_ns as _now
from typing import TYPE_CHECKING, Any

from ..errors import InvalidParams
from ._threads import MODE_POOL

if TYPE_CHECKING:
    from .core import ServerCore
    from .registry import Tool as ToolEntry

__all__ = ["Tool", "ToolRegistry", "tool_stats"]


class Tool:
    """Base class of a tool object: set ``name``, ``schema`` (the input JSON Schema, an object
    schema) and ``description``; implement ``execute(params)`` (``async def`` or plain; a plain
    one runs in the server's thread pool until it is seen to be fast). The return value is
    converted like a decorated tool's (str -> text; other values -> JSON text; a list of content
    blocks -> that content; a ``ToolResult`` as it is)."""

    name: str = ""
    description: str | None = None
    schema: dict[str, Any] = {"type": "object", "properties": {}}  # noqa: RUF012 - read-only default
    title: str | None = None
    annotations: dict[str, Any] | None = None
    #: None: adaptive placement; True: always in the thread pool; False: always inline
    blocking: bool | None = None

    async def execute(self, params: dict[str, Any]) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.execute(params) is not implemented")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} tool {self.name!r}>"


def _schema_of(obj: Any) -> dict[str, Any]:
    for attr in ("schema", "input_schema", "inputSchema", "parameters"):
        schema = getattr(obj, attr, None)
        if schema is not None and not callable(schema):
            if not isinstance(schema, dict):
                raise TypeError(f"{attr} of tool {getattr(obj, 'name', obj)!r} must be a dict, got {type(schema).__name__}")
            return schema
    raise TypeError(f"{obj!r} has no schema (the input JSON Schema): set .schema")


def _ms(us: float) -> float:
    return round(us / 1000.0, 6)


def tool_stats(t: ToolEntry) -> dict[str, Any]:
    """One tool's statistics: calls, errors, total/mean and p50/p90/p99 durations (ms; the
    percentiles are exact to within their histogram bucket), and where it runs now."""
    h = t.hist
    calls = h.count
    total = h.sum
    return {
        "calls": calls,
        "errors": t.errors,
        "total_ms": _ms(total),
        "mean_ms": _ms(total / calls) if calls else 0.0,
        "p50_ms": _ms(h.percentile(0.5)),
        "p90_ms": _ms(h.percentile(0.9)),
        "p99_ms": _ms(h.percentile(0.99)),
        "placement": t.placement,
    }


class ToolRegistry:
    """The tools of one ``ServerCore`` (a live view: registering here or with the decorators
    is the same). ``register``/``unregister`` work while serving (clients hear list_changed)."""

    __slots__ = ("_core",)

    def __init__(self, core: ServerCore) -> None:
        self._core = core

    # ------------------------------------------------------------------ registration

    def register(self, obj: Any, *, name: str | None = None, blocking: bool | None = None) -> ToolEntry:
        """Register a tool object: anything with ``name``, ``schema`` (also ``input_schema``,
        ``inputSchema`` or ``parameters``) and ``execute(params)``, sync or async; optional
        ``description``, ``title``, ``annotations``, ``output_schema``, ``blocking``. Replaces a
        tool of the same name."""
        tool_name = name or getattr(obj, "name", None)
        if not isinstance(tool_name, str) or not tool_name:
            raise TypeError(f"{obj!r} has no name (a non-empty str)")
        execute = getattr(obj, "execute", None)
        if execute is None or not callable(execute):
            raise TypeError(f"{obj!r} has no execute(params) method")
        schema = _schema_of(obj)
        is_async = inspect.iscoroutinefunction(execute)
        if is_async:
            async def call_async(**params: Any) -> Any:
                return await execute(params)

            fn: Any = call_async
        else:
            def call(**params: Any) -> Any:
                return execute(params)

            fn = call
        if blocking is None:
            blocking = getattr(obj, "blocking", None)
        output = getattr(obj, "output_schema", None)
        return self._core.add_tool(
            tool_name, fn, input_schema=schema, output_schema=output if isinstance(output, dict) else None,
            title=getattr(obj, "title", None), description=getattr(obj, "description", None),
            annotations=getattr(obj, "annotations", None), blocking=blocking, source=obj)

    def unregister(self, name: str) -> None:
        """Remove a tool (KeyError if unknown)."""
        self._core.remove_tool(name)

    # ------------------------------------------------------------------ lookup

    def list(self) -> builtins.list[dict[str, Any]]:
        """The tools as ``tools/list`` shows them."""
        return [t.entry for t in self._core.tools.values()]

    def names(self) -> builtins.list[str]:
        return list(self._core.tools)

    def get(self, name: str) -> ToolEntry | None:
        return self._core.tools.get(name)

    def __getitem__(self, name: str) -> ToolEntry:
        return self._core.tools[name]

    def __contains__(self, name: object) -> bool:
        return name in self._core.tools

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._core.tools))

    def __len__(self) -> int:
        return len(self._core.tools)

    # ------------------------------------------------------------------ calls

    async def execute(self, name: str, params: dict[str, Any] | None = None) -> Any:
        """Run a tool in process and return what its function returned (no result
        conversion); arguments are checked as on the wire (InvalidParams names the argument),
        the call is timed and counted in the stats, a sync tool runs where it is placed."""
        core = self._core
        t = core.tools.get(name)
        if t is None:
            raise KeyError(f"Unknown tool: {name!r}")
        args = dict(params or {})
        if t.check is not None:
            try:
                t.check(args)
            except InvalidParams as exc:
                fixed = core._rejected(t, args, exc)
                if not isinstance(fixed, dict):  # the final failure (invalid_arguments == "result")
                    raise fixed from None
                args = fixed
        if t.context_kwarg is not None:
            raise TypeError(f"tool {name!r} takes a Context: call it through a connection (or app.call_tool)")
        if not t.var_kw:
            args = {k: v for k, v in args.items() if k in t.params}
        if t.is_async:
            t0 = _now()
            try:
                return await t.fn(**args)
            except BaseException:
                t.errors += 1
                raise
            finally:
                t.hist.observe((_now() - t0) * 0.001)
        if t.mode == MODE_POOL:
            value, failure, dt = await core.pool.submit(asyncio.get_running_loop(), t.fn, args)
            core._pooled_time(t, dt)
            if failure is not None:
                t.errors += 1
                raise failure
            return value
        t0 = _now()
        try:
            return t.fn(**args)
        except BaseException:
            t.errors += 1
            raise
        finally:
            core._timed(t, _now() - t0)

    # ------------------------------------------------------------------ stats

    def stats(self, name: str | None = None) -> dict[str, Any]:
        """``{tool name: tool_stats}``, or one tool's stats dict when ``name`` is given."""
        if name is not None:
            return tool_stats(self._core.tools[name])
        return {n: tool_stats(t) for n, t in self._core.tools.items()}

    def reset_stats(self) -> None:
        """Zero every tool's counters (placements are kept)."""
        from ..wire.counters import Histogram

        for t in self._core.tools.values():
            t.hist = Histogram("mcpfast_tool_duration_seconds", "tool call duration")
            t.errors = 0

    def __repr__(self) -> str:
        return f"ToolRegistry({', '.join(self._core.tools)})"

