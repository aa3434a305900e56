"""Turn a saved page of the ministry's English blog into a post: date, title and body only.

The page text carries the site's navigation above the post and the footer below it; both are
dropped. Used to build the bundled store from data/sources/; the parser itself is the importer's
(bot/importers/blog.py), which `python -m bot import` uses for the same pages as HTML or text.
"""

from __future__ import annotations

from bot.importers.blog import parse_blog_text


def parse_blog_page(text: str) -> dict:
    """Return {"date", "title", "body"} from the text of one blog post page."""
    return parse_blog_text(text)
