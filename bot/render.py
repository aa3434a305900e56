"""Answers to Telegram-ready HTML text and button specs, per language. No Telegram objects here.

Every piece of text that comes from a post, a contact or a user goes through html.escape;
the result is cut to Telegram's 4,096-character limit on a word boundary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from bot import callbacks
from bot.answer_types import Answer
from bot.hours import open_now
from bot.i18n import t, tmap
from bot.models import Contact, Post
from bot.referral import card_texts, clear_button_label, format_referral_card
from bot.safety import SafetyHit
from bot.text import truncate_words

TELEGRAM_LIMIT = 4096
_PHONE_RE = re.compile(r"^[+\d()\-\s]+")
EXTRACT_CHARS = 420
PAGE_SIZE = 5
NEAR_TIE = 1.0  # points: posts this close to the best are offered as "Did you mean…" buttons
MORE_MIN_SCORE = 25.0  # below this a further result shares a word or two with the question, no more


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str = ""  # callback data
    url: str = ""
    inline_query: str | None = None  # opens "@bot <this>" in a chat the person picks (Share)


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


def post_title(post: Post, lang: str) -> str:
    """The post's title in the reader's language where the post has one, else the English title."""
    return post.text(lang, "title") or post.title


def post_extract(post: Post, lang: str) -> str:
    """A short extract in the reader's language: the translated summary, else the start of the translated
    body, else the English body's first paragraph."""
    return post.text(lang, "summary") or (extract(post.text(lang, "body")) if post.text(lang, "body") else "") \
        or extract(post.body)


def post_reply(post: Post, lang: str, *, more: Sequence[str] = (), bot_username: str = "",
               intro: str = "", note: str = "") -> Reply:
    """A post as a reply: title, date, extract, the source's name and link; `intro` (plain HTML from the
    catalogue) above it, `note` (HTML) under it."""
    text = (f"<b>{escape(post_title(post, lang))}</b>\n<i>{escape(post.date)}</i>\n\n"
            f"{escape(post_extract(post, lang))}")
    if intro:
        text = f"{intro}\n\n{text}"
    if note:
        text = f"{text}\n\n{note}"
    first_row: list[Button] = []
    if post.url:
        first_row.append(Button(t(lang, "read_more"), url=post.url))
    if bot_username:  # "@bot p055" in a chat the person picks: inline mode offers this post to send there
        first_row.append(Button(t(lang, "share"), inline_query=post.id))
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
        lines.append(f"{n}. <b>{escape(post_title(p, lang))}</b> — <i>{escape(p.date)}</i>")
    rows = [(Button(f"{n}. {truncate_words(post_title(p, lang), 48)}", data=callbacks.encode("post", p.id)),)
            for n, p in enumerate(posts, start=1)]
    nav = []
    if prev_data:
        nav.append(Button(t(lang, "prev_page"), data=prev_data))
    if next_data:
        nav.append(Button(t(lang, "next_page"), data=next_data))
    if nav:
        rows.append(tuple(nav))
    return Reply(fit("\n".join(lines)), tuple(rows))


def citizen_phones(c: Contact) -> list[str]:
    """The numbers a citizen can dial, without the research notes some records keep beside them
    ("(02) 7750-5096 (ministry switchboard, from a 2023 copy…)" -> "(02) 7750-5096")."""
    out = []
    for raw in (c.phone, *c.alt_phones):
        number = _PHONE_RE.match(raw)
        value = number.group(0).strip() if number else ""
        if value.count("(") != value.count(")"):  # "0800-024-111 (former number" -> "0800-024-111"
            value = value[: value.rfind("(")].strip()
        if value and sum(ch.isdigit() for ch in value) >= 3 and value not in out:
            out.append(value)
    return out


def contact_text(c: Contact, lang: str, now: datetime | None = None) -> str:
    """One contact as a card of at most eight short lines in the reader's language: name, numbers,
    what it is for, hours (open or closed now where the hours are known), languages, address."""
    name = c.text(lang, "name") or c.name
    phones = citizen_phones(c)
    parts = [t(lang, "contact_heading", name=escape(name)),
             t(lang, "contact_phone", phone=escape(" · ".join(phones[:3]) or c.phone))]
    purpose = c.text(lang, "purpose")
    if purpose:
        parts.append(escape(purpose))
    hours = c.text(lang, "hours") or c.hours
    if hours:
        state = open_now(c, now) if now is not None else None
        flag = {True: t(lang, "open_now"), False: t(lang, "closed_now")}.get(state, "")
        parts.append(t(lang, "contact_hours", hours=escape(truncate_words(hours, 160))) + (f" · {flag}" if flag else ""))
    languages = c.text(lang, "languages") or ", ".join(c.languages)
    if languages:
        parts.append(t(lang, "contact_languages", languages=escape(truncate_words(languages, 160))))
    if c.address:
        parts.append(t(lang, "contact_address", address=escape(c.address)))
    return "\n".join(parts[:8])


def hotline_line(c: Contact, lang: str, now: datetime) -> str:
    """One line of the /hotline directory: number, name, and whether it is open now (where known)."""
    state = {True: t(lang, "open_now"), False: t(lang, "closed_now")}.get(open_now(c, now), "")
    name = truncate_words(c.text(lang, "name") or c.name, 80)
    return f"<b>{escape(c.phone)}</b> — {escape(name)}" + (f" · <i>{escape(state)}</i>" if state else "")


def contacts_reply(contacts: Sequence[Contact], lang: str, *, heading: str = "", now: datetime | None = None,
                   note: str = "") -> Reply:
    blocks = [heading] if heading else []
    blocks += [contact_text(c, lang, now) for c in contacts]
    if note:
        blocks.append(note)
    # "Read more" only where a record has an official page for citizens (its `url` is where staff verified it).
    rows = tuple((Button(t(lang, "read_more"), url=c.page_url),) for c in contacts[:1] if c.page_url)
    return Reply(fit("\n\n".join(blocks)), rows)


