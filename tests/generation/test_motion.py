"""Motion 1–10 means the same everywhere: each video provider gets it as its own documented
parameter (checked on what the fakes received), and one without any says so in the answer."""

from __future__ import annotations

from pathlib import Path

from storage import jobs
from storage.productions import Production
from studio.app import Studio
from studio.generation import requests
from studio.generation.providers.animatic import Animatic, camera_filter
from studio.generation.providers.comfyui import ComfyUI
from studio.generation.providers.replicate import Replicate
from studio.generation.providers.runway import Runway
from studio.production.people import Actor
from tests.fakes.providers import replicate as fake_rep
from tests.fakes.providers import runway as fake_rw
from tests.fakes.providers.comfyui import FakeComfyUI
from tests.fakes.providers.replicate import FakeReplicate
from tests.fakes.providers.runway import FakeRunway
from tests.generation.test_providers import still_take

SVD = "stability-ai/stable-video-diffusion"


async def animate(studio: Studio, prod: Production, who: Actor, still: int, motion: int,
                  provider: str | None = None):
    queued = await requests.request(studio, prod, who, "1.1", "video", image_take=still,
                                    duration=2, motion=motion, provider=provider)
    done = await requests.queue(studio).wait(queued.job.id, within=20)
    assert done.state == "succeeded", done.error
    return done


async def test_comfyui_gets_motion_as_svds_motion_bucket_id(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_comfyui: FakeComfyUI, tmp_path: Path):
    make_queue({"comfyui": ComfyUI([fake_comfyui.url])})
    still = await still_take(studio, sample, owner, tmp_path)
    for motion in (1, 7):
        done = await animate(studio, sample, owner, still, motion)
        assert "notice" not in done.parameters
    buckets = [next(n["inputs"]["motion_bucket_id"] for n in r["prompt"].values()
                    if n["class_type"] == "SVD_img2vid_Conditioning")
               for r in fake_comfyui.requests]
    assert buckets == [25, 175]


async def test_replicate_svd_gets_motion_bucket_id_and_its_image_input(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_replicate: FakeReplicate, tmp_path: Path):
    make_queue({"replicate": Replicate(fake_rep.TOKEN, base_url=fake_replicate.url,
                                       models={"video": SVD})})
    still = await still_take(studio, sample, owner, tmp_path)
    done = await animate(studio, sample, owner, still, 8)
    sent = fake_replicate.requests[0]["input"]
    assert sent["motion_bucket_id"] == 200 and sent["input_image"].startswith("data:image/")
    assert "notice" not in done.parameters


async def test_a_provider_without_motion_says_so_and_sends_nothing_in_its_place(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_replicate: FakeReplicate, fake_runway: FakeRunway, tmp_path: Path):
    make_queue({"replicate": Replicate(fake_rep.TOKEN, base_url=fake_replicate.url),
                "runway": Runway(fake_rw.KEY, base_url=fake_runway.url)})
    still = await still_take(studio, sample, owner, tmp_path)
    on_runway = await animate(studio, sample, owner, still, 9, provider="runway")
    assert on_runway.parameters["notice"].startswith("runway has no motion control: motion 9 "
                                                     "was not sent")
    assert set(fake_runway.requests[0]) == {"model", "promptImage", "promptText", "ratio",
                                            "duration", "seed"}, "Runway's documented fields"
    on_minimax = await animate(studio, sample, owner, still, 2, provider="replicate")
    assert "replicate (minimax/video-01) has no motion control: motion 2" in \
        on_minimax.parameters["notice"]
    assert not {"motion", "motion_bucket_id"} & set(fake_replicate.requests[0]["input"])
    # Motion left at its default is not a request: nothing to warn about.
    queued = await requests.request(studio, sample, owner, "1.1", "video", image_take=still,
                                    duration=2, provider="runway")
    assert "notice" not in (await jobs.get(studio.db.reader, queued.job.id)).parameters


async def test_the_animatic_moves_its_camera_by_the_motion(
        studio: Studio, sample: Production, owner: Actor, make_queue, animatic: Animatic,
        tmp_path: Path):
    make_queue({"animatic": animatic})
    still = await still_take(studio, sample, owner, tmp_path)
    done = await animate(studio, sample, owner, still, 10)
    assert done.parameters["motion"] == 10 and "notice" not in done.parameters
    assert camera_filter("push in", 10, 64, 36, 48) != camera_filter("push in", 1, 64, 36, 48)
    assert animatic.motion_control("video") is not None
