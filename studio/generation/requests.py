"""Generation: a request for a shot becomes a queued job; a finished job becomes a take.

`request` checks who may generate for the shot, the member's limits and the production's
budget, and queues the job in the same transaction. `finish` (called by the queue) stores
the provider's output as a take with its preview, thumbnail and provenance, idempotently: a
job finished twice (a restart between storing and closing) still makes one take.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import (
    audit,
    jobs,
    media_files,
    members,
    productions,
    shot_references,
    shots,
    takes,
)
from storage.jobs import Job
from storage.productions import Production
from storage.shots import ShotRef
from storage.takes import Provenance, Take
from studio import mediastore
from studio.app import Studio
from studio.cut import previews
from studio.errors import InvalidInput, NotFound, NotPermitted, SlateError
from studio.generation import provenance, take_intake
from studio.generation.jobs import JobQueue, QueueConfig
from studio.generation.provenance import Declared
from studio.generation.providers import KINDS, Provider, from_settings
from studio.generation.providers.animatic import parse_ratio
from studio.generation.providers.base import ProviderError
from studio.generation.providers.link import KIND as UPLOAD
from studio.generation.takes import add_take
from studio.production import characters
from studio.production import shots as production_shots
from studio.production.people import Actor

MAX_PROMPT = 2000
MAX_VIDEO_SECONDS = 10.0


@dataclass(frozen=True)
class Queued:
    job: Job
    position: int  # queued jobs ahead of it on its provider


# The queue belongs to the studio: one per process, built on first use.
def queue(studio: Studio, providers: dict[str, Provider] | None = None,
          config: QueueConfig | None = None) -> JobQueue:
    found: JobQueue | None = getattr(studio, "_job_queue", None)
    if found is None:
        async def finisher(job: Job, files: list[Path], cost: float | None) -> None:
            await finish(studio, job, files, cost)

        found = JobQueue(studio, providers if providers is not None
                         else from_settings(studio.settings), finisher, config)
        studio._job_queue = found  # type: ignore[attr-defined]
    return found


async def close_queue(studio: Studio) -> None:
    found: JobQueue | None = getattr(studio, "_job_queue", None)
    if found is not None:
        await found.close()
        studio._job_queue = None  # type: ignore[attr-defined]


def _provider_for(studio: Studio, q: JobQueue, kind: str, name: str | None) -> Provider:
    asked = name is not None
    name = name or (studio.settings.voice_provider if kind == "voice"
                    else studio.settings.default_provider)
    provider = q.providers.get(name)
    if provider is None and not asked:  # the default is not set up: any that makes the kind
        provider = next((p for p in q.providers.values() if p.serves(kind)), None)
    if provider is None:
        raise InvalidInput(f"the provider {name} is not configured "
                           f"(available: {', '.join(sorted(q.providers))})")
    if not provider.serves(kind):
        raise InvalidInput(f"{name} does not make {kind}; it makes {', '.join(provider.kinds)}")
    return provider


async def _source_take(studio: Studio, shot_id: int, take_id: int | None, kind: str) -> Take:
    """The image an upscale or an animation starts from: the one named, or the shot's last."""
    if take_id is not None:
        found = await takes.get(studio.db.reader, take_id)
        if found is None or found.shot_id != shot_id:  # another shot's take is not ours to use
            raise NotFound(f"there is no take {take_id} on this shot")
    else:
        images = [t for t in await takes.of_shot(studio.db.reader, shot_id) if t.kind == "image"]
        if not images:
            raise InvalidInput(f"{kind} needs an image take on the shot: generate an image first")
        found = images[-1]
    if found.kind != "image":
        raise InvalidInput(f"take {found.id} is {found.kind}; {kind} starts from an image")
    return found


