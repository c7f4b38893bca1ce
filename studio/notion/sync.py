"""The two-way Notion sync: connect a production, then pull Notion's fields and push Slate's.

Incremental both ways: each row remembers its page id and the hashes of what each side last
agreed on, so only changed rows are written, and a pull skips pages whose content is unchanged.
No duplicates: a row without a page is looked up by its key before a create, creates are
serialised per key, and a create whose answer was lost is looked up before it is tried again.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from notion_client.helpers import extract_notion_id

from storage import audit, notion_rows, productions
from storage.db import Database
from storage.notion_rows import NotionLink, NotionRow
from storage.productions import Production
from storage.rows import now
from studio.errors import InvalidInput, NotFound, SlateError
from studio.notion import schema
from studio.notion.client import AnswerLost, NotionApi, NotionRefused
from studio.notion.mapping import (
    CHAPTER,
    FIELDS,
    KEY_PROPERTY,
    NOTION,
    SHOT,
    SLATE,
    chapter_key,
    chapter_values,
    check_notion_owned,
    digest,
    local_value,
    owned,
    owners,
    page_properties,
    page_values,
    shot_values,
)
from studio.ops.settings import Settings
from studio.production.people import Actor, require_producer
from studio.waiting import nudged, stopped

log = logging.getLogger("slate.notion")

# Errors after which no other row can succeed either.
_FATAL = {"unauthorized", "restricted_resource"}
CREATE_ATTEMPTS = 5
LEASE_S = 60.0  # a crashed process's lease frees the production within this
LEASE_WAIT_S = 120.0  # how long a producer's sync waits for another process's


class SyncBusy(SlateError):
    """Another process holds the production's sync lease."""


