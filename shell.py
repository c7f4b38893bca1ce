"""The shell face: the production's operations for producers at a terminal.

Like a cog, each command parses, calls one studio function, and prints the result. The shell
acts on the production of guild 0 unless --guild says otherwise, and acts as a producer.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from storage.chapters import ChapterProgress
from storage.db import SchemaTooNew
from studio import production, shotlist
from studio.app import Studio
from studio.errors import SlateError
from studio.people import actor, member_named
from studio.settings import Settings, SettingsError, load_settings

EXAMPLE_SHOT_LIST = Path(__file__).parent / "examples" / "low_tide.csv"
EXAMPLE_TITLE = "Low Tide"

Command = Callable[[Studio, argparse.Namespace], Awaitable[int]]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = fn
        return fn
    return register


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python bot.py", description=__doc__.splitlines()[0])
    root.add_argument("--guild", type=int, default=production.SHELL_GUILD,
                      help="the production's Discord guild id (default: the shell's, 0)")
    root.add_argument("--as", dest="actor", default="shell",
                      help="act as this member (default: 'shell', a producer)")
    sub = root.add_subparsers(dest="command", metavar="command")

    p = sub.add_parser("init", help="create (or retitle) the production")
    p.add_argument("--title", default=EXAMPLE_TITLE)
    p = sub.add_parser("import-shots", help="import a CSV or JSON shot list (all or nothing)")
    p.add_argument("file", type=Path)
    sub.add_parser("chapters", help="show the production board")
    p = sub.add_parser("chapter", help="show one chapter and its shots")
    p.add_argument("number", type=int)
    p = sub.add_parser("claim", help="claim a chapter for --as")
    p.add_argument("number", type=int)
    p = sub.add_parser("release", help="release a chapter held by --as")
    p.add_argument("number", type=int)
    p = sub.add_parser("assign", help="give a chapter to a member (producer)")
    p.add_argument("number", type=int)
    p.add_argument("member")
    p = sub.add_parser("unassign", help="free a chapter (producer)")
    p.add_argument("number", type=int)
    p = sub.add_parser("due", help="set a chapter's due date, YYYY-MM-DD or 'clear'")
    p.add_argument("number", type=int)
    p.add_argument("date")
    p = sub.add_parser("backup", help="write an online, consistent copy of the database")
    p.add_argument("path", type=Path)
    sub.add_parser("demo", help="run the production pipeline on embedded defaults")
    p = sub.add_parser("notion-connect", help="create or check the Notion databases (NOTION_TOKEN)")
    p.add_argument("--parent", help="a Notion page URL to create both databases in")
    p.add_argument("--chapters", help="an existing Chapters database URL")
    p.add_argument("--shots", help="an existing Shots database URL")
    p.add_argument("--notion-owned", default="",
                   help="comma-separated plan fields Notion owns, e.g. shot.planned,"
                        "chapter.description")
    p.add_argument("--add-missing", action="store_true",
                   help="add the columns an existing database lacks")
    p = sub.add_parser("notion-sync", help="pull from and push to Notion now, and report")
    p.add_argument("--push-only", action="store_true")
    p.add_argument("--pull-only", action="store_true")
    return root


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"slate: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command is None:
        return run_bot(settings)
    if args.command == "demo":
        return asyncio.run(demo(settings))
    return asyncio.run(_run(settings, COMMANDS[args.command], args))


def run_bot(settings: Settings) -> int:
    import bot

    return asyncio.run(bot.serve(settings))


async def _run(settings: Settings, fn: Command, args: argparse.Namespace) -> int:
    try:
        studio = await Studio.open(settings)
    except SchemaTooNew as exc:
        print(f"slate: {exc}", file=sys.stderr)
        return 2
    try:
        return await fn(studio, args)
    except SlateError as exc:
        print(f"slate: {exc.reason}", file=sys.stderr)
        return 1
    finally:
        await studio.close()


async def _shell_actor(studio: Studio, args: argparse.Namespace) -> tuple:
    prod = await production.get(studio.db, args.guild)
    # The shell is the producer's own terminal; --as names whose claim it is.
    return prod, await actor(studio.db, prod, args.actor, is_producer=True)


@command("init")
async def cmd_init(studio: Studio, args: argparse.Namespace) -> int:
    prod = await production.setup(
        studio.db, args.guild, args.title, producer_role=studio.settings.producer_role,
        max_chapters=studio.settings.max_chapters_per_creator, actor_name=args.actor,
    )
    print(f"production '{prod.title}' is ready in {studio.settings.database_path}")
    return 0


@command("import-shots")
async def cmd_import(studio: Studio, args: argparse.Namespace) -> int:
    prod, who = await _shell_actor(studio, args)
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"slate: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    report = await shotlist.import_shots(studio.db, prod, who, data, args.file.name,
                                         max_bytes=studio.settings.shot_list_max_bytes)
    print(f"imported {args.file.name}: {report.summary()}")
    return 0


@command("chapters")
async def cmd_chapters(studio: Studio, args: argparse.Namespace) -> int:
    prod = await production.get(studio.db, args.guild)
    print(render_board(prod.title, await production.board(studio.db, prod)))
    return 0


@command("chapter")
async def cmd_chapter(studio: Studio, args: argparse.Namespace) -> int:
    prod = await production.get(studio.db, args.guild)
    detail = await production.chapter_detail(studio.db, prod, args.number)
    c = detail.chapter
    print(f"Chapter {c.number}: {c.title}  [{c.status}]  owner: "
          f"{detail.owner.name if detail.owner else '—'}  due: {c.due_date or '—'}")
    if c.synopsis:
        print(f"  {c.synopsis}")
    for s in detail.shots:
        print(f"  {c.number}.{s.number:<3} {s.planned_duration:>5.1f}s  {s.status:<12} "
              f"{s.description[:70]}")
    return 0


@command("claim")
async def cmd_claim(studio: Studio, args: argparse.Namespace) -> int:
    prod = await production.get(studio.db, args.guild)
    who = await actor(studio.db, prod, args.actor)
    chapter = await production.claim(studio.db, prod, who, args.number)
    print(f"{who.name} now holds chapter {chapter.number}: {chapter.title}")
    return 0


@command("release")
async def cmd_release(studio: Studio, args: argparse.Namespace) -> int:
    prod = await production.get(studio.db, args.guild)
    who = await actor(studio.db, prod, args.actor)
    chapter = await production.release(studio.db, prod, who, args.number)
    print(f"chapter {chapter.number} is open again")
    return 0


@command("assign")
async def cmd_assign(studio: Studio, args: argparse.Namespace) -> int:
    prod, who = await _shell_actor(studio, args)
    to = await member_named(studio.db, prod, args.member)
    chapter = await production.assign(studio.db, prod, who, args.number, to)
    print(f"chapter {chapter.number} is assigned to {to.name}")
    return 0


@command("unassign")
async def cmd_unassign(studio: Studio, args: argparse.Namespace) -> int:
    prod, who = await _shell_actor(studio, args)
    chapter = await production.unassign(studio.db, prod, who, args.number)
    print(f"chapter {chapter.number} is open again")
    return 0


@command("due")
async def cmd_due(studio: Studio, args: argparse.Namespace) -> int:
    prod, who = await _shell_actor(studio, args)
    chapter = await production.set_due(studio.db, prod, who, args.number, args.date)
    print(f"chapter {chapter.number} is due {chapter.due_date or '(no date)'}")
    return 0


@command("backup")
async def cmd_backup(studio: Studio, args: argparse.Namespace) -> int:
    target = await studio.db.backup(args.path)
    print(f"backup written to {target}")
    return 0


@command("notion-connect")
async def cmd_notion_connect(studio: Studio, args: argparse.Namespace) -> int:
    from studio.notion import NotionService

    prod, who = await _shell_actor(studio, args)
    service = NotionService(studio.db, studio.settings)
    try:
        result = await service.connect(
            prod, who, parent=args.parent, chapters=args.chapters, shots=args.shots,
            notion_owned=args.notion_owned.split(","), add_missing=args.add_missing,
        )
    finally:
        await service.close()
    print(result.summary())
    return 0


@command("notion-sync")
async def cmd_notion_sync(studio: Studio, args: argparse.Namespace) -> int:
    from studio.notion import NotionService

    prod, who = await _shell_actor(studio, args)
    service = NotionService(studio.db, studio.settings)
    try:
        report = await service.sync(prod, who, pull=not args.push_only,
                                    push=not args.pull_only)
    finally:
        await service.close()
    print(report.summary())
    return 1 if report.failed or report.stopped else 0


def render_board(title: str, rows: list[ChapterProgress]) -> str:
    lines = [title, "=" * len(title),
             f"{'ch':>3}  {'title':<22} {'owner':<14} {'due':<10} {'status':<12} shots"]
    for row in rows:
        c = row.chapter
        lines.append(f"{c.number:>3}  {c.title[:22]:<22} {(row.owner_name or '—')[:14]:<14} "
                     f"{c.due_date or '—':<10} {c.status:<12} "
                     f"{row.shots_approved}/{row.shots_total} approved")
    total = sum(r.shots_total for r in rows)
    done = sum(r.shots_approved for r in rows)
    lines.append(f"{len(rows)} chapters, {done}/{total} shots approved")
    return "\n".join(lines)


DEMO_CLAIMS = [("Maya", 1), ("Jonas", 2), ("Ife", 3), ("Ren", 4), ("Sol", 5), ("Maya", 6),
               ("Jonas", 7), ("Ife", 8), ("Sol", 1), ("Maya", 4)]


async def demo(settings: Settings) -> int:
    """The main job on embedded defaults: a production from examples/, claimed and shown."""
    demo_dir = settings.data_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    settings = settings.model_copy(update={"data_dir": demo_dir, "database": None,
                                           "media_dir": None})
    studio = await Studio.open(settings)
    try:
        prod = await production.setup(studio.db, production.SHELL_GUILD, EXAMPLE_TITLE,
                                      producer_role=settings.producer_role,
                                      max_chapters=settings.max_chapters_per_creator)
        producer = await actor(studio.db, prod, "Producer", is_producer=True)
        report = await shotlist.import_shots(studio.db, prod, producer,
                                             EXAMPLE_SHOT_LIST.read_bytes(),
                                             EXAMPLE_SHOT_LIST.name)
        print(f"imported {EXAMPLE_SHOT_LIST.name}: {report.summary()}")
        # Two claims each, then two that the rules refuse, to show the refusals' reasons.
        for name, number in DEMO_CLAIMS:
            who = await actor(studio.db, prod, name)
            try:
                await production.claim(studio.db, prod, who, number)
                print(f"  {name} claims chapter {number}")
            except SlateError as exc:
                print(f"  {name} cannot claim chapter {number}: {exc.reason}")
        print()
        print(render_board(prod.title, await production.board(studio.db, prod)))
        print(f"\ndatabase: {settings.database_path}")
    finally:
        await studio.close()
    return 0
