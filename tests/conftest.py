"""Shared fixtures: every test gets its own data directory and a freshly migrated database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.productions import Production
from studio.app import Studio
from studio.ops.settings import Settings, load_settings
from studio.production import board
from studio.production.people import Actor, actor

EXAMPLES = Path(__file__).parent.parent / "examples"

# The fake Discord and the bot logged into it: `discord_fake`, `slate`, `stage`.
pytest_plugins = ["tests.fakes.discord.fixtures", "tests.fakes.notion.fixtures",
                  "tests.fakes.providers.fixtures"]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # Tests never read a developer's .env or environment secrets.
    monkeypatch.chdir(tmp_path)
    for name in ("DISCORD_TOKEN", "NOTION_TOKEN", "RUNWAYML_API_SECRET", "REPLICATE_API_TOKEN",
                 "ELEVENLABS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture
async def studio(settings: Settings) -> AsyncIterator[Studio]:
    opened = await Studio.open(settings)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def prod(studio: Studio) -> Production:
    return await board.setup(studio.db, 1, "Test Film", producer_role="Producer",
                                  max_chapters=2)


@pytest.fixture
async def producer(studio: Studio, prod: Production) -> Actor:
    return await actor(studio.db, prod, "Pat Producer", discord_id=9000, is_producer=True)


@pytest.fixture
async def sample(studio: Studio, prod: Production, producer: Actor) -> Production:
    """The production with the example shot list (8 chapters, 40 shots) imported."""
    from studio.production import shotlist

    data = (EXAMPLES / "low_tide.csv").read_bytes()
    await shotlist.import_shots(studio.db, prod, producer, data, "low_tide.csv")
    return prod


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A test that failed before closing its database must not hang the run at exit:
    aiosqlite's worker threads are not daemons, so stop any that are left."""
    import gc
    import sys

    import aiosqlite

    gc.collect()
    leaked = [o for o in gc.get_objects() if isinstance(o, aiosqlite.Connection)
              and o._thread.is_alive()]
    for conn in leaked:
        conn.stop()
    if leaked:
        print(f"\nclosed {len(leaked)} database connection(s) a test left open", file=sys.stderr)
