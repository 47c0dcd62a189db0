"""OpenTelemetry tracing after the MCP semantic conventions, at nil cost when it is off.

A span for every request and notification, on both sides, as the OpenTelemetry GenAI semantic
conventions for MCP (``mcp.md``) say: kind ``CLIENT`` on the side that initiates the message
and ``SERVER`` on the side that handles it, whichever of the two is the MCP server (the
conventions use no ``PRODUCER``/``CONSUMER``, notifications included):

* client -> server requests: ``ClientSession.request`` (``client_call``), the handshake and the
  listen streams (``request``); the server's dispatcher (``trace_request``);
* server -> client requests (sampling, elicitation, roots, asked through ``Context``):
  ``server_request``, a child of the asking handler's span; the client's dispatcher answers
  inside a ``SERVER`` span (``trace_request(..., from_http=False)``), the child of that one;
* notifications: the sender's ``CLIENT`` span starts and ends as it is sent (nothing comes
  back to wait for; ``notify``/``sent_notification`` on the client, ``server_notify``/
  ``server_notification`` on the server); the receiver's dispatcher handles it inside a
  ``SERVER`` span (``trace_notification``). No ``jsonrpc.request.id``. The
  ``notifications/cancelled`` the peer sends by itself on a timeout or a cancel has none:
  the request's own span records the outcome.

The name is ``{mcp.method.name} {target}`` (``tools/call echo``, ``prompts/get
greet``) or the bare method; the attributes are ``mcp.method.name``, ``jsonrpc.request.id``,
``mcp.protocol.version``, ``mcp.session.id`` (HTTP sessions), ``network.transport`` (the
peer's: ``pipe`` for stdio, ``tcp``; none in process; ``tcp`` under HTTP, with
``network.protocol.name`` ``http``),
``gen_ai.tool.name`` + ``gen_ai.operation.name`` ``execute_tool`` (``tools/call``),
``gen_ai.prompt.name`` (``prompts/get``), ``mcp.resource.uri`` (``resources/read``,
``resources/subscribe``, ``resources/unsubscribe``, ``notifications/resources/updated``),
``client.address``/``client.port`` (HTTP),
and on failure ``error.type`` (the JSON-RPC error code as a string, or ``tool_error`` for a
``CallToolResult`` with ``isError``) with ``rpc.response.status_code`` and an ``ERROR`` status.

Context propagation (the conventions' "Context propagation"): the sender (client or server,
request or notification) injects its span's context into ``params._meta`` with the configured
OpenTelemetry propagators (W3C ``traceparent``/``tracestate`` and ``baggage`` by default,
unprefixed as SEP-414 says); the receiver extracts it from ``params._meta`` as the parent of
its span, or, on the server's HTTP front when ``_meta`` carries none, from the HTTP request's headers (when both exist the HTTP one becomes a
link). The server span is the current span while the handler runs: a tool's own spans (and
its outgoing instrumented calls) are its children, in ``async def`` tools, in plain tools run
on the loop and in plain tools run in the ``ToolRunner``'s threads (the runner copies the
context into each call).

Nil cost when off, on every path above. ``opentelemetry`` is never imported here: it is an
optional extra (``pip install 'mcpfast[otel]'``) and its import costs tenths of a second, so a process that
never imported it cannot have set a tracer provider and mcpfast does nothing. When it is
imported, the hot paths read one slot per request, ``watched[PROVIDER_KEY]``: the global
tracer provider slot of ``opentelemetry.trace`` itself (the module's namespace, watched in
place, so a provider set at any later time is seen at the next request with no call and no
polling). It is None until an application sets a provider; only then is a span built. A
provider that builds no spans (``NoOpTracerProvider``) is recognised once and skipped. The slot
is opentelemetry's private name: should a version lack it, ``watched`` asks the public
``get_tracer_provider()`` on every read instead (slower, still right).

The slot is re-bound (``refresh()``) when this module is imported, when a ``ServerCore`` is
made and when a session opens (``initialize``, ``server/discover``), so an ``opentelemetry``
imported after mcpfast is found too; an application that imports it later still (after its
server runs) calls ``refresh()`` once.

``use_tracer_provider(provider)`` makes mcpfast use a provider of its own instead of the global
one (tests, or an application that keeps its providers apart); ``None`` goes back to the
global one.

Each traced path is behind the same one slot read (the dispatchers' ``on_request`` and
``on_notification`` on both sides; the server's and the client's sends): off, a path does
exactly what it did before, with no wrapper (``request``/``server_request`` hand back
``peer.request(...)`` itself) and no ``_meta`` entry.

The client side (``client_call``) is what ``ClientSession.request`` uses; any other client
builds on it the same way (see ``ClientCall``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import types
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from .errors import INTERNAL_ERROR, JSONRPCError
from .requestvars import http_request

if TYPE_CHECKING:
    from opentelemetry.context import Context as OtelContext
    from opentelemetry.propagators.textmap import Getter
    from opentelemetry.trace import Span, Tracer

__all__ = [
    "PROVIDER_KEY",
    "ClientCall",
    "TraceMeta",
    "client_call",
    "notify",
    "refresh",
    "request",
    "sent_notification",
    "server_notification",
    "server_notify",
    "server_request",
    "trace_notification",
    "trace_request",
    "tracer",
    "use_tracer_provider",
    "watched",
    "with_meta",
]

log = logging.getLogger("mcpfast.tracing")

#: the name of the global tracer provider slot in ``opentelemetry.trace``'s namespace
PROVIDER_KEY = "_TRACER_PROVIDER"
#: the instrumentation scope of mcpfast's spans
SCOPE = "mcpfast"

#: ``error.type`` of a ``CallToolResult`` with ``isError: true`` (the conventions' value)
TOOL_ERROR = "tool_error"
#: ``error.type`` of a request whose handler was cancelled (timeout, the requester, shutdown)
CANCELLED = "cancelled"


# what ``watched`` is while opentelemetry is not imported: the slot is always None
_NOT_IMPORTED: dict[str, Any] = {PROVIDER_KEY: None}

#: the mapping whose ``PROVIDER_KEY`` entry the hot paths read: None means "no spans". It is
#: ``opentelemetry.trace``'s own namespace, a stand-in holding None while that module is not
#: imported, or a one-entry dict holding the provider given to ``use_tracer_provider``.
watched: Mapping[str, Any] = _NOT_IMPORTED

_override: Any = None  # the provider given to use_tracer_provider, or None
_cached_provider: Any = None  # the provider _cached_tracer belongs to
_cached_tracer: Tracer | None = None  # None: that provider makes no spans


class _ViaPublicAPI(Mapping[str, Any]):
    """``watched`` for an ``opentelemetry.trace`` whose namespace has no provider slot (a future
    version): the provider asked through the public API on every read (slower, still right)."""

    def __init__(self, otel_trace: Any) -> None:
        self._otel_trace = otel_trace

    def __getitem__(self, key: str) -> Any:
        provider = self._otel_trace.get_tracer_provider()
        return None if isinstance(provider, self._otel_trace.ProxyTracerProvider) else provider

    def __iter__(self) -> Iterator[str]:
        return iter((PROVIDER_KEY,))

    def __len__(self) -> int:
        return 1


def refresh() -> None:
    """Re-bind ``watched``: to the provider given to ``use_tracer_provider``, else to
    ``opentelemetry.trace``'s provider slot if that module is imported (a provider named by
    ``OTEL_PYTHON_TRACER_PROVIDER`` is loaded then, as ``get_tracer_provider()`` does). Cheap
    (one ``sys.modules`` lookup when opentelemetry is not imported); idempotent."""
    global watched
    if _override is not None:
        watched = {PROVIDER_KEY: _override}
        return
    otel_trace = sys.modules.get("opentelemetry.trace")
    if otel_trace is None:
        watched = _NOT_IMPORTED
        return
    namespace = vars(otel_trace)
    if namespace.get(PROVIDER_KEY) is None:
        # sets the slot when OTEL_PYTHON_TRACER_PROVIDER names a provider; else a no-op
        otel_trace.get_tracer_provider()
    watched = namespace if PROVIDER_KEY in namespace else _ViaPublicAPI(otel_trace)


def use_tracer_provider(provider: Any) -> None:
    """Make mcpfast's spans with ``provider`` (an ``opentelemetry.trace.TracerProvider``)
    instead of the global one; ``None`` goes back to the global provider."""
    global _override
    _override = provider
    refresh()


def tracer() -> Tracer | None:
    """The tracer mcpfast's spans come from now, or None when no spans are made (no provider,
    or one that makes none). Cached per provider."""
    global _cached_provider, _cached_tracer
    provider = watched[PROVIDER_KEY]
    if provider is None:
        return None
    if provider is not _cached_provider:
        from opentelemetry import trace as otel_trace

        from . import __version__

        if isinstance(provider, (otel_trace.NoOpTracerProvider, otel_trace.ProxyTracerProvider)):
            found: Tracer | None = None
        else:
            found = provider.get_tracer(SCOPE, __version__)
        _cached_provider, _cached_tracer = provider, found
    return _cached_tracer


# ====================================================================== shared helpers


class _MetaGetter:
    """An OpenTelemetry ``Getter`` over ``params._meta`` (or HTTP headers): only string values
    are read, so a client's odd ``_meta`` cannot break a propagator."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get(key)
        return [value] if type(value) is str else None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [k for k, v in carrier.items() if type(v) is str]


