"""The board in the board channel: one message, posted at set-up, pinned, edited in place.

In the manner of RoboDanny's starboard: the message's ids are stored; edits are debounced (the
keeper looks at the audit log at most every SLATE_BOARD_REFRESH_SECONDS and edits only a board
whose production changed and whose rendering differs); a deletion seen through the raw event
(or, after a restart, through a fetch that finds it gone) posts the board again and pins it.
Claims, due dates, approvals and cuts made in the shell or pulled from Notion show too: they
all write audit rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from cogs import render
from cogs.production import board_view
from studio.app import Studio
from studio.production import board_post
from studio.production.board_post import BoardState

if TYPE_CHECKING:
    from cogs.slate_bot import SlateBot

log = logging.getLogger("slate.cogs.board")


def board_message(state: BoardState) -> tuple[discord.Embed, discord.ui.View | None]:
    """The board's first page (its buttons turn pages privately) and the latest cut."""
    prod = state.production
    embed, pages = render.board_page(prod.title, state.rows, 0)
    cut = state.latest_cut
    if cut is not None:
        when = (cut.finished_at or cut.started_at)[:16].replace("T", " ")
        embed.add_field(name="Latest cut", value=f"v{cut.version} · {when} UTC · "
                        f"{cut.shots_approved}/{cut.shots_total} shots approved", inline=False)
    return embed, board_view(prod.id, 0, pages)


def digest(embed: discord.Embed, view: discord.ui.View | None) -> str:
    shape = {"embed": embed.to_dict(), "buttons": bool(view)}
    shape["embed"].pop("type", None)
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:32]


class BoardCog(commands.Cog):
    def __init__(self, bot: SlateBot) -> None:
        self.bot = bot
        self.studio: Studio = bot.studio
        self._wake = asyncio.Event()
        self._forced: set[int] = set()  # productions to look at whatever the audit log says
        self._verify: set[int] = set()  # productions whose message may be gone (a restart)
        self._newest = -1
        self._locks: dict[int, asyncio.Lock] = {}
        self._task: asyncio.Task | None = None

    async def cog_unload(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        if self._task is None:
            # Deleted while the bot was away: no event came, so look at each message once.
            self._verify |= set(await board_post.boards(self.studio.db))
            self._task = asyncio.create_task(self._keep())

    def poke(self, production_id: int) -> None:
        """Look at this production's board now (set-up, a deletion)."""
        self._forced.add(production_id)
        self._wake.set()

    async def _keep(self) -> None:
        every = self.studio.settings.board_refresh_seconds
        while True:
            try:
                await self._round()
            except Exception:
                log.exception("the boards could not be brought up to date; trying again")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=every)
            except TimeoutError:
                pass
            self._wake.clear()

    async def _round(self) -> None:
        newest = await board_post.last_change(self.studio.db)
        due = set(self._forced) | set(self._verify)
        if newest != self._newest:
            due |= set(await board_post.boards(self.studio.db))
        self._forced.clear()
        for production_id in sorted(due):
            verify = production_id in self._verify
            try:
                await self.refresh(production_id, verify=verify)
                self._verify.discard(production_id)
            except discord.HTTPException as exc:
                log.warning("the board of production %s could not be shown: %s",
                            production_id, exc)
                self._forced.add(production_id)
        self._newest = newest

    async def refresh(self, production_id: int, *, verify: bool = False) -> None:
        """Bring the production's board message up to date: post, edit, or nothing."""
        async with self._locks.setdefault(production_id, asyncio.Lock()):
            state = await board_post.state(self.studio.db, production_id)
            if state is None or state.production.board_channel_id is None:
                return
            where = state.production.board_channel_id
            post = await board_post.post_of(self.studio.db, production_id)
            if (post is not None and not verify and post.channel_id == where
                    and post.audit_id == state.audit_id):
                return
            embed, view = board_message(state)
            shown = digest(embed, view)
            channel = self.bot.get_partial_messageable(where)
            if post is not None and post.channel_id != where:
                # The board channel changed at set-up: the old board goes.
                try:
                    await self.bot.get_partial_messageable(post.channel_id).get_partial_message(
                        post.message_id).delete()
                except discord.HTTPException:
                    pass
                post = None
            if post is not None:
                message = channel.get_partial_message(post.message_id)
                try:
                    if shown != post.shown:
                        await message.edit(embed=embed, view=view)
                    elif verify:
                        await message.fetch()  # still there?
                    await board_post.record_shown(self.studio.db, post, shown, state.audit_id)
                    return
                except discord.NotFound:
                    await board_post.forget_message(self.studio.db, post.message_id)
            sent = await channel.send(embed=embed, view=view or discord.utils.MISSING,
                                      allowed_mentions=discord.AllowedMentions.none())
            await board_post.record_post(self.studio.db, production_id, where, sent.id, shown,
                                         state.audit_id)
            try:
                await sent.pin(reason="the production board")
            except discord.HTTPException as exc:  # no Manage Messages, or the pins are full
                log.warning("the board of production %s could not be pinned: %s",
                            production_id, exc)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await self._deleted([payload.message_id])

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent
                                         ) -> None:
        await self._deleted(sorted(payload.message_ids))

    async def _deleted(self, message_ids: list[int]) -> None:
        for message_id in message_ids:
            gone = await board_post.forget_message(self.studio.db, message_id)
            if gone is not None:
                log.info("the board of production %s was deleted; posting it again",
                         gone.production_id)
                self.poke(gone.production_id)


def keeper_of(bot: discord.Client) -> BoardCog | None:
    found = bot.get_cog("BoardCog") if isinstance(bot, commands.Bot) else None
    return found if isinstance(found, BoardCog) else None


async def setup(bot: SlateBot) -> None:
    await bot.add_cog(BoardCog(bot))
