"""Notion's API as the sync uses it: notion-client's AsyncClient behind our own rate limiter.

The client's built-in retries are off: every attempt, retries included, must pass the limiter,
and a create is never blindly retried (the caller looks its key up first; see sync.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from notion_client import AsyncClient
from notion_client.errors import (
    APIResponseError,
    NotionClientErrorBase,
    RequestTimeoutError,
    UnknownHTTPResponseError,
)

from studio.ops import metrics

NOTION_VERSION = "2025-09-03"
PAGE_SIZE = 100
log = logging.getLogger("slate.notion")

_SERVER_TROUBLE = {"internal_server_error", "service_unavailable", "gateway_timeout"}


class NotionRefused(Exception):
    """Notion answered with an error we do not retry; `reason` is Notion's code and message."""

    def __init__(self, code: str, message: str, status: int = 0):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status
        self.reason = f"{message} ({code})" if message else code


class AnswerLost(Exception):
    """A write whose answer never came (timeout, dropped connection, 5xx): it may have landed."""


class RateLimiter:
    """Spaces requests evenly at `rate` per second; a 429 pauses every caller."""

    def __init__(self, rate: float):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)

    def pause(self, seconds: float) -> None:
        """Notion asked us to wait: nobody sends before then."""
        self._next = max(self._next, time.monotonic() + seconds)


class NotionApi:
    """The handful of endpoints the sync needs, each attempt rate-limited and counted."""

    def __init__(
        self, token: str, *, base_url: str = "https://api.notion.com", rate: float = 3.0,
        timeout_s: float = 30.0, max_attempts: int = 6, backoff_s: float = 0.5,
    ):
        self.client = AsyncClient(
            auth=token, base_url=base_url.rstrip("/"), timeout_ms=int(timeout_s * 1000),
            notion_version=NOTION_VERSION, retry=False, logger=log, log_level=logging.WARNING,
        )
        self.limiter = RateLimiter(rate)
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.calls = 0
        self.rate_limited = 0

    async def close(self) -> None:
        await self.client.aclose()

    async def _call(self, op: Callable[[], Awaitable[Any]], *, retry_unsure: bool) -> Any:
        """One operation: 429 waits Retry-After; 5xx and lost answers retry if `retry_unsure`."""
        attempt = 0
        while True:
            attempt += 1
            await self.limiter.acquire()
            self.calls += 1
            try:
                answer = await op()
            except APIResponseError as exc:
                code = str(getattr(exc.code, "value", exc.code))
                metrics.count_notion("rate_limited" if code == "rate_limited" else "error")
                if code == "rate_limited" and attempt < self.max_attempts * 3:
                    self.rate_limited += 1
                    self.limiter.pause(_retry_after(exc.headers, self.backoff_s))
                    continue
                if code in _SERVER_TROUBLE:
                    if retry_unsure and attempt < self.max_attempts:
                        await self._backoff(attempt)
                        continue
                    if not retry_unsure:
                        raise AnswerLost(code) from None
                raise NotionRefused(code, str(exc), exc.status) from None
            except (RequestTimeoutError, httpx.TransportError, UnknownHTTPResponseError) as exc:
                metrics.count_notion("error")
                if isinstance(exc, UnknownHTTPResponseError) and exc.status < 500:
                    raise NotionRefused("error", str(exc), exc.status) from None
                if retry_unsure and attempt < self.max_attempts:
                    await self._backoff(attempt)
                    continue
                if not retry_unsure:
                    raise AnswerLost(type(exc).__name__) from None
                raise NotionRefused("unreachable", f"no answer from Notion ({exc})") from None
            except NotionClientErrorBase as exc:
                metrics.count_notion("error")
                raise NotionRefused(str(getattr(exc, "code", "error")), str(exc)) from None
            metrics.count_notion("ok")
            return answer

    async def _backoff(self, attempt: int) -> None:
        base = self.backoff_s * 2 ** (attempt - 1)
        await asyncio.sleep(min(base * (0.5 + random.random()), 30.0))

    # --- endpoints ---------------------------------------------------------------------------

    async def database(self, database_id: str) -> dict:
        return await self._call(lambda: self.client.databases.retrieve(database_id),
                                retry_unsure=True)

    async def data_source(self, data_source_id: str) -> dict:
        return await self._call(lambda: self.client.data_sources.retrieve(data_source_id),
                                retry_unsure=True)

    async def page(self, page_id: str) -> dict:
        return await self._call(lambda: self.client.pages.retrieve(page_id), retry_unsure=True)

    async def create_database(self, parent_page_id: str, title: str, properties: dict) -> dict:
        body = {"parent": {"type": "page_id", "page_id": parent_page_id},
                "title": [{"type": "text", "text": {"content": title}}],
                "initial_data_source": {"properties": properties}}
        return await self._call(lambda: self.client.databases.create(**body), retry_unsure=False)

    async def update_data_source(self, data_source_id: str, properties: dict) -> dict:
        return await self._call(
            lambda: self.client.data_sources.update(data_source_id, properties=properties),
            retry_unsure=True,
        )

    async def query(self, data_source_id: str, filter: dict | None = None) -> AsyncIterator[dict]:
        """Every page matching `filter`, following next_cursor 100 at a time."""
        cursor: str | None = None
        while True:
            body: dict[str, Any] = {"page_size": PAGE_SIZE}
            if filter is not None:
                body["filter"] = filter
            if cursor:
                body["start_cursor"] = cursor
            answer = await self._call(
                lambda body=body: self.client.data_sources.query(data_source_id, **body),
                retry_unsure=True,
            )
            for result in answer.get("results", []):
                yield result
            if not answer.get("has_more"):
                return
            cursor = answer.get("next_cursor")

    async def create_page(self, data_source_id: str, properties: dict) -> dict:
        """Create a row. AnswerLost means it may exist now: look its key up before retrying."""
        parent = {"type": "data_source_id", "data_source_id": data_source_id}
        return await self._call(
            lambda: self.client.pages.create(parent=parent, properties=properties),
            retry_unsure=False,
        )

    async def update_page(self, page_id: str, properties: dict | None = None,
                          *, in_trash: bool | None = None) -> dict:
        body: dict[str, Any] = {}
        if properties is not None:
            body["properties"] = properties
        if in_trash is not None:
            body["in_trash"] = in_trash
        # Setting the same properties twice is harmless: an update is safe to retry.
        return await self._call(lambda: self.client.pages.update(page_id, **body),
                                retry_unsure=True)


def _retry_after(headers: httpx.Headers | None, default: float) -> float:
    value = headers.get("retry-after") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default

