"""The shell face: the production's operations for producers at a terminal.

Like a cog, each command parses, calls one studio function, and prints the result. The shell
acts on the production of guild 0 unless --guild says otherwise, and acts as a producer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from storage.chapters import ChapterProgress
from storage.db import SchemaTooNew
from storage.productions import Production
from storage.stems import STEM_KINDS
from studio.app import Studio
from studio.cut import layout
from studio.errors import SlateError
from studio.ops.logging_setup import setup_logging
from studio.ops.masking import mask
from studio.ops.settings import Settings, SettingsError, load_settings
from studio.production import board, claims, member_names, schedule, shotlist
from studio.production.people import Actor
from studio.review import approvals, windows
from studio.review import queue as review_queue
from studio.review import rules as review_rules

if TYPE_CHECKING:
    from studio.cut.build import CutResult
    from studio.generation.lineage import TakeLine

EXAMPLE_TITLE = "Low Tide"
SHELL_ACTOR = "shell"  # the terminal's own producer identity, made on first use

Command = Callable[[Studio, argparse.Namespace], Awaitable[int]]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = fn
        return fn
    return register


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python bot.py", description=__doc__.splitlines()[0])
    root.add_argument("--guild", type=int, default=board.SHELL_GUILD,
                      help="the production's Discord guild id (default: the shell's, 0)")
    root.add_argument("--as", dest="actor", default=SHELL_ACTOR,
                      help="act as this member, by Discord username or display name "
                           "(default: 'shell', a producer)")
    root.add_argument("--new-member", action="store_true",
                      help="a name no member has creates a shell-only member (else refused)")
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
    p.add_argument("member", help="Discord username or display name")
    p.add_argument("--new-member", dest="new_assignee", action="store_true",
                   help="create a shell-only member when no member has this name")
    p = sub.add_parser("unassign", help="free a chapter (producer)")
    p.add_argument("number", type=int)
    p = sub.add_parser("due", help="set a chapter's due date, YYYY-MM-DD or 'clear'")
    p.add_argument("number", type=int)
    p.add_argument("date")
    p = sub.add_parser("backup", help="write an online, consistent copy of the database "
                       "(default: DATA_DIR/backups/slate-<UTC time>.db, keeping BACKUP_KEEP)")
    p.add_argument("path", type=Path, nargs="?")
    p = sub.add_parser("restore", help="put a backup in place of the database (bot stopped); "
                       "the old one is kept as <database>.before-restore")
    p.add_argument("file", type=Path)
    p.add_argument("--force", action="store_true",
                   help="restore even though the database looks in use (not closed cleanly)")
    p = sub.add_parser("gc", help="list media files no row uses (dry run); --delete removes them")
    p.add_argument("--delete", action="store_true",
                   help="remove the unused files and the media rows nothing uses")
    p.add_argument("--min-age", type=float, default=3600.0, metavar="SECONDS",
                   help="leave files and rows younger than this alone (default 3600)")
    p = sub.add_parser("cut", help="build, verify and publish the cut now")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    sub.add_parser("cuts", help="list the published cuts and show the latest one's changelog")
    sub.add_parser("serve", help="serve the web face (board, screening room) until Ctrl-C")
    p = sub.add_parser("handoff", help="put a cut's editor's hand-off (FCP XML, OTIO, EDL and "
                       "the original media) in DIR, a new or empty folder")
    p.add_argument("version", type=int, nargs="?", help="the cut (default: the latest)")
    p.add_argument("dir", type=Path)
    p = sub.add_parser("demo", help="run the whole production pipeline on embedded defaults")
    p.add_argument("--chapters", type=int, default=8, choices=range(2, 9), metavar="2..8",
                   help="how many chapters get takes, votes and stems (default 8: all)")
    p.add_argument("--no-serve", action="store_true",
                   help="only print the screening page's address (no serving, even in a "
                        "terminal; never served when not run from one)")
    generation_parsers(sub)
    add_review_parsers(sub)
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


def main(argv: list[str], run_bot: Callable[[Settings], int] | None = None) -> int:
    """Run one shell command; with none, `run_bot` (bot.py passes the bot's own runner, so the
    shell never imports the bot)."""
    streams = sys.stdout, sys.stderr
    try:
        code = _main(argv, run_bot)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except BrokenPipeError:
        # `bot.py chapter 1 | head -1`: the reader left; no traceback, nothing more to write.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a shell reports a process stopped by SIGPIPE
    finally:
        sys.stdout, sys.stderr = streams


def _main(argv: list[str], run_bot: Callable[[Settings], int] | None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
        usable_data_dir(settings)
    except SettingsError as exc:
        print(f"slate: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings)
    # Everything the shell prints passes the one secret masking, as log lines and Discord do.
    sys.stdout, sys.stderr = MaskedText(sys.stdout), MaskedText(sys.stderr)
    if args.command is None:
        if run_bot is None:
            print("slate: no command given (`python bot.py` with none runs the bot)",
                  file=sys.stderr)
            return 2
        return run_bot(settings)
    if args.command == "demo":
        # Served until Ctrl-C only for a person at a terminal: never in a script or CI.
        serve = not args.no_serve and sys.stdin.isatty() and sys.stdout.isatty()
        return asyncio.run(demo(settings, args.chapters, serve))
    if args.command == "restore":
        return cmd_restore(settings, args)
    return asyncio.run(_run(settings, COMMANDS[args.command], args))


class MaskedText:
    """A text stream whose every write passes studio.ops.masking.mask."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(mask(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno, encoding: the stream's
        return getattr(self._stream, name)


