"""``mcpfast.Client``: the MCP client, a drop-in for the official SDK's ``mcp.Client`` (2.x).

::

    from mcpfast import Client, StdioServerParameters

    async with Client("tcp://127.0.0.1:8765") as client:          # or http(s)://, ws(s)://
        tools = await client.list_tools()
        result = await client.call_tool("echo", {"message": "hi"})
        print(result.content[0].text, result.is_error)

The target is an ``MCPServer``/``ServerCore`` (served in this process through the real wire
codec), a URL (the transport is picked by scheme: ``mcpfast.client.transport``), a
``StdioServerParameters`` (a subprocess over stdio), or any ``ClientTransport``.

Era (``mode``): ``"auto"`` (default) probes ``server/discover`` and falls back to the
``initialize`` handshake; ``"legacy"`` forces the handshake; ``"2026-07-28"`` pins the stateless
era without a probe (``prior_discover`` supplies what a probe would have told); a handshake
version (``"2025-06-18"``) pins the handshake at that version. Modern requests carry the ``_meta``
envelope; input-required results are answered by the callbacks and retried (at most
``input_required_max_rounds`` rounds); a -32022 answer is retried once with a version both sides
speak; cacheable results are kept for their ``ttlMs`` (``cache=``).

Results are lightweight objects with the SDK's attribute names over the decoded JSON
(``mcpfast.client.results``); an error response raises ``MCPError`` (``.error.code``,
``.error.message``), as a lost connection or a timeout does. Callbacks have the SDK's
signatures: ``sampling_callback(context, params)``, ``elicitation_callback(context, params)``,
``list_roots_callback(context)``, ``logging_callback(params)``, ``message_handler(message)``
(a notification object, or an exception for a malformed server message), and may return the
SDK's pydantic results, ``mcpfast`` result objects or plain dicts (an ``ErrorData`` answers with
that error).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Sequence
from time import perf_counter_ns as _now
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .. import tracing as _tracing
from ..errors import (
    CONNECTION_CLOSED,
    HEADER_MISMATCH,
    UNSUPPORTED_PROTOCOL_VERSION,
    ConnectionClosed,
    JSONRPCError,
    MCPError,
)
from ..peer import JSONRPCPeer
from ..tracing import PROVIDER_KEY as _TRACER_PROVIDER
from ..types import (
    HANDSHAKE_PROTOCOL_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    MODERN_PROTOCOL_VERSIONS,
    SUBSCRIPTION_ID_KEY,
    SUBSCRIPTIONS_ACKNOWLEDGED,
    TASKS_EXTENSION,
)
from .cache import CacheConfig, ResponseCache
from .results import (
    CallToolResult,
    CompleteResult,
    CreateMessageRequestParams,
    ElicitRequestParams,
    EmptyResult,
    GetPromptResult,
    Implementation,
    ListPromptsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ListToolsResult,
    LoggingMessageNotificationParams,
    MCPModel,
    ReadResourceResult,
    ServerCapabilities,
    notification_of,
)
from .session import DEFAULT_MAX_INPUT_ROUNDS, ClientHandlers, ClientSession, await_all, maybe_await
from .transport import ClientTransport, transport_for

# Loaded on first use, not with ``from mcpfast import Client``: metrics (and its compiled
# counters) when a ClientMetrics is given; ``.subscriptions`` (listen streams) and ``.tasks``
# (the Tasks extension) when a program listens or a server makes a call a task. A plain
# ``call_tool`` needs neither, and they are a third of the client's import time
# (``tests/client/test_import_cost.py`` holds that).
if TYPE_CHECKING:
    from ..metrics import ClientMetrics
    from .subscriptions import ListenNotSupportedError, Subscription, SubscriptionLost
    from .tasks import ExperimentalClientFeatures, StatusCallback, TaskListen, TaskRegistry, ToolTask

#: names this module offers that live in ``.subscriptions`` (loaded on first access)
_LAZY = frozenset({"Subscription", "ListenNotSupportedError", "SubscriptionLost"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import subscriptions

        value = getattr(subscriptions, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["Client", "ClientRequestContext", "Subscription", "ListenNotSupportedError", "SubscriptionLost"]

log = logging.getLogger("mcpfast.client")


def _log_late_cancel(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("could not cancel the task of an abandoned call: %s", fut.exception())


_CALL_TOOL = "tools/call"

_DEFAULT_CACHE: Any = object()
#: pages of ``tools/list`` fetched at most after a ``HeaderMismatch``
RELIST_PAGE_CAP = 100


class ClientRequestContext:
    """What a callback gets with a server request: the ``session``, the ``request_id`` (the
    JSON-RPC id, or the input request's key at 2026-07-28) and the request's ``meta``."""

    __slots__ = ("session", "request_id", "meta")

    def __init__(self, session: ClientSession, request_id: Any, meta: Any) -> None:
        self.session = session
        self.request_id = request_id
        self.meta = meta


def _as_result(value: Any) -> Any:
    """A callback's answer as the JSON result: an ``ErrorData`` raises that error."""
    if type(value) is dict or value is None:
        return value if value is not None else {}
    if type(value).__name__ == "ErrorData" and hasattr(value, "code") and hasattr(value, "message"):
        raise JSONRPCError(value.message, getattr(value, "data", None), code=value.code)
    if isinstance(value, MCPModel):
        return value.raw
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(by_alias=True, exclude_none=True, mode="json")
    return value


def _convert(exc: BaseException) -> BaseException:
    """What the client raises for a failed request: ``MCPError`` for an error response, a
    timeout and a lost connection (the SDK's behaviour); anything else unchanged."""
    if isinstance(exc, JSONRPCError):
        return MCPError.from_error(exc)
    if isinstance(exc, ConnectionClosed):
        return MCPError(CONNECTION_CLOSED, f"Connection closed: {exc}")
    return exc


class _Handlers(ClientHandlers):
    """The dispatcher of ``Client``: the SDK-shaped callbacks, listen streams, cache eviction."""

    def __init__(self, client: Client) -> None:
        super().__init__(keep_notifications=0)
        self.client = client
        self.listeners: dict[Any, Subscription | TaskListen] = {}
        self._reports: set[asyncio.Task[Any]] = set()

    def _reported(self, task: asyncio.Task[Any]) -> None:
        self._reports.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("message_handler failed on a malformed message", exc_info=task.exception())

    def capabilities(self) -> dict[str, Any]:
        c = self.client
        caps: dict[str, Any] = {}
        if c.sampling_callback is not None:
            caps["sampling"] = _as_result(c.sampling_capabilities) if c.sampling_capabilities is not None else {}
        if c.elicitation_callback is not None:
            caps["elicitation"] = {"form": {}, "url": {}}
        if c.list_roots_callback is not None:
            caps["roots"] = {"listChanged": True}
        if c.extensions:
            caps["extensions"] = {ext.identifier: _as_result(ext.settings()) for ext in c.extensions}
        if c.tasks:  # the Tasks extension: call_tool finishes server-created tasks (mcpfast.client.tasks)
            caps.setdefault("extensions", {}).setdefault(TASKS_EXTENSION, {})
        return caps

    async def answer(self, method: str, params: dict[str, Any]) -> Any:
        c = self.client
        session = c.session
        ctx = ClientRequestContext(session, None, params.get("_meta"))
        if method == "ping":
            return {}
        # an answer about a 2025-11-25 task names it as the request did (tag_related)
        if method == "sampling/createMessage" and c.sampling_callback is not None:
            from .tasks import tag_related

            return tag_related(params, _as_result(
                await maybe_await(c.sampling_callback(ctx, CreateMessageRequestParams(params)))))
        if method == "elicitation/create" and c.elicitation_callback is not None:
            from .tasks import tag_related

            return tag_related(params, _as_result(
                await maybe_await(c.elicitation_callback(ctx, ElicitRequestParams(params)))))
        if method == "roots/list" and c.list_roots_callback is not None:
            from .tasks import tag_related

            return tag_related(params, _as_result(await maybe_await(c.list_roots_callback(ctx))))
        return await super().answer(method, params)  # MethodNotFound

    def handle_notification(self, peer: JSONRPCPeer, notification: Any) -> Any:
        method = notification.method
        params = notification.params
        c = self.client
        if method == "notifications/progress" and type(params) is dict:
            peer.on_progress(params)
            if c.message_handler is None:
                return None
        if self.listeners and type(params) is dict:
            meta = params.get("_meta")
            sub = self.listeners.get(meta.get(SUBSCRIPTION_ID_KEY)) if type(meta) is dict else None
            if sub is not None:
                sub.deliver(method, params)
                if method == SUBSCRIPTIONS_ACKNOWLEDGED:
                    return None  # consumed by its stream
        if c.cache_store is not None:
            c.cache_store.evict_for(method, params)
        if method == "notifications/tasks/status":  # 2025-11-25: to the task's open handle
            c.task_registry.deliver(params)
        if method == "notifications/cancelled":
            # the server's teardown of a listen stream (not a graceful close); otherwise not surfaced, as the SDK
            rid = params.get("requestId") if type(params) is dict else None
            sub = self.listeners.get(rid) if rid is not None else None
            if sub is not None:
                sub.end()
                peer.fail_request(rid, MCPError(CONNECTION_CLOSED, "the server cancelled the listen stream"))
            return None
        waits: list[Any] = []
        if method == "notifications/message" and c.logging_callback is not None and type(params) is dict:
            waits.append(c.logging_callback(LoggingMessageNotificationParams(params)))
        if c.message_handler is not None:
            waits.append(c.message_handler(notification_of(method, params)))
        pending = [w for w in waits if inspect.isawaitable(w)]
        return await_all(pending) if pending else None

    def on_close(self, peer: JSONRPCPeer, exc: BaseException | None) -> None:
        for sub in list(self.listeners.values()):
            sub.lost(exc)

    def malformed(self, peer: JSONRPCPeer, err: JSONRPCError) -> bool:
        """A server message that did not decode: fail the call it answers (if its id names one)
        and tell ``message_handler`` (as the SDK does), never hang. A server request that was
        malformed still gets its error response (False)."""
        rid = err.id
        failure = MCPError(err.code, f"Malformed message from the server: {err.message}", err.data, id=rid)
        log.warning("malformed message from the server: %s", err.message)
        handler = self.client.message_handler
        if handler is not None:
            try:
                res = handler(failure)
                if inspect.isawaitable(res):
                    task = peer.loop.create_task(await_all([res]))
                    self._reports.add(task)  # the loop holds tasks weakly
                    task.add_done_callback(self._reported)
            except Exception:  # noqa: BLE001 - a handler's failure must not stop the reader
                log.exception("message_handler failed on a malformed message")
        if rid is None:
            return True
        return peer.fail_request(rid, failure) or not isinstance(rid, (str, int))


class Client:
    """An MCP client (see the module docstring). One connection per ``async with``."""

    def __init__(
        self,
        server: Any,
        *,
        raise_exceptions: bool = False,
        read_timeout_seconds: float | None = None,
        sampling_callback: Callable[..., Any] | None = None,
        sampling_capabilities: Any = None,
        list_roots_callback: Callable[..., Any] | None = None,
        logging_callback: Callable[..., Any] | None = None,
        log_level: str | None = None,
        message_handler: Callable[..., Any] | None = None,
        client_info: Any = None,
        mode: str = "auto",
        prior_discover: Any = None,
        elicitation_callback: Callable[..., Any] | None = None,
        input_required_max_rounds: int = DEFAULT_MAX_INPUT_ROUNDS,
        extensions: Sequence[Any] | None = None,
        cache: CacheConfig | None | Any = _DEFAULT_CACHE,
        transport_options: dict[str, Any] | None = None,
        max_in_flight: int | None = None,
        metrics: ClientMetrics | None = None,
        tasks: bool = True,
    ) -> None:
        if mode not in ("auto", "legacy") and mode not in MODERN_PROTOCOL_VERSIONS \
                and mode not in HANDSHAKE_PROTOCOL_VERSIONS:
            known = ", ".join((*MODERN_PROTOCOL_VERSIONS, *HANDSHAKE_PROTOCOL_VERSIONS))
            raise ValueError(f"mode must be 'auto', 'legacy' or a protocol version ({known}); got {mode!r}")
        if isinstance(extensions, dict):
            raise TypeError("extensions= takes a sequence of extension objects (identifier, settings())")
        if input_required_max_rounds < 0:
            raise ValueError("input_required_max_rounds must be >= 0")
        #: the target: a server object, a URL, ``StdioServerParameters`` or a ``ClientTransport``
        self.server = server
        self.raise_exceptions = raise_exceptions
        self.read_timeout_seconds = read_timeout_seconds
        self.sampling_callback = sampling_callback
        self.sampling_capabilities = sampling_capabilities
        self.list_roots_callback = list_roots_callback
        self.logging_callback = logging_callback
        self.log_level = log_level
        self.message_handler = message_handler
        self.client_info = client_info
        self.mode = mode
        self.prior_discover = prior_discover
        self.elicitation_callback = elicitation_callback
        self.input_required_max_rounds = input_required_max_rounds
        self.extensions = list(extensions or ())
        for ext in self.extensions:
            if not getattr(ext, "identifier", None):
                raise ValueError(f"{type(ext).__name__} has no `identifier`: a client extension needs one")
        if cache is _DEFAULT_CACHE or cache is True:
            cache = CacheConfig()
        self.cache: CacheConfig | None = cache if isinstance(cache, CacheConfig) else (
            CacheConfig(default_ttl_ms=getattr(cache, "default_ttl_ms", 0)) if cache else None)
        #: the response cache (None when ``cache=None``)
        self.cache_store: ResponseCache | None = ResponseCache(self.cache) if self.cache is not None else None
        self.transport_options = dict(transport_options or {})
        self.max_in_flight = max_in_flight
        #: where requests and sessions are timed (``mcp_client_operation_duration_seconds``,
        #: ``mcp_client_session_duration_seconds``); None: nothing is recorded, nothing read
        self.metrics = metrics
        #: declare the Tasks extension (2026-07-28) so a server may run a call as a task;
        #: ``call_tool`` then waits for the task transparently (``mcpfast.client.tasks``)
        self.tasks = tasks
        self._task_registry: TaskRegistry | None = None
        self._experimental: ExperimentalClientFeatures | None = None
        # when the connection's session opened (the clock of ``ClientMetrics``)
        self._opened_ns = 0
        self._transport: ClientTransport | None = None
        self._session: ClientSession | None = None
        self._handlers = _Handlers(self)
        self._entered = False

    # ------------------------------------------------------------------ connection

    @classmethod
    async def connect(cls, server: Any, **kw: Any) -> Client:
        """Connect now and return the connected client (end it with ``await client.close()``)."""
        client = cls(server, **kw)
        await client.__aenter__()
        return client

    async def close(self) -> None:
        """End the connection (what leaving ``async with`` does); idempotent."""
        if self._entered:
            await self.__aexit__(None, None, None)

    def _make_transport(self) -> ClientTransport:
        target = self.server
        if isinstance(target, ClientTransport):
            return target
        if isinstance(target, str):
            return transport_for(target, **self.transport_options)
        from .stdio import StdioServerParameters, StdioTransport

        if isinstance(target, StdioServerParameters) or type(target).__name__ == "StdioServerParameters":
            params = target if isinstance(target, StdioServerParameters) else StdioServerParameters(
                target.command, target.args, target.env, target.cwd)
            return StdioTransport(params, **self.transport_options)
        from .memory import InProcessTransport, is_server

        if is_server(target):
            return InProcessTransport(target, **self.transport_options)
        raise TypeError(
            f"Client() cannot connect to a {type(target).__name__}: pass an MCPServer or ServerCore, a URL,"
            " a StdioServerParameters or a ClientTransport")

    async def __aenter__(self) -> Client:
        if self._entered:
            raise RuntimeError("Client is already entered; cannot reenter")
        self._entered = True
        try:
            await self._open()
        except BaseException as exc:
            self._entered = False
            transport, self._transport = self._transport, None
            if transport is not None:
                await transport.close()
            converted = _convert(exc)
            if converted is exc:
                raise
            raise converted from exc
        return self

    async def _open(self) -> None:
        self._opened_ns = _now()
        transport = self._transport = self._make_transport()
        peer = await transport.connect(self._handlers, max_in_flight=self.max_in_flight)
        handlers = self._handlers
        peer.on_malformed = lambda err: handlers.malformed(peer, err)
        info = _as_result(self.client_info) if self.client_info is not None else None
        mode = self.mode
        version = LATEST_HANDSHAKE_VERSION if mode == "legacy" else mode
        session = ClientSession(peer, handlers, protocol_version=version, client_info=info,
                                read_timeout=self.read_timeout_seconds, log_level=self.log_level,
                                max_input_rounds=self.input_required_max_rounds)
        self._session = session
        if mode in MODERN_PROTOCOL_VERSIONS:
            prior = self.prior_discover
            session.adopt(_as_result(prior) if prior is not None else None)
        else:
            await session.start()

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        transport, self._transport = self._transport, None
        session, self._session = self._session, None
        self._entered = False
        m = self.metrics
        if m is not None and session is not None and not session.modern:  # a legacy session ends (2026-07-28 has none)
            m.session_closed(self._opened_ns, session.peer.network_transport, session.protocol_version or "")
        if self.cache_store is not None:
            self.cache_store.clear()
        if transport is not None:
            await transport.close()

    # ------------------------------------------------------------------ state

    @property
    def session(self) -> ClientSession:
        """The ``ClientSession`` (RuntimeError outside ``async with``)."""
        s = self._session
        if s is None:
            raise RuntimeError("Client must be used within an async context manager")
        return s

    @property
    def task_registry(self) -> TaskRegistry:
        """The open ``ToolTask`` handles (status notifications) and abandoned-task cancels;
        made (and ``mcpfast.client.tasks`` loaded) on first use."""
        reg = self._task_registry
        if reg is None:
            from .tasks import TaskRegistry

            reg = self._task_registry = TaskRegistry()
        return reg

    @property
    def transport(self) -> ClientTransport | None:
        """The transport of the open connection (None when not connected)."""
        return self._transport

    @property
    def protocol_version(self) -> str:
        """The protocol version in use (negotiated or pinned)."""
        return self.session.protocol_version  # type: ignore[return-value]

    @property
    def server_info(self) -> Implementation | None:
        """The server's name and version, or None when it did not say (2026-07-28 may not)."""
        info = self.session.server_info
        return Implementation(info) if info is not None else None

    @property
    def server_capabilities(self) -> ServerCapabilities:
        return ServerCapabilities(self.session.server_capabilities)

    @property
    def instructions(self) -> str | None:
        return self.session.instructions

    def __repr__(self) -> str:
        s = self._session
        state = f"connected at {s.protocol_version}" if s is not None else "not connected"
        return f"<mcpfast.Client {state} to {self.server!r}>"

    # ------------------------------------------------------------------ requests

    async def _request(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        session = self.session
        m = self.metrics
        t0 = _now() if m is not None else 0
        try:
            res = await session.request(method, params, **kw)
        except (JSONRPCError, ConnectionClosed) as exc:
            if m is not None:
                self._observe(m, session, t0, method, "", m.error_type(exc))
            raise _convert(exc) from None
        except BaseException as exc:
            if m is not None:
                self._observe(m, session, t0, method, "", m.error_type(exc))
            raise
        if m is not None:
            self._observe(m, session, t0, method, "", "")
        return res

    async def request(self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None,
                      meta: dict[str, Any] | None = None) -> Any:
        """Any request by method name; its decoded JSON result. The envelope (2026-07-28),
        ``read_timeout_seconds`` (unless ``timeout``), the metrics and the error mapping
        (``MCPError``) of the typed methods apply (``tasks/*`` go through here)."""
        return await self._request(method, params, timeout=timeout, meta=meta)

    def _cancel_late_task(self, res: Any) -> None:
        """The late answer to a ``tools/call`` this client gave up on (``abandon_request``'s
        ``late``): when the server had made it a task (2026-07-28), nobody will wait for that
        task, so it is cancelled rather than left running until its TTL."""
        if type(res) is dict and res.get("resultType") == "task" and type(res.get("taskId")) is str \
                and self._session is not None:
            from .tasks import task_request

            cancel = asyncio.ensure_future(task_request(self, "tasks/cancel", {"taskId": res["taskId"]}))
            cancel.add_done_callback(_log_late_cancel)

    @classmethod
    def _observe_call(cls, m: ClientMetrics, session: ClientSession, t0: int, name: str, res: Any) -> None:
        """Record a ``tools/call`` that got an answer: a result with ``isError`` counts as a tool error."""
        from ..metrics import TOOL_ERROR  # loaded only with a ClientMetrics (see the imports)

        cls._observe(m, session, t0, _CALL_TOOL, name,
                     TOOL_ERROR if type(res) is dict and res.get("isError") is True else "")

    @staticmethod
    def _observe(m: ClientMetrics, session: ClientSession, t0: int, method: str, tool: str, error_type: str) -> None:
        """Record one request sent at ``t0`` and answered (or failed) now."""
        m.done(t0, method, tool=tool, error_type=error_type, transport=session.peer.network_transport,
               version=session.protocol_version or "")

    async def call_tool(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        read_timeout_seconds: float | None = None,
        progress_callback: Callable[[float, float | None, str | None], Any] | None = None,
        *,
        input_responses: dict[str, Any] | None = None,
        request_state: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> CallToolResult:
        """``tools/call``. A tool's failure (bad arguments included) comes back as a result with
        ``is_error`` set, an error response raises ``MCPError`` -- for an unknown tool the SDK's
        server sends the former, mcpfast's the latter (-32602, as the spec lists it). At
        2026-07-28 a ``HeaderMismatch`` (-32020) is answered by listing the tools again and
        sending the call once more (``_resend_after_mismatch``)."""
        session = self._session
        if session is None:
            raise RuntimeError("Client must be used within an async context manager")
        params = {"name": name, "arguments": arguments if arguments is not None else {}}
        m = self.metrics
        t0 = _now() if m is not None else 0
        try:
            if (progress_callback is None and meta is None and input_responses is None
                    and request_state is None and _tracing.watched[_TRACER_PROVIDER] is None):
                # the plain call (untraced: a tracer provider's span is made in session.request)
                # goes straight to the peer; without a timeout the future is awaited here, not
                # through peer.request: one coroutine less per call
                timeout = read_timeout_seconds if read_timeout_seconds is not None else session.read_timeout
                modern = session.modern
                peer = session.peer
                send = {**params, "_meta": session.envelope} if modern else params
                # at 2026-07-28 the answer to a call given up on may be a task the server
                # already started for it: it is cancelled when that answer comes in late
                late = self._cancel_late_task if modern and self.tasks else None
                try:
                    if timeout is None:
                        rid, fut = peer.send_request(_CALL_TOOL, send)
                        try:
                            res = await fut
                        except asyncio.CancelledError:
                            peer.abandon_request(rid, "cancelled by the requester", late=late, fut=fut)
                            raise
                    else:
                        res = await peer.request(_CALL_TOOL, send, timeout=timeout, late=late)
                except JSONRPCError as exc:
                    if not modern or exc.code != UNSUPPORTED_PROTOCOL_VERSION or not session.switch_version(exc):
                        raise
                    res = await session.request(_CALL_TOOL, params, timeout=timeout)  # once more, at that version
                else:
                    if modern and type(res) is dict and res.get("resultType") == "input_required":
                        res = await session.continue_rounds(_CALL_TOOL, params, res, timeout)
            else:
                res = await session.request(_CALL_TOOL, params, timeout=read_timeout_seconds,
                                            progress_callback=progress_callback, meta=meta,
                                            input_responses=input_responses, request_state=request_state)
            if type(res) is dict and res.get("resultType") == "task":  # the server made it a task (2026-07-28)
                from .tasks import finish_call

                res = await finish_call(self, name, res)
        except (JSONRPCError, ConnectionClosed) as exc:
            if isinstance(exc, JSONRPCError) and exc.code == HEADER_MISMATCH and session.modern:
                return await self._resend_after_mismatch(
                    exc, t0, name, params, read_timeout_seconds, progress_callback, input_responses,
                    request_state, meta)
            if self.tasks:
                from .tasks import call_required_task, requires_task

                if requires_task(exc, session):  # 2025-11-25: call it again as a task
                    return CallToolResult(await call_required_task(self, name, arguments, read_timeout_seconds, meta))
            if m is not None:
                self._observe(m, session, t0, _CALL_TOOL, name, m.error_type(exc))
            raise _convert(exc) from None
        except BaseException as exc:
            if m is not None:
                self._observe(m, session, t0, _CALL_TOOL, name, m.error_type(exc))
            raise
        if m is not None:
            self._observe_call(m, session, t0, name, res)
        return CallToolResult(res)

    async def _resend_after_mismatch(
        self, mismatch: JSONRPCError, t0: int, name: str, params: dict[str, Any], read_timeout_seconds: float | None,
        progress_callback: Callable[[float, float | None, str | None], Any] | None,
        input_responses: dict[str, Any] | None, request_state: str | None, meta: dict[str, Any] | None,
    ) -> CallToolResult:
        """A 2026-07-28 ``tools/call`` the server refused with ``HeaderMismatch`` (-32020): the
        ``Mcp-Param-*`` headers came from a missing or stale ``tools/list`` (the transport mirrors
        what the listing declared). As the spec says a client SHOULD, and as the SDK does: list
        the tools again (page by page until ``name`` shows up, within the call's read timeout),
        then send the call once more; a second refusal is raised, and so is the first when the
        listing fails. (A refusal in a later input-required round starts the call over.)"""
        session = self.session
        m = self.metrics
        timeout = read_timeout_seconds if read_timeout_seconds is not None else self.read_timeout_seconds
        try:
            await asyncio.wait_for(self._relist_tool(name), timeout)
        except (JSONRPCError, ConnectionClosed, TimeoutError) as relist_error:
            if m is not None:
                self._observe(m, session, t0, _CALL_TOOL, name, m.error_type(mismatch))
            raise _convert(mismatch) from relist_error
        try:
            res = await session.request(_CALL_TOOL, params, timeout=read_timeout_seconds,
                                        progress_callback=progress_callback, meta=meta,
                                        input_responses=input_responses, request_state=request_state)
            if type(res) is dict and res.get("resultType") == "task":  # the server made it a task
                from .tasks import finish_call

                res = await finish_call(self, name, res)
        except BaseException as exc:
            if m is not None:
                self._observe(m, session, t0, _CALL_TOOL, name, m.error_type(exc))
            if isinstance(exc, (JSONRPCError, ConnectionClosed)):
                raise _convert(exc) from None
            raise
        if m is not None:
            self._observe_call(m, session, t0, name, res)
        return CallToolResult(res)

    async def _relist_tool(self, name: str) -> None:
        """Fetch ``tools/list`` afresh (bypassing the cache), page by page, until a page lists
        ``name`` (at most ``RELIST_PAGE_CAP`` pages: a paginator that never ends cannot hang a call)."""
        cursor: str | None = None
        for _ in range(RELIST_PAGE_CAP):
            page = await self._cached("tools/list", "", _cursor(cursor), cursor, None, "refresh")
            cursor = page.get("nextCursor") if type(page) is dict else None
            if type(cursor) is not str or any(type(t) is dict and t.get("name") == name
                                              for t in page.get("tools") or ()):
                return

    async def _cached(self, method: str, key: str, params: dict[str, Any] | None, cursor: str | None,
                      meta: dict[str, Any] | None, cache_mode: str, **kw: Any) -> Any:
        cache = self.cache_store
        session = self.session
        if cache is None or cache_mode == "bypass" or not session.modern:
            return await self._request(method, params, meta=meta, **kw)
        if cursor is not None:
            return await self._request(method, params, meta=meta, **kw)
        if meta is None and cache_mode == "use":
            hit = cache.get(method, key)
            if hit is not None:
                return hit
        res = await self._request(method, params, meta=meta, **kw)
        cache.put(method, key, res)
        return res

    async def list_tools(self, *, cursor: str | None = None, meta: dict[str, Any] | None = None,
                         cache_mode: str = "use") -> ListToolsResult:
        return ListToolsResult(await self._cached("tools/list", "", _cursor(cursor), cursor, meta, cache_mode))

    async def list_resources(self, *, cursor: str | None = None, meta: dict[str, Any] | None = None,
                             cache_mode: str = "use") -> ListResourcesResult:
        return ListResourcesResult(await self._cached("resources/list", "", _cursor(cursor), cursor, meta, cache_mode))

    async def list_resource_templates(self, *, cursor: str | None = None, meta: dict[str, Any] | None = None,
                                      cache_mode: str = "use") -> ListResourceTemplatesResult:
        return ListResourceTemplatesResult(
            await self._cached("resources/templates/list", "", _cursor(cursor), cursor, meta, cache_mode))

    async def list_prompts(self, *, cursor: str | None = None, meta: dict[str, Any] | None = None,
                           cache_mode: str = "use") -> ListPromptsResult:
        return ListPromptsResult(await self._cached("prompts/list", "", _cursor(cursor), cursor, meta, cache_mode))

    async def read_resource(self, uri: Any, *, input_responses: dict[str, Any] | None = None,
                            request_state: str | None = None, meta: dict[str, Any] | None = None,
                            cache_mode: str = "use") -> ReadResourceResult:
        """``resources/read``; calls seeded with ``input_responses``/``request_state`` are never
        served from or stored in the cache."""
        uri = str(uri)
        params = {"uri": uri}
        if input_responses is not None or request_state is not None:
            return ReadResourceResult(await self._request(
                "resources/read", params, meta=meta, input_responses=input_responses, request_state=request_state))
        return ReadResourceResult(await self._cached("resources/read", uri, params, None, meta, cache_mode))

    async def subscribe_resource(self, uri: Any, *, meta: dict[str, Any] | None = None) -> EmptyResult:
        """``resources/subscribe`` (handshake era; 2026-07-28 uses ``listen``)."""
        return EmptyResult(await self._request("resources/subscribe", {"uri": str(uri)}, meta=meta))

    async def unsubscribe_resource(self, uri: Any, *, meta: dict[str, Any] | None = None) -> EmptyResult:
        return EmptyResult(await self._request("resources/unsubscribe", {"uri": str(uri)}, meta=meta))

    async def get_prompt(self, name: str, arguments: dict[str, str] | None = None, *,
                         input_responses: dict[str, Any] | None = None, request_state: str | None = None,
                         meta: dict[str, Any] | None = None) -> GetPromptResult:
        params: dict[str, Any] = {"name": name}
        if arguments is not None:
            params["arguments"] = arguments
        return GetPromptResult(await self._request("prompts/get", params, meta=meta, input_responses=input_responses,
                                                   request_state=request_state))

    async def complete(self, ref: Any, argument: dict[str, str],
                       context_arguments: dict[str, str] | None = None) -> CompleteResult:
        """``completion/complete``: ``ref`` a prompt or resource-template reference (the SDK's
        model, an mcpfast object or a dict)."""
        params: dict[str, Any] = {"ref": _as_result(ref), "argument": argument}
        if context_arguments is not None:
            params["context"] = {"arguments": context_arguments}
        return CompleteResult(await self._request("completion/complete", params))

    async def send_ping(self, *, meta: dict[str, Any] | None = None) -> EmptyResult:
        """``ping`` (handshake era; 2026-07-28 removed it)."""
        return EmptyResult(await self._request("ping", None, meta=meta))

    async def set_logging_level(self, level: str, *, meta: dict[str, Any] | None = None) -> EmptyResult:
        """Handshake era: ``logging/setLevel``. 2026-07-28 has no such request: the level is
        stamped on every later request's ``_meta`` instead."""
        session = self.session
        if session.modern:
            session.log_level = level
            return EmptyResult({})
        return EmptyResult(await self._request("logging/setLevel", {"level": level}, meta=meta))

    async def send_roots_list_changed(self) -> None:
        """``notifications/roots/list_changed`` (handshake era)."""
        self.session.notify("notifications/roots/list_changed")

    async def send_progress_notification(self, progress_token: str | int, progress: float,
                                         total: float | None = None, message: str | None = None) -> None:
        """``notifications/progress`` to the server (handshake era)."""
        params: dict[str, Any] = {"progressToken": progress_token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        self.session.notify("notifications/progress", params)

    def listen(self, *, tools_list_changed: bool = False, prompts_list_changed: bool = False,
               resources_list_changed: bool = False, resource_subscriptions: Sequence[str] = ()) -> Subscription:
        """A ``subscriptions/listen`` stream of typed change events (2026-07-28), the SDK's
        shape: ``async with client.listen(tools_list_changed=True) as sub: async for event in
        sub: ...``. Entering waits for the server's acknowledgement (``sub.honored``); the events
        are ``ToolsListChanged()``, ``PromptsListChanged()``, ``ResourcesListChanged()`` and
        ``ResourceUpdated(uri)`` (``mcpfast.client.subscriptions``). The loop ends when the
        server closes the stream gracefully; any other end raises ``SubscriptionLost``; leaving
        cancels it. ``ListenNotSupportedError`` before 2026-07-28."""
        filt: dict[str, Any] = {}
        if tools_list_changed:
            filt["toolsListChanged"] = True
        if prompts_list_changed:
            filt["promptsListChanged"] = True
        if resources_list_changed:
            filt["resourcesListChanged"] = True
        from .subscriptions import Subscription, resource_uris

        uris = resource_uris(resource_subscriptions)
        if uris:
            filt["resourceSubscriptions"] = uris
        return Subscription(self, filt)

    # ------------------------------------------------------------------ tasks

    async def start_tool_task(self, name: str, arguments: dict[str, Any] | None = None, *, ttl: int | None = None,
                              read_timeout_seconds: float | None = None, meta: dict[str, Any] | None = None,
                              on_status: StatusCallback | None = None, listen: bool | None = None) -> ToolTask:
        """Call tool ``name`` as a task and return its ``ToolTask`` (``await task.result()``,
        ``task.statuses()``, ``task.cancel()``; ``mcpfast.client.tasks``). 2025-11-25: asks for
        a task (``ttl`` ms requested) when the server supports task-augmented calls; 2026-07-28:
        declares the extension and the server decides. A call the server answers directly gives
        a handle that is already completed (``task_id`` None). ``on_status(task)`` is called on
        each status change; ``listen`` takes ``notifications/tasks`` from a
        ``subscriptions/listen`` stream while waiting (2026-07-28; None: when the server
        declared the extension in ``server/discover``), so the end is seen at once rather
        than at the next ``pollIntervalMs``."""
        from .tasks import start_tool_task

        return await start_tool_task(self, name, arguments, ttl=ttl, read_timeout_seconds=read_timeout_seconds,
                                     meta=meta, on_status=on_status, listen=listen)

    def get_tool_task(self, task_id: str, *, on_status: StatusCallback | None = None,
                      listen: bool | None = None) -> ToolTask:
        """The ``ToolTask`` of a task created earlier (its id kept, say, across a restart)."""
        from .tasks import ToolTask

        return ToolTask.attach(self, task_id, on_status=on_status, listen=listen)

    @property
    def experimental(self) -> ExperimentalClientFeatures:
        """The official SDK's experimental task methods (``call_tool_as_task``, ``get_task``,
        ``get_task_result``, ``list_tasks``, ``cancel_task``, ``poll_task``)."""
        e = self._experimental
        if e is None:
            from .tasks import ExperimentalClientFeatures

            e = self._experimental = ExperimentalClientFeatures(self)
        return e

    def register_listener(self, rid: Any, sub: Subscription | TaskListen) -> None:
        """Route notifications tagged with listen request ``rid`` to ``sub``."""
        self._handlers.listeners[rid] = sub

    def unregister_listener(self, rid: Any) -> None:
        self._handlers.listeners.pop(rid, None)


def _cursor(cursor: str | None) -> dict[str, Any] | None:
    return {"cursor": cursor} if cursor is not None else None
