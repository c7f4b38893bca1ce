"""A burst of 500 slash commands from 100 users through the fake gateway.

Figure: p99 time from INTERACTION_CREATE to the bot's interaction callback, for Slate (real
commands on a real production: claims, boards, chapter and shot lookups). Floor: the same burst
answered by a bare discord.py bot with the same command names that only acknowledges.
The fake Discord and its scripted users run in a child process, so the bot's process does only
the bot's work; Slate and the floor are measured one after the other.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import random
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import discord
import discord.gateway
import discord.http
import yarl
from discord import app_commands
from discord.ext import commands

import bot as entry
from studio.app import Studio
from studio.ops.settings import load_settings
from studio.production import board, shotlist
from studio.production.people import actor
from tests.fakes.discord import FakeDiscord, InteractionFailed, User
from tests.fakes.discord.server import eventually

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "low_tide.csv"

USERS = 100
COMMANDS = 500
SEED = 7
ROUNDS = 5


def burst_plan(users: list[User]) -> list[tuple[User, str, dict[str, Any]]]:
    """What each of the 500 commands is: mostly reads, with a rush of claims."""
    rng = random.Random(SEED)
    plan = []
    for i in range(COMMANDS):
        user = users[i % len(users)]
        kind = rng.random()
        if kind < 0.25:
            plan.append((user, "chapter claim", {"chapter": rng.randint(1, 8)}))
        elif kind < 0.5:
            plan.append((user, "chapter info", {"chapter": rng.randint(1, 8)}))
        elif kind < 0.7:
            plan.append((user, "production status", {}))
        elif kind < 0.85:
            plan.append((user, "shot info", {"shot": f"{rng.randint(1, 8)}.{rng.randint(1, 5)}"}))
        else:
            plan.append((user, "chapter list", {}))
    return plan


async def burst(fake: FakeDiscord, plan: list[tuple[User, str, dict[str, Any]]]
                ) -> tuple[list[float], int]:
    start = len(fake.interactions)
    results = await asyncio.gather(*(fake.as_user(u).slash(path, **options)
                                     for u, path, options in plan), return_exceptions=True)
    failed = sum(1 for r in results if isinstance(r, InteractionFailed))
    others = [r for r in results if isinstance(r, BaseException)
              and not isinstance(r, InteractionFailed)]
    if others:
        raise others[0]
    made = list(fake.interactions.values())[start:]
    times = [i.answered_after * 1000 for i in made if i.answered_after is not None]
    return times, failed


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 \
        else values[0]


def floor_bot() -> commands.Bot:
    """The same command names and options, each answered with a bare acknowledgement."""
    intents = discord.Intents.none()
    intents.guilds = intents.guild_messages = intents.guild_reactions = True
    bot = commands.Bot(command_prefix=commands.when_mentioned, intents=intents,
                       help_command=None, guild_ready_timeout=0.05)

    async def ack(interaction: discord.Interaction, **_: Any) -> None:
        await interaction.response.send_message("ok")

    production = app_commands.Group(name="production", description="p")
    chapter = app_commands.Group(name="chapter", description="c")
    shot = app_commands.Group(name="shot", description="s")

    @production.command(name="status", description="d")
    async def status(interaction: discord.Interaction) -> None:
        await ack(interaction)

    @chapter.command(name="claim", description="d")
    async def claim(interaction: discord.Interaction, chapter: int) -> None:
        await ack(interaction)

    @chapter.command(name="info", description="d")
    async def info(interaction: discord.Interaction, chapter: int) -> None:
        await ack(interaction)

    @chapter.command(name="list", description="d")
    async def list_(interaction: discord.Interaction) -> None:
        await ack(interaction)

    @shot.command(name="info", description="d")
    async def shot_info(interaction: discord.Interaction, shot: str) -> None:
        await ack(interaction)

    for group in (production, chapter, shot):
        bot.tree.add_command(group)
    return bot


def drive(conn: Connection) -> None:
    """The child process: the fake Discord and the 100 scripted users."""
    asyncio.run(_drive(conn))


async def _drive(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    fake = FakeDiscord()
    await fake.start()
    users = [fake.add_user(f"Creator {n}") for n in range(USERS)]
    plan = burst_plan(users)
    conn.send((fake.port, fake.guild_id, fake.token))
    await eventually(lambda: fake.live_sessions() and any(fake.commands.values()), 30)
    await loop.run_in_executor(None, conn.recv)  # the bot's side is set up
    await burst(fake, [(u, path, o) for u, path, o in plan[:50] if path != "chapter claim"])
    conn.send(await burst(fake, plan))
    await loop.run_in_executor(None, conn.recv)
    await fake.close()


async def measure(make: Callable[[int], Awaitable[tuple[commands.Bot, Callable]]]
                  ) -> tuple[list[float], int]:
    """Start a driver process, run the bot `make` builds against it, and collect the burst."""
    loop = asyncio.get_running_loop()
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    child = multiprocessing.get_context("spawn").Process(target=drive, args=(theirs,))
    child.start()
    port, guild_id, token = await loop.run_in_executor(None, ours.recv)
    discord.http.Route.BASE = f"http://127.0.0.1:{port}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{port}/gateway")
    bot, cleanup = await make(guild_id)
    task = asyncio.create_task(bot.start(token))
    try:
        await asyncio.wait_for(bot.wait_until_ready(), 30)
        ours.send("go")
        result = await loop.run_in_executor(None, ours.recv)
    finally:
        await bot.close()
        await asyncio.wait_for(task, 10)
        await cleanup()
        ours.send("stop")
        await loop.run_in_executor(None, child.join, 30)
    return result


async def slate_bot(data_dir: Path) -> Callable[[int], Awaitable[tuple[commands.Bot, Callable]]]:
    async def make(guild_id: int) -> tuple[commands.Bot, Callable]:
        settings = load_settings(data_dir=data_dir, discord_guild_id=guild_id)
        studio = await Studio.open(settings)
        prod = await board.setup(studio.db, guild_id, "Bench", producer_role="Prod")
        who = await actor(studio.db, prod, "bench", is_producer=True)
        await shotlist.import_shots(studio.db, prod, who, EXAMPLE.read_bytes(), EXAMPLE.name)
        return entry.make_bot(studio, guild_ready_timeout=0.05), studio.close
    return make


async def floor_bot_maker(guild_id: int) -> tuple[commands.Bot, Callable]:
    bot = floor_bot()

    async def sync_then_ready() -> None:
        await bot.tree.sync()
    bot.setup_hook = sync_then_ready  # type: ignore[method-assign]

    async def nothing() -> None:
        return None
    return bot, nothing


async def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    runs: dict[str, list[tuple[float, float]]] = {"slate": [], "floor": []}
    ours_failed = floor_failed = 0
    # Alternate rounds and keep the median, so a noisy neighbour does not pick the winner.
    for _ in range(ROUNDS):
        with tempfile.TemporaryDirectory() as tmp:
            times, failed = await measure(await slate_bot(Path(tmp)))
        runs["slate"].append((p(times, 50), p(times, 99)))
        ours_failed += failed
        times, failed = await measure(floor_bot_maker)
        runs["floor"].append((p(times, 50), p(times, 99)))
        floor_failed += failed
    p50, p99 = (statistics.median(r[i] for r in runs["slate"]) for i in (0, 1))
    f50, f99 = (statistics.median(r[i] for r in runs["floor"]) for i in (0, 1))
    ratio = p99 / f99 if f99 else float("inf")
    print(f"{COMMANDS} slash commands from {USERS} users, time to the interaction callback "
          "(fake Discord and users in a separate process)")
    print(f"  slate: p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  failed {ours_failed}")
    print(f"  floor: p50 {f50:7.1f} ms  p99 {f99:7.1f} ms  failed {floor_failed}  "
          "(bare discord.py bot that only acknowledges)")
    print(f"  (medians of {ROUNDS} alternating rounds; p99 per round: slate "
          f"{[round(r[1]) for r in runs['slate']]}, floor {[round(r[1]) for r in runs['floor']]})")
    print(f"  ratio p99 slate/floor: {ratio:.2f} (target ≤ 2.0)")
    print(json.dumps({"bench": "interactions", "figure": round(p99, 1), "floor": round(f99, 1),
                      "ratio": round(ratio, 2), "unit": "ms p99 to interaction callback",
                      "p50": round(p50, 1), "floor_p50": round(f50, 1),
                      "failed": ours_failed, "floor_failed": floor_failed,
                      "rounds": ROUNDS}))
    return 0 if ours_failed == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
