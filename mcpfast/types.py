"""Protocol constants shared by every layer: JSON-RPC version, MCP protocol revisions.

Message shapes and method names join this module as the protocol engine needs them.
"""

from __future__ import annotations

from typing import Final

JSONRPC_VERSION: Final = "2.0"

#: every MCP revision mcpfast speaks, oldest first
PROTOCOL_VERSIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")
#: revisions negotiated with the ``initialize`` handshake (sessions)
HANDSHAKE_PROTOCOL_VERSIONS: Final = PROTOCOL_VERSIONS[:4]
#: stateless revisions: per-request ``_meta``, no handshake
MODERN_PROTOCOL_VERSIONS: Final = ("2026-07-28",)
LATEST_PROTOCOL_VERSION: Final = "2026-07-28"
LATEST_HANDSHAKE_VERSION: Final = "2025-11-25"
#: the only revision that allows JSON-RPC batches (added 2025-03-26, removed 2025-06-18)
BATCH_PROTOCOL_VERSIONS: Final = ("2025-03-26",)

#: ``params._meta`` keys of the 2026-07-28 per-request envelope (client -> server) and of its
#: results (server -> client); defined once here for the server, the client and the transports
PROTOCOL_VERSION_KEY: Final = "io.modelcontextprotocol/protocolVersion"
CLIENT_CAPABILITIES_KEY: Final = "io.modelcontextprotocol/clientCapabilities"
CLIENT_INFO_KEY: Final = "io.modelcontextprotocol/clientInfo"
SERVER_INFO_KEY: Final = "io.modelcontextprotocol/serverInfo"

#: the ``_meta`` key of every frame of a ``subscriptions/listen`` stream (2026-07-28): the
#: listen request's JSON-RPC id
SUBSCRIPTION_ID_KEY: Final = "io.modelcontextprotocol/subscriptionId"
#: the notification that opens a listen stream (what the server agreed to send)
SUBSCRIPTIONS_ACKNOWLEDGED: Final = "notifications/subscriptions/acknowledged"
#: the Tasks extension's identifier (2026-07-28 capabilities, ``extensions``)
TASKS_EXTENSION: Final = "io.modelcontextprotocol/tasks"
#: the 2025-11-25 ``_meta`` key that ties a message to its task
RELATED_TASK_KEY: Final = "io.modelcontextprotocol/related-task"
#: the 2026-07-28 per-request ``_meta`` key naming the log level the client wants
LOG_LEVEL_KEY: Final = "io.modelcontextprotocol/logLevel"
