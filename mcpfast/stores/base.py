"""The store interface: the state server processes share when more than one serves an endpoint.

One ``Store`` gives the server five primitives; the in-memory backend (``MemoryStore``, the
default) keeps them in this process, the Redis backend (``RedisStore``) in one Redis that every
process behind a load balancer talks to. Code above (the HTTP front, the core, the task runner)
uses only this interface, so it works the same on both; ``Store.shared`` tells it whether other
processes can see what it writes (False in memory: fan-out and shared keys can be skipped, and
the in-memory path stays as fast as it was without a store).

The five primitives:

1. **Records** (``get``/``set``/``delete``/``touch``): a key holds one JSON value (dict, list,
   str, int, float, bool, None) with an optional time to live. ``set(nx=True)`` creates only,
   ``set(xx=True)`` replaces only (so an update never resurrects a record that was deleted or
   expired elsewhere); ``get(refresh=ttl)`` reads and pushes the expiry back in one round trip
   (a legacy session's "last seen"). A deleted or expired record is gone for every process.
2. **Event logs** (``append_event``/``replay_after``/``forget_stream``/``forget_session``): the
   SSE events of one stream, kept for ``Last-Event-ID`` replay, capped per stream (oldest go
   first) and expiring ``ttl`` seconds after the last append. Event ids are
   ``"<stream id>/<position>"``: any process can tell the stream from the id alone. Stream ids
   are ``"<session id>.<n>"`` (the HTTP front's convention), which is how ``forget_session``
   finds a session's streams. ``b""`` is a priming event: it gets an id, is never replayed.
3. **Pub/sub** (``publish``/``subscribe``): a message published on a channel reaches every
   subscriber of that channel in every process (the publisher's own subscriptions included),
   at most once, in publish order per publisher. Nothing is kept for a subscriber that is not
   there (or whose connection is down): what must survive goes to an event log or a record first,
   and the channel only says "look". A subscription re-established after its connection was
   lost calls its ``on_gap`` so the holder can recover (re-read, or close a stream so that the
   client resumes with ``Last-Event-ID``).
4. **Shared secrets** (``shared_secret``): random bytes created once per name by the first
   process that asks (an atomic create-if-absent) and read by the others: the MRTR
   ``requestState`` signing key, so any process verifies what another signed.
5. **Tasks**: not a primitive here; ``mcpfast.server.redis_tasks.RedisTaskStore`` keeps the
   ``TaskStore`` records (``mcpfast.server.tasks``) in a ``RedisStore``, which ``ServerCore``
   uses on its own when a shared store is attached.

Names (record keys, stream ids, channels, secret names) are the caller's; a backend puts them
under its own namespace (``RedisStore``'s ``prefix``), so several servers can share one Redis.

Every method may raise ``StoreUnavailable`` when the backend cannot be reached; it does so
quickly (a backend keeps short connect and operation timeouts), never hangs, and the next call
tries again, so service resumes by itself once the backend is back. ``MemoryStore`` never raises
it. Callers turn it into a clear error for the request at hand (HTTP 503) and carry on.

Values are JSON: no pickles anywhere, a record written by one version of mcpfast is readable by
any other that knows the record's fields.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from typing import Any

from ..errors import StoreUnavailable

__all__ = [
    "DEFAULT_EVENT_CAP",
    "DEFAULT_EVENT_TTL",
    "MessageCallback",
    "ChannelSubscription",
    "Store",
    "StoreUnavailable",
    "Subscription",
]

#: events kept per stream when ``append_event`` is given no cap (the in-memory event store's)
DEFAULT_EVENT_CAP = 1000
#: seconds a stream's events live after its last append when ``append_event`` is given no ttl
DEFAULT_EVENT_TTL = 3600.0

#: what ``subscribe`` calls with each message published on its channel (on the event loop; it must
#: not block; an exception it raises is logged and the subscription goes on)
MessageCallback = Callable[[bytes], None]


_last_position = 0


def _next_position() -> int:
    """Microseconds since the epoch, strictly growing in this process."""
    global _last_position
    pos = time.time_ns() // 1000
    if pos <= _last_position:
        pos = _last_position + 1
    _last_position = pos
    return pos


class Subscription(abc.ABC):
    """One ``subscribe`` call's standing: the callback is called until ``close()``."""

    __slots__ = ()

    @property
    @abc.abstractmethod
    def channel(self) -> str:
        """The channel subscribed to (the caller's name, without the backend's namespace)."""

    @property
    @abc.abstractmethod
    def closed(self) -> bool:
        """``close()`` was called (or the store was closed)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop delivery to this subscription; idempotent, never raises ``StoreUnavailable``
        (a backend that cannot tell the server drops the channel when it reconnects)."""


class ChannelSubscription(Subscription):
    """What the backends' subscriptions have in common: the channel, the callback the store
    calls, and whether it was closed (``mark_closed``: the store's own close ends them all)."""

    __slots__ = ("_channel", "callback", "_closed")

    def __init__(self, channel: str, callback: MessageCallback) -> None:
        self._channel = channel
        self.callback = callback
        self._closed = False

    @property
    def channel(self) -> str:
        return self._channel

    @property
    def closed(self) -> bool:
        return self._closed

    def mark_closed(self) -> None:
        self._closed = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._channel!r}{' closed' if self._closed else ''}>"


