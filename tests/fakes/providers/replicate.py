"""A fake of Replicate's predictions API: Prefer: wait, polling, cancel, 429 with detail."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

from aiohttp import web

from tests.fakes.providers.common import FakeServer, sample_media

TOKEN = "r8_fake_replicate_token"


class FakeReplicate(FakeServer):
    def __init__(self, work: Path):
        super().__init__()
        self.work = work
        self.predictions: dict[str, dict] = {}
        self.wait_headers: list[str] = []
        self.app.router.add_post("/v1/models/{owner}/{name}/predictions", self.create)
        self.app.router.add_get("/v1/predictions/{id}", self.get)
        self.app.router.add_post("/v1/predictions/{id}/cancel", self.cancel)
        self.app.router.add_get("/files/{name}", self.file)

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"title": "Unauthenticated",
                                      "detail": "You did not pass a valid authentication token"},
                                     status=401)
        return None

    def _view(self, pid: str) -> dict:
        p = self.predictions[pid]
        plan = p["plan"]
        status = plan[min(p["polls"], len(plan) - 1)]
        view: dict = {"id": pid, "model": p["model"], "status": status, "input": p["input"],
                      "output": None, "error": None, "logs": "",
                      "urls": {"get": f"{self.url}/v1/predictions/{pid}",
                               "cancel": f"{self.url}/v1/predictions/{pid}/cancel"}}
        if status == "succeeded":
            suffix = "mp4" if "video" in p["model"] else "png"
            view["output"] = [f"{self.url}/files/{pid}.{suffix}"]
            view["metrics"] = {"predict_time": 2.5}
        elif status == "failed":
            view["error"] = self.script.failure
            view["metrics"] = {"predict_time": 1.5}  # it ran before failing: billed
        return view

    async def create(self, request: web.Request) -> web.Response:
        refused = self._auth(request)
        if refused:
            return refused
        scripted = self.scripted_error(self.script.submit_errors)
        if scripted:
            return scripted
        body = await request.json()
        if not isinstance(body.get("input"), dict):
            return web.json_response({"detail": "input is required"}, status=422)
        self.requests.append(body)
        self.wait_headers.append(request.headers.get("Prefer", ""))
        self.submissions += 1
        pid = uuid.uuid4().hex[:20]
        model = f"{request.match_info['owner']}/{request.match_info['name']}"
        self.predictions[pid] = {"model": model, "input": body["input"], "polls": 0,
                                 "plan": list(self.script.plan or ["succeeded"])}
        wait = re.match(r"wait(?:=(\d+))?", request.headers.get("Prefer", ""))
        if wait and self.predictions[pid]["plan"][0] in ("starting", "processing"):
            # Prefer: wait holds the request, yet may still answer 'starting'.
            await asyncio.sleep(0.01)
        return web.json_response(self._view(pid), status=201)

    async def get(self, request: web.Request) -> web.Response:
        refused = self._auth(request)
        if refused:
            return refused
        scripted = self.scripted_error(self.script.poll_errors)
        if scripted:
            return scripted
        if self.script.malformed_polls > 0:
            self.script.malformed_polls -= 1
            return web.Response(text="{truncated", content_type="application/json")
        pid = request.match_info["id"]
        if pid not in self.predictions:
            return web.json_response({"detail": "Not found."}, status=404)
        self.predictions[pid]["polls"] += 1
        return web.json_response(self._view(pid))

    async def cancel(self, request: web.Request) -> web.Response:
        pid = request.match_info["id"]
        if pid in self.predictions:
            self.predictions[pid]["plan"] = ["canceled"]
            self.predictions[pid]["polls"] = 0
        return web.json_response(self._view(pid))

    async def file(self, request: web.Request) -> web.Response:
        if self.script.expire_outputs:
            return web.Response(status=404, text="Not Found")
        name = request.match_info["name"]
        kind = "video" if name.endswith(".mp4") else "image"
        return web.Response(body=sample_media(kind, self.work),
                            content_type="video/mp4" if kind == "video" else "image/png")
