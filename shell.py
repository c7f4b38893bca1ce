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
    generation_parsers(sub)
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
    if settings.discord_token is None:
        print("slate: DISCORD_TOKEN is not set: create a bot at "
              "https://discord.com/developers/applications and export its token "
              "(or try `python bot.py demo`)", file=sys.stderr)
        return 2
    print("slate: the Discord face is not built yet; use the shell commands "
          "(python bot.py --help)", file=sys.stderr)
    return 2


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


# --- generations, takes, stems, characters, jobs, budget ------------------------------------

def generation_parsers(sub: argparse._SubParsersAction) -> None:
    take = sub.add_parser("take", help="takes made elsewhere").add_subparsers(
        dest="action", metavar="action", required=True)
    p = take.add_parser("add", help="add a video, image or audio file as a take of a shot")
    p.add_argument("--shot", required=True, help="the shot, e.g. 3.2")
    p.add_argument("file", type=Path)
    stem = sub.add_parser("stem", help="a chapter's audio stems").add_subparsers(
        dest="action", metavar="action", required=True)
    p = stem.add_parser("add", help="add a chapter's VO, SFX or music stem (audio)")
    p.add_argument("--chapter", type=int, required=True)
    p.add_argument("--kind", required=True, choices=("vo", "sfx", "music"))
    p.add_argument("file", type=Path)
    p = sub.add_parser("generate", help="generate a take for a shot and wait for it")
    p.add_argument("--shot", required=True, help="the shot, e.g. 3.2")
    p.add_argument("--kind", default="image", choices=("image", "video", "upscale", "voice"))
    p.add_argument("--prompt", default="")
    p.add_argument("--negative", default="", help="negative prompt")
    p.add_argument("--seed", type=int)
    p.add_argument("--provider", help="default: SLATE_DEFAULT_PROVIDER / SLATE_VOICE_PROVIDER")
    p.add_argument("--duration", type=float, help="video seconds (default: the shot's)")
    p.add_argument("--ratio", default="16:9")
    p.add_argument("--motion", type=int, default=5, help="1 (almost still) to 10")
    p.add_argument("--from-take", type=int, dest="image_take",
                   help="the image take to animate or upscale")
    p.add_argument("--strength", type=float, default=0.5, help="upscale strength 0..1")
    p.add_argument("--voice", default="", help="voice id")
    p = sub.add_parser("jobs", help="list generation jobs, or cancel one")
    p.add_argument("--cancel", type=int, metavar="JOB")
    p.add_argument("--open", action="store_true", help="only queued and running jobs")
    sub.add_parser("budget", help="generation spend by member and provider")
    character = sub.add_parser("character", help="characters for @Name in prompts")\
        .add_subparsers(dest="action", metavar="action", required=True)
    p = character.add_parser("add")
    p.add_argument("name")
    p.add_argument("--trigger", default="", help="trigger words")
    p.add_argument("--lora", default="")
    p.add_argument("--ref", type=Path, action="append", default=[], help="reference image")
    p.add_argument("--voice", default="", help="voice id")
    character.add_parser("list")
    p = character.add_parser("show")
    p.add_argument("name")


@command("take")
async def cmd_take(studio: Studio, args: argparse.Namespace) -> int:
    from studio import generate

    prod, who = await _shell_actor(studio, args)
    if not args.file.is_file():
        print(f"slate: cannot read {args.file}", file=sys.stderr)
        return 1
    take = await generate.upload_take(studio, prod, who, args.shot, args.file,
                                      original_name=args.file.name)
    print(f"take {take.id}: shot {args.shot} revision {take.revision} ({take.kind}), "
          f"sha256 {take.media_sha256[:12]}")
    return 0


@command("stem")
async def cmd_stem(studio: Studio, args: argparse.Namespace) -> int:
    from studio.takes import add_stem

    prod, who = await _shell_actor(studio, args)
    if not args.file.is_file():
        print(f"slate: cannot read {args.file}", file=sys.stderr)
        return 1
    stem = await add_stem(studio, prod, who, args.chapter, args.kind, args.file,
                          original_name=args.file.name)
    print(f"stem {stem.id}: chapter {args.chapter} {stem.kind}, sha256 {stem.media_sha256[:12]}")
    return 0


@command("generate")
async def cmd_generate(studio: Studio, args: argparse.Namespace) -> int:
    from studio import generate

    prod, who = await _shell_actor(studio, args)
    queue = generate.queue(studio)
    try:
        queue.listeners.append(lambda job: print(f"  job {job.id}: {job.state} "
                                                 f"{job.progress:.0%}", file=sys.stderr))
        take = await generate.run_now(
            studio, prod, who, args.shot, kind=args.kind, prompt=args.prompt,
            negative_prompt=args.negative, seed=args.seed, provider=args.provider,
            duration=args.duration, ratio=args.ratio, motion=args.motion,
            image_take=args.image_take, strength=args.strength, voice_id=args.voice)
    finally:
        await generate.close_queue(studio)
    print(f"take {take.id}: shot {args.shot} revision {take.revision} ({take.kind}) by "
          f"{take.provider}, seed {take.seed}, cost ${take.cost:.2f}")
    return 0


@command("jobs")
async def cmd_jobs(studio: Studio, args: argparse.Namespace) -> int:
    from studio import generate

    prod, who = await _shell_actor(studio, args)
    if args.cancel is not None:
        try:
            job = await generate.cancel(studio, prod, who, args.cancel)
        finally:
            await generate.close_queue(studio)
        print(f"job {job.id} is {job.state}")
        return 0
    rows = await generate.jobs_of(studio, prod, who, everyone=True, open_only=args.open,
                                  limit=100)
    for job in rows:
        print(f"{job.id:>5}  {job.kind:<8} {job.provider:<11} {job.state:<10} "
              f"{job.progress:>4.0%}  ${job.cost:>6.2f}  {job.error[:60]}")
    print(f"{len(rows)} jobs")
    return 0


@command("budget")
async def cmd_budget(studio: Studio, args: argparse.Namespace) -> int:
    from studio import generate

    prod = await production.get(studio.db, args.guild)
    spent, limit, rows = await generate.budget(studio, prod)
    print(f"spent ${spent:.2f}" + (f" of ${limit:.2f}" if limit else " (no budget set)"))
    for row in rows:
        print(f"  {row.member_name[:20]:<20} {row.provider:<11} {row.jobs:>4} jobs  "
              f"${row.cost:.2f}")
    return 0


@command("character")
async def cmd_character(studio: Studio, args: argparse.Namespace) -> int:
    from studio import characters

    prod, who = await _shell_actor(studio, args)
    if args.action == "add":
        made = await characters.add(studio, prod, who, args.name, trigger_words=args.trigger,
                                    lora=args.lora, reference_files=args.ref,
                                    voice_id=args.voice)
        print(f"character @{made.name} added")
    elif args.action == "list":
        for found in await characters.listed(studio, prod):
            print(f"@{found.name:<20} {found.trigger_words[:50]}")
    else:
        found = await characters.show(studio, prod, args.name)
        print(f"@{found.name}\n  trigger words: {found.trigger_words or '—'}\n"
              f"  LoRA: {found.lora or '—'}\n  reference images: {len(found.references)}\n"
              f"  voice: {found.voice_id or '—'}")
    return 0
