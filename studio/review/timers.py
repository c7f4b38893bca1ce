"""Durable timers with one dispatcher (as RoboDanny's reminder cog).

A timer is a row (event, payload, expires_at). The dispatcher sleeps until the soonest one,
hands it to the handler registered for its event and deletes it once handled, so a timer
that expired while the bot was down fires at the next start-up. A handler that fails is
logged and retried a minute later: a timer is handled at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from storage import timers
from storage.db import Database
from storage.rows import Conn
from storage.timers import Timer
from studio.waiting import nudged

log = logging.getLogger(__name__)

Handler = Callable[[Timer], Awaitable[None]]
RETRY_AFTER = timedelta(seconds=60)
# Sleep at most this long before looking again, so a clock jump cannot strand a timer.
LONGEST_SLEEP = 3600.0


def stamp(moment: datetime) -> str:
    """A datetime as the store's ISO-8601 UTC text (same shape as storage.rows.now())."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


async def create(conn: Conn, event: str, payload: dict, expires_at: datetime) -> Timer:
    """A timer, inside the caller's transaction; poke the dispatcher after committing."""
    return await timers.create(conn, event, payload, stamp(expires_at))


class Dispatcher:
    """Fires due timers to their handlers; `poke()` after creating or moving a timer."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow):
        self.db = db
        self.clock = clock
        self._handlers: dict[str, Handler] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    def on(self, event: str, handler: Handler) -> None:
        self._handlers[event] = handler

    def poke(self) -> None:
        self._changed.set()

    async def create(self, event: str, payload: dict, expires_at: datetime) -> Timer:
        async with self.db.transaction() as tx:
            made = await create(tx, event, payload, expires_at)
        self.poke()
        return made

    async def fire_due(self) -> int:
        """Handle every timer expired by now; returns how many were handled."""
        handled = 0
        for timer in await timers.due(self.db.reader, stamp(self.clock())):
            handler = self._handlers.get(timer.event)
            if handler is None:
                continue  # a cog not loaded now may handle it later
            try:
                await handler(timer)
            except Exception:
                log.exception("timer %s (%s) failed; retrying later", timer.id, timer.event)
                async with self.db.transaction() as tx:
                    await timers.set_expiry(tx, timer.id, stamp(self.clock() + RETRY_AFTER))
                continue
            async with self.db.transaction() as tx:
                await timers.delete(tx, timer.id)
            handled += 1
        return handled

    async def _seconds_to_next(self) -> float | None:
        upcoming = await timers.due(self.db.reader, "9999")
        for timer in upcoming:
            if timer.event in self._handlers:
                return max(0.0, (parse(timer.expires_at) - self.clock()).total_seconds())
        return None

    async def run(self) -> None:
        while True:
            self._changed.clear()
            await self.fire_due()
            wait = await self._seconds_to_next()
            timeout = LONGEST_SLEEP if wait is None else min(wait, LONGEST_SLEEP)
            if wait is not None and wait <= 0:
                continue
            await nudged(self._changed, timeout)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="slate-timers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
