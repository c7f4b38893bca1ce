"""A fake of Runway's task API (reference/providers.md): tasks, THROTTLED, FAILED, DELETE."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from aiohttp import web

from tests.fakes.providers.common import FakeServer, sample_media

KEY = "key_fake_runway_secret"
RATIOS_VIDEO = {"1280:720", "720:1280", "960:960", "1104:832", "832:1104", "1584:672"}


class FakeRunway(FakeServer):
    def __init__(self, work: Path):
        super().__init__()
        self.work = work
        self.tasks: dict[str, dict] = {}
        self.cancelled: list[str] = []
        self.app.router.add_post("/v1/image_to_video", self.image_to_video)
        self.app.router.add_post("/v1/text_to_image", self.text_to_image)
        self.app.router.add_get("/v1/tasks/{id}", self.task)
        self.app.router.add_delete("/v1/tasks/{id}", self.delete)
        self.app.router.add_get("/outputs/{name}", self.output)

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            return web.json_response({"error": "Invalid API key"}, status=401)
        if request.headers.get("X-Runway-Version") != "2024-11-06":
            return web.json_response({"error": "Missing or invalid X-Runway-Version"},
                                     status=400)
        return None

    async def _create(self, request: web.Request, kind: str) -> web.Response:
        refused = self._auth(request)
        if refused:
            return refused
        scripted = self.scripted_error(self.script.submit_errors)
        if scripted:
            return scripted
        body = await request.json()
        self.requests.append(body)
        if len(body.get("promptText", "")) > 1000:
            return web.json_response({"error": "promptText is too long"}, status=400)
        if kind == "video":
            if not str(body.get("promptImage", "")).startswith(("data:image/", "https://")):
                return web.json_response({"error": "promptImage must be a URI"}, status=400)
            if body.get("ratio") not in RATIOS_VIDEO:
                return web.json_response({"error": "Invalid ratio"}, status=400)
        self.submissions += 1
        task_id = str(uuid.uuid4())
        self.tasks[task_id] = {"kind": kind, "plan": list(self.script.plan or ["SUCCEEDED"]),
                               "polls": 0}
        await asyncio.sleep(self.script.submit_delay)
        return web.json_response({"id": task_id})

    async def image_to_video(self, request: web.Request) -> web.Response:
        return await self._create(request, "video")

    async def text_to_image(self, request: web.Request) -> web.Response:
        return await self._create(request, "image")

    async def task(self, request: web.Request) -> web.Response:
        refused = self._auth(request)
        if refused:
            return refused
        scripted = self.scripted_error(self.script.poll_errors)
        if scripted:
            return scripted
        if self.script.malformed_polls > 0:
            self.script.malformed_polls -= 1
            return web.Response(text="<html>upstream hiccup</html>", content_type="text/html")
        task_id = request.match_info["id"]
        task = self.tasks.get(task_id)
        if task is None:
            return web.json_response({"error": "Task not found"}, status=404)
        if task_id in self.cancelled:
            return web.json_response({"id": task_id, "status": "CANCELLED",
                                      "createdAt": "2026-01-01T00:00:00Z"})
        plan = task["plan"]
        status = plan[min(task["polls"], len(plan) - 1)]
        task["polls"] += 1
        answer: dict = {"id": task_id, "status": status, "createdAt": "2026-01-01T00:00:00Z"}
        if status == "RUNNING":
            answer["progress"] = min(0.9, 0.3 * task["polls"])
        elif status == "SUCCEEDED":
            suffix = "mp4" if task["kind"] == "video" else "png"
            answer["output"] = [f"{self.url}/outputs/{task_id}.{suffix}"]
        elif status == "FAILED":
            answer.update(failure=self.script.failure, failureCode="SAFETY.INPUT.TEXT")
        return web.json_response(answer)

    async def delete(self, request: web.Request) -> web.Response:
        refused = self._auth(request)
        if refused:
            return refused
        self.cancelled.append(request.match_info["id"])
        return web.Response(status=204)

    async def output(self, request: web.Request) -> web.Response:
        self.output_requested.set()
        await asyncio.sleep(self.script.output_delay)
        if self.script.expire_outputs:
            return web.Response(status=403, text="Request has expired")
        name = request.match_info["name"]
        kind = "video" if name.endswith(".mp4") else "image"
        return web.Response(body=sample_media(kind, self.work),
                            content_type="video/mp4" if kind == "video" else "image/png")
