"""Servers on 127.0.0.1 port 0 that outlive one test's event loop: each runs in a thread with
its own loop, so module-scoped fixtures can share one server among sync and ``async_test``
tests (each of which runs its own loop) and among in-process runs of the ``mcpfast`` command."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

from mcpfast.server.serving import ServerHandle, start_server


class ServedInThread:
    """``start_server(dispatcher, transport, port=0, **options)`` on a loop in a daemon thread."""

    def __init__(self, dispatcher: Any, transport: str, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name=f"served-{transport}")
        self.thread.start()
        try:
            self.handle: ServerHandle = asyncio.run_coroutine_threadsafe(
                start_server(dispatcher, transport, port=0, **options), self.loop).result(10)
        except BaseException:
            self._stop()
            raise

    @property
    def url(self) -> str:
        """Where clients connect (``tcp://``, ``http://.../mcp``, ``ws://...``)."""
        return self.handle.url

    def close(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.handle.shutdown(), self.loop).result(10)
        finally:
            self._stop()

    def _stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class UvicornInThread:
    """An ASGI app under uvicorn on 127.0.0.1 port 0, in a daemon thread with its own loop; also a
    context manager that closes it. ``graceful`` is uvicorn's ``timeout_graceful_shutdown``: how
    long open streams (SSE) get to end before they are cut."""

    def __init__(self, app: Any, path: str = "/mcp", *, graceful: int = 1) -> None:
        import uvicorn

        self.path = path
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                                    lifespan="on", timeout_graceful_shutdown=graceful))
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="served-uvicorn")
        self.thread.start()
        started = threading.Event()
        for _ in range(1000):
            if self.server.started or not self.thread.is_alive():
                break
            started.wait(0.01)
        if not self.server.started:
            self.close()
            raise RuntimeError("uvicorn did not start")

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``, without the path."""
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    @property
    def url(self) -> str:
        return self.base + self.path

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        if self.thread.is_alive():
            raise RuntimeError("uvicorn did not stop")

    def __enter__(self) -> UvicornInThread:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
