"""A bounded soak on loopback: the real bot under a steady mix of work, then nothing may be lost.

The real Slate bot (bot.make_bot over a Studio) logs into the loopback fake Discord
(tests/fakes/discord). Many members use it at once: slash commands (claims, releases, the board,
shot info, /generate on the animatic provider so jobs run to completion, /vote open, /approve
via its autocomplete, /cut now) and reactions on the candidate takes (votes added, removed and
switched). Midway the gateway is forced to reconnect (op 7) and, later, the bot restarts (the
bot and its Studio closed, a new one started on the same data directory) while reactions keep
coming. At the end nothing may be lost: every acknowledged claim and release matches the board,
every vote the fake shows on each candidate message equals the stored ballot, every
acknowledged job reached a final state and each succeeded job made exactly one take, the
approvals are the ones acknowledged, the last cut verified, and no interaction failed. RSS is
sampled from the health server's /metrics; a soak whose memory keeps growing fails.

Shots numbered 1–2 in each chapter are voted on and never approved (their votes stay open, so
every reaction must count); shots 3–5 are approved directly and never voted on.

Usage: python bench/soak.py [--seconds 120] [--members 12] [--out bench/SOAK.md]
(at most 540 seconds of load, then up to a minute of checks; it stops by itself.)
Its last line is a JSON summary for bench/run_all.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import candidates, cuts, jobs, shots, takes, votes
from storage.productions import Production
from studio.app import Studio
from studio.ops import health
from studio.ops.logging_setup import setup_logging
from studio.ops.settings import Settings, load_settings
from studio.production import board as production_board
from studio.production import shotlist
from studio.production.people import actor
from studio.review.ballots import VOTE_AGAINST, VOTE_FOR
from tests.fakes.discord import Channel, FakeDiscord, InteractionFailed, Reply, User
from tests.fakes.discord.fixtures import SlateRunner
from tests.fakes.discord.server import DISCORD_EPOCH_MS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "low_tide.csv"
MAX_SECONDS = 540.0  # of load; with the settling and the last cut it ends within 10 minutes
CHAPTERS = 8
SHOTS_PER_CHAPTER = 5
VOTED = (1, 2)  # shot numbers put to the vote; the others are approved directly
GROWTH_LIMIT = 1.10  # RSS of the last third may exceed the middle third's by at most 10 %
SETTLE_SECONDS = 30.0
JOB_ID = re.compile(r"\*\*Job #(\d+)\*\*")  # as the job card begins
log = logging.getLogger("slate.soak")


@dataclass
class Ledger:
    """What the members were told: every acknowledged change, every refusal, every surprise."""

    owners: dict[int, str | None] = field(default_factory=dict)  # chapter → member name
    jobs: dict[int, str] = field(default_factory=dict)  # acknowledged job id → shot code
    approvals: dict[str, int] = field(default_factory=dict)  # shot code → approved revision
    acknowledged: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    reactions: Counter[str] = field(default_factory=Counter)
    while_down: int = 0  # reactions made while the bot was stopped (counted in `reactions`)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cuts: list[int] = field(default_factory=list)


@dataclass
class Soak:
    fake: FakeDiscord
    runner: SlateRunner
    producer: User
    members: list[User]
    takes_channel: Channel
    ledger: Ledger
    rng: random.Random
    # Cleared while the bot restarts: no slash command is sent to a bot that is not there.
    serving: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0
    # One command at a time per chapter or shot, so the ledger learns answers in commit order.
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def lock(self, key: str) -> asyncio.Lock:
        return self.locks.setdefault(key, asyncio.Lock())

    @property
    def studio(self) -> Studio:
        assert self.runner.studio is not None
        return self.runner.studio


def with_takes(soak: Soak, voted: bool) -> str:
    """Mostly a shot with acknowledged generations (so it has candidates), sometimes any."""
    known = sorted({code for code in soak.ledger.jobs.values()
                    if (int(code.split(".")[1]) in VOTED) == voted})
    if known and soak.rng.random() < 0.8:
        return soak.rng.choice(known)
    return shot_code(soak.rng, voted)


def shot_code(rng: random.Random, voted: bool | None = None) -> str:
    numbers = {True: VOTED, False: tuple(n for n in range(1, SHOTS_PER_CHAPTER + 1)
                                         if n not in VOTED),
               None: tuple(range(1, SHOTS_PER_CHAPTER + 1))}[voted]
    return f"{rng.randint(1, CHAPTERS)}.{rng.choice(numbers)}"


async def slash(soak: Soak, who: User, path: str, what: str, **options: object) -> Reply | None:
    """Send a command as `who`; a refusal is counted, an unexpected error is a problem."""
    started = time.perf_counter()
    try:
        reply = await soak.fake.as_user(who).slash(path, **options)
    except InteractionFailed as exc:
        soak.ledger.errors.append(f"/{path}: {exc}")
        return None
    soak.ledger.latencies.append(time.perf_counter() - started)
    text = reply.text
    if "something went wrong" in text:
        soak.ledger.errors.append(f"/{path} {options}: {text[:200]}")
        return None
    if reply.ephemeral and what not in ("vote", "approve", "cut"):
        soak.ledger.refused[what] += 1
        return None
    return reply


# --- the mix: what members do ---------------------------------------------------------------

async def claim_or_release(soak: Soak, who: User) -> None:
    number = soak.rng.randint(1, CHAPTERS)
    ledger = soak.ledger
    async with soak.lock(f"chapter {number}"):
        if ledger.owners.get(number) == who.name:
            reply = await slash(soak, who, "chapter release", "release", chapter=number)
            if reply is not None and "is open again" in reply.text:
                ledger.owners[number] = None
                ledger.acknowledged["release"] += 1
        else:
            reply = await slash(soak, who, "chapter claim", "claim", chapter=number)
            if reply is not None and "now holds chapter" in reply.text:
                ledger.owners[number] = who.name
                ledger.acknowledged["claim"] += 1


async def board(soak: Soak, who: User) -> None:
    reply = await slash(soak, who, "production status", "board")
    if reply is not None and reply.embeds:
        soak.ledger.acknowledged["board"] += 1


async def shot_info(soak: Soak, who: User) -> None:
    code = shot_code(soak.rng)
    reply = await slash(soak, who, "shot info", "shot info", shot=code)
    if reply is not None and code in reply.text:
        soak.ledger.acknowledged["shot info"] += 1


async def generate(soak: Soak, who: User) -> None:
    held = [n for n, name in soak.ledger.owners.items() if name == who.name]
    if not held:
        return await claim_or_release(soak, who)
    code = f"{soak.rng.choice(held)}.{soak.rng.randint(1, SHOTS_PER_CHAPTER)}"
    reply = await slash(soak, who, "generate", "generate", kind="video", shot=code,
                        duration=1.0, motion=soak.rng.randint(1, 10))
    found = JOB_ID.search(reply.text) if reply is not None else None
    if found:
        soak.ledger.jobs[int(found.group(1))] = code
        soak.ledger.acknowledged["generate"] += 1
    return None


async def open_vote(soak: Soak, who: User) -> None:
    code = with_takes(soak, voted=True)
    reply = await slash(soak, soak.producer, "vote open", "vote", shot=code, hours=720.0)
    if reply is None:
        return
    if "is open until" in reply.text:
        soak.ledger.acknowledged["vote open"] += 1
    else:
        soak.ledger.refused["vote open"] += 1  # no candidate takes yet


async def approve(soak: Soak, who: User) -> None:
    """The producer types a shot into /approve's take field and picks a suggestion."""
    code = with_takes(soak, voted=False)
    started = time.perf_counter()
    try:
        choices = await soak.fake.as_user(soak.producer).autocomplete(
            "approve", "take", typed=f"{code}r")
    except InteractionFailed as exc:
        soak.ledger.errors.append(f"/approve autocomplete: {exc}")
        return
    soak.ledger.latencies.append(time.perf_counter() - started)
    if not choices:
        soak.ledger.refused["approve"] += 1  # nothing to approve on that shot yet
        return
    take = soak.rng.choice(choices)["value"]
    async with soak.lock(f"shot {code}"):
        reply = await slash(soak, soak.producer, "approve", "approve", take=take)
        if reply is None:
            return
        if "is approved" in reply.text:
            soak.ledger.approvals[code] = int(take.split("r")[1])
            soak.ledger.acknowledged["approve"] += 1
        else:
            soak.ledger.refused["approve"] += 1


