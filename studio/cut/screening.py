"""What the web pages show: the production's board, a cut's screening, a chapter's shots,
and the files they may serve (read-only: nothing here changes the production).

Every file handed out is resolved inside its own folder first: a name from a URL never
reaches outside a cut's folder or the media store, through `..` or through a symlink.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import tempfile
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from storage import chapters, cuts, media_files, members, productions, shots, takes, vote_windows
from storage.chapters import ChapterProgress
from storage.cuts import Cut
from storage.productions import Production
from storage.shots import ShotRef
from storage.takes import Take
from studio import mediastore
from studio.app import Studio
from studio.cut import editorial, handoff, publish
from studio.cut.film import FILM
from studio.cut.handoff import HANDOFF
from studio.errors import NotFound
from studio.generation.take_media import suffix_of
from studio.review import windows

ZIP_STORED_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".wav", ".mp3", ".m4a", ".aac",
                       ".png", ".jpg", ".jpeg", ".zip"}  # already compressed: stored as is
_zipping = asyncio.Lock()


@dataclass(frozen=True)
class Board:
    production: Production
    chapters: list[ChapterProgress]
    latest: Cut | None
    cuts: list[Cut]

    @property
    def shots_total(self) -> int:
        return sum(c.shots_total for c in self.chapters)

    @property
    def shots_approved(self) -> int:
        return sum(c.shots_approved for c in self.chapters)


@dataclass(frozen=True)
class ChapterMark:
    """Where a chapter (or the end credits) starts and ends in a cut, in seconds."""

    number: int | None  # None: the end credits
    title: str
    start: float
    end: float


@dataclass(frozen=True)
class Download:
    label: str
    path: str  # where it is under /cuts/<version>/: files/<name>, handoff/<name>, handoff.zip
    size: int | None  # None: made on request (the hand-off zip)


@dataclass(frozen=True)
class Screening:
    production: Production
    cut: Cut
    marks: list[ChapterMark]
    credits: list[tuple[str, str]]
    downloads: list[Download]
    has_film: bool
    has_handoff: bool


@dataclass(frozen=True)
class ShotView:
    ref: ShotRef
    approved: Take | None
    vote: windows.VoteStatus | None
    vote_url: str | None  # the Discord message where the shot is (or was) voted on
    creators: dict[int, str]  # member id → name, for every take shown


@dataclass(frozen=True)
class ChapterView:
    production: Production
    progress: ChapterProgress
    shots: list[ShotView]


async def production_of(studio: Studio, production_id: int | None) -> Production:
    """The production a link names; None (a public page without a link): the oldest one."""
    reader = studio.db.reader
    found = (await productions.first(reader) if production_id is None
             else await productions.get(reader, production_id))
    if found is None:
        raise NotFound("there is no production here yet")
    return found


async def board(studio: Studio, prod: Production) -> Board:
    reader = studio.db.reader
    published = await cuts.published(reader, prod.id)
    return Board(prod, await chapters.progress(reader, prod.id),
                 published[0] if published else None, published)


def cut_folder(studio: Studio, prod: Production, found: Cut) -> Path:
    """A published cut's folder (where studio/cut.py puts it)."""
    return publish.cut_dir(studio.settings, prod.id, found.version)


async def _published(studio: Studio, prod: Production, version: int) -> tuple[Cut, Path]:
    for found in await cuts.published(studio.db.reader, prod.id):
        if found.version == version:
            folder = cut_folder(studio, prod, found)
            if not found.path or not folder.is_dir():
                raise NotFound(f"cut {version} is no longer kept on the server")
            return found, folder
    raise NotFound(f"there is no published cut {version}")


def marks_of(found: Cut) -> list[ChapterMark]:
    """The chapters' spans in the film, read from the cut's own timeline (what was built)."""
    data = found.timeline_data
    fps = Fraction(str(data.get("profile", {}).get("fps", "24")))
    marks: list[ChapterMark] = []
    for entry in data.get("entries", []):
        start = float(Fraction(int(entry["start_frame"])) / fps)
        end = float(Fraction(int(entry["start_frame"]) + int(entry["frames"])) / fps)
        number = None if entry["kind"] == "credits" else int(entry["chapter_number"])
        if marks and marks[-1].number == number:
            marks[-1] = ChapterMark(number, marks[-1].title, marks[-1].start, end)
        else:
            title = "Credits" if number is None else str(entry["chapter_title"])
            marks.append(ChapterMark(number, title, start, end))
    return marks


def _size(path: Path) -> int | None:
    return path.stat().st_size if path.is_file() else None


async def screening(studio: Studio, prod: Production, version: int) -> Screening:
    found, folder = await _published(studio, prod, version)
    downloads: list[Download] = []
    film = folder / FILM
    if film.is_file():
        downloads.append(Download("Film (MP4)", f"files/{FILM}", _size(film)))
    # Every kept cut has its package: written after the cut is published, or when first asked
    # for (handoff.ensure), so the links are there either way.
    handoff = film.is_file()
    if handoff:
        # The package is what an editor needs; its timeline files alone point at its media/.
        downloads.append(Download("Editor's hand-off (zip: timelines and original media)",
                                  f"{HANDOFF}.zip", None))
        labels = {"otio": "OpenTimelineIO (.otio)", "fcpxml": "Premiere / Resolve (FCP XML)",
                  "edl": "Edit decision list (EDL)"}
        for kind, path in editorial.files(folder / HANDOFF).items():
            downloads.append(Download(labels.get(kind, kind), f"{HANDOFF}/{path.name}",
                                      _size(path)))
    for name, label in (("changelog.md", "Changelog"), ("credits.txt", "Credits")):
        if (folder / name).is_file():
            downloads.append(Download(label, f"files/{name}", _size(folder / name)))
    credits = [(str(role), str(name)) for role, name in found.timeline_data.get("credits", [])]
    return Screening(prod, found, marks_of(found), credits, downloads, film.is_file(), handoff)


