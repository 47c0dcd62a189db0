"""A stdio server for the transport tests: the echo dispatcher over ``run_stdio``.

``MCPFAST_TEST_MAX_MESSAGE_SIZE`` and ``MCPFAST_TEST_REQUEST_TIMEOUT`` set the limits."""

from __future__ import annotations

import logging
import os
import sys

# the echo dispatcher is a helper of the tests, not of mcpfast: its folder (which holds no
# mcpfast) goes on the path, so this process imports the same installed mcpfast as the test
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support"))

from dispatchers import EchoDispatcher  # noqa: E402

from mcpfast.protocol import DEFAULT_MAX_MESSAGE_SIZE  # noqa: E402
from mcpfast.transports.stdio import run_stdio  # noqa: E402

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    timeout = os.environ.get("MCPFAST_TEST_REQUEST_TIMEOUT")
    run_stdio(
        EchoDispatcher(),
        max_message_size=int(os.environ.get("MCPFAST_TEST_MAX_MESSAGE_SIZE", DEFAULT_MAX_MESSAGE_SIZE)),
        request_timeout=float(timeout) if timeout else None,
    )
    print("stdio server: clean exit", file=sys.stderr)
