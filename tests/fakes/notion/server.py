"""A loopback Notion (API version 2025-09-03) with the shapes, limits and failures the sync meets.

Serves /v1/databases, /v1/data_sources (retrieve, update, query) and /v1/pages (create, retrieve,
update). Validates like Notion (400 validation_error past its size limits), rounds
last_edited_time down to the minute, paginates at most 100 per page, and on demand answers 429
with Retry-After, fails with 500, or creates a page and drops the answer. It counts requests
and measures the peak rate it saw.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

VERSION = "2025-09-03"
MAX_BODY = 500 * 1024
MAX_TEXT = 2000
MAX_ITEMS = 100
PAGE_TRUNCATE = 25


class NotionError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(message: str) -> NotionError:
    return NotionError(400, "validation_error", message)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _minute(moment: float) -> float:
    return moment - moment % 60


def _parse(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        raise _invalid(f"{text!r} is not a valid ISO 8601 date") from None


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _norm(page_id: str) -> str:
    try:
        return str(uuid.UUID(page_id))
    except ValueError:
        raise NotionError(400, "validation_error", f"{page_id} is not a valid uuid") from None


class FakeNotion:
    def __init__(self, token: str = "ntn_test_secret", *, seed: int = 1,
                 rate_limit: float | None = None):
        self.token = token
        self.rate_limit = rate_limit  # requests allowed per rolling second; None = no limit
        self.random = random.Random(seed)
        self.clock = time.time
        self.pages: dict[str, dict] = {}
        self.edited: dict[str, float] = {}  # exact edit times; Notion shows them per minute
        self.databases: dict[str, dict] = {}
        self.data_sources: dict[str, dict] = {}
        self.log: list[tuple[float, str, str, int]] = []  # (monotonic, method, path, status)
        self._window: deque[float] = deque()
        self.storm_left = 0
        self.storm_retry_after = 1
        self.fail_ratio = 0.0
        self.fail_next = 0
        self.drop_creates = 0
        self.dropped: list[str] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/v1/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what tests arrange and inspect ------------------------------------------------------

    def add_parent_page(self, title: str = "Production") -> str:
        page_id = str(uuid.uuid4())
        self.pages[page_id] = self._page_object(page_id, {"type": "workspace", "workspace": True},
                                                {"title": {"id": "title", "type": "title",
                                                           "title": self._rich(title)}})
        self.edited[page_id] = self.clock()
        return page_id

    def storm(self, count: int, retry_after: int = 1) -> None:
        """The next `count` requests are answered 429 rate_limited."""
        self.storm_left, self.storm_retry_after = count, retry_after

    def rows(self, data_source_id: str) -> list[dict]:
        return [self._render(p) for p in self.pages.values()
                if p["parent"].get("data_source_id") == data_source_id and not p["in_trash"]]

    def text(self, page: dict, prop: str) -> str:
        value = page["properties"][prop]
        return "".join(i["plain_text"] for i in value[value["type"]])

    def row_by_key(self, data_source_id: str, key: str) -> list[dict]:
        return [p for p in self.rows(data_source_id) if self.text(p, "Key") == key]

    def edit(self, page_id: str, properties: dict) -> None:
        """A person edits a row in Notion's app."""
        page = self.pages[page_id]
        self._set_properties(page, properties)
        self.edited[page_id] = self.clock()

    def trash(self, page_id: str) -> None:
        self.pages[page_id]["in_trash"] = True
        self.edited[page_id] = self.clock()

    def calls(self, method: str | None = None, path: str | None = None,
              status: int | None = None) -> int:
        return sum(1 for _, m, p, s in self.log if (method is None or m == method)
                   and (path is None or path in p) and (status is None or s == status))

    def reset_counts(self) -> None:
        self.log.clear()

    def peak_rate(self, window: float = 1.0) -> int:
        """The most requests that arrived within any `window` seconds."""
        times = [t for t, _, _, _ in self.log]
        best, start = 0, 0
        for end in range(len(times)):
            while times[end] - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def average_rate(self) -> float:
        if len(self.log) < 2:
            return 0.0
        span = self.log[-1][0] - self.log[0][0]
        return (len(self.log) - 1) / span if span > 0 else float("inf")

    # --- the server --------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        path = "/" + request.match_info["tail"]
        status = 200
        try:
            response = await self._serve(request, path, arrived)
            status = response.status
            return response
        except NotionError as exc:
            status = exc.status
            headers = {}
            if exc.code == "rate_limited":
                headers["Retry-After"] = str(self.storm_retry_after)
            return web.json_response({"object": "error", "status": exc.status, "code": exc.code,
                                      "message": exc.message,
                                      "request_id": str(uuid.uuid4())},
                                     status=exc.status, headers=headers)
        finally:
            self.log.append((arrived, request.method, path, status))

    async def _serve(self, request: web.Request, path: str, arrived: float) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            raise NotionError(401, "unauthorized", "API token is invalid.")
        if request.headers.get("Notion-Version") != VERSION:
            raise NotionError(400, "missing_version", "Notion-Version header failed validation")
        if self.storm_left > 0:
            self.storm_left -= 1
            raise NotionError(429, "rate_limited", "You have been rate limited.")
        if self.rate_limit is not None:
            while self._window and arrived - self._window[0] >= 1.0:
                self._window.popleft()
            if len(self._window) >= self.rate_limit:
                raise NotionError(429, "rate_limited", "You have been rate limited.")
            self._window.append(arrived)
        if self.fail_next > 0 or (self.fail_ratio and self.random.random() < self.fail_ratio):
            self.fail_next = max(0, self.fail_next - 1)
            raise NotionError(500, "internal_server_error", "Unexpected error occurred.")
        raw = await request.read()
        if len(raw) > MAX_BODY:
            raise _invalid("Request body too large.")
        body: dict = {}
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                raise NotionError(400, "invalid_json", "Error parsing JSON body.") from None
        parts = path.strip("/").split("/")
        method = request.method
        if parts[0] == "databases":
            if method == "POST" and len(parts) == 1:
                return web.json_response(self._create_database(body))
            if method == "GET" and len(parts) == 2:
                return web.json_response(self._database(_norm(parts[1])))
        if parts[0] == "data_sources" and len(parts) >= 2:
            source = self._source(_norm(parts[1]))
            if method == "GET" and len(parts) == 2:
                return web.json_response(self._render_source(source))
            if method == "PATCH" and len(parts) == 2:
                self._add_properties(source, body.get("properties") or {})
                return web.json_response(self._render_source(source))
            if method == "POST" and len(parts) == 3 and parts[2] == "query":
                return web.json_response(self._query(source, body))
        if parts[0] == "pages":
            if method == "POST" and len(parts) == 1:
                page = self._create_page(body)
                if self.drop_creates > 0:
                    self.drop_creates -= 1
                    self.dropped.append(page["id"])
                    # The page exists, but the answer never reaches the client.
                    assert request.transport is not None
                    request.transport.abort()
                    await asyncio.sleep(0)
                    return web.Response(status=200)
                return web.json_response(page)
            if len(parts) == 2:
                page_id = _norm(parts[1])
                if page_id not in self.pages:
                    raise NotionError(404, "object_not_found",
                                      f"Could not find page with ID: {page_id}.")
                if method == "GET":
                    return web.json_response(self._render(self.pages[page_id]))
                if method == "PATCH":
                    return web.json_response(self._update_page(page_id, body))
        raise NotionError(400, "invalid_request_url", "Invalid request URL.")

    # --- databases and data sources ----------------------------------------------------------

    def _create_database(self, body: dict) -> dict:
        parent = body.get("parent") or {}
        if parent.get("type") != "page_id" or _norm(parent.get("page_id", "")) not in self.pages:
            raise NotionError(404, "object_not_found", "Could not find the parent page.")
        properties = (body.get("initial_data_source") or {}).get("properties") or {}
        titles = [n for n, p in properties.items() if "title" in p]
        if len(titles) != 1:
            raise _invalid("A data source needs exactly one title property.")
        db_id, ds_id = str(uuid.uuid4()), str(uuid.uuid4())
        name = self._plain(body.get("title") or [])
        self.databases[db_id] = {"object": "database", "id": db_id,
                                 "title": self._rich(name),
                                 "parent": {"type": "page_id", "page_id": parent["page_id"]},
                                 "data_sources": [{"id": ds_id, "name": name}]}
        self.data_sources[ds_id] = {"id": ds_id, "database_id": db_id, "name": name,
                                    "properties": {}}
        self._add_properties(self.data_sources[ds_id], properties)
        return self.databases[db_id]

    def _database(self, db_id: str) -> dict:
        if db_id not in self.databases:
            raise NotionError(404, "object_not_found", f"Could not find database with ID: "
                                                       f"{db_id}.")
        return self.databases[db_id]

    def _source(self, ds_id: str) -> dict:
        if ds_id not in self.data_sources:
            raise NotionError(404, "object_not_found", f"Could not find data source with ID: "
                                                       f"{ds_id}.")
        return self.data_sources[ds_id]

    def _add_properties(self, source: dict, properties: dict) -> None:
        for name, spec in properties.items():
            kinds = [k for k in spec if k not in {"name", "description"}]
            if len(kinds) != 1:
                raise _invalid(f"Property {name} needs exactly one type.")
            kind = kinds[0]
            config = spec[kind] or {}
            if kind == "relation":
                target = config.get("data_source_id")
                if not target or _norm(target) not in self.data_sources:
                    raise _invalid(f"Relation {name} names no data source.")
            if kind == "select":
                options = config.get("options") or []
                if len(options) > MAX_ITEMS:
                    raise _invalid("A select has at most 100 options.")
            source["properties"][name] = {"id": uuid.uuid4().hex[:4], "name": name,
                                          "type": kind, kind: config}

    def _render_source(self, source: dict) -> dict:
        return {"object": "data_source", "id": source["id"], "title": self._rich(source["name"]),
                "parent": {"type": "database_id", "database_id": source["database_id"]},
                "properties": source["properties"]}

    # --- pages -------------------------------------------------------------------------------

    def _page_object(self, page_id: str, parent: dict, properties: dict) -> dict:
        stamp = self.clock()
        return {"object": "page", "id": page_id, "created_time": _iso(_minute(stamp)),
                "created_at": stamp, "parent": parent, "in_trash": False,
                "properties": properties,
                "url": f"https://www.notion.so/{page_id.replace('-', '')}"}

    def _create_page(self, body: dict) -> dict:
        parent = body.get("parent") or {}
        if parent.get("type") != "data_source_id":
            raise _invalid("body.parent.data_source_id should be defined.")
        source = self._source(_norm(parent.get("data_source_id", "")))
        page_id = str(uuid.uuid4())
        properties = {}
        for name, spec in source["properties"].items():
            empty: Any = [] if spec["type"] in {"title", "rich_text", "relation"} else None
            properties[name] = {"id": spec["id"], "type": spec["type"], spec["type"]: empty}
        page = self._page_object(page_id, {"type": "data_source_id",
                                           "data_source_id": source["id"],
                                           "database_id": source["database_id"]}, properties)
        self._set_properties(page, body.get("properties") or {}, source)
        self.pages[page_id] = page
        self.edited[page_id] = self.clock()
        return self._render(page)

    def _update_page(self, page_id: str, body: dict) -> dict:
        page = self.pages[page_id]
        if "in_trash" in body:
            page["in_trash"] = bool(body["in_trash"])
        if body.get("properties"):
            if page["in_trash"]:
                raise _invalid("Can't edit block that is archived. You must unarchive the block "
                               "before editing.")
            self._set_properties(page, body["properties"])
        self.edited[page_id] = self.clock()
        return self._render(page)

    def _set_properties(self, page: dict, properties: dict, source: dict | None = None) -> None:
        if source is None:
            source = self.data_sources[page["parent"]["data_source_id"]]
        staged = {}
        for name, value in properties.items():
            spec = source["properties"].get(name)
            if spec is None:
                raise _invalid(f"{name} is not a property that exists.")
            kind = spec["type"]
            if not isinstance(value, dict) or kind not in value:
                raise _invalid(f"{name} is expected to be {kind}.")
            staged[name] = self._check_value(name, kind, value[kind])
        for name, checked in staged.items():
            spec = source["properties"][name]
            page["properties"][name] = {"id": spec["id"], "type": spec["type"],
                                        spec["type"]: checked}

    def _check_value(self, name: str, kind: str, value: Any) -> Any:
        if kind in {"title", "rich_text"}:
            if not isinstance(value, list):
                raise _invalid(f"{name}.{kind} should be an array.")
            if len(value) > MAX_ITEMS:
                raise _invalid(f"body.properties.{name}.{kind}.length should be ≤ `100`, "
                               f"instead was `{len(value)}`.")
            items = []
            for item in value:
                text = (item or {}).get("text") or {}
                content = text.get("content")
                if not isinstance(content, str):
                    raise _invalid(f"{name}.{kind}[].text.content should be a string.")
                if _utf16(content) > MAX_TEXT:
                    raise _invalid(f"body.properties.{name}.{kind}[].text.content.length should "
                                   f"be ≤ `2000`, instead was `{_utf16(content)}`.")
                link = text.get("link")
                if link and len(link.get("url", "")) > 2000:
                    raise _invalid("A link URL is at most 2000 characters.")
                items.append({"type": "text", "text": {"content": content, "link": link},
                              "annotations": {"bold": False, "italic": False,
                                              "strikethrough": False, "underline": False,
                                              "code": False, "color": "default"},
                              "plain_text": content, "href": link["url"] if link else None})
            return items
        if kind == "number":
            if value is not None and (not isinstance(value, int | float)
                                      or isinstance(value, bool)):
                raise _invalid(f"{name}.number should be a number or null.")
            return value
        if kind == "select":
            if value is None:
                return None
            option = value.get("name", "")
            if "," in option or len(option) > 100:
                raise _invalid(f"Invalid select option name for {name}.")
            return {"id": uuid.uuid5(uuid.NAMESPACE_OID, option).hex[:4], "name": option,
                    "color": "default"}
        if kind == "date":
            if value is None:
                return None
            _parse(value.get("start", ""))
            return {"start": value["start"], "end": value.get("end"), "time_zone": None}
        if kind == "relation":
            if len(value) > MAX_ITEMS:
                raise _invalid(f"body.properties.{name}.relation.length should be ≤ `100`.")
            for item in value:
                if _norm(item.get("id", "")) not in self.pages:
                    raise _invalid(f"Relation {name} points at a page that does not exist.")
            return [{"id": _norm(item["id"])} for item in value]
        if kind in {"url", "checkbox"}:
            return value
        raise _invalid(f"{kind} properties are not supported by this fake.")

    def _render(self, page: dict) -> dict:
        shown = {k: v for k, v in page.items() if k != "created_at"}
        shown["last_edited_time"] = _iso(_minute(self.edited[page["id"]]))
        properties = {}
        for name, value in page["properties"].items():
            if value["type"] == "relation" and len(value["relation"]) > PAGE_TRUNCATE:
                value = {**value, "relation": value["relation"][:PAGE_TRUNCATE],
                         "has_more": True}
            properties[name] = value
        shown["properties"] = properties
        return shown

    # --- queries -----------------------------------------------------------------------------

    def _query(self, source: dict, body: dict) -> dict:
        size = body.get("page_size", 100)
        if not isinstance(size, int) or not 1 <= size <= MAX_ITEMS:
            raise _invalid("body.page_size should be ≤ `100`.")
        matches = [p for p in self.pages.values()
                   if p["parent"].get("data_source_id") == source["id"] and not p["in_trash"]
                   and self._match(p, body.get("filter"))]
        matches.sort(key=lambda p: (p["created_at"], p["id"]))
        start = 0
        cursor = body.get("start_cursor")
        if cursor:
            ids = [p["id"] for p in matches]
            if cursor not in ids:
                raise _invalid("start_cursor is not valid.")
            start = ids.index(cursor)
        chunk = matches[start:start + size]
        more = start + size < len(matches)
        return {"object": "list", "results": [self._render(p) for p in chunk],
                "next_cursor": matches[start + size]["id"] if more else None, "has_more": more,
                "type": "page_or_data_source", "page_or_data_source": {}}

    def _match(self, page: dict, rule: dict | None) -> bool:
        if not rule:
            return True
        if "and" in rule:
            return all(self._match(page, r) for r in rule["and"])
        if "or" in rule:
            return any(self._match(page, r) for r in rule["or"])
        if rule.get("timestamp") in {"last_edited_time", "created_time"}:
            stamp = rule["timestamp"]
            shown = (_minute(self.edited[page["id"]]) if stamp == "last_edited_time"
                     else _minute(page["created_at"]))
            condition = rule.get(stamp) or {}
            for op, text in condition.items():
                limit = _parse(text)
                ok = {"after": shown > limit, "on_or_after": shown >= limit,
                      "before": shown < limit, "on_or_before": shown <= limit,
                      "equals": shown == limit}.get(op)
                if ok is None:
                    raise _invalid(f"Unknown timestamp condition {op}.")
                if not ok:
                    return False
            return True
        name = rule.get("property")
        value = page["properties"].get(name)
        if value is None:
            raise _invalid(f"Could not find property with name or id: {name}")
        for kind in ("rich_text", "title"):
            if kind in rule:
                text = "".join(i["plain_text"] for i in value.get(value["type"]) or [])
                condition = rule[kind]
                if "equals" in condition:
                    return text == condition["equals"]
                if "contains" in condition:
                    return condition["contains"] in text
        raise _invalid("This fake supports only timestamp, rich_text and title filters.")

    @staticmethod
    def _rich(text: str) -> list[dict]:
        return [{"type": "text", "text": {"content": text, "link": None}, "plain_text": text,
                 "href": None}]

    @staticmethod
    def _plain(items: list[dict]) -> str:
        return "".join(((i.get("text") or {}).get("content", "")) for i in items)
