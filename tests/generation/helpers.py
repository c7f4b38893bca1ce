"""Small waits shared by the generation tests."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

from storage import jobs
from storage.jobs import Job
from studio.app import Studio
from studio.generation.providers.runway import Runway
from tests.fakes.providers.runway import KEY, FakeRunway


async def until(check: Callable[[], Awaitable[bool] | bool], within: float = 10.0) -> None:
    """Until `check()` holds (it may be a coroutine function or a plain one)."""
    async with asyncio.timeout(within):
        while True:
            held = check()
            if inspect.isawaitable(held):
                held = await held
            if held:
                return
            await asyncio.sleep(0.005)


async def job_in(studio: Studio, job_id: int, *states: str, within: float = 10.0) -> Job:
    found: list[Job] = []

    async def check() -> bool:
        job = await jobs.get(studio.db.reader, job_id)
        assert job is not None
        found[:] = [job]
        return job.state in states

    await until(check, within)
    return found[0]


def runway(fake: FakeRunway) -> Runway:
    """The Runway adapter aimed at the fake, with the key it accepts."""
    return Runway(KEY, base_url=fake.url)
