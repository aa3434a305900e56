"""HTML to text for the importers, with selectolax (Lexbor, a real HTML5 parser).

Why selectolax: it parses broken markup the way browsers do (as BeautifulSoup does), and it is the
fastest of the parsers we measured on the ministry's pages and on feed item summaries
(benchmarks/bench_import.py --parsers): a 5,000-item feed turns 5,000 HTML summaries into text,
where BeautifulSoup's Python tree costs seconds.

Block elements (p, div, li, h1…, br…) become line breaks; scripts, styles, forms and the page's
<nav> and <footer> elements are dropped; runs of white space inside a line are one space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

_BREAK = "\u2029"  # a paragraph separator no page uses: marks block boundaries before spaces collapse
_BLOCKS = ("p, div, br, li, ul, ol, h1, h2, h3, h4, h5, h6, tr, table, section, article, header, footer, "
           "blockquote, dd, dt, dl, figure, figcaption, pre, hr, main, aside, nav, form, td, th, time")
_DROP = ["script", "style", "noscript", "template", "iframe", "svg", "form", "button", "select", "head", "nav",
         "footer"]
_SPACE = re.compile(r"[ \t\r\n\f\v\u00a0\u200b]+")


@dataclass
class Page:
    """What an importer needs from one HTML page."""

    lines: list[str]  # the visible text, one block per line, empty blocks dropped
    title: str = ""  # og:title, else <title>
    canonical: str = ""  # link rel=canonical or og:url, absolute
    published: str = ""  # article:published_time or the first <time datetime>
    links: list[tuple[str, str]] = field(default_factory=list)  # (absolute href, link text) in page order
    article: list[str] = field(default_factory=list)  # the lines of <article> or <main>, when the page has one
    heading: str = ""  # the article's first h1-h3


def _tree(html: str | bytes) -> LexborHTMLParser:
    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
    return LexborHTMLParser(html)


def _meta(tree: LexborHTMLParser, *names: str) -> str:
    for name in names:
        node = tree.css_first(f'meta[property="{name}"]') or tree.css_first(f'meta[name="{name}"]')
        if node is not None and (node.attributes.get("content") or "").strip():
            return node.attributes["content"].strip()
    return ""


def _visible_lines(tree: LexborHTMLParser, root) -> list[str]:
    for node in root.css(_BLOCKS):
        node.insert_before(_BREAK)
        node.insert_after(_BREAK)
    text = root.text(deep=True)
    lines = (_SPACE.sub(" ", part).strip() for part in text.split(_BREAK))
    return [line for line in lines if line]


def parse_page(html: str | bytes, base_url: str = "") -> Page:
    """The page's visible lines, its title, canonical address, publication time and links."""
    tree = _tree(html)
    title = _meta(tree, "og:title") or (tree.css_first("title").text(strip=True) if tree.css_first("title") else "")
    canonical = ""
    node = tree.css_first('link[rel="canonical"]')
    if node is not None:
        canonical = (node.attributes.get("href") or "").strip()
    canonical = canonical or _meta(tree, "og:url")
    published = _meta(tree, "article:published_time", "date", "dc.date")
    if not published:
        node = tree.css_first("time[datetime]")
        published = (node.attributes.get("datetime") or "").strip() if node is not None else ""
    links = []
    for a in tree.css("a[href]"):
        href = (a.attributes.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
            continue
        absolute = urljoin(base_url, href) if base_url else href
        if urlsplit(absolute).scheme in ("http", "https", ""):  # relative only when the page's address is unknown
            links.append((absolute, _SPACE.sub(" ", a.text(deep=True)).strip()))
    tree.strip_tags(_DROP)
    main = tree.css_first("[itemprop=articleBody]") or tree.css_first("article") or tree.css_first("main")
    heading = ""
    if main is not None:
        node = main.css_first("h1, h2, h3") or tree.css_first("h1")
        heading = _SPACE.sub(" ", node.text(deep=True)).strip() if node is not None else ""
    root = tree.body or tree.root
    lines = _visible_lines(tree, root) if root is not None else []
    article = _visible_lines(tree, main) if main is not None else []
    if canonical and base_url:
        canonical = urljoin(base_url, canonical)
    return Page(lines, title=_SPACE.sub(" ", title).strip(), canonical=canonical, published=published, links=links,
                article=article, heading=heading)


def fragment_text(html: str) -> str:
    """An HTML fragment (a feed item's summary or content) as plain paragraphs separated by blank lines."""
    if "<" not in html and "&" not in html:
        return "\n\n".join(p for p in (_SPACE.sub(" ", part).strip() for part in html.split("\n\n")) if p)
    tree = LexborHTMLParser(f"<body>{html}</body>")
    tree.strip_tags(_DROP)
    root = tree.body or tree.root
    return "\n\n".join(_visible_lines(tree, root)) if root is not None else ""


def looks_like_html(head: str) -> bool:
    """The first bytes of a document (lower-cased) are an HTML page rather than XML or text."""
    head = head.lstrip("\ufeff \t\r\n")
    return head.startswith(("<!doctype html", "<html")) or bool(re.match(r"<(head|body|div|p|meta|title)\b", head))
