"""Slate's entry point.

`python bot.py` runs the Discord bot and its web face; `python bot.py <command>` runs the same
operations from a shell (see `python bot.py --help`; `python bot.py serve`: the web face alone).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    import discord
    from discord.ext import commands

    from studio.app import Studio
    from studio.settings import Settings

from studio import backups, health, metrics

log = logging.getLogger("slate.bot")

# Every cog, in load order: a feature adds its one line here.
EXTENSIONS: tuple[str, ...] = (
    "cogs.production",
    "cogs.chapters",
    "cogs.shots",
    "cogs.schedule",
    "cogs.cut",
    "cogs.review",
    "cogs.notion",
    "cogs.generate",
    "cogs.characters",
)

COMMAND_HASH_FILE = "discord_commands.json"
# On SIGTERM, interactions already running get this long to finish (compose/systemd allow 60 s).
SHUTDOWN_GRACE_S = 20.0


def intents() -> discord.Intents:
    """The least the bot needs; no privileged intent (members, presences, message content)."""
    import discord

    wanted = discord.Intents.none()
    wanted.guilds = True  # roles and channels in cache: producer-role checks, board channels
    wanted.guild_messages = True  # MESSAGE_DELETE of boards and vote messages
    wanted.guild_reactions = True  # votes are reactions (MESSAGE_REACTION_ADD/REMOVE/…)
    return wanted


def make_bot(studio: Studio, **options: Any) -> commands.Bot:
    """A Slate bot holding `studio`; options go to discord.py (tests pass guild_ready_timeout)."""
    import discord
    from discord.ext import commands

    from cogs.common import SlateTree

    # Slate never joins voice: the warnings about voice libraries are noise at every start.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False

    class SlateBot(commands.Bot):
        def __init__(self) -> None:
            super().__init__(command_prefix=commands.when_mentioned, help_command=None,
                             intents=intents(), tree_cls=SlateTree, **options)
            self.studio = studio
            self.commands_synced: bool | None = None
            self.gateway_lost = False

        async def setup_hook(self) -> None:
            for name in EXTENSIONS:
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

    return SlateBot()


def command_tree_hash(bot: commands.Bot, guild: discord.abc.Snowflake | None) -> str:
    shape = [c.to_dict(bot.tree) for c in bot.tree.get_commands(guild=guild)]
    shape.sort(key=lambda c: c["name"])
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


async def sync_commands(bot: commands.Bot) -> bool:
    """Sync the command tree only when it changed since the last sync (sync is rate limited).

    Guild-scoped when DISCORD_GUILD_ID is set (instant), global otherwise.
    """
    import discord

    studio: Studio = bot.studio  # type: ignore[attr-defined]
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


async def serve(settings: Settings) -> int:
    """Run the bot until SIGTERM/SIGINT; a missing or rejected token is one line and exit 2."""
    import discord

    from cogs.common import drain
    from storage.db import SchemaTooNew
    from studio.app import Studio

    if settings.discord_token is None:
        print("slate: DISCORD_TOKEN is not set: create a bot at "
              "https://discord.com/developers/applications and export its token "
              "(or try `python bot.py demo`)", file=sys.stderr)
        return 2
    try:
        studio = await Studio.open(settings)
    except SchemaTooNew as exc:
        print(f"slate: {exc}", file=sys.stderr)
        return 2
    from studio import normalize

    # The nightly cut's segment workers start with the bot, not at the first cut.
    warming = normalize.start_warming()
    bot = make_bot(studio)
    health_server = await health.start_for(studio)
    from web.app import start_for as start_web

    # The web face (board, screening room, health and metrics) runs in the bot's process.
    web_server = await start_web(studio, health_server)
    health.add_check("gateway", _gateway_check(bot))
    health.add_check("queue", health.queue_moving(studio.db))
    nightly_backup = asyncio.create_task(backups.run_nightly(studio))
    # The generation worker: queued jobs run and submitted ones are polled from here on.
    from studio import generate

    await generate.queue(studio).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()))
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            runner.result()
        else:
            log.info("stopping: closing the gateway and the database")
        return 0
    except discord.LoginFailure:
        print("slate: Discord rejected DISCORD_TOKEN: reset the bot's token in the developer "
              "portal and export the new one", file=sys.stderr)
        return 2
    except discord.PrivilegedIntentsRequired:
        print("slate: Discord refused an intent the bot asked for", file=sys.stderr)
        return 2
    finally:
        # Stop taking work first, then let in-flight writes finish as the database closes.
        health.mark_draining()
        await drain(bot, SHUTDOWN_GRACE_S)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        stopper.cancel()
        nightly_backup.cancel()
        warming.cancel()
        await bot.close()
        if not runner.done():
            runner.cancel()
        if health_server is not None:
            await health_server.stop()
        if web_server is not None:
            await web_server.stop()
        await generate.close_queue(studio)  # jobs stay in the database for the next start
        await studio.close()


def _gateway_check(bot: commands.Bot) -> health.Check:
    async def check() -> None:
        if bot.is_closed() or not bot.is_ready():
            raise RuntimeError("not connected to the Discord gateway")

    return check


def main(argv: list[str] | None = None) -> int:
    import shell

    return shell.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
