"""Shot references: the take chosen to guide a shot's next image generation."""

from __future__ import annotations

from storage.rows import Conn, now


async def get(conn: Conn, shot_id: int) -> int | None:
    cursor = await conn.execute("SELECT take_id FROM shot_reference WHERE shot_id = ?",
                                (shot_id,))
    row = await cursor.fetchone()
    return None if row is None else int(row[0])


async def put(conn: Conn, shot_id: int, take_id: int, member_id: int | None) -> None:
    await conn.execute(
        "INSERT INTO shot_reference (shot_id, take_id, member_id, created_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (shot_id) DO UPDATE SET take_id = excluded.take_id,"
        " member_id = excluded.member_id, created_at = excluded.created_at",
        (shot_id, take_id, member_id, now()))


async def clear(conn: Conn, shot_id: int) -> None:
    await conn.execute("DELETE FROM shot_reference WHERE shot_id = ?", (shot_id,))
