"""JSON-RPC 2.0 envelope codec: the compiled twin when built, else the pure-Python one."""

from typing import TYPE_CHECKING

from ._compat import NO_EXTENSIONS

if TYPE_CHECKING or NO_EXTENSIONS:
    from ._jsonrpc_py import (
        Batch,
        ErrorResponse,
        Message,
        Notification,
        Request,
        Response,
        decode,
        decode_all,
        encode_error,
        encode_message,
        encode_notification,
        encode_request,
        encode_result,
        validate,
    )
else:
    try:
        from ._jsonrpc import (
            Batch,
            ErrorResponse,
            Notification,
            Request,
            Response,
            decode,
            decode_all,
            encode_error,
            encode_message,
            encode_notification,
            encode_request,
            encode_result,
            validate,
        )
    except ImportError:  # pragma: no cover
        from ._jsonrpc_py import (
            Batch,
            ErrorResponse,
            Notification,
            Request,
            Response,
            decode,
            decode_all,
            encode_error,
            encode_message,
            encode_notification,
            encode_request,
            encode_result,
            validate,
        )
    from ._jsonrpc_py import Message

__all__ = [
    "Batch", "ErrorResponse", "Message", "Notification", "Request", "Response", "decode",
    "decode_all", "encode_error", "encode_message", "encode_notification", "encode_request",
    "encode_result", "validate",
]
