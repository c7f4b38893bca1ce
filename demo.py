"""The demo: the whole production pipeline on embedded defaults, with no account anywhere.

A production from examples/low_tide.csv; chapters claimed by sample members (and the refusals
the rules give); takes generated through the durable job queue on the animatic provider; the
candidates put to the vote, ballots cast through the review's reaction functions and the votes
closed under the production's quorum and margin; the producers decide what the votes left open;
stems added (VO from the animatic's voice); the cut built and verified; then the next day's
retake approved and an incremental cut with its changelog. Every figure printed is read back
from the database or the cut.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from storage import shots
from storage import takes as takes_repo
from storage.chapters import ChapterProgress
from storage.jobs import Job
from storage.productions import Production
from storage.shots import ShotRef
from storage.takes import Take
from studio import mediastore
from studio.app import Studio
from studio.cut import build
from studio.errors import SlateError
from studio.generation import requests
from studio.generation import takes as studio_takes
from studio.ops import screening_links
from studio.ops.settings import Settings
from studio.production import board, claims, shotlist
from studio.production import shots as production_shots
from studio.production.people import Actor, actor
from studio.review import approvals, ballots, windows
from studio.review import rules as review_rules
from studio.review.ballots import VOTE_AGAINST, VOTE_FOR, Voter

EXAMPLE_SHOT_LIST = Path(__file__).parent / "examples" / "low_tide.csv"
EXAMPLE_TITLE = "Low Tide"
PRODUCER = ("Producer", 1000)
# Sample members and the Discord ids their votes carry (votes are keyed by Discord id).
ROSTER = {"Maya": 1001, "Jonas": 1002, "Ife": 1003, "Ren": 1004, "Sol": 1005,
          "Noor": 1006, "Teo": 1007, "Ana": 1008, "Kit": 1009}
AUDIENCE = ("Noor", "Teo", "Ana", "Kit")  # members who only watch and vote
DEMO_CLAIMS = [("Maya", 1), ("Jonas", 2), ("Ife", 3), ("Ren", 4), ("Sol", 5), ("Maya", 6),
               ("Jonas", 7), ("Ife", 8), ("Sol", 1), ("Maya", 4)]
RETAKE_NOTE = "keep Pell's claws in frame and slow the move right down"
# The shell has no Discord: each candidate's ballot is a local message numbered from here.
BALLOT_BASE = 900_000


@dataclass(frozen=True)
class Roles:
    """The shots that show each way a vote can end (the rest are won by a plain vote)."""

    contest: str  # two candidates, the better one wins the vote
    no_quorum: str  # too few voters: the producers decide
    tie: str  # two candidates level: the producers decide
    retake: str  # voted down: sent back with a note, approved the next day

    @property
    def two_candidates(self) -> set[str]:
        return {self.contest, self.tie}


ROLES = Roles(contest="1.1", no_quorum="1.4", tie="2.1", retake="2.3")


def motion_for(camera: str) -> int:
    """The animatic's motion value (1 still .. 10 strongest) read from the shot's camera note."""
    note = camera.lower()
    for words, motion in ((("static", "insert", "macro"), 2), (("slow",), 3),
                          (("quick", "handheld", "tracking"), 8),
                          (("push", "pan", "tilt", "zoom", "dolly", "crane", "orbit"), 5)):
        if any(w in note for w in words):
            return motion
    return 4


def seed_for(ref: ShotRef, candidate: int) -> int:
    return ref.chapter_number * 1000 + ref.shot.number * 10 + candidate


@dataclass
class Ballots:
    """The votes the demo cast, by outcome, as the review recorded them."""

    cast: int = 0
    switched: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)


class Demo:
    """The demo's production and cast, and what its members did through the studio."""

    def __init__(self, studio: Studio, prod: Production, producer: Actor,
                 members: dict[str, Actor], say: Callable[[str], None]) -> None:
        self.studio = studio
        self.prod = prod
        self.producer = producer
        self.members = members
        self.say = say
        self.ballots = Ballots()
        # A member has at most MEMBER_MAX_CONCURRENT jobs in flight: the demo waits its turn.
        self.slots = {name: asyncio.Semaphore(studio.settings.member_max_concurrent)
                      for name in members}

    # --- generation through the job queue ---------------------------------------------------

    async def generate(self, who: Actor, code: str, kind: str, **options: object) -> Take:
        async with self.slots[who.name]:
            queued = await requests.request(self.studio, self.prod, who, code, kind,
                                            **options)  # type: ignore[arg-type]
            done = await requests.queue(self.studio).wait(queued.job.id, within=120)
        if done.state != "succeeded" or done.take_id is None:
            raise SlateError(f"job {done.id} for shot {code} {done.state}: {done.error}")
        found = await takes_repo.get(self.studio.db.reader, done.take_id)
        assert found is not None
        return found

    def owner_of(self, ref: ShotRef) -> Actor:
        for who in self.members.values():
            if who.id == ref.owner_id:
                return who
        return self.producer

    async def video_takes(self, refs: list[ShotRef]) -> list[Take]:
        work = []
        for ref in refs:
            who = self.owner_of(ref)
            count = 2 if ref.code in ROLES.two_candidates else 1
            for candidate in range(1, count + 1):
                work.append(self.generate(who, ref.code, "video", seed=seed_for(ref, candidate),
                                          motion=motion_for(ref.shot.camera)))
        return list(await asyncio.gather(*work))

    # --- votes --------------------------------------------------------------------------------

    async def put_to_vote(self, code: str) -> windows.VoteStatus:
        status = await windows.open_vote(self.studio.db, self.prod, self.producer, code)
        assert status.window is not None
        for take in status.unposted:
            await windows.record_posted(self.studio.db, status.window.id, take.id, 0,
                                       BALLOT_BASE + take.id)
        return await windows.status(self.studio.db, self.prod, code)

    async def cast(self, status: windows.VoteStatus, votes: list[list[int]]) -> None:
        """votes[i]: the audience's votes (+1, -1, 0 none) on the i-th candidate."""
        for candidate, values in zip(status.candidates, votes, strict=False):
            assert candidate.message is not None
            for name, value in zip(AUDIENCE, values, strict=False):
                if value == 0:
                    continue
                change = await ballots.reaction_added(
                    self.studio.db, candidate.message.message_id,
                    Voter(ROSTER[name], name), VOTE_FOR if value > 0 else VOTE_AGAINST)
                if change is not None and change.before is None:
                    self.ballots.cast += 1

    async def switch(self, status: windows.VoteStatus, index: int, name: str) -> None:
        """A member changes their mind: the other reaction replaces their vote."""
        message = status.candidates[index].message
        assert message is not None
        change = await ballots.reaction_added(self.studio.db, message.message_id,
                                             Voter(ROSTER[name], name), VOTE_AGAINST)
        if change is not None and change.before not in (None, change.after):
            self.ballots.switched += 1

    async def close(self, code: str) -> windows.Closing:
        closing = await windows.close_vote(self.studio.db, self.prod, self.producer, code)
        self.ballots.outcomes[closing.outcome] += 1
        return closing


