"""/schedule due: a chapter's due date (producers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs import pick
from cogs.common import Answer, answer, context
from studio.production import schedule

if TYPE_CHECKING:
    from cogs.slate_bot import SlateBot


class ScheduleCog(commands.Cog):
    group = app_commands.Group(name="schedule", description="Due dates", guild_only=True)

    @group.command(name="due", description="Set or clear a chapter's due date (producers)")
    @app_commands.describe(date="YYYY-MM-DD, or 'clear'")
    @app_commands.autocomplete(chapter=pick.chapters("due"))
    async def due(self, interaction: discord.Interaction,
                  chapter: app_commands.Range[int, 1, 10_000],
                  date: app_commands.Range[str, 1, 20]) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            found = await schedule.set_due(ctx.db, ctx.production, ctx.actor, chapter, date)
            when = found.due_date or "no date"
            return Answer(f"chapter {found.number} (**{found.title}**) is due: {when}")
        await answer(interaction, work())


async def setup(bot: SlateBot) -> None:
    await bot.add_cog(ScheduleCog())
