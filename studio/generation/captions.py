"""A caption as a transparent overlay laid over the finished picture, so it stands still while the
camera moves, inside the title-safe area (the inner 80 % of width and height, broadcast's
convention for text: the action-safe 90 % minus a margin), wrapped to fit, in any script."""

from __future__ import annotations

from PIL import Image, ImageDraw

from studio import fonts

TITLE_SAFE = 0.8  # of the width and of the height
MAX_LINES = 3
INK = (240, 240, 240, 255)
BAND = (0, 0, 0, 170)


def title_safe(width: int, height: int) -> tuple[int, int, int, int]:
    """The title-safe box (left, top, right, bottom) of a width × height picture."""
    dx, dy = round(width * (1 - TITLE_SAFE) / 2), round(height * (1 - TITLE_SAFE) / 2)
    return dx, dy, width - dx, height - dy


def caption_overlay(text: str, width: int, height: int) -> Image.Image:
    """`text` centred at the foot of the title-safe box, on a dark band, at most three lines."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    text = " ".join(text.split())
    if not text:
        return image
    left, top, right, bottom = title_safe(width, height)
    size = max(8, height // 16)
    pad = max(2, size // 4)
    lines = fonts.wrap(text, size, right - left - 2 * pad, max_lines=MAX_LINES)
    step = round(size * 1.3)
    band_top = max(top, bottom - step * len(lines) - 2 * pad)
    widest = max(fonts.width(line, size) for line in lines)
    band_left = max(left, round((width - widest) / 2) - pad)
    draw = ImageDraw.Draw(image)
    draw.rectangle((band_left, band_top, width - band_left - 1, bottom - 1), fill=BAND)
    for k, line in enumerate(lines):
        x = (width - fonts.width(line, size)) / 2
        fonts.draw_text(draw, (x, band_top + pad + k * step), line, size, INK)
    return image