# duck-typed: subclassing the opentelemetry ABC would import opentelemetry with mcpfast
_GETTER = cast("Getter[Any]", _MetaGetter())
_CoroutineType = types.CoroutineType


def _target(method: str, params: Any, attrs: dict[str, Any]) -> str:
    """The span name (``{method} {target}``), filling in the method's own attributes."""
    if type(params) is not dict:
        return method
    if method == "tools/call":
        name = params.get("name")
        if type(name) is str:
            attrs["gen_ai.tool.name"] = name
            attrs["gen_ai.operation.name"] = "execute_tool"
            return f"{method} {name}"
    elif method == "prompts/get":
        name = params.get("name")
        if type(name) is str:
            attrs["gen_ai.prompt.name"] = name
            return f"{method} {name}"
    elif method.startswith("resources/") or method == "notifications/resources/updated":
        uri = params.get("uri")
        if type(uri) is str:
            attrs["mcp.resource.uri"] = uri  # an attribute only: a URI is no low-cardinality name
    return method


def _fail(span: Span, error_type: str, message: str | None, code: int | None = None) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", error_type)
    if code is not None:
        span.set_attribute("rpc.response.status_code", str(code))
    span.set_status(Status(StatusCode.ERROR, message))


def _end_with_result(span: Span, result: Any) -> None:
    if type(result) is dict and result.get("isError") is True:
        _fail(span, TOOL_ERROR, None)
    span.end()


