"""``from mcpfast import Client`` stays light (issue 10: it must import in <= 60 ms).

Held structurally, not by timing: a fresh interpreter imports what any asyncio program has
(``asyncio``, ``orjson``), then the client, and the modules that the client pulled in on top
must include none of those it loads only when a program uses them: listen streams, the Tasks
extension, the URL-scheme transports and their parsers, metrics, the server, pydantic. (Each
of these was once imported eagerly and cost a few milliseconds on every start.) The result
classes, which are built while importing, keep the inheritance they declare.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mcpfast.client import client as client_module
from mcpfast.client.results import AudioContent, GetTaskResult, ImageContent, Task, TaskStatusNotificationParams

#: loaded on first use only: what a program that never listens, never meets a task, and
#: connects in process or over stdio must not pay for at import
LAZY = (
    "mcpfast.client.subscriptions",
    "mcpfast.client.tasks",
    "mcpfast.client.http",
    "mcpfast.client.websocket",
    "mcpfast.client.auth",
    "mcpfast.client.tcp",
    "mcpfast.client.stdio",
    "mcpfast.metrics",
    "mcpfast.server",
    "mcpfast.transports",
    "dataclasses",
    "urllib.parse",
    "ipaddress",
    "uuid",
    "platform",
    "pathlib",
    "http.client",
    "email",
    "pydantic",
    "httpx2",
    "opentelemetry",
)

#: what the stdio transport (``StdioServerParameters``) needs on top: its own modules only
STDIO_ALLOWED = ("mcpfast.client.stdio", "mcpfast.transports", "mcpfast.protocol", "mcpfast.metrics",
                 "mcpfast.wire")

_PROBE = """
import json, sys
import asyncio, orjson
before = set(sys.modules)
from mcpfast import Client
client = set(sys.modules)
from mcpfast import StdioServerParameters
print(json.dumps([sorted(client - before), sorted(set(sys.modules) - client)]))
"""


def _among(names: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes))


def test_from_mcpfast_import_client_loads_nothing_lazy() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=True)
    client, stdio = (set(names) for names in json.loads(out.stdout))
    assert "mcpfast.client.client" in client and "mcpfast.client.stdio" in stdio  # the probe saw the imports
    heavy = _among(client, LAZY)
    assert heavy == [], f"`from mcpfast import Client` now imports {heavy}: load them on first use"
    heavy = _among(stdio, tuple(name for name in LAZY if name not in STDIO_ALLOWED))
    assert heavy == [], f"`from mcpfast import StdioServerParameters` now imports {heavy}"


def test_lazy_names_of_the_client_module() -> None:
    from mcpfast.client import subscriptions

    assert client_module.Subscription is subscriptions.Subscription
    assert client_module.ListenNotSupportedError is subscriptions.ListenNotSupportedError
    assert client_module.SubscriptionLost is subscriptions.SubscriptionLost
    try:
        client_module.NoSuchName  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchName" in str(exc)
    else:
        raise AssertionError("an unknown name must raise AttributeError")


def test_result_subclasses_inherit_the_fields_of_their_base() -> None:
    # a subclass re-makes a field only when it changes its default or wrapper: AudioContent
    # changes the default type; the task results inherit Task's either-era ttl/poll readers
    assert AudioContent({}).type == "audio" and ImageContent({}).type == "image"
    assert AudioContent({"annotations": {"priority": 1}}).annotations.priority == 1  # type: ignore[union-attr]
    modern = {"taskId": "t", "status": "working", "ttlMs": 5000, "pollIntervalMs": 100}
    legacy = {"taskId": "t", "status": "working", "ttl": 6000, "pollInterval": 200}
    for cls in (Task, GetTaskResult, TaskStatusNotificationParams):
        assert (cls(modern).ttl, cls(modern).ttl_ms, cls(modern).poll_interval) == (5000, 5000, 100), cls
        assert (cls(legacy).ttl_ms, cls(legacy).poll_interval_ms) == (6000, 200), cls
