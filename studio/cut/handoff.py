"""The editor's hand-off: each cut's `handoff/` folder, ready to move to an editor's machine.

    cuts/production-<id>/<version>/handoff/
        cut.otio  cut.xml  cut.edl  README.txt
        media/ch03_sh07_r2_Maya.mp4   the ORIGINAL take, as uploaded or generated
               ch03_VO_Maya.wav       a chapter's stem
               ch02_sh04_slate.mov    a shot not yet approved: the cut's slate
               cut0003_mix.mp4        the film itself, for its mix (a disabled reference track)

Media are hard links to the media store where the filesystem allows (no space taken; the
package outlives the store's garbage collection), copies otherwise. Names are readable, made
safe for every filesystem (letters of any script kept, separators and control characters not),
unique (case-insensitively), with the extension of the file's probed format. Every path in the
timeline files is relative to the package (editorial.py writes them).

The package is written once its cut is published (the night's film waits for none of it),
whole or not at all; one the bot did not finish is written again from the cut's own record at
the next start, or when someone asks for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import shutil
import unicodedata
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path

import av

from storage import cuts, media_files
from storage.productions import Production
from studio import mediastore
from studio.app import Studio
from studio.cut import editorial, layout, normalize
from studio.cut.editorial import Medium, Package
from studio.cut.film import FILM
from studio.cut.soundtrack import Measured, Sound
from studio.cut.timeline import SAMPLE_RATE, Timeline, track_title
from studio.errors import InvalidInput, NotFound
from studio.media import read_concat_list, suffix_for
from studio.ops import closing, screening_links
from studio.ops.settings import Settings

HANDOFF = "handoff"
_PARTIAL = ".handoff-partial-"
README = """The editor's hand-off of "{title}", cut {version}

cut.xml   FCP 7 XML (xmeml v4): Premiere Pro (File > Import) and DaVinci Resolve
          (File > Import > Timeline). Paths are relative to this folder: if clips come in
          offline, relink once to the media/ folder (Premiere: Link Media; Resolve: point
          the import at media/).
cut.otio  OpenTimelineIO (0.17 or newer): otioview, Resolve 18.5+, or any OTIO tool.
cut.edl   CMX 3600: picture and the takes' sound, from record {start}.
media/    the original takes and stems, named chapter_shot_revision_creator; slates stand
          for shots not yet approved; {mix} is the film's own mix (a muted track).

