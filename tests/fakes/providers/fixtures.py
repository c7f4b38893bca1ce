"""Pytest fixtures: a loopback fake of each hosted provider, started per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.providers.comfyui import FakeComfyUI
from tests.fakes.providers.elevenlabs import FakeElevenLabs
from tests.fakes.providers.replicate import FakeReplicate
from tests.fakes.providers.runway import FakeRunway


@pytest.fixture
async def fake_runway(tmp_path: Path) -> AsyncIterator[FakeRunway]:
    fake = FakeRunway(tmp_path / "fake-runway")
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_replicate(tmp_path: Path) -> AsyncIterator[FakeReplicate]:
    fake = FakeReplicate(tmp_path / "fake-replicate")
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_elevenlabs(tmp_path: Path) -> AsyncIterator[FakeElevenLabs]:
    fake = FakeElevenLabs(tmp_path / "fake-elevenlabs")
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_comfyui(tmp_path: Path) -> AsyncIterator[FakeComfyUI]:
    fake = FakeComfyUI(tmp_path / "fake-comfyui")
    await fake.start()
    yield fake
    await fake.stop()