class Store(abc.ABC):
    """The state server processes share (see the module docstring for the contract).

    Open one with ``mcpfast.stores.open_store(url)``; use it as ``async with`` or ``await
    store.close()`` at the end. All methods run on the event loop that first used the store.
    """

    __slots__ = ()

    #: the URL this store was opened from (``"memory"`` for the in-memory store); passwords masked
    url: str = "memory"

    @property
    @abc.abstractmethod
    def shared(self) -> bool:
        """Other processes see what this store holds (False for the in-memory store)."""

    # ------------------------------------------------------------------ records

    @abc.abstractmethod
    async def get(self, key: str, *, refresh: float | None = None) -> Any:
        """The JSON value at ``key``, or None when there is none (never set, deleted, expired).

        ``refresh`` (seconds): also push the record's expiry to now + ``refresh`` (a record
        without a TTL gets one), in the same round trip. Records cannot hold a JSON ``null``
        (``set`` refuses None), so None always means absent.
        """

    @abc.abstractmethod
    async def set(self, key: str, value: Any, *, ttl: float | None = None, nx: bool = False,
                  xx: bool = False) -> bool:
        """Store ``value`` (JSON-serialisable, not None) at ``key``; True if written.

        ``ttl`` (seconds, > 0): the record expires then (None: it lives until deleted; a
        replaced record takes the new ttl). ``nx``: write only if no record is there (create);
        ``xx``: only if one is (update; never resurrects a deleted or expired record). Both
        together are refused (ValueError). Raises TypeError when ``value`` is not JSON.
        """

    @abc.abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove the record at ``key``; True if there was one."""

    @abc.abstractmethod
    async def touch(self, key: str, ttl: float) -> bool:
        """Set the record's expiry to now + ``ttl`` seconds; False when there is no record."""

    # ------------------------------------------------------------------ event logs

    def event_position(self) -> str:
        """A position for an event this process is about to append, made here without a round
        trip, strictly growing in this process (``append_event(position=...)``): a writer that
        must hand the event id out before the write completes (an SSE stream) makes the id
        ``"<stream id>/<position>"`` itself. This default is the clock in microseconds."""
        return str(_next_position())

    @abc.abstractmethod
    async def append_event(self, stream_id: str, message: bytes, *, cap: int | None = None,
                           ttl: float | None = None, position: str | None = None) -> str:
        """Keep one event of ``stream_id`` and return its event id (``"<stream id>/<pos>"``).

        ``message`` is one encoded JSON-RPC message, or ``b""`` for a priming event. The stream
        keeps its last ``cap`` events (default ``DEFAULT_EVENT_CAP``) and all of them expire
        ``ttl`` seconds (default ``DEFAULT_EVENT_TTL``) after the last append. Positions grow
        within a stream, so ids compare in append order for one stream (not across streams).

        ``position`` (from ``event_position``): the event's position, chosen by the caller, who
        already handed out ``"<stream id>/<position>"``. When it is not above the stream's last
        one (another process appended meanwhile), the event goes after it, and ``replay_after``
        the caller's id still finds it (ids are range bounds, not exact matches).
        """

    @abc.abstractmethod
    async def replay_after(self, last_event_id: str) -> tuple[str, list[tuple[str, bytes]]] | None:
        """The stream ``last_event_id`` names and its events after it, oldest first, priming
        events left out; None when the id is malformed or its stream is gone (expired,
        forgotten, never existed). Events already dropped by the cap are simply missing."""

    @abc.abstractmethod
    async def forget_stream(self, stream_id: str) -> None:
        """Drop every event of one stream."""

    @abc.abstractmethod
    async def forget_session(self, session_id: str) -> None:
        """Drop every stream ``"<session_id>.<n>"`` (the session ended)."""

    # ------------------------------------------------------------------ pub/sub

    @abc.abstractmethod
    async def publish(self, channel: str, message: bytes) -> int:
        """Send ``message`` to every subscriber of ``channel`` in every process; the number of
        subscriber connections it reached (processes, for a shared store; 0 when none listens,
        which is not an error)."""

    @abc.abstractmethod
    async def subscribe(self, channel: str, callback: MessageCallback, *,
                        on_gap: Callable[[], None] | None = None) -> Subscription:
        """Call ``callback(message)`` for each message published on ``channel`` from now on.

        When this returns, the subscription is in place: a message published afterwards (by
        any process) is delivered. ``on_gap`` is called (on the loop) when delivery resumed
        after the store's connection was lost: messages published in between were missed.
        Several subscriptions to one channel each get every message.
        """

    # ------------------------------------------------------------------ shared secrets

    @abc.abstractmethod
    async def shared_secret(self, name: str, nbytes: int = 32) -> bytes:
        """The secret called ``name``: ``nbytes`` random bytes made by whichever process asked
        first (create-if-absent, atomic), the same bytes for every process after. It never
        expires; to rotate a key, ask for a new name. Callers ask once at start and again after
        a subscription gap (``on_gap``): a backend that lost its data (Redis restarted without
        persistence) gets the secret it already handed out written back (create-if-absent
        again), so processes keep agreeing; the answer is always what the store holds now."""

    # ------------------------------------------------------------------ life

    @abc.abstractmethod
    async def ping(self) -> None:
        """Check the backend answers; raises ``StoreUnavailable`` when it does not."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and end every subscription; idempotent. A closed store's other
        methods raise ``StoreUnavailable``."""

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
