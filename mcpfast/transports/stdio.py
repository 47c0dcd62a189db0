"""The MCP stdio transport (MCP basic/transports/stdio): one JSON-RPC message per line.

Server side: ``serve_stdio`` answers a dispatcher over the process's stdin and stdout with
non-blocking pipe I/O on the event loop (``connect_read_pipe``/``connect_write_pipe``; no
thread per line). stdout belongs to the protocol alone: the real stdout file descriptor is
duplicated for the protocol, and fd 1 and ``sys.stdout`` are pointed at stderr while serving,
so a stray ``print()`` in a tool (or in a subprocess it starts) lands in the log, not in the
middle of a message. On stdin EOF the requests in flight are still answered, then it returns;
SIGTERM and SIGINT give the same graceful ending with a deadline (``shutdown_grace``).

Client side: ``connect_stdio`` starts a server as a subprocess and speaks to it over its pipes
(its stderr is passed through); ``StdioClientProtocol.aclose`` ends it as the spec asks: close
its stdin, wait, then SIGTERM, then SIGKILL.

Flow control both ways: the write pipe's ``pause_writing``/``resume_writing`` reach the
protocol (which stops reading while the pipe is full), so a 16 MiB result through a 64 KiB
pipe is written as the reader takes it, without deadlock and without unbounded buffering of
new requests.

POSIX only (Windows consoles are not pipes). stdin or stdout redirected to a regular file
(``server < requests.jsonl > replies.jsonl``), which asyncio's pipe transports refuse, is read
and written with plain file I/O from loop callbacks instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import selectors
import stat
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from ..peer import DEFAULT_MAX_IN_FLIGHT, Dispatcher
from ..protocol import DEFAULT_MAX_MESSAGE_SIZE, ConnectionState, JSONRPCStreamProtocol
from ._signals import shutdown_signals

__all__ = [
    "StdioProtocol",
    "StdioClientProtocol",
    "serve_stdio",
    "run_stdio",
    "connect_stdio",
]

log = logging.getLogger("mcpfast.transports.stdio")


class _WritePipeProtocol(asyncio.BaseProtocol):
    """The write pipe's protocol: forwards flow control and the end of the pipe to its owner."""

    __slots__ = ("_owner",)

    def __init__(self, owner: StdioProtocol) -> None:
        self._owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        pass

    def pause_writing(self) -> None:
        self._owner.pause_writing()

    def resume_writing(self) -> None:
        self._owner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner.write_side_lost(exc)


class StdioProtocol(JSONRPCStreamProtocol):
    """``JSONRPCStreamProtocol`` over two pipes: ``transport`` reads, ``write_transport`` writes.

    asyncio ends a read pipe with ``eof_received`` and then, at once, ``connection_lost``; the
    answers to the requests in flight have not been written yet at that point. So the read
    side's ``connection_lost`` is held back after EOF: the peer is told the connection is gone
    only when the write pipe is closed (after the drain) or breaks.
    """

    def __init__(self, dispatcher: Dispatcher, **kw: Any) -> None:
        super().__init__(dispatcher, **kw)
        self._eof = False
        self._write_lost = False
        self._finished = False

    def eof_received(self) -> bool | None:
        self._eof = True
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        # Called by the read pipe only (the write pipe has _WritePipeProtocol).
        if self._finished:
            return
        wt = self.write_transport
        if exc is not None:
            if wt is not None and not wt.is_closing():
                wt.abort()
            self._finish(exc)
            return
        if wt is None or self._write_lost:
            self._finish(None)
            return
        if not self._eof and not wt.is_closing():
            # the read side was closed by us (close()) without EOF: end the write side too
            wt.close()
        # else: EOF; the drain closes the write pipe, whose connection_lost finishes

    def write_side_lost(self, exc: Exception | None) -> None:
        """The write pipe closed or broke (its protocol says so): close the read side, finish."""
        self._write_lost = True
        if self._finished:
            return
        rt = self.transport
        if rt is not None and not rt.is_closing():
            rt.close()
        self._finish(exc)

    def _finish(self, exc: Exception | None) -> None:
        self._finished = True
        JSONRPCStreamProtocol.connection_lost(self, exc)


