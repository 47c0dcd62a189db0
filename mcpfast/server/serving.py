"""Start a server on a socket transport and stop it: ``await app.start(...)`` -> ``ServerHandle``.

::

    server = await app.start("http", host="127.0.0.1", port=0)    # or "tcp"
    print(server.url)                                              # http://127.0.0.1:51234/mcp
    ...
    await server.shutdown(grace=5)    # answers in flight delivered, then the connections close

    async with app.start("tcp", port=0) as server:                 # shut down on leaving
        ...

Every socket transport is served by one ``transports.listener.Listener`` (accept,
``max_connections``, timeouts, TLS, graceful shutdown); this module adds what is the same for
all of them: the server's lifespan around the listener, the handle, SIGTERM/SIGINT while
``serve_forever()`` runs. ``MCPServer.run``/``run_async`` serve every socket transport as
``start()`` + ``serve_forever()``, so a started server and a run one behave alike.

Adding a transport is one entry in ``SOCKET_TRANSPORTS``: a coroutine function that takes the
``ServeRequest`` and returns its listener, started: a ``transports.listener.Listener`` (no
second accept loop) whose front end fills in ``url`` (``_start_ws`` below is the WebSocket
server's). ``app.start(name)``, ``app.run(name)``, ``mcpfast run --transport name`` and
``python -m mcpfast.server --transport name`` all serve it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Generator
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

from ..transports._signals import shutdown_signals
from ..transports.listener import Listener, TLSConfig

__all__ = ["DEFAULT_GRACE", "SOCKET_TRANSPORTS", "ServeRequest", "ServerHandle", "Starting", "TransportUnavailable",
           "canonical_transport", "start_server"]

#: seconds a shutdown lets the calls in flight finish (the transports' own default)
DEFAULT_GRACE = 5.0

#: other names of a transport -> the name in ``SOCKET_TRANSPORTS``
ALIASES = {"streamable-http": "http", "websocket": "ws"}

#: transports served without a socket listener, and where to serve them instead
NOT_SOCKET = {
    "stdio": "stdio is not a socket transport: serve it with run('stdio') or run_stdio_async()",
    "sse": "the HTTP+SSE transport is served by uvicorn: use run('sse') or run_sse_async()",
}


class TransportUnavailable(ValueError):
    """A transport known by name that this installation cannot serve (its module is missing)."""


@dataclasses.dataclass
class ServeRequest:
    """What ``start()`` was asked for, as the transport's entry in ``SOCKET_TRANSPORTS`` gets it."""

    #: the dispatcher every connection is served by (a ``ServerCore``)
    dispatcher: Any
    host: str
    port: int
    tls: TLSConfig = None
    max_connections: int | None = None
    #: seconds one request may run before it is answered with an error (None: no limit)
    request_timeout: float | None = None
    #: the transport's own keywords (an unknown one is the transport's TypeError)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: makes the ``HTTPSettings`` of HTTP-based transports from ``host=`` and the options
    #: (``MCPServer`` passes its own, which knows the SDK's option names, its lifespan and auth)
    settings_factory: Callable[..., Any] | None = None

    def http_settings(self) -> Any:
        """The ``HTTPSettings`` for this request: the options are its fields (or the SDK's
        names, through an ``MCPServer``), ``bind_host`` is the host (the DNS-rebinding default
        depends on it) and ``request_timeout`` the request's."""
        options = dict(self.options)
        options.setdefault("request_timeout", self.request_timeout)
        if self.settings_factory is not None:
            return self.settings_factory(host=self.host, **options)
        from ..transports.http import HTTPSettings

        return HTTPSettings(bind_host=self.host, **options)


Starter = Callable[[ServeRequest], Awaitable[Listener[Any]]]


async def _start_tcp(req: ServeRequest) -> Listener[Any]:
    from ..transports.tcp import start_tcp_server

    kw = dict(req.options)
    if req.max_connections is not None:  # else the TCP server's own default
        kw["max_connections"] = req.max_connections
    return await start_tcp_server(lambda: req.dispatcher, req.host, req.port, tls=req.tls,
                                  request_timeout=req.request_timeout, **kw)


