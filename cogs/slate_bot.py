"""The bot itself: discord.py's Bot holding the studio, and what the cogs share through it.

Cogs import this type (never bot.py) so that what they read off the bot is declared here.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from cogs.common import SlateTree
from studio.app import Studio
from studio.ops import metrics

if TYPE_CHECKING:
    from cogs.job_cards import JobCards
    from storage.productions import Production

log = logging.getLogger("slate.bot")

COMMAND_HASH_FILE = "discord_commands.json"


class SlateBot(commands.Bot):
    studio: Studio
    extensions_to_load: tuple[str, ...]
    commands_synced: bool | None  # None until the first sync decision at start-up
    gateway_lost: bool
    # Shared by the cogs (cogs/common.py keeps them; plain Bots in benches get them lazily).
    slate_productions: dict[int, tuple[float, Production]]
    slate_in_flight: set[asyncio.Task]
    slate_draining: bool
    slate_followups: asyncio.Semaphore
    slate_job_cards: JobCards | None

    def __init__(self, studio: Studio, extensions: tuple[str, ...], **options: Any) -> None:
        super().__init__(command_prefix=commands.when_mentioned, help_command=None,
                         tree_cls=SlateTree, **options)
        self.studio = studio
        self.extensions_to_load = extensions
        self.commands_synced = None
        self.gateway_lost = False
        self.slate_job_cards = None

    async def setup_hook(self) -> None:
        for name in self.extensions_to_load:
            await self.load_extension(name)
        self.commands_synced = await sync_commands(self)

    async def on_disconnect(self) -> None:
        if not self.is_closed():
            self.gateway_lost = True
            log.info("gateway connection lost; reconnecting")

    async def on_resumed(self) -> None:
        self.gateway_lost = False
        metrics.gateway_reconnected()
        log.info("gateway session resumed")

    async def on_ready(self) -> None:
        # READY after a lost connection: the session could not resume and identified anew.
        if self.gateway_lost:
            self.gateway_lost = False
            metrics.gateway_reconnected()
            log.info("gateway session identified again")


def command_tree_hash(bot: commands.Bot, guild: discord.abc.Snowflake | None) -> str:
    shape = [c.to_dict(bot.tree) for c in bot.tree.get_commands(guild=guild)]
    shape.sort(key=lambda c: c["name"])
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


async def sync_commands(bot: SlateBot) -> bool:
    """Sync the command tree only when it changed since the last sync (sync is rate limited).

    Guild-scoped when DISCORD_GUILD_ID is set (instant), global otherwise.
    """
    studio = bot.studio
    guild_id = studio.settings.discord_guild_id
    guild = discord.Object(guild_id) if guild_id else None
    if guild is not None:
        bot.tree.copy_global_to(guild=guild)
    scope = f"{bot.application_id}:{guild_id or 'global'}"
    digest = command_tree_hash(bot, guild)
    store = studio.settings.data_dir / COMMAND_HASH_FILE
    try:
        known = json.loads(store.read_text())
    except (OSError, ValueError):
        known = {}
    if known.get(scope) == digest:
        log.info("slash commands unchanged (%s); not syncing", scope)
        return False
    synced = await bot.tree.sync(guild=guild)
    known[scope] = digest
    _remember(store, known)
    log.info("synced %d slash commands (%s)", len(synced), scope)
    await _clear_stale_scopes(bot, known, scope, store)
    return True


def _remember(store: Path, known: dict[str, str]) -> None:
    store.write_text(json.dumps(known, indent=1))


async def _clear_stale_scopes(bot: commands.Bot, known: dict[str, str], scope: str,
                              store: Path) -> None:
    """Empty the scopes this bot synced before (DISCORD_GUILD_ID changed or was unset), so a
    guild never shows every command twice: once from the old scope, once from the new."""
    prefix = f"{bot.application_id}:"
    for old in [k for k in known if k.startswith(prefix) and k != scope]:
        where = old.removeprefix(prefix)
        if where == "global":
            await bot.http.bulk_upsert_global_commands(bot.application_id, [])
        else:
            await bot.http.bulk_upsert_guild_commands(bot.application_id, int(where), [])
        del known[old]
        _remember(store, known)
        log.info("cleared the slash commands synced before (%s)", old)
