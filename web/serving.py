"""`python bot.py serve` and the demo's ending: the web face alone, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable

from storage import cuts, productions
from studio.app import Studio
from studio.ops import screening_links
from web.app import WebServer


async def start(studio: Studio, say: Callable[[str], None] = print) -> WebServer | None:
    """The web face on SLATE_WEB_BIND, or None with one line saying why it cannot listen."""
    address = studio.settings.web_address
    if address is None:
        say("slate: the web face is off (SLATE_WEB_BIND=off)")
        return None
    server = WebServer(studio, host=address[0], port=address[1])
    try:
        await server.start()
    except OSError as exc:
        say(f"slate: cannot listen on {studio.settings.web_bind}: {exc.strerror or exc} "
            "(set SLATE_WEB_BIND to a free HOST:PORT)")
        return None
    return server


def base_for(studio: Studio, server: WebServer) -> str:
    """The links' root: SLATE_PUBLIC_URL, else where this server really listens."""
    return studio.settings.public_url.rstrip("/") if studio.settings.public_url else server.url


async def links(studio: Studio, server: WebServer, guild: int) -> list[str]:
    """Fresh links to the guild's board and latest cut (none when there is no production)."""
    prod = await productions.by_guild(studio.db.reader, guild)
    if prod is None:
        return []
    base = base_for(studio, server)
    found = [f"board:     {screening_links.page_link(studio.settings, prod.id, '/', base=base)}"]
    latest = await cuts.latest(studio.db.reader, prod.id)
    if latest is not None:
        found.append("screening: " + screening_links.screening_link(
            studio.settings, prod.id, latest.version, base=base))
    return found


async def until_stopped() -> None:
    """Wait for Ctrl-C (SIGINT) or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def serve_until_stopped(studio: Studio, guild: int) -> int:
    """The shell's `serve`: listen, print the links, serve until stopped."""
    server = await start(studio, lambda line: print(line, file=sys.stderr))
    if server is None:
        return 2
    try:
        print(f"serving the web face on {server.url} (Ctrl-C stops)", flush=True)
        for line in await links(studio, server, guild):
            print(line, flush=True)
        await until_stopped()
    finally:
        await server.stop()
    return 0
