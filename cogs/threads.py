"""Posting in a chapter's thread: the thread under the takes channel, made on first use.

Review notices (approvals, retakes) and generated takes go to the same place; a deleted
thread is made again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import discord

from cogs.render import cut
from storage.productions import Production
from storage.shots import ShotRef
from studio.app import Studio
from studio.review import notices


async def post_in_chapter(bot: discord.Client, studio: Studio, prod: Production, ref: ShotRef,
                          message: Callable[[], dict[str, Any]]) -> discord.Message | None:
    """Send `message()` (fresh kwargs per try: files are spent by a send) in the chapter's
    thread; None when the production has no takes channel to hold threads."""
    if not prod.takes_channel_id:
        return None
    thread_id = await notices.chapter_thread(studio.db, ref.shot.chapter_id)
    if thread_id is not None:
        try:
            return await bot.get_partial_messageable(thread_id).send(**message())
        except discord.NotFound:
            pass  # the thread was deleted: make a new one
    parent = bot.get_channel(prod.takes_channel_id)
    if not isinstance(parent, discord.TextChannel):
        return None
    thread = await parent.create_thread(
        name=cut(f"Chapter {ref.chapter_number} — {ref.chapter_title}", 100),
        type=discord.ChannelType.public_thread)
    await notices.record_chapter_thread(studio.db, ref.shot.chapter_id, parent.id, thread.id)
    return await thread.send(**message())
