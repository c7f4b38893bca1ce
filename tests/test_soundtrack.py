"""The film's sound in pieces: gapless at every join, and loudness that holds still."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from storage import shots
from storage.productions import Production
from studio import mediastore
from studio.app import Studio
from studio.cut import build, layout, loudness, soundtrack
from studio.generation import takes
from studio.generation.standin import make_standin_take
from studio.media import ffmpeg_exe
from studio.ops.settings import Settings, load_settings
from studio.production import shotlist
from studio.production.people import Actor

SHOT_LIST = """chapter,chapter_title,shot,description,duration
1,Dawn,1,Flats,0.5
1,Dawn,2,Tracks,0.5
1,Dawn,3,Bottle,0.5
1,Dawn,4,Basket,0.5
1,Dawn,5,Gull,0.5
2,Storm,1,Clouds,0.5
2,Storm,2,Rain,0.5
2,Storm,3,Shelter,0.5
"""
RICH = ("aevalsrc='0.3*sin(2*PI*(100+2000*t)*t)|0.3*sin(2*PI*(150+1500*t)*t)'"
        ":s=48000:d={d}[s];anoisesrc=a=0.05:c=pink:d={d}:r=48000[n];"
        "aevalsrc='0.4*gt(mod(t\\,0.37)\\,0.36)':s=48000:d={d}[k];"
        "[s][n][k]amix=inputs=3:normalize=0,aformat=channel_layouts=stereo")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    return load_settings(data_dir=tmp_path / "data", cut_width=160, cut_height=90,
                         cut_fps="24", cut_credits_seconds=0.5, cut_keep=3)


@pytest.fixture
async def film(studio: Studio, prod: Production, producer: Actor) -> Production:
    await shotlist.import_shots(studio.db, prod, producer, SHOT_LIST.encode(), "film.csv")
    return prod


def sound_file(path: Path, graph: str) -> Path:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-filter_complex", graph,
                    "-c:a", "pcm_f32le", str(path)], check=True)
    return path


def take_with_sound(path: Path, seconds: float, sound: str) -> Path:
    """A plain picture with the given lavfi sound (e.g. a sine at some level)."""
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c=gray:s=64x36:r=24:d={seconds}", "-f", "lavfi", "-i",
                    f"{sound},aformat=channel_layouts=stereo", "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le",
                    str(path)], check=True)
    return path


def pcm_of(path: Path, stream: int = 0) -> np.ndarray:
    """Float stereo PCM as decoded by FFmpeg (the film's edit list skips its priming)."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray().reshape(2, -1) if f.format.is_planar
                  else f.to_ndarray().reshape(-1, 2).T
                  for f in container.decode(container.streams.audio[stream])]
    return np.concatenate(frames, axis=1).astype(np.float64)


def record(result: build.CutResult) -> dict:
    return json.loads((result.directory / "soundtrack.json").read_text())


def mix_keys(result: build.CutResult) -> list[str]:
    return [p[2] for p in record(result)["pieces"]["mix"]]


async def approve(studio: Studio, prod: Production, who: Actor, code: str, path: Path) -> None:
    stored = await takes.add_take(studio, prod, who, code, path)
    async with studio.db.transaction() as tx:
        await shots.update(tx, stored.take.shot_id, approved_take_id=stored.take.id,
                           status="approved")


