"""Where each production's cuts and caches live on disk, so two productions never collide.

    DATA_DIR/cuts/production-<id>/<version>/     a published cut (and its handoff/)
    DATA_DIR/cuts/production-<id>/.building-<v>  a build's staging folder
    DATA_DIR/cuts/production-<id>/latest         link to the newest published cut
    DATA_DIR/cuts/production-<id>/.lock          the production's build lock
    DATA_DIR/cache/production-<id>/segments|reels|soundtrack

The folder is named by the production's database id: it never changes (a title is renamed,
a guild id is a Discord detail), it is plain ASCII on every filesystem, and the "production-"
prefix keeps it apart from the version folders of the earlier, shared layout (`cuts/0007`).
"""

from __future__ import annotations

from pathlib import Path

from studio.ops.settings import Settings

PREFIX = "production-"


def anything_cut(settings: Settings) -> bool:
    """Whether this data folder has ever held a cut or a cut's cache (in either layout): with
    neither, a start has nothing to move, recover or resume."""
    return settings.cuts_path.exists() or settings.cache_path.exists()


def production_folder(production_id: int) -> str:
    return f"{PREFIX}{production_id}"


def cuts_home(settings: Settings, production_id: int) -> Path:
    """The production's own cuts folder."""
    return settings.cuts_path / production_folder(production_id)


def cache_home(settings: Settings, production_id: int) -> Path:
    """The production's own cache: retention of one production never touches another's."""
    return settings.cache_path / production_folder(production_id)


def version_folder(version: int) -> str:
    return f"{version:04d}"


def cut_dir(settings: Settings, production_id: int, version: int) -> Path:
    return cuts_home(settings, production_id) / version_folder(version)


def staging_dir(settings: Settings, production_id: int, version: int) -> Path:
    return cuts_home(settings, production_id) / f".building-{version_folder(version)}"


def latest_link(settings: Settings, production_id: int) -> Path:
    return cuts_home(settings, production_id) / "latest"


def lock_path(settings: Settings, production_id: int) -> Path:
    """The production's build lock: held by a build for its whole life (build.build_lock)."""
    return cuts_home(settings, production_id) / ".lock"
