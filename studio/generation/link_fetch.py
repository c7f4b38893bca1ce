"""Fetching a take from a link, safely: public https addresses only, a size cap, content sniffed.

A link is a way into the server's own network (SSRF): every hop's host is resolved here, each
address checked (loopback, private, link-local, cloud metadata, reserved: refused with the
reason), and the connection made to the checked addresses (aiohttp asks our pinned resolver,
never the system's), so a name cannot resolve to one address for the check and another for
the connection. Redirects are followed by hand, each checked the same way. What the file is
comes from its first bytes, never from its name or Content-Type. The body is counted as it
arrives and the fetch stops at the cap. A partial file is resumed with Range/If-Range.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from studio.units import size_text

Resolve = Callable[[str, int], Awaitable[list[str]]]
OnProgress = Callable[[int, int | None], None]

MAX_REDIRECTS = 5
CHUNK = 64 * 1024
SNIFF_BYTES = 64
# Cloud instance metadata services: AWS/GCP/Azure/OpenStack, AWS over IPv6, Alibaba.
METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254",
                                               "100.100.100.200")}
ADDRESS_WORDS = "Slate fetches links from public https addresses only"


class LinkRefused(Exception):
    """The link or its file is refused for good (the reason is for the user)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LinkTrouble(Exception):
    """The network failed on the way: worth another attempt (resuming what arrived)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_problem(address: str, *, allow_loopback: bool) -> str | None:
    """Why a connection to `address` is refused, or None when it is a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA:
        return "a cloud metadata address"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_private:
        return "a private address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return "a reserved address"
    return None


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def parse(url: str) -> URL:
    try:
        parsed = URL(url.strip())
    except (ValueError, TypeError):
        raise LinkRefused("that is not a link") from None
    if not parsed.is_absolute() or not parsed.host:
        raise LinkRefused("that is not a link: give the whole https://… address")
    if parsed.user or parsed.password:
        raise LinkRefused("a link with a user name or password in it is not fetched")
    return parsed


async def checked_addresses(url: URL, *, allow_loopback: bool, resolve: Resolve,
                            hop: str = "the link") -> list[str]:
    """The addresses to connect to for `url`, every one checked; refused with the reason."""
    if url.scheme not in ("https", "http"):
        raise LinkRefused(f"{hop} is {url.scheme or 'not'} a web address; {ADDRESS_WORDS}")
    host = url.raw_host or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        try:
            addresses = await resolve(host, port)
        except OSError:
            raise LinkTrouble(f"the host {host[:80]} is not found") from None
    if not addresses:
        raise LinkTrouble(f"the host {host[:80]} is not found")
    for address in addresses:
        problem = address_problem(address, allow_loopback=allow_loopback)
        if problem:
            leads = "leads to" if hop == "the link" else "points to"
            raise LinkRefused(f"{hop} {leads} {address}, {problem}; {ADDRESS_WORDS}")
    # Plain http only where tests run their servers (the test-only loopback setting).
    if url.scheme == "http" and not (allow_loopback and all(map(_is_loopback, addresses))):
        raise LinkRefused(f"{hop} is http, not https; {ADDRESS_WORDS}")
    return addresses


