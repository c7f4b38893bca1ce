"""`python bot.py demo`: the whole pipeline on embedded defaults, checked as a newcomer would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import opentimelineio as otio
import pytest

from storage import shots, takes, votes
from studio.app import Studio
from studio.generation import requests
from studio.generation.takes import stems_of
from studio.media import streams_of
from studio.ops.settings import load_settings
from studio.production import board
from studio.production.people import actor
from studio.review import windows

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess,
                                                                 Path]:
    """One demo run on two chapters (the default is all eight), shared by the checks below."""
    tmp = tmp_path_factory.mktemp("demo")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SLATE_")
               and k not in {"DISCORD_TOKEN", "NOTION_TOKEN"}}
    environ["SLATE_DATA_DIR"] = str(tmp / "data")
    done = subprocess.run([sys.executable, str(ROOT / "bot.py"), "demo", "--chapters", "2"],
                          cwd=tmp, env=environ, capture_output=True, text=True, timeout=110)
    return done, tmp / "data" / "demo"


def _printed(stdout: str, label: str) -> Path:
    found = re.search(rf"^{label}:\s+(\S+)$", stdout, re.MULTILINE)
    assert found, f"the demo did not print where the {label} is:\n{stdout}"
    return Path(found.group(1))


def test_the_demo_makes_a_film_that_matches_what_it_reports(demo_run) -> None:
    done, _ = demo_run
    assert done.returncode == 0, done.stderr[-2000:]
    film = _printed(done.stdout, "film")
    assert film.is_file()
    runtimes = re.findall(r"runtime ([\d.]+)s, (\d+)/(\d+) shots approved", done.stdout)
    assert len(runtimes) == 2  # the first cut and the incremental one
    seconds, approved, total = runtimes[-1]
    duration, streams = streams_of(film)
    assert abs(duration - float(seconds)) < 0.2
    kinds = [s.kind for s in streams]
    assert kinds.count("video") == 1 and "audio" in kinds
    # Two chapters' shots approved (10 of the example's 40), the rest stand as slates.
    assert (int(approved), int(total)) == (10, 40)
    # The incremental cut re-encoded only the newly approved shot.
    assert re.search(r"1 segments encoded, \d+ reused from the cache", done.stdout)


def test_the_editorial_files_credits_and_changelog(demo_run) -> None:
    done, _ = demo_run
    timeline = otio.adapters.read_from_file(str(_printed(done.stdout, "otio")))
    picture = timeline.video_tracks()[0]
    cut_folder = _printed(done.stdout, "film").parent
    entries = json.loads((cut_folder / "timeline.json").read_text())["entries"]
    # Every shot in order, each clip named by its chapter and shot (ch01_sh01_r2_Maya, …).
    assert [c.metadata["slate"]["shot"] for c in picture.find_clips()] == [
        e["code"] for e in entries if e["take_kind"] != "audio"]
    assert all(c.name.startswith(f"ch{e['chapter_number']:02d}_sh{e['shot_number']:02d}")
               for c, e in zip(picture.find_clips(), entries, strict=False)
               if e["kind"] != "credits")
    first = next(iter(picture.find_clips())).metadata["slate"]
    assert (first["shot"], first["revision"], first["provider"]) == ("1.1", 2, "animatic")
    assert "VO" in [t.name for t in timeline.audio_tracks()]
    assert _printed(done.stdout, "fcpxml").is_file() and _printed(done.stdout, "edl").is_file()
    credits = _printed(done.stdout, "credits").read_text()
    assert "Maya" in credits and "Jonas" in credits and "animatic" in credits
    changelog = _printed(done.stdout, "changelog").read_text()
    assert "since cut 1: 1 newly approved" in changelog
    assert "new: shot 2.3 take r2 (Jonas)" in changelog
    assert "Sol cannot claim chapter 1: chapter 1 is already claimed by Maya" in done.stdout


def test_the_demo_ends_with_the_screening_page_and_serves_nothing_from_a_script(
        demo_run) -> None:
    done, _ = demo_run
    # Not run from a terminal: the address is printed and the demo ends (it did: it returned).
    last = done.stdout.rstrip().splitlines()
    assert re.match(r"screening: http://127\.0\.0\.1:8080/cuts/2\?t=1\.\d+\.\S+$", last[-2])
    assert "python bot.py serve" in last[-1]
    assert "serving the screening room" not in done.stdout


async def test_votes_decisions_and_jobs_are_in_the_database(demo_run) -> None:
    done, data = demo_run
    assert done.returncode == 0
    studio = await Studio.open(load_settings(data_dir=data))
    try:
        prod = await board.get(studio.db, board.SHELL_GUILD)
        who = await actor(studio.db, prod, "Producer", discord_id=1000, is_producer=True)
        jobs = await requests.jobs_of(studio, prod, who, everyone=True, limit=1000)
        # 10 shots, two with a second candidate, a VO line per chapter, the retake: 15 jobs.
        assert len(jobs) == 15
        assert {j.state for j in jobs} == {"succeeded"}
        all_takes = []
        for ref in await shots.of_production(studio.db.reader, prod.id):
            all_takes += await takes.of_shot(studio.db.reader, ref.shot.id)
        made = [t for t in all_takes if t.job_id is not None]
        assert sorted(t.job_id for t in made) == sorted(j.id for j in jobs)  # one take a job
        assert {t.provider for t in made} == {"animatic"}
        assert {t.kind for t in made} == {"video", "audio"}
        recorded = await votes.of_takes(studio.db.reader, [t.id for t in all_takes])
        printed = re.search(r"^votes: (\d+) recorded", done.stdout, re.MULTILINE)
        assert printed and int(printed.group(1)) == len(recorded) > 0
        # 1.1: the second candidate won the vote; 2.1 tied and a producer chose; 2.3 retaken.
        contest = await windows.status(studio.db, prod, "1.1")
        assert contest.window is not None and contest.window.outcome == "approved"
        assert [c.take.revision for c in contest.candidates if c.take.status == "approved"] \
            == [2]
        tie = await windows.status(studio.db, prod, "2.1")
        assert tie.window is not None and tie.window.outcome == "decided"
        retaken = await windows.status(studio.db, prod, "2.3")
        assert [c.take.revision for c in retaken.candidates] == [2]
        assert retaken.candidates[0].take.status == "approved"
        # Chapter 2's VO is the animatic's voice line; its notes ask for SFX too.
        stems = {s.kind: s for s in await stems_of(studio, prod, 2)}
        assert set(stems) == {"vo", "sfx"}
        assert stems["vo"].media_sha256 in {t.media_sha256 for t in made if t.kind == "audio"}
    finally:
        await studio.close()
