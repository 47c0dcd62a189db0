"""``MemoryStore``: the default store, in this process only (``Store.shared`` is False).

What one process needs when it serves alone: records, event logs, pub/sub and secrets in dicts,
no I/O, no task, no lock (one event loop). Records are kept encoded (JSON bytes), so a caller
mutating what it got or gave cannot change the store behind its back, and a value that is not
JSON is refused here as it would be by Redis. Expiry is lazy: a read past the deadline finds
nothing, and every write sweeps what a heap of deadlines says is due, so an idle store holds
expired records until the next write (bounded by what was written).
"""

from __future__ import annotations

import heapq
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import StoreUnavailable
from ..wire import _json
from .base import DEFAULT_EVENT_CAP, DEFAULT_EVENT_TTL, ChannelSubscription, MessageCallback, Store, Subscription

__all__ = ["MemoryStore"]

log = logging.getLogger("mcpfast.stores")

_dumps = _json.dumps
_loads = _json.loads
_now = time.monotonic


def encode_value(value: Any) -> bytes:
    """A record's value as stored: JSON bytes (TypeError for None or what JSON cannot hold)."""
    if value is None:
        raise TypeError("a store record cannot be None (None is what get() returns for no record)")
    try:
        return _dumps(value)
    except TypeError:
        raise
    except Exception as exc:  # the backends' errors differ (orjson's JSONEncodeError, OverflowError...)
        raise TypeError(f"a store record must be JSON: {exc}") from None


def check_set_flags(ttl: float | None, nx: bool, xx: bool) -> None:
    if nx and xx:
        raise ValueError("set(): nx (create only) and xx (update only) exclude each other")
    if ttl is not None and not ttl > 0:
        raise ValueError(f"set(): ttl must be positive seconds or None, got {ttl!r}")


def parse_event_id(last_event_id: str) -> tuple[str, str] | None:
    """``(stream id, position)`` of an event id ``"<stream id>/<position>"``, None if malformed."""
    stream_id, sep, pos = last_event_id.rpartition("/")
    if not sep or not stream_id:
        return None
    return stream_id, pos


class _Log:
    __slots__ = ("seq", "events", "deadline")

    def __init__(self, cap: int) -> None:
        self.seq = 0
        self.events: deque[tuple[int, bytes]] = deque(maxlen=cap)
        self.deadline = 0.0


class _MemorySubscription(ChannelSubscription):
    __slots__ = ("_store",)

    def __init__(self, store: MemoryStore, channel: str, callback: MessageCallback) -> None:
        super().__init__(channel, callback)
        self._store = store

    async def close(self) -> None:
        self.detach()

    def detach(self) -> None:
        """Remove it from its store (sync: the store's close calls it)."""
        if not self.closed:
            self.mark_closed()
            self._store.unsubscribe(self)


