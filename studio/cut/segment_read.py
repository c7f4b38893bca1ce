"""A normalized segment read back by its own sample tables, without a demuxer: its picture
samples (for the reels) and its PCM (for the sound), sliced from one read of the file.

The segment worker wrote the file (segment_encode.py, through FFmpeg's MOV muxer), so its
layout is known: a moov with one picture and at most one sound track, each described by the
ISO/IEC 14496-12 tables (stts, ctts, stss, stsc, stsz, stco/co64, elst). libavformat opens
and probes such a file in about 1.7 ms, and the build read every segment twice; its tables
read here cost a tenth of that. The bytes returned are the ones a demuxer returns (a test
compares the two), checked against the seal the worker appended: anything that does not
parse, or does not match its seal, is seal.Broken, and the segment is made again.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from studio.cut import seal
from studio.cut.seal import Broken

_HEAD = struct.Struct(">I4s")
_CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts")
_VISUAL_ENTRY = 78  # bytes of a VisualSampleEntry's fields before its child boxes (avcC)


@dataclass(frozen=True)
class Pictures:
    """A segment's H.264 samples as a demuxer reads them, checked against its seal."""

    avcc: bytes  # the decoder configuration record (the stream's extradata)
    timescale: int  # media ticks per second of the times below
    data: bytes  # the samples end to end, in decode order
    sizes: list[int]
    first_dts: int  # the first sample's decode time: minus the edit list's delay
    offsets: list[int]  # each sample's composition offset (pts - dts)
    keys: list[int]  # indices of the sync samples


@dataclass(frozen=True)
class _Track:
    kind: bytes  # the handler: b"vide" or b"soun"
    timescale: int
    media_time: int | None  # where its one edit starts in its media (None: other edits)
    boxes: dict[bytes, memoryview]  # the sample table's boxes by type (payloads)


def pictures(path: Path) -> Pictures:
    """The segment's picture samples and their tables; OSError, or Broken."""
    blob, tracks = _read(path)
    track = _one(tracks, b"vide")
    if track.media_time is None:
        raise Broken("its picture's edit list is not the one edit a segment has")
    _, sizes = _sizes(track)
    stts = _pairs(track.boxes, b"stts")
    if sum(count for count, _ in stts) != len(sizes):
        raise Broken("its picture's timing does not count its samples")
    offsets = _composition(track.boxes, len(sizes))
    keys = ([n - 1 for n in _numbers(track.boxes[b"stss"])] if b"stss" in track.boxes
            else list(range(len(sizes))))  # no sync table: every sample is a sync sample
    data = _slices(blob, track, 0, sizes)
    picture, _ = seal.box_seals(blob[-seal.BOX.size:])
    if seal.crc(data) != picture:
        raise Broken("its picture changed on disk since it was checked")
    return Pictures(_avcc(track), track.timescale, data, sizes, -track.media_time, offsets,
                    keys)


def pcm(path: Path) -> bytes:
    """The segment's sound as written: PCM s16le stereo, checked against its seal; OSError,
    or Broken."""
    blob, tracks = _read(path)
    track = _one(tracks, b"soun")
    data = _slices(blob, track, *_sizes(track))
    _, sound = seal.box_seals(blob[-seal.BOX.size:])
    if seal.crc(data) != sound:
        raise Broken("its sound changed on disk since it was made")
    return data


def _read(path: Path) -> tuple[bytes, list[_Track]]:
    blob = path.read_bytes()
    moov = next((view for kind, view in _boxes(memoryview(blob)) if kind == b"moov"), None)
    if moov is None:
        raise Broken("it holds no movie box")
    return blob, [_track(view) for kind, view in _boxes(moov) if kind == b"trak"]


def _boxes(data: memoryview) -> Iterator[tuple[bytes, memoryview]]:
    """The boxes laid end to end in `data`: each one's type and payload."""
    at, end = 0, len(data)
    while at < end:
        if at + _HEAD.size > end:
            raise Broken("a box is cut short")
        size, kind = _HEAD.unpack_from(data, at)
        head = _HEAD.size
        if size == 1:  # a 64-bit size follows the type
            if at + 16 > end:
                raise Broken("a box is cut short")
            size, head = struct.unpack_from(">Q", data, at + 8)[0], 16
        elif size == 0:  # the last box runs to the end
            size = end - at
        if size < head or at + size > end:
            raise Broken("a box runs past its parent")
        yield bytes(kind), data[at + head:at + size]
        at += size


def _track(trak: memoryview) -> _Track:
    kind = b""
    timescale = 0
    media_time: int | None = 0  # no edit list: the media starts the presentation
    boxes: dict[bytes, memoryview] = {}
    for name, payload in _walk(trak):
        if name == b"hdlr" and payload[4:8] != b"dhlr":  # the media's, not MOV's data handler
            kind = bytes(payload[8:12])
        elif name == b"mdhd":
            timescale = struct.unpack_from(">I", payload, 20 if payload[0] == 1 else 12)[0]
        elif name == b"elst":
            media_time = _media_time(payload)
        else:
            boxes[name] = payload
    if not timescale or not {b"stsd", b"stts", b"stsc", b"stsz"} <= boxes.keys() or not (
            b"stco" in boxes or b"co64" in boxes):
        raise Broken("a track's sample tables are incomplete")
    return _Track(kind, timescale, media_time, boxes)


