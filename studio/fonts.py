"""Text set in whichever installed font has each character's glyph: a fallback chain.

DejaVu Sans sets Latin, Greek, Cyrillic, Hebrew and Arabic letters; Noto Sans CJK (Debian's
fonts-noto-cjk, installed by the Makefile and the Dockerfile) sets Chinese, Japanese and Korean.
A character goes to the first font of the chain whose glyph for it is not the .notdef box, so a
line mixing scripts is drawn in runs, one font each, on one baseline. Without a CJK font the
chain still works (Latin text is unchanged) and a warning says which package to install.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# (file name, face index) in the order tried; Pillow finds a bare name in the system's font
# folders. Face 2 of Noto's collection is its Simplified Chinese face (the same glyph set as
# the JP, KR, TC and HK faces, with Chinese forms of the shared ideographs).
CANDIDATES: tuple[tuple[str, int], ...] = (
    ("DejaVuSans.ttf", 0),
    ("NotoSansCJK-Regular.ttc", 2),  # Debian, Ubuntu: fonts-noto-cjk
    ("NotoSansCJKsc-Regular.otf", 0),  # Fedora, Arch: the SC face alone
    ("NotoSansSC-Regular.otf", 0),
)
CJK_PROBE = "中"  # a font that has this has the CJK ideographs
_MISSING = "\U0010fffd"  # a private-use code point no font maps: it draws the .notdef glyph
_PROBE_SIZE = 24
# Punctuation that must not begin a line (CJK line-breaking rules, "kinsoku").
_NO_LINE_START = set("，。、；：？！）」』】〉》”’・ー…,.;:?!)]}%")


@dataclass(frozen=True)
class Face:
    path: str
    index: int


@functools.cache
def faces() -> tuple[Face, ...]:
    """The installed fonts of the chain, found once; warns when none sets CJK."""
    found: list[Face] = []
    for name, index in CANDIDATES:
        try:
            font = ImageFont.truetype(name, _PROBE_SIZE, index=index)
        except OSError:
            continue
        face = Face(str(font.path), index)
        if face not in found:
            found.append(face)
    if not any(covers(_load(face, _PROBE_SIZE), CJK_PROBE) for face in found):
        log.warning("no installed font sets Chinese, Japanese or Korean: such text is drawn as "
                    "boxes on slates, credits and captions (install Debian's fonts-noto-cjk)")
    return tuple(found)


def signature() -> str:
    """What the text is set in (for cache keys: a card drawn with other fonts is another card)."""
    return ";".join(f"{Path(f.path).name}#{f.index}" for f in faces()) or "Pillow's own font"


@functools.cache
def _load(face: Face, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(face.path, size, index=face.index)


@functools.cache
def chain(size: int) -> tuple[Font, ...]:
    """The chain's fonts at `size` pixels, Pillow's own font last (it is always there)."""
    size = max(6, size)
    return (*(_load(face, size) for face in faces()), ImageFont.load_default(size=size))


@functools.cache
def _notdef(font: Font) -> tuple[tuple[int, ...], bytes]:
    return _ink(font, _MISSING)


def _ink(font: Font, text: str) -> tuple[tuple[int, ...], bytes]:
    """The pixels `text` draws in `font`: where its ink lies and the ink itself."""
    box = font.getbbox(text)
    image = Image.new("L", (max(1, int(box[2] - box[0])), max(1, int(box[3] - box[1]))))
    ImageDraw.Draw(image).text((-box[0], -box[1]), text, font=font, fill=255)
    return tuple(int(v) for v in box), image.tobytes()


@functools.cache
def covers(font: Font, char: str) -> bool:
    """Whether `font` has a glyph for `char`: it draws something other than its .notdef box."""
    if _invisible(char):
        return True
    return _ink(font, char) != _notdef(font)


def _invisible(char: str) -> bool:
    # Spaces, controls and combining marks draw with whatever font the text around them has.
    return unicodedata.category(char)[0] in "ZCM"


@functools.cache
def _probe(font_index: int, char: str) -> bool:
    return covers(chain(_PROBE_SIZE)[font_index], char)


def font_for(char: str, size: int) -> Font:
    """The first font of the chain that has `char` (the first font if none has it)."""
    fonts = chain(size)
    for k in range(len(fonts)):
        if _probe(k, char):  # coverage does not depend on size: tested once, at one size
            return fonts[k]
    return fonts[0]


def runs(text: str, size: int) -> list[tuple[str, Font]]:
    """`text` cut where its font changes: (piece, font) in reading order."""
    found: list[tuple[str, Font]] = []
    for char in text:
        if found and (_invisible(char) or font_for(char, size) is found[-1][1]):
            found[-1] = (found[-1][0] + char, found[-1][1])
        else:
            found.append((char, font_for(char, size)))
    return found


def width(text: str, size: int) -> float:
    """How wide `text` is set at `size`, in pixels."""
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    return sum(probe.textlength(piece, font=font) for piece, font in runs(text, size))


def ascent(size: int) -> int:
    font = chain(size)[0]
    return font.getmetrics()[0] if isinstance(font, ImageFont.FreeTypeFont) else size


def draw_text(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int,
              fill: tuple[int, ...]) -> None:
    """Draw `text` with its top-left at `xy` (as ImageDraw.text), each run in its own font, all
    on the first font's baseline."""
    x, y = xy
    baseline = y + ascent(size)
    for piece, font in runs(text, size):
        draw.text((x, baseline), piece, font=font, fill=fill, anchor="ls")
        x += draw.textlength(piece, font=font)


def _wide(char: str) -> bool:
    # Chinese, Japanese and Korean are written without spaces: a line may break between any two.
    return unicodedata.east_asian_width(char) in "WF"


def _tokens(text: str) -> list[tuple[str, bool]]:
    """(token, space before it): a word of spaced scripts, or one wide character."""
    found: list[tuple[str, bool]] = []
    for k, word in enumerate(text.split()):
        spaced = k > 0
        piece = ""
        for char in word:
            if _wide(char) or (char in _NO_LINE_START and found and not piece):
                if piece:
                    found.append((piece, spaced))
                    spaced, piece = False, ""
                found.append((char, spaced))
                spaced = False
            else:
                piece += char
        if piece:
            found.append((piece, spaced))
    return found


def wrap(text: str, size: int, limit: float, max_lines: int | None = None) -> list[str]:
    """`text` in lines no wider than `limit` pixels at `size`: breaks at spaces, and between any
    two CJK characters; a word too long for a line is cut; past `max_lines` the last ends in …."""
    lines: list[str] = []
    for token, spaced in _tokens(text):
        joined = f"{lines[-1]}{' ' if spaced else ''}{token}" if lines else token
        if lines and (width(joined, size) <= limit or token in _NO_LINE_START):
            lines[-1] = joined
            continue
        while width(token, size) > limit and len(token) > 1:  # cut a word wider than a line
            cut = max(1, next((n for n in range(len(token), 0, -1)
                               if width(token[:n], size) <= limit), 1))
            lines.append(token[:cut])
            token = token[cut:]
        lines.append(token)
    lines = lines or [""]
    if max_lines is not None and len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and width(f"{last} …", size) > limit:
            last = last[:-1]
        lines = [*lines[:max_lines - 1], f"{last.rstrip()} …"]
    return lines
