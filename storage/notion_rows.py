"""The Notion sync's memory: each production's databases, and per row its page and hashes.

Also the read models the sync pushes: chapters and shots with owners, approved takes and votes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from storage.rows import Conn, fetch_all, fetch_one, now, scalar, update_row


@dataclass(frozen=True)
class NotionLink:
    production_id: int
    parent_page_id: str | None
    chapters_database_id: str
    chapters_data_source_id: str
    shots_database_id: str
    shots_data_source_id: str
    chapters_title: str
    shots_title: str
    notion_owned: str
    last_pull_at: str | None
    last_sync_at: str | None
    last_report: str
    connected_at: str = ""
    updated_at: str = ""

    @property
    def notion_owned_fields(self) -> list[str]:
        return list(json.loads(self.notion_owned or "[]"))


@dataclass(frozen=True)
class NotionRow:
    production_id: int
    key: str
    entity: str
    entity_id: int
    page_id: str | None
    pushed_hash: str | None
    pulled_hash: str | None
    pushed_at: str | None = None
    pulled_at: str | None = None


async def link(conn: Conn, production_id: int) -> NotionLink | None:
    return await fetch_one(conn, NotionLink, "SELECT * FROM notion_link WHERE production_id = ?",
                           (production_id,))


async def linked_productions(conn: Conn) -> list[int]:
    cursor = await conn.execute("SELECT production_id FROM notion_link ORDER BY production_id")
    return [row[0] for row in await cursor.fetchall()]


async def save_link(
    conn: Conn, production_id: int, *, parent_page_id: str | None, chapters_database_id: str,
    chapters_data_source_id: str, shots_database_id: str, shots_data_source_id: str,
    chapters_title: str, shots_title: str, notion_owned: list[str],
) -> None:
    """Connect (or reconnect) a production; a different database forgets the old pages."""
    before = await link(conn, production_id)
    stamp = now()
    await conn.execute(
        "INSERT INTO notion_link (production_id, parent_page_id, chapters_database_id,"
        " chapters_data_source_id, shots_database_id, shots_data_source_id, chapters_title,"
        " shots_title, notion_owned, connected_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (production_id) DO UPDATE SET parent_page_id = excluded.parent_page_id,"
        " chapters_database_id = excluded.chapters_database_id,"
        " chapters_data_source_id = excluded.chapters_data_source_id,"
        " shots_database_id = excluded.shots_database_id,"
        " shots_data_source_id = excluded.shots_data_source_id,"
        " chapters_title = excluded.chapters_title, shots_title = excluded.shots_title,"
        " notion_owned = excluded.notion_owned, updated_at = excluded.updated_at",
        (production_id, parent_page_id, chapters_database_id, chapters_data_source_id,
         shots_database_id, shots_data_source_id, chapters_title, shots_title,
         json.dumps(sorted(notion_owned)), stamp, stamp),
    )
    if before is not None and (before.chapters_data_source_id != chapters_data_source_id
                               or before.shots_data_source_id != shots_data_source_id):
        await conn.execute("DELETE FROM notion_row WHERE production_id = ?", (production_id,))
        await conn.execute("UPDATE notion_link SET last_pull_at = NULL WHERE production_id = ?",
                           (production_id,))


async def set_pulled(conn: Conn, production_id: int, pulled_at: str) -> None:
    await conn.execute("UPDATE notion_link SET last_pull_at = ? WHERE production_id = ?",
                       (pulled_at, production_id))


async def set_synced(conn: Conn, production_id: int, report: str) -> None:
    await conn.execute(
        "UPDATE notion_link SET last_sync_at = ?, last_report = ? WHERE production_id = ?",
        (now(), report, production_id),
    )


async def rows(conn: Conn, production_id: int) -> dict[str, NotionRow]:
    found = await fetch_all(conn, NotionRow, "SELECT * FROM notion_row WHERE production_id = ?",
                            (production_id,))
    return {r.key: r for r in found}


async def save_row(
    conn: Conn, production_id: int, key: str, entity: str, entity_id: int, *,
    page_id: str | None, pushed_hash: str | None, pulled_hash: str | None,
    pushed: bool = False, pulled: bool = False,
) -> None:
    stamp = now()
    await conn.execute(
        "INSERT INTO notion_row (production_id, key, entity, entity_id, page_id, pushed_hash,"
        " pulled_hash, pushed_at, pulled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (production_id, key) DO UPDATE SET entity_id = excluded.entity_id,"
        " page_id = excluded.page_id, pushed_hash = excluded.pushed_hash,"
        " pulled_hash = excluded.pulled_hash,"
        " pushed_at = COALESCE(excluded.pushed_at, notion_row.pushed_at),"
        " pulled_at = COALESCE(excluded.pulled_at, notion_row.pulled_at)",
        (production_id, key, entity, entity_id, page_id, pushed_hash, pulled_hash,
         stamp if pushed else None, stamp if pulled else None),
    )


async def forget_page(conn: Conn, production_id: int, key: str) -> None:
    """The page is gone from Notion: the next push creates it again."""
    await conn.execute(
        "UPDATE notion_row SET page_id = NULL, pushed_hash = NULL"
        " WHERE production_id = ? AND key = ?", (production_id, key),
    )


# --- what the sync pushes -------------------------------------------------------------------

@dataclass(frozen=True)
class ChapterFacts:
    id: int
    number: int
    title: str
    synopsis: str
    status: str
    owner_name: str | None
    due_date: str | None
    priority: str
    notes: str
    updated_at: str


@dataclass(frozen=True)
class ShotFacts:
    id: int
    chapter_id: int
    chapter_number: int
    number: int
    description: str
    status: str
    owner_name: str | None
    due_date: str | None
    priority: str
    notes: str
    planned_duration: float
    updated_at: str
    approved_revision: int | None
    approved_provider: str | None
    approved_sha256: str | None
    approved_duration: float | None
    takes: int
    votes: float | None


async def chapter_facts(conn: Conn, production_id: int) -> list[ChapterFacts]:
    return await fetch_all(
        conn, ChapterFacts,
        "SELECT c.*, m.name AS owner_name FROM chapter c LEFT JOIN member m ON m.id = c.owner_id"
        " WHERE c.production_id = ? ORDER BY c.number", (production_id,),
    )


async def shot_facts(conn: Conn, production_id: int) -> list[ShotFacts]:
    # A shot's vote score: its approved take's, else its best candidate's (NULL with no takes).
    return await fetch_all(
        conn, ShotFacts,
        "WITH score AS (SELECT t.id AS take_id, t.shot_id,"
        "   COALESCE(SUM(v.value * v.weight), 0) AS total"
        "   FROM take t JOIN shot s ON s.id = t.shot_id JOIN chapter c ON c.id = s.chapter_id"
        "   LEFT JOIN vote v ON v.take_id = t.id WHERE c.production_id = ? GROUP BY t.id),"
        " per_shot AS (SELECT shot_id, COUNT(*) AS takes, MAX(total) AS best FROM score"
        "   GROUP BY shot_id)"
        " SELECT s.*, c.number AS chapter_number, m.name AS owner_name,"
        " a.revision AS approved_revision, a.provider AS approved_provider,"
        " a.media_sha256 AS approved_sha256, mf.duration AS approved_duration,"
        " COALESCE(ps.takes, 0) AS takes,"
        " CASE WHEN a.id IS NOT NULL THEN (SELECT total FROM score WHERE take_id = a.id)"
        "   ELSE ps.best END AS votes"
        " FROM shot s JOIN chapter c ON c.id = s.chapter_id"
        " LEFT JOIN member m ON m.id = c.owner_id"
        " LEFT JOIN take a ON a.id = s.approved_take_id"
        " LEFT JOIN media_file mf ON mf.sha256 = a.media_sha256"
        " LEFT JOIN per_shot ps ON ps.shot_id = s.id"
        " WHERE c.production_id = ? ORDER BY c.number, s.number",
        (production_id, production_id),
    )


async def latest_cut_version(conn: Conn, production_id: int) -> int | None:
    return await scalar(
        conn, "SELECT MAX(version) FROM cut WHERE production_id = ? AND state = 'published'",
        (production_id,),
    )


async def change_signature(conn: Conn, production_id: int) -> tuple:
    """A cheap fingerprint of everything the push sends: it moves whenever a push is due."""
    cursor = await conn.execute(
        "SELECT (SELECT MAX(updated_at) FROM chapter WHERE production_id = ?),"
        " (SELECT MAX(s.updated_at) || COUNT(*) FROM shot s JOIN chapter c"
        "   ON c.id = s.chapter_id WHERE c.production_id = ?),"
        " (SELECT MAX(id) FROM audit WHERE production_id = ?),"
        " (SELECT COUNT(*) || ':' || COALESCE(MAX(t.id), 0) FROM take t JOIN shot s"
        "   ON s.id = t.shot_id JOIN chapter c ON c.id = s.chapter_id"
        "   WHERE c.production_id = ?),"
        " (SELECT COUNT(*) || ':' || COALESCE(SUM(v.value * v.weight), 0) || ':'"
        "   || COALESCE(MAX(v.cast_at), '') FROM vote v JOIN take t ON t.id = v.take_id"
        "   JOIN shot s ON s.id = t.shot_id JOIN chapter c ON c.id = s.chapter_id"
        "   WHERE c.production_id = ?),"
        " (SELECT MAX(version) FROM cut WHERE production_id = ? AND state = 'published')",
        (production_id,) * 6,
    )
    return tuple(await cursor.fetchone())


async def update_chapter_fields(conn: Conn, chapter_id: int, values: dict[str, object]) -> None:
    await _update(conn, "chapter", chapter_id, values,
                  {"title", "synopsis", "due_date", "priority", "notes"})


async def update_shot_fields(conn: Conn, shot_id: int, values: dict[str, object]) -> None:
    await _update(conn, "shot", shot_id, values,
                  {"description", "planned_duration", "due_date", "priority", "notes"})


async def _update(conn: Conn, table: str, row_id: int, values: dict[str, object],
                  allowed: set[str]) -> None:
    await update_row(conn, table, row_id, values, allowed, refusal="not pulled from Notion")


async def row(conn: Conn, production_id: int, key: str) -> NotionRow | None:
    return await fetch_one(conn, NotionRow,
                           "SELECT * FROM notion_row WHERE production_id = ? AND key = ?",
                           (production_id, key))


async def take_sync_lease(conn: Conn, production_id: int, holder: str, until: str) -> bool:
    """Take (or renew) the production's sync lease unless another holder's is unexpired."""
    cursor = await conn.execute(
        "INSERT INTO notion_sync_lease (production_id, holder, lease_until) VALUES (?, ?, ?)"
        " ON CONFLICT (production_id) DO UPDATE SET holder = excluded.holder,"
        " lease_until = excluded.lease_until"
        " WHERE notion_sync_lease.holder = excluded.holder OR notion_sync_lease.lease_until < ?",
        (production_id, holder, until, now()),
    )
    return cursor.rowcount == 1


async def drop_sync_lease(conn: Conn, production_id: int, holder: str) -> None:
    await conn.execute("DELETE FROM notion_sync_lease WHERE production_id = ? AND holder = ?",
                       (production_id, holder))