def _end_with_exception(span: Span, exc: BaseException) -> None:
    if isinstance(exc, JSONRPCError):
        _fail(span, str(exc.code), exc.message, exc.code)
    elif isinstance(exc, asyncio.CancelledError):
        _fail(span, CANCELLED, "cancelled")
    else:  # the peer answers -32603 and logs it; the span keeps the exception
        span.record_exception(exc)
        _fail(span, str(INTERNAL_ERROR), type(exc).__qualname__, INTERNAL_ERROR)
    span.end()


# ====================================================================== server side


def trace_request(route: Callable[[Any, Any], Any], peer: Any, request: Any, *, from_http: bool = True) -> Any:
    """Serve ``request`` by ``route(peer, request)`` (the dispatcher's untraced path) inside a
    ``SERVER`` span (see the module docstring). The span is
    current while ``route`` runs and while the handler it started runs, and ends with the
    answer: at once for a value, when a returned coroutine finishes, or when a returned
    future/``Deferred`` is done. Tracing never fails a request: if the span cannot be started
    (a broken propagator, say), the request is served untraced and the failure logged.

    ``from_http``: whether an HTTP request being served (``requestvars.http_request``) is the
    one that carried this message. A client handling a server's request passes False: its
    handler may run inside some other server's HTTP request (a proxy's tool), not its own."""
    return _serve(route, peer, request, request.id, from_http)


