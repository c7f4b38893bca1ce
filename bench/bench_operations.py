"""Operations overheads, each against its bare floor measured in the same run.

- backup: `backups.backup_to` (online copy under the writer's lock, made self-contained and
  checked) of a production with 60 chapters × 10 shots and their audit rows, against SQLite's
  bare backup API copying the same file.
- log line: one event through Slate's handler (context tag, redaction of 5 secrets, one-line
  traceback-safe format) against the standard library's formatter, both to a null stream.
- readiness: GET /readyz (a real write in a transaction) against GET /livez on the same server.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from studio.app import Studio
from studio.ops import backups, health
from studio.ops.logging_setup import log_context, setup_logging
from studio.ops.settings import load_settings
from studio.production import board, shotlist
from studio.production.people import actor

CHAPTERS, SHOTS = 60, 10


def summary(bench: str, figure: float, floor: float, unit: str) -> dict:
    ratio = figure / floor
    print(f"{bench}: {figure:.4g} {unit} (floor {floor:.4g} {unit}, ratio {ratio:.2f})")
    return {"bench": bench, "figure": round(figure, 6), "floor": round(floor, 6),
            "ratio": round(ratio, 3), "unit": unit}


def shot_list() -> bytes:
    rows = ["chapter,chapter_title,shot,description,duration"]
    for c in range(1, CHAPTERS + 1):
        for s in range(1, SHOTS + 1):
            rows.append(f"{c},Chapter {c},{s},Shot {c}.{s} of the tide,{2 + s % 4}")
    return "\n".join(rows).encode()


def best_of(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


async def bench_backup(studio: Studio, folder: Path) -> dict:
    prod = await board.setup(studio.db, 1, "Bench Film")
    who = await actor(studio.db, prod, "Producer", is_producer=True)
    await shotlist.import_shots(studio.db, prod, who, shot_list(), "bench.csv")
    ours, bare = [], []
    for i in range(7):
        started = time.perf_counter()
        await backups.backup_to(studio.db, folder / f"ours-{i}.db")
        ours.append(time.perf_counter() - started)

        def floor(i: int = i) -> None:
            src = sqlite3.connect(studio.settings.database_path)
            dest = sqlite3.connect(folder / f"bare-{i}.db")
            src.backup(dest)
            dest.close()
            src.close()

        started = time.perf_counter()
        await asyncio.to_thread(floor)
        bare.append(time.perf_counter() - started)
    return summary("backup_600_shots", min(ours) * 1000, min(bare) * 1000, "ms")


def bench_logging(studio: Studio) -> dict:
    settings = studio.settings.model_copy(update={
        "discord_token": _secret("MTA5.discord.token.value"),
        "notion_token": _secret("ntn_notion_value"),
        "runway_api_secret": _secret("key_runway_value"),
        "replicate_api_token": _secret("r8_replicate_value"),
        "elevenlabs_api_key": _secret("sk_eleven_value"),
    })
    events = 20000
    ours_log = logging.getLogger("bench.ours")
    sink = io.StringIO()
    setup_logging(settings, sink)

    def ours() -> None:
        with log_context("interaction", 1234567890):
            for i in range(events):
                ours_log.info("vote %d on take %s by %s", i, "3.2 r4", "Maya")

    plain = logging.getLogger("bench.plain")
    plain.propagate = False
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    plain.addHandler(handler)
    plain.setLevel(logging.INFO)

    def floor() -> None:
        for i in range(events):
            plain.info("vote %d on take %s by %s", i, "3.2 r4", "Maya")

    figure = best_of(ours, 3) / events * 1e6
    bare = best_of(floor, 3) / events * 1e6
    logging.getLogger().handlers.clear()
    return summary("log_line", figure, bare, "µs")


def _secret(value: str) -> object:
    from pydantic import SecretStr

    return SecretStr(value)


async def bench_readiness(studio: Studio) -> dict:
    checks = health.Checks()
    checks.add("database", health.database_writable(studio.db))
    server = health.HealthServer(checks, port=0)
    await server.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
            async def timed(path: str, n: int = 200) -> float:
                samples = []
                for _ in range(n):
                    started = time.perf_counter()
                    async with http.get(path) as resp:
                        await resp.read()
                        assert resp.status == 200, path
                    samples.append(time.perf_counter() - started)
                return statistics.median(samples) * 1000

            await timed("/readyz", 20)
            ready = await timed("/readyz")
            live = await timed("/livez")
    finally:
        await server.stop()
    return summary("readyz_round_trip", ready, live, "ms")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = load_settings(data_dir=folder / "data")
        studio = await Studio.open(settings)
        try:
            results = [await bench_backup(studio, folder), bench_logging(studio),
                       await bench_readiness(studio)]
        finally:
            await studio.close()
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
