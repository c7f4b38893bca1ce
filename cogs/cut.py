"""/cut now|latest|status and the nightly build: the cog only schedules and shows.

The rules (one build at a time, what counts as a missed night, when a night is skipped) live in
studio/cut.py; here the nightly time is set in the production's zone, a night missed while the
bot was down is built at start-up, and each cut is posted to the production's cuts channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands, tasks

from cogs.common import Answer, answer, context, reference
from cogs.render import cut as truncate
from storage.cuts import Cut
from storage.members import many as members_by_id
from storage.productions import Production
from studio.app import Studio
from studio.cut import build, changelog, film, handoff, publish
from studio.errors import NotFound
from studio.ops.screening_links import screening_link
from studio.production import board

if TYPE_CHECKING:
    from cogs.slate_bot import SlateBot

log = logging.getLogger("slate.cogs.cut")

PROGRESS_EVERY_S = 2.0  # edits of the "building…" message: well under Discord's rate limits


def describe(result: build.CutResult, mentions: dict[int, str], where: str,
             screening: str | None = None) -> str:
    """The post in the cuts channel: the changelog, who must look at a broken take or stem,
    where the whole film is when it is too big to post (`where`: its link or its place), and
    always a fresh signed link to the cut's screening page."""
    lines = [result.changelog.strip()]
    for b in result.broken:
        who = mentions.get(b.owner_id or 0, b.owner or "the producers")
        lines.append(f"⚠ shot {b.code}: take {b.take_id} broke the cut and is shown as a slate "
                     f"— {who}, please check it ({b.reason})")
    for s in result.broken_stems:
        who = mentions.get(s.owner_id or 0, s.owner or "the producers")
        lines.append(f"⚠ chapter {s.chapter}: its {s.kind} stem could not be read and is left "
                     f"out of this cut — {who}, please upload it again ({s.reason})")
    shown = ""
    if result.preview is None:
        lines.append(f"(the film is too large to post here; it is {where})")
        shown = where
    elif result.preview != result.film and where.startswith("http"):
        lines.append(f"(a smaller preview is attached; the whole film: {where})")
        shown = where
    if screening and screening != shown:
        lines.append(f"▶ screening room: {screening}")
    return truncate("\n".join(lines), 2000)


def progress_text(version: int | None, stage: str, fraction: float) -> str:
    head = f"building cut {version}" if version else "building the cut"
    return f"{head}: {stage} {fraction:.0%}"


def latest_embed(latest: Cut) -> discord.Embed:
    embed = discord.Embed(title=f"Cut {latest.version}",
                          description=truncate(latest.changelog or "—", 4000))
    embed.add_field(name="Runtime", value=changelog.clock(latest.duration or 0))
    embed.add_field(name="Approved", value=f"{latest.shots_approved}/{latest.shots_total}")
    embed.set_footer(text=f"built {latest.finished_at or latest.started_at} ({latest.trigger})")
    return embed