async def request(
    studio: Studio, prod: Production, who: Actor, code: str, kind: str, *, prompt: str = "",
    negative_prompt: str = "", seed: int | None = None, provider: str | None = None,
    duration: float | None = None, ratio: str = "16:9", motion: int | None = None,
    image_take: int | None = None, strength: float = 0.5, scale: float = 2.0,
    voice_id: str = "", references: list[int] | None = None,
) -> Queued:
    """Queue a generation for shot `code`; refuse with the reason, changing nothing."""
    if kind not in KINDS:
        raise InvalidInput(f"a generation is one of: {', '.join(KINDS)}")
    ref = await production_shots.shot(studio.db, prod, code)
    if ref.owner_id != who.id and not who.is_producer:
        raise NotPermitted(f"only chapter {ref.chapter_number}'s owner or a "
                           f"{prod.producer_role} can generate for shot {ref.code}")
    q = queue(studio)
    chosen = _provider_for(studio, q, kind, provider)
    prompt = " ".join(prompt.split())
    if len(prompt) > MAX_PROMPT or len(negative_prompt) > MAX_PROMPT:
        raise InvalidInput(f"a prompt is at most {MAX_PROMPT} characters")
    if not prompt and kind in ("image", "voice"):
        prompt = ref.shot.description if kind == "image" else ""
        if not prompt:
            raise InvalidInput(f"{kind} needs a prompt")
    asked_motion = motion is not None
    motion = 5 if motion is None else motion
    if not 1 <= motion <= 10:
        raise InvalidInput("motion is 1 (almost still) to 10 (strongest)")
    try:
        parse_ratio(ratio)
    except ProviderError as exc:
        raise InvalidInput(exc.reason) from None
    if not 0 <= strength <= 1 or not 1 < scale <= 4:
        raise InvalidInput("strength is 0 to 1 and scale above 1, at most 4")
    if seed is None:
        seed = random.randrange(2**31)
    if not 0 <= seed < 2**32:
        raise InvalidInput("a seed is a whole number from 0 to 4294967295")
    expanded = await characters.expand(studio, prod, prompt, supports_lora=chosen.supports_lora)
    params: dict = {"prompt": expanded.prompt, "negative_prompt": negative_prompt.strip(),
                    "seed": seed, "ratio": ratio, "shot": ref.code}
    if expanded.prompt != prompt:
        params["original_prompt"] = prompt
    if expanded.loras:
        params["loras"] = expanded.loras
    if kind == "video":
        seconds = float(duration if duration is not None
                        else min(MAX_VIDEO_SECONDS, max(2.0, ref.shot.planned_duration)))
        if not 1 <= seconds <= MAX_VIDEO_SECONDS:
            raise InvalidInput(f"a video take lasts 1 to {MAX_VIDEO_SECONDS:g} seconds")
        params.update(duration=round(seconds, 3), motion=motion)
        if asked_motion and chosen.motion_control("video") is None:
            params["notice"] = motion_notice(chosen, motion)
        if image_take is not None or chosen.name == "runway":
            source = await _source_take(studio, ref.shot.id, image_take, "animate")
            params.update(image=_media_path(studio, source), image_take=source.id)
        elif not prompt:
            params["prompt"] = ref.shot.description
    if kind == "upscale":
        source = await _source_take(studio, ref.shot.id, image_take, "upscale")
        params.update(image=_media_path(studio, source), image_take=source.id,
                      strength=strength, scale=scale)
    if kind == "voice":
        params["voice_id"] = voice_id or expanded.voice_id
    refs = list(expanded.reference_images)
    for take_id in references or []:
        refs.append(_media_path(studio, await _source_take(studio, ref.shot.id, take_id,
                                                           "a reference")))
    chosen_ref = None
    if kind == "image":
        # A take picked with "Use as reference" guides the shot's next image, then is spent.
        chosen_ref = await shot_references.get(studio.db.reader, ref.shot.id)
        if chosen_ref is not None and chosen_ref not in (references or []):
            found = await takes.get(studio.db.reader, chosen_ref)
            if found is not None:
                refs.insert(0, _media_path(studio, found))
                params["reference_take"] = found.id
    if refs and kind == "image":
        params["reference_images"] = refs[:3]
    return await enqueue(studio, prod, who, ref, chosen, kind, params,
                          spend_reference=chosen_ref is not None)


