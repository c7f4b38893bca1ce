"""Cards drawn with Pillow: a slate where a shot has no usable take, and the end credits."""

from __future__ import annotations

import functools
import hashlib
import json
import textwrap
from pathlib import Path

import PIL
from PIL import Image, ImageDraw, ImageFont

from studio.cut.timeline import Entry, Profile

# Bump when a card's drawing changes: the cards' cached segments then stop matching.
RECIPE = "1"
BACKGROUND = (18, 18, 24)
INK = (235, 235, 235)
DIM = (150, 150, 160)
WARN = (240, 180, 60)


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # DejaVu covers far more of the world's scripts than Pillow's built-in font, when installed.
    try:
        return ImageFont.truetype("DejaVuSans.ttf", max(8, size))
    except OSError:
        return ImageFont.load_default(size=max(8, size))


def slate_key(entry: Entry, profile: Profile) -> str:
    """What a slate shows, hashed: its segment is found by this without drawing it."""
    return _key("slate", entry.code, entry.chapter_number, entry.chapter_title,
                entry.description, entry.owner, entry.reason, profile.width, profile.height)


def credits_key(lines: list[tuple[str, str]], profile: Profile) -> str:
    """What an end-credits card shows, hashed (as slate_key)."""
    return _key("credits", lines, profile.width, profile.height)


def _key(*shown: object) -> str:
    font = getattr(_font(12), "path", None) or "Pillow's own font"  # what the text is set in
    text = json.dumps([RECIPE, PIL.__version__, str(font), *shown])
    return hashlib.sha256(text.encode()).hexdigest()


def _save(image: Image.Image, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def render_slate(entry: Entry, profile: Profile, path: Path) -> Path:
    """Chapter and shot, description, owner and why no take stands here."""
    w, h = profile.width, profile.height
    image = Image.new("RGB", (w, h), BACKGROUND)
    draw = ImageDraw.Draw(image)
    unit = max(8, h // 18)
    margin = w // 20
    y = margin
    draw.text((margin, y), f"SHOT {entry.code}", font=_font(unit * 2), fill=INK)
    y += unit * 3
    draw.text((margin, y), f"Chapter {entry.chapter_number}: {entry.chapter_title}"[:80],
              font=_font(unit), fill=DIM)
    y += int(unit * 1.6)
    width_chars = max(20, int((w - 2 * margin) / (unit * 0.55)))
    for line in textwrap.wrap(entry.description, width_chars, max_lines=4, placeholder=" …"):
        draw.text((margin, y), line, font=_font(unit), fill=INK)
        y += int(unit * 1.3)
    y = h - margin - unit * 3
    draw.text((margin, y), f"owner: {entry.owner or '(open)'}", font=_font(unit), fill=DIM)
    draw.text((margin, y + int(unit * 1.5)), (entry.reason or "not yet approved").upper()[:90],
              font=_font(unit), fill=WARN)
    return _save(image, path)


def render_credits(lines: list[tuple[str, str]], profile: Profile, path: Path) -> Path:
    """One end-credits card: the title centred, then each role (a chapter, "Made with") on the
    left of the centre line and who made it on the right, wrapped to the card."""
    w, h = profile.width, profile.height
    image = Image.new("RGB", (w, h), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    gap, margin = max(4, w // 60), max(4, w // 20)
    unit = max(7, h // 20)
    while True:  # the largest type at which every line fits the card
        font, title = _font(unit), _font(int(unit * 1.5))
        rows = [(role, _wrap(draw, names, font if role else title,
                             w / 2 - gap - margin if role else w - 2 * margin))
                for role, names in lines]
        height = sum(_row(unit, role) * len(names) for role, names in rows)
        widest = max((draw.textlength(role, font=font) for role, _ in rows), default=0)
        if unit <= 7 or (height <= h - 2 * margin and widest <= w / 2 - gap - margin):
            break
        unit -= 1
    y = (h - height) // 2
    for role, names in rows:
        for k, text in enumerate(names):
            if not role:
                draw.text(((w - draw.textlength(text, font=title)) / 2, y), text, font=title,
                          fill=INK)
            else:
                if k == 0:
                    at = w / 2 - gap - draw.textlength(role, font=font)
                    draw.text((at, y), role, font=font, fill=DIM)
                draw.text((w / 2 + gap, y), text, font=font, fill=INK)
            y += _row(unit, role)
    return _save(image, path)


def _row(unit: int, role: str) -> int:
    """The height of a credits row at type size `unit`: a role's, or the title's."""
    return int(unit * (1.5 if role else 2.2))


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
          width: float) -> list[str]:
    """`text` in lines no wider than `width` at `font` (a word longer than that stands alone)."""
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]
