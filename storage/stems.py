"""Stems: a chapter's audio tracks (voice-over, effects, music), one active per kind."""

from __future__ import annotations

from dataclasses import dataclass

from storage.rows import Conn, fetch_all, fetch_one, now

STEM_KINDS = ("vo", "sfx", "music")  # the one list: commands, the shell and the cut read it


@dataclass(frozen=True)
class Stem:
    id: int
    chapter_id: int
    kind: str
    media_sha256: str
    creator_id: int | None
    active: int
    created_at: str = ""


async def active_of_chapter(conn: Conn, chapter_id: int) -> list[Stem]:
    return await fetch_all(
        conn, Stem, "SELECT * FROM stem WHERE chapter_id = ? AND active = 1 ORDER BY kind",
        (chapter_id,),
    )


async def active_by_chapter(conn: Conn, production_id: int) -> dict[int, list[Stem]]:
    """Every chapter's active stems in one query, each chapter's by kind."""
    found: dict[int, list[Stem]] = {}
    for stem in await fetch_all(
            conn, Stem, "SELECT st.* FROM stem st JOIN chapter c ON c.id = st.chapter_id"
                        " WHERE c.production_id = ? AND st.active = 1"
                        " ORDER BY st.chapter_id, st.kind", (production_id,)):
        found.setdefault(stem.chapter_id, []).append(stem)
    return found


async def replace(
    conn: Conn, chapter_id: int, kind: str, media_sha256: str, creator_id: int | None
) -> Stem:
    """Make this the chapter's stem of its kind; the previous one stays, inactive (history)."""
    await conn.execute("UPDATE stem SET active = 0 WHERE chapter_id = ? AND kind = ?",
                       (chapter_id, kind))
    cursor = await conn.execute(
        "INSERT INTO stem (chapter_id, kind, media_sha256, creator_id, created_at)"
        " VALUES (?, ?, ?, ?, ?)", (chapter_id, kind, media_sha256, creator_id, now()),
    )
    made = await fetch_one(conn, Stem, "SELECT * FROM stem WHERE id = ?", (cursor.lastrowid,))
    assert made is not None
    return made
