"""Publishing: where each production's cuts live, the `latest` link, and how many are kept.

A cut is published in three steps, each safe to be interrupted: its finished folder is renamed
into place (holding record.json, what its row will say), its row is marked published, and only
then `latest` points at it. A crash between the first two leaves a finished folder whose row
still says "building": `recover` publishes it from its record at the next build or start, so it
is neither lost nor deleted by retention. `upgrade_layout` moves the cuts of the earlier
shared layout (`cuts/<version>/`) into their production's folder once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from storage import cuts
from studio.app import Studio
from studio.cut import layout
from studio.cut.film import FILM
from studio.media import concat_names
from studio.ops import closing
from studio.ops.settings import Settings

log = logging.getLogger(__name__)

RETIRED = ".retired-"  # a cut folder past retention, renamed out of sight, then removed
_removing: dict[Path, set[asyncio.Task[None]]] = {}  # by the production's cuts folder
RECORD = "record.json"  # what the cut's row says once published, written before the rename
TIMELINE = "timeline.json"  # the cut's timeline as its row keeps it (Timeline.to_text)
CACHES = ("segments", "reels", "soundtrack")


def cut_dir(settings: Settings, production_id: int, version: int) -> Path:
    return layout.cut_dir(settings, production_id, version)


def film_link(settings: Settings, directory: Path) -> str | None:
    """The film's public address under SLATE_CUTS_URL (where producers serve the cuts folder)."""
    if not settings.cuts_url:
        return None
    try:
        parts = directory.relative_to(settings.cuts_path).parts
    except ValueError:
        parts = (directory.name,)
    return f"{settings.cuts_url.rstrip('/')}/{'/'.join(quote(p) for p in parts)}/{FILM}"


def point_latest(settings: Settings, final: Path) -> None:
    """The production's `latest` link to `final`, replaced atomically."""
    link = final.parent / "latest"
    temp = final.parent / ".latest-new"
    temp.unlink(missing_ok=True)
    temp.symlink_to(final.name)
    os.replace(temp, link)


def write_record(staging: Path, record: dict, timeline: str) -> None:
    """What cuts.publish will be given, kept in the folder so a crash loses none of it: the
    timeline in timeline.json, the rest in record.json."""
    (staging / TIMELINE).write_text(timeline, encoding="utf-8")
    (staging / RECORD).write_text(json.dumps(record, sort_keys=True), encoding="utf-8")


def read_record(folder: Path) -> dict | None:
    """A finished folder's record, its timeline's text included (record.json held the
    timeline itself before it had a file of its own)."""
    try:
        data = json.loads((folder / RECORD).read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("timeline"), dict):
            data["timeline"] = json.dumps(data["timeline"], sort_keys=True)
        elif isinstance(data, dict):
            data["timeline"] = (folder / TIMELINE).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


async def recover(studio: Studio, production_id: int) -> list[int]:
    """Publish every finished folder whose row a crash left "building"; point `latest` at the
    newest published cut. Called with the production's build lock held. Returns the versions."""
    settings, db = studio.settings, studio.db
    found: list[int] = []
    for cut in await cuts.building(db.reader, production_id):
        folder = cut_dir(settings, production_id, cut.version)
        record = read_record(folder)
        if record is None or not (folder / FILM).is_file():
            continue
        async with db.transaction() as tx:
            await cuts.publish(tx, cut.id, path=str(folder), **record)
        log.warning("cut %s of production %s was finished before a crash: published now",
                    cut.version, production_id)
        found.append(cut.version)
    newest = await cuts.latest(db.reader, production_id)
    if newest is not None:
        folder = cut_dir(settings, production_id, newest.version)
        link = layout.latest_link(settings, production_id)
        if folder.is_dir() and (not link.is_symlink() or link.resolve() != folder.resolve()):
            point_latest(settings, folder)
    return found


def retain(settings: Settings, production_id: int, published: list[int]) -> None:
    """Keep the production's newest N published cuts' folders (`published`: its versions,
    newest first); older ones lose their files, not their row. Only this production's folders
    and cache are looked at.

    Normalized segments and sound runs no kept cut uses (its film, its editorial files) leave
    the production's cache too. A feature film's cache is thousands of files, swept every
    night: names are compared as strings, folders listed with scandir.
    """
    home = layout.cuts_home(settings, production_id)
    cache = layout.cache_home(settings, production_id)
    keep = {layout.version_folder(v) for v in published[:settings.cut_keep]}
    for folder in _entries(home):
        if folder.is_dir(follow_symlinks=False) and folder.name.isdigit() \
                and folder.name not in keep:
            # Out of sight at once, removed after (a feature film's cut is a thousand files).
            os.rename(folder.path, home / f"{RETIRED}{folder.name}-{secrets.token_hex(4)}")
    _remove_retired(home)

    def listed(listing: str) -> set[str]:
        """What the kept cuts' listings name: segment and reel hashes, sound run names."""
        found: set[str] = set()
        for name in keep:
            try:
                text = (home / name / listing).read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            found |= set(text.split()) if listing != "segments.txt" else {
                _stem(name) for name in concat_names(text)}
        return found

    used = listed("segments.txt")
    for segment in _files(cache / "segments"):
        if segment.name.endswith(".mov") and segment.name[:-4] not in used:
            _remove(segment.path)
    kept_reels = listed("reels.txt")
    # A killed build's half-read reels (.partial-*) go too: no kept cut lists them.
    for reel in _files(cache / "reels"):
        if reel.name.split(".", 1)[0] not in kept_reels:
            _remove(reel.path)
    sounds = listed("soundtrack.txt")
    # A killed build's half-made entries (.partial-*) go too: no kept cut lists them.
    for entry in _files(cache / "soundtrack"):
        if entry.name not in sounds:
            if entry.is_dir(follow_symlinks=False):  # a whole-chapter run of the earlier recipe
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                _remove(entry.path)
    for partial in _entries(cache / "soundtrack"):
        if partial.name.startswith(".partial-"):
            _remove(partial.path)


