"""`python bot.py`: a missing or rejected token is one clear line and exit 2; SIGTERM is clean."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from cogs.common import RESTARTING
from tests.fakes.discord import Attachment, FakeDiscord, User, UserSession
from tests.fakes.discord.server import eventually
from tests.fakes.notion.server import FakeNotion
from tests.fakes.providers import runway as fake_runway
from tests.fakes.providers.runway import FakeRunway

ROOT = Path(__file__).parent.parent.parent

# Runs the real entry point in a child process, aimed at the fake (as the tests' fixtures do).
CHILD = """
import sys
import discord.gateway, discord.http, yarl
port = sys.argv[1]
discord.http.Route.BASE = f"http://127.0.0.1:{port}/api/v10"
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{port}/gateway")
import bot
sys.exit(bot.main([]))
"""


def child_env(tmp_path: Path, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"
           and not k.startswith("SLATE_")}
    env["SLATE_DATA_DIR"] = str(tmp_path / "data")
    env["PYTHONPATH"] = str(ROOT)
    env["SLATE_WEB_BIND"] = "127.0.0.1:0"  # any free port: children never race for 8080
    if token is not None:
        env["DISCORD_TOKEN"] = token
    return env


async def run_child(tmp_path: Path, fake: FakeDiscord | None, token: str | None
                    ) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(fake.port if fake else 1), cwd=tmp_path,
        env=child_env(tmp_path, token), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)


async def test_missing_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    child = await run_child(tmp_path, None, None)
    _, err = await child.communicate()
    assert child.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("slate: DISCORD_TOKEN is not set")


async def test_rejected_token_is_one_line_and_exit_2(tmp_path: Path,
                                                     discord_fake: FakeDiscord) -> None:
    child = await run_child(tmp_path, discord_fake, "wrong-token")
    _, err = await asyncio.wait_for(child.communicate(), 30)
    assert child.returncode == 2
    # Besides the bot's INFO log lines, one line says what is wrong: no traceback, no warnings.
    lines = [ln for ln in err.decode().strip().splitlines() if " INFO " not in ln]
    assert lines == ["slate: Discord rejected DISCORD_TOKEN: reset the bot's token in the "
                     "developer portal and export the new one"]
    assert "wrong-token" not in err.decode()


async def test_sigterm_closes_the_gateway_cleanly(tmp_path: Path,
                                                  discord_fake: FakeDiscord) -> None:
    child = await run_child(tmp_path, discord_fake, discord_fake.token)
    await eventually(discord_fake.live_sessions, 30)
    assert discord_fake.command_syncs == 1  # global: no DISCORD_GUILD_ID in this run
    assert {c["name"] for c in discord_fake.commands[None]} >= {"production", "chapter"}
    child.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(child.communicate(), 30)
    assert child.returncode == 0
    assert "stopping: closing the gateway and the database" in err.decode()
    await eventually(lambda: not discord_fake.live_sessions())


async def test_a_database_from_a_newer_slate_is_one_line_and_exit_2(
        tmp_path: Path, discord_fake: FakeDiscord) -> None:
    import sqlite3

    from storage.db import Database, migrations

    db = await Database.open(tmp_path / "data" / "slate.db")
    await db.close()
    with sqlite3.connect(tmp_path / "data" / "slate.db") as conn:
        conn.execute("INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                     (migrations()[-1][0] + 1, "9999_from_the_future.sql", "2030-01-01"))
    child = await run_child(tmp_path, discord_fake, discord_fake.token)
    _, err = await asyncio.wait_for(child.communicate(), 30)
    assert child.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("slate: ") and "newer" in lines[0], lines


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Child:
    """The real `python bot.py` aimed at the fakes, its output read as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._readers = [asyncio.create_task(self._read(s))
                         for s in (process.stdout, process.stderr) if s is not None]

    @classmethod
    async def start(cls, tmp_path: Path, fake: FakeDiscord, extra: dict[str, str]) -> Child:
        env = child_env(tmp_path, fake.token) | extra
        return cls(await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, str(fake.port), cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    async def logged(self, text: str, within: float = 10.0) -> str:
        """The first line the process wrote containing `text`, waiting for it if need be."""
        await eventually(lambda: any(text in ln for ln in self.lines), within)
        return next(ln for ln in self.lines if text in ln)

    async def stop(self) -> tuple[int, str]:
        """SIGTERM, then the exit status and everything the process wrote."""
        self.process.send_signal(signal.SIGTERM)
        return await self.exited()

    async def exited(self) -> tuple[int, str]:
        code = await asyncio.wait_for(self.process.wait(), 40)
        await asyncio.gather(*self._readers)
        return code, "\n".join(self.lines)


async def _set_up(fake: FakeDiscord) -> tuple[User, User, User]:
    """A production set up and its shot list imported, through Discord: (pat, alice, bob)."""
    role = fake.add_role("Producer")
    pat, alice, bob = fake.add_user("Pat", role), fake.add_user("Alice"), fake.add_user("Bob")
    takes = fake.add_channel("takes")
    done = await fake.as_user(fake.owner).slash("production setup", title="Low Tide",
                                                producer_role=role, takes_channel=takes)
    assert "is set up" in (done.content or ""), done.content
    shot_list = (ROOT / "examples" / "low_tide.csv").read_bytes()
    imported = await fake.as_user(pat).slash("shot import",
                                             file=Attachment("low_tide.csv", shot_list))
    assert "8 new chapters" in imported.content, imported.content
    return pat, alice, bob


async def test_sigterm_turns_new_interactions_away_and_lets_writes_finish(
        tmp_path: Path, discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    child = await Child.start(tmp_path, fake, {})
    await eventually(fake.live_sessions, 30)
    _, alice, bob = await _set_up(fake)

    # Another process holds the database's write lock: Alice's claim is in flight, waiting.
    database = tmp_path / "data" / "slate.db"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    claim = asyncio.create_task(fake.as_user(alice).slash("chapter claim", chapter=1))
    # The bot holds the claim in flight once it has deferred it (Discord recorded the answer).
    await eventually(lambda: any(i.user is alice and i.response_type == 5
                                 for i in fake.interactions.values()), 10)
    child.process.send_signal(signal.SIGTERM)
    await child.logged("waiting for 1 interactions to finish")
    # While it drains, a new command hears that Slate is restarting, not "interaction failed".
    turned_away = await fake.as_user(bob).slash("chapter info", chapter=2)
    assert turned_away.ephemeral and turned_away.content == RESTARTING
    holder.rollback()
    holder.close()
    claimed = await claim
    assert "now holds chapter 1" in claimed.content
    code, logs = await child.exited()
    assert code == 0, logs
    await eventually(lambda: not fake.live_sessions())
    with sqlite3.connect(database) as check:
        owner = check.execute(
            "SELECT m.name FROM chapter c JOIN member m ON m.id = c.owner_id"
            " WHERE c.number = 1").fetchone()
    check.close()
    assert owner == ("Alice",)  # the claim the user was told about is in the database


async def test_a_full_run_never_shows_a_secret(
        tmp_path: Path, discord_fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    fake = discord_fake
    fake.token = "MTk4NjIy.discord-bot-SECRET.Gh7x"
    notion = FakeNotion(token="ntn_notion_SECRET_5150")
    runway = FakeRunway(tmp_path / "runway")
    monkeypatch.setattr(fake_runway, "KEY", "key_runway_SECRET_8a1f")
    secrets = {"NOTION_TOKEN": notion.token, "RUNWAYML_API_SECRET": "key_runway_SECRET_8a1f",
               "REPLICATE_API_TOKEN": "r8_replicate_SECRET_77", "ELEVENLABS_API_KEY":
               "sk_eleven_SECRET_3141", "SLATE_WEB_SECRET": "web_SECRET_f00d"}
    await notion.start()
    await runway.start()
    port, web_port = _free_port(), _free_port()
    try:
        child = await Child.start(tmp_path, fake, secrets | {
            "SLATE_HEALTH_PORT": str(port), "SLATE_LOG_LEVEL": "DEBUG",
            "SLATE_WEB_BIND": f"127.0.0.1:{web_port}",
            "SLATE_NOTION_BASE_URL": notion.url, "SLATE_NOTION_RATE": "100",
            "SLATE_RUNWAY_BASE_URL": runway.url, "SLATE_DEFAULT_PROVIDER": "runway",
            "SLATE_JOB_POLL_SECONDS": "0.2", "SLATE_JOB_BACKOFF_SECONDS": "0.2"})
        await eventually(fake.live_sessions, 30)
        health = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}")
        for _ in range(300):
            ready = await health.get("/readyz")
            if ready.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert ready.status_code == 200, ready.text
        assert {"gateway", "queue", "database"} <= set(ready.json()["checks"])
        assert (await health.get("/livez")).status_code == 200
        # The web face in the same process serves the same checks beside its pages.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web_port}") as web:
            on_web = await web.get("/readyz")
            assert on_web.status_code == 200
            assert {"gateway", "queue", "database"} <= set(on_web.json()["checks"])
            assert (await web.get("/")).status_code == 403  # pages need a signed link
        pat, alice, bob = await _set_up(fake)
        as_pat, as_alice = fake.as_user(pat), fake.as_user(alice)
        assert "now holds chapter 1" in (await as_alice.slash("chapter claim", chapter=1)).content
        refused = await fake.as_user(bob).slash("chapter claim", chapter=1)
        assert "already claimed" in refused.content

        # A job on Runway with its key, to the end.
        queued = await as_alice.slash("generate", kind="image", shot="1.1", prompt="Gulls")
        assert "image for shot 1.1 on runway" in queued.content, queued.content
        await _job_ends(as_alice, "succeeded")
        assert runway.submissions == 1

        # Notion: connect and sync with the token.
        parent = notion.add_parent_page()
        connected = await as_pat.slash(
            "notion connect", parent=f"https://www.notion.so/x-{parent.replace('-', '')}")
        assert "created the Chapters and Shots databases" in connected.content
        synced = await as_pat.slash("notion sync")
        assert "0 failed" in synced.content, synced.content

        # Error paths: both services now reject the keys the bot holds (401).
        notion.token = "ntn_rotated_elsewhere"
        rejected = await as_pat.slash("notion sync")
        assert "API token is invalid" in rejected.content, rejected.content
        monkeypatch.setattr(fake_runway, "KEY", "key_rotated_elsewhere")
        await as_alice.slash("generate", kind="image", shot="1.2", prompt="Tide")
        failed = await _job_ends(as_alice, "failed")
        assert "runway refused the API key (401)" in failed.splitlines()[0], failed
        scraped = (await health.get("/metrics")).text
        await health.aclose()
        code, logs = await child.stop()
    finally:
        await runway.stop()
        await notion.stop()
    assert code == 0, logs[-2000:]
    # The run really logged at DEBUG, requests and the rejections included.
    assert " DEBUG discord.http " in logs
    for service in (notion.url, runway.url):
        assert [ln for ln in logs.splitlines() if service in ln and "401 Unauthorized" in ln]
    # The child counted what it answered: this run's commands, by outcome.
    for line in ('slate_interactions_total{command="chapter claim",outcome="ok"} 1.0',
                 'slate_interactions_total{command="chapter claim",outcome="refused"} 1.0',
                 'slate_interactions_total{command="generate",outcome="ok"} 2.0',
                 # The rejected sync is answered with its report of what failed.
                 'slate_interactions_total{command="notion sync",outcome="ok"} 2.0'):
        assert line in scraped, line
    rejected_calls = re.search(r'slate_notion_requests_total\{outcome="error"\} (\S+)', scraped)
    assert rejected_calls and float(rejected_calls.group(1)) == notion.calls(status=401) > 0
    sent = json.dumps([[c.method, c.path, c.body] for c in fake.calls], default=str)
    shown = json.dumps(list(fake.messages.values()), default=str) + failed
    assert "/interactions/" in sent and "image on runway" in sent
    # Nor is one written to disk: the database (job errors, audit), media, cuts, caches.
    stored = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert any(p.name == "slate.db" for p in stored)
    for name, value in {"DISCORD_TOKEN": fake.token, **secrets}.items():
        assert value not in logs, f"{name} is in the logs"
        assert value not in sent, f"{name} is in what the bot sent Discord"
        assert value not in shown, f"{name} is in a message"
        assert not [p for p in stored if value.encode() in p.read_bytes()], f"{name} on disk"


async def _job_ends(user: UserSession, state: str, within: float = 20.0) -> str:
    """Alice's /jobs list until her newest job shows `state`; returns that listing."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        listed = await user.slash("jobs list")
        newest = (listed.content or "").splitlines()[0]
        if state in newest:
            return listed.content
        assert "failed" not in newest or state == "failed", listed.content
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the job did not end {state}: {listed.content}")
        await asyncio.sleep(0.3)
