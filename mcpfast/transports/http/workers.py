"""``run_http(..., workers=N)``: N forked worker processes serving one port with
``SO_REUSEPORT``, under a parent that restarts a crashed worker and forwards SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import HTTPSettings

__all__ = ["check_workers", "run_workers", "shared_store_configured"]

log = logging.getLogger("mcpfast.transports.http.server")


def check_workers(workers: int, settings: HTTPSettings | None, dispatcher: Any = None) -> None:
    """Refuse a worker count that cannot work (sessions live in one process, unless a shared
    store, ``HTTPSettings.store`` or the dispatcher's ``store``, holds them)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers == 1 or (settings is not None and getattr(settings, "stateless", False)):
        return
    if shared_store_configured(settings, dispatcher):
        return  # legacy sessions are valid on every worker
    raise ValueError(
        f"workers={workers} needs HTTPSettings(stateless=True) or a shared store (store=\"redis://...\"):"
        " a legacy session lives in one process, and the kernel spreads connections over the workers,"
        " so a session's later requests would reach workers that never saw it. Stateless mode serves"
        " legacy clients without sessions; 2026-07-28 requests are stateless and work with any worker"
        " count; a Redis store shares the sessions between the workers."
    )


def shared_store_configured(settings: HTTPSettings | None, dispatcher: Any = None) -> bool:
    """A shared store (Redis) will hold the legacy sessions: a shared ``Store`` in
    ``settings.store`` or the dispatcher's ``store``, or a store URL other than memory there, in
    the ``MCPServer``'s ``store`` setting or in ``$MCPFAST_STORE`` (attached when each worker
    starts). Nothing is opened or connected."""
    app = getattr(dispatcher, "app", None)
    for store in (getattr(settings, "store", None), getattr(dispatcher, "store", None),
                  getattr(getattr(app, "settings", None), "store", None), os.environ.get("MCPFAST_STORE")):
        if isinstance(store, str):
            if store and store.partition("://")[0].lower() != "memory":
                return True
        elif getattr(store, "shared", False) is True:
            return True
    return False


def run_workers(dispatcher: Any, workers: int, host: str | None, port: int, kw: dict[str, Any]) -> None:
    """Fork ``workers`` processes that each run ``serve_http(dispatcher, ..., **kw)`` on the same
    port, and supervise them until they all exited (see ``server.run_http``)."""
    from .server import serve_http

    if not hasattr(os, "fork") or not hasattr(socket, "SO_REUSEPORT"):
        raise RuntimeError("workers>1 needs fork() and SO_REUSEPORT (Linux, BSD, macOS)")
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # the normal case: the children start their own loops
    else:
        # a child forked from inside a running loop would inherit it half-alive
        raise RuntimeError("run_http(workers>1) blocks until the workers exit: call it outside a running event loop")
    # Hold the port in the parent (bound, not listening: it takes no connections) so that
    # port=0 resolves once and a restarted worker finds the same port.
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = infos[0]
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind(sockaddr)
    real_port = holder.getsockname()[1]
    children: dict[int, int] = {}
    started: dict[int, float] = {}
    stopping = False
    crashes: deque[float] = deque(maxlen=5 * workers)

    def spawn(index: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    signal.signal(sig, signal.SIG_DFL)
                holder.close()
                asyncio.run(serve_http(dispatcher, host=host, port=real_port, reuse_port=True, **kw))
                code = 0
            except KeyboardInterrupt:
                code = 0
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        children[pid] = index
        started[pid] = time.monotonic()

    def forward(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("Streamable HTTP: %d workers on %s:%d", workers, host, real_port)
    try:
        for i in range(workers):
            spawn(i)
        while children:
            time.sleep(0.1)
            for pid in list(children):
                try:
                    done, status = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done, status = pid, 0
                if done == 0:
                    continue
                index = children.pop(pid)
                lived = time.monotonic() - started.pop(pid, 0.0)
                if stopping:
                    continue
                code = os.waitstatus_to_exitcode(status)
                now = time.monotonic()
                crashes.append(now)
                if len(crashes) == crashes.maxlen and now - crashes[0] < 10.0:
                    log.error("workers keep dying (%d exits in 10 s); stopping", len(crashes))
                    forward(signal.SIGTERM, None)
                    continue
                log.warning("worker %d (pid %d) exited with %d after %.1f s; restarting", index, pid, code, lived)
                spawn(index)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        holder.close()
