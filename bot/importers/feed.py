"""RSS 2.0 (and 0.9x/1.0) and Atom feeds, read with feedparser, as raw post records.

feedparser reads broken feeds as far as it can and says so (`bozo`); a document that is no feed
at all (an HTML page, an error page, random bytes) has no feed version, and is refused whole.
HTML in titles and summaries becomes plain text (bot/importers/html.py).
"""

from __future__ import annotations

import calendar
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import feedparser

from bot.importers.html import fragment_text, looks_like_html
from bot.models import CATEGORIES

TAIPEI = ZoneInfo("Asia/Taipei")  # a post's date is the day in Taiwan


class FeedError(ValueError):
    """The document is not an RSS or Atom feed; the message says what it looked like."""


def parse_feed(data: bytes, *, source_url: str = "", content_type: str = "") -> tuple[str, list[dict], list[str]]:
    """(the feed's title, raw post records, rejected items with their reasons) of one feed document."""
    headers = {"content-type": content_type} if content_type else {}
    # A stream, never a str: feedparser would take a string for a URL or a file name.
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers, sanitize_html=False,
                              resolve_relative_uris=False)
    if not parsed.get("version"):
        head = data[:512].decode("utf-8", errors="replace").lower()
        if looks_like_html(head):
            raise FeedError("an HTML page where an RSS or Atom feed was expected")
        reason = parsed.get("bozo_exception")
        raise FeedError(f"not an RSS or Atom feed ({_reason(reason) if reason else 'no feed elements'})")
    feed_title = " ".join(fragment_text(parsed.feed.get("title", "")).split())
    posts: list[dict] = []
    rejected: list[str] = []
    for n, entry in enumerate(parsed.entries, start=1):
        try:
            posts.append(_entry_record(entry, feed_title, source_url))
        except ValueError as exc:
            title = " ".join(str(entry.get("title", "")).split())[:60]
            rejected.append(f"item {n}{f' ({title!r})' if title else ''}: {exc}")
    return feed_title, posts, rejected


def _entry_record(entry, feed_title: str, source_url: str) -> dict:
    title = " ".join(fragment_text(entry.get("title", "")).split())
    if not title:
        raise ValueError("no title")
    stamp = entry.get("published_parsed") or entry.get("updated_parsed") or entry.get("created_parsed")
    if not stamp:
        raise ValueError("no publication date (pubDate, published or updated)")
    day = datetime.fromtimestamp(calendar.timegm(stamp), UTC).astimezone(TAIPEI).date().isoformat()
    content = entry.get("content") or []
    html = max((c.get("value", "") for c in content), key=len, default="") or entry.get("summary", "")
    body = fragment_text(html)
    if not body:
        raise ValueError("no text (description, summary or content)")
    link = entry.get("link", "") or ""
    guid = entry.get("id", "") or ""
    url = link or (guid if guid.startswith(("http://", "https://")) else "")
    record = {"title": title, "date": day, "body": body, "source": f"feed {feed_title}".strip()}
    if url:
        record["url"] = url
    if source_url:
        record["source_url"] = source_url
    terms = [str(t.get("term", "")).strip().lower() for t in entry.get("tags", []) or []]
    category = next((t for t in terms if t in CATEGORIES), "")
    if category:
        record["_category"] = category
    return record


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:200]
