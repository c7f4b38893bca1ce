"""`/take upload url:`: a take too big for a Discord attachment, fetched from a link.

The link is checked at once (its host must be a public https address), then its fetch is
queued as a job of the durable queue (provider `link`), with what the creator declared about
the take; the job's card shows the download and, once the file passed the same checks as an
attachment, the take is stored with that provenance and posted.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from storage.productions import Production
from studio.app import Studio
from studio.errors import InvalidInput, NotPermitted
from studio.generation import provenance, requests
from studio.generation.providers.base import ProviderError
from studio.generation.providers.link import KIND, LinkFetcher
from studio.generation.requests import Queued
from studio.production import shots as production_shots
from studio.production.people import Actor


def _label(url: str) -> str:
    """The file's name in the link, as a label only (never a path: takes are stored by hash)."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    return " ".join(name.split())[:120] or "link"


async def ask(studio: Studio, prod: Production, who: Actor, code: str, url: str,
              declared: dict | None = None) -> Queued:
    """Queue the fetch of `url` as a take of shot `code`; refuse with the reason at once when
    the link cannot be fetched (not https, a private address, ...) or a field is wrong."""
    ref = await production_shots.shot(studio.db, prod, code)
    if ref.owner_id != who.id and not who.is_producer:
        raise NotPermitted(f"only chapter {ref.chapter_number}'s owner or a "
                           f"{prod.producer_role} can add to it")
    said = await provenance.declare(studio, ref.shot.id, ref.code, **(declared or {}))
    fetcher = requests.queue(studio).providers.get("link")
    if not isinstance(fetcher, LinkFetcher):
        raise InvalidInput("fetching takes from links is not set up here")
    try:
        host = await fetcher.check(url)
    except ProviderError as exc:
        raise InvalidInput(exc.reason) from None
    params = {"url": url.strip(), "host": host, "shot": ref.code, "name": _label(url),
              "declared": said.to_params()}
    return await requests.enqueue(studio, prod, who, ref, fetcher, KIND, params)
