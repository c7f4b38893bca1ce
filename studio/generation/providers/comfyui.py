"""Self-hosted ComfyUI servers: workflow templates with named slots, the least busy server.

A workflow is a JSON graph kept as a template file (workflows/<kind>.json, or the production's
own directory); a value written "{{slot}}" is replaced by the job's parameter of that name,
typed. The job's id is "<server url>#<prompt id>", so a restart polls the right server even
when the list changed. Progress comes over the server's websocket, reconnected when it drops;
completion and outputs come from /history, which survives our restarts.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from importlib import resources
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import httpx

from studio.generation.providers import http
from studio.generation.providers.animatic import parse_ratio
from studio.generation.providers.base import Poll, Provider, final, transient
from studio.waiting import stopped

SLOT = re.compile(r"^\{\{(\w+)\}\}$")
LONG_SIDE = 1024  # 16:9 gives 1024×576, SVD's native frame
LORA_STRENGTH = 0.8  # a character's likeness without overpowering the prompt
# SVD's motion_bucket_id runs 1..255 (127 by default): motion 5 lands near the default.
MOTION_BUCKET_STEP = 25


def fill(template: dict, values: dict) -> dict:
    """The graph with every "{{slot}}" replaced; a slot without a value is refused by name."""
    def walk(node: object) -> object:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str) and (match := SLOT.match(node)):
            if match.group(1) not in values:
                raise final(f"the workflow needs '{match.group(1)}', which the job lacks")
            return values[match.group(1)]
        return node
    return walk(template)  # type: ignore[return-value]


def with_loras(graph: dict, loras: list[str], strength: float = LORA_STRENGTH) -> dict:
    """The graph with a LoraLoader chain after its checkpoint, as ComfyUI loads LoRAs: every
    node that took the checkpoint's model or clip takes the last LoRA's instead."""
    checkpoint = next((node_id for node_id, node in graph.items()
                       if node.get("class_type") == "CheckpointLoaderSimple"), None)
    if not loras or checkpoint is None:
        return graph
    graph = json.loads(json.dumps(graph))
    source = checkpoint
    for n, lora in enumerate(loras):
        node_id = f"slate_lora_{n}"
        graph[node_id] = {"class_type": "LoraLoader", "inputs": {
            "lora_name": lora, "strength_model": strength, "strength_clip": strength,
            "model": [source, 0], "clip": [source, 1]}}
        source = node_id
    for node_id, node in graph.items():
        if node_id.startswith("slate_lora_"):
            continue
        for name, value in node.get("inputs", {}).items():
            if isinstance(value, list) and len(value) == 2 and value[0] == checkpoint \
                    and value[1] in (0, 1):
                node["inputs"][name] = [source, value[1]]
    return graph


def frame_for(ratio: str, long_side: int = LONG_SIDE) -> tuple[int, int]:
    """The latent's width and height for a ratio: the long side fixed, both multiples of 64
    (what SDXL and SVD are trained on)."""
    rw, rh = parse_ratio(ratio)
    short = max(64, round(long_side * min(rw, rh) / max(rw, rh) / 64) * 64)
    return (long_side, short) if rw >= rh else (short, long_side)


class ComfyUI(Provider):
    name = "comfyui"
    kinds = ("image", "video", "upscale")
    model = "comfyui-workflow"
    supports_lora = True

    def __init__(self, urls: list[str], *, workflows_dir: Path | None = None,
                 checkpoint: str = "sd_xl_base_1.0.safetensors",
                 video_checkpoint: str = "svd_xt.safetensors",
                 upscale_model: str = "RealESRGAN_x4plus.pth", timeout: float = 30.0,
                 reconnect_delay: float = 1.0):
        if not urls:
            raise ValueError("ComfyUI needs at least one server URL")
        self.urls = [u.rstrip("/") for u in urls]
        self.workflows_dir = workflows_dir
        self.defaults = {"checkpoint": checkpoint, "upscale_model": upscale_model,
                         "video_checkpoint": video_checkpoint, "negative_prompt": ""}
        self.client = httpx.AsyncClient(timeout=timeout)
        self.client_id = uuid.uuid4().hex
        self.reconnect_delay = reconnect_delay
        self._progress: dict[str, float] = {}
        self._listeners: dict[str, asyncio.Task] = {}

    def workflow(self, kind: str) -> dict:
        if self.workflows_dir and (self.workflows_dir / f"{kind}.json").exists():
            text = (self.workflows_dir / f"{kind}.json").read_text(encoding="utf-8")
        else:
            text = resources.files("studio.generation.providers").joinpath(
                f"workflows/{kind}.json").read_text(encoding="utf-8")
        return json.loads(text)

    def motion_control(self, kind: str) -> str | None:
        return f"SVD's motion_bucket_id = motion × {MOTION_BUCKET_STEP} (25 .. 250)" \
            if kind == "video" else None

    async def _load(self, url: str) -> int | None:
        try:
            response = await http.request(self.client, self.name, "GET", f"{url}/queue")
            body = http.json_of(response, self.name)
        except Exception:  # a server that is down is simply not chosen
            return None
        return len(body.get("queue_running") or []) + len(body.get("queue_pending") or [])

    async def least_busy(self) -> str:
        loads = await asyncio.gather(*(self._load(url) for url in self.urls))
        up = [(load, i) for i, load in enumerate(loads) if load is not None]
        if not up:
            raise transient("no ComfyUI server answers")
        return self.urls[min(up)[1]]

    async def _upload(self, url: str, path: str) -> str:
        data = await asyncio.to_thread(Path(path).read_bytes)
        response = await http.request(
            self.client, self.name, "POST", f"{url}/upload/image",
            files={"image": (f"slate-{uuid.uuid4().hex[:12]}.png", data, "image/png")},
            data={"overwrite": "true", "type": "input"})
        name = http.json_of(response, self.name).get("name")
        if not name:
            raise transient("ComfyUI did not name the uploaded image")
        return str(name)

    async def submit(self, kind: str, params: dict) -> str:
        if not self.serves(kind):
            raise final(f"ComfyUI cannot make {kind}")
        url = await self.least_busy()
        values = dict(self.defaults)
        values["width"], values["height"] = frame_for(str(params.get("ratio") or "16:9"))
        values.update({k: v for k, v in params.items() if v is not None})
        values.setdefault("seed", 0)
        if kind == "video":
            values["checkpoint"] = values["video_checkpoint"]
            values["frames"] = max(1, round(float(params.get("duration") or 4) * 24))
            values["motion_bucket"] = int(params.get("motion") or 5) * MOTION_BUCKET_STEP
        if params.get("image"):
            values["image"] = await self._upload(url, params["image"])
        graph = with_loras(fill(self.workflow(kind), values), list(params.get("loras") or []))
        self._listen(url)
        response = await http.send(self.client, self.name, "POST", f"{url}/prompt",
                                   json={"prompt": graph, "client_id": self.client_id})
        if response.status_code == 400:
            raise final("ComfyUI refused the workflow: " + _node_errors(response))
        http.check(response, self.name)
        prompt_id = http.json_of(response, self.name).get("prompt_id")
        if not prompt_id:
            raise transient("ComfyUI sent no prompt id")
        return f"{url}#{prompt_id}"

    async def poll(self, external_id: str) -> Poll:
        url, _, prompt_id = external_id.partition("#")
        self._listen(url)
        history = http.json_of(await http.request(self.client, self.name, "GET",
                                                  f"{url}/history/{prompt_id}"), self.name)
        entry = history.get(prompt_id)
        if not entry:
            queue = http.json_of(await http.request(self.client, self.name, "GET",
                                                    f"{url}/queue"), self.name)
            if any(_prompt_id(item) == prompt_id for item in queue.get("queue_running") or []):
                return Poll("running", self._progress.get(prompt_id, 0.0))
            if any(_prompt_id(item) == prompt_id for item in queue.get("queue_pending") or []):
                return Poll("queued")
            # It may have finished between the two reads: look at the history once more.
            history = http.json_of(await http.request(self.client, self.name, "GET",
                                                      f"{url}/history/{prompt_id}"), self.name)
            entry = history.get(prompt_id)
            if not entry:
                # Not done, not queued: the server lost it (restarted); resubmitting could
                # run it twice.
                return Poll("failed", error="the ComfyUI server no longer knows this prompt")
        status = entry.get("status") or {}
        if status.get("status_str") == "error":
            messages = [m for m in status.get("messages") or [] if m and m[0] ==
                        "execution_error"]
            detail = messages[0][1].get("exception_message", "") if messages else ""
            return Poll("failed", error=f"ComfyUI failed the workflow: {detail}".strip(": "))
        outputs = []
        for node in (entry.get("outputs") or {}).values():
            for item in (node.get("gifs") or []) + (node.get("images") or []):
                query = urlencode({"filename": item.get("filename", ""),
                                   "subfolder": item.get("subfolder", ""),
                                   "type": item.get("type", "output")})
                outputs.append(f"{url}/view?{query}")
        if not outputs:
            return Poll("failed", error="ComfyUI finished without an output")
        self._progress.pop(prompt_id, None)
        return Poll("succeeded", 1.0, outputs[:1], cost=0.0)

    async def cancel(self, external_id: str) -> None:
        url, _, prompt_id = external_id.partition("#")
        await http.request(self.client, self.name, "POST", f"{url}/queue",
                           json={"delete": [prompt_id]})
        await http.request(self.client, self.name, "POST", f"{url}/interrupt",
                           json={"prompt_id": prompt_id})

    async def download(self, output: str, dest: Path) -> Path:
        name = httpx.URL(output).params.get("filename", "output")
        os.makedirs(dest, exist_ok=True)
        target = await http.download(self.client, self.name, output, dest)
        suffix = Path(name).suffix
        if suffix and target.suffix != suffix:
            target = target.rename(target.with_suffix(suffix))
        return target

    # Progress over the websocket; losing it only loses the progress bar, never the job.
    def _listen(self, url: str) -> None:
        task = self._listeners.get(url)
        if task is None or task.done():
            self._listeners[url] = asyncio.create_task(self._watch(url))

    async def _watch(self, url: str) -> None:
        ws_url = url.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}"
        while True:
            try:
                async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
                    async for message in ws:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            self._frame(json.loads(message.data))
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
                pass
            await asyncio.sleep(self.reconnect_delay)

    def _frame(self, frame: dict) -> None:
        data = frame.get("data") or {}
        if frame.get("type") == "progress" and data.get("prompt_id") and data.get("max"):
            self._progress[data["prompt_id"]] = float(data["value"]) / float(data["max"])

    async def close(self) -> None:
        await stopped(*self._listeners.values())
        await self.client.aclose()


def _prompt_id(item: object) -> str:
    # /queue items are [number, prompt_id, prompt, extra, outputs].
    return str(item[1]) if isinstance(item, list) and len(item) > 1 else ""


def _node_errors(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") or {}
    return str(error.get("message") or error or body.get("node_errors"))[:200]
