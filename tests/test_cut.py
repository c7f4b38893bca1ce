"""The nightly cut: mixed takes become one verified film that matches its timeline."""

from __future__ import annotations

import array
import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import opentimelineio as otio
import pytest

from storage import audit, cuts, shots
from storage.productions import Production
from studio import mediastore
from studio.app import Studio
from studio.cut import adts, build, changelog, layout, loudness, normalize, plan, seal
from studio.errors import SlateError
from studio.generation import takes
from studio.generation.standin import make_standin_take, make_still, make_tone
from studio.media import (
    concat_line,
    ffmpeg_exe,
    read_concat_list,
    streams_of,
    write_concat_list,
)
from studio.ops.settings import Settings, load_settings
from studio.production import claims, shotlist
from studio.production.people import Actor, actor
from tests.media_kit import killing_whoever_writes

BOT = Path(__file__).resolve().parent.parent / "bot.py"
SHOT_LIST = """chapter,chapter_title,shot,description,duration,notes
1,Dawn,1,Wide of the flats,1,Establishing
1,Dawn,2,Pell's tracks,1,
1,Dawn,3,"Close on the bottle, lit",1.5,
1,Dawn,4,The basket,1,
2,Storm,1,Clouds roll in,1,Darker here
2,Storm,2,Pell runs,1,
2,Storm,3,Lightning,0.5,
2,Storm,4,Shelter,1,
"""


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # A data dir whose path has quotes and unicode: every path given to ffmpeg must be escaped.
    monkeypatch.chdir(tmp_path)
    return load_settings(data_dir=tmp_path / "Pell's \"tide\" — ünïcode", cut_width=320,
                         cut_height=180, cut_fps="24000/1001", cut_credits_seconds=1.0,
                         cut_keep=2)


@pytest.fixture
async def film(studio: Studio, prod: Production, producer: Actor) -> Production:
    await shotlist.import_shots(studio.db, prod, producer, SHOT_LIST.encode(), "film.csv")
    maya = await actor(studio.db, prod, "Maya")
    await claims.claim(studio.db, prod, maya, 1)
    return prod


async def approve(studio: Studio, prod: Production, who: Actor, code: str, path: Path,
                  name: str = "") -> int:
    stored = await takes.add_take(studio, prod, who, code, path, original_name=name or path.name)
    async with studio.db.transaction() as tx:
        await shots.update(tx, stored.take.shot_id, approved_take_id=stored.take.id,
                           status="approved")
    return stored.take.id


def corrupt(settings: Settings, sha256: str) -> None:
    """Damage a stored take after upload (a bad disk, a bad sync): the cut must survive it."""
    path = mediastore.path_for(settings.media_path, sha256)
    data = path.read_bytes()
    path.write_bytes(data[:200] + bytes(len(data) - 200))


