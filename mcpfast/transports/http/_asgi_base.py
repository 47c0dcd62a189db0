"""What every mcpfast ASGI 3 endpoint shares: the scope dispatch, lifespan events, a lazy start
when mounted without lifespan events, and Starlette's mount-path rule.

The Streamable HTTP app (``asgi.py``) and the deprecated HTTP+SSE app (``sse_legacy.py``) build
on it; each supplies ``startup``/``shutdown`` (idempotent) and ``_http``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["ASGIEndpoint", "Scope", "Message", "Receive", "Send", "route_path"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def route_path(scope: Scope) -> str:
    """The request path as the endpoint sees it: Starlette (``routing.get_route_path``) leaves
    a mount's ``root_path`` on ``path``, so it is taken off here ("" when the mount's root)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root):]
    return path


class ASGIEndpoint:
    """Base of mcpfast's ASGI apps (see the module docstring)."""

    #: who logs a failed startup/shutdown, and says what to use instead of a WebSocket
    _what = "mcpfast ASGI app"
    _websocket_reason = "use HTTP"
    _log = logging.getLogger("mcpfast.transports.http.asgi")
    _started = False

    async def startup(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def shutdown(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A ``websocket`` scope: refused (close 1003) unless the endpoint serves WebSocket."""
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1003, "reason": f"{self._what}: {self._websocket_reason}"})

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """``startup()`` then ``shutdown()``: for a parent app's lifespan when mounted, e.g.
        ``Starlette(routes=[Mount("/mcp", app=mcp_app)], lifespan=lambda _: mcp_app.lifespan())``."""
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if not self._started:
                await self.startup()  # mounted without lifespan events: start on first use
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan_events(receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            raise RuntimeError(f"{self._what}: unsupported scope type {kind!r}")

    async def _lifespan_events(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "lifespan.startup":
                step, done = self.startup, "startup"
            elif kind == "lifespan.shutdown":
                step, done = self.shutdown, "shutdown"
            else:
                continue
            try:
                await step()
            except Exception as exc:
                self._log.exception("%s %s failed", self._what, done)
                await send({"type": f"lifespan.{done}.failed", "message": f"{type(exc).__name__}: {exc}"})
                return
            await send({"type": f"lifespan.{done}.complete"})
            if done == "shutdown":
                return
