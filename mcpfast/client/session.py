"""The client side of an MCP connection, in either era, over any ``JSONRPCPeer``.

``ClientSession`` speaks MCP from the client's side on a peer that a transport already
connected (the in-process memory pair of ``mcpfast.testing``, and later stdio, TCP and HTTP):

* **legacy** (a handshake version, ``2024-11-05`` ... ``2025-11-25``): ``initialize`` then
  ``notifications/initialized``; the server may send requests back (sampling, elicitation,
  roots), answered by ``ClientHandlers`` from the callbacks;
* **modern** (``2026-07-28``): no handshake; every request carries the ``_meta`` envelope
  (protocol version, client capabilities, client info, the log level if one was chosen), and an
  ``InputRequiredResult`` (multi-round-trip request) is answered with the same callbacks and the
  request retried with ``inputResponses`` and the echoed ``requestState``.

Results are the JSON-RPC result objects as decoded (plain dicts); an error response raises
``mcpfast.errors.McpError`` (a ``JSONRPCError``: ``code``, ``message``, ``data``).

Callbacks take the request's ``params`` dict and return the result dict (or an awaitable of
it); raising a ``JSONRPCError`` answers with that error. In the modern era an exception in a
callback propagates to the caller of the request that needed the input.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from .. import tracing as _tracing
from ..errors import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    UNSUPPORTED_PROTOCOL_VERSION,
    JSONRPCError,
    MCPError,
    McpError,
    MethodNotFound,
)
from ..peer import JSONRPCPeer
from ..tracing import PROVIDER_KEY as _TRACER_PROVIDER
from ..types import (
    CLIENT_CAPABILITIES_KEY,
    CLIENT_INFO_KEY,
    HANDSHAKE_PROTOCOL_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    LOG_LEVEL_KEY,
    MODERN_PROTOCOL_VERSIONS,
    PROTOCOL_VERSION_KEY,
    SERVER_INFO_KEY,
)

__all__ = [
    "ClientSession",
    "ClientHandlers",
    "Callback",
    "check_protocol_version",
    "PROTOCOL_VERSION_KEY",
    "CLIENT_CAPABILITIES_KEY",
    "CLIENT_INFO_KEY",
    "SERVER_INFO_KEY",
    "LOG_LEVEL_KEY",
    "DEFAULT_MAX_INPUT_ROUNDS",
    "InputRequiredRoundsExceededError",
]


#: how many InputRequiredResult rounds one request may take before the client gives up
DEFAULT_MAX_INPUT_ROUNDS = 10

#: a callback answering a server->client request: params -> result (or an awaitable of it)
Callback = Callable[[dict[str, Any]], "dict[str, Any] | Awaitable[dict[str, Any]]"]
NotificationHandler = Callable[[str, Any], Any]

#: the callback that answers each server->client request method
_CALLBACK_OF = {
    "sampling/createMessage": "sampling_callback",
    "elicitation/create": "elicitation_callback",
    "roots/list": "list_roots_callback",
}


async def maybe_await(value: Any) -> Any:
    """``value``, awaited first when it is awaitable (callbacks may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value


async def await_all(waits: list[Any]) -> None:
    """Await each of ``waits`` in order."""
    for w in waits:
        await w


class ClientHandlers:
    """The client's ``Dispatcher``: answers server->client requests from the callbacks and
    routes notifications (progress to the request that asked for it, log messages to
    ``logging_callback``, every notification to ``message_handler`` and ``notifications``).

    ``keep_notifications`` bounds the ``notifications`` list (oldest dropped first); 0 keeps
    none.
    """

    def __init__(
        self,
        *,
        sampling_callback: Callback | None = None,
        elicitation_callback: Callback | None = None,
        list_roots_callback: Callback | None = None,
        logging_callback: Callable[[dict[str, Any]], Any] | None = None,
        message_handler: NotificationHandler | None = None,
        keep_notifications: int = 10_000,
    ) -> None:
        self.sampling_callback = sampling_callback
        self.elicitation_callback = elicitation_callback
        self.list_roots_callback = list_roots_callback
        self.logging_callback = logging_callback
        self.message_handler = message_handler
        #: ``(method, params)`` of the notifications received, oldest first (the last
        #: ``keep_notifications``)
        self.notifications: collections.deque[tuple[str, Any]] = collections.deque(maxlen=max(keep_notifications, 0))
        #: ``(method, params)`` of the requests the server sent (legacy era), oldest first (as bounded)
        self.requests: collections.deque[tuple[str, Any]] = collections.deque(maxlen=max(keep_notifications, 0))

    def capabilities(self) -> dict[str, Any]:
        """The ``ClientCapabilities`` the callbacks imply."""
        caps: dict[str, Any] = {}
        if self.sampling_callback is not None:
            caps["sampling"] = {}
        if self.elicitation_callback is not None:
            caps["elicitation"] = {"form": {}, "url": {}}
        if self.list_roots_callback is not None:
            caps["roots"] = {"listChanged": True}
        return caps

    async def answer(self, method: str, params: dict[str, Any]) -> Any:
        """The callback's answer to one server->client request (legacy request or modern
        input request); ``MethodNotFound`` when no callback handles ``method``."""
        if method == "ping":
            return {}
        attr = _CALLBACK_OF.get(method)
        cb = getattr(self, attr) if attr is not None else None
        if cb is None:
            raise MethodNotFound(f"Method not found: {method} (this client has no callback for it)")
        return await maybe_await(cb(params))

    # ------------------------------------------------------------------ Dispatcher

    def on_request(self, peer: JSONRPCPeer, request: Any) -> Any:
        # tracing: one slot read; with a provider set, the server's request is answered inside
        # a SERVER span whose parent is the server's CLIENT span (from params._meta)
        if _tracing.watched[_TRACER_PROVIDER] is not None:
            return _tracing.trace_request(self._on_request_untraced, peer, request, from_http=False)
        return self._on_request_untraced(peer, request)

    def _on_request_untraced(self, peer: JSONRPCPeer, request: Any) -> Any:
        params = request.params if type(request.params) is dict else {}
        self.requests.append((request.method, params))
        return self.answer(request.method, params)

    def on_notification(self, peer: JSONRPCPeer, notification: Any) -> Any:
        # tracing: one slot read; with a provider set, handled inside a SERVER span whose
        # parent is the server's CLIENT span (from params._meta). Subclasses override
        # handle_notification.
        if _tracing.watched[_TRACER_PROVIDER] is not None:
            return _tracing.trace_notification(self.handle_notification, peer, notification, from_http=False)
        return self.handle_notification(peer, notification)

    def handle_notification(self, peer: JSONRPCPeer, notification: Any) -> Any:
        """Route one notification from the server (see the class docstring); may return an
        awaitable (the peer runs it as a task)."""
        method = notification.method
        params = notification.params
        self.notifications.append((method, params))
        if method == "notifications/progress" and type(params) is dict:
            peer.on_progress(params)
        pending: list[Any] = []
        if method == "notifications/message" and self.logging_callback is not None:
            pending.append(self.logging_callback(params))
        if self.message_handler is not None:
            pending.append(self.message_handler(method, params))
        waits = [p for p in pending if inspect.isawaitable(p)]
        return await_all(waits) if waits else None

    def on_batch(self, peer: JSONRPCPeer, batch: Any) -> bool:
        return False  # servers never send batches

    def on_close(self, peer: JSONRPCPeer, exc: BaseException | None) -> None:
        pass


def check_protocol_version(version: str) -> None:
    """ValueError unless ``version`` is ``"auto"`` or a version this client speaks."""
    if version not in HANDSHAKE_PROTOCOL_VERSIONS and version not in MODERN_PROTOCOL_VERSIONS and version != "auto":
        known = ", ".join((*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS))
        raise ValueError(f"Unknown protocol_version {version!r}; expected \"auto\" or one of {known}")


class ClientSession:
    """MCP requests from the client side on a connected ``peer`` (see the module docstring).

    ``protocol_version``: a handshake version (``initialize``), ``"2026-07-28"`` (stateless
    envelope; ``server/discover`` fills in the server's identity), or ``"auto"`` (probe
    ``server/discover``; fall back to ``initialize`` when the server does not speak 2026-07-28).
    Call ``await session.start()`` once before anything else.
    """

    def __init__(
        self,
        peer: JSONRPCPeer,
        handlers: ClientHandlers,
        *,
        protocol_version: str = LATEST_HANDSHAKE_VERSION,
        capabilities: dict[str, Any] | None = None,
        client_info: dict[str, Any] | None = None,
        read_timeout: float | None = None,
        log_level: str | None = None,
        max_input_rounds: int = DEFAULT_MAX_INPUT_ROUNDS,
    ) -> None:
        check_protocol_version(protocol_version)
        self.peer = peer
        self.handlers = handlers
        self.requested_version = protocol_version
        caps = handlers.capabilities()
        caps.update(capabilities or {})
        #: the ClientCapabilities sent (``initialize``, or every modern request's envelope)
        self.capabilities = caps
        self.client_info = client_info or {"name": "mcpfast-client", "version": _version()}
        self.read_timeout = read_timeout
        self._log_level = log_level
        self._env: dict[str, Any] | None = None  # the envelope, built once per version/level
        self.max_input_rounds = max_input_rounds
        #: the version in use once started
        self.protocol_version: str | None = None
        self.server_info: dict[str, Any] | None = None
        self.server_capabilities: dict[str, Any] = {}
        self.instructions: str | None = None
        #: the ``initialize`` result (legacy) or the ``server/discover`` result (modern)
        self.handshake: dict[str, Any] | None = None

    @property
    def modern(self) -> bool:
        """Whether requests use the stateless 2026-07-28 envelope."""
        return self.protocol_version in MODERN_PROTOCOL_VERSIONS

    @property
    def log_level(self) -> str | None:
        """2026-07-28: the ``logLevel`` stamped on every request (None: no log messages)."""
        return self._log_level

    @log_level.setter
    def log_level(self, level: str | None) -> None:
        self._log_level = level
        self._env = None

    def use_version(self, version: str) -> None:
        """Switch to ``version`` (a modern one: later requests carry it in their envelope)."""
        self.protocol_version = version
        self._env = None

    def adopt(self, discover: dict[str, Any] | None = None) -> None:
        """Start a 2026-07-28 conversation without a probe (the version was pinned): take the
        server's identity from an earlier ``server/discover`` result, or know nothing yet."""
        if self.requested_version not in MODERN_PROTOCOL_VERSIONS:
            raise ValueError(f"adopt() needs a pinned modern version, not {self.requested_version!r}")
        self.use_version(self.requested_version)
        if discover is not None:
            self._take_discover(discover)
        else:
            self.handshake = {"supportedVersions": [self.requested_version], "capabilities": {},
                              "resultType": "complete", "ttlMs": 0, "cacheScope": "public"}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the conversation: ``initialize`` (legacy), ``server/discover`` (modern), or
        the probe (``auto``)."""
        _tracing.refresh()  # an opentelemetry imported after mcpfast: watch its provider slot
        wanted = self.requested_version
        if wanted in HANDSHAKE_PROTOCOL_VERSIONS:
            await self.initialize(wanted)
            return
        version = MODERN_PROTOCOL_VERSIONS[-1] if wanted == "auto" else wanted
        self.use_version(version)
        try:
            await self.discover()
        except McpError as exc:
            if wanted != "auto":
                raise
            ours = _supported_modern(exc)
            if ours:  # a modern server that wants another modern version: use it
                self.use_version(ours[-1])
                await self.discover()
                return
            self.protocol_version = None
            await self.initialize(LATEST_HANDSHAKE_VERSION)

    async def initialize(self, version: str) -> dict[str, Any]:
        """The legacy handshake; the server's answer is kept in ``handshake``."""
        # through tracing.request: a CLIENT span when tracing is on (peer.request itself when off)
        res = await _tracing.request(self.peer, "initialize", {
            "protocolVersion": version, "capabilities": self.capabilities, "clientInfo": self.client_info,
        }, protocol_version=version, timeout=self.read_timeout)
        agreed = res.get("protocolVersion")
        if agreed not in HANDSHAKE_PROTOCOL_VERSIONS:
            raise McpError(f"The server answered initialize with protocol version {agreed!r}, which this client"
                           " does not speak", {"supported": list(HANDSHAKE_PROTOCOL_VERSIONS), "requested": agreed},
                           code=INVALID_PARAMS)
        self.protocol_version = agreed
        self.handshake = res
        self.server_info = res.get("serverInfo")
        self.server_capabilities = res.get("capabilities") or {}
        self.instructions = res.get("instructions")
        _tracing.notify(self.peer, "notifications/initialized", protocol_version=agreed)
        return res  # type: ignore[no-any-return]

    async def discover(self) -> dict[str, Any]:
        """``server/discover`` (a 2026-07-28 method, always sent with the modern envelope);
        updates ``server_info``/``server_capabilities``/``instructions``."""
        version = self.protocol_version if self.modern else MODERN_PROTOCOL_VERSIONS[-1]
        res = await _tracing.request(self.peer, "server/discover", {"_meta": self._envelope(version)},
                                     protocol_version=version, timeout=self.read_timeout)
        if self.modern:
            self._take_discover(res)
        return res  # type: ignore[no-any-return]

    def _take_discover(self, res: dict[str, Any]) -> None:
        self.handshake = res
        self.server_capabilities = res.get("capabilities") or {}
        self.instructions = res.get("instructions")
        meta = res.get("_meta")
        if isinstance(meta, dict) and isinstance(meta.get(SERVER_INFO_KEY), dict):
            self.server_info = meta[SERVER_INFO_KEY]

    # ------------------------------------------------------------------ requests

    def _envelope(self, version: str | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {
            PROTOCOL_VERSION_KEY: version or self.protocol_version,
            CLIENT_CAPABILITIES_KEY: self.capabilities,
            CLIENT_INFO_KEY: self.client_info,
        }
        if self._log_level is not None:
            meta[LOG_LEVEL_KEY] = self._log_level
        return meta

    @property
    def envelope(self) -> dict[str, Any]:
        """The ``_meta`` envelope of this session's modern requests, built once (it is only
        encoded, never changed: a new one replaces it when the version or log level changes)."""
        env = self._env
        if env is None:
            env = self._env = self._envelope()
        return env

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        progress_callback: Callable[[float, float | None, str | None], Any] | None = None,
        timeout: float | None = None,
        meta: dict[str, Any] | None = None,
        input_responses: dict[str, Any] | None = None,
        request_state: str | None = None,
        on_sent: Callable[[int], Any] | None = None,
    ) -> Any:
        """Send one request (the modern envelope added when in use) and return its result.

        At 2026-07-28 an ``InputRequiredResult`` is answered with the callbacks and the request
        retried (new id, ``inputResponses``, ``requestState`` echoed) up to
        ``max_input_rounds`` times; the final result is returned. ``progress_callback(progress,
        total, message)`` gets this request's progress notifications. ``input_responses`` and
        ``request_state`` seed the first round (resuming an exchange). A server that rejects
        the version (-32022) with one this client also speaks is asked again with it, once.

        With an OpenTelemetry tracer provider set, the request gets a ``CLIENT`` span
        (``mcpfast.tracing.client_call``) whose context travels in ``params._meta``, so the
        server's span is its child.
        """
        if self.protocol_version is None:
            raise RuntimeError("the session is not started (call start() first)")
        if _tracing.watched[_TRACER_PROVIDER] is not None and type(meta) is not _tracing.TraceMeta:
            # a tracer provider is set (and this is not the traced re-entry): a CLIENT span
            return await self._traced(method, params, progress_callback, timeout, meta, input_responses,
                                      request_state, on_sent)
        if timeout is None:
            timeout = self.read_timeout
        if (meta is None and progress_callback is None and input_responses is None and request_state is None
                and on_sent is None and (params is None or "_meta" not in params)):
            # the common call: one dict built (the envelope is shared), no progress routing
            if not self.modern:
                return await self.peer.request(method, params, timeout=timeout)
            send = {**params, "_meta": self.envelope} if params else {"_meta": self.envelope}
            try:
                res = await self.peer.request(method, send, timeout=timeout)
            except McpError as exc:
                if exc.code != UNSUPPORTED_PROTOCOL_VERSION or not self.switch_version(exc):
                    raise
                return await self.request(method, params, timeout=timeout)
            if type(res) is dict and res.get("resultType") == "input_required":
                return await self._rounds(method, dict(params or {}), {}, res, timeout, None, None)
            return res
        base = dict(params or {})
        extra = dict(base.pop("_meta", None) or {})
        if meta:
            extra.update(meta)
        on_progress = None
        if progress_callback is not None:
            cb = progress_callback

            def on_progress(p: dict[str, Any]) -> Any:
                return cb(p.get("progress", 0), p.get("total"), p.get("message"))

        if input_responses is not None:
            base["inputResponses"] = input_responses
        if request_state is not None:
            base["requestState"] = request_state
        if not self.modern:
            if extra:
                base["_meta"] = extra
            return await self.peer.request(method, base or None, timeout=timeout, on_progress=on_progress,
                                           on_sent=on_sent)
        send = {**base, "_meta": {**self.envelope, **extra} if extra else self.envelope}
        try:
            res = await self.peer.request(method, send, timeout=timeout, on_progress=on_progress, on_sent=on_sent)
        except McpError as exc:
            if exc.code != UNSUPPORTED_PROTOCOL_VERSION or not self.switch_version(exc):
                raise
            return await self.request(method, params, progress_callback=progress_callback, timeout=timeout,
                                      meta=meta, input_responses=input_responses, request_state=request_state,
                                      on_sent=on_sent)
        if not (type(res) is dict and res.get("resultType") == "input_required"):
            return res
        base.pop("inputResponses", None)
        base.pop("requestState", None)
        return await self._rounds(method, base, extra, res, timeout, on_progress, on_sent)

    async def continue_rounds(self, method: str, params: dict[str, Any] | None, first: dict[str, Any],
                              timeout: float | None = None) -> Any:
        """Carry on after ``first``, an ``InputRequiredResult`` answering a plain modern request
        of ``method`` with ``params`` (what ``request`` does itself; for callers that sent the
        first round straight through the peer)."""
        return await self._rounds(method, dict(params or {}), {}, first, timeout, None, None)
    async def _traced(self, method: str, params: dict[str, Any] | None,
                      progress_callback: Callable[[float, float | None, str | None], Any] | None,
                      timeout: float | None, meta: dict[str, Any] | None, input_responses: dict[str, Any] | None,
                      request_state: str | None, on_sent: Callable[[int], Any] | None) -> Any:
        # request() inside a CLIENT span: its context goes in params._meta; the TraceMeta marks
        # the re-entry (and a retry with another version) as traced already
        marked = _tracing.TraceMeta(meta or ())
        call = _tracing.client_call(method, params, protocol_version=self.protocol_version,
                                    network_transport=self.peer.network_transport)
        if call is None:  # a provider that makes no spans
            return await self.request(method, params, progress_callback=progress_callback, timeout=timeout,
                                      meta=marked, input_responses=input_responses, request_state=request_state,
                                      on_sent=on_sent)
        marked.update(call.meta)
        call.set_request_id(self.peer.next_request_id)  # the first request sent takes it
        return await call.run(self.request(method, params, progress_callback=progress_callback, timeout=timeout,
                                           meta=marked, input_responses=input_responses,
                                           request_state=request_state, on_sent=on_sent))

    async def _rounds(self, method: str, base: dict[str, Any], extra: dict[str, Any], res: dict[str, Any],
                      timeout: float | None, on_progress: Callable[[dict[str, Any]], Any] | None,
                      on_sent: Callable[[int], Any] | None) -> Any:
        # the multi-round-trip loop: answer the input requests, retry with a new id
        for _ in range(self.max_input_rounds):
            send = {**base, "_meta": {**self.envelope, **extra} if extra else self.envelope}
            answers = await self._answer_inputs(res.get("inputRequests"))
            if answers:
                send["inputResponses"] = answers
            if "requestState" in res:
                send["requestState"] = res["requestState"]
            res = await self.peer.request(method, send, timeout=timeout, on_progress=on_progress, on_sent=on_sent)
            if not (type(res) is dict and res.get("resultType") == "input_required"):
                return res
        raise InputRequiredRoundsExceededError(
            INVALID_PARAMS,
            f"{method}: the server still needs input after {self.max_input_rounds} rounds (input_required_max_rounds)",
            {"rounds": self.max_input_rounds})

    def switch_version(self, exc: JSONRPCError) -> bool:
        """After a -32022 answer: switch to the newest version both sides speak; False when
        there is none other than the one in use (the error stands)."""
        ours = _supported_modern(exc)
        if not ours or ours[-1] == self.protocol_version:
            return False
        self.use_version(ours[-1])
        return True

    async def answer_inputs(self, requests: Any) -> dict[str, Any]:
        """The callbacks' answers to ``inputRequests`` (an ``InputRequiredResult``'s, or a
        2026-07-28 task's parked on ``input_required``), keyed as asked."""
        return await self._answer_inputs(requests)

    async def _answer_inputs(self, requests: Any) -> dict[str, Any]:
        if requests is None:
            return {}
        if type(requests) is not dict:
            raise McpError("Malformed InputRequiredResult: inputRequests is not an object", code=INVALID_PARAMS)
        answers: dict[str, Any] = {}
        for key, req in requests.items():
            if type(req) is not dict or type(req.get("method")) is not str:
                raise McpError(f"Malformed input request {key!r}: expected {{method, params}}", code=INVALID_PARAMS)
            params = req.get("params")
            try:
                answers[key] = await self.handlers.answer(req["method"], params if type(params) is dict else {})
            except JSONRPCError as exc:
                if exc.code == METHOD_NOT_FOUND:
                    raise McpError(exc.message, exc.data, code=exc.code) from None
                raise
        return answers

    def notify(self, method: str, params: Any = None) -> None:
        """Send a notification (the modern envelope is not added: notifications carry none); in
        a ``CLIENT`` span when tracing is on (its context in ``params._meta``)."""
        peer = self.peer
        if _tracing.watched[_TRACER_PROVIDER] is not None:  # the check inline: no call more when off
            params = _tracing.sent_notification(method, params, protocol_version=self.protocol_version,
                                                network_transport=peer.network_transport)
        peer.notify(method, params)

    async def wait_idle(self) -> None:
        """Let queued messages both ways be handled (a few loop iterations)."""
        for _ in range(5):
            await asyncio.sleep(0)


class InputRequiredRoundsExceededError(MCPError):
    """The server still asked for input after ``max_input_rounds`` rounds."""


def _supported_modern(exc: JSONRPCError) -> list[str]:
    """The modern versions both sides speak, from a -32022 error's ``data.supported``."""
    supported = exc.data.get("supported") if isinstance(exc.data, dict) else None
    if not isinstance(supported, list):
        return []
    return [v for v in MODERN_PROTOCOL_VERSIONS if v in supported]


def _version() -> str:
    from .. import __version__

    return __version__
