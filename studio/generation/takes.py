"""Takes and stems: files made elsewhere or by a provider, checked, stored by hash, recorded.

A file is probed before anything is stored; a refused file leaves no trace (no media row, no
take, no file in the store).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from storage import audit, chapters, media_files, shots, stems, takes
from storage.media_files import MediaFile
from storage.productions import Production
from storage.stems import STEM_KINDS, Stem
from storage.takes import Provenance, Take
from studio import mediastore
from studio.app import Studio
from studio.errors import InvalidInput, NotPermitted
from studio.generation import upload_check
from studio.media import Probe
from studio.production import board
from studio.production import shots as production_shots
from studio.production.people import Actor


@dataclass(frozen=True)
class StoredTake:
    take: Take
    media: MediaFile
    code: str


async def check_upload(studio: Studio, path: Path, *, allowed: tuple[str, ...]) -> Probe:
    """Refuse a file with the reason: too big, too many pixels, empty, corrupt or cut off,
    wrong kind, too long (see upload_check); decoding runs off the event loop."""
    settings = studio.settings
    limits = upload_check.Limits(settings.upload_max_bytes, settings.upload_max_pixels,
                                 settings.take_max_seconds)
    return await asyncio.to_thread(upload_check.check, path, limits, allowed=allowed)


async def _store(studio: Studio, tx, path: Path, found: Probe, original_name: str) -> MediaFile:
    sha, stored = mediastore.put_file(studio.settings.media_path, path)
    return await media_files.ensure(
        tx, sha, kind=found.kind, container=found.container, size=stored.stat().st_size,
        duration=found.duration, width=found.width, height=found.height, fps=found.fps,
        video_codec=found.video_codec, audio_codec=found.audio_codec,
        has_audio=found.has_audio, original_name=original_name,
    )


def _may_work_on(who: Actor, owner_id: int | None, prod: Production, chapter: int) -> None:
    if owner_id != who.id and not who.is_producer:
        raise NotPermitted(f"only chapter {chapter}'s owner or a {prod.producer_role} "
                           "can add to it")


async def add_take(
    studio: Studio, prod: Production, who: Actor, code: str, path: Path, *,
    original_name: str = "", source: str = "uploaded", provenance: Provenance | None = None,
) -> StoredTake:
    """Check, store and record a take for shot `code` (e.g. '3.2')."""
    ref = await production_shots.shot(studio.db, prod, code)
    _may_work_on(who, ref.owner_id, prod, ref.chapter_number)
    found = await check_upload(studio, path, allowed=("video", "image", "audio"))
    async with studio.db.transaction() as tx:
        media = await _store(studio, tx, path, found, original_name or path.name)
        take = await takes.create(tx, ref.shot.id, source=source, media_sha256=media.sha256,
                                  kind=found.kind, creator_id=who.id,
                                  provenance=provenance or Provenance())
        if ref.shot.status in ("todo", "retake"):
            await shots.update(tx, ref.shot.id, status="needs_review")
        await audit.record(tx, prod.id, who.id, "take", take.id, "add",
                           after={"shot": ref.code, "revision": take.revision,
                                  "source": source, "sha256": media.sha256})
    return StoredTake(take, media, ref.code)


async def add_stem(
    studio: Studio, prod: Production, who: Actor, chapter_number: int, kind: str, path: Path,
    *, original_name: str = "",
) -> Stem:
    """A chapter's VO, SFX or music stem: audio only; replaces the previous one of its kind."""
    if kind not in STEM_KINDS:
        raise InvalidInput(f"a stem is one of: {', '.join(STEM_KINDS)}")
    chapter = await board.chapter(studio.db, prod, chapter_number)
    _may_work_on(who, chapter.owner_id, prod, chapter.number)
    found = await check_upload(studio, path, allowed=("audio",))
    async with studio.db.transaction() as tx:
        media = await _store(studio, tx, path, found, original_name or path.name)
        stem = await stems.replace(tx, chapter.id, kind, media.sha256, who.id)
        await audit.record(tx, prod.id, who.id, "stem", stem.id, "add",
                           after={"chapter": chapter.number, "kind": kind,
                                  "sha256": media.sha256})
    return stem


async def takes_of(studio: Studio, prod: Production, code: str) -> list[Take]:
    ref = await production_shots.shot(studio.db, prod, code)
    return await takes.of_shot(studio.db.reader, ref.shot.id)


async def stems_of(studio: Studio, prod: Production, chapter_number: int) -> list[Stem]:
    chapter = await chapters.by_number(studio.db.reader, prod.id, chapter_number)
    if chapter is None:
        raise InvalidInput(f"there is no chapter {chapter_number}")
    return await stems.active_of_chapter(studio.db.reader, chapter.id)
