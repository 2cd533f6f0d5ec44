"""One journal poller per process that wakes the open live streams.

Streams query nothing and keep no database connection while they wait:
each registers a `Subscription` and sleeps on its event. The hub polls
the journal twice a second on one worker thread and wakes the subscriptions
whose consultation, or whose queue, changed. Every few seconds it also
refreshes the presence rows of all open consultation pages in one upsert.
"""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog
from django.conf import settings
from django.db import DatabaseError, connection

from protokol.workflow import live

log = structlog.get_logger(__name__)

POLL_SECONDS = 0.5
PRESENCE_SECONDS = 5
STREAM_SECONDS = 300
# A response that never started (the client left first) never unsubscribes,
# so the hub drops a subscription this long after its stream should have ended.
EXPIRY_SECONDS = STREAM_SECONDS + 60


@dataclass(eq=False)
class Subscription:
    """One open stream: a consultation page, or the queue when no consultation."""

    user: Any
    consultation_id: int | None = None
    index: int = -1
    viewers: list[str] | None = None
    expires_at: float = 0.0
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def notify_change(self, index: int) -> None:
        if index > self.index:
            self.index = index
            self.wake.set()

    def notify_viewers(self, names: list[str]) -> None:
        if names != self.viewers:
            self.viewers = names
            self.wake.set()

    async def wait(self, timeout: float) -> bool:
        """Sleep until the hub reports something new; False after `timeout` s."""
        try:
            await asyncio.wait_for(self.wake.wait(), timeout)
        except TimeoutError:
            return False
        self.wake.clear()
        return True


class LiveHub:
    """The poller of one process; streams subscribe and unsubscribe on its loop."""

    def __init__(self):
        self._subscriptions: set[Subscription] = set()
        self._closed_pages: set[tuple[int, int]] = set()
        self._cursor: int | None = None
        self._presence_due = 0.0
        self._task: asyncio.Task | None = None
        # One thread, so the poller uses one database connection per process.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="live-poller")

    async def run_sync(self, function, *args):
        """Run a database function on the poller's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(function, *args))

    async def subscribe(self, subscription: Subscription) -> None:
        """Start waking `subscription` for changes after the hub's cursor.

        The caller reads the current index only after this returns: what was
        committed before is in that read, and what comes after is reported.
        """
        if self._cursor is None:
            latest = await self.run_sync(live.latest_index)
            if self._cursor is None:
                self._cursor = latest
        loop = asyncio.get_running_loop()
        subscription.expires_at = loop.time() + EXPIRY_SECONDS
        self._subscriptions.add(subscription)
        if subscription.consultation_id is not None:
            self._presence_due = 0.0

        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run())

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        if subscription.consultation_id is not None:
            page = (subscription.user.pk, subscription.consultation_id)
            self._closed_pages.add(page)

    async def _run(self) -> None:
        while self._subscriptions or self._closed_pages:
            try:
                await self._poll()
            except DatabaseError as error:
                log.warning("live_poll_failed", error=str(error))
                await self.run_sync(_close_connection)
            await asyncio.sleep(POLL_SECONDS)
        # Restarting later reads the index afresh instead of scanning the gap.
        self._cursor = None

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        for subscription in list(self._subscriptions):
            if loop.time() > subscription.expires_at:
                self.unsubscribe(subscription)

        latest = await self.run_sync(live.latest_index)
        if latest > self._cursor:
            changes = await self.run_sync(live.changes_between, self._cursor, latest)
            self._cursor = latest
            if changes:
                await self._fan_out(changes)

        if self._closed_pages or loop.time() >= self._presence_due:
            self._presence_due = loop.time() + PRESENCE_SECONDS
            await self._refresh_presence()

        # A pooled connection goes back to the pool between polls.
        if settings.DATABASES["default"].get("OPTIONS", {}).get("pool"):
            await self.run_sync(_close_connection)

    async def _fan_out(self, changes: dict[int, int]) -> None:
        queues: dict[int, list[Subscription]] = {}
        for subscription in list(self._subscriptions):
            if subscription.consultation_id is None:
                queues.setdefault(subscription.user.pk, []).append(subscription)
            elif subscription.consultation_id in changes:
                subscription.notify_change(changes[subscription.consultation_id])

        # One scope query per signed-in staff member with a queue page open.
        for subscriptions in queues.values():
            user = subscriptions[0].user
            visible = await self.run_sync(live.visible_ids, user, changes.keys())
            index = max((changes[pk] for pk in visible), default=-1)
            for subscription in subscriptions:
                subscription.notify_change(index)

    async def _refresh_presence(self) -> None:
        pages = [
            subscription
            for subscription in list(self._subscriptions)
            if subscription.consultation_id is not None
        ]
        viewers = {(page.user.pk, page.consultation_id): page.user for page in pages}
        closed = self._closed_pages - viewers.keys()
        self._closed_pages = set()
        if closed:
            await self.run_sync(live.leave_many, closed)
        if not viewers:
            return

        open_pages = [(user, page[1]) for page, user in viewers.items()]
        present = await self.run_sync(live.touch_many, open_pages)
        for page in pages:
            names = live.other_viewers(page.user, present.get(page.consultation_id, []))
            page.notify_viewers(names)


def _close_connection() -> None:
    connection.close()


hub = LiveHub()
