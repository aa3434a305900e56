"""What kind of answer a message asks for before any post is matched: the newest posts, one year's posts,
the newest post about a subject. The phrases are data (data/intents.json) in the six languages.

Latin-script text is read as words (accents folded, so "mới nhất" and "moi nhat" meet); Chinese and Thai,
written without spaces, by removing the known phrases from each run and looking at what is left.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

from bot.config import DATA_DIR
from bot.text import clean, fold_latin, normalise, roc_years, words

_SCRIPT = re.compile(r"[\u0e00-\u0e7f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SCRIPT_RUN = re.compile(r"[\u0e00-\u0e7f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)(?!\d)")
NEWS_CATEGORIES = ("latest_cues", "new_words", "news_nouns", "latest_phrases", "history_phrases", "news_filler")


@dataclass(frozen=True)
class NewsRequest:
    kind: str  # "latest": the newest posts; "year": the posts of `year`; "latest_about": the newest post on a subject
    year: int | None = None
    subject: str = ""  # for "latest_about": the question without its news words ("latest workshop" -> "workshop")


class PhraseReader:
    """Finds which categories of phrases a message holds and what is left once they are taken out."""

    def __init__(self, categories: dict[str, list[str]], stopwords: frozenset[str], script_stop: str = "") -> None:
        self.latin: dict[tuple[str, ...], str] = {}
        self.script: list[tuple[str, str]] = []
        for name, phrases in categories.items():
            for phrase in phrases:
                if _SCRIPT.search(phrase):
                    self.script.append(("".join(clean(phrase).split()), name))
                else:
                    key = tuple(words(fold_latin(normalise(phrase))))
                    if key:
                        self.latin.setdefault(key, name)
        self.script.sort(key=lambda p: -len(p[0]))
        self.longest = max((len(k) for k in self.latin), default=1)
        self.stopwords = stopwords
        self.script_stop = frozenset(script_stop)

    def read(self, text: str) -> tuple[set[str], list[str], str]:
        """(categories found, Latin words left over, Chinese/Thai characters left over)."""
        found: set[str] = set()
        tokens = [t for t in words(fold_latin(normalise(text))) if not _SCRIPT.search(t)]
        rest: list[str] = []
        i = 0
        while i < len(tokens):
            for n in range(min(self.longest, len(tokens) - i), 0, -1):
                name = self.latin.get(tuple(tokens[i : i + n]))
                if name:
                    found.add(name)
                    i += n
                    break
            else:
                if tokens[i] not in self.stopwords:
                    rest.append(tokens[i])
                i += 1
        left = []
        for run in _SCRIPT_RUN.findall(re.sub(r"\d", " ", clean(text))):
            for phrase, name in self.script:
                if phrase in run:
                    found.add(name)
                    run = run.replace(phrase, " ")
            left.append("".join(ch for ch in run if ch.strip() and ch not in self.script_stop))
        return found, rest, "".join(left)


@lru_cache(maxsize=1)
def _news_reader_data() -> dict[str, list[str]]:
    data = json.loads((DATA_DIR / "intents.json").read_text(encoding="utf-8"))
    return {name: data.get(name, []) for name in NEWS_CATEGORIES}


def news_reader(stopwords: frozenset[str], script_stop: str = "") -> PhraseReader:
    return PhraseReader(_news_reader_data(), stopwords, script_stop)


def news_request(reader: PhraseReader, text: str) -> NewsRequest | None:
    """A request for news, for one year's posts, or for the newest post about a subject; else None."""
    found, rest, script_left = reader.read(text)
    years = [int(y) for y in _YEAR.findall(text)] + roc_years(text)
    rest = [t for t in rest if not t.isdigit()]
    nothing_else = not rest and len(script_left) <= 1
    # "latest", "what's new", "new posts" - or a bare "news" / "消息" with nothing else.
    asks_latest = bool(found & {"latest_cues", "latest_phrases"}) or (
        "news_nouns" in found and not found - {"news_nouns", "news_filler", "new_words"})
    if years and nothing_else and (found & {"news_nouns", "history_phrases", "latest_cues", "latest_phrases"}
                                   or not found):
        return NewsRequest("year", years[0])
    if asks_latest and nothing_else:
        return NewsRequest("latest")
    if "latest_cues" in found and not nothing_else:
        return NewsRequest("latest_about", subject=" ".join([*rest, script_left]).strip())
    return None
