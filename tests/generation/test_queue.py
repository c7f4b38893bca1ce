"""The durable queue: restarts in every job state, fairness, limits, budget, cancel, retries."""

from __future__ import annotations

import asyncio
from collections import deque
from pathlib import Path

import pytest
from PIL import Image

from storage import jobs, takes
from storage.productions import Production
from studio.app import Studio
from studio.errors import InvalidInput, NotPermitted
from studio.generation import requests
from studio.generation.providers.animatic import Animatic
from studio.ops.settings import Settings
from studio.production import claims
from studio.production.people import Actor, actor
from tests.fakes.providers.runway import FakeRunway
from tests.generation.conftest import fast_config
from tests.generation.helpers import job_in, runway, until


async def image_take(studio: Studio, prod: Production, who: Actor, code: str,
                     tmp_path: Path) -> int:
    """An uploaded image take to animate (Runway makes video from an image)."""
    from studio.generation.takes import add_take

    path = tmp_path / "still.png"
    Image.new("RGB", (64, 36), (10, 120, 200)).save(path)
    return (await add_take(studio, prod, who, code, path)).take.id


async def restarted(settings: Settings, fake: FakeRunway) -> Studio:
    """A new process: the database opened again, a new queue with a new client."""
    fresh = await Studio.open(settings)
    await requests.queue(fresh, {"runway": runway(fake)}, fast_config()).start()
    return fresh


@pytest.mark.parametrize("stop_in", ["queued", "submitted", "running", "downloading"])
async def test_restart_in_every_state_submits_exactly_once(
        studio: Studio, settings: Settings, sample: Production, owner: Actor,
        fake_runway: FakeRunway, tmp_path: Path, stop_in: str):
    first = requests.queue(studio, {"runway": runway(fake_runway)}, fast_config())
    still = await image_take(studio, sample, owner, "1.1", tmp_path)
    fake_runway.script.plan = {"queued": ["SUCCEEDED"], "submitted": ["PENDING"],
                               "running": ["RUNNING"], "downloading": ["SUCCEEDED"]}[stop_in]
    if stop_in == "downloading":  # the provider is done; our download is cut off mid-way
        fake_runway.script.output_delay = 30
    queued = await requests.request(studio, sample, owner, "1.1", "video", prompt="Waves",
                                    image_take=still, duration=5)
    if stop_in != "queued":
        await first.start()
        if stop_in == "downloading":
            await asyncio.wait_for(fake_runway.output_requested.wait(), 10)
        else:
            await job_in(studio, queued.job.id, stop_in)
    await requests.close_queue(studio)  # the worker dies here
    stored = await jobs.get(studio.db.reader, queued.job.id)
    assert stored is not None
    if stop_in == "queued":
        assert stored.state == "queued" and stored.external_id is None
    else:
        assert stored.state in ("submitted", "running")
        assert stored.external_id  # stored before anything else happened

    for task in fake_runway.tasks.values():
        task["plan"] = ["SUCCEEDED"]
    fake_runway.script.output_delay = 0
    fresh = await restarted(settings, fake_runway)
    try:
        done = await job_in(fresh, queued.job.id, "succeeded", "failed")
        assert done.state == "succeeded", done.error
        assert fake_runway.submissions == 1
        made = await takes.of_shot(fresh.db.reader, done.shot_id)
        generated = [t for t in made if t.source == "generated"]
        assert len(generated) == 1 and generated[0].external_id == done.external_id
    finally:
        await requests.close_queue(fresh)
        await fresh.close()


