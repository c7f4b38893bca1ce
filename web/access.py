"""Who may see the pages: a signed link's token (`?t=`), or anyone when SLATE_WEB_PUBLIC is set.

The token travels in the query string of every link a page makes, so the film, its chapters
track and the downloads load with it. It is never logged: the access log drops query strings.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from studio.app import Studio
from studio.ops import screening_links
from web import pages

log = logging.getLogger("slate.web")

# Answered to anyone: probes, scrapers and the stylesheet carry no production's work.
OPEN_PATHS = frozenset({"/livez", "/readyz", "/metrics", "/style.css", "/favicon.ico"})
TOKEN = web.RequestKey("token", str)  # empty: a public page opened without a link
PRODUCTION = web.RequestKey("production_id", int)  # 0: a public page, the oldest production
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_of(request: web.Request) -> str | None:
    """The token this request was let in with (links on its page carry it on)."""
    return request.get(TOKEN) or None


def production_id_of(request: web.Request) -> int | None:
    return request.get(PRODUCTION) or None


def middleware(studio: Studio) -> Callable:
    settings = studio.settings

    @web.middleware
    async def check_link(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        token = request.query.get("t")
        if token is None and settings.web_public:
            request[TOKEN], request[PRODUCTION] = "", 0
            return await handler(request)
        try:
            if token is None:
                raise screening_links.LinkRefused("no token")
            grant = screening_links.check(settings, token)
        except screening_links.LinkRefused as refused:
            log.info("web: refused %s %s: %s", request.method, request.path, refused)
            return web.Response(status=403, text=pages.refused(), content_type="text/html",
                                charset="utf-8", headers=pages.PAGE_HEADERS)
        request[TOKEN], request[PRODUCTION] = token, grant.production_id
        return await handler(request)

    return check_link


class AccessLogger(AbstractAccessLogger):
    """One line per request without its query string: a link's token stays out of the logs."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if request.path in ("/livez", "/readyz", "/metrics"):
            return  # a probe every few seconds would drown the events that matter
        self.logger.info("%s %s %s %d %.3fs", request.remote, request.method, request.path,
                         response.status, time)
