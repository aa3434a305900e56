"""Which language a message is written in: script first, then the most frequent words of each language.

Chinese (Han) and Thai are told by their script, Vietnamese by its letters (ă, ơ, ư, đ and the tone
marks), Indonesian, Tagalog and unaccented Vietnamese by their common words (data/languages.json).
English is the answer when nothing else is clear: the bot's content is English first.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from bot.config import DATA_DIR
from bot.lexicon import english_words
from bot.text import fold_latin, normalise, words

LANGS = ("en", "zh", "id", "vi", "th", "tl")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_THAI = re.compile(r"[\u0e00-\u0e7f]")
_VIETNAMESE = re.compile(r"[ăâđêôơưĂÂĐÊÔƠƯ\u1ea0-\u1ef9]")


@lru_cache(maxsize=1)
def _word_lists() -> tuple[dict[str, frozenset[str]], int]:
    data = json.loads((DATA_DIR / "languages.json").read_text(encoding="utf-8"))
    lists = {lang: frozenset(ws) for lang, ws in data["words"].items()}
    return lists, int(data.get("min_hits", 2))


def detect_lang(text: str) -> str:
    """One of LANGS for a message; English when unsure."""
    han, thai = len(_HAN.findall(text)), len(_THAI.findall(text))
    if han or thai:
        # A Chinese or Thai message may quote an English name ("AKUT 裝備捐贈"): the script decides.
        return "zh" if han >= thai else "th"
    if len(_VIETNAMESE.findall(text)) >= 2:
        return "vi"
    lists, min_hits = _word_lists()
    tokens = words(fold_latin(normalise(text)))
    hits = {lang: sum(1 for t in tokens if t in ws) for lang, ws in lists.items()}
    best = max(("id", "tl", "vi"), key=lambda lang: (hits[lang], -("id", "tl", "vi").index(lang)))
    if hits[best] >= min_hits and hits[best] > hits["en"]:
        return best
    return "en"


def message_language(text: str) -> str | None:
    """The language a message is clearly written in, or None when it gives no evidence ("1955", "ARC?"):
    then the reply keeps the person's chosen or Telegram language."""
    if _HAN.search(text) or _THAI.search(text) or len(_VIETNAMESE.findall(text)) >= 2:
        return detect_lang(text)
    lists, min_hits = _word_lists()
    tokens = words(fold_latin(normalise(text)))
    hits = {lang: sum(1 for t in tokens if t in ws) for lang, ws in lists.items()}
    best = max(hits, key=lambda lang: (hits[lang], lang == "en"))
    if hits[best] >= min_hits or (hits[best] >= 1 and len(tokens) <= 3):
        if best != "en" or hits["en"] > max(hits["id"], hits["tl"], hits["vi"]):
            return best
    # Words of a dictionary with no function word ("shoushan national park headquarters"): English when
    # most of them are English words and none is a common word of the other languages.
    alpha = [t for t in tokens if t.isalpha() and len(t) > 2]
    if len(alpha) >= 2 and max(hits["id"], hits["tl"], hits["vi"]) == 0:
        known = english_words()
        if sum(t in known for t in alpha) >= 0.6 * len(alpha):
            return "en"
    return None
