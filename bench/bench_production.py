"""Claims per second and a 5,000-shot import, beside a bare aiosqlite insert loop (the floor).

The floor is the same number of single-row INSERT transactions on a bare aiosqlite connection
with the same pragmas: the least any committed-before-told write could cost on this machine.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

import aiosqlite

from studio.app import Studio
from studio.ops.settings import load_settings
from studio.production import board, claims, shotlist
from studio.production.people import actor

CHAPTERS = 500
SHOTS = 5000


def shot_list(chapters: int, per_chapter: int) -> bytes:
    lines = ["chapter,chapter_title,shot,description,duration,camera,characters,notes"]
    for c in range(1, chapters + 1):
        for s in range(1, per_chapter + 1):
            lines.append(f'{c},Chapter {c},{s},"Shot {c}.{s}: the kite climbs",4,push in,'
                         f'Pell;Ada,note {s}')
    return ("\n".join(lines) + "\n").encode()


async def floor_inserts(path: Path, count: int) -> float:
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("PRAGMA synchronous = NORMAL")
    await conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, owner INTEGER, at TEXT)")
    start = time.perf_counter()
    for i in range(count):
        await conn.execute("BEGIN IMMEDIATE")
        await conn.execute("INSERT INTO t (owner, at) VALUES (?, ?)", (i, "now"))
        await conn.commit()
    elapsed = time.perf_counter() - start
    await conn.close()
    return elapsed


async def floor_bulk(path: Path, count: int) -> float:
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("CREATE TABLE s (id INTEGER PRIMARY KEY, c INTEGER, n INTEGER, d TEXT)")
    start = time.perf_counter()
    await conn.execute("BEGIN IMMEDIATE")
    for i in range(count):
        await conn.execute("INSERT INTO s (c, n, d) VALUES (?, ?, ?)", (i // 10, i % 10, "x"))
    await conn.commit()
    elapsed = time.perf_counter() - start
    await conn.close()
    return elapsed


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        studio = await Studio.open(load_settings(data_dir=root / "data"))
        prod = await board.setup(studio.db, 1, "Bench", max_chapters=1)
        producer = await actor(studio.db, prod, "P", discord_id=1, is_producer=True)

        data = shot_list(CHAPTERS, SHOTS // CHAPTERS)
        start = time.perf_counter()
        report = await shotlist.import_shots(studio.db, prod, producer, data, "bench.csv")
        import_s = time.perf_counter() - start
        assert len(report.added) == SHOTS
        start = time.perf_counter()
        again = await shotlist.import_shots(studio.db, prod, producer, data, "bench.csv")
        reimport_s = time.perf_counter() - start
        assert not again.changed

        crew = [await actor(studio.db, prod, f"m{i}", discord_id=100 + i)
                for i in range(CHAPTERS)]
        start = time.perf_counter()
        # Everyone claims at once: a chapter each, plus a contested second claim each.
        results = await asyncio.gather(
            *(claims.claim(studio.db, prod, who, i + 1) for i, who in enumerate(crew)),
            *(claims.claim(studio.db, prod, who, (i + 7) % CHAPTERS + 1)
              for i, who in enumerate(crew)),
            return_exceptions=True,
        )
        claims_s = time.perf_counter() - start
        await studio.close()
        won = sum(not isinstance(r, BaseException) for r in results)
        assert won == CHAPTERS, won

        floor_claim_s = await floor_inserts(root / "floor1.db", len(results))
        floor_import_s = await floor_bulk(root / "floor2.db", SHOTS)

    claims_per_s = len(results) / claims_s
    floor_per_s = len(results) / floor_claim_s
    print(f"claims: {len(results)} attempts ({won} won) in {claims_s:.2f} s = "
          f"{claims_per_s:,.0f}/s; floor (bare insert transactions) {floor_per_s:,.0f}/s; "
          f"ratio ours/floor {claims_per_s / floor_per_s:.2f}")
    print(f"import: {SHOTS} shots in {import_s:.2f} s (re-import, no change: {reimport_s:.2f} s);"
          f" floor (bare bulk insert) {floor_import_s:.3f} s; ratio "
          f"{import_s / floor_import_s:.1f}x")
    print(json.dumps({"bench": "claims per second", "figure": round(claims_per_s),
                      "floor": round(floor_per_s), "ratio": round(claims_per_s / floor_per_s, 2),
                      "unit": "claims/s"}))
    print(json.dumps({"bench": "import 5,000-shot list", "figure": round(import_s, 3),
                      "floor": round(floor_import_s, 3),
                      "ratio": round(import_s / floor_import_s, 2), "unit": "s"}))


if __name__ == "__main__":
    asyncio.run(main())
