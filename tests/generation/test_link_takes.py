"""/take upload url: a take fetched from a link through the job queue, against a loopback file
host: public https addresses only (loopback only by the test-only setting), a size cap that
stops the download, content sniffed, and a download cut by a restart resumed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import takes
from storage.productions import Production
from studio import mediastore
from studio.app import Studio
from studio.errors import InvalidInput
from studio.generation import link_takes, requests
from studio.generation.providers.link import LinkFetcher
from studio.production.people import Actor
from tests.fakes.file_host import FakeFileHost
from tests.generation.helpers import job_in, until
from tests.generation.test_uploads import clip, stored_files

PROMPT = "雨中的港口，慢慢推近"


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[FakeFileHost]:
    server = FakeFileHost(clip(tmp_path / "take.mp4", seconds=2.0).read_bytes())
    await server.start()
    yield server
    server.release.set()
    await server.stop()


def fetcher(studio: Studio, *, loopback: bool = True, max_bytes: int = 10_000_000,
            seconds: float = 30.0, names: dict[str, str] | None = None) -> LinkFetcher:
    """The link fetcher as the bot builds it; `names` stands in for DNS (name → address)."""
    async def resolve(host: str, port: int) -> list[str]:
        if names is None or host not in names:
            raise OSError("no such host")
        return [names[host]]

    return LinkFetcher(studio.settings.data_dir / "providers" / "link", max_bytes=max_bytes,
                       seconds=seconds, allow_loopback=loopback, backoff_seconds=0.01,
                       resolve=resolve if names is not None else None)


def leftovers(studio: Studio) -> list[Path]:
    work = studio.settings.data_dir / "providers" / "link"
    return [p for p in work.iterdir() if p.suffix in (".part", ".out", ".meta")] \
        if work.exists() else []


async def fetched(studio: Studio, prod: Production, who: Actor, url: str, **declared: object):
    queued = await link_takes.ask(studio, prod, who, "1.1", url, declared)
    return await requests.queue(studio).wait(queued.job.id, within=30)


async def test_a_link_becomes_a_take_with_its_provenance(
        studio: Studio, sample: Production, owner: Actor, make_queue, host: FakeFileHost):
    # A name resolved once, checked, and connected to at the checked address: no system DNS
    # knows "cdn.example".
    make_queue({"link": fetcher(studio, names={"cdn.example": "127.0.0.1"})})
    done = await fetched(studio, sample, owner, f"http://cdn.example:{host.port}/notes.txt",
                         tool="Kling", model="kling-v2.1", prompt=PROMPT, seed=77, motion=3,
                         cost=0.35, source_url="https://klingai.com/job/88")
    assert done.state == "succeeded", done.error
    take = await takes.get(studio.db.reader, done.take_id or 0)
    assert take is not None and take.kind == "video" and take.source == "uploaded"
    assert (take.provider, take.model, take.prompt, take.seed, take.cost, take.source_url) == \
        ("Kling", "kling-v2.1", PROMPT, 77, 0.35, "https://klingai.com/job/88")
    kept = mediastore.path_for(studio.settings.media_path, take.media_sha256)
    assert kept.read_bytes() == host.body, "a video, whatever its name and type said"
    assert done.cost == 0.0 and leftovers(studio) == []


async def test_a_redirect_is_followed_to_the_file(
        studio: Studio, sample: Production, owner: Actor, make_queue, host: FakeFileHost):
    make_queue({"link": fetcher(studio)})
    done = await fetched(studio, sample, owner, f"{host.url}/elsewhere")
    assert done.state == "succeeded", done.error


async def test_a_file_over_the_cap_is_stopped_there_and_nothing_is_kept(
        studio: Studio, sample: Production, owner: Actor, make_queue, host: FakeFileHost):
    make_queue({"link": fetcher(studio, max_bytes=300_000)})
    done = await fetched(studio, sample, owner, f"{host.url}/endless")
    assert done.state == "failed" and "over the limit of 300.0 KB" in done.error, done.error
    assert not host.endless_finished and host.sent_endless < 50 * 1024 * 1024
    told = await fetched(studio, sample, owner, f"{host.url}/big")
    assert told.state == "failed" and "the file is 1.1 GB; the limit is 300.0 KB" in told.error
    assert await takes.of_shot(studio.db.reader, 1) == []
    assert stored_files(studio) == [] and leftovers(studio) == []


async def test_a_redirect_to_a_private_address_is_refused(
        studio: Studio, sample: Production, owner: Actor, make_queue, host: FakeFileHost):
    make_queue({"link": fetcher(studio)})
    done = await fetched(studio, sample, owner, f"{host.url}/go")
    assert done.state == "failed"
    assert "redirect points to 10.1.2.3, a private address" in done.error, done.error
    host.redirect_to = "http://169.254.169.254/latest/meta-data/"
    done = await fetched(studio, sample, owner, f"{host.url}/go")
    assert "169.254.169.254, a cloud metadata address" in done.error, done.error
    assert await takes.of_shot(studio.db.reader, 1) == [] and stored_files(studio) == []


@pytest.mark.parametrize(("url", "reason"), [
    ("https://10.0.0.8/take.mp4", "leads to 10.0.0.8, a private address"),
    ("https://[fe80::1]/take.mp4", "a link-local address"),
    ("https://[::ffff:192.168.1.4]/x", "ffff:c0a8:104, a private address"),
    ("https://files.example/take.mp4", "leads to 172.16.5.5, a private address"),
    ("http://93.184.216.34/take.mp4", "is http, not https"),
    ("ftp://93.184.216.34/take.mp4", "ftp"),
    ("https://user:pw@93.184.216.34/take.mp4", "user name or password"),
])
async def test_a_link_to_a_non_public_address_is_refused_at_once(
        studio: Studio, sample: Production, owner: Actor, make_queue, url: str, reason: str):
    make_queue({"link": fetcher(studio, loopback=False, names={"files.example": "172.16.5.5"})})
    with pytest.raises(InvalidInput, match=reason.replace("[", r"\[").replace(".", r"\.")):
        await link_takes.ask(studio, sample, owner, "1.1", url)
    assert await requests.jobs_of(studio, sample, owner) == []


async def test_loopback_is_refused_without_the_test_only_setting(
        studio: Studio, sample: Production, owner: Actor, host: FakeFileHost):
    assert studio.settings.test_allow_loopback_urls is False, "never allowed by default"
    from studio.generation.providers import from_settings

    requests.queue(studio, from_settings(studio.settings))
    try:
        with pytest.raises(InvalidInput, match=r"127\.0\.0\.1, a loopback address"):
            await link_takes.ask(studio, sample, owner, "1.1", f"{host.url}/take.mp4")
    finally:
        await requests.close_queue(studio)


async def test_a_web_page_posing_as_a_video_is_refused(
        studio: Studio, sample: Production, owner: Actor, make_queue, host: FakeFileHost):
    make_queue({"link": fetcher(studio)})
    done = await fetched(studio, sample, owner, f"{host.url}/page.mp4")
    assert done.state == "failed" and "a web page (HTML)" in done.error, done.error
    assert stored_files(studio) == [] and leftovers(studio) == []


async def test_a_download_cut_by_a_restart_resumes_where_it_stopped(
        studio: Studio, sample: Production, owner: Actor, make_queue, host: FakeFileHost):
    q = make_queue({"link": fetcher(studio)})
    await q.start()
    queued = await link_takes.ask(studio, sample, owner, "1.1", f"{host.url}/halting.mp4",
                                  {"tool": "Pika", "cost": 0.2})
    half = len(host.body) // 2
    work = studio.settings.data_dir / "providers" / "link"

    async def half_on_disk() -> bool:
        return any(p.stat().st_size == half for p in work.glob("*.part"))

    await until(half_on_disk)
    await requests.close_queue(studio)  # the bot stops mid-download
    assert (await job_in(studio, queued.job.id, "submitted", "running")).take_id is None
    host.release.set()
    q = make_queue({"link": fetcher(studio)})  # the next start: a fresh fetcher, same disk
    await q.start()
    done = await q.wait(queued.job.id, within=30)
    assert done.state == "succeeded", done.error
    assert host.ranges[-1] == f"bytes={half}-", "resumed from the bytes on disk"
    take = await takes.get(studio.db.reader, done.take_id or 0)
    assert take is not None and take.provider == "Pika" and take.cost == 0.2
    kept = mediastore.path_for(studio.settings.media_path, take.media_sha256)
    assert kept.read_bytes() == host.body


async def test_a_download_over_the_time_limit_is_stopped(
        studio: Studio, sample: Production, owner: Actor, make_queue, host: FakeFileHost):
    make_queue({"link": fetcher(studio, seconds=0.5)})
    done = await fetched(studio, sample, owner, f"{host.url}/halting.mp4")
    assert done.state == "failed" and "took longer than 0.5 s" in done.error, done.error
    assert stored_files(studio) == [] and leftovers(studio) == []
