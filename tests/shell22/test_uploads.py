"""Issue 22 items 9, 10 and 12: an upload is checked whole before anything is stored, and a
refusal names the limit or the damage, in one line, in the shell and in Discord alike."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from studio.generation.takes import takes_of
from studio.media import ffmpeg_exe
from studio.production import board
from tests import media_kit
from tests.fakes.discord import Attachment
from tests.fakes.discord.fixtures import Stage
from tests.shell22.helpers import ROOT, one_line, shell

PIXELS = "the limit is 50 megapixels (SLATE_UPLOAD_MAX_PIXELS)"


@pytest.fixture
def made(tmp_path: Path) -> Path:
    assert shell(tmp_path, "init").returncode == 0
    imported = shell(tmp_path, "import-shots", str(ROOT / "examples" / "low_tide.csv"))
    assert imported.returncode == 0, imported.stderr
    return tmp_path


def _nothing_stored(made: Path, shot: str = "1.1") -> None:
    media = made / "data" / "media"
    assert not media.exists() or not [p for p in media.rglob("*") if p.is_file()]
    line = next(x for x in shell(made, "chapter", shot.split(".")[0]).stdout.splitlines()
                if x.strip().startswith(f"{shot} "))
    assert " todo " in line, line  # the shot did not move to needs_review


def test_a_huge_image_is_refused_by_its_pixels_before_anything_is_stored(made: Path) -> None:
    big = media_kit.huge_png(made / "big.png", 16000, 16000)
    for _ in range(2):  # a retry is refused the same way: nothing was half-added
        assert one_line(shell(made, "take", "add", "--shot", "1.1", str(big)), 1) == \
            f"slate: the picture is 16000x16000 px, 256.0 megapixels; {PIXELS}"
    _nothing_stored(made)
    wider = media_kit.huge_png(made / "wider.png", 20000, 1000)  # FFmpeg reads it as 0x0
    assert one_line(shell(made, "take", "add", "--shot", "1.1", str(wider)), 1) == \
        "slate: the picture is 20000x1000 px; each side may be at most 16384 px"
    good = media_kit.image(made / "good.png")
    added = shell(made, "take", "add", "--shot", "1.1", str(good))
    assert added.returncode == 0 and "shot 1.1 revision 1 (image)" in added.stdout


def test_a_take_that_fails_after_storing_is_taken_back(made: Path) -> None:
    # JPEG-LS: FFmpeg decodes it, so it passes the checks; Pillow cannot make its thumbnail.
    odd = made / "frame.jls"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=64x36", "-frames:v", "1", "-c:v", "jpegls", str(odd)],
                   check=True)
    assert one_line(shell(made, "take", "add", "--shot", "1.1", str(odd)), 1) == \
        "slate: the take could not be prepared for showing (UnidentifiedImageError); " \
        "nothing was added"
    _nothing_stored(made)
    good = media_kit.image(made / "good.png")
    added = shell(made, "take", "add", "--shot", "1.1", str(good))
    assert "shot 1.1 revision 1 (image)" in added.stdout, added.stderr


def test_a_cut_off_mp4_is_refused_at_upload(made: Path) -> None:
    whole = made / "whole.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=320x180:rate=24:duration=4", "-c:v", "libx264", "-pix_fmt",
                    "yuv420p", "-movflags", "+faststart", str(whole)], check=True)
    cut_off = made / "cut-off.mp4"
    cut_off.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    line = one_line(shell(made, "take", "add", "--shot", "1.1", str(cut_off)), 1)
    assert line == "slate: the file is cut off: it stops at 1.1 s of the 4.0 s its header " \
        "promises"
    _nothing_stored(made)


def test_a_long_raw_h264_is_refused_by_the_duration_limit(made: Path) -> None:
    raw = made / "long.h264"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=64x36:rate=25:duration=20", "-c:v", "libx264", "-preset",
                    "ultrafast", "-f", "h264", str(raw)], check=True)
    assert one_line(shell(made, "take", "add", "--shot", "1.1", str(raw),
                          env={"SLATE_TAKE_MAX_SECONDS": "8"}), 1) == \
        "slate: the file lasts more than 8 s; at most 8 s"
    _nothing_stored(made)
    added = shell(made, "take", "add", "--shot", "1.1", str(raw))  # 20 s is within 120 s
    assert "shot 1.1 revision 1 (video)" in added.stdout, added.stderr


async def test_discord_hears_the_same_one_line_reason(stage: Stage, tmp_path: Path) -> None:
    alice = stage.fake.as_user(stage.alice)
    await alice.slash("chapter claim", chapter=2)
    big = media_kit.huge_png(tmp_path / "big.png", 16000, 16000)
    reply = await alice.slash("take upload", shot="2.1",
                              file=Attachment("巨大.png", big.read_bytes()))
    assert reply.ephemeral
    assert reply.content == f"the picture is 16000x16000 px, 256.0 megapixels; {PIXELS}"
    prod = await board.get(stage.studio.db, stage.fake.guild_id)
    assert await takes_of(stage.studio, prod, "2.1") == []
