"""Pieces shared by the two HTTP front ends (``server.py`` and ``asgi.py``): status lines,
response-header encoding, the headers every event stream carries, and error bodies.

I/O-free and import-light: no httptools, no asyncio.
"""

from __future__ import annotations

import http
from collections.abc import Iterable

__all__ = [
    "SSE_DEFAULT_HEADERS",
    "encode_headers",
    "error_body",
    "reason_phrase",
    "sse_extra_headers",
    "status_line",
]

_STATUS_LINES: dict[int, bytes] = {}


def reason_phrase(status: int) -> str:
    """The standard reason phrase of ``status`` ("" for codes nobody registered)."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def status_line(status: int) -> bytes:
    """``b"HTTP/1.1 200 OK\\r\\n"``, built once per code."""
    line = _STATUS_LINES.get(status)
    if line is None:
        if not 100 <= status <= 999:
            raise ValueError(f"HTTP status must be a 3-digit code, got {status!r}")
        line = ("HTTP/1.1 %d %s\r\n" % (status, reason_phrase(status))).encode("latin-1")
        if len(_STATUS_LINES) < 1000:  # bounded: codes are 3 digits anyway
            _STATUS_LINES[status] = line
    return line


_ENCODED: dict[tuple[tuple[str, str], ...], tuple[bytes, bool]] = {}


def encode_headers(headers: list[tuple[str, str]]) -> bytes:
    """``Name: value\\r\\n`` lines for ``headers``, latin-1 encoded (see ``encode_response_headers``)."""
    return encode_response_headers(headers)[0]


def encode_response_headers(headers: list[tuple[str, str]]) -> tuple[bytes, bool]:
    """(the encoded header lines, whether they say ``Connection: close``); a list of headers
    seen before (most responses repeat a few) comes from a bounded cache."""
    key = tuple(headers)
    try:
        return _ENCODED[key]
    except KeyError:
        pass
    except TypeError:  # something unhashable inside: encode without the cache
        return _encode_pair(headers)
    pair = _encode_pair(headers)
    if len(_ENCODED) >= 256:
        _ENCODED.clear()  # per-session values (Mcp-Session-Id): keep the cache bounded
    _ENCODED[key] = pair
    return pair


def _encode_pair(headers: list[tuple[str, str]]) -> tuple[bytes, bool]:
    closes = any(n.lower() == "connection" and "close" in v.lower() for n, v in headers)
    return _encode_headers(headers), closes


def _encode_headers(headers: Iterable[tuple[str, str]]) -> bytes:
    """``Name: value\\r\\n`` lines for ``headers``, latin-1 encoded.

    A CR or LF inside a name or value would let it smuggle a header (or a whole response) into
    the stream; one count over the joined text catches it without a per-header test.
    """
    n = 0
    parts: list[str] = []
    for name, value in headers:
        parts.append(f"{name}: {value}\r\n")
        n += 1
    text = "".join(parts)
    if text.count("\n") != n or text.count("\r") != n:
        raise ValueError(f"CR or LF inside a response header: {text!r}")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        # RFC 9110 allows only visible ASCII (obs-text aside); UTF-8 is what a sender meant
        return text.encode("utf-8")


#: what every ``text/event-stream`` response carries unless the core set it: no cache may keep
#: the stream, and no buffering proxy (nginx honours X-Accel-Buffering) may hold events back
SSE_DEFAULT_HEADERS: tuple[tuple[str, str], ...] = (
    ("Cache-Control", "no-cache"),
    ("X-Accel-Buffering", "no"),
)


def sse_extra_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The ``SSE_DEFAULT_HEADERS`` that ``headers`` (a streamed response's) does not set."""
    have = {name.lower() for name, _ in headers}
    return [(n, v) for n, v in SSE_DEFAULT_HEADERS if n.lower() not in have]


def error_body(code: int, message: str) -> bytes:
    """A JSON-RPC error response without an id: what the front ends answer for HTTP-level
    failures (bad request line, headers too large, server full) so that an MCP client can show
    the message like any other error."""
    import json

    return json.dumps(
        {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}},
        separators=(",", ":"),
    ).encode()
