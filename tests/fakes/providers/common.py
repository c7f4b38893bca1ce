"""What the provider fakes share: a loopback server, sample outputs and scripted failures."""

from __future__ import annotations

import asyncio
import io
import subprocess
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from PIL import Image

from studio.media import ffmpeg_exe


def sample_png(width: int = 64, height: int = 36, color: tuple = (200, 80, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def sample_media(kind: str, folder: Path) -> bytes:
    """A tiny real file of the kind: the fakes' outputs must survive our probe."""
    if kind == "image":
        return sample_png()
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"sample.{'mp4' if kind == 'video' else 'mp3'}"
    if not out.exists():
        source = (["-f", "lavfi", "-i", "testsrc=size=64x36:rate=12:duration=1", "-c:v",
                   "libx264", "-pix_fmt", "yuv420p"] if kind == "video" else
                  ["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "libmp3lame"])
        subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", *source, str(out)],
                       check=True)
    return out.read_bytes()


@dataclass
class Script:
    """Scripted misbehaviour, consumed in order: each entry is used once."""

    submit_errors: deque = field(default_factory=deque)  # (status, body, retry_after)
    poll_errors: deque = field(default_factory=deque)
    # The statuses a new task goes through, one per poll; the last one sticks.
    plan: list[str] = field(default_factory=list)
    failure: str = "The content was flagged by moderation"
    expire_outputs: bool = False
    malformed_polls: int = 0
    output_delay: float = 0.0  # a slow output download, to cut a worker off mid-way
    submit_delay: float = 0.0  # a task accepted, its id answered only after this long


class FakeServer:
    """Runs an aiohttp app on 127.0.0.1, port 0."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.submissions = 0
        self.script = Script()
        self.requests: list[dict] = []
        self.output_requested = asyncio.Event()
        self.site: web.TCPSite
        self.port = 0

    async def start(self) -> str:
        self.runner = web.AppRunner(self.app, shutdown_timeout=0.2)
        await self.runner.setup()
        self.site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await self.site.start()
        self.port = self.site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{self.port}"
        return self.url

    async def down(self) -> None:
        """An outage: the port refuses connections; tasks and history are kept."""
        await self.site.stop()
        assert self.runner is not None and self.runner.server is not None
        for handler in list(self.runner.server.connections):  # kept-alive ones drop too
            handler.force_close()

    async def up(self) -> None:
        """Back after an outage, on the same address."""
        assert self.runner is not None
        self.site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await self.site.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def scripted_error(self, queue: deque) -> web.Response | None:
        if not queue:
            return None
        status, body, retry_after = queue.popleft()
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return web.json_response(body, status=status, headers=headers)
