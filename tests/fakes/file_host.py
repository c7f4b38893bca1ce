"""A loopback file host for takes brought by link: a file served with Range and ETag (as CDNs
and Runway's or Pika's download links do), redirects, a web page posing as a video, an
endless body, and a download that stops half-way until released."""

from __future__ import annotations

import asyncio
import hashlib

from aiohttp import web

from tests.fakes.providers.common import FakeServer

CHUNK = 8192


class FakeFileHost(FakeServer):
    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        self.ranges: list[str] = []  # the Range header of each request for the file ('' none)
        self.sent_endless = 0
        self.endless_finished = False
        self.half_sent = asyncio.Event()
        self.release = asyncio.Event()
        self.redirect_to = "https://10.1.2.3/take.mp4"
        add = self.app.router.add_get
        add("/take.mp4", self.file)
        add("/notes.txt", self.file)  # a video whatever the name and type say
        add("/go", self.redirect)
        add("/elsewhere", self.redirect_elsewhere)
        add("/page.mp4", self.page)
        add("/endless", self.endless)
        add("/big", self.big)
        add("/halting.mp4", self.halting)

    async def file(self, request: web.Request) -> web.StreamResponse:
        asked = request.headers.get("Range", "")
        self.requests.append({"path": request.path, "range": asked,
                              "if_range": request.headers.get("If-Range", "")})
        self.ranges.append(asked)
        kind = "text/plain" if request.path.endswith(".txt") else "video/mp4"
        start = 0
        if asked.startswith("bytes=") and request.headers.get("If-Range") == self.etag:
            start = int(asked[6:].split("-")[0])
        body = self.body[start:]
        headers = {"ETag": self.etag, "Accept-Ranges": "bytes", "Content-Type": kind}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(self.body) - 1}/{len(self.body)}"
            return web.Response(status=206, body=body, headers=headers)
        return web.Response(body=body, headers=headers)

    async def halting(self, request: web.Request) -> web.StreamResponse:
        """The first half, then nothing until `release` (a restart happens meanwhile)."""
        if self.release.is_set():
            return await self.file(request)
        self.ranges.append(request.headers.get("Range", ""))
        response = web.StreamResponse(headers={"ETag": self.etag, "Accept-Ranges": "bytes",
                                               "Content-Type": "video/mp4"})
        response.content_length = len(self.body)
        await response.prepare(request)
        await response.write(self.body[:len(self.body) // 2])
        self.half_sent.set()
        await self.release.wait()
        return response

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(self.redirect_to)

    async def redirect_elsewhere(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/take.mp4")

    async def page(self, request: web.Request) -> web.Response:
        """A login page served under a video's name and type."""
        return web.Response(text="<!DOCTYPE html><html><body>Sign in to download</body></html>"
                                 + " " * 200, content_type="video/mp4")

    async def endless(self, request: web.Request) -> web.StreamResponse:
        """A body with no length that never ends unless the client stops reading."""
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        piece = self.body[:CHUNK].ljust(CHUNK, b"\0")
        try:
            for _ in range(50 * 1024 * 1024 // CHUNK):
                await response.write(piece)
                self.sent_endless += len(piece)
            self.endless_finished = True
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response

    async def big(self, request: web.Request) -> web.StreamResponse:
        """A file whose length says at once that it is over the limit."""
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = 1024 * 1024 * 1024
        await response.prepare(request)
        try:
            await response.write(self.body[:CHUNK])
            await asyncio.sleep(30)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response
