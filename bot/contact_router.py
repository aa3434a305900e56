"""When a message asks for a contact, and which one: a typed number, a need described, or the ministry.

People rarely name the line they need: they write "dapur asrama keluar asap, telpon nomor berapa" or
"neighbour's dog barks every night, which city line". Three kinds of phrases decide, all data in six
languages: *asks* for a contact ("which number", "nomor berapa", "打哪支電話"), *attributes* of a line
(hours, languages, cost: "open on sunday", "bisa bahasa", "要錢嗎") and each contact's *needs*
(data/contact_needs.json: fire and smoke for 119, a fishy seller for 165, a barking dog for 1999…).

- A typed number with an ask or an attribute ("does 113 have japanese", "1990專線幾點開") is that line.
- An ask with a need is the line for the need.
- An ask with neither (just "contact", "phone number", "address") is the ministry's own card.
Everything else goes on to the posts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.config import DATA_DIR
from bot.models import Contact
from bot.safety import TermMatcher, _compact, _View
from bot.text import clean, normalise, words

MINISTRY_CONTACT = "c01"  # the 1996 Hotline of Interior Affairs
MINISTRY_ADDRESS = "c02"
NEEDS_FILE = DATA_DIR / "contact_needs.json"
ASKS_FILE = DATA_DIR / "contact_asks.json"


@dataclass
class ContactSignals:
    asks: list[str] = field(default_factory=list)  # phrases asking for a contact
    attributes: list[str] = field(default_factory=list)  # phrases asking about a line's hours, languages, cost
    address: list[str] = field(default_factory=list)  # phrases asking for an address or a postcode
    contact_words: list[str] = field(default_factory=list)  # words naming a way of contacting (phone, hotline)
    number_words: list[str] = field(default_factory=list)  # "number", "nomor": with a need or a line's name
    first_person: list[str] = field(default_factory=list)  # "I", "my", "我", "saya": the writer's own situation
    needs: dict[str, list[str]] = field(default_factory=dict)  # contact id -> need phrases found

    def best_needs(self) -> list[str]:
        """Contact ids by the need phrases the message holds, longest evidence first: a phrase inside a
        longer one of another line ('visa' in 'visa habis') says less than the longer one."""
        found = {cid: set(terms) for cid, terms in self.needs.items()}
        phrases = [(t, cid) for cid, terms in found.items() for t in terms]
        weight: dict[str, float] = {}
        for term, cid in phrases:
            inside_other = any(term != other and term.strip("*") in other and ocid != cid for other, ocid in phrases)
            if not inside_other:
                weight[cid] = weight.get(cid, 0.0) + _length(term)
        return sorted(weight, key=lambda cid: -weight[cid])


class ContactRouter:
    def __init__(self, contacts: Iterable[Contact], needs: dict | None = None, asks: dict | None = None) -> None:
        needs = needs if needs is not None else _load(NEEDS_FILE)
        asks = asks if asks is not None else _load(ASKS_FILE)
        contacts = list(contacts)
        known = {c.id for c in contacts}
        urgent = set(asks.get("urgent_lines", ()))
        self.urgent = {c.id for c in contacts if c.phone in urgent}
        need_terms = {cid: [t for terms in by_lang.values() for t in terms]
                      for cid, by_lang in needs.items() if not cid.startswith("_") and cid in known}
        self._needs = TermMatcher(need_terms)
        phrase_terms = {kind: [t for terms in asks.get(kind, {}).values() for t in terms]
                        for kind in ("asks", "attributes", "address", "contact_words", "number_words", "first_person")}
        ignore = [t for terms in asks.get("not_asking", {}).values() for t in terms]
        self._phrases = TermMatcher(phrase_terms, fuzzy=False, ignore=ignore)

    def read(self, text: str) -> ContactSignals:
        raw = clean(text)
        view = _View(words(normalise(raw)), _compact(raw, {}), raw)
        found = self._phrases.find(view)
        return ContactSignals(found.get("asks", []), found.get("attributes", []), found.get("address", []),
                              found.get("contact_words", []), found.get("number_words", []),
                              found.get("first_person", []), self._needs.find(view))


def _length(term: str) -> float:
    """How specific a phrase is: its words, or for Chinese and Thai its characters (two make a word)."""
    core = term.strip("*")
    return len(core.split()) if core.isascii() or " " in core else max(1.0, len(core) / 2)


def _load(path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
