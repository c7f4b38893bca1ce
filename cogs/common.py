"""What every cog shares: who is acting, the producer check, answering in time, and errors.

A command reads: `ctx = await context(interaction)`, then one studio call, then an `Answer`
handed to `answer()`, which replies within Discord's 3 s (deferring if the work runs long),
turns a SlateError into a short ephemeral reason and anything else into an ephemeral
"something went wrong (ref <interaction id>)" with the traceback logged under that ref.

`answer()` is also where every interaction is counted and timed (studio.metrics), where its
log lines get tagged `[interaction=<id>]`, and where a bot that is shutting down answers
"Slate is restarting" instead of starting new work.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands

from storage.productions import Production
from studio.app import Studio
from studio.errors import NotPermitted, SlateError
from studio.ops import metrics
from studio.ops.logging_setup import log_context, tag_task
from studio.ops.masking import mask
from studio.production import board
from studio.production.people import Actor, actor, require_producer

if TYPE_CHECKING:
    from cogs.slate_bot import SlateBot

log = logging.getLogger("slate.cogs")

# Work still running this long after Discord created the interaction is deferred (3 s limit).
DEFER_AT_AGE_S = 2.2
# Bounds on the wait, in case the bot's clock and Discord's disagree.
MIN_WAIT_S, MAX_WAIT_S = 0.3, 1.5
FOLLOWUPS_AT_ONCE = 4
INVALID_WEBHOOK_TOKEN = 50027  # Discord's code once an interaction's 15 minutes are up
RESTARTING = "Slate is restarting, try again in a minute"
UPLOAD_LIMIT = 10 * 1024 * 1024  # a bot's per-message upload limit; a guild's may be higher


def _bot(client: discord.Client) -> SlateBot:
    """The client as the bot it is (what the cogs share is declared on SlateBot)."""
    return cast("SlateBot", client)


def studio_of(interaction: discord.Interaction) -> Studio:
    return _bot(interaction.client).studio


def is_producer(user: discord.abc.User | None, prod: Production,
                permissions: discord.Permissions | None = None) -> bool:
    """The one rule for who steers: the production's producer role, or Manage Server (server
    managers steer too). `permissions` are an interaction's; else the member's in the guild."""
    if not isinstance(user, discord.Member):
        return bool(permissions and permissions.manage_guild)
    manages = permissions.manage_guild if permissions is not None \
        else user.guild_permissions.manage_guild
    return manages or any(role.name == prod.producer_role for role in user.roles)


def has_producer_role(interaction: discord.Interaction, prod: Production) -> bool:
    return is_producer(interaction.user, prod, interaction.permissions)


def display_name(user: discord.abc.User) -> str:
    return getattr(user, "display_name", None) or user.name


@dataclass(frozen=True)
class Context:
    """One interaction's studio, production and acting member."""

    studio: Studio
    production: Production
    actor: Actor

    @property
    def db(self):
        return self.studio.db

    def require_producer(self, doing: str) -> None:
        require_producer(self.actor, self.production, doing)


# Every interaction needs its server's production: keep each for a few seconds (a shell
# `init` elsewhere shows within PRODUCTION_TTL_S; /production setup here shows at once).
PRODUCTION_TTL_S = 10.0


def _productions(interaction: discord.Interaction) -> dict[int, tuple[float, Production]]:
    client = interaction.client
    if not hasattr(client, "slate_productions"):
        _bot(client).slate_productions = {}
    return _bot(client).slate_productions


def remember_production(interaction: discord.Interaction, prod: Production) -> None:
    _productions(interaction)[prod.guild_id] = (time.monotonic() + PRODUCTION_TTL_S, prod)


async def production_here(interaction: discord.Interaction) -> Production:
    if interaction.guild_id is None:
        raise NotPermitted("Slate works inside a server, not in direct messages")
    kept = _productions(interaction).get(interaction.guild_id)
    if kept is not None and kept[0] > time.monotonic():
        return kept[1]
    found = await board.get(studio_of(interaction).db, interaction.guild_id)
    remember_production(interaction, found)
    return found


async def context(interaction: discord.Interaction) -> Context:
    """The production of this server and the member acting (created on first sight)."""
    studio = studio_of(interaction)
    prod = await production_here(interaction)
    who = await actor(studio.db, prod, display_name(interaction.user),
                      discord_id=interaction.user.id, discord_name=interaction.user.name,
                      is_producer=has_producer_role(interaction, prod))
    return Context(studio, prod, who)


def require_manager(interaction: discord.Interaction, doing: str) -> None:
    if not interaction.permissions.manage_guild:
        raise NotPermitted(f"{doing} needs the Manage Server permission")


