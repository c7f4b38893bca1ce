"""A night with nothing new, early in a production: 600 planned shots, none approved yet, so
the cut is 600 slates (and the credits) at the default 640x360 profile. Every card's segment
is cached from the first night; the figure is the next nights' build, beside the floor
measured in the same run (ffmpeg's concat demuxer with stream copy over the same segments).

A card is found by what it shows (studio/slates.py's keys), so an unchanged slate is neither
drawn nor encoded again; what remains is the build's own work: planning, the sound's cache
lookups, the reels, the film written and verified, the editorial files.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench_cut import floor_concat  # the same floor: this folder is the script's path

from studio.app import Studio
from studio.cut import build, normalize
from studio.ops.settings import load_settings
from studio.production import board, shotlist
from studio.production.people import actor

CHAPTERS = 30
PER_CHAPTER = 20
NIGHTS = 3


def shot_list() -> bytes:
    lines = ["chapter,chapter_title,shot,description,duration"]
    lines += [f"{c},Chapter {c},{s},\"Shot {c}.{s}: the kite climbs over the flats\",0.5"
              for c in range(1, CHAPTERS + 1) for s in range(1, PER_CHAPTER + 1)]
    return ("\n".join(lines) + "\n").encode()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        studio = await Studio.open(load_settings(data_dir=root / "data", cut_keep=2))
        await normalize.warm()
        prod = await board.setup(studio.db, 1, "Bench")
        producer = await actor(studio.db, prod, "P", discord_id=1, is_producer=True)
        await shotlist.import_shots(studio.db, prod, producer, shot_list(), "bench.csv")
        start = time.perf_counter()
        first = await build.build(studio, prod)
        first_s = time.perf_counter() - start
        builds, floors = [], []
        last = first
        for n in range(NIGHTS):
            floors.append(floor_concat(last.directory / "segments.txt", root / f"f{n}a.mp4"))
            start = time.perf_counter()
            last = await build.build(studio, prod)
            builds.append(time.perf_counter() - start)
            assert last.encoded == 0, last  # nothing new: every card's segment is reused
            floors.append(floor_concat(last.directory / "segments.txt", root / f"f{n}b.mp4"))
        await studio.close()
    night_s, floor_s = statistics.median(builds), statistics.median(floors)
    print(f"first night: {len(first.timeline.entries)} slates and cards made in {first_s:.2f} s")
    print(f"unchanged nights (median of {NIGHTS}: {', '.join(f'{b:.2f}' for b in builds)} s): "
          f"{night_s:.2f} s; floor (concat copy of the same segments) {floor_s:.2f} s; "
          f"ratio {night_s / floor_s:.2f}")
    spent = ", ".join(f"{k} {v:.2f}" for k, v in last.timings.items())
    print(f"  by stage (s): {spent}")
    print(json.dumps({"bench": "cut, unchanged night of 600 slates", "figure": round(night_s, 3),
                      "floor": round(floor_s, 3), "ratio": round(night_s / floor_s, 2),
                      "unit": "s"}))


if __name__ == "__main__":
    asyncio.run(main())
