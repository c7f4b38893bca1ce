"""Login, sync and the production's set-up through the real discord.py client."""

from __future__ import annotations

from tests.fakes.discord.fixtures import Stage


async def test_stage(stage: Stage) -> None:
    reply = await stage.fake.as_user(stage.alice).slash("production status")
    assert "Low Tide" in reply.text
