"""Shots: numbered within their chapter, with a plan and, once chosen, an approved take."""

from __future__ import annotations

import json
from dataclasses import dataclass

from storage.rows import Conn, fetch_all, fetch_one, now, update_row


@dataclass(frozen=True)
class Shot:
    id: int
    chapter_id: int
    number: int
    description: str
    planned_duration: float
    camera: str
    characters: str
    notes: str
    status: str
    approved_take_id: int | None
    created_at: str = ""
    updated_at: str = ""

    @property
    def character_names(self) -> list[str]:
        return list(json.loads(self.characters or "[]"))


@dataclass(frozen=True)
class ShotRef:
    """A shot with its chapter number: what people call "shot 3.2"."""

    shot: Shot
    chapter_number: int
    chapter_title: str
    production_id: int
    owner_id: int | None

    @property
    def code(self) -> str:
        return f"{self.chapter_number}.{self.shot.number}"


_REF_SQL = (
    "SELECT s.*, c.number AS chapter_number, c.title AS chapter_title,"
    " c.production_id AS production_id, c.owner_id AS owner_id"
    " FROM shot s JOIN chapter c ON c.id = s.chapter_id"
)


def _ref(row) -> ShotRef:
    shot = Shot(**{k: row[k] for k in Shot.__dataclass_fields__})
    return ShotRef(shot, row["chapter_number"], row["chapter_title"], row["production_id"],
                   row["owner_id"])


async def get(conn: Conn, shot_id: int) -> Shot | None:
    return await fetch_one(conn, Shot, "SELECT * FROM shot WHERE id = ?", (shot_id,))


async def ref(conn: Conn, shot_id: int) -> ShotRef | None:
    rows = list(await conn.execute_fetchall(f"{_REF_SQL} WHERE s.id = ?", (shot_id,)))
    return _ref(rows[0]) if rows else None


async def by_code(conn: Conn, production_id: int, chapter: int, number: int) -> ShotRef | None:
    rows = list(await conn.execute_fetchall(
        f"{_REF_SQL} WHERE c.production_id = ? AND c.number = ? AND s.number = ?",
        (production_id, chapter, number),
    ))
    return _ref(rows[0]) if rows else None


async def of_chapter(conn: Conn, chapter_id: int, *, include_omitted: bool = True) -> list[Shot]:
    where = "" if include_omitted else " AND status != 'omitted'"
    return await fetch_all(
        conn, Shot, f"SELECT * FROM shot WHERE chapter_id = ?{where} ORDER BY number",
        (chapter_id,),
    )


async def by_chapter(conn: Conn, production_id: int, *, include_omitted: bool = True
                     ) -> dict[int, list[Shot]]:
    """Every chapter's shots in one query (a feature film's plan would otherwise ask fifty
    times), each chapter's in order."""
    where = "" if include_omitted else " AND s.status != 'omitted'"
    found: dict[int, list[Shot]] = {}
    for shot in await fetch_all(
            conn, Shot, "SELECT s.* FROM shot s JOIN chapter c ON c.id = s.chapter_id"
                        f" WHERE c.production_id = ?{where} ORDER BY s.chapter_id, s.number",
            (production_id,)):
        found.setdefault(shot.chapter_id, []).append(shot)
    return found


async def of_production(conn: Conn, production_id: int) -> list[ShotRef]:
    rows = await conn.execute_fetchall(
        f"{_REF_SQL} WHERE c.production_id = ? ORDER BY c.number, s.number", (production_id,)
    )
    return [_ref(row) for row in rows]


async def create(
    conn: Conn, chapter_id: int, number: int, description: str, planned_duration: float,
    camera: str = "", characters: list[str] | None = None, notes: str = "",
) -> int:
    stamp = now()
    cursor = await conn.execute(
        "INSERT INTO shot (chapter_id, number, description, planned_duration, camera, characters,"
        " notes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (chapter_id, number, description, planned_duration, camera,
         json.dumps(characters or []), notes, stamp, stamp),
    )
    return int(cursor.lastrowid)


_EDITABLE = {
    "description", "planned_duration", "camera", "characters", "notes", "status",
    "approved_take_id",
}


async def update(conn: Conn, shot_id: int, **values: object) -> None:
    if "characters" in values and not isinstance(values["characters"], str):
        values["characters"] = json.dumps(values["characters"])
    await update_row(conn, "shot", shot_id, values, _EDITABLE)


async def take_counts(conn: Conn, shot_ids: list[int]) -> dict[int, int]:
    if not shot_ids:
        return {}
    marks = ",".join("?" * len(shot_ids))
    cursor = await conn.execute(
        f"SELECT shot_id, COUNT(*) FROM take WHERE shot_id IN ({marks}) GROUP BY shot_id",
        tuple(shot_ids),
    )
    return {row[0]: row[1] for row in await cursor.fetchall()}