def trace_notification(route: Callable[[Any, Any], Any], peer: Any, notification: Any, *,
                       from_http: bool = True) -> Any:
    """Handle a received ``notification`` by ``route(peer, notification)`` inside a ``SERVER``
    span, as ``trace_request`` serves a request: the conventions give the receiver of a
    notification the same span as the receiver of a request (kind ``SERVER``, parent from
    ``params._meta``), without ``jsonrpc.request.id``. The span ends when the handler is done
    (at once, or when the coroutine it returned finishes)."""
    return _serve(route, peer, notification, None, from_http)


def _serve(route: Callable[[Any, Any], Any], peer: Any, message: Any, rid: Any, from_http: bool) -> Any:
    t = tracer()
    if t is None:
        return route(peer, message)
    try:
        span, ctx = _start_server_span(t, peer, message, rid, from_http)
    except Exception:  # noqa: BLE001 - observability must not take the request down
        log.exception("tracing: the span of %s %r could not be started", message.method, rid)
        return route(peer, message)
    from opentelemetry import context as otel_context

    method = message.method
    token = otel_context.attach(ctx)
    try:
        result = route(peer, message)
    except BaseException as exc:
        _end_with_exception(span, exc)
        raise
    finally:
        otel_context.detach(token)
    if method == "initialize":  # the version is the one the answer agreed on
        version = _protocol_version(peer, None)
        if version is not None:
            span.set_attribute("mcp.protocol.version", version)
    rt = type(result)
    if rt is dict or rt is bytes:
        _end_with_result(span, result)
        return result
    if hasattr(result, "add_done_callback"):  # a future or the peer's Deferred
        result.add_done_callback(lambda fut: _end_with_future(span, fut))
        return result
    if rt is _CoroutineType:  # the peer drives it (eagerly, then as a task if it suspends)
        return _traced_coroutine(result, span, ctx)
    _end_with_result(span, result)
    return result


def _extract(carrier: Any) -> OtelContext | None:
    """The context a carrier (``_meta``, HTTP headers) holds, by the configured propagators;
    None when it names no valid remote span."""
    if type(carrier) is not dict or not carrier:
        return None
    from opentelemetry import propagate
    from opentelemetry.trace import get_current_span

    ctx = propagate.extract(carrier, getter=_GETTER)
    return ctx if get_current_span(ctx).get_span_context().is_valid else None


def _start_server_span(t: Tracer, peer: Any, message: Any, rid: Any,
                       from_http: bool) -> tuple[Span, OtelContext]:
    from opentelemetry.trace import Link, SpanKind, get_current_span, set_span_in_context

    method = message.method
    params = message.params
    attrs: dict[str, Any] = {"mcp.method.name": method}
    name = _target(method, params, attrs)
    if rid is not None:
        attrs["jsonrpc.request.id"] = str(rid)
    meta = params.get("_meta") if type(params) is dict else None
    links = None
    parent = _extract(meta)
    http = http_request.get() if from_http else None
    attrs.update(_served_attrs(peer, http, meta))
    if http is not None:
        client = http.client
        if client is not None:
            attrs["client.address"] = client[0]
            attrs["client.port"] = client[1]
        transport_ctx = _extract(http.headers)
        if transport_ctx is not None:
            if parent is None:
                parent = transport_ctx
            else:  # MCP's context is the parent; the transport's is linked (the conventions)
                links = [Link(get_current_span(transport_ctx).get_span_context())]
    span = t.start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attrs, links=links)
    return span, set_span_in_context(span, parent)


def _end_with_future(span: Span, fut: Any) -> None:
    if fut.cancelled():
        _fail(span, CANCELLED, "cancelled")
        span.end()
        return
    exc = fut.exception()
    if exc is not None:
        _end_with_exception(span, exc)
    else:
        _end_with_result(span, fut.result())


async def _traced_coroutine(coro: Awaitable[Any], span: Span, ctx: OtelContext) -> Any:
    from opentelemetry import context as otel_context

    token = otel_context.attach(ctx)
    try:
        result = await coro
    except BaseException as exc:
        _end_with_exception(span, exc)
        raise
    finally:
        otel_context.detach(token)
    _end_with_result(span, result)
    return result


