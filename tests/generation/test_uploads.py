"""Takes and stems made elsewhere: probed, refused with the reason, nothing kept when refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from storage import takes
from storage.productions import Production
from studio import mediastore
from studio.app import Studio
from studio.errors import InvalidInput
from studio.generation import requests
from studio.generation.takes import add_stem, stems_of, takes_of
from studio.media import ffmpeg_exe
from studio.production.people import Actor


def clip(path: Path, *, seconds: float = 1.0, video: bool = True) -> Path:
    source = (["-f", "lavfi", "-i", f"testsrc=size=96x54:rate=12:duration={seconds}",
               "-c:v", "libx264", "-pix_fmt", "yuv420p"] if video else
              ["-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}", "-c:a", "aac"])
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", *source, "-f",
                    "mp4", str(path)], check=True)
    return path


def noisy(path: Path) -> Path:
    """A 2-s clip encoded near-lossless: far bigger than its preview may be."""
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=320x180:rate=24:duration=2", "-c:v", "libx264", "-crf", "5",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def stored_files(studio: Studio) -> list[Path]:
    root = studio.settings.media_path
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def test_a_file_with_an_awkward_name_is_stored_by_hash(
        studio: Studio, sample: Production, owner: Actor, tmp_path: Path):
    name = 'shot "final"\nv2 — ñandú 🎬.mp4'
    path = clip(tmp_path / name)
    take = await requests.upload_take(studio, sample, owner, "1.1", path, original_name=name)
    assert take.source == "uploaded" and take.kind == "video" and take.revision == 1
    kept = mediastore.path_for(studio.settings.media_path, take.media_sha256)
    assert kept.read_bytes() == path.read_bytes() and kept.name == take.media_sha256
    assert take.thumbnail_sha256 is not None and take.preview_sha256 == take.media_sha256


@pytest.mark.parametrize(("make", "reason"), [
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_text("this is a shot list, not a video\n" * 20), "not video, image"),
    (lambda p: p.write_bytes(clip(p.with_name("whole.mp4")).read_bytes()[:1500]), "damaged|not"),
])
async def test_bad_files_are_refused_and_leave_nothing(
        studio: Studio, sample: Production, owner: Actor, tmp_path: Path, make, reason: str):
    path = tmp_path / "take.mp4"
    make(path)
    with pytest.raises(InvalidInput, match=reason):
        await requests.upload_take(studio, sample, owner, "1.1", path)
    assert await takes_of(studio, sample, "1.1") == []
    assert stored_files(studio) == []


async def test_too_long_and_too_big_are_refused(
        studio: Studio, sample: Production, owner: Actor, tmp_path: Path):
    studio.settings = studio.settings.model_copy(update={"take_max_seconds": 1.0})
    with pytest.raises(InvalidInput, match=r"lasts 2\.0 s; at most 1 s"):
        await requests.upload_take(studio, sample, owner, "1.1",
                                   clip(tmp_path / "long.mp4", seconds=2))
    studio.settings = studio.settings.model_copy(update={"upload_max_bytes": 1024})
    with pytest.raises(InvalidInput, match="the limit is"):
        await requests.upload_take(studio, sample, owner, "1.1", clip(tmp_path / "big.mp4"))
    assert stored_files(studio) == []


async def test_a_large_take_gets_a_smaller_preview(
        studio: Studio, sample: Production, owner: Actor, tmp_path: Path):
    studio.settings = studio.settings.model_copy(update={"preview_max_bytes": 60_000})
    path = noisy(tmp_path / "noisy.mp4")
    assert path.stat().st_size > 60_000
    take = await requests.upload_take(studio, sample, owner, "1.1", path)
    assert take.preview_sha256 not in (None, take.media_sha256)
    preview = mediastore.path_for(studio.settings.media_path, take.preview_sha256)
    assert preview.stat().st_size <= 60_000


async def test_stems_take_audio_only(studio: Studio, sample: Production, owner: Actor,
                                     tmp_path: Path):
    with pytest.raises(InvalidInput, match="expected audio"):
        await add_stem(studio, sample, owner, 1, "vo", clip(tmp_path / "v.mp4"))
    stem = await add_stem(studio, sample, owner, 1, "vo",
                          clip(tmp_path / "vo.m4a", video=False))
    assert [s.id for s in await stems_of(studio, sample, 1)] == [stem.id]


async def test_generated_and_uploaded_takes_number_in_one_sequence(
        studio: Studio, sample: Production, owner: Actor, make_queue, animatic, tmp_path: Path):
    make_queue({"animatic": animatic})
    await requests.upload_take(studio, sample, owner, "1.1", clip(tmp_path / "a.mp4"))
    made = await requests.run_now(studio, sample, owner, "1.1", kind="image", prompt="x")
    assert made.revision == 2
    assert [t.source for t in await takes.of_shot(studio.db.reader, made.shot_id)] == \
        ["uploaded", "generated"]
