"""A burst of 500 slash commands from 100 users through the fake gateway.

Figure: p99 time from INTERACTION_CREATE to the bot's interaction callback, for Slate (real
commands on a real production: claims, boards, chapter and shot lookups). Floor: the same burst
answered by a bare discord.py bot with the same command names that only acknowledges.
Both run in this process against the same fake Discord, one after the other.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import discord
from discord import app_commands
from discord.ext import commands

from studio.settings import load_settings
from tests.fakes.discord import FakeDiscord, InteractionFailed, User
from tests.fakes.discord.fixtures import SlateRunner, import_example

USERS = 100
COMMANDS = 500
SEED = 7


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


async def measure_floor(fake: FakeDiscord, plan: list) -> tuple[list[float], int]:
    fake.point_discord_here()
    bot = floor_bot()
    await bot.login(fake.token)
    task = asyncio.create_task(bot.connect())
    await asyncio.wait_for(bot.wait_until_ready(), 15)
    await bot.tree.sync()
    fake.commands.pop(fake.guild_id, None)  # only the floor's (global) commands now
    try:
        await burst(fake, plan[:50])  # warm-up
        return await burst(fake, plan)
    finally:
        await bot.close()
        await asyncio.wait_for(task, 10)


async def measure_slate(fake: FakeDiscord, plan: list, data_dir: Path) -> tuple[list[float], int]:
    settings = load_settings(data_dir=data_dir, discord_guild_id=fake.guild_id)
    runner = SlateRunner(fake, settings)
    await runner.start()
    try:
        owner = fake.as_user(fake.owner)
        await owner.slash("production setup", title="Bench", producer_role=fake.add_role("Prod"))
        await import_example(runner)
        await burst(fake, [(u, path, o) for u, path, o in plan[:50] if path != "chapter claim"])
        return await burst(fake, plan)
    finally:
        await runner.stop()


async def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    fake = FakeDiscord()
    await fake.start()
    users = [fake.add_user(f"Creator {n}") for n in range(USERS)]
    plan = burst_plan(users)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ours, ours_failed = await measure_slate(fake, plan, Path(tmp))
        fake.commands.clear()
        floor, floor_failed = await measure_floor(fake, plan)
    finally:
        await fake.close()
    p50, p99 = p(ours, 50), p(ours, 99)
    f50, f99 = p(floor, 50), p(floor, 99)
    ratio = p99 / f99 if f99 else float("inf")
    print(f"{COMMANDS} slash commands from {USERS} users, time to the interaction callback")
    print(f"  slate: p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  failed {ours_failed}")
    print(f"  floor: p50 {f50:7.1f} ms  p99 {f99:7.1f} ms  failed {floor_failed}  "
          "(bare discord.py bot that only acknowledges)")
    print(f"  ratio p99 slate/floor: {ratio:.2f} (target ≤ 2.0)")
    print(json.dumps({"bench": "interactions", "figure": round(p99, 1), "floor": round(f99, 1),
                      "ratio": round(ratio, 2), "unit": "ms p99 to interaction callback",
                      "p50": round(p50, 1), "floor_p50": round(f50, 1),
                      "failed": ours_failed, "floor_failed": floor_failed}))
    return 0 if ours_failed == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
