"""ElevenLabs text to speech: one synchronous request returns the audio bytes.

There is no remote task to poll, so the id is ours: the request runs in the background and
its audio lands beside a marker file. After a restart an unfinished request is reported
failed (the text may have been billed already), never sent twice.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

import httpx

from studio.generation.providers import http
from studio.generation.providers.base import Poll, Provider, ProviderError, final

USD_PER_CHARACTER = 0.00018  # the Creator plan's overage price, an estimate until billed


class ElevenLabs(Provider):
    name = "elevenlabs"
    kinds = ("voice",)

    def __init__(self, api_key: str, work_dir: Path, *,
                 base_url: str = "https://api.elevenlabs.io", model: str = "eleven_multilingual_v2",
                 default_voice: str = "21m00Tcm4TlvDq8ikWAM", timeout: float = 120.0,
                 attempts: int = 5, backoff: float = 1.0):
        self.attempts = attempts
        self.backoff = backoff
        self.model = model
        self.default_voice = default_voice
        self.work_dir = work_dir
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout,
                                        headers={"xi-api-key": api_key})
        self._tasks: dict[str, asyncio.Task] = {}

    def estimate_cost(self, kind: str, params: dict) -> float:
        return round(len(str(params.get("prompt", ""))) * USD_PER_CHARACTER, 6)

    async def submit(self, kind: str, params: dict) -> str:
        if kind != "voice":
            raise final(f"elevenlabs cannot make {kind}")
        text = str(params.get("prompt", "")).strip()
        if not text:
            raise final("there is no text to speak")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        task_id = "el-" + uuid.uuid4().hex
        (self.work_dir / f"{task_id}.pending").write_text("")
        # The first call is made here so that a final refusal (422, 401) fails the job at once.
        self._tasks[task_id] = asyncio.create_task(self._speak(task_id, text, params))
        await asyncio.wait({self._tasks[task_id]}, timeout=0)
        return task_id

    async def _speak(self, task_id: str, text: str, params: dict) -> Path:
        voice = str(params.get("voice_id") or self.default_voice)
        body: dict = {"text": text, "model_id": self.model}
        if params.get("seed") is not None:
            body["seed"] = int(params["seed"]) % 4294967295
        settings = {k: params[k] for k in ("stability", "similarity_boost", "style", "speed")
                    if k in params}
        if settings:
            body["voice_settings"] = settings
        # Throttling (429) bills nothing, so the same text may be sent again after a pause.
        for attempt in range(self.attempts):
            try:
                response = await http.request(self.client, self.name, "POST",
                                              f"/v1/text-to-speech/{voice}",
                                              params={"output_format": "mp3_44100_128"},
                                              json=body)
                break
            except ProviderError as exc:
                if not exc.transient or attempt == self.attempts - 1:
                    raise
                await asyncio.sleep(exc.retry_after if exc.retry_after is not None
                                    else self.backoff * 2 ** attempt)
        if not response.headers.get("content-type", "").startswith("audio/"):
            raise final("elevenlabs sent no audio")
        out = self.work_dir / f"{task_id}.mp3"
        out.write_bytes(response.content)
        (self.work_dir / f"{task_id}.pending").unlink(missing_ok=True)
        return out

    async def poll(self, external_id: str) -> Poll:
        out = self.work_dir / f"{external_id}.mp3"
        task = self._tasks.get(external_id)
        if task is not None and task.done():
            self._tasks.pop(external_id)
            error = task.exception()
            if isinstance(error, ProviderError):
                (self.work_dir / f"{external_id}.pending").unlink(missing_ok=True)
                # A refused request made no audio, and ElevenLabs bills only what it speaks.
                return Poll("failed", error=error.reason, cost=0.0)
            if error is not None:
                return Poll("failed", error=f"elevenlabs: {error}")
        if out.exists():
            return Poll("succeeded", 1.0, [str(out)])
        if task is None:
            return Poll("failed", error="the voice request was interrupted by a restart; "
                                        "re-roll it")
        return Poll("running", 0.5)

    async def cancel(self, external_id: str) -> None:
        task = self._tasks.pop(external_id, None)
        if task is not None:
            task.cancel()

    async def download(self, output: str, dest: Path) -> Path:
        os.makedirs(dest, exist_ok=True)
        target = dest / "output.mp3"
        shutil.copyfile(output, target)
        return target

    async def close(self) -> None:
        await self.client.aclose()