async def test_a_member_with_one_job_is_not_starved_by_anothers_fifty(
        studio: Studio, sample: Production, owner: Actor, make_queue, tmp_path: Path):
    studio.settings = studio.settings.model_copy(update={"member_max_concurrent": 100})
    q = make_queue({"animatic": Animatic(tmp_path / "anim", width=64)},
                   concurrency={"animatic": 1})
    other = await actor(studio.db, sample, "Jonas", discord_id=102)
    await claims.claim(studio.db, sample, other, 2)
    many = [await requests.request(studio, sample, owner, "1.1", "image", prompt=f"frame {i}")
            for i in range(50)]
    one = await requests.request(studio, sample, other, "2.1", "image", prompt="mine")
    await q.start()
    await job_in(studio, one.job.id, "succeeded")
    done = [j for j in await jobs.listed(studio.db.reader, sample.id, limit=100)
            if j.submitted_at]
    order = [j.id for j in sorted(done, key=lambda j: (j.submitted_at, j.id))]
    # Jonas's job starts second at the latest: right after Maya's first.
    assert order.index(one.job.id) <= 1
    await q.wait(many[-1].job.id, within=30)


async def test_provider_concurrency_limit_is_kept(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_runway: FakeRunway, tmp_path: Path):
    studio.settings = studio.settings.model_copy(update={"member_max_concurrent": 10})
    still = await image_take(studio, sample, owner, "1.1", tmp_path)
    fake_runway.script.plan = ["RUNNING"]
    q = make_queue({"runway": runway(fake_runway)}, concurrency={"runway": 2})
    queued = [await requests.request(studio, sample, owner, "1.1", "video", image_take=still)
              for _ in range(5)]
    await q.start()
    await job_in(studio, queued[1].job.id, "running")
    # Two whole passes of the worker after both run: it looked again and started nothing.
    looked = q.passes
    await until(lambda: q.passes >= looked + 2)
    assert fake_runway.submissions == 2
    states = [(await jobs.get(studio.db.reader, j.job.id)).state for j in queued]
    assert states.count("queued") == 3


async def test_member_limits_refuse_with_the_reason(
        studio: Studio, sample: Production, owner: Actor, make_queue, animatic: Animatic):
    make_queue({"animatic": animatic})
    studio.settings = studio.settings.model_copy(update={"member_max_concurrent": 2,
                                                         "member_max_per_day": 3})
    for _ in range(2):
        await requests.request(studio, sample, owner, "1.1", "image", prompt="x")
    with pytest.raises(InvalidInput, match="2 jobs queued or running"):
        await requests.request(studio, sample, owner, "1.1", "image", prompt="x")
    q = requests.queue(studio)
    for job in await jobs.listed(studio.db.reader, sample.id):
        await q.wait(job.id)
    await requests.request(studio, sample, owner, "1.1", "image", prompt="x")
    await q.wait((await jobs.listed(studio.db.reader, sample.id))[0].id)
    with pytest.raises(InvalidInput, match="3 jobs in the last 24 hours"):
        await requests.request(studio, sample, owner, "1.1", "image", prompt="x")
    assert len(await jobs.listed(studio.db.reader, sample.id)) == 3


async def test_budget_refuses_a_job_it_cannot_afford_and_reports_spend(
        studio: Studio, sample: Production, owner: Actor, producer: Actor, make_queue,
        fake_runway: FakeRunway, tmp_path: Path):
    studio.settings = studio.settings.model_copy(update={"generation_budget": 0.4})
    make_queue({"runway": runway(fake_runway), "animatic": Animatic(tmp_path / "a")})
    still = await image_take(studio, sample, owner, "1.1", tmp_path)
    first = await requests.request(studio, sample, owner, "1.1", "video", image_take=still,
                                   duration=5, provider="runway")
    assert first.job.cost == pytest.approx(0.25)
    with pytest.raises(InvalidInput, match=r"budget is spent: \$0.25 of \$0.40"):
        await requests.request(studio, sample, owner, "1.1", "video", image_take=still,
                               duration=5, provider="runway")
    # Free previz still runs when the money is gone.
    await requests.request(studio, sample, owner, "1.2", "image", prompt="x",
                           provider="animatic")
    spent, limit, rows = await requests.budget(studio, sample)
    assert (spent, limit) == (pytest.approx(0.25), 0.4)
    assert {(r.member_name, r.provider, r.jobs) for r in rows} == \
        {("Maya", "runway", 1), ("Maya", "animatic", 1)}


