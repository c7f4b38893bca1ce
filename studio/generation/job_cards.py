"""Where a job is shown in Discord: its card (progress) and, once made, its take's post.

Recorded so that a restart keeps editing the cards of running jobs and posts the takes of
jobs that finished while the post had not gone out yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage import job_cards, jobs, members, productions, shots, takes, upload_posts
from storage.job_cards import JobCard
from storage.jobs import Job
from storage.members import Member
from storage.productions import Production
from storage.shots import ShotRef
from storage.takes import Take
from studio.app import Studio


@dataclass(frozen=True)
class Pending:
    """A card not settled yet: its job as it stands, and the take when there is one."""

    card: JobCard
    job: Job
    take: Take | None


async def record_card(studio: Studio, job_id: int, channel_id: int | None,
                      message_id: int | None) -> None:
    async with studio.db.transaction() as tx:
        await job_cards.put_card(tx, job_id, channel_id, message_id)


async def card_of(studio: Studio, job_id: int) -> JobCard | None:
    return await job_cards.get(studio.db.reader, job_id)


async def record_take_post(studio: Studio, job_id: int, channel_id: int,
                           message_id: int) -> None:
    async with studio.db.transaction() as tx:
        await job_cards.put_take_post(tx, job_id, channel_id, message_id)


async def settle(studio: Studio, job_id: int) -> None:
    """The card shows the job's end and its take (if any) is posted: nothing left to do."""
    async with studio.db.transaction() as tx:
        await job_cards.settle(tx, job_id)


async def pending(studio: Studio) -> list[Pending]:
    found = []
    for card in await job_cards.unsettled(studio.db.reader):
        job = await jobs.get(studio.db.reader, card.job_id)
        if job is None:
            continue
        take = await takes.get(studio.db.reader, job.take_id) if job.take_id else None
        found.append(Pending(card, job, take))
    return found


async def job_of(studio: Studio, job_id: int) -> Job | None:
    return await jobs.get(studio.db.reader, job_id)


async def take_of(studio: Studio, take_id: int) -> Take | None:
    return await takes.get(studio.db.reader, take_id)


@dataclass(frozen=True)
class TakeToPost:
    """A finished take with what its post says: the production, the shot, who made it."""

    production: Production
    ref: ShotRef
    take: Take
    creator: Member | None
    based_on_revision: int | None = None  # the revision of the take it was made from


async def take_to_post(studio: Studio, take_id: int) -> TakeToPost | None:
    take = await takes.get(studio.db.reader, take_id)
    ref = await shots.ref(studio.db.reader, take.shot_id) if take else None
    prod = await productions.get(studio.db.reader, ref.production_id) if ref else None
    if take is None or ref is None or prod is None:
        return None
    creator = await members.get(studio.db.reader, take.creator_id) if take.creator_id else None
    source = await takes.get(studio.db.reader, take.based_on) if take.based_on else None
    return TakeToPost(prod, ref, take, creator, source.revision if source else None)


async def record_upload_post(studio: Studio, take_id: int, channel_id: int,
                             message_id: int) -> None:
    async with studio.db.transaction() as tx:
        await upload_posts.put(tx, take_id, channel_id, message_id)


async def take_post(studio: Studio, take: Take) -> tuple[int, int] | None:
    """(channel id, message id) of the take's own post (its job's, or its upload's), if any."""
    if take.job_id is None:
        found = await upload_posts.get(studio.db.reader, take.id)
        return (found.channel_id, found.message_id) if found else None
    card = await job_cards.get(studio.db.reader, take.job_id)
    if card is None or card.take_channel_id is None or card.take_message_id is None:
        return None
    return card.take_channel_id, card.take_message_id