def ballots_for(code: str, candidates: int) -> list[list[int]]:
    """The audience's votes on a shot: scripted so each role ends the way it shows."""
    if code == ROLES.contest:
        return [[1, 1, -1, 0], [1, 1, 1, 1]]
    if code == ROLES.tie:
        return [[1, 1, 0, 0], [0, 0, 1, 1]]
    if code == ROLES.no_quorum:
        return [[1, 1, 0, 0]]
    if code == ROLES.retake:
        return [[-1, -1, -1, 1]]
    return [[1, 1, 1, -1]][:candidates]


def tally_line(status: windows.VoteStatus) -> str:
    return ", ".join(f"r{c.take.revision} {c.tally.score:+g} ({c.tally.voters} votes)"
                     for c in status.candidates)


class Face(Protocol):
    """How the demo shows itself (the shell prints)."""

    def say(self, text: str) -> None: ...
    def progress(self, stage: str, fraction: float) -> None: ...
    def cut(self, result: build.CutResult) -> None: ...
    def board(self, title: str, rows: list[ChapterProgress]) -> None: ...


async def run(settings: Settings, chapters: int, face: Face, *, serve: bool = False) -> int:
    """Run the demo in DATA_DIR/demo (wiped first); 0 when every job succeeded. It ends with
    the screening page's address, served until Ctrl-C when `serve` (a terminal asked for it)."""
    demo_dir = settings.data_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    settings = settings.model_copy(update={"data_dir": demo_dir, "database": None,
                                           "media_dir": None})
    studio = await Studio.open(settings)
    try:
        code = await _run(studio, chapters, face)
        await screen(studio, face, serve)
        return code
    finally:
        await requests.close_queue(studio)
        await studio.close()


