"""/production setup and /production status: the production itself and its board."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from cogs import render
from cogs.common import (
    Answer,
    answer,
    production_here,
    remember_production,
    require_manager,
    studio_of,
)
from studio.errors import NotFound
from studio.production import board, board_post

if TYPE_CHECKING:
    from cogs.slate_bot import SlateBot


def board_view(production_id: int, page: int, pages: int) -> discord.ui.View | None:
    """Previous/next buttons whose custom_id carries the page, so they work after a restart."""
    if pages <= 1:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(BoardPage(production_id, page - 1, "p", disabled=page == 0))
    view.add_item(BoardPage(production_id, page + 1, "n", disabled=page >= pages - 1))
    return view


class BoardPage(discord.ui.DynamicItem[discord.ui.Button],
                template=r"slate:board:(?P<production>\d+):(?P<page>\d+):(?P<way>[pn])"):
    def __init__(self, production_id: int, page: int, way: str, *, disabled: bool = False):
        self.production_id, self.page = production_id, max(page, 0)
        super().__init__(discord.ui.Button(
            label="◀ Previous" if way == "p" else "Next ▶", style=discord.ButtonStyle.secondary,
            custom_id=f"slate:board:{production_id}:{self.page}:{way}", disabled=disabled))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str]) -> BoardPage:
        return cls(int(match["production"]), int(match["page"]), match["way"])

    async def callback(self, interaction: discord.Interaction) -> None:
        # The pinned board is everyone's: turning its page answers privately instead.
        shared = interaction.message is not None and await board_post.is_board(
            studio_of(interaction).db, interaction.message.id)
        await answer(interaction, self._turn(interaction, shared), ephemeral=shared,
                     edit=not shared)

    async def _turn(self, interaction: discord.Interaction, shared: bool) -> Answer:
        prod = await production_here(interaction)
        if prod.id != self.production_id:
            raise NotFound("this board belongs to another production")
        rows = await board.board(studio_of(interaction).db, prod)
        embed, pages = render.board_page(prod.title, rows, self.page)
        page = min(self.page, pages - 1)
        return Answer(embeds=[embed], view=board_view(prod.id, page, pages), edit=not shared,
                      ephemeral=shared)


async def board_answer(interaction: discord.Interaction, page: int = 0, *,
                       ephemeral: bool = True) -> Answer:
    prod = await production_here(interaction)
    rows = await board.board(studio_of(interaction).db, prod)
    embed, pages = render.board_page(prod.title, rows, page)
    return Answer(embeds=[embed], view=board_view(prod.id, page, pages), ephemeral=ephemeral)


async def show_board(interaction: discord.Interaction, production_id: int) -> str:
    """Post or update the board message now (set-up); a sentence when it could not be."""
    keeper: Any = interaction.client.get_cog("BoardCog") if isinstance(
        interaction.client, commands.Bot) else None
    if keeper is None:
        return ""
    try:
        await keeper.refresh(production_id)
    except discord.HTTPException as exc:
        return f" The board could not be posted in its channel ({exc.text or exc.status})."
    return " The board is pinned in its channel and kept up to date."


class ProductionCog(commands.Cog):
    group = app_commands.Group(name="production", description="The production and its board",
                               guild_only=True)

    @group.command(name="setup", description="Set up (or change) this server's production")
    @app_commands.describe(title="The film's title",
                           producer_role="The role whose members steer the production",
                           board_channel="Where the board is posted",
                           takes_channel="Where takes are posted for review",
                           cuts_channel="Where the nightly cut is posted",
                           max_chapters="How many chapters one creator may hold at once")
    @app_commands.default_permissions(manage_guild=True)
    async def setup(self, interaction: discord.Interaction, title: app_commands.Range[str, 1, 200],
                    producer_role: discord.Role,
                    board_channel: discord.TextChannel | None = None,
                    takes_channel: discord.TextChannel | None = None,
                    cuts_channel: discord.TextChannel | None = None,
                    max_chapters: app_commands.Range[int, 1, 100] | None = None) -> None:
        async def work() -> Answer:
            require_manager(interaction, "setting up the production")
            studio = studio_of(interaction)
            prod = await board.setup(
                studio.db, interaction.guild_id or 0, title, producer_role=producer_role.name,
                max_chapters=max_chapters,
                default_max=studio.settings.max_chapters_per_creator,
                actor_name=interaction.user.name,
                board_channel_id=board_channel.id if board_channel else None,
                takes_channel_id=takes_channel.id if takes_channel else None,
                cuts_channel_id=cuts_channel.id if cuts_channel else None)
            remember_production(interaction, prod)
            shown = await show_board(interaction, prod.id) if prod.board_channel_id else ""
            where = [f"{name}: <#{cid}>" for name, cid in (
                ("board", prod.board_channel_id), ("takes", prod.takes_channel_id),
                ("cuts", prod.cuts_channel_id)) if cid]
            return Answer(f"**{prod.title}** is set up. Producers: members with the "
                          f"**{prod.producer_role}** role; a creator may hold "
                          f"{prod.max_chapters_per_creator} chapters at once."
                          + (f" Channels — {', '.join(where)}." if where else "") + shown,
                          ephemeral=True)
        await answer(interaction, work(), ephemeral=True)

    @group.command(name="status", description="The board: chapters, owners, due dates, shots")
    @app_commands.describe(public="Show it to the channel (by default only you see it)")
    async def status(self, interaction: discord.Interaction, public: bool = False) -> None:
        await answer(interaction, board_answer(interaction, ephemeral=not public),
                     ephemeral=not public)


async def setup(bot: SlateBot) -> None:
    bot.add_dynamic_items(BoardPage)
    await bot.add_cog(ProductionCog())
