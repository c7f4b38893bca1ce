"""H.264 in the two byte formats a segment meets: libx264 gives Annex B (NAL units after start
codes), an MP4/MOV file holds them length-prefixed with an avcC record (ISO/IEC 14496-15).

The segment worker converts its packets itself, so the muxer writes them as they are (it
reformats only Annex B): the bytes it seals and decode-checks are the bytes in the file.
"""

from __future__ import annotations

START = b"\x00\x00\x01"
IDR = 5  # nal_unit_type of an IDR picture's slices: nothing before it is referenced
SPS, PPS, SPS_EXT = 7, 8, 13
# Profiles whose avcC carries chroma format and bit depths (as FFmpeg's ff_isom_write_avcc).
_PLAIN_PROFILES = (66, 77, 88)
# Profiles whose SPS spells chroma_format_idc and bit depths (H.264 7.3.2.1.1).
_HIGH_SPS = (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135)


def nal_units(annex_b: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream, without start codes or zero padding (a NAL
    unit never ends with a zero byte, H.264 7.4.1: trailing zeros belong to the next start)."""
    units: list[bytes] = []
    at = annex_b.find(START)
    while at >= 0:
        begin = at + len(START)
        at = annex_b.find(START, begin)
        unit = annex_b[begin:at if at >= 0 else len(annex_b)].rstrip(b"\x00")
        if unit:
            units.append(unit)
    return units


def length_prefixed(annex_b: bytes) -> bytes:
    """An Annex B access unit as an MP4 sample: each NAL unit after its 4-byte size."""
    return b"".join(len(unit).to_bytes(4, "big") + unit for unit in nal_units(annex_b))


def sample_nal_types(sample: bytes) -> list[int]:
    """The nal_unit_type of each NAL unit of a length-prefixed sample."""
    types, at = [], 0
    while at + 4 < len(sample):
        size = int.from_bytes(sample[at:at + 4], "big")
        types.append(sample[at + 4] & 0x1F)
        at += 4 + size
    return types


def avcc_record(annex_b_headers: bytes) -> bytes:
    """The avcC record (AVCDecoderConfigurationRecord) for an encoder's Annex B SPS and PPS,
    4-byte NAL sizes, laid out as FFmpeg's MOV muxer lays it out from the same headers."""
    units = nal_units(annex_b_headers)
    sps = [u for u in units if u[0] & 0x1F == SPS]
    pps = [u for u in units if u[0] & 0x1F == PPS]
    ext = [u for u in units if u[0] & 0x1F == SPS_EXT]
    if not sps or not pps or len(sps) > 31 or len(pps) > 255:
        raise ValueError("the encoder's headers hold no usable SPS and PPS")
    first = sps[0]
    record = bytearray([1, first[1], first[2], first[3], 0xFF, 0xE0 | len(sps)])
    for unit in sps:
        record += len(unit).to_bytes(2, "big") + unit
    record.append(len(pps))
    for unit in pps:
        record += len(unit).to_bytes(2, "big") + unit
    if first[1] not in _PLAIN_PROFILES:
        chroma, luma_depth, chroma_depth = _formats(first)
        record += bytes([0xFC | chroma, 0xF8 | luma_depth, 0xF8 | chroma_depth, len(ext)])
        for unit in ext:
            record += len(unit).to_bytes(2, "big") + unit
    return bytes(record)


def _formats(sps: bytes) -> tuple[int, int, int]:
    """chroma_format_idc, bit_depth_luma_minus8 and bit_depth_chroma_minus8 of an SPS."""
    bits = _Bits(_unescaped(sps[1:]))
    profile = bits.read(8)
    bits.read(16)  # constraint flags, level_idc
    bits.golomb()  # seq_parameter_set_id
    if profile not in _HIGH_SPS:
        return 1, 0, 0  # 4:2:0, 8 bits: what every other profile implies
    chroma = bits.golomb()
    if chroma == 3:
        bits.read(1)  # separate_colour_plane_flag
    return chroma, bits.golomb(), bits.golomb()


def _unescaped(rbsp: bytes) -> bytes:
    """A NAL unit's payload without its emulation prevention bytes (00 00 03 -> 00 00)."""
    return rbsp.replace(b"\x00\x00\x03", b"\x00\x00")


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.value, self.left = int.from_bytes(data, "big"), len(data) * 8

    def read(self, count: int) -> int:
        if count > self.left:
            raise ValueError("the SPS ends early")
        self.left -= count
        return (self.value >> self.left) & ((1 << count) - 1)

    def golomb(self) -> int:
        zeros = 0
        while self.read(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.read(zeros)