class PinnedResolver(AbstractResolver):
    """aiohttp's resolver for one connection: the checked addresses, nothing else."""

    def __init__(self, host: str, addresses: list[str]) -> None:
        self.host = host
        self.addresses = addresses

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host != self.host:  # never fall back to a lookup we did not check
            raise OSError(f"no checked address for {host}")
        return [{"hostname": host, "host": a, "port": port,
                 "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST} for a in self.addresses]

    async def close(self) -> None:
        return None


def sniff(head: bytes) -> str | None:
    """What the first bytes say the file is (a container name), or None for anything else."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mp4/mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska/webm"
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"WAVE", b"WEBP"):
        return {b"AVI ": "avi", b"WAVE": "wav", b"WEBP": "webp"}[head[8:12]]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mpeg audio"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"OggS"):
        return "ogg"
    return None


def not_media(head: bytes) -> str:
    """The refusal for a file that is no video, image or audio, saying what it looks like."""
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text:
        looks = "a web page (HTML): the link may need a login, or lead to a page about the file"
    elif text.startswith((b"{", b"[")):
        looks = "JSON data"
    elif text.startswith(b"<?xml") or text.startswith(b"<"):
        looks = "an XML or HTML document"
    elif text.startswith(b"%pdf"):
        looks = "a PDF"
    elif text.startswith(b"pk\x03\x04"):
        looks = "a ZIP archive"
    else:
        looks = "not a video, image or audio file"
    return f"the link gives {looks}, not a video, image or audio file"


@dataclass
class Resume:
    """What the first response said, kept beside the partial file to resume it safely."""

    etag: str = ""
    last_modified: str = ""

    @classmethod
    def read(cls, path: Path) -> Resume:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        return cls(str(data.get("etag", "")), str(data.get("last_modified", "")))

    def write(self, path: Path) -> None:
        path.write_text(json.dumps({"etag": self.etag, "last_modified": self.last_modified}),
                        encoding="utf-8")

    @property
    def validator(self) -> str:
        """If-Range wants a strong ETag or a date; a weak ETag cannot resume."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return self.last_modified


async def fetch(url: str, part: Path, *, max_bytes: int, allow_loopback: bool,
                resolve: Resolve = system_resolve, on_progress: OnProgress | None = None,
                read_timeout: float = 60.0) -> str:
    """Download `url` into `part` (resuming what is there); return the sniffed container.

    LinkRefused: refused for good (the partial file is removed). LinkTrouble: try again."""
    meta = part.with_name(part.name + ".meta")
    try:
        return await _fetch(url, part, meta, max_bytes, allow_loopback, resolve,
                            on_progress, read_timeout)
    except LinkRefused:
        _discard(part, meta)
        raise


def _discard(*paths: Path) -> None:
    """Nothing kept of a refused file (quick: unlinks never wait on the disk's data)."""
    for path in paths:
        path.unlink(missing_ok=True)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(SNIFF_BYTES)


async def _fetch(url: str, part: Path, meta: Path, max_bytes: int, allow_loopback: bool,
                 resolve: Resolve, on_progress: OnProgress | None, read_timeout: float) -> str:
    here = parse(url)
    hop = "the link"
    for _ in range(MAX_REDIRECTS + 1):
        addresses = await checked_addresses(here, allow_loopback=allow_loopback,
                                            resolve=resolve, hop=hop)
        have = _size(part)
        resume = Resume.read(meta) if have else Resume()
        headers = {"Accept-Encoding": "identity", "User-Agent": "Slate (take fetch)"}
        if have and resume.validator:
            headers.update({"Range": f"bytes={have}-", "If-Range": resume.validator})
        connector = aiohttp.TCPConnector(resolver=PinnedResolver(here.raw_host or "",
                                                                 addresses),
                                         use_dns_cache=False, force_close=True)
        timeout = aiohttp.ClientTimeout(sock_connect=20, sock_read=read_timeout)
        try:
            async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                             auto_decompress=False, trust_env=False) as session, \
                    session.get(here, headers=headers, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308):
                    location = response.headers.get("Location", "")
                    if not location:
                        raise LinkRefused("the link redirects nowhere")
                    here = here.join(URL(location))
                    hop = "the link's redirect"
                    continue
                _check_status(response.status)
                return await _body(response, part, meta, have, max_bytes, on_progress)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise LinkTrouble(f"the download broke off ({type(exc).__name__})") from None
    raise LinkRefused(f"the link redirects more than {MAX_REDIRECTS} times")


def _check_status(status: int) -> None:
    if status in (200, 206):
        return
    if status in (408, 425, 429) or status >= 500:
        raise LinkTrouble(f"the link's server answered {status}")
    if status in (401, 403):
        raise LinkRefused(f"the link answered {status}: it needs a login or has expired")
    if status in (404, 410):
        raise LinkRefused(f"the link answered {status}: the file is not there (expired?)")
    raise LinkRefused(f"the link answered {status}")


async def _body(response: aiohttp.ClientResponse, part: Path, meta: Path, have: int,
                max_bytes: int, on_progress: OnProgress | None) -> str:
    limit = size_text(max_bytes)
    if response.status == 200 or have == 0:  # a fresh start (or the file changed)
        have = 0
        Resume(response.headers.get("ETag", ""),
               response.headers.get("Last-Modified", "")).write(meta)
    elif not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
        raise LinkTrouble("the server resumed at another place than asked")
    length = response.content_length
    total = have + length if length is not None else None
    if total is not None and total > max_bytes:
        raise LinkRefused(f"the file is {size_text(total)}; the limit is {limit}")
    received = have
    head = _head(part) if have else b""
    container: str | None = sniff(head) if have >= SNIFF_BYTES else None
    with part.open("ab" if have else "wb") as handle:
        async for chunk in response.content.iter_chunked(CHUNK):
            received += len(chunk)
            if received > max_bytes:
                raise LinkRefused(f"the file is over the limit of {limit}: the download was "
                                  f"stopped there and nothing kept")
            if container is None:
                head += chunk[:SNIFF_BYTES - len(head)]
                if len(head) >= SNIFF_BYTES:
                    container = sniff(head)
                    if container is None:
                        raise LinkRefused(not_media(head))
            handle.write(chunk)
            handle.flush()  # what is on disk is what a resume asks the rest after
            if on_progress is not None:
                on_progress(received, total)
    if total is not None and received < total:
        raise LinkTrouble(f"the download ended early ({size_text(received)} of "
                          f"{size_text(total)})")
    if container is None:  # a file shorter than the sniff window
        container = sniff(head)
        if container is None:
            raise LinkRefused(not_media(head))
    _discard(meta)
    return container
