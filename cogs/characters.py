"""/character add | list | show: the cast that `@Name` in a prompt brings in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs import render
from cogs.common import Answer, answer, context
from cogs.uploads import saved
from storage.characters import Character
from studio.production import characters

if TYPE_CHECKING:
    from cogs.slate_bot import SlateBot

Name = app_commands.Range[str, 1, 41]


def character_embed(found: Character) -> discord.Embed:
    embed = discord.Embed(title=render.cut(f"@{found.name}", 256), colour=render.COLOUR)
    embed.add_field(name="Trigger words", value=render.cut(found.trigger_words or "—", 1024),
                    inline=False)
    embed.add_field(name="LoRA", value=render.cut(found.lora or "—", 1024))
    embed.add_field(name="Reference images", value=str(len(found.references)))
    embed.add_field(name="Voice", value=render.cut(found.voice_id or "—", 1024))
    embed.set_footer(text=f"write @{found.name} in a /generate prompt to bring them in")
    return embed


class CharactersCog(commands.Cog):
    group = app_commands.Group(name="character", description="The cast: @Name in prompts",
                               guild_only=True)

    @group.command(name="add", description="Add a character (producers and chapter owners)")
    @app_commands.describe(
        name="written @Name in prompts", trigger_words="words the model knows them by",
        lora="a LoRA name, for samplers that load LoRAs", voice_id="the voice they speak in",
        reference="a reference image", reference_2="another", reference_3="another",
        reference_4="another")
    async def add(self, interaction: discord.Interaction, name: Name,
                  trigger_words: app_commands.Range[str, 0, 500] = "",
                  lora: app_commands.Range[str, 0, 200] = "",
                  voice_id: app_commands.Range[str, 0, 100] = "",
                  reference: discord.Attachment | None = None,
                  reference_2: discord.Attachment | None = None,
                  reference_3: discord.Attachment | None = None,
                  reference_4: discord.Attachment | None = None) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            settings = ctx.studio.settings
            given = [a for a in (reference, reference_2, reference_3, reference_4) if a]
            paths = []
            try:
                for attachment in given:
                    paths.append(await saved(attachment, settings.upload_max_bytes,
                                             settings.data_dir / "tmp"))
                made = await characters.add(ctx.studio, ctx.production, ctx.actor, name,
                                            trigger_words=trigger_words, lora=lora,
                                            reference_files=paths, voice_id=voice_id)
            finally:
                for path in paths:
                    path.unlink(missing_ok=True)
            return Answer(f"@{made.name} joins the cast: write @{made.name} in a prompt.",
                          embeds=[character_embed(made)])
        await answer(interaction, work())

    @group.command(name="list", description="Every character of the production")
    async def list_(self, interaction: discord.Interaction) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            cast = await characters.listed(ctx.studio, ctx.production)
            lines = [render.cut(f"**@{c.name}** — {c.trigger_words or 'no trigger words'}"
                                + (" · LoRA" if c.lora else "")
                                + (f" · {len(c.references)} image(s)" if c.references else "")
                                + (" · voice" if c.voice_id else ""), 190)
                     for c in cast[:20]]
            more = f"\n…and {len(cast) - 20} more" if len(cast) > 20 else ""
            text = "\n".join(lines) + more if lines else "No characters yet: /character add."
            return Answer(embeds=[discord.Embed(title="Cast", description=text,
                                                colour=render.COLOUR)], ephemeral=True)
        await answer(interaction, work(), ephemeral=True)

    @group.command(name="show", description="One character: trigger words, LoRA, images, voice")
    async def show(self, interaction: discord.Interaction, name: Name) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            found = await characters.show(ctx.studio, ctx.production, name)
            return Answer(embeds=[character_embed(found)], ephemeral=True)
        await answer(interaction, work(), ephemeral=True)


async def setup(bot: SlateBot) -> None:
    await bot.add_cog(CharactersCog())
