"""Pytest fixtures: the fake Notion on loopback, and bot settings that point at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from studio.ops.settings import Settings
from tests.fakes.notion.server import FakeNotion


@pytest.fixture
async def notion_fake() -> AsyncIterator[FakeNotion]:
    server = FakeNotion()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def with_notion(settings: Settings, notion_fake: FakeNotion, **extra: object) -> Settings:
    """Settings for a bot that talks to the fake Notion quickly and never pushes on its own."""
    return settings.model_copy(update={
        "notion_token": SecretStr(notion_fake.token), "notion_base_url": notion_fake.url,
        "notion_rate": 500.0, "notion_push_delay": 3600.0, **extra,
    })
