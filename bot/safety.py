"""Safety check: recognise a person in danger before any other matching, and pick who they should call.

People in trouble rarely write "human trafficking": they write "agent lock the dorm door", "majikan ambil
paspor saya", "chủ giữ hộ chiếu". The lexicon (data/safety/lexicon-<lang>.json) describes such situations
as *indicator groups*: a group fires when every one of its slots (an object such as "passport", an action
such as "kept", a person such as "my" or "boss") has a term in the message, and none of its `unless` slots
does. Latin-script languages are matched on word tokens (typos tolerated for long words, Vietnamese
diacritics folded); Chinese and Thai, written without spaces, on substrings.

Which numbers to show, in which order, is data too (data/safety/routing.json); code only adds the hours
rule: no office-hours or unverified line is listed before a 24-hour one.

Nothing here builds a regular expression from user text, and input is capped by bot.text.clean.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.hours import is_24h, open_now, served_languages
from bot.models import Contact
from bot.text import clean, has_han, has_searchable, has_thai, normalise, words

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "safety"
LANGS = ("en", "zh", "id", "vi", "th", "tl")

MAX_MESSAGE_CHARS = 4096  # Telegram's message limit: the safety check reads all of it
FUZZY_MIN_LEN = 7  # shorter words have too many real neighbours ("looked"/"locked") to guess a typo
FUZZY_LONG_LEN = 10  # from this length two edits are still a typo, not another word
_FUZZY_CACHE_MAX = 20_000
_VIETNAMESE_LETTERS = re.compile(r"[ăâđêôơưĂÂĐÊÔƠƯ\u1ea0-\u1ef9]")


@dataclass(frozen=True)
class SafetyHit:
    """Situations recognised in one message, the language it was written in, and the lexicon terms seen.

    `level` is "referral" (the card comes first) or "soft" (some evidence, below the referral threshold:
    answer normally and add one line with the numbers). `score` is the cue score that decided a cue hit."""

    situations: tuple[str, ...]
    lang: str
    matched: tuple[str, ...]
    level: str = "referral"
    score: float = 0.0


# --------------------------------------------------------------------------- term matching


@dataclass(frozen=True, slots=True)
class _Tok:
    text: str
    mode: str  # "=" whole word, "prefix", "suffix", "contains"

    def matches(self, word: str) -> bool:
        if self.mode == "=":
            return word == self.text
        if self.mode == "prefix":
            return word.startswith(self.text)
        if self.mode == "suffix":
            return word.endswith(self.text)
        return self.text in word


_MODES = {(True, True): "contains", (True, False): "suffix", (False, True): "prefix", (False, False): "="}


@lru_cache(maxsize=50_000)
def _compile_word(raw: str) -> tuple[_Tok, ...]:
    """One space-free piece of a term, normalised like user text (cached: $set expansions repeat words)."""
    pre, post = raw.startswith("*"), raw.endswith("*")
    core = words(normalise(raw.strip("*")))
    toks = tuple(_Tok(w, _MODES[(pre and i == 0, post and i == len(core) - 1)]) for i, w in enumerate(core))
    if any(t.mode != "=" and len(t.text) < 3 for t in toks):
        raise ValueError(f"wildcard {raw!r}: the fixed part must have at least 3 letters")
    return toks


def _compile_tokens(term: str) -> tuple[_Tok, ...]:
    """'lock*' -> prefix, '*kulong*' -> contains, '*nya' -> suffix; the rest is normalised like user text."""
    return tuple(tok for raw in term.split() for tok in _compile_word(raw))


def _compact(text: str, han_map: Mapping[int, str]) -> str:
    """Spaceless, case-folded text for substring matching of Chinese and Thai."""
    return "".join(clean(text, MAX_MESSAGE_CHARS).casefold().split()).translate(han_map)


@dataclass
class _View:
    """One message, prepared once for every language's matcher."""

    tokens: list[str]
    compact: str
    raw: str