@pytest.mark.parametrize("group", [1, soundtrack.GROUP])
async def test_pieces_join_gaplessly_and_a_stem_spanning_shots_is_intact(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, group: int
) -> None:
    # group=1: every piece is its own encode, so every join is between two encodes (as after
    # an approval); the default groups adjacent new pieces into one encode.
    monkeypatch.setattr(soundtrack, "GROUP", group)
    # The music track of a multi-track master (opt-in): a stem's own sound, heard unmixed.
    studio.settings = studio.settings.model_copy(update={"cut_stem_tracks": True})
    # Each chapter's stem spans all its shots: its sound crosses four or two piece joins and,
    # on the music track, the join between the chapters.
    one = sound_file(tmp_path / "one.wav", RICH.format(d=2.5))
    two = sound_file(tmp_path / "two.wav", RICH.format(d=1.5))
    await takes.add_stem(studio, film, producer, 1, "music", one)
    await takes.add_stem(studio, film, producer, 2, "music", two)
    result = await build.build(studio, film)
    assert soundtrack.tracks_of(result.timeline) == ["mix", "takes", "music"]
    heard = pcm_of(result.film, 2)
    reference = np.concatenate([pcm_of(one), pcm_of(two)], axis=1)
    n = min(heard.shape[1], reference.shape[1])
    assert n >= reference.shape[1] - 1024  # nothing lost at the end either
    error = heard[:, :n] - reference[:, :n]
    joins = [p[0] for p in record(result)["pieces"]["music"][1:] if p[0] < n - 2048]
    assert len(joins) >= 6  # every shot starts a piece
    near = np.zeros(n, bool)
    for at in joins:
        near[at - 1024:at + 1024] = True

    def db(x: np.ndarray) -> float:
        return 10 * np.log10(np.mean(x ** 2))

    # The same small coding error right at the joins as elsewhere: no gap, no click, no drift.
    # (Measured: up to ~2.3 dB more where two encodes' blocks overlap, 40 dB under the signal;
    # a gap of even 1 ms at a join would put the joins ~25 dB above elsewhere.)
    at_joins, elsewhere = db(error[:, near]), db(error[:, ~near])
    signal = db(reference[:, :n])
    assert elsewhere - signal < -15, (elsewhere, signal)
    assert at_joins - elsewhere < 3.0, (at_joins, elsewhere)
    assert at_joins - signal < -15, (at_joins, signal)
    # Chapter 2's stem begins on its first sample: the chapter join loses nothing.
    start = result.timeline.profile.samples(result.timeline.entries[5].start_frame)
    assert db(error[:, start:start + 2048]) - signal < -15


