"""What the WebSocket tests share: a small MCPServer, a client session over our transport, and
a raw conversation over the websockets library's client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from mcpfast import MCPServer
from mcpfast.client import ClientHandlers, ClientSession
from mcpfast.client.websocket import WebSocketTransport, transport_from_url
from mcpfast.transports.http.auth import get_access_token

LEGACY = "2025-11-25"


def make_app() -> MCPServer:
    app = MCPServer("ws-test")

    @app.tool()
    def echo(message: str) -> str:
        return message

    @app.tool()
    async def slow(delay: float, tag: int) -> str:
        await asyncio.sleep(delay)
        return str(tag)

    @app.tool()
    def whoami() -> str:
        token = get_access_token()
        return "anonymous" if token is None else str(token.client_id)

    return app


@contextlib.asynccontextmanager
async def open_session(url: str, **options: Any) -> AsyncIterator[tuple[WebSocketTransport, ClientSession]]:
    """Our client transport + ``ClientSession`` (legacy handshake), closed on exit."""
    transport = transport_from_url(url, **options)
    handlers = ClientHandlers()
    peer = await transport.connect(handlers)
    try:
        session = ClientSession(peer, handlers, protocol_version=LEGACY, read_timeout=10)
        await session.start()
        yield transport, session
    finally:
        await transport.close()


class Conversation:
    """Ask over a websockets client connection: send one message, return the answer with its
    id (notifications in between are kept in ``others``)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.others: list[Any] = []

    async def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        await self.ws.send(json.dumps(message))
        while True:
            answer = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if answer.get("id") == message["id"] and ("result" in answer or "error" in answer):
                return answer  # type: ignore[no-any-return]
            self.others.append(answer)
