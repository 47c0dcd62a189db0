"""Connect a client peer to an ``MCPServer`` in process, through the real codec (memory transport)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from mcpfast.errors import MethodNotFound
from mcpfast.server import CLIENT_CAPABILITIES_KEY, PROTOCOL_VERSION_KEY
from mcpfast.transports.memory import memory_connection

MODERN = "2026-07-28"
ERAS = ["legacy", "modern"]


class ClientSide:
    """The client's dispatcher: answers server->client requests from ``handlers`` (method ->
    fn(params)), records notifications."""

    def __init__(self, handlers: dict[str, Callable[[Any], Any]] | None = None) -> None:
        self.handlers = handlers or {}
        self.notes: list[tuple[str, Any]] = []
        self.asked: list[tuple[str, Any]] = []

    def on_request(self, peer: Any, request: Any) -> Any:
        self.asked.append((request.method, request.params))
        h = self.handlers.get(request.method)
        if h is None:
            raise MethodNotFound(f"Method not found: {request.method}")
        return h(request.params)

    def on_notification(self, peer: Any, note: Any) -> None:
        self.notes.append((note.method, note.params))

    def on_batch(self, peer: Any, batch: Any) -> bool:
        return False

    def on_close(self, peer: Any, exc: BaseException | None) -> None:
        pass

    def notifications(self, method: str) -> list[Any]:
        return [p for m, p in self.notes if m == method]


class Session:
    """One connection in one era: ``await s.call(method, params)`` adds the envelope."""

    def __init__(self, peer: Any, era: str, caps: dict[str, Any], client: ClientSide, meta: dict[str, Any]) -> None:
        self.peer = peer
        self.era = era
        self.caps = caps
        self.client = client
        self.meta = meta

    async def call(self, method: str, params: dict[str, Any] | None = None, **meta: Any) -> Any:
        p = dict(params or {})
        m = dict(p.get("_meta") or {})
        if self.era == "modern":
            m.update({PROTOCOL_VERSION_KEY: MODERN, CLIENT_CAPABILITIES_KEY: self.caps})
            m.update(self.meta)
        m.update(meta)
        if m:
            p["_meta"] = m
        return await self.peer.request(method, p)

    async def tool(self, name: str, arguments: dict[str, Any] | None = None, **meta: Any) -> Any:
        return await self.call("tools/call", {"name": name, "arguments": arguments or {}}, **meta)

    async def tool_mrtr(self, name: str, arguments: dict[str, Any], answer: Callable[[str, Any], Any],
                        rounds: int = 5) -> Any:
        """Call a tool; in the modern era answer InputRequiredResults with ``answer(key, request)``."""
        params: dict[str, Any] = {"name": name, "arguments": arguments}
        for _ in range(rounds):
            res = await self.call("tools/call", params)
            if res.get("resultType") != "input_required":
                return res
            responses = {k: answer(k, r) for k, r in (res.get("inputRequests") or {}).items()}
            params = {"name": name, "arguments": arguments, "inputResponses": responses,
                      "requestState": res["requestState"]}
        raise AssertionError("too many rounds")


@contextlib.asynccontextmanager
async def connect(app: Any, era: str = "legacy", caps: dict[str, Any] | None = None,
                  handlers: dict[str, Callable[[Any], Any]] | None = None, version: str = "2025-11-25",
                  meta: dict[str, Any] | None = None, **protocol_kw: Any) -> AsyncIterator[Session]:
    client = ClientSide(handlers)
    core = getattr(app, "core", app)
    async with memory_connection(core, client, **protocol_kw) as (_server, cp):
        s = Session(cp.peer, era, caps or {}, client, meta or {})
        if era == "legacy":
            await cp.peer.request("initialize", {"protocolVersion": version, "capabilities": caps or {},
                                                 "clientInfo": {"name": "test", "version": "0"}})
            cp.peer.notify("notifications/initialized")
            await cp.peer.request("ping")  # the server has seen the notification when this returns
        yield s


def text(res: dict[str, Any]) -> str:
    return "".join(b["text"] for b in res["content"] if b["type"] == "text")
