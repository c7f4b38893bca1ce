"""Productions: one per Discord guild (the shell uses guild 0)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from storage.rows import Conn, fetch_one, now, update_row


@dataclass(frozen=True)
class Production:
    id: int
    guild_id: int
    title: str
    producer_role: str
    board_channel_id: int | None
    takes_channel_id: int | None
    cuts_channel_id: int | None
    max_chapters_per_creator: int
    settings: str = "{}"
    created_at: str = ""
    updated_at: str = ""
    options: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", json.loads(self.settings or "{}"))


async def get(conn: Conn, production_id: int) -> Production | None:
    return await fetch_one(
        conn, Production, "SELECT * FROM production WHERE id = ?", (production_id,)
    )


async def by_guild(conn: Conn, guild_id: int) -> Production | None:
    return await fetch_one(
        conn, Production, "SELECT * FROM production WHERE guild_id = ?", (guild_id,)
    )


async def create(
    conn: Conn, guild_id: int, title: str, producer_role: str, max_chapters: int
) -> Production:
    stamp = now()
    cursor = await conn.execute(
        "INSERT INTO production (guild_id, title, producer_role, max_chapters_per_creator,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        (guild_id, title, producer_role, max_chapters, stamp, stamp),
    )
    created = await get(conn, cursor.lastrowid)
    assert created is not None
    return created


_EDITABLE = {
    "title", "producer_role", "board_channel_id", "takes_channel_id", "cuts_channel_id",
    "max_chapters_per_creator", "settings",
}


async def update(conn: Conn, production_id: int, **values: object) -> None:
    await update_row(conn, "production", production_id, values, _EDITABLE)


async def first(conn: Conn) -> Production | None:
    """The oldest production: the one a public web face shows when no link names another."""
    return await fetch_one(conn, Production, "SELECT * FROM production ORDER BY id LIMIT 1")
