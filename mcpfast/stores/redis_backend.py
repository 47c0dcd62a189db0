"""``RedisStore``: the store on Redis (``redis.asyncio``), shared by every process that opens the
same URL and prefix. The layout of keys is in ``docs/stores.md``; in short, under ``prefix``:

* ``r:<key>``         a record: a string holding JSON, with the record's TTL as the key's
* ``e:<stream id>``   an event log: a Redis stream (``XADD ... MAXLEN cap``), one field ``m``
                      holding the message; the event id is ``"<stream id>/<entry id>"``
* ``es:<session id>`` the set of a session's stream ids (``forget_session``), same TTL
* ``c:<channel>``     a pub/sub channel
* ``k:<name>``        a shared secret, hex (created with ``SET NX``, never expires)

Every command goes through a pool of connections with short connect and read timeouts and one
immediate retry (a pooled connection that died with a restarted Redis is replaced, not
reported); whatever still fails raises ``StoreUnavailable``. Subscriptions live on one
dedicated connection read by one task, which reconnects with a capped backoff when Redis goes
away, subscribes again to every channel and calls each subscription's ``on_gap``.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import StoreUnavailable
from ..wire import _json
from .base import DEFAULT_EVENT_CAP, DEFAULT_EVENT_TTL, ChannelSubscription, MessageCallback, Store, Subscription
from .memory import check_set_flags, encode_value, parse_event_id

__all__ = ["RedisStore"]

log = logging.getLogger("mcpfast.stores")

_loads = _json.loads

#: what "Redis cannot be reached" looks like from redis-py (its ConnectionError covers a refused or
#: reset connection and a Redis still loading its data; OSError what slips through on some paths)
_DOWN = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)

#: a Redis stream entry id, as replay_after accepts it
_ENTRY_ID = re.compile(r"\d{1,20}-\d{1,20}\Z")

#: backoff of the subscriber's reconnect loop (seconds): doubles from the first to the last
_RECONNECT_FIRST = 0.05
_RECONNECT_MAX = 1.0


def _mask(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for ``repr``, logs and errors)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _split_prefix(url: str) -> tuple[str, str | None]:
    """``url`` without its ``prefix`` query parameter (redis-py would refuse it), and that prefix."""
    parts = urlsplit(url)
    if "prefix=" not in parts.query:
        return url, None
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = [v for k, v in query if k == "prefix"][-1]
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    base = url.partition("?")[0]  # not urlunsplit: it turns unix:///path into unix:/path
    return (base + "?" + rest if rest else base), prefix


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class _RedisSubscription(ChannelSubscription):
    __slots__ = ("_store", "on_gap")

    def __init__(self, store: RedisStore, channel: str, callback: MessageCallback,
                 on_gap: Callable[[], None] | None) -> None:
        super().__init__(channel, callback)
        self._store = store
        self.on_gap = on_gap

    async def close(self) -> None:
        if not self.closed:
            self.mark_closed()
            await self._store.unsubscribe(self)


class RedisStore(Store):
    """The store on Redis (see the module docstring).

    ``url``: ``redis://[[user]:password@]host:port/db``, ``rediss://`` (TLS) or
    ``unix:///path.sock?db=N``. ``prefix`` namespaces every key and channel (several servers, or
    test runs, can share one Redis); it may also come in the URL (``...?prefix=app1:``), the
    keyword winning; default ``"mcpfast:"``. ``timeout`` (seconds) bounds connecting and each command:
    past it the call raises ``StoreUnavailable``; keep it short, a request waits that long at
    worst before its 503. ``max_connections`` caps the command pool (None: no cap).
    """

    def __init__(self, url: str, *, prefix: str | None = None, timeout: float = 1.0,
                 max_connections: int | None = None) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
        url, url_prefix = _split_prefix(url)
        self.url = _mask(url)
        self.prefix = prefix if prefix is not None else url_prefix if url_prefix is not None else "mcpfast:"
        self.timeout = timeout
        self._raw_url = url
        self._redis: Any = aioredis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout,
            retry=Retry(NoBackoff(), 1), max_connections=max_connections,
            health_check_interval=0, decode_responses=False)
        # the subscriber's own client: no read timeout (it waits for messages indefinitely; a
        # Redis that goes away closes the socket) and no retry (a silent reconnect inside
        # redis-py would lose the subscriptions without telling: _read_loop reconnects itself)
        self._sub_redis: Any = aioredis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=None, socket_keepalive=True,
            retry=Retry(NoBackoff(), 0), health_check_interval=0, decode_responses=False)
        self._closed = False
        #: (ms, seq) of the last ``event_position``
        self._position = (0, -1)
        self._secrets: dict[str, bytes] = {}
        # pub/sub: channel -> local subscriptions; one connection, one reader task
        self._subs: dict[str, list[_RedisSubscription]] = {}
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        #: channel -> futures waiting for Redis to confirm the SUBSCRIBE
        self._confirm: dict[bytes, list[asyncio.Future[None]]] = {}
        #: serialises subscribe, unsubscribe and the reconnect
        self._sub_lock = asyncio.Lock()
        #: the subscriber connection is lost and _read_loop is reconnecting
        self._sub_down = False

    @property
    def shared(self) -> bool:
        return True

    @property
    def subscriber_connected(self) -> bool:
        """The subscriber connection is up (False before the first ``subscribe`` and while
        reconnecting: messages published meanwhile are not delivered here)."""
        return self._pubsub is not None and not self._sub_down and not self._closed

    def _down(self, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(f"Redis store at {self.url} is unavailable: {type(exc).__name__}: {exc}")

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable(f"the Redis store at {self.url} is closed")

    async def execute(self, name: str, *args: Any) -> Any:
        """One Redis command (names already prefixed by the caller: see ``prefix``), with
        redis-py's errors for "unreachable" turned into StoreUnavailable. For code built on this
        store (the Redis task store) that needs a command the ``Store`` interface has no word for."""
        self._check_open()
        try:
            return await self._redis.execute_command(name, *args)
        except _DOWN as exc:
            raise self._down(exc) from None

    async def pipeline(self, build: Callable[[Any], None], transaction: bool = False) -> list[Any]:
        """Several commands in one round trip: ``build(pipe)`` queues them with
        ``pipe.execute_command(...)``; their replies in order. ``transaction``: MULTI/EXEC, atomic."""
        self._check_open()
        try:
            async with self._redis.pipeline(transaction=transaction) as pipe:
                build(pipe)
                return await pipe.execute()  # type: ignore[no-any-return]
        except _DOWN as exc:
            raise self._down(exc) from None

    def channel_key(self, channel: str) -> str:
        """The Redis channel ``publish(channel, ...)`` sends on (for a script that publishes)."""
        return self.prefix + "c:" + channel

    def script(self, source: str) -> Callable[[list[str], list[Any]], Any]:
        """A Lua script run atomically in Redis: ``await run(keys, args)`` (EVALSHA, loading it
        once per connection when Redis does not know it); StoreUnavailable when unreachable."""
        registered = self._redis.register_script(source)

        async def run(keys: list[str], args: list[Any]) -> Any:
            self._check_open()
            try:
                return await registered(keys=keys, args=args)
            except _DOWN as exc:
                raise self._down(exc) from None

        return run

    # ------------------------------------------------------------------ records

    async def get(self, key: str, *, refresh: float | None = None) -> Any:
        k = self.prefix + "r:" + key
        if refresh is None:
            data = await self.execute("GET", k)
        else:
            data = await self.execute("GETEX", k, "PX", _ms(refresh))
        return None if data is None else _loads(data)

    async def set(self, key: str, value: Any, *, ttl: float | None = None, nx: bool = False,
                  xx: bool = False) -> bool:
        check_set_flags(ttl, nx, xx)
        args: list[Any] = ["SET", self.prefix + "r:" + key, encode_value(value)]
        if ttl is not None:
            args += ["PX", _ms(ttl)]
        if nx:
            args.append("NX")
        elif xx:
            args.append("XX")
        return await self.execute(*args) is not None

    async def delete(self, key: str) -> bool:
        return bool(await self.execute("DEL", self.prefix + "r:" + key))

    async def touch(self, key: str, ttl: float) -> bool:
        return bool(await self.execute("PEXPIRE", self.prefix + "r:" + key, _ms(ttl)))

    # ------------------------------------------------------------------ event logs

    def event_position(self) -> str:
        """A stream entry id (``<ms>-<seq>``) from this process's clock, strictly growing here."""
        ms = time.time_ns() // 1_000_000
        last_ms, seq = self._position
        seq = seq + 1 if ms <= last_ms else 0
        ms = max(ms, last_ms)
        self._position = (ms, seq)
        return f"{ms}-{seq}"

    async def append_event(self, stream_id: str, message: bytes, *, cap: int | None = None,
                           ttl: float | None = None, position: str | None = None) -> str:
        key = self.prefix + "e:" + stream_id
        group = self.prefix + "es:" + stream_id.rpartition(".")[0]
        ttl_ms = _ms(ttl if ttl is not None else DEFAULT_EVENT_TTL)
        maxlen = cap or DEFAULT_EVENT_CAP
        entry_id = position if position is not None and _ENTRY_ID.match(position) else "*"

        def build(p: Any) -> None:
            p.execute_command("XADD", key, "MAXLEN", maxlen, entry_id, "m", message)
            p.execute_command("PEXPIRE", key, ttl_ms)
            p.execute_command("SADD", group, stream_id)
            p.execute_command("PEXPIRE", group, ttl_ms)

        # MULTI/EXEC: the stream never exists without its expiry, even if the connection drops
        try:
            entry = (await self.pipeline(build, transaction=True))[0]
        except ResponseError:
            if entry_id == "*":
                raise
            # another process appended a later entry meanwhile: this one goes after it (a
            # replay after the caller's id still finds it: ids are range bounds)
            entry_id = "*"
            entry = (await self.pipeline(build, transaction=True))[0]
        return f"{stream_id}/{entry.decode('ascii') if isinstance(entry, bytes) else entry}"

    async def replay_after(self, last_event_id: str) -> tuple[str, list[tuple[str, bytes]]] | None:
        parsed = parse_event_id(last_event_id)
        if parsed is None or _ENTRY_ID.match(parsed[1]) is None:
            return None
        stream_id, pos = parsed
        key = self.prefix + "e:" + stream_id

        def build(p: Any) -> None:
            p.execute_command("EXISTS", key)
            p.execute_command("XRANGE", key, "(" + pos, "+")

        exists, entries = await self.pipeline(build)
        if not exists:
            return None
        prefix = stream_id + "/"
        out: list[tuple[str, bytes]] = []
        for entry_id, fields in entries:
            msg = _field(fields, b"m")
            if msg:
                out.append((prefix + entry_id.decode("ascii"), msg))
        return stream_id, out

    async def forget_stream(self, stream_id: str) -> None:
        group = self.prefix + "es:" + stream_id.rpartition(".")[0]

        def build(p: Any) -> None:
            p.execute_command("DEL", self.prefix + "e:" + stream_id)
            p.execute_command("SREM", group, stream_id)

        await self.pipeline(build, transaction=True)

    async def forget_session(self, session_id: str) -> None:
        group = self.prefix + "es:" + session_id
        members = await self.execute("SMEMBERS", group)
        keys = [self.prefix + "e:" + m.decode("utf-8", "surrogateescape") for m in members]
        await self.execute("DEL", group, *keys)

    # ------------------------------------------------------------------ pub/sub

    async def publish(self, channel: str, message: bytes) -> int:
        return int(await self.execute("PUBLISH", self.channel_key(channel), message))

    async def subscribe(self, channel: str, callback: MessageCallback, *,
                        on_gap: Callable[[], None] | None = None) -> Subscription:
        self._check_open()
        sub = _RedisSubscription(self, channel, callback, on_gap)
        async with self._sub_lock:
            if self._sub_down:
                raise StoreUnavailable(f"Redis store at {self.url} is unavailable: the subscriber connection"
                                       " is down (reconnecting)")
            subs = self._subs.get(channel)
            if subs:
                subs.append(sub)  # Redis already sends this channel here
                return sub
            try:
                await self._redis_subscribe(self.prefix + "c:" + channel)
            except _DOWN as exc:
                raise self._down(exc) from None
            self._subs.setdefault(channel, []).append(sub)
        return sub

    async def _redis_subscribe(self, rchannel: str) -> None:
        """SUBSCRIBE on the subscriber connection and wait for Redis to confirm it (so that a
        message published after ``subscribe`` returns is delivered)."""
        loop = asyncio.get_running_loop()
        if self._pubsub is None:
            self._pubsub = self._sub_redis.pubsub()
        fut: asyncio.Future[None] = loop.create_future()
        key = rchannel.encode("utf-8", "surrogateescape")
        self._confirm.setdefault(key, []).append(fut)
        try:
            await asyncio.wait_for(self._pubsub.execute_command("SUBSCRIBE", rchannel), self.timeout)
            if self._reader is None or self._reader.done():
                self._reader = loop.create_task(self._read_loop(), name="mcpfast-store-subscriber")
            await asyncio.wait_for(asyncio.shield(fut), self.timeout)
        except BaseException:
            waiting = self._confirm.get(key)
            if waiting is not None and fut in waiting:
                waiting.remove(fut)
                if not waiting:
                    del self._confirm[key]
            fut.cancel()
            raise

    async def unsubscribe(self, sub: _RedisSubscription) -> None:
        """Take ``sub`` off its channel; the last one off a channel unsubscribes from Redis."""
        async with self._sub_lock:
            subs = self._subs.get(sub.channel)
            if subs is None or sub not in subs:
                return
            subs.remove(sub)
            if subs:
                return
            del self._subs[sub.channel]
            if self._pubsub is not None:
                try:
                    await asyncio.wait_for(
                        self._pubsub.execute_command("UNSUBSCRIBE", self.prefix + "c:" + sub.channel), self.timeout)
                except (*_DOWN, RedisError):
                    pass  # the reconnect only subscribes to channels still in self._subs

    async def _read_loop(self) -> None:
        """Read the subscriber connection and deliver; on a lost connection, reconnect with a
        capped backoff, subscribe again to every channel, and report the gap."""
        delay = _RECONNECT_FIRST
        plen = len(self.prefix) + 2
        while not self._closed:
            try:
                msg = await self._pubsub.parse_response(block=True)
            except asyncio.CancelledError:
                raise
            except (*_DOWN, RedisError) as exc:
                if self._closed:
                    return
                log.warning("Redis store %s: subscriber connection lost (%s); reconnecting", self.url, exc)
                self._sub_down = True
                while not self._closed:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _RECONNECT_MAX)
                    if await self._resubscribe():
                        break
                delay = _RECONNECT_FIRST
                continue
            if msg is None:
                continue
            self._dispatch(msg, plen)

    def _dispatch(self, msg: Any, plen: int) -> None:
        kind = msg[0]
        if kind == b"message":
            subs = self._subs.get(msg[1][plen:].decode("utf-8", "surrogateescape"))
            if subs:
                data = msg[2]
                for sub in list(subs):
                    if not sub.closed:
                        try:
                            sub.callback(data)
                        except Exception:
                            log.exception("store subscription callback on %r failed", sub.channel)
        elif kind == b"subscribe":
            for fut in self._confirm.pop(msg[1], ()):
                if not fut.done():
                    fut.set_result(None)

    async def _resubscribe(self) -> bool:
        """A fresh subscriber connection subscribed to every channel in use; True when it
        worked (then each subscription's ``on_gap`` is called)."""
        async with self._sub_lock:
            old, self._pubsub = self._pubsub, None
            if old is not None:
                with contextlib.suppress(Exception):
                    await old.aclose()
            channels = [self.prefix + "c:" + ch for ch in self._subs]
            pubsub = self._sub_redis.pubsub()
            try:
                if channels:
                    await asyncio.wait_for(pubsub.execute_command("SUBSCRIBE", *channels), self.timeout)
                else:
                    await asyncio.wait_for(pubsub.connect(), self.timeout)
            except (*_DOWN, RedisError):
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                return False
            self._pubsub = pubsub
            self._sub_down = False
        log.warning("Redis store %s: subscriber connection back", self.url)
        for subs in list(self._subs.values()):
            for sub in list(subs):
                if sub.on_gap is not None and not sub.closed:
                    try:
                        sub.on_gap()
                    except Exception:
                        log.exception("store subscription on_gap on %r failed", sub.channel)
        return True

    # ------------------------------------------------------------------ secrets

    async def shared_secret(self, name: str, nbytes: int = 32) -> bytes:
        # Always one round trip (callers ask at start and after a gap, not per request): a Redis
        # that lost its data (restarted without persistence) gets back the secret this process
        # already uses (SET NX of it), so the processes that shared it keep agreeing, and one
        # that started meanwhile adopts whatever was written first.
        if nbytes < 16:
            raise ValueError(f"a shared secret must be at least 16 bytes, got {nbytes}")
        key = self.prefix + "k:" + name
        known = self._secrets.get(name)
        candidate = known.hex() if known is not None else os.urandom(nbytes).hex()

        def build(p: Any) -> None:
            p.execute_command("SET", key, candidate, "NX")
            p.execute_command("GET", key)

        _, stored = await self.pipeline(build, transaction=True)
        try:
            secret = binascii.unhexlify(stored)
        except (binascii.Error, TypeError):
            raise StoreUnavailable(f"Redis store at {self.url}: the shared secret {key!r} is not hex"
                                   " (written by something else?)") from None
        self._secrets[name] = secret
        return secret

    # ------------------------------------------------------------------ life

    async def ping(self) -> None:
        await self.execute("PING")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for subs in self._subs.values():
            for sub in subs:
                sub.mark_closed()
        self._subs.clear()
        for futs in self._confirm.values():
            for fut in futs:
                fut.cancel()
        self._confirm.clear()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None
        for client in (self._redis, self._sub_redis):
            with contextlib.suppress(Exception):
                await client.aclose()

    def __repr__(self) -> str:
        return f"<RedisStore {self.url} prefix={self.prefix!r}{' closed' if self._closed else ''}>"


def _field(fields: Any, name: bytes) -> bytes:
    """One field of a stream entry (redis-py gives a dict, or a flat list under RESP2 raw)."""
    if isinstance(fields, dict):
        return fields.get(name, b"")  # type: ignore[no-any-return]
    it = iter(fields)
    for k, v in zip(it, it):
        if k == name:
            return v  # type: ignore[no-any-return]
    return b""
