"""The MCP server: ``ServerCore`` (dispatcher for both eras + low-level registration API)."""

from __future__ import annotations

from .context import Context, MissingClientCapability
from .core import (
    CLIENT_CAPABILITIES_KEY,
    CLIENT_INFO_KEY,
    PROTOCOL_VERSION_KEY,
    SERVER_INFO_KEY,
    SUBSCRIPTION_ID_KEY,
    ServerCore,
)
from .mrtr import InputRequired, RequestStateSigner
from .registry import Prompt, Resource, ResourceTemplate, Tool, ToolResult, UriTemplate
from .session import LOG_LEVELS, LegacySession

__all__ = [
    "ServerCore", "Context", "MissingClientCapability", "InputRequired", "RequestStateSigner",
    "Tool", "Resource", "ResourceTemplate", "Prompt", "ToolResult", "UriTemplate",
    "LegacySession", "LOG_LEVELS", "PROTOCOL_VERSION_KEY", "CLIENT_CAPABILITIES_KEY",
    "CLIENT_INFO_KEY", "SERVER_INFO_KEY", "SUBSCRIPTION_ID_KEY",
]
