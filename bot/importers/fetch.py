"""Fetching a source over HTTP(S): one request at a time, a User-Agent naming the bot, a timeout on
the whole request (a server that accepts and never answers, or trickles, is cut off), a size limit,
and conditional requests (ETag / Last-Modified) so an unchanged feed costs a 304 and no parsing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from bot.importers.settings import tunables


class FetchError(RuntimeError):
    """The source could not be read; the message is one line for the log, /stats and doctor."""


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # after redirects
    status: int
    content_type: str
    body: bytes
    etag: str = ""
    last_modified: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def user_agent() -> str:
    return tunables()["fetch"]["user_agent"]


async def fetch(url: str, *, timeout: float | None = None, max_bytes: int | None = None, etag: str = "",
                last_modified: str = "", client: httpx.AsyncClient | None = None) -> Fetched:
    """GET `url`; raises FetchError for a timeout, a refused connection, an HTTP error or a body too large."""
    cfg = tunables()["fetch"]
    timeout = float(timeout if timeout is not None else cfg["timeout_s"])
    max_bytes = int(max_bytes if max_bytes is not None else cfg["max_bytes"])
    headers = {"User-Agent": user_agent(), "Accept": "application/rss+xml, application/atom+xml, application/xml, "
               "text/xml, text/html, application/json, text/csv, text/plain;q=0.8, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    own = client is None
    client = client or httpx.AsyncClient(follow_redirects=True, timeout=timeout)
    try:
        return await asyncio.wait_for(_get(client, url, headers, max_bytes), timeout)
    except TimeoutError:
        raise FetchError(f"no answer within {timeout:g} s (timed out)") from None
    except httpx.TimeoutException:
        raise FetchError(f"no answer within {timeout:g} s (timed out)") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot reach the source ({type(exc).__name__}: {_short(exc)})") from None
    finally:
        if own:
            await client.aclose()


async def _get(client: httpx.AsyncClient, url: str, headers: dict, max_bytes: int) -> Fetched:
    async with client.stream("GET", url, headers=headers) as response:
        if response.status_code == 304:
            return Fetched(str(response.url), 304, "", b"", headers.get("If-None-Match", ""),
                           headers.get("If-Modified-Since", ""))
        if response.status_code >= 400:
            raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}".strip())
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"larger than {max_bytes // 1_000_000} MB ({int(declared) // 1_000_000} MB)")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"larger than {max_bytes // 1_000_000} MB")
            chunks.append(chunk)
        return Fetched(str(response.url), response.status_code, response.headers.get("content-type", ""),
                       b"".join(chunks), response.headers.get("etag", ""), response.headers.get("last-modified", ""))


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160] or "no detail"