def candidate_messages(fake: FakeDiscord, channel_id: int) -> dict[int, str]:
    """Takes' posts carrying a vote, in the takes channel's chapter threads (or the channel
    itself): message id → shot code."""
    where = {str(channel_id)} | {t["id"] for t in list(fake.threads)
                                 if t.get("parent_id") == str(channel_id)}
    found = {}
    for message in list(fake.messages.values()):
        text = message.get("content") or ""
        voting = any("Vote on shot" in (e.get("title") or "")
                     for e in message.get("embeds") or [])
        if message["channel_id"] in where and voting and text.startswith("🎬 **Shot "):
            found[int(message["id"])] = text.split()[2]
    return found


async def react(soak: Soak, who: User) -> None:
    """A vote added, switched or withdrawn on a candidate take of a voted shot."""
    posted = candidate_messages(soak.fake, soak.takes_channel.id)
    if not posted:
        return
    message_id = soak.rng.choice(sorted(posted))
    lists = soak.fake.reactions.get(message_id, {})
    mine = [e for e in (VOTE_FOR, VOTE_AGAINST) if who.id in lists.get(e, [])]
    member = soak.fake.as_user(who)
    if mine and soak.rng.random() < 0.3:
        await member.unreact(message_id, mine[0])
        soak.ledger.reactions["removed"] += 1
        return
    emoji = soak.rng.choice((VOTE_FOR, VOTE_AGAINST))
    if emoji in mine:
        return
    await member.react(message_id, emoji)
    soak.ledger.reactions["switched" if mine else "added"] += 1


