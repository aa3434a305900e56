"""Inline mode: "@bot hotline" or "@bot 2018 workshop" typed in any chat offers posts and contacts to share.

An empty query offers the latest news; a post or contact id (what the Share button of a post puts in
the field) offers that one first; anything else, what the engine answers (the referral's contacts, the
contact, the post, the list) followed by the further posts and contacts that match. Each result is the
post (title, date, extract, link) or the contact card, in the person's language, ready to send.
Results are cached briefly by Telegram; `personal` when they depend on the person's language rather
than on the words typed. Nothing here imports Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from bot.alternates import tunables
from bot.answer import AnswerEngine
from bot.assistant import reply_language
from bot.i18n import t
from bot.language import message_language
from bot.models import Contact, Post
from bot.render import MORE_MIN_SCORE, Button, contact_text, deep_link, fit, post_extract, post_title
from bot.text import clean, truncate_words

DESCRIPTION_CHARS = 100


@dataclass(frozen=True, slots=True)
class InlineItem:
    """One inline result: what the list shows (title, description) and the message it sends (HTML, buttons)."""

    id: str
    title: str
    description: str
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class InlineAnswer:
    items: tuple[InlineItem, ...]
    cache_s: int
    personal: bool  # the results depend on the person's language, not only on the query


def post_item(post: Post, lang: str, bot_username: str) -> InlineItem:
    """A post to share: title, date, extract and the link to the ministry's page, in `lang`."""
    title = post_title(post, lang)
    text = f"<b>{escape(title)}</b>\n<i>{escape(post.date)}</i>\n\n{escape(post_extract(post, lang))}"
    if post.url:
        text += f'\n\n<a href="{escape(post.url, quote=True)}">{escape(t(lang, "read_more"))}</a>'
    row = []
    if post.url:
        row.append(Button(t(lang, "read_more"), url=post.url))
    if bot_username:
        row.append(Button(t(lang, "inline_open"), url=deep_link(bot_username, post.id)))
    return InlineItem(post.id, truncate_words(title, 120), f"{post.date} · {truncate_words(post_extract(post, lang), DESCRIPTION_CHARS)}",
                      fit(text), (tuple(row),) if row else ())


def contact_item(contact: Contact, lang: str, now: datetime, bot_username: str) -> InlineItem:
    """A contact card to share (the card citizens get, in `lang`)."""
    name = contact.text(lang, "name") or contact.name
    purpose = contact.text(lang, "purpose") or contact.agency
    row = []
    if contact.page_url:
        row.append(Button(t(lang, "read_more"), url=contact.page_url))
    if bot_username:
        row.append(Button(t(lang, "inline_open"), url=f"https://t.me/{bot_username}"))
    return InlineItem(contact.id, truncate_words(f"{contact.phone} · {name}", 120),
                      truncate_words(purpose, DESCRIPTION_CHARS), fit(contact_text(contact, lang, now)),
                      (tuple(row),) if row else ())


def search(engine: AnswerEngine, query: str, now: datetime, *, limit: int | None = None) -> list[tuple[str, str]]:
    """("post" | "contact", id) for a query, best first, at most `limit`."""
    limit = int(tunables()["inline_results"]) if limit is None else limit
    q = clean(query)
    if not q:
        return [("post", i) for i in engine.post_index.newest(limit)]
    found: list[tuple[str, str]] = []
    if q in engine.posts:
        found.append(("post", q))
    elif q in engine.contacts:
        found.append(("contact", q))
    answer = engine.answer(q, now=now)
    primary = "contact" if answer.kind in ("contact", "referral") else "post"
    if answer.kind != "none":  # its first, and those after it that still answer (as "More results")
        found += [(primary, h.id) for n, h in enumerate(answer.hits) if n == 0 or h.score >= MORE_MIN_SCORE]
    # Then whatever else matches, posts and contacts by score: a short query ("hotline", "workshop") is a
    # search, not a question the engine must be sure about.
    _plan, posts, _values = engine.post_candidates(q, answer.lang, today=now.date())
    cindex = engine.contact_index
    contacts = cindex.score(cindex.plan(q, today=now.date()), k=limit)
    more = [("post", h.id, h.score) for h in posts] + [("contact", h.id, h.score) for h in contacts
                                                        if h.id not in engine.legacy_contacts]
    found += [(kind, i) for kind, i, score in sorted(more, key=lambda m: -m[2]) if score >= MORE_MIN_SCORE]
    seen: set[tuple[str, str]] = set()
    out = []
    for item in found:
        if item not in seen and (item[1] in (engine.posts if item[0] == "post" else engine.contacts)):
            seen.add(item)
            out.append(item)
    return out[:limit]


def answer_query(engine: AnswerEngine, query: str, person_lang: str, now: datetime, *, bot_username: str = "") -> InlineAnswer:
    """The inline results for what someone typed after @bot, in the query's language when it shows one, else
    in the person's."""
    lang = reply_language(query, person_lang)
    items = []
    for kind, i in search(engine, query, now):
        if kind == "post":
            items.append(post_item(engine.posts[i], lang, bot_username))
        else:
            items.append(contact_item(engine.contacts[i], lang, now, bot_username))
    personal = message_language(query) is None  # "1955", "" … : the person's language decided
    return InlineAnswer(tuple(items), int(tunables()["inline_cache_s"]), personal)
