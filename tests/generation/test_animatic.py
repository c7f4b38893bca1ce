"""Generations on the embedded animatic provider: takes with provenance, previews, limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from storage import jobs, media_files
from storage.productions import Production
from studio import mediastore
from studio.app import Studio
from studio.errors import InvalidInput, NotPermitted
from studio.generation import requests
from studio.generation.providers.animatic import Animatic, draw_frame
from studio.media import probe
from studio.production.people import Actor, actor


def media(studio: Studio, sha: str) -> Path:
    return mediastore.path_for(studio.settings.media_path, sha)


async def test_image_take_has_provenance_preview_and_thumbnail(
        studio: Studio, sample: Production, owner: Actor, make_queue, animatic: Animatic):
    make_queue({"animatic": animatic})
    take = await requests.run_now(studio, sample, owner, "1.2", kind="image",
                                  prompt="A lighthouse at dusk", seed=42,
                                  negative_prompt="blurry")
    assert (take.source, take.kind, take.provider, take.model) == \
        ("generated", "image", "animatic", "animatic-1")
    assert (take.prompt, take.negative_prompt, take.seed) == ("A lighthouse at dusk", "blurry", 42)
    assert take.creator_id == owner.id and take.external_id.startswith("anim-")
    assert json.loads(take.params)["ratio"] == "16:9"
    stored = await media_files.get(studio.db.reader, take.media_sha256)
    assert stored is not None and (stored.kind, stored.width, stored.height) == ("image", 160, 90)
    # Small enough for Discord: the take is its own preview; the thumbnail is a JPEG.
    assert take.preview_sha256 == take.media_sha256
    with Image.open(media(studio, take.thumbnail_sha256)) as thumb:
        assert thumb.format == "JPEG"
    job = await jobs.get(studio.db.reader, take.job_id)
    assert job is not None and job.state == "succeeded" and job.take_id == take.id
    assert job.external_id == take.external_id


async def test_same_seed_same_frame_and_other_seed_differs():
    one = draw_frame("Tide rolls out", 7, 160, 90).tobytes()
    assert one == draw_frame("Tide rolls out", 7, 160, 90).tobytes()
    assert one != draw_frame("Tide rolls out", 8, 160, 90).tobytes()


async def test_video_has_exact_duration_and_ratio(
        studio: Studio, sample: Production, owner: Actor, make_queue, animatic: Animatic):
    make_queue({"animatic": animatic})
    take = await requests.run_now(studio, sample, owner, "1.1", kind="video",
                                  prompt="Waves", seed=1, motion=8, duration=2.0, ratio="9:16")
    found = probe(media(studio, take.media_sha256))
    assert found.kind == "video" and found.duration == pytest.approx(2.0, abs=0.05)
    assert (found.width, found.height) == (160, 284)
    assert json.loads(take.params)["motion"] == 8


def _motion_energy(path: Path) -> float:
    import av
    from PIL import ImageChops, ImageStat

    with av.open(str(path)) as container:
        frames = [f.to_image().convert("L") for f in container.decode(video=0)]
    return float(ImageStat.Stat(ImageChops.difference(frames[0], frames[-1])).mean[0])


async def test_motion_one_is_nearly_still_and_ten_moves_most(
        studio: Studio, sample: Production, owner: Actor, make_queue, animatic: Animatic):
    make_queue({"animatic": animatic})
    still = await requests.run_now(studio, sample, owner, "1.1", kind="video", prompt="Dunes",
                                   seed=5, motion=1, duration=1.0)
    strong = await requests.run_now(studio, sample, owner, "1.1", kind="video", prompt="Dunes",
                                    seed=5, motion=10, duration=1.0)
    assert _motion_energy(media(studio, still.media_sha256)) * 3 < \
        _motion_energy(media(studio, strong.media_sha256))


async def test_animate_and_upscale_start_from_an_image_take(
        studio: Studio, sample: Production, owner: Actor, make_queue, animatic: Animatic):
    make_queue({"animatic": animatic})
    image = await requests.run_now(studio, sample, owner, "1.3", kind="image", prompt="Pier",
                                   seed=3)
    bigger = await requests.run_now(studio, sample, owner, "1.3", kind="upscale", strength=0.8)
    up = probe(media(studio, bigger.media_sha256))
    assert (up.width, up.height) == (320, 180)
    assert json.loads(bigger.params)["image_take"] == image.id
    moving = await requests.run_now(studio, sample, owner, "1.3", kind="video",
                                    image_take=image.id, duration=1.0, motion=2)
    assert json.loads(moving.params)["image_take"] == image.id
    assert probe(media(studio, moving.media_sha256)).kind == "video"


async def test_voice_without_espeak_is_a_tone_of_reading_length(
        studio: Studio, sample: Production, owner: Actor, make_queue, animatic: Animatic,
        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no espeak-ng: the placeholder tone
    make_queue({"animatic": animatic})
    text = "The tide is low tonight and every boat in the harbour lies on its side"
    take = await requests.run_now(studio, sample, owner, "1.4", kind="voice", prompt=text)
    found = probe(media(studio, take.media_sha256))
    assert found.kind == "audio"
    assert found.duration == pytest.approx(len(text.split()) / 2.5, abs=0.1)
    assert take.thumbnail_sha256 is None


async def test_someone_else_cannot_generate_for_my_shot_and_nothing_is_queued(
        studio: Studio, sample: Production, owner: Actor, make_queue, animatic: Animatic):
    make_queue({"animatic": animatic})
    stranger = await actor(studio.db, sample, "Jonas", discord_id=102)
    with pytest.raises(NotPermitted, match="chapter 1's owner"):
        await requests.request(studio, sample, stranger, "1.1", "image", prompt="x")
    assert await jobs.listed(studio.db.reader, sample.id) == []


@pytest.mark.parametrize(("options", "reason"), [
    ({"kind": "sound"}, "one of"),
    ({"kind": "video", "motion": 11}, "motion is 1"),
    ({"kind": "video", "duration": 30.0}, "1 to 10 seconds"),
    ({"kind": "image", "ratio": "wide"}, "unknown ratio"),
    ({"kind": "upscale"}, "needs an image take"),
    ({"kind": "image", "prompt": "@Nobody on the pier"}, "no such character"),
    ({"kind": "image", "provider": "runway"}, "not configured"),
    ({"kind": "voice", "prompt": ""}, "needs a prompt"),
])
async def test_bad_requests_are_refused_with_a_reason(
        studio: Studio, sample: Production, owner: Actor, make_queue, animatic: Animatic,
        options: dict, reason: str):
    make_queue({"animatic": animatic})
    options = {"prompt": "Pier at night", **options}
    kind = options.pop("kind")
    with pytest.raises(InvalidInput, match=reason):
        await requests.request(studio, sample, owner, "1.1", kind, **options)
    assert await jobs.listed(studio.db.reader, sample.id) == []


def _frames(path: Path) -> list:
    import av
    import numpy as np

    with av.open(str(path)) as container:
        return [np.asarray(f.to_ndarray(format="rgb24"), dtype=np.int16)
                for f in container.decode(video=0)]


async def test_a_caption_stands_still_inside_the_title_safe_area_while_the_camera_pans(
        animatic: Animatic) -> None:
    import random

    import numpy as np

    moves = ("zoom_in", "zoom_out", "pan_left", "pan_right")
    seed = next(s for s in range(100) if random.Random(s).choice(moves) == "pan_right")
    caption = ("莎拉沿着海堤慢慢走向灯塔，风把她的红围巾吹了起来 — Sara walks the sea wall "
               "towards the lighthouse as the wind lifts her red scarf")
    task = await animatic.submit("video", {"prompt": caption, "seed": seed, "motion": 10,
                                           "duration": 1.0, "width": 320})
    await animatic.wait(task)
    done = await animatic.poll(task)
    assert done.state == "succeeded"
    frames = _frames(Path(done.outputs[0]))
    first, last = frames[0], frames[-1]
    height, width = first.shape[:2]
    # The text is the only near-white in a storyboard frame (its palette stays below 190).
    text_first, text_last = first.min(axis=2) > 200, last.min(axis=2) > 200
    assert text_first.sum() > 200, "no caption text in the first frame"
    # Still: the same pixels are text in the first and the last frame, in the same colours.
    overlap = (text_first & text_last).sum() / (text_first | text_last).sum()
    assert overlap > 0.9
    both = text_first & text_last
    assert np.abs(first[both] - last[both]).mean() < 8
    # Inside the title-safe area (the inner 80 % of width and height), wrapped to several lines.
    rows, cols = np.nonzero(text_first | text_last)
    assert cols.min() >= width * 0.1 and cols.max() < width * 0.9
    assert rows.min() >= height * 0.1 and rows.max() < height * 0.9
    lines = np.diff(np.flatnonzero(np.diff(text_first.any(axis=1).astype(int)) == 1))
    assert lines.size >= 1, "a long caption is wrapped to more than one line"
    # The camera did move: above the caption the picture changed.
    above = slice(0, rows.min() - 2)
    assert np.abs(first[above] - last[above]).mean() > 5
