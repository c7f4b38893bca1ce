"""Helpers shared by the Notion tests and the benchmark: a production of any size, and a
service wired to the loopback fake."""

from __future__ import annotations

from pydantic import SecretStr

from storage import chapters, shots
from storage.db import Database
from storage.productions import Production
from studio.notion.sync import NotionService
from studio.ops.settings import Settings
from tests.fakes.notion.server import FakeNotion


async def make_production(db: Database, production: Production, n_chapters: int,
                          n_shots: int) -> None:
    """Chapters × shots straight into storage: fast set-up for big productions."""
    async with db.transaction() as tx:
        for c in range(1, n_chapters + 1):
            chapter_id = await chapters.create(tx, production.id, c, f"Chapter {c}",
                                               f"What happens in chapter {c}.")
            for s in range(1, n_shots + 1):
                await shots.create(tx, chapter_id, s, f"Shot {c}.{s}: the tide comes in",
                                   2.0 + s % 3)


def service_for(db: Database, settings: Settings, fake: FakeNotion, *, rate: float = 2000.0,
                **extra: object) -> NotionService:
    configured = settings.model_copy(update={
        "notion_token": SecretStr(fake.token), "notion_base_url": fake.url,
        "notion_rate": rate, "notion_timeout": 5.0, **extra,
    })
    return NotionService(db, configured)
