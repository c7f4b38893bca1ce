"""/generate, /jobs, /take upload, /stem upload, /budget: thin faces over studio.generate.

The cog starts the generation worker when it loads (restarts resume the queue) and stops it
when it unloads; the jobs stay in the database either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs import render
from cogs.common import Answer, answer, context, studio_of
from cogs.job_cards import CancelJob, JobCards
from cogs.pick import counted
from cogs.take_posts import TakeAction, post_take, provenance_lines
from cogs.uploads import saved
from storage.jobs import Job
from storage.stems import STEM_KINDS
from studio.app import Studio
from studio.errors import InvalidInput
from studio.generation import job_cards, link_takes, provenance, requests
from studio.generation.takes import add_stem

if TYPE_CHECKING:
    from cogs.slate_bot import SlateBot

Code = app_commands.Range[str, 3, 20]
KINDS = [app_commands.Choice(name=k, value=k) for k in ("image", "video", "upscale", "voice")]
STEMS = [app_commands.Choice(name=k, value=k) for k in STEM_KINDS]


def job_line(job: Job) -> str:
    bar = render.progress_bar(job.progress)
    tail = f" — {render.cut(job.error, 80)}" if job.error and job.state == "failed" else ""
    return f"`#{job.id}` {job.kind} on {job.provider}: **{job.state}** {bar}{tail}"


@counted
async def complete_provider(interaction: discord.Interaction, typed: str
                            ) -> list[app_commands.Choice[str]]:
    """The configured providers that make the kind chosen so far."""
    kind = str(getattr(interaction.namespace, "kind", "") or "")
    names = requests.providers_for(studio_of(interaction), kind)
    return [app_commands.Choice(name=n, value=n) for n in names
            if n.startswith(typed.strip().lower())][:25]


@counted
async def complete_tool(interaction: discord.Interaction, typed: str
                        ) -> list[app_commands.Choice[str]]:
    """The usual tools; anything else is kept as typed."""
    return [app_commands.Choice(name=t, value=t) for t in provenance.tools_matching(typed)][:25]


class GenerateCog(commands.Cog):
    def __init__(self, bot: SlateBot) -> None:
        self.bot = bot
        self.studio: Studio = bot.studio
        self.cards = JobCards(bot, self.studio, post_take)
        bot.slate_job_cards = self.cards

    async def cog_load(self) -> None:
        q = requests.queue(self.studio)
        q.listeners.append(self.cards.on_job)
        # Cards first: a job the worker resumes finds its card already followed.
        await self.cards.resume()
        await q.start()

    async def cog_unload(self) -> None:
        q = requests.queue(self.studio)
        if self.cards.on_job in q.listeners:
            q.listeners.remove(self.cards.on_job)
        await self.cards.close()
        await requests.close_queue(self.studio)

    @app_commands.command(name="generate", description="Generate a take for a shot you hold")
    @app_commands.choices(kind=KINDS)
    @app_commands.autocomplete(provider=complete_provider)
    @app_commands.describe(
        shot="chapter.shot, e.g. 3.2", prompt="what to make; @Name brings in a character",
        provider="who makes it (default: the production's)", seed="same seed, same frame",
        negative_prompt="what to keep out (image, video)",
        motion="video: 1 (almost still) to 10", duration="video seconds",
        ratio="image, video: 16:9, 9:16, 1:1, … or W:H",
        from_take="video, upscale: the image take to start from (its revision, r2 → 2)",
        strength="upscale: 0 (faithful) to 1 (inventive)", scale="upscale: 1–4×",
        voice_id="voice: the provider's voice (default: a character's)",
        reference="image: a take of the shot to guide it (its revision)")
    @app_commands.guild_only()
    async def generate_(self, interaction: discord.Interaction, kind: app_commands.Choice[str],
                        shot: Code, prompt: app_commands.Range[str, 0, 2000] | None = None,
                        provider: app_commands.Range[str, 1, 40] | None = None,
                        seed: app_commands.Range[int, 0, 4294967295] | None = None,
                        negative_prompt: app_commands.Range[str, 0, 2000] | None = None,
                        motion: app_commands.Range[int, 1, 10] | None = None,
                        duration: app_commands.Range[float, 1.0, 10.0] | None = None,
                        ratio: app_commands.Range[str, 3, 11] | None = None,
                        from_take: app_commands.Range[int, 1, 100_000] | None = None,
                        strength: app_commands.Range[float, 0.0, 1.0] | None = None,
                        scale: app_commands.Range[float, 1.0, 4.0] | None = None,
                        voice_id: app_commands.Range[str, 1, 100] | None = None,
                        reference: app_commands.Range[int, 1, 100_000] | None = None) -> None:
        given = {name: value for name, value in (
            ("prompt", prompt), ("provider", provider), ("seed", seed),
            ("negative_prompt", negative_prompt), ("motion", motion), ("duration", duration),
            ("ratio", ratio), ("from_take", from_take), ("strength", strength),
            ("scale", scale), ("voice_id", voice_id), ("reference", reference))
            if value is not None}

        async def work() -> Answer:
            ctx = await context(interaction)
            queued = await requests.ask(ctx.studio, ctx.production, ctx.actor, shot,
                                        kind.value, given)
            return await self.cards.open(interaction, queued)
        await answer(interaction, work())
        await self.cards.opened(interaction)

    jobs = app_commands.Group(name="jobs", description="Generation jobs", guild_only=True)

    @jobs.command(name="list", description="My jobs (producers: everyone's)")
    async def jobs_list(self, interaction: discord.Interaction, everyone: bool = False) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            rows = await requests.jobs_of(ctx.studio, ctx.production, ctx.actor,
                                          everyone=everyone, limit=15)
            return Answer("\n".join(job_line(j) for j in rows) or "no jobs yet",
                          ephemeral=True)
        await answer(interaction, work(), ephemeral=True)

    @jobs.command(name="cancel", description="Cancel a queued or running job")
    async def jobs_cancel(self, interaction: discord.Interaction, job: int) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            done = await requests.cancel(ctx.studio, ctx.production, ctx.actor, job)
            return Answer(job_line(done))
        await answer(interaction, work())

    take = app_commands.Group(name="take", description="Takes", guild_only=True)

    @take.command(name="upload", description="Add a take made elsewhere (video, image, audio)")
    @app_commands.autocomplete(tool=complete_tool)
    @app_commands.describe(
        file="the take (Discord's upload limit applies: use url for larger files)",
        url="an https link to the file (a Discord CDN, Runway or Pika download, a file host)",
        tool="the tool that made it", model="the tool's model or version",
        prompt="the prompt it was made from", seed="the seed the tool reported",
        motion="video: the motion strength used, 1 (almost still) to 10",
        cost="what it cost in US dollars (counted in /budget)",
        source_url="the tool's page for the job", based_on="the take it was made from "
                                                           "(its revision: r1 → 1)")
    async def take_upload(self, interaction: discord.Interaction, shot: Code,
                          file: discord.Attachment | None = None,
                          url: app_commands.Range[str, 8, 2000] | None = None,
                          tool: app_commands.Range[str, 1, 40] | None = None,
                          model: app_commands.Range[str, 1, 100] | None = None,
                          prompt: app_commands.Range[str, 1, 2000] | None = None,
                          seed: app_commands.Range[int, 0, 2**53] | None = None,
                          motion: app_commands.Range[int, 1, 10] | None = None,
                          cost: app_commands.Range[float, 0.0, 100_000.0] | None = None,
                          source_url: app_commands.Range[str, 8, 1000] | None = None,
                          based_on: app_commands.Range[int, 1, 100_000] | None = None) -> None:
        declared = {name: value for name, value in (
            ("tool", tool), ("model", model), ("prompt", prompt), ("seed", seed),
            ("motion", motion), ("cost", cost), ("source_url", source_url),
            ("based_on", based_on)) if value is not None}
        if url is not None and file is None:
            async def fetch() -> Answer:
                ctx = await context(interaction)
                queued = await link_takes.ask(ctx.studio, ctx.production, ctx.actor, shot, url,
                                              declared)
                return await self.cards.open(interaction, queued)
            await answer(interaction, fetch())
            await self.cards.opened(interaction)
            return

        async def work() -> Answer:
            if (file is None) == (url is None):
                raise InvalidInput("give the take as a file or as a url, one of the two")
            assert file is not None
            ctx = await context(interaction)
            settings = ctx.studio.settings
            path = await saved(file, settings.upload_max_bytes, settings.data_dir / "tmp")
            try:
                made = await requests.upload_take(ctx.studio, ctx.production, ctx.actor, shot,
                                                  path, original_name=file.filename,
                                                  declared=declared)
            finally:
                path.unlink(missing_ok=True)
            post = await job_cards.take_to_post(ctx.studio, made.id)
            if post is not None:  # the take's own post in its chapter's thread
                self.cards.spawn_post(post, interaction.channel_id)
            lines = [f"take r{made.revision} of shot {render.cut(shot, 20)} added "
                     f"({made.kind}, `{render.cut(file.filename, 60)}`)"]
            if post is not None:
                lines += provenance_lines(post, post.based_on_revision)
            return Answer(render.cut("\n".join(lines), 2000))
        await answer(interaction, work())

    stem = app_commands.Group(name="stem", description="A chapter's audio stems",
                              guild_only=True)

    @stem.command(name="upload", description="Add a chapter's VO, SFX or music stem")
    @app_commands.choices(kind=STEMS)
    async def stem_upload(self, interaction: discord.Interaction,
                          chapter: app_commands.Range[int, 1, 10_000],
                          kind: app_commands.Choice[str], file: discord.Attachment) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            settings = ctx.studio.settings
            path = await saved(file, settings.upload_max_bytes, settings.data_dir / "tmp")
            try:
                await add_stem(ctx.studio, ctx.production, ctx.actor, chapter, kind.value, path,
                               original_name=file.filename)
            finally:
                path.unlink(missing_ok=True)
            return Answer(f"chapter {chapter}'s {kind.value} stem is now "
                          f"`{render.cut(file.filename, 60)}`")
        await answer(interaction, work())

    @app_commands.command(name="budget", description="Generation spend by member and provider")
    @app_commands.guild_only()
    async def budget(self, interaction: discord.Interaction) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            spent, limit, rows = await requests.budget(ctx.studio, ctx.production)
            declared = sum(r.cost for r in rows if r.uploaded)
            head = f"spent ${spent:.2f}" + (f" of ${limit:.2f}" if limit else "") + \
                " on generation" + (f" · ${declared:.2f} declared on uploaded takes"
                                    if declared else "")
            lines = [f"{render.cut(r.member_name, 20)} · {render.cut(r.provider, 40)}: "
                     + (f"{r.uploaded} uploaded takes" if r.uploaded else f"{r.jobs} jobs")
                     + f", ${r.cost:.2f}" for r in rows[:20]]
            return Answer("\n".join([head, *lines]), ephemeral=True)
        await answer(interaction, work(), ephemeral=True)


async def setup(bot: SlateBot) -> None:
    bot.add_dynamic_items(CancelJob, TakeAction)
    await bot.add_cog(GenerateCog(bot))
