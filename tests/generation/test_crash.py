"""A real crash: the worker process is SIGKILLed mid-job, and the next process finishes the
job from the database: one submission, one take, with its preview, the job closed."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from storage import jobs, takes
from storage.productions import Production
from studio.app import Studio
from studio.generation import requests
from studio.generation.providers.runway import Runway
from studio.ops.settings import Settings
from studio.production.people import Actor
from tests.fakes.providers.runway import KEY, FakeRunway
from tests.generation.conftest import fast_config
from tests.generation.helpers import until

WORKER = Path(__file__).with_name("crash_worker.py")


async def worker(settings: Settings, fake: FakeRunway, tmp_path: Path,
                 pause_at: str = "") -> asyncio.subprocess.Process:
    """`python bot.py generate` in its own process, against the fake Runway."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")}
    env.update(SLATE_DATA_DIR=str(settings.data_dir), RUNWAYML_API_SECRET=KEY,
               SLATE_RUNWAY_BASE_URL=fake.url, SLATE_JOB_POLL_SECONDS="0.05",
               SLATE_JOB_LEASE_SECONDS="1", SLATE_TEST_PAUSE_AT=pause_at,
               SLATE_TEST_SIGNAL=str(tmp_path / "paused"))
    return await asyncio.create_subprocess_exec(
        sys.executable, str(WORKER), "--guild", "1", "--as", "Maya", "generate", "--shot",
        "1.1", "--kind", "image", "--prompt", "Pier at dawn", "--provider", "runway",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)


@pytest.mark.parametrize("crash_at", ["download", "previews"])
async def test_a_worker_killed_mid_job_is_finished_by_the_next_one(
        studio: Studio, settings: Settings, sample: Production, owner: Actor,
        fake_runway: FakeRunway, tmp_path: Path, crash_at: str):
    if crash_at == "download":  # the provider is done; our download of its output hangs
        fake_runway.script.output_delay = 60
    process = await worker(settings, fake_runway, tmp_path,
                           pause_at="previews" if crash_at == "previews" else "")
    try:
        if crash_at == "download":
            await asyncio.wait_for(fake_runway.output_requested.wait(), 30)
        else:
            await until(_exists(tmp_path / "paused"), within=30)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    [job] = await jobs.listed(studio.db.reader, sample.id)
    assert job.state in ("submitted", "running") and job.external_id
    assert job.claimed_by is not None  # the dead process's lease: it must run out first
    made = [t for t in await takes.of_shot(studio.db.reader, job.shot_id)
            if t.source == "generated"]
    assert len(made) == (1 if crash_at == "previews" else 0)

    fake_runway.script.output_delay = 0
    q = requests.queue(studio, {"runway": Runway(KEY, base_url=fake_runway.url)},
                       fast_config(lease_seconds=1))
    await q.start()
    try:
        done = await q.wait(job.id, within=15)
    finally:
        await requests.close_queue(studio)
    assert done.state == "succeeded", done.error
    assert fake_runway.submissions == 1
    made = [t for t in await takes.of_shot(studio.db.reader, job.shot_id)
            if t.source == "generated"]
    assert len(made) == 1 and made[0].id == done.take_id
    assert made[0].preview_sha256 and made[0].thumbnail_sha256
    assert made[0].external_id == job.external_id


def _exists(path: Path) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await asyncio.to_thread(path.exists)
    return check