async def _start_http(req: ServeRequest) -> Listener[Any]:
    from ..transports.http import HTTPServer

    server = HTTPServer(req.dispatcher, host=req.host, port=req.port, settings=req.http_settings(), tls=req.tls,
                        max_connections=req.max_connections)
    await server.start()
    return server


async def _start_ws(req: ServeRequest) -> Listener[Any]:
    from ..protocol import DEFAULT_MAX_MESSAGE_SIZE
    from ..transports.websocket import WebSocketSettings, start_websocket_server

    # the HTTP side (path, Host/Origin guard, auth, request timeout); the options are
    # WebSocketSettings fields (ping_interval, idle_timeout, max_message_size...)
    http = dataclasses.replace(req, options={}).http_settings()
    options = {"max_message_size": DEFAULT_MAX_MESSAGE_SIZE, **req.options}
    return await start_websocket_server(
        lambda: req.dispatcher, req.host, req.port, settings=WebSocketSettings.from_http(http, **options),
        tls=req.tls, max_connections=req.max_connections or 1024)


#: transport name -> the coroutine function that builds and starts its listener
SOCKET_TRANSPORTS: dict[str, Starter] = {
    "tcp": _start_tcp,
    "http": _start_http,
    "ws": _start_ws,
}


def canonical_transport(transport: str) -> str:
    """The name of ``transport`` in ``SOCKET_TRANSPORTS`` (aliases resolved). Raises
    ``ValueError`` naming what to use for stdio and HTTP+SSE and for unknown names, and
    ``TransportUnavailable`` for the WebSocket transport when this installation lacks it."""
    name = ALIASES.get(transport, transport)
    if name in SOCKET_TRANSPORTS:
        return name
    if name in NOT_SOCKET:
        raise ValueError(NOT_SOCKET[name])
    if name == "ws":
        raise TransportUnavailable("the WebSocket transport (ws) is not available in this mcpfast build:"
                                   " mcpfast.transports.websocket is missing")
    known = ", ".join(sorted({*SOCKET_TRANSPORTS, *ALIASES}))
    raise ValueError(f"Unknown transport: {transport!r} (socket transports: {known})")


