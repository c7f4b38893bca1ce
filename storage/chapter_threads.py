"""Chapter threads: where a chapter's review notices (approvals, retakes) are posted."""

from __future__ import annotations

from storage.rows import Conn, now


async def get(conn: Conn, chapter_id: int) -> int | None:
    cursor = await conn.execute("SELECT thread_id FROM chapter_thread WHERE chapter_id = ?",
                                (chapter_id,))
    row = await cursor.fetchone()
    return None if row is None else int(row[0])


async def put(conn: Conn, chapter_id: int, parent_channel_id: int, thread_id: int) -> None:
    await conn.execute(
        "INSERT INTO chapter_thread (chapter_id, parent_channel_id, thread_id, created_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (chapter_id) DO UPDATE SET"
        " parent_channel_id = excluded.parent_channel_id, thread_id = excluded.thread_id",
        (chapter_id, parent_channel_id, thread_id, now()))
