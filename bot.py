"""Slate's entry point.

`python bot.py` runs the Discord bot and its web face; `python bot.py <command>` runs the same
operations from a shell (see `python bot.py --help`; `python bot.py serve`: the web face alone).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:

    import discord
    from discord.ext import commands

    from cogs.slate_bot import SlateBot
    from studio.app import Studio
    from studio.ops import health
    from studio.ops.settings import Settings

log = logging.getLogger("slate.bot")

# Every cog, in load order: a feature adds its one line here.
EXTENSIONS: tuple[str, ...] = (
    "cogs.production",
    "cogs.board_post",
    "cogs.chapters",
    "cogs.shots",
    "cogs.schedule",
    "cogs.cut",
    "cogs.review",
    "cogs.notion",
    "cogs.generate",
    "cogs.characters",
)

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


def make_bot(studio: Studio, **options: Any) -> SlateBot:
    """A Slate bot holding `studio`; options go to discord.py (tests pass guild_ready_timeout)."""
    import discord

    from cogs.slate_bot import SlateBot

    # Slate never joins voice: the warnings about voice libraries are noise at every start.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False
    return SlateBot(studio, EXTENSIONS, intents=intents(), **options)


async def serve(settings: Settings) -> int:
    """Run the bot until SIGTERM/SIGINT; a missing or rejected token is one line and exit 2."""
    import discord

    from cogs.common import drain
    from storage.db import SchemaTooNew
    from studio.app import Studio
    from studio.ops import backups, health

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
    from studio.cut import build, normalize

    await build.at_start(studio)  # cuts moved to their productions' folders, crashes recovered
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
    from studio.generation import requests

    await requests.queue(studio).start()
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
        await requests.close_queue(studio)  # jobs stay in the database for the next start
        await studio.close()


def _gateway_check(bot: commands.Bot) -> health.Check:
    async def check() -> None:
        if bot.is_closed() or not bot.is_ready():
            raise RuntimeError("not connected to the Discord gateway")

    return check


def run(settings: Settings) -> int:
    """The bot's process: `python bot.py` with no command."""
    return asyncio.run(serve(settings))


def main(argv: list[str] | None = None) -> int:
    import shell

    return shell.main(sys.argv[1:] if argv is None else argv, run_bot=run)


if __name__ == "__main__":
    sys.exit(main())
