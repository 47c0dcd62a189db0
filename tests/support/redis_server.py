"""A real ``redis-server`` for the store tests: on a free 127.0.0.1 port, no persistence, in a
temporary directory, stopped after the test (or the module), and stoppable/restartable mid-test
on the same port (the store's "Redis down, then back" tests).

``redis_server`` (module scope) yields a ``RedisServer``; ``RedisServer.url(db)`` is what
``open_store`` takes. Each test should use its own key prefix (``unique_prefix()``) so tests
sharing one server never see each other's keys.

When ``redis-server`` is not installed, the fixture FAILS under CI (env ``CI`` set: ``.ci/run``
installs Debian's package, so a missing one is a broken CI machine) and skips otherwise, with
the reason. ``MCPFAST_REDIS_SERVER`` names another binary.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .ports import free_port as _free_port

__all__ = ["RedisServer", "redis_server", "redis_server_binary", "redis_package_missing", "unique_prefix"]

_counter = itertools.count()


def unique_prefix() -> str:
    """A key prefix no other test (or process) of this run uses."""
    return f"t{os.getpid()}-{next(_counter)}:"


def redis_server_binary() -> str:
    """The redis-server to run; fails (CI) or skips (elsewhere) when there is none."""
    binary = os.environ.get("MCPFAST_REDIS_SERVER") or shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)
    if binary is None:
        why = ("redis-server is not installed (Debian: apt-get install redis-server; .ci/run installs it),"
               " so the Redis store tests cannot run")
        if os.environ.get("CI"):
            pytest.fail(why + " - CI is set: failing instead of skipping", pytrace=False)
        pytest.skip(why)
    return binary


def redis_package_missing() -> str | None:
    """Why the Redis backend cannot be imported (the ``redis`` package is missing), or None.
    Under CI a missing package is an error (the ``test`` extra has it): raises RuntimeError."""
    if importlib.util.find_spec("redis") is not None:
        return None
    why = "the redis package is not installed (pip install 'mcpfast[redis]'; the test extra has it)"
    if os.environ.get("CI"):
        raise RuntimeError(why + " - CI is set: failing instead of skipping")
    return why


class RedisServer:
    """One redis-server process; ``stop()`` and ``start()`` again keep the port."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start it and wait until it answers PING (fails with its log if it does not)."""
        if self.running:
            return
        log = self.workdir / "redis.log"
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(log), "--protected-mode", "yes",
             "--databases", "16"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.ping():
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace") if log.exists() else "(no log)"
                self.stop()
                pytest.fail(f"redis-server on port {self.port} did not start:\n{text[-2000:]}", pytrace=False)
            time.sleep(0.01)

    def ping(self) -> bool:
        """It answers PING now (a raw RESP exchange: no client library involved)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL) and wait until the port refuses connections."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def flush(self) -> None:
        """Empty every database (between tests that count keys)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"FLUSHALL\r\n")
            s.recv(64)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server for the tests of one module (see the module docstring)."""
    binary = redis_server_binary()
    with tempfile.TemporaryDirectory(prefix="mcpfast-redis-") as tmp:
        server = RedisServer(binary, Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop()
