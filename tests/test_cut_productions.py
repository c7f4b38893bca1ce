"""Each production's cuts in their own folder (issue 22, items 5 and 16): two productions never
collide, the shared layout of earlier versions is moved on upgrade, and a cut finished before
a crash but never recorded is published at the next start instead of deleted."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from storage import cuts
from storage.productions import Production
from studio import mediastore
from studio.app import Studio
from studio.cut import build, layout
from studio.ops.settings import Settings, load_settings
from studio.production import board, shotlist
from studio.production.people import actor

ROOT = Path(__file__).resolve().parent.parent
SHOTS = """chapter,chapter_title,shot,description,duration
1,Dawn,1,Wide of the flats,0.5
1,Dawn,2,Pell's tracks,0.5
"""


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    return load_settings(data_dir=tmp_path / "data", cut_width=160, cut_height=90,
                         cut_credits_seconds=0.0, cut_keep=2)


async def production(studio: Studio, guild: int, title: str, shots: str = SHOTS) -> Production:
    prod = await board.setup(studio.db, guild, title, producer_role="Producer", max_chapters=2)
    who = await actor(studio.db, prod, "Pat", discord_id=guild * 10, is_producer=True)
    await shotlist.import_shots(studio.db, prod, who, shots.encode(), "shots.csv")
    return prod


async def retitle_shot(studio: Studio, prod: Production, text: str) -> None:
    """A change that makes the next cut's first slate (and segment) new."""
    who = await actor(studio.db, prod, "Pat", discord_id=prod.guild_id * 10, is_producer=True)
    await shotlist.import_shots(studio.db, prod, who,
                                SHOTS.replace("Wide of the flats", text).encode(), "v2.csv")


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` and its content's hash: what "untouched" means."""
    return {str(p.relative_to(folder)): mediastore.sha256_of(p)
            for p in sorted(folder.rglob("*")) if p.is_file()}


async def test_two_productions_building_alternately_keep_their_own_cuts(
    studio: Studio, settings: Settings
) -> None:
    tide = await production(studio, 1, "Low Tide")
    storm = await production(studio, 2, "Storm")  # the same shots: the same cache keys

    first = await build.build(studio, tide)
    other = await build.build(studio, storm)  # failed with "Directory not empty" before
    assert (first.cut.version, other.cut.version) == (1, 1)
    assert first.directory == settings.cuts_path / f"production-{tide.id}" / "0001"
    assert other.directory == settings.cuts_path / f"production-{storm.id}" / "0001"
    await build.handed_off(other)  # Storm's cut whole, its package written after publication
    storm_files = snapshot(layout.cuts_home(settings, storm.id))
    storm_cache = snapshot(layout.cache_home(settings, storm.id))

    # Low Tide builds three more cuts, each with a new slate: its retention (keep 2) runs
    # three times and its cache loses the segments its old cuts used.
    for n in range(3):
        await retitle_shot(studio, tide, f"Wide of the flats take {n}")
        last = await build.build(studio, tide)
    await build.handed_off(last)

    assert sorted(p.name for p in layout.cuts_home(settings, tide.id).iterdir()
                  if p.name.isdigit()) == ["0003", "0004"]
    # Storm's cut, its latest link and its cache are exactly as they were.
    assert snapshot(layout.cuts_home(settings, storm.id)) == storm_files
    assert snapshot(layout.cache_home(settings, storm.id)) == storm_cache
    assert layout.latest_link(settings, storm.id).resolve() == other.directory
    assert layout.latest_link(settings, tide.id).resolve() == \
        layout.cut_dir(settings, tide.id, 4)

    # And the other way round: Storm builds three times; Low Tide's two cuts are untouched.
    tide_files = snapshot(layout.cuts_home(settings, tide.id))
    for n in range(3):
        await retitle_shot(studio, storm, f"Clouds take {n}")
        await build.build(studio, storm)
    assert snapshot(layout.cuts_home(settings, tide.id)) == tide_files
    assert [c.version for c in await cuts.published(studio.db.reader, tide.id)] == [4, 3, 2, 1]
    kept = sorted(p.name for p in layout.cuts_home(settings, storm.id).iterdir()
                  if p.name.isdigit())
    assert kept == ["0003", "0004"]
    for prod in (tide, storm):  # every kept cut's row names its own folder
        for cut in (await cuts.published(studio.db.reader, prod.id))[:2]:
            assert Path(cut.path) == layout.cut_dir(settings, prod.id, cut.version)
            assert (Path(cut.path) / "film.mp4").is_file()


def _to_shared_layout(settings: Settings, prod: Production, db_file: Path) -> None:
    """Turn today's layout back into the one earlier versions wrote (cuts/<version>/, one
    shared cache and `latest`, rows naming cuts/<version>), at schema version 11."""
    import sqlite3

    home = layout.cuts_home(settings, prod.id)
    for folder in sorted(home.iterdir()):
        if folder.name.isdigit():
            os.rename(folder, settings.cuts_path / folder.name)
    newest = max(p.name for p in settings.cuts_path.iterdir() if p.name.isdigit())
    (settings.cuts_path / "latest").symlink_to(newest)
    (settings.cuts_path / ".building-0009").mkdir()  # a build the old layout never finished
    for cache in layout.cache_home(settings, prod.id).iterdir():
        os.rename(cache, settings.cache_path / cache.name)
    shutil.rmtree(home)
    shutil.rmtree(layout.cache_home(settings, prod.id))
    with sqlite3.connect(db_file) as conn:
        conn.execute("UPDATE cut SET path = ? || '/' || printf('%04d', version)"
                     " WHERE path != ''", (str(settings.cuts_path),))
        conn.execute("DELETE FROM schema_version WHERE version = 12")


async def test_the_shared_layout_is_moved_on_upgrade_losing_nothing(settings: Settings) -> None:
    studio = await Studio.open(settings)
    tide = await production(studio, 1, "Low Tide")
    before = [await build.build(studio, tide) for _ in range(2)]
    films = [mediastore.sha256_of(b.film) for b in before]
    await studio.close()
    _to_shared_layout(settings, tide, settings.database_path)
    assert (settings.cuts_path / "0001" / "film.mp4").is_file()
    # A crash during an earlier upgrade had moved the first folder already.
    home = layout.cuts_home(settings, tide.id)
    home.mkdir()
    os.rename(settings.cuts_path / "0001", home / "0001")

    studio = await Studio.open(settings)  # migration 0012 rewrites the rows' paths
    try:
        await build.at_start(studio)  # the folders follow them
        rows = await cuts.published(studio.db.reader, tide.id)
        assert [Path(c.path) for c in rows] == [home / "0002", home / "0001"]
        assert [mediastore.sha256_of(Path(c.path) / "film.mp4") for c in reversed(rows)] == films
        assert layout.latest_link(settings, tide.id).resolve() == home / "0002"
        assert sorted(p.name for p in settings.cuts_path.iterdir()) == [
            ".upgrade.lock", f"production-{tide.id}"]
        assert (layout.cache_home(settings, tide.id) / "segments").is_dir()
        assert not (settings.cache_path / "segments").exists()
        # Idempotent: a second start moves nothing, and the next cut reuses the moved cache.
        await build.at_start(studio)
        again = await build.build(studio, tide)
        assert again.cut.version == 3 and again.encoded == 0
        assert sorted(p.name for p in home.iterdir() if p.name.isdigit()) == ["0002", "0003"]
    finally:
        await studio.close()


CRASH_BETWEEN_PUBLISHING_AND_RECORDING = """
import asyncio, os, sys
from storage import cuts
from studio.app import Studio
from studio.cut import build
from studio.ops.settings import load_settings
from studio.production import board

async def crash(*args, **kwargs):
    os._exit(17)  # the process dies as the row is about to say "published"

async def main():
    studio = await Studio.open(load_settings())
    prod = await board.get(studio.db, int(sys.argv[1]))
    cuts.publish = crash
    await build.build(studio, prod)

asyncio.run(main())
"""


async def test_a_cut_finished_before_a_crash_is_published_at_the_next_start(
    studio: Studio, settings: Settings, tmp_path: Path
) -> None:
    tide = await production(studio, 1, "Low Tide")
    good = await build.build(studio, tide)
    await retitle_shot(studio, tide, "Wide of the flats at dusk")
    env = {**os.environ, "SLATE_DATA_DIR": str(settings.data_dir), "SLATE_CUT_WIDTH": "160",
           "SLATE_CUT_HEIGHT": "90", "SLATE_CUT_CREDITS_SECONDS": "0", "SLATE_CUT_KEEP": "2",
           "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASH_BETWEEN_PUBLISHING_AND_RECORDING, str(tide.guild_id),
        env=env, cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 17, err.decode()
    # The crash: cut 2's folder is in place, its row still says "building", and `latest`
    # still points at cut 1 (it is pointed last).
    folder = layout.cut_dir(settings, tide.id, 2)
    assert (folder / "film.mp4").is_file()
    [stuck] = await cuts.building(studio.db.reader, tide.id)
    assert stuck.version == 2
    assert layout.latest_link(settings, tide.id).resolve() == good.directory
    film = mediastore.sha256_of(folder / "film.mp4")

    await build.at_start(studio)  # the next start

    recovered = await cuts.latest(studio.db.reader, tide.id)
    assert recovered is not None and recovered.version == 2 and recovered.state == "published"
    assert Path(recovered.path) == folder and recovered.verdict == "verified"
    assert recovered.timeline_data["entries"][0]["description"] == "Wide of the flats at dusk"
    assert recovered.changelog.startswith("# Low Tide — cut 2")
    assert layout.latest_link(settings, tide.id).resolve() == folder
    # The next build keeps it (retention keeps 2: cuts 2 and 3) and numbers on from it.
    third = await build.build(studio, tide)
    assert third.cut.version == 3
    assert mediastore.sha256_of(folder / "film.mp4") == film
    assert not good.directory.exists()


async def test_the_next_build_recovers_the_crashed_cut_itself(
    studio: Studio, settings: Settings
) -> None:
    tide = await production(studio, 1, "Low Tide")
    await build.build(studio, tide)
    # The state the crash above leaves, made by hand: a finished folder, its row "building".
    async with studio.db.transaction() as tx:
        stuck = await cuts.start(tx, tide.id, "shell")
    shutil.copytree(layout.cut_dir(settings, tide.id, 1), layout.cut_dir(settings, tide.id, 2))
    next_cut = await build.build(studio, tide)
    assert next_cut.cut.version == 3
    row = await cuts.get(studio.db.reader, stuck.id)
    assert row is not None and row.state == "published"
    assert layout.cut_dir(settings, tide.id, 2).is_dir()


async def test_a_crashed_cut_recorded_by_an_earlier_release_is_published_with_its_timeline(
    studio: Studio, settings: Settings
) -> None:
    tide = await production(studio, 1, "Low Tide")
    await retitle_shot(studio, tide, "Wide of the flats at dawn")
    await build.build(studio, tide)
    async with studio.db.transaction() as tx:
        stuck = await cuts.start(tx, tide.id, "shell")
    folder = layout.cut_dir(settings, tide.id, 2)
    shutil.copytree(layout.cut_dir(settings, tide.id, 1), folder)
    # Earlier releases kept the timeline inside record.json (and a compact timeline.json).
    record = json.loads((folder / "record.json").read_text(encoding="utf-8"))
    record["timeline"] = json.loads((folder / "timeline.json").read_text(encoding="utf-8"))
    (folder / "record.json").write_text(json.dumps(record), encoding="utf-8")
    (folder / "timeline.json").write_text(json.dumps(record["timeline"], separators=(",", ":")),
                                          encoding="utf-8")

    await build.at_start(studio)

    row = await cuts.get(studio.db.reader, stuck.id)
    assert row is not None and row.state == "published"
    assert row.timeline_data["entries"][0]["description"] == "Wide of the flats at dawn"
    assert row.timeline_data == record["timeline"]
