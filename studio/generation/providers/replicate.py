"""Replicate: one prediction per job on a configured model, created with `Prefer: wait`.

The wait header may return a finished prediction at once, or one still starting: either
way the queue stores the id first and polls it after.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from studio.generation.providers import http
from studio.generation.providers.base import Poll, Provider, final, transient

STATES = {"starting": "queued", "processing": "running", "succeeded": "succeeded",
          "failed": "failed", "canceled": "cancelled", "aborted": "cancelled"}
USD_PER_SECOND = 0.0014  # an A100's published price per second of predict time
# Video models whose documented inputs include a motion control: its name and how motion
# 1..10 maps onto it. Others (minimax/video-01, Kling, Luma's Ray, Wan) have none: Kling's
# cfg_scale is how closely it follows the prompt, not how much moves.
MOTION_INPUTS: dict[str, tuple[str, int]] = {
    "stability-ai/stable-video-diffusion": ("motion_bucket_id", 25),  # 1..255, default 127
}
# Where each video model takes its first frame (minimax/video-01's name is the default).
IMAGE_INPUTS = {"stability-ai/stable-video-diffusion": "input_image"}


class Replicate(Provider):
    name = "replicate"
    kinds = ("image", "video", "upscale")

    def __init__(self, api_token: str, *, base_url: str = "https://api.replicate.com",
                 models: dict[str, str] | None = None, wait_seconds: int = 5,
                 timeout: float = 70.0):
        self.models = models or {"image": "black-forest-labs/flux-schnell",
                                 "video": "minimax/video-01",
                                 "upscale": "nightmareai/real-esrgan"}
        self.model = self.models.get("image", "")
        self.wait_seconds = wait_seconds
        self.client = httpx.AsyncClient(
            base_url=base_url, timeout=timeout,
            headers={"Authorization": f"Bearer {api_token}"})

    @property
    def supports_lora(self) -> bool:  # type: ignore[override]
        """Replicate's LoRA models (e.g. black-forest-labs/flux-dev-lora) take the weights as
        inputs; others would silently ignore a character's LoRA."""
        return self.models.get("image", "").endswith("-lora")

    def motion_control(self, kind: str) -> str | None:
        model = self.models.get(kind, "")
        if kind != "video" or model not in MOTION_INPUTS:
            return None
        name, step = MOTION_INPUTS[model]
        return f"{model}'s {name} = motion × {step}"

    def estimate_cost(self, kind: str, params: dict) -> float:
        return {"image": 0.003, "video": 0.5, "upscale": 0.002}.get(kind, 0.0)

    def _input(self, kind: str, params: dict) -> dict:
        given: dict = {"prompt": str(params.get("prompt", ""))}
        if params.get("negative_prompt"):
            given["negative_prompt"] = params["negative_prompt"]
        if params.get("seed") is not None:
            given["seed"] = int(params["seed"])
        if params.get("ratio"):
            given["aspect_ratio"] = params["ratio"]
        video_model = self.models.get("video", "")
        if kind in ("video", "upscale") and params.get("image"):
            given["image" if kind == "upscale" else
                  IMAGE_INPUTS.get(video_model, "first_frame_image")] = \
                http.data_uri(params["image"])
        if kind == "video" and video_model in MOTION_INPUTS:
            name, step = MOTION_INPUTS[video_model]
            given[name] = int(params.get("motion") or 5) * step
        if kind == "upscale":
            given["scale"] = float(params.get("scale") or 2)
            given.pop("prompt")
        if kind == "video" and params.get("duration"):
            given["duration"] = int(params["duration"])
        loras = list(params.get("loras") or []) if kind == "image" else []
        if loras:  # one LoRA and one extra, as flux-dev-lora takes them
            given.update(lora_weights=loras[0], lora_scale=0.8)
            if len(loras) > 1:
                given.update(extra_lora=loras[1], extra_lora_scale=0.8)
        return given

    async def submit(self, kind: str, params: dict) -> str:
        model = self.models.get(kind)
        if not model:
            raise final(f"replicate has no model configured for {kind}")
        response = await http.request(
            self.client, self.name, "POST", f"/v1/models/{model}/predictions",
            json={"input": self._input(kind, params)},
            headers={"Prefer": f"wait={self.wait_seconds}"})
        answer = http.json_of(response, self.name)
        prediction = answer.get("id")
        if not isinstance(prediction, str) or not prediction:
            raise transient("replicate sent no prediction id")
        return prediction

    async def poll(self, external_id: str) -> Poll:
        answer = http.json_of(await http.request(self.client, self.name, "GET",
                                                 f"/v1/predictions/{external_id}"), self.name)
        status = answer.get("status")
        if status not in STATES:
            raise transient(f"replicate sent an unknown status: {str(status)[:40]}")
        state = STATES[status]
        output = answer.get("output")
        outputs = [output] if isinstance(output, str) else [str(o) for o in output or []]
        if state == "succeeded" and not outputs:
            return Poll("failed", error="replicate reported success without an output")
        metrics = answer.get("metrics") or {}
        cost = None
        # Replicate bills the run time of a failed or cancelled prediction as well.
        if state in ("succeeded", "failed", "cancelled") and \
                isinstance(metrics.get("predict_time"), int | float):
            cost = round(float(metrics["predict_time"]) * USD_PER_SECOND, 6)
        return Poll(state, 1.0 if state == "succeeded" else 0.0,
                    outputs if state == "succeeded" else [],
                    str(answer.get("error") or "replicate failed the prediction")
                    if state == "failed" else "", cost)

    async def cancel(self, external_id: str) -> None:
        await http.request(self.client, self.name, "POST",
                           f"/v1/predictions/{external_id}/cancel")

    async def download(self, output: str, dest: Path) -> Path:
        return await http.download(self.client, self.name, output, dest)

    async def close(self) -> None:
        await self.client.aclose()
