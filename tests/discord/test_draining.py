"""While Slate shuts down, every kind of interaction is answered "restarting", and none runs.

(The signal itself, and a write in flight finishing, are tested through a real process in
test_entry.py.)
"""

from __future__ import annotations

from cogs.common import RESTARTING, drain
from storage import chapters
from studio.ops import metrics
from studio.production import board as production_board
from tests.fakes.discord.fixtures import Stage


async def test_a_draining_bot_turns_commands_buttons_and_autocomplete_away(stage: Stage) -> None:
    prod = await production_board.get(stage.studio.db, stage.fake.guild_id)
    async with stage.studio.db.transaction() as tx:
        for number in range(9, 21):  # enough chapters for a board of two pages
            await chapters.create(tx, prod.id, number, f"Chapter {number}")
    bob = stage.fake.as_user(stage.bob)
    board = await bob.slash("production status")
    assert "page 1/2" in board.text
    before = metrics.REGISTRY.get_sample_value(
        "slate_interactions_total", {"command": "chapter claim", "outcome": "refused"}) or 0

    assert await drain(stage.slate.bot, 1.0) == 0  # nothing was running

    claim = await bob.slash("chapter claim", chapter=3)
    assert claim.ephemeral and claim.content == RESTARTING
    assert (await production_board.chapter(stage.studio.db, prod, 3)).owner_id is None
    turned = await bob.click(board, "Next ▶")
    assert turned.ephemeral and turned.content == RESTARTING
    assert "page 1/2" in stage.fake.reply_of(stage.fake.messages[board.message_id]).text
    assert await bob.autocomplete("chapter claim", "chapter") == []
    assert metrics.REGISTRY.get_sample_value(
        "slate_interactions_total", {"command": "chapter claim", "outcome": "refused"}) \
        == before + 1