async def enqueue(studio: Studio, prod: Production, who: Actor, ref: ShotRef,
                   chosen: Provider, kind: str, params: dict, *,
                   spend_reference: bool = False) -> Queued:
    """Queue a checked job: member limits and the budget are checked in the same transaction."""
    q = queue(studio)
    estimate = chosen.estimate_cost(kind, params)
    settings = studio.settings
    async with studio.db.transaction() as tx:
        # Limits are checked inside the write transaction: two quick clicks cannot both pass.
        open_jobs = await jobs.open_of_member(tx, who.id)
        if open_jobs >= settings.member_max_concurrent:
            raise InvalidInput(f"you have {open_jobs} jobs queued or running (the limit is "
                               f"{settings.member_max_concurrent}); wait or cancel one")
        since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        today = await jobs.started_since(tx, who.id, since)
        if today >= settings.member_max_per_day:
            raise InvalidInput(f"you have started {today} jobs in the last 24 hours "
                               f"(the limit is {settings.member_max_per_day})")
        if settings.generation_budget > 0:
            spent = await jobs.spent(tx, prod.id)
            if spent + estimate > settings.generation_budget:
                raise InvalidInput(f"the production's budget is spent: ${spent:.2f} of "
                                   f"${settings.generation_budget:.2f}, and this job would cost "
                                   f"about ${estimate:.2f}")
        job = await jobs.create(tx, prod.id, member_id=who.id, shot_id=ref.shot.id, kind=kind,
                                provider=chosen.name, params=params, cost=estimate)
        await audit.record(tx, prod.id, who.id, "job", job.id, "queue",
                           after={"shot": ref.code, "kind": kind, "provider": chosen.name})
        if spend_reference:
            await shot_references.clear(tx, ref.shot.id)
        ahead = await jobs.position(tx, job)
    q.wake()
    return Queued(job, ahead)


def motion_notice(provider: Provider, motion: int) -> str:
    """What the answer says when the provider has no motion control to send `motion` to."""
    models = getattr(provider, "models", None)
    model = f" ({models.get('video')})" if isinstance(models, dict) and models.get("video") \
        else ""
    return (f"{provider.name}{model} has no motion control: motion {motion} was not sent, "
            "the model decides how much moves")


def _media_path(studio: Studio, take: Take) -> str:
    return str(mediastore.path_for(studio.settings.media_path, take.media_sha256))


async def finish(studio: Studio, job: Job, files: list[Path], cost: float | None) -> None:
    """Store a finished job's output as a take on its shot, then close the job.

    Each step checks what is already done, so a crash between them is finished by the next
    run: the stored take gets its previews, the job is closed, and no second take is made."""
    existing = await _take_of_job(studio, job)
    if existing is None:
        try:
            existing = await _store_take(studio, job, files, cost)
        except SlateError as exc:  # the provider sent something that is not usable media
            async with studio.db.transaction() as tx:
                await jobs.finish(tx, job.id, "failed", error=f"the output was refused: "
                                                              f"{exc.reason}", cost=cost)
            return
    if existing.preview_sha256 is None or existing.thumbnail_sha256 is None:
        existing = await attach_previews(studio, existing)
    async with studio.db.transaction() as tx:
        await jobs.finish(tx, job.id, "succeeded", cost=cost, take_id=existing.id,
                          outputs=[existing.media_sha256])


async def _take_of_job(studio: Studio, job: Job) -> Take | None:
    if job.shot_id is None:
        return None
    for found in await takes.of_shot(studio.db.reader, job.shot_id):
        if found.job_id == job.id:
            return found
    return None