def usable_data_dir(settings: Settings) -> None:
    """SLATE_DATA_DIR exists (made if need be) and takes a file, or SettingsError in a line."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=settings.data_dir):
            pass
    except OSError as exc:
        raise SettingsError(f"SLATE_DATA_DIR {settings.data_dir} cannot be used: "
                            f"{exc.strerror or exc}") from None


# A refusal written for Discord names its slash commands; at the terminal, the shell's own.
SHELL_COMMANDS = {
    "/production setup": "`python bot.py init`",
    "/cut status": "`python bot.py cuts`",
    "/notion connect": "`python bot.py notion-connect`",
    "/character list": "`python bot.py character list`",
    "/approve": "`python bot.py approve`",
    "/retake": "`python bot.py retake`",
}
_DISCORD_COMMAND = re.compile("|".join(re.escape(c) + r"\b" for c in SHELL_COMMANDS))


def refusal(exc: SlateError) -> str:
    """The shell's line for a refusal."""
    return "slate: " + _DISCORD_COMMAND.sub(lambda m: SHELL_COMMANDS[m.group(0)], exc.reason)


async def _run(settings: Settings, fn: Command, args: argparse.Namespace) -> int:
    try:
        studio = await Studio.open(settings)
    except SchemaTooNew as exc:
        print(f"slate: {exc}", file=sys.stderr)
        return 2
    try:
        if layout.anything_cut(settings):
            # Loaded only when there is a cut to look after: most commands never need the
            # media stack, and every command starts a process.
            from studio.cut import build

            await build.at_start(studio)
        return await fn(studio, args)
    except SlateError as exc:
        print(refusal(exc), file=sys.stderr)
        return 1
    finally:
        await studio.close()


async def _named(studio: Studio, prod: Production, args: argparse.Namespace,
                 *, is_producer: bool = False) -> Actor:
    """--as: an existing member by Discord username or display name (see member_names)."""
    member = await member_names.resolve(studio.db, prod, args.actor,
                                        create=args.new_member or args.actor == SHELL_ACTOR)
    return Actor(member, is_producer)


async def _shell_actor(studio: Studio, args: argparse.Namespace) -> tuple:
    prod = await board.get(studio.db, args.guild)
    # The shell is the producer's own terminal; --as names whose claim it is.
    return prod, await _named(studio, prod, args, is_producer=True)