Tracks: Picture, Takes (each take's own sound, linked to its picture), VO, SFX, Music (the
chapters' stems) and Mix. Each chapter's loudness gain is a level on its takes' sound and
stems; take ids, revisions, creators, providers, models and approvals are clip metadata
(log notes and comments in the XML); shot notes are markers.
"""
_UNSAFE = re.compile(r"_+")


def safe_name(text: str, limit: int = 40) -> str:
    """Letters and digits of any script, '-' and '_'; everything else (separators, dots,
    spaces, control characters) becomes '_'. Empty when nothing is left."""
    kept = "".join(ch if unicodedata.category(ch)[0] in "LN" or ch in "-_" else "_"
                   for ch in unicodedata.normalize("NFC", text))
    return _UNSAFE.sub("_", kept).strip("_-")[:limit].strip("_-")


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or name_2, name_3… before its extension: unique even where case is not."""
    stem, dot, ext = name.rpartition(".")
    base = stem if dot else name
    candidate, n = name, 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{base}_{n}.{ext}" if dot else f"{base}_{n}"
    taken.add(candidate.casefold())
    return candidate


def _suffix(row: media_files.MediaFile) -> str:
    found = suffix_for(row.container, row.kind, row.video_codec, row.audio_codec)
    if found:
        return found
    fallback = row.container.split(",")[0]  # ffmpeg's format name is the extension mostly
    return f".{fallback}" if fallback.isalnum() else ".bin"


def mix_name(version: int) -> str:
    return f"cut{version:04d}_mix.mp4"


def location(settings: Settings, production_id: int, version: int) -> Path:
    """Where a published cut's package is on the server."""
    return layout.cut_dir(settings, production_id, version) / HANDOFF


def link(settings: Settings, production_id: int, version: int) -> str | None:
    """The package as one signed download from the web face, when it has a public address."""
    if not settings.public_url:
        return None
    return screening_links.page_link(settings, production_id, f"/cuts/{version}/handoff.zip")


def gains_of(built: list[Sound | Measured]) -> dict[str, tuple[float, bool]]:
    """Each chapter's (and the credits') loudness gain, as the film's mix was made."""
    return {m.label: (m.gain.db, m.gain.limit) for m in built if isinstance(m, Measured)}


async def plan(studio: Studio, line: Timeline, segments: list[Path], stem_files: list[Path],
               version: int) -> tuple[Package, list[Path], list[Path]]:
    """The package's files, named, with what the store knows of them (probed by `write`), and
    where each comes from: a take's original, a card's segment, a stem's file."""
    profile = line.profile
    rows = await media_files.many(studio.db.reader,
                                  [e.media_sha256 for e in line.approved if e.media_sha256]
                                  + [s.media_sha256 for s in line.stems])
    taken: set[str] = set()
    entries: list[Medium] = []
    origins: list[Path] = []
    for entry, segment in zip(line.entries, segments, strict=True):
        row = rows.get(entry.media_sha256 or "") if entry.kind == "take" else None
        if row is not None:
            who = safe_name(entry.creator or entry.owner)
            name = (f"ch{entry.chapter_number:02d}_sh{entry.shot_number:02d}"
                    f"_r{entry.take_revision}{'_' + who if who else ''}{_suffix(row)}")
            entries.append(Medium(_unique(name, taken), row.kind, row.width, row.height,
                                  row.fps, row.duration))
            origins.append(mediastore.path_for(studio.settings.media_path, row.sha256))
            continue
        if entry.kind == "credits":
            name = "credits.mov" if entry.code == "credits" else f"credits_{entry.shot_number}.mov"
        else:
            name = f"ch{entry.chapter_number:02d}_sh{entry.shot_number:02d}_slate.mov"
        entries.append(Medium(_unique(name, taken), "video", profile.width, profile.height,
                              profile.fps, profile.seconds(entry.frames)))
        origins.append(segment)
    owners = {e.chapter_number: e.owner for e in line.entries}
    stems: list[Medium] = []
    for stem in line.stems:
        row = rows[stem.media_sha256]
        who = safe_name(owners.get(stem.chapter_number, ""))
        name = (f"ch{stem.chapter_number:02d}_{track_title(stem.kind)}"
                f"{'_' + who if who else ''}{_suffix(row)}")
        stems.append(Medium(_unique(name, taken), "audio", duration=row.duration))
    mix = Medium(_unique(mix_name(version), taken), "video", profile.width, profile.height,
                 profile.fps, line.duration, 2, SAMPLE_RATE)
    package = Package(line.production_title, version, studio.settings.handoff_start_tc,
                      entries, stems, mix)
    return package, origins, list(stem_files)


def _place(origin: Path, target: Path) -> None:
    """A hard link where the filesystem allows, else a copy."""
    try:
        os.link(origin, target)
    except OSError:
        shutil.copyfile(origin, target)


def _probed(medium: Medium, path: Path, facts: Path | None = None) -> Medium:
    """The sound the file really holds (channels, rate) and, for a still, no duration.

    `facts`: where this file's answer is kept. The store names a file by its content, so the
    answer never changes: a night opens only the originals it has not seen before."""
    if facts is not None:
        try:
            known = json.loads(facts.read_text(encoding="utf-8"))
            return replace(medium, channels=int(known["channels"]),
                           sample_rate=int(known["sample_rate"]),
                           duration=known["duration"] if medium.duration is None
                           else medium.duration)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not known yet (or unreadable): probed again below
    found = _probe(medium, path)
    if facts is not None:
        facts.parent.mkdir(parents=True, exist_ok=True)
        partial = facts.with_name(f".{facts.name}.{os.getpid()}")
        partial.write_text(json.dumps({"channels": found.channels,
                                       "sample_rate": found.sample_rate,
                                       "duration": found.duration}), encoding="utf-8")
        os.replace(partial, facts)
    return found


def _probe(medium: Medium, path: Path) -> Medium:
    with av.open(str(path)) as container:
        audio = next(iter(container.streams.audio), None)
        if audio is None:
            return replace(medium, channels=0, sample_rate=0)
        context = audio.codec_context
        channels = getattr(context, "channels", 0) or context.layout.nb_channels
        duration = medium.duration
        if duration is None and medium.kind == "audio" and container.duration:
            duration = container.duration / av.time_base
        return replace(medium, channels=int(channels), sample_rate=int(context.sample_rate
                                                                       or SAMPLE_RATE),
                       duration=duration)


def write(line: Timeline, package: Package, origins: list[Path], stem_origins: list[Path],
          gains: dict[str, tuple[float, bool]], home: Path,
          probes: Path | None = None) -> dict[str, Path]:
    """The package in `home` (its media, timeline files and README), all but the film's mix,
    in one go (write_package does the same in parts, in worker processes)."""
    placed = place_media(line, package, origins, stem_origins, home, probes)
    return write_timelines(line, replace(placed, gains=gains), home)


def place_media(line: Timeline, package: Package, origins: list[Path],
                stem_origins: list[Path], home: Path, probes: Path | None = None) -> Package:
    """The package's media/ (originals linked, cards' segments) and what each file holds.
    Runs in a worker process; `probes` keeps what each stored original holds (see _probed)."""
    media = home / editorial.MEDIA
    shutil.rmtree(home, ignore_errors=True)  # a write started over writes it whole again
    media.mkdir(parents=True)
    entries, stems = [], []
    for entry, medium, origin in zip(line.entries, package.entries, origins, strict=True):
        _place(origin, media / medium.name)
        # A card's segment carries silence: no sound of its own to hand over.
        entries.append(_probed(medium, media / medium.name, _facts(probes, origin))
                       if entry.kind == "take" else replace(medium, channels=0))
    for medium, origin in zip(package.stems, stem_origins, strict=True):
        _place(origin, media / medium.name)
        stems.append(_probed(medium, media / medium.name, _facts(probes, origin)))
    return replace(package, entries=entries, stems=stems)


def write_timelines(line: Timeline, package: Package, home: Path,
                    kinds: tuple[str, ...] = ("otio", "fcpxml", "edl")) -> dict[str, Path]:
    """The timeline files (`kinds` of them) and the README, once the package is placed and
    carries the sound's gains. Runs in a worker process."""
    written = editorial.write_all(line, package, home, kinds=kinds)
    (home / "README.txt").write_text(README.format(
        title=package.title, version=package.version, start=package.start_tc,
        mix=package.mix.name), encoding="utf-8")
    return written


def _facts(probes: Path | None, origin: Path) -> Path | None:
    """Where a stored original's probe is kept (only files the store names by sha256)."""
    if probes is None or not re.fullmatch(r"[0-9a-f]{64}", origin.name):
        return None
    return probes / origin.name[:2] / f"{origin.name}.json"


def add_mix(film: Path, home: Path, package_mix: str) -> None:
    """The verified film, linked into the package as its mix reference."""
    _place(film, home / editorial.MEDIA / package_mix)


# --- Written after the cut is published ----------------------------------------------------
# The film is what the night is for: it is published (and announced) once verified, and its
# package follows a moment later. A package not written yet (a crash, an older cut) is written
# from the cut's own record when someone asks for it.

_writing: dict[Path, asyncio.Task[Path]] = {}
log = logging.getLogger(__name__)


async def write_package(studio: Studio, folder: Path, line: Timeline, segments: list[Path],
                        stem_files: list[Path], gains: dict[str, tuple[float, bool]],
                        version: int, production_id: int) -> Path:
    """`folder`/handoff, whole: written beside under a partial name, then renamed into place,
    so the package a reader finds is always complete."""
    package, origins, stem_origins = await plan(studio, line, segments, stem_files, version)
    probes = layout.cache_home(studio.settings, production_id) / "probes"
    home = folder / HANDOFF
    partial = folder / f"{_PARTIAL}{os.getpid()}-{secrets.token_hex(4)}"
    loop = asyncio.get_running_loop()
    # Its own processes, gone when it is written: the segment workers keep none of its memory.
    executor = normalize.passing_pool(len(editorial.PARTS))
    try:
        try:
            placed = await loop.run_in_executor(executor, place_media, line, package, origins,
                                                stem_origins, partial, probes)
            placed = replace(placed, gains=gains)
            # The FCP XML costs about what the other two do: written in two workers at once.
            await asyncio.gather(*(
                loop.run_in_executor(executor, write_timelines, line, placed, partial, kinds)
                for kinds in editorial.PARTS))
        except BrokenProcessPool:  # a worker died (the machine's memory?): written here
            await asyncio.to_thread(write, line, package, origins, stem_origins, gains, partial,
                                    probes)
        finally:
            await asyncio.to_thread(executor.shutdown, True)
        add_mix(folder / FILM, partial, package.mix.name)
        try:
            os.rename(partial, home)
        except OSError:
            if not home.is_dir():  # not another writer's finished package: a real failure
                raise
    finally:
        await asyncio.to_thread(shutil.rmtree, partial, True)
    return home


def start(studio: Studio, folder: Path, line: Timeline, segments: list[Path],
          stem_files: list[Path], gains: dict[str, tuple[float, bool]], version: int,
          production_id: int) -> asyncio.Task[Path]:
    """Write the published cut's package in the background (one writer per cut folder)."""
    running = _writing.get(folder)
    if running is not None:
        return running
    task = asyncio.get_running_loop().create_task(
        write_package(studio, folder, line, segments, stem_files, gains, version,
                      production_id), name=f"hand-off of cut {version}")
    _writing[folder] = task

    def done(finished: asyncio.Task[Path]) -> None:
        if _writing.get(folder) is finished:
            del _writing[folder]
        if not finished.cancelled() and finished.exception() is not None:
            # Written again from the cut's record when asked for (ensure).
            log.warning("cut %s's hand-off could not be written", version,
                        exc_info=finished.exception())

    task.add_done_callback(done)
    return task


def _from_record(studio: Studio, folder: Path, version: int, production_id: int
                 ) -> asyncio.Task[Path]:
    """The package written from what the published cut keeps of itself: its timeline, its
    segments' listing and the gains its mix was made at."""
    try:
        line = Timeline.from_json(json.loads((folder / "timeline.json").read_text("utf-8")))
        segments = read_concat_list(folder / "segments.txt")
        heard = folder / "soundtrack.json"
        kept = json.loads(heard.read_text("utf-8")).get("gains", {}) if heard.exists() else {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise NotFound(f"cut {version}'s record cannot be read to write its hand-off "
                       f"({type(exc).__name__})") from None
    gains = {label: (float(g["db"]), bool(g["limit"])) for label, g in kept.items()}
    stem_files = [mediastore.path_for(studio.settings.media_path, s.media_sha256)
                  for s in line.stems]
    return start(studio, folder, line, segments, stem_files, gains, version, production_id)


async def ensure(studio: Studio, prod: Production, version: int | None) -> tuple[int, Path]:
    """A published cut's package (the latest by default), written now if it is not yet: its
    version and the package's folder, or NotFound saying why there is none."""
    found, folder = await find(studio, prod, version)
    home = folder / HANDOFF
    task = _writing.get(folder)
    if task is None and not home.is_dir():
        _sweep(folder)
        task = _from_record(studio, folder, found, prod.id)
    if task is not None:
        try:
            await asyncio.shield(task)
        except NotFound:
            raise
        except Exception as exc:
            if not home.is_dir():
                raise NotFound(f"cut {found}'s hand-off could not be written: "
                               f"{getattr(exc, 'reason', '') or type(exc).__name__}") from None
    return found, home


def resume(studio: Studio, production_id: int, version: int) -> None:
    """Start writing a kept cut's package in the background if it is missing (at start-up:
    the bot stopped between publishing the cut and finishing its package)."""
    folder = layout.cut_dir(studio.settings, production_id, version)
    if not (folder / FILM).is_file() or (folder / HANDOFF).is_dir() or folder in _writing:
        return
    _sweep(folder)
    try:
        _from_record(studio, folder, version, production_id)
    except NotFound as exc:
        log.warning("%s", exc.reason)


async def settle(folder: Path | None = None) -> None:
    """Wait for the packages being written (those under `folder`, or all): a build waits for
    the previous cut's, a closing studio for every one."""
    waiting = [t for f, t in list(_writing.items()) if folder is None or f.is_relative_to(folder)]
    await asyncio.gather(*waiting, return_exceptions=True)


closing.before_close(settle)


def _sweep(folder: Path) -> None:
    """A writer that died mid-way left its partial package: removed before writing again."""
    for partial in folder.glob(f"{_PARTIAL}*"):
        shutil.rmtree(partial, ignore_errors=True)


async def find(studio: Studio, prod: Production, version: int | None) -> tuple[int, Path]:
    """A published cut (the latest by default) whose folder is kept: its version and folder,
    or NotFound saying why there is none."""
    found = (await cuts.latest(studio.db.reader, prod.id) if version is None else
             next((c for c in await cuts.published(studio.db.reader, prod.id)
                   if c.version == version), None))
    if found is None:
        raise NotFound("no cut has been published yet" if version is None
                       else f"cut {version} was not published")
    folder = layout.cut_dir(studio.settings, prod.id, found.version)
    if not folder.is_dir():
        raise NotFound(f"cut {found.version}'s files are no longer kept (only the newest "
                       f"{studio.settings.cut_keep} are: SLATE_CUT_KEEP)")
    return found.version, folder


async def export(studio: Studio, prod: Production, version: int | None, target: Path
                 ) -> tuple[int, Path]:
    """A published cut's package (the latest by default) linked, or copied, into `target`,
    a new or empty folder. Returns the cut's version and where its package now is."""
    found, source = await ensure(studio, prod, version)
    return found, await asyncio.to_thread(_copy_package, source, target)


def _copy_package(source: Path, target: Path) -> Path:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInput(f"{target} is not an empty folder: give a new or empty one")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, copy_function=_place, dirs_exist_ok=True)
    return target
