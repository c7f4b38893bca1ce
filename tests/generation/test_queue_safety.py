"""Paid jobs are never paid twice nor lost: two workers on one database, outages, stops,
budgets of billed failures, and every worker log line naming its job."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections import deque
from pathlib import Path

import pytest

from storage import jobs, takes
from storage.productions import Production
from studio.app import Studio
from studio.generation import requests
from studio.ops.logging_setup import setup_logging
from studio.ops.settings import Settings
from studio.production.people import Actor
from tests.fakes.providers.runway import FakeRunway
from tests.generation.conftest import fast_config
from tests.generation.helpers import job_in, runway, until


async def test_two_workers_on_one_database_submit_each_job_once(
        studio: Studio, settings: Settings, sample: Production, owner: Actor,
        fake_runway: FakeRunway):
    studio.settings = studio.settings.model_copy(update={"member_max_concurrent": 100})
    fake_runway.script.plan = ["PENDING", "RUNNING", "SUCCEEDED"]
    first = requests.queue(studio, {"runway": runway(fake_runway)},
                           fast_config(concurrency={"runway": 8}))
    queued = [await requests.request(studio, sample, owner, "1.1", "image", prompt=f"pier {i}",
                                     provider="runway")
              for i in range(40)]
    other = await Studio.open(settings)  # the bot and `python bot.py generate` side by side
    try:
        second = requests.queue(other, {"runway": runway(fake_runway)},
                                fast_config(concurrency={"runway": 8}))
        await asyncio.gather(first.start(), second.start())
        for q in queued:
            done = await job_in(studio, q.job.id, "succeeded", "failed", within=30)
            assert done.state == "succeeded", done.error
    finally:
        await requests.close_queue(other)
        await other.close()
        await requests.close_queue(studio)
    assert fake_runway.submissions == 40
    made = [t for t in await takes.of_shot(studio.db.reader, queued[0].job.shot_id)
            if t.source == "generated"]
    assert sorted(t.job_id for t in made) == sorted(q.job.id for q in queued)
    assert len({t.external_id for t in made}) == 40


async def test_a_job_leased_by_a_live_worker_is_not_polled_by_another(
        studio: Studio, settings: Settings, sample: Production, owner: Actor,
        fake_runway: FakeRunway, tmp_path: Path):
    fake_runway.script.plan = ["RUNNING"]
    first = requests.queue(studio, {"runway": runway(fake_runway)},
                           fast_config(lease_seconds=0.3))
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="Pier",
                                    provider="runway")
    await first.start()
    running = await job_in(studio, queued.job.id, "running")
    # The second worker's Runway does not know the task: a poll from it would fail the job.
    elsewhere = FakeRunway(tmp_path / "elsewhere")
    await elsewhere.start()
    other = await Studio.open(settings)
    try:
        await requests.queue(other, {"runway": runway(elsewhere)},
                             fast_config(lease_seconds=0.3)).start()
        await asyncio.sleep(1.0)  # three leases long: the first worker keeps renewing
        still = await jobs.get(studio.db.reader, queued.job.id)
        assert still is not None and still.state == "running" and still.error == ""
        assert still.claimed_by == first.token
        fake_runway.tasks[running.external_id]["plan"] = ["SUCCEEDED"]
        done = await job_in(studio, queued.job.id, "succeeded", "failed")
        assert done.state == "succeeded" and fake_runway.submissions == 1
        assert elsewhere.submissions == 0
    finally:
        await requests.close_queue(other)
        await other.close()
        await elsewhere.stop()
        await requests.close_queue(studio)


async def test_a_paid_job_is_polled_through_an_outage_and_succeeds(
        studio: Studio, sample: Production, owner: Actor, make_queue, fake_runway: FakeRunway):
    fake_runway.script.plan = ["RUNNING"]
    q = make_queue({"runway": runway(fake_runway)}, max_attempts=3)
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="Pier",
                                    provider="runway")
    await q.start()
    running = await job_in(studio, queued.job.id, "running")
    # Far longer than max_attempts × backoff: refused connections, then 5xx and 429.
    await fake_runway.down()
    await asyncio.sleep(0.4)
    fake_runway.script.poll_errors = deque([(503, "Service Unavailable", None)] * 8
                                           + [(429, {"error": "slow down"}, 0)])
    await fake_runway.up()
    await until(lambda: _empty(fake_runway.script.poll_errors))
    during = await jobs.get(studio.db.reader, queued.job.id)
    assert during is not None and during.state == "running"
    fake_runway.tasks[running.external_id]["plan"] = ["SUCCEEDED"]
    done = await q.wait(queued.job.id, within=10)
    assert done.state == "succeeded" and done.take_id is not None
    assert fake_runway.submissions == 1
    assert done.unanswered_since is None and done.error == ""


async def _empty(queue: deque) -> bool:
    return not queue


async def test_a_provider_that_never_answers_fails_naming_the_task(
        studio: Studio, sample: Production, owner: Actor, make_queue, fake_runway: FakeRunway):
    fake_runway.script.plan = ["RUNNING"]
    q = make_queue({"runway": runway(fake_runway)}, poll_give_up_seconds=0.3)
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="Pier",
                                    provider="runway")
    await q.start()
    running = await job_in(studio, queued.job.id, "running")
    await fake_runway.down()
    done = await q.wait(queued.job.id, within=10)
    await fake_runway.up()
    assert done.state == "failed"
    assert "never answered" in done.error and running.external_id in done.error
    assert done.cost == pytest.approx(0.08)  # submitted, so possibly billed: it counts
    assert fake_runway.submissions == 1


async def test_budget_counts_billed_failures_and_cancels_not_unsubmitted_ones(
        studio: Studio, sample: Production, owner: Actor, make_queue, fake_runway: FakeRunway):
    studio.settings = studio.settings.model_copy(update={"member_max_concurrent": 10})
    q = make_queue({"runway": runway(fake_runway)})
    fake_runway.script.plan = ["RUNNING", "FAILED"]
    failed = await requests.request(studio, sample, owner, "1.1", "image", prompt="a",
                                    provider="runway")
    assert (await q.wait(failed.job.id, within=10)).state == "failed"
    fake_runway.script.plan = ["RUNNING"]
    running = await requests.request(studio, sample, owner, "1.1", "image", prompt="b",
                                     provider="runway")
    await q.start()
    await job_in(studio, running.job.id, "running")
    await requests.cancel(studio, sample, owner, running.job.id)
    await q.stop()
    never = await requests.request(studio, sample, owner, "1.1", "image", prompt="c",
                                   provider="runway")
    await requests.cancel(studio, sample, owner, never.job.id)
    fake_runway.script.submit_errors = deque([(400, {"error": "Invalid ratio"}, None)])
    refused = await requests.request(studio, sample, owner, "1.1", "image", prompt="d",
                                     provider="runway")
    assert (await q.wait(refused.job.id, within=10)).state == "failed"
    costs = {j.id: j.cost for j in await jobs.listed(studio.db.reader, sample.id)}
    assert costs == {failed.job.id: pytest.approx(0.08), running.job.id: pytest.approx(0.08),
                     never.job.id: 0.0, refused.job.id: 0.0}
    spent, _, rows = await requests.budget(studio, sample)
    assert spent == pytest.approx(0.16)
    assert [(r.provider, r.jobs, round(r.cost, 2)) for r in rows] == [("runway", 2, 0.16)]


async def test_a_stop_while_the_providers_id_is_being_stored_keeps_it(
        studio: Studio, settings: Settings, sample: Production, owner: Actor,
        fake_runway: FakeRunway):
    fake_runway.script.plan = ["RUNNING", "SUCCEEDED"]
    q = requests.queue(studio, {"runway": runway(fake_runway)}, fast_config())
    queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="Pier",
                                    provider="runway")
    fake_runway.script.submit_delay = 0.3
    await q.start()
    await until(lambda: _claimed(studio, queued.job.id))
    async with studio.db.transaction():  # another write holds the database
        await until(lambda: _submitted(fake_runway))
        await until(lambda: q.writing)  # the id is answered; the worker waits to store it
        stopping = asyncio.create_task(requests.close_queue(studio))
        await until(lambda: not q.drives(queued.job.id))  # the stop has cancelled the driver
        assert q.writing and not stopping.done()  # stop waits for the write, not cancel it
    await stopping
    stored = await jobs.get(studio.db.reader, queued.job.id)
    assert stored is not None and stored.state == "submitted" and stored.external_id
    assert stored.claimed_by is None  # released: the next start need not wait for a lease
    fresh = await Studio.open(settings)
    try:
        await requests.queue(fresh, {"runway": runway(fake_runway)}, fast_config()).start()
        done = await job_in(fresh, queued.job.id, "succeeded", "failed")
        assert done.state == "succeeded" and fake_runway.submissions == 1
    finally:
        await requests.close_queue(fresh)
        await fresh.close()


async def _claimed(studio: Studio, job_id: int) -> bool:
    job = await jobs.get(studio.db.reader, job_id)
    return job is not None and job.claimed_by is not None


async def _submitted(fake: FakeRunway) -> bool:
    return fake.submissions >= 1


async def test_a_stop_takes_no_new_work_and_frees_every_job(
        studio: Studio, sample: Production, owner: Actor, make_queue, fake_runway: FakeRunway):
    studio.settings = studio.settings.model_copy(update={"member_max_concurrent": 10})
    fake_runway.script.plan = ["RUNNING"]
    q = make_queue({"runway": runway(fake_runway)}, concurrency={"runway": 1})
    first = await requests.request(studio, sample, owner, "1.1", "image", prompt="a",
                                   provider="runway")
    second = await requests.request(studio, sample, owner, "1.1", "image", prompt="b",
                                    provider="runway")
    await q.start()
    await job_in(studio, first.job.id, "running")
    await q.stop()
    # Nothing of the worker runs any more (no loop, no driver) that could submit later.
    assert [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("slate-job")] \
        == []
    assert fake_runway.submissions == 1
    rows = {j.id: j for j in await jobs.listed(studio.db.reader, sample.id)}
    assert rows[first.job.id].state == "running" and rows[second.job.id].state == "queued"
    assert all(j.claimed_by is None and j.lease_until is None for j in rows.values())


async def test_every_line_the_worker_logs_names_its_job(
        studio: Studio, sample: Production, owner: Actor, make_queue, fake_runway: FakeRunway):
    stream = io.StringIO()
    handler = setup_logging(studio.settings, stream)
    try:
        fake_runway.script.submit_errors = deque([(503, {"error": "unavailable"}, None)])
        fake_runway.script.poll_errors = deque([(502, "Bad Gateway", None)])
        q = make_queue({"runway": runway(fake_runway)})
        queued = await requests.request(studio, sample, owner, "1.1", "image", prompt="Pier",
                                        provider="runway")
        await q.start()
        assert (await q.wait(queued.job.id, within=10)).state == "succeeded"
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [line for line in stream.getvalue().splitlines() if " studio.generation.jobs " in line]
    said = " ".join(lines)
    for expected in ("did not take the job", "submitted to runway", "polling", "succeeded"):
        assert expected in said
    assert all(re.search(rf"\[job={queued.job.id}\]", line) for line in lines), lines