_NO_EDGES: dict = {}
_NO_WILD: list = []
_NO_ENDS: list = []


class _Node:
    """A token trie: whole-word edges in a dict, wildcard edges in a short list."""

    __slots__ = ("exact", "wild", "ends")

    def __init__(self) -> None:
        # Shared empty containers until a node needs its own: most of the ~80,000 nodes are leaves,
        # and three fresh containers each cost ~40 MB over the whole lexicon.
        self.exact: dict[str, _Node] = _NO_EDGES
        self.wild: list[tuple[_Tok, _Node]] = _NO_WILD
        self.ends: list[tuple[str, str]] = _NO_ENDS  # (key, display term) of the terms ending here

    def insert(self, toks: Sequence[_Tok], payload: tuple[str, str]) -> None:
        node = self
        for tok in toks:
            if tok.mode == "=":
                if node.exact is _NO_EDGES:
                    node.exact = {}
                node = node.exact.setdefault(tok.text, _Node())
                continue
            child = next((c for t, c in node.wild if t == tok), None)
            if child is None:
                child = _Node()
                if node.wild is _NO_WILD:
                    node.wild = []
                node.wild.append((tok, child))
            node = child
        if payload not in node.ends:
            if node.ends is _NO_ENDS:
                node.ends = []
            node.ends.append(payload)

    def walk(self, forms: Sequence[tuple[str, ...]], start: int) -> list[tuple[tuple[str, str], int]]:
        """Every term that matches the words from `start` on, with the index just past its last word."""
        found: list[tuple[tuple[str, str], int]] = []
        stack: list[tuple[_Node, int]] = [(self, start)]
        while stack:
            node, j = stack.pop()
            found += [(payload, j) for payload in node.ends]
            if j >= len(forms):
                continue
            for word in forms[j]:
                if not word:
                    continue
                child = node.exact.get(word)
                if child is not None:
                    stack.append((child, j + 1))
                if node.wild:
                    stack += [(c, j + 1) for t, c in node.wild if t.matches(word)]
        return found


