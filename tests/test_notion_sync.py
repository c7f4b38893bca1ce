"""The Notion sync against the loopback fake: set-up, pushes, pulls, ownership, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage.productions import Production
from studio.app import Studio
from studio.notion import NotionService
from studio.people import Actor
from tests.fakes.notion.server import FakeNotion
from tests.notion_support import make_production, service_for


@pytest.fixture
async def fake() -> AsyncIterator[FakeNotion]:
    server = FakeNotion()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def notion(studio: Studio, fake: FakeNotion) -> AsyncIterator[NotionService]:
    service = service_for(studio.db, studio.settings, fake)
    try:
        yield service
    finally:
        await service.close()


async def test_smoke(studio: Studio, prod: Production, producer: Actor, fake: FakeNotion,
                     notion: NotionService) -> None:
    await make_production(studio.db, prod, 3, 4)
    parent = fake.add_parent_page()
    result = await notion.connect(prod, producer, parent=parent)
    report = await notion.sync(prod, producer)
    print(result.summary(), report.summary())
    assert len(report.created) == 15
    report = await notion.sync(prod, producer)
    print(report.summary())
    assert report.calls == 2
