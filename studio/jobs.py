"""The durable job queue: generation jobs in SQLite, driven by one worker loop.

A job's life: queued → submitted (the provider's id is stored before anything else) →
running → succeeded | failed | cancelled. After a restart, queued jobs run and
submitted/running ones are polled: a job is never submitted twice once its id is stored.
Transient provider errors retry with exponential backoff and jitter; final ones fail the job
with the provider's reason. Each provider has a concurrency limit, and the next job is chosen
fairly: the member with the fewest jobs in flight, served least recently, goes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import audit, jobs
from storage.jobs import Job
from studio.app import Studio
from studio.errors import InvalidInput, NotFound, NotPermitted
from studio.people import Actor
from studio.providers.base import Poll, Provider, ProviderError
from studio.waiting import nudged, within

log = logging.getLogger(__name__)

# Called with the finished job and its downloaded files; stores the take and closes the job.
Finisher = Callable[[Job, list[Path], float | None], Awaitable[None]]
Listener = Callable[[Job], Awaitable[None] | None]


@dataclass
class QueueConfig:
    poll_seconds: float = 2.0
    backoff_seconds: float = 2.0
    backoff_max_seconds: float = 120.0
    max_attempts: int = 6
    concurrency: dict[str, int] = field(default_factory=dict)
    default_concurrency: int = 2

    @classmethod
    def from_settings(cls, settings: object) -> QueueConfig:
        return cls(poll_seconds=settings.job_poll_seconds,  # type: ignore[attr-defined]
                   backoff_seconds=settings.job_backoff_seconds,  # type: ignore[attr-defined]
                   backoff_max_seconds=settings.job_backoff_max_seconds,  # type: ignore
                   max_attempts=settings.job_max_attempts,  # type: ignore[attr-defined]
                   concurrency=dict(settings.provider_concurrency))  # type: ignore

    def limit(self, provider: str) -> int:
        return max(1, self.concurrency.get(provider, self.default_concurrency))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with full jitter; a provider's Retry-After is honoured."""
        base = min(self.backoff_max_seconds, self.backoff_seconds * 2 ** max(0, attempt - 1))
        wait = base * random.uniform(0.5, 1.0)
        return max(wait, retry_after) if retry_after is not None else wait


