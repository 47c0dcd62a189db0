"""The MCP server: ``ServerCore`` (dispatcher for both eras + low-level registration API) and,
loaded on first use, ``MCPServer`` (the official SDK's decorator API on top of it), the seed
API's ``Tool`` base class and ``ToolRegistry``; ``TaskStore`` (where tasks live) and its in-memory
``MemoryTaskStore``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .context import Context, ElicitationResult, MissingClientCapability
from .core import (
    CLIENT_CAPABILITIES_KEY,
    CLIENT_INFO_KEY,
    PROTOCOL_VERSION_KEY,
    SERVER_INFO_KEY,
    SUBSCRIPTION_ID_KEY,
    ServerCore,
)
from .mrtr import InputRequired, RequestStateSigner
from .registry import Prompt, Resource, ResourceTemplate, ToolResult
from .session import LOG_LEVELS, LegacySession
from .tasks import MemoryTaskStore, TaskStore
from .tools import Tool, ToolRegistry
from .uritemplate import UriTemplate

if TYPE_CHECKING:
    from ._convert import AssistantMessage, Audio, Image, Message, UserMessage
    from .app import FastMCP, MCPServer
    from .serving import ServerHandle

__all__ = [
    "ServerCore", "Context", "ElicitationResult", "MissingClientCapability", "InputRequired",
    "RequestStateSigner", "Tool", "ToolRegistry", "Resource", "ResourceTemplate", "Prompt", "ToolResult",
    "UriTemplate", "LegacySession", "LOG_LEVELS", "PROTOCOL_VERSION_KEY", "CLIENT_CAPABILITIES_KEY",
    "CLIENT_INFO_KEY", "SERVER_INFO_KEY", "SUBSCRIPTION_ID_KEY", "TaskStore", "MemoryTaskStore",
    "MCPServer", "FastMCP", "Image", "Audio", "Message", "UserMessage", "AssistantMessage", "ServerHandle",
]

_LAZY = {
    "MCPServer": "app", "FastMCP": "app",
    "Image": "_convert", "Audio": "_convert", "Message": "_convert", "UserMessage": "_convert",
    "AssistantMessage": "_convert", "ServerHandle": "serving",
}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value
