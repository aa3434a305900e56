"""The importers' tunables (data/importing.json): category keywords, title matching, fetching."""

from __future__ import annotations

import json
import re
from functools import cache

from bot.config import DATA_DIR
from bot.models import CATEGORIES

PATH = DATA_DIR / "importing.json"


@cache
def tunables() -> dict:
    data = json.loads(PATH.read_text(encoding="utf-8"))
    for category, _words in data["category_keywords"]:
        if category not in CATEGORIES:
            raise ValueError(f"{PATH}: category_keywords names {category!r}, not one of {', '.join(CATEGORIES)}")
    if data["default_category"] not in CATEGORIES:
        raise ValueError(f"{PATH}: default_category must be one of {', '.join(CATEGORIES)}")
    return data


@cache
def _keyword_patterns() -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for category, words in tunables()["category_keywords"]:
        alternatives = "|".join(re.escape(w.lower()) for w in words)
        out.append((category, re.compile(rf"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])")))
    return out


def infer_category(title: str, body: str = "") -> str:
    """The first category whose keyword is in the title, else in the body's first paragraph, else the default."""
    for text in (title.lower(), body[:600].lower()):
        for category, pattern in _keyword_patterns():
            if pattern.search(text):
                return category
    return tunables()["default_category"]
