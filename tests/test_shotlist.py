"""Shot-list import: all or nothing, named errors, idempotent re-import."""

from __future__ import annotations

import json

import pytest

from storage import audit, shots
from storage.productions import Production
from studio.app import Studio
from studio.errors import ShotListError
from studio.production import board as production_board
from studio.production import shotlist
from studio.production import shots as production_shots
from studio.production.people import Actor, actor
from tests.conftest import EXAMPLES

HEADER = "chapter,chapter_title,shot,description,duration,camera,characters,notes\n"


async def _snapshot(studio: Studio, prod: Production) -> list[tuple]:
    rows = await shots.of_production(studio.db.reader, prod.id)
    return [(r.code, r.chapter_title, r.shot.description, r.shot.planned_duration,
             r.shot.status) for r in rows]


async def test_example_imports(studio: Studio, sample: Production) -> None:
    board = await production_board.board(studio.db, sample)
    assert [c.chapter.number for c in board] == list(range(1, 9))
    assert sum(c.shots_total for c in board) == 40
    first = await production_shots.shot(studio.db, sample, "1.3")
    assert first.shot.character_names == ["Pell"]
    assert first.chapter_title == "The Collector"
    quoted = await production_shots.shot(studio.db, sample, "2.4")
    assert 'the name "Ada"' in quoted.shot.description


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"chapter,shot,description\n1,1,x\n", r"line 1: missing column: duration"),
        (HEADER.encode() + b"1,A,1,ok,4,,,\n1,A,2,wide,four,,,\n",
         r"line 3, field 'duration': 'four' is not a number of seconds"),
        (HEADER.encode() + b"1,A,1,ok,4,,,\n1,A,1,again,3,,,\n",
         r"line 3, field 'shot': shot 1.1 already appears on line 2"),
        (HEADER.encode() + b"1,A,1,ok,4,,,\nx,A,2,ok,3,,,\n",
         r"line 3, field 'chapter': 'x' is not a whole number"),
        (HEADER.encode() + b"1,A,1,ok,-2,,,\n", r"line 2, field 'duration': -2 is out of range"),
        (HEADER.encode() + b"1,A,1,,4,,,\n", r"line 2, field 'description': is empty"),
        (HEADER.encode() + b"1,A,1,ok,4,,,\n1,B,2,ok,4,,,\n",
         r"line 3, field 'chapter_title': chapter 1 is titled 'A' on line 2"),
        (HEADER.encode() + "1,Caf\xe9,1,ok,4,,,\n".encode("latin-1"),
         r"line 2: the file is not UTF-8 text \(byte 0xe9\)"),
        (b"", r"the file is empty"),
        (b"   \n\n", r"the file is empty"),
        (HEADER.encode(), r"the file has a header but no shots"),
        (b"\x00\x01\x02binary", r"the file is binary"),
    ],
)
async def test_bad_csv_names_the_problem_and_changes_nothing(
    studio: Studio, sample: Production, producer: Actor, content: bytes, message: str
) -> None:
    before = await _snapshot(studio, sample)
    audit_before = len(await audit.recent(studio.db.reader, sample.id, limit=10_000))
    with pytest.raises(ShotListError, match=message):
        await shotlist.import_shots(studio.db, sample, producer, content, "shots.csv")
    assert await _snapshot(studio, sample) == before
    assert len(await audit.recent(studio.db.reader, sample.id, limit=10_000)) == audit_before


async def test_a_bad_row_late_in_the_file_leaves_nothing_half_imported(
    studio: Studio, prod: Production, producer: Actor
) -> None:
    good = "".join(f"{c},Chapter {c},{s},shot {c}.{s},3,,,\n" for c in range(1, 4)
                   for s in range(1, 6))
    content = (HEADER + good + "3,Chapter 3,6,bad,zero,,,\n").encode()
    with pytest.raises(ShotListError, match="line 17, field 'duration'"):
        await shotlist.import_shots(studio.db, prod, producer, content, "shots.csv")
    assert await _snapshot(studio, prod) == []
    assert await production_board.board(studio.db, prod) == []