def _walk(box: memoryview) -> Iterator[tuple[bytes, memoryview]]:
    """Every box under `box`, depth first, containers opened."""
    for kind, payload in _boxes(box):
        if kind in _CONTAINERS:
            yield from _walk(payload)
        else:
            yield kind, payload


def _media_time(elst: memoryview) -> int | None:
    """Where the track's one edit starts in its media (FFmpeg writes one for a segment's
    picture: the decode delay); None for any other edit list."""
    version = elst[0]
    if struct.unpack_from(">I", elst, 4)[0] != 1:
        return None
    return struct.unpack_from(">q" if version == 1 else ">i", elst, 16 if version == 1 else 12)[0]


def _one(tracks: list[_Track], kind: bytes) -> _Track:
    found = [t for t in tracks if t.kind == kind]
    if len(found) != 1:
        raise Broken(f"it holds {len(found)} {'picture' if kind == b'vide' else 'sound'} "
                     f"tracks, not one")
    return found[0]


def _numbers(payload: memoryview, start: int = 4, width: int = 1) -> tuple[int, ...]:
    """A table's 32-bit numbers after its count of entries (at `start`), `width` each."""
    count = struct.unpack_from(">I", payload, start)[0] * width
    if start + 4 + 4 * count > len(payload):
        raise Broken("a table runs past its box")
    return struct.unpack_from(f">{count}I", payload, start + 4)


def _pairs(boxes: dict[bytes, memoryview], name: bytes) -> list[tuple[int, int]]:
    flat = _numbers(boxes[name], width=2) if name != b"ctts" else _signed_pairs(boxes[name])
    return list(zip(flat[::2], flat[1::2], strict=True))


def _signed_pairs(ctts: memoryview) -> tuple[int, ...]:
    """ctts's (count, offset) entries; version 1 offsets are signed."""
    count = struct.unpack_from(">I", ctts, 4)[0]
    if 8 + 8 * count > len(ctts):
        raise Broken("a table runs past its box")
    return struct.unpack_from(">" + ("Ii" if ctts[0] == 1 else "II") * count, ctts, 8)


def _sizes(track: _Track) -> tuple[int, list[int]]:
    """The track's sample size when all are alike (PCM), else 0, and each sample's size."""
    stsz = track.boxes[b"stsz"]
    size, count = struct.unpack_from(">II", stsz, 4)
    if size:
        return size, [size] * count
    sizes = list(_numbers(stsz, 8))
    if len(sizes) != count:
        raise Broken("its sample sizes do not count its samples")
    return 0, sizes


def _composition(boxes: dict[bytes, memoryview], samples: int) -> list[int]:
    """Each sample's composition offset (all zero without a ctts)."""
    if b"ctts" not in boxes:
        return [0] * samples
    offsets: list[int] = []
    for count, offset in _pairs(boxes, b"ctts"):
        offsets += [offset] * count
    if len(offsets) != samples:
        raise Broken("its composition offsets do not count its samples")
    return offsets


def _slices(blob: bytes, track: _Track, size: int, sizes: list[int]) -> bytes:
    """The track's samples end to end: each chunk's from its offset (stsc says how many);
    `size` when every sample has that size (PCM: no sum over thousands of samples)."""
    if b"co64" in track.boxes:
        count = struct.unpack_from(">I", track.boxes[b"co64"], 4)[0]
        starts: tuple[int, ...] = struct.unpack_from(f">{count}Q", track.boxes[b"co64"], 8)
    else:
        starts = _numbers(track.boxes[b"stco"])
    runs = _numbers(track.boxes[b"stsc"], width=3)  # (first chunk, samples per chunk, description)
    parts: list[bytes] = []
    sample = 0
    for r in range(0, len(runs) - 2, 3):
        first, per_chunk = runs[r], runs[r + 1]
        last = runs[r + 3] if r + 3 < len(runs) else len(starts) + 1
        for chunk in range(first, last):
            if not 1 <= chunk <= len(starts):
                raise Broken("its chunk table does not match its chunks")
            length = per_chunk * size if size else sum(sizes[sample:sample + per_chunk])
            at = starts[chunk - 1]
            if at + length > len(blob):
                raise Broken("a chunk runs past the end of the file")
            parts.append(blob[at:at + length])
            sample += per_chunk
    if sample != len(sizes):
        raise Broken("its chunks do not hold its samples")
    return b"".join(parts)


def _avcc(track: _Track) -> bytes:
    """The avcC record of the track's one sample description (an avc1 entry)."""
    entries = list(_boxes(track.boxes[b"stsd"][8:]))
    if len(entries) != 1 or entries[0][0] != b"avc1":
        raise Broken("its picture is not described as H.264")
    found = [bytes(view) for kind, view in _boxes(entries[0][1][_VISUAL_ENTRY:])
             if kind == b"avcC"]
    if len(found) != 1:
        raise Broken("its picture carries no decoder configuration")
    return found[0]