def _protocol_version(peer: Any, meta: Any) -> str | None:
    if type(meta) is dict:
        from .types import PROTOCOL_VERSION_KEY

        version = meta.get(PROTOCOL_VERSION_KEY)
        if type(version) is str:
            return version
    version = getattr(getattr(peer, "state", None), "protocol_version", None)
    return version if type(version) is str else None


# ====================================================================== client side


class TraceMeta(dict[str, Any]):
    """The ``_meta`` entries of a request a client already traced (the injected context, plus
    the caller's own): a client whose ``request()`` re-enters itself, or retries, with it
    does not start a second span. A plain ``dict`` otherwise."""

    __slots__ = ()


class ClientCall:
    """The ``CLIENT`` span of one request a client sends, and the ``_meta`` entries that carry
    its context to the server.

    How a client wires it (``ClientSession.request`` does exactly this)::

        call = tracing.client_call(method, params, protocol_version=..., network_transport=...)
        if call is not None:                   # None: tracing is off, nothing else to do
            meta.update(call.meta)             # traceparent/tracestate/baggage into params._meta
            call.set_request_id(rid)           # the JSON-RPC id, once known
        try:
            result = await send(...)
        except BaseException as exc:
            if call is not None:
                call.fail(exc)                 # McpError -> its code as error.type
            raise
        if call is not None:
            call.end(result)                   # isError -> error.type "tool_error"

    ``run(awaitable)`` does the try/except for the common case.
    """

    __slots__ = ("span", "meta", "method")

    def __init__(self, span: Span, meta: dict[str, str], method: str = "") -> None:
        #: the ``CLIENT`` span (ended by ``end``/``fail``)
        self.span = span
        #: what to add to the request's ``params._meta`` (the injected context)
        self.meta = meta
        #: the request's method (``initialize``'s span records the version its answer agreed on)
        self.method = method

    def set_request_id(self, rid: Any) -> None:
        """Record the request's JSON-RPC id (``jsonrpc.request.id``)."""
        if rid is not None:
            self.span.set_attribute("jsonrpc.request.id", str(rid))

    def set_session(self, session_id: str | None = None, protocol_version: str | None = None) -> None:
        """Record what became known after the span started (an HTTP session id, say)."""
        if session_id is not None:
            self.span.set_attribute("mcp.session.id", session_id)
        if protocol_version is not None:
            self.span.set_attribute("mcp.protocol.version", protocol_version)

    def end(self, result: Any) -> None:
        """The request succeeded with ``result``: end the span (``tool_error`` if ``isError``)."""
        if self.method == "initialize" and type(result) is dict:
            version = result.get("protocolVersion")
            if type(version) is str:  # the version in use is the one the answer agreed on
                self.span.set_attribute("mcp.protocol.version", version)
        _end_with_result(self.span, result)

    def fail(self, exc: BaseException) -> None:
        """The request failed with ``exc``: record it and end the span. An error response
        (``McpError``) gives its code; a timeout the client gave up on is ``-32001``."""
        if isinstance(exc, (JSONRPCError, asyncio.CancelledError)):
            _end_with_exception(self.span, exc)
            return
        self.span.record_exception(exc)
        _fail(self.span, type(exc).__qualname__, str(exc) or None)
        self.span.end()

    async def run(self, awaitable: Awaitable[Any], *, cancel_ends: bool = False) -> Any:
        """Await the request and end the span with its outcome. ``cancel_ends``: the request is
        a stream its caller ends by cancelling it (``subscriptions/listen``), so a cancel is its
        normal end, not an error."""
        try:
            result = await awaitable
        except BaseException as exc:
            if cancel_ends and isinstance(exc, asyncio.CancelledError):
                self.span.end()
            else:
                self.fail(exc)
            raise
        self.end(result)
        return result


def client_call(
    method: str,
    params: Any = None,
    *,
    protocol_version: str | None = None,
    session_id: str | None = None,
    network_transport: str | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
) -> ClientCall | None:
    """Start the ``CLIENT`` span of one outgoing request and inject its context; None when
    tracing is off (no span made, nothing to add), or when the span could not be started (a
    broken propagator: logged, the request goes out untraced). The span is a child of the
    caller's current span; it is not made current (nothing runs under it on the client)."""
    if watched[PROVIDER_KEY] is None:
        return None
    t = tracer()
    if t is None:
        return None
    attrs = _connection_attrs(protocol_version, session_id, network_transport, server_address, server_port)
    return _start_sent(t, method, params, attrs)


