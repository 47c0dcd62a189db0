"""JSON-RPC 2.0 envelope codec, pure-Python twin (the specification; compiled twin: _jsonrpc.pyx).

``decode`` turns the bytes of one message into a typed object after strict JSON-RPC 2.0
validation, in one pass over the decoded value; ``encode_*`` build message bytes directly.

Validation (JSON-RPC 2.0 §4-§6, MCP basic/index):

* the message is a JSON object with ``"jsonrpc": "2.0"``; a JSON array is a batch;
* a request has a string ``method`` and an ``id`` that is a string or an integer (never a bool,
  which would alias 0/1, never a float, never null: MCP forbids null request ids);
  integer ids are those in [-2**63, 2**64): the JSON backends decode a larger integer as a
  float (which is then refused as an id), and the encoders raise ``EncodeError`` for one, so
  an id this codec writes is always one it can read back;
  a notification has no ``id``; ``params``, when present, is an object or an array;
* a message with ``method`` and also ``result`` or ``error`` is neither a request nor a
  response: invalid (its id is still recovered for the error response);
* a response has exactly one of ``result`` and ``error``; ``id`` is a string or an integer, or
  null/absent for an error response to a message whose id could not be read; ``error`` is an
  object with an integer ``code`` and a string ``message``, ``data`` optional.
* members not named by JSON-RPC are ignored (MCP puts nothing there; rejecting them would only
  break peers that add harmless extensions).

Bad JSON raises ``ParseError`` (-32700) with the byte offset; JSON that is not a valid message
raises ``InvalidRequest`` (-32600) whose ``id`` is the message's id when it was usable, so the
error response can still be matched. Messages say what was expected, what came, and where:
``Expected "2.0", got "1.0" - at $.jsonrpc``.
"""

from __future__ import annotations

from typing import Any

from ..errors import EncodeError, InvalidRequest, JSONRPCError
from . import _json

__all__ = [
    "Request",
    "Notification",
    "Response",
    "ErrorResponse",
    "Batch",
    "Message",
    "decode",
    "decode_all",
    "validate",
    "encode_request",
    "encode_notification",
    "encode_result",
    "encode_error",
    "encode_message",
]

_fast_loads = _json.fast_loads
_recover_loads = _json.recover_loads
_dumps = _json.dumps


class Request:
    """A JSON-RPC request: it must get exactly one response with the same ``id``."""

    __slots__ = ("id", "method", "params")

    def __init__(self, id: str | int, method: str, params: Any = None) -> None:
        self.id = id
        self.method = method
        #: the ``params`` member: a dict (MCP), a list, or None when absent
        self.params = params

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"jsonrpc": "2.0", "id": self.id, "method": self.method}
        if self.params is not None:
            d["params"] = self.params
        return d

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"Request(id={self.id!r}, method={self.method!r}, params={self.params!r})"


class Notification:
    """A JSON-RPC notification: never answered."""

    __slots__ = ("method", "params")

    def __init__(self, method: str, params: Any = None) -> None:
        self.method = method
        self.params = params

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"jsonrpc": "2.0", "method": self.method}
        if self.params is not None:
            d["params"] = self.params
        return d

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"Notification(method={self.method!r}, params={self.params!r})"


class Response:
    """A successful JSON-RPC response (``result`` is any JSON value; MCP sends objects)."""

    __slots__ = ("id", "result")

    def __init__(self, id: str | int, result: Any) -> None:
        self.id = id
        self.result = result

    def as_dict(self) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": self.id, "result": self.result}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"Response(id={self.id!r}, result={self.result!r})"


