"""`python bot.py serve`: the web face alone, printing fresh links, stopped by Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp

from tests.web.conftest import GUILD, ROOT, Built


async def test_serve_prints_working_links_and_stops_on_ctrl_c(built: Built,
                                                              tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")}
    env |= {"SLATE_DATA_DIR": str(built.settings.data_dir), "SLATE_WEB_BIND": "127.0.0.1:0"}
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bot.py"), "--guild", str(GUILD), "serve", cwd=tmp_path,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert child.stdout is not None
    printed: list[str] = []
    try:
        async with asyncio.timeout(30):
            while not any(line.startswith("screening:") for line in printed):
                line = (await child.stdout.readline()).decode()
                assert line, "serve exited early: " + "".join(printed)
                printed.append(line)
        text = "".join(printed)
        assert re.search(r"^serving the web face on http://127\.0\.0\.1:\d+ ", text, re.M)
        screening = re.search(r"^screening: (\S+)$", text, re.M).group(1)
        board = re.search(r"^board: +(\S+)$", text, re.M).group(1)
        async with aiohttp.ClientSession() as http:
            async with http.get(screening) as resp:
                assert resp.status == 200 and "Cut 1" in await resp.text()
            async with http.get(board) as resp:
                assert resp.status == 200 and "第三章 潮汐" in await resp.text()
            async with http.get(screening.split("?")[0]) as resp:
                assert resp.status == 403
        child.send_signal(signal.SIGINT)
        async with asyncio.timeout(20):
            assert await child.wait() == 0
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
