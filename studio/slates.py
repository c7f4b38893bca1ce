"""Cards drawn with Pillow: a slate where a shot has no usable take, and the end credits."""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from studio.timeline import Entry, Profile

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
    for line in textwrap.wrap(entry.description, width_chars)[:4]:
        draw.text((margin, y), line, font=_font(unit), fill=INK)
        y += int(unit * 1.3)
    y = h - margin - unit * 3
    draw.text((margin, y), f"owner: {entry.owner or '(open)'}", font=_font(unit), fill=DIM)
    draw.text((margin, y + int(unit * 1.5)), (entry.reason or "not yet approved").upper()[:90],
              font=_font(unit), fill=WARN)
    return _save(image, path)


def render_credits(lines: list[tuple[str, str]], profile: Profile, path: Path) -> Path:
    """The end credits card: the title, each chapter and its maker, the tools used."""
    w, h = profile.width, profile.height
    image = Image.new("RGB", (w, h), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    rows = max(1, len(lines))
    unit = max(7, min(h // 16, int(h * 0.8 / (rows * 1.4))))
    y = (h - int(rows * unit * 1.4)) // 2
    for role, names in lines:
        text = f"{role} - {names}" if role else names
        font = _font(unit if role else int(unit * 1.4))
        box = draw.textbbox((0, 0), text, font=font)
        draw.text(((w - (box[2] - box[0])) // 2, y), text, font=font, fill=INK)
        y += int(unit * 1.4)
    return _save(image, path)
