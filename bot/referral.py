"""The referral card: who to call, in the writer's language, with each line's hours as they stand right now.

Everything factual on the card comes from contacts.json (numbers, hours, whether a call is free, languages);
data/safety/cards.json only says what each number is for and holds the card's wording. So a line whose
hours or languages nobody verified is shown as "not verified", never as open or multilingual.

The card is Telegram HTML: every piece of text is escaped, and numbers are written plainly ("110",
"(02) 2388-3095") so Telegram makes them tappable; no tel: links.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache

from bot.hours import ALL_DAYS, Window, next_opening, parse_hours, served_languages, taipei
from bot.models import Contact
from bot.safety import DATA_DIR, SafetyHit, default_lexicon, resolve_contact, situation_routes

MAX_CARD_CHARS = 1500
MAX_SITUATION_LINES = 3
_FREE = re.compile(r"\btoll-free\b|\bfree of charge\b|\bfree call\b", re.IGNORECASE)


@lru_cache(maxsize=1)
def _cards() -> dict:
    with (DATA_DIR / "cards.json").open(encoding="utf-8") as f:
        return json.load(f)


def card_texts(lang: str | None) -> dict:
    """The card wording for a language code ('zh-TW' and 'zh-Hant' mean 'zh'), English if there is none."""
    cards = _cards()
    code = (lang or "").casefold().replace("_", "-").split("-", 1)[0]
    code = {"fil": "tl"}.get(code, code)
    return cards["languages"].get(code) or cards["languages"][cards.get("fallback", "en")]


def clear_button_label(lang: str | None) -> str:
    """Label of the card's 'Clear this chat' button (plain text: buttons are not HTML)."""
    return card_texts(lang)["clear_chat"]


def _fill(template: str, **values: str) -> str:
    """str.format without its failure modes: only the named {fields} are replaced."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def format_referral_card(
    hit: SafetyHit,
    contact_ids: Sequence[str],
    contacts: Mapping[str, Contact],
    now: datetime,
    lang: str | None = None,
) -> str:
    """Telegram HTML for the referral card of `hit`, listing `contact_ids` in order (at most ~1500 chars)."""
    texts = card_texts(lang or hit.lang)
    listed = [contacts[cid] for cid in contact_ids if cid in contacts]
    lines = _situation_lines(hit, listed, texts)
    blocks = [_contact_block(c, texts, now) for c in listed]
    with_langs = True
    while True:
        card = _assemble(texts, lines, blocks, with_langs)
        if len(card) <= MAX_CARD_CHARS:
            return card
        if with_langs:
            with_langs = False
        elif len(lines) > 1:
            lines = lines[:-1]
        elif len(blocks) > 1:
            blocks = blocks[:-1]
        else:  # one contact with validated field lengths: short enough, and cutting would break the HTML
            return card


def _assemble(texts: dict, lines: list[str], blocks: list[tuple[str, str]], with_langs: bool) -> str:
    parts = [f"<b>{html.escape(texts['heading'])}</b>"]
    if lines:
        parts.append("\n".join(html.escape(line) for line in lines))
    parts.append("\n\n".join(head + (f"\n{langs}" if with_langs and langs else "") for head, langs in blocks))
    parts.append(f"<i>{html.escape(texts['footer'])}</i>")
    return "\n\n".join(parts)


def _situation_lines(hit: SafetyHit, listed: Sequence[Contact], texts: dict) -> list[str]:
    """One line per situation (most urgent first), naming the first listed number that serves it."""
    routes = situation_routes(default_lexicon().routing, hit.situations)
    lines: list[str] = []
    for situation in hit.situations:
        template = texts["situations"].get(situation)
        served = [resolve_contact(ref, listed) for ref in routes.get(situation, ())]
        first = next((c for c in served if c is not None), None)
        if template and first is not None:
            line = _fill(template, phone=first.phone)
            if line not in lines:
                lines.append(line)
    return lines[:MAX_SITUATION_LINES]


def _contact_block(contact: Contact, texts: dict, now: datetime) -> tuple[str, str]:
    """('110 — <b>Police</b> · 24 h', '<i>Languages: Mandarin</i>') for one contact, escaped."""
    label = texts["contacts"].get(contact.phone) or contact.name
    facts = [_hours_text(contact, texts, now)]
    if _FREE.search(contact.hours):
        facts.append(texts["free"])
    head = f"{html.escape(contact.phone)} — <b>{html.escape(label)}</b>\n" + html.escape(" · ".join(facts))
    codes = served_languages(contact)
    langs = (
        _fill(texts["languages"], names=_names(codes, texts)) if codes else texts["languages_not_verified"]
    )
    return head, f"<i>{html.escape(langs)}</i>"


def _names(codes: Sequence[str], texts: dict) -> str:
    return texts["list_separator"].join(texts["language_names"].get(code, code) for code in codes)


def _hours_text(contact: Contact, texts: dict, now: datetime) -> str:
    """The contact's hours as they apply at `now`, from its own hours text only."""
    hours = parse_hours(contact.hours)
    if not hours.verified:
        return texts["hours_not_verified"]
    if all(w.all_day and w.days == ALL_DAYS and not w.languages for w in hours.windows):
        return texts["open_24h"]
    return "; ".join(_window_text(w, contact, texts, now) for w in hours.windows)


def _window_text(window: Window, contact: Contact, texts: dict, now: datetime) -> str:
    served = served_languages(contact)
    names = _names(
        sorted(window.languages, key=lambda c: (served.index(c) if c in served else len(served), c)), texts
    )
    if window.all_day and window.days == ALL_DAYS:
        return _fill(texts["open_24h_for"], languages=names) if names else texts["open_24h"]
    if window.start is not None and window.end is not None and window.days is not None:
        text = _clock_state(window, contact, texts, now)
        return f"{names}: {text}" if names else text
    days = _days_text(window.days, texts) if window.days is not None else ""
    return _fill(texts["days_hours"], languages=names, days=days, hours=texts["hours_not_stated"]).lstrip(
        ": "
    )


def _clock_state(window: Window, contact: Contact, texts: dict, now: datetime) -> str:
    local = taipei(now)
    if window.state(local):
        return _fill(texts["open_until"], time=_clock(window.end or 0))
    opening = next_opening(contact, now)
    if opening is None:
        return texts["hours_not_stated"]
    when = (
        _fill(texts["opens_at"], time=_clock(opening.hour * 60 + opening.minute))
        if opening.date() == local.date()
        else _fill(
            texts["opens_day_at"],
            day=texts["days"][opening.weekday()],
            time=_clock(opening.hour * 60 + opening.minute),
        )
    )
    return _fill(texts["closed_opens"], when=when.strip())


def _clock(minutes: int) -> str:
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def _days_text(days: frozenset[int], texts: dict) -> str:
    if days == ALL_DAYS:
        return texts["every_day"]
    ordered = sorted(days)
    names = texts["days"]
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{names[ordered[0]]}–{names[ordered[-1]]}"
    return texts["list_separator"].join(names[d] for d in ordered)
