"""Shot marks: shots changed by review that the next Notion sync or cut must pick up."""

from __future__ import annotations

from storage.rows import Conn, now

PURPOSES = ("notion", "cut")


async def mark(conn: Conn, shot_id: int, purposes: tuple[str, ...] = PURPOSES) -> None:
    stamp = now()
    await conn.executemany(
        "INSERT INTO shot_mark (shot_id, purpose, marked_at) VALUES (?, ?, ?)"
        " ON CONFLICT (shot_id, purpose) DO UPDATE SET marked_at = excluded.marked_at",
        [(shot_id, purpose, stamp) for purpose in purposes])


async def marked(conn: Conn, purpose: str) -> list[int]:
    """Shot ids waiting for this purpose, in the order they were marked."""
    cursor = await conn.execute(
        "SELECT shot_id FROM shot_mark WHERE purpose = ? ORDER BY marked_at, shot_id", (purpose,))
    return [row[0] for row in await cursor.fetchall()]


async def clear(conn: Conn, purpose: str, shot_ids: list[int]) -> None:
    await conn.executemany("DELETE FROM shot_mark WHERE purpose = ? AND shot_id = ?",
                           [(purpose, shot_id) for shot_id in shot_ids])
