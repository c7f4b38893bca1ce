"""Headless Chromium driven over the DevTools protocol with aiohttp's websocket client.

No browser library: Chromium is started with --remote-debugging-port=0, the address it prints
is dialled, and pages are opened and questioned with Target/Page/Runtime commands.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--mute-audio", "--autoplay-policy=no-user-gesture-required",
         "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1"]
# A CJK font, so that the pages' Chinese text is drawn in the screenshots, not boxes.
PACKAGES = ["chromium", "fonts-wqy-microhei"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def install_chromium() -> tuple[str | None, str]:
    """Chromium's path, installing Debian's package when absent; else (None, why not)."""
    found = find_chromium()
    if found:
        return found, ""
    if shutil.which("apt-get") is None:
        return None, "Chromium is not installed and there is no apt-get to install it"
    if os.geteuid() != 0:
        return None, "Chromium is not installed and installing it needs root (apt-get)"
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", *PACKAGES]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"`{' '.join(command)}` failed: {exc}"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return None, f"`{' '.join(command)}` failed: {tail[0]}"
    found = find_chromium()
    return (found, "") if found else (None, "apt-get installed chromium but it is not on PATH")


class Browser:
    """One headless Chromium and its DevTools connection."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self._events: list[tuple[str | None, str, dict]] = []
        self._event = asyncio.Event()

    async def __aenter__(self) -> Browser:
        self._profile = tempfile.TemporaryDirectory(prefix="slate-chromium-")
        self._process = await asyncio.create_subprocess_exec(
            self.executable, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        assert self._process.stderr is not None
        address = None
        seen: list[str] = []
        async with asyncio.timeout(30):
            while address is None:
                line = (await self._process.stderr.readline()).decode(errors="replace")
                if not line:
                    raise RuntimeError("Chromium exited: " + "".join(seen[-5:]))
                seen.append(line)
                found = re.search(r"DevTools listening on (ws://\S+)", line)
                address = found.group(1) if found else None
        self._drain = asyncio.create_task(self._process.stderr.read())
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(address, max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._reader.cancel()
        await self._ws.close()
        await self._http.close()
        self._process.terminate()
        try:
            async with asyncio.timeout(10):
                await self._process.wait()
        except TimeoutError:
            self._process.kill()
            await self._process.wait()
        self._drain.cancel()
        self._profile.cleanup()

    async def _read(self) -> None:
        async for message in self._ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self._waiting.pop(data["id"], None)
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(RuntimeError(str(data["error"])))
                    else:
                        future.set_result(data.get("result", {}))
            else:
                self._events.append((data.get("sessionId"), data["method"],
                                     data.get("params", {})))
                self._event.set()

    async def send(self, method: str, params: dict | None = None,
                   session: str | None = None) -> dict:
        ident = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self._ws.send_str(json.dumps(message))
        async with asyncio.timeout(30):
            return await future

    async def event(self, session: str, method: str, within: float = 30) -> dict:
        """Wait for an event of a page (one already received counts), and consume it."""
        async with asyncio.timeout(within):
            while True:
                for i, (sid, name, params) in enumerate(self._events):
                    if sid == session and name == method:
                        del self._events[i]
                        return params
                self._event.clear()
                await self._event.wait()

    async def open(self, url: str, *, width: int = 1200, height: int = 900) -> str:
        """A new tab showing `url` once loaded; returns its session id."""
        target = (await self.send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        session = (await self.send("Target.attachToTarget",
                                   {"targetId": target, "flatten": True}))["sessionId"]
        await self.send("Page.enable", session=session)
        await self.send("Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 1,
                         "mobile": width < 600}, session)
        await self.send("Page.navigate", {"url": url}, session)
        await self.event(session, "Page.loadEventFired")
        return session

    async def evaluate(self, session: str, expression: str) -> Any:
        """A script's value in the page (a promise is awaited); a thrown error raises."""
        result = await self.send("Runtime.evaluate", {"expression": expression,
                                                      "awaitPromise": True,
                                                      "returnByValue": True}, session)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(details.get("exception", {}).get("description")
                               or details.get("text"))
        return result["result"].get("value")

    async def screenshot(self, session: str, path: Path, *, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            metrics = await self.send("Page.getLayoutMetrics", session=session)
            size = metrics["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                              "scale": 1}
        shot = await self.send("Page.captureScreenshot", params, session)
        await asyncio.to_thread(_write, path, base64.b64decode(shot["data"]))
        return path


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
