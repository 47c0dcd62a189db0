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

    def record(self) -> dict[str, Any]:
        """What another server process needs to serve this session (JSON): the negotiated
        version, the client's capabilities and info, and what the client changed since
        (``initialized``, the log level, resource subscriptions). Kept in a shared store
        (``mcpfast.stores``) so a legacy session opened on one process is valid on every one."""
        return {"protocolVersion": self.protocol_version, "capabilities": self.client_capabilities,
                "clientInfo": self.client_info, "initialized": self.initialized, "logLevel": self.log_level,
                "subscriptions": sorted(self.subscriptions)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> LegacySession:
        """The session ``record()`` described (another process opened it). Raises ValueError
        for a record that is not one (a store shared with something else, a newer format)."""
        version = record.get("protocolVersion")
        caps = record.get("capabilities")
        if type(version) is not str or type(caps) is not dict:
            raise ValueError(f"not a legacy session record: {record!r:.200}")
        state = cls(version, caps, record.get("clientInfo"))
        state.update(record)
        return state

    def update(self, record: dict[str, Any]) -> None:
        """Take on what the client changed on another process (see ``record``)."""
        self.initialized = bool(record.get("initialized", self.initialized))
        level = record.get("logLevel")
        if type(level) is int:
            self.log_level = level
        subs = record.get("subscriptions")
        if type(subs) is list:
            self.subscriptions = {u for u in subs if type(u) is str}

    def __repr__(self) -> str:
        return f"LegacySession({self.protocol_version!r}, initialized={self.initialized})"
