"""Normalized segments: one stream format whatever the source, so they join by stream copy."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from fractions import Fraction
from pathlib import Path

import av
import pytest

from studio.cut import avc, normalize, seal, segment_encode, segment_read
from studio.cut.timeline import Profile
from studio.generation.standin import make_standin_take, make_still, make_tone
from studio.media import FFmpegFailed, ffmpeg_exe, write_concat_list
from tests.media_kit import killing_whoever_writes

PROFILE = Profile(320, 180, Fraction(24000, 1001))


@pytest.fixture(autouse=True)
def _no_pool_left() -> object:
    yield
    normalize.shutdown()
    assert normalize.worker_pids() == []


async def test_segments_from_different_sources_join_by_stream_copy(tmp_path: Path) -> None:
    sources = [  # (file, kind, has sound, frames)
        (make_standin_take(tmp_path / "portrait.avi", "a", seconds=1.2, size=(180, 320),
                           fps="24000/1001", codec="mpeg4", audio=True), "video", True, 29),
        (make_standin_take(tmp_path / "vp9.webm", "b", codec="libvpx-vp9", size=(256, 144),
                           fps="25", audio=True), "video", True, 30),
        # Full-range MJPEG would give a different colour description if it were kept.
        (make_standin_take(tmp_path / "mjpeg.mkv", "c", codec="mjpeg", fps="30"), "video",
         False, 12),
        (make_still(tmp_path / "still.png", "d", size=(300, 300)), "image", False, 20),
        (make_tone(tmp_path / "tone.wav", 0.4), "audio", True, 24),
    ]
    cache = tmp_path / "cache"
    segments = await asyncio.gather(*(
        normalize.normalize(cache, f"{n:064x}", path, kind, sound, frames, PROFILE)
        for n, (path, kind, sound, frames) in enumerate(sources)))
    assert not any(s.cached for s in segments)
    extradata = set()
    for segment, (_, _, _, frames) in zip(segments, sources, strict=True):
        with av.open(str(segment.path)) as container:
            video, audio = container.streams.video[0], container.streams.audio[0]
            extradata.add(bytes(video.codec_context.extradata or b""))
            assert (video.codec_context.name, video.width, video.height) == ("h264", 320, 180)
            assert video.average_rate == PROFILE.fps and video.frames == frames
            assert (audio.codec_context.name, audio.rate, audio.channels) == (
                "pcm_s16le", 48000, 2)
            first = next(container.demux(video))
            assert first.is_keyframe  # each segment opens on an IDR: a clean join
    assert len(extradata) == 1  # one SPS/PPS for all of them
    # Joined by stream copy, the film decodes end to end: every frame and sample, no error.
    listing = write_concat_list([s.path for s in segments], tmp_path / "list.txt")
    joined = tmp_path / "joined.mov"
    proc = await asyncio.create_subprocess_exec(
        ffmpeg_exe(), "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
        "-c", "copy", str(joined), stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 0 and not err.strip()
    total = sum(frames for *_, frames in sources)
    with av.open(str(joined)) as container:
        pictures = sum(1 for _ in container.decode(video=0))
    with av.open(str(joined)) as container:
        samples = sum(f.samples for f in container.decode(audio=0))
    assert pictures == total
    assert samples == sum(PROFILE.samples(frames) for *_, frames in sources)


async def test_a_second_call_is_served_from_the_cache(tmp_path: Path) -> None:
    take = make_standin_take(tmp_path / "t.mp4", "t")
    made = await normalize.normalize(tmp_path / "c", "ab" * 32, take, "video", False, 10,
                                     PROFILE)
    again = await normalize.normalize(tmp_path / "c", "ab" * 32, take, "video", False, 10,
                                      PROFILE)
    assert (made.cached, again.cached, again.path) == (False, True, made.path)


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100])
async def test_unusable_files_fail_with_a_short_reason_and_leave_nothing(
    tmp_path: Path, content: bytes
) -> None:
    bad = tmp_path / "bad take.mp4"
    bad.write_bytes(content)
    cache = tmp_path / "cache"
    with pytest.raises(FFmpegFailed) as failed:
        await normalize.normalize(cache, "cd" * 32, bad, "video", True, 10, PROFILE)
    assert str(failed.value) and str(tmp_path) not in str(failed.value)
    assert not [p for p in cache.rglob("*") if p.is_file()]


async def test_a_file_with_sound_but_no_picture_fails_as_a_video(tmp_path: Path) -> None:
    tone = make_tone(tmp_path / "tone.wav", 0.4)
    with pytest.raises(FFmpegFailed, match="no picture"):
        await normalize.normalize(tmp_path / "c", "ef" * 32, tone, "video", True, 10, PROFILE)


BOT_KILLED = """
import asyncio, os, signal, sys
from fractions import Fraction
from pathlib import Path
from studio.cut import avc, normalize, seal, segment_encode, segment_read
from studio.cut.timeline import Profile

