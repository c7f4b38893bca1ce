"""The editor's hand-off (issue 17): each cut's package of original takes and stems with .otio,
FCP XML and EDL, read back with OpenTimelineIO and, for the XML, with ElementTree too."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path
from urllib.parse import unquote

import opentimelineio as otio
import pytest

from storage import cuts, media_files, shots
from storage.productions import Production
from studio import mediastore
from studio.app import Studio
from studio.cut import build, handoff
from studio.cut.build import CutResult
from studio.errors import InvalidInput, NotFound
from studio.generation import takes
from studio.generation.standin import make_standin_take, make_still, make_tone
from studio.ops import backups, screening_links
from studio.ops.settings import Settings, load_settings
from studio.production import claims, shotlist
from studio.production.people import Actor, actor

SHOTS = """chapter,chapter_title,shot,description,duration,notes
1,Dawn,1,Wide of the flats,1,Establishing: low sun
1,Dawn,2,Pell's tracks,1,
1,Dawn,3,The bottle,4.5,
2,Storm,1,Clouds roll in,1,Darker here
2,Storm,2,Pell runs,0.5,
"""
FPS = Fraction(24000, 1001)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    return load_settings(data_dir=tmp_path / "data", cut_width=320, cut_height=180,
                         cut_fps="24000/1001", cut_credits_seconds=1.0, cut_keep=2)


async def approve(studio: Studio, prod: Production, who: Actor, code: str, path: Path,
                  name: str) -> int:
    stored = await takes.add_take(studio, prod, who, code, path, original_name=name)
    async with studio.db.transaction() as tx:
        await shots.update(tx, stored.take.shot_id, approved_take_id=stored.take.id,
                           status="approved")
    return stored.take.id


@pytest.fixture
async def cut(studio: Studio, prod: Production, producer: Actor, tmp_path: Path
              ) -> CutResult:
    """A cut of every kind of clip: a 30 fps take with sound longer than its slot (handles),
    a sound-only take, a still, a slate, the credits, and a 6.4 s VO stem in chapter 1."""
    await shotlist.import_shots(studio.db, prod, producer, SHOTS.encode(), "shots.csv")
    sarah = await actor(studio.db, prod, "莎拉 / Sarah")
    await claims.claim(studio.db, prod, sarah, 1)
    src = tmp_path / "in"
    src.mkdir()
    # Uploaded under misleading names: the package names files by their probed format.
    await approve(studio, prod, sarah, "1.1", make_standin_take(
        src / "a.avi", "1.1", seconds=1.6, fps="30", codec="mpeg4", audio=True), "take.mov")
    await approve(studio, prod, sarah, "1.2", make_tone(src / "b.wav", 0.6), "voice.mp3")
    await approve(studio, prod, producer, "2.1", make_still(src / "c.png", "2.1"), "still.jpg")
    await takes.add_stem(studio, prod, producer, 1, "vo", make_tone(src / "vo.wav", 6.4))
    result = await build.build(studio, prod)
    # Published first; its package follows once the film is out.
    assert await build.handed_off(result) == package_of(result)
    return result


def package_of(result: CutResult) -> Path:
    return result.directory / handoff.HANDOFF


def resolve(package: Path, url: str) -> Path:
    """A reference, resolved as an editor's tool does: relative to the package."""
    assert not url.startswith(("/", "file:")), f"{url} is not relative to the package"
    found = package / unquote(url)
    assert found.resolve().is_relative_to(package.resolve())
    return found


