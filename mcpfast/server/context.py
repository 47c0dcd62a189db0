"""The per-request context a handler can ask for (``context_kwarg=`` at registration).

One object serves both eras, so a handler is written once:

* progress and log messages are notifications in both eras (``report_progress``, ``log``);
  they are sync and return an already-finished awaitable, so ``ctx.info(...)`` and
  ``await ctx.info(...)`` both work (the SDK users' habit);
* input from the client (``elicit``, ``create_message``, ``list_roots``, ``ask``) is a
  server->client request in a legacy session (``await peer.request``), and at 2026-07-28 a
  multi round-trip: the answer is taken from the retry's ``inputResponses`` when present, else
  ``InputRequired`` is raised and the request is answered with an ``InputRequiredResult``. A
  handler that asks must therefore be re-runnable up to the point where it asks (it runs again
  on the retry); keep what it needs across rounds in ``ctx.state`` (signed, not encrypted).
  A handler may also raise ``InputRequired`` itself (and read ``ctx.responses``): at 2026-07-28
  that is the InputRequiredResult; in a legacy session the core sends the requests to the
  client, then runs the handler again with the answers, so the same code serves both eras.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import MISSING_CLIENT_CAPABILITY, JSONRPCError
from .mrtr import InputRequired
from .session import LOG_LEVELS

if TYPE_CHECKING:
    from ..peer import JSONRPCPeer
    from .core import ServerCore
    from .session import LegacySession

__all__ = ["Context", "MissingClientCapability", "LOG_LEVEL_KEY", "CAPABILITY_OF"]

LOG_LEVEL_KEY = "io.modelcontextprotocol/logLevel"

#: which client capability a server->client request needs
CAPABILITY_OF = {"elicitation/create": "elicitation", "sampling/createMessage": "sampling", "roots/list": "roots"}


class MissingClientCapability(JSONRPCError):
    """-32021: the request needs a client capability the client did not declare
    (``data.requiredCapabilities``, e.g. ``{"elicitation": {}}``)."""

    code = MISSING_CLIENT_CAPABILITY

    @classmethod
    def of(cls, required: dict[str, Any], what: str) -> MissingClientCapability:
        names = ", ".join(sorted(required))
        return cls(f"Missing required client capability: {names} (needed by {what})",
                   {"requiredCapabilities": required})


class _Done:
    """An awaitable that is already finished (so a sync helper may also be awaited)."""

    __slots__ = ()

    def __await__(self) -> Any:
        return
        yield  # pragma: no cover - makes this a generator


_DONE = _Done()


class Context:
    """The handler's view of its request (see the module docstring)."""

    __slots__ = ("core", "peer", "request", "session", "meta", "responses", "state")

    def __init__(self, core: ServerCore, peer: JSONRPCPeer, request: Any,
                 session: LegacySession | None, meta: dict[str, Any] | None) -> None:
        self.core = core
        self.peer = peer
        self.request = request
        #: the legacy session, or None for a 2026-07-28 request
        self.session = session
        #: the request's ``_meta`` (modern envelope), or None in a legacy session
        self.meta = meta
        #: MRTR: the answers the client gave so far, by key (this retry's plus earlier rounds')
        self.responses: dict[str, Any] = {}
        #: MRTR: JSON the handler keeps across rounds (signed into requestState)
        self.state: Any = None

    # ------------------------------------------------------------------ facts

    @property
    def request_id(self) -> Any:
        return self.request.id

    @property
    def modern(self) -> bool:
        """True for a stateless 2026-07-28 request."""
        return self.session is None

    @property
    def protocol_version(self) -> str:
        if self.session is not None:
            return self.session.protocol_version
        return self.meta["io.modelcontextprotocol/protocolVersion"]  # type: ignore[index,no-any-return]

    @property
    def client_capabilities(self) -> dict[str, Any]:
        if self.session is not None:
            return self.session.client_capabilities
        caps = self.meta.get("io.modelcontextprotocol/clientCapabilities")  # type: ignore[union-attr]
        return caps if type(caps) is dict else {}

    @property
    def client_info(self) -> Any:
        if self.session is not None:
            return self.session.client_info
        return self.meta.get("io.modelcontextprotocol/clientInfo")  # type: ignore[union-attr]

    @property
    def progress_token(self) -> Any:
        params = self.request.params
        meta = params.get("_meta") if type(params) is dict else None
        return meta.get("progressToken") if type(meta) is dict else None

    # ------------------------------------------------------------------ notifications

    def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> _Done:
        """``notifications/progress`` for this request, if it carried ``_meta.progressToken``
        (else nothing is sent). ``progress`` must increase from call to call (MCP)."""
        token = self.progress_token
        if token is not None:
            p: dict[str, Any] = {"progressToken": token, "progress": progress}
            if total is not None:
                p["total"] = total
            if message is not None:
                p["message"] = message
            self.peer.notify("notifications/progress", p)
        return _DONE

    def log(self, level: str, data: Any, logger: str | None = None) -> _Done:
        """``notifications/message`` if ``level`` passes the client's threshold: the session's
        ``logging/setLevel`` (legacy; all levels until set), or this request's
        ``_meta["io.modelcontextprotocol/logLevel"]`` (2026-07-28; nothing without it)."""
        rank = LOG_LEVELS.get(level)
        if rank is None:
            raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LOG_LEVELS)}")
        if self.session is not None:
            if rank < self.session.log_level:
                return _DONE
        else:
            floor = LOG_LEVELS.get(self.meta.get(LOG_LEVEL_KEY))  # type: ignore[union-attr,arg-type]
            if floor is None or rank < floor:
                return _DONE
        p: dict[str, Any] = {"level": level, "data": data}
        if logger is not None:
            p["logger"] = logger
        self.peer.notify("notifications/message", p)
        return _DONE

    def debug(self, data: Any, logger: str | None = None) -> _Done:
        return self.log("debug", data, logger)

    def info(self, data: Any, logger: str | None = None) -> _Done:
        return self.log("info", data, logger)

    def warning(self, data: Any, logger: str | None = None) -> _Done:
        return self.log("warning", data, logger)

    def error(self, data: Any, logger: str | None = None) -> _Done:
        return self.log("error", data, logger)

    # ------------------------------------------------------------------ input from the client

    def _require(self, method: str) -> None:
        cap = CAPABILITY_OF.get(method)
        if cap is not None and cap not in self.client_capabilities:
            raise MissingClientCapability.of({cap: {}}, method)

    async def ask(self, requests: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Ask the client for several things at once: ``{key: {"method": ..., "params": ...}}``
        -> ``{key: result}``. Legacy: one server->client request each, in order. 2026-07-28:
        the answers from ``inputResponses``, or ``InputRequired`` for the missing ones."""
        for r in requests.values():
            self._require(r["method"])
        if self.session is None:
            have = self.responses
            missing = {k: r for k, r in requests.items() if k not in have}
            if missing:
                raise InputRequired(missing, self.state)
            return {k: have[k] for k in requests}
        peer = self.peer
        return {k: await peer.request(r["method"], r.get("params")) for k, r in requests.items()}

    async def _ask_one(self, key: str, method: str, params: dict[str, Any]) -> Any:
        res = await self.ask({key: {"method": method, "params": params}})
        return res[key]

    async def elicit(self, message: str, requested_schema: dict[str, Any], *, key: str = "elicitation") -> Any:
        """Form-mode elicitation -> the client's ``ElicitResult`` (``action``, ``content``)."""
        return await self._ask_one(key, "elicitation/create",
                                   {"mode": "form", "message": message, "requestedSchema": requested_schema}
                                   if self._form_mode() else
                                   {"message": message, "requestedSchema": requested_schema})

    def _form_mode(self) -> bool:
        """Whether elicitation params may carry ``mode`` (2025-11-25 and later)."""
        return self.session is None or self.session.protocol_version >= "2025-11-25"

    async def create_message(self, messages: list[dict[str, Any]], max_tokens: int, *,
                             key: str = "sampling", **params: Any) -> Any:
        """``sampling/createMessage`` -> the client's ``CreateMessageResult``. Extra keyword
        arguments are sent as they are (``systemPrompt``, ``temperature``...)."""
        p = {"messages": messages, "maxTokens": max_tokens, **params}
        return await self._ask_one(key, "sampling/createMessage", p)

    async def list_roots(self, *, key: str = "roots") -> Any:
        """``roots/list`` -> the client's ``ListRootsResult``."""
        return await self._ask_one(key, "roots/list", {})

    def __repr__(self) -> str:
        era = "modern" if self.session is None else self.session.protocol_version
        return f"Context(request_id={self.request.id!r}, {era})"