async def main() -> None:
    await normalize.normalize(Path(sys.argv[1]), "ab" * 32, Path(sys.argv[2]), "video", False,
                              5, Profile(320, 180, Fraction(24)))
    print(" ".join(map(str, normalize.worker_pids())), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # the bot dies with no chance to close its pool

asyncio.run(main())
"""


def _running(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_workers_do_not_outlive_a_killed_bot(tmp_path: Path) -> None:
    take = make_standin_take(tmp_path / "t.mp4", "t")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BOT_KILLED, str(tmp_path / "cache"), str(take),
        stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    out = await asyncio.wait_for(proc.stdout.readline(), 60)
    assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL
    workers = [int(pid) for pid in out.split()]
    assert workers  # the segment was made in a worker
    for _ in range(400):
        if not any(_running(pid) for pid in workers):
            break
        await asyncio.sleep(0.05)
    assert not [pid for pid in workers if _running(pid)]


async def test_warm_starts_every_worker_and_the_next_segments_are_made_by_them(
    tmp_path: Path,
) -> None:
    await normalize.warm()
    warmed = set(normalize.worker_pids())
    assert len(warmed) == (os.cpu_count() or 2) + 1  # all started before any cut asked
    take = make_standin_take(tmp_path / "t.mp4", "t")
    made = await asyncio.gather(*(
        normalize.normalize(tmp_path / "c", f"{n:064x}", take, "video", False, 10, PROFILE)
        for n in range(4)))
    assert set(normalize.worker_pids()) == warmed  # no process started for the cut
    with av.open(str(made[0].path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 10


def test_the_decode_check_passes_a_whole_segment_and_names_a_missing_picture() -> None:
    shape = normalize.shape_of(PROFILE, 12)
    avcc, samples = segment_encode.black_samples(shape)
    assert segment_encode.PictureCheck(shape, avcc).feed(samples) is None
    # The last picture lost on the way.
    assert segment_encode.PictureCheck(shape, avcc).feed(samples[:-1]) == (
        "the normalized file decodes to 11 frames, not 12")


def test_pictures_that_cannot_be_decoded_fail_the_check_with_a_reason() -> None:
    shape = normalize.shape_of(PROFILE, 12)
    avcc, samples = segment_encode.black_samples(shape)
    garbage = [av.Packet(b"\x00\x00\x00\x10" + bytes(range(16)) * 4) for _ in samples]
    reason = segment_encode.PictureCheck(shape, avcc).feed(garbage)
    assert reason is not None and reason.startswith("the normalized file")


async def test_a_segment_read_by_its_own_tables_holds_what_a_demuxer_reads(
    tmp_path: Path,
) -> None:
    sources = [  # (file, kind, has sound, frames)
        (make_standin_take(tmp_path / "a.avi", "a", codec="mpeg4", audio=True, seconds=0.6,
                           fps="24000/1001"), "video", True, 14),
        (make_still(tmp_path / "b.png", "b"), "image", False, 30),
        (make_tone(tmp_path / "c.wav", 0.4), "audio", True, 10),
    ]
    wanted = [normalize.Wanted(f"{n:064x}", path, kind, sound, frames)
              for n, (path, kind, sound, frames) in enumerate(sources)]
    made = await normalize.normalize_batch(tmp_path / "cache", PROFILE, wanted)
    paths = [s.path for s in made if isinstance(s, normalize.Segment)]
    assert len(paths) == 3
    for path in paths:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            avcc, base = bytes(stream.codec_context.extradata or b""), stream.time_base
            packets = [p for p in container.demux(stream) if p.size]
        with av.open(str(path)) as container:
            sound = b"".join(bytes(p) for p in container.demux(audio=0) if p.size)
        read = segment_read.pictures(path)
        assert read.avcc == avcc and Fraction(1, read.timescale) == base
        assert read.data == b"".join(bytes(p) for p in packets)
        assert read.sizes == [p.size for p in packets]
        assert read.first_dts == packets[0].dts < 0  # the B-frames' decode delay
        assert read.offsets == [p.pts - p.dts for p in packets]
        assert read.keys == [n for n, p in enumerate(packets) if p.is_keyframe] and read.keys
        assert segment_read.pcm(path) == sound and len(sound) > 0
    # Damaged on disk: a bit of a picture or of the sound, the tables cut short.
    whole = paths[0].read_bytes()
    for kind, read_back in (("video", segment_read.pictures), ("audio", segment_read.pcm)):
        damaged = bytearray(whole)
        damaged[_middle(paths[0], kind)] ^= 0x10
        paths[0].write_bytes(bytes(damaged))
        with pytest.raises(seal.Broken, match="changed on disk"):
            read_back(paths[0])
    paths[0].write_bytes(whole[:len(whole) - 300])
    for read_back in (segment_read.pictures, segment_read.pcm):
        with pytest.raises(seal.Broken):
            read_back(paths[0])


def _middle(segment: Path, kind: str) -> int:
    """Where in the segment's file the middle of its first `kind` packet lies."""
    with av.open(str(segment)) as container:
        return next(p.pos + p.size // 2 for p in container.demux()
                    if p.stream.type == kind and p.size and p.pos is not None)


def _pictures(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray().tobytes() for frame in container.decode(video=0)]


def _first_sample(path: Path) -> av.Packet:
    with av.open(str(path)) as container:
        return next(p for p in container.demux(container.streams.video[0]) if p.size)


async def test_a_batch_gives_segments_that_each_decode_alone_from_an_idr(
    tmp_path: Path,
) -> None:
    sources = [  # (file, kind, has sound, frames): made by one worker in one trip
        (make_standin_take(tmp_path / "a.mp4", "a", seconds=0.5), "video", False, 12),
        (make_standin_take(tmp_path / "b.avi", "b", codec="mpeg4", audio=True, seconds=0.3),
         "video", True, 7),
        (make_still(tmp_path / "c.png", "c"), "image", False, 30),
        (make_standin_take(tmp_path / "d.mkv", "d", codec="mjpeg", fps="30"), "video", False,
         5),
        (make_tone(tmp_path / "e.wav", 0.4), "audio", True, 10),
    ]
    wanted = [normalize.Wanted(f"{n:064x}", path, kind, sound, frames)
              for n, (path, kind, sound, frames) in enumerate(sources)]
    segments = await normalize.normalize_batch(tmp_path / "cache", PROFILE, wanted)
    assert [isinstance(s, normalize.Segment) and not s.cached for s in segments] == [True] * 5
    paths = [s.path for s in segments if isinstance(s, normalize.Segment)]
    alone = []
    for path, (*_, frames) in zip(paths, sources, strict=True):
        first = _first_sample(path)
        # Its first sample is an IDR picture: nothing before it is referenced.
        assert first.is_keyframe and avc.IDR in avc.sample_nal_types(bytes(first))
        alone.append(_pictures(path))  # decoded alone, by a reader of its own
        assert len(alone[-1]) == frames
        # Sealed with what a reader demuxes, though the worker never read the file back.
        copy = tmp_path / "copy.mov"
        copy.write_bytes(path.read_bytes()[:-seal.BOX.size])
        segment_encode.seal_segment(copy)
        assert seal.segment_seals(copy) == seal.segment_seals(path)
    # Joined, the film shows the very pictures each segment shows alone: no picture of one
    # segment was predicted from another's.
    listing = write_concat_list(paths, tmp_path / "list.txt")
    joined = tmp_path / "joined.mov"
    subprocess_done = await asyncio.create_subprocess_exec(
        ffmpeg_exe(), "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
        "-c", "copy", str(joined))
    assert await subprocess_done.wait() == 0
    assert _pictures(joined) == [picture for pictures in alone for picture in pictures]


async def test_a_take_that_fails_in_a_batch_fails_alone_and_the_others_are_made(
    tmp_path: Path,
) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    silent = make_standin_take(tmp_path / "silent.mp4", "s", seconds=0.5)
    sources = [
        (make_standin_take(tmp_path / "a.mp4", "a", seconds=0.5), "video", False, 12),
        (garbage, "video", False, 12),  # cannot be opened
        # Its pictures are encoded before its sound is found missing: they are dropped.
        (silent, "video", True, 12),
        (make_standin_take(tmp_path / "b.mov", "b", audio=True, seconds=0.5), "video", True,
         12),
    ]
    wanted = [normalize.Wanted(f"{n:064x}", path, kind, sound, frames)
              for n, (path, kind, sound, frames) in enumerate(sources)]
    cache = tmp_path / "cache"
    made = await normalize.normalize_batch(cache, PROFILE, wanted)
    assert isinstance(made[1], FFmpegFailed) and "cannot read it" in str(made[1])
    assert isinstance(made[2], FFmpegFailed) and "no sound" in str(made[2])
    for segment in (made[0], made[3]):
        assert isinstance(segment, normalize.Segment)
        assert avc.IDR in avc.sample_nal_types(bytes(_first_sample(segment.path)))
        assert len(_pictures(segment.path)) == 12
    assert sorted(p.name for p in cache.rglob("*") if p.is_file()) == sorted(
        f"{n:064x}.mov" for n in (0, 3))  # nothing half-written left of the failed two


async def test_a_take_that_kills_the_worker_in_a_batch_costs_only_that_take(
    tmp_path: Path,
) -> None:
    # A big take is slow enough to be caught mid-segment; the others are ordinary.
    big = make_standin_take(tmp_path / "big.mp4", "big", seconds=1.5, size=(1280, 720),
                            fps="30")
    small = make_standin_take(tmp_path / "small.mp4", "small", seconds=0.5)
    sources = [small, big, small, small]
    wanted = [normalize.Wanted(f"{n:064x}", path, "video", False, 12)
              for n, path in enumerate(sources)]
    cache = tmp_path / "cache"
    guilty = normalize.segment_path(cache, wanted[1].key)
    async with killing_whoever_writes(guilty) as killed:
        made = await normalize.normalize_batch(cache, PROFILE, wanted)
    assert len(killed) == 2
    assert isinstance(made[1], FFmpegFailed) and "crashed" in str(made[1])
    for n in (0, 2, 3):
        segment = made[n]
        assert isinstance(segment, normalize.Segment) and not segment.cached
        assert len(_pictures(segment.path)) == 12
    assert not list(cache.rglob(".partial-*"))
    # The pool is whole again: the next batch makes the big take.
    again = await normalize.normalize_batch(cache, PROFILE, wanted)
    assert [isinstance(s, normalize.Segment) and s.cached for s in again] == [
        True, False, True, True]


async def test_a_take_that_never_finishes_decoding_is_stopped_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A take that holds its worker for ever (here: one picture, then 256 GB of sparse zeros
    that the H.264 parser scans for a next picture) must not hold the build, and the
    production's build lock, with it: its worker is stopped and the take named."""
    endless = tmp_path / "endless.h264"
    with av.open(str(endless), "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        picture = av.VideoFrame(64, 64, "yuv420p")
        for plane in picture.planes:
            plane.update(bytes(plane.buffer_size))
        for frame in (picture, None):
            out.mux(stream.encode(frame))
    with endless.open("r+b") as handle:
        handle.truncate(1 << 38)
    good = make_standin_take(tmp_path / "good.mp4", "good", seconds=0.5)
    monkeypatch.setattr(normalize, "HANG_BASE_S", 2.0)  # the deadline, short for a test
    monkeypatch.setattr(normalize, "HANG_PER_FRAME_S", 0.0)
    wanted = [normalize.Wanted(f"{n:064x}", path, "video", False, 12)
              for n, path in enumerate([good, endless, good])]
    cache = tmp_path / "cache"
    made = await normalize.normalize_batch(cache, PROFILE, wanted)
    assert isinstance(made[1], FFmpegFailed) and "did not finish in time" in str(made[1])
    for n in (0, 2):
        assert isinstance(made[n], normalize.Segment)
        assert len(_pictures(made[n].path)) == 12
    assert not list(cache.rglob(".partial-*"))
    # The pool is whole again for the next batch.
    again = await normalize.normalize_batch(
        cache, PROFILE, [normalize.Wanted("f" * 64, good, "video", False, 24)])
    assert isinstance(again[0], normalize.Segment) and not again[0].cached
