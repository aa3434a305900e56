"""The matcher's language data: stopwords, English synonyms, the bilingual glossary, ordinals.

All of it is data in data/*.json (reviewable by staff); this module only loads it and applies
it to token lists. The same canonicalisation runs over posts at index time and over queries,
so "MOU", "memorandum of understanding" and "memo" meet on the same tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from bot.config import DATA_DIR
from bot.text import fold_latin, han_bigrams, has_thai, normalise, thai_trigrams, words

_ORDINAL_WORDS = [
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
    "eighteenth", "nineteenth", "twentieth",
]
_NUMBER_WORDS = [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
]


def _ordinal_map() -> dict[str, str]:
    """'tenth' and '10th' both become '10th': posts spell ordinals both ways."""
    out: dict[str, str] = {}
    for n, word in enumerate(_ORDINAL_WORDS, start=1):
        suffix = "th" if 11 <= n <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        out[word] = f"{n}{suffix}"
        out[f"{n}{suffix}"] = f"{n}{suffix}"
    return out


ORDINALS = _ordinal_map()
NUMBERS = {w: str(n) for n, w in enumerate(_NUMBER_WORDS, start=1)}


def stem(word: str) -> str:
    """A deliberately light English stemmer: plurals only, so proper names stay recognisable."""
    if len(word) <= 3 or not word.isascii() or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


@lru_cache(maxsize=200_000)
def _base_word(word: str) -> str:
    return stem(ORDINALS.get(word, word))


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Real English words (pyspellchecker's frequency list, above its floor count).

    A question word that is real English but absent from the store ("resigned", "pottery") is not
    a typo: correcting it to a near store word ("designed") would invent a match.
    """
    try:
        import gzip

        import spellchecker

        path = Path(spellchecker.__file__).parent / "resources" / "en.json.gz"
        with gzip.open(path, "rt", encoding="utf-8") as f:
            counts = json.load(f)
    except (ImportError, OSError, ValueError):
        return frozenset()
    return frozenset(w for w, n in counts.items() if n > 50 and w.isalpha())


