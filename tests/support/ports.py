"""A free TCP port on 127.0.0.1, for servers that must be told their port up front (a
subprocess, a redis-server): the kernel picks one, the socket is closed, the port is returned."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
