"""The durable job queue: generation jobs in SQLite, driven by worker loops.

A job's life: queued → submitted (the provider's id is stored before anything else) →
running → succeeded | failed | cancelled. Any number of processes may run a queue on one
database: a job is driven only under a lease (`claimed_by` + `lease_until`, taken by one
UPDATE in a write transaction, renewed while driving), so a job is submitted once and polled
by one process at a time; a crashed process's lease runs out and another takes the job over.
Transient submit errors retry with exponential backoff and jitter; a submitted job (paid for)
is polled through outages until the provider answers or a long give-up window passes. Each
provider has a concurrency limit, and the next job is chosen fairly: the member with the
fewest jobs in flight, served least recently, goes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import shutil
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

from storage import audit, jobs
from storage.jobs import Job
from studio.app import Studio
from studio.errors import InvalidInput, NotFound, NotPermitted
from studio.generation.providers.base import Poll, Provider, ProviderError
from studio.ops.logging_setup import log_context
from studio.production.people import Actor
from studio.waiting import nudged, stopped, within

log = logging.getLogger(__name__)

# Called with the finished job and its downloaded files; stores the take and closes the job.
Finisher = Callable[[Job, list[Path], float | None], Awaitable[None]]
Listener = Callable[[Job], Awaitable[None] | None]


T = TypeVar("T")


@dataclass
class QueueConfig:
    poll_seconds: float = 2.0
    backoff_seconds: float = 2.0
    backoff_max_seconds: float = 120.0
    max_attempts: int = 6
    concurrency: dict[str, int] = field(default_factory=dict)
    default_concurrency: int = 2
    lease_seconds: float = 60.0
    poll_give_up_seconds: float = 24 * 3600.0

    @classmethod
    def from_settings(cls, settings: object) -> QueueConfig:
        return cls(poll_seconds=settings.job_poll_seconds,  # type: ignore[attr-defined]
                   backoff_seconds=settings.job_backoff_seconds,  # type: ignore[attr-defined]
                   backoff_max_seconds=settings.job_backoff_max_seconds,  # type: ignore
                   max_attempts=settings.job_max_attempts,  # type: ignore[attr-defined]
                   concurrency=dict(settings.provider_concurrency),  # type: ignore
                   lease_seconds=settings.job_lease_seconds,  # type: ignore[attr-defined]
                   poll_give_up_seconds=settings.job_poll_give_up_hours * 3600)  # type: ignore

    def limit(self, provider: str) -> int:
        return max(1, self.concurrency.get(provider, self.default_concurrency))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with full jitter; a provider's Retry-After is honoured."""
        # The exponent is capped: a day-long outage must not overflow the float.
        base = min(self.backoff_max_seconds,
                   self.backoff_seconds * 2 ** min(40, max(0, attempt - 1)))
        wait = base * random.uniform(0.5, 1.0)
        return max(wait, retry_after) if retry_after is not None else wait


def _later(seconds: float) -> str:
    stamp = datetime.now(UTC) + timedelta(seconds=seconds)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _age(stamp: str) -> float:
    """Seconds since a database timestamp."""
    return (datetime.now(UTC) - datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            ).total_seconds()


def _shown(external_id: str) -> str:
    """A provider's id fit for a message: a ComfyUI id holds its server's URL, whose
    user:password part is a secret."""
    url, mark, rest = external_id.partition("#")
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return url + mark + rest


def _span(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds:g} s"