class MemoryStore(Store):
    """The in-process store (see the module docstring); ``Store``'s contract, ``shared`` False."""

    __slots__ = ("_records", "_deadlines", "_logs", "_sessions", "_channels", "_secrets", "_closed")

    url = "memory"

    def __init__(self) -> None:
        #: key -> (JSON bytes, deadline on the monotonic clock or None)
        self._records: dict[str, tuple[bytes, float | None]] = {}
        #: (deadline, key) of records with a TTL; stale entries (record replaced) are skipped
        self._deadlines: list[tuple[float, str]] = []
        self._logs: dict[str, _Log] = {}
        #: session id -> its stream ids (forget_session)
        self._sessions: dict[str, set[str]] = {}
        self._channels: dict[str, list[_MemorySubscription]] = {}
        self._secrets: dict[str, bytes] = {}
        self._closed = False

    @property
    def shared(self) -> bool:
        return False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the store is closed")

    # ------------------------------------------------------------------ records

    def _live(self, key: str, now: float) -> tuple[bytes, float | None] | None:
        rec = self._records.get(key)
        if rec is not None and rec[1] is not None and rec[1] <= now:
            del self._records[key]
            return None
        return rec

    def _sweep(self, now: float) -> None:
        heap = self._deadlines
        records = self._records
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            rec = records.get(key)
            if rec is not None and rec[1] == deadline:
                del records[key]

    def _expire_at(self, key: str, data: bytes, deadline: float | None) -> None:
        self._records[key] = (data, deadline)
        if deadline is not None:
            heapq.heappush(self._deadlines, (deadline, key))

    async def get(self, key: str, *, refresh: float | None = None) -> Any:
        self._check_open()
        now = _now()
        rec = self._live(key, now)
        if rec is None:
            return None
        if refresh is not None:
            self._expire_at(key, rec[0], now + refresh)
        return _loads(rec[0])

    async def set(self, key: str, value: Any, *, ttl: float | None = None, nx: bool = False,
                  xx: bool = False) -> bool:
        self._check_open()
        check_set_flags(ttl, nx, xx)
        data = encode_value(value)
        now = _now()
        self._sweep(now)
        if nx or xx:
            exists = self._live(key, now) is not None
            if (nx and exists) or (xx and not exists):
                return False
        self._expire_at(key, data, now + ttl if ttl is not None else None)
        return True

    async def delete(self, key: str) -> bool:
        self._check_open()
        return self._live(key, _now()) is not None and self._records.pop(key, None) is not None

    async def touch(self, key: str, ttl: float) -> bool:
        self._check_open()
        now = _now()
        rec = self._live(key, now)
        if rec is None:
            return False
        self._expire_at(key, rec[0], now + ttl)
        return True

    # ------------------------------------------------------------------ event logs

    async def append_event(self, stream_id: str, message: bytes, *, cap: int | None = None,
                           ttl: float | None = None, position: str | None = None) -> str:
        self._check_open()
        now = _now()
        lg = self._logs.get(stream_id)
        if lg is not None and lg.deadline <= now:
            self._drop_log(stream_id)
            lg = None
        if lg is None:
            lg = self._logs[stream_id] = _Log(cap or DEFAULT_EVENT_CAP)
            sid = stream_id.rpartition(".")[0]
            group = self._sessions.get(sid)
            if group is None:
                group = self._sessions[sid] = set()
            group.add(stream_id)
        elif cap is not None and cap != lg.events.maxlen:
            lg.events = deque(lg.events, maxlen=cap)
        lg.seq = max(lg.seq + 1, int(position)) if position is not None and position.isdigit() else lg.seq + 1
        lg.events.append((lg.seq, bytes(message)))
        lg.deadline = now + (ttl if ttl is not None else DEFAULT_EVENT_TTL)
        return f"{stream_id}/{lg.seq}"

    async def replay_after(self, last_event_id: str) -> tuple[str, list[tuple[str, bytes]]] | None:
        self._check_open()
        parsed = parse_event_id(last_event_id)
        if parsed is None or not parsed[1].isdigit():
            return None
        stream_id, pos = parsed
        lg = self._logs.get(stream_id)
        if lg is None:
            return None
        if lg.deadline <= _now():
            self._drop_log(stream_id)
            return None
        after = int(pos)
        prefix = stream_id + "/"
        return stream_id, [(f"{prefix}{seq}", msg) for seq, msg in lg.events if seq > after and msg]

    def _drop_log(self, stream_id: str) -> None:
        if self._logs.pop(stream_id, None) is None:
            return
        sid = stream_id.rpartition(".")[0]
        group = self._sessions.get(sid)
        if group is not None:
            group.discard(stream_id)
            if not group:
                del self._sessions[sid]

    async def forget_stream(self, stream_id: str) -> None:
        self._check_open()
        self._drop_log(stream_id)

    async def forget_session(self, session_id: str) -> None:
        self._check_open()
        for stream_id in list(self._sessions.get(session_id, ())):
            self._drop_log(stream_id)

    # ------------------------------------------------------------------ pub/sub

    async def publish(self, channel: str, message: bytes) -> int:
        self._check_open()
        subs = self._channels.get(channel)
        if not subs:
            return 0
        message = bytes(message)
        n = 0
        for sub in list(subs):  # a callback may subscribe or close
            if sub.closed:
                continue
            n += 1
            try:
                sub.callback(message)
            except Exception:
                log.exception("store subscription callback on %r failed", channel)
        return n

    async def subscribe(self, channel: str, callback: MessageCallback, *,
                        on_gap: Callable[[], None] | None = None) -> Subscription:
        self._check_open()
        sub = _MemorySubscription(self, channel, callback)  # on_gap: an in-process channel never loses messages
        self._channels.setdefault(channel, []).append(sub)
        return sub

    def unsubscribe(self, sub: _MemorySubscription) -> None:
        """Take ``sub`` off its channel (``Subscription.close`` calls this)."""
        subs = self._channels.get(sub.channel)
        if subs is not None:
            try:
                subs.remove(sub)
            except ValueError:
                pass
            if not subs:
                del self._channels[sub.channel]

    # ------------------------------------------------------------------ secrets

    async def shared_secret(self, name: str, nbytes: int = 32) -> bytes:
        self._check_open()
        secret = self._secrets.get(name)
        if secret is None:
            if nbytes < 16:
                raise ValueError(f"a shared secret must be at least 16 bytes, got {nbytes}")
            secret = self._secrets[name] = os.urandom(nbytes)
        return secret

    # ------------------------------------------------------------------ life

    async def ping(self) -> None:
        self._check_open()

    async def close(self) -> None:
        if self._closed:
            return
        for subs in list(self._channels.values()):
            for sub in list(subs):
                sub.detach()
        self._closed = True

    def __repr__(self) -> str:
        return f"<MemoryStore records={len(self._records)} streams={len(self._logs)} channels={len(self._channels)}>"