@command("init")
async def cmd_init(studio: Studio, args: argparse.Namespace) -> int:
    prod = await board.setup(
        studio.db, args.guild, args.title, default_role=studio.settings.producer_role,
        default_max=studio.settings.max_chapters_per_creator, actor_name=args.actor,
    )
    print(f"production '{prod.title}' is ready in {studio.settings.database_path}")
    return 0


@command("import-shots")
async def cmd_import(studio: Studio, args: argparse.Namespace) -> int:
    prod, who = await _shell_actor(studio, args)
    data = shotlist.read_file(args.file, studio.settings.shot_list_max_bytes)
    report = await shotlist.import_shots(studio.db, prod, who, data, args.file.name,
                                         max_bytes=studio.settings.shot_list_max_bytes)
    print(f"imported {args.file.name}: {report.summary()}")
    return 0


@command("chapters")
async def cmd_chapters(studio: Studio, args: argparse.Namespace) -> int:
    prod = await board.get(studio.db, args.guild)
    print(render_board(prod.title, await board.board(studio.db, prod)))
    return 0


@command("chapter")
async def cmd_chapter(studio: Studio, args: argparse.Namespace) -> int:
    prod = await board.get(studio.db, args.guild)
    detail = await board.chapter_detail(studio.db, prod, args.number)
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
    prod = await board.get(studio.db, args.guild)
    who = await _named(studio, prod, args)
    chapter = await claims.claim(studio.db, prod, who, args.number)
    print(f"{who.name} now holds chapter {chapter.number}: {chapter.title}")
    return 0


@command("release")
async def cmd_release(studio: Studio, args: argparse.Namespace) -> int:
    prod = await board.get(studio.db, args.guild)
    who = await _named(studio, prod, args)
    chapter = await claims.release(studio.db, prod, who, args.number)
    print(f"chapter {chapter.number} is open again")
    return 0


@command("assign")
async def cmd_assign(studio: Studio, args: argparse.Namespace) -> int:
    prod, who = await _shell_actor(studio, args)
    to = await member_names.resolve(studio.db, prod, args.member,
                                    create=args.new_member or args.new_assignee)
    chapter = await claims.assign(studio.db, prod, who, args.number, to)
    print(f"chapter {chapter.number} is assigned to {to.name}")
    return 0


@command("unassign")
async def cmd_unassign(studio: Studio, args: argparse.Namespace) -> int:
    prod, who = await _shell_actor(studio, args)
    chapter = await claims.unassign(studio.db, prod, who, args.number)
    print(f"chapter {chapter.number} is open again")
    return 0


@command("due")
async def cmd_due(studio: Studio, args: argparse.Namespace) -> int:
    prod, who = await _shell_actor(studio, args)
    chapter = await schedule.set_due(studio.db, prod, who, args.number, args.date)
    print(f"chapter {chapter.number} is due {chapter.due_date or '(no date)'}")
    return 0


@command("backup")
async def cmd_backup(studio: Studio, args: argparse.Namespace) -> int:
    from studio.ops import backups

    if args.path is None:
        target = await backups.backup_now(studio)
    else:
        target = await backups.backup_to(studio.db, args.path)
    print(f"backup written to {target}")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    from studio.ops import backups

    # Not through Studio.open: opening would migrate and hold the database being replaced.
    try:
        report = backups.restore(settings, args.file, force=args.force)
    except SlateError as exc:
        print(refusal(exc), file=sys.stderr)
        return 1
    kept = f"; the previous database is kept as {report.kept}" if report.kept else ""
    print(f"restored {args.file} (schema version {report.version}) to {report.database}{kept}")
    print("migrations newer than the backup run when Slate next starts")
    return 0


