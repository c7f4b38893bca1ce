"""Backups are consistent while the bot writes; restore checks what it restores; gc is careful."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import time
from datetime import UTC, datetime
from datetime import time as dt_time
from pathlib import Path

import pytest

import shell
from storage import audit, productions
from storage.db import Database
from storage.rows import now
from studio.app import Studio
from studio.ops import backups
from studio.ops.backups import BackupError
from studio.ops.settings import Settings
from studio.production import board as production_board
from studio.production import claims
from studio.production.people import actor


async def _title_and_updates(path: Path) -> tuple[str, int]:
    db = await Database.open(path, migrate=False)
    try:
        found = await productions.by_guild(db.reader, 1)
        assert found is not None
        updates = [e for e in await audit.for_entity(db.reader, "production", found.id)
                   if e.action == "update"]
        return found.title, len(updates)
    finally:
        await db.close()


async def test_backup_while_another_process_writes_is_consistent(
        studio: Studio, settings: Settings, prod: object) -> None:
    # A second connection stands for the running bot; the backup is the shell's.
    bot_db = await Database.open(settings.database_path)
    stop = asyncio.Event()

    async def bot_writes() -> int:
        n = 0
        while not stop.is_set():
            n += 1
            # One transaction changes the title and writes its audit row: both or neither.
            await production_board.setup(bot_db, 1, f"Cut {n}")
        return n

    writer = asyncio.create_task(bot_writes())
    made = []
    try:
        for _ in range(4):
            await asyncio.sleep(0.02)
            made.append(await backups.backup_now(studio))
    finally:
        stop.set()
        written = await writer
        await bot_db.close()

    assert written > 4
    seen = set()
    for path in made:
        title, updates = await _title_and_updates(path)
        assert title == f"Cut {updates}"
        seen.add(updates)
        assert not path.with_name(path.name + "-wal").exists()  # one self-contained file
    assert len(seen) > 1  # the backups really were taken while writes went on


async def test_backup_keeps_the_newest(studio: Studio) -> None:
    studio.settings = studio.settings.model_copy(update={"backup_keep": 2})
    made = [await backups.backup_now(studio) for _ in range(4)]
    assert backups.backups(studio.settings) == made[-2:]
    assert [p.exists() for p in made] == [False, False, True, True]


async def test_restore_round_trip(settings: Settings, sample: object, studio: Studio) -> None:
    prod = await production_board.get(studio.db, 1)
    saved = await backups.backup_now(studio)
    maya = await actor(studio.db, prod, "Maya")
    await claims.claim(studio.db, prod, maya, 3)
    await studio.close()

    report = backups.restore(settings, saved)
    assert report.kept == settings.database_path.with_name("slate.db.before-restore")

    restored = await Studio.open(settings)
    try:
        chapter = await production_board.chapter(restored.db, prod, 3)
        assert chapter.owner_id is None and chapter.status == "open"
    finally:
        await restored.close()
    kept = await Database.open(report.kept, migrate=False)
    try:
        board = await production_board.board(kept, prod)
        assert board[2].owner_name == "Maya"  # the replaced database is all there
    finally:
        await kept.close()
    # The fixture closes `studio` again; reopen it so that stays harmless.
    studio.db = await Database.open(settings.database_path)


async def test_restore_refuses_what_it_cannot_use(settings: Settings, studio: Studio,
                                                  prod: object, tmp_path: Path) -> None:
    good = await backups.backup_now(studio)
    with pytest.raises(BackupError, match="in use"):
        backups.restore(settings, good)  # the studio still has the database open

    await studio.close()
    before = settings.database_path.read_bytes()
    not_db = tmp_path / "notes.db"
    not_db.write_bytes(b"not a database at all" * 10)
    with pytest.raises(BackupError, match="not an SQLite database"):
        backups.restore(settings, not_db)

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(BackupError, match="not a Slate database"):
        backups.restore(settings, other)

    newer = tmp_path / "newer.db"
    newer.write_bytes(good.read_bytes())
    with sqlite3.connect(newer) as conn:
        conn.execute("INSERT INTO schema_version (version, name) VALUES (9999, '9999_x.sql')")
    conn.close()
    with pytest.raises(BackupError, match="newer than this Slate"):
        backups.restore(settings, newer)

    with pytest.raises(BackupError, match="cannot read"):
        backups.restore(settings, tmp_path / "missing.db")

    assert settings.database_path.read_bytes() == before
    assert not settings.database_path.with_name("slate.db.before-restore").exists()
    studio.db = await Database.open(settings.database_path)


def _store(media: Path, content: bytes, *, age: float) -> tuple[str, Path]:
    sha = hashlib.sha256(content).hexdigest()
    path = media / sha[:2] / sha
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return sha, path


async def _media_row(studio: Studio, sha: str, created_at: str = "2020-01-01T00:00:00.000Z"
                     ) -> None:
    # The media store's repository belongs to another part; bare rows are enough for gc.
    async with studio.db.transaction() as tx:
        await tx.execute("INSERT INTO media_file (sha256, kind, size, created_at)"
                         " VALUES (?, 'video', 1, ?)", (sha, created_at))


async def _take(studio: Studio, media: str, preview: str) -> None:
    async with studio.db.transaction() as tx:
        cursor = await tx.execute("SELECT id FROM shot LIMIT 1")
        shot_id = (await cursor.fetchone())[0]
        await tx.execute(
            "INSERT INTO take (shot_id, revision, source, media_sha256, preview_sha256, kind,"
            " created_at) VALUES (?, 1, 'uploaded', ?, ?, 'video', ?)",
            (shot_id, media, preview, now()))


async def _rows(studio: Studio) -> set[str]:
    cursor = await studio.db.reader.execute("SELECT sha256 FROM media_file")
    return {r[0] for r in await cursor.fetchall()}


async def test_gc_dry_run_changes_nothing_and_delete_removes_only_unused(
        studio: Studio, settings: Settings, sample: object) -> None:
    media = settings.media_path
    used, used_path = _store(media, b"take 1.1 r1", age=7200)
    preview, preview_path = _store(media, b"take 1.1 r1 preview", age=7200)
    orphan_row, orphan_row_path = _store(media, b"a take since deleted", age=7200)
    _, stray_path = _store(media, b"never recorded", age=7200)
    _, young_path = _store(media, b"being stored right now", age=5)
    fresh_row, fresh_row_path = _store(media, b"row waiting for its take", age=7200)
    partial = media / used[:2] / f"{used}.partial"
    partial.write_bytes(b"upload in progress")
    for sha in (used, preview, orphan_row):
        await _media_row(studio, sha)
    await _media_row(studio, fresh_row, created_at=now())
    await _take(studio, used, preview)
    every_file = sorted(p for p in media.rglob("*") if p.is_file())
    rows = await _rows(studio)

    dry = await backups.collect_garbage(studio)
    assert sorted(dry.unused_files) == sorted([orphan_row_path, stray_path])
    assert dry.unused_rows == [orphan_row]
    assert dry.young_skipped == 1
    assert sorted(p for p in media.rglob("*") if p.is_file()) == every_file
    assert await _rows(studio) == rows

    done = await backups.collect_garbage(studio, delete=True)
    assert sorted(done.unused_files) == sorted(dry.unused_files)
    assert not orphan_row_path.exists() and not stray_path.exists()
    for kept in (used_path, preview_path, young_path, fresh_row_path, partial):
        assert kept.exists()
    assert await _rows(studio) == rows - {orphan_row}

    again = await backups.collect_garbage(studio, delete=True)
    assert again.unused_files == [] and again.unused_rows == []


def test_shell_backup_restore_and_gc(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SLATE_DATA_DIR", str(settings.data_dir))
    assert shell.main(["init", "--title", "Before"]) == 0
    assert shell.main(["backup"]) == 0
    saved = backups.backups(settings)
    assert len(saved) == 1
    assert shell.main(["init", "--title", "After"]) == 0
    assert shell.main(["restore", str(saved[0])]) == 0
    assert shell.main(["gc"]) == 0
    capsys.readouterr()
    assert shell.main(["chapters"]) == 0
    assert capsys.readouterr().out.startswith("Before\n")
    assert shell.main(["restore", str(settings.data_dir / "nope.db")]) == 1
    assert "cannot read" in capsys.readouterr().err


async def test_restore_onto_a_new_machine(settings: Settings, studio: Studio, prod: object,
                                          tmp_path: Path) -> None:
    saved = await backups.backup_now(studio)
    fresh = settings.model_copy(update={"data_dir": tmp_path / "new-machine"})
    report = backups.restore(fresh, saved)
    assert report.kept is None and report.database == fresh.database_path
    restored = await Studio.open(fresh)
    try:
        assert (await production_board.get(restored.db, 1)).title == "Test Film"
    finally:
        await restored.close()


def test_nightly_backup_time_follows_the_zone(settings: Settings) -> None:
    paris = settings.model_copy(update={"timezone": "Europe/Paris",
                                        "backup_time": dt_time(3, 30)})
    # 01:00 UTC on a winter night is 02:00 in Paris: the backup is due at 02:30 UTC.
    assert backups.next_nightly(paris, datetime(2026, 1, 10, 1, 0, tzinfo=UTC)) == \
        datetime(2026, 1, 10, 2, 30, tzinfo=UTC)
    # Past the time, it is tomorrow's; in summer Paris is UTC+2.
    assert backups.next_nightly(paris, datetime(2026, 7, 10, 1, 30, tzinfo=UTC)) == \
        datetime(2026, 7, 11, 1, 30, tzinfo=UTC)


async def test_a_copy_failing_its_check_is_never_published(settings: Settings) -> None:
    settings = settings.model_copy(update={"backup_keep": 1})
    studio = await Studio.open(settings)
    try:
        prod = await production_board.setup(studio.db, 1, "Low Tide")
        who = await actor(studio.db, prod, "Pat", is_producer=True)
        from studio.production import shotlist

        await shotlist.import_shots(studio.db, prod, who, b"chapter,chapter_title,shot,"
                                    b"description,duration\n1,Dawn,1,Wide,2\n1,Dawn,2,Close,2\n",
                                    "shots.csv")
        good = await backups.backup_now(studio)
        cursor = await studio.db.reader.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'index' AND tbl_name = 'shot'")
        rootpage = (await cursor.fetchone())[0]
        cursor = await studio.db.reader.execute("PRAGMA page_size")
        page_size = (await cursor.fetchone())[0]
    finally:
        await studio.close()  # the log is checkpointed into the file
    # A disk fault: one page of an index turns to garbage. SQLite's backup copies pages as
    # they are, so the copy is damaged the same way, and its check must catch it.
    with settings.database_path.open("r+b") as fh:
        fh.seek((rootpage - 1) * page_size)
        fh.write(b"\xff" * 8)

    studio = await Studio.open(settings)
    try:
        with pytest.raises(BackupError) as refused:
            await backups.backup_now(studio)
    finally:
        await studio.close()
    # Nothing new in the folder, not even a partial copy, and the good backup still counts
    # alone toward BACKUP_KEEP=1: the failed copy did not push it out.
    assert sorted(p.name for p in settings.backups_path.iterdir()) == [good.name]
    assert backups.check_copy(good) > 0
    assert refused.value.reason.startswith("no backup was kept: the copy failed its check")
    assert "damaged" in refused.value.reason
