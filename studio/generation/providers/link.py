"""Takes brought by link: the download run as a job of the durable queue.

Speaks the providers' interface so a fetch gets what a generation gets: a progress card, a
lease, a post when its take is stored. Each task is a request file in the work directory with
its partial file beside it, so a restart resumes the download (Range, when the server can)
or starts it again; a refusal is written beside it too, so it is said once and not retried.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from pathlib import Path

from studio.generation import link_fetch
from studio.generation.link_fetch import LinkRefused, LinkTrouble, Resolve
from studio.generation.providers.base import LocalWork, Poll, final
from studio.units import size_text
from studio.waiting import stopped

log = logging.getLogger(__name__)

KIND = "upload"
STALE_DAYS = 7  # request files of long-finished fetches are cleared after this


class LinkFetcher(LocalWork):
    name = "link"
    kinds = (KIND,)
    model = ""

    def __init__(self, work_dir: Path, *, max_bytes: int, seconds: float,
                 allow_loopback: bool = False, resolve: Resolve | None = None,
                 attempts: int = 4, backoff_seconds: float = 1.0,
                 read_timeout: float = 60.0) -> None:
        self.work_dir = work_dir
        self.max_bytes = max_bytes
        self.seconds = seconds
        # Test-only (SLATE_TEST_ALLOW_LOOPBACK_URLS): the fakes listen on 127.0.0.1.
        self.allow_loopback = allow_loopback
        self.resolve = resolve or link_fetch.system_resolve
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.read_timeout = read_timeout
        self._tasks: dict[str, asyncio.Task] = {}
        self._progress: dict[str, tuple[int, int | None]] = {}

    async def check(self, url: str) -> str:
        """Refuse a link at once when its own host is not a public https address."""
        try:
            parsed = link_fetch.parse(url)
            await link_fetch.checked_addresses(parsed, allow_loopback=self.allow_loopback,
                                               resolve=self.resolve)
        except (LinkRefused, LinkTrouble) as exc:
            raise final(exc.reason) from None
        return parsed.raw_host or ""

    def _file(self, task_id: str, suffix: str) -> Path:
        return self.work_dir / f"{task_id}{suffix}"

    async def submit(self, kind: str, params: dict) -> str:
        if kind != KIND or not params.get("url"):
            raise final("a link fetch needs a link")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._clear_stale()
        task_id = "link-" + uuid.uuid4().hex
        self._file(task_id, ".json").write_text(json.dumps({"url": params["url"]}),
                                                encoding="utf-8")
        self._start(task_id)
        return task_id

    def _start(self, task_id: str) -> None:
        self._tasks[task_id] = asyncio.create_task(self._run(task_id),
                                                   name=f"slate-link-{task_id}")

    async def _run(self, task_id: str) -> None:
        url = json.loads(self._file(task_id, ".json").read_text(encoding="utf-8"))["url"]
        part, out, refused = (self._file(task_id, s) for s in (".part", ".out", ".refused"))
        reason = ""
        for attempt in range(self.attempts):
            try:
                async with asyncio.timeout(self.seconds):
                    await link_fetch.fetch(
                        url, part, max_bytes=self.max_bytes, allow_loopback=self.allow_loopback,
                        resolve=self.resolve, read_timeout=self.read_timeout,
                        on_progress=lambda got, total: self._progress.__setitem__(
                            task_id, (got, total)))
                part.replace(out)
                return
            except LinkRefused as exc:
                reason = exc.reason
                break
            except TimeoutError:
                reason = (f"the download took longer than {self.seconds:g} s (the time "
                          "limit): nothing was kept")
                break
            except LinkTrouble as exc:
                reason = exc.reason
                log.warning("fetch %s: %s (attempt %d)", task_id, exc.reason, attempt + 1)
                if attempt + 1 < self.attempts:
                    await asyncio.sleep(self.backoff_seconds * 2 ** attempt)
        else:
            reason = f"gave up after {self.attempts} attempts: {reason}"
        for leftover in (part, part.with_name(part.name + ".meta")):
            leftover.unlink(missing_ok=True)
        refused.write_text(reason, encoding="utf-8")

    async def poll(self, external_id: str) -> Poll:
        out, refused = self._file(external_id, ".out"), self._file(external_id, ".refused")
        if out.exists():
            self._tasks.pop(external_id, None)
            return Poll("succeeded", 1.0, [str(out)], cost=0.0)
        if refused.exists():
            self._tasks.pop(external_id, None)
            return Poll("failed", error=refused.read_text(encoding="utf-8"), cost=0.0)
        task = self._tasks.get(external_id)
        if task is None or task.done():
            if task is not None and task.exception() is not None:
                self._tasks.pop(external_id, None)
                return Poll("failed", error=f"the fetch broke: {task.exception()!r}"[:300],
                            cost=0.0)
            if not self._file(external_id, ".json").exists():
                return Poll("failed", error="the link's download is unknown (its files are "
                                            "gone): send the link again", cost=0.0)
            self._start(external_id)  # after a restart: resume (or start again)
            return Poll("running", 0.0)
        got, total = self._progress.get(external_id, (0, None))
        share = got / total if total else min(0.9, got / self.max_bytes)
        return Poll("running", min(0.99, share))

    def progress_text(self, external_id: str) -> str:
        got, total = self._progress.get(external_id, (0, None))
        return size_text(got) + (f" of {size_text(total)}" if total else "")

    async def cancel(self, external_id: str) -> None:
        task = self._stop(external_id)
        if task is not None:  # its partial file is written no more once it has ended
            await asyncio.gather(task, return_exceptions=True)
        for suffix in (".part", ".part.meta", ".out"):
            self._file(external_id, suffix).unlink(missing_ok=True)
        self._file(external_id, ".refused").write_text("cancelled", encoding="utf-8")

    async def download(self, output: str, dest: Path) -> Path:
        """Move the finished file into the queue's work folder (no second copy of 200 MB)."""
        # A crash before the take is stored fetches again: the request file stays for that.
        return _moved(Path(output), dest)

    def _clear_stale(self) -> None:
        horizon = time.time() - STALE_DAYS * 86400
        for found in self.work_dir.glob("link-*"):
            try:
                if found.stat().st_mtime < horizon:
                    found.unlink()
            except OSError:
                pass

    async def close(self) -> None:
        await stopped(*self._tasks.values())
        self._tasks.clear()


def _moved(source: Path, dest: Path) -> Path:
    os.makedirs(dest, exist_ok=True)
    return source.replace(dest / "upload")
