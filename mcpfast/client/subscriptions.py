"""``Client.listen()``: a 2026-07-28 ``subscriptions/listen`` stream of typed change events.

::

    async with client.listen(tools_list_changed=True, resource_subscriptions=["file:///a"]) as sub:
        async for event in sub:                    # ToolsListChanged(), ResourceUpdated(uri=...)
            if isinstance(event, ToolsListChanged):
                tools = await client.list_tools()  # a level trigger: refetch what you depend on

The shape is the official SDK's (``mcp.client.subscriptions``): entering sends the request and
waits for the server's acknowledgement (``sub.honored``: the part of the filter the server
agreed to; ``TimeoutError`` after ``read_timeout_seconds``); the events are the frozen
dataclasses ``ToolsListChanged``, ``PromptsListChanged``, ``ResourcesListChanged`` and
``ResourceUpdated(uri)``; only events inside the honoured filter are yielded, and an event
already waiting to be consumed is not queued twice (each is "this changed, refetch", so a
duplicate carries nothing). The loop ends when the server closes the stream gracefully (its
result to the listen request); a stream that ends any other way -- the connection lost, the
server's ``notifications/cancelled`` teardown, more than ``MAX_PENDING_EVENTS`` unconsumed events
-- raises ``SubscriptionLost`` once the events that came before it are consumed. There is no
replay: after a loss, listen again and refetch. Leaving the ``async with`` cancels the stream.
The notifications still reach ``message_handler`` as well, as in the SDK.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from .. import tracing as _tracing
from ..errors import CONNECTION_CLOSED, INTERNAL_ERROR, ConnectionClosed, JSONRPCError, MCPError
from ..types import SUBSCRIPTION_ID_KEY, SUBSCRIPTIONS_ACKNOWLEDGED
from .results import MCPModel

if TYPE_CHECKING:
    from .client import Client

__all__ = [
    "ToolsListChanged",
    "PromptsListChanged",
    "ResourcesListChanged",
    "ResourceUpdated",
    "ServerEvent",
    "SubscriptionFilter",
    "Subscription",
    "ListenNotSupportedError",
    "SubscriptionLost",
    "event_from_wire",
    "SUBSCRIPTION_ID_KEY",
    "MAX_PENDING_EVENTS",
]

#: the first frame of a listen stream (it and ``SUBSCRIPTION_ID_KEY`` live in ``mcpfast.types``,
#: so that ``Client`` routes listen frames without loading this module)
ACKNOWLEDGED = SUBSCRIPTIONS_ACKNOWLEDGED
#: distinct events waiting to be consumed before the stream counts as lost (the spec lets a
#: server name sub-resources of a subscribed URI, so their number has no other bound)
MAX_PENDING_EVENTS = 1024


@dataclass(frozen=True)
class ToolsListChanged:
    """The server's tool list changed."""


@dataclass(frozen=True)
class PromptsListChanged:
    """The server's prompt list changed."""


@dataclass(frozen=True)
class ResourcesListChanged:
    """The server's resource list changed."""


@dataclass(frozen=True)
class ResourceUpdated:
    """The resource at ``uri`` changed and may need to be read again."""

    uri: str


ServerEvent = ToolsListChanged | PromptsListChanged | ResourcesListChanged | ResourceUpdated

_LIST_CHANGED: dict[str, ServerEvent] = {
    "notifications/tools/list_changed": ToolsListChanged(),
    "notifications/prompts/list_changed": PromptsListChanged(),
    "notifications/resources/list_changed": ResourcesListChanged(),
}


def event_from_wire(method: str, params: Any) -> ServerEvent | None:
    """The event a listen-stream notification announces (None: it announces none)."""
    event = _LIST_CHANGED.get(method)
    if event is not None:
        return event
    if method == "notifications/resources/updated" and type(params) is dict:
        uri = params.get("uri")
        if type(uri) is str:
            return ResourceUpdated(uri)
    return None