@command("gc")
async def cmd_gc(studio: Studio, args: argparse.Namespace) -> int:
    from studio.ops import backups

    report = await backups.collect_garbage(studio, delete=args.delete, min_age=args.min_age)
    for path in report.unused_files:
        print(f"{'removed' if args.delete else 'unused'}: {path}")
    for sha in report.unused_rows:
        print(f"{'removed row' if args.delete else 'unused row'}: media_file {sha}")
    print(report.summary())
    if not args.delete and (report.unused_files or report.unused_rows):
        print("dry run: nothing changed; run `python bot.py gc --delete` to remove them")
    return 0


class ProgressLine:
    """ffmpeg's progress as one rewritten line on stderr (a plain log line when not a tty)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.last = ("", -1)
        self.started = time.monotonic()

    def __call__(self, stage: str, fraction: float) -> None:
        shown = (stage, int(fraction * 20))
        if not self.enabled or shown == self.last:
            return
        self.last = shown
        bar = "#" * shown[1] + "." * (20 - shown[1])
        end = "\r" if sys.stderr.isatty() else "\n"
        elapsed = time.monotonic() - self.started
        print(f"  {stage:<20} [{bar}] {fraction:4.0%} {elapsed:6.1f}s", end=end,
              file=sys.stderr, flush=True)


def render_cut(settings: Settings, result: CutResult) -> str:
    from studio.cut import publish

    lines = [f"cut {result.cut.version} published: {result.film}",
             f"  runtime {result.timeline.duration:.1f}s, "
             f"{len(result.timeline.approved)}/{len(result.timeline.shots)} shots approved, "
             f"{result.encoded} segments encoded, {result.reused} reused from the cache; "
             f"sound: {result.sound_encoded} pieces encoded, {result.sound_reused} reused",
             f"  preview:   {result.preview or '(too big to post to Discord)'}",
             *([f"  link:      {link}"] if (link := publish.film_link(settings,
                                                               result.directory)) else []),
             *(f"  {kind:<9}  {path}" for kind, path in result.editorial.items()),
             f"  credits:   {result.credits}",
             f"  changelog: {result.directory / 'changelog.md'}"]
    for b in result.broken:
        lines.append(f"  BROKEN: shot {b.code} take {b.take_id} ({b.owner or 'open'}): "
                     f"{b.reason}")
    for s in result.broken_stems:
        lines.append(f"  BROKEN: chapter {s.chapter}'s {s.kind} stem ({s.owner or 'open'}) left "
                     f"out: {s.reason}")
    return "\n".join(lines)


@command("cut")
async def cmd_cut(studio: Studio, args: argparse.Namespace) -> int:
    from studio.cut import build

    prod = await board.get(studio.db, args.guild)
    result = await build.build(studio, prod, trigger="shell",
                             on_progress=ProgressLine(not args.quiet))
    await build.handed_off(result)  # the paths printed are there when this returns
    print(render_cut(studio.settings, result))
    print()
    print(result.changelog)
    return 0


@command("cuts")
async def cmd_cuts(studio: Studio, args: argparse.Namespace) -> int:
    from studio.cut import build, liveness

    prod = await board.get(studio.db, args.guild)
    await liveness.settle_interrupted(studio, prod)  # a killed build is not `building`
    running, latest = await build.status(studio, prod)
    if running:
        print(f"building cut {running.version}: {running.stage} {running.fraction:.0%}")
    for c in await build.history(studio, prod):
        print(f"cut {c.version:>4}  {c.state:<9}  {c.started_at[:16]}  "
              f"{(c.duration or 0):7.1f}s  {c.shots_approved}/{c.shots_total}  "
              f"{c.path or c.verdict}")
    if latest is not None:
        print()
        print(latest.changelog)
    return 0
@command("serve")
async def cmd_serve(studio: Studio, args: argparse.Namespace) -> int:
    from web import serving

    return await serving.serve_until_stopped(studio, args.guild)


@command("handoff")
async def cmd_handoff(studio: Studio, args: argparse.Namespace) -> int:
    from studio.cut import handoff

    prod = await board.get(studio.db, args.guild)
    version, where = await handoff.export(studio, prod, args.version, args.dir)
    print(f"cut {version}'s hand-off is in {where} (open cut.xml in Premiere or Resolve, "
          "cut.otio in an OTIO tool; README.txt says more)")
    return 0


@command("notion-connect")
async def cmd_notion_connect(studio: Studio, args: argparse.Namespace) -> int:
    from studio.notion.sync import NotionService

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
    from studio.notion.sync import NotionService

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


class DemoFace:
    """The demo on a terminal: narration on stdout, ffmpeg's progress on stderr."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._progress: ProgressLine | None = None

    def say(self, text: str) -> None:
        print(text, flush=True)

    def progress(self, stage: str, fraction: float) -> None:
        if self._progress is None or (stage == "normalizing" and fraction == 0.0):
            self._progress = ProgressLine()
        self._progress(stage, fraction)

    def cut(self, result: CutResult) -> None:
        print(render_cut(self.settings, result), flush=True)

    def board(self, title: str, rows: list[ChapterProgress]) -> None:
        print(render_board(title, rows), flush=True)


