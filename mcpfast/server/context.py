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

Inside a task (``@tool(task=...)``, see ``_tasking``) the same calls wait for the client instead:
``ask`` and friends park the task on ``input_required`` (2026-07-28) or send related-task
requests (2025-11-25); ``report_status`` sets the task's status message, ``cancelled`` says the
client cancelled it, and ``start_task`` starts a ``defer_task`` tool's task.

The official SDK's ``Context`` surface is here too (what ``MCPServer`` tools written for it
use): ``ctx.info/debug/warning/error(data, logger_name=...)``, ``report_progress``,
``read_resource``, ``elicit(message, SomeModel)`` (-> ``.action``/``.data``), ``elicit_url``,
``ctx.session.create_message(...)`` (sampling; pydantic objects or dicts), ``request_id``,
``client_id``, ``request_context`` (``.lifespan_context``, ``.request`` the HTTP request,
``.meta``), ``close_sse_stream()``, ``mcp_server``. Notifications may be sent from a worker
thread (a ``def`` tool running in the thread pool): they are handed to the loop's thread.
"""

from __future__ import annotations

from asyncio import AbstractEventLoop, ensure_future, run_coroutine_threadsafe
from asyncio import _get_running_loop as _running_loop
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .. import requestvars
from .. import tracing as _tracing
from ..errors import MISSING_CLIENT_CAPABILITY, JSONRPCError
from ..tracing import PROVIDER_KEY as _TRACER_PROVIDER
from ..types import LOG_LEVEL_KEY
from .mrtr import InputRequired
from .session import LOG_LEVELS

if TYPE_CHECKING:
    from ..peer import JSONRPCPeer
    from .core import ServerCore
    from .session import LegacySession

__all__ = ["Context", "RequestContext", "ElicitationResult", "AttrDict", "MissingClientCapability",
           "LOG_LEVEL_KEY", "CAPABILITY_OF"]


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


def _jsonable(value: Any) -> Any:
    """A pydantic object (the SDK's types) as its wire dict; anything else as it is."""
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(by_alias=True, exclude_none=True, mode="json")
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class AttrDict(dict):  # type: ignore[type-arg]
    """A JSON object from the client, readable as a dict or by attribute (``result.content.text``,
    also in snake_case: ``result.stop_reason``), the way the SDK's pydantic results read."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        for key in (name, _camel(name)):
            if key in self:
                return _wrap(self[key])
        raise AttributeError(name)


def _wrap(value: Any) -> Any:
    if type(value) is dict:
        return AttrDict(value)
    if type(value) is list:
        return [_wrap(v) for v in value]
    return value


class ElicitationResult(AttrDict):
    """The client's ``ElicitResult`` (a dict: ``action``, ``content``) with ``.action`` and
    ``.data``: the content validated into the schema's pydantic model when one was given (None
    unless the action is ``"accept"``), as the SDK's ``AcceptedElicitation.data``."""

    __slots__ = ("_data",)

    def __init__(self, raw: dict[str, Any], data: Any = None) -> None:
        super().__init__(raw)
        self._data: Any = data

    @property
    def action(self) -> str:
        return self.get("action", "cancel")  # type: ignore[no-any-return]

    @property
    def data(self) -> Any:
        return self._data


class RequestContext:
    """The SDK's ``ctx.request_context``: lifespan state, the HTTP request, the request's meta."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    @property
    def lifespan_context(self) -> Any:
        """What the server's lifespan yielded (None without a lifespan)."""
        return self._ctx.core.lifespan_state

    @property
    def request(self) -> Any:
        """The HTTP request this message arrived in (``HTTPRequest``), None on stdio/TCP."""
        return self._ctx.http_request

    @property
    def meta(self) -> Any:
        return self._ctx.meta

    @property
    def request_id(self) -> Any:
        return self._ctx.request.id

    @property
    def session(self) -> _Session:
        return self._ctx.session

    @property
    def protocol_version(self) -> str:
        return self._ctx.protocol_version

    @property
    def method(self) -> str:
        return self._ctx.request.method  # type: ignore[no-any-return]

    @property
    def params(self) -> Any:
        return self._ctx.request.params

    async def close_sse_stream(self) -> None:
        await self._ctx.close_sse_stream()


