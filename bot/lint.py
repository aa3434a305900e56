"""Lint for staff: what makes posts hard to find or to trust.

- Two posts the matcher cannot tell apart: asking with one's title scores the other within
  `lint_margin_points` of it (or above). Asked with the title and, where there is one, the Chinese title.
- An alternate question that finds another post as well as (or better than) its own, that another
  post has too, or that is long (a story rather than a question: its incidental words answer others).
- A post with no date, no source link (`url`) or no Chinese title (i18n["zh-TW"]["title"]).

`python -m bot lint` checks the whole store; staff adding a post or an alternate question get the
findings about it as a warning (check_post, check_question). It asks the engine's own index, so what
it reports is what citizens would meet. Nothing here imports Telegram.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.alternates import tunables
from bot.models import Post
from bot.text import clean, truncate_words

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_THAI = re.compile(r"[\u0e00-\u0e7f]")

CHECK_HITS = 5  # candidates looked at per probe


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # close-posts, close-question, shared-question, long-question, no-date, no-source, no-zh-title
    ids: tuple[str, ...]  # the post(s) concerned, the one checked first
    detail: str = ""  # the title or question asked with, or the score gap

    def line(self) -> str:
        """One line of plain text (the CLI prints it; the bot escapes it)."""
        what = {
            "close-posts": "posts the matcher cannot tell apart",
            "close-question": "alternate question finds another post as well",
            "shared-question": "alternate question on two posts",
            "long-question": "long alternate question: it may answer other questions that share a few of its "
                             "words; a short phrasing of the question is safer",
            "no-date": "no date",
            "no-source": "no source link",
            "no-zh-title": "no Chinese title",
        }[self.kind]
        return f"{' / '.join(self.ids)}: {what}" + (f" — {self.detail}" if self.detail else "")


def _margin() -> float:
    return float(tunables()["lint_margin_points"]) / 100  # the matcher's raw scores are 0-1


def _rivals(engine, text: str, own: str) -> list[tuple[str, float]]:
    """Posts that score within the margin of `own` (or above it) when asked with `text`, with the gap in
    points (negative: above it). `own` missing from the candidates counts as every candidate above it."""
    index = engine.post_index
    hits = index.score(index.plan(clean(text)), k=CHECK_HITS)
    mine = next((h for h in hits if h.id == own), None)
    floor = mine.parts["raw"] - _margin() if mine is not None else float("-inf")
    return [(h.id, round(100 * ((mine.parts["raw"] if mine else h.parts["raw"]) - h.parts["raw"]), 2))
            for h in hits if h.id != own and h.parts["raw"] >= floor and (mine is not None or h is hits[0])]


def _probes(post: Post) -> list[tuple[str, str]]:
    probes = [("title", post.title)]
    zh = post.text("zh", "title")
    if zh:
        probes.append(("Chinese title", zh))
    return probes


def metadata(post: Post) -> list[Finding]:
    out = []
    if not post.date:
        out.append(Finding("no-date", (post.id,)))
    if not post.url:
        out.append(Finding("no-source", (post.id,)))
    if not post.text("zh", "title"):
        out.append(Finding("no-zh-title", (post.id,), post.title))
    return out


def close_posts(engine, post: Post) -> list[Finding]:
    """Posts the matcher cannot tell from this one, asked with this one's titles."""
    out = []
    for what, text in _probes(post):
        for other, gap in _rivals(engine, text, post.id):
            out.append(Finding("close-posts", (post.id, other), f"asked with {post.id}'s {what}, {other} scores "
                               + (f"{gap:g} points lower" if gap > 0 else "as high or higher")))
    return out


def question_findings(engine, post: Post, question: str) -> list[Finding]:
    """An alternate question of `post` that finds another post as well, or that another post has too."""
    out = [Finding("close-question", (post.id, other), f"“{question}”: {other} scores "
                   + (f"{gap:g} points lower" if gap > 0 else "as high or higher"))
           for other, gap in _rivals(engine, question, post.id)]
    if _length(question) > int(tunables()["lint_question_words"]):
        out.append(Finding("long-question", (post.id,), f"“{truncate_words(question, 80)}”"))
    folded = question.casefold()
    out += [Finding("shared-question", (post.id, other.id), f"“{question}”")
            for other in engine.posts.values()
            if other.id != post.id and any(q.casefold() == folded for q in other.questions)]
    return out


def _length(text: str) -> float:
    """Words; Chinese (written without spaces) counted as a word per two characters, Thai per five."""
    han, thai = len(_HAN.findall(text)), len(_THAI.findall(text))
    return len(_THAI.sub(" ", _HAN.sub(" ", text)).split()) + han / 2 + thai / 5


def check_post(engine, post: Post) -> list[Finding]:
    """What staff should know about a post they just added: posts it cannot be told from (both ways), and
    missing date, source or Chinese title."""
    found = close_posts(engine, post)
    near = {i for probe in _probes(post) for i, _ in _rivals_any(engine, probe[1], post.id)}
    for other_id in sorted(near):  # does the new post now crowd an existing post's own title?
        other = engine.posts.get(other_id)
        if other is not None:
            found += [f for f in close_posts(engine, other) if post.id in f.ids]
    return _unique(found + metadata(post))


def _rivals_any(engine, text: str, own: str) -> list[tuple[str, float]]:
    index = engine.post_index
    return [(h.id, 0.0) for h in index.score(index.plan(clean(text)), k=CHECK_HITS) if h.id != own]


def check_question(engine, post_id: str, question: str) -> list[Finding]:
    post = engine.posts.get(post_id)
    return [] if post is None else _unique(question_findings(engine, post, question))


def lint_store(engine, posts: Iterable[Post] | None = None) -> list[Finding]:
    """Every finding over the store (or the posts given), pairs reported once."""
    found: list[Finding] = []
    for post in posts if posts is not None else engine.posts.values():
        found += close_posts(engine, post)
        for q in post.questions:
            found += question_findings(engine, post, q)
        found += metadata(post)
    return _unique(found)


def _unique(findings: list[Finding]) -> list[Finding]:
    """One finding per pair and kind (a pair found from both sides is reported once)."""
    seen: set[tuple] = set()
    out = []
    for f in findings:
        key = (f.kind, frozenset(f.ids), f.detail if f.kind.endswith("question") else "")
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
