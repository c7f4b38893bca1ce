"""Every script is drawn: slates and credits set Chinese, Korean, Japanese and Cyrillic as glyphs,
not as the .notdef boxes of a Latin-only font; characters may be named in any script."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from storage.productions import Production
from studio import fonts
from studio.app import Studio
from studio.cut import slates
from studio.cut.timeline import Entry, Profile
from studio.errors import InvalidInput
from studio.production import characters
from studio.production.people import Actor

PROFILE = Profile(320, 180, Fraction(24), 48000)
MISSING = "\U0010fffd"  # mapped by no font: drawn as the .notdef box
# The box glyphs a character could wrongly be drawn as: every font the system could pick.
FONT_FILES = [("DejaVuSans.ttf", 0), *[("NotoSansCJK-Regular.ttc", k) for k in range(5)]]


def slate(tmp_path: Path, description: str) -> np.ndarray:
    entry = Entry(kind="slate", code="1.1", chapter_number=1, chapter_title="Dawn", shot_number=1,
                  description=description, owner="Maya", frames=24, start_frame=0,
                  planned_duration=1.0)
    name = "-".join(str(ord(c)) for c in description[:8])
    path = slates.render_slate(entry, PROFILE, tmp_path / f"slate{len(description)}-{name}.png")
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.int16)


def ink(drawn: np.ndarray, blank: np.ndarray) -> np.ndarray:
    """What the text added to a blank card: a 0/1 mask cropped to its ink."""
    mask = np.abs(drawn - blank) > 40
    rows, cols = np.nonzero(mask)
    assert rows.size, "nothing was drawn"
    return mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def box_glyphs(size: int) -> list[np.ndarray]:
    """Each installed font's .notdef box at `size`, drawn the same way and cropped alike."""
    found = [ImageFont.load_default(size=size)]
    for name, index in FONT_FILES:
        try:
            found.append(ImageFont.truetype(name, size, index=index))
        except OSError:
            continue
    boxes = []
    for font in found:
        image = Image.new("L", (size * 3, size * 3))
        ImageDraw.Draw(image).text((size, size), MISSING, font=font, fill=255)
        boxes.append(ink(np.asarray(image, dtype=np.int16), np.zeros((size * 3, size * 3))))
    return boxes


def is_box(glyph: np.ndarray, boxes: list[np.ndarray]) -> bool:
    return any(glyph.shape == box.shape and (glyph == box).mean() > 0.95 for box in boxes)


@pytest.mark.parametrize("description", [
    "莎拉在海边等待日出",  # Chinese
    "사라가 해변에서",  # Korean
    "サラは浜辺で",  # Japanese kana
    "Сара ждёт рассвета",  # Cyrillic
])
def test_a_slate_draws_each_character_as_a_glyph_not_a_box(tmp_path: Path,
                                                            description: str) -> None:
    blank = slate(tmp_path, "")
    unit = max(8, PROFILE.height // 18)  # the description's type size on a slate
    boxes = box_glyphs(unit)
    # The test's own box drawing is right: a character no font has is found to be a box.
    assert is_box(ink(slate(tmp_path, MISSING), blank), boxes)
    glyphs = {}
    for char in set(description) - {" "}:
        glyph = ink(slate(tmp_path, char), blank)
        assert not is_box(glyph, boxes), f"{char!r} is drawn as an empty box"
        glyphs[char] = glyph.tobytes() + bytes(glyph.shape)
    # Different letters look different: boxes would all look alike.
    assert len(set(glyphs.values())) == len(glyphs)


def test_credits_set_chinese_names_as_distinct_glyphs(tmp_path: Path) -> None:
    def card(name: str) -> bytes:
        path = slates.render_credits([("", "片尾字幕"), ("第一章 黎明", name)], PROFILE,
                                     tmp_path / f"{name}.png")
        return Path(path).read_bytes()

    # Boxes for both names would make the two cards the same picture.
    assert card("莎拉") != card("海风") != card(MISSING * 2)


def test_a_long_chinese_description_wraps_inside_the_slate(tmp_path: Path) -> None:
    drawn = slate(tmp_path, "莎拉站在灯塔下面看着远处的渔船慢慢靠岸，风越来越大，天色也暗了下来")
    blank = slate(tmp_path, "")
    cols = np.nonzero((np.abs(drawn - blank) > 40).any(axis=0))[0]
    # Chinese has no spaces to break at: it is still wrapped, nothing runs off the card.
    assert cols.max() < PROFILE.width - PROFILE.width // 20 + 2


def test_without_a_cjk_font_the_slate_still_draws_and_a_warning_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def reset() -> None:
        for cached in (fonts.faces, fonts.chain, fonts._probe, fonts._load):
            cached.cache_clear()

    monkeypatch.setattr(fonts, "CANDIDATES", (("DejaVuSans.ttf", 0),))
    reset()
    try:
        with caplog.at_level(logging.WARNING, logger="studio.fonts"):
            latin = slate(tmp_path, "Dawn at the pier")
        assert "fonts-noto-cjk" in caplog.text
        assert latin.shape == (180, 320)
    finally:
        monkeypatch.undo()
        reset()


async def test_characters_are_named_in_any_script_and_found_inside_chinese_prompts(
        studio: Studio, sample: Production, producer: Actor) -> None:
    who = producer
    await characters.add(studio, sample, who, "@莎拉", trigger_words="红衣女子")
    await characters.add(studio, sample, who, "Жанна")
    expanded = await characters.expand(studio, sample, "@莎拉走进房间，@Жанна 在等她",
                                       supports_lora=False)
    assert expanded.prompt == "莎拉 (红衣女子)走进房间，Жанна 在等她"
    assert expanded.names == ["莎拉", "Жанна"]
    with pytest.raises(InvalidInput, match="@玛丽"):
        await characters.expand(studio, sample, "@玛丽在哪里", supports_lora=False)
    with pytest.raises(InvalidInput, match="letter"):
        await characters.add(studio, sample, who, "9号")