class SubscriptionFilter(MCPModel):
    """The notifications a listen stream asks for, or (``Subscription.honored``) those the
    server agreed to send; equal to its wire dict."""

    tools_list_changed: bool | None
    prompts_list_changed: bool | None
    resources_list_changed: bool | None
    resource_subscriptions: list[str] | None


class ListenNotSupportedError(RuntimeError):
    """``subscriptions/listen`` needs a 2026-07-28 connection (the SDK's class: a RuntimeError
    with the ``negotiated_version``)."""

    def __init__(self, negotiated_version: str | None) -> None:
        self.negotiated_version = negotiated_version
        super().__init__(
            f"subscriptions/listen is not available at protocol version {negotiated_version!r}; it needs"
            " 2026-07-28. Before it, use subscribe_resource() and the change notifications that reach"
            " message_handler.")


class SubscriptionLost(RuntimeError):
    """The listen stream ended without the server's graceful close: listen again and refetch.
    ``__cause__`` is the ``MCPError`` that ended it, when there was one."""


_End = Literal["graceful", "lost", "local"]


class Subscription:
    """One ``subscriptions/listen`` stream (made by ``Client.listen``; see the module docstring)."""

    def __init__(self, client: Client, notifications: dict[str, Any]) -> None:
        self.client = client
        #: the filter asked for (wire keys)
        self.notifications = notifications
        #: the subset of the filter the server honours (from its acknowledgement)
        self.honored: SubscriptionFilter | None = None
        #: the listen request's JSON-RPC id, stamped on every frame of the stream
        self.subscription_id: Any = None
        self._uris: frozenset[str] = frozenset()
        self._pending: dict[ServerEvent, None] = {}
        self._wake = asyncio.Event()
        self._end: _End | None = None
        self._error: BaseException | None = None
        self._acked: asyncio.Future[dict[str, Any]] | None = None
        self._task: asyncio.Task[Any] | None = None

    @property
    def request_id(self) -> Any:
        """The listen request's JSON-RPC id (``subscription_id``)."""
        return self.subscription_id

    # ------------------------------------------------------------------ fed by the client

    def deliver(self, method: str, params: dict[str, Any]) -> None:
        """A notification tagged with this stream's id arrived (in receive order)."""
        if method == ACKNOWLEDGED:
            acked = self._acked
            honored = params.get("notifications")
            if acked is not None and not acked.done() and type(honored) is dict:
                acked.set_result(honored)
            return
        event = event_from_wire(method, params)
        honored = self.honored
        if event is None or honored is None or self._end is not None:
            return
        if isinstance(event, ResourceUpdated):
            # a sub-resource of a subscribed URI may be named: any, once URIs were honoured
            admitted = bool(self._uris)
        elif isinstance(event, ToolsListChanged):
            admitted = honored.tools_list_changed is True
        elif isinstance(event, PromptsListChanged):
            admitted = honored.prompts_list_changed is True
        else:
            admitted = honored.resources_list_changed is True
        if not admitted or event in self._pending:
            return
        if len(self._pending) >= MAX_PENDING_EVENTS:
            self._settle("lost", MCPError(
                INTERNAL_ERROR, f"more than {MAX_PENDING_EVENTS} events were not consumed; listen again and refetch"))
            return
        self._pending[event] = None
        self._wake.set()

    def end(self) -> None:
        """The server tore the stream down (``notifications/cancelled`` naming it): not graceful."""
        self._settle("lost", MCPError(CONNECTION_CLOSED, "the server cancelled the listen stream"))

    def lost(self, exc: BaseException | None) -> None:
        """The connection is gone."""
        self._settle("lost", MCPError(CONNECTION_CLOSED, f"Connection closed: {exc or 'closed'}"))

    def _settle(self, end: _End, error: BaseException | None = None) -> None:
        if self._end is None:
            self._end = end
            self._error = error
            self._wake.set()

    def _sent(self, rid: Any) -> None:
        self.subscription_id = rid
        self.client.register_listener(rid, self)

    # ------------------------------------------------------------------ the context manager

    async def __aenter__(self) -> Subscription:
        client = self.client
        session = client.session
        if not session.modern:
            raise ListenNotSupportedError(session.protocol_version)
        loop = asyncio.get_running_loop()
        self._acked = loop.create_future()
        # straight to the peer: a listen stream is long-lived, read_timeout_seconds must not end it
        # (in a CLIENT span when tracing is on, as long as the stream lives)
        self._task = loop.create_task(_tracing.request(
            session.peer, "subscriptions/listen", {"notifications": self.notifications, "_meta": session.envelope},
            protocol_version=session.protocol_version, cancel_ends=True, on_sent=self._sent))
        self._task.add_done_callback(self._ended)
        task = self._task
        waits: set[asyncio.Future[Any]] = {self._acked, task}
        done, _ = await asyncio.wait(waits, timeout=client.read_timeout_seconds,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._acked in done:
            self._honor(self._acked.result())
            return self
        await self._stop()
        if task not in done:
            raise TimeoutError("no acknowledgement of subscriptions/listen within read_timeout_seconds")
        if self._end == "graceful":  # a result before any acknowledgement: opened already closed
            self._honor({})
            return self
        error = self._error
        if isinstance(error, MCPError) and error.code != CONNECTION_CLOSED:
            raise error  # the server refused the request
        raise SubscriptionLost("the listen stream ended before it was acknowledged") from error

    def _honor(self, honored: dict[str, Any]) -> None:
        self.honored = SubscriptionFilter(honored)
        uris = honored.get("resourceSubscriptions")
        self._uris = frozenset(u for u in uris if type(u) is str) if type(uris) is list else frozenset()

    def _ended(self, task: asyncio.Task[Any]) -> None:
        """The listen request finished: a result is the graceful close, an error a loss."""
        if task.cancelled():
            self._settle("local")
            return
        exc = task.exception()
        if exc is None:
            self._settle("graceful")
        elif isinstance(exc, JSONRPCError):
            self._settle("lost", MCPError.from_error(exc))
        elif isinstance(exc, ConnectionClosed):
            self._settle("lost", MCPError(CONNECTION_CLOSED, f"Connection closed: {exc}"))
        else:
            self._settle("lost", exc)

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if self.subscription_id is not None:
            self.client.unregister_listener(self.subscription_id)
        if task is not None and not task.done():
            task.cancel()  # the peer sends notifications/cancelled (HTTP: closes the stream)
            await asyncio.gather(task, return_exceptions=True)

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._settle("local")
        await self._stop()

    # ------------------------------------------------------------------ the events

    def __aiter__(self) -> AsyncIterator[ServerEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ServerEvent]:
        while True:
            event = await self._next_event()
            if event is None:
                return
            yield event

    async def _next_event(self) -> ServerEvent | None:
        while True:
            end = self._end
            if end == "local":
                return None
            pending = self._pending
            if pending:
                event = next(iter(pending))
                del pending[event]
                return event
            if end == "graceful":
                return None
            if end == "lost":
                raise SubscriptionLost(
                    f"subscription {self.subscription_id!r} ended without the server's graceful close;"
                    " listen again and refetch") from self._error
            self._wake.clear()
            await self._wake.wait()

    async def next(self, timeout: float | None = None) -> ServerEvent | None:
        """The next event (None when the stream ended), waiting at most ``timeout`` seconds
        (``TimeoutError`` then)."""
        return await asyncio.wait_for(self._next_event(), timeout)


def resource_uris(resource_subscriptions: Sequence[str] | str) -> list[str]:
    """The ``resourceSubscriptions`` of a filter (a bare string is a mistake, as in the SDK)."""
    if isinstance(resource_subscriptions, str):
        raise TypeError("resource_subscriptions takes a sequence of URIs, not a bare string")
    return [str(u) for u in resource_subscriptions]