def _later(seconds: float) -> str:
    stamp = datetime.now(UTC) + timedelta(seconds=seconds)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class JobQueue:
    """Runs jobs against providers. `start()` runs the worker loop; `stop()` leaves jobs
    as they are in the database for the next start to resume."""

    def __init__(self, studio: Studio, providers: dict[str, Provider], finisher: Finisher,
                 config: QueueConfig | None = None):
        self.studio = studio
        self.providers = providers
        self.finisher = finisher
        self.config = config or QueueConfig.from_settings(studio.settings)
        self.listeners: list[Listener] = []
        self._in_flight: dict[int, asyncio.Task] = {}
        self._by_provider: dict[str, set[int]] = {}
        self._by_member: dict[int | None, int] = {}
        self._served: dict[int | None, int] = {}
        self._served_count = 0
        self._done_events: dict[int, asyncio.Event] = {}
        self._cancelled: set[int] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task | None = None
        self._timers: list[asyncio.TimerHandle] = []

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    # The worker.
    async def start(self) -> None:
        if self.running:
            return
        self._loop_task = asyncio.create_task(self._run(), name="slate-job-queue")

    async def stop(self) -> None:
        """Stop working; jobs stay as stored (queued, submitted, running) for the next start."""
        for timer in self._timers:
            timer.cancel()
        tasks = [t for t in (self._loop_task, *self._in_flight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None
        self._in_flight.clear()
        self._by_provider.clear()
        self._by_member.clear()

    async def close(self) -> None:
        await self.stop()
        for provider in self.providers.values():
            await provider.close()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        for job in await jobs.active(self.studio.db.reader):
            if job.provider in self.providers and job.id not in self._in_flight:
                self._launch(job)
        while True:
            try:
                await self._dispatch()
            except Exception:  # the loop must outlive one bad tick; the job rows are safe
                log.exception("job dispatch failed")
            await nudged(self._wake, self.config.poll_seconds)
            self._wake.clear()

    async def _dispatch(self) -> None:
        """Start as many queued jobs as the providers' limits allow, fairly across members."""
        while True:
            free = [name for name in self.providers
                    if len(self._by_provider.get(name, ())) < self.config.limit(name)]
            candidates = await jobs.next_per_member(self.studio.db.reader, free,
                                                    set(self._in_flight))
            if not candidates:
                return
            candidates.sort(key=lambda j: (self._by_member.get(j.member_id, 0),
                                           self._served.get(j.member_id, -1), j.id))
            job = candidates[0]
            self._served_count += 1
            self._served[job.member_id] = self._served_count
            self._launch(job)

    def _launch(self, job: Job) -> asyncio.Task:
        task = asyncio.create_task(self._drive(job), name=f"slate-job-{job.id}")
        self._in_flight[job.id] = task
        self._by_provider.setdefault(job.provider, set()).add(job.id)
        self._by_member[job.member_id] = self._by_member.get(job.member_id, 0) + 1
        task.add_done_callback(lambda _t, j=job: self._landed(j))
        return task

    def _landed(self, job: Job) -> None:
        self._in_flight.pop(job.id, None)
        self._by_provider.get(job.provider, set()).discard(job.id)
        self._by_member[job.member_id] = max(0, self._by_member.get(job.member_id, 1) - 1)
        self._wake.set()

    # One job, from submit to stored take.
    async def _drive(self, job: Job) -> None:
        try:
            await self._drive_inner(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must fail its job visibly, not hang it
            log.exception("job %s broke", job.id)
            await self._close(job.id, "failed", error=f"internal error: {type(exc).__name__}")

    async def _drive_inner(self, job: Job) -> None:
        provider = self.providers.get(job.provider)
        if provider is None:
            await self._close(job.id, "failed", error=f"the provider {job.provider} is not "
                                                      "configured")
            return
        if job.state == "queued":
            try:
                external_id = await provider.submit(job.kind, job.parameters)
            except ProviderError as exc:
                await self._submit_failed(job, exc)
                return
            async with self.studio.db.transaction() as tx:
                stored = await jobs.mark_submitted(tx, job.id, external_id)
            if not stored:  # cancelled while the submission was in flight
                with contextlib.suppress(ProviderError):
                    await provider.cancel(external_id)
                return
            job = await self._reload(job.id)
            await self._tell(job)
        await self._follow(job, provider)

    async def _submit_failed(self, job: Job, exc: ProviderError) -> None:
        attempts = job.attempts + 1
        if not exc.transient or attempts >= self.config.max_attempts:
            reason = exc.reason if not exc.transient else \
                f"gave up after {attempts} attempts: {exc.reason}"
            await self._close(job.id, "failed", error=reason)
            return
        delay = self.config.delay(attempts, exc.retry_after)
        async with self.studio.db.transaction() as tx:
            await jobs.mark_retry(tx, job.id, _later(delay), exc.reason)
        self._timers.append(asyncio.get_running_loop().call_later(delay, self._wake.set))

    async def _follow(self, job: Job, provider: Provider) -> None:
        assert job.external_id is not None, job
        failures = 0
        last = (job.state, round(job.progress, 2))
        while True:
            if job.id in self._cancelled:
                return
            try:
                poll = await provider.poll(job.external_id)
                if poll.state == "succeeded":
                    await self._collect(job, provider, poll)
                    return
            except ProviderError as exc:
                failures += 1
                if not exc.transient or failures >= self.config.max_attempts:
                    await self._close(job.id, "failed", error=exc.reason)
                    return
                async with self.studio.db.transaction() as tx:
                    await jobs.mark_error(tx, job.id, exc.reason)
                await asyncio.sleep(self.config.delay(failures, exc.retry_after))
                continue
            failures = 0
            if poll.state in ("failed", "cancelled"):
                await self._close(job.id, poll.state, error=poll.error, cost=poll.cost)
                return
            state = "running" if poll.state == "running" else "submitted"
            now = (state, round(poll.progress, 2))
            if now != last and (now[0] != last[0] or abs(now[1] - last[1]) >= 0.05):
                async with self.studio.db.transaction() as tx:
                    await jobs.mark_progress(tx, job.id, state, poll.progress)
                last = now
                await self._tell(await self._reload(job.id))
            waiter = getattr(provider, "wait", None)
            if waiter is not None:  # a local provider can say when it is done
                with contextlib.suppress(TimeoutError):
                    await within(waiter(job.external_id), self.config.poll_seconds)
            else:
                await asyncio.sleep(self.config.poll_seconds)

    async def _collect(self, job: Job, provider: Provider, poll: Poll) -> None:
        """Download at once (hosted outputs expire), then hand the files to the finisher."""
        work = self.studio.settings.data_dir / "tmp" / f"job-{job.id}"
        shutil.rmtree(work, ignore_errors=True)
        try:
            files = [await provider.download(output, work / str(i))
                     for i, output in enumerate(poll.outputs)]
            fresh = await self._reload(job.id)
            if fresh.done:
                return
            await self.finisher(fresh, files, poll.cost)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        await self._settled(job.id)

    async def _close(self, job_id: int, state: str, *, error: str = "",
                     cost: float | None = None) -> None:
        async with self.studio.db.transaction() as tx:
            # A failed or cancelled job costs only what the provider says it billed.
            await jobs.finish(tx, job_id, state, error=error[:500],
                              cost=cost if cost is not None else 0.0)
        await self._settled(job_id)

    async def _settled(self, job_id: int) -> None:
        job = await self._reload(job_id)
        await self._tell(job)
        event = self._done_events.get(job_id)
        if event is not None and job.done:
            event.set()

    async def _reload(self, job_id: int) -> Job:
        found = await jobs.get(self.studio.db.reader, job_id)
        assert found is not None
        return found

    async def _tell(self, job: Job) -> None:
        for listener in list(self.listeners):
            try:
                result = listener(job)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # a broken progress card must not break the job
                log.exception("job listener failed")

    # What callers use.
    async def wait(self, job_id: int, *, within: float | None = None) -> Job:
        """Until the job is done. Without the worker running, the job is driven right here."""
        job = await self._reload(job_id)
        if job.done:
            return job
        event = self._done_events.setdefault(job_id, asyncio.Event())
        try:
            async with asyncio.timeout(within):
                while not job.done:
                    if not self.running and job_id not in self._in_flight:
                        await self._drive_here(job)
                    else:
                        await nudged(event, self.config.poll_seconds)
                    job = await self._reload(job_id)
        finally:
            self._done_events.pop(job_id, None)
        return job

    async def _drive_here(self, job: Job) -> None:
        if job.not_before:
            wait = (datetime.fromisoformat(job.not_before.replace("Z", "+00:00"))
                    - datetime.now(UTC)).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)
        await self._launch(job)

    async def cancel(self, job_id: int, who: Actor, production_id: int) -> Job:
        job = await jobs.get(self.studio.db.reader, job_id)
        if job is None or job.production_id != production_id:
            raise NotFound(f"there is no job {job_id}")
        if job.member_id != who.id and not who.is_producer:
            raise NotPermitted("only the job's creator or a producer can cancel it")
        if job.done:
            raise InvalidInput(f"job {job_id} is already {job.state}")
        self._cancelled.add(job_id)
        async with self.studio.db.transaction() as tx:
            closed = await jobs.finish(tx, job_id, "cancelled", error=f"cancelled by {who.name}",
                                       cost=0.0)
            if closed:
                await audit.record(tx, production_id, who.id, "job", job_id, "cancel",
                                   before={"state": job.state}, after={"state": "cancelled"})
        provider = self.providers.get(job.provider)
        if job.external_id and provider is not None:
            with contextlib.suppress(ProviderError):
                await provider.cancel(job.external_id)
        task = self._in_flight.get(job_id)
        if task is not None:
            task.cancel()
        await self._settled(job_id)
        return await self._reload(job_id)


def outputs_of(job: Job) -> list[str]:
    return list(json.loads(job.outputs))
