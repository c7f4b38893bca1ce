"""Benchmark: 1,000 generation jobs through the durable queue on the animatic provider.

Jobs are animatic *image* jobs at 96x54 (the smallest useful storyboard frame) so that the
queue, not the drawing, is measured. Provider concurrency is 4, jobs come from 10 members.

- floor: the same 1,000 images made by calling the provider directly (submit, wait, poll,
  download), 4 at a time: what any caller must pay.
- queue: the same through `generate.request` and the worker loop, every state change
  committed to SQLite; the finisher only closes the job.
- full: as queue, plus each output stored as a take (sha256, probe, thumbnail).

Prints jobs/s for each and the queue's own overhead per job; the JSON line's figure is the
queue's wall time for 1,000 jobs against the floor's.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import jobs
from studio.app import Studio
from studio.generation import requests
from studio.generation.jobs import JobQueue, QueueConfig
from studio.generation.providers.animatic import Animatic
from studio.ops.settings import load_settings
from studio.production import board, shotlist
from studio.production.people import actor

JOBS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
MEMBERS = 10
CONCURRENCY = 4
WIDTH = 96
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "low_tide.csv"


async def floor(work: Path) -> float:
    provider = Animatic(work / "floor", width=WIDTH)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with gate:
            task = await provider.submit("image", {"prompt": f"frame {i}", "seed": i})
            await provider.wait(task)
            poll = await provider.poll(task)
            assert poll.state == "succeeded"
            await provider.download(poll.outputs[0], work / "floor-out" / str(i))

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(JOBS)))
    return time.perf_counter() - start


async def through_queue(work: Path, *, takes: bool) -> float:
    settings = load_settings(data_dir=work / ("full" if takes else "queue"),
                             member_max_concurrent=JOBS, member_max_per_day=JOBS * 10)
    studio = await Studio.open(settings)
    prod = await board.setup(studio.db, 1, "Bench", max_chapters=8)
    boss = await actor(studio.db, prod, "Producer", is_producer=True)
    await shotlist.import_shots(studio.db, prod, boss, EXAMPLE.read_bytes(), EXAMPLE.name)
    members = [await actor(studio.db, prod, f"member{i}", is_producer=True)
               for i in range(MEMBERS)]
    config = QueueConfig(poll_seconds=0.5, concurrency={"animatic": CONCURRENCY})
    provider = {"animatic": Animatic(work / ("full-a" if takes else "queue-a"), width=WIDTH)}
    if takes:
        q = requests.queue(studio, provider, config)
    else:
        async def close_only(job, files, cost) -> None:
            async with studio.db.transaction() as tx:
                await jobs.finish(tx, job.id, "succeeded", cost=cost)
        q = JobQueue(studio, provider, close_only, config)
        studio._job_queue = q  # type: ignore[attr-defined]
    start = time.perf_counter()
    queued = [await requests.request(studio, prod, members[i % MEMBERS], f"{1 + i % 8}.1",
                                     "image", prompt=f"frame {i}", seed=i)
              for i in range(JOBS)]
    await q.start()
    for item in queued:
        done = await q.wait(item.job.id)
        assert done.state == "succeeded", done.error
    elapsed = time.perf_counter() - start
    await requests.close_queue(studio)
    await studio.close()
    return elapsed


async def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    try:
        bare = await floor(work)
        queued = await through_queue(work, takes=False)
        full = await through_queue(work, takes=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{JOBS} animatic image jobs ({WIDTH}px wide), provider concurrency {CONCURRENCY}, "
          f"{MEMBERS} members")
    print(f"  floor (provider called directly): {bare:6.2f} s  {JOBS / bare:7.1f} jobs/s")
    print(f"  queue (SQLite, worker loop):      {queued:6.2f} s  {JOBS / queued:7.1f} jobs/s  "
          f"overhead {(queued - bare) / JOBS * 1000:.2f} ms/job")
    print(f"  full  (queue + takes, previews):  {full:6.2f} s  {JOBS / full:7.1f} jobs/s  "
          f"overhead {(full - bare) / JOBS * 1000:.2f} ms/job")
    print(f"  ratio queue/floor: {queued / bare:.2f}")
    print(json.dumps({"bench": "jobs", "figure": round(queued, 3), "floor": round(bare, 3),
                      "ratio": round(queued / bare, 3), "unit": f"s for {JOBS} jobs",
                      "jobs_per_s": round(JOBS / queued, 1),
                      "overhead_ms_per_job": round((queued - bare) / JOBS * 1000, 3),
                      "full_jobs_per_s": round(JOBS / full, 1)}))


if __name__ == "__main__":
    asyncio.run(main())
