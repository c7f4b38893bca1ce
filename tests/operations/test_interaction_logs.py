"""Every log line of an interaction carries its id, and the error reference a user sees is it."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest

from studio.ops.logging_setup import setup_logging
from tests.fakes.discord.fixtures import Stage


@pytest.fixture
def log_text(stage: Stage) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    setup_logging(stage.studio.settings.model_copy(update={"log_level": "DEBUG"}), stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


async def test_an_interactions_lines_carry_its_id(stage: Stage, log_text: io.StringIO) -> None:
    reply = await stage.fake.as_user(stage.alice).slash("chapter claim", chapter=1)
    assert "now holds chapter 1" in reply.content
    claim = max(stage.fake.interactions)
    other = await stage.fake.as_user(stage.bob).slash("chapter info", chapter=1)
    assert "Chapter 1" in other.text
    info = max(stage.fake.interactions)
    lines = log_text.getvalue().splitlines()
    # discord.py logs each request it makes at DEBUG: the answer to each interaction is one.
    for ident in (claim, info):
        answering = [ln for ln in lines if f"/interactions/{ident}/" in ln]
        assert answering, f"no line about answering interaction {ident}"
        assert all(f"[interaction={ident}]" in ln for ln in answering), answering
    assert not [ln for ln in lines if f"/interactions/{claim}/" in ln
                and f"[interaction={info}]" in ln]


async def test_the_error_reference_finds_the_interactions_lines(
        stage: Stage, log_text: io.StringIO) -> None:
    await stage.studio.db.close()  # the database goes away under the bot
    reply = await stage.fake.as_user(stage.alice).slash("chapter claim", chapter=1)
    match = re.fullmatch(r"something went wrong \(ref (\d+)\)", reply.content)
    assert match
    tagged = [ln for ln in log_text.getvalue().splitlines()
              if f"[interaction={match.group(1)}]" in ln]
    failed = [ln for ln in tagged if "/chapter claim failed" in ln]
    assert len(failed) == 1 and "Traceback" in failed[0] and "ERROR" in failed[0]
    assert any(f"/interactions/{match.group(1)}/" in ln for ln in tagged)