async def test_the_package_holds_the_originals_named_readably(
    studio: Studio, prod: Production, cut: CutResult
) -> None:
    package = package_of(cut)
    media = sorted(p.name for p in (package / "media").iterdir())
    assert media == ["ch01_VO_莎拉_Sarah.wav", "ch01_sh01_r1_莎拉_Sarah.avi",
                     "ch01_sh02_r1_莎拉_Sarah.wav", "ch01_sh03_slate.mov",
                     "ch02_sh01_r1_Pat_Producer.png", "ch02_sh02_slate.mov", "credits.mov",
                     "cut0001_mix.mp4"]
    # The originals themselves (hard links: the same inode as the media store's file).
    line = cut.timeline
    for entry, name in ((line.entries[0], "ch01_sh01_r1_莎拉_Sarah.avi"),
                        (line.entries[3], "ch02_sh01_r1_Pat_Producer.png")):
        assert entry.media_sha256
        stored = mediastore.path_for(studio.settings.media_path, entry.media_sha256)
        assert (package / "media" / name).samefile(stored)
    assert mediastore.sha256_of(package / "media" / "cut0001_mix.mp4") == \
        mediastore.sha256_of(cut.film)
    assert "Premiere" in (package / "README.txt").read_text(encoding="utf-8")
    assert set(cut.editorial.values()) == {package / "cut.otio", package / "cut.xml",
                                           package / "cut.edl"}
    assert handoff.location(studio.settings, prod.id, 1) == package


def test_the_package_link_is_on_the_web_face_when_it_has_a_public_address(
    settings: Settings
) -> None:
    assert handoff.link(settings, 1, 3) is None
    public = settings.model_copy(update={"public_url": "https://film.example.org/"})
    given = handoff.link(public, 1, 3)
    assert given is not None and given.startswith("https://film.example.org/cuts/3/handoff.zip?t=")
    # Signed for its production, as every page link is: the web face lets it in.
    token = given.split("?t=", 1)[1]
    assert screening_links.check(public, token).production_id == 1


def test_names_are_safe_on_every_filesystem() -> None:
    assert handoff.safe_name("莎拉 / Sarah") == "莎拉_Sarah"
    assert handoff.safe_name("../..\\etc\x00\x07passwd") == "etc_passwd"
    assert handoff.safe_name("Zoë\tO'Brien\n") == "Zoë_O_Brien"
    assert handoff.safe_name("///") == ""
    taken: set[str] = set()
    assert [handoff._unique(n, taken) for n in ("a.mp4", "A.mp4", "a.mp4", "b")] == [
        "a.mp4", "A_2.mp4", "a_3.mp4", "b"]


def expected_record(result: CutResult) -> list[tuple[str, int, int]]:
    """(clip name, record start, record frames) of each picture clip, from the timeline."""
    names = {0: "ch01_sh01_r1_莎拉_Sarah", 2: "ch01_sh03_slate", 3: "ch02_sh01_r1_Pat_Producer",
             4: "ch02_sh02_slate", 5: "credits"}
    return [(names[i], e.start_frame, e.frames) for i, e in enumerate(result.timeline.entries)
            if i in names]


