"""Each hosted provider against its loopback fake: success and every failure mode."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import pytest
from PIL import Image

from storage import media_files
from storage.productions import Production
from studio.app import Studio
from studio.generation import requests
from studio.generation.providers.comfyui import ComfyUI
from studio.generation.providers.elevenlabs import ElevenLabs
from studio.generation.providers.replicate import Replicate
from studio.generation.providers.runway import Runway
from studio.generation.takes import add_take
from studio.production import characters
from studio.production.people import Actor
from tests.fakes.providers import elevenlabs as fake_el
from tests.fakes.providers import replicate as fake_rep
from tests.fakes.providers import runway as fake_rw
from tests.fakes.providers.comfyui import FakeComfyUI
from tests.fakes.providers.elevenlabs import FakeElevenLabs
from tests.fakes.providers.replicate import FakeReplicate
from tests.fakes.providers.runway import FakeRunway


async def still_take(studio: Studio, prod: Production, who: Actor, tmp_path: Path) -> int:
    path = tmp_path / "still.png"
    Image.new("RGB", (64, 36), (10, 120, 200)).save(path)
    return (await add_take(studio, prod, who, "1.1", path)).take.id


# Runway.

async def test_runway_video_from_an_image_take(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_runway: FakeRunway, tmp_path: Path):
    fake_runway.script.plan = ["PENDING", "THROTTLED", "RUNNING", "RUNNING", "SUCCEEDED"]
    make_queue({"runway": Runway(fake_rw.KEY, base_url=fake_runway.url)})
    still = await still_take(studio, sample, owner, tmp_path)
    take = await requests.run_now(studio, sample, owner, "1.1", kind="video",
                                  prompt="The tide rolls in", seed=9, duration=5,
                                  image_take=still, within=10)
    sent = fake_runway.requests[0]
    assert sent["model"] == "gen4_turbo" and sent["ratio"] == "1280:720"
    assert sent["promptImage"].startswith("data:image/png;base64,") and sent["seed"] == 9
    assert (take.provider, take.model, take.cost) == ("runway", "gen4_turbo", 0.25)
    stored = await media_files.get(studio.db.reader, take.media_sha256)
    assert stored is not None and stored.kind == "video"


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda f: setattr(f.script, "plan", ["RUNNING", "FAILED"]),
     "flagged by moderation (SAFETY.INPUT.TEXT)"),
    (lambda f: setattr(f.script, "expire_outputs", True), "output link has expired"),
    (lambda f: setattr(f.script, "submit_errors",
                       deque([(400, {"error": "Invalid ratio"}, None)])), "Invalid ratio"),
])
async def test_runway_failures_fail_the_job_with_the_reason(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_runway: FakeRunway, mutate, reason: str):
    mutate(fake_runway)
    q = make_queue({"runway": Runway(fake_rw.KEY, base_url=fake_runway.url)})
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="Pier")
    done = await q.wait(queued.job.id, within=10)
    assert done.state == "failed" and reason in done.error and done.take_id is None


async def test_runway_poll_trouble_is_retried(
        studio: Studio, sample: Production, owner: Actor, make_queue, fake_runway: FakeRunway):
    fake_runway.script.poll_errors = deque([(429, {"error": "slow down"}, 0),
                                            (504, "Gateway Timeout", None)])
    fake_runway.script.malformed_polls = 1
    q = make_queue({"runway": Runway(fake_rw.KEY, base_url=fake_runway.url)})
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="Pier")
    done = await q.wait(queued.job.id, within=10)
    assert done.state == "succeeded" and fake_runway.submissions == 1


async def test_a_wrong_key_fails_without_showing_it(
        studio: Studio, sample: Production, owner: Actor, make_queue, fake_runway: FakeRunway):
    q = make_queue({"runway": Runway("key_wrong_secret_value", base_url=fake_runway.url)})
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="Pier")
    done = await q.wait(queued.job.id, within=10)
    assert done.state == "failed" and "401" in done.error
    assert "key_wrong_secret_value" not in done.error


# Replicate.

async def test_replicate_image_with_prefer_wait_and_reported_cost(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_replicate: FakeReplicate):
    fake_replicate.script.plan = ["starting", "processing", "succeeded"]
    make_queue({"replicate": Replicate(fake_rep.TOKEN, base_url=fake_replicate.url)})
    await characters.add(studio, sample, owner, "Ada", trigger_words="woman in a yellow coat",
                         lora="ada_v2")
    take = await requests.run_now(studio, sample, owner, "1.2", kind="image",
                                  prompt="@Ada on the pier", seed=4, within=10)
    assert fake_replicate.wait_headers == ["wait=5"]
    sent = fake_replicate.requests[0]["input"]
    # flux-schnell loads no LoRA: the trigger words go in the prompt, no weights are sent.
    assert sent["prompt"] == "Ada (woman in a yellow coat) on the pier"
    assert "lora_weights" not in sent
    assert take.prompt == sent["prompt"] and json.loads(take.params)["original_prompt"] == \
        "@Ada on the pier"
    assert take.cost == pytest.approx(2.5 * 0.0014)


@pytest.mark.parametrize(("mutate", "state", "reason"), [
    (lambda f: setattr(f.script, "plan", ["processing", "failed"]), "failed",
     "flagged by moderation"),
    (lambda f: setattr(f.script, "submit_errors", deque(
        [(429, {"detail": "Request was throttled."}, 0)])), "succeeded", ""),
    (lambda f: setattr(f.script, "poll_errors", deque(
        [(500, {"detail": "Internal"}, None)])), "succeeded", ""),
    (lambda f: setattr(f.script, "malformed_polls", 2), "succeeded", ""),
    (lambda f: setattr(f.script, "expire_outputs", True), "failed", "expired"),
])
async def test_replicate_failure_modes(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_replicate: FakeReplicate, mutate, state: str, reason: str):
    mutate(fake_replicate)
    q = make_queue({"replicate": Replicate(fake_rep.TOKEN, base_url=fake_replicate.url)})
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="Pier")
    done = await q.wait(queued.job.id, within=10)
    assert done.state == state and reason in done.error
    assert fake_replicate.submissions == 1


# ElevenLabs.

async def test_elevenlabs_voice_uses_the_characters_voice(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_elevenlabs: FakeElevenLabs, tmp_path: Path):
    make_queue({"elevenlabs": ElevenLabs(fake_el.KEY, tmp_path / "el",
                                         base_url=fake_elevenlabs.url, backoff=0.001)})
    await characters.add(studio, sample, owner, "Narrator", voice_id="narrator01")
    fake_elevenlabs.script.submit_errors = deque([
        (429, {"detail": {"status": "too_many_concurrent_requests", "message": "busy"}}, 0)])
    take = await requests.run_now(studio, sample, owner, "1.4", kind="voice",
                                  prompt="@Narrator: the tide is out", within=10)
    sent = fake_elevenlabs.requests[-1]
    assert sent["voice"] == "narrator01" and sent["output_format"] == "mp3_44100_128"
    assert take.kind == "audio" and take.provider == "elevenlabs"
    assert fake_elevenlabs.submissions == 1


async def test_elevenlabs_unknown_voice_fails_with_its_reason(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_elevenlabs: FakeElevenLabs, tmp_path: Path):
    q = make_queue({"elevenlabs": ElevenLabs(fake_el.KEY, tmp_path / "el",
                                             base_url=fake_elevenlabs.url)})
    queued = await requests.request(studio, sample, owner, "1.4", "voice", prompt="Hello",
                                    voice_id="nobody")
    done = await q.wait(queued.job.id, within=10)
    assert done.state == "failed" and "voice with that id was not found" in done.error


async def test_elevenlabs_request_cut_by_a_restart_is_failed_not_resent(
        studio: Studio, sample: Production, owner: Actor, make_queue, tmp_path: Path):
    provider = ElevenLabs(fake_el.KEY, tmp_path / "el", base_url="http://127.0.0.1:9")
    polled = await provider.poll("el-" + "0" * 32)
    assert polled.state == "failed" and "re-roll" in polled.error
    await provider.close()


# ComfyUI.

async def test_comfyui_least_busy_server_gets_the_job_with_progress(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_comfyui: FakeComfyUI, tmp_path: Path):
    other = FakeComfyUI(tmp_path / "other", busy=5)
    await other.start()
    fake_comfyui.steps, fake_comfyui.step_seconds = 4, 0.05  # slow enough to watch
    try:
        seen: list[float] = []
        q = make_queue({"comfyui": ComfyUI([other.url, fake_comfyui.url])})
        q.listeners.append(lambda job: seen.append(job.progress))
        take = await requests.run_now(studio, sample, owner, "1.2", kind="image",
                                      prompt="Pier at dawn", seed=11, within=10)
        assert other.submissions == 0 and fake_comfyui.submissions == 1
        graph = fake_comfyui.requests[0]["prompt"]
        assert graph["6"]["inputs"]["text"] == "Pier at dawn"
        assert graph["3"]["inputs"]["seed"] == 11
        assert take.external_id.startswith(fake_comfyui.url + "#")
        assert take.kind == "image"
        assert not any(n["class_type"] == "LoraLoader" for n in graph.values())
        # The websocket's steps reach the listeners: some part-way, never backwards, then done.
        assert any(0 < p < 1 for p in seen), seen
        assert seen == sorted(seen) and seen[-1] == 1.0
    finally:
        await other.stop()


async def test_comfyui_video_uploads_the_image_and_reads_gifs(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_comfyui: FakeComfyUI, tmp_path: Path):
    make_queue({"comfyui": ComfyUI([fake_comfyui.url])})
    still = await still_take(studio, sample, owner, tmp_path)
    take = await requests.run_now(studio, sample, owner, "1.1", kind="video", image_take=still,
                                  duration=2, motion=4, within=10)
    graph = fake_comfyui.requests[0]["prompt"]
    assert graph["1"]["inputs"]["image"] == fake_comfyui.uploads[0]
    assert graph["3"]["inputs"]["video_frames"] == 48
    assert graph["3"]["inputs"]["motion_bucket_id"] == 100
    assert take.kind == "video"


async def test_comfyui_failures(studio: Studio, sample: Production, owner: Actor, make_queue,
                                fake_comfyui: FakeComfyUI, tmp_path: Path):
    q = make_queue({"comfyui": ComfyUI([fake_comfyui.url])})
    fake_comfyui.fail_workflow = True
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="x")
    done = await q.wait(queued.job.id, within=10)
    assert done.state == "failed" and "CUDA out of memory" in done.error
    # A template slot the job cannot fill is refused before anything is sent.
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "image.json").write_text(json.dumps(
        {"1": {"class_type": "X", "inputs": {"v": "{{lighting}}"}}}))
    await requests.close_queue(studio)
    q = make_queue({"comfyui": ComfyUI([fake_comfyui.url], workflows_dir=tmp_path / "flows")})
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="x")
    done = await q.wait(queued.job.id, within=10)
    assert done.state == "failed" and "needs 'lighting'" in done.error


async def test_comfyui_server_that_forgot_the_prompt_fails_the_job(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_comfyui: FakeComfyUI):
    fake_comfyui.hold.clear()  # the prompt waits in the server's queue
    q = make_queue({"comfyui": ComfyUI([fake_comfyui.url])})
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="x")
    await q.start()
    from tests.generation.helpers import job_in
    await job_in(studio, queued.job.id, "submitted")
    fake_comfyui.pending.clear()
    fake_comfyui.forget = True
    done = await q.wait(queued.job.id, within=10)
    assert done.state == "failed" and "no longer knows" in done.error
    assert fake_comfyui.submissions == 1


async def test_a_characters_lora_is_loaded_by_comfyui_and_replicates_lora_models(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_comfyui: FakeComfyUI, fake_replicate: FakeReplicate):
    await characters.add(studio, sample, owner, "Ada", trigger_words="woman in a yellow coat",
                         lora="ada_v2.safetensors")
    make_queue({"comfyui": ComfyUI([fake_comfyui.url]),
                "replicate": Replicate(fake_rep.TOKEN, base_url=fake_replicate.url,
                                       models={"image": "black-forest-labs/flux-dev-lora"})})
    await requests.run_now(studio, sample, owner, "1.2", kind="image", provider="comfyui",
                           prompt="@Ada on the pier", seed=4, within=10)
    graph = fake_comfyui.requests[0]["prompt"]
    (lora_id,) = [i for i, n in graph.items() if n["class_type"] == "LoraLoader"]
    lora = graph[lora_id]["inputs"]
    assert lora["lora_name"] == "ada_v2.safetensors" and lora["model"] == ["4", 0]
    # The sampler and both text encoders take the LoRA's model and clip; the VAE stays.
    assert graph["3"]["inputs"]["model"] == [lora_id, 0]
    assert graph["6"]["inputs"]["clip"] == graph["7"]["inputs"]["clip"] == [lora_id, 1]
    assert graph["8"]["inputs"]["vae"] == ["4", 2]
    assert graph["6"]["inputs"]["text"] == "Ada (woman in a yellow coat) on the pier"
    await requests.run_now(studio, sample, owner, "1.3", kind="image", provider="replicate",
                           prompt="@Ada waves", seed=5, within=10)
    sent = fake_replicate.requests[0]["input"]
    assert sent["lora_weights"] == "ada_v2.safetensors" and sent["lora_scale"] == 0.8
