"""Where each uploaded take was posted (a take made by a job is recorded on its job card)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.rows import Conn, fetch_one, now


@dataclass(frozen=True)
class UploadPost:
    take_id: int
    channel_id: int
    message_id: int
    posted_at: str = ""


async def get(conn: Conn, take_id: int) -> UploadPost | None:
    return await fetch_one(conn, UploadPost, "SELECT * FROM upload_post WHERE take_id = ?",
                           (take_id,))


async def put(conn: Conn, take_id: int, channel_id: int, message_id: int) -> None:
    await conn.execute(
        "INSERT INTO upload_post (take_id, channel_id, message_id, posted_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (take_id) DO UPDATE SET channel_id = excluded.channel_id,"
        " message_id = excluded.message_id", (take_id, channel_id, message_id, now()))
