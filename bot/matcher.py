"""The in-memory search index and its scoring.

Design (measured with `python -m bot bench`):
- Field-weighted BM25 over an inverted index held in NumPy arrays: one `bincount` per query
  term scores every document at once, so 100,000 posts cost milliseconds, not seconds.
- Query words are corrected against the index vocabulary with rapidfuzz before scoring
  ("trafficing worshop indonesa" -> trafficking workshop indonesia).
- A coverage score (the share of the query's informative weight a document contains) and a
  title-coverage score reward documents that answer the whole question, not one word of it;
  a question whose rare words no document holds is declined by the engine.
- Years in the question ("2018 workshop") pick the right one of several yearly posts.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from rapidfuzz import fuzz, process

from bot.answer_types import Hit
from bot.lexicon import Lexicon, default_lexicon
from bot.text import han_bigrams, has_han, normalise

_YEAR_RE = re.compile(r"\b(19[5-9]\d|20[0-4]\d)\b")
K1, B = 1.2, 0.6


@dataclass(frozen=True, slots=True)
class Doc:
    """What the index needs of a post or contact: id, weighted text fields, date, years it is about."""

    id: str
    fields: dict[str, str]
    day: str = ""  # ISO date, for recency
    topic_years: tuple[int, ...] = ()  # years in title/tags: what the document is about
    body_years: tuple[int, ...] = ()  # years mentioned in passing


@dataclass
class QueryPlan:
    """How a question was read: kept for `explain` and for the engine's decisions."""

    original: str
    normalised: str
    translated: list[tuple[str, str]] = field(default_factory=list)
    synonyms: list[tuple[str, str]] = field(default_factory=list)
    corrected: list[tuple[str, str]] = field(default_factory=list)
    terms: dict[str, float] = field(default_factory=dict)  # term -> query weight (idf)
    unknown: list[str] = field(default_factory=list)  # informative words no document holds
    years: list[int] = field(default_factory=list)
    lang: str | None = None

    @property
    def mass(self) -> float:
        return sum(self.terms.values()) + sum(UNKNOWN_WEIGHT for _ in self.unknown)


UNKNOWN_WEIGHT = 6.0  # an unseen informative word counts like a very rare term: it signals "not in the store"
MAX_TERMS = 24


