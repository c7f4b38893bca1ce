"""The candidate take post: a generated take in its chapter's thread, with what to do next.

The post shows the take's file (or a notice and a link when none fits Discord's upload limit),
its provenance (provider, model, seed, cost) and buttons whose custom_id carries the take id,
so they work after a restart: Re-roll, Upscale, Animate, Use as reference.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from cogs import render
from cogs.common import UPLOAD_LIMIT, Answer, answer, context
from cogs.threads import post_in_chapter
from studio.app import Studio
from studio.generation import take_actions
from studio.generation.job_cards import TakeToPost
from studio.generation.take_media import shown_file
from studio.units import size_text

LABELS = {"reroll": "Re-roll", "upscale": "Upscale", "animate": "Animate",
          "reference": "Use as reference"}


def provenance_line(post: TakeToPost) -> str:
    take = post.take
    seed = "—" if take.seed is None else str(take.seed)
    return (f"`{take.provider or take.source}` · model `{take.model or '—'}` · seed {seed} · "
            f"${take.cost:.2f}")


def post_text(post: TakeToPost, notice: str = "") -> str:
    take, ref = post.take, post.ref
    who = render.owner_text(post.creator.name if post.creator else None,
                            post.creator.discord_id if post.creator else None)
    job = f" (job #{take.job_id})" if take.job_id else ""
    lines = [f"🎬 **Shot {ref.code} · take r{take.revision}** — {take.kind} by {who}{job}"]
    if take.prompt:
        lines.append(f"> {render.cut(' '.join(take.prompt.split()), 400)}")
    lines.append(provenance_line(post))
    if notice:
        lines.append(notice)
    return render.cut("\n".join(lines), 2000)


def take_view(post: TakeToPost) -> discord.ui.View | None:
    actions = take_actions.actions_for(post.take)
    if not actions:
        return None
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(TakeAction(post.take.id, action))
    return view


async def post_take(bot: discord.Client, studio: Studio, post: TakeToPost,
                    fallback_channel_id: int | None, *, vote: discord.Embed | None = None,
                    nonce: str | None = None) -> discord.Message | None:
    """Post the take in its chapter's thread, else the takes channel, else `fallback`.

    The post is the take's one place: a vote on it is carried by the post itself (`vote`, an
    embed the review cog edits as the vote goes)."""
    guild = bot.get_guild(post.production.guild_id)
    # The guild's limit (10 MiB at least), within the production's own cap on what it posts.
    limit = min(max(UPLOAD_LIMIT, guild.filesize_limit if guild else 0),
                studio.settings.preview_max_bytes)
    shown = await shown_file(studio, post.take, post.ref.code, limit)
    notice = ""
    if shown.path is None:
        notice = (f"The take is {size_text(shown.size)}, over Discord's "
                  f"{size_text(limit)} upload limit"
                  + (f": [open it]({shown.link})" if shown.link else
                     f"; it is kept as `{post.take.media_sha256[:12]}`"))

    def message() -> dict[str, Any]:
        # One nonce per take: a post repeated after a crash (sent, not yet recorded) is
        # answered by Discord with the first message instead of a second one.
        given: dict[str, Any] = {"content": post_text(post, notice),
                                 "allowed_mentions": discord.AllowedMentions.none(),
                                 "nonce": nonce or f"slate-take-{post.take.id}"}
        if vote is not None:
            given["embed"] = vote
        if shown.path is not None:
            given["file"] = discord.File(shown.path, filename=shown.filename)
        view = take_view(post)
        if view is not None:
            given["view"] = view
        return given

    sent = await post_in_chapter(bot, studio, post.production, post.ref, message)
    if sent is not None:
        return sent
    where = post.production.takes_channel_id or fallback_channel_id
    if where is None:
        return None
    return await bot.get_partial_messageable(where).send(**message())


class TakeAction(discord.ui.DynamicItem[discord.ui.Button],
                 template=r"slate:take:(?P<take>\d+):(?P<act>reroll|upscale|animate|reference)"):
    def __init__(self, take_id: int, action: str) -> None:
        self.take_id, self.action = take_id, action
        super().__init__(discord.ui.Button(
            label=LABELS[action], custom_id=f"slate:take:{take_id}:{action}",
            style=discord.ButtonStyle.primary if action == "reroll"
            else discord.ButtonStyle.secondary))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str]) -> TakeAction:
        return cls(int(match["take"]), match["act"])

    async def callback(self, interaction: discord.Interaction) -> None:
        if self.action == "reference":
            await answer(interaction, self._reference(interaction), ephemeral=True)
            return
        from cogs.job_cards import cards_of  # the cards live with the generate cog

        cards = cards_of(interaction.client)
        await answer(interaction, self._generate(interaction))
        await cards.opened(interaction)

    async def _generate(self, interaction: discord.Interaction) -> Answer:
        from cogs.job_cards import cards_of

        ctx = await context(interaction)
        if self.action == "reroll":
            queued = await take_actions.reroll(ctx.studio, ctx.production, ctx.actor,
                                               self.take_id)
        else:
            queued = await take_actions.derive(ctx.studio, ctx.production, ctx.actor,
                                               self.take_id, self.action)
        return await cards_of(interaction.client).open(interaction, queued)

    async def _reference(self, interaction: discord.Interaction) -> Answer:
        ctx = await context(interaction)
        found = await take_actions.use_as_reference(ctx.studio, ctx.production, ctx.actor,
                                                    self.take_id)
        return Answer(f"Take r{found.take.revision} will guide the next image generated for "
                      f"shot {found.ref.code}.", ephemeral=True)