async def test_mixed_takes_make_a_verified_cut_matching_the_timeline(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    media = tmp_path / "in"
    media.mkdir()
    made = {
        "1.1": make_standin_take(media / "portrait 23.976.avi", "1.1", seconds=1.2,
                                 size=(180, 320), fps="24000/1001", codec="mpeg4", audio=True),
        "1.2": make_standin_take(media / "it's \"ünï\".mp4", "1.2", fps="30", seconds=0.6),
        "1.3": make_standin_take(media / "vp9.webm", "1.3", codec="libvpx-vp9", audio=True,
                                 size=(256, 144), fps="25", seconds=2.0),
        "2.1": make_still(media / "still.png", "2.1", size=(300, 300)),
        "2.2": make_standin_take(media / "mjpeg.mkv", "2.2", codec="mjpeg", fps="30"),
        "2.3": make_tone(media / "sound only.wav", 0.4),  # picture held black, sound kept
    }
    ids = {code: await approve(studio, film, producer, code, path, name=path.name)
           for code, path in made.items()}
    broken_source = make_standin_take(media / "soon-broken.mp4", "2.4", fps="24")
    broken_id = await approve(studio, film, producer, "2.4", broken_source)
    broken_take = await takes.takes_of(studio, film, "2.4")
    corrupt(studio.settings, broken_take[0].media_sha256)
    await takes.add_stem(studio, film, producer, 1, "vo", make_tone(media / "vo.wav", 2.0))
    await takes.add_stem(studio, film, producer, 2, "music", make_tone(media / "m.wav", 9, 440))
    stages: set[str] = set()

    result = await build.build(studio, film, on_progress=lambda s, f: stages.add(s))

    line = result.timeline
    fps = Fraction(24000, 1001)
    planned = [1, 1, 1.5, 1, 1, 1, 0.5, 1, 1.0]  # 8 shots then the credits
    assert [e.frames for e in line.entries] == [round(Fraction(str(p)) * fps) for p in planned]
    assert [e.code for e in line.approved] == list(ids)
    assert [e.take_id for e in line.approved] == list(ids.values())
    # The corrupt take is replaced by a slate and reported; the build still publishes.
    assert [(b.code, b.take_id) for b in result.broken] == [("2.4", broken_id)]
    assert line.entries[7].kind == "slate" and "could not be used" in line.entries[7].reason
    duration, streams = streams_of(result.film)
    assert abs(duration - float(Fraction(line.frames) / fps)) <= len(line.entries) / float(fps)
    video = [s for s in streams if s.kind == "video"]
    assert [(s.codec, s.width, s.height) for s in video] == [("h264", 320, 180)]
    # The watch copy: the picture and one stereo mix (the stems reach an editor as files).
    assert [s.title for s in streams if s.kind == "audio"] == ["Mix"]
    with av.open(str(result.film)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == fps
        frames = sum(1 for _ in container.decode(stream))
    assert frames == line.frames
    # Written by studio/mp4.py: ffmpeg itself decodes every stream cleanly, the first picture
    # is at 0, and the production's title is the film's.
    from studio.media import run_ffmpeg

    assert (await run_ffmpeg(["-v", "error", "-xerror", "-i", str(result.film), "-map", "0",
                              "-f", "null", "-"])).strip() == ""
    with av.open(str(result.film)) as container:
        first = next(container.decode(video=0))
        assert first.pts == 0
        assert container.metadata.get("title") == line.production_title
        assert container.streams.audio[0].disposition & av.stream.Disposition.default
        assert container.streams.audio[0].codec_context.channels == 2  # one stereo mix
    mix = channel_zero(result.film, 0)
    assert len(mix) >= line.profile.samples(line.frames)
    # The stems are in the mix: chapter 1's VO under its silent takes, chapter 2's music.
    p = line.profile
    for entry in (line.entries[0], line.entries[4]):
        at = p.samples(entry.start_frame)
        assert max(map(abs, mix[at + 2400:at + 7200])) > 0.05, entry.code
    assert {"normalizing", "stitching", "verifying", "published"} <= stages
    assert result.cut.state == "published" and result.cut.version == 1
    assert "6/8 shots approved (75%)" in result.changelog
    assert "BROKEN: shot 2.4" in result.changelog
    assert result.preview == result.film  # a tiny film is its own Discord preview
    credits = result.credits.read_text(encoding="utf-8")
    assert "Chapter 1 — Dawn: Maya" in credits and "FFmpeg" in credits
    assert layout.latest_link(studio.settings, film.id).resolve() == result.directory


async def test_a_multi_track_master_is_an_opt_in_built_beside_the_mix(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    await approve(studio, film, producer, "1.1",
                  make_standin_take(tmp_path / "a.mp4", "1.1", audio=True))
    await takes.add_stem(studio, film, producer, 2, "music", make_tone(tmp_path / "m.wav", 3))
    await takes.add_stem(studio, film, producer, 1, "vo", make_tone(tmp_path / "vo.wav", 2))
    plain = await build.build(studio, film)
    assert [s.title for s in streams_of(plain.film)[1] if s.kind == "audio"] == ["Mix"]
    assert await build.nightly(studio, film) is None  # nothing changed

    # Switched on, the next night builds the master: the mix, then the takes' own sound and
    # one track per stem kind, each the length of the film and heard where its source is.
    studio.settings = studio.settings.model_copy(update={"cut_stem_tracks": True})
    master = await build.nightly(studio, film)
    assert master is not None and master.cut.state == "published"
    assert master.encoded == 0  # the pictures are the same segments
    _, streams = streams_of(master.film)
    assert [s.title for s in streams if s.kind == "audio"] == ["Mix", "Takes", "Music", "VO"]
    line = master.timeline
    p = line.profile
    first, chapter_two = (p.samples(line.entries[i].start_frame) for i in (0, 4))
    heard = {n: channel_zero(master.film, n) for n in range(4)}
    for n in range(4):
        assert len(heard[n]) >= p.samples(line.frames)
    assert max(map(abs, heard[1][first:first + 4800])) > 0.05  # the take's own sound
    assert max(map(abs, heard[1][chapter_two:chapter_two + 4800])) == 0  # no take there
    assert max(map(abs, heard[2][chapter_two:chapter_two + 4800])) > 0.05  # the music
    assert max(map(abs, heard[2][first:first + 4800])) == 0  # chapter 1 has none
    assert max(map(abs, heard[3][first:first + 4800])) > 0.05  # chapter 1's VO
    # The mix is the same one either way.
    assert channel_zero(master.film, 0) == channel_zero(plain.film, 0)


async def test_mix_is_loudness_normalized_to_the_target(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    await takes.add_stem(studio, film, producer, 1, "music", make_tone(tmp_path / "m.wav", 4))
    result = await build.build(studio, film)
    from studio.media import run_ffmpeg

    err = await run_ffmpeg(["-v", "info", "-i", str(result.film), "-map", "0:a:0", "-af",
                            "ebur128=peak=true", "-f", "null", "-"])
    measured = loudness.measured_loudness(err)
    assert measured is not None
    # Only chapter 1 has sound (half the film): the target applies to the whole mix.
    assert abs(measured.integrated - studio.settings.cut_lufs) < 1.0
    assert measured.true_peak <= -0.5


async def test_each_chapter_is_brought_to_the_target_loud_or_quiet(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    from studio.media import run_ffmpeg

    quiet = tmp_path / "quiet.wav"
    await run_ffmpeg(["-v", "error", "-f", "lavfi", "-i",
                      "sine=frequency=330:duration=4,volume=-24dB", "-ac", "2", str(quiet)])
    await takes.add_stem(studio, film, producer, 1, "music", make_tone(tmp_path / "m.wav", 5))
    await takes.add_stem(studio, film, producer, 2, "music", quiet)
    result = await build.build(studio, film)
    chapter_two = result.timeline.profile.seconds(result.timeline.entries[4].start_frame)
    # Chapters made by different creators come out equally loud: each at the target.
    for start, end in ((0.1, chapter_two - 0.2), (chapter_two + 0.1, result.timeline.duration
                                                  - 1.2)):
        err = await run_ffmpeg(["-v", "info", "-ss", f"{start:.3f}", "-t", f"{end - start:.3f}",
                                "-i", str(result.film), "-map", "0:a:0", "-af",
                                "ebur128=peak=true", "-f", "null", "-"])
        measured = loudness.measured_loudness(err)
        assert measured is not None
        assert abs(measured.integrated - studio.settings.cut_lufs) < 1.0, (start, measured)


def test_running_times_read_as_an_editor_writes_them() -> None:
    assert [changelog.clock(s) for s in (4.25, 161.0, 3600, 6727.5)] == [
        "0:04.2", "2:41.0", "1:00:00.0", "1:52:07.5"]


def test_concat_list_escapes_quotes_and_keeps_unicode(tmp_path: Path) -> None:
    odd = tmp_path / "it's ünï \"x\".mov"
    assert concat_line(odd) == "file '" + str(odd).replace("'", "'\\''") + "'"
    assert concat_line(odd).count("'\\''") == 1
    listing = write_concat_list([odd, odd], tmp_path / "list.txt")
    assert listing.read_text(encoding="utf-8").splitlines()[0] == "ffconcat version 1.0"
    with pytest.raises(Exception, match="line break"):
        concat_line(tmp_path / "a\nb.mov")


async def test_second_build_reencodes_nothing_and_an_approval_reencodes_one_shot(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    await approve(studio, film, producer, "1.1", make_standin_take(tmp_path / "a.mp4", "1.1"))
    first = await build.build(studio, film)
    assert first.encoded == len(first.timeline.entries)
    # Silent tracks are the cached silent frame: only the three loudness measurements (the
    # chapters and the credits, all silent) are made.
    assert (first.sound_encoded, first.sound_reused) == (3, 0)
    second = await build.build(studio, film)
    assert (second.encoded, second.reused) == (0, len(second.timeline.entries))
    assert (second.sound_encoded, second.sound_reused) == (0, 3)
    await approve(studio, film, producer, "2.3",
                  make_standin_take(tmp_path / "b.mp4", "2.3", audio=True))
    third = await build.build(studio, film)
    # One video segment is encoded, and the sound around shot 2.3 only: its piece and the two
    # beside it (their pre- and post-roll reach into it) on the film's one track, the mix, and
    # chapter 2's loudness; every other piece comes from the cache.
    assert third.encoded == 1
    before, after = piece_keys(second.directory), piece_keys(third.directory)
    assert before.keys() == after.keys()  # the same pieces: the shot kept its length
    changed = {k for k in after if after[k] != before[k]}
    shot = 6  # 2.3 is the seventh entry: one piece per shot here
    assert {t for t, _ in after} == {"mix"}
    assert changed == {("mix", n) for n in (shot - 1, shot, shot + 1)}
    assert (third.sound_encoded, third.sound_reused) == (4, 2)  # chapter 1, the credits
    runs = (third.directory / "soundtrack.txt").read_text().split()
    assert set(runs) == {k for k in after.values()} | set(gain_keys(third))
    # The new take's sound is in the film: its mix is no longer silent in chapter 2.
    at = third.timeline.profile.samples(third.timeline.entries[6].start_frame)
    assert max(map(abs, channel_zero(third.film, 0)[at:at + 4800])) > 0.05
    assert max(map(abs, channel_zero(second.film, 0)[at:at + 4800])) == 0
    assert "new: shot 2.3" in third.changelog and "2/8 shots approved" in third.changelog
    # Retention keeps 2 published cuts on disk; every cut keeps its row.
    home = layout.cuts_home(studio.settings, film.id)
    folders = sorted(p.name for p in home.iterdir() if p.name.isdigit())
    assert folders == ["0002", "0003"]
    # The cache keeps exactly the segments the kept cuts are made of.
    segments = layout.cache_home(studio.settings, film.id) / "segments"
    cached = {p.name for p in segments.glob("*/*.mov")}
    listed = {line.rsplit("/", 1)[1].rstrip("'") for f in folders for line in
              (home / f / "segments.txt").read_text().splitlines()[1:]}
    assert cached == listed and len(cached) == len(third.timeline.entries) + 1
    assert len(await cuts.published(studio.db.reader, film.id)) == 3


async def test_a_slate_is_made_again_only_when_what_it_shows_changes(
    studio: Studio, film: Production, producer: Actor
) -> None:
    first = await build.build(studio, film)
    assert first.encoded == len(first.timeline.entries)  # eight slates and the credits
    assert not (first.directory / "cards").exists()  # the cards live on in their segments
    # The shot list comes back with shot 2.2 rewritten: its slate alone is made again.
    edited = SHOT_LIST.replace("2,Storm,2,Pell runs,1,", "2,Storm,2,Pell runs for the hut,1,")
    await shotlist.import_shots(studio.db, film, producer, edited.encode(), "film v2.csv")
    second = await build.build(studio, film)
    assert (second.encoded, second.reused) == (1, len(second.timeline.entries) - 1)
    old, new = (picture_at(c.film, c.timeline.entries[5].start_frame) for c in (first, second))
    assert (old != new).any()  # the new description is on the card
    assert second.timeline.entries[5].description == "Pell runs for the hut"
    # A new owner is written on each of the chapter's slates, and in the credits.
    await claims.claim(studio.db, film, await actor(studio.db, film, "Ife"), 2)
    third = await build.build(studio, film)
    assert third.encoded == 4 + 1  # chapter 2's four slates and the credits card


def picture_at(film: Path, frame: int) -> object:
    with av.open(str(film)) as container:
        for n, picture in enumerate(container.decode(video=0)):
            if n == frame:
                return picture.to_ndarray()
    raise AssertionError(f"the film has no frame {frame}")


async def test_interrupted_build_leaves_the_last_good_cut_in_place(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    good = await build.build(studio, film)
    before = mediastore.sha256_of(good.film)
    await approve(studio, film, producer, "1.2", make_standin_take(tmp_path / "a.mp4", "1.2"))
    stitching = asyncio.Event()

    def watch(stage: str, fraction: float) -> None:
        if stage == "stitching":
            stitching.set()

    task = asyncio.create_task(build.build(studio, film, on_progress=watch))
    await asyncio.wait_for(stitching.wait(), 30)
    task.cancel()  # the crash: the build stops mid-stitch
    with pytest.raises(asyncio.CancelledError):
        await task
    latest = await cuts.latest(studio.db.reader, film.id)
    assert latest is not None and latest.version == 1
    assert layout.latest_link(studio.settings, film.id).resolve() == good.directory
    assert mediastore.sha256_of(good.film) == before
    assert not list(layout.cuts_home(studio.settings, film.id).glob(".building-*"))
    failed = await cuts.latest(studio.db.reader, film.id, state="failed")
    assert failed is not None and failed.version == 2
    again = await build.build(studio, film)
    assert again.cut.version == 3 and again.encoded == 0  # the new take's segment was cached


async def test_two_builds_never_run_at_once(studio: Studio, film: Production) -> None:
    started = asyncio.Event()
    task = asyncio.create_task(build.build(studio, film, on_progress=lambda s, f: started.set()))
    await asyncio.wait_for(started.wait(), 30)
    running, _ = await build.status(studio, film)
    assert running is not None and running.version == 1
    with pytest.raises(build.CutBusy):
        await build.build(studio, film)
    await task
    running, latest = await build.status(studio, film)
    assert running is None and latest is not None and latest.version == 1


async def test_many_chapters_get_several_credit_cards_each_held_its_time(
    studio: Studio, prod: Production, producer: Actor
) -> None:
    # Twenty chapters and their makers: one card would need type too small to read.
    rows = ["chapter,chapter_title,shot,description,duration"]
    rows += [f"{c},Part {c},1,Shot {c},0.5" for c in range(1, 21)]
    await shotlist.import_shots(studio.db, prod, producer, "\n".join(rows).encode(), "l.csv")
    makers = [await actor(studio.db, prod, f"Maker {n}") for n in range(10)]
    for c in range(1, 21):
        await claims.claim(studio.db, prod, makers[c % 10], c)

    result = await build.build(studio, prod)

    line = result.timeline
    cards = [e for e in line.entries if e.kind == "credits"]
    assert len(cards) == 3  # the title, 20 chapters and the tools: 22 lines, 8 to a card
    assert [e.description for e in cards] == [f"End credits ({n} of 3)" for n in (1, 2, 3)]
    assert all(e.frames == line.profile.frames(1.0) for e in cards)
    # The film runs 20 half-second shots, then three one-second cards.
    assert line.frames == 20 * line.profile.frames(0.5) + 3 * line.profile.frames(1.0)
    with av.open(str(result.film)) as container:
        pictures = list(container.decode(video=0))
    assert len(pictures) == line.frames
    ends = [pictures[e.start_frame].to_ndarray() for e in cards]
    assert all(card.std() > 0 for card in ends)  # text on every card
    assert not (ends[0] == ends[1]).all() and not (ends[1] == ends[2]).all()
    credits = result.credits.read_text(encoding="utf-8")
    assert all(f"Chapter {c} — Part {c}: Maker {c % 10}" in credits for c in range(1, 21))
    assert await build.handed_off(result) is not None
    timeline = otio.adapters.read_from_file(str(result.editorial["otio"]))
    assert [c.name for c in timeline.video_tracks()[0]][-3:] == [
        "credits_1", "credits_2", "credits_3"]


async def test_nightly_missed_while_down_and_skipped_when_nothing_changed(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    tomorrow = now + timedelta(days=1, minutes=1)
    assert not await build.nightly_missed(studio, film, at=now)  # set up after the last night
    assert await build.nightly_missed(studio, film, at=tomorrow)  # the bot slept through one
    first = await build.nightly(studio, film)
    assert first is not None and first.cut.trigger == "nightly"
    assert not await build.nightly_missed(studio, film, at=now)
    assert await build.nightly_missed(studio, film, at=tomorrow)
    assert await build.nightly(studio, film) is None  # nothing changed: no new cut
    await approve(studio, film, producer, "1.4", make_standin_take(tmp_path / "a.mp4", "1.4"))
    second = await build.nightly(studio, film)
    assert second is not None and second.cut.version == 2


async def test_a_film_too_big_for_discord_gets_no_preview(
    studio: Studio, film: Production
) -> None:
    from cogs.cut import describe

    small = studio.settings.model_copy(update={"cut_preview_max_bytes": 1024})
    result = await build.build(Studio(small, studio.db), film)
    assert result.preview is None and result.film.stat().st_size > 1024
    assert not (result.directory / "preview.mp4").exists()
    # Without SLATE_CUTS_URL the post says where the film is on the server...
    post = describe(result, {}, build.where(small, result))
    assert f"too large to post here; it is on the server at `{result.film}`" in post
    # ...with it, the post links to the film where the producers serve the cuts folder.
    served = small.model_copy(update={"cuts_url": "https://films.example.org/slate/cuts/"})
    post = describe(result, {}, build.where(served, result))
    assert f"it is https://films.example.org/slate/cuts/production-{film.id}/0001/film.mp4" in post


async def test_a_production_without_shots_is_refused(studio: Studio, prod: Production) -> None:
    with pytest.raises(SlateError, match="no shots yet"):
        await build.build(studio, prod)
    assert await cuts.latest(studio.db.reader, prod.id, state=None) is None


def test_shell_cut_builds_and_prints_where_the_film_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shell

    for name, value in {"SLATE_DATA_DIR": str(tmp_path / "data"), "SLATE_CUT_WIDTH": "160",
                        "SLATE_CUT_HEIGHT": "90", "SLATE_CUT_CREDITS_SECONDS": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    shots_file = tmp_path / "shots.csv"
    shots_file.write_text(SHOT_LIST, encoding="utf-8")
    assert shell.main(["init", "--title", "Shell Film"]) == 0
    assert shell.main(["import-shots", str(shots_file)]) == 0
    capsys.readouterr()
    assert shell.main(["cut", "--quiet"]) == 0
    out = capsys.readouterr().out
    film = tmp_path / "data" / "cuts" / "production-1" / "0001" / "film.mp4"
    assert f"cut 1 published: {film}" in out and film.exists()
    assert "0/8 shots approved (0%)" in out
    assert shell.main(["cuts"]) == 0
    assert "cut    1  published" in capsys.readouterr().out


async def test_a_shot_lasts_its_take_when_the_setting_says_so(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    from studio.cut import plan

    await approve(studio, film, producer, "1.1",
                  make_standin_take(tmp_path / "a.mp4", "1.1", seconds=2.0))
    by_plan = await plan.timeline_of(studio, film)
    by_take = await plan.timeline_of(
        Studio(studio.settings.model_copy(update={"cut_duration_from": "take"}), studio.db), film)
    fps = Fraction(24000, 1001)
    assert by_plan.entries[0].frames == round(1 * fps)  # planned 1 s: trimmed
    assert by_take.entries[0].frames == round(2 * fps)  # the take's own 2 s
    assert by_take.entries[1].frames == by_plan.entries[1].frames  # slates keep the plan


def make_flash_take(path: Path) -> Path:
    """A take whose first frame is white and whose sound is a beep on its first sample: where a
    shot starts is visible in the picture and audible in the sound."""
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=gray:s=64x36:r=24:d=1,drawbox=c=white:t=fill:enable='eq(n,0)'",
                    "-f", "lavfi", "-i", "sine=f=1000:r=48000:d=0.1,apad=whole_dur=1",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le", "-t", "1",
                    str(path)], check=True)
    return path


def piece_keys(directory: Path) -> dict[tuple[str, int], str]:
    """Which cache entry each track's piece came from, as the cut recorded it."""
    record = json.loads((directory / "soundtrack.json").read_text())
    return {(track, n): p[2] for track, ps in record["pieces"].items() for n, p in enumerate(ps)}


def gain_keys(result: build.CutResult) -> list[str]:
    listed = (result.directory / "soundtrack.txt").read_text().split()
    pieces = set(piece_keys(result.directory).values())
    return [k for k in listed if k not in pieces]


def channel_zero(film: Path, track: int) -> array.array:
    samples = array.array("f")
    with av.open(str(film)) as container:
        for frame in container.decode(container.streams.audio[track]):
            samples.frombytes(bytes(frame.planes[0])[:frame.samples * 4])
    return samples


async def test_sound_stays_in_sync_with_the_picture_over_many_shots(
    studio: Studio, prod: Production, producer: Actor, tmp_path: Path
) -> None:
    chapters, per_chapter = 6, 20
    rows = ["chapter,chapter_title,shot,description,duration"]
    for c in range(1, chapters + 1):
        rows += [f"{c},C{c},{s},Shot,{0.3 if s % 2 else 0.45}" for s in range(1, per_chapter + 1)]
    await shotlist.import_shots(studio.db, prod, producer, ("\n".join(rows) + "\n").encode(),
                                "many.csv")
    flash = make_flash_take(tmp_path / "flash.mov")
    for c in range(1, chapters + 1):
        for s in range(1, per_chapter + 1):
            await approve(studio, prod, producer, f"{c}.{s}", flash)

    result = await build.build(studio, prod)

    line = result.timeline
    shots_ = line.approved
    assert len(shots_) == chapters * per_chapter
    # The picture: each shot's white first frame lands on the shot's first frame.
    with av.open(str(result.film)) as container:
        stream = container.streams.video[0]
        white = [n for n, frame in enumerate(container.decode(stream))
                 if bytes(frame.planes[0])[frame.planes[0].line_size * 90 + 160] > 200]
    assert white == [e.start_frame for e in shots_]
    # The sound: each beep starts on its shot's first sample, in the film's one track (the
    # mix), from the first shot to the last: nothing drifts across 120 shots and 7 sound runs.
    p = line.profile
    assert [s.kind for s in streams_of(result.film)[1]].count("audio") == 1
    for track in (0,):
        sound = channel_zero(result.film, track)
        assert abs(len(sound) - p.samples(line.frames)) < 2048  # the film's length, + one frame
        late = []
        for e in shots_:
            at = p.samples(e.start_frame)
            onset = next(i for i in range(at - 1024, at + 2048) if abs(sound[i]) > 0.02)
            late.append(onset - at)
        assert max(abs(d) for d in late) <= 48, late  # within 1 ms; a frame is 41.7 ms
        # No beep is lost or doubled at the joins: one burst of sound (10 ms blocks) per shot.
        loud = [max(map(abs, sound[i:i + 480])) > 0.02 for i in range(0, len(sound), 480)]
        assert sum(1 for a, b in itertools.pairwise([False, *loud]) if b and not a) == len(shots_)


async def test_a_corrupt_take_among_many_short_shots_slates_only_itself(
    studio: Studio, prod: Production, producer: Actor, tmp_path: Path
) -> None:
    # Thirty short shots: the workers make them several to a trip, the bad take among them.
    count, bad = 30, 3
    rows = ["chapter,chapter_title,shot,description,duration"]
    rows += [f"1,One,{s},Shot,0.5" for s in range(1, count + 1)]
    await shotlist.import_shots(studio.db, prod, producer, ("\n".join(rows) + "\n").encode(),
                                "short.csv")
    ids = {}
    for s in range(1, count + 1):
        take = (make_standin_take(tmp_path / f"{s}.mp4", f"1.{s}", seconds=0.5) if s == bad
                else make_still(tmp_path / f"{s}.png", f"1.{s}", size=(160, 90)))
        ids[f"1.{s}"] = await approve(studio, prod, producer, f"1.{s}", take)
    sha = (await takes.takes_of(studio, prod, f"1.{bad}"))[0].media_sha256
    corrupt(studio.settings, sha)

    result = await build.build(studio, prod)

    assert [(b.code, b.take_id) for b in result.broken] == [(f"1.{bad}", ids[f"1.{bad}"])]
    line = result.timeline
    assert [e.code for e in line.approved] == [c for c in ids if c != f"1.{bad}"]
    assert line.entries[bad - 1].kind == "slate"
    assert result.cut.state == "published"
    with av.open(str(result.film)) as container:
        assert sum(1 for _ in container.decode(video=0)) == line.frames


async def test_a_killed_build_leaves_the_last_good_cut_and_the_next_build_succeeds(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    settings = studio.settings
    good = await build.build(studio, film)
    before = mediastore.sha256_of(good.film)
    for code in ("1.2", "2.2"):  # the next build has sound and picture to make
        await approve(studio, film, producer, code,
                      make_standin_take(tmp_path / f"{code}.mp4", code, audio=True))
    env = {**os.environ, "SLATE_DATA_DIR": str(settings.data_dir), "SLATE_CUT_WIDTH": "320",
           "SLATE_CUT_HEIGHT": "180", "SLATE_CUT_FPS": "24000/1001",
           "SLATE_CUT_CREDITS_SECONDS": "1", "SLATE_CUT_KEEP": "2"}
    # Its own process group: the kill takes its ffmpeg children too, as a crash of the host would.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(BOT), "--guild", str(film.guild_id), "cut", "--quiet", env=env,
        cwd=tmp_path, start_new_session=True, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    stitching = layout.staging_dir(settings, film.id, 2) / "segments.txt"
    try:
        for _ in range(6000):  # the build writes its segment list when it starts to stitch
            if stitching.exists() or proc.returncode is not None:
                break
            await asyncio.sleep(0.005)
        assert stitching.exists(), "the build never reached the stitch"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        await asyncio.wait_for(proc.wait(), 30)
    assert proc.returncode == -signal.SIGKILL
    # The last good cut is untouched and still the latest; the killed one never published.
    assert layout.latest_link(settings, film.id).resolve() == good.directory
    assert mediastore.sha256_of(good.film) == before
    assert not layout.cut_dir(settings, film.id, 2).exists()
    latest = await cuts.latest(studio.db.reader, film.id)
    assert latest is not None and latest.version == 1
    # The next build clears what the killed one left and publishes.
    again = await build.build(studio, film)
    assert again.cut.version == 3 and again.cut.state == "published"
    assert {e.code for e in again.timeline.approved} == {"1.2", "2.2"}
    assert layout.latest_link(settings, film.id).resolve() == again.directory
    assert not list(layout.cuts_home(settings, film.id).glob(".building-*"))
    assert not [p for p in settings.cache_path.rglob("*") if p.name.startswith(".partial-")]
    killed = await cuts.latest(studio.db.reader, film.id, state="failed")
    assert killed is not None and killed.version == 2


async def test_a_stem_lost_from_the_media_store_is_left_out_and_its_owner_told(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    from cogs.cut import describe

    # A multi-track master (opt-in): the stem left out is missing from the film's tracks.
    studio.settings = studio.settings.model_copy(update={"cut_stem_tracks": True})
    await approve(studio, film, producer, "1.1", make_standin_take(tmp_path / "a.mp4", "1.1",
                                                                   audio=True))
    music = await takes.add_stem(studio, film, producer, 1, "music",
                                 make_tone(tmp_path / "m.wav", 4))
    await takes.add_stem(studio, film, producer, 2, "vo", make_tone(tmp_path / "vo.wav", 2))
    # The disk lost chapter 1's music after its upload was checked.
    mediastore.path_for(studio.settings.media_path, music.media_sha256).unlink()

    result = await build.build(studio, film)

    assert result.cut.state == "published"
    assert [(s.chapter, s.kind, s.owner) for s in result.broken_stems] == [(1, "music", "Maya")]
    assert "missing from the media store" in result.broken_stems[0].reason
    assert "BROKEN: chapter 1's music stem (Maya) left out" in result.changelog
    _, streams = streams_of(result.film)
    assert [s.title for s in streams if s.kind == "audio"] == ["Mix", "Takes", "VO"]
    assert [s.kind for s in result.timeline.stems] == ["vo"]
    owner = result.broken_stems[0].owner_id
    assert owner is not None
    post = describe(result, {owner: "@Maya"}, "")
    assert "chapter 1: its music stem could not be read" in post and "@Maya" in post
    # Recorded with the cut: the next night builds again even if nothing else changes.
    assert await build.nightly_missed(studio, film) is False
    assert await build.nightly(studio, film) is not None

    # The same music uploaded again puts its file back in the store.
    restored = await takes.add_stem(studio, film, producer, 1, "music",
                                    make_tone(tmp_path / "m2.wav", 4))
    assert restored.media_sha256 == music.media_sha256
    again = await build.build(studio, film)
    assert again.broken_stems == []
    _, streams = streams_of(again.film)
    assert [s.title for s in streams if s.kind == "audio"] == ["Mix", "Takes", "Music", "VO"]


async def built_with_two_shots(studio: Studio, film: Production, producer: Actor,
                               tmp_path: Path) -> Path:
    """Shots 1.1 and 1.2 approved and built: the cached segment of 1.1."""
    for code in ("1.1", "1.2"):
        await approve(studio, film, producer, code,
                      make_standin_take(tmp_path / f"{code}.mp4", code, audio=True))
    first = await build.build(studio, film)
    shot = first.timeline.approved[0]
    assert shot.code == "1.1" and shot.media_sha256 and shot.take_kind
    cache = layout.cache_home(studio.settings, film.id) / "segments"
    return normalize.segment_path(cache, normalize.cache_key(
        shot.media_sha256, shot.take_kind, shot.frames, first.timeline.profile))


async def test_a_take_lost_from_the_media_store_is_a_slate_though_its_segment_is_cached(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    segment = await built_with_two_shots(studio, film, producer, tmp_path)
    line = await plan.timeline_of(studio, film)
    lost = next(e for e in line.entries if e.code == "1.1")
    assert lost.media_sha256 and lost.take_id
    mediastore.path_for(studio.settings.media_path, lost.media_sha256).unlink()

    again = await build.build(studio, film)

    assert segment.exists()  # its segment is still cached: the cut does not use it
    assert [(b.code, b.take_id) for b in again.broken] == [("1.1", lost.take_id)]
    assert "missing from the media store" in again.broken[0].reason
    assert [e.code for e in again.timeline.approved] == ["1.2"]


async def test_a_cached_segment_damaged_on_disk_is_made_again(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    segment = await built_with_two_shots(studio, film, producer, tmp_path)
    # The disk cuts the cached segment of 1.1 short; a new take in its chapter re-reads it.
    whole = segment.read_bytes()
    segment.write_bytes(whole[:len(whole) // 2])
    await approve(studio, film, producer, "1.3", make_standin_take(tmp_path / "c.mp4", "1.3"))

    again = await build.build(studio, film)

    assert again.cut.state == "published" and again.broken == []
    assert segment.read_bytes() == whole  # made again, as it was first made
    assert picture_count(again.film) == again.timeline.frames
    assert [e.code for e in again.timeline.approved] == ["1.1", "1.2", "1.3"]


async def test_a_build_made_again_counts_both_attempts_and_records_a_broken_take_once(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    await approve(studio, film, producer, "1.1", make_standin_take(tmp_path / "a.mp4", "1.1"))
    first = await build.build(studio, film)
    broken_id = await approve(studio, film, producer, "1.2",
                              make_standin_take(tmp_path / "soon-broken.mp4", "1.2"))
    corrupt(studio.settings, (await takes.takes_of(studio, film, "1.2"))[0].media_sha256)
    await approve(studio, film, producer, "1.3", make_standin_take(tmp_path / "c.mp4", "1.3"))
    # Shot 1.1's segment is damaged: the build finds out when it reads chapter 1's reel
    # again (its shots changed), after it made the new segments, and starts over once.
    damaged = read_concat_list(first.directory / "segments.txt")[0]
    flip(damaged, packet_middle(damaged, "video"))
    cached = {p.name for p in studio.settings.cache_path.glob("*/segments/**/*.mov")}

    again = await build.build(studio, film)

    assert again.cut.state == "published"
    assert [b.take_id for b in again.broken] == [broken_id]
    rows = [e for e in await audit.for_entity(studio.db.reader, "take", broken_id)
            if e.action == "cut_failed"]
    assert len(rows) == 1  # recorded by the first attempt, not again by the second
    new = {p.name for p in read_concat_list(again.directory / "segments.txt")} - cached
    assert len(new) >= 2  # 1.3's segment, 1.2's slate (the first attempt)
    assert again.encoded == len(new) + 1  # and 1.1's made again (the second): each once


def cache_files(studio: Studio, folder: str, head: bytes) -> list[Path]:
    """The files of one cache whose bytes begin with `head`: one kind of entry."""
    return [p for p in studio.settings.cache_path.glob(f"*/{folder}/**/*")
            if p.is_file() and p.read_bytes().startswith(head)]


def picture_count(film: Path) -> int:
    with av.open(str(film)) as container:
        return sum(1 for _ in container.decode(video=0))


def sound_pieces(studio: Studio) -> list[Path]:
    """The sound pieces' entries: packed AAC frames (adts.pack), not the silent frame."""
    found = []
    for path in cache_files(studio, "soundtrack", b""):
        with contextlib.suppress(adts.BadADTS, seal.Broken):
            adts.unpack(seal.unseal(path.read_bytes()))
            if not path.name.startswith("silence-"):
                found.append(path)
    return found


def reel_samples(studio: Studio) -> list[Path]:
    return list(studio.settings.cache_path.glob("*/reels/**/*.h264"))


def reel_tables(studio: Studio) -> list[Path]:
    return list(studio.settings.cache_path.glob("*/reels/**/*.json"))


def loudness_records(studio: Studio) -> list[Path]:
    return cache_files(studio, "soundtrack", b"{")


async def test_a_cached_sound_piece_damaged_on_disk_is_made_again(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    await approve(studio, film, producer, "1.1", make_standin_take(tmp_path / "a.mp4", "1.1",
                                                                   audio=True))
    first = await build.build(studio, film)
    pieces = sound_pieces(studio)
    assert pieces
    damaged = max(pieces, key=lambda p: p.stat().st_size)
    damaged.write_bytes(damaged.read_bytes()[:-5])  # its last frame cut short

    again = await build.build(studio, film)  # nothing changed: every piece comes from the cache

    assert again.cut.state == "published"
    assert again.sound_encoded >= 1  # the damaged piece, made again
    assert len(channel_zero(again.film, 0)) == len(channel_zero(first.film, 0))


async def test_a_cached_reel_damaged_on_disk_is_read_again(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    await approve(studio, film, producer, "1.1", make_standin_take(tmp_path / "a.mp4", "1.1"))
    await build.build(studio, film)
    reels = sorted(reel_samples(studio), key=lambda p: p.stat().st_size)
    whole = reels[-1].read_bytes()
    reels[-1].write_bytes(whole[:len(whole) // 2])

    again = await build.build(studio, film)  # nothing changed: every reel comes from the cache

    assert again.cut.state == "published"
    assert reels[-1].read_bytes() == whole
    assert picture_count(again.film) == again.timeline.frames


async def test_cached_loudness_damaged_on_disk_is_measured_again(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    await approve(studio, film, producer, "1.1", make_standin_take(tmp_path / "a.mp4", "1.1",
                                                                   audio=True))
    first = await build.build(studio, film)
    records = loudness_records(studio)  # each chapter's measurement
    assert records
    for record in records:
        record.write_text('{"loudness": [', encoding="utf-8")

    again = await build.build(studio, film)

    assert again.cut.state == "published"

    def gains(result: build.CutResult) -> dict:
        record = json.loads((result.directory / "soundtrack.json").read_text(encoding="utf-8"))
        return record["gains"]

    assert gains(again) == gains(first)  # measured again, to the same loudness


def flip(path: Path, at: int, bit: int = 0x10) -> None:
    """The disk flips one bit at `at`: the file keeps its size."""
    data = bytearray(path.read_bytes())
    data[at] ^= bit
    path.write_bytes(bytes(data))


def packet_middle(segment: Path, kind: str) -> int:
    """Where in the segment's file the middle of its first `kind` packet lies."""
    with av.open(str(segment)) as container:
        for packet in container.demux():
            if packet.stream.type == kind and packet.size and packet.pos is not None:
                return packet.pos + packet.size // 2
    raise AssertionError(f"no {kind} packet in {segment.name}")


@pytest.mark.parametrize("kind", ["video", "audio"])
async def test_a_bit_flipped_in_a_cached_segment_is_caught_and_made_again(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path, kind: str
) -> None:
    segment = await built_with_two_shots(studio, film, producer, tmp_path)
    whole = segment.read_bytes()
    flip(segment, packet_middle(segment, kind))  # a picture slice, or a sample of its sound
    # A new take in the chapter: its reel is read again, and its mix measured again.
    await approve(studio, film, producer, "1.3",
                  make_standin_take(tmp_path / "c.mp4", "1.3", audio=True))

    again = await build.build(studio, film)

    assert again.cut.state == "published" and again.broken == []
    assert segment.read_bytes() == whole  # caught by its seal, and made again as it was
    assert picture_count(again.film) == again.timeline.frames


@pytest.mark.parametrize(("entries", "number"), [
    (sound_pieces, None), (reel_samples, None),
    (reel_tables, b'"offsets": ['), (loudness_records, b'"loudness": [')],
    ids=["sound piece", "reel samples", "reel tables", "loudness record"])
async def test_a_bit_flipped_in_a_cached_entry_is_caught_and_the_film_comes_out_the_same(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path, entries: object,
    number: bytes | None
) -> None:
    for code in ("1.1", "2.1"):
        await approve(studio, film, producer, code,
                      make_standin_take(tmp_path / f"{code}.mp4", code, audio=True))
    first = await build.build(studio, film)
    found = entries(studio)  # type: ignore[operator]
    assert found
    damaged = max(found, key=lambda p: p.stat().st_size)
    data = damaged.read_bytes()
    if number is None:
        flip(damaged, len(data) // 2)  # inside the samples or frames it holds
    else:
        # A record's first number gets another last digit: still a record that parses.
        at = data.index(number) + len(number)
        while chr(data[at + 1]).isdigit():
            at += 1
        flip(damaged, at, 0x01)

    again = await build.build(studio, film)  # nothing changed: every entry comes from the cache

    assert again.cut.state == "published"
    assert again.film.read_bytes() == first.film.read_bytes()


async def test_a_truncated_or_misindexed_film_fails_verification(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    for code in ("1.1", "2.1"):
        await approve(studio, film, producer, code,
                      make_standin_take(tmp_path / f"{code}.mp4", code, audio=True))
    checked: list[tuple] = []
    real_verify = build.verify

    async def recording(*args: object) -> str | None:  # what the build wrote, kept to reuse
        checked.append(args)
        return await real_verify(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(build, "verify", recording)
    result = await build.build(studio, film)
    [(_, line, audio_frames, written)] = checked
    assert len({p.stream for p in written.probes}) == 2  # the picture and the one mix
    whole = result.film.read_bytes()
    assert await real_verify(result.film, line, audio_frames, written) is None

    # Its last third lost, the size written not known to the check: the index's samples are
    # not there.
    cut_short = tmp_path / "short.mp4"
    cut_short.write_bytes(whole[:len(whole) * 2 // 3])
    shorter = dataclasses.replace(written, size=len(whole) * 2 // 3)
    verdict = await real_verify(cut_short, line, audio_frames, shorter)
    assert verdict and "demux" in verdict, verdict
    # Its last sound packets lost: the bytes written are missing.
    cut_short.write_bytes(whole[:-40])
    verdict = await real_verify(cut_short, line, audio_frames, written)
    assert verdict and f"{len(whole)} were written" in verdict, verdict

    # Every picture chunk after the first placed 4 bytes late by its index (a muxer's slip):
    # the samples ffmpeg reads there are not the ones written.
    at = whole.index(b"stco") + 12  # past its version, flags and entry count
    count = int.from_bytes(whole[at - 4:at], "big")
    assert count >= 3  # a reel a chapter and the credits'
    slipped = bytearray(whole)
    for k in range(1, count):
        offset = int.from_bytes(whole[at + 4 * k:at + 4 * k + 4], "big")
        slipped[at + 4 * k:at + 4 * k + 4] = (offset + 4).to_bytes(4, "big")
    misindexed = tmp_path / "misindexed.mp4"
    misindexed.write_bytes(bytes(slipped))
    verdict = await real_verify(misindexed, line, audio_frames, written)
    assert verdict and "not what was written" in verdict, verdict


async def test_a_worker_killed_mid_segment_fails_only_that_take_and_the_next_build_works(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    # A big take is slow enough to be caught mid-segment; the others are ordinary.
    slow = await approve(studio, film, producer, "1.3", make_standin_take(
        tmp_path / "big.mp4", "1.3", seconds=1.5, size=(1280, 720), fps="30"))
    for code in ("1.1", "2.2"):
        await approve(studio, film, producer, code,
                      make_standin_take(tmp_path / f"{code}.mp4", code, audio=True))
    line = await plan.timeline_of(studio, film)
    entry = next(e for e in line.entries if e.code == "1.3")
    assert entry.media_sha256 and entry.take_kind
    key = normalize.cache_key(entry.media_sha256, entry.take_kind, entry.frames, line.profile)
    guilty = normalize.segment_path(layout.cache_home(studio.settings, film.id) / "segments",
                                    key)
    async with killing_whoever_writes(guilty) as killed:
        result = await build.build(studio, film)
    assert len(killed) == 2
    assert [(b.code, b.take_id) for b in result.broken] == [("1.3", slow)]
    assert "crashed" in result.broken[0].reason and "/" not in result.broken[0].reason
    assert result.cut.state == "published"
    assert [e.code for e in result.timeline.approved] == ["1.1", "2.2"]
    assert "BROKEN: shot 1.3" in result.changelog
    assert not list(guilty.parent.glob(".partial-*"))
    # The next build makes the take (the pool was recreated) and shows it in the film.
    again = await build.build(studio, film)
    assert again.broken == []
    assert [e.code for e in again.timeline.approved] == ["1.1", "1.3", "2.2"]
    with av.open(str(again.film)) as container:
        assert sum(1 for _ in container.decode(video=0)) == again.timeline.frames