class StdioClientProtocol(StdioProtocol):
    """The client end of a stdio connection to a server subprocess (see ``connect_stdio``)."""

    process: asyncio.subprocess.Process | None = None

    async def aclose(self, timeout: float = 2.0) -> int | None:
        """End the server as MCP asks: close its stdin, wait up to ``timeout`` s for it to exit,
        then SIGTERM, wait again, then SIGKILL. Returns its exit status."""
        wt = self.write_transport
        if wt is not None and not wt.is_closing():
            wt.close()
        proc = self.process
        rc: int | None = None
        if proc is not None:
            rc = await _wait_process(proc, timeout)
            if rc is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                rc = await _wait_process(proc, timeout)
            if rc is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                rc = await proc.wait()
        self.close()
        with contextlib.suppress(asyncio.TimeoutError):
            # normally immediate; a write pipe still full of unread bytes is given up on
            await asyncio.wait_for(self.wait_closed(), timeout)
        if self.state is not ConnectionState.CLOSED and wt is not None:
            wt.abort()
            await self.wait_closed()
        return rc


async def _wait_process(proc: asyncio.subprocess.Process, timeout: float) -> int | None:
    try:
        return await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        return None


def _is_pipe_like(fd: int, events: int = selectors.EVENT_READ) -> bool:
    """Whether asyncio's pipe transports can drive ``fd``: a pipe, socket or character device
    that the selector accepts (epoll refuses /dev/null and regular files with EPERM, and the
    pipe transport would only find out in a loop callback, after connection_made)."""
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
        return False
    sel = selectors.DefaultSelector()
    try:
        sel.register(fd, events)
    except (OSError, ValueError):
        return False
    finally:
        sel.close()
    return True


class _FdEnd:
    """The closing half that the two regular-file transports share: ``close()`` (or an error)
    marks the end closing at once, then on the next loop turn closes the fd and tells the
    protocol, once, as asyncio's pipe transports do."""

    _loop: asyncio.AbstractEventLoop
    _fd: int
    _protocol: asyncio.BaseProtocol
    _closing: bool

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._close(None)

    def _close(self, exc: BaseException | None) -> None:
        if not self._closing:
            self._closing = True
            self._loop.call_soon(self._lost, exc)

    def _lost(self, exc: BaseException | None) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self._protocol.connection_lost(exc)  # type: ignore[arg-type]


class _FileReadTransport(_FdEnd, asyncio.ReadTransport):
    """stdin redirected from a regular file (``server < requests.jsonl``), which the pipe
    transports refuse: read in chunks from loop callbacks (a regular file never makes a
    reader wait for a writer), then EOF and ``connection_lost`` as a read pipe does."""

    _protocol: asyncio.Protocol

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, protocol: asyncio.Protocol) -> None:
        super().__init__({"pipe": fd})
        self._loop = loop
        self._fd = fd
        self._protocol = protocol
        self._paused = False
        self._closing = False
        self._scheduled = False
        loop.call_soon(protocol.connection_made, self)
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled and not self._paused and not self._closing:
            self._scheduled = True
            self._loop.call_soon(self._read_ready)

    def _read_ready(self) -> None:
        self._scheduled = False
        if self._paused or self._closing:
            return
        try:
            data = os.read(self._fd, 256 * 1024)
        except OSError as exc:
            self._close(exc)
            return
        if data:
            self._protocol.data_received(data)
            self._schedule()
        else:
            self._closing = True
            self._loop.call_soon(self._protocol.eof_received)
            self._loop.call_soon(self._lost, None)

    def pause_reading(self) -> None:
        self._paused = True

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            self._schedule()

    def is_reading(self) -> bool:
        return not self._paused and not self._closing