async def _run(studio: Studio, chapters: int, face: Face) -> int:
    settings, say = studio.settings, face.say
    prod = await board.setup(studio.db, board.SHELL_GUILD, EXAMPLE_TITLE,
                                  producer_role=settings.producer_role,
                                  max_chapters=settings.max_chapters_per_creator)
    producer = await actor(studio.db, prod, PRODUCER[0], discord_id=PRODUCER[1],
                           is_producer=True)
    report = await shotlist.import_shots(studio.db, prod, producer,
                                         EXAMPLE_SHOT_LIST.read_bytes(), EXAMPLE_SHOT_LIST.name)
    say(f"imported {EXAMPLE_SHOT_LIST.name}: {report.summary()}")
    members = {name: await actor(studio.db, prod, name, discord_id=discord_id)
               for name, discord_id in ROSTER.items()}
    # Two claims each, then two that the rules refuse, to show the refusals' reasons.
    for name, number in DEMO_CLAIMS:
        try:
            await claims.claim(studio.db, prod, members[name], number)
            say(f"  {name} claims chapter {number}")
        except SlateError as exc:
            say(f"  {name} cannot claim chapter {number}: {exc.reason}")
    demo = Demo(studio, prod, producer, members, say)
    await requests.queue(studio).start()

    # Day 1: every shot of the first chapters gets its takes from the animatic, via the queue.
    refs = [r for r in await shots.of_production(studio.db.reader, prod.id)
            if r.chapter_number <= chapters]
    say(f"\nday 1: the owners of chapters 1–{chapters} generate their {len(refs)} shots on "
        "the animatic provider (motion from each shot's camera note)")
    made = await demo.video_takes(refs)
    say(f"  {await jobs_line(demo)}; {len(made)} candidate takes, "
        f"{sum(1 for t in made if t.preview_sha256)} with previews")

    rules = await review_rules.settings_of(studio.db, prod)
    say(f"\nthe votes (quorum {rules.quorum} voters, margin {rules.margin:g}): "
        f"{', '.join(AUDIENCE)} react {VOTE_FOR}/{VOTE_AGAINST} on each candidate")
    closings: dict[str, windows.Closing] = {}
    for ref in refs:
        status = await demo.put_to_vote(ref.code)
        await demo.cast(status, ballots_for(ref.code, len(status.candidates)))
        if ref.code == ROLES.contest:
            await demo.switch(status, 0, AUDIENCE[1])
        closings[ref.code] = await demo.close(ref.code)
    plain = 0
    for code, closing in closings.items():
        if closing.approval is not None and code != ROLES.contest:
            plain += 1
        elif closing.approval is not None:
            say(f"  {code}: approved by vote: r{closing.approval.take.revision} "
                f"({tally_line(closing.status)}; {demo.ballots.switched} vote switched)")
        else:
            say(f"  {code}: {closing.outcome.replace('_', ' ')} ({tally_line(closing.status)}; "
                f"{closing.status.voters} voters) → the producers decide")
    say(f"  {plain} more shots approved by vote")

    # The producers decide what the votes left open: approve directly, or send back a note.
    for code, closing in closings.items():
        if closing.approval is not None:
            continue
        if code == ROLES.retake:
            sent = await approvals.retake(studio.db, prod, producer, code, RETAKE_NOTE)
            say(f"  {code}: retake for {sent.owner.name if sent.owner else 'nobody'}: "
                f"\"{sent.note}\" ({len(sent.rejected)} take rejected)")
            continue
        best = max(closing.status.candidates, key=lambda c: (c.tally.score, -c.take.revision))
        done = await approvals.approve(studio.db, prod, producer, f"{code}r{best.take.revision}")
        say(f"  {code}: approved directly by {producer.name}: r{done.take.revision}")

    # Stems: a VO line per chapter from the animatic's voice, tones where the notes ask.
    say("\nstems")
    await add_stems(demo, chapters)

    say("\nnight 1: the cut")
    first = await build.build(studio, prod, trigger="demo", on_progress=face.progress)
    face.cut(first)

    # Day 2: the retake comes back as the note asked (a slower move) and wins its vote.
    ref = await production_shots.shot(studio.db, prod, ROLES.retake)
    owner = demo.owner_of(ref)
    again = await demo.generate(owner, ref.code, "video", seed=seed_for(ref, 9), motion=1,
                                prompt=f"{ref.shot.description}; {RETAKE_NOTE}")
    status = await demo.put_to_vote(ref.code)
    await demo.cast(status, [[1, 1, 1, 0]])
    closing = await demo.close(ref.code)
    verdict = (f"approved by vote: r{closing.approval.take.revision}" if closing.approval
               else closing.outcome.replace("_", " "))
    say(f"\nday 2: {owner.name} generates {ref.code}r{again.revision} as the note asked; "
        f"{verdict} ({tally_line(closing.status)})")
    say("\nnight 2: the incremental cut")
    second = await build.build(studio, prod, trigger="demo", on_progress=face.progress)
    face.cut(second)
    say("")
    say(second.changelog.rstrip())

    say(f"\n{await jobs_line(demo)}, spent "
        f"${(await requests.budget(studio, prod))[0]:.2f}")
    say(f"votes: {demo.ballots.cast} recorded, {demo.ballots.switched} switched; votes closed: "
        + ", ".join(f"{n} {o.replace('_', ' ')}" for o, n in sorted(
            demo.ballots.outcomes.items())))
    say("")
    face.board(prod.title, await board.board(studio.db, prod))
    await build.handed_off(second)
    say(f"\nfilm:      {second.film}")
    for kind, path in second.editorial.items():
        say(f"{kind + ':':<10} {path}")
    say(f"credits:   {second.credits}")
    say(f"changelog: {second.directory / 'changelog.md'}")
    say(f"database:  {settings.database_path}")
    unfinished = [j for j in await all_jobs(demo) if j.state != "succeeded"]
    return 1 if unfinished else 0


