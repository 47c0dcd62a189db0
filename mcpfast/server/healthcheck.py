"""``python -m mcpfast.server.healthcheck [URL]``: exit 0 when the MCP server at URL answers
``server/discover``, 1 (with the reason on stderr) when it does not.

The Docker image's ``HEALTHCHECK`` (and a Kubernetes exec probe) runs it: it talks MCP to the
server, so a process that listens but no longer answers is unhealthy. ``URL`` is
``http(s)://host:port/path`` (Streamable HTTP; a 2026-07-28 request needs no session) or
``tcp://host:port`` (one NDJSON line); default ``$MCPFAST_HEALTH_URL``, else
``http://127.0.0.1:8000/mcp``. Standard library only; nothing is imported from the server.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import sys
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

__all__ = ["DEFAULT_URL", "check", "main"]

DEFAULT_URL = "http://127.0.0.1:8000/mcp"
#: the modern era: every request says its version and capabilities, no initialize needed
_VERSION = "2026-07-28"
#: ``server/discover``: answered by every 2026-07-28 server without a session (``ping`` is
#: legacy-only in that version)
_METHOD = "server/discover"
_REQUEST = {"jsonrpc": "2.0", "id": 1, "method": _METHOD,
         "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": _VERSION,
                              "io.modelcontextprotocol/clientCapabilities": {}}}}


def _reply(body: bytes) -> Any:
    """The JSON-RPC reply in a JSON or an SSE body."""
    text = body.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        return json.loads(text)
    for line in text.splitlines():
        if line.startswith("data:"):
            message = json.loads(line[5:])
            if isinstance(message, dict) and message.get("id") == 1:
                return message
    raise ValueError(f"no JSON-RPC reply in the response: {text[:200]!r}")


def check(url: str, timeout: float = 4.0) -> None:
    """Send one ``server/discover``; return when it is answered with a result, raise otherwise."""
    u = urlsplit(url)
    data = json.dumps(_REQUEST).encode()
    if u.scheme in ("http", "https"):
        req = urllib.request.Request(url, data=data, method="POST", headers={
            "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
            "Mcp-Protocol-Version": _VERSION, "Mcp-Method": _METHOD})
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the scheme is checked
            reply = _reply(resp.read())
    elif u.scheme in ("tcp", "tcps"):
        if u.hostname is None or u.port is None:
            raise ValueError(f"{url}: a tcp URL needs a host and a port")
        sock: socket.socket = socket.create_connection((u.hostname, u.port), timeout=timeout)
        if u.scheme == "tcps":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=u.hostname)
        with sock, sock.makefile("rb") as lines:
            sock.sendall(data + b"\n")
            reply = json.loads(lines.readline())
    else:
        raise ValueError(f"{url}: the scheme must be http, https, tcp or tcps")
    if not isinstance(reply, dict) or "result" not in reply:
        raise ValueError(f"{_METHOD} was not answered with a result: {reply!r}")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    url = args[0] if args else os.environ.get("MCPFAST_HEALTH_URL", DEFAULT_URL)
    try:
        check(url)
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy", with its reason
        print(f"unhealthy: {url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
