"""ComfyUI and ElevenLabs trouble: throttling, server errors, broken answers, a dropped
websocket, the requested frame ratio; ElevenLabs refusals against retries; what a failed
Replicate prediction bills."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest

from storage.productions import Production
from studio.app import Studio
from studio.generation import requests
from studio.generation.providers.comfyui import ComfyUI
from studio.generation.providers.elevenlabs import ElevenLabs
from studio.generation.providers.replicate import Replicate
from studio.production.people import Actor
from tests.fakes.providers import elevenlabs as fake_el
from tests.fakes.providers import replicate as fake_rep
from tests.fakes.providers.comfyui import FakeComfyUI
from tests.fakes.providers.elevenlabs import FakeElevenLabs
from tests.fakes.providers.replicate import FakeReplicate
from tests.generation.helpers import job_in


@pytest.mark.parametrize("trouble", [
    "429 on /prompt", "503 on /prompt", "connection dropped on /prompt",
    "malformed /prompt answer", "500 on /history", "malformed /history answer"])
async def test_comfyui_trouble_is_retried_and_the_job_succeeds_once(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_comfyui: FakeComfyUI, trouble: str):
    script = fake_comfyui.script
    if trouble == "429 on /prompt":
        script.submit_errors = deque([(429, {"error": "queue full"}, 0)])
    elif trouble == "503 on /prompt":
        script.submit_errors = deque([(503, "Service Unavailable", None)])
    elif trouble == "connection dropped on /prompt":
        fake_comfyui.drop_submits = 1
    elif trouble == "malformed /prompt answer":
        fake_comfyui.malformed_submits = 1
    elif trouble == "500 on /history":
        script.poll_errors = deque([(500, "Internal Server Error", None)] * 3)
    else:
        script.malformed_polls = 2
    q = make_queue({"comfyui": ComfyUI([fake_comfyui.url])})
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="Pier")
    done = await q.wait(queued.job.id, within=10)
    assert done.state == "succeeded", done.error
    assert done.take_id is not None
    assert done.attempts == (2 if "/prompt" in trouble else 1)
    assert fake_comfyui.submissions == 1


async def test_comfyui_refusal_is_final_with_the_servers_reason(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_comfyui: FakeComfyUI):
    fake_comfyui.script.submit_errors = deque([(400, {
        "error": {"type": "prompt_outputs_failed_validation",
                  "message": "Value not in list: ckpt_name"}, "node_errors": {}}, None)])
    q = make_queue({"comfyui": ComfyUI([fake_comfyui.url])})
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="Pier")
    done = await q.wait(queued.job.id, within=10)
    assert done.state == "failed" and "Value not in list: ckpt_name" in done.error
    assert done.attempts == 0 and done.cost == 0


@pytest.mark.parametrize(("ratio", "size"), [("16:9", (1024, 576)), ("9:16", (576, 1024)),
                                             ("1:1", (1024, 1024)), ("21:9", (1024, 448))])
async def test_comfyui_frame_follows_the_requested_ratio(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_comfyui: FakeComfyUI, ratio: str, size: tuple[int, int]):
    q = make_queue({"comfyui": ComfyUI([fake_comfyui.url])})
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="Pier",
                                    ratio=ratio)
    assert (await q.wait(queued.job.id, within=10)).state == "succeeded"
    latent = fake_comfyui.requests[0]["prompt"]["5"]["inputs"]
    assert (latent["width"], latent["height"]) == size


async def test_comfyui_progress_survives_a_dropped_websocket(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_comfyui: FakeComfyUI):
    fake_comfyui.steps, fake_comfyui.step_seconds = 10, 0.05
    seen: list[float] = []
    q = make_queue({"comfyui": ComfyUI([fake_comfyui.url], reconnect_delay=0.01)})
    q.listeners.append(lambda job: seen.append(job.progress))
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="Pier")
    await q.start()
    running = await job_in(studio, queued.job.id, "running")
    while running.progress < 0.2:
        running = await job_in(studio, queued.job.id, "running")
    dropped_at = running.progress
    await fake_comfyui.drop_sockets()
    done = await q.wait(queued.job.id, within=10)
    assert done.state == "succeeded" and fake_comfyui.submissions == 1
    assert fake_comfyui.connections >= 2  # it reconnected
    after = [p for p in seen if dropped_at < p < 1.0]
    assert after, seen  # progress kept coming over the new connection
    assert seen == sorted(seen) and seen[-1] == 1.0


async def test_comfyui_runs_one_prompt_at_a_time_like_the_real_server(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_comfyui: FakeComfyUI):
    fake_comfyui.steps, fake_comfyui.step_seconds = 3, 0.05
    q = make_queue({"comfyui": ComfyUI([fake_comfyui.url])}, concurrency={"comfyui": 2})
    first = await requests.request(studio, sample, owner, "1.1", "image", prompt="a")
    second = await requests.request(studio, sample, owner, "1.2", "image", prompt="b")
    await q.start()
    await job_in(studio, first.job.id, "running")
    waiting = await job_in(studio, second.job.id, "submitted")
    assert waiting.progress == 0 and len(fake_comfyui.running) == 1
    for job in (first, second):
        assert (await q.wait(job.job.id, within=10)).state == "succeeded"


async def test_comfyui_that_never_answers_fails_without_showing_its_password(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_comfyui: FakeComfyUI):
    fake_comfyui.hold.clear()  # the prompt waits in the server's queue
    guarded = fake_comfyui.url.replace("http://", "http://slate:hunter2secret@")
    q = make_queue({"comfyui": ComfyUI([guarded])}, poll_give_up_seconds=0.3)
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="Pier")
    await q.start()
    submitted = await job_in(studio, queued.job.id, "submitted")
    await fake_comfyui.down()
    done = await q.wait(queued.job.id, within=10)
    await fake_comfyui.up()
    prompt_id = submitted.external_id.partition("#")[2]
    assert done.state == "failed" and "never answered" in done.error
    assert f"{fake_comfyui.url}#{prompt_id}" in done.error
    assert "hunter2secret" not in done.error


# ElevenLabs.

async def test_elevenlabs_422_is_final_with_the_reason_and_costs_nothing(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_elevenlabs: FakeElevenLabs, tmp_path: Path):
    fake_elevenlabs.script.submit_errors = deque([(422, {"detail": [
        {"loc": ["body", "text"], "msg": "text is longer than 5000 characters",
         "type": "value_error"}]}, None)])
    q = make_queue({"elevenlabs": ElevenLabs(fake_el.KEY, tmp_path / "el",
                                             base_url=fake_elevenlabs.url, backoff=0.001)})
    queued = await requests.request(studio, sample, owner, "1.4", "voice", prompt="Hello",
                                    voice_id="narrator01")
    done = await q.wait(queued.job.id, within=10)
    assert done.state == "failed" and "longer than 5000 characters" in done.error
    assert fake_elevenlabs.calls == 1 and fake_elevenlabs.submissions == 0  # not retried
    assert done.cost == 0.0


async def test_elevenlabs_5xx_is_retried_and_speaks_once(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_elevenlabs: FakeElevenLabs, tmp_path: Path):
    fake_elevenlabs.script.submit_errors = deque([
        (500, {"detail": {"status": "internal_error", "message": "oops"}}, None),
        (503, "Service Unavailable", None)])
    q = make_queue({"elevenlabs": ElevenLabs(fake_el.KEY, tmp_path / "el",
                                             base_url=fake_elevenlabs.url, backoff=0.001)})
    queued = await requests.request(studio, sample, owner, "1.4", "voice", prompt="Hello",
                                    voice_id="narrator01")
    done = await q.wait(queued.job.id, within=10)
    assert done.state == "succeeded" and done.take_id is not None
    assert fake_elevenlabs.calls == 3 and fake_elevenlabs.submissions == 1


async def test_a_failed_replicate_prediction_costs_its_reported_run_time(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_replicate: FakeReplicate):
    fake_replicate.script.plan = ["processing", "failed"]
    q = make_queue({"replicate": Replicate(fake_rep.TOKEN, base_url=fake_replicate.url)})
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="Pier",
                                    provider="replicate")
    done = await q.wait(queued.job.id, within=10)
    assert done.state == "failed" and done.cost == pytest.approx(1.5 * 0.0014)
    assert done.cost_estimated == 0
    spent, _, _ = await requests.budget(studio, sample)
    assert spent == pytest.approx(1.5 * 0.0014)
