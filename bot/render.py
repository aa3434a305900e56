"""Answers to Telegram-ready HTML text and button specs, per language. No Telegram objects here.

Every piece of text that comes from a post, a contact or a user goes through html.escape;
the result is cut to Telegram's 4,096-character limit on a word boundary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from bot import callbacks
from bot.answer_types import Answer
from bot.i18n import t, tmap
from bot.models import Contact, Post
from bot.referral import clear_button_label, format_referral_card
from bot.safety import SafetyHit
from bot.text import truncate_words

TELEGRAM_LIMIT = 4096
EXTRACT_CHARS = 420
PAGE_SIZE = 5
MORE_MIN_SCORE = 25.0  # below this a further result shares a word or two with the question, no more


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str = ""  # callback data
    url: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    no_preview: bool = True
    sensitive: bool = False  # referral cards: no preview, offer to clear the chat
    menu: bool = False  # attach the reply-keyboard menu


def fit(text: str, limit: int = TELEGRAM_LIMIT) -> str:
    """Cut HTML text built from escaped pieces to Telegram's limit without splitting a tag or entity."""
    if len(text) <= limit:
        return text
    budget = limit - 1
    while True:
        cut = text[:budget]
        # Never leave a half tag or half entity behind.
        lt, amp = cut.rfind("<"), cut.rfind("&")
        if lt > cut.rfind(">"):
            cut = cut[:lt]
        if amp > cut.rfind(";"):
            cut = cut[:amp]
        space = cut.rfind(" ")
        if space > budget * 0.8:
            cut = cut[:space]
        result = _close_tags(cut) + "…"
        if len(result) <= limit:  # the closing tags count too
            return result
        budget -= len(result) - limit + 8


def _close_tags(html: str) -> str:
    open_tags: list[str] = []
    i = 0
    while True:
        i = html.find("<", i)
        if i < 0:
            break
        j = html.find(">", i)
        if j < 0:
            break
        tag = html[i + 1 : j].split(" ", 1)[0]
        if tag.startswith("/"):
            if open_tags and open_tags[-1] == tag[1:]:
                open_tags.pop()
        else:
            open_tags.append(tag)
        i = j + 1
    return html + "".join(f"</{tag}>" for tag in reversed(open_tags))


def extract(body: str, limit: int = EXTRACT_CHARS) -> str:
    first = body.strip().split("\n\n", 1)[0]
    return truncate_words(" ".join(first.split()), limit)


def deep_link(bot_username: str, post_id: str) -> str:
    return f"https://t.me/{bot_username}?start={post_id}"


def post_reply(post: Post, lang: str, *, more: Sequence[str] = (), bot_username: str = "") -> Reply:
    text = (f"<b>{escape(post.title)}</b>\n<i>{escape(post.date)}</i>\n\n{escape(extract(post.body))}")
    first_row: list[Button] = []
    if post.url:
        first_row.append(Button(t(lang, "read_more"), url=post.url))
    if bot_username:
        first_row.append(Button(t(lang, "share"), data=callbacks.encode("share", post.id)))
    rows = [tuple(first_row)] if first_row else []
    packed = callbacks.more_ids(list(more))
    if packed:
        rows.append((Button(t(lang, "post_more"), data=packed),))
    return Reply(fit(text), tuple(rows))


def list_reply(posts: Sequence[Post], heading: str, lang: str, *, prev_data: str = "", next_data: str = "") -> Reply:
    if not posts:
        return Reply(f"{heading}\n\n{t(lang, 'list_empty')}")
    lines = [heading, ""]
    for n, p in enumerate(posts, start=1):
        lines.append(f"{n}. <b>{escape(p.title)}</b> — <i>{escape(p.date)}</i>")
    rows = [(Button(f"{n}. {truncate_words(p.title, 48)}", data=callbacks.encode("post", p.id)),)
            for n, p in enumerate(posts, start=1)]
    nav = []
    if prev_data:
        nav.append(Button(t(lang, "prev_page"), data=prev_data))
    if next_data:
        nav.append(Button(t(lang, "next_page"), data=next_data))
    if nav:
        rows.append(tuple(nav))
    return Reply(fit("\n".join(lines)), tuple(rows))


