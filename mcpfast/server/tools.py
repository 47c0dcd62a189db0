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
timed by the ``ToolRunner`` that runs it (two clock reads and one histogram bucket), whichever
way the tool was registered and whether it came over the wire or through ``execute``.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._threads import MODE_POOL

if TYPE_CHECKING:
    from .core import ServerCore
    from .registry import Tool as ToolEntry

__all__ = ["Tool", "ToolRegistry", "tool_stats"]


class Tool:
    """Base class of a tool object: set ``name``, ``schema`` (the input JSON Schema, an object
    schema) and ``description``; implement ``execute(params)`` (``async def`` or plain; a plain
    one runs in the server's thread pool). The return value is
    converted like a decorated tool's (str -> text; other values -> JSON text; a list of content
    blocks -> that content; a ``ToolResult`` as it is)."""

    name: str = ""
    description: str | None = None
    schema: dict[str, Any] = {"type": "object", "properties": {}}  # noqa: RUF012 - read-only default
    title: str | None = None
    annotations: dict[str, Any] | None = None
    #: None and True: in the thread pool (True: known slow); False: inline on the loop
    blocking: bool | None = None

    async def execute(self, params: dict[str, Any]) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.execute(params) is not implemented")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} tool {self.name!r}>"


#: the input schema of a seed-style tool whose ``schema()`` gives no ``parameters``
_NO_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


def _seed_declaration(obj: Any) -> dict[str, Any] | None:
    """The seed's tool shape: ``schema()`` is a method returning ``{"name", "description",
    "parameters"}`` (``parameters``: the input JSON Schema). Its value, checked; None when
    ``schema`` is not a method."""
    method = getattr(obj, "schema", None)
    if method is None or not callable(method):
        return None
    declared = method()
    if not isinstance(declared, dict):
        raise TypeError(f"{obj!r}.schema() must return a dict with name, description and parameters,"
                        f" got {type(declared).__name__}")
    parameters = declared.get("parameters", _NO_PARAMETERS)
    if not isinstance(parameters, dict):
        raise TypeError(f"{obj!r}.schema()['parameters'] must be a JSON Schema (a dict),"
                        f" got {type(parameters).__name__}")
    for key in ("name", "description"):
        if declared.get(key) is not None and not isinstance(declared[key], str):
            raise TypeError(f"{obj!r}.schema()[{key!r}] must be a str, got {type(declared[key]).__name__}")
    return {"name": declared.get("name"), "description": declared.get("description"), "parameters": parameters}


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
        tool of the same name.

        The seed's shape is accepted too: ``name()`` and ``schema()`` as methods, ``schema()``
        returning ``{"name", "description", "parameters"}`` (``parameters`` becomes the
        ``inputSchema``). Either way a sync ``execute`` runs in the thread pool (it never stalls
        the loop) and an exception it raises is an ``isError`` result."""
        declared = _seed_declaration(obj)
        tool_name = name or getattr(obj, "name", None)
        if callable(tool_name):  # the seed's shape: name() is a method
            tool_name = tool_name()
        if not tool_name and declared is not None:
            tool_name = declared["name"]
        if not isinstance(tool_name, str) or not tool_name:
            raise TypeError(f"{obj!r} has no name (a non-empty str)")
        execute = getattr(obj, "execute", None)
        if execute is None or not callable(execute):
            raise TypeError(f"{obj!r} has no execute(params) method")
        schema = declared["parameters"] if declared is not None else _schema_of(obj)
        description = getattr(obj, "description", None)
        if declared is not None and not isinstance(description, str):
            description = declared["description"]
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
            title=getattr(obj, "title", None), description=description,
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
        args = core.check_arguments(t, dict(params or {}))
        if t.context_kwarg is not None:
            raise TypeError(f"tool {name!r} takes a Context: call it through a connection (or app.call_tool)")
        if not t.var_kw:
            args = {k: v for k, v in args.items() if k in t.params}
        runner = core.runner
        if t.mode == MODE_POOL:
            value, failure = await runner.submit(t, args)
            if failure is not None:
                t.errors += 1
                raise failure
            return value
        try:
            if t.is_async:
                return await runner.run_async(t, t.fn(**args))
            return runner.call_inline(t, args)
        except BaseException:
            t.errors += 1
            raise

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

