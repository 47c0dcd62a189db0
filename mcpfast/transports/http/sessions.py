"""Legacy (2025-11-25 and earlier) Streamable HTTP sessions, and the SSE event store.

* ``Session``: what one ``Mcp-Session-Id`` holds: its long-lived peer (so ``ServerCore``'s
  session bookkeeping, list-changed broadcasts and resource subscriptions work as on stdio),
  the GET stream, the POST streams a client may resume. Kept small: an idle session costs well
  under 4 KiB, and nothing per session is armed in the event loop.
* ``SessionTable``: the open sessions by id, the cap, and the idle expiry: one periodic sweep
  for the whole table (a request only stamps the sweep's tick number on its session: no clock
  read, no timer handle per session).
* ``EventStore``: the interface of the SSE event store (``Last-Event-ID`` replay, SEP-1699
  polling), and ``MemoryEventStore``, the bounded default.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

__all__ = ["EventStore", "MemoryEventStore", "Session", "SessionTable", "new_session_id"]


def new_session_id() -> str:
    """A fresh session id: 128 random bits as 22 URL-safe characters (visible ASCII only)."""
    return secrets.token_urlsafe(16)


# ============================================================================== event store


@runtime_checkable
class EventStore(Protocol):
    """Where SSE events wait for a client that may reconnect with ``Last-Event-ID``.

    Stream ids are made by the core as ``"<session id>.<n>"`` (``n`` = 0 for the session's GET
    stream, 1, 2... for its POST streams); event ids are the store's own, but must name their
    stream (``replay_after`` gets nothing else). ``message`` is one encoded JSON-RPC message;
    ``b""`` marks a priming event (an id the client may resume from; never replayed). The
    methods are called on the event loop and must not block: a store backed by a remote
    service keeps a local write-behind buffer.
    """

    def store_event(self, stream_id: str, message: bytes) -> str:
        """Keep one event of ``stream_id``; return its event id."""

    def replay_after(self, last_event_id: str) -> tuple[str, list[tuple[str, bytes]]] | None:
        """The stream ``last_event_id`` belongs to and its events after it, oldest first
        (priming events left out); None when the id is unknown or malformed."""

    def forget_stream(self, stream_id: str) -> None:
        """Drop every event of one stream."""

    def forget_session(self, session_id: str) -> None:
        """Drop every stream of a session (it ended)."""


class _Stream:
    __slots__ = ("seq", "events", "size")

    def __init__(self) -> None:
        self.seq = 0
        self.events: deque[tuple[int, bytes]] = deque()
        self.size = 0


#: bytes counted per stored event on top of its payload (tuple, deque slot, bytes header)
_EVENT_OVERHEAD = 96


class MemoryEventStore:
    """The default ``EventStore``: in memory, bounded two ways.

    Each stream keeps its last ``max_events_per_stream`` events; all streams together keep at
    most ``max_bytes`` (payload plus a fixed overhead per event), the oldest streams' oldest
    events going first. A client resuming from an evicted event gets what is left after it.
    Event ids are ``"<stream id>/<sequence number>"``.
    """

    __slots__ = ("max_events_per_stream", "max_bytes", "_streams", "_sessions", "_bytes")

    def __init__(self, *, max_events_per_stream: int = 1000, max_bytes: int = 16 * 1024 * 1024) -> None:
        if max_events_per_stream < 1:
            raise ValueError(f"max_events_per_stream must be at least 1, got {max_events_per_stream}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        self.max_events_per_stream = max_events_per_stream
        self.max_bytes = max_bytes
        self._streams: dict[str, _Stream] = {}
        self._sessions: dict[str, set[str]] = {}
        self._bytes = 0

    @property
    def size(self) -> int:
        """Bytes accounted for the events held now (payloads plus a fixed overhead each)."""
        return self._bytes

    @property
    def streams(self) -> int:
        return len(self._streams)

    @property
    def events(self) -> int:
        return sum(len(s.events) for s in self._streams.values())

    def store_event(self, stream_id: str, message: bytes) -> str:
        st = self._streams.get(stream_id)
        if st is None:
            st = self._streams[stream_id] = _Stream()
            sid = stream_id.rpartition(".")[0]
            group = self._sessions.get(sid)
            if group is None:
                group = self._sessions[sid] = set()
            group.add(stream_id)
        st.seq += 1
        seq = st.seq
        size = len(message) + _EVENT_OVERHEAD
        st.events.append((seq, message))
        st.size += size
        self._bytes += size
        if len(st.events) > self.max_events_per_stream:
            _, old = st.events.popleft()
            n = len(old) + _EVENT_OVERHEAD
            st.size -= n
            self._bytes -= n
        if self._bytes > self.max_bytes:
            self._evict()
        return f"{stream_id}/{seq}"

    def _evict(self) -> None:
        streams = self._streams
        while self._bytes > self.max_bytes and streams:
            stream_id = next(iter(streams))
            st = streams[stream_id]
            while st.events and self._bytes > self.max_bytes:
                _, old = st.events.popleft()
                n = len(old) + _EVENT_OVERHEAD
                st.size -= n
                self._bytes -= n
            if not st.events:
                self.forget_stream(stream_id)

    def replay_after(self, last_event_id: str) -> tuple[str, list[tuple[str, bytes]]] | None:
        stream_id, sep, n = last_event_id.rpartition("/")
        if not sep or not n.isdigit():
            return None
        st = self._streams.get(stream_id)
        if st is None:
            return None
        after = int(n)
        prefix = stream_id + "/"
        return stream_id, [(f"{prefix}{seq}", msg) for seq, msg in st.events if seq > after and msg]

    def forget_stream(self, stream_id: str) -> None:
        st = self._streams.pop(stream_id, None)
        if st is None:
            return
        self._bytes -= st.size
        sid = stream_id.rpartition(".")[0]
        group = self._sessions.get(sid)
        if group is not None:
            group.discard(stream_id)
            if not group:
                del self._sessions[sid]

    def forget_session(self, session_id: str) -> None:
        for stream_id in list(self._sessions.get(session_id, ())):
            self.forget_stream(stream_id)

    def __repr__(self) -> str:
        return f"<MemoryEventStore streams={len(self._streams)} bytes={self._bytes}>"


# ============================================================================== sessions


class Session:
    """One legacy session (see the module docstring). The core owns the logic; this holds
    the state, in slots."""

    __slots__ = ("id", "peer", "tick", "get", "get_opened", "live", "nstreams", "owner", "closed")

    def __init__(self, sid: str, peer: Any, tick: int, owner: Any = None) -> None:
        self.id = sid
        #: the session's JSONRPCPeer (its ``state`` is ServerCore's LegacySession)
        self.peer = peer
        #: the sweep tick of the last request (idle expiry)
        self.tick = tick
        #: the open GET stream (an exchange-like object), or None
        self.get: Any = None
        #: a GET stream was opened once: unsolicited messages sent while none is open are kept
        #: in the event store for its resumption (else the client could not name them)
        self.get_opened = False
        #: resumable POST streams whose request is still running: stream id -> exchange
        self.live: dict[str, Any] | None = None
        #: POST streams numbered so far (stream ids ``<id>.1``, ``<id>.2``...; ``<id>.0`` is GET)
        self.nstreams = 0
        #: who opened it (the access token's identity), when authentication is on
        self.owner = owner
        self.closed = False

    @property
    def protocol_version(self) -> str:
        state = self.peer.state
        return state.protocol_version if state is not None else "2025-03-26"

    def idle(self) -> bool:
        """Nothing holds the session: no request in flight, no open stream."""
        return not self.peer.in_flight and self.get is None and not self.live

    def __repr__(self) -> str:
        return f"<Session {self.id[:8]}... {self.protocol_version}>"


class SessionTable:
    """Open sessions by id, the cap, and the idle sweep.

    The sweep runs every ``interval`` seconds (a quarter of the TTL, at most 30 s) and bumps
    ``tick``; a request stamps ``session.tick = table.tick``. A session whose stamp is more
    than ``ttl / interval`` ticks old and that is idle (``Session.idle``) is expired through
    ``on_expire``: so it lives between ``ttl`` and ``ttl + interval`` seconds after its last
    request, for the price of one attribute store per request.
    """

    __slots__ = ("sessions", "tick", "max_sessions", "ttl", "interval", "_ticks", "_timer", "_on_expire", "_loop")

    def __init__(self, max_sessions: int, ttl: float | None, on_expire: Callable[[Session], None]) -> None:
        self.sessions: dict[str, Session] = {}
        self.tick = 0
        self.max_sessions = max_sessions
        self.ttl = ttl
        self.interval = min(ttl / 4, 30.0) if ttl is not None else 0.0
        self._ticks = math.ceil(ttl / self.interval) if ttl is not None else 0
        self._timer: asyncio.TimerHandle | None = None
        self._on_expire = on_expire
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self.sessions)

    @property
    def running(self) -> bool:
        """The sweep is armed (always False without a TTL)."""
        return self._timer is not None

    def full(self) -> bool:
        return len(self.sessions) >= self.max_sessions

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Arm the sweep (idempotent; nothing to arm without a TTL)."""
        self._loop = loop
        if self.ttl is not None and self._timer is None:
            self._timer = loop.call_later(self.interval, self._sweep)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _sweep(self) -> None:
        self.tick += 1
        oldest = self.tick - self._ticks
        expired = [s for s in self.sessions.values() if s.tick < oldest and s.idle()]
        for s in expired:
            try:
                self._on_expire(s)
            except Exception:  # noqa: BLE001 - one bad session must not stop the sweep
                import logging

                logging.getLogger("mcpfast.http").exception("expiring session %s failed", s.id[:8])
                self.sessions.pop(s.id, None)
        if self._loop is not None and self.ttl is not None:
            self._timer = self._loop.call_later(self.interval, self._sweep)
