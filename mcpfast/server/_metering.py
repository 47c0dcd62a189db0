"""Times every request the server core answers into ``ServerMetrics`` (``mcpfast.metrics``).

``RequestMeter`` sets up the one per-request hook, the compiled ``RequestTimer``
(``mcpfast.wire.counters``): its ``on_request`` stands in for the core's (``ServerCore``
installs it when metrics are on; off, the core's own method is called directly and nothing
here runs), and the peer calls its ``enter``/``exit`` around each read (the core's
``feed_timer``). It wraps whatever ``on_request`` it was given, so another wrapper can stack
on it.

A request is timed from the moment the core receives it until its answer is ready, whichever
way the answer comes: returned at once (most requests), raised, from a coroutine (timed
through ``_timed``, a thin wrapper coroutine that the peer steps like the handler's own), or
through a ``Deferred``/future (a done callback: a pooled tool's answer). The labels are worked
out once the answer is known, from the request and the connection (``OperationKeys``), and
bounded here (``_resolve``, through ``ServerMetrics``) the first time a combination is seen.
The core hands over what it has resolved anyway: a ``tools/call`` puts its tool's slot
(``tool_slot``, kept on the ``Tool``) and the session in ``resolved``, so the timer does not
read the method, the tool's name and ``_meta`` out of the request again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from ..metrics import TOOL_ERROR, ServerMetrics
from ..peer import Deferred
from ..types import PROTOCOL_VERSION_KEY
from ..wire.counters import Histogram, OperationKeys, OperationSlot, RequestTimer
from ..wire.jsonrpc import Request

__all__ = ["RequestMeter"]

#: label lookups kept (past it, new raw combinations are resolved each time)
_CACHE_MAX = 4096


async def _timed(timer: RequestTimer, peer: Any, request: Request, coro: Coroutine[Any, Any, Any], t0: int,
                 slot: OperationSlot | None, session: Any) -> Any:
    """Await a handler's coroutine and record its outcome (``RequestTimer``'s ``timed``: a
    Python coroutine, since the peer steps only ``types.CoroutineType``)."""
    try:
        result = await coro
    except BaseException as exc:
        timer.done(peer, request, t0, None, exc, slot, session)
        raise
    timer.done(peer, request, t0, result, None, slot, session)
    return result


class RequestMeter:
    """``on_request`` timed into ``metrics`` (the module docstring)."""

    __slots__ = ("metrics", "_keys", "timer", "on_request", "enter", "exit", "resolved")

    def __init__(self, metrics: ServerMetrics, inner: Callable[..., Any]) -> None:
        self.metrics = metrics
        # (method, tool, error_type, transport, version) as received -> the histogram child
        self._keys = OperationKeys(self._resolve, tool_method="tools/call", version_key=PROTOCOL_VERSION_KEY,
                                   max_size=_CACHE_MAX)
        #: the per-request hook (compiled); its methods are this object's, bound once
        self.timer = RequestTimer(inner, self._keys, error_type=metrics.error_type, tool_error=TOOL_ERROR,
                                  timed=_timed, settles=(Deferred, asyncio.Future))
        #: ``inner(peer, request)`` timed: what the core installs as its ``on_request``
        self.on_request: Callable[..., Any] = self.timer.on_request
        #: the peer's ``feed_timer`` calls: a read's eager answers are timed together
        self.enter: Callable[[], Any] = self.timer.enter
        self.exit: Callable[[Any], None] = self.timer.exit
        #: ``[slot, session]``: what the core resolved the request being handled to (``RequestTimer``)
        self.resolved: list[Any] = self.timer.resolved
        timer = self.timer
        metrics.count_started(lambda: timer.started)

    @property
    def started(self) -> int:
        """Requests timed so far (those finished are the operations' count: the rest are in flight)."""
        return self.timer.started

    def _resolve(self, key: tuple[Any, ...]) -> Histogram:
        """The histogram child of a raw key (``OperationKeys`` caches it): the values bounded."""
        method, tool, error_type, transport, version = key
        m = self.metrics
        return m.operations.labels(m.method_label(method), "" if tool == "" else m.tool_label(tool), error_type,
                                   transport if type(transport) is str else "", m.version_label(version))

    def tool_slot(self, name: str) -> OperationSlot:
        """The slot of ``tools/call`` requests for the registered tool ``name`` (the core keeps
        it on the ``Tool`` and puts it in ``resolved`` when it finds the tool)."""
        return self._keys.slot("tools/call", name)

    def forget_labels(self) -> None:
        """Drop the cached label lookups (the tools changed: a name may now be known, or gone)."""
        self._keys.clear()
