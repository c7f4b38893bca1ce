"""The one masking of secrets, for everything that reaches a person or is stored.

Log lines, Discord messages, shell output, audit rows, job errors and Notion notices all pass
through `mask`: every configured secret (each SecretStr setting, passwords inside configured
URLs) and any `Bearer …` or `Token …` credential becomes `***`, wherever it came from (a
misbehaving service that echoes the request's Authorization header, for one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from pydantic import SecretStr

from storage import rows
from studio.ops.settings import Settings

REDACTED = "***"
# An HTTP auth scheme (Basic carries user:password in base64), then the credential.
_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)[^\s\"',;\\]+")
# "Token" is an ordinary word too: only a value that looks like a credential (8+ characters,
# with a digit or an underscore) is taken for one.
_TOKEN = re.compile(r"\b([Tt]oken)(\s+)(?=[^\s\"',;\\]*[\d_])[^\s\"',;\\]{8,}")

_known: set[str] = set()
_ordered: list[str] = []


def secret_values(settings: Settings) -> list[str]:
    """Every secret the settings hold, longest first (so a secret inside another goes too)."""
    found: set[str] = set()
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        items: Iterable[object] = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, SecretStr):
                found.add(item.get_secret_value())
            elif isinstance(item, str) and "://" in item:
                # A password in a URL (http://user:pass@host) is a secret too.
                password = urlsplit(item).password
                if password:
                    found.add(password)
    return sorted((s for s in found if s), key=len, reverse=True)


def remember(settings: Settings) -> None:
    """Mask these settings' secrets from now on, in this process (every face calls it at
    start: Studio.open and the log set-up); stored text is masked from here too."""
    fresh = set(secret_values(settings)) - _known
    if fresh:
        _known.update(fresh)
        _ordered[:] = sorted(_known, key=len, reverse=True)
    rows.scrub = mask


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every known secret, each of `secrets` and any Bearer/Token value as ***."""
    if not text:
        return text
    for secret in [*secrets, *_ordered]:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(rf"\1\2{REDACTED}", text)
    return _TOKEN.sub(rf"\1\2{REDACTED}", text)
