"""The stdio client transport: the server is a subprocess, JSON-RPC lines on its stdin/stdout.

``StdioServerParameters(command, args, env, cwd)`` describes the server, with the official
SDK's names: ``env`` is merged over a small default environment (``HOME``, ``LOGNAME``, ``PATH``,
``SHELL``, ``TERM``, ``USER``; on Windows the system variables a process needs) rather than the
whole of this process's, so secrets in the client's environment do not leak into a server by
default. The server's stderr is this process's stderr (MCP: stderr is the server's log).

Closing follows the spec's shutdown order: close the server's stdin, wait up to
``terminate_timeout`` seconds for it to exit, SIGTERM, wait again, SIGKILL; the child is always
reaped, so no zombie is left.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..peer import Dispatcher, JSONRPCPeer
from ..transports.stdio import StdioClientProtocol, connect_stdio
from .transport import ClientTransport

if TYPE_CHECKING:  # only annotated: pathlib (with urllib.parse, ipaddress, fnmatch) is not loaded for it
    from pathlib import Path

__all__ = ["StdioServerParameters", "StdioTransport", "DEFAULT_INHERITED_ENV_VARS", "default_environment"]

DEFAULT_INHERITED_ENV_VARS: tuple[str, ...] = (
    ("APPDATA", "HOMEDRIVE", "HOMEPATH", "LOCALAPPDATA", "PATH", "PATHEXT", "PROCESSOR_ARCHITECTURE",
     "SYSTEMDRIVE", "SYSTEMROOT", "TEMP", "USERNAME", "USERPROFILE")
    if sys.platform == "win32"
    else ("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER")
)

#: seconds the server gets to exit after its stdin closes, and again after SIGTERM
DEFAULT_TERMINATE_TIMEOUT = 2.0


def default_environment() -> dict[str, str]:
    """The variables a server inherits from this process when ``env`` does not replace them."""
    env: dict[str, str] = {}
    for key in DEFAULT_INHERITED_ENV_VARS:
        value = os.environ.get(key)
        if value is not None and not value.startswith("()"):  # "()": an exported shell function
            env[key] = value
    return env


class StdioServerParameters:
    """How to start a stdio server: ``command`` (the program), ``args``, ``env`` (merged over
    ``default_environment()``), ``cwd``. ``encoding`` and ``encoding_error_handler`` are
    accepted for the SDK's sake; MCP messages are UTF-8 JSON, decoded as such."""

    __slots__ = ("command", "args", "env", "cwd", "encoding", "encoding_error_handler")

    def __init__(
        self,
        command: str,
        args: Sequence[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        encoding: str = "utf-8",
        encoding_error_handler: str = "strict",
    ) -> None:
        if not command:
            raise ValueError("StdioServerParameters needs a command to run")
        if isinstance(args, str):
            raise TypeError("args must be a list of strings, not one string")
        self.command = command
        self.args = list(args or ())
        self.env = env
        self.cwd = cwd
        self.encoding = encoding
        self.encoding_error_handler = encoding_error_handler

    def model_dump(self, **_ignored: Any) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StdioServerParameters):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"StdioServerParameters(command={self.command!r}, args={self.args!r}, cwd={self.cwd!r})"


class StdioTransport(ClientTransport):
    """Start the server described by ``params`` and speak to it over its stdin/stdout."""

    def __init__(self, params: StdioServerParameters, *, terminate_timeout: float = DEFAULT_TERMINATE_TIMEOUT,
                 max_message_size: int | None = None) -> None:
        self.params = params
        self.terminate_timeout = terminate_timeout
        self.max_message_size = max_message_size
        self._protocol: StdioClientProtocol | None = None
        self.returncode: int | None = None

    async def connect(self, dispatcher: Dispatcher, *, request_timeout: float | None = None,
                      max_in_flight: int | None = None) -> JSONRPCPeer:
        if self._protocol is not None:
            raise RuntimeError("this StdioTransport is already connected (one connection per transport)")
        p = self.params
        kw: dict[str, Any] = {"request_timeout": request_timeout}
        if max_in_flight is not None:
            kw["max_in_flight"] = max_in_flight
        if self.max_message_size is not None:
            kw["max_message_size"] = self.max_message_size
        env = default_environment()
        if p.env:
            env.update(p.env)
        try:
            protocol, _process = await connect_stdio([p.command, *p.args], dispatcher, env=env, cwd=p.cwd, **kw)
        except FileNotFoundError as exc:
            raise ConnectionError(f"cannot start the MCP server {p.command!r}: {exc.strerror or exc}") from exc
        except PermissionError as exc:
            raise ConnectionError(f"cannot start the MCP server {p.command!r}: permission denied") from exc
        self._protocol = protocol
        assert protocol.peer is not None  # set by connection_made
        protocol.peer.eager_writes = True
        return protocol.peer

    @property
    def process(self) -> Any:
        """The server's ``asyncio.subprocess.Process`` (None before ``connect``)."""
        return self._protocol.process if self._protocol is not None else None

    async def close(self) -> None:
        protocol = self._protocol
        if protocol is None or self.returncode is not None:
            return
        self.returncode = await protocol.aclose(self.terminate_timeout)
        if self.returncode is None:  # pragma: no cover - aclose always reaps the child
            self.returncode = -1

    @property
    def closed(self) -> bool:
        p = self._protocol
        return self.returncode is not None or (p is not None and p.peer is not None and p.peer.closed)
