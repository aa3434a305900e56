"""👍 / 👎 under an answer: which answers get them, storing a vote, and what a 👎 offers instead.

A vote is kept on the question's row in the question log (bot/opstore.py): the masked question, the
answer given (kind, reason, its first ids) and the vote, never who voted. The buttons carry a random
reference of that row, so a second vote on the same answer replaces the first: a question counts once.
Nothing here imports Telegram.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from bot import callbacks
from bot.answer_types import Answer
from bot.i18n import t
from bot.models import Contact, Post
from bot.opstore import LoggedQuestion
from bot.render import MORE_MIN_SCORE, Button, Reply, citizen_phones, fit, post_title
from bot.text import truncate_words

if TYPE_CHECKING:  # the services container is passed in, never built here
    from bot.services import Services

VOTABLE = frozenset({"post", "contact"})  # referral cards and lists get no vote
UP, DOWN = "👍", "👎"
MAX_IDS = 6  # ids kept with a logged answer: the one given and what a 👎 may offer instead
OFFERED = 3  # other answers a 👎 offers


def new_ref() -> str:
    """A random reference for one logged answer (11 characters of the callback grammar's alphabet)."""
    return secrets.token_urlsafe(8)


def votable(answer: Answer) -> bool:
    return answer.kind in VOTABLE and bool(answer.hits)


def answer_ids(answer: Answer) -> tuple[str, ...]:
    """The ids kept with a logged answer: the one given and the further ones that still answer the question
    (what a 👎 offers); for a declined question the posts that came close (the digest's first candidates)."""
    if answer.kind == "none":
        return tuple(h.id for h in answer.suggestions[:MAX_IDS])
    if answer.kind not in VOTABLE:
        return ()
    return tuple(h.id for n, h in enumerate(answer.hits[:MAX_IDS]) if n == 0 or h.score >= MORE_MIN_SCORE)


def with_vote_buttons(reply: Reply, ref: str | None) -> Reply:
    """The reply with a 👍 / 👎 row under it (unchanged without a reference)."""
    if not ref:
        return reply
    row = (Button(UP, data=callbacks.encode("vote", "up", ref)), Button(DOWN, data=callbacks.encode("vote", "down", ref)))
    return Reply(reply.text, (*reply.buttons, row), no_preview=reply.no_preview, sensitive=reply.sensitive,
                 menu=reply.menu)


@dataclass(frozen=True, slots=True)
class Vote:
    """What storing a vote did: "saved" (first vote), "changed", "same" (pressed again), "unknown" (no such
    answer: forged, or past the log's retention) or "storage" (the log cannot be written now)."""

    status: str
    question: LoggedQuestion | None = None


def record_vote(services: Services, ref: str, up: bool) -> Vote:
    """Store a vote on the logged answer `ref` refers to, replacing an earlier one."""
    services.flush_questions()  # the answer may still wait in the log's batch
    if services.waiting_question(ref):
        return Vote("storage")
    try:
        before = services.ops.set_vote(ref, 1 if up else -1)
    except KeyError:
        return Vote("unknown")
    question = services.ops.question_by_ref(ref)
    if before is None:
        return Vote("saved", question)
    return Vote("same" if before == (1 if up else -1) else "changed", question)


def notice(vote: Vote, lang: str) -> str:
    """The short notice on the pressed button."""
    key = {"saved": "feedback_thanks", "same": "feedback_thanks", "changed": "feedback_changed",
           "unknown": "expired", "storage": "error_storage"}[vote.status]
    return t(lang, key)[:200]


def down_reply(question: LoggedQuestion, posts: Mapping[str, Post], contacts: Mapping[str, Contact],
               lang: str) -> Reply:
    """After a 👎: the next answers the engine had for the question, and the 1996 hotline."""
    others = [i for i in question.ids[1:] if i in posts or i in contacts][:OFFERED]
    rows = tuple((Button(truncate_words(post_title(posts[i], lang), 60), data=callbacks.encode("post", i)),)
                 for i in others if i in posts)
    lines = [f"• <b>{escape(contacts[i].text(lang, 'name') or contacts[i].name)}</b>: "
             f"{escape(' · '.join(citizen_phones(contacts[i])[:2]) or contacts[i].phone)}"
             for i in others if i in contacts]
    text = t(lang, "feedback_down_more" if others else "feedback_down")
    if lines:
        text += "\n" + "\n".join(lines)
    return Reply(fit(f"{text}\n\n{t(lang, 'feedback_hotline')}"), rows)


def rate(up: int, down: int) -> str:
    """The 👍 share of the votes as staff read it: "80% (8 of 10 votes)"."""
    votes = up + down
    return f"{round(100 * up / votes)}% ({up} / {votes})" if votes else "–"
