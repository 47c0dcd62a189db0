"""Drive a ServerCore through a real JSONRPCPeer; what the peer sends is decoded back."""

from __future__ import annotations

import asyncio
from typing import Any

from mcpfast.peer import JSONRPCPeer
from mcpfast.server import CLIENT_CAPABILITIES_KEY, PROTOCOL_VERSION_KEY, ServerCore
from mcpfast.wire import _json, jsonrpc

MODERN = "2026-07-28"


def make_core(**kw: Any) -> ServerCore:
    return ServerCore("test-server", "1.0.0", **kw)


class Conn:
    """One client connection to ``core``: raw messages in, decoded messages out."""

    def __init__(self, core: ServerCore) -> None:
        self.core = core
        self.out: list[Any] = []
        self.raw: list[bytes] = []
        self.peer = JSONRPCPeer(core, self._send)
        self._next = 0

    def _send(self, messages: list[bytes]) -> None:
        for m in messages:
            self.raw.append(m)
            self.out.append(jsonrpc.decode(m))

    # ---------------------------------------------------------------- input

    def feed(self, obj: Any) -> None:
        self.peer.feed(jsonrpc.decode_all([_json.dumps(obj)]))

    def send(self, method: str, params: Any = None, *, id: Any = None) -> Any:
        if id is None:
            self._next += 1
            id = self._next
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            msg["params"] = params
        self.feed(msg)
        return id

    def notify(self, method: str, params: Any = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        self.feed(msg)

    # ---------------------------------------------------------------- output

    def find(self, rid: Any) -> Any:
        for m in self.out:
            if type(m) in (jsonrpc.Response, jsonrpc.ErrorResponse) and m.id == rid:
                return m
        return None

    async def wait_for(self, rid: Any, rounds: int = 200) -> Any:
        for _ in range(rounds):
            m = self.find(rid)
            if m is not None:
                return m
            await asyncio.sleep(0)
        raise AssertionError(f"no response to {rid!r}; sent: {self.out!r}")

    async def request(self, method: str, params: Any = None) -> Any:
        return await self.wait_for(self.send(method, params))

    async def modern(self, method: str, params: dict[str, Any] | None = None, *,
                     caps: dict[str, Any] | None = None, version: str = MODERN, **meta: Any) -> Any:
        p = dict(params or {})
        m = {PROTOCOL_VERSION_KEY: version, CLIENT_CAPABILITIES_KEY: caps or {}}
        m.update(meta)
        p["_meta"] = m
        return await self.request(method, p)

    async def initialize(self, version: str = "2025-11-25", caps: dict[str, Any] | None = None) -> Any:
        r = await self.request("initialize", {
            "protocolVersion": version, "capabilities": caps or {},
            "clientInfo": {"name": "t", "version": "0"},
        })
        self.notify("notifications/initialized")
        return r

    def notifications(self, method: str | None = None) -> list[Any]:
        return [m for m in self.out if type(m) is jsonrpc.Notification and (method is None or m.method == method)]

    def requests(self, method: str | None = None) -> list[Any]:
        return [m for m in self.out if type(m) is jsonrpc.Request and (method is None or m.method == method)]


def ok(resp: Any) -> Any:
    assert type(resp) is jsonrpc.Response, resp
    return resp.result


def err(resp: Any, code: int) -> Any:
    assert type(resp) is jsonrpc.ErrorResponse, resp
    assert resp.code == code, resp
    return resp
