"""Chapters: numbered parts of the film, each with at most one owner."""

from __future__ import annotations

from dataclasses import dataclass

from storage.rows import Conn, fetch_all, fetch_one, now, update_row


@dataclass(frozen=True)
class Chapter:
    id: int
    production_id: int
    number: int
    title: str
    synopsis: str
    owner_id: int | None
    claimed_at: str | None
    due_date: str | None
    status: str
    priority: str
    notes: str
    created_at: str = ""
    updated_at: str = ""


@dataclass(frozen=True)
class ChapterProgress:
    """A chapter with its owner's name and shot counts, for boards."""

    chapter: Chapter
    owner_name: str | None
    owner_discord_id: int | None
    shots_total: int
    shots_approved: int


async def get(conn: Conn, chapter_id: int) -> Chapter | None:
    return await fetch_one(conn, Chapter, "SELECT * FROM chapter WHERE id = ?", (chapter_id,))


async def by_number(conn: Conn, production_id: int, number: int) -> Chapter | None:
    return await fetch_one(
        conn, Chapter, "SELECT * FROM chapter WHERE production_id = ? AND number = ?",
        (production_id, number),
    )


async def all_of(conn: Conn, production_id: int) -> list[Chapter]:
    return await fetch_all(
        conn, Chapter, "SELECT * FROM chapter WHERE production_id = ? ORDER BY number",
        (production_id,),
    )


async def owned_by(conn: Conn, production_id: int, member_id: int) -> list[Chapter]:
    return await fetch_all(
        conn, Chapter,
        "SELECT * FROM chapter WHERE production_id = ? AND owner_id = ? ORDER BY number",
        (production_id, member_id),
    )


async def progress(conn: Conn, production_id: int) -> list[ChapterProgress]:
    rows = await conn.execute_fetchall(
        "SELECT c.*, m.name AS owner_name, m.discord_id AS owner_discord_id,"
        " COUNT(s.id) FILTER (WHERE s.status != 'omitted') AS shots_total,"
        " COUNT(s.id) FILTER (WHERE s.status = 'approved') AS shots_approved"
        " FROM chapter c LEFT JOIN member m ON m.id = c.owner_id"
        " LEFT JOIN shot s ON s.chapter_id = c.id"
        " WHERE c.production_id = ? GROUP BY c.id ORDER BY c.number",
        (production_id,),
    )
    result = []
    for row in rows:
        chapter = Chapter(**{k: row[k] for k in Chapter.__dataclass_fields__})
        result.append(ChapterProgress(chapter, row["owner_name"], row["owner_discord_id"],
                                      row["shots_total"], row["shots_approved"]))
    return result


async def create(
    conn: Conn, production_id: int, number: int, title: str, synopsis: str = ""
) -> int:
    stamp = now()
    cursor = await conn.execute(
        "INSERT INTO chapter (production_id, number, title, synopsis, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (production_id, number, title, synopsis, stamp, stamp),
    )
    return int(cursor.lastrowid)


async def set_owner(
    conn: Conn, chapter_id: int, owner_id: int | None, *, expected_owner: int | None,
    status: str,
) -> bool:
    """Change the owner (and the status the rules chose) only if the owner is still
    `expected_owner`: a compare-and-set."""
    stamp = now()
    cursor = await conn.execute(
        "UPDATE chapter SET owner_id = ?, claimed_at = ?, status = ?, updated_at = ?"
        " WHERE id = ? AND owner_id IS ?",
        (owner_id, stamp if owner_id else None, status, stamp, chapter_id, expected_owner),
    )
    return cursor.rowcount == 1


_EDITABLE = {"title", "synopsis", "due_date", "status", "priority", "notes"}


async def update(conn: Conn, chapter_id: int, **values: object) -> None:
    await update_row(conn, "chapter", chapter_id, values, _EDITABLE)
