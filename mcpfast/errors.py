"""Exception hierarchy and JSON-RPC / MCP error codes.

Every layer raises these; both twins of every wire module raise the same class with the same
text, so a message seen in a log is the same whichever implementation is active.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "PARSE_ERROR",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "INVALID_PARAMS",
    "INTERNAL_ERROR",
    "REQUEST_TIMEOUT",
    "SERVER_OVERLOADED",
    "REQUEST_CANCELLED",
    "CONNECTION_CLOSED",
    "RESOURCE_NOT_FOUND",
    "HEADER_MISMATCH",
    "MISSING_CLIENT_CAPABILITY",
    "UNSUPPORTED_PROTOCOL_VERSION",
    "URL_ELICITATION_REQUIRED",
    "MCPFastError",
    "FrameError",
    "EncodeError",
    "JSONRPCError",
    "ParseError",
    "InvalidRequest",
    "MethodNotFound",
    "InvalidParams",
    "InternalError",
    "McpError",
    "MCPError",
    "ErrorData",
    "ConnectionClosed",
    "ToolError",
    "StoreUnavailable",
    "error_class",
]

# JSON-RPC 2.0 §5.1
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Implementation-defined server errors (-32000..-32019, legacy range; MCP 2026 allocates no new
# ones there, receivers assume nothing about them). The official SDKs use -32001 for a request
# timeout and -32000 for a closed connection; we keep their numbers so clients recognise them.
CONNECTION_CLOSED = -32000
REQUEST_TIMEOUT = -32001
SERVER_OVERLOADED = -32005
# What a legacy Streamable HTTP POST stream ends with when the client cancelled its request (the
# 2025 wire ends a request's stream only with a response for it); the official SDK's number.
REQUEST_CANCELLED = -32800
# MCP codes
RESOURCE_NOT_FOUND = -32002  # <= 2025-11-25 only; 2026-07-28 uses -32602 with data.uri
URL_ELICITATION_REQUIRED = -32042  # 2025-11-25
HEADER_MISMATCH = -32020  # 2026-07-28
MISSING_CLIENT_CAPABILITY = -32021  # 2026-07-28, data.requiredCapabilities
UNSUPPORTED_PROTOCOL_VERSION = -32022  # 2026-07-28, data {supported, requested}


class MCPFastError(Exception):
    """Base class of every exception mcpfast raises on purpose."""


class FrameError(MCPFastError, ValueError):
    """A frame could not be cut from the byte stream (oversized line, bad SSE field, ...).

    ``offset`` is the position in the stream (bytes fed so far) where the bad frame started,
    or -1 when unknown. The splitter that raised stays usable.
    """

    def __init__(self, message: str, offset: int = -1) -> None:
        super().__init__(message)
        self.offset = offset


class EncodeError(MCPFastError, ValueError):
    """A Python value cannot be encoded as JSON (NaN, a non-str key, an unsupported type...)."""


class JSONRPCError(MCPFastError):
    """An error that has a JSON-RPC error object: ``code``, ``message`` and optional ``data``.

    ``id`` is the id of the request the error answers, when known: the decoder recovers it from
    an invalid envelope whenever the envelope carried a usable id, so the error response can be
    matched by the peer (JSON-RPC 2.0 §5: null only when it could not be detected).
    """

    code: ClassVar[int] = INTERNAL_ERROR

    def __init__(
        self,
        message: str,
        data: Any = None,
        *,
        code: int | None = None,
        id: str | int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        self.id = id
        if code is not None and code != type(self).code:
            # instance attribute shadows the class default for ad-hoc codes
            self.code = code  # type: ignore[misc]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-RPC error object."""
        d: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            d["data"] = self.data
        return d

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r}, data={self.data!r})"

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), self.message, self.data, self.code, self.id))


def _rebuild(cls: type[JSONRPCError], message: str, data: Any, code: int, id: Any) -> JSONRPCError:
    return cls(message, data, code=code, id=id)


