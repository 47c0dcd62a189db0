"""SIGTERM/SIGINT while a transport serves: the first starts a graceful shutdown, a second one
cuts every connection at once. Shared by the stdio, TCP and HTTP servers so that they stop alike."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator

__all__ = ["shutdown_signals"]

log = logging.getLogger("mcpfast.transports")


@contextlib.contextmanager
def shutdown_signals(start: Callable[[], None], cut: Callable[[], None], started: Callable[[], bool],
                     grace: float, *, enabled: bool = True) -> Iterator[None]:
    """While inside: a signal calls ``start()`` (begin closing within ``grace`` seconds), or
    ``cut()`` when ``started()`` says closing has already begun. Handlers can only be installed
    from the main thread; elsewhere (and with ``enabled=False``) nothing is installed and the
    caller's own shutdown path is the only one."""
    loop = asyncio.get_running_loop()
    installed: list[int] = []

    def on_signal(signum: int) -> None:
        if started():
            log.warning("signal %d again: closing connections at once", signum)
            cut()
            return
        log.info("signal %d: shutting down (grace %g s)", signum, grace)
        start()

    if enabled:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                break
            installed.append(sig)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