async def _store_take(studio: Studio, job: Job, files: list[Path], cost: float | None) -> Take:
    if not files:
        raise InvalidInput("the provider sent no file")
    prod = await productions.get(studio.db.reader, job.production_id)
    shot = await shots.ref(studio.db.reader, job.shot_id) if job.shot_id else None
    member = await members.get(studio.db.reader, job.member_id) if job.member_id else None
    if prod is None or shot is None or member is None:
        raise InvalidInput("the job's shot or member no longer exists")
    params = job.parameters
    provider = queue(studio).providers.get(job.provider)
    if job.kind == UPLOAD:  # a take brought by link: the creator's word is its provenance
        provenance = dataclasses.replace(
            Declared.from_params(params.get("declared") or {}).provenance(), job_id=job.id)
        provenance.params["link_host"] = params.get("host", "")
        source, name = "uploaded", str(params.get("name") or f"link-job{job.id}")
    else:
        kept = {k: v for k, v in params.items()
                if k not in ("prompt", "negative_prompt", "seed", "image", "reference_images")}
        provenance = Provenance(
            provider=job.provider, model=provider.model if provider else "",
            prompt=params.get("prompt", ""), negative_prompt=params.get("negative_prompt", ""),
            seed=params.get("seed"), params=kept, external_id=job.external_id or "",
            cost=cost if cost is not None else job.cost, job_id=job.id,
            based_on=params.get("image_take") if job.kind in ("video", "upscale") else None)
        source, name = "generated", f"{job.provider}-{job.kind}-job{job.id}{files[0].suffix}"
    # The job was permitted when it was queued; the take lands even if ownership moved since.
    stored = await add_take(studio, prod, Actor(member, is_producer=True), shot.code, files[0],
                            original_name=name, source=source, provenance=provenance)
    return stored.take


async def attach_previews(studio: Studio, take: Take) -> Take:
    """Make and store the take's Discord preview and thumbnail (uploads and generations)."""
    media = await media_files.get(studio.db.reader, take.media_sha256)
    assert media is not None
    path = mediastore.path_for(studio.settings.media_path, take.media_sha256)
    work = studio.settings.data_dir / "tmp"
    small = await asyncio.to_thread(previews.preview, path, media.kind, media.duration,
                                    studio.settings.preview_max_bytes, work)
    thumb = await asyncio.to_thread(previews.thumbnail, path, media.kind, media.duration)
    preview_sha = thumb_sha = None
    async with studio.db.transaction() as tx:
        if small is not None and small == path:
            preview_sha = take.media_sha256
        elif small is not None:
            preview_sha, stored = mediastore.put_file(studio.settings.media_path, small)
            small.unlink(missing_ok=True)
            await media_files.ensure(tx, preview_sha, kind=media.kind, container="mp4"
                                     if media.kind != "image" else "jpeg_pipe",
                                     size=stored.stat().st_size, duration=media.duration,
                                     width=None, height=None, fps=None, video_codec=None,
                                     audio_codec=None, has_audio=bool(media.has_audio),
                                     original_name="preview")
        if thumb is not None:
            thumb_sha, stored = mediastore.put_bytes(studio.settings.media_path, thumb)
            await media_files.ensure(tx, thumb_sha, kind="image", container="jpeg_pipe",
                                     size=len(thumb), duration=None, width=None, height=None,
                                     fps=None, video_codec="mjpeg", audio_codec=None,
                                     has_audio=False, original_name="thumbnail.jpg")
        await takes.set_previews(tx, take.id, preview_sha, thumb_sha)
    found = await takes.get(studio.db.reader, take.id)
    assert found is not None
    return found


async def upload_take(studio: Studio, prod: Production, who: Actor, code: str, path: Path, *,
                      original_name: str = "", declared: dict | None = None) -> Take:
    """A take made elsewhere: checked, stored, recorded, then given its preview and thumbnail
    (all or nothing: see take_intake).

    `declared` is what the creator says of it (provenance.declare's fields: tool, model,
    prompt, seed, motion, cost, source_url, based_on as a revision of the shot)."""
    ref = await production_shots.shot(studio.db, prod, code)
    said = await provenance.declare(studio, ref.shot.id, ref.code, **(declared or {}))
    return await take_intake.upload(studio, prod, who, code, path, original_name=original_name,
                                    provenance=said.provenance(), prepare=attach_previews)


async def run_now(studio: Studio, prod: Production, who: Actor, code: str, *,
                  kind: str = "video", within: float | None = None, **options: object) -> Take:
    """Queue a job and wait for its take (the worker may be running or not)."""
    queued = await request(studio, prod, who, code, kind, **options)  # type: ignore[arg-type]
    done = await queue(studio).wait(queued.job.id, within=within)
    if done.state != "succeeded" or done.take_id is None:
        raise SlateError(f"job {done.id} {done.state}: {done.error or 'no take was made'}")
    found = await takes.get(studio.db.reader, done.take_id)
    assert found is not None
    return found


