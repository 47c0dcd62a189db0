"""``RedisTaskStore``: the ``TaskStore`` (``mcpfast.server.tasks``) on a ``RedisStore``, so a task
created on one server process is seen, answered and cancelled from any other.

Layout, under the store's prefix (``docs/stores.md``):

* ``t:<taskId>``   the record, JSON; the key expires at the record's ``expiresAt`` (PXAT)
* ``to:<owner>``   a sorted set of the owner's task ids, scored by creation order (``list``);
                   it expires with the last of its tasks (members whose record is gone are
                   skipped, and removed, when listed)
* ``tseq``         the counter of creation order
* channel ``tasks``  one message per event: ``{"e": event, "r": record}``

Every mutation is a compare-and-set: read the record, change it in Python (the same rules as
``MemoryTaskStore``), then one Lua script writes it only if the record is still what was read
(keeping its expiry) and publishes the events in the same step, so a change and its events are
atomic and two processes racing on one task (a cancel against the tool's own completion) leave
exactly one outcome: the loser reads the winner's record and decides again (a terminal task
stays terminal). The record this process wrote last is remembered (a bounded map), so a change
to a task this process runs costs one round trip (the script gets the record it expects; when
another process changed it meanwhile, the script answers with the current one and the change
is decided again); ``create`` and ``get`` cost one.

Events reach the subscribers of every process from the store's subscriber connection (so this
process hears its own events too, a round trip later, as the contract allows). Redis down:
every method raises ``StoreUnavailable``; events published meanwhile are lost (records are the
truth: pollers see the state, and a ``tasks/result`` waiter re-reads it on each event or expiry).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..wire import _json
from .tasks import (
    KEEP,
    TERMINAL,
    TaskEventCallback,
    TaskRecord,
    TaskSubscribers,
    copy_record,
    now_iso,
    terminate_record,
)

if TYPE_CHECKING:
    from ..stores import Subscription
    from ..stores.redis_backend import RedisStore

__all__ = ["RedisTaskStore"]

log = logging.getLogger("mcpfast.server")

_dumps = _json.dumps
_loads = _json.loads

#: records this process wrote last, kept to skip the read of the next change (bounded)
_KNOWN_MAX = 4096

#: attempts of one compare-and-set before giving up (each loss means another process changed
#: the task in between: a handful at most in practice)
_CAS_ATTEMPTS = 32

_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[2], seq, ARGV[3])
if ARGV[2] == '' then
  redis.call('PERSIST', KEYS[2])
elseif redis.call('ZCARD', KEYS[2]) == 1 then
  redis.call('PEXPIREAT', KEYS[2], ARGV[2])
elseif redis.call('PTTL', KEYS[2]) >= 0 then
  redis.call('PEXPIREAT', KEYS[2], ARGV[2], 'GT')
end
return 1
"""

_CAS = """
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] then
  if cur then return {0, cur} end
  return {0}
end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
for i = 4, #ARGV do redis.call('PUBLISH', ARGV[3], ARGV[i]) end
return {1}
"""

#: a change decided on a record: (write it?, what the method returns, events to publish)
_Decision = tuple[bool, Any, tuple[str, ...]]


