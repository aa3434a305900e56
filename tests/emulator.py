"""Loopback Telegram Bot API emulator for end-to-end, crash, load and broadcast tests.

Telegram is never reachable from tests, and mocking PTB's ``Bot`` hides the bugs that matter
(bad HTML, over-long text, oversized callback data, duplicate or lost broadcasts).  This module
serves the real HTTP protocol on 127.0.0.1, so an unmodified ``telegram.Bot`` / ``Application``
(in-process or in a subprocess) talks to it through ``base_url=emu.base_url``.  It validates like
Telegram, answers in Telegram's JSON shapes, lets the test play users, and injects faults.

    async with BotAPIEmulator(tokens=[TOKEN]) as emu:
        app = ApplicationBuilder().token(TOKEN).base_url(emu.base_url).build()
        ...
        await emu.send_text(42, "/start")
        [reply] = await emu.wait_for_messages(42, 1)

Standalone: ``python -m tests.emulator --port 8081 --token 123:ABC`` (plus ``/_emu/*`` control URLs).

PTB quirks worth knowing when asserting: PTB strips "Bad Request: " from descriptions and then
``str.capitalize()``s them ("Bad Request: BUTTON_DATA_INVALID" -> "Button_data_invalid"), so match
error text case-insensitively; PTB posts form fields with non-string values JSON-encoded and turns
``disable_web_page_preview=True`` into ``link_preview_options={"is_disabled": true}`` and
``reply_to_message_id`` into ``reply_parameters``; ``Bot.initialize()`` calls getMe.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import itertools
import json
import logging
import math
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

DEFAULT_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
MAX_TEXT_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
_LOG = logging.getLogger(__name__)

# Values of these parameters are plain strings even when they look like JSON ("123", "true").
_STRING_PARAMS = frozenset(
    {"text", "parse_mode", "url", "secret_token", "callback_query_id", "action", "language_code",
     "caption", "inline_message_id", "business_connection_id", "message_effect_id", "ip_address"}
)
_CHAT_ACTIONS = frozenset({"typing", "upload_photo", "record_video", "upload_video", "record_voice",
                           "upload_voice", "upload_document", "choose_sticker", "find_location",
                           "record_video_note", "upload_video_note"})
_HTML_TAGS = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
              "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
              "del": "strikethrough", "a": "text_link", "code": "code", "pre": "pre",
              "tg-spoiler": "spoiler", "span": "spoiler", "blockquote": "blockquote",
              "tg-emoji": "custom_emoji"}
_HTML_ENTITY_RE = re.compile(r"&(?:#[xX]([0-9a-fA-F]{1,8})|#([0-9]{1,8})|(lt|gt|amp|quot));")
_HTML_PLAIN_RE = re.compile(r"[^<&]+")
_HTML_TAG_NAME_RE = re.compile(r"<([^\s>]*)")
_HTML_ATTR_RE = re.compile(r"""([A-Za-z][A-Za-z0-9_-]*)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")
_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_MENTION_RE = re.compile(r"(?<!\w)@[A-Za-z0-9_]{5,32}")
_COMMAND_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply "
                 "markup are exactly the same as a current content and reply markup of the message")


