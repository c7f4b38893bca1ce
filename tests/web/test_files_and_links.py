"""Files with Range, no way out of the served folders, and the signed links' rules."""

from __future__ import annotations

import logging
import os
import time
import zipfile
from io import BytesIO

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from studio.app import Studio
from studio.cut import film, publish
from studio.ops import screening_links
from tests.web.conftest import SECRET, Built, web_settings
from web.app import make_app


def token(built: Built, **options: float) -> str:
    return screening_links.sign(built.settings, built.production_id, **options)


def film_bytes(built: Built) -> bytes:
    folder = publish.cut_dir(built.settings, built.production_id, built.version)
    return (folder / film.FILM).read_bytes()


async def test_the_film_is_served_whole_and_by_ranges(client: TestClient, built: Built) -> None:
    film, t = film_bytes(built), token(built)
    path = f"/cuts/{built.version}/files/film.mp4"
    whole = await client.get(path, params={"t": t})
    assert whole.status == 200 and await whole.read() == film
    assert whole.headers["Content-Type"] == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes"
    etag, modified = whole.headers["ETag"], whole.headers["Last-Modified"]
    size = len(film)
    for asked, first, last in (("bytes=0-99", 0, 99),  # the first bytes
                               (f"bytes={size // 2}-{size // 2 + 999}", size // 2,
                                size // 2 + 999),  # the middle, as a seek asks
                               ("bytes=-500", size - 500, size - 1),  # a suffix: the last 500
                               (f"bytes={size - 10}-", size - 10, size - 1)):  # open-ended
        part = await client.get(path, params={"t": t}, headers={"Range": asked})
        assert part.status == 206, asked
        assert part.headers["Content-Range"] == f"bytes {first}-{last}/{size}", asked
        assert await part.read() == film[first:last + 1], asked
    beyond = await client.get(path, params={"t": t}, headers={"Range": f"bytes={size + 5}-"})
    assert beyond.status == 416
    assert beyond.headers["Content-Range"] == f"bytes */{size}"
    # A browser checking its copy is told it is still good.
    again = await client.get(path, params={"t": t}, headers={"If-None-Match": etag})
    assert again.status == 304
    again = await client.get(path, params={"t": t}, headers={"If-Modified-Since": modified})
    assert again.status == 304


async def test_each_served_file_has_its_content_type(client: TestClient, built: Built) -> None:
    t = token(built)
    for name, kind in (("files/changelog.md", "text/plain"), ("files/credits.txt", "text/plain"),
                       ("handoff/cut.edl", "text/plain"), ("handoff/cut.xml", "text/xml"),
                       ("handoff/cut.otio", "application/json"),
                       ("handoff/README.txt", "text/plain")):
        resp = await client.get(f"/cuts/{built.version}/{name}", params={"t": t})
        assert resp.status == 200, name
        assert resp.headers["Content-Type"].split(";")[0] == kind, name
    style = await client.get("/style.css")
    assert style.status == 200 and style.headers["Content-Type"].startswith("text/css")


@pytest.mark.parametrize("raw", [
    "/cuts/{v}/files/../../slate.db",
    "/cuts/{v}/files/..%2F..%2Fslate.db",
    "/cuts/{v}/files/%2E%2E%2F%2E%2E%2Fslate.db",
    "/cuts/{v}/files/..%5C..%5Cslate.db",
    "/cuts/{v}/files/%2Fetc%2Fpasswd",
    "/cuts/{v}/files/",
    "/cuts/{v}/files/.",
    "/cuts/{v}/files/..",
    "/cuts/{v}/files/timeline.json%00.mp4",
    "/cuts/{v}/handoff/..%2Ffilm.mp4%2F..%2F..%2F..%2Fslate.db",
    "/cuts/{v}/handoff/..%2F..%2F..%2F..%2Fslate.db",
    "/cuts/{v}/handoff/media",
    "/cuts/{v}/handoff/",
    "/cuts/",
    "/media/../slate.db",
    "/media/..%2Fslate.db",
    "/style.css/../slate.db",
    "/../../etc/passwd",
])
async def test_no_path_leads_out_of_the_served_folders(client: TestClient, built: Built,
                                                       raw: str) -> None:
    url = URL(raw.format(v=built.version) + f"?t={token(built)}", encoded=True)
    resp = await client.get(url, allow_redirects=False)
    body = await resp.read()
    assert resp.status in (403, 404), (raw, resp.status)
    assert b"SQLite format" not in body and b"root:" not in body


async def test_a_symlink_out_of_a_cut_folder_is_not_followed(client: TestClient, built: Built,
                                                            web_studio: Studio) -> None:
    folder = publish.cut_dir(built.settings, built.production_id, built.version)
    link = folder / "escape.db"
    os.symlink(built.settings.database_path, link)
    try:
        resp = await client.get(f"/cuts/{built.version}/files/escape.db",
                                params={"t": token(built)})
        assert resp.status == 404
        assert b"SQLite format" not in await resp.read()
    finally:
        link.unlink()


async def test_the_handoff_folder_is_downloaded_as_one_zip(client: TestClient,
                                                           built: Built) -> None:
    folder = publish.cut_dir(built.settings, built.production_id, built.version)
    handoff = folder / "handoff"
    package = sorted(p.relative_to(handoff).as_posix() for p in handoff.rglob("*")
                     if p.is_file())
    assert "cut.xml" in package and any(p.startswith("media/") for p in package)
    # A link planted in the package never carries the database out in the zip.
    planted = handoff / "media" / "stolen.db"
    os.symlink(built.settings.database_path, planted)
    t = token(built)
    try:
        page = await (await client.get(f"/cuts/{built.version}", params={"t": t})).text()
        assert f'href="/cuts/{built.version}/handoff.zip?t={t}"' in page
        resp = await client.get(f"/cuts/{built.version}/handoff.zip", params={"t": t})
        assert resp.status == 200 and resp.headers["Content-Type"] == "application/zip"
        archive = zipfile.ZipFile(BytesIO(await resp.read()))
        top = f"cut-{built.version:04d}-handoff"
        assert sorted(archive.namelist()) == [f"{top}/{name}" for name in package]
        first = next(p for p in package if p.startswith("media/"))
        assert archive.read(f"{top}/{first}") == (handoff / first).read_bytes()
    finally:
        planted.unlink()


async def test_a_valid_link_opens_every_page_and_a_bad_one_none(client: TestClient,
                                                                built: Built) -> None:
    good = token(built)
    production, expires, signature = good.split(".")
    forged_time = f"{production}.{int(expires) + 86400 * 365}.{signature}"
    other_production = f"{int(production) + 1}.{expires}.{signature}"
    flipped = good[:-1] + ("A" if good[-1] != "A" else "B")
    expired = token(built, now=time.time() - 8 * 86400)  # made 8 days ago, lasted 7
    wrong_key = screening_links.sign(web_settings(built.settings.data_dir,
                                                  web_secret="another-secret"),
                                     built.production_id)
    pages = ["/", f"/cuts/{built.version}", "/chapters/3",
             f"/cuts/{built.version}/files/film.mp4", f"/cuts/{built.version}/chapters.vtt"]
    for path in pages:
        assert (await client.get(path, params={"t": good})).status == 200, path
        assert (await client.get(path)).status == 403, path
        for bad in (forged_time, other_production, flipped, expired, wrong_key, "", "1.2",
                    "x.y.z"):
            resp = await client.get(path, params={"t": bad})
            assert resp.status == 403, (path, bad)
    page = await resp.text()
    assert "expired or is not valid" in page and "/cut latest" in page
    assert "Content-Range" not in resp.headers


def test_a_link_lasts_the_configured_days(built: Built) -> None:
    settings = web_settings(built.settings.data_dir, web_link_days=2)
    made = screening_links.sign(settings, 1, now=1_000_000)
    assert screening_links.check(settings, made, now=1_000_000 + 2 * 86400 - 1).production_id == 1
    with pytest.raises(screening_links.LinkRefused):
        screening_links.check(settings, made, now=1_000_000 + 2 * 86400 + 1)
    assert screening_links.screening_link(settings, 1, 3).startswith(
        "http://127.0.0.1:8080/cuts/3?t=1.")
    public = web_settings(built.settings.data_dir, public_url="https://film.example.org/",
                          web_public=True)
    assert screening_links.screening_link(public, 1, 3) == "https://film.example.org/cuts/3"


async def test_a_public_production_needs_no_link(built: Built, monkeypatch) -> None:
    monkeypatch.chdir(built.settings.data_dir.parent)
    studio = await Studio.open(web_settings(built.settings.data_dir, web_public=True))
    try:
        async with TestClient(TestServer(make_app(studio))) as http:
            resp = await http.get("/")
            assert resp.status == 200 and "第三章 潮汐" in await resp.text()
            film = await http.get(f"/cuts/{built.version}/files/film.mp4",
                                  headers={"Range": "bytes=0-9"})
            assert film.status == 206
            # A link still works (and a bad one is still refused).
            assert (await http.get("/", params={"t": token(built)})).status == 200
            assert (await http.get("/", params={"t": "1.2.3"})).status == 403
    finally:
        await studio.close()


async def test_neither_the_secret_nor_a_token_reaches_the_logs(
        web_studio: Studio, built: Built, caplog: pytest.LogCaptureFixture) -> None:
    import aiohttp

    from web.app import WebServer

    caplog.set_level(logging.DEBUG)
    server = WebServer(web_studio, host="127.0.0.1", port=0)
    await server.start()
    good, expired = token(built), token(built, now=time.time() - 30 * 86400)
    try:
        async with aiohttp.ClientSession(server.url) as http:
            for t in (good, expired):
                async with http.get(f"/cuts/{built.version}", params={"t": t}) as resp:
                    await resp.read()
    finally:
        await server.stop()
    # The requests were logged (path and status), the refusal too, but never the query.
    assert f"GET /cuts/{built.version} 200" in caplog.text
    assert f"GET /cuts/{built.version} 403" in caplog.text and "expired" in caplog.text
    assert SECRET not in caplog.text
    assert good not in caplog.text and expired not in caplog.text
    assert good.rsplit(".", 1)[1] not in caplog.text
