"""Review fixtures: a creator owning chapter 1 with two candidate takes on shot 1.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.productions import Production
from studio.app import Studio
from studio.production import claims
from studio.production.people import Actor, actor
from studio.review import rules
from tests.review.helpers import takes_for


@pytest.fixture
async def creator(studio: Studio, sample: Production) -> Actor:
    who = await actor(studio.db, sample, "Cleo Creator", discord_id=7000)
    await claims.claim(studio.db, sample, who, 1)
    return who


@pytest.fixture
async def candidates(studio: Studio, sample: Production, creator: Actor, tmp_path: Path) -> list:
    return await takes_for(studio, sample, creator, "1.1", 2, tmp_path)


@pytest.fixture
async def quorum_one(studio: Studio, sample: Production, producer: Actor) -> None:
    await rules.configure(studio.db, sample, producer, quorum=1)
