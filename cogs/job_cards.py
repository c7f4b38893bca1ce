"""Job cards: the reply to /generate (or a take's button) that follows its job to the end.

A card is edited as the job moves (queued → submitted → running → done/failed/cancelled), at
most once every EDIT_EVERY_S per card: updates in between are coalesced and the last state
always lands. Edits go through the interaction while its token lives (15 minutes), then as a
channel message edit, then as a new post if the card is gone. When the job makes a take, the
take is posted in its chapter's thread. What is shown where is recorded, so a restart keeps
editing running jobs' cards and posts takes that were not posted yet.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import discord

from cogs import render
from cogs.common import Answer, answer, context
from storage.jobs import Job
from studio.app import Studio
from studio.generation import job_cards, requests
from studio.generation.job_cards import TakeToPost
from studio.generation.requests import Queued
from studio.ops.masking import mask
from studio.review import notices

log = logging.getLogger("slate.cogs.job_cards")

EDIT_EVERY_S = 2.0
# Interaction tokens last 15 minutes; a card stops using its token a minute before.
TOKEN_SAFE_S = 14 * 60.0
STATE_WORDS = {"queued": "queued", "submitted": "submitted", "running": "running",
               "succeeded": "done", "failed": "failed", "cancelled": "cancelled"}


def card_text(job: Job, *, ahead: int | None = None, revision: int | None = None,
              post: str | None = None) -> str:
    params = job.parameters
    shot = params.get("shot", "?")
    head = f"**Job #{job.id}** · {job.kind} for shot {shot} on {job.provider}"
    if job.kind == "upload":  # a take fetched from a link
        head = f"**Job #{job.id}** · take for shot {shot} fetched from {params.get('host', '?')}"
    progress = 1.0 if job.state == "succeeded" else job.progress
    state = STATE_WORDS.get(job.state, job.state)
    line = f"{render.progress_bar(progress)} {round(progress * 100)}% · **{state}**"
    if job.state == "queued" and ahead is not None:
        line += " — next in line" if ahead == 0 else f" — {ahead} ahead in the queue"
    elif job.state == "succeeded" and revision is not None:
        # The take lives in one place, its post: the card links there (issue 22).
        line += (f" — take r{revision} is posted for review: {post}" if post
                 else f" — take r{revision} is made; posting it…")
    elif job.state in ("failed", "cancelled") and job.error:
        line += f" — {render.cut(job.error, 300)}"
    if params.get("notice"):  # e.g. the provider has no motion control
        line += f"\n⚠ {render.cut(str(params['notice']), 300)}"
    return f"{head}\n{line}"


def card_view(job: Job) -> discord.ui.View:
    """Cancel while the job runs; no buttons once it is done."""
    view = discord.ui.View(timeout=None)
    if not job.done:
        view.add_item(CancelJob(job.id))
    return view


@dataclass(eq=False)
class Card:
    job_id: int
    channel_id: int | None
    message_id: int | None = None
    interaction: discord.Interaction | None = None
    shown: str = ""
    shown_at: float = 0.0
    latest: Job | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    final_shown: bool = False


PostTake = Callable[[discord.Client, Studio, TakeToPost, int | None],
                   Awaitable[discord.Message | None]]


class JobCards:
    """Every live card of this bot, fed by the job queue's listener hook."""

    def __init__(self, bot: discord.Client, studio: Studio, post_take: PostTake) -> None:
        self.bot = bot
        self.studio = studio
        # Handed in by the generate cog: the take post (cogs/take_posts.py) calls this module,
        # not the other way round.
        self.post_take = post_take
        self.cards: dict[int, Card] = {}
        self._opening: dict[int, Card] = {}  # interaction id → card whose reply is on its way
        self._posting: set[int] = set()
        self._tasks: set[asyncio.Task] = set()
        self._resumed = False

    # --- the queue's hook -------------------------------------------------------------------

    def on_job(self, job: Job) -> None:
        """Called by the queue on every change: only schedules work, never waits on Discord."""
        card = self.cards.get(job.id)
        if card is not None:
            card.latest = job
            self._kick(card)
        if job.state == "succeeded" and job.take_id is not None:
            self._spawn(self._post_take(job, card.channel_id if card else None))

    # --- opening a card ---------------------------------------------------------------------

    async def open(self, interaction: discord.Interaction, queued: Queued) -> Answer:
        """The reply announcing a queued job; `opened` then starts following it."""
        job = queued.job
        card = Card(job.id, interaction.channel_id, interaction=interaction, latest=job)
        card.shown = card_text(job, ahead=queued.position)
        self.cards[job.id] = card
        self._opening[interaction.id] = card
        return Answer(card.shown, view=card_view(job))

    async def opened(self, interaction: discord.Interaction) -> None:
        """The reply is shown: learn its message, record it, and let edits begin."""
        card = self._opening.pop(interaction.id, None)
        if card is None:
            return  # the command was refused: no card
        card.shown_at = time.monotonic()
        try:
            message = await interaction.original_response()
            card.message_id = message.id
            await job_cards.record_card(self.studio, card.job_id, card.channel_id, message.id)
        except discord.HTTPException:
            log.exception("job %s: the card's message could not be read", card.job_id)
        card.ready.set()
        self._kick(card)

    # --- editing ----------------------------------------------------------------------------

    def _kick(self, card: Card) -> None:
        if card.task is None or card.task.done():
            card.task = self._spawn(self._follow(card))

    async def _follow(self, card: Card) -> None:
        """Show the newest state, no sooner than EDIT_EVERY_S after the last edit."""
        await card.ready.wait()
        failures = 0
        while True:
            wait = card.shown_at + EDIT_EVERY_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            job = card.latest
            assert job is not None
            text = await self._text(job)
            if text != card.shown:
                try:
                    await self._edit(card, job, text)
                    card.shown = text
                except discord.HTTPException:  # Discord hiccuped: the next turn tries again
                    failures += 1
                    log.warning("job %s: card edit failed (%d)", card.job_id, failures,
                                exc_info=True)
                card.shown_at = time.monotonic()
                if card.shown != text and failures < 3:
                    continue
            if card.latest is job:
                if job.state == "succeeded" and job.take_id is not None and failures < 3:
                    if not await self._take_posted(job):
                        return  # the take's post kicks the card again, to link it
                    if await self._text(job) != card.shown:
                        continue  # posted while this edit was made: link it now
                break
        if job.done:
            card.final_shown = True
            self.cards.pop(card.job_id, None)
            await self._settle_if_done(job)

    async def _take_posted(self, job: Job) -> bool:
        recorded = await job_cards.card_of(self.studio, job.id)
        return recorded is not None and recorded.take_message_id is not None

    async def _text(self, job: Job) -> str:
        revision = post = None
        if job.take_id is not None:
            take = await job_cards.take_of(self.studio, job.take_id)
            revision = take.revision if take else None
            recorded = await job_cards.card_of(self.studio, job.id)
            if recorded is not None and recorded.take_message_id is not None:
                prod = await notices.production_of(self.studio.db, job.production_id)
                post = (f"https://discord.com/channels/{prod.guild_id if prod else 0}/"
                        f"{recorded.take_channel_id}/{recorded.take_message_id}")
        return mask(card_text(job, revision=revision, post=post))  # an error quotes its provider

    async def _edit(self, card: Card, job: Job, text: str) -> None:
        view = card_view(job)
        interaction = card.interaction
        if interaction is not None:
            age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
            if age < TOKEN_SAFE_S:
                try:
                    await interaction.edit_original_response(content=text, view=view)
                    return
                except discord.HTTPException as exc:  # the token expired or was revoked
                    log.info("job %s: card edit through the interaction failed (%s); "
                             "editing the message instead", card.job_id, exc.status)
            card.interaction = None
        if card.channel_id is None:
            return
        channel = self.bot.get_partial_messageable(card.channel_id)
        if card.message_id is not None:
            try:
                await channel.get_partial_message(card.message_id).edit(content=text,
                                                                        view=view)
                return
            except (discord.NotFound, discord.Forbidden):
                pass  # the card was deleted (or cannot be edited): post a fresh one
        try:
            message = await channel.send(text, view=view,
                                         allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException:
            log.exception("job %s: the card could not be shown", card.job_id)
            return
        card.message_id = message.id
        await job_cards.record_card(self.studio, card.job_id, card.channel_id, message.id)

    # --- the finished take ------------------------------------------------------------------

    async def _post_take(self, job: Job, fallback_channel_id: int | None) -> None:
        if job.id in self._posting or job.take_id is None:
            return
        self._posting.add(job.id)
        try:
            recorded = await job_cards.card_of(self.studio, job.id)
            if recorded is not None and recorded.take_message_id is not None:
                return
            post = await job_cards.take_to_post(self.studio, job.take_id)
            if post is None:
                return
            await self.bot.wait_until_ready()  # threads are made under a cached channel
            fallback = fallback_channel_id or (recorded.channel_id if recorded else None)
            sent = await self.post_take(self.bot, self.studio, post, fallback)
            if sent is None:
                log.warning("job %s: take r%s has nowhere to be posted (no takes channel)",
                            job.id, post.take.revision)
                return
            await job_cards.record_take_post(self.studio, job.id, sent.channel.id, sent.id)
            card = self.cards.get(job.id)
            if card is not None:
                self._kick(card)  # the card links to the post
        except discord.HTTPException:
            log.exception("job %s: the take could not be posted; the next start tries again",
                          job.id)
            return
        finally:
            self._posting.discard(job.id)
        await self._settle_if_done(job)

    async def _settle_if_done(self, job: Job) -> None:
        if job.id in self.cards or job.id in self._posting:
            return  # the card still has an edit to make, or the take is being posted
        recorded = await job_cards.card_of(self.studio, job.id)
        if recorded is None:
            return
        if job.state != "succeeded" or recorded.take_message_id is not None:
            await job_cards.settle(self.studio, job.id)

    # --- restarts ---------------------------------------------------------------------------

    async def resume(self) -> None:
        """Pick up the cards of jobs still running and the takes not posted yet (at start-up:
        REST works from login; posting a take waits for the gateway's channel cache)."""
        if self._resumed:
            return
        self._resumed = True
        for found in await job_cards.pending(self.studio):
            job = found.job
            if found.card.message_id is not None and job.id not in self.cards:
                card = Card(job.id, found.card.channel_id, found.card.message_id, latest=job)
                card.ready.set()
                self.cards[job.id] = card
                if job.done:
                    self._kick(card)
            if job.state == "succeeded" and job.take_id and found.card.take_message_id is None:
                self._spawn(self._post_take(job, found.card.channel_id))
            elif job.done and found.card.message_id is None:
                await job_cards.settle(self.studio, job.id)

    # --- housekeeping -----------------------------------------------------------------------

    def spawn_post(self, post: TakeToPost, fallback_channel_id: int | None) -> None:
        """Post an uploaded take (no job follows it) in its chapter's thread, in the background."""
        async def send() -> None:
            try:
                sent = await self.post_take(self.bot, self.studio, post, fallback_channel_id)
                if sent is not None:  # the vote goes on this post later: one place per take
                    await job_cards.record_upload_post(self.studio, post.take.id,
                                                       sent.channel.id, sent.id)
            except Exception:  # the take is stored; only its post is missing
                log.exception("the post of take %s failed", post.take.id)
        self._spawn(send())

    def _spawn(self, work) -> asyncio.Task:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def cards_of(client: discord.Client) -> JobCards:
    found: JobCards | None = getattr(client, "slate_job_cards", None)
    if found is None:
        raise RuntimeError("the generate cog is not loaded")
    return found


class CancelJob(discord.ui.DynamicItem[discord.ui.Button],
                template=r"slate:job:(?P<job>\d+):cancel"):
    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(discord.ui.Button(label="Cancel", style=discord.ButtonStyle.danger,
                                           custom_id=f"slate:job:{job_id}:cancel"))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str]) -> CancelJob:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await answer(interaction, self._cancel(interaction), ephemeral=True)

    async def _cancel(self, interaction: discord.Interaction) -> Answer:
        ctx = await context(interaction)
        done = await requests.cancel(ctx.studio, ctx.production, ctx.actor, self.job_id)
        # The card itself follows through the queue's hook, within EDIT_EVERY_S.
        return Answer(f"Job #{done.id} is {done.state}.", ephemeral=True)
