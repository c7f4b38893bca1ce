"""The film's MP4, written here from bitstreams already made: H.264 reels and AAC tracks.

Every sample was encoded (and decoded once) before; joining them is only bookkeeping: the
sample tables in the moov (written first: faststart) and the samples' bytes copied into the
mdat. ffmpeg's muxer does the same work a packet at a time (about 6 µs each, 16,000 packets
for a 100 s film); here the tables are arrays and the copies are whole files. The boxes follow
ISO/IEC 14496-12 and -14 as ffmpeg writes them for `-movflags +faststart`, so players, editors
and ffprobe read the film exactly as they read ffmpeg's.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MOVIE_TIMESCALE = 1000
UINT32 = 0xFFFFFFFF
# Identity transformation matrix of tkhd/mvhd (16.16 and 2.30 fixed point).
MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


@dataclass
class VideoReel:
    """One reel's H.264 samples: their bytes end to end in `data`, and their tables."""

    data: Path
    sizes: Sequence[int]
    offsets: Sequence[int]  # composition offset of each sample, in media ticks
    keys: Sequence[int]  # indices of the sync samples (IDR pictures)
    crc: int | None = None  # CRC-32 of `data` when it was read from its checked segments


class SamplesChanged(OSError):
    """A reel's samples are not the bytes its tables were made with (the disk changed them)."""

    def __init__(self, data: Path) -> None:
        super().__init__(f"the samples in {data.name} changed since they were read")
        self.data = data


@dataclass
class VideoTrack:
    width: int
    height: int
    timescale: int
    frame_ticks: int  # every sample's decode duration
    delay: int  # composition offset of the first picture: the edit list starts there
    avcc: bytes
    reels: list[VideoReel]


@dataclass
class AudioTrack:
    """An AAC track: raw access units (no ADTS headers) end to end in `data`, each one's size,
    and what the decoder needs."""

    title: str
    config: bytes  # AudioSpecificConfig
    sample_rate: int
    channels: int
    data: bytes
    sizes: np.ndarray
    priming: int  # samples the edit list skips at the start
    default: bool = False
    samples_per_unit: int = 1024
    spans: list[int] = field(default_factory=list)  # units in each reel's chunk

    @property
    def units(self) -> int:
        return len(self.sizes)

    @property
    def bitrate(self) -> tuple[int, int]:
        """(max over any second, average) in bits per second, for the esds descriptor."""
        if not self.units:
            return 0, 0
        per_second = max(1, round(self.sample_rate / self.samples_per_unit))
        peak = int(np.add.reduceat(self.sizes, np.arange(0, self.units, per_second)).max())
        seconds = self.units * self.samples_per_unit / self.sample_rate
        return peak * 8, round(int(self.sizes.sum()) * 8 / seconds)


def box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *parts)


def _big_endian(values: Iterable[int] | np.ndarray, code: str = "I") -> bytes:
    """Unsigned 32-bit (or, code "Q", 64-bit) big-endian entries, as the tables store them."""
    table = np.asarray(values if isinstance(values, np.ndarray | Sequence) else list(values),
                       dtype=np.int64).ravel()
    if len(table) and (int(table.min()) < 0 or int(table.max()) >= 1 << (64 if code == "Q"
                                                                      else 32)):
        raise OverflowError("a table entry does not fit its field")
    return table.astype(">u8" if code == "Q" else ">u4").tobytes()


def _runs(values: Sequence[int] | np.ndarray) -> np.ndarray:
    """Run-length pairs (count, value), as stts and ctts store them, one pair a row."""
    v = np.asarray(values, dtype=np.int64)
    if not len(v):
        return np.zeros((0, 2), dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], v[1:] != v[:-1])))
    counts = np.diff(np.append(starts, len(v)))
    return np.column_stack((counts, v[starts]))


def _pairs(runs: np.ndarray | list[tuple[int, int]]) -> bytes:
    return _big_endian(np.asarray(runs, dtype=np.int64))


def needs_co64(end_of_file: int) -> bool:
    """Chunk offsets past 4 GiB need 64-bit entries (co64) instead of stco's 32-bit ones."""
    return end_of_file > UINT32


