"""Signed links to the web face: an HMAC token naming a production and when it expires.

A token is `<production id>.<expiry, unix seconds>.<signature>`; the signature is HMAC-SHA256
under SLATE_WEB_SECRET, so a link cannot be stretched in time or moved to another production.
The secret is read from the settings only and never logged. Without one, a random key is made
for this process: links still work, but not after a restart (a warning says so once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from studio.ops.settings import Settings

log = logging.getLogger(__name__)

_PROCESS_KEY: bytes | None = None


@dataclass(frozen=True)
class Grant:
    """What a valid token allows: the pages of one production, until `expires`."""

    production_id: int
    expires: int


class LinkRefused(Exception):
    """A token that is missing, malformed, tampered with or expired (the reason is for logs)."""


def _key(settings: Settings) -> bytes:
    global _PROCESS_KEY
    if settings.web_secret is not None:
        return settings.web_secret.get_secret_value().encode()
    if _PROCESS_KEY is None:
        _PROCESS_KEY = secrets.token_bytes(32)
        log.warning("SLATE_WEB_SECRET is not set: screening links made now stop working when "
                    "the process restarts")
    return _PROCESS_KEY


def _signature(settings: Settings, production_id: int, expires: int) -> str:
    mac = hmac.new(_key(settings), f"slate-web:{production_id}:{expires}".encode(),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sign(settings: Settings, production_id: int, *, now: float | None = None,
         days: float | None = None) -> str:
    """A fresh token for a production's pages, lasting WEB_LINK_DAYS (or `days`)."""
    lasting = (settings.web_link_days if days is None else days) * 86400
    expires = int((time.time() if now is None else now) + lasting)
    return f"{production_id}.{expires}.{_signature(settings, production_id, expires)}"


def check(settings: Settings, token: str, *, now: float | None = None) -> Grant:
    """The grant a token carries, or LinkRefused."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise LinkRefused("malformed token")
    production_id, expires = int(parts[0]), int(parts[1])
    if not hmac.compare_digest(parts[2], _signature(settings, production_id, expires)):
        raise LinkRefused("bad signature")
    if expires < (time.time() if now is None else now):
        raise LinkRefused("expired")
    return Grant(production_id, expires)


def base_url(settings: Settings) -> str:
    """Where members reach the web face: SLATE_PUBLIC_URL, else the address it listens on."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    address = settings.web_address or ("127.0.0.1", 8080)
    host = address[0] if address[0] not in ("0.0.0.0", "::", "") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{address[1]}"


def page_link(settings: Settings, production_id: int, path: str = "/", *,
              base: str | None = None) -> str:
    """A link to one page, signed unless the production's pages are public."""
    url = (base or base_url(settings)) + quote(path)
    if settings.web_public:
        return url
    return f"{url}?{urlencode({'t': sign(settings, production_id)})}"


def screening_link(settings: Settings, production_id: int, version: int, *,
                   base: str | None = None) -> str:
    """A fresh signed link to a cut's screening page."""
    return page_link(settings, production_id, f"/cuts/{version}", base=base)
