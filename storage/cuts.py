"""Cuts: every build of the film, its timeline, its verdict and its report."""

from __future__ import annotations

import json
from dataclasses import dataclass

from storage.rows import Conn, fetch_all, fetch_one, now, scalar


@dataclass(frozen=True)
class Cut:
    id: int
    production_id: int
    version: int
    state: str
    timeline: str
    path: str
    duration: float | None
    verdict: str
    started_at: str
    finished_at: str | None
    changelog: str = ""
    shots_total: int = 0
    shots_approved: int = 0
    broken: str = "[]"
    trigger: str = "manual"

    @property
    def timeline_data(self) -> dict:
        return json.loads(self.timeline or "{}")

    @property
    def broken_takes(self) -> list[dict]:
        return list(json.loads(self.broken or "[]"))


async def get(conn: Conn, cut_id: int) -> Cut | None:
    return await fetch_one(conn, Cut, "SELECT * FROM cut WHERE id = ?", (cut_id,))


async def start(conn: Conn, production_id: int, trigger: str) -> Cut:
    """A new cut numbered after the last one, in state 'building'."""
    version = int(await scalar(conn, "SELECT COALESCE(MAX(version), 0) + 1 FROM cut"
                                     " WHERE production_id = ?", (production_id,)))
    cursor = await conn.execute(
        "INSERT INTO cut (production_id, version, state, started_at, trigger)"
        " VALUES (?, ?, 'building', ?, ?)", (production_id, version, now(), trigger))
    made = await get(conn, int(cursor.lastrowid))
    assert made is not None
    return made


async def publish(
    conn: Conn, cut_id: int, *, timeline: str, path: str, duration: float, verdict: str,
    changelog: str, shots_total: int, shots_approved: int, broken: list[dict],
) -> None:
    await conn.execute(
        "UPDATE cut SET state = 'published', timeline = ?, path = ?, duration = ?, verdict = ?,"
        " changelog = ?, shots_total = ?, shots_approved = ?, broken = ?, finished_at = ?"
        " WHERE id = ?",
        (timeline, path, duration, verdict, changelog, shots_total,
         shots_approved, json.dumps(broken), now(), cut_id))


async def fail(conn: Conn, cut_id: int, verdict: str, broken: list[dict] | None = None) -> None:
    await conn.execute(
        "UPDATE cut SET state = 'failed', verdict = ?, broken = ?, finished_at = ? WHERE id = ?",
        (verdict[:2000], json.dumps(broken or []), now(), cut_id))


async def abandon_stale(conn: Conn, production_id: int) -> int:
    """Builds left 'building' by a crash are failed: no build runs while this is called."""
    cursor = await conn.execute(
        "UPDATE cut SET state = 'failed', verdict = 'interrupted (the build did not finish)',"
        " finished_at = ? WHERE production_id = ? AND state = 'building'",
        (now(), production_id))
    return cursor.rowcount


async def latest(conn: Conn, production_id: int, *, state: str | None = "published") -> Cut | None:
    where = "" if state is None else " AND state = ?"
    args: tuple = (production_id,) if state is None else (production_id, state)
    return await fetch_one(conn, Cut, f"SELECT * FROM cut WHERE production_id = ?{where}"
                                      " ORDER BY version DESC LIMIT 1", args)


async def published(conn: Conn, production_id: int) -> list[Cut]:
    return await fetch_all(conn, Cut, "SELECT * FROM cut WHERE production_id = ?"
                                      " AND state = 'published' ORDER BY version DESC",
                           (production_id,))


async def published_versions(conn: Conn, production_id: int) -> list[int]:
    """The production's published versions, newest first (retention needs no timelines)."""
    rows = await conn.execute_fetchall("SELECT version FROM cut WHERE production_id = ?"
                                       " AND state = 'published' ORDER BY version DESC",
                                       (production_id,))
    return [int(row[0]) for row in rows]


async def latest_timeline(conn: Conn, production_id: int) -> tuple[str, str] | None:
    """The latest published cut's timeline text and its broken takes' JSON: all the nightly
    check needs, without the rest of the row."""
    rows = list(await conn.execute_fetchall(
        "SELECT timeline, broken FROM cut WHERE production_id = ? AND state = 'published'"
        " ORDER BY version DESC LIMIT 1", (production_id,)))
    return (str(rows[0][0] or ""), str(rows[0][1] or "[]")) if rows else None


async def set_path(conn: Conn, cut_id: int, path: str) -> None:
    """A cut past retention keeps its row (history) but no longer its files."""
    await conn.execute("UPDATE cut SET path = ? WHERE id = ?", (path, cut_id))


async def recent(conn: Conn, production_id: int, limit: int = 20) -> list[Cut]:
    return await fetch_all(conn, Cut, "SELECT * FROM cut WHERE production_id = ?"
                                      " ORDER BY version DESC LIMIT ?", (production_id, limit))


async def building(conn: Conn, production_id: int) -> list[Cut]:
    """The production's cuts whose rows say a build is under way (or was, before a crash)."""
    return await fetch_all(conn, Cut, "SELECT * FROM cut WHERE production_id = ?"
                                      " AND state = 'building' ORDER BY version",
                           (production_id,))


async def all_published(conn: Conn) -> list[Cut]:
    """Every production's published cuts (the layout upgrade places their folders)."""
    return await fetch_all(conn, Cut, "SELECT * FROM cut WHERE state = 'published'"
                                      " ORDER BY production_id, version")


async def production_ids(conn: Conn) -> list[int]:
    """Every production's id, cuts or not."""
    cursor = await conn.execute("SELECT id FROM production ORDER BY id")
    return [int(row[0]) for row in await cursor.fetchall()]


async def kept_media(conn: Conn, keep: int) -> set[str]:
    """The media every production's newest `keep` published cuts are made of (their takes
    and stems, as their timelines recorded them): never garbage, while those cuts are kept."""
    cursor = await conn.execute(
        "SELECT timeline FROM (SELECT timeline, ROW_NUMBER() OVER (PARTITION BY production_id"
        " ORDER BY version DESC) AS n FROM cut WHERE state = 'published') WHERE n <= ?",
        (keep,))
    found: set[str] = set()
    for row in await cursor.fetchall():
        data = json.loads(row[0] or "{}")
        for item in [*data.get("entries", []), *data.get("stems", [])]:
            if item.get("media_sha256"):
                found.add(str(item["media_sha256"]))
    return found
