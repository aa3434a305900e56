"""Between Telegram and the handlers: every update is read on its own, bursts are read together,
a flood is merged or delayed, and nothing is dropped without a reason.

Both the polling loop (bot/polling.py) and the webhook (bot/webhook.py) hand each update to
`Intake.submit` as the raw JSON Telegram sent, and get back a future that is done once the update
was handled or deliberately skipped; only then do they confirm it to Telegram.

- One update at a time is de-serialised: an update python-telegram-bot cannot read (a poll of a
  newer Bot API, say) is skipped with its id, kind and the error type in the log and in the
  operational store, never its content, and the updates behind it go on.
- A person's messages that come together are answered together: forwarded messages, an album,
  captioned media, and whatever the same person sends while such a burst is open, until
  BOT_BURST_WINDOW_S seconds pass without another (at most BURST_MAX_MESSAGES messages or
  BURST_MAX_SPAN_S seconds). The handlers get one message holding the texts and captions in order,
  so the engine (and its safety check) reads them once, as one text.
- The flood gate limits work, not people: a person over BOT_USER_MESSAGES_PER_MINUTE gets one notice
  and their further messages, commands included (read as their words), are merged into one reply
  at most every 60/limit seconds. Only what has nothing to read (a sticker, a button press) or comes
  when the merged reply is already full is refused, with one notice and a line in the log.
- Updates of one chat are handled in the order they came; other chats never wait for a burst.

Telegram-aware, like bot/polling.py; the answering itself stays in handlers/ and bot/.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from telegram import Update
from telegram.ext import Application, filters

from bot.flood import FloodGate
from bot.health import is_storage_error
from bot.i18n import interface_lang, menu_action, t

log = logging.getLogger("bot.intake")

BURST_MAX_MESSAGES = 30
BURST_MAX_SPAN_S = 10.0  # a burst is answered at the latest this long after its first message
BURST_MARK = "moi_burst"  # key of the combined message that lists the messages it stands for


@dataclass
class _Burst:
    chat_id: int
    user_id: int
    opened: float
    held: bool  # opened because the person was over the flood limit: answered no sooner than hold_s
    raws: list[dict] = field(default_factory=list)  # the raw messages, in order
    updates: list[Update] = field(default_factory=list)
    done: list[asyncio.Future] = field(default_factory=list)
    last: float = 0.0
    refused: int = 0
    timer: asyncio.TimerHandle | None = None


def _kind(raw: dict) -> str:
    """The update's kind (message, callback_query, …): the only thing logged about an unreadable one."""
    return next((k for k in raw if k != "update_id"), "empty")[:40]


def _words(update: Update) -> str:
    """What a message of a burst says: its text or caption; a command as its words (/hotline passport ->
    hotline passport)."""
    message = update.message
    text = message.text or message.caption or ""
    if filters.COMMAND.check_update(update):
        command, _, rest = text.partition(" ")
        text = rest.strip() or command.lstrip("/").split("@")[0]
    return text