def _connection_attrs(protocol_version: str | None, session_id: str | None, network_transport: str | None,
                      server_address: str | None = None, server_port: int | None = None) -> dict[str, Any]:
    """The attributes naming the connection of a span about a message sent."""
    attrs: dict[str, Any] = {}
    if protocol_version is not None:
        attrs["mcp.protocol.version"] = protocol_version
    if session_id is not None:
        attrs["mcp.session.id"] = session_id
    if network_transport is not None and network_transport != "inproc":
        attrs["network.transport"] = network_transport
    if server_address is not None:
        attrs["server.address"] = server_address
        if server_port is not None:
            attrs["server.port"] = server_port
    return attrs


def _start_sent(t: Tracer, method: str, params: Any, attrs: dict[str, Any]) -> ClientCall | None:
    """The ``CLIENT`` span of a message sent (request or notification) and the ``_meta``
    entries carrying its context; None (logged) when it could not be started."""
    try:
        from opentelemetry import propagate
        from opentelemetry.trace import SpanKind, set_span_in_context

        attrs["mcp.method.name"] = method
        name = _target(method, params, attrs)
        span = t.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
        meta: dict[str, str] = {}
        propagate.inject(meta, context=set_span_in_context(span))
    except Exception:  # noqa: BLE001 - observability must not keep a message from leaving
        log.exception("tracing: the span of %s could not be started", method)
        return None
    return ClientCall(span, meta, method)


def with_meta(params: Any, meta: Mapping[str, Any]) -> Any:
    """``params`` with ``meta`` added to its ``_meta`` (copies; the caller's dicts are not
    changed). Params that are not an object (a list) have no ``_meta`` to carry it: as they are."""
    if not meta:
        return params
    if params is None:
        return {"_meta": dict(meta)}
    if type(params) is not dict:
        return params
    old = params.get("_meta")
    if old is None:
        return {**params, "_meta": dict(meta)}
    if type(old) is not dict:
        return params
    return {**params, "_meta": {**old, **meta}}


def request(peer: Any, method: str, params: Any = None, *, protocol_version: str | None = None,
            session_id: str | None = None, cancel_ends: bool = False, **kw: Any) -> Coroutine[Any, Any, Any]:
    """``peer.request(method, params, **kw)`` inside a ``CLIENT`` span whose context travels in
    ``params._meta`` (so the receiver's span is its child), with ``jsonrpc.request.id`` the id
    the request got and ``network.transport`` the peer's. When tracing is off this returns
    ``peer.request(...)`` itself: no wrapper, nothing added. For requests that do not go
    through ``ClientSession.request`` (``initialize``, ``server/discover``, the Tasks and
    subscription streams, whose caller ends them by cancelling: ``cancel_ends=True``, see
    ``ClientCall.run``); the server's own requests use ``server_request``."""
    if watched[PROVIDER_KEY] is None:
        return peer.request(method, params, **kw)  # type: ignore[no-any-return]
    call = client_call(method, params, protocol_version=protocol_version, session_id=session_id,
                       network_transport=getattr(peer, "network_transport", None))
    return _send_request(call, peer, method, params, kw, cancel_ends)


def _send_request(call: ClientCall | None, peer: Any, method: str, params: Any,
                  kw: dict[str, Any], cancel_ends: bool = False) -> Coroutine[Any, Any, Any]:
    if call is None:
        return peer.request(method, params, **kw)  # type: ignore[no-any-return]
    on_sent = kw.get("on_sent")

    def sent(rid: int) -> Any:
        call.set_request_id(rid)
        return on_sent(rid) if on_sent is not None else None

    kw["on_sent"] = sent
    return call.run(peer.request(method, with_meta(params, call.meta), **kw), cancel_ends=cancel_ends)


