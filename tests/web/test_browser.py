"""In a real browser: the screening page plays the film and its chapter list seeks it."""

from __future__ import annotations

from pathlib import Path

from studio.app import Studio
from studio.ops import screening_links
from tests.web.browser import Browser
from tests.web.conftest import Built
from web.app import WebServer

WATCH = """new Promise((resolve, reject) => {
  const film = document.getElementById('film');
  const failed = () => reject(new Error('video error ' + (film.error && film.error.code)));
  film.addEventListener('error', failed);
  if (film.error) failed();
  const check = () => { if (film.readyState >= 2) resolve(film.readyState); };
  film.addEventListener('loadeddata', check);
  film.addEventListener('canplay', check);
  film.load();
  setTimeout(() => reject(new Error('readyState stayed ' + film.readyState)), 20000);
})"""

SEEK_THIRD = """new Promise((resolve, reject) => {
  const film = document.getElementById('film');
  const third = document.querySelectorAll('.marks button')[2];
  film.addEventListener('seeked', () => {
    const done = () => resolve({at: film.currentTime, start: parseFloat(third.dataset.start),
                                title: third.querySelector('.title').textContent,
                                ready: film.readyState});
    film.readyState >= 2 ? done() : film.addEventListener('canplay', done, {once: true});
  }, {once: true});
  third.click();
  setTimeout(() => reject(new Error('no seek, at ' + film.currentTime)), 20000);
})"""

TRACK = """new Promise((resolve, reject) => {
  const track = document.querySelector('track');
  const done = () => resolve(Array.from(track.track.cues).map(c => [c.startTime, c.text]));
  if (track.readyState === 2) done();
  track.addEventListener('load', done);
  track.addEventListener('error', () => reject(new Error('chapters track did not load')));
  track.track.mode = 'hidden';
  setTimeout(() => reject(new Error('track readyState ' + track.readyState)), 20000);
})"""


async def test_the_screening_page_plays_and_seeks_to_a_chapter_in_chromium(
        chromium: str, web_studio: Studio, built: Built, artifacts: Path) -> None:
    server = WebServer(web_studio, host="127.0.0.1", port=0)
    await server.start()
    try:
        link = screening_links.screening_link(built.settings, built.production_id,
                                              built.version, base=server.url)
        async with Browser(chromium) as browser:
            page = await browser.open(link)
            assert await browser.evaluate(page, WATCH) >= 2
            cues = await browser.evaluate(page, TRACK)
            assert [start for start, _ in cues] == [0, 2, 4, 6, 7]
            assert cues[2][1] == "Chapter 3 — 第三章 潮汐"
            seek = await browser.evaluate(page, SEEK_THIRD)
            assert seek["title"] == "Chapter 3 — 第三章 潮汐"
            assert seek["start"] == 4.0
            assert abs(seek["at"] - 4.0) < 0.1 and seek["ready"] >= 2
            board = await browser.open(server.url + "/?t=" + link.split("?t=")[1])
            assert "第三章 潮汐" in await browser.evaluate(board, "document.body.innerText")
            shot = await browser.screenshot(board, artifacts / "board.png")
    finally:
        await server.stop()
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
