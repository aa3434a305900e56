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

import ctypes
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache

import numpy as np
from rapidfuzz import fuzz, process

from bot.answer_types import Hit
from bot.bulk_tokens import Vocabulary, tokenise_ascii
from bot.lexicon import Lexicon, default_lexicon, english_words
from bot.text import attached_years, clean, has_han, normalise, roc_years, script_grams, words

_YEAR_RE = re.compile(r"\b(19[5-9]\d|20[0-4]\d)\b")
ORDINAL_TERM = re.compile(r"(\d{1,3})(?:st|nd|rd|th)")
_NUMBER_TERM = re.compile(r"^\d+(st|nd|rd|th)?$")
_SCRIPT_RE = re.compile(r"[\u0e00-\u0e7f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
K1, B = 1.2, 0.6
W_COVER, W_BM25, W_TITLE = 0.45, 0.30, 0.25  # share of the score: coverage, BM25, title coverage
W_PRIOR = 0.04  # at most +-4 points for a document twice as long (or half as long) as the average


@dataclass(frozen=True)
class Docs:
    """What the index needs, column by column: ids, ISO dates (for recency) and one list of texts per
    field. Columns, not one object per document, so 100,000 posts cost a few lists, not 100,000 dicts."""

    ids: list[str]
    dates: list[str]
    fields: dict[str, list[str]]


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

    unknown_weight: float = 0.0

    foreign: bool = False  # the question used words of another language the glossary knows
    numbers: list[str] = field(default_factory=list)  # counts and ordinals asked about (not years): "9th", "300"
    script_grams: int = 0  # Han pairs / Thai triples in the question
    script_known: int = 0  # ... of which some document holds

    @property
    def mass(self) -> float:
        # In a question partly in another language, a word neither the store nor English knows is more
        # likely a word the glossary lacks ("nanti", "kembali") than a subject the store lacks.
        weights = [self.unknown_weight * (0.5 if self.foreign and w not in english_words() else 1.0)
                   for w in self.unknown]
        return sum(self.terms.values()) + sum(weights)


FIELD_BITS = 4
BUILD_SLICE = 5000  # documents aggregated at a time while building
TRANSLATED_FIELDS = frozenset({"title_i18n", "summary_i18n", "body_i18n", "name_i18n", "purpose_i18n"})
TITLE_FIELDS = frozenset({"title", "questions", "name", "tags", "topics", "title_i18n", "name_i18n"})
# Score added for the year a question names: a post about that year (date, title, tags), one that
# only mentions it in passing (a 2017 report quoting 2016 figures), one about another year.
YEAR_ABOUT, YEAR_MENTIONED, YEAR_OTHER = 0.12, -0.06, -0.25
COMMON_SHARE = 0.6  # a word in more than this share of a large store is skipped when scoring
UNKNOWN_WEIGHT = 6.0  # an unseen informative word counts like a very rare term: it signals "not in the store"
MAX_TERMS = 24
_TEXT_TOKENS: dict[tuple[int, str], list[str]] = {}  # non-ASCII field text -> its terms, across builds
_TEXT_TOKENS_MAX = 50_000
MAX_SCRIPT_TERMS = 32  # Han pairs / Thai triples kept besides the words
# Pairs overlap (a 4-character word gives 3 pairs), so one pair weighs less than one word.
SCRIPT_GRAM_WEIGHT = 0.5


class Index:
    """Inverted index over a list of documents with per-field weights."""

    def __init__(self, docs: Docs, weights: dict[str, float], lexicon: Lexicon | None = None,
                 phone_terms: Iterable[str] = (), unknown_weight: float = UNKNOWN_WEIGHT) -> None:
        self.unknown_weight = unknown_weight
        self.lexicon = lexicon or default_lexicon()
        self.docs = docs  # the text columns are read slice by slice, then let go
        self.weights = weights
        self.phone_terms = frozenset(phone_terms)  # numbers that are hotlines, not years
        self._build()

    # -- building -------------------------------------------------------------
    def term_map(self, word: str) -> tuple[str, ...]:
        """Index terms for one normalised word: stemmed, ordinal-folded, single-word synonyms; () for stopwords."""
        cached = self._term_cache.get(word)
        if cached is None:
            cached = self._term_cache[word] = self.lexicon.word_terms(word)
        return cached

    def doc_tokens(self, text: str) -> list[str]:
        """Index terms of a text (the slow, general path; ASCII texts in bulk use bot.bulk_tokens).

        Words of Latin scripts go through the lexicon; Han and Thai, written without spaces, are
        indexed as character pairs and triples of the text as written."""
        norm = normalise(text, limit=200_000)
        out = [t for w in words(norm) if not _SCRIPT_RE.search(w) for t in self.term_map(w)]
        return out + script_grams(text)

    def _build(self) -> None:
        _pin_mmap_threshold()
        n = len(self.docs.ids)
        self.n = n
        self._term_cache: dict[str, tuple[str, ...]] = {}
        self.term_ids: dict[str, int] = {}
        self._vocab = Vocabulary()  # distinct ASCII words seen, by id (bot.bulk_tokens)
        self._word_ptr: list[int] = [0]
        self._word_terms: list[int] = []
        fields = [(name, w) for name, w in self.weights.items() if w]
        field_code = {name: code for code, (name, _) in enumerate(fields)}
        rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._lengths_parts: list[tuple[int, np.ndarray]] = []
        # Documents are indexed in slices: the (term, document) rows of one slice never meet another's,
        # so each slice is aggregated on its own and intermediate arrays stay small.
        self.ids = list(self.docs.ids)
        self.dates = list(self.docs.dates)
        for lo in range(0, n, BUILD_SLICE):
            hi = min(n, lo + BUILD_SLICE)
            keys = np.concatenate([self._field_keys(name, field_code[name], lo, hi) for name, _ in fields]
                                  or [np.zeros(0, dtype=np.int64)])
            rows.append(self._aggregate(keys, fields))
            self._lengths_parts.append((lo, self._slice_lengths(keys, fields, lo, hi)))
        self.pos = {doc_id: i for i, doc_id in enumerate(self.ids)}
        self.term_names = list(self.term_ids)
        self._index_postings(rows)
        self._index_years()
        self.vocab_by_len: dict[int, list[str]] = {}
        for t in self.term_ids:
            if t.isascii() and t.isalpha() and t in self.df:
                self.vocab_by_len.setdefault(len(t), []).append(t)
        # The text fields are indexed now; keep only ids and dates so 100,000 posts are not held twice.
        del self.docs
        self._newest_first = sorted(range(n), key=lambda i: self.dates[i], reverse=True)
        del self._vocab, self._word_ptr, self._word_terms

    def _field_keys(self, fname: str, code: int, lo: int, hi: int) -> np.ndarray:
        """Packed (term, document, field) keys for every term occurrence of one field in docs[lo:hi]."""
        n = self.n
        texts = self.docs.fields[fname][lo:hi]
        fast = [i for i, text in enumerate(texts) if text and text.isascii()]
        parts = []
        if fast:
            text_idx, word_ids = tokenise_ascii([texts[i] for i in fast], self._vocab)
            ptr, flat = self._csr()
            per_word = ptr[1:] - ptr[:-1]
            docs_of = np.asarray(fast, dtype=np.int64)
            # Most words give exactly one term: map those directly.
            one = np.flatnonzero(per_word[word_ids] == 1)
            term_idx = flat[ptr[word_ids[one]]].astype(np.int64)
            parts.append((term_idx * n + docs_of[text_idx[one]] + lo) << FIELD_BITS | code)
            # Synonyms that expand to several terms ("MOU" -> memorandum, understanding): the general way.
            many = np.flatnonzero(per_word[word_ids] > 1)
            if len(many):
                reps = per_word[word_ids[many]]
                occ = np.repeat(many, reps)
                within = np.arange(len(occ)) - np.repeat(np.cumsum(reps) - reps, reps)
                term_idx = flat[ptr[word_ids[occ]] + within].astype(np.int64)
                parts.append((term_idx * n + docs_of[text_idx[occ]] + lo) << FIELD_BITS | code)
        for i, text in enumerate(texts):
            if text and not text.isascii():
                toks = self._cached_tokens(text)
                ids = np.fromiter((self.term_ids.setdefault(t, len(self.term_ids)) for t in toks),
                                  dtype=np.int64, count=len(toks))
                parts.append((ids * n + lo + i) << FIELD_BITS | code)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def _slice_lengths(self, keys: np.ndarray, fields: list[tuple[str, float]], lo: int, hi: int) -> np.ndarray:
        """Field-weighted length of each document of a slice, counting the English fields only: a post's
        translations make it no longer for BM25 (a Chinese question meets them through their own terms)."""
        length_of = np.zeros(1 << FIELD_BITS, dtype=np.float32)
        for code, (fname, w) in enumerate(fields):
            length_of[code] = 0.0 if fname in TRANSLATED_FIELDS else w
        docs = (keys >> FIELD_BITS) % self.n - lo
        return np.bincount(docs, weights=length_of[keys & ((1 << FIELD_BITS) - 1)], minlength=hi - lo)

    def _cached_tokens(self, text: str) -> list[str]:
        """Terms of a non-ASCII text (a translation), kept between index builds: a running bot re-indexes
        after every change to the store, and translations rarely change."""
        key = (id(self.lexicon), text)
        toks = _TEXT_TOKENS.get(key)
        if toks is None:
            toks = self.doc_tokens(text)
            if len(_TEXT_TOKENS) >= _TEXT_TOKENS_MAX:
                _TEXT_TOKENS.clear()
            _TEXT_TOKENS[key] = toks
        return toks

    def _aggregate(self, keys: np.ndarray, fields: list[tuple[str, float]]):
        """Sum field-weighted frequencies per (term, document); note whether a title-like field has it."""
        if not len(keys):
            empty = np.zeros(0, dtype=np.int32)
            return empty, empty.astype(np.uint16), np.zeros(0, dtype=np.float16), np.zeros(0, dtype=np.uint8), 0
        weight_of = np.zeros(1 << FIELD_BITS, dtype=np.float32)
        title_of = np.zeros(1 << FIELD_BITS, dtype=np.uint8)
        for code, (fname, w) in enumerate(fields):
            weight_of[code] = w
            title_of[code] = fname in TITLE_FIELDS
        keys.sort()
        codes = keys & ((1 << FIELD_BITS) - 1)
        pairs = keys >> FIELD_BITS
        first = np.flatnonzero(np.concatenate(([True], pairs[1:] != pairs[:-1])))
        tf = np.add.reduceat(weight_of[codes], first)
        title = np.maximum.reduceat(title_of[codes], first)
        pair = pairs[first]
        # Kept until every slice is done, so stored small: tf sums are small multiples of 0.5 (exact in
        # float16) and a document within its slice fits 16 bits.
        lo = int((pair[0] % self.n) // BUILD_SLICE * BUILD_SLICE)
        return ((pair // self.n).astype(np.int32), (pair % self.n - lo).astype(np.uint16), tf.astype(np.float16),
                title, lo)

    def _csr(self) -> tuple[np.ndarray, np.ndarray]:
        """Word id -> term ids as CSR arrays (a word gives zero terms, one, or a few for a synonym)."""
        for w in self._vocab.words[len(self._word_ptr) - 1 :]:
            for t in self.term_map(w):
                self._word_terms.append(self.term_ids.setdefault(t, len(self.term_ids)))
            self._word_ptr.append(len(self._word_terms))
        return (np.asarray(self._word_ptr, dtype=np.int64),
                np.asarray(self._word_terms or [0], dtype=np.int32))

    def _index_postings(self, rows) -> None:
        """Scatter the (term, document) rows of every slice into CSR postings, BM25-saturated.

        Each slice's rows are sorted by term and slices come in document order, so a row's place is
        its term's start plus the rows of that term already placed: no global sort, and each slice
        is let go once placed (peak memory is the final arrays plus the slices' rows).
        """
        n, n_terms = self.n, len(self.term_ids)
        df = np.zeros(n_terms, dtype=np.int64)
        lengths = np.zeros(n, dtype=np.float64)
        for term, _doc, _tf, _, _lo in rows:
            df += np.bincount(term, minlength=n_terms)
        for lo, part in self._lengths_parts:
            lengths[lo : lo + len(part)] += part
        del self._lengths_parts
        self._ptr = np.concatenate(([0], np.cumsum(df))).astype(np.int64)
        self.df = {name: int(df[i]) for i, name in enumerate(self.term_names) if df[i]}
        total = int(self._ptr[-1])
        self._docs = np.empty(total, dtype=np.int32)
        self._sat = np.empty(total, dtype=np.float32)
        self._title = np.empty(total, dtype=np.uint8)
        fill = self._ptr[:-1].copy()
        avg = float(lengths.mean()) if n else 1.0
        lengths = lengths.astype(np.float32)
        # A small prior for substance: among posts that match about equally, the fuller one answers better.
        self._prior = (W_PRIOR * np.clip(np.log2(np.maximum(lengths, 1.0) / max(avg, 1e-6)), -1, 1)).astype(np.float32)
        while rows:
            term, doc, tf, title, lo = rows.pop(0)
            if not len(term):
                continue
            doc = doc.astype(np.int32) + lo
            tf = tf.astype(np.float32)
            bounds = np.flatnonzero(np.concatenate(([True], term[1:] != term[:-1])))
            counts = np.diff(np.append(bounds, len(term)))
            groups = term[bounds]
            dest = np.repeat(fill[groups] - bounds, counts) + np.arange(len(term))
            fill[groups] += counts
            norm = lengths[doc]
            norm *= B / max(avg, 1e-6)
            norm += 1 - B
            norm *= K1
            norm += tf
            self._sat[dest] = tf * (K1 + 1) / norm
            self._docs[dest] = doc
            self._title[dest] = title

    def _index_years(self) -> None:
        """Which documents are about a year (title, tags, date) and which only mention it, from the index itself."""
        self.topic_years: dict[int, np.ndarray] = {}  # year -> bool per document
        self.mention_years: dict[int, np.ndarray] = {}
        for term in self.df:
            if len(term) == 4 and term.isdigit() and _YEAR_RE.fullmatch(term):
                ids, _, in_title = self.postings(term)
                year = int(term)
                mentioned = np.zeros(self.n, dtype=np.bool_)
                mentioned[ids] = True
                about = np.zeros(self.n, dtype=np.bool_)
                about[ids[in_title > 0]] = True
                self.mention_years[year] = mentioned
                self.topic_years[year] = about

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        i = self.term_ids[term]
        lo, hi = self._ptr[i], self._ptr[i + 1]
        return self._docs[lo:hi], self._sat[lo:hi], self._title[lo:hi].astype(np.float32)

    def holds(self, term: str, doc_id: str) -> bool:
        """Whether a document holds a term (postings are in document order: a binary search)."""
        i = self.term_ids.get(term)
        if i is None or term not in self.df:
            return False
        docs = self._docs[self._ptr[i] : self._ptr[i + 1]]
        pos = self.pos[doc_id]
        j = int(np.searchsorted(docs, pos))
        return j < len(docs) and int(docs[j]) == pos

    def idf(self, term: str) -> float:
        df = self.df.get(term, 0)
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    # -- reading the question --------------------------------------------------
    def correct(self, word: str) -> str | None:
        """The index word a query word stands for: an inflection ("resigned" -> "resign") or, for a
        word that is not real English, the closest index word ("trafficing" -> "trafficking")."""
        if len(word) < 4 or not word.isalpha() or not word.isascii():
            return None
        bases = [b for b in _inflection_bases(word) if b in self.df]
        if word in english_words() or len(word) < 5:
            return bases[0] if bases else None
        cutoff = 84 if len(word) >= 8 else 87
        choices: list[str] = []
        for length in (len(word) - 1, len(word), len(word) + 1, len(word) + 2):
            choices.extend(t for t in self.vocab_by_len.get(length, ()) if t[0] == word[0])
        best = process.extractOne(word, choices, scorer=fuzz.ratio, score_cutoff=cutoff)
        if best:
            return best[0]
        return bases[0] if bases else None

    @cached_property
    def ordinal_terms(self) -> dict[str, int]:
        """Ordinal terms ("6th", "15th") and their numbers: a post about one edition of a meeting or a report
        (bot/answer.py). Read on the first question that names an edition, not at every re-index."""
        return {t: int(m.group(1)) for t in self.df if (m := ORDINAL_TERM.fullmatch(t))}

    def plan(self, question: str, *, today: date | None = None) -> QueryPlan:
        lex = self.lexicon
        plan = QueryPlan(original=question, normalised=normalise(question), unknown_weight=self.unknown_weight)
        text, used, lang = lex.translate(plan.normalised)
        plan.translated, plan.lang = used, lang
        plan.foreign = bool(used)
        raw_tokens = lex.base_tokens(text)
        plan.years = [int(y) for y in _YEAR_RE.findall(" ".join(raw_tokens)) if y not in self.phone_terms]
        # Years the tokens miss: ROC years ("110年"), years against Han or Thai ("2021年"), Thai Buddhist Era
        # years; a hotline number (1955, 1996) is not a year.
        extra = roc_years(question) if has_han(question) else []
        extra += [y for y in attached_years(question) if str(y) not in self.phone_terms]
        plan.years += [y for y in dict.fromkeys(extra) if y not in plan.years]
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
        plan.numbers = list(dict.fromkeys(
            t for t in tokens if _NUMBER_TERM.match(t) and not (_YEAR_RE.fullmatch(t) or t in self.phone_terms)))
        # Han pairs and Thai triples of the question as written (the glossary's English is added above).
        grams = lex.script_terms(clean(question))
        seen: dict[str, float] = {}
        missing: set[str] = set()
        for tok in [t for t in tokens if t not in lex.stopwords and not _SCRIPT_RE.search(t)]:
            if tok in seen or tok in missing:
                continue
            if tok in self.df:
                if self.df[tok] > COMMON_SHARE * self.n and self.n >= 1000:
                    continue  # in most documents: it tells nothing and would cost a 100k-long posting
                seen[tok] = self.idf(tok)
            elif _informative(tok):
                missing.add(tok)
                plan.unknown.append(tok)
        # A character pair no document holds is mostly a pair across two words, not a missing subject:
        # it is left out of the weight, and the share of pairs the store knows is kept as a signal.
        script_seen: dict[str, float] = {}
        for gram in dict.fromkeys(grams):
            if gram in self.df and not (self.df[gram] > COMMON_SHARE * self.n and self.n >= 1000):
                script_seen[gram] = self.idf(gram) * SCRIPT_GRAM_WEIGHT
        plan.script_grams = len(set(grams))
        plan.script_known = len(script_seen)
        # Keep the most informative terms: a long message should not cost more than a question.
        plan.terms = dict(sorted(seen.items(), key=lambda kv: -kv[1])[:MAX_TERMS])
        plan.terms.update(dict(sorted(script_seen.items(), key=lambda kv: -kv[1])[:MAX_SCRIPT_TERMS]))
        return plan

    # -- scoring ------------------------------------------------------------------
    def score(self, plan: QueryPlan, k: int = 10, *, recency: bool = False) -> list[Hit]:
        if not plan.terms or self.n == 0:
            return []
        n = self.n
        mass = plan.mass or 1.0
        known = sum(plan.terms.values()) or 1.0
        parts = [(self.postings(term), w) for term, w in plan.terms.items()]
        ids = np.concatenate([p[0] for p, _ in parts])
        qw = np.concatenate([np.full(len(p[0]), w, dtype=np.float32) for p, w in parts])
        sat = np.concatenate([p[1] for p, _ in parts])
        title = np.concatenate([p[2] for p, _ in parts])
        # The score is linear in the postings, so one pass ranks every document:
        # 0.45 coverage + 0.30 normalised BM25 + 0.25 title coverage.
        combined = qw * (W_COVER / mass + W_BM25 / (known * (K1 + 1)) * sat + W_TITLE / known * title)
        total = np.bincount(ids, weights=combined, minlength=n)
        total += self._prior
        pool = min(n, max(k * 3, 30))
        if n > pool:
            top = np.argpartition(-total, pool - 1)[:pool]
            # The parts, for the pool only (explain, and the engine's decisions).
            slot = np.full(n, -1, dtype=np.int32)
            slot[top] = np.arange(len(top), dtype=np.int32)
            where = slot[ids]
            hit_mask = where >= 0
            where, qw, sat, title = where[hit_mask], qw[hit_mask], sat[hit_mask], title[hit_mask]
        else:
            top, where = np.arange(n), ids
        cover = np.bincount(where, weights=qw, minlength=len(top))
        bm25 = np.bincount(where, weights=qw * sat, minlength=len(top))
        tcover = np.bincount(where, weights=qw * title, minlength=len(top))
        hits: list[Hit] = []
        cover, bm25, tcover = (cover / mass).tolist(), (bm25 / (known * (K1 + 1))).tolist(), (tcover / known).tolist()
        for j, i in enumerate(top.tolist()):
            if cover[j] <= 0:
                continue
            year_adj = self._year_adjust(i, plan.years) if plan.years else 0.0
            score = float(total[i]) + year_adj
            hits.append(Hit(self.ids[i], round(max(0.0, min(1.0, score)) * 100, 2),
                            {"coverage": cover[j], "title": tcover[j], "bm25": bm25[j], "year": year_adj,
                             "raw": score}))
        # By the uncapped score (two posts shown as 100 still differ), ties newest first.
        hits.sort(key=lambda h: (h.parts["raw"], self.dates[self.pos[h.id]]), reverse=True)
        margin = RECENCY_MARGIN if recency else TIE_MARGIN
        return _prefer_newest_among_ties(hits, self.dates, self.pos, margin)[:k]

    def _year_adjust(self, i: int, years: list[int]) -> float:
        """Reward a post about the year asked for; penalise one about another year."""
        if not years:
            return 0.0
        day = self.dates[i]
        if any(day.startswith(str(y)) or (y in self.topic_years and self.topic_years[y][i]) for y in years):
            return YEAR_ABOUT
        if any(y in self.mention_years and self.mention_years[y][i] for y in years):
            return YEAR_MENTIONED
        return YEAR_OTHER

    def newest(self, k: int, *, year: int | None = None, ids: set[str] | None = None) -> list[str]:
        out = []
        for i in self._newest_first:
            if year is not None and not self.dates[i].startswith(str(year)):
                continue
            if ids is not None and self.ids[i] not in ids:
                continue
            out.append(self.ids[i])
            if len(out) >= k:
                break
        return out


TIE_MARGIN = 0.3  # points: within this, two posts answer equally well and the newer one wins
RECENCY_MARGIN = 8.0  # when the question asks for the current state ("now", "still", 現在)


def _prefer_newest_among_ties(hits: list[Hit], dates: list[str], pos: dict[str, int], margin: float) -> list[Hit]:
    if len(hits) < 2:
        return hits
    top = hits[0].score
    tied = [h for h in hits if top - h.score <= margin]
    if len(tied) < 2:
        return hits
    tied.sort(key=lambda h: dates[pos[h.id]], reverse=True)
    rest = [h for h in hits if top - h.score > margin]
    return tied + rest


@lru_cache(maxsize=1)
def _pin_mmap_threshold() -> None:
    """Let glibc return freed build buffers to the OS at once.

    glibc raises its mmap threshold after a large block is freed, so the next big NumPy arrays come
    from the heap and stay as RSS after the index is built (130 MB at 100,000 posts). Pinning the
    threshold keeps peak and resident memory to what the index really holds. No-op elsewhere.
    """
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _inflection_bases(word: str) -> list[str]:
    """Plausible base forms of an English inflection: resigned -> resign, abusing -> abuse, tilted -> tilt."""
    out = []
    for suffix, repl in (("ied", "y"), ("ed", ""), ("ed", "e"), ("d", ""), ("ing", ""), ("ing", "e"),
                         ("ly", ""), ("er", ""), ("ers", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            out.append(word[: len(word) - len(suffix)] + repl)
    return out


def _informative(tok: str) -> bool:
    """Words that carry meaning even though no document has them (not numbers, not 1-2 letters)."""
    if tok.isdigit():
        return False
    return len(tok) >= 3 or any(ord(c) > 0x2E80 for c in tok)