async def screen(studio: Studio, face: Face, serve: bool) -> None:
    """The screening page's address; served here until Ctrl-C when `serve`."""
    from web import serving

    prod = await board.get(studio.db, board.SHELL_GUILD)
    _, latest = await build.status(studio, prod)
    if latest is None:
        return
    if not serve:
        link = screening_links.screening_link(studio.settings, prod.id, latest.version)
        face.say(f"screening: {link}")
        face.say(f"           (to watch it: SLATE_DATA_DIR={studio.settings.data_dir} "
                 "python bot.py serve, which prints a fresh link)")
        return
    server = await serving.start(studio, face.say)
    if server is None:
        return
    try:
        link = screening_links.screening_link(studio.settings, prod.id, latest.version,
                                              base=serving.base_for(studio, server))
        face.say(f"screening: {link}")
        face.say("serving the screening room until Ctrl-C")
        await serving.until_stopped()
    finally:
        await server.stop()


async def all_jobs(demo: Demo) -> list[Job]:
    return await requests.jobs_of(demo.studio, demo.prod, demo.producer, everyone=True,
                                  limit=100_000)


async def jobs_line(demo: Demo) -> str:
    found = await all_jobs(demo)
    states = Counter(j.state for j in found)
    return f"{len(found)} jobs through the queue: " + ", ".join(
        f"{n} {s}" for s, n in sorted(states.items()))


async def add_stems(demo: Demo, chapters: int) -> None:
    from studio.generation.standin import make_tone

    studio, prod = demo.studio, demo.prod
    folder = studio.settings.data_dir / "incoming"
    folder.mkdir(parents=True, exist_ok=True)

    async def chapter_stems(number: int) -> str:
        detail = await board.chapter_detail(studio.db, prod, number)
        who = next((m for m in demo.members.values() if detail.owner
                    and m.id == detail.owner.id), demo.producer)
        line = detail.chapter.synopsis or detail.chapter.title
        voice = await demo.generate(who, f"{number}.1", "voice", prompt=line)
        vo_file = mediastore.path_for(studio.settings.media_path, voice.media_sha256)
        await studio_takes.add_stem(studio, prod, who, number, "vo", vo_file,
                             original_name=f"chapter {number} vo.wav")
        length = sum(s.planned_duration for s in detail.shots)
        for kind, word, tone in (("sfx", "sfx:", 880), ("music", "music:", 392)):
            if any(word in s.notes.lower() for s in detail.shots):
                path = await asyncio.to_thread(make_tone, folder / f"ch{number} {kind}.wav",
                                               length, tone + number)
                await studio_takes.add_stem(studio, prod, who, number, kind, path)
        stems = await studio_takes.stems_of(studio, prod, number)
        return (f"  chapter {number}: " + ", ".join(s.kind for s in stems)
                + f" (VO: {voice.provider} voice, job {voice.job_id}, take {voice.id})")

    for line in await asyncio.gather(*(chapter_stems(n) for n in range(1, chapters + 1))):
        demo.say(line)
