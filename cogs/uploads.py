"""A user's attachment saved under a name of ours before the studio checks it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import discord

from studio.errors import InvalidInput


async def saved(attachment: discord.Attachment, limit: int, folder: Path) -> Path:
    """The attachment on disk under a name of ours (the user's name is only a label)."""
    if attachment.size > limit:
        raise InvalidInput(f"the file is {attachment.size / 1e6:.1f} MB; the limit is "
                           f"{limit / 1e6:.0f} MB")
    os.makedirs(folder, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=folder, prefix="upload-")
    os.close(handle)
    path = Path(name)
    await attachment.save(path)
    return path
