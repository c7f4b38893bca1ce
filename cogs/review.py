"""Review in Discord: candidate takes carry 👍/👎 votes; /vote, /approve, /retake, /review.

Votes come from raw reaction events (they work for messages not in the cache), applied under a
per-guild lock so one guild's events are stored in the order Discord sent them. At start-up and
before a vote closes, every running vote is reconciled with Discord's reaction lists, so
reactions cast while the bot was down are counted. Deadlines are durable timers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from cogs import pick
from cogs.common import Answer, answer, context, display_name, is_producer
from cogs.render import cut as truncate
from cogs.take_posts import post_take
from cogs.threads import post_in_chapter
from cogs.vote_posts import OUTCOME_TEXT, creators_line, message_link, vote_embed, when
from storage.productions import Production
from storage.timers import Timer
from studio.app import Studio
from studio.errors import NotFound
from studio.generation import job_cards
from studio.production import board
from studio.review import approvals, ballots, notices, queue, vote_messages, windows
from studio.review import rules as review_rules
from studio.review.ballots import VOTE_AGAINST, VOTE_FOR, Voter
from studio.review.timers import Dispatcher

if TYPE_CHECKING:
    from cogs.slate_bot import SlateBot

log = logging.getLogger("slate.cogs.review")

COLOUR = discord.Colour(0xD69E2E)
# Discord's reaction list pages hold at most 100 users.
REACTION_PAGE = 100
# Reaction events stored per transaction at most.
BATCH = 500
GATHER_S = 0.005


def status_embed(found: windows.VoteStatus, guild_id: int) -> discord.Embed:
    window = found.window
    if window is None:
        head = "never put to the vote"
    elif window.state == "open":
        head = f"voting, closes {when(window.deadline)}"
    elif window.state == "decision":
        head = f"waiting for a producer: {OUTCOME_TEXT.get(window.outcome, window.outcome)}"
    else:
        head = f"closed ({window.outcome})"
    embed = discord.Embed(title=truncate(f"Shot {found.ref.code} — vote", 256), colour=COLOUR,
                          description=truncate(
                              f"{head}\n{found.voters} voter(s) · quorum "
                              f"{found.rules.quorum} · margin {found.rules.margin:g} · "
                              f"{creators_line(found)}", 4096))
    for c in found.candidates[:25]:
        link = (f"[message]({message_link(guild_id, c.message.channel_id, c.message.message_id)})"
                if c.message else "not posted")
        embed.add_field(name=f"r{c.take.revision} · {c.take.status}",
                        value=f"score **{c.tally.score:+g}** ({VOTE_FOR} {c.tally.votes_for:g}"
                              f" · {VOTE_AGAINST} {c.tally.votes_against:g}) · {link}",
                        inline=False)
    return embed


QUEUE_ITEMS = 10
QUEUE_LINE = 400  # QUEUE_ITEMS × QUEUE_LINE stays under a description's 4096


def queue_embed(items: list[queue.QueueItem], guild_id: int) -> discord.Embed:
    kinds = {"unopened": "waiting for a vote", "voting": "voting",
             "decision": "waiting for a decision"}
    lines = []
    for item in items[:QUEUE_ITEMS]:
        line = truncate(f"**{item.ref.code}** · {kinds[item.kind]} since {when(item.since)} · "
                        f"{item.candidates} candidate(s)", 150)
        for shown, m in enumerate(item.messages):
            link = (f" [r{item.revision_of(m) or '?'}]"
                    f"({message_link(guild_id, m.channel_id, m.message_id)})")
            if len(line) + len(link) > QUEUE_LINE - 12:  # whole links only: a cut one breaks
                line += f" +{len(item.messages) - shown} more"
                break
            line += link
        lines.append(line)
    more = (f"\n…and {len(items) - QUEUE_ITEMS} more" if len(items) > QUEUE_ITEMS else "")
    return discord.Embed(title="Review queue", colour=COLOUR,
                         description=("\n".join(lines) + more) or "Nothing is waiting.")


async def complete_take(interaction: discord.Interaction, typed: str
                        ) -> list[app_commands.Choice[str]]:
    """Candidate takes the user may approve."""
    try:
        ctx = await context(interaction)
        found = await approvals.takes_to_approve(ctx.db, ctx.production, ctx.actor, typed)
    except Exception:
        log.exception("take autocomplete failed")
        return []
    return [app_commands.Choice(name=name, value=value) for name, value in found]


class ReviewCog(commands.Cog):
    vote = app_commands.Group(name="vote", description="Votes on a shot's candidate takes",
                              guild_only=True)
    queue_group = app_commands.Group(name="review", description="The review queue",
                                     guild_only=True)

    def __init__(self, bot: SlateBot) -> None:
        self.bot = bot
        self.studio: Studio = bot.studio
        self.timers = Dispatcher(self.studio.db)
        self.timers.on(windows.CLOSE_EVENT, self._deadline)
        self.pending: list[tuple[ballots.Event, int, discord.Member | None]] = []
        self._drainer: asyncio.Task | None = None
        self.handled = 0  # reaction events stored or found moot: a waiter knows one was seen
        # Held while a batch is stored or a vote reconciled: the two never interleave.
        self.applying = asyncio.Lock()
        self._cleanup: set[asyncio.Task] = set()
        # One poster per vote: two /vote open at once must not post a take twice.
        self._posting: dict[int, asyncio.Lock] = {}

    async def cog_unload(self) -> None:
        await self.timers.stop()
        await self.settled()

    # --- reactions --------------------------------------------------------------------------
    # Each listener only queues its event (in arrival order); one drainer applies the queue in
    # batches, each batch one transaction, so a burst of reactions costs a few commits.

    def _own(self, user_id: int) -> bool:
        return self.bot.user is not None and user_id == self.bot.user.id

    def _queue(self, event: ballots.Event, channel_id: int,
               member: discord.Member | None = None) -> None:
        self.pending.append((event, channel_id, member))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        while self.pending:
            if len(self.pending) < BATCH:
                # Let a burst gather: a few ms of delay turn many commits into one.
                await asyncio.sleep(GATHER_S)
            async with self.applying:
                batch, self.pending = self.pending[:BATCH], self.pending[BATCH:]
                try:
                    events = await self._with_roles(batch)
                    results = await ballots.apply_events(self.studio.db, events)
                    self.handled += len(batch)
                except Exception:
                    # Not stored: the next reconcile reads them back from Discord.
                    log.exception("could not store %d reaction events", len(batch))
                    self._later(self.reconcile_all())
                    continue
            for event, (_, channel_id, _), result in zip(events, batch, results, strict=True):
                if isinstance(event, ballots.Cleared):
                    # A moderator cleared reactions: put the vote buttons back while it is open.
                    self._later(self._reseed(channel_id, event.message_id, event.emoji))
                if isinstance(result, ballots.VoteChange) and result.stale_emoji is not None:
                    assert isinstance(event, ballots.Reaction)
                    # The member switched: take their other reaction away, one vote shows.
                    self._later(self._remove_reaction(channel_id, event.message_id,
                                                      result.stale_emoji, event.discord_id))

    async def settled(self) -> None:
        """Wait until every queued event is stored (tests and shutdown)."""
        while self._drainer is not None and not self._drainer.done():
            await asyncio.shield(self._drainer)

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.guild_id is None or self._own(payload.user_id):
            return
        member = payload.member
        self._queue(ballots.Reaction(
            payload.message_id, payload.user_id, str(payload.emoji), True,
            display_name(member) if member else str(payload.user_id)), payload.channel_id,
            member)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.guild_id is None or self._own(payload.user_id):
            return
        self._queue(ballots.Reaction(payload.message_id, payload.user_id, str(payload.emoji),
                                    False), payload.channel_id)

    @commands.Cog.listener()
    async def on_raw_reaction_clear(self, payload: discord.RawReactionClearEvent) -> None:
        self._queue(ballots.Cleared(payload.message_id), payload.channel_id)

    @commands.Cog.listener()
    async def on_raw_reaction_clear_emoji(self, payload: discord.RawReactionClearEmojiEvent
                                          ) -> None:
        self._queue(ballots.Cleared(payload.message_id, str(payload.emoji)), payload.channel_id)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        self._queue(ballots.Deleted(payload.message_id), payload.channel_id)

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent
                                         ) -> None:
        for message_id in payload.message_ids:
            self._queue(ballots.Deleted(message_id), payload.channel_id)

    async def _with_roles(self, batch: list[tuple[ballots.Event, int, discord.Member | None]]
                          ) -> list[ballots.Event]:
        """Mark the reactions of producers (their votes may weigh more)."""
        roles: dict[int, Production | None] = {}
        events = []
        for event, _, member in batch:
            if isinstance(event, ballots.Reaction) and member is not None:
                guild_id = member.guild.id
                if guild_id not in roles:
                    roles[guild_id] = await self._production(guild_id)
                prod = roles[guild_id]
                if prod is not None and is_producer(member, prod):
                    event = dataclasses.replace(event, is_producer=True)
            events.append(event)
        return events

    def _later(self, work) -> None:
        task = asyncio.create_task(work)
        self._cleanup.add(task)
        task.add_done_callback(self._cleanup.discard)

    async def _reseed(self, channel_id: int, message_id: int, emoji: str | None) -> None:
        if not await ballots.takes_votes(self.studio.db, message_id):
            return
        message = self.bot.get_partial_messageable(channel_id).get_partial_message(message_id)
        for seed in (VOTE_FOR, VOTE_AGAINST):
            if emoji is None or emoji == seed:
                try:
                    await message.add_reaction(seed)
                except discord.HTTPException as exc:
                    log.info("could not seed %s again on %s: %s", seed, message_id, exc)

    async def _remove_reaction(self, channel_id: int, message_id: int, emoji: str,
                               user_id: int) -> None:
        message = self.bot.get_partial_messageable(channel_id).get_partial_message(message_id)
        try:
            await message.remove_reaction(emoji, discord.Object(user_id))
        except discord.HTTPException as exc:
            # Without Manage Messages the old reaction stays; the stored vote is right anyway.
            log.info("could not remove a switched reaction on %s: %s", message_id, exc)

    async def _production(self, guild_id: int | None) -> Production | None:
        if guild_id is None:
            return None
        try:
            return await board.get(self.studio.db, guild_id)
        except NotFound:
            return None

    # --- reconciling with Discord -----------------------------------------------------------

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        await self.reconcile_all()
        self.timers.start()
        # A close committed just before a stop: its posts still say the vote is open.
        for window in await vote_messages.not_shown(self.studio.db):
            await self._show_vote(window.id)

    async def reconcile_all(self) -> None:
        for window in await windows.open_windows(self.studio.db):
            try:
                await self.reconcile(window.id)
            except discord.HTTPException:
                log.exception("could not reconcile vote %s", window.id)

    async def _reaction_users(self, channel_id: int, message_id: int, emoji: str
                              ) -> list[dict]:
        """Everyone who reacted with `emoji`, page by page (Discord gives 100 at a time)."""
        found: list[dict] = []
        after: int | None = None
        while True:
            page = await self.bot.http.get_reaction_users(channel_id, message_id, emoji,
                                                          REACTION_PAGE, after=after)
            found += page
            if len(page) < REACTION_PAGE:
                return found
            after = int(page[-1]["id"])

    async def reconcile(self, window_id: int) -> ballots.Reconciled:
        """Count what Discord shows for a running vote; deleted messages drop their votes."""
        found = await windows.window_status(self.studio.db, window_id)
        guild_id = (await self._guild_of(found.ref.production_id)) or 0
        prod = await self._production(guild_id)
        guild = self.bot.get_guild(guild_id)
        # Roles matter only when producers' votes weigh more, and only for votes not on record.
        weighed = prod is not None and found.rules.producer_weight != 1
        on_record = await ballots.voters_on_record(self.studio.db, window_id) if weighed else set()
        async with self.applying:
            lists: dict[int, dict[str, list[Voter]]] = {}
            for candidate in found.candidates:
                message = candidate.message
                if message is None:
                    continue
                try:
                    lists[message.message_id] = {
                        emoji: [await self._voter(user, guild, prod, weighed, on_record)
                                for user in await self._reaction_users(
                                    message.channel_id, message.message_id, emoji)]
                        for emoji in (VOTE_FOR, VOTE_AGAINST)}
                except discord.NotFound:
                    await ballots.apply_events(self.studio.db, [ballots.Deleted(
                        message.message_id)])
            me = self.bot.user.id if self.bot.user else 0
            done = await ballots.reconcile(self.studio.db, window_id, lists,
                                          ignore=frozenset({me}))
        for take_id, discord_id, emoji in done.stale:
            message = next((c.message for c in found.candidates
                            if c.take.id == take_id and c.message), None)
            if message is not None:
                self._later(self._remove_reaction(message.channel_id, message.message_id,
                                                  emoji, discord_id))
        if done.changes:
            log.info("vote %s reconciled: %s", window_id, done)
        return done

    async def _voter(self, user: dict, guild: discord.Guild | None, prod: Production | None,
                     weighed: bool, on_record: set[int]) -> Voter:
        """A reacting user; their roles are looked up when their new vote may weigh more."""
        user_id = int(user["id"])
        name = str(user.get("global_name") or user.get("username") or user_id)
        if not weighed or guild is None or prod is None or user_id in on_record or (
                self.bot.user is not None and user_id == self.bot.user.id):
            return Voter(user_id, name)
        member = guild.get_member(user_id)
        if member is None:
            try:
                member = await guild.fetch_member(user_id)
            except discord.HTTPException:
                return Voter(user_id, name)  # left the server: an ordinary vote
        return Voter(user_id, name, is_producer(member, prod))

    async def _guild_of(self, production_id: int) -> int | None:
        found = await notices.production_of(self.studio.db, production_id)
        return found.guild_id if found else None

    # --- closing ----------------------------------------------------------------------------

    async def _deadline(self, timer: Timer) -> None:
        window_id = int(timer.data["window"])
        await self.reconcile(window_id)
        closing = await windows.close_due(self.studio.db, window_id)
        if closing is not None:
            await self._announce_close(closing)

    async def _announce_close(self, closing: windows.Closing) -> None:
        """Show the result on the takes' posts, then tell the chapter's thread once."""
        found = closing.status
        guild_id = await self._guild_of(found.ref.production_id) or 0
        prod = await self._production(guild_id)
        if prod is None or found.window is None:
            return
        await self._show_vote(found.window.id)
        fallback = next((c.message.channel_id for c in found.candidates if c.message), None)
        if closing.approval is not None:
            await self._announce_approval(prod, closing.approval, fallback)
            return
        guild = self.bot.get_guild(guild_id)
        role = discord.utils.get(guild.roles, name=prod.producer_role) if guild else None
        ping = role.mention if role else f"@{prod.producer_role}"
        await self._chapter_notice(
            prod, found.ref,
            truncate(f"{ping} the vote on shot {found.ref.code} closed without a winner: "
                     f"{OUTCOME_TEXT.get(closing.outcome, closing.outcome)}. Decide with "
                     f"`/approve` or `/retake`.", 2000),
            mention=discord.AllowedMentions(roles=True), fallback=fallback)

    async def _announce_approval(self, prod: Production, done: approvals.ApprovalResult,
                                 fallback: int | None) -> None:
        """One notice in the chapter's thread, beside the take's post (issue 22: once)."""
        replaced = f", replacing r{done.previous.revision}" if done.previous else ""
        how = (f"by vote (score {done.score:+g})" if done.how == "vote" else "by a decision")
        text = (f"✅ Shot {done.ref.code}: take r{done.take.revision} approved {how}"
                f"{replaced}. It goes into the next cut.")
        await self._chapter_notice(prod, done.ref, text, fallback=fallback)

    async def _chapter_notice(self, prod: Production, ref, text: str, *,
                              mention: discord.AllowedMentions | None = None,
                              fallback: int | None = None) -> None:
        """Post in the chapter's thread under the takes channel (made on first use); without
        a takes channel, where the vote's posts are (`fallback`)."""
        allowed = mention or discord.AllowedMentions.none()
        sent = await post_in_chapter(self.bot, self.studio, prod, ref,
                                     lambda: {"content": text, "allowed_mentions": allowed})
        if sent is None and fallback is not None:
            await self.bot.get_partial_messageable(fallback).send(text, allowed_mentions=allowed)

    async def _show_vote(self, window_id: int) -> None:
        """Edit each take's post to show the vote as it stands (open, or its result)."""
        try:
            found = await windows.window_status(self.studio.db, window_id)
        except NotFound:
            return
        if found.window is None:
            return
        guild_id = await self._guild_of(found.ref.production_id) or 0
        for candidate in found.candidates:
            message = candidate.message
            if message is None:
                continue
            partial = self.bot.get_partial_messageable(message.channel_id).get_partial_message(
                message.message_id)
            try:
                await partial.edit(embed=vote_embed(found, candidate, guild_id))
            except discord.NotFound:
                continue  # deleted: the raw event drops its votes
            except discord.HTTPException:
                log.exception("vote %s: a take's post could not be edited; the next start "
                              "tries again", window_id)
                return
        await vote_messages.mark_shown(self.studio.db, window_id, found.window.state)

    # --- the vote on each take's post -------------------------------------------------------

    async def _post_candidates(self, interaction: discord.Interaction,
                               found: windows.VoteStatus, prod: Production) -> int:
        assert found.window is not None
        lock = self._posting.setdefault(found.window.id, asyncio.Lock())
        async with lock:
            return await self._post_unposted(interaction, found.window.id, prod)

    async def _post_unposted(self, interaction: discord.Interaction, window_id: int,
                             prod: Production) -> int:
        """Put the vote on each candidate's post (posting the take where it has none yet),
        then show the vote on every post: one place per take, no summary message."""
        found = await windows.window_status(self.studio.db, window_id)
        window = found.window
        assert window is not None
        fallback = prod.takes_channel_id or interaction.channel_id
        posted = 0
        for candidate in found.candidates:
            if candidate.message is not None or candidate.take.status != "candidate":
                continue
            where = await self._carry_vote(found, candidate, fallback,
                                           interaction.guild_id or 0)
            if where is None:
                continue
            # Recorded before seeding: a vote cast the moment the vote appears counts.
            await windows.record_posted(self.studio.db, window.id, candidate.take.id, *where)
            message = self.bot.get_partial_messageable(where[0]).get_partial_message(where[1])
            for emoji in (VOTE_FOR, VOTE_AGAINST):
                await message.add_reaction(emoji)
            posted += 1
        await self._show_vote(window_id)
        return posted

    async def _carry_vote(self, found: windows.VoteStatus, candidate: windows.Candidate,
                          fallback: int | None, guild_id: int) -> tuple[int, int] | None:
        """The take's own post, now carrying the vote; posted first if it has none."""
        assert found.window is not None
        embed = vote_embed(found, candidate, guild_id)
        existing = await job_cards.take_post(self.studio, candidate.take)
        if existing is not None:
            partial = self.bot.get_partial_messageable(existing[0]).get_partial_message(
                existing[1])
            try:
                await partial.edit(embed=embed)
                return existing
            except discord.NotFound:
                pass  # the post was deleted: post the take again
        post = await job_cards.take_to_post(self.studio, candidate.take.id)
        if post is None:
            return None
        # One nonce per vote and take: a post repeated after a crash is not doubled.
        sent = await post_take(self.bot, self.studio, post, fallback, vote=embed,
                               nonce=f"vote-{found.window.id}-{candidate.take.id}")
        return (sent.channel.id, sent.id) if sent is not None else None

    # --- commands ---------------------------------------------------------------------------

    @vote.command(name="open", description="Put a shot's candidate takes to the vote (or bump it)")
    @app_commands.autocomplete(shot=pick.shots("edit"))
    @app_commands.describe(shot="chapter.shot, e.g. 3.2",
                           hours="How long the vote runs (default: the production's setting)")
    async def vote_open(self, interaction: discord.Interaction, shot: str,
                        hours: app_commands.Range[float, 0.01, 720.0] | None = None) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            found = await windows.open_vote(ctx.db, ctx.production, ctx.actor, shot, hours,
                                           dispatcher=self.timers)
            posted = await self._post_candidates(interaction, found, ctx.production)
            window = found.window
            assert window is not None
            return Answer(f"The vote on shot {found.ref.code} is open until "
                          f"{when(window.deadline)}: {len(found.candidates)} candidate(s), "
                          f"{posted} posted now.", ephemeral=True)
        await answer(interaction, work(), ephemeral=True)

    @vote.command(name="close", description="Close a shot's vote now")
    @app_commands.autocomplete(shot=pick.shots("edit"))
    @app_commands.describe(shot="chapter.shot, e.g. 3.2")
    async def vote_close(self, interaction: discord.Interaction, shot: str) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            running = await windows.status(ctx.db, ctx.production, shot)
            if running.window is not None and running.window.state == "open":
                await self.reconcile(running.window.id)
            closing = await windows.close_vote(ctx.db, ctx.production, ctx.actor, shot)
            await self._announce_close(closing)
            if closing.approval is not None:
                text = (f"Closed: take r{closing.approval.take.revision} of shot "
                        f"{closing.approval.ref.code} is approved.")
            else:
                text = (f"Closed without a winner: "
                        f"{OUTCOME_TEXT.get(closing.outcome, closing.outcome)}.")
            return Answer(text, embeds=[status_embed(closing.status, ctx.production.guild_id)],
                          ephemeral=True)
        await answer(interaction, work(), ephemeral=True)

    @vote.command(name="status", description="A shot's vote: candidates and their tallies")
    @app_commands.autocomplete(shot=pick.shots("view"))
    @app_commands.describe(shot="chapter.shot, e.g. 3.2")
    async def vote_status(self, interaction: discord.Interaction, shot: str) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            found = await windows.status(ctx.db, ctx.production, shot)
            return Answer(embeds=[status_embed(found, ctx.production.guild_id)],
                          ephemeral=True)
        await answer(interaction, work(), ephemeral=True)

    @app_commands.command(name="approve", description="Approve a take for its shot")
    @app_commands.describe(take="shot and revision, e.g. 3.2r2")
    @app_commands.guild_only()
    @app_commands.autocomplete(take=complete_take)
    async def approve(self, interaction: discord.Interaction, take: str) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            done = await approvals.approve(ctx.db, ctx.production, ctx.actor, take)
            if done.window_id is not None:
                await self._show_vote(done.window_id)
            await self._announce_approval(ctx.production, done, None)
            replaced = f" (replacing r{done.previous.revision})" if done.previous else ""
            return Answer(f"Take r{done.take.revision} of shot {done.ref.code} is approved"
                          f"{replaced}.", ephemeral=True)
        await answer(interaction, work(), ephemeral=True)

    @app_commands.command(name="retake", description="Send a shot back to its owner with a note")
    @app_commands.describe(shot="chapter.shot, e.g. 3.2", note="What to change")
    @app_commands.autocomplete(shot=pick.shots("edit"))
    @app_commands.guild_only()
    async def retake(self, interaction: discord.Interaction, shot: str,
                     note: app_commands.Range[str, 1, 1000]) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            done = await approvals.retake(ctx.db, ctx.production, ctx.actor, shot, note)
            ended = await windows.status(ctx.db, ctx.production, done.ref.code)
            if ended.window is not None and ended.window.shown_state != ended.window.state:
                await self._show_vote(ended.window.id)
            owner = done.owner.mention if done.owner else "nobody (the chapter is open)"
            await self._chapter_notice(
                ctx.production, done.ref,
                truncate(f"🔁 Retake for shot {done.ref.code}, {owner}: {done.note}", 2000),
                mention=discord.AllowedMentions(users=True))
            return Answer(f"Shot {done.ref.code} is sent back to {owner}.", ephemeral=True)
        await answer(interaction, work(), ephemeral=True)

    @queue_group.command(name="queue", description="Shots waiting for a vote or a decision")
    @app_commands.describe(mine="Only the shots of chapters you hold")
    async def review_queue(self, interaction: discord.Interaction, mine: bool = False) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            items = await queue.queue(ctx.db, ctx.production, ctx.actor, mine=mine)
            return Answer(embeds=[queue_embed(items, ctx.production.guild_id)],
                          ephemeral=True)
        await answer(interaction, work(), ephemeral=True)

    @queue_group.command(name="settings", description="Show or change how votes decide")
    @app_commands.describe(
        quorum="Members who must vote before a winner is declared",
        margin="How far the winner's score must lead the next",
        creator_votes_count="Whether a take's creator's own vote counts",
        producer_weight="How much a producer's vote weighs (1 = like anyone's)",
        owner_may_approve="Whether a chapter's owner may approve and ask for retakes",
        vote_hours="How long a vote runs unless /vote open says otherwise")
    async def review_settings(
        self, interaction: discord.Interaction,
        quorum: app_commands.Range[int, 0, 10000] | None = None,
        margin: app_commands.Range[float, 0.0, 10000.0] | None = None,
        creator_votes_count: bool | None = None,
        producer_weight: app_commands.Range[float, 0.1, 100.0] | None = None,
        owner_may_approve: bool | None = None,
        vote_hours: app_commands.Range[float, 0.01, 720.0] | None = None) -> None:
        async def work() -> Answer:
            ctx = await context(interaction)
            given = {"quorum": quorum, "margin": margin,
                     "creator_votes_count": creator_votes_count,
                     "producer_weight": producer_weight, "owner_may_approve": owner_may_approve,
                     "vote_hours": vote_hours}
            if any(v is not None for v in given.values()):
                rules = await review_rules.configure(ctx.db, ctx.production, ctx.actor, **given)
            else:
                rules = await review_rules.settings_of(ctx.db, ctx.production)
            return Answer(
                f"Quorum **{rules.quorum}** · margin **{rules.margin:g}** · creators' own votes "
                f"{'count' if rules.creator_votes_count else 'do not count'} · producer votes "
                f"weigh **{rules.producer_weight:g}** · chapter owners "
                f"{'may' if rules.owner_may_approve else 'may not'} approve · votes run "
                f"**{rules.vote_hours:g} h**.", ephemeral=True)
        await answer(interaction, work(), ephemeral=True)


async def setup(bot: SlateBot) -> None:
    await bot.add_cog(ReviewCog(bot))

