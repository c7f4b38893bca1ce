"""Runway's hosted API: text → image and image → video as tasks, polled until done.

Tasks wait in THROTTLED while the organisation is over its concurrency: that is still
'queued' to us. Outputs are URLs that expire in a day or two, so the queue downloads at once.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from studio.generation.providers import http
from studio.generation.providers.base import Poll, Provider, final, transient

API_VERSION = "2024-11-06"
STATES = {"PENDING": "queued", "THROTTLED": "queued", "RUNNING": "running",
          "SUCCEEDED": "succeeded", "FAILED": "failed", "CANCELLED": "cancelled"}
# USD per second of video / per image, the published credit prices (estimate until billed).
VIDEO_USD_PER_SECOND = 0.05
IMAGE_USD = 0.08
VIDEO_RATIOS = {"16:9": "1280:720", "9:16": "720:1280", "1:1": "960:960", "4:3": "1104:832",
                "3:4": "832:1104", "21:9": "1584:672"}
IMAGE_RATIOS = {"16:9": "1920:1080", "9:16": "1080:1920", "1:1": "1024:1024",
                "4:3": "1440:1080", "3:4": "1080:1440", "21:9": "2112:912"}


class Runway(Provider):
    name = "runway"
    kinds = ("image", "video")

    def __init__(self, api_secret: str, *, base_url: str = "https://api.dev.runwayml.com",
                 video_model: str = "gen4_turbo", image_model: str = "gen4_image",
                 timeout: float = 30.0):
        self.model = video_model
        self.video_model = video_model
        self.image_model = image_model
        self.client = httpx.AsyncClient(
            base_url=base_url, timeout=timeout,
            headers={"Authorization": f"Bearer {api_secret}", "X-Runway-Version": API_VERSION})

    def motion_control(self, kind: str) -> str | None:
        # image_to_video takes model, promptImage, promptText, ratio, duration and seed only.
        return None

    def estimate_cost(self, kind: str, params: dict) -> float:
        if kind == "video":
            return VIDEO_USD_PER_SECOND * float(params.get("duration") or 5)
        return IMAGE_USD

    async def submit(self, kind: str, params: dict) -> str:
        ratio = str(params.get("ratio") or "16:9")
        body: dict = {"promptText": str(params.get("prompt", ""))[:1000]}
        if params.get("seed") is not None:
            body["seed"] = int(params["seed"]) % 4294967296
        if kind == "video":
            if not params.get("image"):
                raise final("runway makes video from an image: animate an image take")
            body.update(model=self.video_model, promptImage=http.data_uri(params["image"]),
                        ratio=VIDEO_RATIOS.get(ratio, ratio),
                        duration=int(params.get("duration") or 5))
            path = "/v1/image_to_video"
        elif kind == "image":
            body.update(model=self.image_model, ratio=IMAGE_RATIOS.get(ratio, ratio))
            refs = params.get("reference_images") or []
            if refs:
                body["referenceImages"] = [{"uri": http.data_uri(r), "tag": f"ref{i + 1}"}
                                           for i, r in enumerate(refs[:3])]
            path = "/v1/text_to_image"
        else:
            raise final(f"runway cannot make {kind}")
        answer = http.json_of(await http.request(self.client, self.name, "POST", path,
                                                 json=body), self.name)
        task_id = answer.get("id")
        if not isinstance(task_id, str) or not task_id:
            raise transient("runway sent no task id")
        return task_id

    async def poll(self, external_id: str) -> Poll:
        answer = http.json_of(
            await http.request(self.client, self.name, "GET", f"/v1/tasks/{external_id}"),
            self.name)
        status = answer.get("status")
        if status not in STATES:
            raise transient(f"runway sent an unknown task status: {str(status)[:40]}")
        state = STATES[status]
        outputs = answer.get("output") or []
        if state == "succeeded" and (not isinstance(outputs, list) or not outputs):
            return Poll("failed", error="runway reported success without an output")
        error = ""
        if state == "failed":
            error = str(answer.get("failure") or "runway failed the task")
            if answer.get("failureCode"):
                error += f" ({answer['failureCode']})"
        progress = answer.get("progress")
        return Poll(state, float(progress) if isinstance(progress, int | float) else 0.0,
                    [str(o) for o in outputs] if state == "succeeded" else [], error)

    async def cancel(self, external_id: str) -> None:
        await http.request(self.client, self.name, "DELETE", f"/v1/tasks/{external_id}")

    async def download(self, output: str, dest: Path) -> Path:
        return await http.download(self.client, self.name, output, dest)

    async def close(self) -> None:
        await self.client.aclose()
