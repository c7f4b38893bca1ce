"""Shot lists: parse CSV or JSON, check every row, and import all of it or nothing.

Columns: chapter, chapter_title, shot, description, duration (planned, seconds), camera,
characters (separated by ';' in CSV, a list in JSON), notes; chapter_synopsis is optional.
A re-import is idempotent: shots keyed by (chapter, shot) are updated, new ones added, and
shots missing from the file are marked omitted, never deleted (their takes stay).
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from storage import audit, chapters, shots
from storage.db import Database
from storage.productions import Production
from studio.errors import ShotListError
from studio.notion import mapping
from studio.production import schedule
from studio.production.people import Actor, require_producer
from studio.production.shots import MAX_DURATION_S
from studio.units import MAX_NUMBER, size_text

# Accepted spellings of each column, as people type them in spreadsheets.
_ALIASES = {
    "chapter": {"chapter", "chapter_number", "ch"},
    "chapter_title": {"chapter_title", "title"},
    "chapter_synopsis": {"chapter_synopsis", "synopsis"},
    "shot": {"shot", "shot_number"},
    "description": {"description", "desc", "action"},
    "duration": {"duration", "planned_duration", "duration_s", "seconds"},
    "camera": {"camera", "camera_motion", "motion", "camera/motion"},
    "characters": {"characters", "cast"},
    "notes": {"notes", "note"},
}
REQUIRED = ("chapter", "shot", "description", "duration")
_TEXT_LIMITS = {"chapter_title": 200, "description": 2000, "camera": 500, "notes": 10000,
                "chapter_synopsis": 4000}


@dataclass(frozen=True)
class ShotRow:
    line: int
    chapter: int
    chapter_title: str
    chapter_synopsis: str
    shot: int
    description: str
    duration: float
    camera: str
    characters: tuple[str, ...]
    notes: str


@dataclass
class ImportReport:
    chapters_added: list[int] = field(default_factory=list)
    chapters_renamed: list[int] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    omitted: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    unchanged: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    kept_from_notion: list[str] = field(default_factory=list)  # e.g. "shot 1.2 Notes"

    @property
    def changed(self) -> bool:
        return bool(self.chapters_added or self.chapters_renamed or self.added or self.updated
                    or self.omitted or self.restored)

    def summary(self) -> str:
        parts = [f"{len(self.added)} shots added", f"{len(self.updated)} updated",
                 f"{len(self.omitted)} omitted", f"{self.unchanged} unchanged"]
        if self.restored:
            parts.append(f"{len(self.restored)} restored")
        if self.chapters_added:
            parts.append(f"{len(self.chapters_added)} new chapters")
        text = ", ".join(parts)
        if self.ignored_columns:
            text += f" (ignored columns: {', '.join(self.ignored_columns)})"
        if self.kept_from_notion:
            shown = ", ".join(self.kept_from_notion[:5])
            more = len(self.kept_from_notion) - 5
            text += (f"; kept as Notion has them: {shown}" + (f" and {more} more" if more > 0
                                                                else ""))
        return text


# --- parsing --------------------------------------------------------------------------------

def read_file(path: Path, max_bytes: int) -> bytes:
    """A shot list's bytes, read only when it is a regular file within the limit, and never
    more than the limit (a FIFO would hang the read, /dev/zero would fill the memory)."""
    try:
        # Non-blocking: opening a FIFO with no writer must not wait; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ShotListError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        facts = os.fstat(fd)
        if not stat.S_ISREG(facts.st_mode):
            raise ShotListError(f"{path.name} is not a regular file")
        if facts.st_size > max_bytes:
            raise ShotListError(f"the file is {size_text(facts.st_size)}; a shot list may be "
                                f"at most {size_text(max_bytes)}")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew after the check
        raise ShotListError(f"the file is over {size_text(max_bytes)}, the most a shot list "
                            "may be")
    return data


def _decode(data: bytes, max_bytes: int) -> str:
    if len(data) > max_bytes:
        raise ShotListError(f"the file is {size_text(len(data))}; a shot list may be at most "
                            f"{size_text(max_bytes)}")
    if not data.strip():
        raise ShotListError("the file is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ShotListError(f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                            "save it as UTF-8", line=line) from None
    if "\x00" in text:
        raise ShotListError("the file is binary, not a CSV or JSON shot list")
    return text


def _canonical(name: str) -> str | None:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    for canon, spellings in _ALIASES.items():
        if key in spellings or key.replace("_", "") in {s.replace("_", "") for s in spellings}:
            return canon
    return None


def _positive_int(value: object, line: int, name: str) -> int:
    text = str(value).strip() if value is not None else ""
    if isinstance(value, bool):
        text = ""
    try:
        number = int(text) if not isinstance(value, float) else int(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
    except ValueError:
        shown = text[:30] or "(empty)"
        raise ShotListError(f"'{shown}' is not a whole number", line=line, field=name) from None
    if number <= 0:
        raise ShotListError(f"{number} must be 1 or more", line=line, field=name)
    if number > MAX_NUMBER:  # SQLite's integers end at 2**63 - 1
        raise ShotListError(f"'{text[:30]}' is too large (at most {MAX_NUMBER})", line=line,
                            field=name)
    return number


def _duration(value: object, line: int) -> float:
    text = str(value).strip() if value is not None else ""
    text = text.removesuffix("s").strip() if isinstance(value, str) else text
    try:
        seconds = float(text)
    except ValueError:
        shown = text[:30] or "(empty)"
        raise ShotListError(f"'{shown}' is not a number of seconds", line=line,
                            field="duration") from None
    if not 0 < seconds <= MAX_DURATION_S or seconds != seconds:
        raise ShotListError(f"{text} is out of range: more than 0 and at most "
                            f"{MAX_DURATION_S:g} seconds", line=line, field="duration")
    return round(seconds, 3)


def _text(value: object, line: int, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise ShotListError("must be text", line=line, field=name)
    text = str(value).strip()
    limit = _TEXT_LIMITS.get(name)
    if limit and len(text) > limit:
        raise ShotListError(f"is {len(text)} characters; at most {limit}", line=line, field=name)
    return text


def _characters(value: object, line: int) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        names = [n.strip() for n in value.replace(",", ";").split(";")]
    elif isinstance(value, list) and all(isinstance(n, str) for n in value):
        names = [n.strip() for n in value]
    else:
        raise ShotListError("must be names separated by ';' (or a list of names in JSON)",
                            line=line, field="characters")
    return tuple(n for n in names if n)


def _row(raw: dict[str, object], line: int) -> ShotRow:
    for name in REQUIRED:
        if raw.get(name) is None or str(raw.get(name)).strip() == "":
            raise ShotListError("is empty", line=line, field=name)
    chapter = _positive_int(raw["chapter"], line, "chapter")
    return ShotRow(
        line=line,
        chapter=chapter,
        chapter_title=_text(raw.get("chapter_title"), line, "chapter_title"),
        chapter_synopsis=_text(raw.get("chapter_synopsis"), line, "chapter_synopsis"),
        shot=_positive_int(raw["shot"], line, "shot"),
        description=_text(raw["description"], line, "description"),
        duration=_duration(raw["duration"], line),
        camera=_text(raw.get("camera"), line, "camera"),
        characters=_characters(raw.get("characters"), line),
        notes=_text(raw.get("notes"), line, "notes"),
    )


def _header(names: list[str]) -> tuple[dict[str, str], list[str]]:
    """Map each source column to its canonical name; report the ones we do not know."""
    mapping, ignored, seen = {}, [], {}
    for name in names:
        canon = _canonical(name or "")
        if canon is None:
            if name and name.strip():
                ignored.append(name.strip())
            continue
        if canon in seen:
            raise ShotListError(f"columns '{seen[canon]}' and '{name}' both mean {canon}", line=1)
        seen[canon] = name
        mapping[name] = canon
    missing = [r for r in REQUIRED if r not in seen]
    if missing:
        raise ShotListError(f"missing column{'s' if len(missing) > 1 else ''}: "
                            f"{', '.join(missing)}", line=1)
    return mapping, ignored


def parse_csv(text: str) -> tuple[list[ShotRow], list[str]]:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise ShotListError("the file has no header row", line=1) from None
    mapping, ignored = _header(header)
    rows = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header):
                raise ShotListError(f"has {len(values)} values but the header has "
                                    f"{len(header)} columns", line=line)
            raw = {mapping[h]: v for h, v in zip(header, values, strict=False) if h in mapping}
            rows.append(_row(raw, line))
    except csv.Error as exc:
        raise ShotListError(f"is not valid CSV ({exc})", line=reader.line_num) from None
    return rows, ignored


def parse_json(text: str) -> tuple[list[ShotRow], list[str]]:
    """A top-level array of shot objects; each row's line is where its object starts."""
    decoder = json.JSONDecoder()
    index = _skip_space(text, 0)
    if index >= len(text) or text[index] != "[":
        raise ShotListError("a JSON shot list is an array of shot objects", line=_line(text, index))
    index = _skip_space(text, index + 1)
    rows, ignored, first = [], set(), True
    while index < len(text) and text[index] != "]":
        if not first:
            if text[index] != ",":
                raise ShotListError("expected ',' between shots", line=_line(text, index))
            index = _skip_space(text, index + 1)
        first = False
        line = _line(text, index)
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            raise ShotListError(f"is not valid JSON ({exc.msg})", line=exc.lineno) from None
        except RecursionError:
            raise ShotListError("the JSON is nested too deeply for a shot", line=line) from None
        except ValueError as exc:  # e.g. an integer of more than 4300 digits
            raise ShotListError(f"is not usable JSON ({exc})"[:120], line=line) from None
        index = _skip_space(text, index)
        if not isinstance(value, dict):
            raise ShotListError("each shot is an object with named fields", line=line)
        raw: dict[str, object] = {}
        for key, item in value.items():
            canon = _canonical(str(key))
            if canon is None:
                ignored.add(str(key))
            else:
                raw[canon] = item
        missing = [r for r in REQUIRED if r not in raw]
        if missing:
            raise ShotListError("is missing", line=line, field=missing[0])
        rows.append(_row(raw, line))
    if index >= len(text):
        raise ShotListError("the array is not closed with ']'", line=_line(text, len(text)))
    if text[_skip_space(text, index + 1):].strip():
        raise ShotListError("unexpected text after the array", line=_line(text, index + 1))
    return rows, sorted(ignored)


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