def chunk_offsets(offsets: Sequence[int], wide: bool) -> bytes:
    if wide:
        return full_box(b"co64", 0, 0, struct.pack(">I", len(offsets)),
                        _big_endian(offsets, "Q"))
    return full_box(b"stco", 0, 0, struct.pack(">I", len(offsets)), _big_endian(offsets))


def _sample_to_chunk(per_chunk: Sequence[int]) -> bytes:
    entries: list[tuple[int, int]] = []
    for n, count in enumerate(per_chunk):
        if not entries or entries[-1][1] != count:
            entries.append((n + 1, count))
    return full_box(b"stsc", 0, 0, struct.pack(">I", len(entries)),
                    _big_endian(v for first, count in entries for v in (first, count, 1)))


def _sizes(sizes: Sequence[int]) -> bytes:
    return full_box(b"stsz", 0, 0, struct.pack(">II", 0, len(sizes)), _big_endian(sizes))


def _descriptor(tag: int, body: bytes) -> bytes:
    n = len(body)  # four-byte length, as ffmpeg writes it
    return bytes([tag, 0x80 | (n >> 21 & 0x7F), 0x80 | (n >> 14 & 0x7F), 0x80 | (n >> 7 & 0x7F),
                  n & 0x7F]) + body


def _esds(track: AudioTrack, track_id: int) -> bytes:
    peak, average = track.bitrate
    decoder = _descriptor(4, struct.pack(">BB", 0x40, 0x15) + (0).to_bytes(3, "big")
                          + struct.pack(">II", peak, average) + _descriptor(5, track.config))
    es = _descriptor(3, struct.pack(">HB", track_id, 0) + decoder + _descriptor(6, b"\x02"))
    return full_box(b"esds", 0, 0, es)


def _hdlr(kind: bytes, name: str) -> bytes:
    return full_box(b"hdlr", 0, 0, struct.pack(">I4s12x", 0, kind), name.encode() + b"\0")


def _dinf() -> bytes:
    return box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))


def _tkhd(track_id: int, flags: int, duration: int, *, group: int, volume: int,
          width: int = 0, height: int = 0) -> bytes:
    return full_box(b"tkhd", 0, flags, struct.pack(">IIII", 0, 0, track_id, 0),
                    struct.pack(">I8xhhhh", duration, 0, group, volume, 0), MATRIX,
                    struct.pack(">II", width << 16, height << 16))


def _elst(duration: int, media_time: int) -> bytes:
    return box(b"edts", full_box(b"elst", 0, 0, struct.pack(">IIiI", 1, duration, media_time,
                                                            0x10000)))


def _mdhd(timescale: int, duration: int) -> bytes:
    return full_box(b"mdhd", 0, 0, struct.pack(">IIII", 0, 0, timescale, duration),
                    struct.pack(">HH", 0x55C4, 0))  # language: und


def _movie(ticks: int, timescale: int) -> int:
    return round(ticks * MOVIE_TIMESCALE / timescale)


