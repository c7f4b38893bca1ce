"""Issue 22 items 11 and 14: a service that echoes the request's credentials never gets them
shown to a user nor stored: the shell's output, the log, the job's error, the jobs listing,
audit rows and the whole database hold `***` instead, for Notion and for each provider."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from pathlib import Path

import pytest
from aiohttp import web

from tests.shell22.helpers import ROOT, shell

NOTION = "secret_Notion9f8e7d6c5b4a"
RUNWAY = "key_runway_3b2a19c8d7e6f5"
REPLICATE = "r8_Replicate0a1b2c3d4e5f"
ELEVENLABS = "sk_eleven_77aa88bb99cc"
COMFY = "comfy-Pass-4321xyz"


async def echoing_server() -> tuple[web.AppRunner, str]:
    """Answers every request 400 with the credentials it was sent, as a broken proxy does."""
    async def echo(request: web.Request) -> web.Response:
        if request.path == "/queue":  # ComfyUI's load check: the server is up and idle
            return web.json_response({"queue_running": [], "queue_pending": []})
        heard = "; ".join(f"{k}: {v}" for k, v in request.headers.items()
                          if k.lower() in ("authorization", "xi-api-key"))
        said = f"bad request (you sent {heard})"
        return web.json_response({"object": "error", "status": 400, "code": "validation_error",
                                  "error": {"message": said}, "message": said}, status=400)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def _everything_stored(data: Path) -> str:
    with sqlite3.connect(data / "slate.db") as db:
        return "\n".join(db.iterdump())


@pytest.fixture
async def echo() -> str:
    runner, url = await echoing_server()
    yield url
    await runner.cleanup()


async def _shell(cwd: Path, *args: str, env: dict) -> tuple[int, str]:
    result = await asyncio.to_thread(shell, cwd, *args, env=env)
    return result.returncode, result.stdout + result.stderr


# ComfyUI's password travels as HTTP Basic: the echo quotes it in base64.
COMFY_BASIC = base64.b64encode(f"slate:{COMFY}".encode()).decode()


@pytest.mark.parametrize(("provider", "kind", "env", "secrets"), [
    ("runway", "image", {"RUNWAYML_API_SECRET": RUNWAY}, [RUNWAY]),
    ("replicate", "image", {"REPLICATE_API_TOKEN": REPLICATE}, [REPLICATE]),
    ("elevenlabs", "voice", {"ELEVENLABS_API_KEY": ELEVENLABS}, [ELEVENLABS]),
    ("comfyui", "image", {}, [COMFY, COMFY_BASIC]),
])
async def test_a_provider_echoing_its_key_is_masked_everywhere(
        tmp_path: Path, echo: str, provider: str, kind: str, env: dict,
        secrets: list[str]) -> None:
    host = echo.removeprefix("http://")
    env = {**env, "SLATE_RUNWAY_BASE_URL": echo, "SLATE_REPLICATE_BASE_URL": echo,
           "SLATE_ELEVENLABS_BASE_URL": echo, "SLATE_JOB_POLL_SECONDS": "0.05",
           **({"SLATE_COMFYUI_URLS": f"http://slate:{COMFY}@{host}"}
              if provider == "comfyui" else {})}
    assert (await _shell(tmp_path, "init", env=env))[0] == 0
    code, said = await _shell(tmp_path, "import-shots",
                              str(ROOT / "examples" / "low_tide.csv"), env=env)
    assert code == 0, said
    code, said = await _shell(tmp_path, "generate", "--shot", "1.1", "--kind", kind,
                              "--prompt", "码头上的海鸥", "--provider", provider, env=env)
    assert code == 1 and "bad request (you sent" in said, said
    assert "***" in said
    code, listed = await _shell(tmp_path, "jobs", env=env)
    assert code == 0 and "failed" in listed
    stored = _everything_stored(tmp_path / "data")
    assert "bad request (you sent" in stored  # the job's error is kept, masked
    for secret in secrets:
        assert secret not in said and secret not in listed and secret not in stored


async def test_notion_echoing_its_token_is_masked(tmp_path: Path, echo: str) -> None:
    env = {"NOTION_TOKEN": NOTION, "SLATE_NOTION_BASE_URL": echo}
    assert (await _shell(tmp_path, "init", env=env))[0] == 0
    code, said = await _shell(tmp_path, "notion-connect", "--parent",
                              "https://www.notion.so/Film-0123456789abcdef0123456789abcdef",
                              env=env)
    assert code == 1 and "Notion" in said and "bad request (you sent" in said, said
    assert NOTION not in said and "Bearer ***" in said
    assert NOTION not in _everything_stored(tmp_path / "data")
