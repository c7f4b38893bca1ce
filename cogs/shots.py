"""/shot list | info | add | edit | import."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs import pick, render
from cogs.common import Answer, answer, context, production_here, studio_of
from studio.errors import ShotListError
from studio.generation import lineage
from studio.production import board, schedule, shotlist, shots

if TYPE_CHECKING:
    from cogs.slate_bot import SlateBot

Chapter = app_commands.Range[int, 1, 10_000]
Code = app_commands.Range[str, 3, 20]
STATUSES = [app_commands.Choice(name=s, value=s) for s in shots.SHOT_STATUSES
            if s not in schedule.DECIDED_BY_REVIEW]


def _characters(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [name.strip() for name in text.replace(",", ";").split(";") if name.strip()]


class ShotCog(commands.Cog):
    group = app_commands.Group(name="shot", description="Shots: the plan of each chapter",
                               guild_only=True)

    @group.command(name="list", description="A chapter's shots")
    @app_commands.autocomplete(chapter=pick.chapters("view"))
    async def list_(self, interaction: discord.Interaction, chapter: Chapter) -> None:
        async def work() -> Answer:
            prod = await production_here(interaction)
            detail = await board.chapter_detail(studio_of(interaction).db, prod, chapter)
            return Answer(embeds=[render.shot_list_embed(chapter, detail.chapter.title,
                                                         detail.shots)])
        await answer(interaction, work())

    @group.command(name="info", description="One shot's plan, e.g. 3.2")
    @app_commands.autocomplete(shot=pick.shots("view"))
    @app_commands.describe(public="Show it to the channel (by default only you see it)")
    async def info(self, interaction: discord.Interaction, shot: Code,
                   public: bool = False) -> None:
        async def work() -> Answer:
            prod = await production_here(interaction)
            ref = await shots.shot(studio_of(interaction).db, prod, shot)
            chains = await lineage.of_shot(studio_of(interaction), prod, shot)
            return Answer(embeds=[render.shot_embed(ref, lineage=[c.chain_text()
                                                                  for c in chains])],
                          ephemeral=not public)
        await answer(interaction, work(), ephemeral=not public)

    @group.command(name="add", description="Add a shot to a chapter you hold (or any, producers)")
    @app_commands.describe(duration="Planned length in seconds",
                           characters="Names separated by ';'")
    @app_commands.autocomplete(chapter=pick.chapters("edit"))
    async def add(self, interaction: discord.Interaction, chapter: Chapter,
                  description: app_commands.Range[str, 1, 1000],
                  duration: app_commands.Range[float, 0.1, 600.0],
                  camera: app_commands.Range[str, 0, 500] = "",
                  characters: app_commands.Range[str, 0, 500] = "",
                  notes: app_commands.Range[str, 0, 1000] = "") -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            ref = await shots.add_shot(ctx.db, ctx.production, ctx.actor, chapter,
                                            description=description, duration=duration,
                                            camera=camera, notes=notes,
                                            characters=_characters(characters))
            return Answer(f"shot {ref.code} added", embeds=[render.shot_embed(ref)])
        await answer(interaction, work())

    @group.command(name="edit", description="Change a shot's plan (only the fields given)")
    @app_commands.autocomplete(shot=pick.shots("edit"))
    @app_commands.choices(status=STATUSES)
    async def edit(self, interaction: discord.Interaction, shot: Code,
                   description: app_commands.Range[str, 1, 1000] | None = None,
                   duration: app_commands.Range[float, 0.1, 600.0] | None = None,
                   camera: app_commands.Range[str, 0, 500] | None = None,
                   characters: app_commands.Range[str, 0, 500] | None = None,
                   notes: app_commands.Range[str, 0, 1000] | None = None,
                   status: app_commands.Choice[str] | None = None) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            ref = await shots.edit_shot(
                ctx.db, ctx.production, ctx.actor, shot, description=description,
                planned_duration=duration, camera=camera, notes=notes,
                characters=_characters(characters),
                status=status.value if status else None)
            return Answer(f"shot {ref.code} updated", embeds=[render.shot_embed(ref)])
        await answer(interaction, work())

    @group.command(name="import", description="Import a CSV or JSON shot list (producers; "
                                              "all or nothing)")
    async def import_(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            ctx.require_producer("importing a shot list")
            limit = ctx.studio.settings.shot_list_max_bytes
            if file.size > limit:
                raise ShotListError(f"the file is {file.size / 1e6:.1f} MB; a shot list may "
                                    f"be at most {limit / 1e6:.1f} MB")
            data = await file.read()
            report = await shotlist.import_shots(ctx.db, ctx.production, ctx.actor, data,
                                                 file.filename, max_bytes=limit)
            return Answer(f"imported `{render.cut(file.filename, 80)}`: {report.summary()}")
        await answer(interaction, work())


async def setup(bot: SlateBot) -> None:
    await bot.add_cog(ShotCog())