def decline_reply(answer: Answer, posts: Mapping[str, Post], lang: str) -> Reply:
    key = {"no-text": "no_text", "greeting": "greeting", "thanks": "thanks", "chitchat": "chitchat",
           "compose": "chitchat"}.get(answer.reason)
    if key:
        return Reply(t(lang, key))
    text = t(lang, "none")
    if answer.reason == "fact-not-stated":  # a post is about it, but names no fee, no death toll
        text = t(lang, "fact_not_stated") + "\n" + text
    rows = tuple((Button(truncate_words(post_title(posts[h.id], lang), 60), data=callbacks.encode("post", h.id)),)
                 for h in answer.suggestions if h.id in posts)
    if rows:
        # The posts are about the subject but lack the figure or the edition asked: offered as related, not
        # as "which post did you mean".
        related = answer.reason in ("fact-not-stated", "edition-not-covered")
        text += "\n\n" + t(lang, "none_related" if related else "none_suggest")
    return Reply(text, rows)


def referral_reply(answer: Answer, contacts: Mapping[str, Contact], now: datetime) -> Reply:
    hit = SafetyHit(situations=answer.situations, lang=answer.lang, matched=())
    text = format_referral_card(hit, answer.ids, contacts, now, lang=answer.lang)
    label = clear_button_label(answer.lang)
    return Reply(fit(text), ((Button(label, data="clear"),),), no_preview=True, sensitive=True)


def safety_note(contact_ids: Sequence[str], contacts: Mapping[str, Contact], lang: str) -> str:
    """One line under an answer when a message showed some signs of danger: 'If you are in danger now:
    110 (police) · 165 (fraud)', in the reader's language (the referral cards' wording)."""
    texts = card_texts(lang)
    labels = texts.get("short_labels", {})
    items = [f"{c.phone} ({labels[c.phone]})" if c.phone in labels else c.phone
             for c in (contacts.get(i) for i in contact_ids) if c is not None]
    if not items:
        return ""
    return f"<b>{escape(texts.get('soft_line', '{lines}').replace('{lines}', ' · '.join(items)))}</b>"


def render_answer(answer: Answer, posts: Mapping[str, Post], contacts: Mapping[str, Contact], *,
                  lang: str, now: datetime, bot_username: str = "") -> Reply:
    """The reply a citizen sees for an engine answer, in `lang` (the reply language)."""
    if answer.kind == "referral":
        return referral_reply(answer, contacts, now)
    note = safety_note(answer.safety_note, contacts, lang) if answer.safety_note else ""
    if answer.kind == "post":
        best = posts[answer.hits[0].id]
        # "More results" offers only posts that still answer the question, not whatever came next.
        more = [h.id for h in answer.hits[1:6] if h.score >= MORE_MIN_SCORE]
        if answer.reason == "tentative":
            return tentative_reply(answer, posts, lang, bot_username=bot_username, note=note)
        tied = [h for h in answer.hits[1:3] if answer.hits[0].score - h.score <= NEAR_TIE and h.id in posts]
        if tied:
            # "2018 workshop": three posts match equally; show the best and offer the others, not guess silently.
            reply = post_reply(best, lang, bot_username=bot_username, note="\n\n".join(x for x in (t(lang, "near_tie"), note) if x))
            others = tuple((Button(truncate_words(post_title(posts[h.id], lang), 60), data=callbacks.encode("post", h.id)),)
                           for h in tied)
            return Reply(reply.text, reply.buttons + others)
        return post_reply(best, lang, more=more, bot_username=bot_username, note=note)
    if answer.kind == "list":
        year = answer.reason.removeprefix("year:") if answer.reason.startswith("year:") else ""
        heading = t(lang, "list_heading_year", year=escape(year)) if year else t(lang, "list_heading")
        return list_reply([posts[i] for i in answer.ids if i in posts], heading, lang,
                          next_data=callbacks.encode("news", year or "-", "1") if len(answer.ids) > PAGE_SIZE else "")
    if answer.kind == "contact":
        chosen = [contacts[i] for i in answer.ids[:1] if i in contacts]
        return contacts_reply(chosen, lang, now=now, note=note)
    reply = decline_reply(answer, posts, lang)
    return Reply(f"{reply.text}\n\n{note}", reply.buttons) if note else reply


def tentative_reply(answer: Answer, posts: Mapping[str, Post], lang: str, *, bot_username: str = "",
                    note: str = "") -> Reply:
    """"I think this is it:" the best post, the next two as buttons, and the 1996 line."""
    best = posts[answer.hits[0].id]
    reply = post_reply(best, lang, bot_username=bot_username, intro=t(lang, "tentative_intro"),
                       note="\n\n".join(x for x in (t(lang, "tentative_footer"), note) if x))
    others = [(Button(truncate_words(post_title(posts[h.id], lang), 60), data=callbacks.encode("post", h.id)),)
              for h in answer.hits[1:3] if h.id in posts and h.score >= MORE_MIN_SCORE]
    return Reply(fit(reply.text), reply.buttons + tuple(others))


def help_text(lang: str, commands: Sequence[str]) -> str:
    descriptions = tmap(lang, "commands")
    lines = "\n".join(f"/{c} — {escape(descriptions.get(c, ''))}" for c in commands)
    return t(lang, "help", commands=lines)


def share_reply(post: Post, lang: str, bot_username: str) -> Reply:
    return Reply(t(lang, "share_text", link=escape(deep_link(bot_username, post.id))), no_preview=True)