async def test_the_otio_reads_back_with_ranges_references_markers_and_metadata(
    studio: Studio, cut: CutResult
) -> None:
    package = package_of(cut)
    raw = json.loads((package / "cut.otio").read_text(encoding="utf-8"))
    assert raw["OTIO_SCHEMA"] == "Timeline.1"
    timeline = otio.adapters.read_from_file(str(package / "cut.otio"))
    assert [t.name for t in timeline.tracks] == ["Picture", "Takes", "VO", "Mix"]
    assert timeline.global_start_time == otio.opentime.from_timecode("01:00:00:00", FPS)
    picture, sound, vo, mix = timeline.tracks
    assert not mix.enabled  # the film's own mix: a reference, muted
    found = [(c.name, round(c.range_in_parent().start_time.value),
              round(c.range_in_parent().duration.value)) for c in picture.find_clips()]
    assert found == expected_record(cut)
    assert picture.duration().to_frames() == cut.timeline.frames
    for clip in timeline.find_clips():
        assert resolve(package, clip.media_reference.target_url).is_file()
    # Handles: the 1.6 s, 30 fps original is available whole; the cut uses its first second.
    first = picture.find_clips()[0]
    row = await media_files.get(studio.db.reader, cut.timeline.entries[0].media_sha256 or "")
    assert row is not None and row.duration is not None and row.duration >= 1.6
    assert first.media_reference.available_range.duration == otio.opentime.RationalTime(
        round(row.duration * 30), 30)
    assert first.source_range.start_time.value == 0
    assert first.source_range.duration == otio.opentime.RationalTime(24, float(FPS))
    data = first.metadata["slate"]
    assert (data["take_id"], data["revision"], data["creator"], data["approved"]) == (
        cut.timeline.entries[0].take_id, 1, "莎拉 / Sarah", True)
    assert data["provider"] == "" and data["model"] == ""  # uploaded by hand
    [marker] = first.markers
    assert marker.name == "Establishing: low sun" and marker.comment == "Establishing: low sun"
    at = first.range_in_parent().start_time + marker.marked_range.start_time
    assert at.value == cut.timeline.entries[0].start_frame
    # The VO keeps its own length on its own timebase: 6.4 s, not 154 frames.
    [voice] = list(vo.find_clips())
    assert voice.source_range.duration.to_seconds() == pytest.approx(6.4, abs=1e-6)
    assert voice.source_range.duration.rate == 44100
    # Chapter 1's gain, as the film's mix was made, on its stem and its takes' sound.
    gains = json.loads((cut.directory / "soundtrack.json").read_text())["gains"]
    chapter_1 = gains["1"]["db"]
    assert voice.metadata["slate"]["gain_db"] == chapter_1
    heard = [c for c in sound.find_clips()]
    assert [c.name for c in heard] == ["ch01_sh01_r1_莎拉_Sarah", "ch01_sh02_r1_莎拉_Sarah"]
    assert all(c.metadata["slate"]["gain_db"] == chapter_1 for c in heard)
    # The sound-only take plays its 0.6 s, at its own sample rate, at its shot's start.
    tone = heard[1]
    assert tone.source_range.duration.to_seconds() == pytest.approx(0.6, abs=1e-4)
    assert tone.range_in_parent().start_time.to_seconds() == pytest.approx(
        float(cut.timeline.entries[1].start_frame / FPS), abs=1e-6)


def _int(element: ET.Element, path: str) -> int:
    text = element.findtext(path)
    assert text is not None, f"no {path} in <{element.tag}>"
    return int(text)