class Intake:
    def __init__(self, app: Application, services, *, window: float | None = None,
                 per_minute: int | None = None, clock=time.monotonic) -> None:
        settings = services.settings
        self.app = app
        self.services = services
        self.window = settings.burst_window_s if window is None else window
        per_minute = settings.rate_limit_per_minute if per_minute is None else per_minute
        self.gate = FloodGate(per_minute=per_minute, burst=max(8, per_minute // 3), clock=clock)
        self.hold_s = 60.0 / per_minute  # a flooder's merged reply comes at most this often
        self.clock = clock
        self._bursts: dict[int, _Burst] = {}
        self._lock = asyncio.Lock()  # updates are handled one at a time, in the order they came
        self._flushing: set[asyncio.Task] = set()

    # -- the entry point ---------------------------------------------------------------------
    async def submit(self, raw: dict) -> asyncio.Future:
        """Take one update as Telegram sent it (a dict with an int update_id). The returned future is
        done when the update was handled or skipped; an update in an open burst is done when the
        burst's reply was sent."""
        done = asyncio.get_running_loop().create_future()
        update_id = raw["update_id"]
        try:
            update = Update.de_json(raw, self.app.bot)
            if update is None:
                raise ValueError("empty update")
        except Exception as exc:  # noqa: BLE001 - any update the library cannot read is skipped, not fatal
            self.skip(update_id, _kind(raw), f"unreadable: {type(exc).__name__}")
            done.set_result(None)
            return done
        await self._route(raw, update, done)
        return done

    async def _route(self, raw: dict, update: Update, done: asyncio.Future) -> None:
        chat, user, message = update.effective_chat, update.effective_user, update.message
        burst = self._bursts.get(chat.id) if chat is not None else None
        joinable = self._joinable(update)
        if burst is not None and burst.held and self._private_command(update):
            joinable = True  # a flood merges commands too: read, not refused
        if burst is not None and joinable and user is not None and user.id == burst.user_id:
            if len(burst.raws) < BURST_MAX_MESSAGES:
                self._add(burst, raw, update, done)
                return
            if burst.held:  # a flood already merged as far as it goes: this one is refused
                burst.refused += 1
                if burst.refused == 1:
                    await self._notice(update, "slow_down")
                self._skip_done(update, done, "flood: the merged reply is full")
                return
        if burst is not None:  # anything else of this chat comes after the open burst
            await self._flush(self._take(chat.id))
        staff = user is not None and self.services.is_staff(user.id)
        if user is None or staff or chat is None:
            await self._handle(update, done)
            return
        opens_burst = joinable and message is not None and (
            message.forward_origin is not None or message.media_group_id is not None or message.caption is not None)
        verdict = self.gate.check(user.id)
        if verdict == "ok" and not opens_burst:
            await self._handle(update, done)
            return
        # Over the limit a command is delayed and read with the rest (its words count, e.g. /hotline passport).
        if verdict == "ok" or joinable or self._private_command(update):
            if verdict == "warn":
                await self._notice(update, "slow_down_merge")
            burst = self._bursts[chat.id] = _Burst(chat.id, user.id, self.clock(), held=verdict != "ok")
            self._add(burst, raw, update, done)
            return
        # Over the limit and nothing to read (a sticker, a button): refused, with one notice per flood
        # (a pressed button always gets its answer).
        if verdict == "warn" or update.callback_query is not None:
            await self._notice(update, "slow_down")
        self._skip_done(update, done, "flood: over the per-person limit")

    def _private_command(self, update: Update) -> bool:
        chat = update.effective_chat
        return chat is not None and chat.type == "private" and bool(filters.COMMAND.check_update(update))

    def _joinable(self, update: Update) -> bool:
        """A private message of a citizen that can be read together with others."""
        message, chat = update.message, update.effective_chat
        if message is None or chat is None or chat.type != "private" or message.from_user is None:
            return False
        if self.services.is_staff(message.from_user.id) or filters.COMMAND.check_update(update):
            return False
        if message.text is not None and menu_action(message.text):
            return False
        return bool(message.text or message.caption or message.forward_origin or message.media_group_id)

    # -- bursts ------------------------------------------------------------------------------
    def _add(self, burst: _Burst, raw: dict, update: Update, done: asyncio.Future) -> None:
        burst.raws.append(raw)
        burst.updates.append(update)
        burst.done.append(done)
        burst.last = self.clock()
        if burst.timer is not None:
            burst.timer.cancel()
        due = burst.last + self.window
        if burst.held:
            due = max(due, burst.opened + self.hold_s)
        due = min(due, burst.opened + max(BURST_MAX_SPAN_S, self.hold_s))
        if len(burst.raws) >= BURST_MAX_MESSAGES and not burst.held:
            due = self.clock()
        loop = asyncio.get_running_loop()
        burst.timer = loop.call_later(max(0.0, due - self.clock()), self._due, burst.chat_id, burst)

    def _due(self, chat_id: int, burst: _Burst) -> None:
        if self._bursts.get(chat_id) is not burst:
            return
        task = asyncio.get_running_loop().create_task(self._flush(self._take(chat_id)))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    def _take(self, chat_id: int) -> _Burst:
        burst = self._bursts.pop(chat_id)
        if burst.timer is not None:
            burst.timer.cancel()
        return burst

    async def _flush(self, burst: _Burst) -> None:
        """Answer a burst: one message for one, else one combined message for all of them."""
        try:
            texts = [text for text in map(_words, burst.updates) if text]
            try:
                update = burst.updates[0] if len(burst.updates) == 1 or not texts else self._combined(burst, texts)
            except Exception as exc:  # noqa: BLE001 - never leave a burst neither answered nor skipped
                for member in burst.updates:
                    self.skip(member.update_id, "message", f"could not be read together: {type(exc).__name__}")
                return
            if len(burst.updates) > 1:
                log.info("read %d messages of one chat together (updates %d-%d)", len(burst.updates),
                         burst.raws[0]["update_id"], burst.raws[-1]["update_id"])
            async with self._lock:
                await self._process(update)
        finally:
            for done in burst.done:
                if not done.done():
                    done.set_result(None)

    def _combined(self, burst: _Burst, texts: list[str]) -> Update:
        """One text message standing for the burst: the last message's sender, chat and date, every
        text and caption in order, and the ids of all of them (for "Clear this chat")."""
        last = dict(burst.raws[-1]["message"])
        for key in ("entities", "caption", "caption_entities", "photo", "video", "document", "animation",
                    "audio", "voice", "forward_origin", "media_group_id", "reply_to_message", "quote"):
            last.pop(key, None)
        last["text"] = "\n\n".join(texts)
        last[BURST_MARK] = {"count": len(burst.updates),
                            "message_ids": [r["message"]["message_id"] for r in burst.raws]}
        return Update.de_json({"update_id": burst.raws[-1]["update_id"], "message": last}, self.app.bot)

    async def flush_all(self) -> None:
        """Answer every open burst now (the bot is stopping)."""
        for chat_id in list(self._bursts):
            await self._flush(self._take(chat_id))
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)

    def holding(self) -> int:
        """How many updates wait in open bursts."""
        return sum(len(b.raws) for b in self._bursts.values())

    # -- handling, refusing, skipping ----------------------------------------------------------
    async def _handle(self, update: Update, done: asyncio.Future) -> None:
        try:
            async with self._lock:
                await self._process(update)
        finally:
            done.set_result(None)

    async def _process(self, update: Update) -> None:
        try:
            await self.app.process_update(update)
        except Exception as exc:  # noqa: BLE001 - PTB passes handler errors to the error handler; this is the rest
            self.skip(update.update_id, _kind(update.to_dict()), f"handling failed: {type(exc).__name__}")

    def _skip_done(self, update: Update, done: asyncio.Future, reason: str) -> None:
        self.skip(update.update_id, _kind(update.to_dict()), reason)
        done.set_result(None)

    async def _notice(self, update: Update, key: str) -> None:
        """One short notice to the person (a toast for a button), never a reason to stop."""
        user, chat = update.effective_user, update.effective_chat
        lang = self._lang(user)
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(t(lang, key)[:200])
            elif chat is not None:
                await self.app.bot.send_message(chat.id, t(lang, key))
        except Exception as exc:  # noqa: BLE001 - the network may be the reason the person is waiting
            log.info("could not send the flood notice: %s", type(exc).__name__)

    def _lang(self, user) -> str:
        if user is None:
            return "en"
        try:
            chosen = self.services.ops.user_language(user.id)
        except Exception:  # noqa: BLE001 - a notice in English beats no notice
            chosen = None
        return chosen or interface_lang(user.language_code)

    def skip(self, update_id: int, kind: str, reason: str) -> None:
        """Skip an update on purpose: the reason goes to the log and the operational store (never the
        update's content), then the caller confirms it to Telegram."""
        log.warning("update %s (%s) skipped: %s", update_id, kind, reason)
        try:
            self.services.ops.record_skipped(self.app.bot.id, update_id, kind, reason)
        except Exception as exc:  # noqa: BLE001 - the log line above is the record then
            if not is_storage_error(exc):
                raise
            self.services.health.failed("state", exc, doing="recording a skipped update")
