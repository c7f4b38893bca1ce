"""The candidate take post: a generated take in its chapter's thread, with what to do next.

The post shows the take's file (or a notice and a link when none fits Discord's upload limit),
its provenance (provider, model, seed, cost) and buttons whose custom_id carries the take id,
so they work after a restart: Re-roll, Upscale, Animate, Use as reference.
"""

from __future__ import annotations

import json
import re
from typing import Any

import discord

from cogs import render
from cogs.common import UPLOAD_LIMIT, Answer, answer, context
from cogs.threads import post_in_chapter
from studio.app import Studio
from studio.errors import InvalidInput
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


def provenance_lines(post: TakeToPost, based_on: int | None = None) -> list[str]:
    """The tool, model, seed and cost; then motion, the tool's page and the take it was made
    from when there are such (uploaded takes carry what their creator declared)."""
    take = post.take
    lines = [provenance_line(post)]
    extra = []
    motion = _params(take.params).get("motion")
    if motion is not None:
        extra.append(f"motion {motion}")
    if take.source == "uploaded":
        extra.append("uploaded")
    if based_on is not None:
        extra.append(f"made from r{based_on}")
    if take.source_url:
        extra.append(f"<{render.cut(take.source_url, 300)}>")
    if extra:
        lines.append(" · ".join(extra))
    return lines


def _params(text: str) -> dict:
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def post_text(post: TakeToPost, notice: str = "") -> str:
    take, ref = post.take, post.ref
    who = render.owner_text(post.creator.name if post.creator else None,
                            post.creator.discord_id if post.creator else None)
    job = f" (job #{take.job_id})" if take.job_id else ""
    lines = [f"🎬 **Shot {ref.code} · take r{take.revision}** — {take.kind} by {who}{job}"]
    if take.prompt:
        lines.append(f"> {render.cut(' '.join(take.prompt.split()), 400)}")
    lines += provenance_lines(post, post.based_on_revision)
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
        if self.action == "animate":
            await self._ask_motion(interaction)
            return
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

    async def _ask_motion(self, interaction: discord.Interaction) -> None:
        """Animate asks for the motion first (a modal), once the click is known to be allowed."""
        try:
            ctx = await context(interaction)
            await take_actions.check_animate(ctx.studio, ctx.production, ctx.actor,
                                             self.take_id)
            provider = take_actions.animating_provider(ctx.studio)
        except Exception as exc:  # the reason (or a reference) as any refused click gets it
            await answer(interaction, _raised(exc), ephemeral=True)
            return
        control = provider.motion_control("video") if provider is not None else None
        name = provider.name if provider is not None else "the provider"
        hint = f"{name}: {control}" if control else \
            f"{name} has no motion control: it will not be sent"
        await interaction.response.send_modal(AnimateTake(self.take_id, hint))

    async def _reference(self, interaction: discord.Interaction) -> Answer:
        ctx = await context(interaction)
        found = await take_actions.use_as_reference(ctx.studio, ctx.production, ctx.actor,
                                                    self.take_id)
        return Answer(f"Take r{found.take.revision} will guide the next image generated for "
                      f"shot {found.ref.code}.", ephemeral=True)


async def _raised(error: Exception) -> Answer:
    raise error


class AnimateTake(discord.ui.Modal):
    """The motion for an Animate click: 1 (almost still) to 10 (strongest), 5 when left as is."""

    def __init__(self, take_id: int, hint: str) -> None:
        super().__init__(title="Animate this take", custom_id=f"slate:animate:{take_id}")
        self.take_id = take_id
        self.motion: discord.ui.TextInput = discord.ui.TextInput(
            label="Motion: 1 (almost still) to 10 (strongest)", custom_id="motion",
            default="5", required=False, max_length=2, placeholder=render.cut(hint, 100))
        self.add_item(self.motion)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        from cogs.job_cards import cards_of

        cards = cards_of(interaction.client)

        async def work() -> Answer:
            typed = (self.motion.value or "").strip() or "5"
            if not typed.isdigit() or not 1 <= int(typed) <= 10:
                raise InvalidInput("motion is a whole number from 1 (almost still) to 10")
            ctx = await context(interaction)
            queued = await take_actions.derive(ctx.studio, ctx.production, ctx.actor,
                                               self.take_id, "animate", motion=int(typed))
            return await cards.open(interaction, queued)
        await answer(interaction, work())
        await cards.opened(interaction)