async def test_ten_megabyte_file_is_refused(
    studio: Studio, prod: Production, producer: Actor
) -> None:
    content = HEADER.encode() + b"1,A,1," + b"x" * (10 * 1024 * 1024) + b",4,,,\n"
    with pytest.raises(ShotListError, match=r"the file is 10\.5 MB; a shot list may be at most"):
        await shotlist.import_shots(studio.db, prod, producer, content, "big.csv")
    assert await _snapshot(studio, prod) == []


async def test_reimport_is_idempotent_and_marks_missing_shots_omitted(
    studio: Studio, sample: Production, producer: Actor
) -> None:
    data = (EXAMPLES / "low_tide.csv").read_bytes()
    again = await shotlist.import_shots(studio.db, sample, producer, data, "low_tide.csv")
    assert not again.changed and again.unchanged == 40

    lines = data.decode().splitlines(keepends=True)
    edited = [line.replace("Wide of an empty tidal flat", "Wider: an empty tidal flat")
              for line in lines if not line.startswith("8,Low Tide,,5,")]
    edited.append('9,Coda,,1,"Post-credits: the basket, empty, waiting",3,static,,\n')
    report = await shotlist.import_shots(studio.db, sample, producer,
                                         "".join(edited).encode(), "low_tide.csv")
    assert report.updated == ["1.1"]
    assert report.omitted == ["8.5"]
    assert report.added == ["9.1"] and report.chapters_added == [9]
    assert report.unchanged == 38
    omitted = await production_shots.shot(studio.db, sample, "8.5")
    assert omitted.shot.status == "omitted"  # kept, never deleted

    same = await shotlist.import_shots(studio.db, sample, producer,
                                       "".join(edited).encode(), "low_tide.csv")
    assert not same.changed

    restored = await shotlist.import_shots(studio.db, sample, producer, data + "".join(
        edited[-1:]).encode(), "low_tide.csv")
    assert restored.restored == ["8.5"] and restored.updated == ["1.1"]
    assert (await production_shots.shot(studio.db, sample, "8.5")).shot.status == "todo"


async def test_json_shot_list_names_the_line(
    studio: Studio, prod: Production, producer: Actor
) -> None:
    rows = [{"chapter": 1, "chapter_title": "Open", "shot": n, "description": f"shot {n}",
             "duration": 3.5, "characters": ["Pell", "Ada"]} for n in (1, 2)]
    report = await shotlist.import_shots(studio.db, prod, producer,
                                         json.dumps(rows, indent=2).encode(), "list.json")
    assert report.added == ["1.1", "1.2"]
    found = await production_shots.shot(studio.db, prod, "1.2")
    assert found.shot.character_names == ["Pell", "Ada"]

    rows.append({"chapter": 1, "shot": 3, "description": "bad", "duration": "long"})
    text = json.dumps(rows, indent=2)
    third = [n for n, line in enumerate(text.splitlines(), 1) if line == "  {"][2]
    with pytest.raises(ShotListError,
                       match=rf"line {third}, field 'duration': 'long' is not a number"):
        await shotlist.import_shots(studio.db, prod, producer, text.encode(), "list.json")
    with pytest.raises(ShotListError, match=r"line 1: is not valid JSON"):
        await shotlist.import_shots(studio.db, prod, producer, b'[{"chapter": 1,', "x.json")


async def test_only_producers_import(studio: Studio, prod: Production) -> None:
    member = await actor(studio.db, prod, "Eve", discord_id=5)
    data = (EXAMPLES / "low_tide.csv").read_bytes()
    with pytest.raises(Exception, match="importing a shot list needs the Producer role"):
        await shotlist.import_shots(studio.db, prod, member, data, "low_tide.csv")


async def test_a_list_without_titles_keeps_the_chapters_names(
    studio: Studio, sample: Production, producer: Actor
) -> None:
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO((EXAMPLES / "low_tide.csv").read_text())))
    out = io.StringIO()
    columns = [c for c in rows[0] if c != "chapter_title"]
    writer = csv.DictWriter(out, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    report = await shotlist.import_shots(studio.db, sample, producer, out.getvalue().encode(),
                                         "untitled.csv")
    assert report.chapters_renamed == [] and not report.changed
    assert (await production_board.chapter(studio.db, sample, 1)).title == rows[0]["chapter_title"]
