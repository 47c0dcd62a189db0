"""Legacy (2025-11-25 and earlier) Streamable HTTP sessions, and the SSE event store.

* ``Session``: what one ``Mcp-Session-Id`` holds: its long-lived peer (so ``ServerCore``'s
  session bookkeeping, list-changed broadcasts and resource subscriptions work as on stdio),
  the GET stream, the POST streams a client may resume. Kept small: an idle session costs well
  under 4 KiB, and nothing per session is armed in the event loop.
* ``SessionTable``: the open sessions by id, the caps, and the idle expiry: one periodic sweep
  for the whole table (a request only stamps the sweep's tick number on its session: no clock
  read, no timer handle per session). Sessions are counted per client (the access token's
  identity, else the remote address), so that one client cannot take the whole table; a full
  table makes room by evicting the least recently used idle session of the biggest holder.
* ``EventStore``: the interface of the SSE event store (``Last-Event-ID`` replay, SEP-1699
  polling), and ``MemoryEventStore``, the bounded default.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

__all__ = ["EventStore", "MemoryEventStore", "Session", "SessionTable", "new_session_id"]

log = logging.getLogger("mcpfast.http")


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

    __slots__ = ("id", "peer", "tick", "get", "get_opened", "live", "nstreams", "owner", "client", "closed")

    def __init__(self, sid: str, peer: Any, tick: int, owner: Any = None, client: Any = None) -> None:
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
        #: whom it counts against in ``max_sessions_per_client`` (the owner, else the remote
        #: address; None when neither is known)
        self.client = client
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


class _SessionsById(dict[str, Session]):
    """``SessionTable.sessions``: a dict by id that keeps the sessions grouped by client in step
    with every insert and removal (the core adds and deletes entries directly; lookups stay
    plain ``dict.get``)."""

    __slots__ = ("by_client",)

    def __init__(self) -> None:
        super().__init__()
        #: client -> its sessions by id, oldest first
        self.by_client: dict[Any, dict[str, Session]] = {}

    def _group_remove(self, session: Session) -> None:
        group = self.by_client.get(session.client)
        if group is not None:
            group.pop(session.id, None)
            if not group:
                del self.by_client[session.client]

    def __setitem__(self, sid: str, session: Session) -> None:
        old = dict.get(self, sid)
        if old is not None:
            self._group_remove(old)
        super().__setitem__(sid, session)
        group = self.by_client.get(session.client)
        if group is None:
            group = self.by_client[session.client] = {}
        group[sid] = session

    def __delitem__(self, sid: str) -> None:
        session = self[sid]
        super().__delitem__(sid)
        self._group_remove(session)

    def pop(self, sid: str, default: Any = None) -> Any:
        session = super().pop(sid, default)
        if isinstance(session, Session):
            self._group_remove(session)
        return session

    def popitem(self) -> tuple[str, Session]:
        sid, session = super().popitem()
        self._group_remove(session)
        return sid, session

    def clear(self) -> None:
        super().clear()
        self.by_client.clear()

    def setdefault(self, sid: str, default: Any = None) -> Session:
        raise TypeError("SessionTable.sessions: assign sessions with table.sessions[sid] = session")

    def update(self, *args: Any, **kw: Any) -> None:
        raise TypeError("SessionTable.sessions: assign sessions with table.sessions[sid] = session")


class SessionTable:
    """Open sessions by id, the cap, and the idle sweep.

    The sweep runs every ``interval`` seconds (a quarter of the TTL, at most 30 s) and bumps
    ``tick``; a request stamps ``session.tick = table.tick``. A session whose stamp is more
    than ``ttl / interval`` ticks old and that is idle (``Session.idle``) is expired through
    ``on_expire``: so it lives between ``ttl`` and ``ttl + interval`` seconds after its last
    request, for the price of one attribute store per request.
    """

    __slots__ = ("sessions", "tick", "max_sessions", "max_per_client", "ttl", "interval", "_ticks", "_timer",
                 "_on_expire", "_loop", "on_sweep")

    def __init__(self, max_sessions: int, ttl: float | None, on_expire: Callable[[Session], None],
                 max_per_client: int | None = None,
                 on_sweep: Callable[[list[Session]], None] | None = None) -> None:
        self.sessions: _SessionsById = _SessionsById()
        self.tick = 0
        self.max_sessions = max_sessions
        #: sessions one client may hold (None: no per-client limit)
        self.max_per_client = max_per_client
        self.ttl = ttl
        self.interval = min(ttl / 4, 30.0) if ttl is not None else 0.0
        self._ticks = math.ceil(ttl / self.interval) if ttl is not None else 0
        self._timer: asyncio.TimerHandle | None = None
        self._on_expire = on_expire
        #: called by each sweep with the sessions used since the previous one, or still held
        #: (a request in flight, an open stream): a shared store pushes their expiry back
        self.on_sweep = on_sweep
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self.sessions)

    @property
    def running(self) -> bool:
        """The sweep is armed (always False without a TTL)."""
        return self._timer is not None

    def full(self) -> bool:
        return len(self.sessions) >= self.max_sessions

    def count(self, client: Any) -> int:
        """Open sessions of ``client``."""
        group = self.sessions.by_client.get(client)
        return len(group) if group is not None else 0

    def admit(self, client: Any) -> str | None:
        """Make room for one more session of ``client``: None when it may open one (an idle
        session may have been evicted for it), else why not (the core answers 503 with -32005).

        Over ``max_per_client`` the client is refused: its own sessions are its business (a
        client None, whose identity and address are unknown, is not limited this way). A full
        table evicts the least recently used idle session (``Session.idle``) of the client
        holding the most, so a client that filled it pays, not the others; when nothing is idle,
        the new session is refused. (Sessions count once ``initialize`` succeeded: several
        initializes racing may pass the limits by the number in flight.)
        """
        by_client = self.sessions.by_client
        limit = self.max_per_client
        if limit is not None and client is not None:  # None: no identity known to tell clients apart
            group = by_client.get(client)
            if group is not None and len(group) >= limit:
                return (f"Server overloaded: this client has {len(group)} sessions open, the limit per client"
                        " (close sessions with DELETE, let idle ones expire, or raise"
                        " HTTPSettings.max_sessions_per_client)")
        if len(self.sessions) < self.max_sessions:
            return None
        victim: Session | None = None
        if by_client:
            biggest = max(by_client.values(), key=len)
            victim = min((s for s in biggest.values() if s.idle()), key=lambda s: s.tick, default=None)
        if victim is None:  # the biggest holder is all busy: any idle session, oldest first
            victim = min((s for s in self.sessions.values() if s.idle()), key=lambda s: s.tick, default=None)
        if victim is None:
            return (f"Server overloaded: {len(self.sessions)} sessions are open, the limit, and none is idle"
                    " (raise HTTPSettings.max_sessions, or lower HTTPSettings.session_ttl so idle sessions"
                    " expire sooner)")
        log.info("session table full: evicting idle session %s... of the biggest holder", victim.id[:8])
        self._expire(victim)
        return None

    def _expire(self, session: Session) -> None:
        try:
            self._on_expire(session)
        except Exception:  # noqa: BLE001 - one bad session must not stop the sweep or admit()
            log.exception("expiring session %s failed", session.id[:8])
            self.sessions.pop(session.id, None)

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
        on_sweep = self.on_sweep
        if on_sweep is not None:
            tick = self.tick
            used = [s for s in self.sessions.values() if s.tick >= tick or not s.idle()]
            try:
                on_sweep(used)
            except Exception:  # noqa: BLE001 - the sweep goes on
                log.exception("the session sweep's on_sweep callback failed")
        self.tick += 1
        oldest = self.tick - self._ticks
        expired = [s for s in self.sessions.values() if s.tick < oldest and s.idle()]
        for s in expired:
            self._expire(s)
        if self._loop is not None and self.ttl is not None:
            self._timer = self._loop.call_later(self.interval, self._sweep)