class CutCog(commands.Cog):
    group = app_commands.Group(name="cut", description="The film, stitched every night",
                               guild_only=True)

    def __init__(self, bot: SlateBot) -> None:
        self.bot = bot
        self.studio: Studio = bot.studio
        settings = self.studio.settings
        at = dt.time(settings.cut_time.hour, settings.cut_time.minute, tzinfo=settings.zone)
        self.nightly.change_interval(time=at)

    async def cog_load(self) -> None:
        self.nightly.start()

    async def cog_unload(self) -> None:
        self.nightly.cancel()

    # --- the schedule ------------------------------------------------------------------------

    @tasks.loop(time=dt.time(4, 0))
    async def nightly(self) -> None:
        for prod in await self._productions():
            await self._night(prod)

    @nightly.before_loop
    async def _missed_at_startup(self) -> None:
        await self.bot.wait_until_ready()
        for prod in await self._productions():
            if await build.nightly_missed(self.studio, prod):
                log.info("the nightly cut of %r was missed while down: building it now",
                         prod.title)
                await self._night(prod)

    async def _productions(self) -> list[Production]:
        found = []
        for guild in self.bot.guilds:
            with contextlib.suppress(NotFound):
                found.append(await board.get(self.studio.db, guild.id))
        return found

    async def _night(self, prod: Production) -> None:
        try:
            result = await build.nightly(self.studio, prod)
        except build.CutBusy:
            log.info("nightly cut of %r skipped: a build is running", prod.title)
            return
        except Exception as exc:  # one production's failure must not stop the loop
            ref = reference(f"nightly cut of {prod.title!r}", exc)
            # A failed build says why (its verdict has no paths); anything else, only its ref.
            why = f": {exc.reason}" if isinstance(exc, build.CutFailed) else ""
            await self._post(prod, f"the nightly cut failed{why} (ref {ref}); the last cut stands")
            return
        if result is not None:
            await self.publish(prod, result)

    # --- posting -------------------------------------------------------------------------------

    async def publish(self, prod: Production, result: build.CutResult) -> None:
        ids = [b.owner_id for b in [*result.broken, *result.broken_stems] if b.owner_id]
        people = await members_by_id(self.studio.db.reader, ids)
        mentions = {i: m.mention for i, m in people.items()}
        files = []
        if result.preview is not None:
            files.append(discord.File(result.preview,
                                      filename=f"cut-{result.cut.version:04d}.mp4"))
        settings = self.studio.settings
        link = screening_link(settings, prod.id, result.cut.version)
        # A film too big to attach, with no SLATE_CUTS_URL, is watched in the screening room.
        where = publish.film_link(settings, result.directory) or link
        await self._post(prod, describe(result, mentions, where, link), files)

    async def _post(self, prod: Production, text: str,
                    files: list[discord.File] | None = None) -> None:
        channel = self.bot.get_channel(prod.cuts_channel_id or 0)
        if not isinstance(channel, discord.abc.Messageable):
            log.warning("production %r has no cuts channel the bot can see", prod.title)
            return
        try:
            await channel.send(text, files=files or [],
                               allowed_mentions=discord.AllowedMentions(users=True))
        except discord.HTTPException:
            log.exception("could not post to the cuts channel of %r", prod.title)

    # --- commands ------------------------------------------------------------------------------

    @group.command(name="now", description="Build, verify and post the cut now (producers)")
    async def now(self, interaction: discord.Interaction) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            ctx.require_producer("building a cut")
            last_edit = [0.0]
            pending: set[asyncio.Task] = set()

            def progress(stage: str, fraction: float) -> None:
                # Shown only once the answer is deferred, and at most every few seconds.
                if not interaction.response.is_done() or stage == "published":
                    return
                if time.monotonic() - last_edit[0] < PROGRESS_EVERY_S:
                    return
                last_edit[0] = time.monotonic()
                running = build.RUNNING.get(ctx.production.id)
                task = asyncio.create_task(interaction.edit_original_response(
                    content=progress_text(running.version if running else None, stage,
                                          fraction)))
                pending.add(task)
                task.add_done_callback(pending.discard)

            result = await build.build(ctx.studio, ctx.production, trigger="discord",
                                     on_progress=progress)
            for task in list(pending):
                with contextlib.suppress(discord.HTTPException):
                    await task
            await self.publish(ctx.production, result)
            where = (f"<#{ctx.production.cuts_channel_id}>" if ctx.production.cuts_channel_id
                     else "no cuts channel is set")
            return Answer(f"cut {result.cut.version} is published "
                          f"({changelog.clock(result.timeline.duration)}, "
                          f"{len(result.timeline.approved)}/{len(result.timeline.shots)} "
                          f"shots approved): {where}")
        await answer(interaction, work())

    @group.command(name="latest", description="The latest published cut")
    async def latest(self, interaction: discord.Interaction) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            _, latest = await build.status(ctx.studio, ctx.production)
            if latest is None:
                return Answer("no cut has been published yet", ephemeral=True)
            files = []
            preview = _preview_of(latest)
            if preview is not None and preview.stat().st_size <= \
                    ctx.studio.settings.cut_preview_max_bytes:
                files.append(discord.File(preview, filename=f"cut-{latest.version:04d}.mp4"))
            # A fresh link for this member, whether or not the film could be attached.
            link = screening_link(ctx.studio.settings, ctx.production.id, latest.version)
            embed = latest_embed(latest)
            embed.url = link
            embed.add_field(name="Watch", value=f"[screening room]({link})"
                            + ("" if files else " (too large to attach here)"), inline=False)
            return Answer(embeds=[embed], files=files, ephemeral=True)
        await answer(interaction, work(), ephemeral=True)

    @group.command(name="handoff",
                   description="Where a cut's editor's hand-off is (FCP XML, OTIO, EDL, media)")
    @app_commands.describe(version="the cut (default: the latest)")
    async def handoff(self, interaction: discord.Interaction,
                      version: app_commands.Range[int, 1, 1_000_000] | None = None) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            found, folder = await handoff.ensure(ctx.studio, ctx.production, version)
            link = handoff.link(ctx.studio.settings, ctx.production.id, found)
            where = f"download it: {link}" if link else f"on the server at `{folder}`"
            return Answer(f"cut {found}'s hand-off (FCP XML for Premiere and Resolve, OTIO, "
                          f"EDL and the original takes and stems) is {where}", ephemeral=True)
        await answer(interaction, work(), ephemeral=True)

    @group.command(name="status", description="Is a cut being built, and when is the next one")
    async def status(self, interaction: discord.Interaction) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            running, latest = await build.status(ctx.studio, ctx.production)
            lines = []
            if running is not None:
                lines.append(progress_text(running.version, running.stage, running.fraction))
            else:
                lines.append("no cut is being built")
            if latest is not None:
                lines.append(f"latest: cut {latest.version} "
                             f"({latest.shots_approved}/{latest.shots_total} shots approved, "
                             f"{changelog.clock(latest.duration or 0)})")
            next_run = self.nightly.next_iteration
            if next_run is not None:
                lines.append(f"next nightly cut: <t:{int(next_run.timestamp())}:f>")
            return Answer("\n".join(lines), ephemeral=True)
        await answer(interaction, work(), ephemeral=True)


def _preview_of(latest: Cut) -> Path | None:
    if not latest.path:
        return None
    folder = Path(latest.path)
    for name in ("preview.mp4", film.FILM):
        if (folder / name).exists():
            return folder / name
    return None


async def setup(bot: SlateBot) -> None:
    await bot.add_cog(CutCog(bot))