async def demo(settings: Settings, chapters: int, serve: bool = False) -> int:
    """The main job on embedded defaults: the whole pipeline, in DATA_DIR/demo."""
    import demo as script

    try:
        return await script.run(settings, chapters, DemoFace(settings), serve=serve)
    except SlateError as exc:
        print(refusal(exc), file=sys.stderr)
        return 1


# --- generations, takes, stems, characters, jobs, budget ------------------------------------

def generation_parsers(sub: argparse._SubParsersAction) -> None:
    take = sub.add_parser("take", help="takes made elsewhere").add_subparsers(
        dest="action", metavar="action", required=True)
    p = take.add_parser("add", help="add a video, image or audio file as a take of a shot")
    p.add_argument("--shot", required=True, help="the shot, e.g. 3.2")
    p.add_argument("file", type=Path)
    p.add_argument("--tool", help="the tool that made it: Midjourney, DALL·E, Stable "
                                  "Diffusion, ComfyUI, Runway, Pika, Kling, Luma, Magnific, "
                                  "ElevenLabs, other (or any name)")
    p.add_argument("--model", help="the tool's model or version")
    p.add_argument("--prompt", help="the prompt it was made from")
    p.add_argument("--seed", type=int)
    p.add_argument("--motion", type=int, help="1 (almost still) to 10")
    p.add_argument("--cost", type=float, help="what it cost in US dollars (counted in budget)")
    p.add_argument("--source-url", dest="source_url", help="the tool's page for the job")
    p.add_argument("--based-on", dest="based_on", type=int,
                   help="the take it was made from (its revision: r1 → 1)")
    p = take.add_parser("list", help="a shot's takes with their provenance and chains")
    p.add_argument("--shot", required=True, help="the shot, e.g. 3.2")
    stem = sub.add_parser("stem", help="a chapter's audio stems").add_subparsers(
        dest="action", metavar="action", required=True)
    p = stem.add_parser("add", help="add a chapter's VO, SFX or music stem (audio)")
    p.add_argument("--chapter", type=int, required=True)
    p.add_argument("--kind", required=True, choices=STEM_KINDS)
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
    from studio.generation import lineage, requests

    prod, who = await _shell_actor(studio, args)
    if args.action == "list":
        for line in await lineage.of_shot(studio, prod, args.shot):
            print("  " + render_take_line(line))
        return 0
    if not args.file.is_file():
        print(f"slate: cannot read {args.file}", file=sys.stderr)
        return 1
    declared = {name: getattr(args, name) for name in ("tool", "model", "prompt", "seed",
                                                       "motion", "cost", "source_url",
                                                       "based_on")
                if getattr(args, name) is not None}
    take = await requests.upload_take(studio, prod, who, args.shot, args.file,
                                      original_name=args.file.name, declared=declared)
    print(f"take {take.id}: shot {args.shot} revision {take.revision} ({take.kind}), "
          f"sha256 {take.media_sha256[:12]}")
    made = next(t for t in await lineage.of_shot(studio, prod, args.shot)
                if t.take.id == take.id)
    print("  " + render_take_line(made))
    return 0


