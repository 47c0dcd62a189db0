"""Drive a server subprocess over stdio with the official SDK's client (``mcp`` 2.3.0)."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
LEGACY_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"
#: the SDK's ``mode=`` per era: ``legacy`` (initialize) and ``auto`` (server/discover -> 2026-07-28)
MODES = ("legacy", "auto")


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """What a server subprocess needs: the MCPFAST_* variables (so it runs on the twins this
    test session runs on) and the interpreter's path settings (PYTHONPATH, PYTHONSAFEPATH), so it
    imports the same installed mcpfast as this process; the checkout is never put on the path.
    The SDK's stdio_client passes only a few safe variables plus these."""
    env = {k: v for k, v in os.environ.items() if k.startswith("MCPFAST_") or k in ("PYTHONPATH", "PYTHONSAFEPATH")}
    env.update(extra or {})
    return env


def params(args: list[str], env: dict[str, str] | None = None) -> StdioServerParameters:
    """``python <args>`` as a stdio server."""
    return StdioServerParameters(command=sys.executable, args=args, env=child_env(env))


def unwrap(group: BaseExceptionGroup[Any]) -> BaseException:
    """The single leaf of nested exception groups (the SDK's task groups wrap a test's failure)."""
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
        leaf = leaf.exceptions[0]
    return leaf


@asynccontextmanager
async def connect(args: list[str], mode: str = "legacy", env: dict[str, str] | None = None,
                  **kw: Any) -> AsyncIterator[Client]:
    """An SDK ``Client`` on ``python <args>`` over stdio; a failure inside is re-raised bare."""
    kw.setdefault("read_timeout_seconds", 20)
    client = Client(params(args, env), mode=mode, **kw)
    try:
        async with client:
            yield client
    except BaseExceptionGroup as group:
        leaf = unwrap(group)
        if leaf is group:
            raise
        raise leaf from None


def text(result: Any) -> str:
    """The text blocks of an SDK result, joined."""
    return "".join(b.text for b in result.content if isinstance(b, types.TextContent))