def contact_text(c: Contact, lang: str) -> str:
    parts = [t(lang, "contact_heading", name=escape(c.name)), t(lang, "contact_phone", phone=escape(c.phone))]
    if c.alt_phones:
        parts.append(t(lang, "contact_alt", phones=escape("; ".join(c.alt_phones))))
    if c.hours:
        parts.append(t(lang, "contact_hours", hours=escape(c.hours)))
    if c.languages:
        parts.append(t(lang, "contact_languages", languages=escape(", ".join(c.languages))))
    if c.address:
        parts.append(t(lang, "contact_address", address=escape(c.address)))
    return "\n".join(parts)


def contacts_reply(contacts: Sequence[Contact], lang: str, *, heading: str = "") -> Reply:
    blocks = [heading] if heading else []
    blocks += [contact_text(c, lang) for c in contacts]
    rows = tuple((Button(t(lang, "read_more"), url=c.url),) for c in contacts[:1] if c.url)
    return Reply(fit("\n\n".join(blocks)), rows)


def decline_reply(answer: Answer, posts: Mapping[str, Post], lang: str) -> Reply:
    key = {"no-text": "no_text", "greeting": "greeting", "thanks": "thanks", "chitchat": "chitchat"}.get(answer.reason)
    if key:
        return Reply(t(lang, key))
    text = t(lang, "none")
    rows = tuple((Button(truncate_words(posts[h.id].title, 60), data=callbacks.encode("post", h.id)),)
                 for h in answer.suggestions if h.id in posts)
    if rows:
        text += "\n\n" + t(lang, "none_suggest")
    return Reply(text, rows)


def referral_reply(answer: Answer, contacts: Mapping[str, Contact], now: datetime) -> Reply:
    hit = SafetyHit(situations=answer.situations, lang=answer.lang, matched=())
    text = format_referral_card(hit, answer.ids, contacts, now, lang=answer.lang)
    label = clear_button_label(answer.lang)
    return Reply(fit(text), ((Button(label, data="clear"),),), no_preview=True, sensitive=True)


def render_answer(answer: Answer, posts: Mapping[str, Post], contacts: Mapping[str, Contact], *,
                  lang: str, now: datetime, bot_username: str = "") -> Reply:
    """The reply a citizen sees for an engine answer. `lang` is the interface language."""
    if answer.kind == "referral":
        return referral_reply(answer, contacts, now)
    if answer.kind == "post":
        best = posts[answer.hits[0].id]
        # "More results" offers only posts that still answer the question, not whatever came next.
        more = [h.id for h in answer.hits[1:6] if h.score >= MORE_MIN_SCORE]
        return post_reply(best, lang, more=more, bot_username=bot_username)
    if answer.kind == "list":
        return list_reply([posts[i] for i in answer.ids if i in posts], t(lang, "list_heading"), lang,
                          next_data=callbacks.encode("news", "-", "1") if len(posts) > PAGE_SIZE else "")
    if answer.kind == "contact":
        chosen = [contacts[i] for i in answer.ids[:2] if i in contacts]
        return contacts_reply(chosen, lang)
    return decline_reply(answer, posts, lang)


def help_text(lang: str, commands: Sequence[str]) -> str:
    descriptions = tmap(lang, "commands")
    lines = "\n".join(f"/{c} — {escape(descriptions.get(c, ''))}" for c in commands)
    return t(lang, "help", commands=lines)


def share_reply(post: Post, lang: str, bot_username: str) -> Reply:
    return Reply(t(lang, "share_text", link=escape(deep_link(bot_username, post.id))), no_preview=True)