async def test_the_fcp_xml_has_what_premiere_and_resolve_read(cut: CutResult) -> None:
    package = package_of(cut)
    text = (package / "cut.xml").read_text(encoding="utf-8")
    assert text.splitlines()[1] == "<!DOCTYPE xmeml>"
    root = ET.fromstring(text)
    assert root.tag == "xmeml" and root.get("version") == "4"
    sequence = root.find("./project/children/sequence")
    assert sequence is not None
    video_format = sequence.find("./media/video/format/samplecharacteristics")
    assert video_format is not None
    assert (_int(video_format, "width"), _int(video_format, "height")) == (320, 180)
    assert video_format.findtext("pixelaspectratio") == "square"
    assert video_format.findtext("fielddominance") == "none"
    assert (video_format.findtext("rate/timebase"), video_format.findtext("rate/ntsc")) == (
        "24", "TRUE")
    audio_format = sequence.find("./media/audio/format/samplecharacteristics")
    assert audio_format is not None
    assert (_int(audio_format, "samplerate"), _int(audio_format, "depth")) == (48000, 16)
    assert sequence.findtext("timecode/string") == "01:00:00:00"
    tracks = sequence.findall("./media/video/track") + sequence.findall("./media/audio/track")
    assert [t.findtext("name") for t in tracks] == ["Picture", "Takes", "VO", "Mix"]
    assert tracks[3].findtext("enabled") == "FALSE"
    # Each file once in full, with its real media; later uses refer back to it.
    files = {f.get("id"): f for f in root.iter("file") if len(f)}
    by_name = {f.findtext("name"): f for f in files.values()}
    take = by_name["ch01_sh01_r1_莎拉_Sarah.avi"]
    assert resolve(package, take.findtext("pathurl") or "").is_file()
    assert take.findtext("rate/timebase") == "30" and _int(take, "duration") >= 48
    assert (_int(take, "media/video/samplecharacteristics/width"),
            _int(take, "media/video/samplecharacteristics/height")) == (320, 180)
    assert _int(take, "media/audio/channelcount") == 1
    assert _int(take, "media/audio/samplecharacteristics/samplerate") == 44100
    vo = by_name["ch01_VO_莎拉_Sarah.wav"]
    assert vo.find("media/video") is None and _int(vo, "media/audio/channelcount") == 2
    still = by_name["ch02_sh01_r1_Pat_Producer.png"]
    assert still.find("media/audio") is None
    for f in files.values():
        assert resolve(package, f.findtext("pathurl") or "").is_file()
    # One full clipitem per clip per track, with its timings; none an empty back-reference.
    picture, takes_track = tracks[0], tracks[1]
    items = picture.findall("clipitem")
    assert [(c.findtext("name"), _int(c, "start"), _int(c, "end") - _int(c, "start"))
            for c in items] == expected_record(cut)
    for c in root.iter("clipitem"):
        assert len(c.findall("rate")) == 1
        for tag in ("name", "start", "end", "in", "out", "file"):
            assert c.find(tag) is not None, f"clipitem {c.get('id')} has no <{tag}>"
    first = items[0]
    assert (_int(first, "in"), _int(first, "out")) == (0, 24)
    # The take's picture and sound are linked, each to the other.
    heard = takes_track.findall("clipitem")
    links = {(link.findtext("linkclipref"), link.findtext("mediatype"))
             for link in first.findall("link")}
    assert links == {(first.get("id"), "video"), (heard[0].get("id"), "audio")}
    assert {link.findtext("linkclipref") for link in heard[0].findall("link")} == {
        first.get("id"), heard[0].get("id")}
    # The chapter's gain as the clip's level, on the take's sound and the VO.
    gain = json.loads((cut.directory / "soundtrack.json").read_text())["gains"]["1"]["db"]
    for clip in (heard[0], tracks[2].find("clipitem")):
        assert clip is not None
        effect = clip.find("filter/effect")
        assert effect is not None and effect.findtext("effectid") == "audiolevels"
        level = float(effect.findtext("parameter/value") or "nan")
        assert level == pytest.approx(min(10 ** (gain / 20), 3.98109), rel=1e-4)
        assert clip.findtext("sourcetrack/mediatype") == "audio"
    # The VO lasts its 6.4 s floored to the sequence's frames (153), never 154.
    voice = tracks[2].find("clipitem")
    assert voice is not None and _int(voice, "end") - _int(voice, "start") == 153
    # Markers with their notes; take metadata as logging fields and comments.
    marker = first.find("marker")
    assert marker is not None and marker.findtext("comment") == "Establishing: low sun"
    assert (_int(marker, "in"), _int(marker, "out")) == (0, 0)
    assert first.findtext("logginginfo/lognote") == \
        f"approved take {cut.timeline.entries[0].take_id} r1"
    assert first.findtext("comments/mastercomment4") == "creator=莎拉 / Sarah"


async def test_the_fcp_xml_reads_back_with_opentimelineio(cut: CutResult) -> None:
    package = package_of(cut)
    timeline = otio.adapters.read_from_file(str(package / "cut.xml"), adapter_name="fcp_xml")
    assert [t.name for t in timeline.tracks] == ["Picture", "Takes", "VO", "Mix"]
    picture = timeline.video_tracks()[0]
    found = [(c.name, round(c.range_in_parent().start_time.value),
              round(c.range_in_parent().duration.value)) for c in picture.find_clips()]
    assert found == expected_record(cut)
    assert timeline.duration().to_frames() == cut.timeline.frames
    first = picture.find_clips()[0]
    fields = first.metadata["fcp_xml"]
    assert fields["comments"]["mastercomment1"] == f"take_id={cut.timeline.entries[0].take_id}"
    assert fields["comments"]["mastercomment2"] == "approved=yes"
    assert fields["comments"]["mastercomment3"] == "revision=1"
    assert fields["logginginfo"]["scene"] == "1.1"
    assert first.markers[0].name == "Establishing: low sun"
    for clip in timeline.find_clips():
        assert resolve(package, clip.media_reference.target_url).is_file()


