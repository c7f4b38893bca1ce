"""Pytest fixtures: a fake Discord on loopback and the real Slate bot logged into it.

    async def test_claim(stage):
        reply = await stage.fake.as_user(stage.alice).slash("chapter claim", chapter=1)

`stage` is a production set up through `/production setup` with a producer (pat) and two
creators (alice, bob); `discord_fake` and `slate` give the pieces alone. `slate.restart()`
closes the bot and starts a new one on the same database and fake.
A new cog is one line in `bot.EXTENSIONS`; its commands use `cogs.common.context` and `answer`.
At teardown a test fails if the bot hit an unknown route, was refused by a Discord limit, or
left an interaction unanswered (set `fake.expect_trouble = True` when a test provokes that),
and if the bot's task ended in an exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from studio.app import Studio
from studio.ops.settings import Settings
from tests.fakes.discord.server import Channel, FakeDiscord, Role, User

EXAMPLES = Path(__file__).parent.parent.parent.parent / "examples"


class SlateRunner:
    """Starts, stops and restarts the real bot against the fake, on one data directory."""

    def __init__(self, fake: FakeDiscord, settings: Settings) -> None:
        self.fake = fake
        self.settings = settings
        self.bot = None
        self.studio: Studio | None = None
        self._task: asyncio.Task | None = None

    async def start(self, token: str | None = None) -> None:
        import bot as entry

        self.fake.point_discord_here()
        self.studio = await Studio.open(self.settings)
        self.bot = entry.make_bot(self.studio, guild_ready_timeout=0.05)
        self._task = asyncio.create_task(self.bot.start(token or self.fake.token))
        ready = asyncio.create_task(self.bot.wait_until_ready())
        await asyncio.wait({ready, self._task}, timeout=15,
                           return_when=asyncio.FIRST_COMPLETED)
        if self._task.done() or not ready.done():
            ready.cancel()
            if not self._task.done():
                self._task.cancel()  # stop() then reports why it did not become ready
            await self.stop()  # raises the bot's own failure, and closes the studio
            raise AssertionError("the bot did not become ready")

    async def stop(self) -> None:
        """Close the bot and its studio; the bot's own failure (its task raised, or did not
        end) is raised here, so the test that caused it fails."""
        task, self._task = self._task, None
        try:
            if self.bot is not None:
                await self.bot.close()
            if task is not None:
                try:
                    await asyncio.wait_for(task, 10)
                except TimeoutError:
                    raise AssertionError("the bot did not stop within 10 s") from None
                except asyncio.CancelledError:
                    if not task.cancelled():  # we are cancelled, not the bot: pass it on
                        raise
        finally:
            if self.studio is not None:
                await self.studio.close()
            self.bot = self.studio = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(heartbeat_ms=2000)
    fake.expect_trouble = False  # type: ignore[attr-defined]
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()
    assert not fake.unknown_routes, f"the bot called routes the fake does not know: " \
                                    f"{fake.unknown_routes}"
    if not fake.expect_trouble:  # type: ignore[attr-defined]
        assert not fake.rejections, "Discord would have refused: " + "; ".join(
            f"{c.method} {c.path} → {c.status} {c.body}" for c in fake.rejections)
        assert not fake.failed_interactions, "users saw 'This interaction failed'"


@pytest.fixture
def discord_settings(settings: Settings, discord_fake: FakeDiscord) -> Settings:
    return settings.model_copy(update={"discord_guild_id": discord_fake.guild_id})


@pytest.fixture
async def slate(discord_fake: FakeDiscord, discord_settings: Settings
                ) -> AsyncIterator[SlateRunner]:
    runner = SlateRunner(discord_fake, discord_settings)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


@dataclass
class Stage:
    fake: FakeDiscord
    slate: SlateRunner
    producer_role: Role
    pat: User
    alice: User
    bob: User
    board: Channel
    takes: Channel
    cuts: Channel

    @property
    def studio(self) -> Studio:
        assert self.slate.studio is not None
        return self.slate.studio


@pytest.fixture
async def stage(discord_fake: FakeDiscord, slate: SlateRunner) -> Stage:
    """A production set up through Discord, with the example shot list (8 chapters) imported."""
    fake = discord_fake
    role = fake.add_role("Producer")
    pat = fake.add_user("Pat", role)
    alice, bob = fake.add_user("Alice"), fake.add_user("Bob")
    board, takes, cuts = (fake.add_channel(n) for n in ("board", "takes", "cuts"))
    owner = fake.as_user(fake.owner)
    done = await owner.slash("production setup", title="Low Tide", producer_role=role,
                      board_channel=board, takes_channel=takes, cuts_channel=cuts)
    assert "is set up" in (done.content or ""), done.content
    await import_example(slate)
    return Stage(fake, slate, role, pat, alice, bob, board, takes, cuts)


async def import_example(slate: SlateRunner) -> None:
    """The example shot list, imported straight through the studio (fast, and not under test)."""
    from studio.production import board, shotlist
    from studio.production.people import actor

    assert slate.studio is not None
    prod = await board.get(slate.studio.db, slate.fake.guild_id)
    who = await actor(slate.studio.db, prod, "fixture", is_producer=True)
    await shotlist.import_shots(slate.studio.db, prod, who,
                                (EXAMPLES / "low_tide.csv").read_bytes(), "low_tide.csv")
