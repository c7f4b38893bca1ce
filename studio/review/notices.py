"""Where review's notices go: each chapter's thread, and the production a window belongs to.
"""

from __future__ import annotations

from storage import (
    chapter_threads,
    productions,
)
from storage.db import Database
from storage.productions import Production

# --- where notices go -----------------------------------------------------------------------

async def chapter_thread(db: Database, chapter_id: int) -> int | None:
    return await chapter_threads.get(db.reader, chapter_id)



async def record_chapter_thread(db: Database, chapter_id: int, parent_channel_id: int,
                                thread_id: int) -> None:
    async with db.transaction() as tx:
        await chapter_threads.put(tx, chapter_id, parent_channel_id, thread_id)



async def production_of(db: Database, production_id: int) -> Production | None:
    return await productions.get(db.reader, production_id)
