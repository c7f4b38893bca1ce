"""The studio: settings plus the open database, shared by the bot, the shell and the tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from storage.db import Database
from studio.ops import closing, masking
from studio.ops.memory import keep_freed_memory
from studio.ops.settings import Settings


@dataclass
class Studio:
    settings: Settings
    db: Database

    @classmethod
    async def open(cls, settings: Settings) -> Studio:
        keep_freed_memory()  # a cut's sound frees and takes again the same large blocks
        masking.remember(settings)  # from here, no secret is stored or shown
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.media_path.mkdir(parents=True, exist_ok=True)
        db = await Database.open(settings.database_path)
        return cls(settings, db)

    async def close(self) -> None:
        await closing.settle_all()
        await asyncio.to_thread(closing.close_all)
        await self.db.close()
