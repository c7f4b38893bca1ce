"""What a candidate take's buttons do: re-roll, upscale, animate, or guide the next image.

Each checks that the take belongs to the production and that the actor may generate for its
shot (the chapter's owner or a producer), then queues the job through studio.generate.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from storage import audit, jobs, shot_references, shots, takes
from storage.productions import Production
from storage.shots import ShotRef
from storage.takes import Take
from studio.app import Studio
from studio.errors import InvalidInput, NotFound, NotPermitted
from studio.generation import requests
from studio.generation.providers.base import Provider
from studio.generation.requests import Queued
from studio.production.people import Actor

ACTIONS = ("reroll", "upscale", "animate", "reference")


@dataclass(frozen=True)
class TakeRef:
    take: Take
    ref: ShotRef


async def take_here(studio: Studio, prod: Production, take_id: int) -> TakeRef:
    """The take with its shot, if it is this production's."""
    found = await takes.get(studio.db.reader, take_id)
    ref = await shots.ref(studio.db.reader, found.shot_id) if found else None
    if found is None or ref is None or ref.production_id != prod.id:
        raise NotFound("that take is not part of this production")
    return TakeRef(found, ref)


def _may_generate(who: Actor, prod: Production, ref: ShotRef, doing: str) -> None:
    if ref.owner_id != who.id and not who.is_producer:
        raise NotPermitted(f"{doing} is for chapter {ref.chapter_number}'s owner or a "
                           f"{prod.producer_role}")


def actions_for(take: Take) -> list[str]:
    """The buttons a candidate post shows: image takes can also grow or move."""
    # A take fetched from a link has a job too, but nothing to re-roll.
    shown = ["reroll"] if take.job_id is not None and take.source == "generated" else []
    if take.kind == "image":
        shown += ["upscale", "animate", "reference"]
    return shown


async def reroll(studio: Studio, prod: Production, who: Actor, take_id: int) -> Queued:
    """The same job again with a new seed."""
    found = await take_here(studio, prod, take_id)
    _may_generate(who, prod, found.ref, "re-rolling a take")
    job = await jobs.get(studio.db.reader, found.take.job_id) if found.take.job_id else None
    if job is None or found.take.source != "generated":
        raise InvalidInput(f"take r{found.take.revision} was uploaded, not generated: there is "
                           "nothing to re-roll")
    params = job.parameters
    old = params.get("seed")
    seed = random.randrange(2**31)
    while seed == old:
        seed = random.randrange(2**31)
    params["seed"] = seed
    q = requests.queue(studio)
    provider = q.providers.get(job.provider)
    if provider is None:
        raise InvalidInput(f"the provider {job.provider} is not configured any more")
    return await requests.enqueue(studio, prod, who, found.ref, provider, job.kind, params)


async def derive(studio: Studio, prod: Production, who: Actor, take_id: int,
                 action: str, *, motion: int | None = None) -> Queued:
    """Upscale an image take, or animate it into a video (its prompt carries over) with the
    motion asked for (1 almost still .. 10 strongest; None: the default)."""
    if action not in ("upscale", "animate"):
        raise InvalidInput(f"a take can be upscaled or animated, not '{action[:20]}'")
    found = await take_here(studio, prod, take_id)
    if found.take.kind != "image":
        raise InvalidInput(f"take r{found.take.revision} is {found.take.kind}; only an image "
                           f"can be {'upscaled' if action == 'upscale' else 'animated'}")
    if action == "upscale":
        return await requests.request(studio, prod, who, found.ref.code, "upscale",
                                      image_take=found.take.id)
    return await requests.request(studio, prod, who, found.ref.code, "video",
                                  image_take=found.take.id, prompt=found.take.prompt,
                                  motion=motion)


async def check_animate(studio: Studio, prod: Production, who: Actor,
                        take_id: int) -> TakeRef:
    """Before asking for the motion: the take is an image the actor may animate."""
    return await _image_take(studio, prod, who, take_id, "animating a take",
                             "only an image can be animated")


async def _image_take(studio: Studio, prod: Production, who: Actor, take_id: int,
                      doing: str, only_images: str) -> TakeRef:
    """The take, when `who` may generate for its shot and it is an image."""
    found = await take_here(studio, prod, take_id)
    _may_generate(who, prod, found.ref, doing)
    if found.take.kind != "image":
        raise InvalidInput(f"take r{found.take.revision} is {found.take.kind}; {only_images}")
    return found


def animating_provider(studio: Studio) -> Provider | None:
    """The provider an Animate click queues on (the production's default, else any that
    makes video): the motion prompt says what motion becomes there."""
    q = requests.queue(studio)
    chosen = q.providers.get(studio.settings.default_provider)
    if chosen is not None and chosen.serves("video"):
        return chosen
    return next((p for p in q.providers.values() if p.serves("video")), None)


async def use_as_reference(studio: Studio, prod: Production, who: Actor,
                           take_id: int) -> TakeRef:
    """The take guides the shot's next image generation (then the choice is spent)."""
    found = await _image_take(studio, prod, who, take_id, "choosing a reference",
                              "a reference is an image")
    async with studio.db.transaction() as tx:
        before = await shot_references.get(tx, found.ref.shot.id)
        await shot_references.put(tx, found.ref.shot.id, found.take.id, who.id)
        await audit.record(tx, prod.id, who.id, "shot", found.ref.shot.id, "reference",
                           before={"take": before}, after={"take": found.take.id})
    return found
