"""The MCP server core: a ``Dispatcher`` for ``JSONRPCPeer`` that serves both eras at once.

* **Modern (2026-07-28, stateless).** A request whose ``params._meta`` carries
  ``io.modelcontextprotocol/protocolVersion`` is served on its own: its version and client
  capabilities come from its envelope, nothing from the connection. Results carry
  ``resultType`` and ``_meta["io.modelcontextprotocol/serverInfo"]``; cacheable ones ``ttlMs``
  and ``cacheScope``.
* **Legacy (2024-11-05 ... 2025-11-25, sessions).** ``initialize`` opens a session kept on
  ``peer.state`` (``LegacySession``); later requests without the modern envelope are served
  under it. A request with neither (other than ``initialize``/``ping``) gets -32602 naming the
  missing ``_meta`` key.

Hot path (``tools/call``): one dict lookup for the era, one for the method, one for the tool, the
precompiled argument check, the call. A sync handler's result is returned as a plain value (the
peer encodes it at once); an ``async def`` tool's first step runs at once in its own task
(``mcpfast.eager``), and one that finished there is answered the same way (else the task is
returned, and the peer tracks it). List results are encoded once per
registry change and sent as bytes. The per-request ``Context`` is built only for handlers that
asked for one (``context_kwarg=``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from .. import tracing as _tracing
from ..eager import eager_task
from ..errors import (
    RESOURCE_NOT_FOUND,
    UNSUPPORTED_PROTOCOL_VERSION,
    InternalError,
    InvalidParams,
    InvalidRequest,
    JSONRPCError,
    McpError,
    MethodNotFound,
    ToolError,
)
from ..metrics import ServerMetrics
from ..requestvars import log_extra
from ..stores import MemoryStore, Store, open_store
from ..tracing import PROVIDER_KEY as _TRACER_PROVIDER
from ..types import (
    CLIENT_CAPABILITIES_KEY,
    CLIENT_INFO_KEY,
    HANDSHAKE_PROTOCOL_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    MODERN_PROTOCOL_VERSIONS,
    PROTOCOL_VERSION_KEY,
    SERVER_INFO_KEY,
    SUBSCRIPTION_ID_KEY,
)
from ..wire import _json
from ..wire.jsonrpc import Request
from ._metering import RequestMeter
from ._tasking import DEFAULT_TASK_WINDOW, TASK_SUPPORT, TASKS_EXTENSION, TaskServing, check_task_window
from ._threads import MODE_POOL, ToolRunner
from .context import Context, MissingClientCapability
from .mrtr import InputRequired, RequestStateSigner, request_digest
from .registry import Prompt, Resource, ResourceTemplate, Tool, ToolResult
from .session import LOG_LEVELS, LegacySession
from .tasks import TaskStore

if TYPE_CHECKING:
    from .serving import Starting
    from .sharing import StoreLink

__all__ = [
    "ServerCore",
    "PROTOCOL_VERSION_KEY",
    "CLIENT_CAPABILITIES_KEY",
    "CLIENT_INFO_KEY",
    "SERVER_INFO_KEY",
    "SUBSCRIPTION_ID_KEY",
    "LEGACY_ONLY_METHODS",
]

log = logging.getLogger("mcpfast.server")


#: methods 2026-07-28 removed: sent with the modern envelope they get -32601 (``tasks/get`` and
#: ``tasks/cancel`` live on in the tasks extension; ``tasks/result`` and ``tasks/list`` do not)
LEGACY_ONLY_METHODS = frozenset({
    "initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe",
    "tasks/result", "tasks/list",
})

_EMPTY: dict[str, Any] = {}
_dumps = _json.dumps
_LIST_KEYS = {"tools": "tools", "prompts": "prompts", "resources": "resources", "templates": "resourceTemplates"}
_LIST_METHODS = {"tools": "tools/list", "prompts": "prompts/list", "resources": "resources/list",
                 "templates": "resources/templates/list"}
_FILTER_FLAGS = {"tools": "toolsListChanged", "prompts": "promptsListChanged", "resources": "resourcesListChanged"}


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _b64e(s: str) -> str:
    return base64.urlsafe_b64encode(s.encode()).rstrip(b"=").decode("ascii")


_get_running_loop = asyncio.get_running_loop


class _Listener:
    """A ``subscriptions/listen`` request in flight: who, its id, what it honours."""

    __slots__ = ("peer", "id", "honoured", "uris", "task_ids", "done")

    def __init__(self, peer: Any, rid: Any, honoured: dict[str, Any]) -> None:
        self.peer = peer
        self.id = rid
        self.honoured = honoured
        self.uris = frozenset(honoured.get("resourceSubscriptions") or ())
        self.task_ids = frozenset(honoured.get("taskIds") or ())
        self.done: asyncio.Future[None] | None = None


class ServerCore(TaskServing):
    """The dispatcher (``on_request``, ``on_notification``, ``on_batch``, ``on_close``) and the
    low-level registration API the decorator API (``MCPServer``) sits on.

    ``page_size`` (None: one page) applies to every list method; ``ttl_ms``/``cache_scope`` are
    the caching hints of ``server/discover`` and the list results (2026-07-28); the defaults
    are the official SDK's, ``0`` (immediately stale: a client caches nothing the server did
    not say it may) and ``"private"`` (never shared across authorization contexts: safe when a
    list may depend on who asks). ``state_secret`` signs MRTR requestState (random per process unless
    given; give the same one to every process behind one endpoint). ``task_store`` keeps tasks
    (``tasks.TaskStore``; in memory by default), ``task_ttl_ms`` (None: unlimited) and
    ``task_poll_interval_ms`` are what tasks advertise (see ``_tasking``). ``task_window``
    (seconds) is how long a 2026-07-28 call of a ``task="optional"`` tool may run before it
    becomes a task: one done sooner is answered with its plain result (0: always a task).
    """

    def __init__(
        self,
        name: str,
        version: str,
        *,
        title: str | None = None,
        description: str | None = None,
        website_url: str | None = None,
        icons: list[dict[str, Any]] | None = None,
        instructions: str | None = None,
        page_size: int | None = None,
        ttl_ms: int = 0,
        cache_scope: str = "private",
        resource_ttl_ms: int = 0,
        state_secret: bytes | str | None = None,
        state_ttl: float = 600.0,
        capabilities: dict[str, Any] | None = None,
        eager_async_handlers: bool = False,
        thread_pool_size: int | None = None,
        metrics: bool = True,
        task_store: TaskStore | None = None,
        task_ttl_ms: int | None = 3_600_000,
        task_poll_interval_ms: int = 500,
        task_window: float = DEFAULT_TASK_WINDOW,
    ) -> None:
        if page_size is not None and page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        if cache_scope not in ("public", "private"):
            raise ValueError(f'cache_scope must be "public" or "private", got {cache_scope!r}')
        info: dict[str, Any] = {"name": name, "version": version}
        if title is not None:
            info["title"] = title
        if description is not None:
            info["description"] = description
        if website_url is not None:
            info["websiteUrl"] = website_url
        if icons is not None:
            info["icons"] = icons
        self.server_info = info
        self.instructions = instructions
        self.page_size = page_size
        self.ttl_ms = ttl_ms
        self.cache_scope = cache_scope
        self.resource_ttl_ms = resource_ttl_ms
        #: per-method caching hints, ``{method: (ttl_ms, scope)}`` (``server/discover``, the list
        #: methods, ``resources/read``), over ``ttl_ms``/``resource_ttl_ms``/``cache_scope``;
        #: set before serving (list results are cached once built)
        self.cache_hints: dict[str, tuple[int, str]] = {}
        self.extra_capabilities = capabilities or {}
        #: step ``async def`` handlers with no task on Python 3.11 (see ``_start``)
        self.eager_async_handlers = eager_async_handlers
        self.modern_versions: tuple[str, ...] = tuple(MODERN_PROTOCOL_VERSIONS)
        self.signer = RequestStateSigner(state_secret, state_ttl)
        #: a ``state_secret`` was given: a shared store does not replace it with the shared key
        self._own_secret = state_secret is not None
        #: where the state processes share lives (``mcpfast.stores``): in memory unless
        #: ``attach_store`` (``MCPServer(store=...)``, ``--store``, ``MCPFAST_STORE``) gave another
        self.store: Store = MemoryStore()
        #: the key and change fan-out over a shared store (None: not shared)
        self._link: StoreLink | None = None
        #: called with (peer, params) on ``notifications/roots/list_changed`` (legacy)
        self.on_roots_list_changed: Callable[[Any, Any], Any] | None = None
        #: the ``MCPServer`` wrapping this core, if any (``Context.mcp_server``)
        self.app: Any = None
        #: what the server's lifespan yielded while it runs (``Context.lifespan_context``)
        self.lifespan_state: Any = None
        #: how tools run: inline, async, or in the bounded pool (threads start on first use)
        self.runner = ToolRunner(thread_pool_size)
        #: when this core was made (``time.time()``), for uptime
        self.started_at = time.time()
        _tracing.refresh()  # an opentelemetry imported since mcpfast was: watch its provider slot
        #: tool calls whose arguments were rejected before the tool ran
        self.rejected_calls = 0
        #: how a tools/call whose arguments break the input schema is answered: "result" (an
        #: ``isError`` result naming the argument, as MCP 2025-11-25 SEP-1303 puts input
        #: validation errors under tool execution errors, so a model can correct itself; the
        #: official SDK does the same) or "error" (JSON-RPC -32602 with the same text)
        self.invalid_arguments = "result"

        self._tools: dict[str, Tool] = {}
        self._resources: dict[str, Resource] = {}
        self._templates: dict[str, ResourceTemplate] = {}
        self._prompts: dict[str, Prompt] = {}
        self._completion: Callable[..., Any] | None = None
        self._sessions: set[Any] = set()
        self._listeners: dict[tuple[Any, Any], _Listener] = {}
        self._pages: dict[tuple[str, bool], list[bytes]] = {}
        self._discover: bytes | None = None
        self._meta = {SERVER_INFO_KEY: info}  # shared by every modern result (never mutated)

        self._init_tasks(task_store, task_ttl_ms, task_poll_interval_ms, task_window)
        #: tasks were given a store: a shared store (``attach_store``) does not replace it
        self._own_task_store = task_store is not None
        self._memory_tasks = self.task_store
        self._legacy: dict[str, Callable[..., Any]] = {
            "ping": self._handle_ping,
            "logging/setLevel": self._handle_set_level,
            "resources/subscribe": self._handle_subscribe,
            "resources/unsubscribe": self._handle_unsubscribe,
            "tasks/get": self._handle_tasks_get,
            "tasks/result": self._handle_tasks_result,
            "tasks/list": self._handle_tasks_list,
            "tasks/cancel": self._handle_tasks_cancel,
        }
        self._modern: dict[str, Callable[..., Any]] = {
            "server/discover": self._handle_discover,
            "subscriptions/listen": self._handle_listen,
            "tasks/get": self._handle_tasks_get,
            "tasks/update": self._handle_tasks_update,
            "tasks/cancel": self._handle_tasks_cancel,
        }
        for method, h in (
            ("tools/list", self._handle_tools_list),
            ("tools/call", self._handle_tools_call),
            ("resources/list", self._handle_resources_list),
            ("resources/templates/list", self._handle_templates_list),
            ("resources/read", self._handle_resources_read),
            ("prompts/list", self._handle_prompts_list),
            ("prompts/get", self._handle_prompts_get),
            ("completion/complete", self._handle_complete),
        ):
            self._legacy[method] = h
            self._modern[method] = h
        #: request, session and connection metrics (``mcpfast.metrics``); None with ``metrics=False``
        self.metrics: ServerMetrics | None = None
        self._meter: RequestMeter | None = None
        self.feed_timer: RequestMeter | None = None
        # the meter's ``resolved`` ([slot, session]): a tools/call puts its tool's slot there
        self._op_resolved: list[Any] | None = None
        if metrics:
            self._enable_metrics()

    def _enable_metrics(self) -> None:
        """Make ``metrics`` and time every request into it: ``on_request`` becomes the
        ``RequestMeter``'s, wrapping the one in place (so other wrappers stack)."""
        m = ServerMetrics(known_methods=(*self._legacy, *self._modern, "initialize"),
                          known_versions=(*HANDSHAKE_PROTOCOL_VERSIONS, *self.modern_versions),
                          is_tool=self._tools.__contains__)
        m.add_tool_histograms(lambda: [(name, tool.hist) for name, tool in self._tools.items()])
        m.add_refresher(lambda: m.sessions_open.set(len(self._sessions)))
        self.metrics = m
        meter = RequestMeter(m, self.on_request)
        self._meter = meter
        self.on_request = meter.on_request  # type: ignore[method-assign]
        self._op_resolved = meter.resolved
        #: read by each peer made after this (``JSONRPCPeer``): times a read's eager answers together
        self.feed_timer = meter

    def on_refused(self, peer: Any, reason: str) -> None:
        """A request was refused by a limit before it reached ``on_request`` (the peer's
        ``max_in_flight``): counted by ``reason``."""
        if self.metrics is not None:
            self.metrics.refuse(reason)

    # ================================================================== registration

    def add_tool(
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
    ) -> Tool:
        """Register (or replace) a tool; ``fn(**arguments)`` runs it.

        ``fn`` may be ``async def`` (awaited on the loop) or plain. A plain one is called
        inline on the loop by default (``blocking=False``: right for code that returns in
        microseconds or must stay on the loop's thread, and no protection if it blocks);
        ``blocking=None`` (what ``MCPServer`` does) and ``True`` run every call in the thread
        pool (``thread_pool_size``, ``_threads.ToolRunner``), True also marking the tool slow
        from the start. ``wrap_output`` (with an ``output_schema`` of the
        ``{"result": ...}`` shape) answers a str at once with its text and
        ``structuredContent: {"result": value}``; ``coerce`` gets arguments ``input_schema``
        rejected and returns fixed ones or raises (lax conversions). With ``context_kwarg`` the
        handler gets a ``Context`` under that keyword. Arguments are checked against
        ``input_schema`` before the call (``validation.compile_input_check``: required, types,
        enum/const, string/number/array constraints, nested objects; a failure is -32602 naming
        the argument and the broken keyword). ``required_capabilities``
        (``{"sampling": {}}``...) are checked before the call (-32021).

        The return value becomes the result: a ``ToolResult`` as it is; ``str`` -> one text
        block; ``None`` -> no content; a list of content blocks -> that content; anything else
        -> its JSON as a text block. With an ``output_schema`` the value (other than a
        ``ToolResult``) is also sent as ``structuredContent``. ``convert`` replaces all this.
        A ``ToolError`` becomes ``isError: true`` with its message verbatim; an error the client
        answered to a server->client request (``McpError``) and the official SDK's
        ``ToolError``/``ResourceError`` become ``"Error executing tool <name>: <message>"`` (as
        the SDK sends them); any other exception is a crash: ``isError: true`` with only
        ``"Error executing tool <name>"`` (its text may hold internals), the exception logged
        with its traceback on the ``mcpfast.server`` logger. Other ``JSONRPCError`` subclasses (``InvalidParams``,
        ``MissingClientCapability``...) propagate as protocol errors.

        ``task`` (``execution.taskSupport``): ``"forbidden"`` (the default: never a task),
        ``"optional"`` (a task when the client can take one: at 2026-07-28 when the request
        declares the tasks extension, in a 2025-11-25 session when the call sends
        ``params.task``; a plain call otherwise) or ``"required"`` (only as a task: -32021
        without the extension at 2026-07-28, -32601 without ``params.task`` in a session). A
        task's tool runs in the background; ``Context.report_status`` sets its status message,
        ``Context.elicit``/``ask`` park it on ``input_required``, ``Context.cancelled`` says a
        cancel came. ``defer_task`` (2026-07-28, with a context): the call runs as a plain one,
        gathering input by multi round-trip requests, until the tool calls
        ``await ctx.start_task()``, which answers the request with the task handle.
        ``task_window`` (seconds, a ``"optional"`` tool; None: the server's ``task_window``): a
        2026-07-28 call that ends within it is answered with its plain result and makes no task
        (0: always a task).
        """
        if task not in TASK_SUPPORT:
            raise ValueError(f'task must be one of "forbidden", "optional", "required", got {task!r}')
        if defer_task and context_kwarg is None:
            raise ValueError(f"tool {name!r}: defer_task needs a context (the tool starts its task with ctx.start_task())")
        if task_window is not None:
            if task != "optional" or defer_task:
                raise ValueError(f'tool {name!r}: task_window applies to task="optional" tools without defer_task')
            check_task_window(task_window, f"tool {name!r}: task_window")
        tool = Tool(name, fn, input_schema=input_schema, output_schema=output_schema, title=title,
                    description=description, annotations=annotations, icons=icons, meta=meta,
                    context_kwarg=context_kwarg, required_capabilities=required_capabilities,
                    convert=convert, blocking=blocking, wrap_output=wrap_output, coerce=coerce, source=source,
                    task=task, defer_task=defer_task, task_window=task_window)
        if self._meter is not None:
            tool.op_slot = self._meter.tool_slot(name)
        self._tools[name] = tool
        self.notify_list_changed("tools")
        return tool

    def remove_tool(self, name: str) -> None:
        """Remove a tool (KeyError if unknown); sessions and listeners hear list_changed."""
        del self._tools[name]
        self.notify_list_changed("tools")

    def add_resource(self, uri: str, fn: Callable[..., Any], *, name: str, **kw: Any) -> Resource:
        """Register a resource read by ``fn()`` (keywords: title, description, mime_type,
        size, annotations, icons, meta, context_kwarg, ttl_ms, blocking). ``fn`` returns
        ``str`` (text), ``bytes`` (blob), a contents dict, or a list of them."""
        r = Resource(uri, fn, name=name, **kw)
        self._resources[uri] = r
        self.notify_list_changed("resources")
        return r

    def remove_resource(self, uri: str) -> None:
        del self._resources[uri]
        self.notify_list_changed("resources")

    def add_resource_template(self, uri_template: str, fn: Callable[..., Any], *, name: str,
                              **kw: Any) -> ResourceTemplate:
        """Register a resource template (RFC 6570); ``fn(**variables)`` reads a matching URI.
        Templates are tried in registration order, after the exact resources."""
        t = ResourceTemplate(uri_template, fn, name=name, **kw)
        self._templates[uri_template] = t
        self.notify_list_changed("resources")
        return t

    def remove_resource_template(self, uri_template: str) -> None:
        del self._templates[uri_template]
        self.notify_list_changed("resources")

    def add_prompt(self, name: str, fn: Callable[..., Any], **kw: Any) -> Prompt:
        """Register a prompt; ``fn(**arguments)`` returns a str (one user message), a list of
        messages (dicts with role/content, or str), or a full ``GetPromptResult`` dict.
        Keywords: title, description, arguments ([{name, description?, required?}]), icons,
        meta, context_kwarg, blocking."""
        p = Prompt(name, fn, **kw)
        self._prompts[name] = p
        self.notify_list_changed("prompts")
        return p

    def remove_prompt(self, name: str) -> None:
        del self._prompts[name]
        self.notify_list_changed("prompts")

    def set_completion_handler(self, fn: Callable[..., Any] | None) -> None:
        """``fn(ref, argument, context_arguments)`` (sync or async) for ``completion/complete``;
        it returns a list of str (at most 100 are sent, ``hasMore`` set past that), a
        ``{"values", "total"?, "hasMore"?}`` dict, or None. None removes it."""
        self._completion = fn
        self._discover = None

    @property
    def tools(self) -> dict[str, Tool]:
        """The registered tools by name (a live dict: register through ``add_tool``)."""
        return self._tools

    @property
    def resources(self) -> dict[str, Resource]:
        """The registered resources by URI (live; register through ``add_resource``)."""
        return self._resources

    @property
    def resource_templates(self) -> dict[str, ResourceTemplate]:
        """The registered resource templates by URI template (live)."""
        return self._templates

    @property
    def prompts(self) -> dict[str, Prompt]:
        """The registered prompts by name (live; register through ``add_prompt``)."""
        return self._prompts

    @property
    def session_count(self) -> int:
        """Legacy sessions open now (connections that sent ``initialize``)."""
        return len(self._sessions)

    @property
    def listener_count(self) -> int:
        """``subscriptions/listen`` streams open now (2026-07-28)."""
        return len(self._listeners)

    # ================================================================== change signals

    def _off_loop(self, fn: Callable[..., None], *args: Any) -> bool:
        """Called from a thread other than the loop's (a pooled ``def`` tool that adds a tool,
        say): hand ``fn(*args)`` to the loop, whose peers are not thread-safe. True if handed."""
        loop = self.runner.loop
        if loop is None:
            return False
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop runs on this thread: a worker's
            loop.call_soon_threadsafe(fn, *args)
            return True
        return False

    def notify_list_changed(self, kind: str) -> None:
        """Tell the sessions and listen streams that ``kind`` ("tools", "prompts" or
        "resources") changed, and drop the cached list pages. Safe to call from any thread (a
        pooled tool's call is handed to the loop)."""
        if kind not in _FILTER_FLAGS:
            raise ValueError(f'kind must be "tools", "prompts" or "resources", got {kind!r}')
        if self._off_loop(self.notify_list_changed, kind):
            return
        if kind == "tools" and self._meter is not None:
            self._meter.forget_labels()  # a tool name may have become known, or gone
        self.deliver_list_changed(kind)
        if self._link is not None:
            self._link.share("list", kind)

    def deliver_list_changed(self, kind: str) -> None:
        """``notify_list_changed``'s work in this process only (a change another process shared
        through the store arrives here). On the loop."""
        self._pages.clear()
        self._discover = None
        method = f"notifications/{kind}/list_changed"
        for peer in self._sessions:
            if peer.state.initialized and not peer.closed:
                _tracing.server_notify(peer, method)
        flag = _FILTER_FLAGS[kind]
        for lst in self._listeners.values():
            if lst.honoured.get(flag):
                _tracing.server_notify(lst.peer, method, {"_meta": {SUBSCRIPTION_ID_KEY: lst.id}})

    def notify_resource_updated(self, uri: str) -> None:
        """Tell who subscribed (legacy ``resources/subscribe``, or a listen stream's
        ``resourceSubscriptions``) that ``uri`` changed. Safe to call from any thread."""
        if self._off_loop(self.notify_resource_updated, uri):
            return
        self.deliver_resource_updated(uri)
        if self._link is not None:
            self._link.share("resource", uri)

    def deliver_resource_updated(self, uri: str) -> None:
        """``notify_resource_updated``'s work in this process only. On the loop."""
        for peer in self._sessions:
            if uri in peer.state.subscriptions and not peer.closed:
                _tracing.server_notify(peer, "notifications/resources/updated", {"uri": uri})
        for lst in self._listeners.values():
            if uri in lst.uris:
                _tracing.server_notify(lst.peer, "notifications/resources/updated",
                                       {"uri": uri, "_meta": {SUBSCRIPTION_ID_KEY: lst.id}})

    # ================================================================== shared store

    async def attach_store(self, store: Store) -> None:
        """Use ``store`` for the state processes share (``self.store``, which the transports
        read when they start serving: it is attached before the listener opens). A shared store (Redis) also gets the ``requestState`` key from it (unless this
        core was given ``state_secret``) and carries change notifications to and from the other
        processes (``mcpfast.server.sharing``); the in-memory store changes nothing. A shared
        store that is down does not stop this: the link keeps trying in the background."""
        await self.detach_store()
        self.store = store
        if store.shared:
            from .sharing import StoreLink

            link = StoreLink(self, store, share_key=not self._own_secret)
            await link.start()
            self._link = link
            if not self._own_task_store:
                from .redis_tasks import RedisTaskStore

                tasks = RedisTaskStore(store)  # type: ignore[arg-type]  # Redis: the one shared backend
                await link.open_task_store(tasks)
                self._use_task_store(tasks)

    async def detach_store(self) -> None:
        """Stop sharing through the attached store (it is not closed) and go back to memory."""
        link, self._link = self._link, None
        if link is not None:
            await link.close()
            if not self._own_task_store and self.task_store is not self._memory_tasks:
                shared = self.task_store
                self._use_task_store(self._memory_tasks)
                await shared.close()
        self.store = MemoryStore()

    def _use_task_store(self, store: Any) -> None:
        """Keep tasks in ``store`` from now on (at attach and detach, when no task runs)."""
        self._unsubscribe_tasks()
        self.task_store = store
        self._unsubscribe_tasks = store.subscribe(self._on_task_event)

    @contextlib.asynccontextmanager
    async def using_store(self, store: str | Store | None) -> AsyncIterator[Store]:
        """Attach the store ``store`` names (a URL; None: ``$MCPFAST_STORE``, else memory; or a
        ``Store``) for the block; after it, detach, and close the store if it was opened here
        from a URL. The lifespan of ``MCPServer`` and of ``mcpfast run`` enter this."""
        opened = open_store(store)
        try:
            await self.attach_store(opened)
            yield opened
        finally:
            try:
                await self.detach_store()
            finally:
                if opened is not store:
                    await opened.close()

    def close_listeners(self) -> None:
        """End every listen stream gracefully (each gets its final result); for shutdown."""
        for lst in list(self._listeners.values()):
            if lst.done is not None and not lst.done.done():
                lst.done.set_result(None)

    def start(self, transport: str = "http", **kwargs: Any) -> Starting:
        """Serve this core on a socket transport: ``server = await core.start("tcp", port=0)``
        or ``async with core.start(...) as server``; ``serving.start_server``'s keywords.
        (``MCPServer.start`` adds its lifespan and settings.)"""
        from .serving import Starting, canonical_transport, start_server  # noqa: F811 - the runtime import

        return Starting(start_server(self, canonical_transport(transport), **kwargs))

    # ================================================================== capabilities

    def capabilities(self) -> dict[str, Any]:
        """``ServerCapabilities`` from what is registered (plus ``capabilities=``)."""
        caps: dict[str, Any] = {"tools": {"listChanged": True}, "logging": {}}
        if self._resources or self._templates:
            caps["resources"] = {"subscribe": True, "listChanged": True}
        if self._prompts:
            caps["prompts"] = {"listChanged": True}
        if self._completion is not None:
            caps["completions"] = {}
        if self.has_task_tools():
            # the 2026-07-28 extension (``initialize`` adds 2025-11-25's ``tasks``: the
            # extension's clients must not find that v1 slot in server/discover)
            caps["extensions"] = {TASKS_EXTENSION: {}}
        caps.update(self.extra_capabilities)
        return caps

    # ================================================================== Dispatcher

    def on_request(self, peer: Any, request: Request, untraced: bool = False) -> Any:
        # tracing: one slot read per request; None unless an OpenTelemetry tracer provider is
        # set, then the request is served inside a span (mcpfast.tracing), which calls back
        # here with ``untraced=True`` (_on_request_untraced)
        if _tracing.watched[_TRACER_PROVIDER] is not None and not untraced:
            return _tracing.trace_request(self._on_request_untraced, peer, request)
        params = request.params
        if type(params) is dict:
            meta = params.get("_meta")
            if meta is not None and type(meta) is dict and PROTOCOL_VERSION_KEY in meta:
                return self._modern_request(peer, request, params, meta)
        elif params is None:
            params = _EMPTY
        else:
            raise InvalidParams(f"Expected params to be an object, got {type(params).__name__} - at $.params")
        session = peer.state
        if session is not None:
            handler = self._legacy.get(request.method)
            if handler is None:
                if request.method == "initialize":
                    raise InvalidRequest("The session is already initialized (initialize was sent twice)")
                raise MethodNotFound(f"Method not found: {request.method}")
            return handler(peer, request, params, session, None)
        method = request.method
        if method == "initialize":
            return self._handle_initialize(peer, request, params)
        if method == "ping":
            return {}  # allowed before initialization (lifecycle)
        # neither the modern envelope nor a session (a modern envelope without its version
        # key lands here too: the version is what is missing)
        raise InvalidParams(
            f'Missing params._meta["{PROTOCOL_VERSION_KEY}"]: send the 2026-07-28 per-request envelope'
            " or open a session with initialize", {"missing": [PROTOCOL_VERSION_KEY]})

    def _on_request_untraced(self, peer: Any, request: Request) -> Any:
        # ServerCore's own body, not ``self.on_request``: that may be a wrapper (metrics, a
        # subclass) that already ran around the traced call and must not run twice
        return ServerCore.on_request(self, peer, request, True)

    def _modern_request(self, peer: Any, request: Request, params: dict[str, Any], meta: dict[str, Any]) -> Any:
        version = meta[PROTOCOL_VERSION_KEY]
        if CLIENT_CAPABILITIES_KEY not in meta:
            raise InvalidParams(f'Missing params._meta["{CLIENT_CAPABILITIES_KEY}"] (required on every'
                                " 2026-07-28 request; {} declares none)", {"missing": [CLIENT_CAPABILITIES_KEY]})
        if version not in self.modern_versions:
            raise JSONRPCError(
                f"Unsupported protocol version {version!r}; this server supports {', '.join(self.modern_versions)}",
                {"supported": list(self.modern_versions), "requested": version},
                code=UNSUPPORTED_PROTOCOL_VERSION)
        if type(meta[CLIENT_CAPABILITIES_KEY]) is not dict:
            raise InvalidParams(f'Expected an object at params._meta["{CLIENT_CAPABILITIES_KEY}"]')
        handler = self._modern.get(request.method)
        if handler is None:
            if request.method in LEGACY_ONLY_METHODS:
                raise MethodNotFound(f"Method not found: {request.method} does not exist in MCP {version}"
                                     " (legacy sessions only)")
            raise MethodNotFound(f"Method not found: {request.method}")
        return handler(peer, request, params, None, meta)

    def on_notification(self, peer: Any, notification: Any, untraced: bool = False) -> Any:
        # tracing, as on_request: one slot read; with a provider set, the notification is
        # handled inside a SERVER span (mcpfast.tracing.trace_notification)
        if _tracing.watched[_TRACER_PROVIDER] is not None and not untraced:
            return _tracing.trace_notification(self._on_notification_untraced, peer, notification)
        method = notification.method
        params = notification.params if type(notification.params) is dict else _EMPTY
        if method == "notifications/cancelled":
            peer.cancel_request(params.get("requestId"))
        elif method == "notifications/initialized":
            session = peer.state
            if session is not None:
                session.initialized = True
        elif method == "notifications/progress":
            peer.on_progress(params)
        elif method == "notifications/roots/list_changed":
            if self.on_roots_list_changed is not None:
                return self.on_roots_list_changed(peer, params)
        return None

    def _on_notification_untraced(self, peer: Any, notification: Any) -> Any:
        return ServerCore.on_notification(self, peer, notification, True)

    def on_batch(self, peer: Any, batch: Any) -> bool:
        session = peer.state
        return type(session) is LegacySession and session.protocol_version == "2025-03-26"

    def on_close(self, peer: Any, exc: BaseException | None) -> None:
        if peer in self._sessions:
            self._sessions.discard(peer)
            if self.metrics is not None:
                session = peer.state
                self.metrics.session_closed(getattr(peer, "network_transport", ""), session.protocol_version,
                                            session.opened_ns)
        for key in [k for k, lst in self._listeners.items() if lst.peer is peer]:
            del self._listeners[key]
        self._tasks_peer_closed(peer)

    def sessionless_state(self, protocol_version: str) -> LegacySession:
        """The ``peer.state`` of a legacy request that arrives with no session (a stateless HTTP
        endpoint): ready at ``protocol_version``, with no declared client capabilities (there is
        no initialize to declare them in). Transports ask for it; they never build one."""
        state = LegacySession(protocol_version, {}, None)
        state.initialized = True
        return state

    #: legacy methods and notifications that change what ``session_record`` holds: a transport
    #: that shares sessions between processes saves the record again after one of them
    session_changing_methods: frozenset[str] = frozenset(
        {"notifications/initialized", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"})

    def session_record(self, peer: Any) -> dict[str, Any] | None:
        """The JSON record of ``peer``'s legacy session (``LegacySession.record``), None when it
        has none. Transports that share sessions between processes store it."""
        state = peer.state
        return state.record() if type(state) is LegacySession else None

    def restore_session(self, peer: Any, record: dict[str, Any]) -> None:
        """Make ``peer`` serve the legacy session another process opened and described by
        ``record`` (``session_record``): its state, and a place among the sessions that hear
        list changes and resource updates. Raises ValueError for a record that is not one."""
        peer.state = LegacySession.from_record(record)
        self._sessions.add(peer)

    def update_session(self, peer: Any, record: dict[str, Any]) -> None:
        """Take on the changes another process made to ``peer``'s session (see ``restore_session``)."""
        state = peer.state
        if type(state) is LegacySession:
            state.update(record)

    # ================================================================== lifecycle (legacy)

    def _handle_initialize(self, peer: Any, request: Request, params: dict[str, Any]) -> Any:
        requested = params.get("protocolVersion")
        if type(requested) is not str:
            raise InvalidParams("Expected a string at params.protocolVersion")
        _tracing.refresh()  # once per session: finds an opentelemetry imported after the server started
        caps = params.get("capabilities")
        if caps is None:
            caps = {}
        elif type(caps) is not dict:
            raise InvalidParams("Expected an object at params.capabilities")
        # echo the client's version when we speak it, else offer our latest handshake version
        version = requested if requested in HANDSHAKE_PROTOCOL_VERSIONS else LATEST_HANDSHAKE_VERSION
        peer.state = LegacySession(version, caps, params.get("clientInfo"))
        self._sessions.add(peer)
        caps = self.capabilities()
        if version >= "2025-11-25" and self.has_task_tools():
            caps["tasks"] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
        result: dict[str, Any] = {
            "protocolVersion": version, "capabilities": caps, "serverInfo": self.server_info,
        }
        if self.instructions is not None:
            result["instructions"] = self.instructions
        return result

    def _handle_ping(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        return {}

    def _handle_set_level(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        level = params.get("level")
        rank = LOG_LEVELS.get(level) if type(level) is str else None
        if rank is None:
            raise InvalidParams(f"Invalid log level {level!r}; expected one of {', '.join(LOG_LEVELS)}"
                                " - at params.level")
        session.log_level = rank
        return {}

    def _uri(self, params: dict[str, Any]) -> str:
        uri = params.get("uri")
        if type(uri) is not str:
            raise InvalidParams("Expected a string at params.uri")
        return uri

    def _handle_subscribe(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        session.subscriptions.add(self._uri(params))
        return {}

    def _handle_unsubscribe(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        session.subscriptions.discard(self._uri(params))
        return {}

    # ================================================================== discovery (modern)

    def _handle_discover(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        _tracing.refresh()  # the modern era's session start (see _handle_initialize)
        data = self._discover
        if data is None:
            res: dict[str, Any] = {
                "resultType": "complete", "supportedVersions": list(self.modern_versions),
                "capabilities": self.capabilities(),
            }
            if self.instructions is not None:
                res["instructions"] = self.instructions
            res["ttlMs"], res["cacheScope"] = self.cache_hints.get("server/discover", (self.ttl_ms, self.cache_scope))
            res["_meta"] = self._meta
            data = self._discover = _dumps(res)
        return data

    # ================================================================== lists

    def _items(self, kind: str) -> list[dict[str, Any]]:
        if kind == "tools":
            return [t.entry for t in self._tools.values()]
        if kind == "prompts":
            return [p.entry for p in self._prompts.values()]
        if kind == "resources":
            return [r.entry for r in self._resources.values()]
        return [t.entry for t in self._templates.values()]

    def _build_pages(self, kind: str, modern: bool) -> list[bytes]:
        items = self._items(kind)
        size = self.page_size or max(len(items), 1)
        chunks = [items[i:i + size] for i in range(0, len(items), size)] or [[]]
        key = _LIST_KEYS[kind]
        ttl, scope = self.cache_hints.get(_LIST_METHODS[kind], (self.ttl_ms, self.cache_scope))
        pages = []
        for i, chunk in enumerate(chunks):
            res: dict[str, Any] = {key: chunk}
            if i + 1 < len(chunks):
                res["nextCursor"] = _b64e(f"{kind}:{i + 1}")
            if modern:
                res["resultType"] = "complete"
                res["ttlMs"] = ttl
                res["cacheScope"] = scope
                res["_meta"] = self._meta
            pages.append(_dumps(res))
        self._pages[(kind, modern)] = pages
        return pages

    def _list(self, kind: str, params: dict[str, Any], modern: bool) -> bytes:
        pages = self._pages.get((kind, modern))
        if pages is None:
            pages = self._build_pages(kind, modern)
        cursor = params.get("cursor")
        if cursor is None:
            return pages[0]
        index = -1
        if type(cursor) is str:
            try:
                k, _, n = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
                if k == kind and n.isdigit():
                    index = int(n)
            except (ValueError, binascii.Error, UnicodeDecodeError):
                pass
        if not 0 <= index < len(pages):
            raise InvalidParams(f"Invalid cursor {cursor!r} (unknown, or the list changed) - at params.cursor")
        return pages[index]

    def _handle_tools_list(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        return self._list("tools", params, session is None)

    def _handle_prompts_list(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        return self._list("prompts", params, session is None)

    def _handle_resources_list(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        return self._list("resources", params, session is None)

    def _handle_templates_list(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        return self._list("templates", params, session is None)

    # ================================================================== MRTR plumbing

    def _context(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any,
                 digest: str | None) -> Context:
        ctx = Context(self, peer, request, session, meta)
        if session is None and digest is not None:
            self._restore(ctx, params, digest)
        return ctx

    def _restore(self, ctx: Context | None, params: dict[str, Any], digest: str) -> None:
        """Verify a retry's requestState and gather its inputResponses (2026-07-28)."""
        token = params.get("requestState")
        if token is not None:
            prev, state = self.signer.verify(token, digest)
            if ctx is not None:
                ctx.state = state
                if prev:
                    ctx.responses = dict(prev)
        answers = params.get("inputResponses")
        if answers is not None:
            if type(answers) is not dict:
                raise InvalidParams("Expected an object at params.inputResponses")
            if ctx is not None:
                ctx.responses.update(answers)

    def _input_required(self, exc: InputRequired, ctx: Context | None, digest: str | None,
                        again: Callable[[], Any]) -> Any:
        """Answer a handler's ``InputRequired``: at 2026-07-28 with an ``InputRequiredResult``;
        in a legacy session by asking the client with server->client requests and running the
        handler again with the answers (a coroutine)."""
        if ctx is None:
            log.error("InputRequired raised by a handler that has no context (context_kwarg)", extra=log_extra())
            raise InternalError("Internal error")
        if ctx.legacy is not None or ctx.task_id is not None:
            return self._fulfil(exc, ctx, again)  # a task's input is asked for, not answered with
        if digest is None:  # pragma: no cover - every modern handler with a context has one
            raise InternalError("Internal error")
        res: dict[str, Any] = {"resultType": "input_required"}
        if exc.requests:
            res["inputRequests"] = exc.requests
        res["requestState"] = self.signer.sign(digest, ctx.responses, exc.state if exc.state is not None else ctx.state)
        res["_meta"] = self._meta
        return res

    async def _fulfil(self, exc: InputRequired, ctx: Context, again: Callable[[], Any]) -> Any:
        # legacy: the same handler code works in both eras; each round's requests go to the
        # client now (Context.ask checks the declared capabilities), then the handler reruns
        if exc.requests:
            ctx.responses.update(await ctx.ask(exc.requests))
        if exc.state is not None:
            ctx.state = exc.state
        res = again()
        # an async handler's rerun comes back started (a task, from _start) or as a coroutine
        # (eager_async_handlers): its answer is what it resolves to, never the task itself
        if asyncio.iscoroutine(res) or asyncio.isfuture(res):
            res = await res
        return res

    def _check_caps(self, required: dict[str, Any], session: Any, meta: Any, what: str) -> None:
        caps = session.client_capabilities if session is not None else meta[CLIENT_CAPABILITIES_KEY]
        missing = {k: v for k, v in required.items() if k not in caps}
        if missing:
            raise MissingClientCapability.of(missing, what)

    # ================================================================== tools

    def _start(self, coro: Any) -> Any:
        """How a user's ``async def`` handler starts.

        The peer could step the coroutine eagerly with no task at all, but code that needs a
        current task before its first ``await`` (``asyncio.timeout``, anyio and so httpx)
        would then fail. So the handler runs at once inside its own eager task
        (``mcpfast.eager``: Python 3.12's ``eager_start``, and the same on 3.11) and, if it
        never suspends, is answered with no trip through the loop. ``eager_async_handlers``
        trades that guarantee for a little more speed (no task at all).
        """
        if self.eager_async_handlers:
            return coro  # stepped by the peer; no current task before the first suspension
        return eager_task(coro, _get_running_loop())

    def _eager(self, coro: Any) -> Any:
        """Start a ``tools/call`` handler's coroutine (``_start``) and, when it finished in its
        eager first step, answer with its result (or raise its exception) at once: the peer
        and the request timer then take the plain answer's path, with no done callback and
        no trip through the loop."""
        if self.eager_async_handlers:
            return coro
        task = eager_task(coro, _get_running_loop())
        if task.done():
            return task.result()  # the answer, or the exception the handler ended with
        return task

    def _handle_tools_call(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        name = params.get("name")
        tool = self._tools.get(name) if type(name) is str else None
        if tool is None:
            raise InvalidParams(f"Unknown tool: {name!r}", {"name": name} if type(name) is str else None)
        resolved = self._op_resolved
        if resolved is not None:  # metrics: the timer need not find the tool's labels again
            resolved[0] = tool.op_slot
            resolved[1] = session
        args = params.get("arguments")
        if args is None:
            args = {}
        elif type(args) is not dict:
            raise InvalidParams(f"Expected an object at params.arguments, got {type(args).__name__}")
        check = tool.check
        if check is not None:
            try:
                check(args)  # check_arguments' work, its passing case without a call of its own
            except InvalidParams as exc:
                try:
                    args = self._refused(tool, args, exc)
                except InvalidParams as final:
                    if self.invalid_arguments != "result":
                        raise
                    # SEP-1303: a tool execution error the model can read and correct
                    return self._tool_error(tool, ToolError(final.message), session is None)
        if not tool.var_kw and not args.keys() <= tool.params:
            args = {k: v for k, v in args.items() if k in tool.params}  # undeclared extras dropped
        if tool.task_support is not None or (session is not None and "task" in params):
            handle = self._task_call(peer, request, params, session, meta, tool, args)
            if handle is not None:
                return handle
        if tool.fast and (session is not None or "requestState" not in params):
            # the common case: a tool with no context and no capabilities
            if not tool.is_async:
                if tool.mode:  # in the pool: the answer (a lone call), or a future the peer tracks
                    return self.runner.run(tool, args, self._pooled_done, session is None)
                try:  # pinned inline (blocking=False)
                    value = self.runner.call_inline(tool, args)
                except Exception as exc:  # noqa: BLE001 - a tool failure is a result, not a crash
                    return self._sync_tool_failed(tool, exc, args, session is None, None, None)
                if type(value) is str:
                    res: dict[str, Any] = {"content": [{"type": "text", "text": value}]}
                    if tool.wrap:
                        res["structuredContent"] = {"result": value}
                    if session is None:
                        res["resultType"] = "complete"
                        res["_meta"] = self._meta
                    return res
                return self._tool_result(tool, value, session is None)
            ctx = digest = None
        else:
            if tool.required_caps is not None:
                self._check_caps(tool.required_caps, session, meta, f"tool {name!r}")
            ctx, digest = self._task_context(peer, request, params, session, meta, tool)
            if ctx is not None:
                args = {**args, tool.context_kwarg: ctx}
        if tool.is_async:  # answered at once when it finishes in its eager first step
            return self._async_tool(tool, args, session is None, ctx, digest, self._eager)
        return self._run_tool(tool, args, session is None, ctx, digest)

    def _rejected(self, tool: Tool, args: dict[str, Any], exc: InvalidParams) -> Any:
        """The input check failed: try the tool's lax coercion, else count it and re-raise
        (or, when ``invalid_arguments`` is ``"result"``, return the last failure, the coerced
        value's when coercion ran: the caller answers an ``isError`` result with its message,
        which counts as the tool's error)."""
        if tool.coerce is not None:
            try:
                return tool.coerce(args)
            except InvalidParams as again:
                exc = again
        self.rejected_calls += 1
        if self.invalid_arguments == "result":
            return exc
        tool.errors += 1
        raise exc

    def check_arguments(self, tool: Tool, args: dict[str, Any]) -> dict[str, Any]:
        """``args`` checked against the tool's input schema as on the wire (coerced when the
        tool has a lax coercion); raise ``InvalidParams`` naming the argument otherwise."""
        if tool.check is None:
            return args
        try:
            tool.check(args)
        except InvalidParams as exc:
            return self._refused(tool, args, exc)
        return args

    def _refused(self, tool: Tool, args: dict[str, Any], exc: InvalidParams) -> dict[str, Any]:
        """The input check refused ``args``: the coerced arguments, or raise the final failure."""
        fixed = self._rejected(tool, args, exc)
        if type(fixed) is not dict:  # the final failure (invalid_arguments == "result")
            raise fixed from None
        return fixed

    def _pooled_done(self, tool: Tool, value: Any, exc: BaseException | None, modern: bool) -> Any:
        """The answer to a one-frame-path call that ran in the pool (``ToolRunner.submit``)."""
        if exc is None:
            return self._tool_result(tool, value, modern)
        if not isinstance(exc, Exception):  # KeyboardInterrupt/SystemExit in a worker
            raise exc
        return self._sync_tool_failed(tool, exc, _EMPTY, modern, None, None)

    def _run_tool(self, tool: Tool, args: dict[str, Any], modern: bool, ctx: Context | None, digest: str | None) -> Any:
        if tool.is_async:  # always the task (or coroutine): a task-augmented call tracks it
            return self._async_tool(tool, args, modern, ctx, digest, self._start)
        if tool.mode == MODE_POOL:
            return self._start(self._tool_pooled(tool, args, modern, ctx, digest))
        try:
            value = self.runner.call_inline(tool, args)
        except Exception as exc:  # noqa: BLE001 - a tool failure is a result, not a crash
            return self._sync_tool_failed(tool, exc, args, modern, ctx, digest)
        return self._tool_result(tool, value, modern)

    def _async_tool(self, tool: Tool, args: dict[str, Any], modern: bool, ctx: Context | None, digest: str | None,
                    start: Callable[[Any], Any]) -> Any:
        """Call an ``async def`` tool and ``start`` (``_start`` or ``_eager``) its coroutine; a
        call that raises before the coroutine exists is a tool error."""
        try:
            coro = tool.fn(**args)
        except Exception as exc:  # noqa: BLE001 - raised before the coroutine exists
            return self._tool_error(tool, exc, modern)
        return start(self._tool_async(tool, args, coro, modern, ctx, digest))

    async def _tool_pooled(self, tool: Tool, args: dict[str, Any], modern: bool, ctx: Context | None,
                           digest: str | None) -> Any:
        # the answer is given when the future is resolved; if this task is cancelled
        # (notifications/cancelled, request timeout) the thread finishes in the background
        value, exc = await self.runner.submit(tool, args)
        if exc is not None:
            if not isinstance(exc, Exception):  # KeyboardInterrupt/SystemExit in a worker
                raise exc
            res = self._sync_tool_failed(tool, exc, args, modern, ctx, digest)
            return (await res) if asyncio.iscoroutine(res) else res
        return self._tool_result(tool, value, modern)

    def _sync_tool_failed(self, tool: Tool, exc: Exception, args: dict[str, Any], modern: bool,
                          ctx: Context | None, digest: str | None) -> Any:
        if isinstance(exc, McpError):  # the client answered a server->client request with an error
            return self._tool_error(tool, exc, modern)
        if isinstance(exc, JSONRPCError):
            tool.errors += 1
            raise exc
        if isinstance(exc, InputRequired):
            return self._input_required(exc, ctx, digest, lambda: self._run_tool(tool, args, modern, ctx, digest))
        return self._tool_error(tool, exc, modern)

    async def _tool_async(self, tool: Tool, args: dict[str, Any], coro: Any, modern: bool, ctx: Context | None,
                          digest: str | None) -> Any:
        try:
            value = await self.runner.run_async(tool, coro)
        except McpError as exc:  # the client answered a server->client request with an error
            return self._tool_error(tool, exc, modern)
        except JSONRPCError:
            tool.errors += 1
            raise
        except InputRequired as exc:
            res = self._input_required(exc, ctx, digest, lambda: self._run_tool(tool, args, modern, ctx, digest))
            return (await res) if asyncio.iscoroutine(res) else res
        except Exception as exc:  # noqa: BLE001
            return self._tool_error(tool, exc, modern)
        return self._tool_result(tool, value, modern)

    def _tool_error(self, tool: Tool, exc: Exception, modern: bool) -> dict[str, Any]:
        tool.errors += 1
        if isinstance(exc, ToolError):
            text = str(exc)  # meant for the client, sent as it is
            log.info("tool %r failed: %r", tool.name, text, extra=log_extra(tool.name))
        elif isinstance(exc, McpError) or _sdk_anticipated(exc):
            # the client's answer to a server->client request, or the official SDK's ToolError /
            # ResourceError (a server written for the SDK): an anticipated failure, its text
            # given after the prefix the SDK uses
            text = f"Error executing tool {tool.name}: {exc}"
            log.info("tool %r failed: %r", tool.name, text, extra=log_extra(tool.name))
        else:
            # a crash: its text may hold internals (paths, SQL, secrets), so it stays in the
            # server's log with the traceback and the client gets the SDK's bare message
            log.error("tool %r raised an unexpected exception", tool.name, exc_info=exc, extra=log_extra(tool.name))
            text = f"Error executing tool {tool.name}"
        res: dict[str, Any] = {"content": [_text(text)], "isError": True}
        if modern:
            res["resultType"] = "complete"
            res["_meta"] = self._meta
        return res

    def _tool_result(self, tool: Tool, value: Any, modern: bool) -> Any:
        t = type(value)
        if t is str and tool.text:  # the common case first
            res: dict[str, Any] = {"content": [{"type": "text", "text": value}]}
            if tool.wrap:
                res["structuredContent"] = {"result": value}
        elif tool.convert is not None or t is ToolResult:
            res = tool.convert(value) if tool.convert is not None else value
            if not modern:
                return res
            own = res.get("_meta")
            res = {**res, "resultType": "complete", "_meta": {**own, **self._meta} if own else self._meta}
            return res
        elif tool.output_schema is not None:
            res = {"content": [_text(_dumps(value).decode())], "structuredContent": value}
        elif t is str:
            res = {"content": [_text(value)]}
        elif t is int:
            res = {"content": [{"type": "text", "text": str(value)}]}  # same text as JSON, faster
        elif value is None:
            res = {"content": []}
        elif t is list and value and all(type(b) is dict and "type" in b for b in value):
            res = {"content": value}
        else:
            res = {"content": [_text(_dumps(value).decode())]}
        if modern:
            res["resultType"] = "complete"
            res["_meta"] = self._meta
        return res

    # ================================================================== generic handler call

    def _invoke(self, entry: Any, kwargs: dict[str, Any], finish: Callable[[Any], Any],
                ctx: Context | None, digest: str | None) -> Any:
        if not entry.var_kw and not kwargs.keys() <= entry.params:
            kwargs = {k: v for k, v in kwargs.items() if k in entry.params}
        if entry.is_async:
            return self._start(self._invoke_async(entry, kwargs, finish, ctx, digest))
        try:
            value = entry.fn(**kwargs)
        except InputRequired as exc:
            return self._input_required(exc, ctx, digest, lambda: self._invoke(entry, kwargs, finish, ctx, digest))
        return finish(value)

    async def _invoke_async(self, entry: Any, kwargs: dict[str, Any], finish: Callable[[Any], Any],
                            ctx: Context | None, digest: str | None) -> Any:
        try:
            value = await entry.fn(**kwargs)
        except InputRequired as exc:
            res = self._input_required(exc, ctx, digest, lambda: self._invoke(entry, kwargs, finish, ctx, digest))
            return (await res) if asyncio.iscoroutine(res) else res
        return finish(value)

    def _prepare(self, entry: Any, kwargs: dict[str, Any], method: str, key: str, peer: Any, request: Request,
                 params: dict[str, Any], session: Any, meta: Any) -> tuple[dict[str, Any], Context | None, str | None]:
        ctx = None
        digest = None
        if session is None and ("requestState" in params or entry.context_kwarg is not None):
            digest = request_digest(method, key)
        if entry.context_kwarg is not None:
            ctx = self._context(peer, request, params, session, meta, digest)
            kwargs[entry.context_kwarg] = ctx
        elif digest is not None:
            self._restore(None, params, digest)
        return kwargs, ctx, digest

    # ================================================================== resources

    def _handle_resources_read(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        uri = self._uri(params)
        entry: Any = self._resources.get(uri)
        if entry is not None:
            kwargs: dict[str, Any] = {}
        else:
            for entry in self._templates.values():
                kwargs = entry.template.match(uri)
                if kwargs is not None:
                    break
            else:
                if session is None:  # 2026-07-28: -32602 with data.uri (SEP-2164)
                    raise InvalidParams(f"Resource not found: {uri}", {"uri": uri})
                raise JSONRPCError(f"Resource not found: {uri}", {"uri": uri}, code=RESOURCE_NOT_FOUND)
        kwargs, ctx, digest = self._prepare(entry, kwargs, "resources/read", uri, peer, request, params, session, meta)
        modern = session is None
        mime = entry.mime_type
        ttl, scope = self.cache_hints.get("resources/read", (self.resource_ttl_ms, self.cache_scope))
        if entry.ttl_ms is not None:
            ttl = entry.ttl_ms

        def finish(value: Any) -> Any:
            if type(value) is list:
                contents = [_contents(uri, mime, v) for v in value]
            else:
                contents = [_contents(uri, mime, value)]
            res: dict[str, Any] = {"contents": contents}
            if modern:
                res["resultType"] = "complete"
                res["ttlMs"] = ttl
                res["cacheScope"] = scope
                res["_meta"] = self._meta
            return res

        return self._invoke(entry, kwargs, finish, ctx, digest)

    # ================================================================== prompts

    def _handle_prompts_get(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        name = params.get("name")
        prompt = self._prompts.get(name) if type(name) is str else None
        if prompt is None:
            raise InvalidParams(f"Unknown prompt: {name!r}", {"name": name} if type(name) is str else None)
        args = params.get("arguments")
        if args is None:
            args = {}
        elif type(args) is not dict:
            raise InvalidParams("Expected an object at params.arguments")
        for req_name in prompt.required:
            if req_name not in args:
                raise InvalidParams(f"Missing required argument {req_name!r} of prompt {name!r}"
                                    " - at params.arguments", {"argument": req_name})
        kwargs, ctx, digest = self._prepare(prompt, dict(args), "prompts/get", prompt.name, peer, request, params, session, meta)
        modern = session is None
        description = prompt.entry.get("description")

        def finish(value: Any) -> Any:
            if type(value) is dict and "messages" in value:
                res = dict(value)
            else:
                if type(value) is str:
                    value = [value]
                msgs = [{"role": "user", "content": _text(m)} if type(m) is str else m for m in value]
                res = {"messages": msgs}
                if description is not None:
                    res["description"] = description
            if modern:
                res["resultType"] = "complete"
                res["_meta"] = self._meta
            return res

        return self._invoke(prompt, kwargs, finish, ctx, digest)

    # ================================================================== completion

    def _handle_complete(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        fn = self._completion
        if fn is None:
            raise MethodNotFound("Method not found: completion/complete (the server has no completions capability)")
        ref = params.get("ref")
        argument = params.get("argument")
        if type(ref) is not dict or ref.get("type") not in ("ref/prompt", "ref/resource"):
            raise InvalidParams('Expected {"type": "ref/prompt" | "ref/resource", ...} at params.ref')
        if type(argument) is not dict or type(argument.get("name")) is not str:
            raise InvalidParams('Expected {"name": str, "value": str} at params.argument')
        context = params.get("context")
        ctx_args = context.get("arguments") if type(context) is dict else None
        modern = session is None

        def finish(value: Any) -> Any:
            if value is None:
                completion: dict[str, Any] = {"values": []}
            elif type(value) is dict:
                completion = value
            else:
                values = list(value)
                completion = {"values": values[:100]}
                if len(values) > 100:
                    completion["total"] = len(values)
                    completion["hasMore"] = True
            res: dict[str, Any] = {"completion": completion}
            if modern:
                res["resultType"] = "complete"
                res["_meta"] = self._meta
            return res

        value = fn(ref, argument, ctx_args)
        if asyncio.iscoroutine(value):
            return self._await_then(value, finish)
        return finish(value)

    async def _await_then(self, coro: Any, finish: Callable[[Any], Any]) -> Any:
        return finish(await coro)

    # ================================================================== subscriptions (modern)

    def _handle_listen(self, peer: Any, request: Request, params: dict[str, Any], session: Any, meta: Any) -> Any:
        wanted = params.get("notifications")
        if type(wanted) is not dict:
            raise InvalidParams("Expected an object at params.notifications")
        caps = self.capabilities()
        honoured: dict[str, Any] = {}
        if wanted.get("toolsListChanged") is True and "tools" in caps:
            honoured["toolsListChanged"] = True
        if wanted.get("promptsListChanged") is True and "prompts" in caps:
            honoured["promptsListChanged"] = True
        if wanted.get("resourcesListChanged") is True and "resources" in caps:
            honoured["resourcesListChanged"] = True
        uris = wanted.get("resourceSubscriptions")
        if type(uris) is list and "resources" in caps:
            honoured["resourceSubscriptions"] = [u for u in uris if type(u) is str]
        task_ids = wanted.get("taskIds")
        if task_ids is not None:
            self._gate(meta, "subscriptions/listen with notifications.taskIds")
            if type(task_ids) is not list:
                raise InvalidParams("Expected an array at params.notifications.taskIds")
            honoured["taskIds"] = [t for t in task_ids if type(t) is str]
        key = (peer, request.id)
        lst = _Listener(peer, request.id, honoured)
        self._listeners[key] = lst
        peer.notify("notifications/subscriptions/acknowledged",
                    {"notifications": honoured, "_meta": {SUBSCRIPTION_ID_KEY: request.id}})
        return self._listen(key, lst)

    async def _listen(self, key: tuple[Any, Any], lst: _Listener) -> Any:
        # In flight until the client cancels (notifications/cancelled: no answer, MCP
        # cancellation), the connection goes, or close_listeners() ends it gracefully.
        lst.done = lst.peer.loop.create_future()
        try:
            await lst.done
        finally:
            if self._listeners.get(key) is lst:
                del self._listeners[key]
        return {"resultType": "complete", "_meta": {SUBSCRIPTION_ID_KEY: lst.id, **self._meta}}


def _contents(uri: str, mime: str | None, value: Any) -> dict[str, Any]:
    """One ``TextResourceContents``/``BlobResourceContents`` from a handler's value."""
    t = type(value)
    if t is str:
        c: dict[str, Any] = {"uri": uri, "text": value}
    elif t is bytes or t is bytearray or t is memoryview:
        c = {"uri": uri, "blob": base64.b64encode(value).decode("ascii")}
    elif t is dict:
        if "uri" in value:
            return value  # type: ignore[no-any-return]
        return {"uri": uri, **value}
    else:
        raise TypeError(f"a resource handler returned {t.__name__}; expected str, bytes, dict or a list of them")
    if mime is not None:
        c["mimeType"] = mime
    return c


#: the official SDK's anticipated-failure exceptions (``mcp.server.mcpserver.exceptions``),
#: recognised by name so the SDK is never imported
_SDK_ANTICIPATED = frozenset({"ToolError", "ResourceError"})


def _sdk_anticipated(exc: BaseException) -> bool:
    """Whether ``exc`` is the SDK's ``ToolError``/``ResourceError`` (or a subclass) but not its
    ``UnexpectedToolError`` (a wrapped crash)."""
    mro = type(exc).__mro__
    return any(c.__name__ in _SDK_ANTICIPATED and c.__module__.startswith("mcp.server.") for c in mro) \
        and not any(c.__name__ == "UnexpectedToolError" for c in mro)