Work = Callable[[Soak, User], Awaitable[None]]
# (work, weight): the mix the members produce. Reactions also go on during the restart.
MIX: list[tuple[Work, int]] = [(claim_or_release, 4), (board, 2), (shot_info, 3),
                               (generate, 3), (open_vote, 2), (approve, 2), (react, 12)]


async def member_loop(soak: Soak, who: User, deadline: float, pace: float) -> None:
    works, weights = zip(*MIX, strict=True)
    while time.monotonic() < deadline:
        work = soak.rng.choices(works, weights)[0]
        if work is not react:
            await soak.serving.wait()
        soak.in_flight += 1
        try:
            await work(soak, who)
        except Exception as exc:  # a fault of the harness or the bot: reported, never hidden
            soak.ledger.errors.append(f"{work.__name__}: {exc!r}")
        finally:
            soak.in_flight -= 1
        await asyncio.sleep(soak.rng.uniform(0, pace * 2))


# --- the disturbances -----------------------------------------------------------------------

async def until(check: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def force_reconnect(soak: Soak) -> None:
    """Discord's op 7 mid-load: the bot must reconnect and resume, missing nothing."""
    before = soak.fake.resumes
    await soak.fake.force_reconnect()
    if not await until(lambda: soak.fake.resumes > before, 15.0):
        soak.ledger.errors.append("the bot did not resume after a forced reconnect")


async def restart(soak: Soak, server: health.HealthServer) -> float:
    """Close the bot and its Studio, start a new one; slash commands wait, reactions do not."""
    soak.serving.clear()
    await until(lambda: soak.in_flight == 0, 60.0)
    started = time.perf_counter()
    server.refreshers = []
    await soak.runner.stop()
    # Votes cast while the bot is down: the new bot counts them from the reaction lists.
    for who in soak.members:
        await react(soak, who)
        soak.ledger.while_down += 1
    await soak.runner.start()
    watch(server, soak.studio)
    soak.serving.set()
    return time.perf_counter() - started


def watch(server: health.HealthServer, studio: Studio) -> None:
    server.checks.add("database", health.database_writable(studio.db))
    server.refreshers = [health.job_gauge(studio.db)]


async def build_cut(soak: Soak) -> None:
    """/cut now by the producer; the answer is deferred and edited until the cut is out."""
    await soak.serving.wait()
    reply = await slash(soak, soak.producer, "cut now", "cut")
    if reply is None:
        return
    message_id = reply.message_id or 0

    def final() -> str:
        message = soak.fake.messages.get(message_id) or {}
        text = message.get("content") or ""
        return "" if text.startswith("building cut") else text

    await until(lambda: bool(final()), 60.0)
    found = re.search(r"cut (\d+) is published", final())
    if found:
        soak.ledger.cuts.append(int(found.group(1)))
        soak.ledger.acknowledged["cut"] += 1
    else:
        soak.ledger.errors.append(f"/cut now: {(final() or reply.text)[:200]}")


TOKEN_LIFE_S = 15 * 60


def trim_fake(fake: FakeDiscord) -> None:
    """The fake shares the process: drop its own logs so RSS measures the bot, not the harness.

    Rejections, unknown routes and failed interactions are kept; those are what is checked.
    """
    fake.calls.clear()
    # An interaction's token lives 15 minutes: the bot may still edit its answer (job cards).
    for key in [k for k, i in fake.interactions.items()
                if i.settled.is_set() and fake.now() - i.created > TOKEN_LIFE_S]:
        del fake.interactions[key]
    # Answers to commands (in #general) are read when they arrive; forget them after 2 min.
    cutoff = (int(time.time() * 1000) - 120_000 - DISCORD_EPOCH_MS) << 22
    for key in [k for k, m in fake.messages.items()
                if m["channel_id"] == str(fake.general.id) and k < cutoff]:
        del fake.messages[key]
    for session in fake.sessions.values():
        del session.events[:-2000 if not session.closed else len(session.events)]
    for attachment in fake.files.values():
        attachment.data = b""


async def rss_sampler(port: int, started: float, stop: asyncio.Event, every: float,
                      samples: list[tuple[float, float]]) -> None:
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                text = await resp.text()
            for line in text.splitlines():
                if line.startswith("process_resident_memory_bytes "):
                    samples.append((time.monotonic() - started, float(line.split()[1])))
            try:
                await asyncio.wait_for(stop.wait(), every)
            except TimeoutError:
                pass


# --- the end: nothing lost ------------------------------------------------------------------

async def settle(soak: Soak) -> list[str]:
    """Wait for every acknowledged job to finish and every reaction to be stored."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        open_jobs = [j for j in soak.ledger.jobs
                     if (found := await jobs.get(soak.studio.db.reader, j)) is None
                     or not found.done]
        if not open_jobs and not await vote_mismatches(soak):
            return []
        await asyncio.sleep(0.2)
    return [f"not settled after {SETTLE_SECONDS:g} s"]


async def vote_mismatches(soak: Soak) -> list[str]:
    """Each candidate message: the ballots the fake shows against the ballots stored."""
    problems = []
    bot_id = soak.fake.bot_user.id
    db = soak.studio.db
    for message_id, code in candidate_messages(soak.fake, soak.takes_channel.id).items():
        lists = soak.fake.reactions.get(message_id, {})
        shown = {VOTE_FOR: set(lists.get(VOTE_FOR, [])) - {bot_id},
                 VOTE_AGAINST: set(lists.get(VOTE_AGAINST, [])) - {bot_id}}
        target = await candidates.by_message(db.reader, message_id)
        if target is None:
            problems.append(f"message {message_id} (shot {code}) is not on record")
            continue
        stored = await votes.by_discord_id(db.reader, target.take_id)
        on_record = {VOTE_FOR: {d for d, v in stored.items() if v.value == 1},
                     VOTE_AGAINST: {d for d, v in stored.items() if v.value == -1}}
        if shown != on_record:
            problems.append(f"shot {code} message {message_id}: Discord shows "
                            f"{len(shown[VOTE_FOR])}/{len(shown[VOTE_AGAINST])}, stored "
                            f"{len(on_record[VOTE_FOR])}/{len(on_record[VOTE_AGAINST])}")
    return problems


async def verify(soak: Soak, prod: Production) -> tuple[list[str], dict[str, int]]:
    problems: list[str] = []
    db = soak.studio.db
    for row in await production_board.board(db, prod):
        expected = soak.ledger.owners.get(row.chapter.number)
        if (row.owner_name or None) != expected:
            problems.append(f"chapter {row.chapter.number}: owner {row.owner_name!r}, "
                            f"acknowledged {expected!r}")
    problems += await vote_mismatches(soak)
    states: Counter[str] = Counter()
    if not soak.ledger.jobs:  # a soak that ran no job proves nothing about jobs
        problems.append("no /generate was acknowledged: no job was accounted for")
    for job_id, code in sorted(soak.ledger.jobs.items()):
        job = await jobs.get(db.reader, job_id)
        if job is None:
            problems.append(f"job {job_id} (shot {code}) was acknowledged but is not stored")
            continue
        states[job.state] += 1
        if not job.done:
            problems.append(f"job {job_id} is still {job.state}")
        elif job.state == "succeeded":
            made = [t for t in await takes.of_shot(db.reader, job.shot_id or 0)
                    if t.job_id == job_id]
            if len(made) != 1 or job.take_id != made[0].id:
                problems.append(f"job {job_id} succeeded with {len(made)} takes")
        else:
            problems.append(f"job {job_id} {job.state}: {job.error[:100]}")
    for code, revision in soak.ledger.approvals.items():
        chapter, number = map(int, code.split("."))
        ref = await shots.by_code(db.reader, prod.id, chapter, number)
        approved = await takes.get(db.reader, ref.shot.approved_take_id) \
            if ref is not None and ref.shot.approved_take_id else None
        if approved is None or approved.revision != revision:
            problems.append(f"shot {code}: r{revision} was acknowledged as approved, the "
                            f"database has {approved and approved.revision}")
    latest = await cuts.latest(db.reader, prod.id)
    if latest is None or latest.verdict != "verified" or not soak.ledger.cuts \
            or latest.version != soak.ledger.cuts[-1]:
        problems.append("the last acknowledged cut is not the latest verified one: "
                        f"{latest and (latest.version, latest.verdict)}, acknowledged "
                        f"{soak.ledger.cuts}")
    elif not (Path(latest.path or "") / "film.mp4").is_file():
        problems.append(f"cut {latest.version}'s film is missing")
    else:
        in_cut = {e["code"]: e["take_revision"] for e in latest.timeline_data["entries"]
                  if e["kind"] == "take"}
        if in_cut != soak.ledger.approvals:
            problems.append(f"cut {latest.version} holds {len(in_cut)} approved takes, "
                            f"{len(soak.ledger.approvals)} were acknowledged (or others)")
    fake = soak.fake
    problems += [f"interaction failed: {i.user.name}" for i in fake.failed_interactions]
    problems += [f"Discord would refuse {c.method} {c.path}: {c.status}" for c in fake.rejections]
    problems += [f"unknown route {r}" for r in fake.unknown_routes]
    return problems + soak.ledger.errors, dict(states)


def growth(samples: list[tuple[float, float]]) -> tuple[float, float, float]:
    """(middle third's peak, last third's peak, their ratio): about 1 when memory levelled off."""
    if len(samples) < 6:
        return 0.0, 0.0, 1.0
    third = len(samples) // 3
    middle = max(v for _, v in samples[third:2 * third])
    last = max(v for _, v in samples[2 * third:])
    return middle, last, last / middle


@dataclass
class Outcome:
    seconds: float
    members: int
    ledger: Ledger
    samples: list[tuple[float, float]]
    problems: list[str]
    job_states: dict[str, int]
    restart_seconds: float
    identifies: int
    resumes: int
    votes_on_record: int
    messages: int

    @property
    def failed(self) -> bool:
        return bool(self.problems) or growth(self.samples)[2] > GROWTH_LIMIT


def report(o: Outcome) -> str:
    middle, last, ratio = growth(o.samples)
    lat = sorted(o.ledger.latencies)
    interactions = len(lat)
    events = interactions + sum(o.ledger.reactions.values())
    p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0.0)
    lines = [
        "# Soak", "",
        "Written by `python bench/soak.py` (`make bench` runs a short one). The real bot against "
        "the loopback fake Discord, in one process; the fake's own logs are trimmed every 10 s "
        "so the RSS is the bot's.", "",
        f"- Verdict: **{'FAILED' if o.failed else 'passed'}**",
        f"- Ran {o.seconds:.0f} s with {o.members} members: {interactions} interactions and "
        f"{sum(o.ledger.reactions.values())} reactions ({events / o.seconds:.1f} events/s); "
        f"interaction latency p50 {p(0.5):.0f} ms, p95 {p(0.95):.0f} ms, max {p(1.0):.0f} ms.",
        f"- Disturbances: one forced gateway reconnect (resumes: {o.resumes}), one bot restart "
        f"({o.restart_seconds:.1f} s; gateway identifies: {o.identifies}), with "
        f"{o.ledger.while_down} reactions made while the bot was stopped.",
        f"- Acknowledged: {dict(sorted(o.ledger.acknowledged.items()))}.",
        f"- Refused with a reason: {dict(sorted(o.ledger.refused.items()))}.",
        f"- Reactions: {dict(sorted(o.ledger.reactions.items()))}; {o.messages} candidate "
        f"messages, {o.votes_on_record} votes on record, each message's ballots equal to what "
        f"Discord shows." if not any("Discord shows" in p for p in o.problems) else
        f"- Reactions: {dict(sorted(o.ledger.reactions.items()))}; MISMATCHES below.",
        f"- Jobs acknowledged: {len(o.ledger.jobs)}, final states {o.job_states}; each "
        f"succeeded job made exactly one take.",
        f"- Cuts acknowledged: {o.ledger.cuts}; the last one verified, holding exactly the "
        f"{len(o.ledger.approvals)} approved takes acknowledged.",
        f"- Lost or wrong: {len(o.problems)}" + ("" if not o.problems else ": " +
                                                "; ".join(o.problems[:15])),
        f"- RSS: middle third peak {middle / 2**20:.1f} MiB, last third peak "
        f"{last / 2**20:.1f} MiB, growth {ratio:.3f} (limit {GROWTH_LIMIT:.2f}).", "",
        "| t (s) | RSS (MiB) |", "|---:|---:|",
    ]
    step = max(1, len(o.samples) // 24)
    lines += [f"| {t:.0f} | {v / 2**20:.1f} |" for t, v in o.samples[::step]]
    return "\n".join(lines) + "\n"


def soak_settings(data: Path, guild_id: int) -> Settings:
    # Small media keep 2 cores free for the bot: 160-wide animatics, a 320x180 cut.
    return load_settings(data_dir=data, log_level="WARNING", discord_guild_id=guild_id,
                         animatic_width=160, cut_width=320, cut_height=180,
                         job_poll_seconds=0.5, member_max_concurrent=2)


async def soak(seconds: float, members: int) -> Outcome:
    seconds = min(seconds, MAX_SECONDS)
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeDiscord(heartbeat_ms=2000)
        await fake.start()
        settings = soak_settings(Path(tmp) / "data", fake.guild_id)
        setup_logging(settings)
        role = fake.add_role("Producer")
        producer = fake.add_user("Pat", role)
        cast = [fake.add_user(f"Creator {i}") for i in range(1, members + 1)]
        board_channel, takes_channel, cuts_channel = (fake.add_channel(n)
                                                      for n in ("board", "takes", "cuts"))
        runner = SlateRunner(fake, settings)
        await runner.start()
        setup = await fake.as_user(fake.owner).slash(
            "production setup", title="Soak Film", producer_role=role,
            board_channel=board_channel, takes_channel=takes_channel, cuts_channel=cuts_channel)
        assert "is set up" in (setup.content or ""), setup.content
        assert runner.studio is not None
        prod = await production_board.get(runner.studio.db, fake.guild_id)
        who = await actor(runner.studio.db, prod, "import", is_producer=True)
        await shotlist.import_shots(runner.studio.db, prod, who, EXAMPLE.read_bytes(),
                                    EXAMPLE.name)
        run = Soak(fake, runner, producer, cast, takes_channel, Ledger(), random.Random(8))
        run.serving.set()
        server = health.HealthServer(health.Checks(), port=0)
        watch(server, run.studio)
        port = await server.start()

        started = time.monotonic()
        deadline = started + seconds
        samples: list[tuple[float, float]] = []
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(rss_sampler(port, started, stop_sampling,
                                                  max(1.0, seconds / 60), samples))
        loops = [asyncio.create_task(member_loop(run, m, deadline, 0.4)) for m in cast]
        # The disturbances, at fixed points of the run; trimming the fake between them.
        plan = [(0.25, "cut"), (0.40, "reconnect"), (0.65, "restart")]
        restart_seconds = 0.0
        while time.monotonic() < deadline:
            await asyncio.sleep(min(10.0, max(0.5, deadline - time.monotonic())))
            trim_fake(fake)
            elapsed = (time.monotonic() - started) / seconds
            while plan and elapsed >= plan[0][0]:
                _, what = plan.pop(0)
                if what == "cut":
                    await build_cut(run)
                elif what == "reconnect":
                    await force_reconnect(run)
                else:
                    restart_seconds = await restart(run, server)
        await asyncio.gather(*loops)
        problems = await settle(run)
        await build_cut(run)  # the night's cut over everything the soak approved
        stop_sampling.set()
        await sampler
        found, states = await verify(run, prod)
        problems += found
        on_record = 0
        messages = candidate_messages(fake, takes_channel.id)
        for message_id in messages:
            target = await candidates.by_message(run.studio.db.reader, message_id)
            if target is not None:
                on_record += len(await votes.of_take(run.studio.db.reader, target.take_id))
        outcome = Outcome(time.monotonic() - started, members, run.ledger, samples, problems,
                          states, restart_seconds, fake.identifies, fake.resumes, on_record,
                          len(messages))
        await server.stop()
        await runner.stop()
        await fake.close()
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--members", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "SOAK.md")
    args = parser.parse_args(argv)
    outcome = asyncio.run(soak(args.seconds, args.members))
    text = report(outcome)
    print(text)
    args.out.write_text(text, encoding="utf-8")
    middle, last, ratio = growth(outcome.samples)
    print(json.dumps({"bench": "soak_rss_growth", "figure": round(last / 2**20, 2),
                      "floor": round(middle / 2**20, 2), "ratio": round(ratio, 4),
                      "unit": "MiB"}))
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())
