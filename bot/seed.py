"""Turn a saved page of the ministry's English blog into a post: date, title and body only.

The page text carries the site's navigation above the post and the footer below it; both are
dropped. Used to build the bundled store from data/sources/.
"""

from __future__ import annotations

import re

_DATE_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?: \d{2}:\d{2})?$")
_END_MARKERS = ("TOP Back to list", "Back to list")


def parse_blog_page(text: str) -> dict:
    """Return {"date", "title", "body"} from the text of one blog post page."""
    lines = [line.strip() for line in text.splitlines()]
    start = next((i for i, line in enumerate(lines) if _DATE_LINE.match(line)), None)
    if start is None or start + 1 >= len(lines):
        raise ValueError("no 'YYYY-MM-DD HH:MM' date line found: not a blog post page")
    date = _DATE_LINE.match(lines[start]).group(1)
    title = lines[start + 1]
    body_lines: list[str] = []
    for line in lines[start + 2 :]:
        if line.startswith(_END_MARKERS):
            break
        body_lines.append(line)
    paragraphs = [p for p in body_lines if p]
    # The page repeats the photo caption twice in one line; keep it once.
    paragraphs = [_dedupe_caption(p) for p in paragraphs]
    return {"date": date, "title": title, "body": "\n\n".join(paragraphs)}


def _dedupe_caption(paragraph: str) -> str:
    half = len(paragraph) // 2
    if len(paragraph) % 2 == 0 and paragraph[:half] == paragraph[half:]:
        return paragraph[:half]
    return paragraph
