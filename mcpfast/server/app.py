"""``MCPServer``: the decorator API of the official Python SDK (``mcp.server.mcpserver``), on mcpfast.

A server written for the SDK runs unchanged but for the import::

    from mcpfast import MCPServer, Context      # was: from mcp.server.mcpserver import MCPServer, Context

    app = MCPServer("demo")

    @app.tool()
    def echo(message: str) -> str:
        return message

    app.run()                                   # stdio; or transport="streamable-http" / "tcp"

What it builds on: one ``ServerCore`` (``app.core``, the dual-era dispatcher every transport
takes). Registration does all the work once: the input schema from the signature
(``schema.input_schema``), the compiled argument check, the output schema and how return
values become results, the argument conversion (only for signatures that need one), where a
``def`` tool runs (the thread pool, ``_threads.ToolRunner``). A call then costs what a
hand-written ``ServerCore`` tool costs: for ``def echo(message: str) -> str`` a str result is
answered on the dispatcher's one-frame path.

Differences from the SDK, on purpose (see the README):

* a ``ToolError`` (mcpfast's) is sent with its message verbatim (the SDK's own ``ToolError``
  gets the SDK's ``"Error executing tool <name>: <message>"``, as with the SDK); an unexpected
  exception is ``"Error executing tool <name>"`` only, as the SDK sends it (the exception is
  logged with its traceback on the ``mcpfast.server`` logger);
* return values are not validated against the output schema (the SDK re-validates them).

The direct-call methods (``await app.call_tool(...)``, ``list_tools()``, ``read_resource()``,
``get_prompt()``...) run through the same dispatcher and return plain dicts in the wire shape
(``{"content": [...], "structuredContent": ..., "isError": ...}``), not the SDK's pydantic
objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import sys
import types
import typing
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..errors import InvalidParams, McpError, ToolError
from ..peer import Deferred
from ..wire import _json
from ..wire.jsonrpc import Request
from . import _convert
from ._convert import Audio, Image, is_context_annotation
from ._tasking import DEFAULT_TASK_WINDOW
from .core import ServerCore
from .registry import ToolResult
from .schema import input_schema, output_schema, untyped_parameters
from .session import LegacySession
from .tools import ToolRegistry, tool_stats
from .uritemplate import UriTemplate
from .validation import compile_input_check

if TYPE_CHECKING:
    from .serving import Starting

__all__ = ["MCPServer", "FastMCP", "Settings", "Image", "Audio"]

log = logging.getLogger("mcpfast.server")

F = TypeVar("F", bound=Callable[..., Any])
LifespanT = TypeVar("LifespanT")

#: transports served without a socket listener (the socket ones: ``serving.SOCKET_TRANSPORTS``)
_TRANSPORTS = ("stdio", "sse")

#: what every MCPServer declares whatever is registered, as the SDK's does: resources and
#: prompts can be added while serving, and their list methods answer (empty) all along. The
#: flags say what mcpfast does: it sends the list-changed notifications and serves
#: resources/subscribe (ServerCore adds tools, logging and completions)
_ALWAYS_DECLARED: dict[str, Any] = {"resources": {"subscribe": True, "listChanged": True},
                                    "prompts": {"listChanged": True}}


@dataclasses.dataclass
class Settings:
    """What the constructor was given (``app.settings``), as the SDK keeps it."""

    debug: bool = False
    log_level: str = "INFO"
    warn_on_duplicate_resources: bool = True
    warn_on_duplicate_tools: bool = True
    warn_on_duplicate_prompts: bool = True
    dependencies: list[str] = dataclasses.field(default_factory=list)
    lifespan: Any = None
    auth: Any = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_connections: int | None = None
    request_timeout: float | None = None
    tls: Any = None
    workers: int = 1
    thread_pool_size: int | None = None
    json_response: bool = False
    stateless_http: bool = False
    streamable_http_path: str = "/mcp"
    metrics: bool = True
    metrics_port: int | None = None
    metrics_path: str = "/metrics"
    #: the shared store: a URL (``"redis://host:port/db"``, ``"memory"``), a ``Store``, or None
    #: (``$MCPFAST_STORE``, else in memory); opened when the server starts (``mcpfast.stores``)
    store: Any = None


_CACHEABLE = frozenset({"server/discover", "tools/list", "prompts/list", "resources/list", "resources/templates/list",
                        "resources/read"})


def _cache_hints(hints: Any) -> dict[str, tuple[int, str]]:
    """The SDK's ``cache_hints`` (``{method: CacheHint(ttl_ms, scope)}``, 2026-07-28 caching)
    as ``ServerCore.cache_hints``; a method not named keeps the SDK's default, ttl 0, private.
    Checked here so a bad entry fails at construction, as in the SDK."""
    out: dict[str, tuple[int, str]] = {}
    for method, hint in (hints or {}).items():
        if method not in _CACHEABLE:
            raise ValueError(f"cache_hints keys must be cacheable methods ({', '.join(sorted(_CACHEABLE))}),"
                             f" got {method!r}")
        ttl, scope = getattr(hint, "ttl_ms", None), getattr(hint, "scope", None)
        if type(ttl) is not int or ttl < 0 or scope not in ("public", "private"):
            raise TypeError(f"cache_hints[{method!r}] must be a CacheHint (ttl_ms >= 0, scope 'public' or"
                            f" 'private'), got {hint!r}")
        out[method] = (ttl, scope)
    return out


def _dump(value: Any) -> Any:
    """The SDK's pydantic objects (ToolAnnotations, Icon...) as wire dicts; dicts as they are."""
    if value is None:
        return None
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(by_alias=True, exclude_none=True, mode="json")
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def _context_param(fn: Callable[..., Any]) -> str | None:
    """The name of the parameter annotated with a Context, if any."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # noqa: BLE001 - unresolvable annotations: look at the raw ones
        hints = getattr(fn, "__annotations__", {})
    for name, ann in hints.items():
        if name != "return" and is_context_annotation(ann):
            return name
    return None


def _returns_content(fn: Callable[..., Any]) -> bool:
    """A return annotation of content helpers (Image, Audio, SDK content blocks, ToolResult):
    unstructured, as the SDK decides when ``structured_output`` is None."""
    try:
        ann = inspect.signature(fn, eval_str=True).return_annotation
    except Exception:  # noqa: BLE001
        return False

    def content(tp: Any) -> bool:
        while typing.get_origin(tp) is typing.Annotated:
            tp = tp.__origin__
        origin = typing.get_origin(tp)
        if origin is not None:
            return any(content(a) for a in typing.get_args(tp))
        if not isinstance(tp, type):
            return False
        if issubclass(tp, Image | ToolResult):
            return True
        names = {c.__name__ for c in tp.__mro__}
        return bool(names & {"TextContent", "ImageContent", "AudioContent", "EmbeddedResource",
                             "ResourceLink", "Image", "Audio", "CallToolResult", "ContentBlock"})

    return content(ann)


def _wraps_output(fn: Callable[..., Any]) -> bool:
    """Whether structured output is ``{"result": value}`` (anything but an object-like type)."""
    ann = inspect.signature(fn, eval_str=True).return_annotation
    while typing.get_origin(ann) is typing.Annotated:
        ann = ann.__origin__
    if typing.get_origin(ann) is dict and typing.get_args(ann)[:1] == (str,):
        return False
    if isinstance(ann, type):
        if dataclasses.is_dataclass(ann) or (issubclass(ann, dict) and hasattr(ann, "__required_keys__")):
            return False
        if any(c.__module__ == "pydantic.main" and c.__name__ == "BaseModel" for c in ann.__mro__):
            return False
    return True


class _LocalPeer:
    """The peer of an in-process call (``app.call_tool`` and friends): notifications are
    dropped, server->client requests fail (there is no client)."""

    closed = False
    network_transport = "inproc"

    def __init__(self) -> None:
        self.state = LegacySession("2025-11-25", {}, {"name": "in-process", "version": "0"})
        self.state.initialized = True
        self.loop = asyncio.get_running_loop()

    def notify(self, method: str, params: Any = None) -> None:
        log.debug("in-process call: %s dropped", method)

    async def request(self, method: str, params: Any = None, **kw: Any) -> Any:
        raise McpError(f"No client to answer {method} (in-process call)")

    def cancel_request(self, rid: Any) -> bool:  # pragma: no cover - nothing to cancel
        return False


class MCPServer(Generic[LifespanT]):
    """An MCP server with the official SDK's decorator API (see the module docstring).

    The SDK's constructor arguments are accepted (those that configure the SDK's own machinery,
    like ``extensions``, ``middleware`` or ``subscriptions``, are accepted and ignored:
    see ``unsupported``); mcpfast adds the serving options ``host``, ``port``,
    ``max_connections``, ``request_timeout`` (seconds per request), ``tls`` (an
    ``ssl.SSLContext`` or ``(certfile, keyfile)``), ``workers`` (HTTP processes),
    ``thread_pool_size`` (threads for blocking ``def`` tools), ``json_response`` and
    ``stateless_http`` (Streamable HTTP defaults), ``page_size``, ``state_secret``
    (2026-07-28 requestState key, shared by every process behind one endpoint) and
    ``validation_errors`` (``"result"``, the default: arguments that break the input schema get
    an ``isError`` result naming the argument, as MCP 2025-11-25 (SEP-1303) and the SDK answer,
    so the model can correct its call; ``"error"``: a JSON-RPC -32602 error instead), and
    ``store``: where the state several server processes share lives (``"redis://host:port/db"``,
    ``"memory"`` or a ``mcpfast.stores.Store``; None: ``$MCPFAST_STORE``, else in memory),
    attached while the server runs (see ``docs/stores.md``).
    """

    def __init__(
        self,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        instructions: str | None = None,
        website_url: str | None = None,
        icons: list[Any] | None = None,
        version: str = "",
        auth_server_provider: Any = None,
        token_verifier: Any = None,
        *,
        tools: list[Any] | None = None,
        resources: list[Any] | None = None,
        extensions: Any = None,
        debug: bool = False,
        log_level: str = "INFO",
        warn_on_duplicate_resources: bool = True,
        warn_on_duplicate_tools: bool = True,
        warn_on_duplicate_prompts: bool = True,
        dependencies: list[str] | None = None,
        lifespan: Callable[[MCPServer[LifespanT]], AbstractAsyncContextManager[LifespanT]] | None = None,
        auth: Any = None,
        resource_security: Any = None,
        request_state_security: Any = None,
        cache_hints: Any = None,
        subscriptions: Any = None,
        middleware: Any = None,
        # ---- mcpfast
        host: str = "127.0.0.1",
        port: int = 8000,
        max_connections: int | None = None,
        request_timeout: float | None = None,
        tls: Any = None,
        workers: int = 1,
        thread_pool_size: int | None = None,
        json_response: bool = False,
        stateless_http: bool = False,
        streamable_http_path: str = "/mcp",
        page_size: int | None = None,
        state_secret: bytes | str | None = None,
        validation_errors: str = "result",
        metrics: bool = True,
        metrics_port: int | None = None,
        metrics_path: str = "/metrics",
        task_store: Any = None,
        task_ttl_ms: int | None = 3_600_000,
        store: Any = None,
        task_window: float = DEFAULT_TASK_WINDOW,
    ) -> None:
        if validation_errors not in ("error", "result"):
            raise ValueError(f'validation_errors must be "error" or "result", got {validation_errors!r}')
        self.settings = Settings(
            debug=debug, log_level=log_level, warn_on_duplicate_resources=warn_on_duplicate_resources,
            warn_on_duplicate_tools=warn_on_duplicate_tools, warn_on_duplicate_prompts=warn_on_duplicate_prompts,
            dependencies=list(dependencies or ()), lifespan=lifespan, auth=auth, host=host, port=port,
            max_connections=max_connections, request_timeout=request_timeout, tls=tls, workers=workers,
            thread_pool_size=thread_pool_size, json_response=json_response, stateless_http=stateless_http,
            streamable_http_path=streamable_http_path, metrics=metrics, metrics_port=metrics_port,
            metrics_path=metrics_path, store=store,
        )
        self.dependencies = self.settings.dependencies
        #: the SDK's ``TokenVerifier`` (with the SDK's ``AuthSettings`` as ``auth``: the OAuth
        #: resource-server mode of the HTTP transport)
        self.token_verifier = token_verifier
        #: constructor arguments of the SDK that configure its own machinery: accepted, unused
        self.unsupported = {k: v for k, v in {
            "auth_server_provider": auth_server_provider,
            "extensions": extensions, "resource_security": resource_security,
            "request_state_security": request_state_security,
            "subscriptions": subscriptions, "middleware": middleware}.items() if v is not None}
        self.core = ServerCore(
            name or "mcp-server", version, title=title, description=description, website_url=website_url,
            icons=_dump(icons), instructions=instructions, page_size=page_size, state_secret=state_secret,
            thread_pool_size=thread_pool_size, capabilities=_ALWAYS_DECLARED, metrics=metrics,
            task_store=task_store, task_ttl_ms=task_ttl_ms, task_window=task_window)
        self.core.app = self
        self.core.cache_hints = _cache_hints(cache_hints)
        self.core.lifespan_state = {} if lifespan is None else None
        self.validation_errors = validation_errors
        self.core.invalid_arguments = validation_errors
        self.tools = ToolRegistry(self.core)
        self._custom_routes: list[tuple[str, list[str], Callable[..., Any], str | None, bool]] = []
        #: the ASGI app streamable_http_app() made last (``session_manager`` runs it)
        self._http_app: Any = None
        self._lifespan_depth = 0
        if debug:
            logging.getLogger("mcpfast").setLevel(logging.DEBUG)
        for t in tools or ():
            if hasattr(t, "execute"):
                self.register_tool(t)
            elif callable(getattr(t, "fn", None)) and isinstance(getattr(t, "name", None), str):
                # the SDK's Tool objects (Tool.from_function(fn, ...))
                self._add_tool(t.fn, t.name, getattr(t, "title", None), getattr(t, "description", None),
                               getattr(t, "annotations", None), getattr(t, "icons", None), getattr(t, "meta", None),
                               None, None)
            else:
                self.add_tool(t)
        for r in resources or ():
            self.add_resource(r)

    # ================================================================== identity

    @property
    def name(self) -> str:
        return self.core.server_info["name"]  # type: ignore[no-any-return]

    @property
    def title(self) -> str | None:
        return self.core.server_info.get("title")

    @property
    def description(self) -> str | None:
        return self.core.server_info.get("description")

    @property
    def version(self) -> str:
        return self.core.server_info["version"]  # type: ignore[no-any-return]

    @property
    def website_url(self) -> str | None:
        return self.core.server_info.get("websiteUrl")

    @property
    def icons(self) -> list[Any] | None:
        return self.core.server_info.get("icons")

    @property
    def instructions(self) -> str | None:
        return self.core.instructions

    def __repr__(self) -> str:
        return f"MCPServer({self.name!r}, tools={len(self.core.tools)})"

    # ================================================================== tools

    def add_tool(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: Any = None,
        icons: list[Any] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
        *,
        blocking: bool | None = None,
        task: str = "forbidden",
        defer_task: bool = False,
        task_window: float | None = None,
    ) -> None:
        """Register ``fn`` as a tool (the SDK's ``add_tool``); see ``tool()``."""
        self._add_tool(fn, name, title, description, annotations, icons, meta, structured_output, blocking,
                       task=task, defer_task=defer_task, task_window=task_window)

    def _add_tool(self, fn: Callable[..., Any], name: str | None, title: str | None, description: str | None,
                  annotations: Any, icons: Any, meta: Any, structured_output: bool | None,
                  blocking: bool | None, replace: bool = False, *, task: str = "forbidden",
                  defer_task: bool = False, task_window: float | None = None) -> Any:
        tool_name = name or getattr(fn, "__name__", None)
        if not tool_name or tool_name == "<lambda>":
            raise ValueError("You must provide a name for lambda functions")
        existing = self.core.tools.get(tool_name)
        if existing is not None and not replace:
            if self.settings.warn_on_duplicate_tools:
                log.warning("Tool already exists: %s", tool_name)
            return existing
        ctx = _context_param(fn)
        skip = frozenset({ctx}) if ctx else frozenset()
        schema = input_schema(fn, skip=skip)
        out: dict[str, Any] | None = None
        wrap = False
        if structured_output is not False:
            has_ann = inspect.signature(fn, eval_str=True).return_annotation is not inspect.Signature.empty
            if structured_output is True and not has_ann:
                raise TypeError(f"Function {tool_name}: return annotation required for structured output")
            if has_ann and (structured_output is True or not _returns_content(fn)):
                try:
                    out = output_schema(fn)
                except TypeError:
                    if structured_output is True:
                        raise
                    out = None
                wrap = out is not None and _wraps_output(fn)
        is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004
        call = _convert.argument_converter(fn, schema, skip, is_async, self._invalid_argument)
        untyped = untyped_parameters(fn, skip=skip)
        check = compile_input_check(schema, unchecked=untyped)
        convert = _convert.tool_result_converter(out is not None, wrap)
        tool = self.core.add_tool(
            tool_name, call, input_schema=schema, output_schema=out, title=title,
            description=description if description is not None else (fn.__doc__ or ""),
            annotations=_dump(annotations), icons=_dump(icons), meta=meta, context_kwarg=ctx,
            convert=convert, blocking=blocking, wrap_output=wrap,
            coerce=_convert.lax_coercer(schema, check), source=fn, task=task, defer_task=defer_task,
            task_window=task_window)
        if untyped:
            # the schema types unannotated parameters as strings (as the SDK's does) but any
            # value is accepted (as the SDK does): the core compiled its check from the schema
            tool.check = check
        return tool

    def _invalid_argument(self, exc: InvalidParams) -> Exception:
        """A tool argument failed its conversion (pydantic's validation of a model, an Enum
        value): answered like a failed input check, as ``validation_errors`` says (an
        ``isError`` result, or -32602 with the same message)."""
        self.core.rejected_calls += 1
        if self.core.invalid_arguments == "result":
            return ToolError(exc.message)
        return exc

    def remove_tool(self, name: str) -> None:
        """Remove a tool (``ToolError`` if unknown, as in the SDK); clients hear list_changed."""
        if name not in self.core.tools:
            raise ToolError(f"Unknown tool: {name}")
        self.core.remove_tool(name)

    def tool(
        self,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: Any = None,
        icons: list[Any] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
        *,
        blocking: bool | None = None,
        task: str = "forbidden",
        defer_task: bool = False,
        task_window: float | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated function as a tool.

        The input schema comes from the signature (a parameter annotated ``Context`` is
        injected, not in the schema); the description from ``description`` or the docstring.
        ``structured_output`` None: a return annotation gives an output schema and
        ``structuredContent`` (primitives and lists wrapped as ``{"result": ...}``), unless it
        names content (``Image``, content blocks); True requires one; False never.
        ``blocking`` (mcpfast) places a ``def`` tool: None (default) and True in the thread
        pool, never on the loop (True also hands results finished before each of its calls to
        the loop first, for a tool known to be slow); False inline on the loop (thread-affine
        code, or code known to return in microseconds: such a tool gives up the guarantee that
        it cannot stall the server). ``task`` (mcpfast): ``"forbidden"`` (default),
        ``"optional"`` or ``"required"``: whether the tool runs as a task, answered with a
        task handle the client polls (both eras; ``docs/tasks.md``); ``defer_task``: the task
        starts when the tool calls ``await ctx.start_task()``; ``task_window`` (an optional
        tool; None: the server's): seconds a 2026-07-28 call may run and still be answered with
        its plain result instead of a task (0: always a task)."""
        if callable(name):
            raise TypeError("The @tool decorator was used incorrectly. Did you forget to call it? "
                            "Use @tool() instead of @tool")

        def decorator(fn: F) -> F:
            self._add_tool(fn, name, title, description, annotations, icons, meta, structured_output, blocking,
                           task=task, defer_task=defer_task, task_window=task_window)
            return fn

        return decorator

    def register_tool(self, obj: Any, *, name: str | None = None, blocking: bool | None = None) -> Any:
        """Register a tool object (``mcpfast.Tool`` or anything with ``name``, ``schema`` and
        ``execute(params)``, sync or async; or the seed's shape, ``name()`` and ``schema()``
        methods with ``schema()`` giving ``{"name", "description", "parameters"}``); see
        ``ToolRegistry.register``."""
        return self.tools.register(obj, name=name, blocking=blocking)

    # ================================================================== resources

    def resource(
        self,
        uri: str,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
        icons: list[Any] | None = None,
        annotations: Any = None,
        meta: dict[str, Any] | None = None,
        security: Any = None,
    ) -> Callable[[F], F]:
        """Register the decorated function as a resource, or a resource template when ``uri``
        has ``{variables}`` (the function's parameters must be exactly those; query variables
        ``{?q}`` need defaults). The function returns str (text), bytes (a base64 blob) or
        anything else (sent as JSON text)."""
        if callable(uri):
            raise TypeError("The @resource decorator was used incorrectly. Did you forget to call it? "
                            "Use @resource('uri') instead of @resource")
        template = UriTemplate(uri)
        uri_params = set(template.variables)

        def decorator(fn: F) -> F:
            self._add_resource_fn(fn, uri, template, uri_params, name, title, description, mime_type, icons,
                                  annotations, meta)
            return fn

        return decorator

    def _add_resource_fn(self, fn: Callable[..., Any], uri: str, template: UriTemplate, uri_params: set[str],
                         name: str | None, title: str | None, description: str | None, mime_type: str | None,
                         icons: Any, annotations: Any, meta: Any) -> None:
        sig = inspect.signature(fn)
        ctx = _context_param(fn)
        func_params = {p for p in sig.parameters if p != ctx}
        rname = name or getattr(fn, "__name__", None)
        if not rname or rname == "<lambda>":
            raise ValueError("You must provide a name for lambda functions")
        kw = dict(title=title, description=description if description is not None else (fn.__doc__ or ""),
                  mime_type=mime_type or "text/plain", icons=_dump(icons), annotations=_dump(annotations),
                  meta=meta)
        if uri_params:
            if uri_params != func_params:
                raise ValueError(f"Mismatch between URI parameters {uri_params} and function parameters {func_params}")
            q = template.query_variables
            missing = sorted(n for n in q if sig.parameters[n].default is inspect.Parameter.empty)
            if missing:
                raise ValueError(f"Resource {uri!r}: query parameter(s) {missing} have no default value. "
                                 "A client may omit a {?...}/{&...} query parameter, so the matching "
                                 "handler parameter must declare a default.")
            if uri in self.core.resource_templates and self.settings.warn_on_duplicate_resources:
                log.warning("Resource already exists: %s", uri)
                return
            skip = frozenset({ctx}) if ctx else frozenset()
            schema = input_schema(fn, skip=skip)
            call = _resource_call(fn, schema, skip, _convert.lax_coercer(schema, compile_input_check(schema)))
            self.core.add_resource_template(uri, call, name=rname, context_kwarg=ctx, **kw)
        else:
            if func_params:
                raise ValueError(f"Resource {uri!r} has no URI template variables, but the handler declares "
                                 f"parameters {func_params}. Add matching {{...}} variables to the URI or "
                                 "remove the parameters.")
            if ctx is not None:
                raise ValueError(f"Resource {uri!r} has no URI template variables, but the handler declares a "
                                 "Context parameter. Context injection for static resources is not supported.")
            if uri in self.core.resources and self.settings.warn_on_duplicate_resources:
                log.warning("Resource already exists: %s", uri)
                return
            self.core.add_resource(uri, _resource_call(fn, {}, frozenset(), None), name=rname, **kw)

    def add_resource(self, resource: Any, fn: Callable[..., Any] | None = None, **kw: Any) -> None:
        """Add a resource object: anything with ``uri``, ``name`` and either ``read()`` (sync or
        async, the SDK's ``Resource`` classes), ``fn``, ``text`` or ``data``; optional
        ``title``, ``description``, ``mime_type``, ``icons``, ``annotations``, ``meta``. Or give a
        URI and a function: ``add_resource("data://x", fn, name=...)``."""
        if isinstance(resource, str):
            if fn is None:
                raise TypeError("add_resource(uri, fn, ...) needs the function")
            self.resource(resource, **kw)(fn)
            return
        uri = str(resource.uri)
        read = getattr(resource, "read", None)
        if getattr(resource, "fn", None) is not None and not callable(read):
            read = resource.fn
        if read is None and getattr(resource, "text", None) is not None:
            text = resource.text

            def read() -> Any:
                return text
        if read is None and getattr(resource, "data", None) is not None:
            data = resource.data

            def read() -> Any:
                return data
        if read is None:
            raise TypeError(f"{resource!r} has no read(), fn, text or data")
        self.core.add_resource(
            uri, _resource_call(read, {}, frozenset(), None), name=getattr(resource, "name", None) or uri,
            title=getattr(resource, "title", None), description=getattr(resource, "description", None),
            mime_type=getattr(resource, "mime_type", None) or "text/plain",
            icons=_dump(getattr(resource, "icons", None)), annotations=_dump(getattr(resource, "annotations", None)),
            meta=getattr(resource, "meta", None))

    def remove_resource(self, uri: str) -> None:
        """Remove a resource or a resource template by its URI (KeyError if unknown)."""
        if uri in self.core.resources:
            self.core.remove_resource(uri)
        else:
            self.core.remove_resource_template(uri)

    # ================================================================== prompts

    def prompt(self, name: str | None = None, title: str | None = None, description: str | None = None,
               icons: list[Any] | None = None) -> Callable[[F], F]:
        """Register the decorated function as a prompt: its parameters are the prompt's
        arguments (required unless they have a default; described by ``Field(description=...)``);
        it returns a str, a message dict, a ``Message``/``UserMessage``/``AssistantMessage``,
        content, or a list of these."""
        if callable(name):
            raise TypeError("The @prompt decorator was used incorrectly. Did you forget to call it? "
                            "Use @prompt() instead of @prompt")

        def decorator(fn: F) -> F:
            self.add_prompt(fn, name=name, title=title, description=description, icons=icons)
            return fn

        return decorator

    def add_prompt(self, prompt: Any, name: str | None = None, title: str | None = None,
                   description: str | None = None, icons: list[Any] | None = None) -> None:
        """Add a prompt: a function (as ``@prompt()`` would) or a prompt object with ``name``
        and ``fn`` (the SDK's ``Prompt``)."""
        fn = prompt
        if not callable(prompt) or (hasattr(prompt, "fn") and hasattr(prompt, "name")):
            fn = prompt.fn
            name = name or prompt.name
            title = title or getattr(prompt, "title", None)
            description = description or getattr(prompt, "description", None)
            icons = icons or getattr(prompt, "icons", None)
        pname = name or getattr(fn, "__name__", None)
        if not pname or pname == "<lambda>":
            raise ValueError("You must provide a name for lambda functions")
        if pname in self.core.prompts and self.settings.warn_on_duplicate_prompts:
            log.warning("Prompt already exists: %s", pname)
            return
        ctx = _context_param(fn)
        skip = frozenset({ctx}) if ctx else frozenset()
        schema = input_schema(fn, skip=skip)
        required = set(schema.get("required") or ())
        arguments = []
        for pn, prop in (schema.get("properties") or {}).items():
            a: dict[str, Any] = {"name": pn}
            if prop.get("description") is not None:
                a["description"] = prop["description"]
            a["required"] = pn in required
            arguments.append(a)
        call = _prompt_call(fn, schema, skip, _convert.lax_coercer(schema, compile_input_check(schema)))
        self.core.add_prompt(pname, call, title=title,
                             description=description if description is not None else (fn.__doc__ or ""),
                             arguments=arguments, icons=_dump(icons), context_kwarg=ctx)

    def remove_prompt(self, name: str) -> None:
        """Remove a prompt (ValueError if unknown, as in the SDK)."""
        if name not in self.core.prompts:
            raise ValueError(f"Unknown prompt: {name}")
        self.core.remove_prompt(name)

    # ================================================================== completion

    def completion(self) -> Callable[[F], F]:
        """Register the completion handler: ``fn(ref, argument, context)`` (sync or async) gets
        the reference (``.type``, ``.name`` or ``.uri``), the argument (``.name``, ``.value``) and
        the context (``.arguments``) - the SDK's types when ``mcp_types`` is loaded, else
        attribute dicts - and returns a ``Completion``, a ``{"values": [...]}`` dict, a list of
        str, or None."""

        def decorator(fn: F) -> F:
            is_async = inspect.iscoroutinefunction(fn)

            def finish(value: Any) -> Any:
                value = _dump(value)
                if isinstance(value, dict):
                    return {k: v for k, v in value.items() if v is not None}
                return value

            if is_async:
                async def handler_async(ref: Any, argument: Any, context: Any) -> Any:
                    return finish(await fn(*_completion_args(ref, argument, context)))

                self.core.set_completion_handler(handler_async)
            else:
                def handler(ref: Any, argument: Any, context: Any) -> Any:
                    return finish(fn(*_completion_args(ref, argument, context)))

                self.core.set_completion_handler(handler)
            return fn

        return decorator

    # ================================================================== custom routes

    def custom_route(self, path: str, methods: list[str], name: str | None = None,
                     include_in_schema: bool = True) -> Callable[[F], F]:
        """Register an extra HTTP route (``async def handler(request) -> Response``, Starlette
        style). Served by ``streamable_http_app()``, which then mounts the MCP endpoint in a
        Starlette app beside them. The built-in HTTP server serves the MCP endpoint only, so with
        custom routes ``run(transport="streamable-http")`` serves that Starlette app under uvicorn
        instead (one process: ``workers`` > 1 is refused)."""

        def decorator(fn: F) -> F:
            self._custom_routes.append((path, list(methods), fn, name, include_in_schema))
            return fn

        return decorator

    # ================================================================== lifespan

    @contextlib.asynccontextmanager
    async def lifespan_context(self) -> AsyncIterator[Any]:
        """Run the lifespan (once, however many transports nest it); its value becomes
        ``ctx.request_context.lifespan_context`` for every request."""
        factory = self.settings.lifespan
        if self._lifespan_depth:
            self._lifespan_depth += 1
            try:
                yield self.core.lifespan_state
            finally:
                self._lifespan_depth -= 1
            return
        self._lifespan_depth += 1
        try:
            # the store first: the lifespan may already use it (and it outlives the lifespan)
            async with self.core.using_store(self.settings.store):
                if factory is None:
                    yield self.core.lifespan_state
                    return
                async with factory(self) as state:
                    self.core.lifespan_state = state
                    try:
                        yield state
                    finally:
                        self.core.lifespan_state = None
        finally:
            self._lifespan_depth -= 1

    # ================================================================== running

    def run(self, transport: str = "stdio", mount_path: str | None = None, **kwargs: Any) -> None:
        """Serve until stopped (blocking): ``"stdio"`` (default), ``"streamable-http"`` (alias
        ``"http"``; ``host``, ``port``, ``workers``, ``tls``, ``max_connections``,
        ``request_timeout`` and the ``streamable_http_app`` options), ``"tcp"``
        (newline-delimited JSON-RPC; ``host``, ``port``, ``tls``, ``max_connections``,
        ``request_timeout``, ``idle_timeout``), any other socket transport of
        ``serving.SOCKET_TRANSPORTS``, or ``"sse"`` (the deprecated HTTP+SSE transport of
        2024-11-05 under uvicorn, for older clients; ``run_sse_async``'s options). A socket
        transport is ``start()`` + ``serve_forever()``: SIGTERM/SIGINT shut down gracefully."""
        from . import serving

        if transport not in _TRANSPORTS:
            serving.canonical_transport(transport)  # ValueError: unknown, or not installed
        if transport == "sse" and mount_path is not None:
            kwargs["mount_path"] = mount_path
        if (transport in ("http", "streamable-http") and not self._custom_routes
                and kwargs.get("workers", self.settings.workers) != 1):
            # worker processes are forked before any event loop exists
            if self.settings.metrics_port is not None:
                raise ValueError("metrics_port serves one process: with workers, scrape each worker's /metrics"
                                 " (or run one process per port)")
            from ..transports.http import run_http

            host, port, serve = self._http_args(kwargs)
            run_http(self.core, host=host, port=port, settings=self._http_settings(host=host, **kwargs), **serve)
            return
        if transport == "stdio":
            asyncio.run(self.run_async("stdio", **kwargs))
            return
        with contextlib.suppress(KeyboardInterrupt):  # a signal before the handlers are in place
            asyncio.run(self.run_async(transport, **kwargs))

    async def run_async(self, transport: str = "stdio", *, ready: Any = None, grace: float = 5.0,
                        **kwargs: Any) -> None:
        """Serve until stopped inside the running loop; ``run()``'s transports and options (one
        process: ``workers`` is ignored). A socket transport is ``start()`` then
        ``serve_forever(grace)``; ``ready`` is told once it listens (a ``Future`` gets the
        listener, an ``Event`` is set, a callable is called with the listener: its ``.port``
        tells a port 0)."""
        from ..transports.listener import notify_ready
        from . import serving

        if transport == "stdio":
            await self.run_stdio_async(**kwargs)
            return
        if transport == "sse":
            if ready is not None:
                kwargs["ready"] = ready
            await self.run_sse_async(**kwargs)
            return
        name = serving.canonical_transport(transport)
        async with self.metrics_server():  # the metrics port (if set) beside the transport
            if name == "http" and self._custom_routes:
                host, port, serve = self._http_args(kwargs)
                if ready is not None:
                    serve["ready"] = ready
                await self._serve_with_routes(host, port, serve.pop("workers", None), serve, kwargs)
                return
            if name == "http":
                kwargs.pop("workers", None)
            handle = await self.start(name, **kwargs)
            notify_ready(ready, handle.listener)
            await handle.serve_forever(grace)

    def start(self, transport: str = "http", *, host: str | None = None, port: int | None = None, tls: Any = None,
              max_connections: int | None = None, request_timeout: float | None = None,
              **options: Any) -> Starting:
        """Start serving on a socket transport (``"http"``/``"streamable-http"``, ``"tcp"``,
        and ``"ws"`` where installed) and return once listening::

            server = await app.start("http", port=0)     # server.url, server.port
            await server.shutdown(grace=5)

            async with app.start("tcp", port=0) as server:
                ...

        ``host``, ``port``, ``tls``, ``max_connections`` and ``request_timeout`` default to the
        constructor's (``port=0``: a free port); ``options`` are the transport's own (``run()``
        lists them). The lifespan is entered before listening and left after the shutdown. See
        ``mcpfast.server.serving.ServerHandle`` for the handle. One process only (``workers``:
        use ``run()``); ``custom_route()``s are served by uvicorn (``run()`` or
        ``streamable_http_app()``), not by this listener."""
        from . import serving

        name = serving.canonical_transport(transport)
        if options.pop("workers", 1) != 1:
            raise ValueError("start() serves in this process: workers must be 1 (run(transport='http', workers=N)"
                             " forks worker processes)")
        if name == "http" and self._custom_routes:
            raise ValueError("custom_route()s are Starlette endpoints served by uvicorn: use run('streamable-http')"
                             " or run streamable_http_app() under your ASGI server")
        s = self.settings
        return serving.Starting(serving.start_server(
            self.core, name, host=host or s.host, port=s.port if port is None else port,
            tls=s.tls if tls is None else tls,
            max_connections=s.max_connections if max_connections is None else max_connections,
            request_timeout=s.request_timeout if request_timeout is None else request_timeout,
            lifespan=self.lifespan_context, settings_factory=self._http_settings, **options))

    async def run_stdio_async(self, **kwargs: Any) -> None:
        """Serve this process's stdin/stdout until EOF or a signal, inside the lifespan."""
        from ..transports.stdio import serve_stdio

        if self.settings.request_timeout is not None:
            kwargs.setdefault("request_timeout", self.settings.request_timeout)
        async with self.lifespan_context(), self.metrics_server():
            try:
                await serve_stdio(self.core, **kwargs)
            finally:
                self.core.close_listeners()

    async def run_tcp_async(self, host: str | None = None, port: int | None = None, *,
                            ready: Callable[[Any], Any] | None = None, **kwargs: Any) -> None:
        """Serve newline-delimited JSON-RPC over TCP (``host``/``port`` default to the
        constructor's) until a signal, inside the lifespan. ``ready(server)`` is called once
        listening (``server.port`` tells a port 0)."""
        await self.run_async("tcp", host=host, port=port, ready=ready, **kwargs)

    async def run_websocket_async(self, host: str | None = None, port: int | None = None, *,
                                  ready: Callable[[Any], Any] | None = None, **kwargs: Any) -> None:
        """Serve MCP over WebSocket (``ws://host:port/mcp``; ``wss://`` with ``tls``) until a
        signal, inside the lifespan. ``host``/``port``/``tls``/``max_connections`` default to the
        constructor's; the other keywords are ``WebSocketSettings`` fields (``path``,
        ``ping_interval``, ``idle_timeout``, ``allowed_origins``...). The constructor's ``auth``
        applies as on Streamable HTTP. ``ready(server)`` is called once listening."""
        await self.run_async("ws", host=host, port=port, ready=ready, **kwargs)

    async def run_streamable_http_async(self, **kwargs: Any) -> None:
        """Serve Streamable HTTP on the built-in server (mcpfast's, not uvicorn) until stopped;
        same options as ``run(transport="streamable-http")``."""
        await self.run_async("http", **kwargs)

    @contextlib.asynccontextmanager
    async def metrics_server(self, port: int | None = None, host: str | None = None) -> AsyncIterator[Any]:
        """While inside, serve the metrics as Prometheus text on their own HTTP port (``port``,
        default the constructor's ``metrics_port``; None: no port, the block runs alone), so a
        stdio, TCP or WebSocket server can be scraped. Yields the ``HTTPServer`` (``.port``)
        or None. The ``run*`` methods enter it themselves."""
        if port is None:
            port = self.settings.metrics_port
        metrics = self.core.metrics
        if port is None or metrics is None:
            yield None
            return
        from ..transports.http.metrics_port import start_metrics_server

        server = await start_metrics_server(metrics, host=host or self.settings.host, port=port,
                                            path=self.settings.metrics_path)
        try:
            yield server
        finally:
            await server.close()

    async def _serve_with_routes(self, host: str, port: int, workers: Any, serve: dict[str, Any],
                                 kwargs: dict[str, Any]) -> None:
        """Custom routes are Starlette endpoints: serve ``streamable_http_app()`` (the routes
        and the MCP endpoint) under uvicorn."""
        if workers not in (None, 1):
            raise ValueError("custom_route()s are served by uvicorn in one process: workers must be 1"
                             " (or run streamable_http_app() under your own process manager)")
        if serve.get("tls") is not None or serve.get("max_connections") is not None:
            raise ValueError("with custom_route()s the server is uvicorn: give TLS and connection limits"
                             " to uvicorn (uvicorn.run(app.streamable_http_app(), ...)) instead")
        try:
            import uvicorn
        except ImportError as exc:
            raise ImportError("custom_route()s need uvicorn to serve them: pip install 'mcpfast[http]'") from exc
        ready = serve.get("ready")
        config = uvicorn.Config(self.streamable_http_app(host=host, **kwargs), host=host, port=port,
                                log_level="warning", access_log=False, lifespan="on")
        server = uvicorn.Server(config)
        log.info("custom routes registered: serving the Starlette app under uvicorn on %s:%s", host, port)
        if ready is not None:
            async def announce() -> None:
                while not server.started:
                    await asyncio.sleep(0.01)
                # what the built-in server's ready gets: .port (the bound one, for port=0), .server
                sock = server.servers[0].sockets[0]
                info = types.SimpleNamespace(port=sock.getsockname()[1], host=host, server=server)
                if isinstance(ready, asyncio.Future):
                    if not ready.done():
                        ready.set_result(info)
                else:
                    ready(info)

            watcher = asyncio.ensure_future(announce())
        serving = asyncio.ensure_future(server.serve())
        try:
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            # stopped by the caller: let uvicorn shut down gracefully (lifespan exit included)
            server.should_exit = True
            await serving
            raise
        finally:
            if ready is not None:
                watcher.cancel()

    def _http_args(self, kwargs: dict[str, Any]) -> tuple[str, int, dict[str, Any]]:
        s = self.settings
        host = kwargs.pop("host", s.host)
        port = kwargs.pop("port", s.port)
        serve = {"workers": kwargs.pop("workers", s.workers), "tls": kwargs.pop("tls", s.tls),
                 "max_connections": kwargs.pop("max_connections", s.max_connections)}
        if "ready" in kwargs:
            serve["ready"] = kwargs.pop("ready")
        return host, port, serve

    def _http_settings(self, *, host: str | None = None, streamable_http_path: str | None = None,
                       json_response: bool | None = None, stateless_http: bool | None = None,
                       event_store: Any = None, max_request_body_size: int | None = None,
                       session_idle_timeout: float | None = None, max_sessions: int | None = None,
                       transport_security: Any = None, retry_interval: int | None = None, **extra: Any) -> Any:
        """``HTTPSettings`` from the SDK's option names (and any ``HTTPSettings`` field by its
        own name)."""
        from ..transports.http import HTTPSettings

        s = self.settings
        kw: dict[str, Any] = {
            "path": streamable_http_path or s.streamable_http_path,
            "json_response": s.json_response if json_response is None else json_response,
            "stateless": s.stateless_http if stateless_http is None else stateless_http,
            "lifespan": self.lifespan_context,
            "request_timeout": s.request_timeout,
            "bind_host": host or s.host,
            "metrics_path": s.metrics_path if s.metrics else None,
        }
        if event_store is not None:
            kw["event_store"] = event_store
        if max_request_body_size is not None:
            kw["max_body"] = max_request_body_size
        if session_idle_timeout is not None:
            kw["session_ttl"] = session_idle_timeout
        if max_sessions is not None:
            kw["max_sessions"] = max_sessions
        if retry_interval is not None:
            kw["sse_retry_ms"] = retry_interval
        if s.auth is not None and not hasattr(s.auth, "issuer_url"):  # ours, not the SDK's AuthSettings
            kw["auth"] = s.auth
        elif s.auth is not None:  # the SDK's AuthSettings + TokenVerifier: the same resource-server role
            if self.token_verifier is None:
                raise ValueError("auth=AuthSettings(...) needs token_verifier=...: mcpfast serves the OAuth"
                                 " resource-server role (it verifies tokens; it is not an authorization server)")
            from ..transports.http.auth import OAuthResourceServer

            kw["auth"] = OAuthResourceServer.from_sdk(s.auth, self.token_verifier)
        kw.update(_security_options(transport_security, "dns_rebinding_protection"))
        kw.update(extra)
        names = {f.name for f in dataclasses.fields(HTTPSettings)}
        unknown = [k for k in extra if k not in names]
        if unknown:
            raise TypeError(f"unknown Streamable HTTP option(s): {', '.join(unknown)}")
        return HTTPSettings(**{k: v for k, v in kw.items() if k in names})

    def streamable_http_app(self, *, streamable_http_path: str = "/mcp", json_response: bool | None = None,
                            stateless_http: bool | None = None, host: str = "127.0.0.1", **kwargs: Any) -> Any:
        """An ASGI app serving this server over Streamable HTTP at ``streamable_http_path``: run
        it with uvicorn, or mount it in Starlette/FastAPI (it then starts on its first
        request). With ``custom_route``s it is a Starlette app holding them and the endpoint."""
        from ..transports.http import asgi_app

        app = asgi_app(self.core, self._http_settings(
            host=host, streamable_http_path=streamable_http_path, json_response=json_response,
            stateless_http=stateless_http, **kwargs))
        self._http_app = app
        return self._wrap_routes(app)

    @property
    def session_manager(self) -> SessionManager:
        """What ``streamable_http_app()`` serves, for a parent app's lifespan (the SDK's
        ``session_manager``): ``async with mcp.session_manager.run(): ...`` starts it and
        stops it with the parent, as the SDK's FastAPI recipe does. Mounted without it, the
        app starts on its first request anyway. ``RuntimeError`` before
        ``streamable_http_app()`` was called, as in the SDK."""
        if self._http_app is None:
            raise RuntimeError("Session manager can only be accessed after calling streamable_http_app(). "
                               "The session manager is created lazily to avoid unnecessary initialization.")
        return SessionManager(self._http_app)

    # ================================================================== HTTP+SSE (2024-11-05)

    def sse_app(self, *, sse_path: str = "/sse", message_path: str = "/messages/",
                max_request_body_size: int | None = None, transport_security: Any = None,
                host: str | None = None, mount_path: str | None = None) -> Any:
        """An ASGI app serving the deprecated HTTP+SSE transport of MCP 2024-11-05 (the SDK's
        ``sse_app``): ``GET {sse_path}`` opens a client's event stream, whose first event
        names ``{message_path}?session_id=...`` to POST its messages to. For clients that
        predate Streamable HTTP; see ``mcpfast.transports.http.sse_legacy``. Host/Origin checks
        as for Streamable HTTP (on by default for a loopback ``host``; ``transport_security`` is
        the SDK's ``TransportSecuritySettings``). ``mount_path`` (the SDK 1.x option) prefixes
        the message URL of an app mounted where the ASGI server does not set ``root_path``.
        With ``custom_route``s it is a Starlette app holding them and the transport."""
        return self._wrap_routes(self._legacy_sse(sse_path, message_path, max_request_body_size, transport_security,
                                                  host, mount_path))

    def _legacy_sse(self, sse_path: str, message_path: str, max_request_body_size: int | None,
                    transport_security: Any, host: str | None, mount_path: str | None) -> Any:
        from ..transports.http.security import HostOriginGuard
        from ..transports.http.settings import DEFAULT_MAX_BODY
        from ..transports.http.sse_legacy import LegacySSEApp

        if self.settings.auth is not None:
            raise ValueError("auth is served on Streamable HTTP only: use streamable_http_app() for an"
                             " authenticated server")
        guard = HostOriginGuard(bind_host=host or self.settings.host, **_security_options(transport_security, "enabled"))
        return LegacySSEApp(
            self.core, sse_path=sse_path, message_path=message_path, mount_path=mount_path, guard=guard,
            max_body=max_request_body_size or DEFAULT_MAX_BODY, request_timeout=self.settings.request_timeout,
            lifespan=self.lifespan_context)

    def _wrap_routes(self, app: Any) -> Any:
        """``app`` as it is, or with ``custom_route``s a Starlette app holding them and ``app``
        (whose ``lifespan()`` runs in Starlette's)."""
        if not self._custom_routes:
            return app
        from starlette.applications import Starlette
        from starlette.routing import Mount, Route

        routes: list[Any] = [Route(p, endpoint=fn, methods=m, name=n, include_in_schema=i)
                             for p, m, fn, n, i in self._custom_routes]
        routes.append(Mount("/", app=app))

        @contextlib.asynccontextmanager
        async def lifespan(_: Any) -> AsyncIterator[None]:
            async with app.lifespan():
                yield

        return Starlette(debug=self.settings.debug, routes=routes, lifespan=lifespan)

    async def run_sse_async(self, *, host: str | None = None, port: int | None = None, sse_path: str = "/sse",
                            message_path: str = "/messages/", max_request_body_size: int | None = None,
                            transport_security: Any = None, mount_path: str | None = None,
                            ready: Callable[[Any], Any] | None = None) -> None:
        """Serve ``sse_app()`` under uvicorn until stopped (the SDK's ``run_sse_async``; host
        and port default to the constructor's). ``ready(info)`` is called once listening
        (``info.port`` tells a port 0)."""
        try:
            import uvicorn
        except ImportError as exc:
            raise ImportError("the HTTP+SSE transport is served by uvicorn: pip install 'mcpfast[http]'") from exc
        s = self.settings
        host = host or s.host
        legacy = self._legacy_sse(sse_path, message_path, max_request_body_size, transport_security, host, mount_path)
        # timeout_graceful_shutdown: a shutdown uvicorn starts itself (a signal) waits this long
        # for open event streams before cancelling them
        config = uvicorn.Config(self._wrap_routes(legacy), host=host, port=s.port if port is None else port,
                                log_level=s.log_level.lower(), access_log=False, lifespan="on",
                                timeout_graceful_shutdown=5)
        server = uvicorn.Server(config)
        watcher = None
        if ready is not None:
            async def announce() -> None:
                while not server.started:
                    await asyncio.sleep(0.01)
                sock = server.servers[0].sockets[0]
                ready(types.SimpleNamespace(port=sock.getsockname()[1], host=host, server=server))

            watcher = asyncio.ensure_future(announce())
        serving = asyncio.ensure_future(server.serve())
        try:
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            legacy.close_streams()  # graceful: the streams end, then uvicorn stops and leaves the lifespan
            server.should_exit = True
            await serving
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
            self.core.close_listeners()

    # ================================================================== direct calls (in process)

    async def _local(self, method: str, params: dict[str, Any]) -> Any:
        """Run one request through the dispatcher in process (a 2025-11-25 session with no
        client); the result as a plain dict."""
        peer = _LocalPeer()
        res = self.core.on_request(peer, Request(0, method, params))
        if asyncio.iscoroutine(res) or isinstance(res, (asyncio.Future, Deferred)):
            res = await res
        if isinstance(res, bytes):
            res = _json.loads(res)
        return res

    async def list_tools(self) -> list[dict[str, Any]]:
        """The tools as listed (``Tool`` dicts)."""
        return [t.entry for t in self.core.tools.values()]

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None, context: Any = None) -> Any:
        """Call a tool in process -> the ``CallToolResult`` dict. An unknown tool or invalid
        arguments raise ``ToolError`` (as in the SDK, whatever ``validation_errors`` says: that
        option shapes what a client gets); a failing tool is an ``isError`` result."""
        arguments = arguments or {}
        tool = self.core.tools.get(name)
        if tool is not None and tool.check is not None:
            # the check the dispatcher makes (lax coercion first), raised here rather than
            # answered as an isError result
            try:
                tool.check(arguments)
            except InvalidParams as exc:
                if tool.coerce is None:
                    raise ToolError(exc.message) from exc
                try:
                    tool.coerce(arguments)
                except InvalidParams as again:
                    raise ToolError(again.message) from again
        try:
            return await self._local("tools/call", {"name": name, "arguments": arguments})
        except InvalidParams as exc:
            raise ToolError(exc.message) from exc

    async def list_resources(self) -> list[dict[str, Any]]:
        return [r.entry for r in self.core.resources.values()]

    async def list_resource_templates(self) -> list[dict[str, Any]]:
        return [t.entry for t in self.core.resource_templates.values()]

    async def read_resource(self, uri: Any, context: Any = None) -> list[dict[str, Any]]:
        """Read a resource in process -> its contents (dicts with ``uri``, ``text`` or ``blob``,
        ``mimeType``). An unknown URI raises ``McpError``/``InvalidParams``."""
        res = await self._local("resources/read", {"uri": str(uri)})
        return res["contents"]  # type: ignore[no-any-return]

    async def read_resource_contents(self, uri: str, ctx: Any = None) -> list[Any]:
        """``Context.read_resource``: contents with ``.content`` (str/bytes) and ``.mime_type``."""
        import base64

        out = []
        for c in await self.read_resource(uri):
            content: str | bytes = c["text"] if "text" in c else base64.b64decode(c.get("blob", ""))
            out.append(ReadResourceContents(content, c.get("mimeType"), c.get("_meta")))
        return out

    async def list_prompts(self) -> list[dict[str, Any]]:
        return [p.entry for p in self.core.prompts.values()]

    async def get_prompt(self, name: str, arguments: dict[str, Any] | None = None, context: Any = None) -> Any:
        """Render a prompt in process -> the ``GetPromptResult`` dict; an unknown prompt or a
        missing argument raises ``ValueError`` (as in the SDK)."""
        try:
            return await self._local("prompts/get", {"name": name, "arguments": arguments or {}})
        except InvalidParams as exc:
            raise ValueError(exc.message) from exc

    # ================================================================== metrics

    def get_metrics(self) -> dict[str, Any]:
        """A snapshot: per-tool stats (``ToolRegistry.stats``), totals, calls in flight (async
        handlers suspended, pooled calls running), rejected calls, legacy sessions and listen
        streams open, the thread pool, uptime."""
        import time

        core = self.core
        tools = {n: tool_stats(t) for n, t in core.tools.items()}
        calls = sum(t.hist.count for t in core.tools.values())
        errors = sum(t.errors for t in core.tools.values())
        total_us = sum(t.hist.sum for t in core.tools.values())
        runner = core.runner
        return {
            "server": {"name": self.name, "version": self.version},
            "uptime_s": round(time.time() - core.started_at, 3),
            "tools": tools,
            "totals": {"tools": len(tools), "calls": calls, "errors": errors, "total_ms": round(total_us / 1000.0, 6),
                       "rejected": core.rejected_calls},
            "in_flight": {"async": runner.async_in_flight, "pool": runner.in_flight,
                          "total": runner.async_in_flight + runner.in_flight},
            "sessions": core.session_count,
            "listeners": core.listener_count,
            "thread_pool": {"size": runner.size, "in_flight": runner.in_flight,
                            "started": runner.started, "threads": runner.threads},
            "resources": len(core.resources) + len(core.resource_templates),
            "prompts": len(core.prompts),
            # what /metrics and the metrics port export, by metric name (empty: metrics=False)
            "metrics": core.metrics.snapshot() if core.metrics is not None else {},
        }


#: the SDK 1.x name
FastMCP = MCPServer


class SessionManager:
    """``MCPServer.session_manager``: runs the Streamable HTTP app of ``streamable_http_app()``
    (``run()`` is its lifespan: the server's lifespan, session expiry, open streams closed at
    the end)."""

    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app

    def run(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Start the app now and stop it on leaving (sessions and streams end then)."""
        return self.app.lifespan()  # type: ignore[no-any-return]


class ReadResourceContents:
    """One content of ``Context.read_resource`` (the SDK's ``ReadResourceContents``)."""

    __slots__ = ("content", "mime_type", "meta")

    def __init__(self, content: str | bytes, mime_type: str | None, meta: Any = None) -> None:
        self.content = content
        self.mime_type = mime_type
        self.meta = meta

    def __repr__(self) -> str:
        return f"ReadResourceContents({self.content!r}, mime_type={self.mime_type!r})"


# ------------------------------------------------------------------------------ wrappers

def _resource_call(fn: Callable[..., Any], schema: dict[str, Any], skip: frozenset[str],
                   coerce: Callable[[dict[str, Any]], dict[str, Any]] | None) -> Callable[..., Any]:
    """A resource/template function whose value is made str/bytes the SDK's way, with its
    URI variables (strings) converted to the annotated types."""
    is_async = inspect.iscoroutinefunction(fn)
    inner = _convert.argument_converter(fn, schema, skip, is_async) if schema else fn
    return _finishing_call(fn, inner, compile_input_check(schema) if schema else None, coerce, is_async,
                           _convert.resource_value)


def _prompt_call(fn: Callable[..., Any], schema: dict[str, Any], skip: frozenset[str],
                 coerce: Callable[[dict[str, Any]], dict[str, Any]] | None) -> Callable[..., Any]:
    """A prompt function whose value becomes PromptMessage dicts, with its arguments (always
    strings on the wire) converted to the annotated types as the SDK's ``validate_call`` does."""
    is_async = inspect.iscoroutinefunction(fn)
    inner = _convert.argument_converter(fn, schema, skip, is_async)
    return _finishing_call(fn, inner, compile_input_check(schema), coerce, is_async, _convert.prompt_messages)


def _finishing_call(fn: Callable[..., Any], inner: Callable[..., Any],
                    check: Callable[[dict[str, Any]], None] | None,
                    coerce: Callable[[dict[str, Any]], dict[str, Any]] | None, is_async: bool,
                    finish: Callable[[Any], Any]) -> Callable[..., Any]:
    """``finish(inner(**arguments))`` after the argument check (lax ``coerce`` on a failure),
    sync or async as ``fn`` is, with ``fn``'s signature."""

    def prepare(kw: dict[str, Any]) -> dict[str, Any]:
        if check is not None:
            try:
                check(kw)
            except InvalidParams:
                if coerce is None:
                    raise
                kw = coerce(kw)
        return kw

    if is_async:
        async def call_async(**kw: Any) -> Any:
            return finish(await inner(**prepare(kw)))

        wrapper: Callable[..., Any] = call_async
    else:
        def call(**kw: Any) -> Any:
            return finish(inner(**prepare(kw)))

        wrapper = call
    try:
        wrapper.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    except (TypeError, ValueError):  # a builtin or a callable object without one
        pass
    return wrapper


def _completion_args(ref: Any, argument: Any, context_args: Any) -> tuple[Any, Any, Any]:
    from .context import AttrDict

    context = {"arguments": context_args} if context_args is not None else None
    types = sys.modules.get("mcp_types")
    if types is not None:  # the server's code imported the SDK's types: give it those
        try:
            kind = ref.get("type")
            ref_cls = types.PromptReference if kind == "ref/prompt" else types.ResourceTemplateReference
            return (ref_cls.model_validate(ref), types.CompletionArgument.model_validate(argument),
                    types.CompletionContext.model_validate(context) if context is not None else None)
        except Exception:  # noqa: BLE001 - fall back to attribute dicts
            log.debug("completion arguments could not be built as mcp_types objects", exc_info=True)
    return AttrDict(ref), AttrDict(argument), AttrDict(context) if context is not None else None


def _security_options(transport_security: Any, switch: str) -> dict[str, Any]:
    """The SDK's ``TransportSecuritySettings`` as our keyword arguments: the host and origin
    lists as they are, ``enable_dns_rebinding_protection`` under ``switch`` (its name differs
    between ``HTTPSettings`` and ``HostOriginGuard``); unset fields are left out."""
    if transport_security is None:
        return {}
    names = (("allowed_hosts", "allowed_hosts"), ("allowed_origins", "allowed_origins"),
             ("enable_dns_rebinding_protection", switch))
    return {dst: v for src, dst in names if (v := getattr(transport_security, src, None)) is not None}
