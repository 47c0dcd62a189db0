"""What a ``ServerCore`` shares with the other processes of one deployment through a shared store
(``mcpfast.stores``, Redis): the MRTR ``requestState`` key and the change notifications.

* The key: every process asks the store for the secret ``mrtr-request-state`` (created once, by
  whichever process asked first), so a ``requestState`` signed by one process verifies on any
  other. A ``state_secret`` given to the server explicitly wins (then nothing is fetched).
* Change notifications (``notify_list_changed``, ``notify_resource_updated``): the process where
  the change happened delivers to its own sessions and listen streams at once, as without a
  store, and publishes the change on the channel ``notify:<server name>``; every other process
  delivers it to its own. A process ignores its own messages (each ``StoreLink`` has a random
  origin id), so nothing is delivered twice.

With the in-memory store (``Store.shared`` False) none of this runs: ``ServerCore.attach_store``
keeps the store for the transports and returns, and the notify path costs one ``is None`` test.

When the store is down at start, the server starts anyway: the link retries in the background
(every ``RETRY_INTERVAL`` seconds) until it has the key and the subscription; until then this
process signs with its own random key (a ``requestState`` it issues verifies only here) and
hears no other process's changes. A change published while the store is down is delivered
locally and logged as not shared.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING, Any

from ..errors import StoreUnavailable
from ..wire import _json
from .mrtr import RequestStateSigner

if TYPE_CHECKING:
    from ..stores import Store, Subscription
    from .core import ServerCore

__all__ = ["REQUEST_STATE_SECRET", "RETRY_INTERVAL", "StoreLink"]

log = logging.getLogger("mcpfast.server")

#: the shared secret's name in the store
REQUEST_STATE_SECRET = "mrtr-request-state"
#: seconds between attempts to reach a store that was down when the server started
RETRY_INTERVAL = 1.0

_LIST_KINDS = ("tools", "prompts", "resources")
_dumps = _json.dumps
_loads = _json.loads


class StoreLink:
    """One core's standing in a shared store (see the module docstring)."""

    __slots__ = ("core", "store", "channel", "origin", "share_key", "shared_key", "_key", "_sub", "_tasks", "_retry",
                 "_task_store", "_loop", "_closed")

    def __init__(self, core: ServerCore, store: Store, *, share_key: bool) -> None:
        self.core = core
        self.store = store
        #: where this server's changes go (servers of another name on one Redis do not hear them)
        self.channel = "notify:" + str(core.server_info.get("name", ""))
        #: this process's id in the messages (its own are ignored when they come back)
        self.origin = secrets.token_hex(8)
        #: fetch the shared requestState key (False: the server was given its own)
        self.share_key = share_key
        #: the signer uses the store's key (fetched; re-checked after each store outage)
        self.shared_key = False
        self._key: bytes | None = None
        self._sub: Subscription | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._retry: asyncio.Task[None] | None = None
        #: the task store on the shared store, opened (subscribed) with the rest
        self._task_store: Any = None
        #: the loop the server runs on (set by ``start``): shares from another thread go there
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def ready(self) -> bool:
        """The key is shared and the subscription is in place."""
        return self._sub is not None and not self.share_key

    async def start(self) -> None:
        """Fetch the key and subscribe; when the store is down, keep trying in the background."""
        self._loop = asyncio.get_running_loop()
        try:
            await self._connect()
        except StoreUnavailable as exc:
            log.warning("shared store unavailable at start (%s): serving with this process's own requestState"
                        " key and local notifications until it is back", exc)
            self._retry = asyncio.get_running_loop().create_task(self._keep_trying(), name="mcpfast-store-link")

    async def _connect(self) -> None:
        if self.share_key:
            await self._fetch_key()
            self.shared_key = True
            self.share_key = False
        if self._sub is None:
            self._sub = await self.store.subscribe(self.channel, self._on_message, on_gap=self._on_gap)
        if self._task_store is not None:
            await self._task_store.open()

    async def open_task_store(self, task_store: Any) -> None:
        """Open ``task_store`` (its event subscription) now, or with the rest once the store is back."""
        self._task_store = task_store
        if self._retry is None:
            try:
                await task_store.open()
            except StoreUnavailable:
                self._retry = asyncio.get_running_loop().create_task(self._keep_trying(), name="mcpfast-store-link")

    async def _fetch_key(self) -> None:
        secret = await self.store.shared_secret(REQUEST_STATE_SECRET)
        if secret != self._key:
            self._key = secret
            self.core.signer = RequestStateSigner(secret, self.core.signer.ttl)

    def _on_gap(self) -> None:
        # the store's connection came back: it may have lost its data (a Redis restarted
        # without persistence): write the key back, or adopt the one another process wrote
        if self.shared_key and not self._closed:
            task = asyncio.get_running_loop().create_task(self._refetch_key())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _refetch_key(self) -> None:
        try:
            await self._fetch_key()
        except StoreUnavailable as exc:
            log.warning("could not check the shared requestState key after a store outage: %s", exc)

    async def _keep_trying(self) -> None:
        while not self._closed:
            await asyncio.sleep(RETRY_INTERVAL)
            try:
                await self._connect()
            except StoreUnavailable:
                continue
            log.warning("shared store back: requestState key shared, notifications fan out")
            return

    def share(self, kind: str, value: str) -> None:
        """Publish one change (``kind`` "list" or "resource") for the other processes."""
        if self._closed or self._loop is None:
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self._loop:  # another thread (a pooled tool): publish from the loop
            self._loop.call_soon_threadsafe(self.share, kind, value)
            return
        task = self._loop.create_task(self._publish(_dumps({"o": self.origin, "t": kind, "v": value})))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, message: bytes) -> None:
        try:
            await self.store.publish(self.channel, message)
        except StoreUnavailable as exc:
            log.warning("a change notification was delivered here only (not shared): %s", exc)

    def _on_message(self, data: bytes) -> None:
        try:
            msg = _loads(data)
            origin, kind, value = msg["o"], msg["t"], msg["v"]
        except Exception:  # noqa: BLE001 - a foreign or broken message on our channel: say so, go on
            log.warning("ignored a malformed message on the store channel %r: %r", self.channel, data[:200])
            return
        if origin == self.origin or type(value) is not str:
            return
        if kind == "list" and value in _LIST_KINDS:
            self.core.deliver_list_changed(value)
        elif kind == "resource":
            self.core.deliver_resource_updated(value)

    async def close(self) -> None:
        """Stop sharing: pending publishes finish, the subscription ends (the store stays open)."""
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
            try:
                await self._retry
            except (asyncio.CancelledError, StoreUnavailable):
                pass
            self._retry = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._sub is not None:
            await self._sub.close()
            self._sub = None
