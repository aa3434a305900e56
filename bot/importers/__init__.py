"""Importing the ministry's news from its own formats: a blog page (HTML or saved text), a list page
of such posts (links followed), RSS and Atom feeds, JSON and CSV.

    batch = await load(source)              # a file path or an http(s) URL; the format from the content
    posts, contacts = import_batch(store, batch)

`load` reads and parses (no store); `import_batch` writes through the store's locked path with the
de-duplication of bot/importers/merge.py. Nothing here imports Telegram. Used by
`python -m bot import` and by the bot's scheduled refresh (bot/feeds.py).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.importers.blog import NotABlogPage, parse_article, parse_blog_lines, parse_blog_text
from bot.importers.feed import FeedError, parse_feed
from bot.importers.fetch import Fetched, FetchError, fetch
from bot.importers.html import Page, looks_like_html, parse_page
from bot.importers.merge import preparer, url_key
from bot.importers.settings import tunables
from bot.importers.tabular import TableError, parse_csv, parse_json
from bot.models import ImportReport

FORMATS = ("blog", "list", "rss", "atom", "json", "csv")
_DESCRIBE = {"blog": "an HTML page", "list": "an HTML page", "rss": "an RSS or Atom feed", "atom": "an RSS or Atom feed",
             "json": "a JSON file", "csv": "a CSV file"}
_DATE_LINE = re.compile(r"^\s*\d{4}[-/.]\d{2}[-/.]\d{2}(?:\s+\d{1,2}:\d{2})?\s*$", re.M)


class SourceError(ValueError):
    """The source cannot be read or is not in a format we import; one line for the person or the log."""


@dataclass
class Batch:
    """What one source holds, parsed, before it meets the store."""

    format: str
    source: str  # provenance name stored with each post ("feed MOI news", "import posts.json"…)
    posts: list = field(default_factory=list)
    contacts: list = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # "line 4: …", "item 7: …", "<url>: …"
    fetched: Fetched | None = None  # the HTTP answer, for a URL source


def is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


# -- which format ------------------------------------------------------------------------------

def detect_format(data: bytes, *, content_type: str = "", url: str = "") -> str:
    """One of FORMATS from the document itself (the content type only breaks a tie); SourceError if none fits."""
    head = data[:4096].decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    low = head.lower()
    if head.startswith(("[", "{")):
        return "json"
    if head.startswith("<"):
        if looks_like_html(low):
            return _html_kind(data, url)
        body = re.sub(r"<\?xml[^>]*>|<!--.*?-->|<!doctype[^>]*>|<\?xml-stylesheet[^>]*>", "", low, flags=re.S).lstrip()
        if body.startswith("<rss") or body.startswith("<rdf:rdf"):
            return "rss"
        if body.startswith("<feed"):
            return "atom"
        if "html" in content_type:
            return _html_kind(data, url)
        raise SourceError("an XML document that is neither RSS nor Atom")
    first = head.splitlines()[0].lower() if head else ""
    if "," in first or ";" in first or "\t" in first:
        cells = {c.strip().strip('"') for c in re.split(r"[,;\t]", first)}
        if {"title", "date"} <= cells:
            return "csv"
    if _DATE_LINE.search(head if len(data) <= 4096 else data.decode("utf-8", errors="replace")):
        return "blog"
    raise SourceError("cannot tell the format (not a blog page, list page, RSS, Atom, JSON or CSV); "
                      "name it with --format")


def _html_kind(data: bytes, url: str = "") -> str:
    page = parse_page(data, base_url=url)
    return "list" if _is_list(page) else "blog"


def _detail_links(page: Page, base: str = "") -> list[str]:
    pattern = re.compile(tunables()["fetch"]["list_link_pattern"])
    host = urlsplit(base).netloc.lower() if base else ""
    seen: set[str] = set()
    links = []
    for href, _text in page.links:
        key = url_key(href)
        if key in seen or not pattern.search(href) or (host and urlsplit(href).netloc.lower() != host):
            continue
        if base and key == url_key(base):
            continue
        seen.add(key)
        links.append(href)
    return links


def _is_list(page: Page) -> bool:
    """Several links to posts and no single post (a post page has one date line and a long text)."""
    if len(_detail_links(page)) < 3:
        return False
    dates = sum(1 for line in page.lines if _DATE_LINE.match(line))
    if dates >= 2:
        return True
    try:
        parse_blog_lines(page.lines)
    except NotABlogPage:
        return True
    return False


# -- reading one document ----------------------------------------------------------------------

def parse_document(data: bytes, fmt: str, *, name: str, url: str = "", content_type: str = "") -> Batch:
    """One document in `fmt` (not "list": its links are fetched by `load`) as a Batch."""
    if fmt in ("rss", "atom"):
        try:
            title, posts, rejected = parse_feed(data, source_url=url, content_type=content_type)
        except FeedError as exc:
            raise SourceError(str(exc)) from None
        return Batch(fmt, f"feed {title or name}", posts, [], rejected)
    text = data.decode("utf-8-sig", errors="replace")
    if fmt == "json":
        try:
            posts, contacts = parse_json(text)
        except ValueError as exc:
            raise SourceError(f"not a JSON list of records: {exc}") from None
        return Batch(fmt, f"import {name}", posts, contacts, [])
    if fmt == "csv":
        try:
            posts, rejected = parse_csv(text)
        except TableError as exc:
            raise SourceError(str(exc)) from None
        for post in posts:
            if url:
                post.setdefault("source_url", url)
        return Batch(fmt, f"import {name}", posts, [], rejected)
    if fmt == "blog":
        return Batch(fmt, f"blog page {name}", [blog_record(data, url=url)], [], [])
    raise SourceError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


def blog_record(data: bytes, *, url: str = "", source_url: str = "") -> dict:
    """One blog post page (HTML or saved text) as a raw post record; SourceError if it is none."""
    text = data.decode("utf-8-sig", errors="replace")
    canonical = ""
    try:
        if looks_like_html(text[:2048].lower()):
            page = parse_page(text, base_url=url)
            canonical = page.canonical
            try:
                post = parse_blog_lines(page.lines)
            except NotABlogPage:  # another layout: the article, its metadata and heading
                post = parse_article(page.article, heading=page.heading, title=page.title, published=page.published)
        else:
            post = parse_blog_text(text)
    except NotABlogPage as exc:
        raise SourceError(str(exc)) from None
    address = canonical or url
    if address:
        post["url"] = address
    if source_url or is_url(url):
        post["source_url"] = source_url or url
    return post


# -- reading a source: a file or a URL, and a list page's links ---------------------------------

async def load(source: str, *, fmt: str | None = None, page_url: str = "", category: str | None = None,
               delay: float | None = None, max_pages: int | None = None, timeout: float | None = None,
               etag: str = "", last_modified: str = "", known: Callable[[str], bool] | None = None,
               expect: str = "",
               progress: Callable[[str, int, int], None] | None = None) -> Batch:
    """Read `source` (a file path or an http(s) URL) and parse it.

    `page_url`: for a file, the address it was saved from (its posts' Read more link, and the base of a
    list page's links). `category`: for new posts whose source names none. A list page's links are
    fetched one at a time, `delay` seconds apart, at most `max_pages`; `progress(stage, done, total)`
    follows them, and links for which `known(url)` is true are not fetched (the scheduled refresh skips posts
    it has). With etag/last_modified an unchanged URL returns a Batch with `fetched.not_modified`. Parsing
    runs in a worker thread, so a bot's event loop goes on answering while a large feed is read. `expect`:
    the format the source served before; a feed that now serves an HTML page (or anything else) is refused."""
    if fmt is not None and fmt not in FORMATS:
        raise SourceError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    fetched = None
    if is_url(source):
        try:
            fetched = await fetch(source, timeout=timeout, etag=etag, last_modified=last_modified)
        except FetchError as exc:
            raise SourceError(str(exc)) from None
        if fetched.not_modified:
            return Batch(fmt or "", source, fetched=fetched)
        data, name, url, content_type = fetched.body, fetched.url, fetched.url, fetched.content_type
    else:
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read {source}: {exc.strerror}") from None
        name, url, content_type = path.name, page_url, ""
    if not data.strip():
        raise SourceError("the source is empty")

    def parse() -> tuple[str, Batch | None]:
        kind = fmt or detect_format(data, content_type=content_type, url=url)
        if expect and _DESCRIBE.get(kind, kind) != _DESCRIBE.get(expect, expect):
            raise SourceError(f"{_DESCRIBE.get(kind, kind)} where {_DESCRIBE.get(expect, expect)} was expected")
        return kind, None if kind == "list" else parse_document(data, kind, name=name, url=url,
                                                                content_type=content_type)

    kind, batch = await asyncio.to_thread(parse)
    if batch is None:
        batch = await _follow_list(data, base=url, name=name, delay=delay, max_pages=max_pages, timeout=timeout,
                                   known=known, progress=progress)
    if category:
        for post in batch.posts:
            if isinstance(post, dict):
                post.setdefault("_category", category)
    batch.fetched = fetched
    return batch


async def _follow_list(data: bytes, *, base: str, name: str, delay: float | None, max_pages: int | None,
                       timeout: float | None, known: Callable[[str], bool] | None,
                       progress: Callable[[str, int, int], None] | None) -> Batch:
    cfg = tunables()["fetch"]
    delay = float(cfg["list_delay_s"] if delay is None else delay)
    max_pages = int(cfg["list_max_pages"] if max_pages is None else max_pages)
    links = _detail_links(parse_page(data, base_url=base), base)
    if not links:
        raise SourceError("a page with no links to posts (nothing matches list_link_pattern in "
                          "data/importing.json)")
    batch = Batch("list", f"list page {name}")
    if known is not None:
        links = [link for link in links if not known(link)]
    if len(links) > max_pages:
        batch.rejected.append(f"{len(links) - max_pages} more link(s) not followed (at most {max_pages} a run)")
        links = links[:max_pages]
    for n, link in enumerate(links):
        if progress:
            progress("pages", n, len(links))
        if n:
            await asyncio.sleep(delay)  # politely: one request at a time, a pause between them
        try:
            page = await fetch(link, timeout=timeout)
            batch.posts.append(blog_record(page.body, url=page.url, source_url=base or page.url))
        except (FetchError, SourceError) as exc:
            batch.rejected.append(f"{link}: {exc}")
    if progress:
        progress("pages", len(links), len(links))
    return batch


# -- into the store ----------------------------------------------------------------------------

def import_batch(store, batch: Batch, *, progress: Callable[[int], None] | None = None,
                 id_prefix: str | None = None) -> tuple[ImportReport, ImportReport]:
    """Write a batch through the store's locked path, matched to the posts it updates; the batch's own
    rejections are added to the post report."""
    posts, contacts = store.import_records(batch.posts, batch.contacts, source=batch.source, progress=progress,
                                           prepare=preparer(id_prefix=id_prefix))
    posts.rejected[:0] = batch.rejected
    return posts, contacts


__all__ = ["FORMATS", "Batch", "SourceError", "detect_format", "import_batch", "is_url", "load", "parse_document"]
