"""Queries for running the bot: the readiness write, job counts, and which media rows are used.

Which columns point at a media file is read from the schema itself (every foreign key to
media_file), so a table that a later migration adds is counted without changing this module.
"""

from __future__ import annotations

import re

from storage.rows import Conn, now

_SHA256 = re.compile(r"\b[0-9a-f]{64}\b")


async def touch_probe(conn: Conn) -> str:
    """Rewrite the one probe row (a real write); returns the time written."""
    at = now()
    await conn.execute(
        "INSERT INTO health_probe (id, at) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET at = ?",
        (at, at),
    )
    return at


async def job_counts(conn: Conn) -> dict[tuple[str, str], int]:
    """Jobs by (state, provider)."""
    cursor = await conn.execute("SELECT state, provider, COUNT(*) FROM job GROUP BY 1, 2")
    return {(row[0], row[1]): int(row[2]) for row in await cursor.fetchall()}


async def media_references(conn: Conn) -> list[tuple[str, str]]:
    """Every (table, column) that holds a foreign key to media_file."""
    cursor = await conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name != 'media_file' ORDER BY name"
    )
    tables = [row[0] for row in await cursor.fetchall()]
    found = []
    for table in tables:
        cursor = await conn.execute("SELECT * FROM pragma_foreign_key_list(?)", (table,))
        for fk in await cursor.fetchall():
            if fk["table"] == "media_file":
                found.append((table, fk["from"]))
    return found


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _character_images(conn: Conn) -> set[str]:
    # Reference images are a JSON list inside a text column: no foreign key can name them.
    cursor = await conn.execute("SELECT reference_images FROM character")
    found: set[str] = set()
    for row in await cursor.fetchall():
        found.update(_SHA256.findall(row[0] or ""))
    return found


async def used_media(conn: Conn) -> set[str]:
    """Hashes that some row other than media_file itself points at."""
    used: set[str] = set()
    for table, column in await media_references(conn):
        cursor = await conn.execute(
            f"SELECT DISTINCT {_quote(column)} FROM {_quote(table)}"
            f" WHERE {_quote(column)} IS NOT NULL"
        )
        used.update(row[0] for row in await cursor.fetchall())
    return used | await _character_images(conn)


async def known_media(conn: Conn) -> dict[str, str]:
    """Hashes that have a media_file row, with the row's creation time."""
    cursor = await conn.execute("SELECT sha256, created_at FROM media_file")
    return {row[0]: row[1] for row in await cursor.fetchall()}


async def delete_media_rows(conn: Conn, hashes: set[str]) -> int:
    """Delete these media_file rows; the caller has checked, in the same transaction, that
    nothing uses them (a foreign key would refuse it anyway)."""
    deleted = 0
    for sha in sorted(hashes):
        cursor = await conn.execute("DELETE FROM media_file WHERE sha256 = ?", (sha,))
        deleted += cursor.rowcount
    return deleted


async def queue_activity(conn: Conn, at: str) -> tuple[str | None, str | None]:
    """When the longest-waiting ready queued job began waiting, and the latest change to any job.

    A queued job is ready once its not_before (a retry's back-off) has passed; it waits from
    its last change or its back-off's end, whichever is later.
    """
    cursor = await conn.execute(
        "SELECT MIN(MAX(updated_at, COALESCE(not_before, updated_at))) FROM job"
        " WHERE state = 'queued' AND (not_before IS NULL OR not_before <= ?)", (at,))
    waiting = (await cursor.fetchone())[0]
    cursor = await conn.execute("SELECT MAX(updated_at) FROM job")
    changed = (await cursor.fetchone())[0]
    return waiting, changed