class _Lifespan:
    """A lifespan held open by a task of its own, so that it is entered and left in one task
    whichever tasks call ``start()`` and ``shutdown()`` (anyio cancel scopes require that)."""

    def __init__(self, factory: Callable[[], AbstractAsyncContextManager[Any]]) -> None:
        self._factory = factory
        self._release = asyncio.Event()
        self._entered: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def _hold(self) -> None:
        async with self._factory():
            assert self._entered is not None
            self._entered.set_result(None)
            await self._release.wait()

    async def enter(self) -> None:
        loop = asyncio.get_running_loop()
        self._entered = loop.create_future()
        self._task = task = loop.create_task(self._hold())
        try:
            await asyncio.wait((self._entered, task), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not self._entered.done():  # the lifespan failed before yielding: its error
            task.result()
            raise RuntimeError("the lifespan ended before the server started")

    async def exit(self) -> None:
        """Leave the lifespan; an error of its exit propagates."""
        self._release.set()
        if self._task is not None:
            await self._task


class ServerHandle:
    """A server started by ``start()`` (see the module docstring): where it listens, and how to
    stop it. ``async with handle`` shuts it down on leaving."""

    def __init__(self, transport: str, listener: Listener[Any], dispatcher: Any,
                 lifespan: _Lifespan | None = None) -> None:
        self.transport = transport
        self._listener = listener
        self._dispatcher = dispatcher
        self._lifespan = lifespan
        self._closing: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ where

    @property
    def listener(self) -> Listener[Any]:
        """The transport's listener (``connections``, ``refused``, ``max_connections``...)."""
        return self._listener

    @property
    def host(self) -> str:
        """The address listened on."""
        return self._listener.address[0]

    @property
    def port(self) -> int:
        """The port listened on (the one the OS chose for ``port=0``)."""
        return self._listener.port

    @property
    def url(self) -> str:
        """Where clients connect: ``tcp://h:p``, ``http://h:p/mcp`` (``tcps``/``https`` with TLS)."""
        return self._listener.url

    @property
    def closing(self) -> bool:
        """``shutdown()`` has begun (or a signal started it)."""
        return self._closing is not None

    def __repr__(self) -> str:
        state = "closing" if self._closing is not None else "serving"
        return f"<ServerHandle {self.transport} {self.url} {state}>"

    # ------------------------------------------------------------------ stopping

    def _begin(self, grace: float) -> asyncio.Task[None]:
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._shutdown(grace))
        return self._closing

    async def _shutdown(self, grace: float) -> None:
        try:
            # listen streams end first (each gets its final result), so that they do not hold
            # the connections for the whole grace period
            close_listeners = getattr(self._dispatcher, "close_listeners", None)
            if callable(close_listeners):
                close_listeners()
            await self._listener.close(grace)
        finally:
            if self._lifespan is not None:
                await self._lifespan.exit()

    async def shutdown(self, grace: float = DEFAULT_GRACE) -> None:
        """Graceful shutdown: accept no more connections; each connection reads no new request
        and its calls in flight finish within ``grace`` seconds (their answers are delivered);
        then the connections close and the lifespan ends. Calling it again (or while a signal
        shuts down) waits for the first shutdown."""
        await asyncio.shield(self._begin(grace))

    async def wait_closed(self) -> None:
        """Wait until the server has stopped: by ``shutdown()``, a signal during
        ``serve_forever()``, or its listener closed directly."""
        await self._listener.wait_closed()
        await self.shutdown()  # the listener closed on its own: the lifespan ends too

    async def serve_forever(self, grace: float = DEFAULT_GRACE) -> None:
        """Serve until stopped: SIGTERM/SIGINT (main thread only) shut down gracefully within
        ``grace`` seconds, a second signal cuts every connection at once; cancelling the caller
        shuts down gracefully too."""
        def begin() -> None:
            self._begin(grace)

        with shutdown_signals(begin, self._listener.abort_all, lambda: self._closing is not None, grace):
            try:
                await self.wait_closed()
            except asyncio.CancelledError:
                await asyncio.shield(self.shutdown(grace))
                raise

    async def __aenter__(self) -> ServerHandle:
        return self

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.shutdown()


class Starting:
    """What ``start()`` returns: await it for the ``ServerHandle``, or use it with
    ``async with`` (the server is shut down on leaving)."""

    __slots__ = ("_coro", "_handle")

    def __init__(self, coro: Awaitable[ServerHandle]) -> None:
        self._coro = coro
        self._handle: ServerHandle | None = None

    def __await__(self) -> Generator[Any, None, ServerHandle]:
        return self._coro.__await__()

    async def __aenter__(self) -> ServerHandle:
        self._handle = await self._coro
        return self._handle

    async def __aexit__(self, et: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._handle is not None:
            await self._handle.shutdown()


async def start_server(
    dispatcher: Any,
    transport: str = "http",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: TLSConfig = None,
    max_connections: int | None = None,
    request_timeout: float | None = None,
    lifespan: Callable[[], AbstractAsyncContextManager[Any]] | None = None,
    settings_factory: Callable[..., Any] | None = None,
    **options: Any,
) -> ServerHandle:
    """Serve ``dispatcher`` on ``transport`` (a name in ``SOCKET_TRANSPORTS`` or an alias) at
    ``host:port`` and return its handle once listening. ``lifespan`` (a factory of an async
    context manager) is entered before listening and left after the shutdown; a failure to
    listen leaves it at once. ``options`` are the transport's own keywords."""
    name = canonical_transport(transport)
    starter = SOCKET_TRANSPORTS[name]
    held = _Lifespan(lifespan) if lifespan is not None else None
    if held is not None:
        await held.enter()
    request = ServeRequest(dispatcher, host, port, tls=tls, max_connections=max_connections,
                           request_timeout=request_timeout, options=options, settings_factory=settings_factory)
    try:
        listener = await starter(request)
    except BaseException:
        if held is not None:
            await held.exit()
        raise
    return ServerHandle(name, listener, dispatcher, held)
