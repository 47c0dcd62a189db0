"""An in-process MCP client for tests: ``async with mcpfast.testing.Client(app) as c:``.

``app`` is an ``MCPServer`` (its ``core`` is served and its lifespan entered) or a
``ServerCore``. Client and server are joined by ``mcpfast.transports.memory``: every message
goes through the real encoder, line splitter and decoder of the active wire twin, so what a
test sees is what a stdio client would see, without a subprocess::

    from mcpfast import MCPServer
    from mcpfast.testing import Client

    app = MCPServer("demo")

    @app.tool()
    def add(a: int, b: int) -> int:
        return a + b

    async def test_add() -> None:
        async with Client(app) as c:
            res = await c.call_tool("add", {"a": 1, "b": 2})
            assert res["content"][0]["text"] == "3"
            assert res["structuredContent"] == {"result": 3}

The methods mirror the official SDK's client (``mcp.Client``) but **return the JSON result
objects as plain dicts** (``{"tools": [...]}``, ``{"content": [...], "isError": True}``...),
exactly as received (2026-07-28 results keep ``resultType`` and ``_meta``). A JSON-RPC error
response raises ``mcpfast.errors.McpError`` (``.code``, ``.message``, ``.data``).

``protocol_version`` picks the era: a handshake version (default ``"2025-11-25"``) opens an
``initialize`` session, and the server may call back (sampling, elicitation, roots: answered by
the callbacks); ``"2026-07-28"`` sends every request with the stateless ``_meta`` envelope (after
a ``server/discover``), and input requests (multi round-trip) are answered by the same callbacks
and the request retried automatically; ``"auto"`` probes like the SDK does. Run a test in both
eras by parametrizing over ``mcpfast.testing.ERAS``.

Callbacks take the request's ``params`` dict and return the result dict, or an awaitable of it:
``sampling_callback`` (``sampling/createMessage`` -> ``CreateMessageResult``),
``elicitation_callback`` (``elicitation/create`` -> ``ElicitResult``), ``list_roots_callback``
(``roots/list`` -> ``ListRootsResult``); each one given declares its client capability.
``logging_callback(params)`` gets ``notifications/message``; ``message_handler(method, params)``
every notification; ``c.notifications`` lists them all. A pytest plugin
(``mcpfast.pytest_plugin``) offers fixtures for all this.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

from .client.memory import InProcessTransport, core_of
from .client.session import Callback, ClientHandlers, ClientSession, NotificationHandler, check_protocol_version
from .errors import ToolError
from .types import LATEST_HANDSHAKE_VERSION

__all__ = ["Client", "ERAS", "LEGACY", "MODERN", "text_of"]

#: the latest handshake-era version (``initialize`` session)
LEGACY = LATEST_HANDSHAKE_VERSION
#: the stateless era
MODERN = "2026-07-28"
#: both eras, for ``pytest.mark.parametrize("mcp_protocol_version", ERAS)``
ERAS = (LEGACY, MODERN)

ProgressCallback = Callable[[float, float | None, str | None], Any]


def text_of(result: dict[str, Any]) -> str:
    """The text blocks of a ``CallToolResult`` (or one prompt message's content) joined."""
    blocks = result.get("content")
    if isinstance(blocks, dict):
        blocks = [blocks]
    return "".join(b.get("text", "") for b in blocks or () if isinstance(b, dict) and b.get("type") == "text")


class Client:
    """An MCP client connected in process to ``app`` (see the module docstring).

    Enter it with ``async with``; entering again while connected (nested ``async with``) is
    allowed and connects nothing new. ``read_timeout`` (seconds) bounds every request;
    ``raise_on_error=True`` makes ``call_tool`` raise ``ToolError`` (with ``.result``) for an
    ``isError`` result. ``lifespan=False`` skips the ``MCPServer``'s lifespan. ``log_level``
    (2026-07-28) opts every request in to log messages at that level and above.
    ``max_message_size`` and ``request_timeout`` go to both ends' protocols.
    """

    def __init__(
        self,
        app: Any,
        *,
        protocol_version: str = LEGACY,
        capabilities: dict[str, Any] | None = None,
        client_info: dict[str, Any] | None = None,
        sampling_callback: Callback | None = None,
        elicitation_callback: Callback | None = None,
        list_roots_callback: Callback | None = None,
        logging_callback: Callable[[dict[str, Any]], Any] | None = None,
        message_handler: NotificationHandler | None = None,
        raise_on_error: bool = False,
        read_timeout: float | None = None,
        log_level: str | None = None,
        lifespan: bool = True,
        max_input_rounds: int = 10,
        **protocol_kw: Any,
    ) -> None:
        self.app = app
        self.core = core_of(app)
        self.raise_on_error = raise_on_error
        self.handlers = ClientHandlers(
            sampling_callback=sampling_callback, elicitation_callback=elicitation_callback,
            list_roots_callback=list_roots_callback, logging_callback=logging_callback,
            message_handler=message_handler,
        )
        self._session_kw: dict[str, Any] = {
            "protocol_version": protocol_version, "capabilities": capabilities, "client_info": client_info,
            "read_timeout": read_timeout, "log_level": log_level, "max_input_rounds": max_input_rounds,
        }
        check_protocol_version(protocol_version)  # fail now, not at connection time
        self._lifespan = lifespan
        self._protocol_kw = protocol_kw
        self._transport: InProcessTransport | None = None
        self._session: ClientSession | None = None
        self._depth = 0

    # ------------------------------------------------------------------ connection

    async def __aenter__(self) -> Client:
        self._depth += 1
        if self._depth > 1:
            return self
        try:
            await self._connect()
        except BaseException:
            self._depth = 0
            raise
        return self

    async def _connect(self) -> None:
        transport = InProcessTransport(self.app, lifespan=self._lifespan, **self._protocol_kw)
        peer = await transport.connect(self.handlers)
        try:
            session = ClientSession(peer, self.handlers, **self._session_kw)
            await session.start()
            if not session.modern:
                # the server has seen notifications/initialized once this is answered
                await session.peer.request("ping", timeout=session.read_timeout)
        except BaseException:
            await transport.close()
            raise
        self._transport = transport
        self._session = session

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        transport, self._transport, self._session = self._transport, None, None
        if transport is not None:
            await transport.close()

    @property
    def session(self) -> ClientSession:
        """The ``ClientSession`` (raises RuntimeError when not connected)."""
        if self._session is None:
            raise RuntimeError("the Client is not connected: use `async with Client(app) as client:`")
        return self._session

    @property
    def connected(self) -> bool:
        return self._session is not None

    @property
    def protocol_version(self) -> str:
        """The protocol version in use (negotiated by ``initialize`` or chosen)."""
        return self.session.protocol_version  # type: ignore[return-value]

    @property
    def server_info(self) -> dict[str, Any] | None:
        """``serverInfo`` (``initialize``) or the ``serverInfo`` stamp of ``server/discover``."""
        return self.session.server_info

    @property
    def server_capabilities(self) -> dict[str, Any]:
        return self.session.server_capabilities

    @property
    def instructions(self) -> str | None:
        return self.session.instructions

    @property
    def notifications(self) -> list[tuple[str, Any]]:
        """``(method, params)`` of the notifications received so far, oldest first (a copy; the
        last 10,000 are kept)."""
        return list(self.handlers.notifications)

    def notifications_of(self, method: str) -> list[Any]:
        """The params of the notifications received with ``method``."""
        return [p for m, p in self.handlers.notifications if m == method]

    @property
    def server_requests(self) -> list[tuple[str, Any]]:
        """``(method, params)`` of the requests the server sent (legacy era; a copy)."""
        return list(self.handlers.requests)

    async def request(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        """Any request by method name (the envelope and input rounds handled as for the rest)."""
        return await self.session.request(method, params, **kw)

    async def notify(self, method: str, params: Any = None) -> None:
        """Send a notification (``notifications/roots/list_changed``...)."""
        self.session.notify(method, params)
        await self.session.wait_idle()

    # ------------------------------------------------------------------ the SDK's methods

    async def send_ping(self) -> dict[str, Any]:
        """``ping`` (legacy sessions; 2026-07-28 removed it: MethodNotFound there)."""
        return await self.session.request("ping")  # type: ignore[no-any-return]

    async def discover(self) -> dict[str, Any]:
        """``server/discover`` (2026-07-28; answered by dual-era servers on any connection)."""
        return await self.session.discover()

    async def list_tools(self, cursor: str | None = None) -> dict[str, Any]:
        """One page of ``tools/list``: ``{"tools": [...], "nextCursor"?: ...}``."""
        return await self.session.request("tools/list", _cursor(cursor))  # type: ignore[no-any-return]

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None, *,
                        progress_callback: ProgressCallback | None = None, read_timeout: float | None = None,
                        raise_on_error: bool | None = None, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """``tools/call`` -> the ``CallToolResult`` dict. ``progress_callback(progress, total,
        message)`` gets the call's progress notifications. With ``raise_on_error`` (default: the
        client's) an ``isError`` result raises ``ToolError`` carrying ``.result``."""
        params: dict[str, Any] = {"name": name, "arguments": arguments or {}}
        res: dict[str, Any] = await self.session.request(
            "tools/call", params, progress_callback=progress_callback, timeout=read_timeout, meta=meta)
        if res.get("isError") and (self.raise_on_error if raise_on_error is None else raise_on_error):
            err = ToolError(text_of(res) or f"tool {name!r} failed")
            err.result = res  # type: ignore[attr-defined]
            raise err
        return res

    async def list_resources(self, cursor: str | None = None) -> dict[str, Any]:
        return await self.session.request("resources/list", _cursor(cursor))  # type: ignore[no-any-return]

    async def list_resource_templates(self, cursor: str | None = None) -> dict[str, Any]:
        return await self.session.request("resources/templates/list", _cursor(cursor))  # type: ignore[no-any-return]

    async def read_resource(self, uri: str, *, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """``resources/read`` -> ``{"contents": [...]}``."""
        return await self.session.request("resources/read", {"uri": str(uri)}, meta=meta)  # type: ignore[no-any-return]

    async def subscribe_resource(self, uri: str) -> dict[str, Any]:
        """``resources/subscribe`` (legacy sessions)."""
        return await self.session.request("resources/subscribe", {"uri": str(uri)})  # type: ignore[no-any-return]

    async def unsubscribe_resource(self, uri: str) -> dict[str, Any]:
        return await self.session.request("resources/unsubscribe", {"uri": str(uri)})  # type: ignore[no-any-return]

    async def list_prompts(self, cursor: str | None = None) -> dict[str, Any]:
        return await self.session.request("prompts/list", _cursor(cursor))  # type: ignore[no-any-return]

    async def get_prompt(self, name: str, arguments: dict[str, str] | None = None, *,
                         meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """``prompts/get`` -> ``{"messages": [...], "description"?: ...}``."""
        params: dict[str, Any] = {"name": name}
        if arguments is not None:
            params["arguments"] = arguments
        return await self.session.request("prompts/get", params, meta=meta)  # type: ignore[no-any-return]

    async def complete(self, ref: dict[str, Any], argument: dict[str, str],
                       context_arguments: dict[str, str] | None = None) -> dict[str, Any]:
        """``completion/complete``: ``ref`` is ``{"type": "ref/prompt", "name": ...}`` or
        ``{"type": "ref/resource", "uri": ...}`` (or an SDK reference model); ``argument`` is
        ``{"name": ..., "value": ...}``. Returns ``{"completion": {"values": [...], ...}}``."""
        if hasattr(ref, "model_dump"):
            ref = ref.model_dump(by_alias=True, exclude_none=True)
        params: dict[str, Any] = {"ref": ref, "argument": argument}
        if context_arguments is not None:
            params["context"] = {"arguments": context_arguments}
        return await self.session.request("completion/complete", params)  # type: ignore[no-any-return]

    async def set_logging_level(self, level: str) -> dict[str, Any]:
        """Legacy: ``logging/setLevel``. 2026-07-28 has no such request: the level is stamped
        on every later request's ``_meta`` instead (what the spec replaced it with)."""
        session = self.session
        if session.modern:
            session.log_level = level
            return {}
        return await session.request("logging/setLevel", {"level": level})  # type: ignore[no-any-return]

    async def send_roots_list_changed(self) -> None:
        """``notifications/roots/list_changed`` (legacy)."""
        await self.notify("notifications/roots/list_changed")

    def __repr__(self) -> str:
        state = f"connected at {self._session.protocol_version}" if self._session is not None else "not connected"
        return f"<mcpfast.testing.Client {state}>"


def _cursor(cursor: str | None) -> dict[str, Any] | None:
    return {"cursor": cursor} if cursor is not None else None


# ---------------------------------------------------------------------------- async test runner

__all__ += ["async_test", "LeftoverTasksError"]

#: loop turns granted, after the test body returns, to tasks that are finishing (done callbacks,
#: closing transports) before the ones still pending count as left behind
SETTLE_ROUNDS = 10


class LeftoverTasksError(AssertionError):
    """An async test returned while tasks it started were still running: they would have been
    cancelled silently by ``asyncio.run`` and their failures never seen."""


def async_test(fn: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    """Run ``async def test_x(...)`` as a plain test, without an async pytest plugin.

    Each call gets a fresh event loop in debug mode (``asyncio.run(..., debug=True)``: never
    retrieved exceptions, unawaited coroutines and non-thread-safe calls are reported), and the
    test fails with ``LeftoverTasksError`` if tasks it started are still pending once the body
    has returned and the loop has turned ``SETTLE_ROUNDS`` times; they are cancelled and awaited
    first so nothing leaks into the next test. A body that raised keeps its own exception. The
    wrapper keeps the function's signature, so pytest fixtures and parametrization work::

        @async_test
        async def test_add(tmp_path) -> None:
            async with Client(app) as c:
                ...
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(_run_checked(fn(*args, **kwargs)), debug=True)

    return wrapper


async def _run_checked(body: Coroutine[Any, Any, Any]) -> Any:
    result = await body
    me = asyncio.current_task()
    pending: list[asyncio.Task[Any]] = []
    for _ in range(SETTLE_ROUNDS):
        pending = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        if not pending:
            return result
        await asyncio.sleep(0)
    names = ", ".join(repr(t) for t in pending)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    raise LeftoverTasksError(f"{len(pending)} task(s) left running by the test: {names}")