def discord_message_url(prod: Production, channel_id: int, message_id: int) -> str | None:
    """A message's address in Discord (none for the shell's production, which has no guild)."""
    if not prod.guild_id or not channel_id or not message_id:
        return None
    return f"https://discord.com/channels/{prod.guild_id}/{channel_id}/{message_id}"


async def chapter(studio: Studio, prod: Production, number: int) -> ChapterView:
    reader = studio.db.reader
    progress = next((c for c in await chapters.progress(reader, prod.id)
                     if c.chapter.number == number), None)
    if progress is None:
        raise NotFound(f"there is no chapter {number}")
    shown: list[ShotView] = []
    for shot in await shots.of_chapter(reader, progress.chapter.id, include_omitted=False):
        ref = ShotRef(shot, number, progress.chapter.title, prod.id, progress.chapter.owner_id)
        approved = (await takes.get(reader, shot.approved_take_id)
                    if shot.approved_take_id else None)
        vote = await windows.status(studio.db, prod, ref.code)
        window = vote.window or await vote_windows.latest_of_shot(reader, shot.id)
        url = None
        if window is not None and window.summary_message_id:
            url = discord_message_url(prod, window.summary_channel_id or 0,
                                      window.summary_message_id)
        for candidate in vote.candidates:
            if url is None and candidate.message is not None:
                url = discord_message_url(prod, candidate.message.channel_id,
                                          candidate.message.message_id)
        ids = [t.creator_id for t in [approved, *(c.take for c in vote.candidates)]
               if t is not None and t.creator_id]
        names = {i: m.name for i, m in (await members.many(reader, ids)).items()}
        shown.append(ShotView(ref, approved, vote if vote.candidates else None, url, names))
    return ChapterView(prod, progress, shown)


def _inside(folder: Path, name: str) -> Path:
    """`folder/name` if it is a regular file really inside `folder` (symlinks resolved)."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
        raise NotFound("no such file")
    root = folder.resolve()
    path = (folder / name).resolve()
    if path.parent != root or not path.is_file():
        raise NotFound("no such file")
    return path


async def cut_file(studio: Studio, prod: Production, version: int, name: str) -> Path:
    """One file of a published cut's folder (never a folder, never outside it)."""
    _, folder = await _published(studio, prod, version)
    return _inside(folder, name)


async def handoff_file(studio: Studio, prod: Production, version: int, name: str) -> Path:
    """One file at the top of a published cut's hand-off (its timelines, its README)."""
    home = await _handed_off(studio, prod, version)
    return _inside(home, name)


async def handoff_zip(studio: Studio, prod: Production, version: int) -> Path:
    """The cut's hand-off folder as one zip, made once (a published cut never changes)."""
    source = await _handed_off(studio, prod, version)
    target = studio.settings.cache_path / "handoff" / f"{prod.id}-{version:04d}.zip"
    async with _zipping:
        if not target.is_file():
            await asyncio.to_thread(_zip, source, target, f"cut-{version:04d}-{HANDOFF}")
    return target


async def _handed_off(studio: Studio, prod: Production, version: int) -> Path:
    """The published cut's package folder, written first if it is not yet."""
    await _published(studio, prod, version)
    _, home = await handoff.ensure(studio, prod, version)
    if home.is_symlink() or not home.is_dir():
        raise NotFound(f"cut {version} has no editor's hand-off")
    return home


def _zip(source: Path, target: Path, top: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    root = source.resolve()
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".zip-")
    os.close(fd)
    try:
        with zipfile.ZipFile(partial, "w") as archive:
            for path in sorted(source.rglob("*")):
                real = path.resolve()
                # Only what really lives in the hand-off: a symlink out of it is left out.
                if not real.is_file() or not real.is_relative_to(root):
                    continue
                method = (zipfile.ZIP_STORED if path.suffix.lower() in ZIP_STORED_SUFFIXES
                          else zipfile.ZIP_DEFLATED)
                archive.write(real, f"{top}/{path.relative_to(source).as_posix()}",
                              compress_type=method)
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)


async def media_file(studio: Studio, prod: Production, sha256: str) -> tuple[Path, str]:
    """A stored take, preview or thumbnail of this production (by its hash), with the content
    type its real format calls for (the store keeps files without a name)."""
    if not await takes.production_uses_media(studio.db.reader, prod.id, sha256):
        raise NotFound("no such file")
    store = studio.settings.media_path
    real = mediastore.path_for(store, sha256).resolve()
    if not real.is_file() or not real.is_relative_to(store.resolve()):
        raise NotFound("no such file")
    probed = await media_files.get(studio.db.reader, sha256)
    suffix = suffix_of(probed) if probed is not None else ""
    kind = mimetypes.guess_type(f"file{suffix}")[0] if suffix else None
    return real, kind or "application/octet-stream"