class ApiError(Exception):
    """An error answer, shaped exactly like Telegram's ``{"ok": false, ...}``."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML like tdlib does; return (visible text, entities) or raise a 400.

    Strict on purpose: a bare ``<``, ``<br>``, ``<p>`` or an unbalanced tag fails on the real API too.
    """
    def fail(message: str) -> ApiError:
        return _bad(f"can't parse entities: {message}")

    def at(pos: int) -> str:
        return f"at byte offset {len(text[:pos].encode('utf-8'))}"

    out: list[str] = []
    entities: list[dict[str, Any]] = []
    stack: list[tuple[str, int, dict[str, Any]]] = []  # (tag, UTF-16 start, entity extras)
    u16 = i = 0
    n = len(text)
    while i < n:
        plain = _HTML_PLAIN_RE.match(text, i)
        if plain:
            piece, i = plain.group(), plain.end()
        elif text[i] == "&":
            ent = _HTML_ENTITY_RE.match(text, i)
            code = int(ent.group(1), 16) if ent and ent.group(1) else int(ent.group(2)) if ent and ent.group(2) else 0
            if ent and ent.group(3):
                piece, i = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}[ent.group(3)], ent.end()
            elif ent and 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                piece, i = chr(code), ent.end()
            else:  # unknown entity: tdlib keeps the ampersand as text
                piece, i = "&", i + 1
        elif text.startswith("</", i):
            end = text.find(">", i)
            if end < 0:
                raise fail(f"Unclosed end tag {at(i)}")
            name = text[i + 2 : end].strip().lower()
            if not stack:
                raise fail(f"Unexpected end tag {at(i)}")
            tag, start, extra = stack.pop()
            if name != tag:
                raise fail(f'Unmatched end tag {at(i)}, expected "</{tag}>", found "</{name}>"')
            if u16 > start and extra.get("type"):
                entities.append({"offset": start, "length": u16 - start, **extra})
            i = end + 1
            continue
        else:
            name_match = _HTML_TAG_NAME_RE.match(text, i)
            assert name_match is not None
            name, k = name_match.group(1).lower(), name_match.end()
            if k >= n:
                raise fail(f"Unclosed start tag {at(i)}")
            if name not in _HTML_TAGS:
                raise fail(f'Unsupported start tag "{name}" {at(i)}')
            attrs: dict[str, str] = {}
            while True:
                while k < n and text[k].isspace():
                    k += 1
                if k >= n:
                    raise fail(f"Unclosed start tag {at(i)}")
                if text[k] == ">":
                    break
                attr = _HTML_ATTR_RE.match(text, k)
                if not attr:
                    raise fail(f'Empty attribute name in the tag "{name}" {at(i)}')
                value = next((g for g in attr.groups()[1:] if g is not None), "")
                attrs[attr.group(1).lower()] = html.unescape(value)
                k = attr.end()
            extra: dict[str, Any] = {"type": _HTML_TAGS[name]}
            if name == "a":
                extra = {"type": "text_link", "url": attrs["href"]} if attrs.get("href") else {}
            elif name == "span" and attrs.get("class") != "tg-spoiler":
                raise fail('Tag "span" must have class "tg-spoiler"')
            elif name == "tg-emoji":
                if not attrs.get("emoji-id", "").isdigit():
                    raise fail("Custom emoji entity must contain a valid custom emoji identifier")
                extra["custom_emoji_id"] = attrs["emoji-id"]
            elif name == "blockquote" and "expandable" in attrs:
                extra["type"] = "expandable_blockquote"
            elif name == "code" and attrs.get("class", "").startswith("language-"):
                extra["language"] = attrs["class"][len("language-") :]
            stack.append((name, u16, extra))
            i = k + 1
            continue
        out.append(piece)
        u16 += utf16_len(piece)
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def parse_markdown_v2(text: str) -> str:
    """Check MarkdownV2's escaping rule (the usual bug: an unescaped '.', '-' or '!') and
    return roughly the visible text; entities are not reconstructed."""
    out: list[str] = []
    i, n, mode = 0, len(text), ""  # mode: "", "code", "pre", "url"
    while i < n:
        c = text[i]
        if c == "\\":  # an escaped character is always literal (inside a URL it is part of the URL)
            if i + 1 >= n:
                raise _bad("can't parse entities: Character '\\' is reserved and must be escaped")
            if mode != "url":
                out.append(text[i + 1])
            i += 2
            continue
        if mode == "pre" or (mode == "" and text.startswith("```", i)):
            if text.startswith("```", i):
                mode = "" if mode == "pre" else "pre"
                i += 3
                if mode == "pre" and "\n" in text[i:] and " " not in text[i : text.index("\n", i)]:
                    i = text.index("\n", i) + 1  # skip the language tag
            else:
                out.append(c)
                i += 1
            continue
        if mode == "code" or (mode == "" and c == "`"):
            mode = "" if (mode == "code" and c == "`") else "code"
            if c != "`":
                out.append(c)
            i += 1
            continue
        if mode == "url":
            mode = "" if c == ")" else "url"
            i += 1
            continue
        if c == "]" and text.startswith("](", i):
            mode, i = "url", i + 2
            continue
        if c in "*_~[]|" or (c == ">" and (i == 0 or text[i - 1] == "\n")) or text.startswith("![", i):
            i += 1
            continue
        if c in _MDV2_RESERVED:
            raise _bad(f"can't parse entities: Character '{c}' is reserved and must be escaped with "
                       "the preceding '\\'")
        out.append(c)
        i += 1
    if mode in ("code", "pre"):
        raise _bad("can't parse entities: Can't find end of Code entity")
    return "".join(out)


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram strips surrounding whitespace from message text; shift entities to match."""
    lead = utf16_len(text) - utf16_len(text.lstrip())
    text = text.strip()
    total = utf16_len(text)
    fixed = []
    for ent in entities:
        start = max(ent["offset"] - lead, 0)
        end = min(ent["offset"] + ent["length"] - lead, total)
        if end > start:
            fixed.append({**ent, "offset": start, "length": end - start})
    return text, fixed


def _auto_entities(text: str) -> list[dict[str, Any]]:
    """What Telegram's clients attach to a typed message: bot_command and mention entities."""
    found = []
    for regex, kind in ((_COMMAND_RE, "bot_command"), (_MENTION_RE, "mention")):
        for m in regex.finditer(text):
            found.append({"type": kind, "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group())})
    return sorted(found, key=lambda e: e["offset"])


def _decode_params(raw: dict[str, Any]) -> dict[str, Any]:
    """PTB posts form fields whose non-string values are JSON-encoded; decode them like Telegram."""
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str) and key not in _STRING_PARAMS:
            try:
                value = json.loads(value)
            except ValueError:
                pass
        params[key] = value
    return params


@dataclass
class _Delay:
    seconds: float
    deliver: bool


@dataclass
class _RateRule:
    global_per_s: int
    per_chat_per_s: int
    per_group_per_min: int


class BotAPIEmulator:
    """An in-memory Telegram: one shared world of chats, messages and updates for all accepted tokens
    (extra tokens exist to test token handling, not to run several bots against separate queues)."""

    def __init__(
        self,
        tokens: Iterable[str] = (DEFAULT_TOKEN,),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "moi_helper_bot",
        bot_first_name: str = "MOI Helper",
    ) -> None:
        self.tokens: list[str] = list(tokens)
        if not self.tokens or any(not t.split(":", 1)[0].isdigit() or ":" not in t for t in self.tokens):
            raise ValueError("tokens must look like '<numeric bot id>:<secret>'")
        self.host, self.port = host, port
        self.bot_username, self.bot_first_name = bot_username, bot_first_name
        self.bot_id = int(self.tokens[0].split(":", 1)[0])
        self._runner: web.AppRunner | None = None
        self._closing = False
        # Records the tests read.
        self.sent: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.deleted: set[tuple[int, int]] = set()
        self.edits: list[dict[str, Any]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.webhook: dict[str, Any] = {"url": ""}
        self.confirmed_offset = 0
        # Fault injection, changeable at any time.
        self.blocked_chats: set[int] = set()
        self.missing_chats: set[int] = set()
        self.deactivated_chats: set[int] = set()
        self.rate_violations = 0
        self._floods: dict[str, list[int]] = {}  # method -> [retry_after, remaining times]
        self._delays: dict[str, deque[_Delay]] = {}
        self._rate: _RateRule | None = None
        self._send_times: deque[float] = deque()
        self._chat_send_times: dict[int, deque[float]] = {}
        # World state.
        self._updates: deque[dict[str, Any]] = deque()
        self._update_ids = itertools.count(100_001)
        self._callback_ids = itertools.count(1)
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._sent_index: dict[tuple[int, int], dict[str, Any]] = {}
        self._next_message_id: Counter[int] = Counter()
        self._delivered: Counter[int] = Counter()
        self._chats: dict[int, dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._open_callbacks: set[str] = set()
        self._poll_generation: Counter[str] = Counter()  # per token: a newer poll ends an older one
        self._update_signal = asyncio.Event()
        self._activity_signal = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> BotAPIEmulator:
        """Bind to 127.0.0.1 (a free port unless one was given) in the running event loop."""
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/_emu/{action}", self._control)
        # handler_cancellation: a client that gave up (timeout, killed bot) cancels its request,
        # so long polls end and delayed deliver=False sends are never recorded.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._closing = False
        return self

    async def stop(self) -> None:
        """Wake every long poll so shutdown is immediate, then close the server."""
        self._closing = True
        self._notify_updates()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotAPIEmulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """What to pass as PTB's ``base_url`` (PTB appends the token)."""
        return f"http://{self.host}:{self.port}/bot"

    # ------------------------------------------------------------------ simulated users
    def make_user(self, user_id: int, *, first_name: str = "Test", language_code: str | None = "en",
                  username: str | None = None) -> dict[str, Any]:
        user = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        if username:
            user["username"] = username
        self._users[user_id] = user
        return user

    def make_chat(self, chat_id: int, chat_type: str = "private", *, first_name: str = "Test") -> dict[str, Any]:
        if chat_type == "private":
            chat: dict[str, Any] = {"id": chat_id, "type": "private", "first_name": first_name}
        else:
            chat = {"id": chat_id, "type": chat_type, "title": f"Test {chat_type} {chat_id}"}
        self._chats[chat_id] = chat
        return chat

    def make_message_update(
        self, user_id: int, *, chat_id: int | None = None, chat_type: str = "private",
        language_code: str = "en", first_name: str = "Test", **content: Any,
    ) -> dict[str, Any]:
        """A raw ``{"message": ...}`` update (no update_id yet) from a user; content is e.g. text=..."""
        if chat_id is None:
            chat_id = user_id if chat_type == "private" else -abs(user_id)
        user = self.make_user(user_id, first_name=first_name, language_code=language_code)
        chat = self._chats.get(chat_id) or self.make_chat(chat_id, chat_type, first_name=first_name)
        message = {"message_id": self._new_message_id(chat_id), "from": user, "chat": chat,
                   "date": int(time.time()), **content}
        self._messages[(chat_id, message["message_id"])] = message
        return {"message": message}

    def make_text_update(self, user_id: int, text: str, *, entities: list[dict[str, Any]] | None = None,
                         **kwargs: Any) -> dict[str, Any]:
        """A text-message update with bot_command / mention entities added like a client would."""
        content: dict[str, Any] = {"text": text}
        entities = _auto_entities(text) if entities is None else entities
        if entities:
            content["entities"] = entities
        return self.make_message_update(user_id, **kwargs, **content)

    async def send_text(self, user_id: int, text: str, *, chat_id: int | None = None,
                        chat_type: str = "private", language_code: str = "en", first_name: str = "Test",
                        entities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The user types ``text``; returns the queued update."""
        update = self.make_text_update(user_id, text, entities=entities, chat_id=chat_id, chat_type=chat_type,
                                       language_code=language_code, first_name=first_name)
        return self.queue_updates([update])[0]

    async def send_sticker(self, user_id: int, *, emoji: str = "👍", **kwargs: Any) -> dict[str, Any]:
        sticker = {"file_id": f"sticker-{user_id}", "file_unique_id": f"st{user_id}", "type": "regular",
                   "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": emoji}
        return self.queue_updates([self.make_message_update(user_id, sticker=sticker, **kwargs)])[0]

    async def send_photo(self, user_id: int, *, caption: str | None = None, **kwargs: Any) -> dict[str, Any]:
        photo = [{"file_id": f"photo-{user_id}-{w}", "file_unique_id": f"ph{user_id}{w}", "width": w,
                  "height": w * 3 // 4, "file_size": w * 100} for w in (90, 320, 1280)]
        content: dict[str, Any] = {"photo": photo}
        if caption:
            content["caption"] = caption
        return self.queue_updates([self.make_message_update(user_id, **content, **kwargs)])[0]

    async def press_button(self, user_id: int, message: dict[str, Any] | Any, data: str, *,
                           chat_id: int | None = None, first_name: str = "Test",
                           language_code: str = "en") -> dict[str, Any]:
        """The user taps an inline button of a message the bot sent: a sent record, a Bot API message
        dict, a ``telegram.Message``, or a message_id (chat_id defaults to the user's private chat)."""
        if isinstance(message, dict):
            chat_id = message["chat_id"] if "chat_id" in message else message["chat"]["id"]
            message_id = message["message_id"]
        elif hasattr(message, "message_id"):
            chat_id, message_id = message.chat_id, message.message_id
        else:
            message_id, chat_id = message, user_id if chat_id is None else chat_id
        stored = self._messages.get((chat_id, message_id))
        if stored is None:
            raise ValueError(f"no message {message_id} in chat {chat_id} (deleted or never sent)")
        buttons = [b.get("callback_data") for row in stored.get("reply_markup", {}).get("inline_keyboard", [])
                   for b in row]
        if data not in buttons:
            raise ValueError(f"message {message_id} has no button with callback_data {data!r}: {buttons}")
        query_id = str(next(self._callback_ids) * 7919 + 4_000_000_000)
        self._open_callbacks.add(query_id)
        chat_instance = str(int(hashlib.sha1(f"{chat_id}".encode()).hexdigest()[:15], 16))
        query = {"id": query_id, "from": self.make_user(user_id, first_name=first_name, language_code=language_code),
                 "message": dict(stored), "chat_instance": chat_instance, "data": data}
        return self.queue_updates([{"callback_query": query}])[0]

    def queue_updates(self, updates: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Queue raw updates (load tests); assigns increasing update_ids and wakes long polls."""
        queued = []
        for update in updates:
            update = {"update_id": next(self._update_ids), **{k: v for k, v in update.items() if k != "update_id"}}
            self._updates.append(update)
            queued.append(update)
        self._notify_updates()
        return queued

    def pending_updates(self) -> int:
        """Updates not yet confirmed by a getUpdates offset."""
        return len(self._updates)

    # ------------------------------------------------------------------ inspection
    def messages_to(self, chat_id: int) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["chat_id"] == chat_id]

    def delivered_count(self, chat_id: int) -> int:
        return self._delivered[chat_id]

    def duplicates(self) -> dict[tuple[int, str], int]:
        """(chat_id, text) pairs delivered more than once: what a broadcast must never produce."""
        counts = Counter((m["chat_id"], m["text"]) for m in self.sent)
        return {key: n for key, n in counts.items() if n > 1}

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.calls if name.lower() == method.lower()]

    def clear_records(self) -> None:
        """Forget what was recorded (not the world state) between phases of a test."""
        self.sent.clear()
        self.calls.clear()
        self.deleted.clear()
        self.edits.clear()
        self.callback_answers.clear()
        self.chat_actions.clear()
        self._delivered.clear()
        self.rate_violations = 0

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
        """Wait until ``predicate()`` is truthy (re-checked after every API call); return its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}\n{self.dump()}")
            signal = self._activity_signal
            try:
                await asyncio.wait_for(signal.wait(), min(remaining, 0.1))
            except TimeoutError:
                pass

    async def wait_for_messages(self, chat_id: int, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until the bot has sent at least ``count`` messages to ``chat_id``; return them."""
        await self.wait_for(lambda: len(self.messages_to(chat_id)) >= count, timeout,
                            what=f"{count} message(s) to chat {chat_id}")
        return self.messages_to(chat_id)

    def dump(self, last: int = 25) -> str:
        """A readable summary for failure messages."""
        lines = [f"pending updates: {self.pending_updates()}, confirmed offset: {self.confirmed_offset}",
                 f"last {min(last, len(self.calls))} of {len(self.calls)} API calls:"]
        for method, params in self.calls[-last:]:
            lines.append(f"  {method} {json.dumps(params, ensure_ascii=False, default=str)[:200]}")
        lines.append(f"{len(self.sent)} message(s) sent:")
        for m in self.sent[-last:]:
            lines.append(f"  chat {m['chat_id']} #{m['message_id']}: {m['text'][:120]!r}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ fault injection
    def flood(self, retry_after: int = 2, times: int = 1, method: str = "sendMessage") -> None:
        """The next ``times`` calls of ``method`` answer 429 and are not delivered."""
        self._floods[method.lower()] = [retry_after, times]

    def delay_next(self, method: str, seconds: float, times: int = 1, *, deliver: bool = True) -> None:
        """The next calls of ``method`` answer late. deliver=True: recorded as delivered even if the
        client gave up (Telegram sent it, the bot saw a timeout); deliver=False: only if it waited."""
        queue = self._delays.setdefault(method.lower(), deque())
        queue.extend(_Delay(seconds, deliver) for _ in range(times))

    def enforce_rate(self, global_per_s: int = 30, per_chat_per_s: int = 1, per_group_per_min: int = 20,
                     *, enabled: bool = True) -> None:
        """Answer 429 to sends beyond Telegram's broadcast limits, counting them in rate_violations."""
        self._rate = _RateRule(global_per_s, per_chat_per_s, per_group_per_min) if enabled else None
        self._send_times.clear()
        self._chat_send_times.clear()

    # ------------------------------------------------------------------ internals
    def _notify_updates(self) -> None:
        self._update_signal.set()
        self._update_signal = asyncio.Event()

    def _notify_activity(self) -> None:
        self._activity_signal.set()
        self._activity_signal = asyncio.Event()

    def _new_message_id(self, chat_id: int) -> int:
        self._next_message_id[chat_id] += 1
        return self._next_message_id[chat_id]

    def _bot_user(self, token: str) -> dict[str, Any]:
        return {"id": int(token.split(":", 1)[0]), "is_bot": True, "first_name": self.bot_first_name,
                "username": self.bot_username, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        """Resolve chat_id and apply the blocked / deactivated / missing fault sets."""
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad("chat_id is empty")
        if not isinstance(chat_id, int) or chat_id == 0 or chat_id in self.missing_chats:
            raise _bad("chat not found")
        if chat_id in self.blocked_chats:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id in self.deactivated_chats:
            raise ApiError(403, "Forbidden: user is deactivated")
        return self._chats.get(chat_id) or self.make_chat(chat_id, "private" if chat_id > 0 else "supergroup")

    def _render(self, params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        """Visible text and entities of a text/parse_mode pair, validated like Telegram."""
        raw = params.get("text")
        if not isinstance(raw, str) or not raw.strip():
            raise _bad("message text is empty")
        mode = str(params.get("parse_mode") or "").lower()
        if mode == "html":
            text, entities = parse_html(raw)
        elif mode == "markdownv2":
            text, entities = parse_markdown_v2(raw), []
        elif mode in ("", "markdown"):
            text, entities = raw, list(params.get("entities") or [])
        else:
            raise _bad(f"unsupported parse_mode {params.get('parse_mode')}")
        text, entities = _trim(text, entities)
        if not text:
            raise _bad("message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise _bad("message is too long")
        return text, entities

    @staticmethod
    def _check_markup(markup: Any) -> dict[str, Any] | None:
        """Validate reply_markup; return the inline keyboard to store on the message (if any)."""
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
            for button in (b for row in rows for b in row):
                if not isinstance(button, dict) or not button.get("text"):
                    raise _bad("BUTTON_TEXT_INVALID")
                data = button.get("callback_data")
                if data is not None and (not data or len(str(data).encode("utf-8")) > MAX_CALLBACK_DATA_BYTES):
                    raise _bad("BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None and not re.match(r"^(https?|tg)://\S+$", str(url)):
                    raise _bad("BUTTON_URL_INVALID")
                if not set(button) - {"text", "style", "icon_custom_emoji_id"}:
                    raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline "
                               "keyboard")
            return {"inline_keyboard": rows}
        if "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays')
            if any(not (b if isinstance(b, str) else isinstance(b, dict) and b.get("text")) for r in rows for b in r):
                raise _bad("keyboard button text is empty")
            return None
        if markup.get("remove_keyboard") or markup.get("force_reply"):
            return None
        raise _bad("can't find field \"inline_keyboard\"")

    def _check_rate(self, chat_id: int) -> None:
        rule = self._rate
        if rule is None:
            return
        now = time.monotonic()
        while self._send_times and now - self._send_times[0] >= 1.0:
            self._send_times.popleft()
        window, limit = (1.0, rule.per_chat_per_s) if chat_id > 0 else (60.0, rule.per_group_per_min)
        chat_times = self._chat_send_times.setdefault(chat_id, deque())
        while chat_times and now - chat_times[0] >= window:
            chat_times.popleft()
        retry = 0
        if len(self._send_times) >= rule.global_per_s:
            retry = math.ceil(1.0 - (now - self._send_times[0]))
        if len(chat_times) >= limit:
            retry = max(retry, math.ceil(window - (now - chat_times[0])))
        if retry:
            self.rate_violations += 1
            retry = max(retry, 1)
            raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        self._send_times.append(now)
        chat_times.append(now)

    def _stored_bot_message(self, params: dict[str, Any], token: str, verb: str) -> dict[str, Any]:
        if params.get("inline_message_id"):
            raise _bad("inline messages are not supported by the emulator")
        chat = self._chat(params)
        message = self._messages.get((chat["id"], params.get("message_id")))  # type: ignore[arg-type]
        if message is None:
            raise _bad(f"message to {verb} not found")
        if message["from"]["id"] != int(token.split(":", 1)[0]):
            raise _bad(f"message can't be {verb}ed")
        return message

    # ------------------------------------------------------------------ HTTP
    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if token not in self.tokens:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        try:
            params = await self._read_params(request)
        except ValueError:
            return web.json_response(_bad("can't parse JSON object").payload(), status=400)
        self.calls.append((method, params))
        self._notify_activity()
        key = method.lower()  # Telegram method names are case-insensitive
        handler = getattr(self, f"_api_{key}", None)
        if handler is None:
            body = {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
            return web.json_response(body, status=404)
        delay: _Delay | None = None
        try:
            flood = self._floods.get(key)
            if flood and flood[1] > 0:
                flood[1] -= 1
                raise ApiError(429, f"Too Many Requests: retry after {flood[0]}", {"retry_after": flood[0]})
            delays = self._delays.get(key)
            delay = delays.popleft() if delays else None
            if delay and not delay.deliver:
                await asyncio.sleep(delay.seconds)  # cancelled here if the client gives up: never delivered
            result = handler(params, token)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as err:
            return web.json_response(err.payload(), status=err.code)
        except Exception as exc:  # an emulator bug: say so loudly instead of dropping the connection
            _LOG.exception("emulator failed on %s %s", method, params)
            body = {"ok": False, "error_code": 500, "description": f"Internal Server Error: emulator: {exc!r}"}
            return web.json_response(body, status=500)
        finally:
            self._notify_activity()
        if delay and delay.deliver:
            await asyncio.sleep(delay.seconds)
        return web.json_response({"ok": True, "result": result}, dumps=lambda o: json.dumps(o, ensure_ascii=False))

    @staticmethod
    async def _read_params(request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if not isinstance(body, dict):
                    raise ValueError("JSON body must be an object")
                raw.update(body)
            else:
                for field, value in (await request.post()).items():
                    raw[field] = value if isinstance(value, str) else {"file_name": value.filename}
        return _decode_params(raw)

    # ------------------------------------------------------------------ Bot API methods
    def _api_getme(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        return self._bot_user(token)

    async def _api_getupdates(self, params: dict[str, Any], token: str) -> list[dict[str, Any]]:
        if self.webhook["url"]:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        if offset > 0:
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
            self.confirmed_offset = max(self.confirmed_offset, offset)
        elif offset < 0:
            while len(self._updates) > -offset:
                self.confirmed_offset = self._updates.popleft()["update_id"] + 1
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        allowed = params.get("allowed_updates") or None
        self._poll_generation[token] += 1
        generation = self._poll_generation[token]
        self._notify_updates()  # an older long poll of another instance ends with 409, like Telegram
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(params.get("timeout") or 0)
        while True:
            if generation != self._poll_generation[token]:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only "
                                    "one bot instance is running")
            if self.webhook["url"]:
                raise ApiError(409, "Conflict: terminated by setWebhook request")
            wanted = (u for u in self._updates if not allowed or any(kind in u for kind in allowed))
            batch = list(itertools.islice(wanted, limit))
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing:
                return batch
            signal = self._update_signal
            try:
                await asyncio.wait_for(signal.wait(), remaining)
            except TimeoutError:
                pass

    def _api_setwebhook(self, params: dict[str, Any], token: str) -> bool:
        url = str(params.get("url") or "")
        if url and not url.startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = {"url": url, **{k: v for k, v in params.items() if k not in ("url", "certificate")}}
        self._notify_updates()
        return True

    def _api_deletewebhook(self, params: dict[str, Any], token: str) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = {"url": ""}
        return True

    def _api_getwebhookinfo(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        info: dict[str, Any] = {"url": self.webhook["url"], "has_custom_certificate": False,
                                "pending_update_count": len(self._updates)}
        if self.webhook["url"]:
            info["max_connections"] = self.webhook.get("max_connections", 40)
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _api_sendmessage(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        chat = self._chat(params)
        text, entities = self._render(params)
        inline = self._check_markup(params.get("reply_markup"))
        reply = params.get("reply_parameters") or {}
        reply_to = reply.get("message_id") or params.get("reply_to_message_id")
        replied = self._messages.get((chat["id"], reply_to)) if reply_to else None
        allow_missing = reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply"))
        if reply_to and replied is None and not allow_missing:
            raise _bad("message to be replied not found")
        lpo = params.get("link_preview_options") or {}
        preview_disabled = bool(lpo.get("is_disabled") or params.get("disable_web_page_preview"))
        self._check_rate(chat["id"])
        message: dict[str, Any] = {"message_id": self._new_message_id(chat["id"]), "from": self._bot_user(token),
                                   "chat": chat, "date": int(time.time()), "text": text}
        if entities:
            message["entities"] = entities
        if inline:
            message["reply_markup"] = inline
        if replied:
            message["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        if lpo:
            message["link_preview_options"] = lpo
        self._messages[(chat["id"], message["message_id"])] = message
        record = {"method": "sendMessage", "chat_id": chat["id"], "message_id": message["message_id"],
                  "text": params["text"], "visible_text": text, "parse_mode": params.get("parse_mode"),
                  "entities": entities, "reply_markup": params.get("reply_markup"), "date": message["date"],
                  "link_preview_disabled": preview_disabled, "reply_to_message_id": reply_to if replied else None,
                  "disable_notification": bool(params.get("disable_notification")), "edits": 0}
        self.sent.append(record)
        self._sent_index[(chat["id"], message["message_id"])] = record
        self._delivered[chat["id"]] += 1
        return message

    def _api_editmessagetext(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        message = self._stored_bot_message(params, token, "edit")
        text, entities = self._render(params)
        inline = self._check_markup(params.get("reply_markup"))  # omitted markup removes the keyboard
        if (text, entities, inline) == (message.get("text"), message.get("entities", []), message.get("reply_markup")):
            raise _bad(_NOT_MODIFIED.removeprefix("Bad Request: "))
        message.update(text=text, edit_date=int(time.time()))
        for field, value in (("entities", entities), ("reply_markup", inline)):
            message.pop(field, None)
            if value:
                message[field] = value
        self._record_edit(message, params, text=params["text"], visible_text=text,
                          parse_mode=params.get("parse_mode"), entities=entities)
        return message

    def _api_editmessagereplymarkup(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        message = self._stored_bot_message(params, token, "edit")
        inline = self._check_markup(params.get("reply_markup"))
        if inline == message.get("reply_markup"):
            raise _bad(_NOT_MODIFIED.removeprefix("Bad Request: "))
        message.pop("reply_markup", None)
        if inline:
            message["reply_markup"] = inline
        message["edit_date"] = int(time.time())
        self._record_edit(message, params)
        return message

    def _record_edit(self, message: dict[str, Any], params: dict[str, Any], **changes: Any) -> None:
        key = (message["chat"]["id"], message["message_id"])
        record = self._sent_index.get(key)
        if record is not None:
            record.update(changes, reply_markup=params.get("reply_markup"))
            record["edits"] += 1
        self.edits.append({"chat_id": key[0], "message_id": key[1], **changes,
                           "reply_markup": params.get("reply_markup")})

    def _api_answercallbackquery(self, params: dict[str, Any], token: str) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_callbacks:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        if len(str(params.get("text") or "")) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        self._open_callbacks.discard(query_id)
        self.callback_answers.append(params)
        return True

    def _api_deletemessage(self, params: dict[str, Any], token: str) -> bool:
        chat = self._chat(params)
        key = (chat["id"], params.get("message_id"))
        if self._messages.pop(key, None) is None:  # type: ignore[arg-type]
            raise _bad("message to delete not found")
        self.deleted.add(key)  # type: ignore[arg-type]
        return True

    def _api_deletemessages(self, params: dict[str, Any], token: str) -> bool:
        chat = self._chat(params)
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise _bad("message_ids must be a list of 1-100 identifiers")
        for message_id in ids:
            if self._messages.pop((chat["id"], message_id), None) is not None:
                self.deleted.add((chat["id"], message_id))
        return True

    def _api_sendchataction(self, params: dict[str, Any], token: str) -> bool:
        chat = self._chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        self.chat_actions.append((chat["id"], params["action"]))
        return True

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    def _api_setmycommands(self, params: dict[str, Any], token: str) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("commands must be a list of at most 100 commands")
        for cmd in commands:
            if not _COMMAND_NAME_RE.match(str(cmd.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(cmd.get("description", ""))) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = commands
        return True

    def _api_getmycommands(self, params: dict[str, Any], token: str) -> list[dict[str, Any]]:
        return self.commands.get(self._commands_key(params), [])

    def _api_deletemycommands(self, params: dict[str, Any], token: str) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _api_setchatmenubutton(self, params: dict[str, Any], token: str) -> bool:
        self.menu_buttons[params.get("chat_id")] = params.get("menu_button") or {"type": "default"}
        return True

    def _api_getchatmenubutton(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        return self.menu_buttons.get(params.get("chat_id"), {"type": "commands"})

    def _api_getchat(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        chat = self._chat(params)
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription",
                               "gifts_from_channels"), False)
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}

    def _api_close(self, params: dict[str, Any], token: str) -> bool:
        return True

    def _api_logout(self, params: dict[str, Any], token: str) -> bool:
        return True

    # ------------------------------------------------------------------ manual control (standalone use)
    async def _control(self, request: web.Request) -> web.Response:
        """``/_emu/send_text?user_id=1&text=/start``, ``/_emu/press_button?...&message_id=&data=``,
        ``/_emu/state``: lets a human drive a bot from curl against the standalone emulator."""
        params = await self._read_params(request)
        action = request.match_info["action"]
        if action == "send_text":
            return web.json_response(await self.send_text(int(params["user_id"]), str(params["text"])))
        if action == "press_button":
            update = await self.press_button(int(params["user_id"]), int(params["message_id"]), str(params["data"]))
            return web.json_response(update)
        if action == "state":
            return web.json_response({"sent": self.sent, "pending_updates": self.pending_updates(),
                                      "confirmed_offset": self.confirmed_offset}, dumps=lambda o: json.dumps(o, default=str))
        raise web.HTTPNotFound()


async def _serve(args: argparse.Namespace) -> None:
    emu = BotAPIEmulator(args.token or [DEFAULT_TOKEN], host=args.host, port=args.port, bot_username=args.username)
    async with emu:
        print(f"Bot API emulator on {emu.base_url}<token>  tokens={emu.tokens}", flush=True)
        print(f"  drive it: curl '{emu.base_url.removesuffix('/bot')}/_emu/send_text?user_id=1&text=/start'",
              flush=True)
        seen = 0
        while True:
            await asyncio.sleep(0.2)
            for method, params in emu.calls[seen:]:
                if method.lower() != "getupdates":
                    print(f"{method} {json.dumps(params, ensure_ascii=False)[:300]}", flush=True)
            seen = len(emu.calls)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Loopback Telegram Bot API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", action="append", help="accepted bot token (repeatable)")
    parser.add_argument("--username", default="moi_helper_bot")
    try:
        asyncio.run(_serve(parser.parse_args(argv)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