class ParseError(JSONRPCError):
    """-32700: the bytes are not JSON. The message names the byte offset."""

    code = PARSE_ERROR


class InvalidRequest(JSONRPCError):
    """-32600: JSON, but not a valid JSON-RPC 2.0 message (or a batch where none is allowed)."""

    code = INVALID_REQUEST


class MethodNotFound(JSONRPCError):
    """-32601"""

    code = METHOD_NOT_FOUND


class InvalidParams(JSONRPCError):
    """-32602"""

    code = INVALID_PARAMS


class InternalError(JSONRPCError):
    """-32603: the handler failed; the message never carries a traceback."""

    code = INTERNAL_ERROR


class McpError(JSONRPCError):
    """An error response received from the peer (the name the official SDK's users know)."""


class ErrorData:
    """A JSON-RPC error object as ``MCPError.error`` carries it (the SDK's ``ErrorData``
    attribute names: ``code``, ``message``, ``data``)."""

    __slots__ = ("code", "message", "data")

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        self.code = code
        self.message = message
        self.data = data

    def model_dump(self, *, exclude_none: bool = False, **_ignored: Any) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code, "message": self.message, "data": self.data}
        if exclude_none and self.data is None:
            del d["data"]
        return d

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ErrorData):
            return NotImplemented
        return (self.code, self.message, self.data) == (other.code, other.message, other.data)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ErrorData(code={self.code}, message={self.message!r}, data={self.data!r})"


class MCPError(McpError):
    """An error response from the server, as ``mcpfast.Client`` raises it: the official SDK's
    class name and constructor (``MCPError(code, message, data=None)``), ``.error`` its
    ``ErrorData``; also a ``McpError`` (and ``JSONRPCError``), so either ``except`` catches it.
    ``str()`` is the message alone, as the SDK's."""

    def __init__(self, code: int, message: str, data: Any = None, *, id: str | int | None = None) -> None:
        super().__init__(message, data, code=code, id=id)

    @property
    def error(self) -> ErrorData:
        return ErrorData(self.code, self.message, self.data)

    @classmethod
    def from_error(cls, exc: JSONRPCError) -> MCPError:
        """The ``MCPError`` for any ``JSONRPCError`` (same code, message, data, id)."""
        if isinstance(exc, MCPError):
            return exc
        return cls(exc.code, exc.message, exc.data, id=exc.id)

    @classmethod
    def from_error_data(cls, error: Any) -> MCPError:
        """From anything with ``code``/``message``/``data`` (an SDK ``ErrorData``)."""
        return cls(error.code, error.message, getattr(error, "data", None))

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Any:
        return (_rebuild_mcp_error, (self.code, self.message, self.data, self.id))


def _rebuild_mcp_error(code: int, message: str, data: Any, id: Any) -> MCPError:
    return MCPError(code, message, data, id=id)


class ConnectionClosed(MCPFastError, ConnectionError):
    """The connection closed while a request was waiting for its answer."""


class StoreUnavailable(MCPFastError, ConnectionError):
    """The shared store (``mcpfast.stores``, Redis) cannot be reached, or did not answer in time.

    Raised quickly (the store's connect and operation timeouts are short) instead of hanging;
    the next call tries again, so service resumes by itself once the store is back. The HTTP
    front answers a request that needed the store with 503 and this message.
    """


class ToolError(MCPFastError):
    """Raised by a tool to report a failure; the server turns it into an ``isError`` result."""


_BY_CODE: dict[int, type[JSONRPCError]] = {
    PARSE_ERROR: ParseError,
    INVALID_REQUEST: InvalidRequest,
    METHOD_NOT_FOUND: MethodNotFound,
    INVALID_PARAMS: InvalidParams,
    INTERNAL_ERROR: InternalError,
}


def error_class(code: int) -> type[JSONRPCError]:
    """The most specific JSONRPCError subclass for a code (JSONRPCError itself if none)."""
    return _BY_CODE.get(code, JSONRPCError)