def _video_trak(v: VideoTrack, track_id: int, chunks: list[int], wide: bool) -> bytes:
    sizes = np.concatenate([np.asarray(r.sizes, dtype=np.int64) for r in v.reels])
    offsets = np.concatenate([np.asarray(r.offsets, dtype=np.int64) for r in v.reels])
    firsts = np.cumsum([0] + [len(r.sizes) for r in v.reels[:-1]])
    keys = np.concatenate([np.asarray(r.keys, dtype=np.int64) + at + 1
                           for r, at in zip(v.reels, firsts, strict=True)])
    composition = _runs(offsets)
    media = len(sizes) * v.frame_ticks
    shown = _movie(media, v.timescale)
    avc1 = box(b"avc1", struct.pack(">6xH16xHHIIIH", 1, v.width, v.height, 0x480000, 0x480000,
                                    0, 1), bytes(32), struct.pack(">Hh", 0x18, -1),
               box(b"avcC", v.avcc), box(b"pasp", struct.pack(">II", 1, 1)))
    stbl = box(b"stbl", full_box(b"stsd", 0, 0, struct.pack(">I", 1), avc1),
               full_box(b"stts", 0, 0, struct.pack(">I", 1), _pairs([(len(sizes),
                                                                      v.frame_ticks)])),
               full_box(b"stss", 0, 0, struct.pack(">I", len(keys)), _big_endian(keys)),
               full_box(b"ctts", 0, 0, struct.pack(">I", len(composition)),
                        _pairs(composition)),
               _sample_to_chunk([len(r.sizes) for r in v.reels]), _sizes(sizes),
               chunk_offsets(chunks, wide))
    minf = box(b"minf", full_box(b"vmhd", 0, 1, bytes(8)), _dinf(), stbl)
    return box(b"trak", _tkhd(track_id, 3, shown, group=0, volume=0, width=v.width,
                              height=v.height),
               _elst(shown, v.delay),
               box(b"mdia", _mdhd(v.timescale, media), _hdlr(b"vide", "VideoHandler"), minf))


def _audio_trak(a: AudioTrack, track_id: int, chunks: list[int], wide: bool) -> bytes:
    sizes = a.sizes
    media = len(sizes) * a.samples_per_unit
    shown = _movie(media - a.priming, a.sample_rate)
    mp4a = box(b"mp4a", struct.pack(">6xH8xHHHHI", 1, a.channels, 16, 0, 0, a.sample_rate << 16),
               _esds(a, track_id))
    stbl = box(b"stbl", full_box(b"stsd", 0, 0, struct.pack(">I", 1), mp4a),
               full_box(b"stts", 0, 0, struct.pack(">I", 1),
                        _pairs([(len(sizes), a.samples_per_unit)])),
               _sample_to_chunk(a.spans), _sizes(sizes), chunk_offsets(chunks, wide),
               # Decoding any AAC frame needs the one before: a roll distance of -1.
               full_box(b"sgpd", 1, 0, struct.pack(">4sII", b"roll", 2, 1), struct.pack(">h", -1)),
               full_box(b"sbgp", 0, 0, struct.pack(">4sIII", b"roll", 1, len(sizes), 1)))
    minf = box(b"minf", full_box(b"smhd", 0, 0, bytes(4)), _dinf(), stbl)
    return box(b"trak", _tkhd(track_id, 3 if a.default else 2, shown, group=1, volume=0x100),
               _elst(shown, a.priming),
               box(b"mdia", _mdhd(a.sample_rate, media), _hdlr(b"soun", a.title), minf),
               box(b"udta", box(b"name", a.title.encode())))


def _metadata(title: str) -> bytes:
    def item(kind: bytes, text: str) -> bytes:
        return box(kind, box(b"data", struct.pack(">II", 1, 0), text.encode()))

    handler = full_box(b"hdlr", 0, 0, struct.pack(">I4s4s8x", 0, b"mdir", b"appl"), b"\0")
    return box(b"udta", full_box(b"meta", 0, 0, handler,
                                 box(b"ilst", item(b"\xa9nam", title), item(b"\xa9too", "Slate"))))


def _split(track: AudioTrack, ends: list[float]) -> list[int]:
    """Units in each reel's chunk: those that start before the reel ends (the last takes the
    rest)."""
    spans, taken = [], 0
    rate, per, priming = track.sample_rate, track.samples_per_unit, track.priming

    def before(unit: int) -> bool:
        return (unit * per - priming) / rate < end

    for n, end in enumerate(ends):
        if n == len(ends) - 1:
            upto = track.units
        else:
            # Jump near the first unit that starts at the reel's end, then step as ever: the
            # same float comparison decides the unit on the edge.
            upto = min(track.units, max(taken, int((end * rate + priming) / per) - 1))
            while upto > taken and not before(upto - 1):
                upto -= 1
            while upto < track.units and before(upto):
                upto += 1
        spans.append(upto - taken)
        taken = upto
    return spans


