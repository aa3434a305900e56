"""Passage coverage: how much of a question one paragraph of a post holds.

A question about one sentence deep in a long post ("how much money did 165 stop from being
transferred in 2021") matches a few words of a 250-word body; whole-post scores see a weak match,
but one paragraph holding every informative word is strong evidence. Only the candidates the index
already ranked are read, so the cost does not grow with the store; paragraphs' terms are cached.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

from bot.models import Post

CACHE_POSTS = 20_000


def paragraphs(post: Post) -> list[str]:
    """The units a fact is looked for in: each paragraph of the body and of every translated body,
    and the title with the summary in each language (a summary is a paragraph of its own kind)."""
    units = [p for p in post.body.split("\n\n") if p.strip()]
    for fields in post.i18n.values():
        units += [p for p in fields.get("body", "").split("\n\n") if p.strip()]
        head = " ".join(v for k, v in fields.items() if k in ("title", "summary"))
        if head:
            units.append(head)
    return units


class PassageIndex:
    """Terms of each paragraph of the posts asked about, computed on first use and kept (bounded)."""

    def __init__(self, tokenise: Callable[[str], list[str]], cache_posts: int = CACHE_POSTS) -> None:
        self._tokenise = tokenise
        self._cache: OrderedDict[str, list[frozenset[str]]] = OrderedDict()
        self._max = cache_posts

    def units(self, post: Post) -> list[frozenset[str]]:
        cached = self._cache.get(post.id)
        if cached is None:
            cached = [frozenset(self._tokenise(text)) for text in paragraphs(post)]
            self._cache[post.id] = cached
            if len(self._cache) > self._max:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(post.id)
        return cached

    def warm(self, posts: Iterable[Post]) -> None:
        for post in posts:
            self.units(post)

    def best(self, post: Post, terms: dict[str, float], mass: float) -> tuple[float, int]:
        """(share of the question's weight in the best paragraph, that paragraph's number)."""
        best, where = 0.0, -1
        if not terms or mass <= 0:
            return best, where
        for i, unit in enumerate(self.units(post)):
            got = sum(w for t, w in terms.items() if t in unit)
            if got > best:
                best, where = got, i
        return best / mass, where
