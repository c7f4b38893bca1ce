"""Small builders for review tests: tiny takes and a running vote with posted messages."""

from __future__ import annotations

import itertools
from pathlib import Path

from PIL import Image

from storage.productions import Production
from studio.app import Studio
from studio.generation.takes import add_take
from studio.production.people import Actor
from studio.review import windows

_colours = itertools.count(1)
_messages = itertools.count(10_000)
CHANNEL = 555


def tiny_png(folder: Path) -> Path:
    """A distinct 32x18 PNG each call (distinct bytes, distinct media)."""
    n = next(_colours)
    path = folder / f"frame{n}.png"
    Image.new("RGB", (32, 18), ((n * 37) % 256, (n * 91) % 256, (n * 13) % 256)).save(path)
    return path


async def takes_for(studio: Studio, prod: Production, who: Actor, code: str, count: int,
                    folder: Path) -> list:
    return [(await add_take(studio, prod, who, code, tiny_png(folder))).take
            for _ in range(count)]


async def post_all(studio: Studio, status: windows.VoteStatus) -> dict[int, int]:
    """Record a message for each unposted take, as the cog would; take id → message id."""
    posted = {}
    assert status.window is not None
    for take in status.unposted:
        message_id = next(_messages)
        await windows.record_posted(studio.db, status.window.id, take.id, CHANNEL, message_id)
        posted[take.id] = message_id
    return posted