def render_take_line(line: TakeLine) -> str:
    """'r2 image · Magnific ← r1 image · Midjourney · model v7 · seed 5 · $0.30 · <url>'."""
    take = line.take
    parts = [line.chain_text()]
    if take.model:
        parts.append(f"model {take.model}")
    if take.seed is not None:
        parts.append(f"seed {take.seed}")
    parts.append(f"${take.cost:.2f}")
    motion = json.loads(take.params or "{}").get("motion")
    if motion is not None:
        parts.append(f"motion {motion}")
    if take.source_url:
        parts.append(take.source_url)
    text = " · ".join(parts)
    return text + (f"\n    “{take.prompt[:200]}”" if take.prompt else "")


@command("stem")
async def cmd_stem(studio: Studio, args: argparse.Namespace) -> int:
    from studio.generation.takes import add_stem

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
    from studio.generation import requests

    prod, who = await _shell_actor(studio, args)
    queue = requests.queue(studio)
    try:
        queue.listeners.append(lambda job: print(f"  job {job.id}: {job.state} "
                                                 f"{job.progress:.0%}", file=sys.stderr))
        take = await requests.run_now(
            studio, prod, who, args.shot, kind=args.kind, prompt=args.prompt,
            negative_prompt=args.negative, seed=args.seed, provider=args.provider,
            duration=args.duration, ratio=args.ratio, motion=args.motion,
            image_take=args.image_take, strength=args.strength, voice_id=args.voice)
    finally:
        await requests.close_queue(studio)
    print(f"take {take.id}: shot {args.shot} revision {take.revision} ({take.kind}) by "
          f"{take.provider}, seed {take.seed}, cost ${take.cost:.2f}")
    return 0


@command("jobs")
async def cmd_jobs(studio: Studio, args: argparse.Namespace) -> int:
    from studio.generation import requests

    prod, who = await _shell_actor(studio, args)
    if args.cancel is not None:
        try:
            job = await requests.cancel(studio, prod, who, args.cancel)
        finally:
            await requests.close_queue(studio)
        print(f"job {job.id} is {job.state}")
        return 0
    rows = await requests.jobs_of(studio, prod, who, everyone=True, open_only=args.open,
                                  limit=100)
    for job in rows:
        print(f"{job.id:>5}  {job.kind:<8} {job.provider:<11} {job.state:<10} "
              f"{job.progress:>4.0%}  ${job.cost:>6.2f}  {job.error[:60]}")
    print(f"{len(rows)} jobs")
    return 0


@command("budget")
async def cmd_budget(studio: Studio, args: argparse.Namespace) -> int:
    from studio.generation import requests

    prod = await board.get(studio.db, args.guild)
    spent, limit, rows = await requests.budget(studio, prod)
    print(f"spent ${spent:.2f}" + (f" of ${limit:.2f}" if limit else " (no budget set)")
          + " on generation")
    for row in rows:
        counted = f"{row.uploaded:>4} uploaded" if row.uploaded else f"{row.jobs:>4} jobs"
        print(f"  {row.member_name[:20]:<20} {row.provider[:16]:<16} {counted}  "
              f"${row.cost:.2f}")
    declared = sum(r.cost for r in rows if r.uploaded)
    if declared:
        print(f"declared on uploaded takes (creators' own tools): ${declared:.2f}")
    return 0


@command("character")
async def cmd_character(studio: Studio, args: argparse.Namespace) -> int:
    from studio.production import characters

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


# --- review: votes, approvals, retakes ------------------------------------------------------