async def jobs_of(studio: Studio, prod: Production, who: Actor, *, everyone: bool = False,
                  open_only: bool = False, limit: int = 25) -> list[Job]:
    """A member's jobs, newest first; producers may list everyone's."""
    if everyone and not who.is_producer:
        raise NotPermitted(f"listing everyone's jobs needs the {prod.producer_role} role")
    return await jobs.listed(studio.db.reader, prod.id, member_id=None if everyone else who.id,
                             states=jobs.OPEN if open_only else (), limit=limit)


async def cancel(studio: Studio, prod: Production, who: Actor, job_id: int) -> Job:
    return await queue(studio).cancel(job_id, who, prod.id)


async def budget(studio: Studio, prod: Production) -> tuple[float, float, list[jobs.Spend]]:
    """(spent on generation, budget (0: none), spend by member and provider, then what
    creators declared their own tools cost on uploaded takes, by member and tool: those rows
    have `uploaded` takes and no jobs, and stay out of the generation budget's total)."""
    rows = list(await jobs.spend_by(studio.db.reader, prod.id))
    rows += [jobs.Spend(u.member_id, u.member_name, u.tool, 0, u.cost, uploaded=u.takes)
             for u in await takes.uploaded_spend(studio.db.reader, prod.id)]
    return (await jobs.spent(studio.db.reader, prod.id), studio.settings.generation_budget,
            rows)


# What each kind of generation reads; anything else given to /generate is a mistake.
OPTION_USES: dict[str, frozenset[str]] = {
    "image": frozenset({"prompt", "negative_prompt", "seed", "provider", "ratio", "reference"}),
    "video": frozenset({"prompt", "negative_prompt", "seed", "provider", "ratio", "motion",
                        "duration", "from_take"}),
    "upscale": frozenset({"seed", "provider", "from_take", "strength", "scale"}),
    "voice": frozenset({"prompt", "seed", "provider", "voice_id"}),
}


def check_options(kind: str, given: set[str]) -> None:
    """Refuse options the kind does not use, naming them and who does use them."""
    if kind not in OPTION_USES:
        raise InvalidInput(f"a generation is one of: {', '.join(KINDS)}")
    stray = sorted(given - OPTION_USES[kind])
    if stray:
        users = {name: [k for k, uses in OPTION_USES.items() if name in uses] for name in stray}
        parts = [f"{name} (only {_spoken(users[name])})" for name in stray]
        raise InvalidInput(f"{kind} generations do not use {', '.join(parts)}")


def _spoken(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


async def take_by_revision(studio: Studio, shot_id: int, code: str, revision: int) -> Take:
    for found in await takes.of_shot(studio.db.reader, shot_id):
        if found.revision == revision:
            return found
    raise NotFound(f"shot {code} has no take r{revision}")


async def ask(studio: Studio, prod: Production, who: Actor, code: str, kind: str,
              options: dict[str, object]) -> Queued:
    """/generate: the options the user filled in, checked against the kind, then queued.

    `from_take` and `reference` are revision numbers of the shot's takes (r2 → 2).
    """
    check_options(kind, set(options))
    given = dict(options)
    ref = await production_shots.shot(studio.db, prod, code)
    if "from_take" in given:
        source = await take_by_revision(studio, ref.shot.id, ref.code, int(given.pop("from_take")))
        given["image_take"] = source.id
    if "reference" in given:
        source = await take_by_revision(studio, ref.shot.id, ref.code, int(given.pop("reference")))
        if source.kind != "image":
            raise InvalidInput(f"take r{source.revision} is {source.kind}; a reference is an "
                               "image")
        given["references"] = [source.id]
    return await request(studio, prod, who, code, kind, **given)  # type: ignore[arg-type]


def providers_for(studio: Studio, kind: str) -> list[str]:
    """The configured providers that make `kind`, the default first."""
    q = queue(studio)
    default = (studio.settings.voice_provider if kind == "voice"
               else studio.settings.default_provider)
    names = [name for name, p in q.providers.items()
             if p.serves(kind) or (kind not in KINDS and any(map(p.serves, KINDS)))]
    return sorted(names, key=lambda name: (name != default, name))
