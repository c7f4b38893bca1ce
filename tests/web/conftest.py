"""A small production with a published cut, built once per module, and the web face over it."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from storage import shots
from storage.productions import Production
from studio.app import Studio
from studio.cut import build
from studio.generation import takes
from studio.generation.standin import make_standin_take, make_still
from studio.ops.settings import Settings, load_settings
from studio.production import board, claims, shotlist
from studio.production import shots as production_shots
from studio.production.people import actor
from studio.review import approvals, ballots, windows
from studio.review.ballots import VOTE_AGAINST, VOTE_FOR, Voter
from web.app import make_app

ROOT = Path(__file__).resolve().parent.parent.parent
SECRET = "web-test-secret-do-not-log-0c9f"
GUILD = 4242
VOTES_CHANNEL, BALLOT = 777, 880_000
SHOT_LIST = """chapter,chapter_title,shot,description,duration,notes
1,Dawn,1,Wide of the flats,1,
1,Dawn,2,Pell's tracks,1,
2,Storm,1,Clouds roll in,1,
2,Storm,2,Lightning,1,
3,第三章 潮汐,1,潮水漫过沙滩,1,
3,第三章 潮汐,2,The bottle floats,1,
4,Home,1,The basket,1,
"""
TITLE = "Low Tide 低潮"


@dataclass(frozen=True)
class Built:
    settings: Settings
    production_id: int
    version: int
    duration: float


def web_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"cut_width": 320, "cut_height": 180, "cut_fps": "24",
                                 "cut_credits_seconds": 1.0, "web_secret": SECRET}
    return load_settings(data_dir=data_dir, **(values | overrides))


async def _build(settings: Settings, media: Path) -> Built:
    studio = await Studio.open(settings)
    try:
        prod = await board.setup(studio.db, GUILD, TITLE, producer_role="Producer",
                                      max_chapters=2)
        pat = await actor(studio.db, prod, "Pat", discord_id=9000, is_producer=True)
        await shotlist.import_shots(studio.db, prod, pat, SHOT_LIST.encode(), "film.csv")
        maya = await actor(studio.db, prod, "Maya", discord_id=9001)
        lin = await actor(studio.db, prod, "林娜", discord_id=9002)
        await claims.claim(studio.db, prod, maya, 1)
        await claims.claim(studio.db, prod, maya, 2)
        await claims.claim(studio.db, prod, lin, 3)
        for code in ("1.1", "1.2", "2.1", "3.1", "3.2"):
            owner = lin if code.startswith("3") else maya
            made = make_standin_take(media / f"{code}.mp4", code, audio=True)
            await takes.add_take(studio, prod, owner, code, made)
        await takes.add_take(studio, prod, lin, "3.1",
                             make_standin_take(media / "3.1b.mp4", "3.1 b", pattern="smptebars"))
        await takes.add_take(studio, prod, maya, "2.2", make_still(media / "2.2.png", "2.2"))
        # Shot 3.1 is voted on in Discord: two candidates, the first wins.
        status = await windows.open_vote(studio.db, prod, pat, "3.1")
        assert status.window is not None
        for take in status.unposted:
            await windows.record_posted(studio.db, status.window.id, take.id, VOTES_CHANNEL,
                                       BALLOT + take.id)
        status = await windows.status(studio.db, prod, "3.1")
        for n, (first, second) in enumerate([(1, -1), (1, 1), (1, -1)]):
            voter = Voter(5000 + n, f"voter {n}")
            for candidate, value in zip(status.candidates, (first, second), strict=True):
                assert candidate.message is not None
                await ballots.reaction_added(studio.db, candidate.message.message_id, voter,
                                            VOTE_FOR if value > 0 else VOTE_AGAINST)
        await windows.close_vote(studio.db, prod, pat, "3.1")
        for code in ("1.1", "1.2", "2.1", "3.2"):
            await approvals.approve(studio.db, prod, pat, f"{code}r1")
        ref = await production_shots.shot(studio.db, prod, "1.1")
        assert (await shots.get(studio.db.reader, ref.shot.id)).status == "approved"
        result = await build.build(studio, prod, trigger="test")
        return Built(settings, prod.id, result.cut.version, result.timeline.duration)
    finally:
        await studio.close()


@pytest.fixture(scope="package")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Built once for all the web tests: they read it and never change the production."""
    root = tmp_path_factory.mktemp("web")
    media = root / "in"
    media.mkdir()
    return asyncio.run(_build(web_settings(root / "data"), media))


@pytest.fixture
async def web_studio(built: Built, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Studio]:
    monkeypatch.chdir(built.settings.data_dir.parent)
    opened = await Studio.open(built.settings)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def client(web_studio: Studio) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_app(web_studio))) as http:
        yield http


async def production_of(studio: Studio) -> Production:
    return await board.get(studio.db, GUILD)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium's path: installed from Debian's package when absent (CI starts bare); a test
    needing it is skipped only when that fails, with the reason printed."""
    from tests.web.browser import install_chromium

    found, why = install_chromium()
    if found is None:
        print(f"\nSKIPPING the browser tests: {why}", file=sys.stderr)
        pytest.skip(f"no Chromium: {why}")
    return found


@pytest.fixture
def artifacts() -> Path:
    """Where tests leave files for people to look at (CI uploads the folder)."""
    folder = Path(os.environ.get("SLATE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