class Index:
    """Inverted index over a list of documents with per-field weights."""

    def __init__(self, docs: Sequence[Doc], weights: dict[str, float], lexicon: Lexicon | None = None,
                 phone_terms: Iterable[str] = ()) -> None:
        self.lexicon = lexicon or default_lexicon()
        self.docs = list(docs)
        self.weights = weights
        self.phone_terms = frozenset(phone_terms)  # numbers that are hotlines, not years
        self.pos = {d.id: i for i, d in enumerate(self.docs)}
        self._build()

    # -- building -------------------------------------------------------------
    def doc_tokens(self, text: str) -> list[str]:
        tokens = self.lexicon.base_tokens(normalise(text, limit=200_000))
        tokens, _ = self.lexicon.canonical(tokens)
        grams = han_bigrams(text) if has_han(text) else []
        return [t for t in tokens if t not in self.lexicon.stopwords] + grams

    def _build(self) -> None:
        n = len(self.docs)
        postings: dict[str, tuple[list[int], list[float], list[float]]] = {}
        lengths = np.zeros(max(n, 1), dtype=np.float32)
        per_doc: list[Counter] = []
        title_fields = ("title", "questions", "name", "tags", "topics")
        for i, doc in enumerate(self.docs):
            tf: Counter = Counter()
            title_terms: set[str] = set()
            for fname, text in doc.fields.items():
                w = self.weights.get(fname, 0.0)
                if not w or not text:
                    continue
                toks = self.doc_tokens(text)
                for t in toks:
                    tf[t] += w
                if fname in title_fields:
                    title_terms.update(toks)
            lengths[i] = sum(tf.values())
            per_doc.append(tf)
            for t, v in tf.items():
                entry = postings.get(t)
                if entry is None:
                    entry = postings[t] = ([], [], [])
                entry[0].append(i)
                entry[1].append(v)
                entry[2].append(1.0 if t in title_terms else 0.0)
        avg = float(lengths[:n].mean()) if n else 1.0
        self.n = n
        self.df: dict[str, int] = {}
        self.postings: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for t, (ids, tfs, in_title) in postings.items():
            ids_a = np.asarray(ids, dtype=np.int32)
            tf_a = np.asarray(tfs, dtype=np.float32)
            norm = K1 * (1 - B + B * lengths[ids_a] / avg)
            sat = tf_a * (K1 + 1) / (tf_a + norm)
            self.postings[t] = (ids_a, sat.astype(np.float32), np.asarray(in_title, dtype=np.float32))
            self.df[t] = len(ids)
        self.vocab_by_len: dict[int, list[str]] = {}
        for t in self.df:
            if t.isascii() and t.isalpha():
                self.vocab_by_len.setdefault(len(t), []).append(t)
        self.dates = [d.day for d in self.docs]
        self._newest_first = sorted(range(n), key=lambda i: self.dates[i], reverse=True)

    def idf(self, term: str) -> float:
        df = self.df.get(term, 0)
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    # -- reading the question --------------------------------------------------
    def correct(self, word: str) -> str | None:
        """Closest index word for a misspelt query word, or None when nothing is close enough."""
        if len(word) < 4 or not word.isalpha() or not word.isascii():
            return None
        cutoff = 84 if len(word) >= 7 else 87
        choices: list[str] = []
        for length in (len(word) - 1, len(word), len(word) + 1, len(word) + 2):
            choices.extend(self.vocab_by_len.get(length, ()))
        best = process.extractOne(word, choices, scorer=fuzz.ratio, score_cutoff=cutoff)
        return best[0] if best else None

    def plan(self, question: str, *, today: date | None = None) -> QueryPlan:
        lex = self.lexicon
        plan = QueryPlan(original=question, normalised=normalise(question))
        text, used, lang = lex.translate(plan.normalised)
        plan.translated, plan.lang = used, lang
        raw_tokens = lex.base_tokens(text)
        plan.years = [int(y) for y in _YEAR_RE.findall(" ".join(raw_tokens)) if y not in self.phone_terms]
        fixed: list[str] = []
        for tok in raw_tokens:
            if tok in lex.stopwords or tok in self.df or not tok.isalpha():
                fixed.append(tok)
                continue
            better = self.correct(tok)
            if better and better != tok:
                plan.corrected.append((tok, better))
                fixed.append(better)
            else:
                fixed.append(tok)
        tokens, plan.synonyms = lex.canonical(fixed)
        grams = han_bigrams(text) if has_han(text) else []
        seen: dict[str, float] = {}
        for tok in [t for t in tokens if t not in lex.stopwords] + grams:
            if tok in seen:
                continue
            if tok in self.df:
                seen[tok] = self.idf(tok)
            elif _informative(tok):
                plan.unknown.append(tok)
        # Keep the most informative terms: a long message should not cost more than a question.
        plan.terms = dict(sorted(seen.items(), key=lambda kv: -kv[1])[:MAX_TERMS])
        return plan

    # -- scoring ------------------------------------------------------------------
    def score(self, plan: QueryPlan, k: int = 10) -> list[Hit]:
        if not plan.terms or self.n == 0:
            return []
        n = self.n
        bm25 = np.zeros(n, dtype=np.float32)
        cover = np.zeros(n, dtype=np.float32)
        tcover = np.zeros(n, dtype=np.float32)
        for term, w in plan.terms.items():
            ids, sat, in_title = self.postings[term]
            bm25 += np.bincount(ids, weights=sat * w, minlength=n).astype(np.float32)
            cover += np.bincount(ids, weights=np.full(len(ids), w, dtype=np.float32), minlength=n).astype(np.float32)
            tcover += np.bincount(ids, weights=in_title * w, minlength=n).astype(np.float32)
        mass = plan.mass or 1.0
        known = sum(plan.terms.values()) or 1.0
        cov = cover / mass
        tcov = tcover / known
        bm_norm = bm25 / (known * (K1 + 1))
        total = 0.45 * cov + 0.30 * bm_norm + 0.25 * tcov
        pool = min(n, max(k * 5, 60))
        top = np.argpartition(-total, pool - 1)[:pool] if n > pool else np.arange(n)
        hits: list[Hit] = []
        for i in top:
            i = int(i)
            if cover[i] <= 0:
                continue
            year_adj = self._year_adjust(self.docs[i], plan.years)
            s = float(total[i]) + year_adj
            hits.append(Hit(self.docs[i].id, round(max(0.0, min(1.0, s)) * 100, 2), {
                "coverage": round(float(cov[i]), 3),
                "title": round(float(tcov[i]), 3),
                "bm25": round(float(bm_norm[i]), 3),
                "year": round(year_adj, 3),
            }))
        hits.sort(key=lambda h: (-h.score, _neg_date(self.dates[self.pos[h.id]])))
        return _prefer_newest_among_ties(hits, self.dates, self.pos)[:k]

    @staticmethod
    def _year_adjust(doc: Doc, years: list[int]) -> float:
        if not years:
            return 0.0
        doc_years = set(doc.topic_years) | ({int(doc.day[:4])} if doc.day else set())
        if any(y in doc_years for y in years):
            return 0.12
        if any(y in doc.body_years for y in years):
            return 0.0
        return -0.25

    def newest(self, k: int, *, year: int | None = None, ids: set[str] | None = None) -> list[str]:
        out = []
        for i in self._newest_first:
            d = self.docs[i]
            if year is not None and not d.day.startswith(str(year)):
                continue
            if ids is not None and d.id not in ids:
                continue
            out.append(d.id)
            if len(out) >= k:
                break
        return out


TIE_MARGIN = 1.5  # points: within this, two posts answer equally well and the newer one wins


def _prefer_newest_among_ties(hits: list[Hit], dates: list[str], pos: dict[str, int]) -> list[Hit]:
    if len(hits) < 2:
        return hits
    top = hits[0].score
    tied = [h for h in hits if top - h.score <= TIE_MARGIN]
    if len(tied) < 2:
        return hits
    tied.sort(key=lambda h: dates[pos[h.id]], reverse=True)
    rest = [h for h in hits if top - h.score > TIE_MARGIN]
    return tied + rest


def _neg_date(day: str) -> str:
    return "".join(chr(0x10FFFF - ord(c)) for c in day)


def _informative(tok: str) -> bool:
    """Words that carry meaning even though no document has them (not numbers, not 1-2 letters)."""
    if tok.isdigit():
        return False
    return len(tok) >= 3 or any(ord(c) > 0x2E80 for c in tok)


def years_in(text: str) -> tuple[int, ...]:
    return tuple(sorted({int(y) for y in _YEAR_RE.findall(text)}))
