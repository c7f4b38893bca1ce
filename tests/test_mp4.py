"""studio/mp4.py's tables: what the film's index says must hold for any size of film."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import pytest

from studio.cut import adts, mp4, reels, segment_encode
from studio.media import FFmpegFailed


def test_offsets_past_4_gib_need_co64() -> None:
    assert not mp4.needs_co64(2**32 - 1)
    assert mp4.needs_co64(2**32)
    narrow = mp4.chunk_offsets([8, 2**32 - 1], wide=False)
    wide = mp4.chunk_offsets([8, 2**32 + 5], wide=True)
    assert narrow[4:8] == b"stco" and struct.unpack(">2I", narrow[-8:]) == (8, 2**32 - 1)
    assert wide[4:8] == b"co64" and struct.unpack(">2Q", wide[-16:]) == (8, 2**32 + 5)


def test_an_adts_header_gives_the_decoder_config() -> None:
    # AAC-LC, 48 kHz (index 3), stereo, no CRC: the header ffmpeg's encoder writes.
    frame = adts.header(2) + b"\x21\x10"
    assert frame[:4] == bytes([0xFF, 0xF1, 0x4C, 0x80])
    data, units = adts.unpack(adts.pack([frame] * 3))
    assert (bytes(data), units.tolist()) == (b"\x21\x10" * 3, [2, 2, 2])  # the headers off
    track = mp4.audio_track(adts.header(0), bytes(data), units, "Mix", priming=1024)
    assert track.config == bytes([0x11, 0x90])  # what the esds of ffmpeg's films holds
    assert (track.sample_rate, track.channels, track.units) == (48000, 2, 3)


def test_a_packed_piece_keeps_each_frame_and_refuses_sizes_that_do_not_add_up() -> None:
    frame = adts.header(2) + b"\x21\x10"
    other = adts.header(3) + b"\x21\x10\x07"
    packed = adts.pack([frame, other, frame])
    data, sizes = adts.unpack(packed)
    assert sizes.tolist() == [2, 3, 2]
    assert bytes(data) == b"\x21\x10" + b"\x21\x10\x07" + b"\x21\x10"
    for broken in (packed[:-1], packed + b"\x00", packed[:5]):
        with pytest.raises(adts.BadADTS):
            adts.unpack(broken)


def test_a_film_written_from_samples_plays_with_its_title_and_tracks(tmp_path: Path) -> None:
    # A tiny H.264 + AAC source made by ffmpeg; its packets rewritten by our writer.
    source = tmp_path / "source.mp4"
    with av.open(str(source), "w") as out:
        video = out.add_stream("libx264", rate=24, options={"bf": "2", "g": "12"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for n in range(24):
            frame = av.VideoFrame(64, 48, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([n * 10 % 255]) * plane.buffer_size)
            frame.pts = n
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    data = tmp_path / "reel.h264"
    sizes, offsets, keys = [], [], []
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        avcc = bytes(stream.codec_context.extradata)
        scale = stream.time_base * 90000
        first = None
        with data.open("wb") as sink:
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                first = packet.dts if first is None else first
                sink.write(bytes(packet))
                sizes.append(packet.size)
                offsets.append(int((packet.pts - packet.dts) * scale))
                if packet.is_keyframe:
                    keys.append(len(sizes) - 1)
    track = mp4.VideoTrack(64, 48, 90000, 3750, int(-first * scale), avcc,
                           [mp4.VideoReel(data, sizes, offsets, keys)])
    film = tmp_path / "film.mp4"
    mp4.write(film, track, [], "Tiny Film")
    with av.open(str(film)) as container:
        assert container.metadata["title"] == "Tiny Film"
        pictures = list(container.decode(video=0))
    assert len(pictures) == 24 and pictures[0].pts == 0
    # faststart: the index comes before the samples.
    head = film.read_bytes()
    assert head.index(b"moov") < head.index(b"mdat")


def test_a_reel_refuses_a_segment_with_the_wrong_frame_count(tmp_path: Path) -> None:
    from fractions import Fraction

    from studio.cut.timeline import Entry, Profile, Timeline

    segment = tmp_path / "seg.mov"
    with av.open(str(segment), "w", format="mov") as out:
        video = out.add_stream("libx264", rate=24)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for n in range(5):
            frame = av.VideoFrame(64, 48, "yuv420p")
            frame.pts = n
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    segment_encode.seal_segment(segment)  # as a worker seals what it made
    entry = Entry(kind="take", code="1.1", chapter_number=1, chapter_title="One",
                  shot_number=1, description="", owner="", frames=12, start_frame=0,
                  planned_duration=0.5)
    line = Timeline(production_title="T", profile=Profile(64, 48, Fraction(24)),
                    entries=[entry])
    with pytest.raises(FFmpegFailed, match=r"shot 1\.1 holds 5 frames, not 12"):
        reels._read(line, reels.Reel(0, 1), [segment], tmp_path / "reel.h264")
