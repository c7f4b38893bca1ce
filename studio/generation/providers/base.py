"""The one interface every generation provider speaks: submit, poll, cancel, download.

A job's `kind` is one of KINDS; `params` is a plain JSON object (prompt, seed, duration, ratio,
motion, image path, voice id, ...). Providers never touch the database: the queue stores what
they return.
"""

from __future__ import annotations

import abc
import asyncio
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("image", "video", "upscale", "voice")
STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class ProviderError(Exception):
    """A provider refused or broke. `transient` errors are retried; the rest fail the job."""

    def __init__(self, reason: str, *, transient: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after


def transient(reason: str, retry_after: float | None = None) -> ProviderError:
    return ProviderError(reason, transient=True, retry_after=retry_after)


def final(reason: str) -> ProviderError:
    return ProviderError(reason, transient=False)


@dataclass(frozen=True)
class Poll:
    """A provider's answer about one task. `outputs` are URLs or local paths to download."""

    state: str  # queued | running | succeeded | failed | cancelled
    progress: float = 0.0
    outputs: list[str] = field(default_factory=list)
    error: str = ""
    cost: float | None = None  # USD, when the provider reports it


class Provider(abc.ABC):
    """A generation service. Subclasses set `name`, `kinds` and `model`."""

    name: str = ""
    kinds: tuple[str, ...] = ()
    model: str = ""
    # Whether '@Name' in a prompt may expand to a LoRA tag (only samplers that load LoRAs).
    supports_lora: bool = False

    def serves(self, kind: str) -> bool:
        return kind in self.kinds

    def motion_control(self, kind: str) -> str | None:
        """What `motion` (1 almost still .. 10 strongest) becomes in this provider's request,
        in the provider's documented words; None when it has no such control (the answer
        then says so rather than dropping it silently)."""
        return None

    def estimate_cost(self, kind: str, params: dict) -> float:
        """USD a job of this kind is expected to cost before the provider reports it."""
        return 0.0

    @abc.abstractmethod
    async def submit(self, kind: str, params: dict) -> str:
        """Start the work; return the provider's id for it (stored before anything else)."""

    @abc.abstractmethod
    async def poll(self, external_id: str) -> Poll:
        """Where the task is now."""

    async def cancel(self, external_id: str) -> None:
        """Ask the provider to stop; a provider that cannot cancel does nothing."""
        return None

    @abc.abstractmethod
    async def download(self, output: str, dest: Path) -> Path:
        """Fetch one output to `dest` (a directory); return the file written."""

    async def close(self) -> None:
        """Release connections."""
        return None


class LocalWork(Provider):
    """A provider whose work runs as tasks in this process (the animatic's renders, a link's
    download): the queue waits on the task between polls instead of sleeping."""

    _tasks: dict[str, asyncio.Task]

    async def wait(self, external_id: str) -> None:
        task = self._tasks.get(external_id)
        if task is not None:
            await asyncio.wait({task})

    def _stop(self, external_id: str) -> asyncio.Task | None:
        """Forget the job's task, cancelled; returns it (a caller may await its end)."""
        task = self._tasks.pop(external_id, None)
        if task is not None:
            task.cancel()
        return task
