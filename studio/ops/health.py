"""Health and metrics on a local HTTP port: /livez, /readyz and /metrics (off unless configured).

- /livez answers 200 while the event loop runs: a blocked loop fails it by timing out.
- /readyz runs every registered check at once, each with a time limit, and answers 200 when
  all pass, 503 otherwise, with a JSON body naming each check's result.
- /metrics is Prometheus' text format (studio/metrics.py); jobs are counted from the database
  at each scrape, so the figure is right after a restart too.

Other parts register their checks at start-up:

    from studio import health
    health.add_check("gateway", is_connected)   # async () -> None | bool; False or raise = failing

A check passes when it returns None or True; it fails when it returns False, raises (the
exception's text is shown) or takes longer than the time limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiohttp import web

from storage import operations
from storage.db import Database
from studio.app import Studio
from studio.ops import metrics
from studio.waiting import within

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[object]]
Refresh = Callable[[], Awaitable[None]]

CHECK_TIMEOUT = 5.0


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str
    seconds: float


class Checks:
    """The readiness checks, by name. Registering a name again replaces the check."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self.draining = False

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def remove(self, name: str) -> None:
        self._checks.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._checks)

    async def run(self, limit: float = CHECK_TIMEOUT) -> dict[str, CheckResult]:
        names = self.names()
        results = await asyncio.gather(*(self._run_one(self._checks[n], limit) for n in names))
        return dict(zip(names, results, strict=True))

    @staticmethod
    async def _run_one(check: Check, limit: float) -> CheckResult:
        started = time.perf_counter()
        try:
            outcome = await within(check(), limit)
        except TimeoutError:
            return CheckResult(False, f"no answer within {limit:g} s",
                               time.perf_counter() - started)
        except Exception as exc:
            return CheckResult(False, str(exc) or type(exc).__name__,
                               time.perf_counter() - started)
        return CheckResult(outcome is not False, "" if outcome is not False else "failing",
                           time.perf_counter() - started)


# The process's checks: parts register here; the server built by `start_for` reads them.
CHECKS = Checks()


def add_check(name: str, check: Check) -> None:
    """Register a readiness check on the process's registry (see the module's docstring)."""
    CHECKS.add(name, check)


def remove_check(name: str) -> None:
    CHECKS.remove(name)


def mark_draining() -> None:
    """The bot is shutting down: /readyz answers 503 from now on, so no new work is sent."""
    CHECKS.draining = True


def database_writable(db: Database) -> Check:
    """A check writing one row in a real transaction: the disk takes writes, the lock is free."""

    async def check() -> None:
        async with db.transaction() as tx:
            await operations.touch_probe(tx)

    return check


def queue_moving(db: Database, stuck_after: timedelta = timedelta(minutes=15)) -> Check:
    """A check that fails when a ready job has waited longer than `stuck_after` while no job at
    all changed for as long: a busy queue (every worker on a slow provider) still passes."""

    async def check() -> None:
        at = datetime.now(UTC)
        waiting, changed = await operations.queue_activity(db.reader, _stamp(at))
        if waiting is None or changed is None:
            return
        waited = at - datetime.fromisoformat(waiting)
        idle = at - datetime.fromisoformat(changed)
        if waited > stuck_after and idle > stuck_after:
            raise RuntimeError(f"job queue stuck: a ready job has waited "
                               f"{waited.total_seconds() / 60:.0f} min and no job changed for "
                               f"{idle.total_seconds() / 60:.0f} min")

    return check


def _stamp(at: datetime) -> str:
    # The database's time format (storage.rows.now): ISO-8601 UTC with milliseconds.
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def job_gauge(db: Database) -> Refresh:
    async def refresh() -> None:
        metrics.set_job_counts(await operations.job_counts(db.reader))

    return refresh


class HealthServer:
    """The HTTP face of the checks and the metrics, on one host and port (0 = any free port)."""

    def __init__(self, checks: Checks | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 refreshers: list[Refresh] | None = None,
                 check_timeout: float = CHECK_TIMEOUT) -> None:
        self.checks = checks if checks is not None else CHECKS
        self.host = host
        self.requested_port = port
        self.port = 0
        self.refreshers = refreshers or []
        self.check_timeout = check_timeout
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        self.add_routes(app)
        return app

    def add_routes(self, app: web.Application) -> None:
        """/livez, /readyz and /metrics on `app` (the web face serves them beside its pages)."""
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)

    async def start(self) -> int:
        # No access log: a probe every few seconds would drown the events that matter.
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        log.info("health and metrics on http://%s:%d", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _livez(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        results = await self.checks.run(self.check_timeout)
        body: dict[str, object] = {
            "checks": {name: {"ok": r.ok, "detail": r.detail, "seconds": round(r.seconds, 4)}
                       for name, r in results.items()},
        }
        ready = all(r.ok for r in results.values()) and not self.checks.draining
        if self.checks.draining:
            body["detail"] = "shutting down"
        body["ready"] = ready
        for name, r in results.items():
            if not r.ok:
                log.warning("readiness check %s failing: %s", name, r.detail)
        return web.json_response(body, status=200 if ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        for refresh in self.refreshers:
            try:
                await within(refresh(), self.check_timeout)
            except Exception:
                log.exception("a metrics refresh failed; serving the last values")
        data, content_type = metrics.exposition()
        return web.Response(body=data, headers={"Content-Type": content_type})


def for_studio(studio: Studio, checks: Checks | None = None) -> HealthServer:
    """The health server of a studio (not started): the database check registered and the jobs
    gauge read at each scrape. The web face adds its routes to its own app."""
    checks = checks if checks is not None else CHECKS
    checks.add("database", database_writable(studio.db))
    return HealthServer(checks, host=studio.settings.health_host,
                        port=studio.settings.health_port, refreshers=[job_gauge(studio.db)])


async def start_for(studio: Studio, checks: Checks | None = None) -> HealthServer | None:
    """Start the health port from the settings (None when SLATE_HEALTH_PORT is 0), with the
    database check registered and the jobs gauge read at each scrape."""
    port = studio.settings.health_port
    if not port:
        return None
    server = for_studio(studio, checks)
    await server.start()
    return server
