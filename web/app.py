"""The web face's application: routes thin over studio/screening.py, and its server.

Pages: `/` the board, `/cuts/<version>` the screening, `/chapters/<n>` a chapter. Files: a
cut's own files by name, its hand-off as a zip, a take's media by hash; each through aiohttp's
FileResponse (Range, 206/416, ETag, Last-Modified), never a folder, never outside its folder.
/livez, /readyz and /metrics are studio/health.py's, served here too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path

from aiohttp import web

from studio.app import Studio
from studio.cut import screening
from studio.errors import NotFound
from studio.ops import health
from studio.ops.health import HealthServer
from web import access, pages

log = logging.getLogger("slate.web")

STUDIO = web.AppKey("studio", Studio)
STYLE = resources.files("web").joinpath("style.css").read_text(encoding="utf-8")
FILE_HEADERS = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer"}


def make_app(studio: Studio, *, health_server: HealthServer | None = None) -> web.Application:
    """The web face of `studio`; `health_server` lends its /livez, /readyz and /metrics."""
    app = web.Application(middlewares=[access.middleware(studio)])
    app[STUDIO] = studio
    r = app.router
    r.add_get("/", board)
    r.add_get(r"/cuts/{version:\d{1,9}}", cut_page)
    r.add_get(r"/cuts/{version:\d{1,9}}/chapters.vtt", chapters_vtt)
    r.add_get(r"/cuts/{version:\d{1,9}}/files/{name}", cut_file)
    r.add_get(r"/cuts/{version:\d{1,9}}/handoff.zip", handoff_zip)
    r.add_get(r"/cuts/{version:\d{1,9}}/handoff/{name}", handoff_file)
    r.add_get(r"/chapters/{number:\d{1,9}}", chapter_page)
    r.add_get(r"/media/{sha256:[0-9a-f]{64}}", media)
    r.add_get("/style.css", style)
    (health_server or health.for_studio(studio)).add_routes(app)
    return app


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8",
                        headers=pages.PAGE_HEADERS)


def _missing(request: web.Request, exc: NotFound) -> web.Response:
    return _html(pages.not_found(exc.reason, access.token_of(request)), status=404)


async def _production(request: web.Request):  # -> Production
    return await screening.production_of(request.app[STUDIO], access.production_id_of(request))


async def board(request: web.Request) -> web.Response:
    studio = request.app[STUDIO]
    try:
        view = await screening.board(studio, await _production(request))
    except NotFound as exc:
        return _missing(request, exc)
    return _html(pages.board(view, access.token_of(request)))


async def _screening(request: web.Request) -> screening.Screening:
    """The cut the URL names, as the screening page and its chapters track show it."""
    return await screening.screening(request.app[STUDIO], await _production(request),
                                     int(request.match_info["version"]))


async def cut_page(request: web.Request) -> web.Response:
    try:
        view = await _screening(request)
    except NotFound as exc:
        return _missing(request, exc)
    return _html(pages.screening(view, access.token_of(request)))


async def chapters_vtt(request: web.Request) -> web.Response:
    try:
        view = await _screening(request)
    except NotFound as exc:
        return _missing(request, exc)
    return web.Response(text=pages.chapters_vtt(view), content_type="text/vtt",
                        charset="utf-8", headers=FILE_HEADERS)


def _file(path: Path, *, content_type: str | None = None,
          download: str | None = None) -> web.FileResponse:
    headers = dict(FILE_HEADERS)
    if content_type:
        headers["Content-Type"] = content_type
    if download:
        headers["Content-Disposition"] = f"attachment; filename=\"{download}\""
    return web.FileResponse(path, headers=headers)


async def cut_file(request: web.Request) -> web.StreamResponse:
    return await _served(request, screening.cut_file)


async def handoff_file(request: web.Request) -> web.StreamResponse:
    return await _served(request, screening.handoff_file)


async def _served(request: web.Request, find: Callable[..., Awaitable[Path]]
                  ) -> web.StreamResponse:
    studio = request.app[STUDIO]
    try:
        path = await find(studio, await _production(request),
                          int(request.match_info["version"]), request.match_info["name"])
    except NotFound as exc:
        return _missing(request, exc)
    # Text files a browser would show as a page are given as what they are, plain text.
    kind = {".md": "text/plain", ".txt": "text/plain", ".edl": "text/plain",
            ".otio": "application/json"}.get(path.suffix)
    return _file(path, content_type=kind)


async def handoff_zip(request: web.Request) -> web.StreamResponse:
    studio = request.app[STUDIO]
    version = int(request.match_info["version"])
    try:
        path = await screening.handoff_zip(studio, await _production(request), version)
    except NotFound as exc:
        return _missing(request, exc)
    return _file(path, content_type="application/zip",
                 download=f"cut-{version:04d}-handoff.zip")


async def chapter_page(request: web.Request) -> web.Response:
    studio = request.app[STUDIO]
    try:
        view = await screening.chapter(studio, await _production(request),
                                       int(request.match_info["number"]))
    except NotFound as exc:
        return _missing(request, exc)
    return _html(pages.chapter(view, access.token_of(request)))


async def media(request: web.Request) -> web.StreamResponse:
    studio = request.app[STUDIO]
    try:
        path, kind = await screening.media_file(studio, await _production(request),
                                                request.match_info["sha256"])
    except NotFound as exc:
        return _missing(request, exc)
    # Content-addressed: a hash always names the same bytes.
    response = _file(path, content_type=kind)
    response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return response


async def style(request: web.Request) -> web.Response:
    return web.Response(text=STYLE, content_type="text/css", charset="utf-8",
                        headers={"Cache-Control": "public, max-age=3600"})


class WebServer:
    """The web face listening on SLATE_WEB_BIND (port 0: any free port, told by `.port`)."""

    def __init__(self, studio: Studio, *, host: str, port: int,
                 health_server: HealthServer | None = None) -> None:
        self.studio = studio
        self.host = host
        self.requested_port = port
        self.port = 0
        self.health_server = health_server
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        app = make_app(self.studio, health_server=self.health_server)
        self._runner = web.AppRunner(app, access_log_class=access.AccessLogger,
                                     access_log=logging.getLogger("slate.web.access"))
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.requested_port)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        self.port = int(self._runner.addresses[0][1])
        log.info("web face on http://%s:%d", self.host, self.port)
        return self.port

    @property
    def url(self) -> str:
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def start_for(studio: Studio, health_server: HealthServer | None = None
                    ) -> WebServer | None:
    """Start the web face from the settings (None when SLATE_WEB_BIND is off). A port that
    cannot be taken is logged in one line and the bot runs on without its web face."""
    address = studio.settings.web_address
    if address is None:
        return None
    server = WebServer(studio, host=address[0], port=address[1], health_server=health_server)
    try:
        await server.start()
    except OSError as exc:
        log.error("the web face cannot listen on %s: %s (set SLATE_WEB_BIND)",
                  studio.settings.web_bind, exc.strerror or exc)
        return None
    return server
