"""Waiting with a time limit that never swallows a cancellation.

Python 3.11's asyncio.wait_for loses a cancel that lands as the awaited thing finishes
(fixed in 3.12), which left stopped worker loops running forever; asyncio.timeout does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """The awaitable's result, or TimeoutError after `seconds`."""
    async with asyncio.timeout(seconds):
        return await awaitable


async def nudged(event: asyncio.Event, seconds: float | None) -> bool:
    """Wait for the event at most `seconds`; True when it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def stopped(*tasks: asyncio.Future[object]) -> None:
    """Cancel `tasks` and wait until each has ended, whatever it ended with: nothing of them
    outlives the caller (a lease renewed after it was dropped, a write after the close)."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