async def test_the_edl_reads_back_with_record_timecode_from_one_hour(cut: CutResult) -> None:
    package = package_of(cut)
    text = (package / "cut.edl").read_text(encoding="utf-8")
    assert text.splitlines()[:2] == ["TITLE: Test Film — cut 1", "FCM: NON-DROP FRAME"]
    assert "001  C01S01R1 AA/V" in text and "* FROM CLIP NAME:  ch01_sh01_r1_莎拉_Sarah" in text
    assert "002  C01S02R1 AA" in text  # the sound-only take: an audio event
    timeline = otio.adapters.read_from_file(str(package / "cut.edl"), adapter_name="cmx_3600",
                                            rate=float(FPS))
    picture = timeline.video_tracks()[0]
    one_hour = otio.opentime.from_timecode("01:00:00:00", FPS).value
    found = [(c.name, round(c.range_in_parent().start_time.value),
              round(c.range_in_parent().duration.value)) for c in picture.find_clips()]
    # The reader counts record time from the first event: it starts at 01:00:00:00 here.
    assert [(n, s, d) for n, s, d in found] == expected_record(cut)
    for clip in timeline.find_clips():
        assert resolve(package, clip.media_reference.target_url).is_file()
    first = picture.find_clips()[0]
    [marker] = first.markers
    assert marker.marked_range.start_time.value == one_hour + cut.timeline.entries[0].start_frame
    clouds = next(c for c in picture.find_clips() if c.name.startswith("ch02_sh01"))
    assert clouds.markers[0].marked_range.start_time.value == \
        one_hour + cut.timeline.entries[3].start_frame
    assert len(timeline.audio_tracks()) == 2  # A1 and A2: the takes' sound


async def test_the_package_moved_elsewhere_still_resolves(
    studio: Studio, prod: Production, cut: CutResult, tmp_path: Path
) -> None:
    moved = tmp_path / "editor's machine" / "Low Tide cut 1"
    shutil.copytree(package_of(cut), moved)
    shutil.rmtree(studio.settings.data_dir)  # nothing of the server is left to lean on
    for name in ("cut.otio", "cut.xml"):
        timeline = otio.adapters.read_from_file(str(moved / name))
        clips = list(timeline.find_clips())
        assert len(clips) == 9  # 5 pictures, 2 takes' sounds, the VO, the mix
        for clip in clips:
            assert resolve(moved, clip.media_reference.target_url).is_file()


async def test_a_package_lost_after_publication_is_written_again_from_the_cut(
    studio: Studio, prod: Production, cut: CutResult, tmp_path: Path
) -> None:
    """The bot died after publishing the cut, before its package was whole: asked for, the
    package is written from what the cut keeps of itself, the same as the one it lost."""
    package = package_of(cut)
    written = {p.relative_to(package).as_posix(): p.read_bytes() for p in package.rglob("*")
               if p.is_file()}
    shutil.rmtree(package)
    dead = cut.directory / ".handoff-partial-999999-0000"  # a writer killed half-way
    (dead / "media").mkdir(parents=True)
    (dead / "cut.xml").write_text("<xmeml", encoding="utf-8")
    exported = tmp_path / "for the editor"
    assert await handoff.export(studio, prod, None, exported) == (1, exported)
    again = {p.relative_to(package).as_posix(): p.read_bytes() for p in package.rglob("*")
             if p.is_file()}
    assert again == written  # the timelines byte for byte, every original, the mix
    assert not dead.exists()
    assert sorted(p.name for p in exported.iterdir()) == sorted(
        {n.split("/")[0] for n in written})
    timeline = otio.adapters.read_from_file(str(exported / "cut.xml"), adapter_name="fcp_xml")
    assert [c.name for c in timeline.video_tracks()[0].find_clips()] == [
        n for n, _, _ in expected_record(cut)]