class _Session:
    """The SDK's ``ctx.session`` for the calls tools make on it (sampling, roots,
    elicitation, logging, progress, list-changed). Arguments may be the SDK's pydantic types or
    plain dicts; results are ``AttrDict``s."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    @property
    def client_params(self) -> Any:
        ctx = self._ctx
        return AttrDict({"protocolVersion": ctx.protocol_version, "capabilities": ctx.client_capabilities,
                         "clientInfo": ctx.client_info})

    @property
    def client_capabilities(self) -> Any:
        return AttrDict(self._ctx.client_capabilities)

    def check_client_capability(self, capability: Any) -> bool:
        caps = self._ctx.client_capabilities
        return all(k in caps for k in _jsonable(capability) or {})

    async def create_message(self, messages: Any, max_tokens: int | None = None, **kw: Any) -> Any:
        params = {_camel(k): _jsonable(v) for k, v in kw.items() if v is not None and k != "related_request_id"}
        if "maxTokens" in params and max_tokens is None:
            max_tokens = params.pop("maxTokens")
        return _wrap(await self._ctx.create_message(_jsonable(messages), max_tokens or 0, **params))

    async def list_roots(self) -> Any:
        return _wrap(await self._ctx.list_roots())

    async def elicit_form(self, message: str, requested_schema: dict[str, Any], **kw: Any) -> Any:
        return await self._ctx.elicit(message, requested_schema)

    async def elicit(self, message: str, requested_schema: dict[str, Any], **kw: Any) -> Any:
        return await self._ctx.elicit(message, requested_schema)

    async def send_log_message(self, level: str, data: Any, logger: str | None = None, **kw: Any) -> None:
        self._ctx.log(level, data, logger)

    async def send_progress_notification(self, progress_token: Any, progress: float, total: float | None = None,
                                         message: str | None = None, **kw: Any) -> None:
        self._ctx.send_progress(progress_token, progress, total, message)

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        self._ctx.report_progress(progress, total, message)

    async def send_resource_updated(self, uri: Any) -> None:
        self._ctx.core.notify_resource_updated(str(uri))

    async def send_tool_list_changed(self) -> None:
        self._ctx.core.notify_list_changed("tools")

    async def send_prompt_list_changed(self) -> None:
        self._ctx.core.notify_list_changed("prompts")

    async def send_resource_list_changed(self) -> None:
        self._ctx.core.notify_list_changed("resources")


class Context:
    """The handler's view of its request (see the module docstring).

    Declare it by annotation in an ``MCPServer`` handler (``ctx: Context``, any name; also
    ``Context[...]``); with ``ServerCore`` pass ``context_kwarg=``.
    """

    __slots__ = ("core", "peer", "request", "legacy", "meta", "responses", "state", "_loop", "task_id", "cancelled",
                 "task_starter", "start_on_input", "pending_status")

    def __class_getitem__(cls, item: Any) -> type[Context]:
        # ``Context[ServerSession, AppState]`` as the SDK's users write it: the same class
        return cls

    def __init__(self, core: ServerCore, peer: JSONRPCPeer, request: Any,
                 session: LegacySession | None, meta: dict[str, Any] | None) -> None:
        self.core = core
        self.peer = peer
        self.request = request
        #: the legacy session, or None for a 2026-07-28 request
        self.legacy = session
        if meta is None:
            params = request.params
            meta = params.get("_meta") if type(params) is dict else None
        #: the request's ``_meta`` (at 2026-07-28 it carries the envelope), or None
        self.meta = meta
        #: MRTR: the answers the client gave so far, by key (this retry's plus earlier rounds')
        self.responses: dict[str, Any] = {}
        #: MRTR: JSON the handler keeps across rounds (signed into requestState)
        self.state: Any = None
        self._loop: AbstractEventLoop | None = _running_loop()
        #: the task this call runs as (``@tool(task=...)``), None for a plain call
        self.task_id: str | None = None
        #: the client cancelled the task: a ``def`` tool (which cannot be interrupted) checks this
        self.cancelled = False
        #: ``start_task``'s work for a call that may become a task part way (set by the core:
        #: a ``defer_task`` tool, an optional tool in its immediate-result window), else None
        self.task_starter: Callable[[], Awaitable[None]] | None = None
        #: asking for input starts the task first (the input then parks on it): the window
        self.start_on_input = False
        #: ``report_status`` before the task exists (in the window): the task starts with it
        self.pending_status: str | None = None

    # ------------------------------------------------------------------ facts

    @property
    def request_id(self) -> Any:
        return self.request.id

    @property
    def modern(self) -> bool:
        """True for a stateless 2026-07-28 request."""
        return self.legacy is None

    @property
    def protocol_version(self) -> str:
        if self.legacy is not None:
            return self.legacy.protocol_version
        return self.meta["io.modelcontextprotocol/protocolVersion"]  # type: ignore[index,no-any-return]

    @property
    def client_capabilities(self) -> dict[str, Any]:
        if self.legacy is not None:
            return self.legacy.client_capabilities
        caps = self.meta.get("io.modelcontextprotocol/clientCapabilities")  # type: ignore[union-attr]
        return caps if type(caps) is dict else {}

    @property
    def client_info(self) -> Any:
        if self.legacy is not None:
            return self.legacy.client_info
        return self.meta.get("io.modelcontextprotocol/clientInfo")  # type: ignore[union-attr]

    @property
    def client_id(self) -> str | None:
        """The OAuth client id of the verified access token (HTTP with auth), else None."""
        token = requestvars.access_token.get()
        return getattr(token, "client_id", None) if token is not None else None

    @property
    def access_token(self) -> Any:
        """The verified ``AccessToken`` of this request (HTTP with auth), else None."""
        return requestvars.access_token.get()

    @property
    def http_request(self) -> Any:
        """The ``HTTPRequest`` this message arrived in, or None (stdio, TCP, memory)."""
        return requestvars.http_request.get()

    @property
    def headers(self) -> dict[str, str] | None:
        """The HTTP request's headers (lower-case names), None off HTTP."""
        req = requestvars.http_request.get()
        return getattr(req, "headers", None) if req is not None else None

    @property
    def progress_token(self) -> Any:
        meta = self.meta
        return meta.get("progressToken") if type(meta) is dict else None

    @property
    def request_context(self) -> RequestContext:
        return RequestContext(self)

    @property
    def lifespan_context(self) -> Any:
        """What the server's lifespan yielded (also ``request_context.lifespan_context``)."""
        return self.core.lifespan_state

    @property
    def session(self) -> _Session:
        """The SDK's session object: ``await ctx.session.create_message(...)`` and friends."""
        return _Session(self)

    @property
    def mcp_server(self) -> Any:
        """The ``MCPServer`` this request is served by (None on a bare ``ServerCore``)."""
        return self.core.app

    fastmcp = mcp_server

    @property
    def request_state(self) -> str | None:
        """The opaque ``requestState`` the client echoed from an earlier ``InputRequiredResult``
        (2026-07-28 multi round-trip requests), as received; None on the first round and in a
        legacy session (the SDK's name). mcpfast signs what it puts there: read ``state`` for
        the handler's own JSON."""
        if self.legacy is not None:
            return None
        params = self.request.params
        value = params.get("requestState") if type(params) is dict else None
        return value if type(value) is str else None

    @property
    def input_responses(self) -> dict[str, Any]:
        """MRTR: the answers so far (the SDK's name for ``responses``)."""
        return self.responses

    # ------------------------------------------------------------------ notifications

    def _notify(self, method: str, params: dict[str, Any]) -> None:
        if self.task_id is not None:
            if self.legacy is None:
                return  # 2026-07-28: no progress or log messages for a task (the extension)
            # 2025-11-25: every message about a task names it
            params = {**params, "_meta": {**(params.get("_meta") or {}),
                                          "io.modelcontextprotocol/related-task": {"taskId": self.task_id}}}
        if _tracing.watched[_TRACER_PROVIDER] is not None:  # a CLIENT span, its context in _meta
            params = _tracing.server_notification(self.peer, method, params, self.meta)
        loop = self._loop
        if loop is None or _running_loop() is loop:
            self.peer.notify(method, params)
        else:  # a def tool in a worker thread: the peer is the loop's
            loop.call_soon_threadsafe(self.peer.notify, method, params)

    def send_progress(self, token: Any, progress: float, total: float | None = None, message: str | None = None) -> None:
        """``notifications/progress`` for the given progress token (``report_progress`` uses
        this request's own token)."""
        p: dict[str, Any] = {"progressToken": token, "progress": progress}
        if total is not None:
            p["total"] = total
        if message is not None:
            p["message"] = message
        self._notify("notifications/progress", p)

    def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> _Done:
        """``notifications/progress`` for this request, if it carried ``_meta.progressToken``
        (else nothing is sent). ``progress`` must increase from call to call (MCP)."""
        token = self.progress_token
        if token is not None:
            self.send_progress(token, progress, total, message)
        return _DONE

    def log(self, level: str, data: Any, logger: str | None = None, *, logger_name: str | None = None) -> _Done:
        """``notifications/message`` if ``level`` passes the client's threshold: the session's
        ``logging/setLevel`` (legacy; all levels until set), or this request's
        ``_meta["io.modelcontextprotocol/logLevel"]`` (2026-07-28; nothing without it).
        ``logger_name`` is the SDK's spelling of ``logger``."""
        rank = LOG_LEVELS.get(level)
        if rank is None:
            raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LOG_LEVELS)}")
        if self.legacy is not None:
            if rank < self.legacy.log_level:
                return _DONE
        else:
            floor = LOG_LEVELS.get(self.meta.get(LOG_LEVEL_KEY))  # type: ignore[union-attr,arg-type]
            if floor is None or rank < floor:
                return _DONE
        p: dict[str, Any] = {"level": level, "data": data}
        if logger is None:
            logger = logger_name
        if logger is not None:
            p["logger"] = logger
        self._notify("notifications/message", p)
        return _DONE

    def debug(self, data: Any, logger: str | None = None, *, logger_name: str | None = None) -> _Done:
        return self.log("debug", data, logger, logger_name=logger_name)

    def info(self, data: Any, logger: str | None = None, *, logger_name: str | None = None) -> _Done:
        return self.log("info", data, logger, logger_name=logger_name)

    def notice(self, data: Any, logger: str | None = None, *, logger_name: str | None = None) -> _Done:
        return self.log("notice", data, logger, logger_name=logger_name)

    def warning(self, data: Any, logger: str | None = None, *, logger_name: str | None = None) -> _Done:
        return self.log("warning", data, logger, logger_name=logger_name)

    def error(self, data: Any, logger: str | None = None, *, logger_name: str | None = None) -> _Done:
        return self.log("error", data, logger, logger_name=logger_name)

    def critical(self, data: Any, logger: str | None = None, *, logger_name: str | None = None) -> _Done:
        return self.log("critical", data, logger, logger_name=logger_name)

    def notify_tools_changed(self) -> _Done:
        self.core.notify_list_changed("tools")
        return _DONE

    def notify_prompts_changed(self) -> _Done:
        self.core.notify_list_changed("prompts")
        return _DONE

    def notify_resources_changed(self) -> _Done:
        self.core.notify_list_changed("resources")
        return _DONE

    def notify_resource_updated(self, uri: Any) -> _Done:
        self.core.notify_resource_updated(str(uri))
        return _DONE

    async def close_sse_stream(self) -> None:
        """End this request's SSE response stream (SEP-1699 polling: the client reconnects
        with ``Last-Event-ID``); a no-op off Streamable HTTP or on a JSON response."""
        ctl = requestvars.stream_control.get()
        if ctl is not None:
            ctl.close_sse_stream()

    async def close_standalone_sse_stream(self) -> None:
        """End the session's standalone GET stream; a no-op when there is none."""
        ctl = requestvars.stream_control.get()
        if ctl is not None:
            ctl.close_standalone_sse_stream()

    # ------------------------------------------------------------------ resources

    async def read_resource(self, uri: Any) -> list[Any]:
        """Read one of this server's resources -> a list of contents, each with ``.content``
        (str or bytes) and ``.mime_type`` (the SDK's ``ReadResourceContents``)."""
        app = self.core.app
        if app is None:
            raise RuntimeError("ctx.read_resource needs an MCPServer (this core has no app)")
        return await app.read_resource_contents(str(uri), self)  # type: ignore[no-any-return]

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
        if self.task_id is None and self.start_on_input and self.task_starter is not None:
            await self.task_starter()  # a tool that waits on the user is long: it becomes the task
        if self.task_id is not None:
            return await self.core.task_ask(self, requests)
        if self.legacy is None:
            have = self.responses
            missing = {k: r for k, r in requests.items() if k not in have}
            if missing:
                raise InputRequired(missing, self.state)
            return {k: have[k] for k in requests}
        peer = self.peer
        # each in a CLIENT span when tracing is on (the client's handling span its child)
        return {k: await _tracing.server_request(peer, r["method"], r.get("params")) for k, r in requests.items()}

    # ------------------------------------------------------------------ tasks

    @property
    def in_task(self) -> bool:
        """Whether this call runs as a task (its result goes to ``tasks/get``/``tasks/result``)."""
        return self.task_id is not None

    def report_status(self, message: str | None) -> Awaitable[Any]:
        """Set the task's ``statusMessage`` (shown by ``tasks/get`` and in status notifications;
        None clears it). A no-op for a call that is not a task. Await it in an ``async def``
        tool (the store has the message once it returns); a ``def`` tool in the thread pool
        calls it plainly (the update is handed to the loop)."""
        if self.task_id is None:
            if self.task_starter is not None:
                self.pending_status = message  # kept for the task this call may become
            return _DONE
        loop = self._loop
        if loop is not None and _running_loop() is not loop:  # a def tool in a worker thread
            run_coroutine_threadsafe(self.core.task_status(self, message), loop)
            return _DONE
        return ensure_future(self.core.task_status(self, message))

    async def start_task(self) -> None:
        """For a ``defer_task`` tool: make the task now and answer the request with its handle;
        the tool goes on as the task. What the tool asked for before this (``elicit``...) was
        answered by multi round-trip requests on the call itself. A no-op when the call already
        is a task, or when the client cannot take one (the call then simply goes on)."""
        starter = self.task_starter
        if starter is not None and self.task_id is None:
            await starter()

    async def _ask_one(self, key: str, method: str, params: dict[str, Any]) -> Any:
        res = await self.ask({key: {"method": method, "params": params}})
        return res[key]

    async def elicit(self, message: str, schema: Any = None, *, key: str = "elicitation",
                     requested_schema: dict[str, Any] | None = None) -> ElicitationResult:
        """Form-mode elicitation -> the client's ``ElicitResult`` as an ``ElicitationResult``
        (a dict with ``.action``, ``.content``, ``.data``). ``schema`` is a JSON schema dict or,
        as in the SDK, a pydantic model class: its schema is sent and an accepted answer is
        validated into ``.data`` (an invalid one raises ValueError)."""
        if schema is None:
            schema = requested_schema
        model = None
        if isinstance(schema, type):
            model = schema
            schema = _elicitation_schema(model)
        if type(schema) is not dict:
            raise TypeError(f"elicit() needs a JSON schema dict or a pydantic model class, got {schema!r}")
        params: dict[str, Any] = {"message": message, "requestedSchema": schema}
        if self._form_mode():
            params = {"mode": "form", **params}
        raw = await self._ask_one(key, "elicitation/create", params)
        answer = raw if type(raw) is dict else {}
        data = None
        if answer.get("action") == "accept":
            data = answer.get("content")
            if model is not None:
                if data is None:
                    raise ValueError("The client accepted the elicitation without content")
                try:
                    data = model.model_validate(data)  # type: ignore[attr-defined]
                except Exception as exc:  # noqa: BLE001 - pydantic's ValidationError, reworded
                    raise ValueError(f"The elicitation answer does not match {model.__name__}: {exc}") from exc
        return ElicitationResult(answer, data)

    async def elicit_url(self, message: str, url: str, elicitation_id: str, *, key: str = "elicitation") -> ElicitationResult:
        """URL-mode elicitation (2025-11-25+): the user is sent to ``url``; the result tells
        whether they agreed (``.action``)."""
        raw = await self._ask_one(key, "elicitation/create",
                                  {"mode": "url", "message": message, "url": url, "elicitationId": elicitation_id})
        return ElicitationResult(raw if type(raw) is dict else {})

    def _form_mode(self) -> bool:
        """Whether elicitation params may carry ``mode`` (2025-11-25 and later)."""
        return self.legacy is None or self.legacy.protocol_version >= "2025-11-25"

    async def create_message(self, messages: Any, max_tokens: int, *,
                             key: str = "sampling", **params: Any) -> Any:
        """``sampling/createMessage`` -> the client's ``CreateMessageResult`` (an ``AttrDict``).
        ``messages`` may be a str (one user message), dicts or the SDK's ``SamplingMessage``s;
        extra keyword arguments are sent as they are (``systemPrompt``, ``temperature``...)."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": {"type": "text", "text": messages}}]
        p = {"messages": _jsonable(messages), "maxTokens": max_tokens, **params}
        return _wrap(await self._ask_one(key, "sampling/createMessage", p))

    sample = create_message

    async def list_roots(self, *, key: str = "roots") -> Any:
        """``roots/list`` -> the client's ``ListRootsResult``."""
        return _wrap(await self._ask_one(key, "roots/list", {}))

    def __repr__(self) -> str:
        era = "modern" if self.legacy is None else self.legacy.protocol_version
        return f"Context(request_id={self.request.id!r}, {era})"