@dataclass
class Answer:
    """What to show: a new message, or (edit=True) the clicked message changed in place."""

    content: str | None = None
    embeds: list[discord.Embed] = field(default_factory=list)
    view: discord.ui.View | None = None
    files: list[discord.File] = field(default_factory=list)
    ephemeral: bool = False
    edit: bool = False

    def kwargs(self, *, sending: bool) -> dict[str, Any]:
        # Every answer passes the one secret masking (a service may echo a token in an error).
        given: dict[str, Any] = {"content": mask(self.content) if self.content else self.content,
                                 "embeds": self.embeds}
        if self.view is not None:
            given["view"] = self.view
        if self.files:
            given["files" if sending else "attachments"] = self.files
        return given


async def answer(interaction: discord.Interaction, work: Awaitable[Answer], *,
                 ephemeral: bool = False, edit: bool = False) -> None:
    """Run `work` and show its Answer; defer first if it is not done in time.

    Buttons and modals use this too: their errors do not pass through the command tree.

    `ephemeral`/`edit` say how to defer (a private "thinking…", or an update of the clicked
    message); they must match what the Answer will be.
    """
    started(interaction)
    with log_context("interaction", interaction.id):
        if draining(interaction.client):
            if asyncio.iscoroutine(work):
                work.close()  # never started: nothing of it ran
            count(interaction, "refused")
            await turn_away(interaction)
            return
        me = asyncio.current_task()
        in_flight = _in_flight(interaction.client)
        if me is not None:
            in_flight.add(me)
        outcome = "error"
        try:
            outcome = await _run(interaction, work, ephemeral=ephemeral, edit=edit)
        finally:
            count(interaction, outcome)
            if me is not None:
                in_flight.discard(me)


async def _run(interaction: discord.Interaction, work: Awaitable[Answer], *,
               ephemeral: bool, edit: bool) -> str:
    task = asyncio.ensure_future(work)
    age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
    wait = min(max(DEFER_AT_AGE_S - age, MIN_WAIT_S), MAX_WAIT_S)
    done, _ = await asyncio.wait({task}, timeout=wait)
    if not done and not interaction.response.is_done():
        if edit:
            await interaction.response.defer()
            interaction.extras["slate_deferred"] = "update"
        else:
            await interaction.response.defer(thinking=True, ephemeral=ephemeral)
            interaction.extras["slate_deferred"] = "private" if ephemeral else "public"
    try:
        result = await task
    except Exception as exc:
        return await report(interaction, exc)
    await show(interaction, result)
    return "ok"


# --- counting, and shutting down ------------------------------------------------------------

def started(interaction: discord.Interaction) -> float:
    """When Slate first saw this interaction (perf_counter), remembered on it."""
    return interaction.extras.setdefault("slate_started", time.perf_counter())


def command_label(interaction: discord.Interaction) -> str:
    """The interaction's command for metrics: a slash command's name, or a component's kind
    (its custom_id without the ids it carries, so the label set stays small)."""
    if interaction.command is not None:
        name = interaction.command.qualified_name
        # Autocomplete runs at every keystroke: counted apart so it never hides the commands.
        return f"{name} (autocomplete)" \
            if interaction.type is discord.InteractionType.autocomplete else name
    custom_id = str((interaction.data or {}).get("custom_id", ""))
    words = [w for w in custom_id.split(":") if w and not w.isdigit() and len(w) > 1]
    return "component " + (":".join(words[:3]) or "?")


def count(interaction: discord.Interaction, outcome: str) -> None:
    """Count the interaction once (ok | refused | error) with its time to the answer."""
    if interaction.extras.get("slate_counted"):
        return
    interaction.extras["slate_counted"] = True
    metrics.count_interaction(command_label(interaction), outcome,
                              time.perf_counter() - started(interaction))


def draining(client: discord.Client) -> bool:
    return bool(getattr(client, "slate_draining", False))


def _in_flight(client: discord.Client) -> set[asyncio.Task]:
    if not hasattr(client, "slate_in_flight"):
        _bot(client).slate_in_flight = set()
    return _bot(client).slate_in_flight


async def drain(client: discord.Client, grace: float) -> int:
    """Stop taking interactions (new ones hear RESTARTING) and wait up to `grace` seconds for
    those already running, so their database writes finish; returns how many did not."""
    _bot(client).slate_draining = True
    running = {t for t in _in_flight(client) if not t.done()}
    if not running:
        return 0
    log.info("waiting for %d interactions to finish", len(running))
    _, pending = await asyncio.wait(running, timeout=grace)
    if pending:
        log.warning("%d interactions still running after %.0f s; closing anyway",
                    len(pending), grace)
    return len(pending)