def _line(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def parse(data: bytes, filename: str = "", *, max_bytes: int = 4 * 1024 * 1024
          ) -> tuple[list[ShotRow], list[str]]:
    """Parse and check a whole shot list; raise ShotListError naming the first bad line."""
    text = _decode(data, max_bytes)
    is_json = filename.lower().endswith(".json") or text.lstrip().startswith(("[", "{"))
    rows, ignored = parse_json(text) if is_json else parse_csv(text)
    if not rows:
        raise ShotListError("the file has a header but no shots")
    _check_consistency(rows)
    return rows, ignored


def _by_chapter(rows: list[ShotRow]) -> dict[int, list[ShotRow]]:
    grouped: dict[int, list[ShotRow]] = {}
    for row in rows:
        grouped.setdefault(row.chapter, []).append(row)
    return dict(sorted(grouped.items()))


def _check_consistency(rows: list[ShotRow]) -> None:
    seen: dict[tuple[int, int], int] = {}
    titles: dict[int, tuple[str, int]] = {}
    for row in rows:
        key = (row.chapter, row.shot)
        if key in seen:
            raise ShotListError(f"shot {row.chapter}.{row.shot} already appears on line "
                                f"{seen[key]}", line=row.line, field="shot")
        seen[key] = row.line
        if row.chapter_title:
            first = titles.setdefault(row.chapter, (row.chapter_title, row.line))
            if first[0] != row.chapter_title:
                raise ShotListError(f"chapter {row.chapter} is titled '{first[0]}' on line "
                                    f"{first[1]}", line=row.line, field="chapter_title")


# --- import ---------------------------------------------------------------------------------

async def import_shots(
    db: Database, production: Production, who: Actor, data: bytes, filename: str = "",
    *, max_bytes: int = 4 * 1024 * 1024,
) -> ImportReport:
    """Import a shot list in one transaction: every row applies, or none does."""
    require_producer(who, production, "importing a shot list")
    rows, ignored = parse(data, filename, max_bytes=max_bytes)
    report = ImportReport(ignored_columns=ignored)
    audits: list[tuple] = []
    pid = production.id
    async with db.transaction() as tx:
        # What Notion owns is never overwritten from a file: it stays as Notion last said.
        chapter_kept = await schedule.kept_in_notion(tx, production, mapping.CHAPTER)
        shot_kept = await schedule.kept_in_notion(tx, production, mapping.SHOT)
        existing_chapters = {c.number: c for c in await chapters.all_of(tx, pid)}
        existing_shots = {(r.chapter_number, r.shot.number): r.shot
                          for r in await shots.of_production(tx, pid)}
        chapter_ids = {n: c.id for n, c in existing_chapters.items()}
        for number, group in _by_chapter(rows).items():
            given = next((r.chapter_title for r in group if r.chapter_title), "")
            synopsis = next((r.chapter_synopsis for r in group if r.chapter_synopsis), "")
            found = existing_chapters.get(number)
            # A list without titles keeps the chapters' names; only a new chapter needs one.
            title = given or (found.title if found else f"Chapter {number}")
            if found is None:
                chapter_ids[number] = await chapters.create(tx, pid, number, title, synopsis)
                report.chapters_added.append(number)
                audits.append((pid, who.id, "chapter", chapter_ids[number], "import",
                               None, {"title": title, "line": group[0].line}))
                continue
            changes = {"title": title} if found.title != title else {}
            if synopsis and synopsis != found.synopsis:
                changes["synopsis"] = synopsis
            report.kept_from_notion += [f"chapter {number} {chapter_kept[k]}"
                                        for k in changes if k in chapter_kept]
            changes = {k: v for k, v in changes.items() if k not in chapter_kept}
            if changes:
                await chapters.update(tx, found.id, **changes)
                report.chapters_renamed.append(number)
                audits.append((pid, who.id, "chapter", found.id, "import",
                               {k: getattr(found, k) for k in changes}, changes))
        for row in rows:
            code = f"{row.chapter}.{row.shot}"
            plan = {"description": row.description, "planned_duration": row.duration,
                    "camera": row.camera, "characters": list(row.characters),
                    "notes": row.notes}
            old = existing_shots.pop((row.chapter, row.shot), None)
            if old is None:
                shot_id = await shots.create(tx, chapter_ids[row.chapter], row.shot,
                                             row.description, row.duration, row.camera,
                                             list(row.characters), row.notes)
                report.added.append(code)
                audits.append((pid, who.id, "shot", shot_id, "import", None, plan))
                continue
            before = {"description": old.description, "planned_duration": old.planned_duration,
                      "camera": old.camera, "characters": old.character_names,
                      "notes": old.notes}
            changes = {k: v for k, v in plan.items() if before[k] != v}
            report.kept_from_notion += [f"shot {code} {shot_kept[k]}"
                                        for k in changes if k in shot_kept]
            changes = {k: v for k, v in changes.items() if k not in shot_kept}
            if old.status == "omitted":
                changes["status"] = "approved" if old.approved_take_id else "todo"
                report.restored.append(code)
            if not changes:
                report.unchanged += 1
                continue
            await shots.update(tx, old.id, **changes)
            if "status" not in changes or len(changes) > 1:
                report.updated.append(code)
            audits.append((pid, who.id, "shot", old.id, "import",
                           {k: before.get(k, old.status) for k in changes}, changes))
        for (chapter_number, number), old in sorted(existing_shots.items()):
            if old.status == "omitted":
                continue
            await shots.update(tx, old.id, status="omitted")
            report.omitted.append(f"{chapter_number}.{number}")
            audits.append((pid, who.id, "shot", old.id, "omit", {"status": old.status},
                           {"status": "omitted"}))
        if report.changed:
            audits.append((pid, who.id, "production", pid, "import-shots", None,
                           {"file": filename[:200], "summary": report.summary()}))
        await audit.record_many(tx, audits)
    return report
