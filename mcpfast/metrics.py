"""Metrics after the OpenTelemetry MCP semantic conventions, exported as Prometheus text.

One ``ServerMetrics`` per server (``ServerCore.metrics``; on by default, ``metrics=False``
turns it off) holds the numbers every transport records on its hot path, in the compiled
counters of ``mcpfast.wire.counters`` (one array increment per observation, no allocation):

* ``mcp_server_operation_duration_seconds`` (histogram): each request from the moment the
  server core receives it until its answer is ready, labelled ``mcp_method_name``,
  ``gen_ai_tool_name`` (``tools/call`` only), ``error_type`` (empty when it succeeded; the
  JSON-RPC error code, ``tool_error`` for an ``isError`` result, or the exception's class
  name), ``network_transport`` (``pipe`` for stdio, ``tcp`` for TCP, HTTP and WebSocket,
  ``inproc`` in process) and ``mcp_protocol_version``;
* ``mcp_server_session_duration_seconds`` (histogram): legacy sessions, ``initialize`` to close;
* mcpfast's own: ``mcpfast_connections_open``, ``mcpfast_requests_in_flight``,
  ``mcpfast_requests_refused_total{reason}``, ``mcpfast_sessions_open``,
  ``mcpfast_bytes_received_total`` and ``mcpfast_bytes_sent_total``, plus every tool's own
  latency histogram (``mcpfast_tool_duration_seconds{gen_ai_tool_name}``: the time inside the
  tool function, as ``ToolRunner`` records it; exported from there, never recorded twice).

Label values are bounded: a method or tool name the server does not know, or a protocol
version it does not speak, is recorded as ``_OTHER``, so a client cannot grow the number of
series; each family also stops at ``max_series`` (the overflow series, ``__overflow__``).

The names are the OpenTelemetry ones with dots as underscores and the unit as suffix (the
Prometheus convention). ``ServerMetrics.text()`` is the exposition format 0.0.4,
``snapshot()`` the same numbers as plain dicts; ``register_prometheus()`` adds them to a
``prometheus_client`` registry. ``ClientMetrics`` is the client side's recorder.

This module imports nothing above the wire layer: the server core, the transports and the
client each hand it what they know.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from .wire.counters import Counter, Family, Histogram, Registry, render_series

__all__ = [
    "OTHER",
    "TOOL_ERROR",
    "ClientMetrics",
    "ServerMetrics",
    "metrics_of",
    "register_prometheus",
    "CONTENT_TYPE",
]

#: the label value of every method, tool or version name not known to the server
OTHER = "_OTHER"
#: ``error_type`` of a ``tools/call`` answered with an ``isError`` result (as the conventions say)
TOOL_ERROR = "tool_error"
#: the Content-Type of ``text()``
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_OPERATION_LABELS = ("mcp_method_name", "gen_ai_tool_name", "error_type", "network_transport",
                     "mcp_protocol_version")
_SESSION_LABELS = ("network_transport", "mcp_protocol_version")
_now = time.perf_counter_ns


class _Recorder:
    """What the server and client recorders share: the registry, the bounded label values,
    the extra text sources, and the export."""

    def __init__(self, max_series: int) -> None:
        if max_series < 1:
            raise ValueError(f"max_series must be at least 1, got {max_series}")
        self.max_series = max_series
        #: the registry the families below live in (read it through ``text``/``snapshot``)
        self.registry = Registry()
        # metrics kept by their owners, rendered at scrape time: name -> (text, snapshot)
        self._sources: list[tuple[Callable[[], str], Callable[[], dict[str, Any]]]] = []
        # called before each scrape to bring gauges up to date
        self._refreshers: list[Callable[[], None]] = []
        # interned label values: method -> itself for the known ones
        self._error_types: dict[Any, str] = {}

    def error_type(self, exc: BaseException) -> str:
        """The ``error_type`` of a failed request: a JSON-RPC error's code, else the
        exception's class name (both bounded by the code, not by what a client sends)."""
        code = getattr(exc, "code", None)
        key: Any = code if type(code) is int else type(exc)
        cached = self._error_types.get(key)
        if cached is None:
            cached = str(code) if type(code) is int else type(exc).__qualname__
            if len(self._error_types) < self.max_series:
                self._error_types[key] = cached
        return cached

    def add_source(self, text: Callable[[], str], snapshot: Callable[[], dict[str, Any]]) -> None:
        """Export metrics kept elsewhere: ``text()`` gives their exposition lines and
        ``snapshot()`` their numbers by metric name, both called at each scrape."""
        self._sources.append((text, snapshot))

    def add_refresher(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` before each scrape (to set gauges read from their owners)."""
        self._refreshers.append(fn)

    def _refresh(self) -> None:
        for fn in self._refreshers:
            fn()

    def text(self) -> str:
        """Every metric as Prometheus text (exposition format 0.0.4, ``CONTENT_TYPE``)."""
        self._refresh()
        parts = [self.registry.prometheus_text()]
        parts.extend(text() for text, _ in self._sources)
        return "".join(parts)

    def snapshot(self) -> dict[str, Any]:
        """The numbers of ``text()`` as plain dicts, by metric name (``Registry.snapshot``)."""
        self._refresh()
        out = self.registry.snapshot()
        for _, snap in self._sources:
            out.update(snap())
        return out


class ServerMetrics(_Recorder):
    """A server's metrics (the module docstring); ``ServerCore`` makes one unless
    ``metrics=False``.

    ``known_methods`` and ``known_versions`` are the label values kept as they are (anything
    else is ``OTHER``); ``is_tool(name)`` tells whether a tool name is registered now.
    """

    def __init__(
        self,
        *,
        known_methods: Iterable[str] = (),
        known_versions: Iterable[str] = (),
        is_tool: Callable[[str], bool] = lambda name: False,
        max_series: int = 2000,
    ) -> None:
        super().__init__(max_series)
        reg = self.registry
        self.operations: Family[Histogram] = reg.family(
            "histogram", "mcp_server_operation_duration_seconds",
            "MCP request duration as observed on the server, from receipt until the answer is ready",
            _OPERATION_LABELS, max_series)
        self.sessions: Family[Histogram] = reg.family(
            "histogram", "mcp_server_session_duration_seconds",
            "MCP session duration as observed on the server (legacy sessions: initialize to close)",
            _SESSION_LABELS, 100)
        self.connections = reg.family("gauge", "mcpfast_connections_open", "connections open now",
                                      ("network_transport",), 16)
        self.in_flight = reg.gauge("mcpfast_requests_in_flight", "requests received and not yet answered")
        self.refused: Family[Counter] = reg.family(
            "counter", "mcpfast_requests_refused_total",
            "requests and connections refused by a limit, by the limit", ("reason",), 32)
        self.sessions_open = reg.gauge("mcpfast_sessions_open", "legacy MCP sessions open now")
        self.bytes_received = reg.family("counter", "mcpfast_bytes_received_total",
                                         "bytes read from clients", ("network_transport",), 16)
        self.bytes_sent = reg.family("counter", "mcpfast_bytes_sent_total",
                                     "bytes written to clients", ("network_transport",), 16)
        # how many requests the core started timing (finished ones are the operations' count)
        self._started: Callable[[], int] = lambda: 0
        self._methods = {m: m for m in known_methods}
        self._versions = {v: v for v in known_versions}
        self._is_tool = is_tool
        self.add_refresher(self._set_in_flight)

    def count_started(self, started: Callable[[], int]) -> None:
        """Where ``mcpfast_requests_in_flight`` reads how many requests were started (the
        request timer's own count); the finished ones are the operations' count."""
        self._started = started

    def _set_in_flight(self) -> None:
        finished = 0
        for _, h in self.operations.series():
            finished += h.count
        self.in_flight.set(self._started() - finished)

    def add_method(self, method: str) -> None:
        """Keep ``method`` as its own label value (a handler registered for it)."""
        self._methods[method] = method

    def method_label(self, method: Any) -> str:
        """``method`` when the server knows it, else ``OTHER``."""
        return self._methods.get(method, OTHER) if type(method) is str else OTHER

    def version_label(self, version: Any) -> str:
        """``version`` when the server speaks it (``""`` for none), else ``OTHER``."""
        if not version:
            return ""
        return self._versions.get(version, OTHER) if type(version) is str else OTHER

    def tool_label(self, name: Any) -> str:
        """``name`` when it is a registered tool, else ``OTHER``."""
        return name if type(name) is str and self._is_tool(name) else OTHER

    def observe(self, method: str, tool: str, error_type: str, transport: str, version: str,
                t0_ns: int) -> None:
        """Record one operation that started at ``t0_ns`` (``time.perf_counter_ns``) and ends
        now. The labels must be bounded already (``method_label`` and friends)."""
        self.operations.labels(method, tool, error_type, transport, version).observe(
            (_now() - t0_ns) * 0.001)

    def session_closed(self, transport: str, version: str, opened_ns: int) -> None:
        """Record one session that opened at ``opened_ns`` (``time.perf_counter_ns``)."""
        self.sessions.labels(transport, self.version_label(version)).observe((_now() - opened_ns) * 0.001)

    def refuse(self, reason: str) -> None:
        """Count one request or connection refused by the limit ``reason`` (a constant of
        the code, such as ``max_in_flight``, ``max_connections`` or ``max_sessions``)."""
        self.refused.labels(reason).inc()

    def connection(self, transport: str) -> tuple[Counter, Counter, Any]:
        """For a transport opening a connection: count it open and return the
        ``(bytes received, bytes sent, connections open)`` children it updates (it calls
        ``dec()`` on the last when the connection closes)."""
        gauge = self.connections.labels(transport)
        gauge.inc()
        return self.bytes_received.labels(transport), self.bytes_sent.labels(transport), gauge

    def add_tool_histograms(self, tools: Callable[[], Iterable[tuple[str, Histogram]]]) -> None:
        """Export the tools' own latency histograms (``Tool.hist``) as
        ``mcpfast_tool_duration_seconds{gen_ai_tool_name}``, read at each scrape."""
        name = "mcpfast_tool_duration_seconds"
        help_text = "time inside each tool's function (the tool runner's own histogram)"

        def text() -> str:
            return render_series("histogram", name, help_text, ("gen_ai_tool_name",),
                                 [((n,), h) for n, h in tools()])

        def snapshot() -> dict[str, Any]:
            series = []
            for n, h in tools():
                entry: dict[str, Any] = {"labels": {"gen_ai_tool_name": n}}
                snap = h.snapshot()
                del snap["kind"], snap["help"]
                entry.update(snap)
                series.append(entry)
            return {name: {"kind": "histogram", "help": help_text, "labelnames": ["gen_ai_tool_name"],
                           "series": series}}

        self.add_source(text, snapshot)


class ClientMetrics(_Recorder):
    """The client side: ``mcp_client_operation_duration_seconds`` (labels as the server's) and
    ``mcp_client_session_duration_seconds``. A client owns one (or shares one among its
    sessions) and calls:

    * ``t0 = metrics.start()`` before sending a request, then ``metrics.done(t0, method,
      tool=..., error_type=..., transport=..., version=...)`` when its answer arrived
      (``error_type``: the error's code as ``error_type(exc)`` gives it, ``TOOL_ERROR`` for
      an ``isError`` result, ``""`` for success);
    * ``metrics.session_closed(opened_ns, transport, version)`` when a session ends.

    Tool and method names are the client's own choices, so they are not collapsed; each
    family still stops at ``max_series``.
    """

    def __init__(self, *, max_series: int = 2000) -> None:
        super().__init__(max_series)
        reg = self.registry
        self.operations: Family[Histogram] = reg.family(
            "histogram", "mcp_client_operation_duration_seconds",
            "MCP request duration as observed on the client, from sending until the answer arrived",
            _OPERATION_LABELS, max_series)
        self.sessions: Family[Histogram] = reg.family(
            "histogram", "mcp_client_session_duration_seconds",
            "MCP session duration as observed on the client", _SESSION_LABELS, 100)

    @staticmethod
    def start() -> int:
        """The clock reading (``time.perf_counter_ns``) to pass to ``done``."""
        return _now()

    def done(self, t0_ns: int, method: str, *, tool: str = "", error_type: str = "", transport: str = "",
             version: str = "") -> None:
        """Record one request sent at ``t0_ns`` and answered now."""
        self.operations.labels(method, tool, error_type, transport, version).observe((_now() - t0_ns) * 0.001)

    def session_closed(self, opened_ns: int, transport: str = "", version: str = "") -> None:
        """Record one session opened at ``opened_ns`` and closed now."""
        self.sessions.labels(transport, version).observe((_now() - opened_ns) * 0.001)


def metrics_of(dispatcher: Any) -> ServerMetrics | None:
    """The ``ServerMetrics`` a dispatcher records into (``ServerCore.metrics``), or None (off,
    or a dispatcher without metrics): what transports ask when a connection opens."""
    m = getattr(dispatcher, "metrics", None)
    return m if isinstance(m, ServerMetrics) else None


def register_prometheus(metrics: Any, registry: Any = None) -> Any:
    """Add ``metrics`` (a ``ServerMetrics``/``ClientMetrics``, an ``MCPServer`` or a
    ``ServerCore``) to a ``prometheus_client`` registry (default: its global ``REGISTRY``), so
    the application's existing exporter serves them too. Returns the collector (pass it to
    ``registry.unregister`` to take it out). Needs ``prometheus_client`` (the ``prometheus``
    extra); mcpfast's own ``/metrics`` and ``metrics_port`` work without it."""
    try:
        from prometheus_client import REGISTRY
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("register_prometheus needs prometheus_client: pip install 'mcpfast[prometheus]'") from exc
    source = _recorder_of(metrics)

    class MCPFastCollector:
        """Yields mcpfast's metrics at each collection (parsed from its exposition text: one
        source of truth, whatever ``prometheus_client`` version renders them)."""

        def collect(self) -> Iterable[Any]:
            return list(text_string_to_metric_families(source.text()))

        def describe(self) -> list[Any]:
            return []  # no fixed set: families appear as tools and methods are used

    collector = MCPFastCollector()
    (REGISTRY if registry is None else registry).register(collector)
    return collector


def _recorder_of(obj: Any) -> _Recorder:
    if isinstance(obj, _Recorder):
        return obj
    core = getattr(obj, "core", obj)
    m = getattr(core, "metrics", None)
    if isinstance(m, _Recorder):
        return m
    raise TypeError(f"no mcpfast metrics on {type(obj).__name__} (metrics=False?)")
