"""Benchmark: the Notion sync's API calls and wall time at Notion's 3 requests/s.

A production of 1,000 rows (50 chapters, 950 shots) is pushed once to the loopback fake (fast,
not measured), then, at the real rate limit: a no-change sync, and syncs with k changed rows.
The floor is the bare operation measured in the same run: k page writes plus one page of
query results per data source, sent straight through the same rate-limited client.
Also reported: the peak and average request rates the fake saw.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import notion_rows
from studio.app import Studio
from studio.notion.client import NotionApi
from studio.ops.settings import load_settings
from studio.production import board, shots
from studio.production.people import actor
from tests.fakes.notion.server import FakeNotion
from tests.notion_support import make_production, service_for

RATE = 3.0
CHANGED = (1, 10, 50)


async def floor(fake: FakeNotion, link: notion_rows.NotionLink, page_ids: list[str],
                k: int) -> tuple[float, int]:
    """The bare operation: one query page per data source and k page writes, nothing else."""
    api = NotionApi(fake.token, base_url=fake.url, rate=RATE)
    try:
        started = time.perf_counter()
        nothing_new = {"timestamp": "last_edited_time",
                       "last_edited_time": {"on_or_after": "2999-01-01T00:00:00.000Z"}}
        for source in (link.chapters_data_source_id, link.shots_data_source_id):
            async for _ in api.query(source, nothing_new):
                pass
        for page_id in page_ids[:k]:
            await api.update_page(page_id, {"Status": {"select": {"name": "wip"}}})
        return time.perf_counter() - started, api.calls
    finally:
        await api.close()


async def main() -> None:
    fake = FakeNotion()
    await fake.start()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp))
        studio = await Studio.open(settings)
        try:
            prod = await board.setup(studio.db, 0, "Bench")
            producer = await actor(studio.db, prod, "producer", is_producer=True)
            await make_production(studio.db, prod, 50, 19)
            setup = service_for(studio.db, settings, fake)
            await setup.connect(prod, producer, parent=fake.add_parent_page())
            first = await setup.sync(prod, producer)
            await setup.close()
            print(f"set-up: first push of 1,000 rows: {len(first.created)} created, "
                  f"{first.calls} calls, {first.seconds:.1f}s (unthrottled, not measured)")
            # As if the first push were ten minutes ago: recent-edit queries no longer see it.
            for page_id in fake.edited:
                fake.edited[page_id] -= 600
            service = service_for(studio.db, settings, fake, rate=RATE)
            await service.sync(prod, producer)
            link = await notion_rows.link(studio.db.reader, prod.id)
            assert link is not None
            shot_pages = [p["id"] for p in fake.rows(link.shots_data_source_id)]
            results = []
            peaks: list[int] = []
            averages: list[float] = []
            touched = 0
            for k in (0, *CHANGED):
                # Fresh shots each round, so exactly k rows differ from what Notion holds.
                for i in range(touched, touched + k):
                    await shots.edit_shot(studio.db, prod, producer,
                                               f"{1 + i // 19}.{1 + i % 19}", status="wip")
                touched += k
                fake.reset_counts()
                started = time.perf_counter()
                report = await service.sync(prod, producer)
                ours = time.perf_counter() - started
                peaks.append(fake.peak_rate())
                averages.append(fake.average_rate())
                assert len(report.updated) == k and not report.failed, report.summary()
                bare, bare_calls = await floor(fake, link, shot_pages, k)
                results.append((k, report.calls, ours, bare_calls, bare))
                print(f"k={k:>3} changed of 1,000: ours {report.calls} calls {ours:.2f}s; "
                      f"floor {bare_calls} calls {bare:.2f}s; ratio calls "
                      f"{report.calls / bare_calls:.2f}, time {ours / bare:.2f}")
            await service.close()
            peak = max(peaks)
            print(f"rate seen by the fake during our syncs: peak {peak} requests in any 1 s, "
                  f"average {max(averages[1:]):.2f}/s at most (limit {RATE:g}/s)")
        finally:
            await studio.close()
    await fake.stop()
    k, calls, ours, bare_calls, bare = next(r for r in results if r[0] == 10)
    print(json.dumps({"bench": "notion_sync_10_of_1000", "figure": round(ours, 3),
                      "floor": round(bare, 3), "ratio": round(ours / bare, 3), "unit": "s",
                      "calls": calls, "floor_calls": bare_calls, "peak_rate": peak}))


if __name__ == "__main__":
    asyncio.run(main())
