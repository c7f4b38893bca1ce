"""The web face's pages, read through aiohttp's test client as a member's browser would."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from studio.app import Studio
from studio.ops import screening_links
from tests.web.conftest import BALLOT, GUILD, TITLE, VOTES_CHANNEL, Built


def token(built: Built) -> str:
    return screening_links.sign(built.settings, built.production_id)


async def test_the_board_shows_chapters_owners_progress_and_the_latest_cut(
        client: TestClient, built: Built) -> None:
    t = token(built)
    resp = await client.get("/", params={"t": t})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    page = await resp.text()
    assert f"<h1>{TITLE}</h1>" in page
    assert "第三章 潮汐" in page and "林娜" in page and "Maya" in page
    # Chapters 1 and 3: both shots approved; chapter 2: one of two; chapter 4: none.
    assert re.search(r"Dawn</a>.*?aria-valuenow=\"100\".*?2/2", page, re.S)
    assert re.search(r"Storm</a>.*?aria-valuenow=\"50\".*?1/2", page, re.S)
    assert re.search(r"第三章 潮汐</a>.*?aria-valuenow=\"100\".*?2/2", page, re.S)
    assert re.search(r"Home</a>.*?aria-valuenow=\"0\".*?0/1", page, re.S)
    assert "5/7" in page  # shots approved over the production
    # Every link carries the token on, the latest cut's included.
    assert f'href="/cuts/{built.version}?t={t}"' in page
    assert f'href="/chapters/3?t={t}"' in page


async def test_the_screening_page_has_the_film_its_chapters_and_downloads(
        client: TestClient, built: Built) -> None:
    t = token(built)
    resp = await client.get(f"/cuts/{built.version}", params={"t": t})
    assert resp.status == 200
    page = await resp.text()
    v = built.version
    assert '<video id="film"' in page and f'src="/cuts/{v}/files/film.mp4?t={t}"' in page
    assert '<track kind="chapters"' in page and f'/cuts/{v}/chapters.vtt?t={t}' in page
    starts = [float(s) for s in re.findall(r'data-start="([\d.]+)"', page)]
    assert starts == [0.0, 2.0, 4.0, 6.0, 7.0]  # four chapters of 1 s shots, then the credits
    assert "Chapter 3 — 第三章 潮汐" in page
    # The changelog and the credits of this cut.
    assert "5/7 shots approved" in page and "first cut" in page
    assert "<dd>林娜</dd>" in page
    # Downloads: the film, the editor's hand-off as one zip, and its timeline files.
    assert re.search(rf'href="/cuts/{v}/files/film\.mp4\?t=', page)
    assert re.search(rf'href="/cuts/{v}/handoff\.zip\?t=', page)
    for name in (".otio", ".xml", ".edl"):
        assert re.search(rf'href="/cuts/{v}/handoff/cut{re.escape(name)}\?t=', page), name


async def test_the_chapters_track_is_webvtt_with_each_chapters_span(
        client: TestClient, built: Built) -> None:
    resp = await client.get(f"/cuts/{built.version}/chapters.vtt", params={"t": token(built)})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/vtt; charset=utf-8"
    text = await resp.text()
    assert text.startswith("WEBVTT\n\n1\n00:00:00.000 --> 00:00:02.000\nChapter 1 — Dawn\n")
    assert "3\n00:00:04.000 --> 00:00:06.000\nChapter 3 — 第三章 潮汐\n" in text
    assert "5\n00:00:07.000 --> 00:00:08.000\nCredits\n" in text


async def test_a_chapter_shows_each_shots_take_candidates_tallies_and_vote_link(
        client: TestClient, built: Built, web_studio: Studio) -> None:
    t = token(built)
    resp = await client.get("/chapters/3", params={"t": t})
    assert resp.status == 200
    page = await resp.text()
    assert "Chapter 3 — 第三章 潮汐" in page and "潮水漫过沙滩" in page
    # 3.1's approved take: a poster-less or thumbnailed video that plays on click.
    shot = page[page.index('id="shot-3.1"'):page.index('id="shot-3.2"')]
    assert re.search(r'<video class="frame" controls preload="none"[^>]*src="/media/[0-9a-f]{64}'
                     rf'\?t={re.escape(t)}"', shot)
    # Its two candidates with their tallies: 3 for / 0 against, then 1 for / 2 against.
    rows = re.findall(r"<tr><td>r(\d)</td><td>林娜</td><td>[^<]*</td>"
                      r'<td class="num">([\d.]+)</td><td class="num">([\d.]+)</td>', shot)
    assert rows == [("1", "3", "0"), ("2", "1", "2")]
    # The vote's Discord message (the first candidate's: no summary was posted).
    linked = re.findall(rf'href="https://discord.com/channels/{GUILD}/{VOTES_CHANNEL}/(\d+)"',
                        shot)
    assert len(linked) == 1 and int(linked[0]) > BALLOT
    # A take's media is served to the link's holder, as the video it is.
    media = re.search(r'src="(/media/[0-9a-f]{64})\?', shot).group(1)
    served = await client.get(media, params={"t": t})
    assert served.status == 200 and served.headers["Content-Type"] == "video/mp4"
    # Shot 2.2 has only a candidate still: no approved take to show.
    resp = await client.get("/chapters/2", params={"t": t})
    page = await resp.text()
    assert "no approved take yet" in page and "Clouds roll in" in page


async def test_unknown_pages_are_404_with_a_way_back(client: TestClient, built: Built) -> None:
    t = token(built)
    for path in ("/cuts/99", "/chapters/99", "/cuts/99/chapters.vtt", "/media/" + "0" * 64):
        resp = await client.get(path, params={"t": t})
        assert resp.status == 404, path
        assert f'href="/?t={t}"' in await resp.text()


async def test_health_and_metrics_are_served_beside_the_pages(client: TestClient) -> None:
    resp = await client.get("/livez")
    assert resp.status == 200 and await resp.text() == "ok\n"
    resp = await client.get("/readyz")
    assert resp.status == 200 and (await resp.json())["checks"]["database"]["ok"] is True
    resp = await client.get("/metrics")
    assert resp.status == 200 and "slate_" in await resp.text()
