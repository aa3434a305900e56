"""One page of the ministry's English blog, as published (HTML) or as saved text: date, title, body.

The page shows the site's navigation and the archive counts ("2019 (54)") above the post, the
post as a "YYYY-MM-DD HH:MM" line, the title on the next line and the text, then "TOP Back to
list" and the footer (links, the 1996 hotline, the address). The post is what lies between the
date line and "Back to list"; the photo caption, which the page prints twice in one line, is kept
once, and a paragraph repeated right after itself is kept once.
"""

from __future__ import annotations

import re

_DATE_LINE = re.compile(r"^(\d{4})[-/.](\d{2})[-/.](\d{2})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$")
_END_MARKERS = ("TOP Back to list", "Back to list", "TOP")
_ARCHIVE_COUNT = re.compile(r"^\d{4} \(\d+\)$")  # "2018 (37)": the archive's counts, not the post
_TOOLS = {"print share", "print", "share", "font size"}


class NotABlogPage(ValueError):
    """The text has no "YYYY-MM-DD HH:MM" line followed by a title and a body."""


def parse_blog_lines(lines: list[str]) -> dict:
    """{"date", "title", "body"} from the visible lines of one blog post page."""
    lines = [" ".join(line.split()) for line in lines]
    start = next((i for i, line in enumerate(lines) if _DATE_LINE.match(line)), None)
    if start is None:
        raise NotABlogPage("no 'YYYY-MM-DD HH:MM' date line: not a page of the ministry's blog")
    y, m, d = _DATE_LINE.match(lines[start]).groups()
    rest = lines[start + 1:]
    title_at = next((i for i, line in enumerate(rest) if line and line.lower() not in _TOOLS), None)
    if title_at is None:
        raise NotABlogPage("a date line but no title after it")
    title = rest[title_at]
    paragraphs: list[str] = []
    for line in rest[title_at + 1:]:
        if line.startswith(_END_MARKERS[:2]) or line == _END_MARKERS[2]:
            break
        if not line or _ARCHIVE_COUNT.match(line) or line.lower() in _TOOLS:
            continue
        line = dedupe_doubled(line)
        if paragraphs and paragraphs[-1] == line:
            continue
        paragraphs.append(line)
    if not paragraphs:
        raise NotABlogPage("a date and a title but no text")
    return {"date": f"{y}-{m}-{d}", "title": title, "body": "\n\n".join(paragraphs)}


_ISO_DAY = re.compile(r"(\d{4})[-/.](\d{2})[-/.](\d{2})")


def parse_article(lines: list[str], *, heading: str, title: str, published: str) -> dict:
    """A page without the blog's date line: the date from its metadata (article:published_time, <time>)
    or a date in its first lines, the title from its heading (or og:title), the text of <article>/<main>."""
    day = _ISO_DAY.search(published or "") or next(
        (m for m in (_ISO_DAY.search(line) for line in lines[:6]) if m), None)
    name = heading or title
    if day is None or not name:
        raise NotABlogPage("no 'YYYY-MM-DD HH:MM' date line, nor an article with a date and a title: not a page of "
                           "the ministry's blog")
    paragraphs: list[str] = []
    for line in lines:
        if line == name or _DATE_LINE.match(line) or line.lower() in _TOOLS or (len(line) <= 40 and _ISO_DAY.search(line)):
            continue  # the title, the date ("Posted 2026-10-02"), the page's tools
        if line.startswith(_END_MARKERS[:2]) or line == _END_MARKERS[2]:
            break
        line = dedupe_doubled(line)
        if not paragraphs or paragraphs[-1] != line:
            paragraphs.append(line)
    if not paragraphs:
        raise NotABlogPage("an article with a date and a title but no text")
    return {"date": "-".join(day.groups()), "title": name, "body": "\n\n".join(paragraphs)}


def parse_blog_text(text: str) -> dict:
    """{"date", "title", "body"} from the saved text of one blog post page."""
    return parse_blog_lines(text.splitlines())


def dedupe_doubled(paragraph: str) -> str:
    """"A caption.A caption." (the page prints photo captions twice in one line) -> "A caption."."""
    n = len(paragraph)
    for gap in (0, 1, 2):
        if (n - gap) % 2 or n - gap < 20:
            continue
        half = (n - gap) // 2
        if paragraph[:half] == paragraph[half + gap:] and not paragraph[half:half + gap].strip():
            return paragraph[:half]
    return paragraph
