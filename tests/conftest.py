"""Shared fixtures: every test gets its own data directory and a freshly migrated database."""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from storage.db import Database
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


def _database_threads() -> set[threading.Thread]:
    """The worker threads of open aiosqlite connections (one per connection)."""
    return {t for t in threading.enumerate()
            if t.is_alive() and t.name.endswith("(_connection_worker_thread)")}


def _stop_connections(threads: set[threading.Thread]) -> None:
    """Stop the connections these threads serve: their threads are not daemons, so a leak
    would hang the run at exit."""
    import gc

    import aiosqlite

    for conn in [o for o in gc.get_objects() if isinstance(o, aiosqlite.Connection)]:
        if conn._thread in threads:
            conn.stop()


@pytest.fixture(autouse=True)
def no_database_left_open(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test that leaves a database open (checked after every fixture of the test is
    torn down, since this one is set up first). Each Database the test opens is held here
    until then, so one dropped without close() is not quietly collected."""
    before = _database_threads()
    opened: list[Database] = []
    real_open = Database.open.__func__  # type: ignore[attr-defined]

    async def recorded(cls: type[Database], *args: object, **kwargs: object) -> Database:
        database = await real_open(cls, *args, **kwargs)
        opened.append(database)
        return database

    monkeypatch.setattr(Database, "open", classmethod(recorded))
    yield
    unclosed = [str(d.path) for d in opened if not d.closed]
    left = _database_threads() - before
    for thread in left:
        thread.join(1.0)  # a connection closed just now lets its thread go a moment later
    left = {t for t in left if t.is_alive()}
    if left:
        _stop_connections(left)
    if unclosed or left:
        pytest.fail(f"the test left databases open: {unclosed} "
                    f"({len(left)} connection(s) still running)", pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Connections left by session-wide code fail the run too (and are stopped, so that
    the run does not hang at exit)."""
    left = _database_threads()
    if left:
        _stop_connections(left)
        print(f"\n{len(left)} database connection(s) were left open", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
