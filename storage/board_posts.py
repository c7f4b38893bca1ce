"""Board posts: the one message per production showing its board in the board channel."""

from __future__ import annotations

from dataclasses import dataclass

from storage.rows import Conn, fetch_one, now, scalar


@dataclass(frozen=True)
class BoardPost:
    production_id: int
    channel_id: int
    message_id: int
    shown: str
    audit_id: int
    posted_at: str = ""


async def get(conn: Conn, production_id: int) -> BoardPost | None:
    return await fetch_one(conn, BoardPost, "SELECT * FROM board_post WHERE production_id = ?",
                           (production_id,))


async def by_message(conn: Conn, message_id: int) -> BoardPost | None:
    return await fetch_one(conn, BoardPost, "SELECT * FROM board_post WHERE message_id = ?",
                           (message_id,))


async def put(conn: Conn, production_id: int, channel_id: int, message_id: int, shown: str,
              audit_id: int) -> None:
    """Record (or move) the production's board message."""
    await conn.execute(
        "INSERT INTO board_post (production_id, channel_id, message_id, shown, audit_id,"
        " posted_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (production_id) DO UPDATE SET"
        " channel_id = excluded.channel_id, message_id = excluded.message_id,"
        " shown = excluded.shown, audit_id = excluded.audit_id, posted_at = excluded.posted_at",
        (production_id, channel_id, message_id, shown, audit_id, now()))


async def set_shown(conn: Conn, production_id: int, message_id: int, shown: str,
                    audit_id: int) -> None:
    """The message (if it is still the board's) now shows `shown`, as of `audit_id`."""
    await conn.execute(
        "UPDATE board_post SET shown = ?, audit_id = ? WHERE production_id = ?"
        " AND message_id = ?", (shown, audit_id, production_id, message_id))


async def delete_message(conn: Conn, message_id: int) -> BoardPost | None:
    found = await by_message(conn, message_id)
    if found is not None:
        await conn.execute("DELETE FROM board_post WHERE message_id = ?", (message_id,))
    return found


async def last_change(conn: Conn, production_id: int | None = None) -> int:
    """The newest audit row's id (of one production, or of all): 0 when there is none."""
    if production_id is None:
        return int(await scalar(conn, "SELECT MAX(id) FROM audit") or 0)
    return int(await scalar(conn, "SELECT MAX(id) FROM audit WHERE production_id = ?",
                            (production_id,)) or 0)


async def productions_with_board(conn: Conn) -> list[int]:
    """Ids of the productions that have a board channel."""
    rows = await conn.execute_fetchall(
        "SELECT id FROM production WHERE board_channel_id IS NOT NULL ORDER BY id")
    return [int(r[0]) for r in rows]
