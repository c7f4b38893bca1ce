"""Sound stays with its picture when a take's streams start at different times: a flash and a
beep made at the same instant land within one frame of each other in the film."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from storage import shots
from storage.productions import Production
from studio.app import Studio
from studio.cut import build
from studio.generation import takes
from studio.ops.settings import Settings, load_settings
from studio.production import shotlist
from studio.production.people import Actor
from tests.media_kit import flash_and_beep

FPS = Fraction(24000, 1001)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    return load_settings(data_dir=tmp_path / "data", cut_width=320, cut_height=180,
                         cut_fps="24000/1001", cut_credits_seconds=0.0)


def stream_starts(path: Path) -> dict[str, float]:
    with av.open(str(path)) as container:
        return {s.type: float(s.start_time * s.time_base) for s in container.streams}


def flash_seconds(film: Path) -> float:
    with av.open(str(film)) as container:
        for n, frame in enumerate(container.decode(container.streams.video[0])):
            plane = frame.planes[0]
            if bytes(plane)[plane.line_size * 90 + 160] > 200:  # the middle of the picture
                return n / FPS
    raise AssertionError("no white frame in the film")


def beep_seconds(film: Path) -> float:
    """The first sound heard in the film (its one track: the mix, the take's sound in it)."""
    heard = 0
    with av.open(str(film)) as container:
        for frame in container.decode(container.streams.audio[0]):
            samples = frame.to_ndarray()[0]
            loud = (abs(samples) > 0.02).nonzero()[0]
            if loud.size:
                return (heard + int(loud[0])) / frame.sample_rate
            heard += frame.samples
    raise AssertionError("no beep in the film")


@pytest.mark.parametrize("suffix", [".mov", ".mp4"])
@pytest.mark.parametrize("offset", [0.5, -0.5])
async def test_a_flash_and_a_beep_stay_together_when_the_sound_starts_late_or_early(
        studio: Studio, prod: Production, producer: Actor, tmp_path: Path, offset: float,
        suffix: str) -> None:
    source = flash_and_beep(tmp_path / f"take{suffix}", sound_offset=offset)
    starts = stream_starts(source)
    # The source is what the test says: its sound starts half a second off its picture
    # (AAC's encoder delay moves the sound's first packet 1024 samples earlier).
    assert starts["audio"] - starts["video"] == pytest.approx(offset, abs=0.025)
    await shotlist.import_shots(studio.db, prod, producer,
                                b"chapter,chapter_title,shot,description,duration\n"
                                b"1,Dawn,1,Flash,2\n", "one.csv")
    stored = await takes.add_take(studio, prod, producer, "1.1", source,
                                  original_name=source.name)
    async with studio.db.transaction() as tx:
        await shots.update(tx, stored.take.shot_id, approved_take_id=stored.take.id,
                           status="approved")

    result = await build.build(studio, prod)

    flash, beep = flash_seconds(result.film), beep_seconds(result.film)
    assert flash == pytest.approx(1.0, abs=1.5 / FPS)  # a second into the take, as made
    assert abs(beep - flash) <= 1 / FPS, f"the beep is {beep - flash:+.3f} s off the flash"