def add_review_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("vote-status", help="a shot's vote: candidates and their tallies")
    p.add_argument("shot", help="chapter.shot, e.g. 3.2")
    p = sub.add_parser("vote-close", help="close a shot's running vote now")
    p.add_argument("shot")
    p = sub.add_parser("approve", help="approve a take directly, e.g. 3.2r2")
    p.add_argument("take")
    p = sub.add_parser("retake", help="send a shot back to its owner with a note")
    p.add_argument("shot")
    p.add_argument("note")
    sub.add_parser("review-queue", help="shots waiting for a vote or a decision, oldest first")
    p = sub.add_parser("review-settings", help="show or change how votes decide")
    p.add_argument("--quorum", type=int)
    p.add_argument("--margin", type=float)
    p.add_argument("--creator-votes-count", type=int, choices=(0, 1))
    p.add_argument("--producer-weight", type=float)
    p.add_argument("--owner-may-approve", type=int, choices=(0, 1))
    p.add_argument("--vote-hours", type=float)


def render_vote(found: windows.VoteStatus) -> str:
    window = found.window
    head = f"shot {found.ref.code}: " + (
        "never put to the vote" if window is None else
        f"vote {window.state}" + (f" ({window.outcome})" if window.outcome else "") +
        f", deadline {window.deadline}")
    lines = [head, f"  {found.voters} voter(s); quorum {found.rules.quorum}, "
                   f"margin {found.rules.margin:g}"]
    for c in found.candidates:
        lines.append(f"  r{c.take.revision:<3} {c.take.status:<10} score {c.tally.score:+g} "
                     f"(+{c.tally.votes_for:g} / -{c.tally.votes_against:g}, "
                     f"{c.tally.voters} vote(s))")
    return "\n".join(lines)


@command("vote-status")
async def cmd_vote_status(studio: Studio, args: argparse.Namespace) -> int:
    prod = await board.get(studio.db, args.guild)
    print(render_vote(await windows.status(studio.db, prod, args.shot)))
    return 0


@command("vote-close")
async def cmd_vote_close(studio: Studio, args: argparse.Namespace) -> int:
    prod, who = await _shell_actor(studio, args)
    closing = await windows.close_vote(studio.db, prod, who, args.shot)
    print(render_vote(closing.status))
    if closing.approval is not None:
        print(f"approved {closing.approval.ref.code}r{closing.approval.take.revision}")
    else:
        print(f"no winner ({closing.outcome}): a producer decides with approve or retake")
    return 0


@command("approve")
async def cmd_approve(studio: Studio, args: argparse.Namespace) -> int:
    prod, who = await _shell_actor(studio, args)
    done = await approvals.approve(studio.db, prod, who, args.take)
    replaced = f" (replacing r{done.previous.revision})" if done.previous else ""
    print(f"approved {done.ref.code}r{done.take.revision}{replaced}")
    return 0


@command("retake")
async def cmd_retake(studio: Studio, args: argparse.Namespace) -> int:
    prod, who = await _shell_actor(studio, args)
    done = await approvals.retake(studio.db, prod, who, args.shot, args.note)
    print(f"shot {done.ref.code} sent back to {done.owner.name if done.owner else 'nobody'}: "
          f"{done.note}")
    return 0


@command("review-queue")
async def cmd_review_queue(studio: Studio, args: argparse.Namespace) -> int:
    prod = await board.get(studio.db, args.guild)
    items = await review_queue.queue(studio.db, prod)
    for item in items:
        print(f"{item.ref.code:<6} {item.kind:<9} since {item.since}  "
              f"{item.candidates} candidate(s)")
    print(f"{len(items)} shot(s) waiting")
    return 0


@command("review-settings")
async def cmd_review_settings(studio: Studio, args: argparse.Namespace) -> int:
    prod, who = await _shell_actor(studio, args)
    given = {name: getattr(args, name) for name in (
        "quorum", "margin", "creator_votes_count", "producer_weight", "owner_may_approve",
        "vote_hours") if getattr(args, name) is not None}
    rules = (await review_rules.configure(studio.db, prod, who, **given) if given
             else await review_rules.settings_of(studio.db, prod))
    for name in ("quorum", "margin", "creator_votes_count", "producer_weight",
                 "owner_may_approve", "vote_hours"):
        print(f"{name.replace('_', '-')}: {getattr(rules, name):g}")
    return 0
