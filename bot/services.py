"""The long-lived services one bot process holds, built once by the composition root.

Handlers reach them through `context.application.bot_data["services"]`; tests build them on a
tmp store. Nothing here imports Telegram.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot import feedback
from bot.answer import TAIPEI, AnswerEngine
from bot.answer_types import Answer
from bot.assistant import Assistant
from bot.config import Settings
from bot.health import Health, is_storage_error
from bot.opstore import SQLiteOperationalStore, hash_user
from bot.store import PostStore, StoreError

log = logging.getLogger(__name__)
CHAT_MEMORY = 200  # message ids per chat kept for "Clear this chat"
DELETABLE_S = 48 * 3600 - 60  # Telegram lets a bot delete messages for 48 hours
QUESTION_BATCH = 25
QUESTION_FLUSH_S = 5.0
QUESTION_BACKLOG = 2_000  # questions kept in memory while the state database cannot be written


@dataclass
class Services:
    settings: Settings
    store: PostStore
    ops: SQLiteOperationalStore
    engine: AnswerEngine
    assistant: Assistant
    salt: str = ""
    health: Health = field(default_factory=Health)
    # chat id -> (message id, the user it came from or answered (None: not known), when, time.time())
    _chat_messages: dict[int, deque[tuple[int, int | None, float]]] = field(default_factory=dict)
    _questions: list[tuple] = field(default_factory=list)
    _flushed: float = field(default_factory=time.monotonic)

    @classmethod
    def open(cls, settings: Settings) -> Services:
        store = PostStore(settings.db_path)
        ops = SQLiteOperationalStore(settings.operational_path)
        engine = AnswerEngine.from_store(store)
        # A random secret kept in the state database, never derived from the token: whoever has
        # the token (or the log) cannot re-link questions to the people who asked them.
        salt = ops.secret("question_salt")
        return cls(settings, store, ops, engine, Assistant(engine), salt=salt)

    def is_staff(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.staff_ids

    def user_hash(self, user_id: int | None) -> str | None:
        """A salted hash: lets staff count distinct askers, and "Clear this chat" find a person's
        questions, without keeping who asked."""
        if user_id is None:
            return None
        return hash_user(user_id, self.salt)

    def record_question(self, answer: Answer, user_id: int | None) -> str | None:
        """Log the question (the store masks digit runs and e-mail addresses), the answer kind, reason,
        first ids, score and language, never the user's id or name. Returns the random reference the
        answer's 👍/👎 buttons carry (None for an answer that gets none: bot/feedback.py).

        Rows are written in batches (every QUESTION_BATCH questions or QUESTION_FLUSH_S seconds, and
        at shutdown): one fsync per question would halve the bot's throughput, and this log is
        statistics, not an acknowledged write; a kill loses at most one batch of it.
        """
        top = answer.hits[0] if answer.hits else None
        ref = feedback.new_ref() if feedback.votable(answer) else None
        self._questions.append((answer.query, answer.kind, top.id if top else None,
                                top.score if top else None, self.user_hash(user_id), answer.lang, ref,
                                answer.reason, feedback.answer_ids(answer), datetime.now(UTC)))
        if len(self._questions) >= QUESTION_BATCH or time.monotonic() - self._flushed >= QUESTION_FLUSH_S:
            self.flush_questions()
        return ref

    def waiting_question(self, ref: str) -> bool:
        """Whether a logged answer is still in the batch that waits to be written."""
        return any(row[6] == ref for row in self._questions)

    def flush_questions(self) -> None:
        """Write the batch; while the state database cannot be written the rows wait (up to
        QUESTION_BACKLOG of them) for the next attempt."""
        self._flushed = time.monotonic()
        if not self._questions:
            return
        batch = self._questions
        try:
            with self.ops.transaction():
                for *row, lang, ref, reason, ids, at in batch:  # when it was asked, not when written
                    self.ops.log_question(*row, lang=lang, ref=ref, reason=reason, ids=ids, at=at)
        except Exception as exc:  # the log must never cost a citizen their answer
            if not is_storage_error(exc):
                log.exception("could not log %d questions", len(batch))
                self._questions = []
                return
            self.health.failed("state", exc, doing="logging questions")
            del batch[:-QUESTION_BACKLOG]
            return
        self._questions = []
        self.health.ok("state")

    def retry_state(self) -> None:
        """While the state database cannot be written: write what waits, or try one small write, so the
        condition ends by itself when space returns even if nothing else writes."""
        if not self.health.degraded("state"):
            return
        if self._questions:
            self.flush_questions()
            return
        try:
            self.ops.touch()
        except Exception as exc:
            if not is_storage_error(exc):
                raise
            self.health.failed("state", exc)
            return
        self.health.ok("state")

    def forget_user(self, user_id: int) -> int:
        """Delete one person's logged questions, written or waiting ("Clear this chat")."""
        key = self.user_hash(user_id)
        waiting = len(self._questions)
        self._questions = [row for row in self._questions if row[4] != key]
        return (waiting - len(self._questions)) + self.ops.forget_questions(key)

    def apply_retention(self) -> int:
        """Delete logged questions older than BOT_QUESTION_LOG_DAYS (and handled webhook update ids
        past any re-delivery); returns how many questions went."""
        self.flush_questions()
        self.ops.purge_handled()
        removed = self.ops.purge_questions(self.settings.question_log_days, self.now())
        if removed:
            log.info("question log: %d question(s) past the %d-day retention deleted", removed,
                     self.settings.question_log_days)
        return removed

    def refresh_store(self) -> bool:
        """Pick up posts and contacts another process (an import, `post add`) wrote; True if any."""
        try:
            changed = self.store.refresh()
        except StoreError as exc:
            self.health.failed("store", exc, doing="re-reading the post store after another process wrote it")
            return False
        self.health.ok("store")
        if changed:
            log.info("post store changed on disk: %d posts and %d contacts now answer questions",
                     len(self.engine.posts), len(self.engine.contacts))
        return changed

    def remember_message(self, chat_id: int, message_id: int, user_id: int | None = None) -> None:
        """A message "Clear this chat" may delete: one the person sent, or one the bot sent in answer
        to them (user_id: that person)."""
        self._chat_messages.setdefault(chat_id, deque(maxlen=CHAT_MEMORY)).append((message_id, user_id, time.time()))

    def forget_chat(self, chat_id: int, user_id: int | None = None) -> list[tuple[int, float]]:
        """(message id, when) to delete for "Clear this chat", newest first. With user_id (in a group),
        only the messages of that person's exchange with the bot; the others stay remembered."""
        kept = self._chat_messages.pop(chat_id, ())
        chosen = {m: at for m, who, at in kept if user_id is None or who == user_id}
        if user_id is not None:
            rest = [entry for entry in kept if entry[1] != user_id]
            if rest:
                self._chat_messages[chat_id] = deque(rest, maxlen=CHAT_MEMORY)
        return sorted(chosen.items(), reverse=True)

    def clear_chat(self, chat_id: int, user_id: int, *, private: bool, card_id: int | None) -> tuple[list[int], int]:
        """"Clear this chat": forget the person's logged questions; return the message ids to delete
        (newest first) and how many of theirs are too old for Telegram to delete. In a private chat both
        sides of the exchange go; in a group only what the bot sent in answer to this person, and the
        card with the button only if it was theirs."""
        self.forget_user(user_id)
        remembered = self.forget_chat(chat_id, None if private else user_id)
        now = time.time()
        ids = [m for m, at in remembered if now - at <= DELETABLE_S]
        too_old = len(remembered) - len(ids)
        if card_id is not None and all(m != card_id for m, _ in remembered) and \
                (private or self.sent_to(chat_id, card_id) == user_id):
            ids.insert(0, card_id)
        return ids, too_old

    def sent_to(self, chat_id: int, message_id: int) -> int | None:
        """Whom a remembered message of the bot answered (None when not remembered)."""
        return next((who for m, who, _ in self._chat_messages.get(chat_id, ()) if m == message_id), None)

    def now(self) -> datetime:
        return datetime.now(TAIPEI)

    def close(self) -> None:
        self.flush_questions()
        self.ops.close()
        self.store.close()