async def turn_away(interaction: discord.Interaction) -> None:
    """Answer an interaction that arrived while shutting down: try again soon."""
    try:
        if interaction.type is discord.InteractionType.autocomplete:
            await interaction.response.autocomplete([])
        elif not interaction.response.is_done():
            await interaction.response.send_message(RESTARTING, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell a user that Slate is restarting")


async def show(interaction: discord.Interaction, result: Answer) -> None:
    if not interaction.response.is_done():
        if result.edit:
            await interaction.response.edit_message(**result.kwargs(sending=False))
        else:
            await interaction.response.send_message(**result.kwargs(sending=True),
                                                    ephemeral=result.ephemeral)
        return
    deferred = interaction.extras.get("slate_deferred")
    try:
        async with _after_the_deadline(interaction):
            if deferred == "update" or (deferred in ("public", "private")
                                        and result.ephemeral == (deferred == "private")):
                await interaction.edit_original_response(**result.kwargs(sending=False))
                return
            if deferred == "public":
                await interaction.delete_original_response()  # no public "thinking…" left
            await interaction.followup.send(**result.kwargs(sending=True),
                                            ephemeral=result.ephemeral)
    except discord.HTTPException as exc:
        if exc.code != INVALID_WEBHOOK_TOKEN:
            raise
        await _answer_late(interaction, result)


async def _answer_late(interaction: discord.Interaction, result: Answer) -> None:
    """Work that outlived the interaction's 15-minute token still reaches its user: a private
    answer by direct message, a public one in the channel, each naming what it answers."""
    log.info("interaction %s: its token expired before the answer; sending it directly",
             interaction.id)
    given = result.kwargs(sending=True)
    given.pop("view", None)  # a dead interaction's buttons would act on nothing
    what = _what(interaction)
    if result.ephemeral:
        try:
            text = f"Your {what} finished:\n{given.get('content') or ''}"
            await interaction.user.send(**{**given, "content": text[:2000]})
            return
        except discord.HTTPException:  # direct messages closed: say so where it was asked
            given = {"content": f"{interaction.user.mention}, your {what} finished; allow "
                                "direct messages from Slate to see private answers that "
                                "arrive after 15 minutes."}
    else:
        text = f"{interaction.user.mention}, your {what} finished:\n{given.get('content') or ''}"
        given["content"] = text[:2000]
    channel = interaction.channel
    if isinstance(channel, discord.abc.Messageable):
        await channel.send(**given, allowed_mentions=discord.AllowedMentions(users=True))


def _after_the_deadline(interaction: discord.Interaction) -> asyncio.Semaphore:
    """Edits and follow-ups have 15 minutes; in a burst they queue behind first answers (3 s)."""
    client = interaction.client
    if not hasattr(client, "slate_followups"):
        _bot(client).slate_followups = asyncio.Semaphore(FOLLOWUPS_AT_ONCE)
    return _bot(client).slate_followups


def outcome_of(error: BaseException) -> str:
    """'refused' for the user's mistake or a rule (the reason is shown), 'error' otherwise."""
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        error = error.__cause__ or error
    refused = SlateError | app_commands.TransformerError | app_commands.CheckFailure
    return "refused" if isinstance(error, refused) else "error"


async def report(interaction: discord.Interaction, error: BaseException) -> str:
    """A SlateError shows its reason; anything else a reference the logs can be searched for
    (the interaction's id, which every log line of it carries). Returns the outcome."""
    outcome = outcome_of(error)
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        error = error.__cause__ or error
    if isinstance(error, SlateError):
        text = error.reason
    elif isinstance(error, app_commands.TransformerError):
        text = f"'{str(error.value)[:40]}' is not a valid {error.type.name}"
    elif isinstance(error, app_commands.CheckFailure):
        text = str(error) or "you may not use this command here"
    else:
        ref = reference(f"interaction {_what(interaction)}", error, ref=str(interaction.id))
        text = f"something went wrong (ref {ref})"
    text = mask(text)
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
            return outcome
        async with _after_the_deadline(interaction):
            if interaction.extras.get("slate_deferred") == "public":
                # A public "thinking…" would show the refusal to everyone: replace it privately.
                await interaction.delete_original_response()
            await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException as exc:
        try:
            if exc.code != INVALID_WEBHOOK_TOKEN:
                raise
            await _answer_late(interaction, Answer(text, ephemeral=True))
        except discord.HTTPException:
            log.exception("could not tell the user about an error (%s)", text)
    return outcome


def reference(what: str, error: BaseException, *, ref: str | None = None) -> str:
    """Log `error` with its traceback under a short reference (or `ref`), and return it."""
    ref = ref or secrets.token_hex(2).upper()
    log.error("%s failed (ref %s)", what, ref, exc_info=(type(error), error, error.__traceback__))
    return ref


def _what(interaction: discord.Interaction) -> str:
    if interaction.command is not None:
        return f"/{interaction.command.qualified_name}"
    data = interaction.data or {}
    return f"component {data.get('custom_id', '?')}"


class SlateTree(app_commands.CommandTree):
    """The command tree: errors not already answered get the same treatment as in `answer`."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        # The tree runs each interaction in its own task: this tag lasts exactly its span.
        tag_task("interaction", interaction.id)
        started(interaction)
        if draining(self.client):
            if interaction.type is not discord.InteractionType.autocomplete:
                count(interaction, "refused")
            await turn_away(interaction)
            return False
        return True

    async def on_error(self, interaction: discord.Interaction,
                       error: app_commands.AppCommandError) -> None:
        count(interaction, await report(interaction, error))