async def test_cancel_a_queued_job_never_submits_it(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_runway: FakeRunway, tmp_path: Path):
    q = make_queue({"runway": runway(fake_runway)})
    still = await image_take(studio, sample, owner, "1.1", tmp_path)
    queued = await requests.request(studio, sample, owner, "1.1", "video", image_take=still)
    stranger = await actor(studio.db, sample, "Jonas", discord_id=102)
    with pytest.raises(NotPermitted):
        await requests.cancel(studio, sample, stranger, queued.job.id)
    job = await requests.cancel(studio, sample, owner, queued.job.id)
    assert job.state == "cancelled"
    looked = q.passes
    await q.start()
    await until(lambda: q.passes > looked)  # the worker has looked at the queue
    assert fake_runway.submissions == 0
    with pytest.raises(InvalidInput, match="already cancelled"):
        await requests.cancel(studio, sample, owner, queued.job.id)


async def test_cancel_a_running_job_tells_the_provider_and_makes_no_take(
        studio: Studio, sample: Production, owner: Actor, producer: Actor, make_queue,
        fake_runway: FakeRunway, tmp_path: Path):
    fake_runway.script.plan = ["RUNNING"]
    q = make_queue({"runway": runway(fake_runway)})
    still = await image_take(studio, sample, owner, "1.1", tmp_path)
    queued = await requests.request(studio, sample, owner, "1.1", "video", image_take=still)
    await q.start()
    running = await job_in(studio, queued.job.id, "running")
    job = await requests.cancel(studio, sample, producer, queued.job.id)
    assert job.state == "cancelled" and fake_runway.cancelled == [running.external_id]
    # Its driver has let go and every write it began is committed.
    await until(lambda: not q.drives(job.id) and not q.writing)
    assert [t.source for t in await takes.of_shot(studio.db.reader, job.shot_id)] == ["uploaded"]


async def test_transient_errors_retry_and_final_errors_fail_at_once(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_runway: FakeRunway, tmp_path: Path):
    q = make_queue({"runway": runway(fake_runway)})
    still = await image_take(studio, sample, owner, "1.1", tmp_path)
    fake_runway.script.submit_errors = deque([
        (429, {"error": "Too many requests"}, 0), (503, {"error": "unavailable"}, None)])
    retried = await requests.request(studio, sample, owner, "1.1", "video", image_take=still)
    done = await q.wait(retried.job.id, within=10)
    assert done.state == "succeeded" and done.attempts == 3 and fake_runway.submissions == 1
    fake_runway.script.submit_errors = deque([(400, {"error": "Invalid asset aspect ratio"},
                                               None)])
    refused = await requests.request(studio, sample, owner, "1.1", "video", image_take=still)
    done = await q.wait(refused.job.id, within=10)
    assert done.state == "failed" and done.attempts == 0
    assert "Invalid asset aspect ratio" in done.error


async def test_retries_give_up_after_max_attempts(
        studio: Studio, sample: Production, owner: Actor, make_queue,
        fake_runway: FakeRunway, tmp_path: Path):
    q = make_queue({"runway": runway(fake_runway)}, max_attempts=3)
    still = await image_take(studio, sample, owner, "1.1", tmp_path)
    fake_runway.script.submit_errors = deque([(502, "Bad Gateway", None)] * 5)
    queued = await requests.request(studio, sample, owner, "1.1", "video", image_take=still)
    done = await q.wait(queued.job.id, within=10)
    assert done.state == "failed" and "gave up after 3 attempts" in done.error
    assert fake_runway.submissions == 0


async def test_jobs_listing_is_mine_unless_producer(
        studio: Studio, sample: Production, owner: Actor, producer: Actor, make_queue,
        animatic: Animatic):
    make_queue({"animatic": animatic})
    mine = await requests.request(studio, sample, owner, "1.1", "image", prompt="x")
    await requests.request(studio, sample, producer, "2.1", "image", prompt="y")
    assert [j.id for j in await requests.jobs_of(studio, sample, owner)] == [mine.job.id]
    with pytest.raises(NotPermitted):
        await requests.jobs_of(studio, sample, owner, everyone=True)
    assert len(await requests.jobs_of(studio, sample, producer, everyone=True)) == 2
