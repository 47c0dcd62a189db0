"""Context variables that carry transport facts to handlers, below the MCP layer.

A transport sets them around the dispatch of one request (tasks created while handling it
inherit them: ``asyncio`` copies the context); ``mcpfast.server.Context`` reads them. They live
here, beside the peer, so that ``server/`` and ``transports/`` both stand on this module and
neither imports the other.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["http_request", "access_token", "stream_control", "current_request", "log_extra"]

#: the HTTP request (``mcpfast.transports.http.HTTPRequest``) a message arrived in, or None
http_request: ContextVar[Any] = ContextVar("mcpfast_http_request", default=None)

#: the verified access token (``mcpfast.transports.http.auth.AccessToken``) of that request, or None
access_token: ContextVar[Any] = ContextVar("mcpfast_access_token", default=None)

#: the response stream of the request being handled, when it is an SSE stream a handler may
#: close (SEP-1699 polling): an object with ``close_sse_stream()`` (ends this request's POST
#: stream; the client resumes with GET + Last-Event-ID) and ``close_standalone_sse_stream()``
#: (ends the session's GET stream), or None
stream_control: ContextVar[Any] = ContextVar("mcpfast_stream_control", default=None)

#: the JSON-RPC request (``mcpfast.wire.jsonrpc.Request``) being handled: set by the peer around
#: each request's dispatch, inherited by the tasks and pooled calls it starts; for log records
current_request: ContextVar[Any] = ContextVar("mcpfast_current_request", default=None)


def log_extra(tool: str | None = None) -> dict[str, Any]:
    """The ``extra`` of a log record about the request being handled: ``jsonrpc_request_id``,
    ``mcp_method_name`` and, for a tool, ``gen_ai_tool_name`` (the OpenTelemetry attribute
    names, dots as underscores). Ids and names only: never parameters, arguments or headers,
    which may hold secrets."""
    req = current_request.get()
    extra: dict[str, Any] = {}
    if req is not None:
        extra["jsonrpc_request_id"] = req.id
        extra["mcp_method_name"] = req.method
        if tool is None and req.method == "tools/call" and type(req.params) is dict:
            name = req.params.get("name")
            tool = name if type(name) is str else None
    if tool is not None:
        extra["gen_ai_tool_name"] = tool
    return extra