@dataclass
class SyncReport:
    """What one sync changed, both ways, and what it could not (with Notion's reason)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    pulled: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    trashed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stopped: str | None = None
    calls: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.adopted or self.pulled
                    or self.restored or self.trashed)

    def trouble(self) -> str:
        """What went wrong, or "" for a clean sync."""
        parts = ([f"stopped: {self.stopped}"] if self.stopped else []) + self.failed[:5]
        return "; ".join(parts)

    def summary(self) -> str:
        lines = [f"Notion sync: {len(self.created)} created, {len(self.updated)} updated, "
                 f"{len(self.pulled)} pulled, {len(self.failed)} failed "
                 f"({self.calls} API calls, {self.seconds:.1f}s)"]
        for title, items in (("pulled from Notion", self.pulled),
                             ("restored (Slate owns these)", self.restored),
                             ("found already in Notion", self.adopted),
                             ("duplicates moved to trash", self.trashed),
                             ("could not sync", self.failed)):
            if items:
                shown = "; ".join(items[:20]) + (f"; and {len(items) - 20} more"
                                                 if len(items) > 20 else "")
                lines.append(f"{title}: {shown}")
        if self.stopped:
            lines.append(f"stopped: {self.stopped}")
        return "\n".join(lines)


@dataclass(frozen=True)
class ConnectResult:
    created: bool
    chapters_database_id: str
    shots_database_id: str
    added: list[str]

    def summary(self) -> str:
        how = "created" if self.created else "connected to"
        text = f"Notion: {how} the Chapters and Shots databases"
        if self.added:
            text += f"; added the missing columns {', '.join(self.added)}"
        return text


@dataclass
class _Plan:
    entity: str
    key: str
    entity_id: int
    values: dict[str, Any]
    slate_hash: str = ""


class _Batch:
    """Page ids and hashes committed 50 rows at a time.

    A crash between a write and its commit loses nothing: the next push lists the data source
    by key and adopts the pages it finds instead of creating them again.
    """

    SIZE = 50

    def __init__(self, db: Database, production_id: int):
        self.db = db
        self.production_id = production_id
        self.pending: list[tuple[_Plan, str, str, str | None]] = []

    async def add(self, plan: _Plan, page_id: str, pushed: str, pulled: str | None) -> None:
        self.pending.append((plan, page_id, pushed, pulled))
        if len(self.pending) >= self.SIZE:
            await self.flush()

    async def flush(self) -> None:
        taken, self.pending = self.pending, []
        if not taken:
            return
        async with self.db.transaction() as tx:
            for plan, page_id, pushed, pulled in taken:
                await notion_rows.save_row(tx, self.production_id, plan.key, plan.entity,
                                           plan.entity_id, page_id=page_id, pushed_hash=pushed,
                                           pulled_hash=pulled, pushed=True)


def _notion_id(text: str, what: str) -> str:
    found = extract_notion_id(text.strip()) if text and text.strip() else None
    if not found:
        raise InvalidInput(f"that is not a Notion {what} URL or id")
    return found


def _same_id(a: str | None, b: str | None) -> bool:
    return bool(a and b) and a.replace("-", "").lower() == b.replace("-", "").lower()


class NotionService:
    """The sync engine for every production of one database, and its automatic triggers."""

    def __init__(self, db: Database, settings: Settings, *,
                 on_report: Callable[[Production, SyncReport], Awaitable[None]] | None = None):
        self.db = db
        self.settings = settings
        self.on_report = on_report
        self._told: dict[int, str] = {}  # production → the trouble last reported
        self._holder = uuid.uuid4().hex  # this service's name on the sync lease
        self._api: NotionApi | None = None
        self._locks: dict[int, asyncio.Lock] = {}
        self._key_locks: dict[tuple[int, str], asyncio.Lock] = {}
        self._tasks: list[asyncio.Task] = []
        self._nudged = asyncio.Event()

    @property
    def api(self) -> NotionApi:
        if self._api is None:
            token = self.settings.notion_token
            if token is None or not token.get_secret_value():
                raise SlateError("NOTION_TOKEN is not set: create an internal integration at "
                                 "https://www.notion.so/my-integrations and export its secret")
            s = self.settings
            self._api = NotionApi(token.get_secret_value(), base_url=s.notion_base_url,
                                  rate=s.notion_rate, timeout_s=s.notion_timeout)
        return self._api

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks = []
        if self._api is not None:
            await self._api.close()
            self._api = None

    # --- connect -----------------------------------------------------------------------------

    async def connect(
        self, production: Production, who: Actor, *, parent: str | None = None,
        chapters: str | None = None, shots: str | None = None,
        notion_owned: list[str] | None = None, add_missing: bool = False,
    ) -> ConnectResult:
        """Create the two databases under a parent page, or check (and fix) existing ones."""
        require_producer(who, production, "connecting Notion")
        handed = check_notion_owned(notion_owned or [])
        if parent and (chapters or shots):
            raise InvalidInput("give either a parent page or the two database URLs, not both")
        if not parent and not (chapters and shots):
            raise InvalidInput("give a parent page to create the databases in, "
                               "or the URLs of both the Chapters and Shots databases")
        api = self.api
        current = await notion_rows.link(self.db.reader, production.id)
        added: list[str] = []
        try:
            if parent:
                parent_id = _notion_id(parent, "page")
                if current is not None and _same_id(current.parent_page_id, parent_id):
                    # Connecting twice to one page must not make a second pair of databases.
                    c_ds, c_schema = await schema.data_source_of(api,
                                                                 current.chapters_database_id)
                    s_ds, s_schema = await schema.data_source_of(api, current.shots_database_id)
                    c_db, s_db = current.chapters_database_id, current.shots_database_id
                    created = False
                else:
                    c_db, c_ds = await self._create_database(api, parent_id, production,
                                                             "Chapters", CHAPTER, None)
                    s_db, s_ds = await self._create_database(api, parent_id, production,
                                                             "Shots", SHOT, c_ds)
                    created = True
                c_title = s_title = "Name"
                if not created:
                    c_title = schema.check(CHAPTER, c_schema).title_property
                    s_title = schema.check(SHOT, s_schema, c_ds).title_property
            else:
                parent_id = None
                c_db, s_db = _notion_id(chapters or "", "database"), _notion_id(shots or "",
                                                                               "database")
                c_ds, c_schema = await schema.data_source_of(api, c_db)
                s_ds, s_schema = await schema.data_source_of(api, s_db)
                checks = [(c_ds, schema.check(CHAPTER, c_schema)),
                          (s_ds, schema.check(SHOT, s_schema, c_ds))]
                wrong = [c.describe() for _, c in checks if c.wrong]
                lacking = [c.describe() for _, c in checks if c.missing]
                if wrong or (lacking and not add_missing):
                    advice = "" if wrong else " (connect with add_missing to add them)"
                    raise InvalidInput("; ".join(wrong + lacking) + advice)
                for ds, result in checks:
                    added += [f.prop for f in result.missing]
                    await schema.add_missing(api, ds, result, c_ds)
                c_title, s_title = checks[0][1].title_property, checks[1][1].title_property
                created = False
        except NotionRefused as exc:
            raise SlateError(f"Notion refused: {exc.reason}") from None
        except LookupError as exc:
            raise SlateError(f"Notion: {exc}") from None
        async with self.db.transaction() as tx:
            await notion_rows.save_link(
                tx, production.id, parent_page_id=parent_id, chapters_database_id=c_db,
                chapters_data_source_id=c_ds, shots_database_id=s_db, shots_data_source_id=s_ds,
                chapters_title=c_title, shots_title=s_title, notion_owned=handed,
            )
            await audit.record(tx, production.id, who.id, "production", production.id,
                               "notion-connect", after={"chapters": c_db, "shots": s_db,
                                                        "notion_owned": handed})
        return ConnectResult(created, c_db, s_db, added)

    async def _create_database(self, api: NotionApi, parent_id: str, production: Production,
                               name: str, entity: str, chapters_ds: str | None) -> tuple[str, str]:
        try:
            made = await api.create_database(parent_id, f"{production.title} — {name}",
                                             schema.database_schema(entity, chapters_ds))
        except AnswerLost:
            raise SlateError(f"Notion did not answer while creating the {name} database: look "
                             "in the page for it, then connect to its URL") from None
        return made["id"], made["data_sources"][0]["id"]

    # --- sync --------------------------------------------------------------------------------

    async def sync(self, production: Production, who: Actor | None = None, *, pull: bool = True,
                   push: bool = True) -> SyncReport:
        """Pull Notion's fields, then push Slate's. `who` is None for automatic syncs."""
        if who is not None:
            require_producer(who, production, "syncing Notion")
        link = await notion_rows.link(self.db.reader, production.id)
        if link is None:
            raise NotFound("Notion is not connected: a producer runs /notion connect first")
        api = self.api
        lock = self._locks.setdefault(production.id, asyncio.Lock())
        async with lock, self._lease(production, waiting=who is not None):
            report = SyncReport()
            calls, started = api.calls, time.monotonic()
            try:
                if pull:
                    await self._pull(production, link, report)
                if push and not report.stopped:
                    link = await notion_rows.link(self.db.reader, production.id) or link
                    await self._push(production, link, report)
            except NotionRefused as exc:
                report.stopped = f"Notion said {exc.reason}"
            report.calls = api.calls - calls
            report.seconds = time.monotonic() - started
            async with self.db.transaction() as tx:
                await notion_rows.set_synced(tx, production.id, report.summary())
        if who is None:
            await self._tell_trouble(production, report)
        return report

    @asynccontextmanager
    async def _lease(self, production: Production, *, waiting: bool) -> AsyncIterator[None]:
        """Hold the production's cross-process sync lease, renewed while the sync runs.
        A producer's sync waits for another process's to finish; an automatic one gives way."""
        deadline = time.monotonic() + (LEASE_WAIT_S if waiting else 0.0)
        while not await self._take_lease(production.id):
            if time.monotonic() >= deadline:
                raise SyncBusy("another Slate process is syncing this production with "
                               "Notion right now; try again when it has finished")
            await asyncio.sleep(0.2)
        renewer = asyncio.create_task(self._renew_lease(production.id))
        try:
            yield
        finally:
            # Stopped before the lease is dropped, so no renewal outlives it.
            await stopped(renewer)
            async with self.db.transaction() as tx:
                await notion_rows.drop_sync_lease(tx, production.id, self._holder)

    async def _take_lease(self, production_id: int) -> bool:
        until = (datetime.now(UTC) + timedelta(seconds=LEASE_S)).strftime(
            "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        async with self.db.transaction() as tx:
            return await notion_rows.take_sync_lease(tx, production_id, self._holder, until)

    async def _renew_lease(self, production_id: int) -> None:
        while True:
            await asyncio.sleep(LEASE_S / 3)
            await self._take_lease(production_id)

    async def _tell_trouble(self, production: Production, report: SyncReport) -> None:
        """An automatic sync has no one waiting for its answer: its trouble, and the end of
        it, go to `on_report` once each rather than at every tick."""
        trouble = report.trouble()
        if self.on_report is None or trouble == self._told.get(production.id, ""):
            return
        self._told[production.id] = trouble
        await self.on_report(production, report)

    async def _plans(self, production: Production, link: NotionLink,
                     rows: dict[str, NotionRow]) -> tuple[list[_Plan], list[_Plan]]:
        """Every chapter and shot as the values Slate would show in Notion now."""
        reader = self.db.reader
        chapters = await notion_rows.chapter_facts(reader, production.id)
        shot_list = await notion_rows.shot_facts(reader, production.id)
        cut = await notion_rows.latest_cut_version(reader, production.id)
        by_chapter: dict[int, list] = {}
        for s in shot_list:
            by_chapter.setdefault(s.chapter_id, []).append(s)
        chapter_plans = [
            _Plan(CHAPTER, chapter_key(c.number), c.id,
                  chapter_values(c, by_chapter.get(c.id, []), cut)) for c in chapters
        ]
        pages = {c.id: rows[chapter_key(c.number)].page_id for c in chapters
                 if chapter_key(c.number) in rows}
        media = self.settings.notion_media_url
        shot_plans = []
        for s in shot_list:
            values = shot_values(s, pages.get(s.chapter_id), media)
            shot_plans.append(_Plan(SHOT, values["key"], s.id, values))
        return chapter_plans, shot_plans

    # --- pull --------------------------------------------------------------------------------

    async def _pull(self, production: Production, link: NotionLink, report: SyncReport) -> None:
        rows = await notion_rows.rows(self.db.reader, production.id)
        by_page = {r.page_id.replace("-", ""): r for r in rows.values() if r.page_id}
        chapter_plans, shot_plans = await self._plans(production, link, rows)
        local = {p.key: p for p in (*chapter_plans, *shot_plans)}
        query_filter = None
        if link.last_pull_at:
            # Notion rounds last_edited_time down to the minute: overlap, and let hashes skip.
            since = (datetime.fromisoformat(link.last_pull_at.replace("Z", "+00:00"))
                     - timedelta(seconds=self.settings.notion_pull_margin))
            query_filter = {"timestamp": "last_edited_time",
                            "last_edited_time": {"on_or_after": since.astimezone(UTC)
                                                 .strftime("%Y-%m-%dT%H:%M:%S.000Z")}}
        started = now()
        for entity, source in ((CHAPTER, link.chapters_data_source_id),
                               (SHOT, link.shots_data_source_id)):
            own = owners(link, entity)
            async for page in self.api.query(source, query_filter):
                row = by_page.get(page["id"].replace("-", ""))
                plan = local.get(row.key) if row else None
                if row is None or plan is None or row.entity != entity:
                    continue  # a page Slate does not know yet: the push's lookup adopts it
                await self._absorb(production, link, row, plan, page, own, report)
        async with self.db.transaction() as tx:
            await notion_rows.set_pulled(tx, production.id, started)

    async def _absorb(self, production: Production, link: NotionLink, row: NotionRow,
                      plan: _Plan, page: dict, own: dict[str, str],
                      report: SyncReport) -> tuple[str, str]:
        """Take one page's Notion-owned fields into Slate; note edits to Slate's. → its hashes."""
        entity = plan.entity
        seen = page_values(entity, link, page)
        notion_names, slate_names = owned(entity, own, NOTION), owned(entity, own, SLATE)
        pulled_hash = digest(seen, notion_names)
        slate_hash = digest(seen, slate_names)
        fields = {f.name: f for f in FIELDS[entity]}
        changes: dict[str, object] = {}
        before: dict[str, object] = {}
        names: list[str] = []
        if pulled_hash != row.pulled_hash:
            for name in notion_names:
                f = fields[name]
                if seen[name] == plan.values.get(name) or f.column is None:
                    continue
                try:
                    changes[f.column] = local_value(entity, f, seen[name])
                except InvalidInput as exc:
                    report.failed.append(f"{row.key}: {f.prop} kept, Notion's value is refused: "
                                         f"{exc.reason}")
                    continue
                before[f.column] = plan.values.get(name)
                names.append(f.prop)
        restore = row.pushed_hash is not None and slate_hash != row.pushed_hash
        if restore:
            edited = [fields[n].prop for n in slate_names if seen[n] != plan.values.get(n)]
            report.restored.append(f"{row.key}: {', '.join(edited) or 'edited'}")
        if not (changes or restore or pulled_hash != row.pulled_hash):
            return slate_hash, pulled_hash
        async with self.db.transaction() as tx:
            if changes:
                if entity == CHAPTER:
                    await notion_rows.update_chapter_fields(tx, plan.entity_id, changes)
                else:
                    await notion_rows.update_shot_fields(tx, plan.entity_id, changes)
                await audit.record(tx, production.id, None, entity, plan.entity_id,
                                   "notion-pull", before=before, after=changes)
            await notion_rows.save_row(
                tx, production.id, row.key, entity, plan.entity_id, page_id=row.page_id,
                pushed_hash=None if restore else row.pushed_hash, pulled_hash=pulled_hash,
                pulled=True,
            )
        if changes:
            report.pulled.append(f"{row.key}: {', '.join(names)}")
        return slate_hash, pulled_hash

    # --- push --------------------------------------------------------------------------------

    async def _push(self, production: Production, link: NotionLink, report: SyncReport) -> None:
        rows = await notion_rows.rows(self.db.reader, production.id)
        chapter_plans, _ = await self._plans(production, link, rows)
        await self._push_rows(production, link, CHAPTER, link.chapters_data_source_id,
                              chapter_plans, rows, report)
        if report.stopped:
            return
        # Shots point at their chapter's page, known only now for new chapters.
        rows = await notion_rows.rows(self.db.reader, production.id)
        _, shot_plans = await self._plans(production, link, rows)
        await self._push_rows(production, link, SHOT, link.shots_data_source_id, shot_plans,
                              rows, report)

    async def _push_rows(self, production: Production, link: NotionLink, entity: str,
                         source: str, plans: list[_Plan], rows: dict[str, NotionRow],
                         report: SyncReport) -> None:
        own = owners(link, entity)
        slate_names = owned(entity, own, SLATE)
        todo = []
        for plan in plans:
            plan.slate_hash = digest(plan.values, slate_names)
            row = rows.get(plan.key)
            if row is None or row.page_id is None or row.pushed_hash != plan.slate_hash:
                todo.append(plan)
        if not todo:
            return
        existing: dict[str, dict] = {}
        if any(rows.get(p.key) is None or rows[p.key].page_id is None for p in todo):
            # Rows without a page: one listing finds pages made before (a lost answer, a crash).
            existing = await self._listing(link, entity, source, rows, report)
        gate = asyncio.Semaphore(self.settings.notion_workers)
        batch = _Batch(self.db, production.id)

        async def one(plan: _Plan) -> None:
            async with gate:
                if report.stopped:
                    return
                try:
                    await self._write(production, link, source, plan, own, rows.get(plan.key),
                                      existing, batch, report)
                except NotionRefused as exc:
                    if exc.code in _FATAL:
                        report.stopped = f"Notion said {exc.reason}"
                    else:
                        report.failed.append(f"{plan.key}: {exc.reason}")
                except InvalidInput as exc:
                    report.failed.append(f"{plan.key}: {exc.reason}")

        try:
            await asyncio.gather(*(one(plan) for plan in todo))
        finally:
            await batch.flush()

    async def _listing(self, link: NotionLink, entity: str, source: str,
                       rows: dict[str, NotionRow], report: SyncReport) -> dict[str, dict]:
        """Key → page for every row in the data source; extra pages of one key go to the trash."""
        by_key: dict[str, list[tuple[int, dict]]] = {}
        async for page in self.api.query(source):
            values = page_values(entity, link, page)
            if values.get("key"):
                filled = sum(1 for v in values.values() if v not in (None, "", []))
                by_key.setdefault(values["key"], []).append((filled, page))
        kept: dict[str, dict] = {}
        for key, found in by_key.items():
            mapped = rows.get(key).page_id if rows.get(key) else None
            # Keep Slate's page, else the oldest (to the minute), else the most complete.
            found.sort(key=lambda f: (not _same_id(f[1]["id"], mapped),
                                      f[1].get("created_time", ""), -f[0]))
            pages = [page for _, page in found]
            kept[key] = pages[0]
            for extra in pages[1:]:
                await self.api.update_page(extra["id"], in_trash=True)
                report.trashed.append(key)
        return kept

    def _key_lock(self, production_id: int, key: str) -> asyncio.Lock:
        return self._key_locks.setdefault((production_id, key), asyncio.Lock())

    async def _write(self, production: Production, link: NotionLink, source: str,
                     plan: _Plan, own: dict[str, str], row: NotionRow | None,
                     existing: dict[str, dict], batch: _Batch, report: SyncReport) -> None:
        entity = plan.entity
        slate_names = owned(entity, own, SLATE)
        # Syncs of one production never overlap (see sync()); the key lock guards the create.
        async with self._key_lock(production.id, plan.key):
            if row is None or row.page_id is None:
                found = existing.get(plan.key)
                if found is not None:
                    # A page already holds this row: adopt it, taking Notion's own fields first.
                    row = NotionRow(production.id, plan.key, entity, plan.entity_id, found["id"],
                                    None, None)
                    seen_hash, pulled = await self._absorb(production, link, row, plan, found,
                                                           own, report)
                    report.adopted.append(plan.key)
                    if seen_hash == plan.slate_hash:
                        await batch.add(plan, found["id"], plan.slate_hash, pulled)
                        return
                    row = NotionRow(production.id, plan.key, entity, plan.entity_id, found["id"],
                                    None, pulled)
                else:
                    await self._create(production, link, source, plan, own, batch, report)
                    return
            assert row is not None and row.page_id is not None
            props = page_properties(entity, link, plan.values, slate_names)
            try:
                await self.api.update_page(row.page_id, props)
            except NotionRefused as exc:
                gone = exc.code == "object_not_found" or (
                    exc.code == "validation_error" and "archived" in exc.reason.lower())
                if not gone:
                    raise
                # Someone deleted the page in Notion: Slate's row comes back as a new page.
                async with self.db.transaction() as tx:
                    await notion_rows.forget_page(tx, production.id, plan.key)
                found = await self._find(source, entity, link, plan.key)
                if found is None:
                    await self._create(production, link, source, plan, own, batch, report)
                    return
                await self.api.update_page(found["id"], props)
                row = NotionRow(production.id, plan.key, entity, plan.entity_id, found["id"],
                                None, row.pulled_hash)
            await batch.add(plan, row.page_id, plan.slate_hash, row.pulled_hash)
            report.updated.append(plan.key)

    async def _create(self, production: Production, link: NotionLink, source: str,
                      plan: _Plan, own: dict[str, str], batch: _Batch,
                      report: SyncReport) -> None:
        entity = plan.entity
        notion_names = owned(entity, own, NOTION)
        # A new page starts with Slate's values for Notion's fields too: nothing is overwritten.
        props = page_properties(entity, link, plan.values, [f.name for f in FIELDS[entity]])
        page: dict | None = None
        for _ in range(CREATE_ATTEMPTS):
            try:
                page = await self.api.create_page(source, props)
                break
            except AnswerLost:
                # The create may have landed: look before trying again.
                page = await self._find(source, entity, link, plan.key)
                if page is not None:
                    break
        if page is None:
            raise NotionRefused("no_answer", f"Notion did not confirm the page after "
                                             f"{CREATE_ATTEMPTS} tries")
        await batch.add(plan, page["id"], plan.slate_hash, digest(plan.values, notion_names))
        report.created.append(plan.key)

    async def _find(self, source: str, entity: str, link: NotionLink, key: str) -> dict | None:
        matches = [page async for page in self.api.query(
            source, {"property": KEY_PROPERTY, "rich_text": {"equals": key}})]
        matches.sort(key=lambda p: p.get("created_time", ""))
        return matches[0] if matches else None

    # --- automatic triggers ------------------------------------------------------------------

    def start(self) -> None:
        """Run the debounced push and the periodic pull until close()."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._watch(), name="notion-push"),
                           asyncio.create_task(self._pull_loop(), name="notion-pull")]

    def changed(self) -> None:
        """Something changed: look now rather than at the next tick (the push still waits)."""
        self._nudged.set()

    async def _automatic(self, production_id: int, *, pull: bool) -> None:
        production = await productions.get(self.db.reader, production_id)
        if production is None:
            return
        try:
            await self.sync(production, pull=pull)
        except SyncBusy:  # the other process's sync covers this one's changes
            log.debug("automatic Notion sync for production %s skipped: another is running",
                      production_id)
        except SlateError as exc:
            log.warning("automatic Notion sync for production %s: %s", production_id,
                        exc.reason)
            await self._tell_trouble(production, SyncReport(stopped=exc.reason))
        except Exception:
            log.exception("automatic Notion sync for production %s failed", production_id)

    async def _watch(self) -> None:
        delay = self.settings.notion_push_delay
        tick = max(0.05, min(5.0, delay / 4))
        seen: dict[int, tuple] = {}
        dirty_since: dict[int, float] = {}
        while True:
            await nudged(self._nudged, tick)
            self._nudged.clear()
            for production_id in await notion_rows.linked_productions(self.db.reader):
                signature = await notion_rows.change_signature(self.db.reader, production_id)
                if seen.get(production_id) != signature:
                    # First sight counts as a change: edits made while the bot was down.
                    seen[production_id] = signature
                    dirty_since[production_id] = time.monotonic()
                since = dirty_since.get(production_id)
                if since is not None and time.monotonic() - since >= delay:
                    del dirty_since[production_id]
                    await self._automatic(production_id, pull=False)

    async def _pull_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.notion_pull_interval)
            for production_id in await notion_rows.linked_productions(self.db.reader):
                await self._automatic(production_id, pull=True)