async def test_the_next_start_writes_the_package_the_bot_did_not_finish(
    studio: Studio, cut: CutResult
) -> None:
    package = package_of(cut)
    xml = (package / "cut.xml").read_bytes()
    shutil.rmtree(package)
    (cut.directory / ".handoff-partial-999999-0000").mkdir()  # the writer killed with the bot
    await build.at_start(studio)
    await handoff.settle()  # started in the background: the bot's start waits for none of it
    assert (package / "cut.xml").read_bytes() == xml
    assert len(list((package / "media").iterdir())) == 8
    assert [p.name for p in cut.directory.iterdir() if p.name.startswith(".handoff")] == []


async def test_an_old_cuts_package_resolves_after_six_newer_cuts(
    studio: Studio, prod: Production, producer: Actor, cut: CutResult, tmp_path: Path
) -> None:
    exported = tmp_path / "for the editor"
    assert await handoff.export(studio, prod, 1, exported) == (1, exported)
    with pytest.raises(InvalidInput, match="not an empty folder"):
        await handoff.export(studio, prod, 1, exported)
    old_take = cut.timeline.entries[0].media_sha256
    assert old_take
    # Six newer cuts, each with a new take of 1.1: cut 1's folder, its segments and (once gc
    # runs) its take leave the server.
    for n in range(6):
        await approve(studio, prod, producer, "1.1", make_standin_take(
            tmp_path / f"new{n}.mp4", "1.1", seconds=1.0 + n / 10), f"new{n}.mp4")
        await build.build(studio, prod)
    assert not cut.directory.exists()
    with pytest.raises(NotFound, match="no longer kept"):
        await handoff.export(studio, prod, 1, tmp_path / "too late")
    timeline = otio.adapters.read_from_file(str(exported / "cut.otio"))
    for clip in timeline.find_clips():
        assert resolve(exported, clip.media_reference.target_url).is_file()
    assert otio.adapters.read_from_file(str(exported / "cut.xml"), adapter_name="fcp_xml")
    latest = await cuts.latest(studio.db.reader, prod.id)
    assert latest is not None and latest.version == 7


async def test_media_a_kept_cut_uses_is_never_collected(
    studio: Studio, prod: Production, producer: Actor, cut: CutResult, tmp_path: Path
) -> None:
    stem = cut.timeline.stems[0].media_sha256
    # The stem is replaced and its row no longer names the old file: only the cut does.
    async with studio.db.transaction() as tx:
        await tx.execute("UPDATE stem SET media_sha256 = (SELECT media_sha256 FROM take"
                         " LIMIT 1)")
    report = await backups.collect_garbage(studio, delete=True, min_age=0)
    assert mediastore.path_for(studio.settings.media_path, stem).exists()
    assert stem not in {p.name for p in report.unused_files}


def test_the_shell_hands_over_a_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    import shell

    for name, value in {"SLATE_DATA_DIR": str(tmp_path / "data"), "SLATE_CUT_WIDTH": "160",
                        "SLATE_CUT_HEIGHT": "90", "SLATE_CUT_CREDITS_SECONDS": "0"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shots.csv").write_text(SHOTS, encoding="utf-8")
    assert shell.main(["init", "--title", "Shell Film"]) == 0
    assert shell.main(["import-shots", str(tmp_path / "shots.csv")]) == 0
    assert shell.main(["handoff", str(tmp_path / "early")]) == 1
    assert "no cut has been published yet" in capsys.readouterr().err
    assert shell.main(["cut", "--quiet"]) == 0
    capsys.readouterr()
    assert shell.main(["handoff", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert f"cut 1's hand-off is in {tmp_path / 'out'}" in out
    assert (tmp_path / "out" / "cut.xml").is_file()
    assert len(list((tmp_path / "out" / "media").iterdir())) == 6  # 5 slates and the mix
    assert shell.main(["handoff", "1", str(tmp_path / "again")]) == 0
    assert shell.main(["handoff", "9", str(tmp_path / "none")]) == 1
    assert "cut 9 was not published" in capsys.readouterr().err
