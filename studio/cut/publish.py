"""Publishing: where each production's cuts live, the `latest` link, and how many are kept.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import quote

from storage.cuts import Cut
from studio.cut.film import FILM
from studio.media import (
    read_concat_list,
)
from studio.ops.settings import Settings


def cut_dir(settings: Settings, version: int) -> Path:
    return settings.cuts_path / f"{version:04d}"



def film_link(settings: Settings, directory: Path) -> str | None:
    """The film's public address under SLATE_CUTS_URL (where producers serve the cuts folder)."""
    if not settings.cuts_url:
        return None
    return f"{settings.cuts_url.rstrip('/')}/{quote(directory.name)}/{FILM}"




def point_latest(settings: Settings, final: Path) -> None:
    link = settings.cuts_path / "latest"
    temp = settings.cuts_path / ".latest-new"
    temp.unlink(missing_ok=True)
    temp.symlink_to(final.name)
    os.replace(temp, link)



def retain(settings: Settings, published: list[Cut]) -> None:
    """Keep the newest N published cuts' folders; older ones lose their files, not their row.

    Normalized segments and sound runs no kept cut uses (its film, its editorial files) leave
    the cache too.
    """
    keep = {cut_dir(settings, c.version).name for c in published[:settings.cut_keep]}
    for folder in settings.cuts_path.iterdir():
        if folder.is_dir() and not folder.is_symlink() and folder.name.isdigit() \
                and folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)
    def listed(listing: str) -> set[str]:
        """What the kept cuts' listings name: segment and reel hashes, sound run names."""
        found: set[str] = set()
        for name in keep:
            path = settings.cuts_path / name / listing
            if path.exists():
                found |= set(path.read_text(encoding="utf-8").split()) \
                    if listing != "segments.txt" else {p.stem for p in read_concat_list(path)}
        return found

    used = listed("segments.txt")
    for segment in (settings.cache_path / "segments").glob("*/*.mov"):
        if segment.stem not in used:
            segment.unlink(missing_ok=True)
    kept_reels = listed("reels.txt")
    # A killed build's half-read reels (.partial-*) go too: no kept cut lists them.
    for reel in (settings.cache_path / "reels").glob("*/*"):
        if reel.stem not in kept_reels:
            reel.unlink(missing_ok=True)
    sounds = listed("soundtrack.txt")
    # A killed build's half-made entries (.partial-*) go too: no kept cut lists them.
    for entry in (settings.cache_path / "soundtrack").glob("*/*"):
        if entry.name not in sounds:
            if entry.is_dir():  # a whole-chapter run of the earlier recipe
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    for partial in (settings.cache_path / "soundtrack").glob(".partial-*"):
        partial.unlink(missing_ok=True)
