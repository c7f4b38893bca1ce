"""Uploads: a take or stem is probed first; a refused file names the problem and stores nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import takes as take_rows
from storage.productions import Production
from studio.app import Studio
from studio.errors import InvalidInput, NotPermitted
from studio.generation import takes
from studio.production.people import Actor, actor
from tests import media_kit


def _stored_files(studio: Studio) -> list[Path]:
    return [p for p in studio.settings.media_path.rglob("*") if p.is_file()]


async def _media_rows(studio: Studio) -> int:
    cursor = await studio.db.reader.execute("SELECT COUNT(*) FROM media_file")
    return (await cursor.fetchone())[0]


async def test_a_good_take_is_stored_by_hash_with_its_facts(
    studio: Studio, sample: Production, producer: Actor, tmp_path: Path
) -> None:
    name = tmp_path / "it's a \"take\"\nwith ünïcödé 🎬.mp4"
    media_kit.video(name, seconds=1.0, rate="24000/1001")
    stored = await takes.add_take(studio, sample, producer, "1.2", name,
                                  original_name=name.name)
    assert stored.take.revision == 1 and stored.take.kind == "video"
    assert stored.media.duration == pytest.approx(1.0, abs=0.05)
    assert (stored.media.fps_num, stored.media.fps_den) == (24000, 1001)
    assert stored.media.original_name == name.name
    files = _stored_files(studio)
    assert [f.name for f in files] == [stored.media.sha256]

    again = await takes.add_take(studio, sample, producer, "1.2", name)
    assert again.take.revision == 2 and again.media.sha256 == stored.media.sha256
    assert len(_stored_files(studio)) == 1  # same bytes, one file
    shot_takes = await take_rows.of_shot(studio.db.reader, stored.take.shot_id)
    assert [t.revision for t in shot_takes] == [1, 2]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "the file is empty"),
        (lambda p: p.write_text("just some notes, not a film"), "not video, image or audio"),
        (lambda p: p.write_bytes(media_kit.video(p.with_suffix(".src.mp4")).read_bytes()[:4000]),
         "not video, image or audio"),
    ],
    ids=["zero-bytes", "text-renamed-mp4", "truncated"],
)
async def test_bad_uploads_are_refused_and_leave_no_trace(
    studio: Studio, sample: Production, producer: Actor, tmp_path: Path, make, message: str
) -> None:
    bad = tmp_path / "take.mp4"
    make(bad)
    with pytest.raises(InvalidInput, match=message):
        await takes.add_take(studio, sample, producer, "2.1", bad)
    assert _stored_files(studio) == []
    assert await _media_rows(studio) == 0
    assert await takes.takes_of(studio, sample, "2.1") == []


async def test_limits_and_permissions(
    studio: Studio, sample: Production, producer: Actor, tmp_path: Path
) -> None:
    clip = media_kit.video(tmp_path / "clip.mp4", seconds=2.0)
    short = studio.settings.model_copy(update={"take_max_seconds": 1.0})
    with pytest.raises(InvalidInput, match=r"lasts 2\.0 s; at most 1 s"):
        await takes.add_take(Studio(short, studio.db), sample, producer, "1.1", clip)
    small = studio.settings.model_copy(update={"upload_max_bytes": 1024})
    with pytest.raises(InvalidInput, match=r"the file is \d+\.\d KB; the limit is 1\.0 KB"):
        await takes.add_take(Studio(small, studio.db), sample, producer, "1.1", clip)

    stranger = await actor(studio.db, sample, "Stranger", discord_id=77)
    with pytest.raises(NotPermitted, match="only chapter 1's owner or a Producer"):
        await takes.add_take(studio, sample, stranger, "1.1", clip)
    assert _stored_files(studio) == []


async def test_stems_are_audio_only_and_replace_their_kind(
    studio: Studio, sample: Production, producer: Actor, tmp_path: Path
) -> None:
    picture = media_kit.image(tmp_path / "still.png")
    with pytest.raises(InvalidInput, match="the file is image; expected audio"):
        await takes.add_stem(studio, sample, producer, 1, "vo", picture)
    with pytest.raises(InvalidInput, match="a stem is one of: vo, sfx, music"):
        await takes.add_stem(studio, sample, producer, 1, "dialogue", picture)

    first = await takes.add_stem(studio, sample, producer, 1, "music",
                                 media_kit.tone(tmp_path / "a.wav", seconds=1.0))
    second = await takes.add_stem(studio, sample, producer, 1, "music",
                                  media_kit.tone(tmp_path / "b.wav", seconds=1.5))
    active = await takes.stems_of(studio, sample, 1)
    assert [(s.kind, s.id) for s in active] == [("music", second.id)]
    assert first.id != second.id