class _FileWriteTransport(_FdEnd, asyncio.WriteTransport):
    """stdout redirected to a regular file: plain blocking writes (they never wait long)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, protocol: asyncio.BaseProtocol) -> None:
        super().__init__({"pipe": fd})
        self._loop = loop
        self._fd = fd
        self._protocol = protocol
        self._closing = False
        loop.call_soon(protocol.connection_made, self)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            self._close(exc)

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def can_write_eof(self) -> bool:
        return False

    def abort(self) -> None:
        self._close(None)


async def _connect_pipes(protocol: StdioProtocol, read_fd: int, write_fd: int) -> None:
    """Attach ``protocol`` to two file descriptors it then owns (closed with the transports).

    Pipes, sockets and terminals get asyncio's non-blocking pipe transports; regular files
    (redirections) get the small blocking-file transports above."""
    loop = asyncio.get_running_loop()
    try:
        read_is_pipe = _is_pipe_like(read_fd)
        write_is_pipe = _is_pipe_like(write_fd, selectors.EVENT_WRITE)
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        raise
    # the write side first: replies may be produced as soon as reading starts
    if write_is_pipe:
        wfile = os.fdopen(write_fd, "wb", buffering=0)
        try:
            wt, _ = await loop.connect_write_pipe(lambda: _WritePipeProtocol(protocol), wfile)
        except BaseException:
            os.close(read_fd)
            wfile.close()
            raise
    else:
        wt = _FileWriteTransport(loop, write_fd, _WritePipeProtocol(protocol))
        await asyncio.sleep(0)  # its connection_made
    protocol.write_transport = wt
    if not read_is_pipe:
        _FileReadTransport(loop, read_fd, protocol)
        await asyncio.sleep(0)  # the protocol's connection_made
        return
    rfile = os.fdopen(read_fd, "rb", buffering=0)
    try:
        await loop.connect_read_pipe(lambda: protocol, rfile)
    except BaseException:
        rfile.close()
        wt.close()
        raise


@contextlib.contextmanager
def _protocol_stdout() -> Iterator[tuple[int, int]]:
    """Give the protocol private copies of fds 0 and 1; point fd 1 and sys.stdout at stderr.

    Yields ``(read_fd, write_fd)``, owned by the caller. Everything is put back on exit,
    including the blocking mode of the original descriptions (the pipe transports make them
    non-blocking, which a terminal shared with a shell would otherwise keep)."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()  # what was printed before serving belongs to the old stdout
    in_blocking = os.get_blocking(0)
    out_blocking = os.get_blocking(1)
    read_fd = os.dup(0)
    write_fd = os.dup(1)
    saved_out = os.dup(1)
    saved_sys_stdout = sys.stdout
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield read_fd, write_fd
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        sys.stdout = saved_sys_stdout
        os.dup2(saved_out, 1)
        os.close(saved_out)
        with contextlib.suppress(OSError):
            os.set_blocking(0, in_blocking)
        with contextlib.suppress(OSError):
            os.set_blocking(1, out_blocking)


async def serve_stdio(
    dispatcher: Dispatcher,
    *,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    request_timeout: float | None = None,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    shutdown_grace: float = 5.0,
    handle_signals: bool = True,
) -> None:
    """Serve ``dispatcher`` over this process's stdin and stdout until stdin EOF or a signal.

    On EOF every request in flight is answered before returning. SIGTERM/SIGINT (when
    ``handle_signals`` and running in the main thread) stop reading, give handlers in flight
    ``shutdown_grace`` seconds (the rest are answered with -32000), write the answers and
    return; a second signal closes at once. A message longer than ``max_message_size`` bytes
    is answered with -32700 and skipped; the next line is read normally.
    """
    loop = asyncio.get_running_loop()
    protocol = StdioProtocol(
        dispatcher,
        max_message_size=max_message_size,
        request_timeout=request_timeout,
        max_in_flight=max_in_flight,
    )
    with _protocol_stdout() as (read_fd, write_fd):
        await _connect_pipes(protocol, read_fd, write_fd)
        shutdown_tasks: list[asyncio.Task[None]] = []

        def start() -> None:
            shutdown_tasks.append(loop.create_task(protocol.shutdown(shutdown_grace)))

        try:
            with shutdown_signals(start, protocol.close, lambda: bool(shutdown_tasks), shutdown_grace,
                                  enabled=handle_signals):
                await protocol.wait_closed()
                if shutdown_tasks:
                    await shutdown_tasks[0]
        finally:
            if protocol.state is not ConnectionState.CLOSED:
                # cancelled from outside: do not leave the pipes open
                protocol.close()


def run_stdio(dispatcher: Dispatcher, **kw: Any) -> None:
    """``asyncio.run(serve_stdio(dispatcher, **kw))``: the body of a stdio server's main."""
    asyncio.run(serve_stdio(dispatcher, **kw))


async def connect_stdio(
    command: Sequence[str],
    dispatcher: Dispatcher,
    *,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    **protocol_kw: Any,
) -> tuple[StdioClientProtocol, asyncio.subprocess.Process]:
    """Start ``command`` as a stdio server and connect ``dispatcher`` to it.

    Returns ``(protocol, process)``: send with ``await protocol.peer.request(method, params)``;
    end with ``await protocol.aclose()`` (close stdin, wait, SIGTERM, SIGKILL). The server's
    stderr is this process's stderr. ``protocol_kw`` goes to the protocol (``max_message_size``,
    ``request_timeout``, ``max_in_flight``).
    """
    if not command:
        raise ValueError("command must name a program to run, got an empty list")
    child_in, our_out = os.pipe()
    our_in, child_out = os.pipe()
    try:
        process = await asyncio.create_subprocess_exec(
            *command, stdin=child_in, stdout=child_out, stderr=None, env=env, cwd=cwd
        )
    except BaseException:
        for fd in (our_in, our_out):
            os.close(fd)
        raise
    finally:
        os.close(child_in)
        os.close(child_out)
    protocol = StdioClientProtocol(dispatcher, **protocol_kw)
    protocol.process = process
    try:
        await _connect_pipes(protocol, our_in, our_out)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    return protocol, process