class RedisTaskStore:
    """``TaskStore`` on Redis (see the module docstring). ``await open()`` before use (it
    subscribes to the event channel); ``close()`` unsubscribes and leaves the store open."""

    def __init__(self, store: RedisStore, *, channel: str = "tasks") -> None:
        self.store = store
        self.channel = channel
        self._prefix = store.prefix
        self._channel_key = store.channel_key(channel)
        self._create = store.script(_CREATE)
        self._cas = store.script(_CAS)
        self._subscribers = TaskSubscribers()
        self._sub: Subscription | None = None
        #: task id -> the record as this process last wrote it (raw JSON): the expected value
        #: of the next compare-and-set, saving its read
        self._known: dict[str, bytes] = {}

    async def open(self) -> None:
        """Subscribe to the events of every process (StoreUnavailable when Redis is down)."""
        if self._sub is None:
            self._sub = await self.store.subscribe(self.channel, self._on_message)

    def _key(self, task_id: str) -> str:
        return self._prefix + "t:" + task_id

    # ------------------------------------------------------------------ events

    def _on_message(self, data: bytes) -> None:
        try:
            msg = _loads(data)
            event, rec = msg["e"], msg["r"]
        except Exception:  # noqa: BLE001 - a foreign message on the channel: skip it, say so
            log.warning("ignored a malformed task event: %r", data[:200])
            return
        self._subscribers.publish(event, rec)

    def subscribe(self, callback: TaskEventCallback) -> Callable[[], None]:
        return self._subscribers.subscribe(callback)

    # ------------------------------------------------------------------ records

    async def create(self, record: TaskRecord) -> None:
        tid = record["taskId"]
        exp = record.get("expiresAt")
        pxat = str(int(exp * 1000)) if exp is not None else ""
        owner_key = self._prefix + "to:" + str(record.get("owner", ""))
        data = _dumps(record)
        made = await self._create([self._key(tid), owner_key, self._prefix + "tseq"], [data, pxat, tid])
        if not made:
            raise ValueError(f"task {tid!r} exists already")
        self._remember(tid, data)

    def _remember(self, task_id: str, raw: bytes | None) -> None:
        known = self._known
        if raw is None:
            known.pop(task_id, None)
            return
        known[task_id] = raw
        if len(known) > _KNOWN_MAX:
            del known[next(iter(known))]

    async def get(self, task_id: str) -> TaskRecord | None:
        raw = await self.store.execute("GET", self._key(task_id))
        return _live(raw)

    async def _mutate(self, task_id: str, decide: Callable[[TaskRecord | None], _Decision]) -> Any:
        """Read, ``decide`` (which may change the record in place), compare-and-set with its events."""
        key = self._key(task_id)
        raw = self._known.get(task_id)
        cached = raw is not None
        if not cached:
            raw = await self.store.execute("GET", key)
        for _ in range(_CAS_ATTEMPTS):
            rec = _live(raw)
            write, ret, events = decide(rec)
            if not write or rec is None:
                if cached:  # "nothing to do" decided on a remembered record: confirm on the real one
                    cached = False
                    self._known.pop(task_id, None)
                    raw = await self.store.execute("GET", key)
                    continue
                return ret
            new = _dumps(rec)
            msgs = [_dumps({"e": ev, "r": rec}) for ev in events]
            res = await self._cas([key], [raw, new, self._channel_key, *msgs])
            if res[0] == 1:
                self._remember(task_id, None if rec["status"] in TERMINAL else new)
                return ret
            raw = res[1] if len(res) > 1 else None  # another process won: decide on its record
            cached = False
            self._known.pop(task_id, None)
        raise RuntimeError(f"task {task_id!r}: {_CAS_ATTEMPTS} concurrent changes in a row; giving up")

    async def update(self, task_id: str, *, status: str | None = None,
                     status_message: str | None = KEEP) -> TaskRecord | None:
        if status is not None and status not in ("working", "input_required"):
            raise ValueError(f"update() sets a non-terminal status, got {status!r} (use finish())")

        def decide(rec: TaskRecord | None) -> _Decision:
            if rec is None or rec["status"] in TERMINAL:
                return False, None, ()
            if status is not None:
                rec["status"] = status
            if status_message is not KEEP:
                if status_message is None:
                    rec.pop("statusMessage", None)
                else:
                    rec["statusMessage"] = status_message
            rec["lastUpdatedAt"] = now_iso()
            return True, copy_record(rec), ("status",)

        return await self._mutate(task_id, decide)  # type: ignore[no-any-return]

    async def finish(self, task_id: str, status: str, *, result: dict[str, Any] | None = None,
                     error: dict[str, Any] | None = None,
                     status_message: str | None = None) -> TaskRecord | None:
        if status not in TERMINAL:
            raise ValueError(f"finish() sets a terminal status, got {status!r}")

        def decide(rec: TaskRecord | None) -> _Decision:
            if rec is None or rec["status"] in TERMINAL:
                return False, None, ()
            terminate_record(rec, status, result, error, status_message)
            return True, copy_record(rec), ("status",)

        return await self._mutate(task_id, decide)  # type: ignore[no-any-return]

    async def request_cancel(self, task_id: str) -> TaskRecord | None:
        def decide(rec: TaskRecord | None) -> _Decision:
            if rec is None:
                return False, None, ()
            if rec["status"] in TERMINAL:
                return False, copy_record(rec), ()
            terminate_record(rec, "cancelled", None, None, "Cancelled at the client's request")
            rec["cancelRequested"] = True
            return True, copy_record(rec), ("status", "cancel")

        return await self._mutate(task_id, decide)  # type: ignore[no-any-return]

    async def park(self, task_id: str, requests: dict[str, Any]) -> TaskRecord | None:
        def decide(rec: TaskRecord | None) -> _Decision:
            if rec is None or rec["status"] in TERMINAL:
                return False, None, ()
            rec.setdefault("inputRequests", {}).update(requests)
            rec["status"] = "input_required"
            rec["lastUpdatedAt"] = now_iso()
            return True, copy_record(rec), ("status",)

        return await self._mutate(task_id, decide)  # type: ignore[no-any-return]

    async def answer(self, task_id: str, responses: dict[str, Any]) -> TaskRecord | None:
        def decide(rec: TaskRecord | None) -> _Decision:
            if rec is None:
                return False, None, ()
            pending = rec.get("inputRequests")
            if not pending or rec["status"] in TERMINAL:
                return False, copy_record(rec), ()
            taken = {k: v for k, v in responses.items() if k in pending}
            if not taken:
                return False, copy_record(rec), ()
            for k in taken:
                del pending[k]
            rec.setdefault("inputResponses", {}).update(taken)
            events: tuple[str, ...] = ("input",)
            if not pending:
                del rec["inputRequests"]
                rec["status"] = "working"
                events = ("status", "input")
            rec["lastUpdatedAt"] = now_iso()
            return True, copy_record(rec), events

        return await self._mutate(task_id, decide)  # type: ignore[no-any-return]

    async def take_responses(self, task_id: str) -> dict[str, Any]:
        def decide(rec: TaskRecord | None) -> _Decision:
            got = rec.pop("inputResponses", None) if rec is not None else None
            return bool(got), got or {}, ()

        return await self._mutate(task_id, decide)  # type: ignore[no-any-return]

    async def list(self, owner: str, cursor: str | None = None,
                   limit: int = 50) -> tuple[list[TaskRecord], str | None]:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if cursor is not None and (type(cursor) is not str or not cursor.isdigit()):
            raise ValueError(f"invalid cursor {cursor!r}")
        zkey = self._prefix + "to:" + owner
        after = cursor or ""
        out: list[TaskRecord] = []
        last = ""
        batch = limit + 1
        while True:
            lo = "(" + after if cursor is not None else "-inf"
            rows = await self.store.execute("ZRANGEBYSCORE", zkey, lo, "+inf", "WITHSCORES", "LIMIT", 0, batch)
            if not rows:
                return out, None
            # redis-py parses WITHSCORES into (member, score) pairs; a raw reply is flat
            pairs = [tuple(r) for r in rows] if isinstance(rows[0], (list, tuple)) else list(zip(rows[0::2], rows[1::2]))
            ids = [m.decode("utf-8", "surrogateescape") for m, _ in pairs]
            raws = await self.store.execute("MGET", *[self._key(t) for t in ids])
            gone = []
            for (member, score), raw in zip(pairs, raws):
                rec = _live(raw)
                if rec is None:
                    if raw is None:
                        gone.append(member)
                    continue
                if len(out) == limit:
                    if gone:
                        await self.store.execute("ZREM", zkey, *gone)
                    return out, last
                out.append(rec)
                last = str(int(float(score)))
            if gone:
                await self.store.execute("ZREM", zkey, *gone)
            if len(pairs) < batch:
                return out, None
            after = str(int(float(pairs[-1][1])))
            cursor = after

    async def close(self) -> None:
        """Unsubscribe from the events (the ``RedisStore`` stays open: its owner closes it)."""
        sub, self._sub = self._sub, None
        if sub is not None:
            await sub.close()

    def __repr__(self) -> str:
        return f"<RedisTaskStore on {self.store!r}>"


def _live(raw: Any) -> TaskRecord | None:
    """The record in ``raw`` (GET's reply), or None when absent or past its ``expiresAt``
    (Redis expires keys to the millisecond; the contract wants none given out after it)."""
    if raw is None:
        return None
    rec: TaskRecord = _loads(raw)
    exp = rec.get("expiresAt")
    if exp is not None and exp <= time.time():
        return None
    return rec
