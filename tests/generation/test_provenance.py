"""Takes from creators' own tools: provenance stored as a generated take's is, costs counted in
the budget by member and tool, and the lineage of takes made from other takes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storage import jobs, takes
from storage.productions import Production
from studio.app import Studio
from studio.errors import InvalidInput
from studio.generation import lineage, provenance, requests
from studio.production.people import Actor, actor
from tests.fakes.providers.common import sample_png
from tests.generation.test_uploads import clip, stored_files

PROMPT = "海边的灯塔，黄昏时分 — маяк на закате, ñandú"


def still(path: Path) -> Path:
    path.write_bytes(sample_png())
    return path


async def test_every_provenance_field_is_stored_as_declared(
        studio: Studio, sample: Production, owner: Actor, tmp_path: Path):
    first = await requests.upload_take(studio, sample, owner, "1.1", still(tmp_path / "a.png"),
                                       declared={"tool": "midjourney"})
    upscale = await requests.upload_take(
        studio, sample, owner, "1.1", still(tmp_path / "b.png"), original_name="b.png",
        declared={"tool": "Magnific", "model": "Magnific v2 «Illusio»", "prompt": PROMPT,
                  "seed": 4_000_000_123, "motion": 7, "cost": 0.42,
                  "source_url": "https://magnific.ai/job/一二三?x=1", "based_on": 1})
    assert first.provider == "Midjourney", "a known tool is kept in its usual spelling"
    stored = await takes.get(studio.db.reader, upscale.id)
    assert stored is not None and stored.source == "uploaded"
    assert (stored.provider, stored.model, stored.prompt, stored.seed, stored.cost) == \
        ("Magnific", "Magnific v2 «Illusio»", PROMPT, 4_000_000_123, 0.42)
    assert json.loads(stored.params) == {"motion": 7}
    assert stored.source_url == "https://magnific.ai/job/一二三?x=1"
    assert stored.based_on == first.id


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("motion", 11, "motion is 1"),
    ("cost", -1.0, "cost is in US dollars"),
    ("based_on", 9, "shot 1.1 has no take r9"),
    ("source_url", "javascript:alert(1)", "source_url is the tool's page"),
    ("seed", -4, "a seed is a whole number"),
    ("tool", "x" * 41, "at most 40"),
])
async def test_a_wrong_field_is_named_and_nothing_is_stored(
        studio: Studio, sample: Production, owner: Actor, tmp_path: Path, field: str,
        value: object, reason: str):
    with pytest.raises(InvalidInput, match=reason):
        await requests.upload_take(studio, sample, owner, "1.1", clip(tmp_path / "t.mp4"),
                                   declared={field: value})
    assert await takes.of_shot(studio.db.reader, 1) == []
    assert stored_files(studio) == []


def test_the_tool_list_offers_the_usual_tools_and_keeps_others_as_typed():
    assert provenance.tools_matching("") == list(provenance.TOOLS)
    assert provenance.tools_matching("ma") == ["Magnific", "Luma"]
    assert provenance.tools_matching("Veo 3") == ["Veo 3"]
    assert provenance.tool_name("dall-e") == "DALL·E"
    assert provenance.tool_name("  Hailuo   02 ") == "Hailuo 02"


async def test_budget_counts_uploaded_costs_under_the_member_and_the_tool(
        studio: Studio, sample: Production, owner: Actor, make_queue, animatic, tmp_path: Path):
    make_queue({"animatic": animatic})
    jonas = await actor(studio.db, sample, "Jonas", discord_id=102)
    from studio.production import claims

    await claims.claim(studio.db, sample, jonas, 2)
    await requests.upload_take(studio, sample, owner, "1.1", clip(tmp_path / "a.mp4"),
                               declared={"tool": "Runway", "cost": 1.25})
    await requests.upload_take(studio, sample, owner, "1.2", clip(tmp_path / "b.mp4"),
                               declared={"tool": "runway", "cost": 0.75})
    await requests.upload_take(studio, sample, jonas, "2.1", still(tmp_path / "c.png"),
                               declared={"tool": "Midjourney", "cost": 0.1})
    await requests.upload_take(studio, sample, jonas, "2.2", still(tmp_path / "d.png"))
    await requests.run_now(studio, sample, owner, "1.3", kind="image", prompt="x")
    spent, _, rows = await requests.budget(studio, sample)
    assert spent == 0.0, "the animatic is free; uploads stay out of the generation total"
    uploaded = {(r.member_name, r.provider): (r.uploaded, round(r.cost, 2))
                for r in rows if r.uploaded}
    assert uploaded == {("Maya", "Runway"): (2, 2.0), ("Jonas", "Midjourney"): (1, 0.1)}
    assert [(r.member_name, r.provider, r.jobs) for r in rows if not r.uploaded] == \
        [("Maya", "animatic", 1)]


async def test_a_take_made_from_another_shows_its_chain(
        studio: Studio, sample: Production, owner: Actor, make_queue, animatic, tmp_path: Path):
    make_queue({"animatic": animatic})
    r1 = await requests.run_now(studio, sample, owner, "1.1", kind="image", prompt="Gulls")
    r2 = await requests.upload_take(studio, sample, owner, "1.1", still(tmp_path / "up.png"),
                                    declared={"tool": "Magnific", "based_on": r1.revision})
    r3 = await requests.run_now(studio, sample, owner, "1.1", kind="video", image_take=r2.id,
                                duration=1.0, motion=9)
    r4 = await requests.run_now(studio, sample, owner, "1.1", kind="upscale", image_take=r1.id)
    assert (r3.based_on, r4.based_on) == (r2.id, r1.id)
    chains = {line.take.revision: line.chain_text()
              for line in await lineage.of_shot(studio, sample, "1.1")}
    assert chains == {1: "r1 image · animatic",
                      2: "r2 image · Magnific ← r1 image · animatic",
                      3: "r3 video · animatic ← r2 image · Magnific ← r1 image · animatic",
                      4: "r4 image · animatic ← r1 image · animatic"}
    job = await jobs.get(studio.db.reader, r3.job_id or 0)
    assert job is not None and job.parameters["motion"] == 9


async def test_the_editors_metadata_carries_an_uploaded_takes_provenance(
        studio: Studio, sample: Production, owner: Actor, producer: Actor, tmp_path: Path):
    from studio.cut import editorial, handoff, plan
    from studio.review import approvals

    await requests.upload_take(studio, sample, owner, "1.1", still(tmp_path / "a.png"),
                               declared={"tool": "Midjourney"})
    await requests.upload_take(studio, sample, owner, "1.1", clip(tmp_path / "b.mp4"),
                               declared={"tool": "Runway", "model": "gen4_turbo",
                                         "prompt": PROMPT, "seed": 5, "motion": 4,
                                         "cost": 1.5, "source_url": "https://app.runwayml.com/t/1",
                                         "based_on": 1})
    await approvals.approve(studio.db, sample, producer, "1.1r2")
    line = await plan.timeline_of(studio, sample)
    package, _, _ = await handoff.plan(studio, line, [tmp_path / "segment.mp4"] * len(line.entries),
                                       [tmp_path / "stem.wav"] * len(line.stems), 1)
    timeline = editorial.to_otio(line, package)
    first = timeline.video_tracks()[0][0].metadata["slate"]
    assert {k: first[k] for k in ("provider", "model", "source", "prompt", "seed", "motion",
                                  "cost_usd", "source_url", "based_on_revision")} == {
        "provider": "Runway", "model": "gen4_turbo", "source": "uploaded", "prompt": PROMPT,
        "seed": 5, "motion": 4, "cost_usd": 1.5, "source_url": "https://app.runwayml.com/t/1",
        "based_on_revision": 1}
