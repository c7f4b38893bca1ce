"""Logs: one line per event, tagged with its interaction or job, and no secret ever written."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from studio.ops.logging_setup import log_context, setup_logging
from studio.ops.settings import Settings, load_settings

SECRETS = {
    "DISCORD_TOKEN": "MTA5OTk5.discord-token-value.Zz9",
    "NOTION_TOKEN": "ntn_notion_secret_4242",
    "RUNWAYML_API_SECRET": "key_runway_0123456789abcdef",
    "REPLICATE_API_TOKEN": "r8_replicate_token_xyz",
    "ELEVENLABS_API_KEY": "sk_eleven_labs_key_987",
}
COMFY_PASSWORD = "comfy-pass-secret"


@pytest.fixture
def secret_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SLATE_COMFYUI_URLS",
                       f"http://render:{COMFY_PASSWORD}@127.0.0.1:8188,http://127.0.0.1:8189")
    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _leaks(text: str) -> list[str]:
    return [s for s in [*SECRETS.values(), COMFY_PASSWORD] if s in text]


def _log_everything(log: logging.Logger) -> int:
    """Log the secrets every way code might; returns how many events were logged."""
    token = SECRETS["DISCORD_TOKEN"]
    log.info("logging in with %s", token)
    log.warning(f"notion answered for {SECRETS['NOTION_TOKEN']}")
    log.info("headers %r", {"Authorization": f"Bearer {SECRETS['RUNWAYML_API_SECRET']}"})
    try:
        try:
            raise ValueError(f"replicate refused {SECRETS['REPLICATE_API_TOKEN']}")
        except ValueError as inner:
            raise RuntimeError(f"elevenlabs key {SECRETS['ELEVENLABS_API_KEY']}") from inner
    except RuntimeError:
        log.exception("generation failed with %s", token)
    log.error("stack while holding %s", token, stack_info=True)
    logging.getLogger("discord.http").debug("comfy at http://render:%s@host", COMFY_PASSWORD)
    return 6


def test_no_secret_reaches_the_log(secret_settings: Settings, restore_root: None) -> None:
    assert secret_settings.discord_token is not None
    out = io.StringIO()
    setup_logging(secret_settings.model_copy(update={"log_level": "DEBUG"}), out)
    events = _log_everything(logging.getLogger("slate.test"))

    text = out.getvalue()
    assert _leaks(text) == []
    assert text.count("***") >= 8
    lines = text.splitlines()
    assert len(lines) == events  # a traceback stays on its event's line
    assert "Traceback (most recent call last)" in lines[3]
    assert "RuntimeError: elevenlabs key ***" in lines[3]
    assert "ValueError: replicate refused ***" in lines[3]
    assert "Stack (most recent call last)" in lines[4]


def test_no_secret_in_json_lines(secret_settings: Settings, restore_root: None) -> None:
    out = io.StringIO()
    setup_logging(secret_settings.model_copy(update={"log_level": "DEBUG",
                                                     "log_format": "json"}), out)
    events = _log_everything(logging.getLogger("slate.test"))
    text = out.getvalue()
    assert _leaks(text) == []
    entries = [json.loads(line) for line in text.splitlines()]
    assert len(entries) == events
    assert entries[0]["message"] == "logging in with ***"
    assert "RuntimeError: elevenlabs key ***" in entries[3]["traceback"]


async def test_each_line_names_its_interaction_or_job(secret_settings: Settings,
                                                      restore_root: None) -> None:
    out = io.StringIO()
    setup_logging(secret_settings, out)
    log = logging.getLogger("slate.test")

    async def worker(job_id: int) -> None:
        with log_context("job", job_id):
            await asyncio.sleep(0)
            log.info("job polled")

    async def followup() -> None:
        await asyncio.sleep(0)
        log.info("followup sent")

    log.info("starting")
    with log_context("interaction", 1234567890):
        log.info("claim received")
        task = asyncio.create_task(followup())  # inherits the interaction's tag
    await asyncio.gather(task, worker(41), worker(42))
    log.info("done")

    lines = out.getvalue().splitlines()
    tags = {line.split(" [", 1)[1].split("] ", 1)[1]: line.split(" [", 1)[1].split("]")[0]
            for line in lines}
    assert tags == {"starting": "-", "claim received": "interaction=1234567890",
                    "followup sent": "interaction=1234567890", "job polled": "job=42",
                    "done": "-"}
    assert sum("job polled" in line for line in lines) == 2
    assert {line.split("[")[1].split("]")[0] for line in lines if "job polled" in line} == {
        "job=41", "job=42"}


def test_setup_twice_keeps_one_handler(secret_settings: Settings, restore_root: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    setup_logging(secret_settings, first)
    setup_logging(secret_settings, second)
    logging.getLogger("slate.test").warning("once")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1
