"""Storage: migrations from empty and re-run, refusal of a newer schema, online backups."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from storage.db import Database, SchemaTooNew, apply_migrations, migrations
from storage.productions import Production
from studio.app import Studio
from studio.production import board, claims
from studio.production.people import actor

MODEL_TABLES = {"production", "member", "chapter", "shot", "take", "media_file", "stem", "vote",
                "job", "cut", "audit", "character", "timer", "schema_version"}


async def test_migrations_from_empty_and_rerun(tmp_path: Path) -> None:
    path = tmp_path / "slate.db"
    db = await Database.open(path)
    newest = migrations()[-1][0]
    assert await db.schema_version() == newest
    await db.close()

    again = await Database.open(path)  # re-running applies nothing and loses nothing
    assert await again.schema_version() == newest
    await again.close()

    raw = sqlite3.connect(path)
    tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    versions = [r[0] for r in raw.execute("SELECT version FROM schema_version ORDER BY version")]
    assert MODEL_TABLES <= tables
    assert versions == [v for v, _, _ in migrations()]
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


async def test_foreign_keys_are_enforced(studio: Studio) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        async with studio.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO chapter (production_id, number, title, created_at, updated_at)"
                " VALUES (999, 1, 'x', 'now', 'now')"
            )


async def test_a_newer_schema_refuses_to_start(tmp_path: Path) -> None:
    path = tmp_path / "slate.db"
    db = await Database.open(path)
    await db.close()
    raw = sqlite3.connect(path)
    raw.execute("INSERT INTO schema_version (version, name) VALUES (9999, '9999_future.sql')")
    raw.commit()
    raw.close()
    with pytest.raises(SchemaTooNew, match="schema version 9999, newer than this Slate knows"):
        await Database.open(path)


async def test_a_failed_transaction_changes_nothing(studio: Studio, prod: Production) -> None:
    with pytest.raises(RuntimeError):
        async with studio.db.transaction() as tx:
            await tx.execute("UPDATE production SET title = 'Changed' WHERE id = ?", (prod.id,))
            raise RuntimeError("boom")
    assert (await board.get(studio.db, prod.guild_id)).title == "Test Film"


async def test_backup_is_consistent_while_claims_go_on(
    studio: Studio, sample: Production, tmp_path: Path
) -> None:
    crew = [await actor(studio.db, sample, f"c{i}", discord_id=i) for i in range(8)]

    async def claim_all() -> None:
        for i, who in enumerate(crew):
            await claims.claim(studio.db, sample, who, i + 1)
            await asyncio.sleep(0)

    target = tmp_path / "backups" / "copy.db"
    await asyncio.gather(claim_all(), studio.db.backup(target))
    await studio.db.backup(target)  # a second backup replaces the first atomically

    copy = await Database.open(target, migrate=False)
    try:
        original = [(c.chapter.number, c.owner_name, c.shots_total)
                    for c in await board.board(studio.db, sample)]
        copied = [(c.chapter.number, c.owner_name, c.shots_total)
                  for c in await board.board(copy, sample)]
        assert copied == original
        assert all(owner for _, owner, _ in copied)
        assert await copy.schema_version() == await studio.db.schema_version()
    finally:
        await copy.close()
    assert not (target.parent / "copy.db.partial").exists()


async def test_a_migration_that_landed_late_is_still_applied(tmp_path: Path) -> None:
    path = tmp_path / "slate.db"
    known = migrations()
    late = known[-2]  # as a parallel branch's migration merged after a newer one ran
    conn = await aiosqlite.connect(path, isolation_level=None)
    applied = await apply_migrations(conn, [m for m in known if m[0] != late[0]])
    await conn.close()
    assert late[0] not in applied and applied[-1] == known[-1][0]

    db = await Database.open(path)  # the missing number runs although newer ones already did
    await db.close()
    raw = sqlite3.connect(path)
    versions = [r[0] for r in raw.execute("SELECT version FROM schema_version ORDER BY version")]
    raw.close()
    assert versions == [v for v, _, _ in known]


async def test_a_read_in_progress_never_hides_a_later_commit(studio: Studio,
                                                              sample: Production) -> None:
    """Found by the soak: a job's own submission, committed, read back as still queued.

    One coroutine's read sat between its execute and its fetch, holding the shared reader's
    snapshot open; every other read on the reader saw the database as it was before."""
    from storage import shots

    listing = await studio.db.reader.execute("SELECT id FROM shot ORDER BY id")
    first = await listing.fetchone()
    async with studio.db.transaction() as tx:
        await tx.execute("UPDATE shot SET description = 'changed' WHERE id = ?", (first[0],))
    found = await shots.get(studio.db.reader, first[0])
    assert found is not None and found.description == "changed"
    assert len(await listing.fetchall()) == 39  # the rest of the first read, as it began


async def test_a_writer_cancelled_mid_statement_leaves_the_next_one_working(
        tmp_path: Path) -> None:
    """A lease renewal cancelled while its BEGIN or COMMIT is on aiosqlite's thread must not
    leave the shared writer inside a transaction nobody owns."""
    db = await Database.open(tmp_path / "slate.db")
    try:
        async with db.transaction() as tx:
            await tx.execute("CREATE TABLE note (n INTEGER)")

        async def write(n: int, hold: asyncio.Event | None = None) -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO note VALUES (?)", (n,))
                if hold is not None:
                    hold.set()

        for step in range(3):  # cancelled at its BEGIN, then at its INSERT, then at COMMIT
            task = asyncio.create_task(write(step))
            for _ in range(step + 1):
                await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await write(100 + step)  # raised "within a transaction" before the fix
        rows = [r[0] for r in await db.reader.execute_fetchall("SELECT n FROM note ORDER BY n")]
        assert rows[-3:] == [100, 101, 102]
        # A cancelled write either committed whole or left nothing: never a stray row.
        assert set(rows) - {100, 101, 102} <= {0, 1, 2}
    finally:
        await db.close()
