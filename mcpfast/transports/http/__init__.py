"""Streamable HTTP: one MCP endpoint for stateless 2026-07-28 requests and legacy sessions.

``core`` is the I/O-free protocol logic (``StreamableHTTP``, ``HTTPRequest``, ``Responder``);
``server`` the built-in HTTP/1.1 server (``serve_http``, ``run_http``, ``HTTPServer``); ``asgi``
the ASGI 3 app (``asgi_app``); ``settings`` the knobs (``HTTPSettings``); ``security`` and
``auth`` DNS-rebinding protection and authentication; ``sessions`` legacy sessions and the SSE
event store. The front ends (and httptools, uvicorn) are imported only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core import HTTPRequest, Responder, StreamableHTTP
from .settings import HTTPSettings

if TYPE_CHECKING:
    from .asgi import asgi_app
    from .server import HTTPServer, run_http, serve_http

__all__ = ["HTTPRequest", "Responder", "StreamableHTTP", "HTTPSettings", "serve_http", "run_http", "HTTPServer",
           "asgi_app"]

_LAZY = {"serve_http": "server", "run_http": "server", "HTTPServer": "server", "asgi_app": "asgi"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
