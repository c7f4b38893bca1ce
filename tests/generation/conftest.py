"""Fixtures for generation tests: a fast queue, a chapter owner, fakes of the providers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from storage.productions import Production
from studio.app import Studio
from studio.generation import requests
from studio.generation.jobs import JobQueue, QueueConfig
from studio.generation.providers.animatic import Animatic
from studio.generation.providers.base import Provider
from studio.production import claims
from studio.production.people import Actor, actor


def fast_config(**overrides: object) -> QueueConfig:
    values: dict = {"poll_seconds": 0.01, "backoff_seconds": 0.005, "backoff_max_seconds": 0.02,
                    "max_attempts": 4, "concurrency": {"animatic": 4}}
    values.update(overrides)
    return QueueConfig(**values)


@pytest.fixture
async def owner(studio: Studio, sample: Production) -> Actor:
    """Maya holds chapter 1 (shots 1.1–1.5)."""
    who = await actor(studio.db, sample, "Maya", discord_id=101)
    await claims.claim(studio.db, sample, who, 1)
    return who


@pytest.fixture
def animatic(settings) -> Animatic:
    return Animatic(settings.data_dir / "providers" / "animatic", width=160)


@pytest.fixture
async def make_queue(studio: Studio) -> AsyncIterator[Callable[..., JobQueue]]:
    """Build the studio's queue with given providers and a millisecond config."""
    def build(providers: dict[str, Provider], **config: object) -> JobQueue:
        return requests.queue(studio, providers, fast_config(**config))

    yield build
    await requests.close_queue(studio)
