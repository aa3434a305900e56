"""The one answer engine: safety first, then intent (latest news, contacts, small talk), then matching.

Telegram, the console, `ask` and the batch mode all call `AnswerEngine.answer` and get a plain
`Answer`; nothing here knows about Telegram.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot import safety
from bot.answer_types import Answer, Hit
from bot.answerability import AnswerabilityModel, features
from bot.config import DATA_DIR
from bot.contact_router import MINISTRY_ADDRESS, MINISTRY_CONTACT, ContactRouter
from bot.fact_types import default_fact_types
from bot.intents import PhraseReader, news_reader, news_request
from bot.language import detect_lang
from bot.lexicon import Lexicon, default_lexicon, english_words
from bot.matcher import ORDINAL_TERM, YEAR_OTHER, Docs, Index, QueryPlan
from bot.models import Contact, Post
from bot.passages import PassageIndex
from bot.semantic import SemanticIndex
from bot.text import attached_years, clean, fold_latin, has_searchable, normalise, roc_years, words

TAIPEI = ZoneInfo("Asia/Taipei")
_YEAR_RE = re.compile(r"(?<!\d)(19|20)\d\d(?!\d)|\d{2,3}\s*年")
YEAR_LIST_SIZE = 10  # posts listed for "posts from 2019" (the list pages on with buttons)
PASSAGE_WARM_POSTS = 5000  # up to this many posts, every paragraph is read at start-up, not on first use


@dataclass(frozen=True)
class Tunables:
    post_fields: dict[str, float]
    contact_fields: dict[str, float]
    min_contact_score: float
    named_contact_share: float
    suggest_min_score: float
    latest_count: int
    passage_weight: float
    latest_about_share: float
    latest_about_coverage: float
    semantic_max_posts: int
    title_search_max_words: int
    cascade_band: tuple[float, float]

    @classmethod
    def load(cls) -> Tunables:
        raw = json.loads((DATA_DIR / "matcher.json").read_text(encoding="utf-8"))
        return cls(**{k: v for k, v in raw.items() if not k.startswith("_")})


class PhraseSet:
    """Whole-word phrase lookup on normalised text (substring for Chinese and Thai)."""

    def __init__(self, phrases: list[str]) -> None:
        self.word_phrases: set[tuple[str, ...]] = set()
        self.script_phrases: list[str] = []
        for p in phrases:
            if any(ord(c) > 0x2E80 or 0x0E00 <= ord(c) <= 0x0E7F for c in p):
                self.script_phrases.append(p)
            else:
                self.word_phrases.add(tuple(words(normalise(p))))
        self.longest = max((len(p) for p in self.word_phrases), default=1)
        self.word_phrases_flat = frozenset(w for p in self.word_phrases for w in p)

    def find(self, text_norm: str, tokens: list[str]) -> list[str]:
        found = [p for p in self.script_phrases if p in text_norm]
        for i in range(len(tokens)):
            for n in range(1, min(self.longest, len(tokens) - i) + 1):
                key = tuple(tokens[i : i + n])
                if key in self.word_phrases:
                    found.append(" ".join(key))
        return found

    def covers(self, tokens: list[str], stopwords: frozenset[str]) -> bool:
        """True when the whole message is made of these phrases (and filler words)."""
        remaining = [t for t in tokens if t not in stopwords]
        if not remaining:
            return bool(tokens) and tuple(tokens) in self.word_phrases
        i = 0
        while i < len(tokens):
            for n in range(min(self.longest, len(tokens) - i), 0, -1):
                if tuple(tokens[i : i + n]) in self.word_phrases:
                    i += n
                    break
            else:
                if tokens[i] not in stopwords:
                    return False
                i += 1
        return True


def post_docs(posts: list[Post]) -> Docs:
    """The post fields the index reads; translated titles, summaries and bodies are fields of their own,
    so a question in Chinese or Thai meets the post's text in its language as well as the English."""
    return Docs(
        ids=[p.id for p in posts],
        dates=[p.date for p in posts],
        fields={"title": [p.title for p in posts], "questions": [" ".join(p.questions) for p in posts],
                "tags": [" ; ".join(p.tags) for p in posts], "category": [p.category for p in posts],
                "body": [p.body for p in posts],
                "title_i18n": [_joined(p.i18n, "title") for p in posts],
                "summary_i18n": [_joined(p.i18n, "summary") for p in posts],
                "body_i18n": [_joined(p.i18n, "body") for p in posts]},
    )


