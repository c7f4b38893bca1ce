"""/chapter list | info | claim | release | assign | unassign."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs import pick, render
from cogs.common import Answer, answer, context, production_here, studio_of
from studio.production import board, claims
from studio.production.people import member_named

if TYPE_CHECKING:
    from cogs.slate_bot import SlateBot

Chapter = app_commands.Range[int, 1, 10_000]


class ChapterCog(commands.Cog):
    group = app_commands.Group(name="chapter", description="Claim, release and inspect chapters",
                               guild_only=True)

    @group.command(name="list", description="Chapters still open, and the ones you hold")
    async def list_(self, interaction: discord.Interaction) -> None:
        async def work() -> Answer:
            prod = await production_here(interaction)
            rows = await board.board(studio_of(interaction).db, prod)
            open_ = [r for r in rows if r.chapter.owner_id is None
                     and r.chapter.status != "omitted"]
            mine = [r for r in rows if r.owner_discord_id == interaction.user.id]
            embed = discord.Embed(title=render.cut(f"{prod.title} — chapters", 256),
                                  colour=render.COLOUR)
            for name, picked in (("Open", open_), ("Yours", mine)):
                lines = [render.cut(f"**{r.chapter.number}.** {r.chapter.title} · "
                                     f"{r.shots_total} shots", 100) for r in picked[:9]]
                if len(picked) > 9:
                    lines.append(f"… and {len(picked) - 9} more (see /production status)")
                embed.add_field(name=f"{name} ({len(picked)})",
                                value="\n".join(lines) or "none", inline=False)
            return Answer(embeds=[embed], ephemeral=True)
        await answer(interaction, work(), ephemeral=True)

    @group.command(name="info", description="One chapter: owner, due date, shots")
    @app_commands.autocomplete(chapter=pick.chapters("view"))
    async def info(self, interaction: discord.Interaction, chapter: Chapter) -> None:
        async def work() -> Answer:
            prod = await production_here(interaction)
            detail = await board.chapter_detail(studio_of(interaction).db, prod, chapter)
            return Answer(embeds=[render.chapter_embed(detail)])
        await answer(interaction, work())

    @group.command(name="claim", description="Take an open chapter")
    @app_commands.autocomplete(chapter=pick.chapters("claim"))
    async def claim(self, interaction: discord.Interaction, chapter: Chapter) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            found = await claims.claim(ctx.db, ctx.production, ctx.actor, chapter)
            return Answer(f"{interaction.user.mention} now holds chapter {found.number}: "
                          f"**{found.title}**")
        await answer(interaction, work())

    @group.command(name="release", description="Give up a chapter you hold")
    @app_commands.autocomplete(chapter=pick.chapters("release"))
    async def release(self, interaction: discord.Interaction, chapter: Chapter) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            found = await claims.release(ctx.db, ctx.production, ctx.actor, chapter)
            return Answer(f"chapter {found.number} (**{found.title}**) is open again")
        await answer(interaction, work())

    @group.command(name="assign", description="Give a chapter to a member (producers)")
    @app_commands.autocomplete(chapter=pick.chapters("assign"))
    async def assign(self, interaction: discord.Interaction, chapter: Chapter,
                     member: discord.Member) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            ctx.require_producer("assigning a chapter")
            to = await member_named(ctx.db, ctx.production, member.display_name, member.id,
                                    member.name)
            found = await claims.assign(ctx.db, ctx.production, ctx.actor, chapter, to)
            return Answer(f"chapter {found.number} (**{found.title}**) is assigned to "
                          f"{member.mention}")
        await answer(interaction, work())

    @group.command(name="unassign", description="Free a chapter (producers)")
    @app_commands.autocomplete(chapter=pick.chapters("unassign"))
    async def unassign(self, interaction: discord.Interaction, chapter: Chapter) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            found = await claims.unassign(ctx.db, ctx.production, ctx.actor, chapter)
            return Answer(f"chapter {found.number} (**{found.title}**) is open again")
        await answer(interaction, work())


async def setup(bot: SlateBot) -> None:
    await bot.add_cog(ChapterCog())