def _elicitation_schema(model: Any) -> dict[str, Any]:
    """A pydantic model's schema as the flat object schema elicitation allows, what the SDK
    sends: the model's own schema (its ``title``, ``description``, ``required``) where an
    ``Optional[X]`` field is shown as X (no ``anyOf``, no null) and a ``None`` default is left
    out (optional is said by not being required). A reference to an Enum is inlined (the
    spec's enum schema; the SDK refuses it). A field no elicitation form can show (a nested
    object, a list of free values, a union) is a TypeError, as in the SDK."""
    schema = dict(model.model_json_schema())
    defs = schema.pop("$defs", {})
    props: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        prop = dict(prop)
        arms = prop.get("anyOf")
        if isinstance(arms, list):
            rest = [a for a in arms if a != {"type": "null"}]
            if len(rest) == 1 and len(rest) < len(arms):
                del prop["anyOf"]
                prop = {**rest[0], **prop}
        ref = prop.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = defs.get(ref[len("#/$defs/"):])
            if isinstance(target, dict) and "enum" in target:
                del prop["$ref"]
                prop = {**target, **prop}
        if "default" in prop and prop["default"] is None:
            del prop["default"]
        if not _elicitable(prop):
            raise TypeError(f"Elicitation schema field {name!r} of {getattr(model, '__name__', model)} is "
                            f"{prop!r}: an elicitation form takes strings, numbers, booleans and enums only")
        props[name] = prop
    schema["properties"] = props
    return schema


def _elicitable(prop: dict[str, Any]) -> bool:
    """Whether a property is one of MCP's primitive elicitation schemas (string, number,
    integer, boolean, a single- or multi-select enum)."""
    t = prop.get("type")
    if t in ("string", "number", "integer", "boolean"):
        return True
    if t == "array":
        items = prop.get("items")
        return isinstance(items, dict) and ("enum" in items or "anyOf" in items)
    return t is None and ("enum" in prop or "oneOf" in prop)