def _remove_retired(home: Path) -> None:
    """Remove the production's retired cut folders (and any a crash left) in a thread, or here
    when no event loop runs; `settle` waits for it."""
    retired = [e.path for e in _entries(home) if e.name.startswith(RETIRED)]
    if not retired:
        return

    def remove() -> None:
        for path in retired:
            shutil.rmtree(path, ignore_errors=True)

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        remove()
        return
    task = loop.create_task(asyncio.to_thread(remove))
    _removing.setdefault(home, set()).add(task)
    task.add_done_callback(_removing[home].discard)


async def settle(home: Path | None = None) -> None:
    """Wait until the retired folders being removed (of `home`, or every production's) are
    gone: the next build of the production does, and so does a closing studio."""
    waiting = [t for h, tasks in list(_removing.items()) for t in list(tasks)
               if home is None or h == home]
    if waiting:
        await asyncio.gather(*waiting, return_exceptions=True)


closing.before_close(settle)


def _stem(path: str) -> str:
    """A path's file name less its extension."""
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as found:
            return list(found)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _files(cache: Path) -> Iterator[os.DirEntry[str]]:
    """Every entry one folder down (the caches shard their files by a hash's first bytes)."""
    for shard in _entries(cache):
        if shard.is_dir(follow_symlinks=False) and not shard.name.startswith("."):
            yield from _entries(Path(shard.path))


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@contextlib.contextmanager
def _upgrade_lock(settings: Settings) -> Iterator[None]:
    """The bot and a shell may start at once: one of them moves the files."""
    settings.cuts_path.mkdir(parents=True, exist_ok=True)
    with (settings.cuts_path / ".upgrade.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _legacy(settings: Settings) -> list[Path]:
    """What the shared layout left at the top of cuts/: version folders, staging, `latest`."""
    if not settings.cuts_path.is_dir():
        return []
    return sorted(p for p in settings.cuts_path.iterdir()
                  if (p.name.isdigit() and p.is_dir() and not p.is_symlink())
                  or p.name.startswith(".building-") or p.name in ("latest", ".latest-new"))


async def upgrade_layout(studio: Studio) -> int:
    """Move the shared layout's cuts (`cuts/<version>/`) into their production's folder, and
    the shared cache into the production that used it last. Idempotent and safe to interrupt:
    each step is one rename, and what is left is moved at the next start. Migration 0012 has
    already rewritten the rows' paths to where their folders go. Returns folders moved."""
    settings, db = studio.settings, studio.db
    if not _legacy(settings) and not any((settings.cache_path / c).is_dir() for c in CACHES):
        return 0
    moved = 0
    with _upgrade_lock(settings):
        published = sorted(await cuts.all_published(db.reader),
                           key=lambda c: c.finished_at or "")
        productions = await cuts.production_ids(db.reader)
        for entry in _legacy(settings):
            if entry.name.startswith(".building-") or entry.name == ".latest-new":
                # A build the old layout never finished: nothing in it was published.
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                continue
            if entry.name == "latest":
                continue  # removed last, once every folder is in its place
            # A folder two rows claim (the shared layout let one production's cut take
            # another's place) belongs to the cut published last: that one wrote it.
            claimants = [c for c in published if layout.version_folder(c.version) == entry.name]
            if claimants:
                target = cut_dir(settings, claimants[-1].production_id, claimants[-1].version)
            elif len(productions) == 1:  # never recorded (a crash): its only production's
                target = cut_dir(settings, productions[0], int(entry.name))
            else:
                target = settings.cuts_path / "unclaimed" / entry.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                log.warning("cuts/%s not moved: %s already exists", entry.name, target)
                continue
            os.rename(entry, target)
            moved += 1
        last = published[-1] if published else None
        for name in CACHES:
            legacy = settings.cache_path / name
            if not legacy.is_dir():
                continue
            if last is None:
                shutil.rmtree(legacy, ignore_errors=True)  # a cache no cut lists
                continue
            target = layout.cache_home(settings, last.production_id) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.rmtree(legacy, ignore_errors=True)
            else:
                os.rename(legacy, target)
        for production_id in productions:
            newest = await cuts.latest(db.reader, production_id)
            if newest is not None:
                folder = cut_dir(settings, production_id, newest.version)
                if folder.is_dir():
                    point_latest(settings, folder)
        (settings.cuts_path / "latest").unlink(missing_ok=True)
        (settings.cuts_path / ".lock").unlink(missing_ok=True)
    if moved:
        log.info("moved %d cut folders into their productions' folders", moved)
    return moved