class JobQueue:
    """Runs jobs against providers. `start()` runs the worker loop; `stop()` leaves jobs
    as they are in the database, unleased, for the next start (here or elsewhere) to resume."""

    def __init__(self, studio: Studio, providers: dict[str, Provider], finisher: Finisher,
                 config: QueueConfig | None = None):
        self.studio = studio
        self.providers = providers
        self.finisher = finisher
        self.config = config or QueueConfig.from_settings(studio.settings)
        self.listeners: list[Listener] = []
        # Who holds a lease: unique per queue, so two queues in one process are two workers.
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._in_flight: dict[int, asyncio.Task] = {}
        self._by_provider: dict[str, set[int]] = {}
        self._by_member: dict[int | None, int] = {}
        self._served: dict[int | None, int] = {}
        self._served_count = 0
        self._done_events: dict[int, asyncio.Event] = {}
        self._cancelled: set[int] = set()
        self._lost: set[int] = set()  # jobs whose lease another process took over
        self._writes: set[asyncio.Future] = set()
        self._stopping = False
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self.passes = 0  # worker passes finished: a waiter knows the queue has looked since

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    def drives(self, job_id: int) -> bool:
        """Whether a driver of the job runs in this process."""
        return job_id in self._in_flight

    @property
    def writing(self) -> bool:
        """Whether a database write of the queue is still in flight (it outlives a cancel)."""
        return bool(self._writes)

    # The worker.
    async def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        self._loop_task = asyncio.create_task(self._run(), name="slate-job-queue")

    async def stop(self) -> None:
        """Stop taking work; let a database write in progress commit; release our leases.

        Jobs stay as stored (queued, submitted, running) for the next start to resume."""
        self._stopping = True
        for timer in self._timers:
            timer.cancel()
        tasks = [t for t in (self._loop_task, *self._in_flight.values()) if t is not None]
        await stopped(*tasks)
        # A cancelled driver's write is shielded: it commits before the leases go.
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)
        with contextlib.suppress(Exception):  # a closed database keeps the leases: they expire
            async with self.studio.db.transaction() as tx:
                await jobs.release(tx, self.token)
        self._loop_task = None
        self._in_flight.clear()
        self._by_provider.clear()
        self._by_member.clear()
        self._stopping = False

    async def close(self) -> None:
        await self.stop()
        for provider in self.providers.values():
            await provider.close()

    def wake(self) -> None:
        self._wake.set()

    async def _guarded(self, work: Awaitable[T]) -> T:
        """Run a database write to its end even if the driver is cancelled; stop() waits."""
        task = asyncio.ensure_future(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return await asyncio.shield(task)

    async def _claim(self, job_id: int) -> Job | None:
        """Our lease on the job, and the job as it is now; None when another process has it."""
        async def take() -> Job | None:
            async with self.studio.db.transaction() as tx:
                if not await jobs.claim(tx, job_id, self.token,
                                        _later(self.config.lease_seconds)):
                    return None
                return await jobs.get(tx, job_id)
        return await self._guarded(take())

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._adopt()
                await self._dispatch()
                self.passes += 1
            except Exception:  # the loop must outlive one bad tick; the job rows are safe
                log.exception("job dispatch failed")
            await nudged(self._wake, self.config.poll_seconds)
            self._wake.clear()

    async def _adopt(self) -> None:
        """Poll the submitted jobs nobody drives: after a restart, or a crashed process's."""
        for job in await jobs.unleased_active(self.studio.db.reader, list(self.providers),
                                              set(self._in_flight)):
            if self._stopping:
                return
            claimed = await self._claim(job.id)
            if claimed is not None and not claimed.done:
                with log_context("job", job.id):
                    log.info("resuming %s task %s", claimed.provider, claimed.external_id)
                self._launch(claimed)

    async def _dispatch(self) -> None:
        """Start as many queued jobs as the providers' limits allow, fairly across members."""
        while not self._stopping:
            free = [name for name in self.providers
                    if len(self._by_provider.get(name, ())) < self.config.limit(name)]
            candidates = await jobs.next_per_member(self.studio.db.reader, free,
                                                    set(self._in_flight))
            if not candidates:
                return
            candidates.sort(key=lambda j: (self._by_member.get(j.member_id, 0),
                                           self._served.get(j.member_id, -1), j.id))
            job = candidates[0]
            claimed = await self._claim(job.id)
            if claimed is None or claimed.done:  # another process took it first
                continue
            self._served_count += 1
            self._served[job.member_id] = self._served_count
            self._launch(claimed)

    def _launch(self, job: Job) -> asyncio.Task:
        task = asyncio.create_task(self._drive(job), name=f"slate-job-{job.id}")
        self._in_flight[job.id] = task
        self._by_provider.setdefault(job.provider, set()).add(job.id)
        self._by_member[job.member_id] = self._by_member.get(job.member_id, 0) + 1
        task.add_done_callback(lambda _t, j=job: self._landed(j))
        return task

    def _landed(self, job: Job) -> None:
        self._in_flight.pop(job.id, None)
        self._lost.discard(job.id)
        self._by_provider.get(job.provider, set()).discard(job.id)
        self._by_member[job.member_id] = max(0, self._by_member.get(job.member_id, 1) - 1)
        self._wake.set()

    # One job, from submit to stored take, under our lease.
    async def _drive(self, job: Job) -> None:
        with log_context("job", job.id):
            renewal = asyncio.create_task(self._keep_lease(job.id))
            try:
                await self._drive_inner(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must fail its job visibly, not hang it
                log.exception("job %s broke", job.id)
                await self._close(job.id, "failed",
                                  error=f"internal error: {type(exc).__name__}")
            finally:
                await stopped(renewal)
            now = await self._reload(job.id)
            if not now.done and now.claimed_by == self.token:  # left open: free it for anyone
                async def release() -> None:
                    async with self.studio.db.transaction() as tx:
                        await jobs.release(tx, self.token, job.id)
                await self._guarded(release())

    async def _keep_lease(self, job_id: int) -> None:
        async def renew() -> bool:
            async with self.studio.db.transaction() as tx:
                return await jobs.renew(tx, job_id, self.token,
                                        _later(self.config.lease_seconds))
        while True:
            await asyncio.sleep(self.config.lease_seconds / 3)
            if not await self._guarded(renew()):
                job = await self._reload(job_id)
                if not job.done:
                    log.warning("lost the lease on job %s to %s", job_id, job.claimed_by)
                    self._lost.add(job_id)
                return

    def _left(self, job_id: int) -> bool:
        """The driver must let go: cancelled, taken over, or the queue is stopping."""
        return job_id in self._cancelled or job_id in self._lost or self._stopping

    async def _drive_inner(self, job: Job) -> None:
        provider = self.providers.get(job.provider)
        if provider is None:
            await self._close(job.id, "failed", error=f"the provider {job.provider} is not "
                                                      "configured")
            return
        if job.state == "queued":
            if self._left(job.id):
                return
            try:
                external_id = await provider.submit(job.kind, job.parameters)
            except ProviderError as exc:
                await self._submit_failed(job, exc)
                return

            async def store() -> bool:
                async with self.studio.db.transaction() as tx:
                    stored = await jobs.mark_submitted(tx, job.id, external_id)
                    if not stored:  # cancelled while the submission was in flight: billed
                        await jobs.mark_billed_after_cancel(tx, job.id, external_id, job.cost)
                    return stored
            if not await self._guarded(store()):
                with contextlib.suppress(ProviderError):
                    await provider.cancel(external_id)
                return
            log.info("submitted to %s as %s", job.provider, external_id)
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
        log.warning("%s did not take the job (%s); retrying in %.1f s", job.provider,
                    exc.reason, delay)

        async def retry() -> None:
            async with self.studio.db.transaction() as tx:
                await jobs.mark_retry(tx, job.id, _later(delay), exc.reason)
        await self._guarded(retry())
        self._timers.append(asyncio.get_running_loop().call_later(delay, self._wake.set))

    async def _follow(self, job: Job, provider: Provider) -> None:
        """Poll until the provider's final answer; outages are waited out (the job is paid)."""
        assert job.external_id is not None, job
        failures = 0
        unanswered = job.unanswered_since
        last = (job.state, round(job.progress, 2))
        while True:
            if self._left(job.id):
                return
            try:
                poll = await provider.poll(job.external_id)
                if poll.state == "succeeded":
                    await self._collect(job, provider, poll)
                    return
            except ProviderError as exc:
                if not exc.transient:
                    await self._close(job.id, "failed", error=exc.reason)
                    return
                failures += 1
                unanswered = await self._guarded(self._note_error(job.id, exc.reason))
                if _age(unanswered) >= self.config.poll_give_up_seconds:
                    window = _span(self.config.poll_give_up_seconds)
                    await self._close(job.id, "failed", error=(
                        f"{job.provider} never answered about {_shown(job.external_id)}"
                        f" for {window}"
                        f" (last: {exc.reason}); ask the provider whether it ran"))
                    return
                delay = self.config.delay(failures, exc.retry_after)
                log.warning("polling %s failed (%s); again in %.1f s", job.external_id,
                            exc.reason, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if unanswered is not None:
                await self._guarded(self._answered(job.id))
                unanswered = None
            if poll.state in ("failed", "cancelled"):
                await self._close(job.id, poll.state, error=poll.error, cost=poll.cost)
                return
            state = "running" if poll.state == "running" else "submitted"
            now = (state, round(poll.progress, 2))
            if now != last and (now[0] != last[0] or abs(now[1] - last[1]) >= 0.05):
                await self._guarded(self._progress(job.id, state, poll.progress))
                last = now
                await self._tell(await self._reload(job.id))
            waiter = getattr(provider, "wait", None)
            if waiter is not None:  # a local provider can say when it is done
                with contextlib.suppress(TimeoutError):
                    await within(waiter(job.external_id), self.config.poll_seconds)
            else:
                await asyncio.sleep(self.config.poll_seconds)

    async def _note_error(self, job_id: int, reason: str) -> str:
        async with self.studio.db.transaction() as tx:
            return await jobs.mark_error(tx, job_id, reason)

    async def _answered(self, job_id: int) -> None:
        async with self.studio.db.transaction() as tx:
            await jobs.mark_answered(tx, job_id)

    async def _progress(self, job_id: int, state: str, progress: float) -> None:
        async with self.studio.db.transaction() as tx:
            await jobs.mark_progress(tx, job_id, state, progress)

    async def _collect(self, job: Job, provider: Provider, poll: Poll) -> None:
        """Download at once (hosted outputs expire), then hand the files to the finisher."""
        work = self.studio.settings.data_dir / "tmp" / f"job-{job.id}"
        shutil.rmtree(work, ignore_errors=True)
        try:
            files = [await provider.download(output, work / str(i))
                     for i, output in enumerate(poll.outputs)]
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        # Storing the take runs to its end even through a stop: no half-made take.
        await self._guarded(self._hand_over(job.id, files, poll.cost, work))
        log.info("succeeded")
        await self._settled(job.id)

    async def _hand_over(self, job_id: int, files: list[Path], cost: float | None,
                         work: Path) -> None:
        try:
            fresh = await self._reload(job_id)
            if not fresh.done:
                await self.finisher(fresh, files, cost)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    async def _close(self, job_id: int, state: str, *, error: str = "",
                     cost: float | None = None) -> None:
        async def write() -> None:
            async with self.studio.db.transaction() as tx:
                job = await jobs.get(tx, job_id)
                # What the provider reports, else: never submitted costs 0, submitted keeps
                # its estimate (the provider may have billed it).
                billed = cost if cost is not None else \
                    (None if job is not None and job.external_id else 0.0)
                await jobs.finish(tx, job_id, state, error=error[:500], cost=billed)
        await self._guarded(write())
        log.info("%s%s", state, f": {error[:200]}" if error else "")
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
        """Until the job is done. Without the worker running, the job is driven right here
        (unless another process holds it: then this waits for that process)."""
        job = await self._reload(job_id)
        if job.done:
            return job
        event = self._done_events.setdefault(job_id, asyncio.Event())
        try:
            async with asyncio.timeout(within):
                while not job.done:
                    if not self.running and job_id not in self._in_flight:
                        await self._drive_here(job)
                        job = await self._reload(job_id)
                        if job.done:
                            break
                        if job.state != "queued" or job.claimed_by is not None:
                            await nudged(event, self.config.poll_seconds)
                    else:
                        await nudged(event, self.config.poll_seconds)
                    job = await self._reload(job_id)
                # Done in the database; a job this process drives is told to its listeners
                # (progress cards) after that commit: the caller hears of it after they do.
                task = self._in_flight.get(job_id)
                if task is not None and task is not asyncio.current_task():
                    await asyncio.wait([task])
        finally:
            self._done_events.pop(job_id, None)
        return job

    async def _drive_here(self, job: Job) -> None:
        if job.not_before:
            wait = -_age(job.not_before)
            if wait > 0:
                await asyncio.sleep(wait)
        claimed = await self._claim(job.id)
        if claimed is not None and not claimed.done:
            await self._launch(claimed)

    async def cancel(self, job_id: int, who: Actor, production_id: int) -> Job:
        job = await jobs.get(self.studio.db.reader, job_id)
        if job is None or job.production_id != production_id:
            raise NotFound(f"there is no job {job_id}")
        if job.member_id != who.id and not who.is_producer:
            raise NotPermitted("only the job's creator or a producer can cancel it")
        if job.done:
            raise InvalidInput(f"job {job_id} is already {job.state}")
        self._cancelled.add(job_id)
        with log_context("job", job_id):
            async with self.studio.db.transaction() as tx:
                current = await jobs.get(tx, job_id)
                # Never submitted: free. Submitted: the provider may have billed it already.
                cost = None if current is not None and current.external_id else 0.0
                closed = await jobs.finish(tx, job_id, "cancelled",
                                           error=f"cancelled by {who.name}", cost=cost)
                if closed:
                    await audit.record(tx, production_id, who.id, "job", job_id, "cancel",
                                       before={"state": job.state},
                                       after={"state": "cancelled"})
            log.info("cancelled by %s", who.name)
            provider = self.providers.get(job.provider)
            external_id = current.external_id if current is not None else job.external_id
            if external_id and provider is not None:
                with contextlib.suppress(ProviderError):
                    await provider.cancel(external_id)
            task = self._in_flight.get(job_id)
            if task is not None:
                task.cancel()
            await self._settled(job_id)
        return await self._reload(job_id)


def outputs_of(job: Job) -> list[str]:
    return list(json.loads(job.outputs))