class TermMatcher:
    """Finds which keys have a term in a message.

    Token terms live in a trie, so a message costs a few dictionary lookups per word whatever the number
    of terms (the lexicon's $set expansions make tens of thousands). Han and Thai terms are substrings.
    """

    def __init__(
        self,
        terms: Mapping[str, Iterable[str]],
        *,
        substring: bool = False,
        fuzzy: bool = True,
        not_typos: Iterable[str] = (),
        ignore: Iterable[str] = (),
        han_map: Mapping[int, str] | None = None,
    ) -> None:
        self._han_map = han_map or {}
        self._subs: list[tuple[str, str, str]] = []  # (compact term, key, display)
        self._trie = _Node()
        self._size = 0
        vocab: set[str] = set()
        for key, values in terms.items():
            for term in values:
                vocab |= self._add(term, key, substring)
        self._ignore_trie = _Node()
        for term in ignore:
            if not (substring or has_han(term) or has_thai(term)):
                toks = _compile_tokens(term)
                if toks:
                    self._ignore_trie.insert(toks, ("", term))
        self._ignore_subs = [c for c in (_compact(t, self._han_map) for t in ignore) if c]
        self._not_typos = {w for t in not_typos for w in words(normalise(t))}
        self._vocab = vocab
        self._fuzzy_targets: dict[str, list[str]] = {}
        for word in sorted(vocab) if fuzzy else ():
            if len(word) >= FUZZY_MIN_LEN and word.isalpha():
                self._fuzzy_targets.setdefault(word[0], []).append(word)
        self._fuzzy_cache: dict[str, str | None] = {}

    def _add(self, term: str, key: str, substring: bool) -> set[str]:
        """Index one term; returns its whole words (the vocabulary typos are corrected to)."""
        if substring or has_han(term) or has_thai(term):
            compact = _compact(term, self._han_map)
            if compact:
                self._subs.append((compact, key, term))
                self._size += 1
            return set()
        toks = _compile_tokens(term)
        if not toks:
            return set()
        self._trie.insert(toks, (key, term))
        self._size += 1
        return {t.text for t in toks if t.mode == "="}

    def __len__(self) -> int:
        return self._size

    # -- per message

    def find(self, view: _View) -> dict[str, list[str]]:
        """Map each key with a term in the message to the terms found."""
        found: dict[str, list[str]] = {}
        if self._subs:
            text = view.compact
            for masked in self._ignore_subs:
                text = text.replace(masked, "|")
            for compact, key, display in self._subs:
                if compact in text:
                    found.setdefault(key, []).append(display)
        if self._trie.exact or self._trie.wild:
            forms = self._forms(self._masked(view.tokens))
            for i in range(len(forms)):
                for (key, display), _ in self._trie.walk(forms, i):
                    terms = found.setdefault(key, [])
                    if display not in terms:
                        terms.append(display)
        return found

    def _masked(self, tokens: list[str]) -> list[str]:
        """Blank out 'ignore' phrases (words that only look like indicators, e.g. 'locked out')."""
        if not (self._ignore_trie.exact or self._ignore_trie.wild):
            return tokens
        out = list(tokens)
        forms = [(w,) for w in tokens]
        for i in range(len(tokens)):
            for _, end in self._ignore_trie.walk(forms, i):
                out[i:end] = [""] * (end - i)
        return out

    def _forms(self, tokens: list[str]) -> list[tuple[str, ...]]:
        """Each word plus, for a long unknown word, the lexicon word it is a typo of."""
        out: list[tuple[str, ...]] = []
        for word in tokens:
            fixed = self._typo_of(word)
            out.append((word, fixed) if fixed else (word,))
        return out

    def _typo_of(self, word: str) -> str | None:
        if (
            not self._fuzzy_targets
            or len(word) < FUZZY_MIN_LEN
            or word in self._vocab
            or word in self._not_typos
        ):
            return None
        if word in self._fuzzy_cache:
            return self._fuzzy_cache[word]
        limit = 1 if len(word) < FUZZY_LONG_LEN else 2
        targets = [t for t in self._fuzzy_targets.get(word[0], ()) if abs(len(t) - len(word)) <= limit]
        best = process.extractOne(word, targets, scorer=OSA.distance, score_cutoff=limit) if targets else None
        if len(self._fuzzy_cache) > _FUZZY_CACHE_MAX:
            self._fuzzy_cache.clear()
        self._fuzzy_cache[word] = best[0] if best else None
        return self._fuzzy_cache[word]


# --------------------------------------------------------------------------- lexicon


@dataclass(frozen=True, slots=True)
class _Group:
    slots: tuple[str, ...]
    unless: tuple[str, ...] = ()


@dataclass
class _Language:
    code: str
    matcher: TermMatcher
    groups: dict[str, list[_Group]]
    markers: frozenset[str]
    veto_slots: tuple[str, ...] = ()
    veto_unless: tuple[str, ...] = ()
    veto_except: frozenset[str] = frozenset()


@dataclass
class _Evaluation:
    situations: dict[str, list[str]] = field(default_factory=dict)  # situation -> matched terms
    # A topic word (report, workshop...) says the message asks about a subject, not about a life.
    vetoed: bool = False
    markers: int = 0


_SET_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _expand(term: str, sets: Mapping[str, Sequence[str]]) -> list[str]:
    """'$neg boleh keluar' -> one term per alternative of the set 'neg' ('$neg$go' joins without a space)."""
    parts = _SET_REF.split(term)  # text, set name, text, set name, ..., text
    missing = [name for name in parts[1::2] if name not in sets]
    if missing:
        raise ValueError(f"term {term!r} uses unknown set ${missing[0]}")
    choices = [[part] if i % 2 == 0 else sets[part] for i, part in enumerate(parts)]
    return ["".join(combo) for combo in itertools.product(*choices)]


