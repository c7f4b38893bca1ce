"""Whether a vote's messages show its state: a close is committed first, then shown on the
takes' posts; a vote whose state moved on without being shown (a stop in between) is shown at
the next start. (Belongs in studio/review/ beside windows.py.)
"""

from __future__ import annotations

from storage import vote_windows
from storage.db import Database
from storage.vote_windows import VoteWindow


async def mark_shown(db: Database, window_id: int, state: str) -> None:
    """The vote's messages now show `state` (the state they were rendered from)."""
    async with db.transaction() as tx:
        await vote_windows.set_shown(tx, window_id, state)


async def not_shown(db: Database) -> list[VoteWindow]:
    """Votes whose messages do not show their state yet."""
    return await vote_windows.not_shown(db.reader)
