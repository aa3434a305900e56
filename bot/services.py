"""The long-lived services one bot process holds, built once by the composition root.

Handlers reach them through `context.application.bot_data["services"]`; tests build them on a
tmp store. Nothing here imports Telegram.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from bot.answer import TAIPEI, AnswerEngine
from bot.answer_types import Answer
from bot.assistant import Assistant
from bot.config import Settings
from bot.opstore import SQLiteOperationalStore
from bot.store import PostStore

log = logging.getLogger(__name__)
CHAT_MEMORY = 200  # message ids per chat kept for "Clear this chat"
QUESTION_BATCH = 25
QUESTION_FLUSH_S = 5.0


@dataclass
class Services:
    settings: Settings
    store: PostStore
    ops: SQLiteOperationalStore
    engine: AnswerEngine
    assistant: Assistant
    salt: str = ""
    _chat_messages: dict[int, deque[int]] = field(default_factory=dict)
    _questions: list[tuple] = field(default_factory=list)
    _flushed: float = field(default_factory=time.monotonic)

    @classmethod
    def open(cls, settings: Settings) -> Services:
        store = PostStore(settings.db_path)
        ops = SQLiteOperationalStore(settings.operational_path)
        engine = AnswerEngine.from_store(store)
        salt = hashlib.sha256((settings.token or "console").encode()).hexdigest()[:16]
        return cls(settings, store, ops, engine, Assistant(engine), salt=salt)

    def is_staff(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.staff_ids

    def user_hash(self, user_id: int | None) -> str | None:
        """A salted hash: lets staff count distinct askers without keeping who asked."""
        if user_id is None:
            return None
        return hashlib.sha256(f"{self.salt}:{user_id}".encode()).hexdigest()[:24]

    def record_question(self, answer: Answer, user_id: int | None) -> None:
        """Log the question, the answer kind and score (never the user's id or name).

        Rows are written in batches (every QUESTION_BATCH questions or QUESTION_FLUSH_S seconds, and
        at shutdown): one fsync per question would halve the bot's throughput, and this log is
        statistics, not an acknowledged write; a kill loses at most one batch of it.
        """
        top = answer.hits[0] if answer.hits else None
        self._questions.append((answer.query, answer.kind, top.id if top else None,
                                top.score if top else None, self.user_hash(user_id)))
        if len(self._questions) >= QUESTION_BATCH or time.monotonic() - self._flushed >= QUESTION_FLUSH_S:
            self.flush_questions()

    def flush_questions(self) -> None:
        batch, self._questions = self._questions, []
        self._flushed = time.monotonic()
        if not batch:
            return
        try:
            with self.ops.transaction():
                for row in batch:
                    self.ops.log_question(*row)
        except Exception:  # the log must never cost a citizen their answer
            log.exception("could not log %d questions", len(batch))

    def apply_retention(self) -> int:
        """Delete logged questions older than BOT_QUESTION_LOG_DAYS; returns how many went."""
        self.flush_questions()
        removed = self.ops.purge_questions(self.settings.question_log_days, self.now())
        if removed:
            log.info("question log: %d question(s) past the %d-day retention deleted", removed,
                     self.settings.question_log_days)
        return removed

    def remember_message(self, chat_id: int, message_id: int) -> None:
        self._chat_messages.setdefault(chat_id, deque(maxlen=CHAT_MEMORY)).append(message_id)

    def forget_chat(self, chat_id: int) -> list[int]:
        """Message ids to delete for "Clear this chat", newest first."""
        ids = list(self._chat_messages.pop(chat_id, ()))
        return sorted(set(ids), reverse=True)

    def now(self) -> datetime:
        return datetime.now(TAIPEI)

    def close(self) -> None:
        self.flush_questions()
        self.ops.close()
        self.store.close()