def _resolve_slots(
    raw: Mapping[str, Sequence[str]], sets: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """Expand $sets and '@slot' references (a slot may include another slot's terms)."""
    resolved: dict[str, list[str]] = {}

    def resolve(name: str, seen: tuple[str, ...]) -> list[str]:
        if name in resolved:
            return resolved[name]
        if name in seen or name not in raw:
            raise ValueError(f"slot reference @{name} is unknown or circular")
        terms: list[str] = []
        for term in raw[name]:
            terms += resolve(term[1:], (*seen, name)) if term.startswith("@") else _expand(term, sets)
        resolved[name] = list(dict.fromkeys(terms))
        return resolved[name]

    for name in raw:
        resolve(name, ())
    return resolved


def _parse_group(raw: object, slots: Mapping[str, object], where: str) -> _Group:
    if isinstance(raw, list):
        group = _Group(tuple(raw))
    elif isinstance(raw, dict):
        group = _Group(tuple(raw.get("all", ())), tuple(raw.get("unless", ())))
    else:
        raise ValueError(f"{where}: a group is a list of slot names or an object with 'all' and 'unless'")
    unknown = [s for s in (*group.slots, *group.unless) if s not in slots]
    if unknown or not group.slots:
        raise ValueError(f"{where}: unknown slot {unknown[0] if unknown else '(none given)'}")
    return group


def _entries(data: dict, key: str) -> dict:
    """A mapping from the file without its "_comment"-style keys (notes for staff)."""
    return {k: v for k, v in data.get(key, {}).items() if not k.startswith("_")}


def _load_language(data: dict, han_map: Mapping[int, str], where: str) -> _Language:
    sets = _entries(data, "sets")
    slots = _resolve_slots(_entries(data, "slots"), sets)
    groups = {
        situation: [_parse_group(g, slots, f"{where} {situation}") for g in raw_groups]
        for situation, raw_groups in _entries(data, "situations").items()
    }
    veto = data.get("veto", {})
    unknown = [s for s in (*veto.get("slots", ()), *veto.get("unless", ())) if s not in slots]
    if unknown:
        raise ValueError(f"{where} veto: unknown slot {unknown[0]}")
    matcher = TermMatcher(
        slots,
        substring=data.get("match") == "substring",
        fuzzy=data.get("fuzzy", True),
        not_typos=data.get("not_typos", ()),
        ignore=[t for term in data.get("ignore", ()) for t in _expand(term, sets)],
        han_map=han_map,
    )
    return _Language(
        code=data["lang"],
        matcher=matcher,
        groups=groups,
        markers=frozenset(w for m in data.get("markers", ()) for w in words(normalise(m))),
        veto_slots=tuple(veto.get("slots", ())),
        veto_unless=tuple(veto.get("unless", ())),
        veto_except=frozenset(veto.get("except", ())),
    )



# Classes that say who writes or that it goes on ("I", "my friend", "again"): context, not evidence.
CONTEXT_CLASSES = frozenset({"self", "ongoing_self", "self_rel", "ongoing", "witness"})


@dataclass(frozen=True)
class _CueSituation:
    weights: dict[str, float]
    requires: tuple[str, ...]


class CueScorer:
    """Soft evidence, situation by situation: each situation has classes of cues (who controls the person,
    what is done, money moving, pressure, …) and a message's score for it is the sum of the weights of the
    distinct classes it shows. A threat, money and urgency together are a fraud in progress even without
    the word "scam". Thresholds are fitted by `python -m bot fit-safety` (data/safety/cues.json)."""

    def __init__(self, data: dict, han_map: Mapping[int, str]) -> None:
        self.situations: dict[str, _CueSituation] = {}
        by_lang: dict[str, dict[str, list[str]]] = {lang: {} for lang in LANGS}
        for name, spec in _entries(data, "situations").items():
            classes = spec.get("classes", {})
            self.situations[name] = _CueSituation(
                {c: float(v.get("weight", 1)) for c, v in classes.items()}, tuple(spec.get("requires", ())))
            unknown = set(self.situations[name].requires) - set(classes)
            if unknown:
                raise ValueError(f"cues.json {name}: 'requires' names unknown class {sorted(unknown)[0]}")
            for cls, v in classes.items():
                for lang, terms in v.get("terms", {}).items():
                    by_lang.setdefault(lang, {})[f"{name}|{cls}"] = list(terms)
        self.matchers = {
            lang: TermMatcher(terms, substring=lang in ("zh", "th"), fuzzy=lang not in ("vi", "tl"), han_map=han_map)
            for lang, terms in by_lang.items() if terms
        }
        thresholds = data.get("thresholds", {})
        self.referral_at = float(thresholds.get("referral", 3.0))
        self.soft_at = float(thresholds.get("soft", 2.0))

    def scores(self, view: _View, langs: Sequence[str]) -> dict[str, tuple[float, list[str], int]]:
        """Situation -> (score, terms found, classes of real evidence among them), for scores above zero."""
        found: dict[str, dict[str, list[str]]] = {}
        for lang in langs:
            matcher = self.matchers.get(lang)
            if matcher is None:
                continue
            for key, terms in matcher.find(view).items():
                situation, cls = key.split("|", 1)
                found.setdefault(situation, {}).setdefault(cls, []).extend(terms)
        out: dict[str, tuple[float, list[str], int]] = {}
        for situation, classes in found.items():
            spec = self.situations[situation]
            if not all(c in classes for c in spec.requires):
                continue
            score = sum(spec.weights.get(c, 0.0) for c in classes)
            out[situation] = (score, [t for terms in classes.values() for t in terms],
                              len(set(classes) - CONTEXT_CLASSES))
        return out


class SafetyLexicon:
    """All languages' indicator groups plus the routing table; load once, share between messages."""

    def __init__(
        self, languages: Sequence[_Language], routing: dict, directory: dict, han_map: Mapping[int, str],
        cues: CueScorer | None = None,
    ) -> None:
        self.cues = cues
        self.languages = list(languages)
        self.routing = routing
        self.order = tuple(routing["situations"])
        self.directory = directory
        self._han_map = han_map
        self._directory_matcher = _directory_matcher(directory, han_map)

    @classmethod
    def load(cls, folder: str | Path = DATA_DIR) -> SafetyLexicon:
        folder = Path(folder)
        raw = {lang: _read_json(folder / f"lexicon-{lang}.json") for lang in LANGS}
        han_map = str.maketrans(raw["zh"].get("simplified_to_traditional", {}))
        languages = [_load_language(raw[lang], han_map, f"lexicon-{lang}.json") for lang in LANGS]
        routing = _read_json(folder / "routing.json")
        known = set(routing["situations"])
        for lang in languages:
            stray = set(lang.groups) - known
            if stray:
                raise ValueError(
                    f"lexicon-{lang.code}.json: situation {sorted(stray)[0]} is not in routing.json"
                )
        cues = CueScorer(_read_json(folder / "cues.json"), han_map) if (folder / "cues.json").exists() else None
        if cues is not None:
            stray = set(cues.situations) - known
            if stray:
                raise ValueError(f"cues.json: situation {sorted(stray)[0]} is not in routing.json")
        return cls(languages, routing, _read_json(folder / "directory.json"), han_map, cues)

    # -- the check

    def check(self, text: str, *, use_cues: bool = True) -> SafetyHit | None:
        if not isinstance(text, str):
            return None
        view = self._view(text)
        if not view.tokens and not view.compact:
            return None
        languages = self._active(view)
        results = {lang.code: self._evaluate(lang, view) for lang in languages}
        # A message about a report, workshop or statistic is not an emergency, whatever it mentions.
        vetoed = {
            s
            for lang in languages
            if results[lang.code].vetoed
            for s in self.order
            if s not in lang.veto_except
        }
        situations: dict[str, list[str]] = {}
        for result in results.values():
            for situation, terms in result.situations.items():
                if situation not in vetoed:
                    situations.setdefault(situation, []).extend(terms)
        level, score = "referral", 0.0
        if self.cues is not None and use_cues:
            cue_scores = {s: v for s, v in self.cues.scores(view, [lang.code for lang in languages]).items()
                          if s not in vetoed}
            score = max((v[0] for v in cue_scores.values()), default=0.0)
            if situations:
                # The groups fired; situations the cues see clearly too are added (a romance scam that asks
                # for a "fee" is a fraud first, whatever a debt group also saw).
                for s, (value, terms, _) in cue_scores.items():
                    if value >= self.cues.referral_at:
                        situations.setdefault(s, []).extend(terms)
            elif score >= self.cues.soft_at:
                level = "referral" if score >= self.cues.referral_at else "soft"
                if level == "soft" and not any(v[2] >= 2 for v in cue_scores.values() if v[0] >= score):
                    return None  # "my dad hit the jackpot": one cue beside "I" or "my" is no sign of danger
                # Every situation within one class of the best: a romance scam asking for money is also fraud.
                situations = {s: v[1] for s, v in cue_scores.items() if v[0] >= max(self.cues.soft_at, score - 1)}
        if not situations:
            return None
        ordered = tuple(s for s in self.order if s in situations)
        matched = tuple(dict.fromkeys(t for s in ordered for t in situations[s]))
        return SafetyHit(ordered, _pick_language(view, results), matched, level, score)

    def cue_scores(self, text: str) -> dict[str, float]:
        """Each situation's cue score for a message (for fitting the thresholds and for `explain`)."""
        if self.cues is None or not isinstance(text, str):
            return {}
        view = self._view(text)
        return {s: v[0] for s, v in self.cues.scores(view, [lang.code for lang in self._active(view)]).items()}

    def _active(self, view: _View) -> list[_Language]:
        """Chinese and Thai lexicons only run when their script is present; Latin ones always."""
        han, thai = has_han(view.raw), has_thai(view.raw)
        return [lang for lang in self.languages if (lang.code != "zh" or han) and (lang.code != "th" or thai)]

    def _evaluate(self, lang: _Language, view: _View) -> _Evaluation:
        found = lang.matcher.find(view)
        result = _Evaluation(markers=sum(1 for w in view.tokens if w in lang.markers))
        for situation, groups in lang.groups.items():
            for group in groups:
                if all(s in found for s in group.slots) and not any(s in found for s in group.unless):
                    terms = result.situations.setdefault(situation, [])
                    terms += [t for s in group.slots for t in found[s] if t not in terms]
        result.vetoed = any(s in found for s in lang.veto_slots) and not any(
            s in found for s in lang.veto_unless
        )
        return result

    def _view(self, text: str) -> _View:
        # The whole message, up to Telegram's limit: danger stated after a long preamble counts too.
        raw = clean(text, MAX_MESSAGE_CHARS)
        return _View(words(normalise(raw, MAX_MESSAGE_CHARS)), _compact(raw, self._han_map), raw)

    # -- routing

    def referral_contacts(self, hit: SafetyHit, contacts: Sequence[Contact], now: datetime) -> list[str]:
        ids = _route(self.routing, hit.situations)
        resolved = [c for c in (resolve_contact(ref, contacts) for ref in ids) if c is not None]
        fallback = resolve_contact(self.routing.get("fallback_24h", ""), contacts)
        ordered = _hours_order(list(dict.fromkeys(resolved)), fallback, now, hit.lang)
        return [c.id for c in ordered[: int(self.routing.get("max_contacts", 4))]]

    # -- directory

    def find_hotlines(self, query: str, contacts: Sequence[Contact], now: datetime) -> list[Contact]:
        directory = self.directory
        text = clean(query) if isinstance(query, str) else ""
        if text.startswith("/"):  # the command itself ("/hotline passport") is not part of the query
            text = text.partition(" ")[2]
        if not has_searchable(text):
            return [
                c
                for c in (resolve_contact(ref, contacts) for ref in directory.get("default", ()))
                if c is not None
            ]
        by_phone = _by_phone(text, contacts)
        if by_phone:
            return by_phone
        hidden = {
            c.id for ref in directory.get("hidden_unless_asked", ()) if (c := resolve_contact(ref, contacts))
        }
        found = self._directory_matcher.find(self._view(text))
        langs = [key.split(":", 1)[1] for key in found if key.startswith("lang:")]
        wanted = [
            topic.casefold()
            for key in found
            if key.startswith("topic:")
            for topic in directory["topics"][int(key.split(":", 1)[1])]["topics"]
        ]
        query_words = {w for w in words(normalise(text)) if len(w) >= 4} - set(
            directory.get("name_stopwords", ())
        )
        scored = [
            (_topic_score(c, wanted) + _language_score(c, langs) + _name_score(c, query_words), c)
            for c in contacts
            if c.id not in hidden
        ]
        lang = langs[0] if len(langs) == 1 else None
        scored.sort(key=lambda sc: (-sc[0], _availability(sc[1], now, lang)))
        return [c for score, c in scored if score > 0]


def _read_json(path: Path) -> dict:
    with path.open(encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _pick_language(view: _View, results: Mapping[str, _Evaluation]) -> str:
    """The writer's language: script first (Thai, Han, Vietnamese letters), then lexicon hits and markers."""
    # The script decides for Thai and Chinese (a cue hit may come from words alone, with no group).
    if has_thai(view.raw):
        return "th"
    if has_han(view.raw):
        return "zh"

    def score(code: str) -> tuple[int, int]:
        result = results.get(code, _Evaluation())
        bonus = 6 if code == "vi" and _VIETNAMESE_LETTERS.search(view.raw) else 0
        return (3 * len(result.situations) + result.markers + bonus, -LANGS.index(code))

    latin = [code for code in LANGS if code not in ("zh", "th") and code in results]
    return max(latin, key=score) if latin else "en"


def situation_routes(routing: Mapping, situations: Sequence[str]) -> dict[str, list[str]]:
    """Each present situation's contact references, after its 'when' replacements (routing order)."""
    routes: dict[str, list[str]] = {}
    for name, rule in routing["situations"].items():
        if name in situations:
            replaced = [refs for other, refs in rule.get("when", {}).items() if other in situations]
            routes[name] = list(replaced[0] if replaced else rule["contacts"])
    return routes


def _route(routing: Mapping, situations: Sequence[str]) -> list[str]:
    """All situations' references joined in routing order, then their 'also' numbers."""
    routes = situation_routes(routing, situations)
    also = [ref for name in routes for ref in routing["situations"][name].get("also", ())]
    return [ref for refs in routes.values() for ref in refs] + also


def phone_digits(phone: str) -> str:
    """Digits of a phone number as written in contacts.json, without a trailing note in brackets.

    "(02) 2388-3095" -> "0223883095"; "1990 (current number)" -> "1990".
    """
    digits: list[str] = []
    for ch in phone:
        if ch == "(" and digits:
            break
        if ch.isdigit():
            digits.append(ch)
    return "".join(digits)


def resolve_contact(ref: str, contacts: Iterable[Contact]) -> Contact | None:
    """A routing reference is a contact id or a phone number as written in contacts.json."""
    contacts = list(contacts)
    for contact in contacts:
        if contact.id == ref:
            return contact
    digits = phone_digits(ref)
    return next((c for c in contacts if digits and phone_digits(c.phone) == digits), None)


def _hours_order(
    contacts: list[Contact], fallback: Contact | None, now: datetime, lang: str
) -> list[Contact]:
    """Keep the routing order, but never put an office-hours or unverified line before a 24-hour one.

    A line that is known to be closed now goes to the end; if no 24-hour line is listed at all,
    the fallback (the police) comes first.
    """
    ordered: list[Contact] = []
    waiting: list[Contact] = []
    for contact in contacts:
        if is_24h(contact):
            ordered += [contact, *waiting]
            waiting.clear()
        elif ordered:
            ordered.append(contact)
        else:
            waiting.append(contact)
    if waiting:
        ordered = ([fallback] if fallback is not None and fallback not in ordered else []) + ordered + waiting
    return sorted(ordered, key=lambda c: open_now(c, now, lang) is False)


# --------------------------------------------------------------------------- directory


def _directory_matcher(directory: Mapping, han_map: Mapping[int, str]) -> TermMatcher:
    terms: dict[str, list[str]] = {}
    for index, entry in enumerate(directory.get("topics", [])):
        terms[f"topic:{index}"] = entry["words"]
    for code, names in directory.get("languages", {}).items():
        terms[f"lang:{code}"] = names
    return TermMatcher(terms, not_typos=directory.get("not_typos", ()), han_map=han_map)


_NUMBER_RE = re.compile(r"\d+")


def _by_phone(text: str, contacts: Sequence[Contact]) -> list[Contact]:
    """'/hotline 1990' names a number: the contact whose own number it is, else whose alternative it is."""
    runs = set(_NUMBER_RE.findall(text)) | {"".join(_NUMBER_RE.findall(text))}
    runs = {r for r in runs if len(r) >= 3}
    if not runs:
        return []
    own = [c for c in contacts if phone_digits(c.phone) in runs]
    return own or [c for c in contacts if any(phone_digits(alt) in runs for alt in c.alt_phones)]


def _topic_score(contact: Contact, wanted: Sequence[str]) -> int:
    topics = [t.casefold() for t in contact.topics]
    return 4 * sum(1 for w in wanted if any(w in t for t in topics))


def _language_score(contact: Contact, langs: Sequence[str]) -> int:
    served = served_languages(contact)
    return 3 * sum(1 for code in langs if code in served)


def _name_score(contact: Contact, query_words: set[str]) -> int:
    """Words of the query found in the contact's name or agency ("/hotline immigration")."""
    return len(query_words & set(words(normalise(f"{contact.name} {contact.agency}"))))


def _availability(contact: Contact, now: datetime, lang: str | None) -> int:
    state = open_now(contact, now, lang)
    return 0 if state is True else 1 if state is None else 2


# --------------------------------------------------------------------------- module API


@lru_cache(maxsize=1)
def default_lexicon() -> SafetyLexicon:
    """The bundled lexicon, loaded on first use and kept for the life of the process."""
    return SafetyLexicon.load(DATA_DIR)


def check(text: str) -> SafetyHit | None:
    """Victim indicators in a message, or None. Cheap enough to run on every message first."""
    return default_lexicon().check(text)


def cue_scores(text: str) -> dict[str, float]:
    return default_lexicon().cue_scores(text)


def referral_contacts(hit: SafetyHit, contacts: Sequence[Contact], now: datetime) -> list[str]:
    """Ordered contact ids for the referral card of `hit` at `now`."""
    return default_lexicon().referral_contacts(hit, contacts, now)


def hotline_groups(contacts: Sequence[Contact]) -> list[tuple[str, list[Contact]]]:
    """Every contact under its group of needs (data/safety/directory.json 'groups'), in the directory's
    order; contacts no group names come last, so the directory never leaves a line out."""
    groups: list[tuple[str, list[Contact]]] = []
    placed: set[str] = set()
    for group in default_lexicon().directory.get("groups", []):
        members = [c for c in (resolve_contact(ref, contacts) for ref in group["contacts"]) if c is not None]
        members = [c for c in dict.fromkeys(members) if c.id not in placed]
        placed |= {c.id for c in members}
        if members:
            groups.append((group["key"], members))
    rest = [c for c in contacts if c.id not in placed]
    if rest:
        groups.append(("other", rest))
    return groups


def find_hotlines(query: str, contacts: Sequence[Contact], now: datetime) -> list[Contact]:
    """Contacts for the /hotline directory: by number, topic word or language, in any of the six languages."""
    return default_lexicon().find_hotlines(query, contacts, now)
