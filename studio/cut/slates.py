"""Cards drawn with Pillow: a slate where a shot has no usable take, and the end credits."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import PIL
from PIL import Image, ImageDraw

from studio import fonts
from studio.cut.timeline import Entry, Profile

# Bump when a card's drawing changes: the cards' cached segments then stop matching.
RECIPE = "2"  # 2: each character set in a font that has it (studio/fonts.py)
BACKGROUND = (18, 18, 24)
INK = (235, 235, 235)
DIM = (150, 150, 160)
WARN = (240, 180, 60)


def slate_key(entry: Entry, profile: Profile) -> str:
    """What a slate shows, hashed: its segment is found by this without drawing it."""
    return _key("slate", entry.code, entry.chapter_number, entry.chapter_title,
                entry.description, entry.owner, entry.reason, profile.width, profile.height)


def credits_key(lines: list[tuple[str, str]], profile: Profile) -> str:
    """What an end-credits card shows, hashed (as slate_key)."""
    return _key("credits", lines, profile.width, profile.height)


def _key(*shown: object) -> str:
    text = json.dumps([RECIPE, PIL.__version__, fonts.signature(), *shown])
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
    fonts.draw_text(draw, (margin, y), f"SHOT {entry.code}", unit * 2, INK)
    y += unit * 3
    chapter = fonts.wrap(f"Chapter {entry.chapter_number}: {entry.chapter_title}", unit,
                         w - 2 * margin, max_lines=1)[0]
    fonts.draw_text(draw, (margin, y), chapter, unit, DIM)
    y += int(unit * 1.6)
    for line in fonts.wrap(entry.description, unit, w - 2 * margin, max_lines=4):
        fonts.draw_text(draw, (margin, y), line, unit, INK)
        y += int(unit * 1.3)
    y = h - margin - unit * 3
    owner = fonts.wrap(f"owner: {entry.owner or '(open)'}", unit, w - 2 * margin, max_lines=1)[0]
    fonts.draw_text(draw, (margin, y), owner, unit, DIM)
    reason = fonts.wrap((entry.reason or "not yet approved").upper(), unit, w - 2 * margin,
                        max_lines=1)[0]
    fonts.draw_text(draw, (margin, y + int(unit * 1.5)), reason, unit, WARN)
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
        title = int(unit * 1.5)
        rows = [(role, fonts.wrap(names, unit if role else title,
                                  w / 2 - gap - margin if role else w - 2 * margin))
                for role, names in lines]
        height = sum(_row(unit, role) * len(names) for role, names in rows)
        widest = max((fonts.width(role, unit) for role, _ in rows), default=0)
        if unit <= 7 or (height <= h - 2 * margin and widest <= w / 2 - gap - margin):
            break
        unit -= 1
    y = (h - height) // 2
    for role, names in rows:
        for k, text in enumerate(names):
            if not role:
                fonts.draw_text(draw, ((w - fonts.width(text, title)) / 2, y), text, title, INK)
            else:
                if k == 0:
                    at = w / 2 - gap - fonts.width(role, unit)
                    fonts.draw_text(draw, (at, y), role, unit, DIM)
                fonts.draw_text(draw, (w / 2 + gap, y), text, unit, INK)
            y += _row(unit, role)
    return _save(image, path)


def _row(unit: int, role: str) -> int:
    """The height of a credits row at type size `unit`: a role's, or the title's."""
    return int(unit * (1.5 if role else 2.2))