def write(path: Path, video: VideoTrack, audio: list[AudioTrack], title: str) -> int:
    """The film at `path`: ftyp, moov, then mdat with each reel's picture and the same span of
    every sound track side by side (interleaved, so a player streams it from the start).
    Returns its size in bytes."""
    reel_ticks = [len(r.sizes) * video.frame_ticks for r in video.reels]
    ends, at = [], 0
    for ticks in reel_ticks:
        at += ticks
        ends.append(at / video.timescale)
    for track in audio:
        track.spans = _split(track, ends)
    # Each chunk's place inside the mdat's payload, reel by reel.
    relative: list[list[int]] = [[] for _ in range(1 + len(audio))]
    cursor = 0
    # Where each reel's span of each track starts and ends in its data.
    bounds = [np.concatenate(([0], np.cumsum(t.sizes)))[np.cumsum([0, *t.spans])]
              for t in audio]
    for n, reel in enumerate(video.reels):
        relative[0].append(cursor)
        cursor += int(np.sum(reel.sizes, dtype=np.int64))
        for t in range(len(audio)):
            relative[t + 1].append(cursor)
            cursor += int(bounds[t][n + 1] - bounds[t][n])
    payload = cursor
    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isomiso2avc1mp41")

    def moov(base: int, wide: bool) -> bytes:
        chunks = [[base + r for r in rel] for rel in relative]
        duration = max([_movie(sum(reel_ticks), video.timescale)] + [
            _movie(a.units * a.samples_per_unit - a.priming, a.sample_rate) for a in audio])
        mvhd = full_box(b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, MOVIE_TIMESCALE, duration),
                        struct.pack(">IH10x", 0x10000, 0x100), MATRIX, bytes(24),
                        struct.pack(">I", 2 + len(audio)))
        traks = [_video_trak(video, 1, chunks[0], wide)]
        traks += [_audio_trak(a, n + 2, chunks[n + 1], wide) for n, a in enumerate(audio)]
        return box(b"moov", mvhd, *traks, _metadata(title))

    # The offsets' values do not change the moov's size, only stco versus co64 does.
    size = len(moov(0, False))
    wide = needs_co64(len(ftyp) + size + 16 + payload + 4096)
    if wide:
        size = len(moov(0, True))
    header = 16 if wide else 8
    movie = moov(len(ftyp) + size + header, wide)
    assert len(movie) == size
    with path.open("wb") as out:
        out.write(ftyp)
        out.write(movie)
        if wide:
            out.write(struct.pack(">I4sQ", 1, b"mdat", 16 + payload))
        else:
            out.write(struct.pack(">I4s", 8 + payload, b"mdat"))
        for n, reel in enumerate(video.reels):
            copied = 0
            with reel.data.open("rb") as source:
                while block := source.read(1 << 20):
                    copied = zlib.crc32(block, copied)
                    out.write(block)
            if reel.crc is not None and copied != reel.crc:
                raise SamplesChanged(reel.data)
            for t, track in enumerate(audio):
                out.write(memoryview(track.data)[int(bounds[t][n]):int(bounds[t][n + 1])])
        if out.tell() != len(ftyp) + size + header + payload:
            raise OSError(f"the film is {out.tell()} bytes, its tables say "
                          f"{len(ftyp) + size + header + payload}: a reel changed while read")
        return out.tell()


ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000,
              7350)


def audio_track(header: bytes, data: bytes, sizes: np.ndarray, title: str, *, priming: int,
                default: bool = False) -> AudioTrack:
    """An AudioTrack from raw AAC frames (`data`, each one's `sizes`) and the first frame's
    ADTS header, which gives the decoder config."""
    if not len(sizes):
        raise ValueError(f"the {title} track has no AAC frames")
    head = header
    profile = head[2] >> 6
    rate_index = (head[2] >> 2) & 0x0F
    channels = ((head[2] & 0x01) << 2) | (head[3] >> 6)
    config = struct.pack(">H", ((profile + 1) << 11) | (rate_index << 7) | (channels << 3))
    return AudioTrack(title, config, ADTS_RATES[rate_index], channels, data, sizes, priming,
                      default)