def _load(name: str) -> dict:
    path = DATA_DIR / name
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass
class PhraseTable:
    """Longest-match replacement of token sequences (phrases) by other token sequences."""

    table: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)
    longest: int = 1
    # Longest phrase starting with each word: most words start no phrase and are passed through at once.
    first: dict[str, int] = field(default_factory=dict)

    def add(self, phrase: tuple[str, ...], replacement: tuple[str, ...]) -> None:
        if phrase and phrase not in self.table:
            self.table[phrase] = replacement
            self.longest = max(self.longest, len(phrase))
            self.first[phrase[0]] = max(self.first.get(phrase[0], 0), len(phrase))

    def apply(self, tokens: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
        out: list[str] = []
        used: list[tuple[str, str]] = []
        first = self.first
        i = 0
        while i < len(tokens):
            longest = first.get(tokens[i], 0)
            if not longest:
                out.append(tokens[i])
                i += 1
                continue
            for n in range(min(longest, len(tokens) - i), 0, -1):
                key = tuple(tokens[i : i + n])
                rep = self.table.get(key)
                if rep is not None:
                    out.extend(rep)
                    if key != rep:
                        used.append((" ".join(key), " ".join(rep)))
                    i += n
                    break
            else:
                out.append(tokens[i])
                i += 1
        return out, used


@dataclass
class Lexicon:
    stopwords: frozenset[str]
    synonyms: PhraseTable
    foreign_latin: PhraseTable  # id / vi / tl phrases (accent-folded) -> English tokens
    foreign_script: list[tuple[str, str, str]]  # (zh or th substring, english, lang), longest first
    foreign_words: frozenset[str]  # single words seen only in foreign glossary phrases
    zh_particles: frozenset[str] = frozenset()  # a Han pair holding one of these says nothing
    zh_function: frozenset[str] = frozenset()  # a Han pair made only of these says nothing
    thai_stopwords: tuple[str, ...] = ()  # longest first
    _script_by_first: dict | None = None

    def script_terms(self, text: str) -> list[str]:
        """Han character pairs and Thai character triples of a query, without the pairs that only
        carry grammar ("的是", "多少") or the Thai politeness words (ครับ): they match everywhere."""
        pairs = [g for g in han_bigrams(text)
                 if not (set(g) & self.zh_particles) and not set(g) <= self.zh_function]
        if has_thai(text):
            for word in self.thai_stopwords:
                text = text.replace(word, " ")
            pairs += thai_trigrams(text)
        return pairs

    def base_tokens(self, text: str) -> list[str]:
        """Normalised, ordinal-folded, stemmed tokens; no synonym mapping yet."""
        stop = self.stopwords
        return [w if w in stop else _base_word(w) for w in words(text)]

    def word_terms(self, word: str) -> tuple[str, ...]:
        """Index terms for one word of a document (single-word synonyms only; phrases are mapped in queries)."""
        if word in self.stopwords or (len(word) == 1 and word.isascii()):
            return ()
        base = _base_word(word)
        if base in self.stopwords:
            return ()
        mapped = self.synonyms.table.get((base,), (base,))
        return tuple(t for t in mapped if t not in self.stopwords)

    def canonical(self, tokens: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
        return self.synonyms.apply(tokens)

    def translate(self, text: str) -> tuple[str, list[tuple[str, str]], str | None]:
        """Replace known Chinese/Thai substrings and id/vi/tl phrases with English.

        Returns (text, [(foreign, english)], language guess or None).
        """
        used: list[tuple[str, str]] = []
        lang: str | None = None
        if any(ord(ch) > 0x2E80 for ch in text):
            text, used, lang = self._translate_script(text)
        tokens = words(fold_latin(text))
        translated, phrase_used = self.foreign_latin.apply(tokens)
        if phrase_used:
            used.extend(phrase_used)
        return " ".join(translated), used, lang


    def _translate_script(self, text: str) -> tuple[str, list[tuple[str, str]], str | None]:
        """Left to right, the longest known term at each place ("同性婚姻登記" -> same-sex marriage + registration,
        not "婚姻登記" first and "同性" left over)."""
        out: list[str] = []
        used: list[tuple[str, str]] = []
        lang: str | None = None
        i = 0
        while i < len(text):
            for term, english, term_lang in self.script_by_first.get(text[i], ()):
                if text.startswith(term, i):
                    out.append(f" {english} ")
                    used.append((term, english))
                    lang = lang or term_lang
                    i += len(term)
                    break
            else:
                out.append(text[i])
                i += 1
        return "".join(out), used, lang

    @property
    def script_by_first(self) -> dict[str, list[tuple[str, str, str]]]:
        if self._script_by_first is None:
            table: dict[str, list[tuple[str, str, str]]] = {}
            for entry in self.foreign_script:  # already longest first
                table.setdefault(entry[0][0], []).append(entry)
            self._script_by_first = table
        return self._script_by_first


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(stem(ORDINALS.get(w, w)) for w in words(normalise(text)))


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    return build_lexicon(_load("stopwords.json"), _load("synonyms.json"), _load("glossary.json"))


def build_lexicon(stop_data: dict, syn_data: dict, glossary: dict) -> Lexicon:
    stop: set[str] = set()
    for key, values in stop_data.items():
        if key.startswith(("_", "zh_")) or not isinstance(values, list):
            continue
        for v in values:
            stop.update(normalise(v).split())

    synonyms = PhraseTable()
    for group in syn_data.get("groups", []):
        canonical = _phrase(group.get("canonical", ""))
        if not canonical:
            continue
        synonyms.add(canonical, canonical)
        for variant in group.get("variants", []):
            key = _phrase(variant)
            if key and len(key) >= 1:
                synonyms.add(key, canonical)

    foreign_latin = PhraseTable()
    script: list[tuple[str, str, str]] = []
    foreign_words: set[str] = set()
    for entry in glossary.get("entries", []):
        english = normalise(entry.get("en", ""))
        if not english:
            continue
        for lang in ("zh", "th", "id", "vi", "tl"):
            for term in entry.get(lang, []) or []:
                if not isinstance(term, str) or not term.strip():
                    continue
                if lang in ("zh", "th"):
                    script.append((term.strip(), english, lang))
                else:
                    key = tuple(words(normalise(term)))
                    if key and key != tuple(english.split()):
                        foreign_latin.add(key, tuple(english.split()))
                        foreign_words.update(key)
    script.sort(key=lambda t: -len(t[0]))
    return Lexicon(
        zh_particles=frozenset(stop_data.get("zh_particles", ())),
        zh_function=frozenset(stop_data.get("zh_chars", ())),
        thai_stopwords=tuple(sorted(stop_data.get("th", ()), key=len, reverse=True)),
        stopwords=frozenset(stop),
        synonyms=synonyms,
        foreign_latin=foreign_latin,
        foreign_script=script,
        foreign_words=frozenset(foreign_words),
    )
