"""Times every request the server core answers into ``ServerMetrics`` (``mcpfast.metrics``).

``RequestMeter.on_request`` stands in for the core's ``on_request`` (``ServerCore`` installs
it when metrics are on; off, the core's own method is called directly and nothing here runs).
It wraps whatever ``on_request`` it was given, so another wrapper (tracing) can stack on it.

A request is timed from the moment the core receives it until its answer is ready, whichever
way the answer comes: returned at once (most requests), raised, from a coroutine (timed
through a thin wrapper coroutine that the peer steps like the handler's own), or through a
``Deferred``/future (a done callback: a pooled tool's answer). The labels are worked out once
the answer is known, from the request and the connection, and bounded (``ServerMetrics``).
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable, Coroutine
from time import perf_counter_ns
from typing import Any

from ..metrics import TOOL_ERROR, ServerMetrics
from ..peer import Deferred
from ..types import PROTOCOL_VERSION_KEY
from ..wire.counters import Histogram, OperationKeys
from ..wire.jsonrpc import Request

__all__ = ["RequestMeter"]

_CoroutineType = types.CoroutineType
_Future = asyncio.Future
_now = perf_counter_ns
#: label lookups kept (past it, new raw combinations are resolved each time)
_CACHE_MAX = 4096


def _tool_error(result: Any) -> str:
    """``TOOL_ERROR`` for an ``isError`` result, else ``""``."""
    return TOOL_ERROR if type(result) is dict and result.get("isError") is True else ""


class RequestMeter:
    """``on_request`` timed into ``metrics`` (the module docstring)."""

    __slots__ = ("metrics", "_inner", "_keys", "_child", "started", "_batch", "_batch_t0")

    def __init__(self, metrics: ServerMetrics, inner: Callable[[Any, Request], Any]) -> None:
        self.metrics = metrics
        self._inner = inner
        # (method, tool, error_type, transport, version) as received -> the histogram child;
        # _child(peer, request, error_type) reads them and looks the child up (compiled)
        self._keys = OperationKeys(self._resolve, tool_method="tools/call", version_key=PROTOCOL_VERSION_KEY,
                                   max_size=_CACHE_MAX)
        self._child: Callable[[Any, Request, str], Histogram] = self._keys.child
        #: requests timed so far (those finished are the operations' count: the rest are in flight)
        self.started = 0
        # inside a peer's feed (enter/exit): the children of the batch's eager answers, observed
        # together at exit, and the batch's arrival time; None/0 outside one
        self._batch: list[Histogram] | None = None
        self._batch_t0 = 0
        metrics.count_started(lambda: self.started)

    # ------------------------------------------------------------------ the peer's feed_timer

    def enter(self) -> tuple[list[Histogram] | None, int]:
        """A peer starts handling one read's messages: they were received now. Returns the
        mark ``exit`` takes back (feeds of other peers may nest inside a handler's step)."""
        mark = (self._batch, self._batch_t0)
        self._batch = []
        self._batch_t0 = _now()
        return mark

    def exit(self, mark: tuple[list[Histogram] | None, int]) -> None:
        """The peer flushed the batch's answers: every answer given without suspending was
        received at ``enter`` and is sent now, so each is observed with the same duration
        (what the receiver saw, as the conventions define the operation's duration)."""
        batch = self._batch
        if batch:
            us = (_now() - self._batch_t0) * 0.001
            for child in batch:
                child.observe(us)
        self._batch, self._batch_t0 = mark

    # ------------------------------------------------------------------ on_request

    def on_request(self, peer: Any, request: Request, *reentry: Any) -> Any:
        if reentry:  # a wrapper around the core calling back in (tracing's untraced=True): timed once, outside
            return self._inner(peer, request, *reentry)
        self.started += 1
        batch = self._batch
        # inside a feed the request arrived with its batch: no clock read of its own
        t0 = self._batch_t0 if batch is not None else _now()
        try:
            result = self._inner(peer, request)
        except BaseException as exc:
            self._eager(peer, request, self.metrics.error_type(exc), batch, t0)
            raise
        rt = type(result)
        if rt is dict:  # the common answer, inline (the same as _eager)
            child = self._child(peer, request, TOOL_ERROR if result.get("isError") is True else "")
            if batch is not None:
                batch.append(child)
            else:
                child.observe_since(t0)
        elif rt is Deferred or isinstance(result, _Future):
            result.add_done_callback(lambda f: self._settled(peer, request, f, t0))
        elif rt is _CoroutineType:
            return self._timed(peer, request, result, t0)
        else:
            self._eager(peer, request, "", batch, t0)
        return result

    def _eager(self, peer: Any, request: Request, error_type: str, batch: list[Histogram] | None, t0: int) -> None:
        # an answer given at once: observed with its batch at exit, or now outside a feed
        child = self._child(peer, request, error_type)
        if batch is not None:
            batch.append(child)
        else:
            child.observe_since(t0)

    async def _timed(self, peer: Any, request: Request, coro: Coroutine[Any, Any, Any], t0: int) -> Any:
        try:
            result = await coro
        except BaseException as exc:
            self._record(peer, request, self.metrics.error_type(exc), t0)
            raise
        self._record(peer, request, _tool_error(result), t0)
        return result

    def _settled(self, peer: Any, request: Request, fut: Any, t0: int) -> None:
        try:
            result = fut.result()  # one call: the answer, or its exception raised
        except BaseException as exc:  # noqa: BLE001 - recorded, not handled: the peer answers it
            self._record(peer, request, self.metrics.error_type(exc), t0)
            return
        self._record(peer, request, TOOL_ERROR if type(result) is dict and result.get("isError") is True else "", t0)

    def _record(self, peer: Any, request: Request, error_type: str, t0: int) -> None:
        self._child(peer, request, error_type).observe_since(t0)

    def _resolve(self, key: tuple[Any, ...]) -> Histogram:
        """The histogram child of a raw key (``OperationKeys`` caches it): the values bounded."""
        method, tool, error_type, transport, version = key
        m = self.metrics
        return m.operations.labels(m.method_label(method), "" if tool == "" else m.tool_label(tool), error_type,
                                   transport if type(transport) is str else "", m.version_label(version))

    def forget_labels(self) -> None:
        """Drop the cached label lookups (the tools changed: a name may now be known, or gone)."""
        self._keys.clear()
