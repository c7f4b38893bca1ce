"""/notion connect and /notion sync (producers); the automatic push and pull run in the cog."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs.common import Answer, answer, context
from storage.productions import Production
from studio.notion.sync import NotionService, SyncReport
from studio.ops.masking import mask

if TYPE_CHECKING:
    from cogs.slate_bot import SlateBot

log = logging.getLogger(__name__)


class NotionCog(commands.Cog):
    group = app_commands.Group(name="notion", description="The schedule in Notion",
                               guild_only=True)

    def __init__(self, bot: SlateBot) -> None:
        self.bot = bot
        studio = bot.studio
        self.service = NotionService(studio.db, studio.settings, on_report=self.tell_producers)

    async def cog_load(self) -> None:
        # Automatic pushes and pulls only make sense with an integration token.
        if self.service.settings.notion_token is not None:
            self.service.start()

    async def cog_unload(self) -> None:
        await self.service.close()

    async def tell_producers(self, prod: Production, report: SyncReport) -> None:
        """An automatic sync's trouble (or its end) in the board channel, once."""
        if prod.board_channel_id is None:
            return
        channel = self.bot.get_channel(prod.board_channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            return
        trouble = report.trouble()
        text = (mask(f"⚠️ The automatic Notion sync is in trouble — {trouble}")[:1900]
                if trouble else "✅ The automatic Notion sync is working again.")
        try:
            await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException:
            log.warning("could not tell the board channel about the Notion sync")

    @group.command(name="connect", description="Create or check the Chapters and Shots "
                                               "databases in Notion (producers)")
    @app_commands.describe(
        parent="a Notion page URL: Slate creates both databases in it",
        chapters="or: an existing Chapters database URL",
        shots="and: an existing Shots database URL",
        notion_owned="plan fields Notion owns, comma-separated, e.g. shot.planned",
        add_missing="add the columns an existing database lacks",
    )
    async def connect(self, interaction: discord.Interaction,
                      parent: app_commands.Range[str, 1, 400] | None = None,
                      chapters: app_commands.Range[str, 1, 400] | None = None,
                      shots: app_commands.Range[str, 1, 400] | None = None,
                      notion_owned: app_commands.Range[str, 1, 200] | None = None,
                      add_missing: bool = False) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            result = await self.service.connect(
                ctx.production, ctx.actor, parent=parent, chapters=chapters, shots=shots,
                notion_owned=(notion_owned or "").split(","), add_missing=add_missing,
            )
            return Answer(result.summary(), ephemeral=True)
        await answer(interaction, work(), ephemeral=True)

    @group.command(name="sync", description="Pull from and push to Notion now (producers)")
    async def sync(self, interaction: discord.Interaction) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            report = await self.service.sync(ctx.production, ctx.actor)
            return Answer(report.summary()[:1900], ephemeral=True)
        await answer(interaction, work(), ephemeral=True)


async def setup(bot: SlateBot) -> None:
    await bot.add_cog(NotionCog(bot))