async def test_a_small_change_keeps_the_chapter_gain_and_a_big_one_does_not(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    one = sound_file(tmp_path / "one.wav", RICH.format(d=2.5))
    await takes.add_stem(studio, film, producer, 1, "music", one)
    await takes.add_stem(studio, film, producer, 2, "music",
                         sound_file(tmp_path / "two.wav", RICH.format(d=1.5)))
    first = await build.build(studio, film)
    gains = record(first)["gains"]
    assert abs(gains["1"]["integrated"] + gains["1"]["db"] - studio.settings.cut_lufs) < 0.05

    # A quiet take in shot 1.3: chapter 1 stays within 0.5 LU of the target at its old gain.
    await approve(studio, film, producer, "1.3",
                  take_with_sound(tmp_path / "quiet.mov", 0.5, "sine=f=500:d=0.5,volume=6dB"))
    small = await build.build(studio, film)
    kept = record(small)["gains"]
    assert kept["1"]["integrated"] != gains["1"]["integrated"]  # it was measured again
    assert kept["1"]["db"] == gains["1"]["db"] and kept["2"] == gains["2"]
    changed = [n for n, (a, b) in enumerate(zip(mix_keys(first), mix_keys(small), strict=True))
               if a != b]
    assert changed == [1, 2, 3]  # shot 1.3's piece and its neighbours' (pre- and post-roll)

    # A loud take in shot 1.4: a new gain for chapter 1, and all its mix pieces re-encoded;
    # chapter 2 keeps its gain and its pieces (but the first, whose pre-roll reaches back).
    await approve(studio, film, producer, "1.4",
                  take_with_sound(tmp_path / "loud.mov", 0.5, "sine=f=500:d=0.5,volume=16dB"))
    big = await build.build(studio, film)
    moved = record(big)["gains"]
    assert moved["1"]["db"] < gains["1"]["db"] - 0.5 and moved["2"] == gains["2"]
    changed = [n for n, (a, b) in enumerate(zip(mix_keys(small), mix_keys(big), strict=True))
               if a != b]
    assert changed == [0, 1, 2, 3, 4, 5]
    # The film stays at the target, chapter 1 quieter overall for its loud shot.
    assert abs(moved["1"]["integrated"] + moved["1"]["db"] - studio.settings.cut_lufs) < 0.05
    heard = pcm_of(big.film, 0)
    assert np.max(np.abs(heard)) < 1.0


def segments_of(result: build.CutResult) -> list[Path]:
    listing = (result.directory / "segments.txt").read_text(encoding="utf-8")
    return [Path(line[6:-1]) for line in listing.splitlines() if line.startswith("file '")]


UNEVEN = """chapter,chapter_title,shot,description,duration
1,Dawn,1,Flats,0.7
1,Dawn,2,Tracks,0.45
1,Dawn,3,Bottle,0.9
1,Dawn,4,Basket,0.55
1,Dawn,5,Gull,0.6
1,Dawn,6,Tide,0.65
1,Dawn,7,Dusk,0.5
2,Storm,1,Clouds,0.65
2,Storm,2,Rain,0.5
"""
LEVEL = "(0.6+0.005*sin(2*PI*1000*t))"  # near 0.42 after the upmix to stereo, barely moving


def check_loudness(result: build.CutResult, studio: Studio) -> dict:
    """Each run's recorded loudness against one measurement of the whole run's mix."""
    line = result.timeline
    stem_files = [mediastore.path_for(studio.settings.media_path, s.media_sha256)
                  for s in line.stems]
    sources = soundtrack.Sources(line, segments_of(result), stem_files)
    gains = record(result)["gains"]
    for run in soundtrack.plan(line):
        pcm = sources.pcm("mix", run.start, run.end)
        whole = loudness.measure(pcm)  # ebur128 over the whole chapter
        if whole is None:
            assert gains[run.label]["integrated"] is None
            continue
        assert abs(gains[run.label]["integrated"] - whole.integrated) < 0.02, run
        assert abs(gains[run.label]["true_peak"] - whole.true_peak) < 0.1, run
        peak = loudness.in_db(loudness.true_peak(pcm))  # the same oversampling, all at once
        assert abs(gains[run.label]["true_peak"] - peak) < 0.01, run
    return gains


def test_k_weighting_reads_the_sound_unchanged_and_keeps_silence_silent() -> None:
    # Under one filter chunk (the whole array is one contiguous slice): the guard tone that
    # keeps the filters out of subnormal numbers is added to a copy, never to the sound.
    t = np.arange(int(0.2 * 48000)) / 48000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    pcm = np.zeros((2, int(0.9 * 48000)), np.float32)
    pcm[:, :tone.size] = tone
    before = pcm.copy()
    power = loudness.k_power(pcm)
    assert np.array_equal(pcm, before)
    assert power[-4800:].max() < 1e-40  # silence measures as silence (the guard adds ~1e-60)
    whole = loudness.measure(pcm)
    assert whole is not None
    found = loudness.integrated(loudness.hop_energies(power, 0), pcm.shape[1])
    assert found is not None and abs(found - whole.integrated) < 0.02


async def test_a_chapter_measured_shot_by_shot_measures_as_a_whole_and_one_take_one_shot(
    studio: Studio, prod: Production, producer: Actor, tmp_path: Path
) -> None:
    await shotlist.import_shots(studio.db, prod, producer, UNEVEN.encode(), "uneven.csv")
    await takes.add_stem(studio, prod, producer, 2, "music",
                         sound_file(tmp_path / "two.wav", RICH.format(d=1.15)))
    for code in ("1.2", "1.3"):  # low sines across a join
        await approve(studio, prod, producer, code, take_with_sound(
            tmp_path / f"{code}.mov", 1.0, "aevalsrc=0.3*sin(2*PI*37*t):s=48000:d=1"))
    # Shots 1.6 and 1.7 hold the chapter's peak level across their join, then fade out: a
    # peak read up to a measurement window's hard edge would ring ~1 dB above the chapter's.
    await approve(studio, prod, producer, "1.6", take_with_sound(
        tmp_path / "a.mov", 0.7, f"aevalsrc='{LEVEL}':s=48000:d=0.7"))
    await approve(studio, prod, producer, "1.7", take_with_sound(
        tmp_path / "b.mov", 0.5, f"aevalsrc='{LEVEL}*min(1\\,(0.5-t)*10)':s=48000:d=0.5"))
    await approve(studio, prod, producer, "2.1",
                  take_with_sound(tmp_path / "c.mov", 0.7, "anoisesrc=a=0.2:d=0.7"))
    gains = check_loudness(await build.build(studio, prod), studio)  # measured in one pass

    await approve(studio, prod, producer, "1.6", take_with_sound(
        tmp_path / "d.mov", 0.7, f"aevalsrc='{LEVEL}*0.99':s=48000:d=0.7"))
    again = check_loudness(await build.build(studio, prod), studio)  # three shots, each alone
    before, after = gains["1"]["shots"], again["1"]["shots"]
    assert len(before) == len(after) == 7
    # Shot 1.6 itself, 1.5 (its peaks are read into 1.6's first samples) and 1.7 (whose
    # filters settle on 1.6's last): the chapter's other shots and chapter 2 are not measured.
    assert [n for n, (a, b) in enumerate(zip(before, after, strict=True)) if a != b] == [4, 5, 6]
    assert again["2"]["shots"] == gains["2"]["shots"]


async def test_silence_inside_a_piece_is_exact_silence_and_the_sound_around_it_is_whole(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    # Read from the takes' own track (a multi-track master, opt-in): no gain between.
    studio.settings = studio.settings.model_copy(update={"cut_stem_tracks": True})
    # Shot 1.2's take beeps for its first 0.1 s and is then silent to its end (0.5 s).
    await approve(studio, film, producer, "1.2", take_with_sound(
        tmp_path / "beep.mov", 0.5, "sine=f=500:d=0.1,volume=-6dB,apad=whole_dur=0.5"))
    result = await build.build(studio, film)
    heard = pcm_of(result.film, 1)  # the takes' own sound
    start = result.timeline.profile.samples(result.timeline.entries[1].start_frame)
    beep = heard[:, start:start + 4800]
    assert 0.02 < np.sqrt(np.mean(beep ** 2)) < 0.1  # lavfi sine: 1/8, -6 dB, mono to stereo
    # From a few frames after the beep to the next shot: exactly zero, not coding noise.
    quiet = heard[:, start + 4800 + 4 * 1024:start + 24000]
    assert quiet.shape[1] > 8000 and not np.any(quiet)


async def test_a_sound_between_silences_is_coded_whole_from_its_onset_to_its_end(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path
) -> None:
    # Read from the takes' own track (a multi-track master, opt-in): no gain between.
    studio.settings = studio.settings.model_copy(update={"cut_stem_tracks": True})
    # Shot 1.3: 0.2 s of silence, a rich 0.15 s burst starting abruptly, silence to its end.
    # Its stretch is encoded from silence with no pre-roll and followed by two frames of
    # zeros: what the encoder hears is the film itself, so nothing at either edge is lost.
    path = take_with_sound(tmp_path / "burst.mov", 0.5, RICH.format(d=0.15).replace(
        "aformat=channel_layouts=stereo", "aformat=channel_layouts=stereo,adelay=200:all=1,"
        "apad=whole_dur=0.5"))
    await approve(studio, film, producer, "1.3", path)
    result = await build.build(studio, film)
    heard = pcm_of(result.film, 1)  # the takes' own sound
    start = result.timeline.profile.samples(result.timeline.entries[2].start_frame)
    reference = pcm_of(path)[:, :24000] / 32768  # the take holds PCM s16
    error = heard[:, start:start + 24000] - reference

    def db(x: np.ndarray) -> float:
        return 10 * np.log10(np.mean(x ** 2) + 1e-30)

    onset, end = 9600, 9600 + 7200
    signal = db(reference[:, onset:end])
    assert db(error[:, onset - 2048:onset + 2048]) - signal < -15  # the attack is whole
    assert db(error[:, end - 2048:end + 2048]) - signal < -15  # so is the cut-off
    assert db(error[:, onset:end]) - signal < -15
    # Two frames after the burst, up to the next shot: exactly zero, as before its onset.
    assert not np.any(heard[:, start + end + 3 * 1024:start + 24000])
    assert not np.any(heard[:, start:start + onset - 3 * 1024])


async def test_the_sound_is_the_same_however_little_decoded_sound_a_build_keeps(
    studio: Studio, film: Production, producer: Actor, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # A film's length must not grow what a build holds: its sources' PCM and its chapters'
    # limited mixes are forgotten beyond a budget and read again when asked. With the least
    # budget (one source, one mix), every piece is the one an unbounded build makes.
    await takes.add_stem(studio, film, producer, 1, "music",
                         sound_file(tmp_path / "one.wav", RICH.format(d=2.5)))
    await takes.add_stem(studio, film, producer, 2, "vo",
                         sound_file(tmp_path / "two.wav", RICH.format(d=1.5)))
    for code in ("1.2", "2.1"):
        await approve(studio, film, producer, code,
                      take_with_sound(tmp_path / f"{code}.mov", 0.5, RICH.format(d=0.5)))
    monkeypatch.setattr(soundtrack, "KEPT_PCM", 1)
    monkeypatch.setattr(soundtrack, "KEPT_MIXES", 1)
    lean = await build.build(studio, film)
    pieces = layout.cache_home(studio.settings, film.id) / "soundtrack"
    keys = mix_keys(lean)
    assert len(set(keys)) > 4
    kept = {key: (pieces / key[:2] / key).read_bytes()
            for key in keys if not key.startswith("silence")}
    monkeypatch.undo()
    for entry in (pieces).glob("*/*"):
        entry.unlink()
    await approve(studio, film, producer, "1.1", make_standin_take(tmp_path / "1.1.mp4", "1.1",
                                                                   seconds=0.5))
    roomy = await build.build(studio, film)  # a new picture alone: the same sound, made anew
    assert roomy.encoded == 1 and mix_keys(roomy) == keys
    assert {key: (pieces / key[:2] / key).read_bytes()
            for key in kept} == kept
    assert np.array_equal(pcm_of(roomy.film), pcm_of(lean.film))
