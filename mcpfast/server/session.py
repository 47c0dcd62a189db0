"""Per-connection state of a legacy (2024-11-05 ... 2025-11-25) MCP session.

It lives on ``peer.state`` from the ``initialize`` request on; modern (2026-07-28) requests
never read it (the spec forbids relying on earlier requests).
"""

from __future__ import annotations

from time import perf_counter_ns
from typing import Any

__all__ = ["LegacySession", "LOG_LEVELS"]

#: RFC 5424 severities as MCP names them, least severe first
LOG_LEVELS: dict[str, int] = {
    "debug": 0, "info": 1, "notice": 2, "warning": 3, "error": 4, "critical": 5, "alert": 6, "emergency": 7,
}


class LegacySession:
    """What an ``initialize`` negotiated, plus what the client changed since."""

    __slots__ = ("protocol_version", "client_capabilities", "client_info", "initialized",
                 "log_level", "subscriptions", "opened_ns")

    def __init__(self, protocol_version: str, client_capabilities: dict[str, Any], client_info: Any) -> None:
        self.protocol_version = protocol_version
        self.client_capabilities = client_capabilities
        self.client_info = client_info
        #: ``notifications/initialized`` arrived (list-changed notifications start then)
        self.initialized = False
        #: minimum severity for ``notifications/message`` (``logging/setLevel``); debug = all
        self.log_level = 0
        #: URIs of ``resources/subscribe``
        self.subscriptions: set[str] = set()
        #: when the session opened (``time.perf_counter_ns``), for its duration metric
        self.opened_ns = perf_counter_ns()

    def __repr__(self) -> str:
        return f"LegacySession({self.protocol_version!r}, initialized={self.initialized})"
