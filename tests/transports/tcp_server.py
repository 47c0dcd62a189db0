"""A TCP server for the transport tests: the echo dispatcher, ``serve_forever`` until a signal.

Prints ``PORT <n>`` on stdout once listening."""

from __future__ import annotations

import asyncio
import os
import sys

# the echo dispatcher is a helper of the tests, not of mcpfast: its folder (which holds no
# mcpfast) goes on the path, so this process imports the same installed mcpfast as the test
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))

from dispatchers import EchoDispatcher  # noqa: E402

from mcpfast.transports.tcp import start_tcp_server  # noqa: E402


async def main() -> None:
    server = await start_tcp_server(EchoDispatcher)
    print("PORT", server.port, flush=True)
    await server.serve_forever(grace=float(os.environ.get("MCPFAST_TEST_GRACE", "5")))
    print("tcp server: clean exit", file=sys.stderr, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
