"""Questions that ask for one kind of fact (a price, a death toll) and whether a post states one.

A post can be the best match for "how much does the employment gold card cost" and still not answer it:
the post on the card's regulations names no fee. When a question asks for such a fact and the post the
engine would show holds no evidence of that kind, the engine declines and offers the post instead
(data/fact_types.json: the cues by language and the evidence, as regular expressions).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from bot.config import DATA_DIR
from bot.models import Post

FACT_TYPES_FILE = DATA_DIR / "fact_types.json"


class FactTypes:
    def __init__(self, raw: dict) -> None:
        self._asks: dict[str, re.Pattern] = {}
        self._evidence: dict[str, re.Pattern] = {}
        for name, spec in raw.get("types", {}).items():
            cues = [c for by_lang in spec["asks"].values() for c in by_lang]
            self._asks[name] = re.compile("|".join(f"(?:{c})" for c in cues))
            self._evidence[name] = re.compile("|".join(f"(?:{e})" for e in spec["evidence"]))

    @classmethod
    def load(cls, path: Path = FACT_TYPES_FILE) -> FactTypes:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def asked(self, question: str) -> list[str]:
        """The kinds of fact a question asks for ("price", "casualties"), usually none."""
        text = question.casefold()
        return [name for name, pattern in self._asks.items() if pattern.search(text)]

    def unstated(self, question: str, post: Post) -> list[str]:
        """The kinds of fact the question asks for that the post's text (any language) does not state."""
        asked = self.asked(question)
        if not asked:
            return []
        text = _post_text(post)
        return [name for name in asked if not self._evidence[name].search(text)]


def _post_text(post: Post) -> str:
    parts = [post.title, post.body]
    for fields in post.i18n.values():
        parts += [fields.get("title", ""), fields.get("summary", ""), fields.get("body", "")]
    return "\n".join(parts).casefold()


@lru_cache(maxsize=1)
def default_fact_types() -> FactTypes:
    return FactTypes.load()
