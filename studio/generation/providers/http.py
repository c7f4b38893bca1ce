"""What every hosted provider shares: an httpx client and HTTP status → retry or fail."""

from __future__ import annotations

import base64
import mimetypes
import os
from pathlib import Path

import httpx
from PIL import Image

from studio.generation.providers.base import ProviderError, final, transient

RETRIED = {408, 409, 425, 429, 500, 502, 503, 504}


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def reason_of(response: httpx.Response) -> str:
    """The provider's own words for a refusal, kept short; never the request (it holds keys)."""
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason_phrase)[:200]
    if isinstance(body, dict):
        for key in ("error", "detail", "message", "failure"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("status") or str(value)
            if isinstance(value, list) and value and isinstance(value[0], dict):
                value = "; ".join(str(v.get("msg", v)) for v in value)
            if value:
                return str(value)[:200]
    return str(body)[:200]


def check(response: httpx.Response, provider: str) -> httpx.Response:
    """Raise a transient or final ProviderError for a non-2xx answer."""
    if response.is_success:
        return response
    why = f"{provider} answered {response.status_code}: {reason_of(response)}"
    if response.status_code in RETRIED:
        raise transient(why, retry_after(response))
    if response.status_code == 401:
        raise final(f"{provider} refused the API key (401)")
    raise final(why)


def json_of(response: httpx.Response, provider: str) -> dict:
    try:
        body = response.json()
    except ValueError:
        raise transient(f"{provider} sent a malformed answer (not JSON)") from None
    if not isinstance(body, dict):
        raise transient(f"{provider} sent a malformed answer (not an object)")
    return body


async def send(client: httpx.AsyncClient, provider: str, method: str, url: str,
               **kwargs: object) -> httpx.Response:
    """One HTTP call whatever its status; network trouble is transient."""
    try:
        return await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise transient(f"{provider} could not be reached: {type(exc).__name__}") from None


async def request(client: httpx.AsyncClient, provider: str, method: str, url: str,
                  **kwargs: object) -> httpx.Response:
    """One HTTP call; network trouble is transient, status codes are sorted by check()."""
    return check(await send(client, provider, method, url, **kwargs), provider)


async def download(client: httpx.AsyncClient, provider: str, url: str, dest: Path,
                   name: str = "output") -> Path:
    """Fetch an output URL at once (hosted outputs expire); an expired URL fails the job."""
    os.makedirs(dest, exist_ok=True)
    try:
        async with client.stream("GET", url) as response:
            if response.status_code in (403, 404, 410):
                raise final(f"{provider}'s output link has expired ({response.status_code})")
            check(response, provider)
            suffix = Path(httpx.URL(url).path).suffix or _suffix(response)
            target = dest / f"{name}{suffix}"
            with target.open("wb") as handle:
                async for chunk in response.aiter_bytes():
                    handle.write(chunk)
    except ProviderError:
        raise
    except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise transient(f"{provider}'s output could not be fetched: {type(exc).__name__}") \
            from None
    return target


def _suffix(response: httpx.Response) -> str:
    kind = response.headers.get("content-type", "").split(";")[0]
    return mimetypes.guess_extension(kind) or ".bin"


def data_uri(path: str | Path) -> str:
    """A local image as a data: URI, how hosted APIs accept an input without a public URL."""
    path = Path(path)
    # Stored media has no file extension (named by hash): ask Pillow what the bytes are.
    with Image.open(path) as image:
        kind = Image.MIME.get(image.format or "PNG", "image/png")
    return f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode()