def sent_notification(method: str, params: Any = None, *, protocol_version: str | None = None,
                      session_id: str | None = None, network_transport: str | None = None) -> Any:
    """The ``CLIENT`` span of one notification being sent, and ``params`` with its context in
    ``_meta`` (what to send instead). The conventions' client span covers "the request or
    notification" its side initiates; a notification has no answer to wait for, so the span
    is started and ended here, covering the send. ``params`` as they are when tracing is off."""
    if watched[PROVIDER_KEY] is None:
        return params
    t = tracer()
    if t is None:
        return params
    return _notification_sent(t, method, params, _connection_attrs(protocol_version, session_id, network_transport))


def _notification_sent(t: Tracer, method: str, params: Any, attrs: dict[str, Any]) -> Any:
    call = _start_sent(t, method, params, attrs)
    if call is None:
        return params
    call.span.end()
    return with_meta(params, call.meta)


def notify(peer: Any, method: str, params: Any = None, *, protocol_version: str | None = None,
           session_id: str | None = None) -> None:
    """``peer.notify(method, params)``, in a ``CLIENT`` span when tracing is on (see
    ``sent_notification``); the client's notifications go out this way."""
    if watched[PROVIDER_KEY] is not None:
        params = sent_notification(method, params, protocol_version=protocol_version, session_id=session_id,
                                   network_transport=getattr(peer, "network_transport", None))
    peer.notify(method, params)


# ====================================================================== sent by the server


def _served_attrs(peer: Any, http: Any, meta: Any = None) -> dict[str, Any]:
    """What the server knows of the connection of a message it receives or sends on ``peer``:
    the protocol version (the request's ``_meta``, else the session's); under HTTP (``http``,
    the HTTP request being served) ``network.transport`` ``tcp``, ``network.protocol.name``
    ``http`` and the session id; else the peer's transport (none in process)."""
    attrs: dict[str, Any] = {}
    if http is not None:
        attrs["network.transport"] = "tcp"
        attrs["network.protocol.name"] = "http"
        sid = http.headers.get("mcp-session-id")
        if sid is not None:
            attrs["mcp.session.id"] = sid
    else:
        transport = getattr(peer, "network_transport", None)
        if transport is not None and transport != "inproc":  # in-process: no network to name
            attrs["network.transport"] = transport
    version = _protocol_version(peer, meta)
    if version is not None:
        attrs["mcp.protocol.version"] = version
    return attrs


def server_request(peer: Any, method: str, params: Any = None, **kw: Any) -> Coroutine[Any, Any, Any]:
    """``peer.request(...)`` for a request the server sends its client (``sampling/
    createMessage``, ``elicitation/create``, ``roots/list``, ``ping``): the conventions'
    ``CLIENT`` span, reported by the server as the side that initiates it, a child of the
    current span (the handler's ``SERVER`` span, when a tool asks), its context in
    ``params._meta`` so the client's handling span is its child in turn. When tracing is off
    this returns ``peer.request(...)`` itself."""
    if watched[PROVIDER_KEY] is None:
        return peer.request(method, params, **kw)  # type: ignore[no-any-return]
    t = tracer()
    call = _start_sent(t, method, params, _served_attrs(peer, http_request.get())) if t is not None else None
    return _send_request(call, peer, method, params, kw)


def server_notification(peer: Any, method: str, params: Any = None, request_meta: Any = None) -> Any:
    """``sent_notification`` for a notification the server sends on ``peer`` (progress, log
    messages, list changes, resource updates): its ``CLIENT`` span, and the params to send.
    ``request_meta``: the ``_meta`` of the request being served, if any (a 2026-07-28 request
    names the protocol version there; a legacy session on the peer). Callable from a worker
    thread (a ``def`` tool's progress): only the send needs the loop."""
    if watched[PROVIDER_KEY] is None:
        return params
    t = tracer()
    if t is None:
        return params
    return _notification_sent(t, method, params, _served_attrs(peer, http_request.get(), request_meta))


def server_notify(peer: Any, method: str, params: Any = None) -> None:
    """``peer.notify(method, params)`` for the server, in a ``CLIENT`` span when tracing is on
    (``server_notification``); when off, one slot read more than ``peer.notify``."""
    if watched[PROVIDER_KEY] is not None:
        params = server_notification(peer, method, params)
    peer.notify(method, params)


refresh()
