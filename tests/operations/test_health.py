"""The health port: liveness, readiness built from registered checks, and Prometheus metrics."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from storage.rows import now
from studio.app import Studio
from studio.ops import health
from studio.ops.health import Checks, HealthServer


@pytest.fixture
async def served(studio: Studio) -> AsyncIterator[tuple[HealthServer, aiohttp.ClientSession]]:
    checks = Checks()
    checks.add("database", health.database_writable(studio.db))
    server = HealthServer(checks, port=0, refreshers=[health.job_gauge(studio.db)],
                          check_timeout=0.3)
    await server.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
            yield server, http
    finally:
        await server.stop()


async def test_livez_answers_on_loopback(served: tuple[HealthServer, aiohttp.ClientSession]
                                         ) -> None:
    server, http = served
    assert server.port > 0
    async with http.get("/livez") as resp:
        assert resp.status == 200
        assert await resp.text() == "ok\n"


async def test_readyz_writes_the_database_and_reports_each_check(
        studio: Studio, served: tuple[HealthServer, aiohttp.ClientSession]) -> None:
    _, http = served
    async with http.get("/readyz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["ready"] is True
    assert body["checks"]["database"]["ok"] is True
    cursor = await studio.db.reader.execute("SELECT at FROM health_probe WHERE id = 1")
    first = (await cursor.fetchone())[0]
    await asyncio.sleep(0.002)
    async with http.get("/readyz") as resp:
        assert resp.status == 200
    cursor = await studio.db.reader.execute("SELECT at FROM health_probe WHERE id = 1")
    assert (await cursor.fetchone())[0] > first  # a real write each time


async def test_readyz_fails_when_a_registered_check_fails(
        served: tuple[HealthServer, aiohttp.ClientSession]) -> None:
    server, http = served

    async def gateway() -> bool:
        return False

    async def queue() -> None:
        raise RuntimeError("job 7 queued for 40 minutes")

    server.checks.add("gateway", gateway)
    async with http.get("/readyz") as resp:
        assert resp.status == 503
        body = await resp.json()
    assert body["ready"] is False
    assert body["checks"]["gateway"] == {"ok": False, "detail": "failing",
                                         "seconds": body["checks"]["gateway"]["seconds"]}
    assert body["checks"]["database"]["ok"] is True

    server.checks.remove("gateway")
    server.checks.add("queue", queue)
    async with http.get("/readyz") as resp:
        assert resp.status == 503
        assert (await resp.json())["checks"]["queue"]["detail"] == "job 7 queued for 40 minutes"

    server.checks.remove("queue")
    async with http.get("/readyz") as resp:
        assert resp.status == 200


async def test_readyz_fails_while_the_writer_is_stuck(
        studio: Studio, served: tuple[HealthServer, aiohttp.ClientSession]) -> None:
    _, http = served
    # A transaction that never ends holds the writer: the database check cannot write.
    async with studio.db.transaction():
        async with http.get("/readyz") as resp:
            assert resp.status == 503
            body = await resp.json()
    assert "no answer within 0.3 s" in body["checks"]["database"]["detail"]
    async with http.get("/readyz") as resp:
        assert resp.status == 200


async def test_readyz_fails_while_draining(
        served: tuple[HealthServer, aiohttp.ClientSession]) -> None:
    server, http = served
    server.checks.draining = True
    async with http.get("/readyz") as resp:
        assert resp.status == 503
        assert (await resp.json())["detail"] == "shutting down"
    async with http.get("/livez") as resp:
        assert resp.status == 200


def _ago(minutes: float) -> str:
    at = datetime.now(UTC) - timedelta(minutes=minutes)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def _add_job(studio: Studio, state: str, provider: str, *, changed: str | None = None,
                   not_before: str | None = None) -> None:
    # The job queue's repository belongs to another part; a bare row is enough to count.
    async with studio.db.transaction() as tx:
        cursor = await tx.execute("SELECT id FROM production LIMIT 1")
        production_id = (await cursor.fetchone())[0]
        stamp = changed or now()
        await tx.execute(
            "INSERT INTO job (production_id, kind, provider, state, not_before, created_at,"
            " updated_at) VALUES (?, 'video', ?, ?, ?, ?, ?)",
            (production_id, provider, state, not_before, stamp, stamp))


async def test_metrics_count_jobs_from_the_database(
        studio: Studio, prod: object, served: tuple[HealthServer, aiohttp.ClientSession]) -> None:
    # Interactions, votes, Notion and the gateway are counted where they happen:
    # tests/operations/test_metrics_wired.py drives them through the bot.
    _, http = served
    for state, provider in [("queued", "animatic"), ("queued", "animatic"),
                            ("running", "runway")]:
        await _add_job(studio, state, provider)

    async with http.get("/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    assert 'slate_jobs{provider="animatic",state="queued"} 2.0' in text
    assert 'slate_jobs{provider="runway",state="running"} 1.0' in text
    assert "process_resident_memory_bytes" in text
    for name in ("slate_interactions_total", "slate_votes_total", "slate_notion_requests_total",
                 "slate_notion_rate_limited_total", "slate_cut_build_seconds_bucket",
                 "slate_jobs_finished_total", "slate_gateway_reconnects_total"):
        assert f"# TYPE {name.removesuffix('_total').removesuffix('_bucket')}" in text


async def test_health_port_is_off_unless_configured(studio: Studio) -> None:
    assert studio.settings.health_port == 0
    assert await health.start_for(studio, Checks()) is None


async def test_health_port_from_settings_listens_on_loopback(studio: Studio) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    studio.settings = studio.settings.model_copy(update={"health_port": port})
    checks = Checks()
    server = await health.start_for(studio, checks)
    assert server is not None
    try:
        assert checks.names() == ["database"]
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{port}/readyz") as resp:
            assert resp.status == 200
    finally:
        await server.stop()


async def test_queue_check_fails_only_when_nothing_moves(studio: Studio, prod: object) -> None:
    check = health.queue_moving(studio.db, stuck_after=timedelta(minutes=15))
    checks = Checks()
    checks.add("queue", check)

    async def result() -> health.CheckResult:
        return (await checks.run(1.0))["queue"]

    assert (await result()).ok  # no jobs at all
    # A job in back-off is not waiting on the queue.
    await _add_job(studio, "queued", "runway", changed=_ago(40), not_before=_ago(-10))
    assert (await result()).ok
    await _add_job(studio, "queued", "animatic", changed=_ago(20))
    stuck = await result()
    assert not stuck.ok
    assert stuck.detail == ("job queue stuck: a ready job has waited 20 min and no job "
                            "changed for 20 min")
    # A busy queue (a job moved a minute ago) is not a stuck one.
    await _add_job(studio, "running", "runway", changed=_ago(1))
    assert (await result()).ok
