"""`python bot.py`: a missing or rejected token is one clear line and exit 2; SIGTERM is clean."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.fakes.discord import FakeDiscord
from tests.fakes.discord.server import eventually

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


async def test_a_real_run_serves_health_and_never_logs_a_secret(
    tmp_path: Path, discord_fake: FakeDiscord
) -> None:
    import httpx

    secrets = {"NOTION_TOKEN": "ntn_notion_secret_123", "RUNWAYML_API_SECRET": "key_runway_456",
               "REPLICATE_API_TOKEN": "r8_replicate_789", "ELEVENLABS_API_KEY": "sk_eleven_012"}
    port = _free_port()
    env = child_env(tmp_path, discord_fake.token) | secrets | {
        "SLATE_HEALTH_PORT": str(port), "SLATE_LOG_LEVEL": "DEBUG"}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(discord_fake.port), cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    await eventually(discord_fake.live_sessions, 30)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for _ in range(100):
            ready = await http.get("/readyz")
            if ready.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert ready.status_code == 200, ready.text
        assert {"gateway", "queue", "database"} <= set(ready.json()["checks"])
        assert (await http.get("/livez")).status_code == 200
        assert "slate_interactions_total" in (await http.get("/metrics")).text
    child.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(child.communicate(), 30)
    assert child.returncode == 0
    logs = (out + err).decode()
    assert "stopping" in logs
    for value in [discord_fake.token, *secrets.values()]:
        assert value not in logs
