"""The board's one message in the board channel: what it shows, where it is, when it is due.

The board follows the audit log: every claim, assignment, due date, approval, import and
published cut writes an audit row, from the bot, the shell or a Notion pull alike, so a board
whose `audit_id` is behind its production's newest row is due an update.
(Belongs in studio/production/ beside board.py.)
"""

from __future__ import annotations

from dataclasses import dataclass

from storage import board_posts, cuts, productions
from storage.board_posts import BoardPost
from storage.chapters import ChapterProgress
from storage.cuts import Cut
from storage.db import Database
from storage.productions import Production
from studio.production.board import board


@dataclass(frozen=True)
class BoardState:
    """What the board message shows, as of the production's change `audit_id`."""

    production: Production
    rows: list[ChapterProgress]
    latest_cut: Cut | None
    audit_id: int


async def state(db: Database, production_id: int) -> BoardState | None:
    """The board as it stands; None when the production is gone."""
    # Read the change mark first: a change landing during the reads is seen again next time.
    audit_id = await board_posts.last_change(db.reader, production_id)
    prod = await productions.get(db.reader, production_id)
    if prod is None:
        return None
    rows = await board(db, prod)
    latest = await cuts.latest(db.reader, prod.id)
    return BoardState(prod, rows, latest, audit_id)


async def post_of(db: Database, production_id: int) -> BoardPost | None:
    return await board_posts.get(db.reader, production_id)


async def record_post(db: Database, production_id: int, channel_id: int, message_id: int,
                      shown: str, audit_id: int) -> None:
    async with db.transaction() as tx:
        await board_posts.put(tx, production_id, channel_id, message_id, shown, audit_id)


async def record_shown(db: Database, post: BoardPost, shown: str, audit_id: int) -> None:
    async with db.transaction() as tx:
        await board_posts.set_shown(tx, post.production_id, post.message_id, shown, audit_id)


async def is_board(db: Database, message_id: int) -> bool:
    return await board_posts.by_message(db.reader, message_id) is not None


async def forget_message(db: Database, message_id: int) -> BoardPost | None:
    """A deleted message: if it was a board, the board is to be posted again."""
    if await board_posts.by_message(db.reader, message_id) is None:
        return None  # most deleted messages are not boards: no write
    async with db.transaction() as tx:
        return await board_posts.delete_message(tx, message_id)


async def boards(db: Database) -> list[int]:
    """The productions that keep a board message (they have a board channel)."""
    return await board_posts.productions_with_board(db.reader)


async def last_change(db: Database, production_id: int | None = None) -> int:
    return await board_posts.last_change(db.reader, production_id)
