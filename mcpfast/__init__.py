"""mcpfast: a fast, complete Model Context Protocol implementation for Python."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .wire._compat import NO_EXTENSIONS as _NO_EXTENSIONS

__version__ = "0.1.0.dev0"


def _extensions_active() -> bool:
    if _NO_EXTENSIONS:
        return False
    try:
        from .wire import _counters, _framing, _jsonrpc  # type: ignore[attr-defined]  # noqa: F401
    except ImportError:
        return False
    return True


if TYPE_CHECKING:
    #: True when the compiled (Cython) wire core is in use, False when the pure-Python twins
    #: are; worked out on first access (``__getattr__``), so that ``import mcpfast`` does not
    #: load the compiled modules a program does not use (a client needs no counters)
    EXTENSIONS: bool

#: public names loaded on first use, so ``import mcpfast`` stays light (no server, no pydantic)
_LAZY: dict[str, str] = {
    "MCPServer": "mcpfast.server.app",
    "FastMCP": "mcpfast.server.app",
    "Context": "mcpfast.server.context",
    "Tool": "mcpfast.server.tools",
    "ToolRegistry": "mcpfast.server.tools",
    "ServerCore": "mcpfast.server.core",
    "ToolResult": "mcpfast.server.registry",
    "ToolError": "mcpfast.errors",
    "McpError": "mcpfast.errors",
    "InputRequired": "mcpfast.server.mrtr",
    "Image": "mcpfast.server._convert",
    "Audio": "mcpfast.server._convert",
    "Message": "mcpfast.server._convert",
    "UserMessage": "mcpfast.server._convert",
    "AssistantMessage": "mcpfast.server._convert",
    "Client": "mcpfast.client.client",
    "StdioServerParameters": "mcpfast.client.stdio",
    "MCPError": "mcpfast.errors",
}

__all__ = ["EXTENSIONS", "__version__", *_LAZY]

if TYPE_CHECKING:  # the lazy names, for type checkers (usable in annotations)
    from .client.client import Client  # noqa: F401
    from .client.stdio import StdioServerParameters  # noqa: F401
    from .errors import MCPError, McpError, ToolError  # noqa: F401
    from .server._convert import AssistantMessage, Audio, Image, Message, UserMessage  # noqa: F401
    from .server.app import FastMCP, MCPServer  # noqa: F401
    from .server.context import Context  # noqa: F401
    from .server.core import ServerCore  # noqa: F401
    from .server.mrtr import InputRequired  # noqa: F401
    from .server.registry import ToolResult  # noqa: F401
    from .server.tools import Tool, ToolRegistry  # noqa: F401


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        if name == "EXTENSIONS":
            active = globals()["EXTENSIONS"] = _extensions_active()
            return active
        raise AttributeError(f"module 'mcpfast' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"EXTENSIONS"})
