"""The citizen-facing conversation: commands, free text and button presses to replies.

Telegram handlers and the terminal console both call this, so a question typed in either
gets the same answer. It knows nothing about Telegram: it returns `Reply` specs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from bot import callbacks, render
from bot.answer import TAIPEI, AnswerEngine
from bot.answer_types import Answer
from bot.i18n import INTERFACE_LANGS, LANG_NAMES, t, tmap
from bot.language import message_language
from bot.render import PAGE_SIZE, Button, Reply
from bot.safety import find_hotlines, hotline_groups
from bot.text import truncate_words

# Order of the command menu and /help. Staff commands are listed separately, to staff only.
CITIZEN_COMMANDS = ("start", "help", "news", "workshops", "trafficking", "contact", "hotline", "search", "language",
                    "subscribe", "unsubscribe", "subscriptions")
TRAFFICKING_CATEGORIES = ("anti-trafficking", "cooperation")
MINISTRY_CONTACT_IDS = ("c01", "c02")


def reply_language(text: str, fallback: str) -> str:
    """Answer in the language of the message when the interface speaks it; else the person's language."""
    lang = message_language(text)
    return lang if lang in INTERFACE_LANGS else fallback


class Assistant:
    def __init__(self, engine: AnswerEngine, *, bot_username: str = "",
                 clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.bot_username = bot_username
        self.clock = clock or (lambda: datetime.now(TAIPEI))

    # -- free text ---------------------------------------------------------------
    def ask(self, text: str, lang: str = "en", *, messages: int = 1) -> tuple[Answer, Reply]:
        """The answer and the reply to a question; `lang` is the person's interface language, used when
        the message itself does not show which language it is written in. `messages` > 1 when it is
        several messages read together (one engine call, so one safety check, over all of them)."""
        now = self.clock()
        answer = self.engine.answer(text, now=now)
        lang = reply_language(text, lang)
        reply = render.render_answer(answer, self.engine.posts, self.engine.contacts, lang=lang, now=now,
                                     bot_username=self.bot_username)
        if messages > 1:
            reply = replace(reply, text=render.fit(t(lang, "burst_read", n=str(messages)) + "\n\n" + reply.text))
        return answer, reply

    # -- commands ------------------------------------------------------------------
    def start(self, lang: str, payload: str = "") -> Reply:
        if payload and payload in self.engine.posts:
            return self.open_post(payload, lang)
        return Reply(t(lang, "welcome"), menu=True)

    def help(self, lang: str) -> Reply:
        return Reply(render.help_text(lang, CITIZEN_COMMANDS), menu=True)

    def news(self, lang: str, args: str = "", page: int = 0) -> Reply:
        year = int(args) if args.strip().isdigit() and len(args.strip()) == 4 else None
        ids = self.engine.post_index.newest(10_000, year=year)
        heading = t(lang, "list_heading_year", year=str(year)) if year else t(lang, "list_heading")
        return self._page(ids, heading, lang, page, lambda p: callbacks.encode("news", str(year or "-"), str(p)))

    def category(self, lang: str, category: str, page: int = 0) -> Reply:
        cats = TRAFFICKING_CATEGORIES if category == "trafficking" else (category,)
        allowed = {p.id for p in self.engine.posts.values() if p.category in cats}
        ids = self.engine.post_index.newest(10_000, ids=allowed)
        names = tmap(lang, "categories")
        label = " / ".join(names.get(c, c) for c in cats)
        return self._page(ids, t(lang, "list_heading_category", category=label), lang, page,
                          lambda p: callbacks.encode("cat", category, str(p)))

    def _page(self, ids: list[str], heading: str, lang: str, page: int, data_for: Callable[[int], str]) -> Reply:
        pages = max(1, -(-len(ids) // PAGE_SIZE))
        page = min(max(page, 0), pages - 1)
        chunk = [self.engine.posts[i] for i in ids[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]]
        if pages > 1:
            heading += f" ({page + 1}/{pages})"
        return render.list_reply(chunk, heading, lang,
                                 prev_data=data_for(page - 1) if page > 0 else "",
                                 next_data=data_for(page + 1) if page + 1 < pages else "")

    def contact(self, lang: str) -> Reply:
        return Reply(t(lang, "ministry_contact"))

    def hotline(self, lang: str, query: str = "", page: int = 0) -> Reply:
        """/hotline alone: every line, grouped by need, one group a page; /hotline <topic>: the lines for it."""
        if not query.strip():
            return self.hotline_page(lang, page)
        found = find_hotlines(query, list(self.engine.contacts.values()), self.clock())
        if not found:
            return Reply(t(lang, "hotline_none"))
        topic = f": {render.escape(truncate_words(query.strip(), 60))}" if query.strip() else ""
        return render.contacts_reply(found[:4], lang, heading=t(lang, "hotline_heading", topic=topic))

    def hotline_page(self, lang: str, page: int) -> Reply:
        groups = hotline_groups(list(self.engine.contacts.values()))
        if not groups:
            return Reply(t(lang, "hotline_none"))
        page = min(max(page, 0), len(groups) - 1)
        key, contacts = groups[page]
        now = self.clock()
        lines = [t(lang, "hotline_heading", topic=f" ({page + 1}/{len(groups)})"),
                 f"<b>{render.escape(tmap(lang, 'hotline_groups').get(key, key))}</b>", ""]
        lines += [render.hotline_line(c, lang, now) for c in contacts]
        nav = []
        if page > 0:
            nav.append(Button(t(lang, "prev_page"), data=callbacks.encode("hot", str(page - 1))))
        if page + 1 < len(groups):
            nav.append(Button(t(lang, "next_page"), data=callbacks.encode("hot", str(page + 1))))
        return Reply(render.fit("\n".join(lines)), (tuple(nav),) if nav else ())

    def search(self, lang: str, query: str) -> tuple[Answer | None, Reply]:
        if not query.strip():
            return None, Reply(t(lang, "search_usage"))
        return self.ask(query, lang)

    def command(self, name: str, args: str, lang: str) -> Reply | None:
        """Citizen commands by name (without the slash); None for an unknown command."""
        simple = {
            "help": lambda: self.help(lang),
            "news": lambda: self.news(lang, args),
            "workshops": lambda: self.category(lang, "workshop"),
            "trafficking": lambda: self.category(lang, "trafficking"),
            "contact": lambda: self.contact(lang),
            "hotline": lambda: self.hotline(lang, args),
            "search": lambda: self.search(lang, args)[1],
            "start": lambda: self.start(lang, args.strip()),
        }
        action = simple.get(name)
        return action() if action else None

    def language_menu(self, lang: str) -> Reply:
        buttons = [Button(LANG_NAMES[code], data=callbacks.encode("lang", code)) for code in INTERFACE_LANGS]
        return Reply(t(lang, "language_choose"), tuple(tuple(buttons[i : i + 3]) for i in range(0, len(buttons), 3)))

    # -- buttons -------------------------------------------------------------------
    def open_post(self, post_id: str, lang: str, more: list[str] | None = None) -> Reply:
        post = self.engine.posts.get(post_id)
        if post is None:
            return Reply(t(lang, "not_found_post"))
        return render.post_reply(post, lang, more=more or (), bot_username=self.bot_username)

    def press(self, data: str | None, lang: str) -> Reply | None:
        """The reply to a citizen button; None when the data is not a citizen button at all."""
        action = callbacks.decode(data)
        if action is None:
            return Reply(t(lang, "expired"))
        if action.kind == "post":
            return self.open_post(action.args[0], lang)
        if action.kind == "more":
            ids = [i for i in action.args[0].split(",") if i in self.engine.posts]
            posts = [self.engine.posts[i] for i in ids]
            return render.list_reply(posts, t(lang, "list_more_heading"), lang)
        if action.kind == "news":
            year, page = action.args
            return self.news(lang, "" if year == "-" else year, int(page))
        if action.kind == "cat":
            return self.category(lang, action.args[0], int(action.args[1]))
        if action.kind == "hot":
            return self.hotline_page(lang, int(action.args[0]))
        if action.kind == "share":
            post = self.engine.posts.get(action.args[0])
            if post is None or not self.bot_username:
                return Reply(t(lang, "not_found_post"))
            return render.share_reply(post, lang, self.bot_username)
        return None
