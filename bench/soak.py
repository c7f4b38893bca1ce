"""A bounded soak on loopback: a steady mix of work for a fixed time, then nothing may be lost.

It runs the studio with its health port, drives a steady mix of work from several members at
once, takes backups, restarts the studio once half-way (close, reopen: what a process restart
does to the database), samples RSS from /metrics, and at the end checks that every
acknowledged change is in the database and in the audit log, and that memory levelled off.

This is the skeleton the full soak grows from: each kind of work is a `Workload` in WORKLOADS.
The Discord face (commands, reactions, a forced gateway reconnect), job completions and a cut
build are added there as those parts land; each workload keeps its own ledger of what it was
told succeeded and checks it against the database at the end.

Usage: python bench/soak.py [--seconds 120] [--members 12] [--out bench/SOAK.md]
(at most 600 seconds; it stops by itself.)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from storage import audit
from storage.productions import Production
from studio import backups, health, production, shotlist
from studio.app import Studio
from studio.errors import SlateError
from studio.logging_setup import setup_logging
from studio.people import Actor, actor
from studio.settings import load_settings

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "low_tide.csv"
MAX_SECONDS = 600.0


@dataclass
class Ledger:
    """What the soak was told: every acknowledged change, and every refusal."""

    owners: dict[int, str | None] = field(default_factory=dict)
    dues: dict[int, str] = field(default_factory=dict)
    acknowledged: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


@dataclass
class Soak:
    studio: Studio
    production: Production
    members: list[Actor]
    ledger: Ledger
    rng: random.Random
    # Held while the studio restarts, so no work straddles a closed database.
    running: asyncio.Lock = field(default_factory=asyncio.Lock)


Workload = Callable[[Soak], Awaitable[None]]


async def claims_and_releases(soak: Soak) -> None:
    """A member claims or releases a chapter; the ledger follows only what was acknowledged."""
    who = soak.rng.choice(soak.members)
    number = soak.rng.randint(1, 8)
    db, prod, ledger = soak.studio.db, soak.production, soak.ledger
    try:
        if ledger.owners.get(number) == who.name:
            await production.release(db, prod, who, number)
            ledger.owners[number] = None
            ledger.acknowledged["release"] += 1
        else:
            await production.claim(db, prod, who, number)
            ledger.owners[number] = who.name
            ledger.acknowledged["claim"] += 1
    except SlateError:
        ledger.refused["claim/release"] += 1


async def due_dates(soak: Soak) -> None:
    producer = soak.members[0]
    number = soak.rng.randint(1, 8)
    day = f"2027-{soak.rng.randint(1, 12):02d}-{soak.rng.randint(1, 28):02d}"
    await production.set_due(soak.studio.db, soak.production, producer, number, day)
    # Setting the date a chapter already has changes nothing and writes no audit row.
    if soak.ledger.dues.get(number) != day:
        soak.ledger.dues[number] = day
        soak.ledger.acknowledged["due"] += 1


# (workload, weight): the mix the members produce.
WORKLOADS: list[tuple[Workload, int]] = [(claims_and_releases, 8), (due_dates, 2)]


async def member_loop(soak: Soak, deadline: float, pace: float) -> None:
    workloads, weights = zip(*WORKLOADS, strict=True)
    while time.monotonic() < deadline:
        work = soak.rng.choices(workloads, weights)[0]
        async with soak.running:
            try:
                await work(soak)
            except Exception as exc:
                soak.ledger.errors.append(f"{work.__name__}: {exc!r}")
        await asyncio.sleep(soak.rng.uniform(0, pace * 2))


async def rss_sampler(port: int, started: float, deadline: float, every: float,
                      samples: list[tuple[float, float]]) -> None:
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                text = await resp.text()
            for line in text.splitlines():
                if line.startswith("process_resident_memory_bytes "):
                    samples.append((time.monotonic() - started, float(line.split()[1])))
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(every)


async def verify(soak: Soak) -> list[str]:
    """Every acknowledged change is in the database, and each wrote its audit row."""
    problems = []
    board = await production.board(soak.studio.db, soak.production)
    for row in board:
        expected = soak.ledger.owners.get(row.chapter.number)
        if row.owner_name != expected:
            problems.append(f"chapter {row.chapter.number}: owner {row.owner_name!r}, "
                            f"expected {expected!r}")
        due = soak.ledger.dues.get(row.chapter.number)
        if row.chapter.due_date != due:
            problems.append(f"chapter {row.chapter.number}: due {row.chapter.due_date}, "
                            f"expected {due}")
    entries = await audit.recent(soak.studio.db.reader, soak.production.id, limit=10**9)
    actions = Counter(e.action for e in entries if e.entity == "chapter")
    for action, count in soak.ledger.acknowledged.items():
        if actions[action] != count:
            problems.append(f"audit has {actions[action]} '{action}' rows, "
                            f"{count} were acknowledged")
    return problems + soak.ledger.errors


def growth(samples: list[tuple[float, float]]) -> float:
    """RSS of the last third over the middle third: about 1 when memory levelled off."""
    if len(samples) < 6:
        return 1.0
    third = len(samples) // 3
    middle = max(v for _, v in samples[third:2 * third])
    last = max(v for _, v in samples[2 * third:])
    return last / middle


def report(seconds: float, soak: Soak, samples: list[tuple[float, float]], problems: list[str],
           backups_made: int) -> str:
    lines = ["# Soak", "", f"- Ran {seconds:.0f} s with {len(soak.members)} members, "
             f"one restart, {backups_made} backups.",
             f"- Acknowledged: {dict(soak.ledger.acknowledged)}; refused with a reason: "
             f"{dict(soak.ledger.refused)}.",
             f"- Lost or wrong: {len(problems)}" + ("" if not problems else ": " +
                                                   "; ".join(problems[:10])),
             f"- RSS growth (last third / middle third): {growth(samples):.3f}", "",
             "| t (s) | RSS (MiB) |", "|---:|---:|"]
    step = max(1, len(samples) // 20)
    lines += [f"| {t:.0f} | {v / 2**20:.1f} |" for t, v in samples[::step]]
    return "\n".join(lines) + "\n"


async def soak(seconds: float, members: int) -> tuple[str, bool]:
    seconds = min(seconds, MAX_SECONDS)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp) / "data", log_level="WARNING")
        setup_logging(settings)
        studio = await Studio.open(settings)
        prod = await production.setup(studio.db, 1, "Soak Film")
        producer = await actor(studio.db, prod, "Producer", is_producer=True)
        await shotlist.import_shots(studio.db, prod, producer, EXAMPLE.read_bytes(), EXAMPLE.name)
        cast = [producer] + [await actor(studio.db, prod, f"Creator {i}")
                             for i in range(1, members)]
        run = Soak(studio, prod, cast, Ledger(), random.Random(8))
        checks = health.Checks()
        checks.add("database", health.database_writable(studio.db))
        server = health.HealthServer(checks, port=0, refreshers=[health.job_gauge(studio.db)])
        port = await server.start()

        started = time.monotonic()
        deadline = started + seconds
        samples: list[tuple[float, float]] = []
        sampler = asyncio.create_task(rss_sampler(port, started, deadline,
                                                  max(1.0, seconds / 60), samples))
        loops = [asyncio.create_task(member_loop(run, deadline, 0.01)) for _ in cast]
        backups_made = 0
        restarted = False
        while time.monotonic() < deadline:
            await asyncio.sleep(min(5.0, seconds / 10))
            await backups.backup_now(run.studio)
            backups_made += 1
            if not restarted and time.monotonic() - started > seconds / 2:
                async with run.running:
                    server.refreshers = []
                    await run.studio.close()
                    run.studio = await Studio.open(settings)
                    checks.add("database", health.database_writable(run.studio.db))
                    server.refreshers = [health.job_gauge(run.studio.db)]
                restarted = True
        await asyncio.gather(*loops)
        await sampler
        problems = await verify(run)
        await server.stop()
        await run.studio.close()
    return report(seconds, run, samples, problems, backups_made), bool(problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--members", type=int, default=12)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    text, lost = asyncio.run(soak(args.seconds, args.members))
    print(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