def _joined(i18n: dict[str, dict[str, str]], key: str) -> str:
    return " ; ".join(fields[key] for fields in i18n.values() if fields.get(key))


def contact_docs(contacts: list[Contact]) -> Docs:
    return Docs(
        ids=[c.id for c in contacts],
        dates=["" for _ in contacts],
        fields={"name": [c.name for c in contacts], "phone": [c.phone for c in contacts],
                "topics": [" ; ".join(c.topics) for c in contacts],
                "alt_phones": [" ; ".join(c.alt_phones) for c in contacts],
                "agency": [c.agency for c in contacts], "languages": [" ".join(c.languages) for c in contacts],
                "name_i18n": [_joined(c.i18n, "name") for c in contacts],
                "purpose_i18n": [_joined(c.i18n, "purpose") for c in contacts]},
    )


class AnswerEngine:
    """Routes a question to safety, intent or the matcher; keeps its indexes in step with the store."""

    def __init__(self, posts: list[Post], contacts: list[Contact], *, lexicon: Lexicon | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.lexicon = lexicon or default_lexicon()
        self.tun = Tunables.load()
        self.clock = clock or (lambda: datetime.now(TAIPEI))
        intents = json.loads((DATA_DIR / "intents.json").read_text(encoding="utf-8"))
        self.intents = {k: PhraseSet(v) for k, v in intents.items() if not k.startswith("_")}
        asks = json.loads((DATA_DIR / "contact_asks.json").read_text(encoding="utf-8"))
        self.contact_reader = PhraseReader(
            {"contact": [t for kind in ("asks", "attributes", "address", "contact_words", "number_words")
                         for terms in asks.get(kind, {}).values() for t in terms],
             "ministry": intents.get("ministry_names", [])},
            self.lexicon.stopwords, "".join(self.lexicon.zh_function))
        self.news_reader = news_reader(self.lexicon.stopwords, "".join(self.lexicon.zh_function))
        safety.check("warm up")  # load the lexicons now, not on the first person's message
        english_words()
        self.load(posts, contacts)

    @classmethod
    def from_store(cls, store, **kw) -> AnswerEngine:
        engine = cls(store.posts(), store.contacts(), **kw)
        store.on_change(lambda: engine.load(store.posts(), store.contacts()))
        return engine

    def load(self, posts: list[Post], contacts: list[Contact]) -> None:
        self.posts = {p.id: p for p in posts}
        self.n_posts = len(self.posts)
        self.contacts = {c.id: c for c in contacts}
        self.legacy_contacts = {c.id for c in contacts if any("legacy" in t.lower() for t in c.topics)}
        self._contact_digits = [(c, {"".join(ch for ch in n if ch.isdigit()) for n in (c.phone, *c.alt_phones)})
                                for c in contacts]
        phones = {normalise(c.phone).replace(" ", "") for c in contacts if c.phone.isdigit()}
        self.post_index = Index(post_docs(posts), self.tun.post_fields, self.lexicon, phone_terms=phones)
        self.passages = PassageIndex(self.post_index.doc_tokens, carry_over=getattr(self, "passages", None))
        # The sentence encoder (~150 MB) serves stores up to semantic_max_posts; larger ones use the
        # model fitted without the semantic features.
        variant = "semantic" if len(posts) <= self.tun.semantic_max_posts else "lexical"
        self.answerability = AnswerabilityModel.load(variant=variant)
        self.lexical = AnswerabilityModel.load(variant="lexical")
        self.semantic = SemanticIndex() if self.answerability.semantic else None
        if self.semantic is not None:
            self.semantic.warm(posts)
        if len(posts) <= PASSAGE_WARM_POSTS:
            self.passages.warm(posts)
        # Contacts are few and their words are few: a word they lack says nothing, so no unknown-word penalty.
        self.router = ContactRouter(contacts)
        self.contact_index = Index(contact_docs(contacts), self.tun.contact_fields, self.lexicon,
                                   phone_terms=phones, unknown_weight=0.0)

    # -- the one entry point ------------------------------------------------------
    def answer(self, text: str, *, now: datetime | None = None) -> Answer:
        start = time.perf_counter()
        result = self._answer(text, now or self.clock())
        ms = round((time.perf_counter() - start) * 1000, 3)
        return Answer(**{**_fields(result), "ms": ms})

    def _answer(self, text: str, now: datetime) -> Answer:
        query = clean(text)
        if not has_searchable(query):
            return Answer("none", query=query, reason="no-text")
        # The safety check reads the whole message; only the matcher works on the first part.
        hit = safety.check(text)
        if hit is not None and hit.level == "referral":
            ids = safety.referral_contacts(hit, list(self.contacts.values()), now)
            if hit.situations == ("immediate_danger",):
                ids = self._injury_first(text, hit, ids)
            return Answer("referral", tuple(Hit(i, 100.0) for i in ids), query=query, reason="safety",
                          lang=hit.lang, situations=hit.situations)
        answer = self._answer_question(query, now)
        if hit is not None:  # some signs of danger, not enough for the card: answer, and add the numbers
            ids = safety.referral_contacts(hit, list(self.contacts.values()), now)
            answer = Answer(**{**_fields(answer), "safety_note": tuple(ids[:3]), "situations": hit.situations})
        return answer

    def _another_edition(self, plan: QueryPlan, post_id: str) -> bool:
        """Whether the question names an edition ("9th meeting", "ninth", "lần thứ 9") that the post does not
        hold, as an ordinal or as its number word ("tenth time" / "ten years in a row"), while the post is
        about another edition (it holds another ordinal). First is left out: "first" is said loosely."""
        asked = {term: int(m.group(1)) for term in plan.numbers
                 if (m := ORDINAL_TERM.fullmatch(term)) and int(m.group(1)) >= 2}
        if not asked:
            return False
        holds = self.post_index.holds
        if all(holds(term, post_id) or holds(_NUMBER_WORDS.get(n, "-"), post_id) for term, n in asked.items()):
            return False
        others = (term for term, n in self.post_index.ordinal_terms.items() if n >= 2 and n not in asked.values())
        return any(holds(term, post_id) for term in others)

    def _asks_to_compose(self, norm: str, tokens: list[str]) -> bool:
        """"Write me a poem about Mid-Autumn", "buatkan puisi": a request to compose something is out of the
        ministry's scope whatever its subject (data/intents.json: a compose verb and a genre, both)."""
        verbs, genres = self.intents.get("compose_verbs"), self.intents.get("compose_genres")
        return bool(verbs and genres and verbs.find(norm, tokens) and genres.find(norm, tokens))

    def _injury_first(self, text: str, hit: safety.SafetyHit, ids: list[str]) -> list[str]:
        """Danger named only by an injury or a fire ("bleeding a lot", "can't breathe", no one causing
        it) is first a call for an ambulance: the urgent line the message describes (119) leads the
        card. A sign of someone causing it (a weapon, a threat, "he") keeps the police first."""
        sig = self.router.read(text)
        line = next((cid for cid in sig.best_needs()[:1] if cid in self.router.urgent), None)
        if line is None or line == (ids[0] if ids else None):
            return ids
        described = {t.casefold() for t in sig.needs.get(line, ())}
        if not hit.matched or any(term.casefold() not in described for term in hit.matched):
            return ids
        return [line, *(i for i in ids if i != line)]

    def _answer_question(self, query: str, now: datetime) -> Answer:
        norm = normalise(query)
        tokens = words(fold_latin(norm))
        lang = detect_lang(query)
        stop = self.lexicon.stopwords
        for kind in ("greeting", "thanks", "chitchat"):
            if self.intents[kind].covers(tokens, stop):
                return Answer("none", query=query, reason=kind, lang=lang)
        if self._asks_to_compose(norm, tokens):
            return Answer("none", query=query, reason="compose", lang=lang)
        if len([t for t in tokens if len(t) > 1 or not t.isascii()]) == 0:
            return Answer("none", query=query, reason="too-short", lang=lang)
        news = news_request(self.news_reader, query)
        if news is not None and news.kind == "latest":
            return self.latest(lang=lang)
        if news is not None and news.kind == "year" and self.post_index.newest(1, year=news.year):
            return self.latest(lang=lang, year=news.year, k=YEAR_LIST_SIZE)
        contact = self._contact_answer(query, tokens, lang, now.date())
        if contact is not None:
            return contact
        # "eID status now": among posts that answer about equally, the newest.
        recency = bool(self.intents["recency"].find(norm, tokens))
        if news is not None and news.kind == "latest_about" and news.subject:
            answer = self._newest_about(news.subject, lang, now.date())
            return Answer(**{**_fields(answer), "query": query})
        return self._match(query, lang, recency, now.date())

    def _newest_about(self, subject: str, lang: str, today: date) -> Answer:
        """"latest workshop": of the posts that answer the subject nearly as well as the best, the newest.

        A request for the newest post on a subject is answered when the best post holds the whole
        subject (several yearly posts tie, and the tie is what the date settles); otherwise it is
        decided like any question."""
        answer = self._match(subject, lang, True, today)
        if answer.kind == "none" and answer.reason == "low-score":
            plan, posts, _ = self.post_candidates(subject, lang, today=today, recency=True)
            if posts and posts[0].parts.get("coverage", 0.0) >= self.tun.latest_about_coverage:
                answer = Answer("post", tuple(posts), query=subject, reason="latest-about", lang=lang)
        if answer.kind != "post" or not answer.hits:
            return answer
        floor = answer.hits[0].score * self.tun.latest_about_share
        close = [h for h in answer.hits if h.score >= floor]
        newest = max(close, key=lambda h: self.posts[h.id].date)
        hits = (newest, *(h for h in answer.hits if h.id != newest.id))
        return Answer(**{**_fields(answer), "hits": hits})

    def latest(self, *, k: int | None = None, year: int | None = None, category: str | None = None,
               lang: str = "en") -> Answer:
        ids = None
        if category:
            cats = {category} if isinstance(category, str) else set(category)
            ids = {p.id for p in self.posts.values() if p.category in cats}
        newest = self.post_index.newest(k or self.tun.latest_count, year=year, ids=ids)
        return Answer("list", tuple(Hit(i, 100.0) for i in newest), reason=f"year:{year}" if year else "latest",
                      lang=lang)

    def _contact_answer(self, query: str, tokens: list[str], lang: str, today: date) -> Answer | None:
        """A contact card when the message asks for one (see bot/contact_router.py), else None."""
        sig = self.router.read(query)
        # "police number", "1955 phone": a message ending in the word asks for one, unless that word is part of
        # a phrase that is not about contacting anyone ("the full house number": no number word is left).
        tail = bool(tokens and tokens[-1] in self.intents["contact_tail"].word_phrases_flat
                    and (sig.number_words or sig.contact_words or sig.address))
        asks = bool(sig.asks) or tail
        typed = self._phone_lookup(query)
        needs = sig.best_needs()

        def card(ids: list[str], reason: str) -> Answer:
            ids = list(dict.fromkeys(i for i in ids if i in self.contacts))
            return Answer("contact", tuple(Hit(i, 100.0 - n) for n, i in enumerate(ids)), query=query,
                          reason=reason, lang=lang)

        # A number typed in full (0800-024-111) is a lookup; a short code (1990) when asked about.
        long_typed = [h for h in typed if h.parts.get("digits", 0) >= 7]
        if typed and (asks or sig.attributes or long_typed):
            # "119還是110": of several typed numbers, the one whose needs the message describes first.
            ranked = sorted(typed, key=lambda h: (h.id not in needs[:1], -h.score))
            return card([h.id for h in ranked] + needs, "contact-number")
        if typed:
            return None  # "1990 hotline", "165反詐騙專線成效": about the line, a question for the posts
        urgent = [i for i in needs[:1] if i in self.router.urgent]
        if urgent and sig.first_person and not _YEAR_RE.search(query):
            # "I smell smoke in the stairwell", "家裡有瓦斯味": the writer's own emergency, now (no year:
            # not a question about a past event), names the line even without asking for a number.
            return card(urgent + needs, "contact-urgent")
        if not sig.asks and _names_recent_year(query):
            # "what share of calls to the 1990 hotline in 2020 were about visas", "was the 2017 quake alert
            # sent to every phone": a year and no request for a number is a question about the past, for
            # the posts. (Years from 2000: 1955, 1990, 1996 and 1999 are hotlines.)
            return None
        found_words, rest, script_left = self.contact_reader.read(query)
        bare = not [t for t in rest if not t.isdigit()] and len(script_left) <= 1
        if sig.address and (bare or "ministry" in found_words):
            return card([MINISTRY_ADDRESS, MINISTRY_CONTACT], "contact-address")
        if needs and (asks or sig.contact_words or sig.number_words):
            return card(needs, "contact-need")
        if bare and (asks or sig.contact_words):
            return card([MINISTRY_CONTACT, MINISTRY_ADDRESS], "contact-ministry")
        if asks or sig.contact_words or sig.number_words:
            # "anti fraud hotline number": a line named by what it is; without an ask, only a clear match.
            found = self._contacts_for(query, [], today)
            if found and (found[0].score >= self.tun.min_contact_score if asks
                          else self._names_line(found[0].id, rest)):
                return card([h.id for h in found], "contact")
        return None

    def _names_line(self, contact_id: str, rest: list[str]) -> bool:
        """Whether the words beside 'hotline'/'number' are (nearly all) words of this contact's name or
        topics ("anti fraud hotline number" -> 165), not a subject of their own ("4G phone alert")."""
        terms = [t for w in rest if not w.isdigit() for t in self.contact_index.term_map(w)]
        if not terms:
            return False
        held = sum(1 for t in terms if self.contact_index.holds(t, contact_id))
        return held / len(terms) >= self.tun.named_contact_share

    def _match(self, query: str, lang: str, recency: bool, today: date) -> Answer:
        plan, posts, values, p, model = self.decide(query, lang, today=today, recency=recency)
        if posts and plan.years and posts[0].parts.get("year", 0) <= YEAR_OTHER:
            # The question names a year no matching post is about: another year's post would mislead.
            return Answer("none", query=query, reason="year-not-covered", lang=lang)
        near = tuple(h for h in posts[:3] if h.score >= self.tun.suggest_min_score)
        if not posts:
            return Answer("none", query=query, reason="low-score", lang=lang)
        if self._another_edition(plan, posts[0].id):
            # "the ninth Taiwan-Indonesia meeting": the best post is about the sixth; another edition would mislead.
            return Answer("none", query=query, reason="edition-not-covered", lang=lang, suggestions=near,
                          confidence=p)
        if default_fact_types().unstated(query, self.posts[posts[0].id]):
            # "how much does the gold card cost": the post on the card names no fee; offer it, do not answer.
            return Answer("none", query=query, reason="fact-not-stated", lang=lang, suggestions=near, confidence=p)
        if p >= model.answer_at:
            return Answer("post", tuple(posts), query=query, reason="match", lang=lang, confidence=p)
        if p >= model.tentative_at or self._title_search(plan, posts[0]):
            return Answer("post", tuple(posts), query=query, reason="tentative", lang=lang, confidence=p)
        return Answer("none", query=query, reason="low-score", lang=lang, suggestions=near, confidence=p)

    def _title_search(self, plan: QueryPlan, best: Hit) -> bool:
        """'social housing', '165 hotline': a few words, all of them in the best post's title, is a search
        for that post by its title, answered (tentatively) even where the model would decline."""
        words_asked = [t for t in plan.terms if t.isascii()]
        return (0 < len(words_asked) <= self.tun.title_search_max_words and not plan.unknown
                and best.parts.get("title", 0.0) >= 0.999)

    def post_candidates(self, query: str, lang: str, *, today: date | None = None, recency: bool = False,
                        meaning: bool = True) -> tuple[QueryPlan, list[Hit], dict[str, float]]:
        """The ranked posts for a question and the answerability signals of the best one (with the
        semantic ones when `meaning` and the encoder serves this store)."""
        plan = self.post_index.plan(query, today=today)
        posts = self.post_index.score(plan, k=8, recency=recency)
        if not posts:
            return plan, posts, {}
        mass = plan.mass or 1.0
        # A post whose one paragraph holds the question ranks up: facts deep in a body are found.
        weight = self.tun.passage_weight
        scored = [(h, *self.passages.best(self.posts[h.id], plan.terms, mass)) for h in posts]
        scored.sort(key=lambda hp: hp[0].parts["raw"] + weight * hp[1], reverse=True)
        posts = [Hit(h.id, h.score, {**h.parts, "passage": p}) for h, p, _ in scored]
        passage = [p for _, p, _ in scored]
        # Paragraph numbers from the passage index count the English body's paragraphs first.
        similar = (self.semantic.similarities(query, [(self.posts[h.id], where) for h, _, where in scored])
                   if self.semantic is not None and meaning else [])
        if similar:
            posts, passage, similar = _tie_break_by_meaning(posts, passage, similar)
        return plan, posts, features(plan, posts, passage, lang, self.post_index.holds, similar)

    def decide(self, query: str, lang: str, *, today: date | None = None, recency: bool = False
               ) -> tuple[QueryPlan, list[Hit], dict[str, float], float, AnswerabilityModel]:
        """Candidates and the probability that the best answers, cheapest first: the lexical model
        decides when it is sure (outside the cascade band: there the two models agreed on every dev
        question), the encoder is asked only in between (about a third of the questions)."""
        plan, posts, values = self.post_candidates(query, lang, today=today, recency=recency, meaning=False)
        if not posts:
            return plan, posts, values, 0.0, self.lexical
        p = self.lexical.probability(values)
        low, high = self.tun.cascade_band
        if self.semantic is None or not low < p < high:
            return plan, posts, values, p, self.lexical
        plan, posts, values = self.post_candidates(query, lang, today=today, recency=recency)
        return plan, posts, values, self.answerability.probability(values), self.answerability

    def _contacts_for(self, query: str, phone_hits: list[Hit], today: date) -> list[Hit]:
        """Contacts for a question that asks for one: typed numbers first, then the best text matches."""
        cplan = self.contact_index.plan(query, today=today)
        # A superseded number (its record says "legacy") answers only when someone types that number.
        found = [h for h in self.contact_index.score(cplan, k=4) if h.id not in self.legacy_contacts][:3]
        typed = {h.id for h in phone_hits}
        return phone_hits + [h for h in found if h.id not in typed]

    def _phone_lookup(self, query: str) -> list[Hit]:
        # Digit runs anywhere, also inside Chinese or Thai text ("1990專線").
        # Also numbers written in groups: "02 2388 3095", "0800 024 111", "(02) 2388-3095".
        grouped = ["".join(ch for ch in m if ch.isdigit()) for m in re.findall(r"\(?\d[\d\s()\-]{5,}\d", query)]
        digits = [w for w in re.findall(r"\d+", query.replace("-", "")) + grouped if len(w) >= 3]
        hits = []
        for c, flat in self._contact_digits:
            matched = [d for d in digits if d in flat or any(f.startswith(d) and len(d) >= 7 for f in flat)]
            if matched:
                # The number is this contact's own phone: a direct hit. Listed as an alternative: weaker.
                own = "".join(ch for ch in c.phone if ch.isdigit()) in digits
                hits.append(Hit(c.id, 100.0 if own else 90.0, {"phone": 1.0, "digits": max(map(len, matched))}))
        hits.sort(key=lambda h: -h.score)
        return hits

    def explain(self, text: str) -> dict:
        """How the question was read, scored and decided: for staff asking why an answer was chosen
        (or why the bot declined): the answerability signals, each one's push, the probability and
        the thresholds; the safety cue scores; the contact signals."""
        query = clean(text)
        lang = detect_lang(query)
        plan, posts, values, p, model = self.decide(query, lang)
        cplan = self.contact_index.plan(query)
        sig = self.router.read(query)
        ans = self.answer(text)
        decision = {}
        if values:
            decision = {
                "model": "semantic" if model.semantic else "lexical",
                "probability": round(p, 3),
                "thresholds": {"answer": model.answer_at, "tentative": model.tentative_at},
                "outcome": "answer" if p >= model.answer_at else "tentative" if p >= model.tentative_at else "decline",
                "features": {k: round(values[k], 3) for k in model.names},
                "pushes": model.contributions(values),
            }
        return {
            "question": text,
            "language": lang,
            "normalised": plan.normalised,
            "translated": plan.translated,
            "corrected": plan.corrected,
            "synonyms": plan.synonyms,
            "terms": {t: round(w, 2) for t, w in plan.terms.items()},
            "unknown_words": plan.unknown,
            "years": plan.years,
            "posts": [{"id": h.id, "title": self.posts[h.id].title, "score": h.score, "parts": _rounded(h.parts),
                       "translated_titles": {lang: f["title"] for lang, f in self.posts[h.id].i18n.items()}}
                      for h in posts[:5]],
            "answerability": decision,
            # A question asking for a price or a death toll, and whether the best post states one.
            "fact_types": {"asked": default_fact_types().asked(text),
                           "unstated": default_fact_types().unstated(text, self.posts[posts[0].id]) if posts else []},
            "safety_cues": {k: v for k, v in safety.cue_scores(text).items() if v > 0},
            "contact_signals": {"asks": sig.asks, "attributes": sig.attributes, "address": sig.address,
                                "contact_words": sig.contact_words, "needs": sig.needs},
            "contacts": [{"id": h.id, "score": h.score, **_rounded(h.parts)} for h in self.contact_index.score(cplan, k=3)],
            "answer": {"kind": ans.kind, "reason": ans.reason, "ids": ans.ids[:3], "lang": ans.lang,
                       "confidence": round(ans.confidence, 3), "situations": list(ans.situations)},
        }


def _names_recent_year(query: str) -> bool:
    """A year from 2000 (1955, 1990, 1996 and 1999 are hotlines, not years), or an ROC year from 80 (1991)."""
    return any(y >= 2000 for y in attached_years(query)) or any(y >= 1991 for y in roc_years(query))


_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten",
                 11: "eleven", 12: "twelve", 13: "thirteen", 14: "fourteen", 15: "fifteen", 16: "sixteen",
                 17: "seventeen", 18: "eighteen", 19: "nineteen", 20: "twenty"}



TIE = 1.0  # points (the 0-100 score, as the "Did you mean" near ties): posts this close match the words equally
PASSAGE_TIE = 0.02  # ... and their best paragraphs hold the question about equally


def _tie_break_by_meaning(posts: list[Hit], passage: list[float], similar: list[float]
                          ) -> tuple[list[Hit], list[float], list[float]]:
    """Posts the words match equally well are ordered by the encoder's closeness in meaning; the rest of
    the ranking stays lexical (the encoder alone, or fused with the lexical score, ranked worse)."""
    tied = [i for i in range(min(len(similar), len(posts)))
            if posts[0].score - posts[i].score <= TIE and abs(passage[0] - passage[i]) <= PASSAGE_TIE]
    if len(tied) < 2:
        return posts, passage, similar
    order = sorted(tied, key=lambda i: -similar[i]) + [i for i in range(len(posts)) if i not in tied]
    sims = [similar[i] for i in order if i < len(similar)]
    return [posts[i] for i in order], [passage[i] for i in order], sims


def _rounded(parts: dict) -> dict:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in parts.items()}


def _fields(a: Answer) -> dict:
    return {f: getattr(a, f) for f in a.__dataclass_fields__}