class ErrorResponse:
    """A JSON-RPC error response. ``id`` is None when the failing message's id was unreadable."""

    __slots__ = ("id", "code", "message", "data")

    def __init__(self, id: str | int | None, code: int, message: str, data: Any = None) -> None:
        self.id = id
        self.code = code
        self.message = message
        self.data = data

    def as_dict(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return {"jsonrpc": "2.0", "id": self.id, "error": err}

    def to_exception(self) -> JSONRPCError:
        """The error as an ``MCPError`` (a ``McpError``: what a caller awaiting the request gets
        raised; the official SDK's class name)."""
        from ..errors import MCPError

        return MCPError(self.code, self.message, self.data, id=self.id)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return (
            f"ErrorResponse(id={self.id!r}, code={self.code!r}, message={self.message!r},"
            f" data={self.data!r})"
        )


Message = Request | Notification | Response | ErrorResponse


class Batch(list):  # type: ignore[type-arg]
    """A decoded JSON-RPC batch: each item is a message, or the ``InvalidRequest`` for an item
    that was not one (JSON-RPC 2.0 §6: each gets its own error response). Only MCP 2025-03-26
    allows batches; the server answers a batch with -32600 at every other revision."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Batch({list.__repr__(self)})"


# ---------------------------------------------------------------------------------- decoding


def _describe(value: Any) -> str:
    """What came, for an error message: JSON text of scalars (shortened), kind of containers."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array" if value else "[]"
    if isinstance(value, int) and value.bit_length() > 200:
        # validate() takes Python values: neither the encoder nor repr() may be asked to write
        # an int past Python's 4300-digit str() limit
        return f"an integer of {value.bit_length()} bits"
    try:
        text = _json.dumps(value).decode("utf-8")
    except Exception:  # noqa: BLE001 - a message must never fail to be built
        text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return text


def _usable_id(value: Any) -> bool:
    # exact types: bool is an int subclass and True would alias id 1
    t = type(value)
    return t is str or t is int


def _fail(where: str, expected: str, got: str, obj: Any) -> InvalidRequest:
    rid = None
    if type(obj) is dict:
        candidate = obj.get("id")
        if _usable_id(candidate):
            rid = candidate
    return InvalidRequest(f"Expected {expected}, got {got} - at {where}", id=rid)


_MISSING = object()


def _check(obj: Any, where: str) -> Message:
    """Validate one decoded message; return its typed object or raise InvalidRequest."""
    if type(obj) is not dict:
        raise _fail(where, "an object", _describe(obj), obj)
    version = obj.get("jsonrpc", _MISSING)
    if version != "2.0" or type(version) is not str:
        got = "nothing" if version is _MISSING else _describe(version)
        raise _fail(f"{where}.jsonrpc", '"2.0"', got, obj)
    method = obj.get("method", _MISSING)
    if method is not _MISSING:
        # a request (or notification) that is also a response is neither: answering it or
        # resolving a pending request with it would both be guesses
        if "result" in obj or "error" in obj:
            other = '"result"' if "result" in obj else '"error"'
            raise _fail(where, 'either "method" or "result"/"error"', f'"method" and {other}', obj)
        if type(method) is not str:
            raise _fail(f"{where}.method", "a string", _describe(method), obj)
        params = obj.get("params")
        if params is not None and type(params) is not dict and type(params) is not list:
            raise _fail(f"{where}.params", "an object or an array", _describe(params), obj)
        if "params" in obj and params is None:
            raise _fail(f"{where}.params", "an object or an array", "null", obj)
        rid = obj.get("id", _MISSING)
        if rid is _MISSING:
            return Notification(method, params)
        if not _usable_id(rid):
            raise _fail(f"{where}.id", "a string or an integer", _describe(rid), obj)
        return Request(rid, method, params)
    has_result = "result" in obj
    error = obj.get("error", _MISSING)
    if has_result:
        if error is not _MISSING:
            raise _fail(where, 'exactly one of "result" and "error"', "both", obj)
        rid = obj.get("id", _MISSING)
        if not _usable_id(rid):
            got = "nothing" if rid is _MISSING else _describe(rid)
            raise _fail(f"{where}.id", "a string or an integer", got, obj)
        return Response(rid, obj["result"])  # type: ignore[arg-type]  # _usable_id: str | int
    if error is _MISSING:
        raise _fail(where, '"method", "result" or "error"', "none of them", obj)
    rid = obj.get("id")
    if rid is not None and not _usable_id(rid):
        raise _fail(f"{where}.id", "a string, an integer or null", _describe(rid), obj)
    if type(error) is not dict:
        raise _fail(f"{where}.error", "an object", _describe(error), obj)
    code = error.get("code", _MISSING)
    if type(code) is not int:
        got = "nothing" if code is _MISSING else _describe(code)
        raise _fail(f"{where}.error.code", "an integer", got, obj)
    message = error.get("message", _MISSING)
    if type(message) is not str:
        got = "nothing" if message is _MISSING else _describe(message)
        raise _fail(f"{where}.error.message", "a string", got, obj)
    return ErrorResponse(rid, code, message, error.get("data"))


def validate(obj: Any) -> Message | Batch:
    """Validate an already decoded JSON value as a message or a batch (see ``decode``)."""
    if type(obj) is list:
        if not obj:
            raise InvalidRequest("Expected a non-empty array of messages, got [] - at $")
        items: list[Any] = []
        for i, item in enumerate(obj):
            try:
                items.append(_check(item, f"$[{i}]"))
            except InvalidRequest as exc:
                items.append(exc)
        return Batch(items)
    return _check(obj, "$")


def decode(data: bytes | bytearray | memoryview | str) -> Message | Batch:
    """Decode and validate one JSON-RPC message (or batch) from its UTF-8 bytes.

    Raises ``ParseError`` (-32700) for bytes that are not JSON and ``InvalidRequest``
    (-32600, ``.id`` recovered when usable) for JSON that is not a JSON-RPC 2.0 message.
    A batch (JSON array) comes back as a ``Batch`` whose invalid items are InvalidRequest
    instances; an empty batch raises InvalidRequest.
    """
    try:
        obj = _fast_loads(data)
    except Exception as exc:  # noqa: BLE001 - the backend's own error type varies
        obj = _recover_loads(data, exc)
    return validate(obj)


def decode_all(frames: list[bytes]) -> list[Message | Batch | JSONRPCError]:
    """Decode many frames in one call; a frame that fails gives its error object in place."""
    out: list[Any] = []
    append = out.append
    for frame in frames:
        try:
            append(decode(frame))
        except JSONRPCError as exc:
            append(exc)
    return out


# ---------------------------------------------------------------------------------- encoding


_ID_MIN = -(2**63)
_ID_END = 2**64


def _check_id(id: Any, allow_null: bool = False) -> None:
    """TypeError for an id of the wrong type, EncodeError for an int id outside [-2**63, 2**64).

    JSON allows any integer, but every JSON backend decodes an integer outside that range as a
    float, which ``decode`` refuses as an id: a message sent with such an id could never be
    matched by a peer built like this one, so no encoder writes one. The range is checked
    before anything else so that the error is the same whatever else is wrong.
    """
    if id is None and allow_null:
        return
    if not _usable_id(id):
        raise TypeError(f"Expected a str or int request id, got {type(id).__name__}: {id!r}")
    if type(id) is int and not _ID_MIN <= id < _ID_END:
        _json.check_encodable({"id": id})  # raises the canonical text, naming $.id
        raise AssertionError("unreachable")  # pragma: no cover


def encode_request(id: str | int, method: str, params: Any = None) -> bytes:
    """``{"jsonrpc":"2.0","id":..,"method":..,"params":..}`` (params omitted when None)."""
    _check_id(id)
    if type(method) is not str:
        raise TypeError(f"Expected a str method, got {type(method).__name__}")
    if params is None:
        return _dumps({"jsonrpc": "2.0", "id": id, "method": method})
    return _dumps({"jsonrpc": "2.0", "id": id, "method": method, "params": params})


def encode_notification(method: str, params: Any = None) -> bytes:
    """``{"jsonrpc":"2.0","method":..,"params":..}`` (params omitted when None)."""
    if type(method) is not str:
        raise TypeError(f"Expected a str method, got {type(method).__name__}")
    if params is None:
        return _dumps({"jsonrpc": "2.0", "method": method})
    return _dumps({"jsonrpc": "2.0", "method": method, "params": params})


def encode_result(id: str | int, result: Any) -> bytes:
    """``{"jsonrpc":"2.0","id":..,"result":..}``.

    A ``result`` given as bytes, bytearray or memoryview is taken as already-encoded JSON and
    copied in as it is, without a decode/encode round trip (the caller vouches for it).
    The envelope is spliced around the encoded result rather than encoded as a dict: building
    and freeing that dict cost more than the encoding itself on a 100 B result.
    """
    _check_id(id)
    if not isinstance(result, (bytes, bytearray, memoryview)):
        try:
            result = _dumps(result)
        except EncodeError:
            # re-check the whole envelope so the error names the path from the message root
            _json.recover_dumps({"jsonrpc": "2.0", "id": id, "result": result})
            raise  # pragma: no cover - recover_dumps always raises
    # an int's JSON text is its decimal repr on every backend; strings need the encoder
    idb = str(id).encode() if type(id) is int else _dumps(id)
    return b"".join((b'{"jsonrpc":"2.0","id":', idb, b',"result":', result, b"}"))


def encode_error(id: str | int | None, code: int, message: str, data: Any = None) -> bytes:
    """``{"jsonrpc":"2.0","id":..,"error":{"code":..,"message":..,"data":..}}``.

    ``id`` None encodes as null (the failing message's id was unreadable); ``data`` None is
    omitted.
    """
    _check_id(id, allow_null=True)
    if type(code) is not int:
        raise TypeError(f"Expected an int error code, got {type(code).__name__}")
    if data is None:
        err: dict[str, Any] = {"code": code, "message": message}
    else:
        err = {"code": code, "message": message, "data": data}
    return _dumps({"jsonrpc": "2.0", "id": id, "error": err})


def encode_message(msg: Message) -> bytes:
    """Encode a message object (any of the four classes of this module)."""
    if isinstance(msg, Request):
        return encode_request(msg.id, msg.method, msg.params)
    if isinstance(msg, Notification):
        return encode_notification(msg.method, msg.params)
    if isinstance(msg, Response):
        return encode_result(msg.id, msg.result)
    if isinstance(msg, ErrorResponse):
        return encode_error(msg.id, msg.code, msg.message, msg.data)
    t = type(msg)
    raise TypeError(f"Expected a Request, Notification, Response or ErrorResponse, got {t.__name__}")
